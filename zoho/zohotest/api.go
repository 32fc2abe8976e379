package zohotest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// route is a parsed CRM API path.
type route struct {
	op     string // insert | update | upsert | delete | add_tags | remove_tags | coql | fields | get
	module *module
	id     string // get of one record
}

// call is the parsed and admitted form of one CRM API request.
type call struct {
	route
	r       *http.Request
	scopes  []string
	body    []byte
	payload map[string]any // decoded JSON object for writes, tags and COQL
	items   []any          // data[] of writes
	records int
	credits int
	complex bool
	coql    *coqlQuery
	skip    []string // skip_feature_execution names, for the request log
}

// answer is what a handler decided, written after the lock is released.
type answer struct {
	status int
	body   any // nil: no body
	code   string
	err    *apiError
}

func errAnswer(e *apiError) answer { return answer{err: e, code: e.code, status: e.status} }

func (s *Simulator) parseRoute(r *http.Request) (route, *apiError) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// parts[0] == "crm"
	if len(parts) < 3 || len(parts[1]) < 2 || parts[1][0] != 'v' {
		return route{}, errInvalidURL()
	}
	if v, err := strconv.Atoi(parts[1][1:]); err != nil || v < 2 || v > 8 {
		return route{}, errInvalidURL()
	}
	rest := parts[2:]
	method := r.Method
	need := func(m string, rt route) (route, *apiError) {
		if method != m {
			return route{}, errInvalidMethod()
		}
		return rt, nil
	}
	switch {
	case len(rest) == 2 && rest[0] == "settings" && rest[1] == "fields":
		return need(http.MethodGet, route{op: "fields"})
	case len(rest) == 2 && rest[0] == "settings" && rest[1] == "tags":
		return need(http.MethodGet, route{op: "tags"})
	case len(rest) == 1 && rest[0] == "coql":
		return need(http.MethodPost, route{op: "coql"})
	}
	s.mu.Lock()
	m, ok := s.module(rest[0])
	s.mu.Unlock()
	if !ok {
		if len(rest) > 3 {
			return route{}, errInvalidURL()
		}
		return route{}, errInvalidModulePath()
	}
	switch len(rest) {
	case 1:
		switch method {
		case http.MethodPost:
			return route{op: "insert", module: m}, nil
		case http.MethodPut:
			return route{op: "update", module: m}, nil
		case http.MethodDelete:
			return route{op: "delete", module: m}, nil
		case http.MethodGet:
			return route{op: "get", module: m}, nil
		}
		return route{}, errInvalidMethod()
	case 2:
		if rest[1] == "upsert" {
			return need(http.MethodPost, route{op: "upsert", module: m})
		}
		if isDigits(rest[1]) {
			return need(http.MethodGet, route{op: "get", module: m, id: rest[1]})
		}
	case 3:
		if rest[1] == "actions" && (rest[2] == "add_tags" || rest[2] == "remove_tags") {
			return need(http.MethodPost, route{op: rest[2], module: m})
		}
	}
	return route{}, errInvalidURL()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// serveAPI runs one CRM API call: fault injection, routing, auth, scopes,
// request checks, admission (concurrency, credits), latency, processing.
func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request, body []byte) outcome {
	var res outcome
	fault := s.pickFault()
	switch fault {
	case FaultInternalError, FaultTooManyRequests, FaultInvalidToken:
		e := map[Fault]func() *apiError{FaultInternalError: errInternal, FaultInvalidToken: errInvalidToken,
			FaultTooManyRequests: func() *apiError { return errTooManyRequests("too many requests; try again later") }}[fault]()
		res.code = e.code
		s.writeError(w, e)
		return res
	case FaultDrop:
		res.code = "DROPPED"
		if hj, ok := w.(*statusWriter).ResponseWriter.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return res
			}
		}
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream
	}

	rt, apiErr := s.parseRoute(r)
	if apiErr != nil {
		res.code = apiErr.code
		s.writeError(w, apiErr)
		return res
	}
	res.op = rt.op
	if rt.module != nil {
		res.module = rt.module.name
	}
	scopes, apiErr := s.authenticate(r)
	if apiErr != nil {
		res.code = apiErr.code
		s.writeError(w, apiErr)
		return res
	}
	c := &call{route: rt, r: r, scopes: scopes, body: body}
	if apiErr = s.prepare(c); apiErr != nil {
		if c.module != nil {
			res.module = c.module.name
		}
		res.code, res.records, res.skip = apiErr.code, c.records, c.skip
		s.writeError(w, apiErr)
		return res
	}
	if c.module != nil {
		res.module = c.module.name
	}
	res.records, res.skip = c.records, c.skip

	release, remaining, apiErr := s.admit(c)
	if apiErr != nil {
		res.code = apiErr.code
		s.writeError(w, apiErr)
		return res
	}
	defer release()
	res.credits = c.credits
	if remaining >= 0 {
		w.Header().Set("X-API-CREDITS-REMAINING", strconv.Itoa(remaining))
	}

	delay := s.latency()
	if fault == FaultSlow {
		s.mu.Lock()
		delay += s.slow
		s.mu.Unlock()
	}
	if !s.wait(r.Context(), delay) {
		res.code = "ABANDONED"
		return res
	}

	s.mu.Lock()
	a := s.process(c)
	s.mu.Unlock()
	res.code = a.code
	if a.err != nil {
		s.writeError(w, a.err)
		return res
	}
	if a.body == nil {
		w.WriteHeader(a.status)
		return res
	}
	s.writeJSON(w, a.status, a.body)
	return res
}

func (s *Simulator) latency() time.Duration {
	if s.latMax <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.latMin
	if span := s.latMax - s.latMin; span > 0 {
		d += time.Duration(s.rng.Int64N(int64(span) + 1))
	}
	return d
}

// wait sleeps d unless ctx ends or the server stops first; it reports
// whether the full time passed.
func (s *Simulator) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.stop:
		return false
	}
}

// shutdown releases every call held by latency or FaultSlow.
func (s *Simulator) shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

// admit applies the concurrency limits and charges credits. remaining is
// the credits left, or -1 while less than half are used.
func (s *Simulator) admit(c *call) (release func(), remaining int, e *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight >= s.concurrency {
		return nil, -1, errTooManyRequests("concurrency limit exceeded: too many API calls in progress")
	}
	if c.complex && s.inflightComplex >= complexPool {
		return nil, -1, errTooManyRequests("sub-concurrency limit exceeded: too many write calls of more than 10 records in progress")
	}
	now := s.now()
	used := s.creditsUsedLocked(now)
	if used+c.credits > s.credits {
		return nil, -1, errTooManyRequests("API credits exhausted for the rolling 24 hours")
	}
	s.charges = append(s.charges, charge{at: now, credits: c.credits})
	used += c.credits
	remaining = -1
	if used*2 >= s.credits {
		remaining = s.credits - used
	}
	s.inflight++
	s.peak = max(s.peak, s.inflight)
	if c.complex {
		s.inflightComplex++
		s.peakComplex = max(s.peakComplex, s.inflightComplex)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.inflight--
		if c.complex {
			s.inflightComplex--
		}
	}, remaining, nil
}

var validTriggers = map[string]bool{"workflow": true, "approval": true, "blueprint": true, "pathfinder": true, "orchestration": true}

func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errTrailing
	}
	return v, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errTrailing = constError("trailing data after the JSON value")

// prepare checks scopes and the request as a whole and works out the
// records and credits of the call.
func (s *Simulator) prepare(c *call) *apiError {
	q := c.r.URL.Query()
	switch c.op {
	case "fields", "tags":
		// Fields metadata needs ZohoCRM.settings.fields.READ (docs/zoho-api.md,
		// "OAuth 2.0 and data centers"). GET /settings/tags?module=X needs
		// ZohoCRM.settings.tags.READ (or .ALL, or ZohoCRM.settings.ALL): Zoho
		// CRM API v8, "Get Tags" (crm-oas v8.0/tags/tags.yaml, getTags; the
		// tags pages list the scope ZohoCRM.settings.tags.{operation_type}).
		area := "ZohoCRM.settings." + c.op
		if !hasScope(c.scopes, area+".READ", area+".ALL", "ZohoCRM.settings.ALL") {
			return errScopeMismatch()
		}
		name := q.Get("module")
		if name == "" {
			return errParamMissing("module")
		}
		s.mu.Lock()
		m, ok := s.module(name)
		s.mu.Unlock()
		if !ok {
			return errInvalidModuleParam("module")
		}
		c.module, c.credits = m, 1
		return nil
	case "coql":
		if !hasScope(c.scopes, "ZohoCRM.coql.READ", "ZohoCRM.coql.ALL") {
			return errScopeMismatch()
		}
		obj, err := decodeJSON(c.body)
		m, _ := obj.(map[string]any)
		if err != nil || m == nil {
			return errInvalidBody("the request body is not a valid JSON object")
		}
		text, ok := m["select_query"].(string)
		if !ok {
			return errParamMissing("select_query")
		}
		query, e := parseCOQL(text)
		if e != nil {
			return e
		}
		s.mu.Lock()
		mod, ok := s.module(query.module)
		s.mu.Unlock()
		if !ok {
			return errInvalidQuery("invalid module given in the from clause", map[string]any{"clause": "from"})
		}
		if !scopeCovers(c.scopes, mod.name, opRead) {
			return errScopeMismatch()
		}
		if e := query.resolve(mod); e != nil {
			return e
		}
		c.module, c.coql = mod, query
		c.credits = 1
		if query.limit > 1000 {
			c.credits = 3
		} else if query.limit > 200 {
			c.credits = 2
		}
		return nil
	case "get":
		if !scopeCovers(c.scopes, c.module.name, opRead) {
			return errScopeMismatch()
		}
		c.credits = 1
		if c.id != "" {
			c.records = 1
			return nil
		}
		if q.Get("fields") == "" {
			return errParamMissing("fields")
		}
		for _, p := range []string{"page", "per_page"} {
			if v := q.Get(p); v != "" {
				if n, err := strconv.Atoi(v); err != nil || n < 1 || (p == "per_page" && n > 200) {
					return errInvalidParam(p, "the value given for "+p+" is invalid")
				}
			}
		}
		return nil
	case "delete":
		if !scopeCovers(c.scopes, c.module.name, opDelete) {
			return errScopeMismatch()
		}
		ids := splitIDs(q.Get("ids"))
		c.records = len(ids)
		if len(ids) == 0 {
			return errParamMissing("ids")
		}
		if len(ids) > 100 {
			return errLimitExceeded("ids", 100)
		}
		c.credits = 1
		return nil
	case "add_tags", "remove_tags":
		if !scopeCovers(c.scopes, c.module.name, opUpdate) {
			return errScopeMismatch()
		}
		return s.prepareTags(c)
	}
	// insert, update, upsert
	ops := map[string][]string{"insert": {opCreate}, "update": {opUpdate}, "upsert": {opCreate, opUpdate}}[c.op]
	if !scopeCovers(c.scopes, c.module.name, ops...) {
		return errScopeMismatch()
	}
	v, err := decodeJSON(c.body)
	if err != nil {
		return errInvalidBody("the request body is not valid JSON: " + err.Error())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errInvalidBody("the request body must be a JSON object")
	}
	c.payload = obj
	raw, ok := obj["data"]
	if !ok || raw == nil {
		return errParamMissing("data")
	}
	items, ok := raw.([]any)
	if !ok {
		return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
			details: map[string]any{"api_name": "data", "expected_data_type": "jsonarray"}}
	}
	c.items, c.records = items, len(items)
	if len(items) == 0 {
		return errParamMissing("data")
	}
	if len(items) > 100 {
		return errLimitExceeded("data", 100)
	}
	if t, ok := obj["trigger"]; ok {
		list, ok := t.([]any)
		if !ok {
			return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
				details: map[string]any{"api_name": "trigger", "expected_data_type": "jsonarray"}}
		}
		for _, x := range list {
			if name, _ := x.(string); !validTriggers[name] {
				return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
					details: map[string]any{"api_name": "trigger", "json_path": "$.trigger"}}
			}
		}
	}
	if e := c.prepareSkip(obj); e != nil {
		return e
	}
	if c.op == "upsert" {
		if d, ok := obj["duplicate_check_fields"]; ok {
			list, ok := d.([]any)
			if !ok || len(list) == 0 {
				return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
					details: map[string]any{"api_name": "duplicate_check_fields", "expected_data_type": "jsonarray"}}
			}
			for i, x := range list {
				name, _ := x.(string)
				if !c.module.dupCapable(name) {
					return &apiError{status: 400, code: "INVALID_DATA", message: "the field is not a duplicate check field",
						details: map[string]any{"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields[" + strconv.Itoa(i) + "]"}}
				}
			}
		}
	}
	c.credits = max(1, (len(items)+9)/10)
	c.complex = len(items) > 10
	return nil
}

// skipFeatures are the names skip_feature_execution accepts on insert,
// update and upsert. Zoho runs a module's Cadences on API inserts and
// upserts unless the body carries {"name":"cadences"} here (Zoho CRM API
// v7/v8 docs, Upsert Records, input key skip_feature_execution:
// https://www.zoho.com/crm/developer/docs/api/v8/upsert-records.html; the
// enum assignment_rules, cadences, connected_workflows is that of the v8
// Insert/Update/Upsert pages).
var skipFeatures = []string{"assignment_rules", "cadences", "connected_workflows"}

// prepareSkip reads and checks skip_feature_execution. An unknown name is
// answered like an unknown name in apply_feature_execution: 400
// INVALID_DATA inside data[], api_name "name", the json_path of the entry and
// supported_values (crm-oas v8.0/record/operations/upsertRecords/examples/
// response-400-invalidsupportedvalue.md, documented for
// apply_feature_execution; the same answer for skip_feature_execution is an
// inference).
func (c *call) prepareSkip(obj map[string]any) *apiError {
	raw, ok := obj["skip_feature_execution"]
	if !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data", wrap: true,
			details: map[string]any{"api_name": "skip_feature_execution", "json_path": "$.skip_feature_execution", "expected_data_type": "jsonarray"}}
	}
	c.skip = []string{}
	var bad *apiError
	for i, x := range list {
		entry, _ := x.(map[string]any)
		name, _ := entry["name"].(string)
		c.skip = append(c.skip, name)
		if bad == nil && !slices.Contains(skipFeatures, name) {
			bad = &apiError{status: 400, code: "INVALID_DATA", message: "invalid data", wrap: true,
				details: map[string]any{"api_name": "name", "json_path": "$.skip_feature_execution[" + strconv.Itoa(i) + "].name",
					"supported_values": append([]string(nil), skipFeatures...)}}
		}
	}
	return bad
}

func splitIDs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// process runs an admitted call against the org; s.mu is held.
func (s *Simulator) process(c *call) answer {
	switch c.op {
	case "fields":
		out := make([]any, 0, len(c.module.fields))
		for _, fl := range c.module.fields {
			out = append(out, fl.metadata(c.module))
		}
		return answer{status: 200, body: map[string]any{"fields": out}, code: "SUCCESS"}
	case "coql":
		return s.runCOQL(c.module, c.coql)
	case "get":
		return s.get(c)
	case "delete":
		return s.deleteRecords(c)
	case "add_tags", "remove_tags":
		return s.tags(c)
	case "tags":
		list := make([]any, 0, len(c.module.tagOrder))
		for _, name := range c.module.tagOrder {
			list = append(list, map[string]any{"id": c.module.tagIDs[strings.ToLower(name)], "name": name})
		}
		return answer{status: 200, code: "SUCCESS", body: map[string]any{"tags": list,
			"info": map[string]any{"count": len(list), "allowed_count": tagsPerModule(s.edition)}}}
	}
	return s.write(c)
}
