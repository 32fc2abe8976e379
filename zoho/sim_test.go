package zoho_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"zohosink/zoho"
	"zohosink/zoho/zohotest"
)

// authRecorder is a transport that remembers every access token the client
// sends, so that tests can check none leaks.
type authRecorder struct {
	w    *secretWatch
	next http.RoundTripper
}

func (a authRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		a.w.Secret(strings.TrimPrefix(h, "Zoho-oauthtoken "))
	}
	return a.next.RoundTrip(r)
}

// simClient returns a client of srv, watched for secrets, with a short
// back-off so that retries do not slow tests.
func simClient(t testing.TB, srv *zohotest.Server, w *secretWatch, opts ...zoho.Opt) *zoho.Client {
	t.Helper()
	cr := srv.Credentials()
	w.Secret(cr.ClientSecret, cr.RefreshToken)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	base := []zoho.Opt{
		zoho.WithAccountsURL(srv.URL),
		zoho.WithCredentials(cr.ClientID, cr.ClientSecret, cr.RefreshToken),
		zoho.WithHTTPClient(&http.Client{Transport: authRecorder{w, tr}}),
		zoho.WithLogger(w.Logger()),
		zoho.WithBackoff(time.Millisecond, 10*time.Millisecond),
	}
	c, err := zoho.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { w.Text(c.String(), fmt.Sprintf("%+v", c.Stats())) })
	return c
}

func newSim(t testing.TB, opts ...zohotest.Option) *zohotest.Server {
	srv := zohotest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func contact(i int) zoho.Record {
	return zoho.Record{"Last_Name": fmt.Sprintf("Last%d", i), "First_Name": "Ann", "Email": fmt.Sprintf("c%d@example.com", i)}
}

func mustOK(t testing.TB, w *secretWatch, what string, res []zoho.Result, err error, n int) {
	t.Helper()
	if w.Err(err) != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(res) != n {
		t.Fatalf("%s: %d results, want %d", what, len(res), n)
	}
	for i, r := range res {
		if !r.OK() {
			t.Fatalf("%s: record %d rejected: %v", what, i, r.Err)
		}
	}
}

func TestSimRoundTrips(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	ctx := context.Background()

	res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(0), contact(1), contact(2)}, zoho.WriteOptions{Trigger: []string{}})
	mustOK(t, w, "insert", res, err, 3)
	if c.APIDomain() != srv.URL {
		t.Errorf("APIDomain = %q, want the token response's %q", c.APIDomain(), srv.URL)
	}
	for i, r := range res {
		got, ok := srv.Record("Contacts", r.ID)
		if !ok || got["Email"] != fmt.Sprintf("c%d@example.com", i) {
			t.Errorf("insert %d: stored %v (found %v)", i, got, ok)
		}
	}
	var body map[string]any
	reqs := srv.Requests()
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil || fmt.Sprint(body["trigger"]) != "[]" {
		t.Errorf("insert body %s: want \"trigger\":[] for an empty non-nil Trigger", reqs[len(reqs)-1].Body)
	}

	res2, err := c.Update(ctx, "Contacts", []zoho.Record{{"id": res[0].ID, "Last_Name": "Changed"}}, zoho.WriteOptions{})
	mustOK(t, w, "update", res2, err, 1)
	if got, _ := srv.Record("Contacts", res[0].ID); got["Last_Name"] != "Changed" || res2[0].ID != res[0].ID {
		t.Errorf("after update: %v (result id %s)", got, res2[0].ID)
	}

	up := []zoho.Record{{"Last_Name": "Again", "Email": "c1@example.com"}, contact(3)}
	res3, err := c.Upsert(ctx, "Contacts", up, zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}})
	mustOK(t, w, "upsert", res3, err, 2)
	if res3[0].Action != "update" || res3[0].ID != res[1].ID || res3[0].DuplicateField != "Email" {
		t.Errorf("upsert of an existing email = %+v, want an update of %s matched on Email", res3[0], res[1].ID)
	}
	if res3[1].Action != "insert" || res3[1].ID == "" {
		t.Errorf("upsert of a new email = %+v, want an insert", res3[1])
	}

	tagged := []string{res[0].ID, res[1].ID}
	res4, err := c.AddTags(ctx, "Contacts", tagged, []string{"vip", "warehouse"})
	mustOK(t, w, "add tags", res4, err, 2)
	if got := srv.Tags("Contacts", res[0].ID); fmt.Sprint(sorted(got)) != "[vip warehouse]" {
		t.Errorf("tags = %v", got)
	}
	res5, err := c.RemoveTags(ctx, "Contacts", tagged, []string{"vip"})
	mustOK(t, w, "remove tags", res5, err, 2)
	if got := srv.Tags("Contacts", res[1].ID); fmt.Sprint(got) != "[warehouse]" {
		t.Errorf("tags after remove = %v", got)
	}

	rows, more, err := c.Query(ctx, "select id, Last_Name from Contacts where Email = 'c2@example.com'")
	if w.Err(err) != nil || more || len(rows) != 1 || rows[0]["id"] != res[2].ID {
		t.Errorf("query: rows %v more %v err %v", rows, more, err)
	}
	rows, more, err = c.Query(ctx, "select id from Contacts where Email = 'nobody@example.com'")
	if w.Err(err) != nil || rows != nil || more {
		t.Errorf("query with no match: rows %v more %v err %v, want nil, false, nil", rows, more, err)
	}
	_, _, err = c.Query(ctx, "select id from Contacts where")
	if !zoho.IsFatal(w.Err(err)) {
		t.Errorf("bad COQL: err = %v, want fatal", err)
	}

	fields, err := c.Fields(ctx, "Contacts")
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	var last *zoho.Field
	for i := range fields {
		if fields[i].APIName == "Last_Name" {
			last = &fields[i]
		}
	}
	if last == nil || !last.SystemMandatory || last.DataType != "text" {
		t.Errorf("Last_Name field = %+v", last)
	}

	del := []string{res[0].ID, res[2].ID}
	res6, err := c.Delete(ctx, "Contacts", del, false)
	mustOK(t, w, "delete", res6, err, 2)
	for i, id := range del {
		if res6[i].ID != id {
			t.Errorf("delete result %d id %s, want %s", i, res6[i].ID, id)
		}
		if _, ok := srv.Record("Contacts", id); ok {
			t.Errorf("record %s still there after delete", id)
		}
	}
	if srv.TokensMinted() != 1 {
		t.Errorf("%d tokens minted for one client, want 1", srv.TokensMinted())
	}
	if got, want := c.Stats().CreditsUsed24h, srv.CreditsUsed(); got != want {
		t.Errorf("client counts %d credits, the simulator charged %d", got, want)
	}
}

func sorted(s []string) []string { s = append([]string(nil), s...); sort.Strings(s); return s }

// TestSimPartialBatch: a 207 mapped record by record.
func TestSimPartialBatch(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	batch := []zoho.Record{
		{"Last_Name": "Ok0", "Company": "A"},
		{"First_Name": "NoLast", "Company": "B"},
		{"Last_Name": "Ok2", "Company": "C"},
		{"Last_Name": "BadMail", "Company": "D", "Email": "not an email"},
		{"Last_Name": "Ok4", "Company": "E"},
	}
	res, err := c.Insert(context.Background(), "Leads", batch, zoho.WriteOptions{})
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results for 5 records", len(res))
	}
	want := []struct{ code, field string }{{}, {"MANDATORY_NOT_FOUND", "Last_Name"}, {}, {"INVALID_DATA", "Email"}, {}}
	for i, wt := range want {
		r := res[i]
		if wt.code == "" {
			if !r.OK() || r.ID == "" {
				t.Errorf("record %d: %+v, want accepted with an id", i, r)
			}
			continue
		}
		if r.OK() || r.Err.Code != wt.code || r.Err.APIName != wt.field || r.Err.JSONPath != fmt.Sprintf("$.data[%d].%s", i, wt.field) {
			t.Errorf("record %d: %+v, want %s on %s", i, r.Err, wt.code, wt.field)
		}
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 207 || last.Records != 5 {
		t.Errorf("last request: status %d records %d, want a 207 of 5", last.Status, last.Records)
	}
	if n := len(srv.Records("Leads")); n != 3 {
		t.Errorf("%d Leads stored, want 3", n)
	}
}

var inValues = regexp.MustCompile(`(?i) in \((.*)\)`)

// TestSimFindIDs: chunks of at most 50 values, paging past 200 rows,
// quotes escaped, case-insensitive matching with keys as given.
func TestSimFindIDs(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	want := map[string][]string{}
	var values []string
	for i := range 120 {
		email := fmt.Sprintf("f%d@example.com", i)
		id := srv.Seed("Contacts", map[string]any{"Last_Name": "F", "Email": email})
		want[email] = []string{id}
		values = append(values, email)
	}
	odd := "o'brien\\x@example.com"
	want[odd] = []string{srv.Seed("Contacts", map[string]any{"Last_Name": "O", "Email": odd})}
	values = append(values, odd, "missing1@example.com", "missing2@example.com")
	mixed := "F7@Example.COM"
	values = append(values, mixed)
	want[mixed] = want["f7@example.com"]
	var many []string
	for range 230 {
		many = append(many, srv.Seed("Contacts", map[string]any{"Last_Name": "M", "Email": "shared@example.com"}))
	}
	values = append(values, "shared@example.com")
	want["shared@example.com"] = many
	srv.ResetRequests()

	got, err := c.FindIDs(context.Background(), "Contacts", "Email", values)
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	for k, ids := range want {
		if fmt.Sprint(sorted(got[k])) != fmt.Sprint(sorted(ids)) {
			t.Errorf("%q -> %d ids %v, want %d", k, len(got[k]), head(got[k]), len(ids))
		}
	}
	if _, ok := got["missing1@example.com"]; ok {
		t.Error("a value with no record has a key")
	}
	coql := 0
	for _, r := range srv.Requests() {
		if r.Operation != "coql" {
			continue
		}
		coql++
		var q struct {
			SelectQuery string `json:"select_query"`
		}
		_ = json.Unmarshal(r.Body, &q)
		m := inValues.FindStringSubmatch(q.SelectQuery)
		if m == nil {
			t.Fatalf("query %q has no in (...)", q.SelectQuery)
		}
		if n := strings.Count(m[1], "@example."); n > 100 {
			t.Errorf("query with %d values, want at most 100: %.80s", n, q.SelectQuery)
		}
		if !documentedPaging.MatchString(q.SelectQuery) {
			t.Errorf("query does not page with the documented LIMIT n OFFSET m: %.80s", q.SelectQuery)
		}
	}
	// 124 distinct values (the mixed-case one folds into f7) -> 2 chunks,
	// and the chunk with shared@ needs 2 pages.
	if coql != 3 {
		t.Errorf("%d COQL calls, want 3 (2 chunks of <= 100 values, one needing a second page)", coql)
	}
}

var documentedPaging = regexp.MustCompile(`limit 200 offset \d+$`)

func head(s []string) []string { return s[:min(3, len(s))] }

// TestSimTokenExpiresMidRun: the token is refreshed ahead of expiry, and an
// INVALID_TOKEN costs one refresh; no write fails.
func TestSimTokenExpiresMidRun(t *testing.T) {
	w := watchSecrets(t)
	clock := zohotest.NewClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	srv := newSim(t, zohotest.WithClock(clock))
	c := simClient(t, srv, w, zoho.WithClock(clock.Now))
	ctx := context.Background()
	res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(1)}, zoho.WriteOptions{})
	mustOK(t, w, "first insert", res, err, 1)
	if got := c.Stats().TokenExpiry; !got.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("token expiry %s, want an hour from now", got)
	}
	clock.Advance(61 * time.Minute)
	if c.HasToken() {
		t.Error("HasToken with an expired token")
	}
	res, err = c.Insert(ctx, "Contacts", []zoho.Record{contact(2)}, zoho.WriteOptions{})
	mustOK(t, w, "insert after expiry", res, err, 1)
	if srv.TokensMinted() != 2 {
		t.Errorf("%d tokens minted, want 2", srv.TokensMinted())
	}
	clock.Advance(56 * time.Minute) // inside the 5-minute refresh-ahead window
	res, err = c.Insert(ctx, "Contacts", []zoho.Record{contact(3)}, zoho.WriteOptions{})
	mustOK(t, w, "insert near expiry", res, err, 1)
	if srv.TokensMinted() != 3 {
		t.Errorf("%d tokens minted, want 3 (refreshed 5 minutes ahead)", srv.TokensMinted())
	}
	srv.ExpireAccessTokens()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(10 + i)}, zoho.WriteOptions{})
			mustOK(t, w, "insert after ExpireAccessTokens", res, err, 1)
		}()
	}
	wg.Wait()
	if srv.TokensMinted() != 4 {
		t.Errorf("%d tokens minted, want 4 (one shared refresh after INVALID_TOKEN)", srv.TokensMinted())
	}
	if n := len(srv.Records("Contacts")); n != 23 {
		t.Errorf("%d contacts stored, want 23", n)
	}
}

func TestSimSharedToken(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Upsert(context.Background(), "Contacts", []zoho.Record{contact(i)}, zoho.WriteOptions{})
			mustOK(t, w, "upsert", res, err, 1)
		}()
	}
	wg.Wait()
	if srv.TokensMinted() != 1 {
		t.Errorf("%d tokens minted for 50 goroutines, want 1", srv.TokensMinted())
	}
	if srv.PeakConcurrency() > 10 {
		t.Errorf("peak concurrency %d above standard's 10", srv.PeakConcurrency())
	}
}

func TestSimFatalAuth(t *testing.T) {
	tests := []struct {
		name  string
		setup func(srv *zohotest.Server) []zoho.Opt
		say   []string
	}{
		{"revoked refresh token", func(srv *zohotest.Server) []zoho.Opt {
			srv.RevokeRefreshToken(srv.Credentials().RefreshToken)
			return nil
		}, []string{"invalid or revoked", "Run `zohosink auth` again"}},
		{"invalid client secret", func(srv *zohotest.Server) []zoho.Opt {
			cr := srv.Credentials()
			return []zoho.Opt{zoho.WithCredentials(cr.ClientID, "wrong-secret-value", cr.RefreshToken)}
		}, []string{"client secret is wrong", "Check client_secret"}},
		{"invalid client id", func(srv *zohotest.Server) []zoho.Opt {
			cr := srv.Credentials()
			return []zoho.Opt{zoho.WithCredentials("1000.NOSUCHCLIENT", cr.ClientSecret, cr.RefreshToken)}
		}, []string{"client id or secret is wrong"}},
		{"token from another data center", func(srv *zohotest.Server) []zoho.Opt {
			other := zohotest.NewServer()
			t.Cleanup(other.Close)
			return []zoho.Opt{zoho.WithAPIDomain(other.URL)}
		}, []string{"Check api_domain: it is set to", "(leave api_domain out to use it); else check data_center"}},
		{"scope mismatch", func(srv *zohotest.Server) []zoho.Opt {
			srv.AddRefreshToken("1000.readonly.token", "ZohoCRM.modules.Contacts.READ")
			cr := srv.Credentials()
			return []zoho.Opt{zoho.WithCredentials(cr.ClientID, cr.ClientSecret, "1000.readonly.token")}
		}, []string{"ZohoCRM.modules.Leads.CREATE", "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := watchSecrets(t)
			srv := newSim(t)
			w.Secret("wrong-secret-value", "1000.readonly.token")
			c := simClient(t, srv, w, append(tt.setup(srv), zoho.WithMaxRetries(-1))...)
			_, err := c.Insert(context.Background(), "Leads", []zoho.Record{{"Last_Name": "X", "Company": "Y"}}, zoho.WriteOptions{})
			_ = w.Err(err)
			if !zoho.IsFatal(err) {
				t.Fatalf("err = %v, want fatal", err)
			}
			for _, s := range tt.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not say %q", err, s)
				}
			}
			if strings.HasPrefix(tt.name, "invalid client") && strings.Contains(err.Error(), "zohosink auth") {
				t.Errorf("message %q sends the user to zohosink auth for a client problem", err)
			}
			if n := len(srv.Records("Leads")); n != 0 {
				t.Errorf("%d leads written", n)
			}
		})
	}
}

// TestSim429Storm: half the calls get 429 and the org allows 5 in flight;
// the client rides it out with every write stored.
func TestSim429Storm(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t, zohotest.WithEdition("free"), zohotest.WithLatency(time.Millisecond, 4*time.Millisecond), zohotest.WithSeed(7))
	srv.SetFaultRate(zohotest.FaultTooManyRequests, 0.5)
	reg := prometheus.NewRegistry()
	m := zoho.NewMetrics(reg)
	var retries atomic.Int32
	c := simClient(t, srv, w, zoho.WithEdition("free"), zoho.WithMaxRetries(-1), zoho.WithMetrics(m),
		zoho.WithOnRetry(func(zoho.Operation, string, int, error) { retries.Add(1) }))
	var wg sync.WaitGroup
	const batches, size = 24, 20
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]zoho.Record, size)
			for i := range batch {
				batch[i] = contact(b*size + i)
			}
			res, err := c.Upsert(context.Background(), "Contacts", batch, zoho.WriteOptions{})
			mustOK(t, w, "upsert in a 429 storm", res, err, size)
		}()
	}
	wg.Wait()
	if n := len(srv.Records("Contacts")); n != batches*size {
		t.Errorf("%d contacts stored, want %d", n, batches*size)
	}
	if p := srv.PeakConcurrency(); p > 5 {
		t.Errorf("peak concurrency %d above the free edition's 5", p)
	}
	limited := testutil.ToFloat64(m.RateLimited())
	if limited == 0 || retries.Load() < int32(limited) {
		t.Errorf("rate limited %v times, %d retries: want 429s seen and each retried", limited, retries.Load())
	}
}

// TestSimAdaptiveConcurrency: a client that believes in 10 calls at once
// against an org allowing 2 lowers its limit and gets every write through.
func TestSimAdaptiveConcurrency(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t, zohotest.WithConcurrency(2), zohotest.WithLatency(2*time.Millisecond, 5*time.Millisecond))
	c := simClient(t, srv, w, zoho.WithMaxRetries(-1))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Insert(context.Background(), "Contacts", []zoho.Record{contact(i)}, zoho.WriteOptions{})
			mustOK(t, w, "insert", res, err, 1)
		}()
	}
	wg.Wait()
	if n := len(srv.Records("Contacts")); n != 40 {
		t.Errorf("%d stored, want 40", n)
	}
	if l := c.Stats().ConcurrencyLimit; l >= 10 {
		t.Errorf("concurrency limit still %d after 429s", l)
	}
}

func TestSimTransientFaults(t *testing.T) {
	tests := []struct {
		fault zohotest.Fault
		n     int
		say   string
	}{
		{zohotest.FaultInternalError, 2, "INTERNAL_ERROR"},
		{zohotest.FaultDrop, 2, "no answer"},
		{zohotest.FaultSlow, 1, "WithRequestTimeout"},
		{zohotest.FaultTooManyRequests, 3, "TOO_MANY_REQUESTS"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault), func(t *testing.T) {
			w := watchSecrets(t)
			srv := newSim(t)
			var seen []error
			var mu sync.Mutex
			c := simClient(t, srv, w, zoho.WithRequestTimeout(200*time.Millisecond), zoho.WithOnRetry(func(op zoho.Operation, mod string, attempt int, err error) {
				mu.Lock()
				seen = append(seen, w.Err(err))
				mu.Unlock()
			}))
			if err := c.CheckToken(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.FailNext(tt.n, tt.fault)
			res, err := c.Insert(context.Background(), "Contacts", []zoho.Record{contact(1)}, zoho.WriteOptions{})
			mustOK(t, w, "insert", res, err, 1)
			if len(seen) != tt.n {
				t.Fatalf("%d retries, want %d", len(seen), tt.n)
			}
			if !zoho.IsRetryable(seen[0]) || !strings.Contains(seen[0].Error(), tt.say) {
				t.Errorf("retried error %v, want retryable saying %q", seen[0], tt.say)
			}
			if n := len(srv.Records("Contacts")); n != 1 {
				t.Errorf("%d contacts stored, want 1", n)
			}
		})
	}
	t.Run("retries run out", func(t *testing.T) {
		w := watchSecrets(t)
		srv := newSim(t)
		c := simClient(t, srv, w, zoho.WithMaxRetries(2))
		srv.FailNext(3, zohotest.FaultInternalError)
		_, err := c.Insert(context.Background(), "Contacts", []zoho.Record{contact(1)}, zoho.WriteOptions{})
		if !zoho.IsRetryable(w.Err(err)) || asError(t, err).HTTPStatus != 500 {
			t.Errorf("err = %v, want the retryable 500 after 2 retries", err)
		}
	})
}

func TestSimRefusesBadBatches(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	ctx := context.Background()
	calls := []func() error{
		func() error {
			_, err := c.Insert(ctx, "Contacts", make([]zoho.Record, 101), zoho.WriteOptions{})
			return err
		},
		func() error { _, err := c.Upsert(ctx, "Contacts", nil, zoho.WriteOptions{}); return err },
		func() error { _, err := c.Update(ctx, "Contacts", recs(101), zoho.WriteOptions{}); return err },
		func() error {
			_, err := c.Update(ctx, "Contacts", []zoho.Record{{"Last_Name": "no id"}}, zoho.WriteOptions{})
			return err
		},
		func() error { _, err := c.Delete(ctx, "Contacts", ids(101), false); return err },
		func() error { _, err := c.AddTags(ctx, "Contacts", ids(501), []string{"t"}); return err },
		func() error { _, err := c.Insert(ctx, "", recs(1), zoho.WriteOptions{}); return err },
	}
	for i, call := range calls {
		err := w.Err(call())
		if !zoho.IsFatal(err) {
			t.Errorf("call %d: err = %v, want fatal", i, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the simulator, want none", n)
	}
}

func TestSimInvalidModule(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	_, err := c.Insert(context.Background(), "Contact", recs(3), zoho.WriteOptions{})
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), `"Contact"`) || !strings.Contains(err.Error(), "Contacts, Leads") {
		t.Errorf("err = %v, want fatal naming the module and the valid ones", err)
	}
}

// TestSimCreditBudget: with a budget of 3 credits a day, the fourth call
// waits (it does not reach Zoho) until its context ends.
func TestSimCreditBudget(t *testing.T) {
	w := watchSecrets(t)
	clock := zohotest.NewClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	srv := newSim(t, zohotest.WithClock(clock))
	c := simClient(t, srv, w, zoho.WithClock(clock.Now), zoho.WithDailyCreditBudget(3))
	ctx := context.Background()
	for i := range 3 {
		res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(i)}, zoho.WriteOptions{})
		mustOK(t, w, "insert within budget", res, err, 1)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Insert(cctx, "Contacts", []zoho.Record{contact(9)}, zoho.WriteOptions{})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.log.String(), "daily credit budget reached") {
		if time.Now().After(deadline) {
			t.Fatal("the fourth call did not wait for the budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	err := <-done
	if !zoho.IsRetryable(w.Err(err)) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the context's end, retryable", err)
	}
	if n := len(srv.Records("Contacts")); n != 3 {
		t.Errorf("%d contacts stored, want 3", n)
	}
	if st := c.Stats(); st.CreditsUsed24h != 3 || srv.CreditsUsed() != 3 {
		t.Errorf("credits: client %d, simulator %d, want 3", st.CreditsUsed24h, srv.CreditsUsed())
	}
	// A day later the budget is free again.
	clock.Advance(24 * time.Hour)
	res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(9)}, zoho.WriteOptions{})
	mustOK(t, w, "insert a day later", res, err, 1)
}

func TestSimExchangeCode(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	cr := srv.Credentials()
	w.Secret(cr.ClientSecret, cr.RefreshToken)
	code := srv.GrantToken()
	g, err := zoho.ExchangeCode(context.Background(), nil, srv.URL, cr.ClientID, cr.ClientSecret, "", code)
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	w.Secret(g.RefreshToken, g.AccessToken)
	w.Text(g.String(), fmt.Sprintf("%v %+v %#v", g, g, g))
	if g.RefreshToken == "" || g.APIDomain != srv.URL || g.ExpiresIn != time.Hour {
		t.Errorf("grant: api domain %q, expires in %s, refresh token set %v", g.APIDomain, g.ExpiresIn, g.RefreshToken != "")
	}
	c := simClient(t, srv, w, zoho.WithCredentials(cr.ClientID, cr.ClientSecret, g.RefreshToken))
	res, err := c.Insert(context.Background(), "Contacts", []zoho.Record{contact(1)}, zoho.WriteOptions{})
	mustOK(t, w, "insert with the new refresh token", res, err, 1)
	_, err = zoho.ExchangeCode(context.Background(), nil, srv.URL, cr.ClientID, cr.ClientSecret, "", code)
	if !zoho.IsFatal(w.Err(err)) || !strings.Contains(err.Error(), "single-use") {
		t.Errorf("reused code: err = %v, want fatal saying codes are single-use", err)
	}
}

func TestSimMetrics(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	reg := prometheus.NewRegistry()
	c := simClient(t, srv, w, zoho.WithMetrics(zoho.NewMetrics(reg)))
	ctx := context.Background()
	res, err := c.Insert(ctx, "Contacts", recsFor(25), zoho.WriteOptions{})
	mustOK(t, w, "insert", res, err, 25)
	srv.FailNext(1, zohotest.FaultTooManyRequests)
	res, err = c.Upsert(ctx, "Contacts", []zoho.Record{{"Last_Name": "x"}}, zoho.WriteOptions{})
	mustOK(t, w, "upsert", res, err, 1)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := "[zohosink_token_refreshes_total zohosink_zoho_credits_used_total zohosink_zoho_rate_limited_total zohosink_zoho_request_duration_seconds zohosink_zoho_requests_total]"
	if fmt.Sprint(names) != want {
		t.Errorf("registered %v, want %s", names, want)
	}
	expect := `
# HELP zohosink_zoho_requests_total Zoho CRM API attempts, by module, operation and Zoho code (or HTTP status, or network_error).
# TYPE zohosink_zoho_requests_total counter
zohosink_zoho_requests_total{code="SUCCESS",module="Contacts",operation="insert"} 1
zohosink_zoho_requests_total{code="SUCCESS",module="Contacts",operation="upsert"} 1
zohosink_zoho_requests_total{code="TOO_MANY_REQUESTS",module="Contacts",operation="upsert"} 1
# HELP zohosink_zoho_credits_used_total Zoho API credits charged, by the documented cost of each call.
# TYPE zohosink_zoho_credits_used_total counter
zohosink_zoho_credits_used_total 4
# HELP zohosink_zoho_rate_limited_total Zoho CRM API answers of 429 TOO_MANY_REQUESTS.
# TYPE zohosink_zoho_rate_limited_total counter
zohosink_zoho_rate_limited_total 1
# HELP zohosink_token_refreshes_total Access token refreshes, by result (success, failure, throttled).
# TYPE zohosink_token_refreshes_total counter
zohosink_token_refreshes_total{result="failure"} 0
zohosink_token_refreshes_total{result="success"} 1
zohosink_token_refreshes_total{result="throttled"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect),
		"zohosink_zoho_requests_total", "zohosink_zoho_credits_used_total", "zohosink_zoho_rate_limited_total", "zohosink_token_refreshes_total"); err != nil {
		t.Error(err)
	}
	if got := srv.CreditsUsed(); got != 4 {
		t.Errorf("simulator charged %d credits, want 4 (3 for 25 records, 1 for one)", got)
	}
}

func recsFor(n int) []zoho.Record {
	out := make([]zoho.Record, n)
	for i := range out {
		out[i] = contact(1000 + i)
	}
	return out
}

// TestSimMintGuard: at most 10 tokens per 10 minutes; the 11th refresh
// waits for the window instead of being throttled by Zoho.
func TestSimMintGuard(t *testing.T) {
	w := watchSecrets(t)
	clock := zohotest.NewClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	srv := newSim(t, zohotest.WithClock(clock))
	c := simClient(t, srv, w, zoho.WithClock(clock.Now))
	ctx := context.Background()
	for i := range 10 {
		srv.ExpireAccessTokens()
		res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(i)}, zoho.WriteOptions{})
		mustOK(t, w, "insert", res, err, 1)
		clock.Advance(time.Second)
	}
	if srv.TokensMinted() != 10 {
		t.Fatalf("%d tokens minted, want 10", srv.TokensMinted())
	}
	srv.ExpireAccessTokens()
	done := make(chan error, 1)
	go func() {
		res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(10)}, zoho.WriteOptions{})
		if err == nil && !res[0].OK() {
			err = res[0].Err
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.log.String(), "waiting before minting") {
		if time.Now().After(deadline) {
			t.Fatal("the 11th refresh did not wait")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if srv.TokensMinted() != 10 {
		t.Fatalf("%d tokens minted while waiting, want 10", srv.TokensMinted())
	}
	clock.Advance(10 * time.Minute)
	if err := <-done; w.Err(err) != nil {
		t.Fatal(err)
	}
	if srv.TokensMinted() != 11 {
		t.Errorf("%d tokens minted, want 11", srv.TokensMinted())
	}
	for _, r := range srv.Requests() {
		if r.Operation == "token" && r.Code != "" && r.Code != "SUCCESS" {
			t.Errorf("token call answered %s", r.Code)
		}
	}
}

// A token endpoint that cannot be reached mints nothing: after an outage of
// more than ten attempts, the token comes at once, not ten minutes later.
func TestTokenOutageDoesNotSpendMints(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	var dials atomic.Int32
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) <= 15 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return dialer.DialContext(ctx, network, addr)
	}
	c := simClient(t, srv, w, zoho.WithHTTPClient(&http.Client{Transport: tr}), zoho.WithMaxRetries(-1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.CheckToken(ctx); w.Err(err) != nil {
		t.Fatalf("no token after the outage: %v", err)
	}
	if dials.Load() <= 15 {
		t.Fatalf("%d dials: the outage was not simulated", dials.Load())
	}
	if strings.Contains(w.log.String(), "waiting before minting") {
		t.Errorf("failed connections were counted as minted tokens:\n%s", w.log.String())
	}
}
