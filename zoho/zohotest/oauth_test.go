package zohotest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func apiStatus(c *testClient, token string) (int, string) {
	status, _, b := c.raw("GET", "/crm/v8/Contacts?fields=Email", "Zoho-oauthtoken "+token, nil)
	out := decodeAnswer(c.t, "GET", b)
	code, _ := out["code"].(string)
	return status, code
}

func TestTokenRules(t *testing.T) {
	t.Run("expires after one hour of sim clock", func(t *testing.T) {
		clock := simClock()
		c := newTestClient(t, WithClock(clock))
		clock.Advance(59*time.Minute + 59*time.Second)
		if status, _ := apiStatus(c, c.token); status != 204 {
			t.Fatalf("before expiry: HTTP %d", status)
		}
		clock.Advance(time.Second)
		if status, code := apiStatus(c, c.token); status != 401 || code != "INVALID_TOKEN" {
			t.Fatalf("after expiry: HTTP %d %s", status, code)
		}
	})
	t.Run("ten mints per ten minutes", func(t *testing.T) {
		clock := simClock()
		c := newTestClient(t, WithClock(clock)) // one mint
		rt := c.srv.Credentials().RefreshToken
		clock.Advance(time.Minute)
		for range 9 {
			c.mint(rt)
		}
		status, out := c.tokenCall(c.refreshForm(rt))
		if status != 200 || out["error"] != "Access Denied" || out["status"] != "failure" {
			t.Fatalf("11th mint: HTTP %d %v", status, out)
		}
		if n := c.srv.TokensMinted(); n != 10 {
			t.Errorf("TokensMinted %d, want 10", n)
		}
		clock.Advance(9 * time.Minute) // the first mint leaves the window
		c.mint(rt)
		if _, out := c.tokenCall(c.refreshForm(rt)); out["error"] != "Access Denied" {
			t.Errorf("12th mint within the window of the others: %v", out)
		}
		// Another refresh token has its own budget.
		c.srv.AddRefreshToken("1000.other")
		c.mint("1000.other")
	})
	t.Run("sixteenth live token invalidates the oldest", func(t *testing.T) {
		clock := simClock()
		c := newTestClient(t, WithClock(clock))
		rt := c.srv.Credentials().RefreshToken
		toks := []string{c.token}
		for len(toks) < 16 {
			clock.Advance(61 * time.Second) // stay within 10 mints per 10 minutes
			toks = append(toks, c.mint(rt))
		}
		if status, code := apiStatus(c, toks[0]); status != 401 || code != "INVALID_TOKEN" {
			t.Errorf("oldest token: HTTP %d %s", status, code)
		}
		for _, i := range []int{1, 15} {
			if status, _ := apiStatus(c, toks[i]); status != 204 {
				t.Errorf("token %d: HTTP %d", i, status)
			}
		}
	})
	t.Run("revoked refresh token", func(t *testing.T) {
		c := newTestClient(t)
		rt := c.srv.Credentials().RefreshToken
		c.srv.RevokeRefreshToken(rt)
		if status, out := c.tokenCall(c.refreshForm(rt)); status != 200 || out["error"] != "invalid_code" {
			t.Errorf("refresh: HTTP %d %v", status, out)
		}
		if status, code := apiStatus(c, c.token); status != 401 || code != "INVALID_TOKEN" {
			t.Errorf("access token of a revoked refresh token: HTTP %d %s", status, code)
		}
	})
	t.Run("unknown refresh token", func(t *testing.T) {
		c := newTestClient(t)
		if _, out := c.tokenCall(c.refreshForm("1000.nope")); out["error"] != "invalid_code" {
			t.Errorf("%v", out)
		}
	})
	t.Run("invalid client", func(t *testing.T) {
		c := newTestClient(t)
		for _, tc := range []struct {
			mut  func(url.Values)
			want string
		}{
			{func(f url.Values) { f.Set("client_secret", "wrong") }, "invalid_client_secret"},
			{func(f url.Values) { f.Set("client_id", "1000.WRONG") }, "invalid_client"},
		} {
			f := c.refreshForm(c.srv.Credentials().RefreshToken)
			tc.mut(f)
			if status, out := c.tokenCall(f); status != 200 || out["error"] != tc.want {
				t.Errorf("HTTP %d %v, want %s", status, out, tc.want)
			}
		}
	})
	t.Run("grant token single use and scoped", func(t *testing.T) {
		c := newTestClient(t)
		cr := c.srv.Credentials()
		code := c.srv.GrantToken("ZohoCRM.modules.Leads.ALL")
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret},
			"redirect_uri": {"https://example.com/cb"}, "code": {code}}
		status, out := c.tokenCall(form)
		refresh, _ := out["refresh_token"].(string)
		access, _ := out["access_token"].(string)
		if status != 200 || refresh == "" || access == "" || out["api_domain"] != c.srv.URL || out["expires_in"] != 3600.0 {
			t.Fatalf("exchange: HTTP %d %v", status, out)
		}
		if _, out := c.tokenCall(form); out["error"] != "invalid_code" {
			t.Errorf("second exchange: %v", out)
		}
		if status, code := apiStatus(c, access); status != 401 || code != "OAUTH_SCOPE_MISMATCH" {
			t.Errorf("Contacts with a Leads-only token: HTTP %d %s", status, code)
		}
		c.token = c.mint(refresh)
		if status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil); status != 204 {
			t.Errorf("Leads with the new refresh token: HTTP %d", status)
		}
	})
	t.Run("grant token expires after three minutes", func(t *testing.T) {
		clock := simClock()
		c := newTestClient(t, WithClock(clock))
		cr := c.srv.Credentials()
		code := c.srv.GrantToken()
		clock.Advance(3 * time.Minute)
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}, "code": {code}}
		if _, out := c.tokenCall(form); out["error"] != "invalid_code" {
			t.Errorf("expired grant token: %v", out)
		}
	})
	t.Run("unsupported grant type", func(t *testing.T) {
		c := newTestClient(t)
		f := c.refreshForm(c.srv.Credentials().RefreshToken)
		f.Set("grant_type", "password")
		if _, out := c.tokenCall(f); out["error"] != "unsupported_grant_type" {
			t.Errorf("%v", out)
		}
	})
	t.Run("token requests keep no secrets in the log", func(t *testing.T) {
		c := newTestClient(t)
		cr := c.srv.Credentials()
		for _, r := range c.srv.Requests() {
			if r.Operation != "token" || strings.Contains(string(r.Body), cr.ClientSecret) || strings.Contains(string(r.Body), cr.RefreshToken) {
				t.Errorf("request log entry %q", r.Body)
			}
		}
	})
}

func TestAuthorizeFlow(t *testing.T) {
	c := newTestClient(t)
	cr := c.srv.Credentials()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {cr.ClientID}, "response_type": {"code"}, "access_type": {"offline"},
		"redirect_uri": {"http://127.0.0.1:9999/callback"}, "scope": {"ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ"}, "state": {"xyz"}}
	resp, err := client.Get(c.srv.URL + "/oauth/v2/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Host != "127.0.0.1:9999" {
		t.Fatalf("authorize: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	lq := loc.Query()
	if lq.Get("location") != "us" || lq.Get("accounts-server") != c.srv.URL || lq.Get("state") != "xyz" || lq.Get("code") == "" {
		t.Fatalf("redirect query %v", lq)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret},
		"redirect_uri": {"http://127.0.0.1:9999/other"}, "code": {lq.Get("code")}}
	if _, out := c.tokenCall(form); out["error"] != "invalid_redirect_uri" {
		t.Errorf("mismatched redirect_uri: %v", out)
	}
	form.Set("redirect_uri", "http://127.0.0.1:9999/callback")
	if _, out := c.tokenCall(form); out["refresh_token"] == nil {
		t.Errorf("exchange: %v", out)
	}
	q.Set("client_id", "1000.UNKNOWN")
	if resp, err := client.Get(c.srv.URL + "/oauth/v2/auth?" + q.Encode()); err != nil || resp.StatusCode != 400 {
		t.Errorf("unknown client: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestAPIAuth(t *testing.T) {
	c := newTestClient(t)
	other := NewServer()
	defer other.Close()
	oc := &testClient{t: t, srv: other}
	foreign := oc.mint(other.Credentials().RefreshToken)
	cases := []struct {
		name, auth, code string
	}{
		{"missing header", "", "AUTHENTICATION_FAILURE"},
		{"Bearer", "Bearer " + c.token, "INVALID_TOKEN"},
		{"unknown token", "Zoho-oauthtoken 1000.abc.def", "INVALID_TOKEN"},
		{"another simulator's token", "Zoho-oauthtoken " + foreign, "INVALID_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := c.raw("GET", "/crm/v8/Contacts?fields=Email", tc.auth, nil)
			out := decodeAnswer(t, "GET", b)
			if status != 401 || out["code"] != tc.code {
				t.Errorf("HTTP %d %v, want 401 %s", status, out, tc.code)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	cases := []struct {
		scopes       []string
		method, path string
		body         any
		ok           bool
	}{
		{[]string{"ZohoCRM.modules.ALL"}, "POST", "/crm/v8/Deals", data(map[string]any{"Deal_Name": "D", "Stage": "Qualification"}), true},
		{[]string{"ZohoCRM.modules.contacts.CREATE"}, "POST", "/crm/v8/Contacts", data(contact("A", "")), true},
		{[]string{"ZohoCRM.modules.Contacts.CREATE"}, "POST", "/crm/v8/Contacts/upsert", data(contact("A", "")), false},
		{[]string{"ZohoCRM.modules.Contacts.CREATE", "ZohoCRM.modules.Contacts.UPDATE"}, "POST", "/crm/v8/Contacts/upsert", data(contact("A", "")), true},
		{[]string{"ZohoCRM.modules.Contacts.WRITE"}, "POST", "/crm/v8/Contacts/upsert", data(contact("A", "")), true},
		{[]string{"ZohoCRM.modules.Contacts.WRITE"}, "GET", "/crm/v8/Contacts?fields=Email", nil, false},
		{[]string{"ZohoCRM.modules.Contacts.READ"}, "DELETE", "/crm/v8/Contacts?ids=1", nil, false},
		{[]string{"ZohoCRM.modules.Contacts.DELETE"}, "DELETE", "/crm/v8/Contacts?ids=1", nil, true},
		{[]string{"ZohoCRM.modules.Leads.ALL"}, "POST", "/crm/v8/Contacts", data(contact("A", "")), false},
		{[]string{"ZohoCRM.modules.ALL"}, "GET", "/crm/v8/settings/fields?module=Leads", nil, false},
		{[]string{"ZohoCRM.settings.fields.READ"}, "GET", "/crm/v8/settings/fields?module=Leads", nil, true},
		{[]string{"ZohoCRM.settings.ALL"}, "GET", "/crm/v8/settings/fields?module=Leads", nil, true},
		{[]string{"ZohoCRM.modules.ALL"}, "POST", "/crm/v8/coql", map[string]any{"select_query": "select Email from Leads where Email is null"}, false},
		{[]string{"ZohoCRM.coql.READ"}, "POST", "/crm/v8/coql", map[string]any{"select_query": "select Email from Leads where Email is null"}, false},
		{[]string{"ZohoCRM.coql.READ", "ZohoCRM.modules.Leads.READ"}, "POST", "/crm/v8/coql", map[string]any{"select_query": "select Email from Leads where Email is null"}, true},
		{[]string{"ZohoCRM.modules.Leads.UPDATE"}, "POST", "/crm/v8/Leads/actions/add_tags", map[string]any{"tags": []any{map[string]any{"name": "x"}}, "ids": []string{"1"}}, true},
	}
	c := newTestClient(t)
	for i, tc := range cases {
		t.Run(strings.Join(tc.scopes, "+")+" "+tc.method+" "+tc.path, func(t *testing.T) {
			rt := "1000.scoped" + itoa(i)
			c.srv.AddRefreshToken(rt, tc.scopes...)
			c.token = c.mint(rt)
			status, out := c.call(tc.method, tc.path, tc.body)
			mismatch := status == 401 && out["code"] == "OAUTH_SCOPE_MISMATCH"
			if mismatch == tc.ok {
				t.Errorf("HTTP %d %v, want allowed=%v", status, out, tc.ok)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		fault  Fault
		status int
		code   string
	}{
		{FaultInternalError, 500, "INTERNAL_ERROR"},
		{FaultTooManyRequests, 429, "TOO_MANY_REQUESTS"},
		{FaultInvalidToken, 401, "INVALID_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.fault.String(), func(t *testing.T) {
			c := newTestClient(t)
			c.srv.FailNext(2, tc.fault)
			for range 2 {
				status, out := c.call("POST", "/crm/v8/Contacts", data(contact("A", "")))
				if status != tc.status || out["code"] != tc.code || out["status"] != "error" {
					t.Fatalf("HTTP %d %v, want %d %s", status, out, tc.status, tc.code)
				}
			}
			// Token calls are not affected, and the third API call is processed.
			c.mint(c.srv.Credentials().RefreshToken)
			if status, _ := c.call("POST", "/crm/v8/Contacts", data(contact("A", ""))); status != 201 {
				t.Errorf("after the faults: HTTP %d", status)
			}
			if n := len(c.srv.Records("Contacts")); n != 1 {
				t.Errorf("%d records: a faulted call wrote", n)
			}
		})
	}
	t.Run("drop", func(t *testing.T) {
		c := newTestClient(t)
		c.srv.FailNext(1, FaultDrop)
		req, _ := http.NewRequest("POST", c.srv.URL+"/crm/v8/Contacts", bytesReader(encode(t, data(contact("A", "")))))
		req.Header.Set("Authorization", "Zoho-oauthtoken "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped call answered HTTP %d", resp.StatusCode)
		}
		if n := len(c.srv.Records("Contacts")); n != 0 {
			t.Errorf("dropped call wrote %d records", n)
		}
	})
	t.Run("slow respects the request context", func(t *testing.T) {
		c := newTestClient(t)
		c.srv.FailNext(1, FaultSlow) // default two minutes
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", c.srv.URL+"/crm/v8/Contacts", bytesReader(encode(t, data(contact("A", "")))))
		req.Header.Set("Authorization", "Zoho-oauthtoken "+c.token)
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("slow call: %v, want the client's deadline", err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for c.srv.inFlight() > 0 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if n := len(c.srv.Records("Contacts")); n != 0 || c.srv.inFlight() != 0 {
			t.Errorf("abandoned slow call wrote %d records / still in flight", n)
		}
	})
	t.Run("slow answers after SlowDuration", func(t *testing.T) {
		c := newTestClient(t)
		c.srv.SetSlowDuration(20 * time.Millisecond)
		c.srv.FailNext(1, FaultSlow)
		if status, _ := c.call("POST", "/crm/v8/Contacts", data(contact("A", ""))); status != 201 {
			t.Errorf("HTTP %d", status)
		}
	})
	t.Run("slow does not block Close", func(t *testing.T) {
		srv := NewServer()
		c := &testClient{t: t, srv: srv}
		c.token = c.mint(srv.Credentials().RefreshToken)
		srv.FailNext(1, FaultSlow)
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("GET", srv.URL+"/crm/v8/Contacts?fields=Email", nil)
			req.Header.Set("Authorization", "Zoho-oauthtoken "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		deadline := time.Now().Add(20 * time.Second)
		for srv.inFlight() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the slow call never arrived")
			}
			time.Sleep(2 * time.Millisecond)
		}
		srv.Close() // returns although the slow call had two minutes to go
		<-errc      //nolint:errcheck // the server was closed
	})
	t.Run("rates are seeded", func(t *testing.T) {
		codes := func() string {
			c := newTestClient(t, WithSeed(42))
			c.srv.SetFaultRate(FaultInternalError, 0.3)
			c.srv.SetFaultRate(FaultTooManyRequests, 0.3)
			var b strings.Builder
			for range 40 {
				status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil)
				b.WriteString(itoa(status) + " ")
			}
			return b.String()
		}
		a, b := codes(), codes()
		if a != b || !strings.Contains(a, "500") || !strings.Contains(a, "429") || !strings.Contains(a, "204") {
			t.Errorf("fault sequences %q and %q", a, b)
		}
		c := newTestClient(t)
		c.srv.SetFaultRate(FaultInternalError, 1)
		c.srv.SetFaultRate(FaultInternalError, 0)
		if status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil); status != 204 {
			t.Errorf("rate 0 did not remove the fault: HTTP %d", status)
		}
	})
}

func TestListenAndServe(t *testing.T) {
	sim := New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.ListenAndServe(ctx, addr) }()
	cr := sim.Credentials()
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}, "refresh_token": {cr.RefreshToken}}
	var resp *http.Response
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err = http.PostForm("http://"+addr+"/oauth/v2/token", form)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server never answered: %v", err)
	}
	out := decodeAnswerResp(t, resp)
	if out["api_domain"] != "http://"+addr {
		t.Errorf("api_domain %v, want http://%s", out["api_domain"], addr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
	if err := sim.ListenAndServe(context.Background(), "256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Errorf("bad address: %v", err)
	}
}

func decodeAnswerResp(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	return decodeAnswer(t, "token", []byte(b.String()))
}
