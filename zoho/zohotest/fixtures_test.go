package zohotest

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const fixturesDir = "../testdata/fixtures" // copies of ../shared/zoho/fixtures (SOURCES.md says where each comes from)

func loadFixture(t *testing.T, prefix string) (any, string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(fixturesDir, prefix+"-*.json"))
	if len(matches) != 1 {
		t.Fatalf("fixture %s-*.json not found under %s", prefix, fixturesDir)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatalf("read fixture %s: %v", matches[0], err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("fixture %s is not JSON: %v", matches[0], err)
	}
	return v, filepath.Base(matches[0])
}

// exactKeys are compared by value where the situation reproduces them.
var exactKeys = []string{"code", "status", "message", "action", "api_name", "json_path", "error", "error_description", "token_type", "param_name", "maximum_length", "expected_data_type"}

// shapeRules adjusts the comparison for one fixture.
type shapeRules struct {
	loose []string // keys whose value differs in this situation (still present)
	extra []string // keys the simulator adds on purpose
}

// compareShape checks that got has the key structure of want, recursively,
// and the same values for exactKeys.
func compareShape(t *testing.T, path string, want, got any, rules shapeRules) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: want an object, got %T (%v)", path, got, got)
			return
		}
		var wk, gk []string
		for k := range w {
			wk = append(wk, k)
		}
		for k := range g {
			if !slices.Contains(rules.extra, k) || w[k] != nil {
				gk = append(gk, k)
			}
		}
		sort.Strings(wk)
		sort.Strings(gk)
		if !slices.Equal(wk, gk) {
			t.Errorf("%s: keys differ:\n fixture   %v\n simulator %v", path, wk, gk)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				continue
			}
			if slices.Contains(exactKeys, k) && !slices.Contains(rules.loose, k) {
				if !jsonEqual(wv, gv) {
					t.Errorf("%s.%s: fixture %v, simulator %v", path, k, wv, gv)
				}
				continue
			}
			compareShape(t, path+"."+k, wv, gv, rules)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: want an array, got %T", path, got)
			return
		}
		if len(w) != len(g) {
			t.Errorf("%s: fixture has %d items, simulator %d", path, len(w), len(g))
			return
		}
		for i := range w {
			compareShape(t, path+"["+itoa(i)+"]", w[i], g[i], rules)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		fixture string
		status  int
		rules   shapeRules
		opts    []Option
		run     func(c *testClient) (int, map[string]any)
	}{
		{fixture: "f1", status: 201, run: func(c *testClient) (int, map[string]any) {
			return c.call("POST", "/crm/v8/Contacts", data(contact("Boyle", "p@example.com")))
		}},
		{fixture: "f2", status: 207,
			// The fixture's message for a bad Last_Name is the spec's generic
			// example; the simulator says "invalid data" and names the type.
			rules: shapeRules{loose: []string{"message"}, extra: []string{"expected_data_type"}},
			run: func(c *testClient) (int, map[string]any) {
				return c.call("POST", "/crm/v8/Contacts", data(contact("Boyle", "p@example.com"), map[string]any{"Last_Name": 42}))
			}},
		{fixture: "f3", status: 200, run: func(c *testClient) (int, map[string]any) {
			c.srv.Seed("Contacts", contact("Old", "known@example.com"))
			return c.call("POST", "/crm/v8/Contacts/upsert", data(contact("New", "KNOWN@example.com"), contact("Fresh", "fresh@example.com")))
		}},
		{fixture: "f4", status: 207, run: func(c *testClient) (int, map[string]any) {
			return c.call("POST", "/crm/v8/Leads/upsert", map[string]any{"duplicate_check_fields": []string{"Email"},
				"data": []any{map[string]any{"Last_Name": "A", "Email": "a@example.com", "Company": "Acme"},
					map[string]any{"Last_Name": "B", "Email": "b@example.com", "Company": 12}}})
		}},
		{fixture: "f5", status: 207, run: func(c *testClient) (int, map[string]any) {
			a := c.srv.Seed("Contacts", contact("A", "a@example.com"))
			b := c.srv.Seed("Contacts", contact("B", "b@example.com"))
			return c.call("DELETE", "/crm/v8/Contacts?wf_trigger=false&ids="+a+",4150868000005067099,"+b, nil)
		}},
		{fixture: "f6", status: 400, opts: []Option{WithUniqueFields("Contacts", "Unique_1")}, run: func(c *testClient) (int, map[string]any) {
			c.srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Unique_1": "U-1"})
			return c.call("POST", "/crm/v8/Contacts", data(map[string]any{"Last_Name": "B", "Unique_1": "u-1"}))
		}},
		{fixture: "f7", status: 400, rules: shapeRules{loose: []string{"api_name", "json_path"}}, run: func(c *testClient) (int, map[string]any) {
			return c.call("POST", "/crm/v8/Contacts/upsert", data(map[string]any{"Email": "x@example.com"}))
		}},
		{fixture: "f8", status: 400, run: func(c *testClient) (int, map[string]any) {
			recs := make([]map[string]any, 101)
			for i := range recs {
				recs[i] = contact("L", "")
			}
			return c.call("PUT", "/crm/v8/Contacts", data(recs...))
		}},
		{fixture: "f9", status: 400, rules: shapeRules{loose: []string{"api_name", "json_path"}}, run: func(c *testClient) (int, map[string]any) {
			return c.call("POST", "/crm/v8/Leads", data(map[string]any{"Last_Name": "A", "No_of_Employees": "12"}))
		}},
		{fixture: "f10", status: 401, run: func(c *testClient) (int, map[string]any) {
			c.srv.AddRefreshToken("1000.readonly", "ZohoCRM.modules.Leads.READ")
			c.token = c.mint("1000.readonly")
			return c.call("POST", "/crm/v8/Contacts", data(contact("A", "")))
		}},
		{fixture: "f11", status: 401, run: func(c *testClient) (int, map[string]any) {
			c.srv.ExpireAccessTokens()
			return c.call("GET", "/crm/v8/Contacts?fields=Email", nil)
		}},
		{fixture: "f12", status: 404, run: func(c *testClient) (int, map[string]any) {
			return c.call("POST", "/crm/v8/Contacts/actions/no_such_action", data(contact("A", "")))
		}},
		{fixture: "f13", status: 200, run: func(c *testClient) (int, map[string]any) {
			for range 9 { // the client minted one already
				c.mint(c.srv.Credentials().RefreshToken)
			}
			return c.tokenCall(c.refreshForm(c.srv.Credentials().RefreshToken))
		}},
		{fixture: "f14", status: 400, run: func(c *testClient) (int, map[string]any) {
			return c.call("DELETE", "/crm/v8/Contacts?wf_trigger=false", nil)
		}},
		{fixture: "f16", status: 200, rules: shapeRules{extra: []string{"id"}}, run: func(c *testClient) (int, map[string]any) {
			c.srv.Seed("Leads", map[string]any{"Last_Name": "Smith", "First_Name": "John", "Company": "Acme"})
			c.srv.Seed("Leads", map[string]any{"Last_Name": "Jones", "First_Name": "Jane", "Company": "Acme"})
			return c.call("POST", "/crm/v8/coql", map[string]any{"select_query": "select Last_Name, First_Name from Leads where Last_Name = 'Smith'"})
		}},
		{fixture: "f17", status: 200, run: func(c *testClient) (int, map[string]any) {
			return c.tokenCall(c.refreshForm(c.srv.Credentials().RefreshToken))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			want, name := loadFixture(t, tc.fixture)
			c := newTestClient(t, tc.opts...)
			status, got := tc.run(c)
			if status != tc.status {
				t.Errorf("%s: HTTP %d, want %d; body %v", name, status, tc.status, got)
			}
			compareShape(t, name, want, got, tc.rules)
		})
	}
}

// TestFixtureUpsertDuplicateField checks the values behind f3's
// duplicate_field presence: the matched field on update, null on insert.
func TestFixtureUpsertDuplicateField(t *testing.T) {
	c := newTestClient(t)
	c.srv.Seed("Contacts", contact("Old", "known@example.com"))
	_, out := c.call("POST", "/crm/v8/Contacts/upsert", data(contact("New", "known@example.com"), contact("Fresh", "fresh@example.com")))
	it := items(t, out)
	if it[0]["duplicate_field"] != "Email" || it[0]["action"] != "update" {
		t.Errorf("item 0 = %v, want action update, duplicate_field Email", it[0])
	}
	if v, ok := it[1]["duplicate_field"]; !ok || v != nil || it[1]["action"] != "insert" {
		t.Errorf("item 1 = %v, want action insert, duplicate_field null", it[1])
	}
}

// TestFixtureFieldMetadata compares the Leads Last_Name item of the fields
// metadata with f18: every key served exists in the fixture, the key ones
// are served, and their values agree.
func TestFixtureFieldMetadata(t *testing.T) {
	want, name := loadFixture(t, "f18")
	w := want.(map[string]any)
	c := newTestClient(t)
	status, out := c.call("GET", "/crm/v8/settings/fields?"+url.Values{"module": {"Leads"}}.Encode(), nil)
	if status != 200 {
		t.Fatalf("fields: HTTP %d %v", status, out)
	}
	var got map[string]any
	for _, x := range out["fields"].([]any) {
		if m := x.(map[string]any); m["api_name"] == "Last_Name" {
			got = m
		}
	}
	if got == nil {
		t.Fatal("no Last_Name among Leads fields")
	}
	for k := range got {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: simulator serves key %q the fixture lacks", name, k)
		}
	}
	for _, k := range []string{"api_name", "data_type", "json_type", "length", "read_only", "system_mandatory", "unique",
		"pick_list_values", "lookup", "decimal_place", "custom_field", "field_label", "display_label", "id", "field_read_only", "visible"} {
		gv, ok := got[k]
		if !ok {
			t.Errorf("%s: simulator lacks key %q", name, k)
			continue
		}
		if k == "id" {
			if s, _ := gv.(string); len(s) != 19 || !isDigits(s) {
				t.Errorf("id = %v, want a 19-digit string", gv)
			}
			continue
		}
		if !jsonEqual(w[k], gv) {
			t.Errorf("%s: %s = %v, fixture %v", name, k, gv, w[k])
		}
	}
	for _, k := range []string{"operation_type", "view_type"} {
		compareShape(t, name+"."+k, w[k], got[k], shapeRules{})
	}
	if !strings.HasPrefix(name, "f18") {
		t.Fatal(name)
	}
}
