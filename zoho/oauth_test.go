package zoho_test

import (
	"net/url"
	"strings"
	"testing"

	"zohosink/zoho"
)

func TestDataCenters(t *testing.T) {
	tests := []struct {
		dc, env, accounts, api string
	}{
		{"us", "production", "https://accounts.zoho.com", "https://www.zohoapis.com"},
		{"eu", "", "https://accounts.zoho.eu", "https://www.zohoapis.eu"},
		{"in", "sandbox", "https://accounts.zoho.in", "https://sandbox.zohoapis.in"},
		{"au", "developer", "https://accounts.zoho.com.au", "https://developer.zohoapis.com.au"},
		{"jp", "production", "https://accounts.zoho.jp", "https://www.zohoapis.jp"},
		{"ca", "production", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"},
		{"cn", "sandbox", "https://accounts.zoho.com.cn", "https://sandbox.zohoapis.com.cn"},
		{"sa", "production", "https://accounts.zoho.sa", "https://www.zohoapis.sa"},
	}
	for _, tt := range tests {
		a, err := zoho.AccountsURL(tt.dc, tt.env)
		if err != nil || a != tt.accounts {
			t.Errorf("AccountsURL(%s, %s) = %q, %v; want %q", tt.dc, tt.env, a, err, tt.accounts)
		}
		d, err := zoho.APIDomainFor(tt.dc, tt.env)
		if err != nil || d != tt.api {
			t.Errorf("APIDomainFor(%s, %s) = %q, %v; want %q", tt.dc, tt.env, d, err, tt.api)
		}
	}
	if _, err := zoho.AccountsURL("uk", ""); err == nil || !strings.Contains(err.Error(), `"uk"`) {
		t.Errorf("unknown data center: err = %v", err)
	}
	if _, err := zoho.APIDomainFor("us", "staging"); err == nil || !strings.Contains(err.Error(), `"staging"`) {
		t.Errorf("unknown environment: err = %v", err)
	}
}

func TestAuthCodeURL(t *testing.T) {
	s := zoho.AuthCodeURL("https://accounts.zoho.eu/", "1000.ABC", "http://127.0.0.1:8765/callback")
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host+u.Path != "https://accounts.zoho.eu/oauth/v2/auth" {
		t.Errorf("auth URL %q", s)
	}
	q := u.Query()
	want := map[string]string{
		"client_id": "1000.ABC", "response_type": "code", "access_type": "offline", "prompt": "consent",
		"redirect_uri": "http://127.0.0.1:8765/callback",
		"scope":        "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ,ZohoCRM.settings.tags.READ",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if got := zoho.AuthCodeURL("https://accounts.zoho.com", "c", "r", "ZohoCRM.modules.Leads.ALL"); !strings.Contains(got, "scope=ZohoCRM.modules.Leads.ALL") {
		t.Errorf("explicit scopes: %q", got)
	}
}

func TestNewClientOptionErrors(t *testing.T) {
	tests := []struct {
		opt  zoho.Opt
		name string
	}{
		{zoho.WithDataCenter("mars"), "WithDataCenter"},
		{zoho.WithEnvironment("staging"), "WithEnvironment"},
		{zoho.WithEdition("gold"), "WithEdition"},
		{zoho.WithAPIDomain("zohoapis.com"), "WithAPIDomain"},
		{zoho.WithAccountsURL("ftp://x"), "WithAccountsURL"},
		{zoho.WithMaxConcurrency(-1), "WithMaxConcurrency"},
		{zoho.WithDailyCreditBudget(-5), "WithDailyCreditBudget"},
		{zoho.WithRequestsPerSecond(-1), "WithRequestsPerSecond"},
		{zoho.WithMaxRetries(-2), "WithMaxRetries"},
	}
	for _, tt := range tests {
		_, err := zoho.NewClient(tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: err = %v, want it to name the option", tt.name, err)
		}
	}
	// Every problem at once.
	_, err := zoho.NewClient(zoho.WithDataCenter("mars"), zoho.WithEdition("gold"))
	if err == nil || !strings.Contains(err.Error(), "WithDataCenter") || !strings.Contains(err.Error(), "WithEdition") {
		t.Errorf("err = %v, want both options named", err)
	}
}

func TestClientStringRedacts(t *testing.T) {
	w := watchSecrets(t)
	w.Secret("the-client-secret", "the-refresh-token")
	c, err := zoho.NewClient(zoho.WithDataCenter("eu"), zoho.WithEnvironment("sandbox"),
		zoho.WithCredentials("1000.ID", "the-client-secret", "the-refresh-token"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	w.Text(s, c.GoString())
	if !strings.Contains(s, "REDACTED") || !strings.Contains(s, "1000.ID") || !strings.Contains(s, "data_center=eu") {
		t.Errorf("String = %q, want the client id, the data center and REDACTED secrets", s)
	}
	if got := c.APIDomain(); got != "https://sandbox.zohoapis.eu" {
		t.Errorf("APIDomain before any token = %q, want the data center's sandbox domain", got)
	}
	if st := c.Stats(); st.ConcurrencyLimit != 10 || st.CreditsRemaining != -1 || !st.TokenExpiry.IsZero() {
		t.Errorf("Stats = %+v", st)
	}
	g := zoho.Grant{RefreshToken: "the-refresh-token", AccessToken: "the-client-secret", APIDomain: "https://x"}
	w.Text(g.String(), g.GoString())
}

func TestIsAccountsServer(t *testing.T) {
	for s, want := range map[string]bool{
		"https://accounts.zoho.eu":               true,
		"https://accounts.zohocloud.ca/":         true,
		"https://ACCOUNTS.ZOHO.COM":              true,
		"http://accounts.zoho.com":               false, // not https
		"https://accounts.zoho.com.evil.example": false,
		"https://evil.example":                   false,
		"https://accounts.zoho.com:8443":         false,
		"https://x@accounts.zoho.com":            false,
		"https://accounts.zoho.com/oauth?x=1":    false,
		"":                                       false,
	} {
		if got := zoho.IsAccountsServer(s); got != want {
			t.Errorf("IsAccountsServer(%q) = %v, want %v", s, got, want)
		}
	}
	for _, dc := range zoho.DataCenters() {
		a, err := zoho.AccountsURL(dc, "")
		if err != nil || !zoho.IsAccountsServer(a) {
			t.Errorf("data center %s: %q %v", dc, a, err)
		}
	}
}
