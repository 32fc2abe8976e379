package zoho

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// apiVersion is the CRM REST API version the client speaks.
const apiVersion = "v8"

// creditsRemainingPause is how long a call waits when Zoho's last
// X-API-CREDITS-REMAINING was below the call's cost.
const creditsRemainingPause = time.Minute

// Client is a Zoho CRM API client. It is safe for concurrent use: all
// goroutines share one access token, one limiter of calls in flight, one
// credit ledger and one optional rate limiter.
//
// Every call is retried on retryable failures (429, 5xx, timeouts, network
// errors, an unreachable or throttling token endpoint) with exponential
// back-off and full jitter, up to WithMaxRetries times; per-record
// rejections are returned in Results and never retried. A call returns an
// *Error only when it failed as a whole.
type Client struct {
	opts     clientOptions
	hc       *http.Client
	accounts string
	tokens   tokenCache
	ledger   *CreditLedger
	gate     *gate
	complex  *gate // writes of more than 10 records: never adapted, only shared
	limiter  *rate.Limiter
	metrics  *Metrics
	logger   *slog.Logger

	backoffBase, backoffMax time.Duration
	creditsRemaining        atomic.Int64 // last X-API-CREDITS-REMAINING, -1 unknown
}

// NewClient returns a client configured by opts. It checks the options and
// returns an error naming every option at fault; it makes no network call
// (CheckToken does).
func NewClient(opts ...Opt) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Client{opts: o, metrics: o.metrics, backoffBase: 500 * time.Millisecond, backoffMax: 30 * time.Second}
	if o.backoffBase > 0 {
		c.backoffBase = o.backoffBase
	}
	if o.backoffMax > 0 {
		c.backoffMax = o.backoffMax
	}
	c.hc = o.httpClient
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		// A 100-record write's body (tens of kB) leaves in one write
		// rather than in 4 kB pieces, and its answer is read in as few.
		tr.WriteBufferSize, tr.ReadBufferSize = 64<<10, 64<<10
		c.hc = &http.Client{Transport: tr}
	}
	c.accounts = o.accountsURL
	if c.accounts == "" {
		c.accounts, _ = AccountsURL(o.dataCenter, o.environment)
	}
	c.logger = o.logger
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.tokens.c = c
	c.ledger = NewCreditLedger(o.budget, o.now)
	limit := editionConcurrency[o.edition]
	if o.maxConc > 0 && o.maxConc < limit {
		limit = o.maxConc
	}
	c.gate = newGate(limit)
	c.complex = newGate(complexConcurrency)
	if o.rps > 0 {
		burst := int(o.rps)
		if burst < 1 {
			burst = 1
		}
		c.limiter = rate.NewLimiter(rate.Limit(o.rps), burst)
	}
	c.creditsRemaining.Store(-1)
	return c, nil
}

// WithBackoff sets the retry back-off: the wait before retry n is a random
// duration in [0, min(max, base*2^(n-1))] (full jitter), or Zoho's
// Retry-After when it sent one. Defaults: base 500ms, max 30s.
func WithBackoff(base, max time.Duration) Opt {
	return func(o *clientOptions) { o.backoffBase, o.backoffMax = base, max }
}

// String describes the client with every secret redacted.
func (c *Client) String() string { return c.opts.String() }

// GoString is String, so that %#v redacts secrets too.
func (c *Client) GoString() string { return c.opts.String() }

func (c *Client) log() *slog.Logger { return c.logger }

// APIDomain returns the base URL API calls go to now: WithAPIDomain, else
// for production the api_domain of the last token response, else the
// default of the data center and environment. A sandbox or developer
// client never follows the token response's api_domain (it logs it when it
// differs), so that a sandbox never writes to the production host.
func (c *Client) APIDomain() string {
	if c.opts.apiDomain != "" {
		return c.opts.apiDomain
	}
	c.tokens.mu.Lock()
	d := c.tokens.apiDomain
	c.tokens.mu.Unlock()
	if d != "" {
		return d
	}
	d, _ = APIDomainFor(c.opts.dataCenter, c.opts.environment)
	return d
}

// CheckToken gets an access token, or reuses the cached one, retrying
// retryable failures like any call. It is for readiness checks and
// `validate --online`.
func (c *Client) CheckToken(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		_, _, err := c.tokens.get(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxErrorAfter(ctx, OpToken, "", err)
		}
		if !IsRetryable(err) || !c.retryAllowed(attempt) {
			return err
		}
		if werr := c.retryWait(ctx, OpToken, "", attempt+1, err); werr != nil {
			return werr
		}
	}
}

// HasToken reports whether an unexpired access token is cached now.
func (c *Client) HasToken() bool {
	exp, ok := c.tokens.expiryTime()
	return ok && c.opts.now().Before(exp)
}

// Limits returns the limits the client keeps to on its own: calls in flight
// (the edition's, or WithMaxConcurrency when lower) and writes of more than
// 10 records in flight (Zoho's sub-concurrency, 10 in every edition).
func (c *Client) Limits() (calls, complexWrites int) {
	return c.gate.top, c.complex.top
}

// ShareLimits makes the client keep to calls in flight and complexWrites
// writes of more than 10 records in flight (each clamped to 1..Limits):
// its share of the org's limits when other clients, in other processes,
// call the same org. A lower share applies to calls not yet started; calls
// in flight finish. ShareLimits(Limits()) gives the whole limits back.
// Safe to call at any time, from any goroutine.
func (c *Client) ShareLimits(calls, complexWrites int) {
	c.gate.setMax(calls)
	c.complex.setMax(complexWrites)
}

// WriteSlots returns how many writes of more than 10 records may be in
// flight now: the smaller of the current limit of calls (the share, lowered
// after 429s) and the share of Zoho's sub-concurrency. A caller keeping that
// many full batches in flight (and one or two more, waiting their turn)
// uses every slot the client may use.
func (c *Client) WriteSlots() int {
	calls, _ := c.gate.stats()
	c.complex.mu.Lock()
	complexWrites := c.complex.max
	c.complex.mu.Unlock()
	return min(calls, complexWrites)
}

// Stats is a snapshot of the client's limiter and token.
type Stats struct {
	CreditsUsed24h   int       // credits of the calls made in the last 24 hours (by the documented costs)
	CreditBudget     int       // WithDailyCreditBudget (0: none)
	CreditsRemaining int       // Zoho's last X-API-CREDITS-REMAINING, -1 when it sent none
	ConcurrencyLimit int       // the current limit of calls in flight (lowered after 429s)
	InFlight         int       // calls in flight now
	ComplexInFlight  int       // writes of more than 10 records in flight now (within InFlight)
	TokenExpiry      time.Time // expiry of the cached access token; zero when none
}

// Stats returns a snapshot of the limiter and the token.
func (c *Client) Stats() Stats {
	limit, inUse := c.gate.stats()
	_, complexInUse := c.complex.stats()
	exp, ok := c.tokens.expiryTime()
	if !ok {
		exp = time.Time{}
	}
	return Stats{
		CreditsUsed24h:   c.ledger.Used(),
		CreditBudget:     c.ledger.Budget(),
		CreditsRemaining: int(c.creditsRemaining.Load()),
		ConcurrencyLimit: limit,
		InFlight:         inUse,
		ComplexInFlight:  complexInUse,
		TokenExpiry:      exp,
	}
}

// call is one API call to make.
type call struct {
	op      Operation
	module  string
	method  string
	path    string     // after /crm/v8
	query   url.Values // may be nil
	body    []byte     // nil: no body
	records int        // records or ids in the call; 0 when not a write
	cost    int        // credits
	complex bool       // a write of more than 10 records
}

// reply is Zoho's answer to a call that did not fail as a whole.
type reply struct {
	status int
	body   apiBody
	items  []apiItem // data[] as items, for writes
	// answer is the buffer the answer was read into, which items may
	// still point into: a write gives it back (releaseAnswer) once it has
	// its results.
	answer *[]byte
}

// apiBody is every shape of CRM API answer the client reads.
type apiBody struct {
	Data    json.RawMessage `json:"data"`
	Info    *apiInfo        `json:"info"`
	Fields  json.RawMessage `json:"fields"`
	Tags    json.RawMessage `json:"tags"`
	Code    string          `json:"code"`
	Status  string          `json:"status"`
	Message string          `json:"message"`
	Details map[string]any  `json:"details"`
}

type apiInfo struct {
	Count       int  `json:"count"`
	MoreRecords bool `json:"more_records"`
}

// apiItem is one item of data[] in a write's answer, or an error object.
type apiItem struct {
	Code           string      `json:"code"`
	Status         string      `json:"status"`
	Message        string      `json:"message"`
	Details        itemDetails `json:"details"`
	Action         string      `json:"action"`
	DuplicateField *string     `json:"duplicate_field"`
}

// itemDetails is an item's details: its id, read at once, and the raw
// object, decoded in full only for errors.
type itemDetails struct {
	id  string
	raw []byte
}

func (d *itemDetails) UnmarshalJSON(b []byte) error {
	d.raw = append([]byte(nil), b...)
	var x struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &x) == nil { // a non-string id is not an id
		d.id = x.ID
	}
	return nil
}

// detailsMap decodes details (only errors need all of it).
func (it *apiItem) detailsMap() map[string]any {
	var m map[string]any
	if len(it.Details.raw) > 0 {
		_ = json.Unmarshal(it.Details.raw, &m)
	}
	return m
}

// aboutRequest reports whether an error item names a part of the request
// outside data[] (json_path "$.trigger", "$.skip_feature_execution[0].name",
// api_name "data" or "ids"...): the whole call is wrong, not a record.
func (it *apiItem) aboutRequest() bool {
	if it.detailsID() != "" {
		return false // names its record
	}
	d := it.detailsMap()
	if p, _ := d["json_path"].(string); p != "" {
		return !strings.HasPrefix(p, "$.data[") && !strings.HasPrefix(p, "$.ids[")
	}
	switch d["api_name"] {
	case "data", "ids", "trigger", "duplicate_check_fields", "skip_feature_execution", "apply_feature_execution":
		return true
	}
	return false
}

// aboutRecord reports whether an error item names its record: an id, or a
// json_path into data[].
func (it *apiItem) aboutRecord() bool {
	if it.detailsID() != "" {
		return true
	}
	p, _ := it.detailsMap()["json_path"].(string)
	return strings.HasPrefix(p, "$.data[")
}

// detailsID returns details.id when it is a string.
func (it *apiItem) detailsID() string { return it.Details.id }

func (it *apiItem) ok() bool {
	if it.Status != "" {
		return strings.EqualFold(it.Status, "success")
	}
	return it.Code == "SUCCESS"
}

// do sends c through the limiter, with token handling and retries.
func (c *Client) do(ctx context.Context, cl *call) (*reply, error) {
	refreshed := false
	for attempt := 0; ; attempt++ {
		rep, gen, err := c.attempt(ctx, cl)
		if err == nil {
			return rep, nil
		}
		var ze *Error
		if errors.As(err, &ze) && ze.Code == "INVALID_TOKEN" {
			if !refreshed {
				// One shared refresh and one retry, not counted as a retry.
				refreshed = true
				c.tokens.invalidate(gen)
				attempt--
				continue
			}
			ze.Class = Fatal
			ze.Message = "Zoho refused a freshly refreshed access token at " + c.APIDomain() + " (" + ze.Message + ")"
			ze.Hint = fmt.Sprintf("check data_center (this client uses %s, accounts %s): the token may be for another data center; then run `zohosink auth` again", c.opts.dataCenter, c.accounts)
			if c.opts.apiDomain != "" {
				c.tokens.mu.Lock()
				told := c.tokens.apiDomain
				c.tokens.mu.Unlock()
				ze.Hint = fmt.Sprintf("check api_domain: it is set to %s", c.opts.apiDomain)
				if told != "" && told != c.opts.apiDomain {
					ze.Hint += fmt.Sprintf(", while the token endpoint %s gives tokens for %s (leave api_domain out to use it)", c.accounts, told)
				}
				ze.Hint += fmt.Sprintf("; else check data_center (this client uses %s)", c.opts.dataCenter)
			}
			return nil, ze
		}
		// Another failure: a later INVALID_TOKEN (say, after hours of
		// retries) earns its own refresh again.
		refreshed = false
		if ctx.Err() != nil {
			return nil, ctxErrorAfter(ctx, cl.op, cl.module, err)
		}
		if !IsRetryable(err) || !c.retryAllowed(attempt) {
			return nil, err
		}
		if werr := c.retryWait(ctx, cl.op, cl.module, attempt+1, err); werr != nil {
			return nil, werr
		}
	}
}

func (c *Client) retryAllowed(attempt int) bool {
	return c.opts.maxRetries < 0 || attempt < c.opts.maxRetries
}

// retryWait tells WithOnRetry and waits before retry number n.
func (c *Client) retryWait(ctx context.Context, op Operation, module string, n int, err error) error {
	d := c.backoff(n)
	var ze *Error
	if errors.As(err, &ze) && ze.RetryAfter > 0 {
		d = ze.RetryAfter
	}
	if c.opts.onRetry != nil {
		c.opts.onRetry(op, module, n, err)
	}
	c.log().Debug("zoho: retrying", "operation", string(op), "module", module, "attempt", n, "wait", d, "error", err.Error())
	if sleep(ctx, d) != nil {
		return ctxErrorAfter(ctx, op, module, err)
	}
	return nil
}

// backoff is full jitter: random in [0, min(max, base*2^(n-1))].
func (c *Client) backoff(n int) time.Duration {
	d := c.backoffBase
	for i := 1; i < n && d < c.backoffMax; i++ {
		d *= 2
	}
	if d > c.backoffMax {
		d = c.backoffMax
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// attempt makes one HTTP attempt: limiter, token, send, classify.
func (c *Client) attempt(ctx context.Context, cl *call) (*reply, uint64, error) {
	charged, err := c.waitCredits(ctx, cl)
	if err != nil {
		return nil, 0, err
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			c.ledger.refund(charged, cl.cost)
			return nil, 0, ctxError(ctx, cl.op, cl.module)
		}
	}
	tok, gen, err := c.tokens.get(ctx)
	if err != nil {
		c.ledger.refund(charged, cl.cost)
		return nil, 0, err
	}
	if cl.complex {
		seen, err := c.complex.acquire(ctx)
		if err != nil {
			c.ledger.refund(charged, cl.cost)
			return nil, gen, ctxError(ctx, cl.op, cl.module)
		}
		defer c.complex.release(seen, outcomeNeutral)
	}
	seen, err := c.gate.acquire(ctx)
	if err != nil {
		c.ledger.refund(charged, cl.cost)
		return nil, gen, ctxError(ctx, cl.op, cl.module)
	}
	out := outcomeNeutral
	defer func() { c.gate.release(seen, out) }()

	base := c.APIDomain()
	u := base + "/crm/" + apiVersion + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.reqTimeout)
	defer cancel()
	var rd io.Reader
	if cl.body != nil {
		rd = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, rd)
	if err != nil {
		return nil, gen, &Error{Class: Fatal, Op: cl.op, Module: cl.module, Message: "cannot build a request to " + base + cl.path + " (check api_domain)", Err: err}
	}
	req.Header.Set("Authorization", "Zoho-oauthtoken "+string(tok))
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	var body []byte
	var answer *[]byte
	if err == nil {
		answer, err = readBody(resp, cl.records)
		body = *answer
		resp.Body.Close()
	}
	dur := time.Since(start)
	if err != nil {
		releaseAnswer(answer)
		c.metrics.request(cl.module, cl.op, "network_error", dur)
		if ctx.Err() != nil {
			return nil, gen, ctxError(ctx, cl.op, cl.module)
		}
		msg := "no answer from " + base + ": " + scrubURLError(err)
		if actx.Err() != nil {
			msg = fmt.Sprintf("no answer from %s within %s (WithRequestTimeout)", base, c.opts.reqTimeout)
		}
		return nil, gen, &Error{Class: Retryable, Op: cl.op, Module: cl.module, Code: "network_error", Message: msg, Err: err}
	}
	if v := resp.Header.Get("X-API-CREDITS-REMAINING"); v != "" {
		if n, perr := strconv.Atoi(strings.TrimSpace(v)); perr == nil {
			c.creditsRemaining.Store(int64(n))
		}
	}
	rep, code, cerr := c.classify(cl, resp, body)
	if rep != nil {
		rep.answer = answer
	} else {
		releaseAnswer(answer) // the call's error holds copies of what it quotes
	}
	c.metrics.request(cl.module, cl.op, code, dur)
	if cerr == nil {
		c.metrics.charged(cl.cost)
	} else {
		// Zoho does not charge calls it refused as a whole.
		c.ledger.refund(charged, cl.cost)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || code == "TOO_MANY_REQUESTS":
		out = outcomeThrottled
		c.metrics.throttled()
	case cerr == nil:
		out = outcomeSuccess
	}
	return rep, gen, cerr
}

// maxAnswer is the most of an answer the client reads.
const maxAnswer = 64 << 20

// readBody reads an answer (at most maxAnswer), as io.ReadAll does but into
// one buffer of about the right size: its Content-Length when given, else
// a guess from the records written (Zoho chunks its answers; a write's
// answer holds an item of about 300 bytes per record), growing from there if
// needed, rather than from 512 bytes up.
//
// The buffer comes from a pool: a write gives it back once it has its
// results (releaseAnswer), so that the 30 kB answer of a 100-record write
// is not new garbage at every call. Other calls leave theirs to the
// collector.
func readBody(resp *http.Response, records int) (*[]byte, error) {
	size := int64(bytes.MinRead)
	switch {
	case resp.ContentLength >= 0:
		size += min(resp.ContentLength, maxAnswer)
	case records > 0:
		size += int64(records) * 384
	}
	p, _ := answerPool.Get().(*[]byte)
	if p == nil || int64(cap(*p)) < size {
		b := make([]byte, 0, size)
		p = &b
	}
	buf := bytes.NewBuffer((*p)[:0])
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer))
	*p = buf.Bytes()
	return p, err
}

// answerPool holds answer buffers for readBody.
var answerPool sync.Pool

// maxPooledAnswer is the largest answer buffer kept for the next call
// (a 100-record write's answer is about 30 kB).
const maxPooledAnswer = 1 << 20

// itemsPool holds the data[] slices of write answers (scanner.items).
var itemsPool sync.Pool

// results maps the answer's data[] items to Results (see results), which
// copy what they keep of the answer, and then releases the reply: a write
// needs nothing more of it.
func (rep *reply) results(ids []string, op Operation, module string, recs []Record) []Result {
	res := results(rep.items, ids, op, module, recs)
	rep.release()
	return res
}

// release gives back what a write's reply holds for the next (its answer's
// buffer, its items) once its results are made: nothing may point into
// them any more.
func (rep *reply) release() {
	releaseAnswer(rep.answer)
	rep.answer = nil
	if cap(rep.items) >= MaxRecordsPerCall && cap(rep.items) <= 4*MaxRecordsPerCall {
		items := rep.items[:cap(rep.items)]
		clear(items)
		items = items[:0]
		itemsPool.Put(&items)
	}
	rep.items = nil
}

// releaseAnswer gives an answer's buffer back to readBody's pool: nothing
// may point into it any more. nil is fine.
func releaseAnswer(p *[]byte) {
	if p == nil || cap(*p) > maxPooledAnswer {
		return
	}
	clear((*p)[:cap(*p)]) // what Zoho answered (ids, values) stays in no idle buffer
	*p = (*p)[:0]
	answerPool.Put(p)
}

// waitCredits keeps to the daily budget and to Zoho's reported remaining
// credits. Policy for X-API-CREDITS-REMAINING: when the last value Zoho sent
// is below this call's cost, the call waits creditsRemainingPause once and
// forgets the value (the next answer reports a fresh one); a 429 then backs
// off as usual.
func (c *Client) waitCredits(ctx context.Context, cl *call) (time.Time, error) {
	if rem := c.creditsRemaining.Load(); rem >= 0 && rem < int64(cl.cost) {
		c.log().Warn("zoho: few API credits remain; pausing", "remaining", rem, "cost", cl.cost, "wait", creditsRemainingPause)
		if sleep(ctx, creditsRemainingPause) != nil {
			return time.Time{}, ctxError(ctx, cl.op, cl.module)
		}
		c.creditsRemaining.CompareAndSwap(rem, -1)
	}
	logged := false
	for {
		w, at := c.ledger.reserve(cl.cost)
		if w == 0 {
			return at, nil
		}
		if !logged {
			c.log().Info("zoho: daily credit budget reached; waiting", "budget", c.ledger.Budget(), "wait", w)
			logged = true
		}
		if sleep(ctx, min(w, clockPoll)) != nil {
			return time.Time{}, ctxError(ctx, cl.op, cl.module)
		}
	}
}

// ctxError is the error of a call whose context ended.
func ctxError(ctx context.Context, op Operation, module string) error {
	return ctxErrorAfter(ctx, op, module, nil)
}

// ctxErrorAfter is the error of a call whose context ended while it was
// retrying last: it says why the call kept failing, not only that it stopped.
func ctxErrorAfter(ctx context.Context, op Operation, module string, last error) error {
	err := waitErr(ctx)
	e := &Error{Class: Retryable, Op: op, Module: module, Message: "gave up: " + err.Error(), Err: err}
	var le *Error
	if errors.As(last, &le) && strings.HasPrefix(le.Message, "gave up") {
		return le // the last attempt was itself cut short: nothing more to say
	}
	switch {
	case errors.As(last, &le):
		e.Code, e.HTTPStatus, e.Hint = le.Code, le.HTTPStatus, le.Hint
		e.Message = "gave up (" + err.Error() + ") while retrying: " + le.Message
	case last != nil:
		e.Message = "gave up (" + err.Error() + ") while retrying: " + last.Error()
	}
	return e
}
