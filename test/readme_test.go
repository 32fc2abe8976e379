package test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"zohosink/zoho/zohotest"
)

// The troubleshooting section of the README quotes what zohosink prints for
// the product page's cases. Each quote is produced here by the binary, so
// the README cannot drift from the messages. Addresses differ (the README
// shows Zoho's, the test the simulator's), and so do config paths and lines.
func TestREADMETroubleshootingQuotesAreExact(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Split(string(data), "\n")
	quote := func(prefix string) string {
		t.Helper()
		for _, l := range readme {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("the README quotes no line starting %q", prefix)
		return ""
	}
	urls := regexp.MustCompile(`https?://[A-Za-z0-9.:_-]+`)
	norm := func(s string) string { return strings.TrimSpace(urls.ReplaceAllString(s, "URL")) }
	lastLine := func(p *proc) string {
		lines := strings.Split(strings.TrimSpace(p.output()), "\n")
		return lines[len(lines)-1]
	}
	const cfg = `kafka: {brokers: ["{{.Broker}}"], group_id: readme}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: eu, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.API}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
`
	s := newStack(t, 1, []string{contactsTable.Topic()})

	t.Run("token expired or invalid", func(t *testing.T) {
		const revoked = "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef"
		s.sim.AddRefreshToken(revoked)
		s.sim.RevokeRefreshToken(revoked)
		p := start(t, nil, "run", "--config", s.config(cfg, map[string]string{"API": s.sim.URL, "RefreshToken": revoked}))
		if code := p.wait(60 * time.Second); code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, p.output())
		}
		if got, want := norm(lastLine(p)), norm(quote("zohosink run: zoho token: invalid_code:")); got != want {
			t.Errorf("zohosink prints\n%s\nthe README quotes\n%s", got, want)
		}
	})

	t.Run("incorrect data center", func(t *testing.T) {
		// The token comes from one data center, the API is another's.
		other := zohotest.NewServer()
		defer other.Close()
		p := start(t, nil, "run", "--config", s.config(cfg, map[string]string{"API": other.URL}))
		if code := p.wait(60 * time.Second); code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, p.output())
		}
		if got, want := norm(lastLine(p)), norm(quote("zohosink run: zoho fields Contacts: INVALID_TOKEN:")); got != want {
			t.Errorf("zohosink prints\n%s\nthe README quotes\n%s", got, want)
		}
	})

	t.Run("mandatory field missing", func(t *testing.T) {
		leads := strings.Replace(strings.Replace(cfg, "module: Contacts", "module: Leads", 1), "name: contacts", "name: leads", 1)
		path := s.config(leads, map[string]string{"API": s.sim.URL})
		code, _, stderr := runCmd(t, nil, "validate", "--config", path)
		got := strings.ReplaceAll(stderr, path, "zohosink.yaml")
		want := quote("zohosink validate: config zohosink.yaml has 1 problem(s):") + "\n" + quote(`  sync "leads": syncs[0].fields: module Leads requires Company`) + "\n"
		lineNo := regexp.MustCompile(`\(line \d+\)`)
		if code != 1 || lineNo.ReplaceAllString(got, "(line N)") != lineNo.ReplaceAllString(want, "(line N)") {
			t.Errorf("exit %d; zohosink prints\n%s\nthe README quotes\n%s", code, got, want)
		}
	})
}
