package zoho_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zohosink/zoho"
)

const (
	replayClientSecret = "cs-SECRET-0123456789"
	replayRefresh      = "rt-SECRET-1000.abcdef"
	replayAccess       = "at-SECRET-1000.fedcba"
)

// replay is an httptest server that answers the token endpoint and every
// CRM call with bodies the test sets, typically Zoho fixtures.
type replay struct {
	*httptest.Server
	mu          sync.Mutex
	tokenStatus int
	tokenBody   string // "" = a good token with api_domain = the server
	apiStatus   int
	apiBody     []byte
	apiHeader   http.Header
	tokenCalls  atomic.Int32
	apiCalls    atomic.Int32
	lastAuth    atomic.Value
	lastPath    atomic.Value
}

func newReplay(t testing.TB) *replay {
	r := &replay{tokenStatus: 200, apiStatus: 200}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.URL.Path == "/oauth/v2/token" {
			r.tokenCalls.Add(1)
			if err := req.ParseForm(); err != nil || req.PostForm.Get("client_secret") != replayClientSecret {
				t.Errorf("token request without the client secret in the form")
			}
			body := r.tokenBody
			if body == "" {
				body = fmt.Sprintf(`{"access_token":%q,"expires_in":3600,"api_domain":%q,"token_type":"Bearer"}`, replayAccess, r.URL)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(r.tokenStatus)
			_, _ = w.Write([]byte(body))
			return
		}
		r.apiCalls.Add(1)
		r.lastAuth.Store(req.Header.Get("Authorization"))
		r.lastPath.Store(req.Method + " " + req.URL.RequestURI())
		for k, v := range r.apiHeader {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.apiStatus)
		_, _ = w.Write(r.apiBody)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *replay) answer(status int, body []byte, hdr http.Header) {
	r.mu.Lock()
	r.apiStatus, r.apiBody, r.apiHeader = status, body, hdr
	r.mu.Unlock()
}

func (r *replay) client(t testing.TB, w *secretWatch, opts ...zoho.Opt) *zoho.Client {
	t.Helper()
	w.Secret(replayClientSecret, replayRefresh, replayAccess)
	base := []zoho.Opt{
		zoho.WithAccountsURL(r.URL),
		zoho.WithCredentials("1000.CLIENTID", replayClientSecret, replayRefresh),
		zoho.WithLogger(w.Logger()),
		zoho.WithBackoff(time.Millisecond, 5*time.Millisecond),
		zoho.WithMaxRetries(0),
	}
	c, err := zoho.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	w.Text(c.String(), fmt.Sprintf("%v %+v %#v", c, c, c))
	return c
}

func recs(n int) []zoho.Record {
	out := make([]zoho.Record, n)
	for i := range out {
		out[i] = zoho.Record{"id": fmt.Sprint(5000 + i), "Last_Name": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("p%d@example.com", i)}
	}
	return out
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(4000 + i)
	}
	return out
}

// TestFixturesPerRecord checks that every per-record fixture maps to one
// Result per input, in order, with Zoho's codes and fields.
func TestFixturesPerRecord(t *testing.T) {
	type want struct {
		id, action, dup string
		code, apiName   string
		jsonPath        string
		detail          string // a key expected in RecordError.Details
	}
	tests := []struct {
		file   string
		status int
		op     zoho.Operation
		n      int
		want   []want
	}{
		{"f1-insert-http-201-all-succeeded.json", 201, zoho.OpInsert, 1, []want{{id: "5725767000000524157"}}},
		{"f2-insert-http-207-partial-failure.json", 207, zoho.OpInsert, 2, []want{
			{id: "5725767000000524157"},
			{code: "INVALID_DATA", apiName: "Last_Name", jsonPath: "$.data[1].Last_Name"}}},
		{"f3-upsert-success-one-update-one-insert.json", 200, zoho.OpUpsert, 2, []want{
			{id: "4150868000000376008", action: "update", dup: "Email"},
			{id: "4150868000003194003", action: "insert"}}},
		{"f4-upsert-http-207-partial-failure.json", 207, zoho.OpUpsert, 2, []want{
			{id: "111112000000142001", action: "insert", dup: "Email"},
			{code: "INVALID_DATA", apiName: "Company", jsonPath: "$.data[1].Company", detail: "expected_data_type"}}},
		{"f5-delete-http-207-partial-failure.json", 207, zoho.OpDelete, 3, []want{
			{id: "410405000002264040"},
			{id: "4150868000005067099", code: "INVALID_DATA"},
			{id: "410405000002264025"}}},
		{"f6-duplicate-data-http-400.json", 400, zoho.OpInsert, 1, []want{
			{id: "2008662000006256222", code: "DUPLICATE_DATA", apiName: "Unique_1", jsonPath: "$.data[0].Unique_1", detail: "duplicate_record"}}},
		{"f7-mandatory-not-found-http-400.json", 400, zoho.OpUpsert, 1, []want{
			{id: "5410702000000761568", code: "MANDATORY_NOT_FOUND", apiName: "Single_Line_1", jsonPath: "$.data[0].Single_Line_1"}}},
		{"f9-invalid-data-wrong-data-type-http-400.json", 400, zoho.OpUpdate, 1, []want{
			{code: "INVALID_DATA", apiName: "Number_1", jsonPath: "$.data[0].Number_1", detail: "expected_data_type"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			w := watchSecrets(t)
			r := newReplay(t)
			r.answer(tt.status, fixture(t, tt.file), nil)
			c := r.client(t, w)
			ctx := context.Background()
			var res []zoho.Result
			var err error
			switch tt.op {
			case zoho.OpInsert:
				res, err = c.Insert(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpUpdate:
				res, err = c.Update(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpUpsert:
				res, err = c.Upsert(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpDelete:
				res, err = c.Delete(ctx, "Leads", ids(tt.n), false)
			}
			if w.Err(err) != nil {
				t.Fatalf("%s: err = %v, want per-record results", tt.op, err)
			}
			if len(res) != len(tt.want) {
				t.Fatalf("%d results, want %d", len(res), len(tt.want))
			}
			for i, wt := range tt.want {
				got := res[i]
				if got.ID != wt.id || got.Action != wt.action || got.DuplicateField != wt.dup {
					t.Errorf("result %d = {ID:%q Action:%q Dup:%q}, want {%q %q %q}", i, got.ID, got.Action, got.DuplicateField, wt.id, wt.action, wt.dup)
				}
				if wt.code == "" {
					if !got.OK() {
						t.Errorf("result %d: unexpected error %v", i, got.Err)
					}
					continue
				}
				if got.OK() {
					t.Fatalf("result %d accepted, want %s", i, wt.code)
				}
				e := got.Err
				if e.Code != wt.code || e.APIName != wt.apiName || e.JSONPath != wt.jsonPath {
					t.Errorf("result %d error = {%s %s %s}, want {%s %s %s}", i, e.Code, e.APIName, e.JSONPath, wt.code, wt.apiName, wt.jsonPath)
				}
				if wt.detail != "" {
					if _, ok := e.Details[wt.detail]; !ok {
						t.Errorf("result %d: details %v lack %q", i, e.Details, wt.detail)
					}
				}
				if zoho.ClassOf(e) != zoho.PerRecord {
					t.Errorf("result %d: class %s, want per-record", i, zoho.ClassOf(e))
				}
			}
			if n := r.apiCalls.Load(); n != 1 {
				t.Errorf("%d API calls, want 1 (record errors are never retried)", n)
			}
			if got := r.lastAuth.Load(); got != "Zoho-oauthtoken "+replayAccess {
				t.Errorf("Authorization header = %q, want the Zoho-oauthtoken scheme", got)
			}
		})
	}
}

// TestFixturesRequestErrors checks the request-level fixtures: class, code
// and what the message tells a person.
func TestFixturesRequestErrors(t *testing.T) {
	tests := []struct {
		file     string
		status   int
		op       zoho.Operation
		n        int
		code     string
		class    zoho.Class
		contains []string
		calls    int32
	}{
		{"f8-limit-exceeded-more-than-100-records-http-400.json", 400, zoho.OpUpdate, 1, "LIMIT_EXCEEDED", zoho.Fatal, []string{"bug"}, 1},
		{"f10-oauth-scope-mismatch-http-401.json", 401, zoho.OpInsert, 2, "OAUTH_SCOPE_MISMATCH", zoho.Fatal,
			[]string{"ZohoCRM.modules.Leads.CREATE", "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ", "zohosink auth"}, 1},
		{"f11-invalid-token.json", 401, zoho.OpUpsert, 2, "INVALID_TOKEN", zoho.Fatal, []string{"data center", "zohosink auth"}, 2},
		{"f12-invalid-url-pattern-http-404.json", 404, zoho.OpInsert, 1, "INVALID_URL_PATTERN", zoho.Fatal, []string{"Check data_center / api_domain"}, 1},
		{"f14-delete-without-ids-http-400.json", 400, zoho.OpDelete, 2, "REQUIRED_PARAM_MISSING", zoho.Fatal, []string{"One of the expected parameter is missing"}, 1},
		{"f15-429-too-many-requests-low-confidence.json", 429, zoho.OpUpsert, 20, "TOO_MANY_REQUESTS", zoho.Retryable, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			w := watchSecrets(t)
			r := newReplay(t)
			r.answer(tt.status, fixture(t, tt.file), nil)
			c := r.client(t, w)
			ctx := context.Background()
			var res []zoho.Result
			var err error
			switch tt.op {
			case zoho.OpInsert:
				res, err = c.Insert(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpUpdate:
				res, err = c.Update(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpUpsert:
				res, err = c.Upsert(ctx, "Leads", recs(tt.n), zoho.WriteOptions{})
			case zoho.OpDelete:
				res, err = c.Delete(ctx, "Leads", ids(tt.n), false)
			}
			_ = w.Err(err)
			if err == nil {
				t.Fatalf("got %d results and no error, want %s", len(res), tt.code)
			}
			ze := asError(t, err)
			if ze.Code != tt.code || ze.Class != tt.class || zoho.ClassOf(err) != tt.class {
				t.Errorf("error = %v (code %s class %s), want code %s class %s", err, ze.Code, ze.Class, tt.code, tt.class)
			}
			if ze.Op != tt.op || ze.Module != "Leads" || ze.HTTPStatus != tt.status {
				t.Errorf("error names op %q module %q status %d, want %q Leads %d", ze.Op, ze.Module, ze.HTTPStatus, tt.op, tt.status)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not say %q", err, s)
				}
			}
			if n := r.apiCalls.Load(); n != tt.calls {
				t.Errorf("%d API calls, want %d", n, tt.calls)
			}
		})
	}
}

// TestInvalidTokenRefreshesOnce: one INVALID_TOKEN costs one refresh and
// one retry; the second makes the call fatal.
func TestInvalidTokenRefreshesOnce(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(401, fixture(t, "f11-invalid-token.json"), nil)
	c := r.client(t, w)
	_, err := c.Insert(context.Background(), "Contacts", recs(1), zoho.WriteOptions{})
	_ = w.Err(err)
	if !zoho.IsFatal(err) {
		t.Fatalf("err = %v, want fatal after the second INVALID_TOKEN", err)
	}
	if got := r.tokenCalls.Load(); got != 2 {
		t.Errorf("%d token calls, want 2 (the first token and one refresh)", got)
	}
}

func TestFixtureTokenThrottle(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.tokenBody = string(fixture(t, "f13-oauth-token-throttle-access-denied.json"))
	c := r.client(t, w)
	err := w.Err(c.CheckToken(context.Background()))
	ze := asError(t, err)
	if ze.Class != zoho.Retryable || ze.Op != zoho.OpToken {
		t.Fatalf("err = %v (class %s), want retryable token error", err, ze.Class)
	}
	if ze.RetryAfter < 30*time.Second || ze.RetryAfter > 60*time.Second {
		t.Errorf("RetryAfter = %s, want a pause of 30s-60s", ze.RetryAfter)
	}
	if c.HasToken() {
		t.Error("HasToken after a throttled refresh")
	}
	// The pause is honoured and bounded by the context.
	c2 := r.client(t, w, zoho.WithMaxRetries(3))
	ctx, cancel := context.WithCancel(context.Background())
	var retries atomic.Int32
	c3 := r.client(t, w, zoho.WithMaxRetries(3), zoho.WithOnRetry(func(op zoho.Operation, _ string, _ int, _ error) {
		retries.Add(1)
		cancel()
	}))
	_ = c2
	err = w.Err(c3.CheckToken(ctx))
	if !zoho.IsRetryable(err) || retries.Load() != 1 {
		t.Fatalf("err = %v after %d retries, want a retryable context error after 1", err, retries.Load())
	}
	if !strings.Contains(err.Error(), "gave up") {
		t.Errorf("err = %v, want it to say the call gave up", err)
	}
}

func TestFixtureTokenRefreshSuccess(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.tokenBody = string(fixture(t, "f17-token-refresh-success.json"))
	w.Secret("{new_access_token}")
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	c := r.client(t, w, zoho.WithClock(func() time.Time { return now }))
	if c.HasToken() {
		t.Fatal("HasToken before any token")
	}
	if err := w.Err(c.CheckToken(context.Background())); err != nil {
		t.Fatal(err)
	}
	if !c.HasToken() {
		t.Error("no token after CheckToken")
	}
	if got := c.APIDomain(); got != "https://www.zohoapis.com" {
		t.Errorf("APIDomain = %q, want the token response's api_domain", got)
	}
	if got := c.Stats().TokenExpiry; !got.Equal(now.Add(time.Hour)) {
		t.Errorf("TokenExpiry = %s, want %s", got, now.Add(time.Hour))
	}
	// An explicit API domain wins over the token response.
	c2 := r.client(t, w, zoho.WithAPIDomain(r.URL+"/"))
	if err := w.Err(c2.CheckToken(context.Background())); err != nil {
		t.Fatal(err)
	}
	if got := c2.APIDomain(); got != r.URL {
		t.Errorf("APIDomain = %q, want the WithAPIDomain override %q", got, r.URL)
	}
}

func TestTokenExpiryFormats(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		body string
		want time.Duration
	}{
		{`{"access_token":"%s","expires_in":3600,"api_domain":"%s"}`, time.Hour},
		{`{"access_token":"%s","expires_in":3600000,"expires_in_sec":3600,"api_domain":"%s"}`, time.Hour},
		{`{"access_token":"%s","expires_in":1800000,"api_domain":"%s"}`, 30 * time.Minute},
	}
	for _, tt := range tests {
		w := watchSecrets(t)
		r := newReplay(t)
		r.tokenBody = fmt.Sprintf(tt.body, replayAccess, r.URL)
		c := r.client(t, w, zoho.WithClock(func() time.Time { return now }))
		if err := w.Err(c.CheckToken(context.Background())); err != nil {
			t.Fatal(err)
		}
		if got := c.Stats().TokenExpiry.Sub(now); got != tt.want {
			t.Errorf("%s: lifetime %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		class    zoho.Class
		contains string
	}{
		{"revoked refresh token, HTTP 200", 200, `{"error":"invalid_code"}`, zoho.Fatal, "Run `zohosink auth` again"},
		{"invalid client, HTTP 200", 200, `{"error":"invalid_client"}`, zoho.Fatal, "client id or secret is wrong"},
		{"invalid client, HTTP 400", 400, `{"error":"invalid_client"}`, zoho.Fatal, "client id or secret is wrong"},
		{"invalid client secret, HTTP 200", 200, `{"error":"invalid_client_secret"}`, zoho.Fatal, "Check client_secret"},
		{"5xx", 503, `<html>down</html>`, zoho.Retryable, "token endpoint"},
		{"garbled 200 with a token in it", 200, `{"access_token":"` + replayAccess, zoho.Fatal, "unexpected response"},
		{"no access token", 200, `{}`, zoho.Fatal, "no access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := watchSecrets(t)
			r := newReplay(t)
			r.tokenStatus, r.tokenBody = tt.status, tt.body
			c := r.client(t, w)
			_, err := c.Upsert(context.Background(), "Leads", recs(1), zoho.WriteOptions{})
			_ = w.Err(err)
			ze := asError(t, err)
			if ze.Class != tt.class || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %v (class %s), want class %s saying %q", err, ze.Class, tt.class, tt.contains)
			}
			if strings.Contains(tt.contains, "auth") && !strings.Contains(err.Error(), r.URL) {
				t.Errorf("err = %v, want it to name the accounts URL in use", err)
			}
			if r.apiCalls.Load() != 0 {
				t.Error("an API call went out without a token")
			}
		})
	}
}

func TestFixtureCOQL(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(200, fixture(t, "f16-coql-success-http-200.json"), nil)
	c := r.client(t, w)
	rows, more, err := c.Query(context.Background(), "select Last_Name, First_Name from Leads where Last_Name = 'Smith'")
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	if more || len(rows) != 1 || rows[0]["Last_Name"] != "Smith" || rows[0]["First_Name"] != "John" {
		t.Errorf("rows = %v more = %v, want one Smith, John", rows, more)
	}
	r.answer(204, nil, nil)
	rows, more, err = c.Query(context.Background(), "select id from Leads where Last_Name = 'Nobody'")
	if w.Err(err) != nil || rows != nil || more {
		t.Errorf("204: rows %v more %v err %v, want nil, false, nil", rows, more, err)
	}
}

func TestFixtureFieldMetadata(t *testing.T) {
	raw := fixture(t, "f18-field-metadata-item-leads-last-name.json")
	f, err := zoho.ParseField(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := zoho.Field{APIName: "Last_Name", DataType: "text", JSONType: "string", Length: 80, SystemMandatory: true}
	if fmt.Sprint(f) != fmt.Sprint(want) {
		t.Errorf("field = %+v, want %+v", f, want)
	}
	w := watchSecrets(t)
	r := newReplay(t)
	body, _ := json.Marshal(map[string]any{"fields": []json.RawMessage{raw,
		json.RawMessage(`{"api_name":"Lead_Source","data_type":"picklist","json_type":"string","length":120,"unique":{"casesensitive":"false"},"pick_list_values":[{"display_value":"Web","actual_value":"Web_Site"}],"decimal_place":null}`),
		json.RawMessage(`{"api_name":"Account","data_type":"lookup","json_type":"jsonobject","lookup":{"module":{"api_name":"Accounts","id":"1"}},"decimal_place":2}`)}})
	r.answer(200, body, nil)
	c := r.client(t, w)
	fields, err := c.Fields(context.Background(), "Leads")
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	if len(fields) != 3 || fields[0].APIName != "Last_Name" || !fields[1].Unique || fields[0].Unique ||
		fmt.Sprint(fields[1].PickListValues) != "[Web_Site]" || fields[2].LookupModule != "Accounts" || fields[2].DecimalPlace != 2 {
		t.Errorf("fields = %+v", fields)
	}
	if got := r.lastPath.Load(); got != "GET /crm/v8/settings/fields?module=Leads" {
		t.Errorf("request = %v", got)
	}
}

// TestHostileBodies: garbled or odd answers never panic, and map to
// retryable or "unexpected response" errors with the right class.
func TestHostileBodies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		class  zoho.Class
		say    string
	}{
		{"html 502", 502, "<html>bad gateway</html>", zoho.Retryable, "unexpected response"},
		{"truncated 200", 200, `{"data":[{"code":"SUCCESS","details":{"id":"1"`, zoho.Retryable, "unexpected response"},
		{"non-json 200", 200, `OK`, zoho.Retryable, "unexpected response"},
		{"data is a string", 200, `{"data":"nope"}`, zoho.Retryable, "unexpected response"},
		{"data of numbers", 200, `{"data":[1,2]}`, zoho.Retryable, "unexpected response"},
		{"wrong count of items", 200, `{"data":[{"code":"SUCCESS","status":"success","details":{"id":"1"}}]}`, zoho.Retryable, "1 results for 2 records"},
		{"empty object 200", 200, `{}`, zoho.Retryable, "unexpected response"},
		{"html 400", 400, `<html>bad request</html>`, zoho.Fatal, "unexpected response"},
		{"empty 500", 500, ``, zoho.Retryable, "unexpected response"},
		{"error wrapped in data[] for a batch", 400, `{"data":[{"code":"INVALID_MODULE","message":"the module name given seems to be invalid","status":"error","details":{}}]}`, zoho.Fatal, "Contacts, Leads, Accounts, Deals"},
		{"NO_PERMISSION", 403, `{"code":"NO_PERMISSION","message":"permission denied","status":"error","details":{}}`, zoho.Fatal, "lacks permission"},
		{"INTERNAL_ERROR", 500, `{"code":"INTERNAL_ERROR","message":"Internal Server Error","status":"error","details":{}}`, zoho.Retryable, "INTERNAL_ERROR"},
		{"bare 404", 404, ``, zoho.Fatal, "Check data_center / api_domain"},
		{"204 to a write", 204, ``, zoho.Retryable, "no body for 2 records"},
		{"401 without a code", 401, `{"status":"error"}`, zoho.Fatal, "unexpected response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := watchSecrets(t)
			r := newReplay(t)
			r.answer(tt.status, []byte(tt.body), nil)
			c := r.client(t, w)
			res, err := c.Upsert(context.Background(), "Leads", recs(2), zoho.WriteOptions{})
			_ = w.Err(err)
			if err == nil {
				t.Fatalf("got %v, want an error", res)
			}
			if zoho.ClassOf(err) != tt.class || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("err = %v (class %s), want class %s saying %q", err, zoho.ClassOf(err), tt.class, tt.say)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(429, fixture(t, "f15-429-too-many-requests-low-confidence.json"), http.Header{"Retry-After": {"7"}})
	c := r.client(t, w)
	_, err := c.Insert(context.Background(), "Leads", recs(1), zoho.WriteOptions{})
	ze := asError(t, w.Err(err))
	if ze.RetryAfter != 7*time.Second || ze.RequestID != "rate-limit-trace-id-001" {
		t.Errorf("RetryAfter %s RequestID %q, want 7s and the trace id", ze.RetryAfter, ze.RequestID)
	}
	if got := c.Stats().ConcurrencyLimit; got != 5 {
		t.Errorf("concurrency limit after a 429 = %d, want 5 (halved from standard's 10)", got)
	}
}

// TestCreditsRemainingPause: when Zoho reports fewer credits than the next
// call costs, the call pauses before it is sent.
func TestCreditsRemainingPause(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(201, fixture(t, "f1-insert-http-201-all-succeeded.json"), http.Header{"X-Api-Credits-Remaining": {"0"}})
	c := r.client(t, w)
	res, err := c.Insert(context.Background(), "Leads", recs(1), zoho.WriteOptions{})
	if w.Err(err) != nil || !res[0].OK() {
		t.Fatalf("insert: %v %v", res, err)
	}
	if got := c.Stats().CreditsRemaining; got != 0 {
		t.Fatalf("CreditsRemaining = %d, want 0 from the header", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Insert(ctx, "Leads", recs(1), zoho.WriteOptions{})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.log.String(), "few API credits remain") {
		if time.Now().After(deadline) {
			t.Fatal("the call did not pause")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := w.Err(<-done); !zoho.IsRetryable(err) || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("err = %v, want a retryable context error", err)
	}
	if n := r.apiCalls.Load(); n != 1 {
		t.Errorf("%d API calls, want 1: the paused call must not be sent", n)
	}
}

// TestNoCredentials: a client without credentials says which option is
// missing when it first needs a token.
func TestNoCredentials(t *testing.T) {
	c, err := zoho.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckToken(context.Background())
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), "WithCredentials") {
		t.Errorf("err = %v, want fatal naming WithCredentials", err)
	}
}

// TestScopeNamedPerOperation: OAUTH_SCOPE_MISMATCH names the scope each
// kind of call needs.
func TestScopeNamedPerOperation(t *testing.T) {
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(401, fixture(t, "f10-oauth-scope-mismatch-http-401.json"), nil)
	c := r.client(t, w)
	ctx := context.Background()
	tests := []struct {
		call  func() error
		scope string
	}{
		{func() error { _, err := c.Update(ctx, "Deals", recs(1), zoho.WriteOptions{}); return err }, "ZohoCRM.modules.Deals.UPDATE"},
		{func() error { _, err := c.Upsert(ctx, "Accounts", recs(1), zoho.WriteOptions{}); return err }, "ZohoCRM.modules.Accounts.CREATE and .UPDATE"},
		{func() error { _, err := c.Delete(ctx, "Contacts", ids(1), true); return err }, "ZohoCRM.modules.Contacts.DELETE"},
		{func() error { _, err := c.AddTags(ctx, "Leads", ids(1), []string{"x"}); return err }, "ZohoCRM.modules.Leads.UPDATE"},
		{func() error { _, _, err := c.Query(ctx, "select id from Leads limit 2000"); return err }, "ZohoCRM.coql.READ"},
		{func() error { _, err := c.Fields(ctx, "Leads"); return err }, "ZohoCRM.settings.fields.READ"},
	}
	for _, tt := range tests {
		err := w.Err(tt.call())
		if !zoho.IsFatal(err) || !strings.Contains(err.Error(), tt.scope) {
			t.Errorf("err = %v, want fatal naming %s", err, tt.scope)
		}
	}
}

func TestErrorText(t *testing.T) {
	re := &zoho.RecordError{Code: "INVALID_DATA", Message: "invalid data", APIName: "Email"}
	if got := re.Error(); got != "zoho: INVALID_DATA: invalid data (field Email)" || zoho.ClassOf(re) != zoho.PerRecord {
		t.Errorf("RecordError = %q class %s", got, zoho.ClassOf(re))
	}
	e := &zoho.Error{Class: zoho.Fatal, Op: zoho.OpInsert, Module: "Leads", HTTPStatus: 401, Code: "OAUTH_SCOPE_MISMATCH", Message: "m", Hint: "h"}
	if got := e.Error(); got != "zoho insert Leads: OAUTH_SCOPE_MISMATCH: m (HTTP 401). H" {
		t.Errorf("Error = %q", got)
	}
	if !zoho.IsRetryable(fmt.Errorf("wrapped: %w", context.Canceled)) || zoho.Fatal.String() != "fatal" {
		t.Error("unknown errors are retryable")
	}
}
