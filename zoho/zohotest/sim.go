package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// timeLayout is how Zoho prints times: ISO 8601 with offset, no fraction.
const timeLayout = "2006-01-02T15:04:05-07:00"

type options struct {
	edition     string
	users       int
	credits     int
	concurrency int
	clock       *Clock
	latMin      time.Duration
	latMax      time.Duration
	uniques     map[string][]string
	uniqueOrder []string
	seed        int64
	seeded      bool
	creds       Credentials
	pipelines   bool
	noTagCreate bool
}

// Option configures a Simulator made by New or NewServer.
type Option func(*options)

// WithEdition sets the org's edition, which sets the default concurrency
// and daily credit limits: free, standard (the default), professional,
// enterprise or ultimate. New panics on any other name; see Editions.
func WithEdition(edition string) Option {
	return func(o *options) { o.edition = strings.ToLower(edition) }
}

// WithUsers sets the number of licensed users (default 1), which the daily
// credit formula counts. Users become valid Owner ids.
func WithUsers(n int) Option { return func(o *options) { o.users = n } }

// WithDailyCredits overrides the edition's rolling 24-hour credit limit.
func WithDailyCredits(n int) Option { return func(o *options) { o.credits = n } }

// WithConcurrency overrides the edition's limit of CRM API calls in flight.
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = n } }

// WithClock makes the simulator follow c instead of real time.
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// WithLatency makes each CRM API call take a random time in [min, max]
// (real time) while it counts as in flight. The default is no latency.
func WithLatency(min, max time.Duration) Option {
	return func(o *options) {
		if max < min {
			max = min
		}
		o.latMin, o.latMax = min, max
	}
}

// WithUniqueFields marks fields of module as user-defined "no duplicates"
// fields: inserts and updates that repeat a stored value get DUPLICATE_DATA,
// and upsert may match on them (after the system duplicate-check field,
// unless duplicate_check_fields says otherwise). A name the module lacks is
// created as a custom single-line text field.
func WithUniqueFields(module string, fields ...string) Option {
	return func(o *options) {
		if o.uniques == nil {
			o.uniques = map[string][]string{}
		}
		if _, ok := o.uniques[module]; !ok {
			o.uniqueOrder = append(o.uniqueOrder, module)
		}
		o.uniques[module] = append(o.uniques[module], fields...)
	}
}

// WithPipelines turns on pipelines for Deals: the module gets a Pipeline
// picklist field ("Standard (Standard)") that is system-mandatory, so a Deal
// written without it is MANDATORY_NOT_FOUND. Zoho lists Pipeline among the
// mandatory fields of Deals when the org uses pipelines (docs/zoho-api.md,
// "Modules"; Zoho CRM API v8 "Pipeline" pages: a Deal belongs to a
// pipeline once pipelines are configured). The default is off,
// as in orgs that never configured pipelines: whether a new org starts with
// them on is not documented.
func WithPipelines() Option { return func(o *options) { o.pipelines = true } }

// WithoutTagCreatePermission makes the user of every token lack the
// permission to create tags (the administrator profile or the
// module-customization permission): add_tags naming a tag the module does
// not have yet is refused. See SetTagCreatePermission.
func WithoutTagCreatePermission() Option { return func(o *options) { o.noTagCreate = true } }

// WithSeed makes latency, fault rates and record ids deterministic. Tokens
// stay random so that no two simulators ever accept each other's tokens.
func WithSeed(seed int64) Option { return func(o *options) { o.seed, o.seeded = seed, true } }

// WithCredentials provisions the given client id, client secret and refresh
// token instead of generated ones; empty members stay generated.
func WithCredentials(c Credentials) Option { return func(o *options) { o.creds = c } }

// Editions returns the edition names WithEdition accepts.
func Editions() []string {
	return []string{"free", "standard", "professional", "enterprise", "ultimate"}
}

func editionLimits(edition string, users int) (concurrency, credits int, ok bool) {
	u := max(users, 1)
	switch edition {
	case "free":
		return 5, 5000, true
	case "standard":
		return 10, min(50000+250*u, 100000), true
	case "professional":
		return 15, min(50000+500*u, 3000000), true
	case "enterprise":
		return 20, min(50000+1000*u, 5000000), true
	case "ultimate":
		return 25, 50000 + 2000*u, true
	}
	return 0, 0, false
}

// complexPool is the sub-concurrency limit for writes of more than 10 records.
const complexPool = 10

type user struct {
	id, name, email string
	ref             map[string]any // {"id","name","email"}: shared by records, never mutated
}

// userRef is the stored form of a reference to user i. Records share it;
// export deep-copies it.
func (s *Simulator) userRef(i int) map[string]any { return s.users[i].ref }

type charge struct {
	at      time.Time
	credits int
}

// Simulator holds a simulated Zoho org (records, OAuth clients and tokens,
// limits, clock) and serves its HTTP API. Make one with New; all methods are
// safe for concurrent use.
type Simulator struct {
	clock       *Clock
	latMin      time.Duration
	latMax      time.Duration
	concurrency int
	credits     int
	users       []user
	edition     string
	stop        chan struct{}
	stopOnce    sync.Once

	mu      sync.Mutex
	rng     *rand.Rand
	baseURL string
	modules map[string]*module
	lower   map[string]string // lower-case module name -> name
	nextID  uint64

	oauth oauthState

	noTagCreate bool // the token's user may not create tags

	inflight, inflightComplex int
	peak, peakComplex         int
	charges                   []charge

	failNext   []Fault
	rates      map[Fault]float64
	slow       time.Duration
	retryAfter time.Duration

	requests []*Request
}

// New returns a Simulator with an empty org of the standard edition and one
// provisioned client (see Credentials). Its base URL is
// https://www.zohoapis.com until SetBaseURL (Server sets it).
func New(opts ...Option) *Simulator {
	o := options{edition: "standard", users: 1}
	for _, opt := range opts {
		opt(&o)
	}
	conc, credits, ok := editionLimits(o.edition, o.users)
	if !ok {
		panic(fmt.Sprintf("zohotest: unknown edition %q (want one of %s)", o.edition, strings.Join(Editions(), ", ")))
	}
	if o.concurrency > 0 {
		conc = o.concurrency
	}
	if o.credits > 0 {
		credits = o.credits
	}
	if o.clock == nil {
		o.clock = realClock()
	}
	seed := o.seed
	if !o.seeded {
		seed = rand.Int64()
	}
	s := &Simulator{
		clock: o.clock, latMin: o.latMin, latMax: o.latMax, concurrency: conc, credits: credits,
		edition: o.edition, noTagCreate: o.noTagCreate,
		stop:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x5a6f686f)),
		baseURL: "https://www.zohoapis.com",
		modules: newModules(),
		lower:   map[string]string{},
		rates:   map[Fault]float64{},
		slow:    2 * time.Minute,
	}
	s.nextID = 5725767000000000000 + 524000 + uint64(s.rng.IntN(1000))*1000
	if o.pipelines {
		m := s.modules["Deals"]
		fl := mandatory(pick("Pipeline", []string{"Standard (Standard)"}))
		m.addField(fl, 5)
	}
	for name, m := range s.modules {
		s.lower[strings.ToLower(name)] = name
		m.addUnique(o.uniques[name])
	}
	for _, name := range o.uniqueOrder {
		if _, ok := s.modules[name]; !ok {
			panic(fmt.Sprintf("zohotest: WithUniqueFields: unknown module %q", name))
		}
	}
	names := []string{"Patricia Boyle", "Kris Marrier", "Sage Wieser", "Leota Dilliard", "Mitsue Tollner"}
	for i := 0; i < max(o.users, 1); i++ {
		name := names[i%len(names)]
		if i >= len(names) {
			name = fmt.Sprintf("%s %d", name, i/len(names)+1)
		}
		u := user{id: strconv.FormatUint(5725767000000411001+uint64(i)*1000, 10), name: name,
			email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"}
		u.ref = map[string]any{"id": u.id, "name": u.name, "email": u.email}
		s.users = append(s.users, u)
	}
	s.oauth.init(o.creds)
	return s
}

// SetBaseURL sets the URL that token answers give as api_domain and
// redirects as accounts-server (no trailing slash).
func (s *Simulator) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimSuffix(u, "/")
}

func (s *Simulator) now() time.Time { return s.clock.Now() }

func (s *Simulator) newID() string {
	s.nextID += uint64(1 + s.rng.IntN(3))
	return strconv.FormatUint(s.nextID, 10)
}

func (s *Simulator) module(name string) (*module, bool) {
	if m, ok := s.modules[name]; ok {
		return m, true
	}
	if n, ok := s.lower[strings.ToLower(name)]; ok {
		return s.modules[n], true
	}
	return nil, false
}

// Fault is a failure the simulator can put in place of a CRM API answer.
type Fault int

const (
	// FaultInternalError answers 500 {"code":"INTERNAL_ERROR",...}.
	FaultInternalError Fault = iota + 1
	// FaultTooManyRequests answers 429 {"code":"TOO_MANY_REQUESTS",...}.
	FaultTooManyRequests
	// FaultDrop closes the connection without an answer.
	FaultDrop
	// FaultSlow processes the call only after SlowDuration (default 2m), or
	// not at all when the request's context ends or the Server closes first.
	FaultSlow
	// FaultInvalidToken answers 401 INVALID_TOKEN whatever the token.
	FaultInvalidToken
)

func (f Fault) String() string {
	switch f {
	case FaultInternalError:
		return "internal-error"
	case FaultTooManyRequests:
		return "too-many-requests"
	case FaultDrop:
		return "drop"
	case FaultSlow:
		return "slow"
	case FaultInvalidToken:
		return "invalid-token"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// FailNext makes the next n CRM API calls (not token calls) get f instead
// of their answer. Calls queue: FailNext(1, A) then FailNext(1, B) fails the
// next call with A and the one after with B.
func (s *Simulator) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, f)
	}
}

// SetFaultRate makes each CRM API call get f with probability p; p <= 0
// removes f. Several faults may be set; they are drawn in Fault order.
func (s *Simulator) SetFaultRate(f Fault, p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p <= 0 {
		delete(s.rates, f)
		return
	}
	s.rates[f] = p
}

// SetSlowDuration sets how long FaultSlow holds a call.
func (s *Simulator) SetSlowDuration(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// SetRetryAfter makes 429 answers carry Retry-After (whole seconds, at
// least 1) when d > 0.
func (s *Simulator) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

func (s *Simulator) pickFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failNext) > 0 {
		f := s.failNext[0]
		s.failNext = s.failNext[1:]
		return f
	}
	for f := FaultInternalError; f <= FaultInvalidToken; f++ {
		if p, ok := s.rates[f]; ok && s.rng.Float64() < p {
			return f
		}
	}
	return 0
}

// Request is one HTTP request the simulator received.
type Request struct {
	Time      time.Time // arrival, by the simulator's clock
	Answered  time.Time // when the answer was written, by the simulator's clock; zero while in progress
	Method    string
	Path      string
	Module    string // "" when not about a module
	Operation string // insert | update | upsert | delete | add_tags | remove_tags | coql | fields | get | token
	Records   int    // records in the call (data[] length, ids count)
	Status    int    // HTTP status answered; 0 when the connection was dropped or abandoned
	Code      string // top-level or first error code; "SUCCESS" when every item succeeded
	Credits   int    // credits charged
	Body      []byte // the request body as received
	// SkipFeatures are the names in skip_feature_execution of an insert,
	// update or upsert, in order; nil when the key was absent.
	SkipFeatures []string
}

// Requests returns every request received so far, in arrival order, token
// calls included. Requests still in progress show Status 0.
func (s *Simulator) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// ResetRequests forgets the requests received so far.
func (s *Simulator) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// PeakConcurrency returns the most CRM API calls that were in flight at once.
func (s *Simulator) PeakConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// PeakComplexConcurrency returns the most writes of more than 10 records
// that were in flight at once.
func (s *Simulator) PeakComplexConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakComplex
}

// CreditsUsed returns the credits charged in the 24 hours ending now, by
// the simulator's clock.
func (s *Simulator) CreditsUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creditsUsedLocked(s.now())
}

func (s *Simulator) creditsUsedLocked(now time.Time) int {
	cut := now.Add(-24 * time.Hour)
	i := 0
	for i < len(s.charges) && !s.charges[i].at.After(cut) {
		i++
	}
	s.charges = s.charges[i:]
	n := 0
	for _, c := range s.charges {
		n += c.credits
	}
	return n
}

// Records returns copies of the records stored in module, sorted by id, each
// with "id", system fields and "Tag". Nil for an unknown module.
func (s *Simulator) Records(module string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if !ok {
		return nil
	}
	out := make([]map[string]any, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.records[id].export(m))
	}
	return out
}

// Record returns a copy of one stored record.
func (s *Simulator) Record(module, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if !ok {
		return nil, false
	}
	r, ok := m.records[id]
	if !ok {
		return nil, false
	}
	return r.export(m), true
}

// Seed stores rec in module as is: no validation, no credits, no request
// log. Numbers are kept as JSON numbers. An "id" string in rec is used as
// the record id; otherwise a new one is made. It returns the id, or "" when
// module is unknown or rec cannot be encoded as JSON.
func (s *Simulator) Seed(module string, rec map[string]any) string {
	raw, err := json.Marshal(rec)
	if err != nil {
		return ""
	}
	var vals map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&vals); err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if !ok {
		return ""
	}
	id, _ := vals["id"].(string)
	delete(vals, "id")
	if id == "" {
		id = s.newID()
	}
	if old, ok := m.records[id]; ok {
		m.unindex(old)
		m.removeID(id)
	}
	now := s.now().Format(timeLayout)
	r := &record{id: id, fields: map[string]any{}}
	for _, k := range []string{"Created_Time", "Modified_Time"} {
		r.fields[k] = now
	}
	for _, k := range []string{"Owner", "Created_By", "Modified_By"} {
		r.fields[k] = s.userRef(0)
	}
	for k, v := range vals {
		if k == "Tag" {
			if tags, ok := v.([]any); ok {
				for _, t := range tags {
					if name := tagName(t); name != "" {
						r.tags = appendTag(r.tags, name)
					}
				}
			}
			continue
		}
		r.fields[k] = v
	}
	m.computeName(r)
	m.store(r)
	return id
}

// Tags returns the tag names of a stored record, sorted.
func (s *Simulator) Tags(module, id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if !ok {
		return nil
	}
	r, ok := m.records[id]
	if !ok {
		return nil
	}
	out := slices.Clone(r.tags)
	sort.Strings(out)
	return out
}

// SetTags replaces the tags of a stored record (no credits, no request
// log). It reports whether the record exists.
func (s *Simulator) SetTags(module, id string, tags ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if !ok {
		return false
	}
	r, ok := m.records[id]
	if !ok {
		return false
	}
	r.tags = nil
	for _, t := range tags {
		r.tags = appendTag(r.tags, t)
		m.tagID(t, s)
	}
	return true
}

// CreateTag creates a tag in module, as a user allowed to would in Zoho
// CRM's settings (no credits, no request log). It reports whether the
// module exists.
func (s *Simulator) CreateTag(module, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.module(module)
	if ok {
		m.tagID(name, s)
	}
	return ok
}

// SetTagCreatePermission says whether the user of every token may create
// tags (default true). Zoho lets only users with the administrator profile
// or the module-customization permission create tags (Zoho CRM help,
// "Tagging records", Permission required:
// https://help.zoho.com/portal/en/kb/crm/manage-crm-data/record-management/articles/tagging-records),
// and add_tags creates a tag it does not know. Without the permission,
// add_tags naming a new tag is answered 403 NO_PERMISSION for the whole
// call, in the shape crm-oas documents for add_tags
// (v8.0/tags_actions/tags_actions.yaml, NoPermissionResponse1, with
// permissions Crm_Implied_Tags_{Module}); that Zoho answers exactly this
// for a missing tag-creation right is an inference.
func (s *Simulator) SetTagCreatePermission(allowed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noTagCreate = !allowed
}

func tagName(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		n, _ := t["name"].(string)
		return n
	}
	return ""
}

func appendTag(tags []string, name string) []string {
	for _, t := range tags {
		if strings.EqualFold(t, name) {
			return tags
		}
	}
	return append(tags, name)
}

// statusWriter records the status and code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP answers the token endpoint (/oauth/v2/token, /oauth/v2/auth),
// the Self Client stand-in (SelfClientPath) and the CRM API
// (/crm/v2../crm/v8 ...). It never panics on hostile input.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	logged := body
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		logged = redactForm(body)
	}
	req := &Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, Body: logged}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	var res outcome
	switch {
	case r.URL.Path == "/oauth/v2/token":
		res = s.serveToken(sw, r, body)
	case r.URL.Path == "/oauth/v2/auth":
		res = s.serveAuthorize(sw, r)
	case r.URL.Path == SelfClientPath:
		res = s.serveSelfClient(sw, r)
	case strings.HasPrefix(r.URL.Path, "/crm/"):
		res = s.serveAPI(sw, r, body)
	default:
		res = outcome{code: "INVALID_URL_PATTERN"}
		s.writeError(sw, errInvalidURL())
	}
	answered := s.now()
	s.mu.Lock()
	req.Answered = answered
	req.Module, req.Operation, req.Records, req.Credits, req.Code = res.module, res.op, res.records, res.credits, res.code
	req.SkipFeatures = res.skip
	req.Status = sw.status
	s.mu.Unlock()
}

// outcome is what the request log learns about a call.
type outcome struct {
	module, op, code string
	records, credits int
	skip             []string
}

func (s *Simulator) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"code":"INTERNAL_ERROR","details":{},"message":"Internal Server Error","status":"error"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Simulator) writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests {
		s.mu.Lock()
		ra := s.retryAfter
		s.mu.Unlock()
		if ra > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((ra+time.Second-1)/time.Second))))
		}
	}
	s.writeJSON(w, e.status, e.body())
}

// redactForm hides the secrets of a token request body before it is kept
// in the request log.
func redactForm(body []byte) []byte {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return []byte("(unparsable form, not kept)")
	}
	for _, k := range []string{"client_secret", "refresh_token", "code"} {
		if vals.Has(k) {
			vals.Set(k, "REDACTED")
		}
	}
	return []byte(vals.Encode())
}
