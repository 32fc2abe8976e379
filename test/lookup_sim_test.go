package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"zohosink/schema/schematest"
	"zohosink/zoho/zohotest"
)

var dealsTable = schematest.Table{Prefix: "wh", Schema: "public", Name: "opportunities", Key: []string{"id"}, Columns: []schematest.Column{
	{Name: "id", Type: "long"},
	{Name: "name", Type: "string"},
	{Name: "stage", Type: "string"},
	{Name: "amount", Type: "decimal(12,2)", Optional: true},
	{Name: "close_date", Type: "date", Optional: true},
	{Name: "company", Type: "string", Optional: true},
}}

// A Deal's Account_Name given as the account's name is written as a lookup
// to that Account's id; a name no Account has is dead-lettered at stage map.
func TestDealAccountLookupByName(t *testing.T) {
	topic := dealsTable.Topic()
	s := newStack(t, 1, []string{topic})
	acme := s.sim.Seed("Accounts", map[string]any{"Account_Name": "Acme Corp"})
	globex := s.sim.Seed("Accounts", map[string]any{"Account_Name": "Globex"})
	enc := s.register(dealsTable)
	close := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)
	s.produce(
		event(t, enc, 'c', nil, map[string]any{"id": int64(1), "name": "Acme renewal", "stage": "Qualification", "amount": "1200.50", "close_date": close, "company": "Acme Corp"}),
		event(t, enc, 'c', nil, map[string]any{"id": int64(2), "name": "Globex upsell", "stage": "Closed Won", "amount": "99.99", "close_date": close, "company": "globex"}),
		event(t, enc, 'c', nil, map[string]any{"id": int64(3), "name": "Ghost deal", "stage": "Qualification", "amount": nil, "close_date": nil, "company": "No Such Co"}),
	)
	path := s.config(stackHeader("deals")+`log: {level: info}
syncs:
  - {name: deals, topics: [wh.public.opportunities], module: Deals, type: model, mode: upsert, match_on: [Deal_Name], fields: {Deal_Name: name, Stage: stage, Amount: amount, Closing_Date: close_date, Account_Name: company}, linger: 100ms}
`, nil)
	p := start(t, nil, "run", "--config", path)
	eventually(t, 60*time.Second, "committed", func() (bool, string) { return s.committedAtEnd("deals", topic) })
	p.stop(30 * time.Second)
	got := map[string]map[string]any{}
	for _, d := range s.sim.Records("Deals") {
		got[fmt.Sprint(d["Deal_Name"])] = d
	}
	accountOf := func(deal string) string {
		d, ok := got[deal]
		if !ok {
			return "(no deal)"
		}
		m, _ := d["Account_Name"].(map[string]any)
		return fmt.Sprint(m["id"])
	}
	if a := accountOf("Acme renewal"); a != acme {
		t.Errorf("Acme renewal points at account %s, want %s", a, acme)
	}
	if a := accountOf("Globex upsell"); a != globex {
		t.Errorf("Globex upsell points at account %s, want %s (names match ignoring case)", a, globex)
	}
	if d := got["Acme renewal"]; fmt.Sprint(d["Amount"]) != "1200.5" || d["Closing_Date"] != "2027-03-31" {
		t.Errorf("Acme renewal: Amount %v, Closing_Date %v", d["Amount"], d["Closing_Date"])
	}
	if _, ok := got["Ghost deal"]; ok {
		t.Error("the deal of an unknown account was written")
	}
	dls := s.deadLetters("deals.dlq")
	if len(dls) != 1 || dls[0].Code != "MAPPING_ERROR" || dls[0].Field != "Account_Name" || !strings.Contains(dls[0].Message, "No Such Co") {
		t.Fatalf("dead letters: %+v", dls)
	}
}

// zohosink zoho-sim serves the token endpoint and the CRM API on one address
// with the credentials it was given.
func TestZohoSimCommand(t *testing.T) {
	addr := freeAddr(t)
	p := start(t, nil, "zoho-sim", "--listen", addr, "--client-id", "cid", "--client-secret", "csecret", "--refresh-token", "rtoken")
	base := "http://" + addr
	var tok struct {
		AccessToken string `json:"access_token"`
		APIDomain   string `json:"api_domain"`
	}
	eventually(t, 20*time.Second, "a token from the simulator", func() (bool, string) {
		resp, err := http.PostForm(base+"/oauth/v2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"csecret"}, "refresh_token": {"rtoken"}})
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		return tok.AccessToken != "", resp.Status
	})
	if tok.APIDomain != base {
		t.Errorf("api_domain %q, want %q", tok.APIDomain, base)
	}
	req, _ := http.NewRequest("GET", base+"/crm/v8/settings/fields?module=Leads", nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fields struct {
		Fields []struct {
			APIName string `json:"api_name"`
		} `json:"fields"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&fields)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(fields.Fields) < 10 {
		t.Fatalf("fields metadata: %s, %d fields", resp.Status, len(fields.Fields))
	}
	// The Self Client stand-in gives a grant token that auth exchanges.
	resp, err = http.Get(base + zohotest.SelfClientPath + "?scope=ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ")
	if err != nil {
		t.Fatal(err)
	}
	grant, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code, stdout, stderr := runCmd(t, nil, "auth", "--accounts-url", base, "--client-id", "cid", "--client-secret", "csecret", "--grant-token", strings.TrimSpace(string(grant)))
	if code != 0 || !regexp.MustCompile(`refresh_token: 1000\.\w+\.\w+`).MatchString(stdout) || !strings.Contains(stdout, "api_domain: "+base) {
		t.Fatalf("auth with the simulator's Self Client grant token: exit %d\n%s%s", code, stdout, stderr)
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("zoho-sim exit %d\n%s", code, p.output())
	}
}
