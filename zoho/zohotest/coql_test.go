package zohotest

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCOQL(t *testing.T) {
	c := newTestClient(t)
	acct := c.srv.Seed("Accounts", map[string]any{"Account_Name": "Acme"})
	seed := []map[string]any{
		{"Last_Name": "Smith", "First_Name": "John", "Email": "john@example.com", "Mailing_City": "Paris", "Account_Name": map[string]any{"id": acct, "name": "Acme"}},
		{"Last_Name": "O'Brien", "First_Name": "Pat", "Email": "pat@example.com", "Mailing_City": "Dublin"},
		{"Last_Name": "Jones", "First_Name": "Ann", "Email": "ann@example.com", "Mailing_City": "Paris", "Email_Opt_Out": true},
		{"Last_Name": "Smith", "First_Name": "Zoe"},
	}
	name := map[string]string{}
	for _, r := range seed {
		name[c.srv.Seed("Contacts", r)] = r["First_Name"].(string)
	}
	cases := []struct {
		query  string
		status int
		code   string
		want   string // first names in id order, comma-separated
		more   bool
	}{
		{"select First_Name from Contacts where Last_Name = 'Smith'", 200, "", "John,Zoe", false},
		{"SELECT First_Name FROM Contacts WHERE last_name = 'SMITH'", 400, "INVALID_QUERY", "", false},
		{"select First_Name from Contacts where Last_Name = 'SMITH'", 200, "", "John,Zoe", false},
		{"select First_Name from Contacts where Email in ('pat@example.com', 'ANN@example.com', 'x@y.io')", 200, "", "Pat,Ann", false},
		{"select First_Name from Contacts where Email not in ('pat@example.com')", 200, "", "John,Ann", false},
		{"select First_Name from Contacts where Email is null", 200, "", "Zoe", false},
		{"select First_Name from Contacts where Email is not null", 200, "", "John,Pat,Ann", false},
		{`select First_Name from Contacts where Last_Name = 'O\'Brien'`, 200, "", "Pat", false},
		{"select First_Name from Contacts where Mailing_City = 'Paris' and Last_Name = 'Smith' or First_Name = 'Pat'", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where Mailing_City = 'Paris' and Last_Name = 'Smith' and First_Name = 'John'", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where ((Mailing_City = 'Paris' and Last_Name = 'Smith') or First_Name = 'Pat')", 200, "", "John,Pat", false},
		{"select First_Name from Contacts where Mailing_City = 'Paris' and (Last_Name = 'Smith' or First_Name = 'Pat')", 200, "", "John", false},
		{"select First_Name from Contacts where First_Name = 'Pat' or (Mailing_City = 'Paris' and Last_Name = 'Jones')", 200, "", "Pat,Ann", false},
		{"select First_Name from Contacts where Email_Opt_Out = true", 200, "", "Ann", false},
		{"select First_Name from Contacts where Account_Name = '" + acct + "'", 200, "", "John", false},
		{"select First_Name from Contacts where Account_Name.Account_Name = 'acme'", 200, "", "John", false},
		{"select First_Name from Contacts where Email like '%@example.com'", 200, "", "John,Pat,Ann", false},
		{"select First_Name from Contacts where Last_Name != 'Smith'", 200, "", "Pat,Ann", false},
		{"select First_Name from Contacts where id is not null order by First_Name desc limit 2", 200, "", "Zoe,Pat", true},
		{"select First_Name from Contacts where Email is not null limit 2", 200, "", "John,Pat", true},
		{"select First_Name from Contacts where Email is not null limit 1, 2", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where Email is not null limit 2 offset 1", 200, "", "Pat,Ann", false},
		{"select First_Name from Contacts where Email is not null limit 2 offset 2", 200, "", "Ann", false},
		{"select First_Name from Contacts", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where id is not null", 200, "", "John,Pat,Ann,Zoe", false},
		{"select First_Name from Contacts where Last_Name = 'Nobody'", 204, "", "", false},
		{"select First_Name from Contacts where Email is not null limit 5 offset 10", 204, "", "", false},
		{"select First_Name from Contacts where", 400, "SYNTAX_ERROR", "", false},
		{"select from Contacts", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name Contacts", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where Last_Name = 'open", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where (Last_Name = 'x'", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where Last_Name == 'x'", 400, "SYNTAX_ERROR", "", false},
		{"select First_Name from Contacts where id is not null limit 2001", 400, "LIMIT_EXCEEDED", "", false},
		{"select First_Name from Contacts where Email in (" + strings.TrimSuffix(strings.Repeat("'a',", 101), ",") + ")", 400, "LIMIT_EXCEEDED", "", false},
		{"select First_Name from Contacts where Email in (" + strings.TrimSuffix(strings.Repeat("'a',", 100), ",") + ")", 204, "", "", false},
		{"select Nope from Contacts where id is not null", 400, "INVALID_QUERY", "", false},
		{"select First_Name from Widgets where id is not null", 400, "INVALID_QUERY", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			status, out := c.call("POST", "/crm/v8/coql", map[string]any{"select_query": tc.query})
			if status != tc.status {
				t.Fatalf("HTTP %d, want %d: %v", status, tc.status, out)
			}
			switch {
			case tc.code != "":
				if out["code"] != tc.code || out["status"] != "error" {
					t.Errorf("got %v, want code %s", out, tc.code)
				}
				return
			case status == 204:
				if out != nil {
					t.Errorf("204 with a body: %v", out)
				}
				return
			}
			var got []string
			for _, row := range items(t, out) {
				if _, ok := row["id"].(string); !ok {
					t.Errorf("row without id: %v", row)
				}
				if row["First_Name"] != name[row["id"].(string)] {
					t.Errorf("row %v does not match its record", row)
				}
				got = append(got, row["First_Name"].(string))
			}
			info := out["info"].(map[string]any)
			if strings.Join(got, ",") != tc.want || info["more_records"] != tc.more || info["count"] != float64(len(got)) {
				t.Errorf("got %v info %v, want %s more_records %v", got, info, tc.want, tc.more)
			}
		})
	}
	// Lookups come back as {"id":...}.
	_, out := c.call("POST", "/crm/v8/coql", map[string]any{"select_query": "select Account_Name from Contacts where First_Name = 'John'"})
	if ref := items(t, out)[0]["Account_Name"].(map[string]any); ref["id"] != acct {
		t.Errorf("lookup in COQL answer: %v", ref)
	}
}

func TestCOQLCredits(t *testing.T) {
	c := newTestClient(t)
	c.srv.Seed("Leads", map[string]any{"Last_Name": "A"})
	for _, tc := range []struct {
		limit   string
		credits int
	}{{"", 1}, {" limit 200", 1}, {" limit 201", 2}, {" limit 1000", 2}, {" limit 1001", 3}, {" limit 2000", 3}} {
		c.srv.ResetRequests()
		c.call("POST", "/crm/v8/coql", map[string]any{"select_query": "select Last_Name from Leads where Last_Name is not null" + tc.limit})
		if r := c.srv.Requests(); len(r) != 1 || r[0].Credits != tc.credits || r[0].Operation != "coql" || r[0].Module != "Leads" {
			t.Errorf("limit %q: %+v, want %d credits", tc.limit, r, tc.credits)
		}
	}
}

// FuzzCOQL feeds arbitrary queries to the parser and, when they parse, runs
// them against a small org. Nothing may panic; answers are 200, 204 or 400.
func FuzzCOQL(f *testing.F) {
	for _, q := range []string{
		"select Last_Name, Email from Contacts where Email in ('a@x.io','b@x.io') limit 200",
		`select id from Leads where (Last_Name = 'O\'Brien' or Company is null) and No_of_Employees >= 10 limit 10 offset 5`,
		"select First_Name from Contacts where Account_Name.Account_Name like '%cme' order by First_Name desc limit 2 offset 1",
		"select", "((((", "select a from b where c in (", "select x from Contacts where x = -1.5.5",
	} {
		f.Add(q)
	}
	sim := New(WithSeed(1))
	sim.Seed("Contacts", map[string]any{"Last_Name": "Smith", "Email": "a@x.io", "Tag": []any{map[string]any{"name": "t"}}})
	sim.Seed("Leads", map[string]any{"Last_Name": "O'Brien", "No_of_Employees": 12})
	f.Fuzz(func(t *testing.T, q string) {
		query, e := parseCOQL(q)
		if e != nil {
			if e.status != 400 {
				t.Fatalf("parse error with HTTP %d", e.status)
			}
			return
		}
		sim.mu.Lock()
		defer sim.mu.Unlock()
		m, ok := sim.module(query.module)
		if !ok || query.resolve(m) != nil {
			return
		}
		a := sim.runCOQL(m, query)
		if a.status != 200 && a.status != 204 {
			t.Fatalf("query %q: HTTP %d", q, a.status)
		}
	})
}

// FuzzWriteBody sends arbitrary bodies to every write endpoint through
// ServeHTTP: no panic, and every answer is a Zoho status.
func FuzzWriteBody(f *testing.F) {
	for _, b := range []string{`{"data":[{"Last_Name":"A","Email":"a@b.io"}]}`, `{"data":[1,null,"x",{"Last_Name":{"id":"1"}}]}`,
		`{"data":[{"Last_Name":"A","No_of_Employees":1e400,"External_Id":"-"}],"trigger":[null]}`,
		`{"data":[{"Last_Name":"A"}],"duplicate_check_fields":[1]}`, `{"tags":[{"name":""}],"ids":[{}]}`, `[`} {
		f.Add(b)
	}
	sim := New(WithSeed(2), WithDailyCredits(1<<30))
	sim.mu.Lock()
	tok, _ := sim.mintLocked(sim.oauth.creds.RefreshToken, sim.oauth.refresh[sim.oauth.creds.RefreshToken], sim.now())
	sim.mu.Unlock()
	sim.Seed("Leads", map[string]any{"Last_Name": "Existing", "Email": "a@b.io"})
	targets := [][2]string{{"POST", "/crm/v8/Leads"}, {"PUT", "/crm/v8/Leads"}, {"POST", "/crm/v8/Leads/upsert"},
		{"POST", "/crm/v8/Leads/actions/add_tags"}, {"POST", "/crm/v8/coql"}}
	f.Fuzz(func(t *testing.T, body string) {
		for _, tg := range targets {
			req := httptest.NewRequest(tg[0], tg[1], strings.NewReader(body))
			req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			switch rec.Code {
			case 200, 201, 204, 207, 400:
			default:
				t.Fatalf("%s %s %q: HTTP %d %s", tg[0], tg[1], body, rec.Code, rec.Body)
			}
		}
		sim.ResetRequests()
	})
}

func ExampleNewServer() {
	srv := NewServer(WithEdition("professional"))
	defer srv.Close()
	cr := srv.Credentials()
	fmt.Println(srv.URL != "" && cr.ClientID != "" && cr.RefreshToken != "")
	// Output: true
}
