package zohotest

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	c := newTestClient(t)
	acct := c.srv.Seed("Accounts", map[string]any{"Account_Name": "Acme"})
	owner := c.srv.Records("Accounts")[0]["Owner"].(map[string]any)["id"].(string)
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		name    string
		module  string
		rec     map[string]any
		code    string // "" = success
		apiName string
		detail  string // a details key that must be present
		value   any    // its value, when not nil
	}{
		{"text ok at max length", "Contacts", map[string]any{"Last_Name": "A", "First_Name": long(40)}, "", "", "", nil},
		{"text too long", "Contacts", map[string]any{"Last_Name": "A", "First_Name": long(41)}, "INVALID_DATA", "First_Name", "maximum_length", 40.0},
		{"text counts runes", "Contacts", map[string]any{"Last_Name": strings.Repeat("é", 80)}, "", "", "", nil},
		{"text not a string", "Contacts", map[string]any{"Last_Name": "A", "Title": 7}, "INVALID_DATA", "Title", "expected_data_type", "text"},
		{"email ok", "Contacts", map[string]any{"Last_Name": "A", "Email": "a.b+c@example.co.uk"}, "", "", "", nil},
		{"email malformed", "Contacts", map[string]any{"Last_Name": "A", "Email": "not an email"}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email TLD of 22 letters", "Contacts", map[string]any{"Last_Name": "A", "Email": "a@x." + long(22)}, "", "", "", nil},
		{"email TLD of 23 letters", "Contacts", map[string]any{"Last_Name": "A", "Email": "a@x." + long(23)}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email TLD of 1 letter", "Contacts", map[string]any{"Last_Name": "A", "Email": "a@example.c"}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email TLD with a digit", "Contacts", map[string]any{"Last_Name": "A", "Email": "a@example.c0m"}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email starting with a dot", "Contacts", map[string]any{"Last_Name": "A", "Email": ".a@example.com"}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email label with underscore", "Contacts", map[string]any{"Last_Name": "A", "Email": "a@ex_ample.com"}, "INVALID_DATA", "Email", "expected_data_type", "email"},
		{"email with apostrophe and slash", "Contacts", map[string]any{"Last_Name": "A", "Email": "o'brien/sales@example.ie"}, "", "", "", nil},
		{"website ok", "Leads", map[string]any{"Last_Name": "A", "Website": "https://www.example.com/about?x=1"}, "", "", "", nil},
		{"website without scheme", "Leads", map[string]any{"Last_Name": "A", "Website": "example.org"}, "", "", "", nil},
		{"website with a space", "Leads", map[string]any{"Last_Name": "A", "Website": "https://exa mple.com"}, "INVALID_DATA", "Website", "expected_data_type", "website"},
		{"website without a dot", "Leads", map[string]any{"Last_Name": "A", "Website": "localhost"}, "INVALID_DATA", "Website", "expected_data_type", "website"},
		{"phone with punctuation", "Contacts", map[string]any{"Last_Name": "A", "Phone": "+1 (555) 010-9999 x12"}, "", "", "", nil},
		{"phone with a newline", "Contacts", map[string]any{"Last_Name": "A", "Phone": "555\n0100"}, "INVALID_DATA", "Phone", "expected_data_type", "phone"},
		{"phone too long", "Contacts", map[string]any{"Last_Name": "A", "Phone": long(31)}, "INVALID_DATA", "Phone", "maximum_length", 30.0},
		{"date ok", "Contacts", map[string]any{"Last_Name": "A", "Date_of_Birth": "1990-02-28"}, "", "", "", nil},
		{"date wrong format", "Contacts", map[string]any{"Last_Name": "A", "Date_of_Birth": "28/02/1990"}, "INVALID_DATA", "Date_of_Birth", "expected_data_type", "date"},
		{"date impossible", "Contacts", map[string]any{"Last_Name": "A", "Date_of_Birth": "1990-02-30"}, "INVALID_DATA", "Date_of_Birth", "expected_data_type", "date"},
		{"date with time", "Contacts", map[string]any{"Last_Name": "A", "Date_of_Birth": "1990-02-28T00:00:00+00:00"}, "INVALID_DATA", "Date_of_Birth", "expected_data_type", "date"},
		{"integer ok", "Leads", map[string]any{"Last_Name": "A", "No_of_Employees": 999999999}, "", "", "", nil},
		{"integer ten digits", "Leads", map[string]any{"Last_Name": "A", "No_of_Employees": 1234567890}, "INVALID_DATA", "No_of_Employees", "expected_data_type", "integer"},
		{"integer fraction", "Leads", map[string]any{"Last_Name": "A", "No_of_Employees": 1.5}, "INVALID_DATA", "No_of_Employees", "expected_data_type", "integer"},
		{"integer as string", "Leads", map[string]any{"Last_Name": "A", "No_of_Employees": "12"}, "INVALID_DATA", "No_of_Employees", "expected_data_type", "integer"},
		{"bigint ok", "Leads", map[string]any{"Last_Name": "A", "External_Id": "123456789012345678"}, "", "", "", nil},
		{"bigint as number", "Leads", map[string]any{"Last_Name": "A", "External_Id": 123}, "INVALID_DATA", "External_Id", "expected_data_type", "bigint"},
		{"bigint 19 digits", "Leads", map[string]any{"Last_Name": "A", "External_Id": "1234567890123456789"}, "INVALID_DATA", "External_Id", "expected_data_type", "bigint"},
		{"bigint not digits", "Leads", map[string]any{"Last_Name": "A", "External_Id": "12a"}, "INVALID_DATA", "External_Id", "expected_data_type", "bigint"},
		{"currency ok", "Leads", map[string]any{"Last_Name": "A", "Annual_Revenue": 1250000.5}, "", "", "", nil},
		{"currency at decimal_place", "Leads", map[string]any{"Last_Name": "A", "Annual_Revenue": 10.25}, "", "", "", nil},
		{"currency past decimal_place", "Leads", map[string]any{"Last_Name": "A", "Annual_Revenue": 10.255}, "INVALID_DATA", "Annual_Revenue", "decimal_place", 2.0},
		{"currency as string", "Leads", map[string]any{"Last_Name": "A", "Annual_Revenue": "1250000.5"}, "INVALID_DATA", "Annual_Revenue", "expected_data_type", "currency"},
		{"boolean ok", "Leads", map[string]any{"Last_Name": "A", "Email_Opt_Out": true}, "", "", "", nil},
		{"boolean as string", "Leads", map[string]any{"Last_Name": "A", "Email_Opt_Out": "true"}, "INVALID_DATA", "Email_Opt_Out", "expected_data_type", "boolean"},
		{"picklist unknown value accepted", "Leads", map[string]any{"Last_Name": "A", "Lead_Source": "Podcast"}, "", "", "", nil},
		{"picklist not a string", "Leads", map[string]any{"Last_Name": "A", "Lead_Source": []any{"Chat"}}, "INVALID_DATA", "Lead_Source", "expected_data_type", "picklist"},
		{"multiselect ok", "Leads", map[string]any{"Last_Name": "A", "Product_Interest": []any{"CRM", "Webinars"}}, "", "", "", nil},
		{"multiselect not an array", "Leads", map[string]any{"Last_Name": "A", "Product_Interest": "CRM"}, "INVALID_DATA", "Product_Interest", "expected_data_type", "multiselectpicklist"},
		{"lookup ok", "Contacts", map[string]any{"Last_Name": "A", "Account_Name": map[string]any{"id": acct}}, "", "", "", nil},
		{"lookup unknown id", "Contacts", map[string]any{"Last_Name": "A", "Account_Name": map[string]any{"id": "111"}}, "INVALID_DATA", "Account_Name", "id", "111"},
		{"lookup by name", "Contacts", map[string]any{"Last_Name": "A", "Account_Name": "Acme"}, "INVALID_DATA", "Account_Name", "expected_data_type", "lookup"},
		{"owner ok", "Contacts", map[string]any{"Last_Name": "A", "Owner": map[string]any{"id": owner}}, "", "", "", nil},
		{"owner unknown", "Contacts", map[string]any{"Last_Name": "A", "Owner": map[string]any{"id": "42"}}, "INVALID_DATA", "Owner", "id", "42"},
		{"read-only field", "Contacts", map[string]any{"Last_Name": "A", "Created_Time": "2026-01-01T00:00:00+00:00"}, "INVALID_DATA", "Created_Time", "json_path", "$.data[0].Created_Time"},
		{"unknown field ignored", "Contacts", map[string]any{"Last_Name": "A", "Favourite_Colour": "blue"}, "", "", "", nil},
		{"missing system mandatory", "Contacts", map[string]any{"First_Name": "A"}, "MANDATORY_NOT_FOUND", "Last_Name", "json_path", "$.data[0].Last_Name"},
		{"blank system mandatory", "Accounts", map[string]any{"Account_Name": "  "}, "MANDATORY_NOT_FOUND", "Account_Name", "id", nil},
		{"lead without company (layout-only mandatory)", "Leads", map[string]any{"Last_Name": "A"}, "", "", "", nil},
		{"deal without stage", "Deals", map[string]any{"Deal_Name": "Big"}, "MANDATORY_NOT_FOUND", "Stage", "json_path", "$.data[0].Stage"},
		{"deal without closing date", "Deals", map[string]any{"Deal_Name": "Big", "Stage": "Qualification"}, "", "", "", nil},
		{"datetime with offset", "Contacts", map[string]any{"Last_Name": "A", "Date_of_Birth": "1990-02-28"}, "", "", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := c.call("POST", "/crm/v8/"+tc.module, data(tc.rec))
			it := items(t, out)[0]
			if tc.code == "" {
				if status != 201 || it["code"] != "SUCCESS" {
					t.Fatalf("HTTP %d %v, want 201 SUCCESS", status, it)
				}
				return
			}
			if status != 400 || it["code"] != tc.code || it["status"] != "error" {
				t.Fatalf("HTTP %d %v, want 400 %s", status, it, tc.code)
			}
			d := details(it)
			if d["api_name"] != tc.apiName {
				t.Errorf("api_name = %v, want %s", d["api_name"], tc.apiName)
			}
			if d["json_path"] != "$.data[0]."+tc.apiName {
				t.Errorf("json_path = %v", d["json_path"])
			}
			v, ok := d[tc.detail]
			if !ok || (tc.value != nil && v != tc.value) {
				t.Errorf("details[%s] = %v, want %v (details %v)", tc.detail, v, tc.value, d)
			}
		})
	}
}

func TestValidationSideEffects(t *testing.T) {
	c := newTestClient(t)
	_, out := c.call("POST", "/crm/v8/Leads", data(map[string]any{"Last_Name": "A", "Lead_Source": "Podcast", "Favourite_Colour": "blue",
		"Annual_Revenue": 10.25, "External_Id": "42"}))
	id := details(items(t, out)[0])["id"].(string)
	rec, ok := c.srv.Record("Leads", id)
	if !ok {
		t.Fatalf("record %s not stored", id)
	}
	if _, has := rec["Favourite_Colour"]; has {
		t.Error("unknown field was stored")
	}
	if rec["Full_Name"] != "A" || rec["External_Id"] != "42" || fmt.Sprint(rec["Annual_Revenue"]) != "10.25" {
		t.Errorf("stored record %v", rec)
	}
	_, meta := c.call("GET", "/crm/v8/settings/fields?module=Leads", nil)
	for _, x := range meta["fields"].([]any) {
		fl := x.(map[string]any)
		if fl["api_name"] != "Lead_Source" {
			continue
		}
		found := false
		for _, p := range fl["pick_list_values"].([]any) {
			found = found || p.(map[string]any)["actual_value"] == "Podcast"
		}
		if !found {
			t.Error("unknown picklist value Podcast was not added to the field's pick list")
		}
	}
}

func TestRequestLevelErrors(t *testing.T) {
	c := newTestClient(t)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		wrapped            bool
	}{
		{"bad json", "POST", "/crm/v8/Contacts", `{"data":[`, 400, "INVALID_DATA", false},
		{"not an object", "POST", "/crm/v8/Contacts", `[1,2]`, 400, "INVALID_DATA", false},
		{"no data key", "POST", "/crm/v8/Contacts", `{"records":[]}`, 400, "REQUIRED_PARAM_MISSING", false},
		{"empty data", "PUT", "/crm/v8/Contacts", `{"data":[]}`, 400, "REQUIRED_PARAM_MISSING", false},
		{"data not array", "POST", "/crm/v8/Contacts/upsert", `{"data":{}}`, 400, "INVALID_DATA", false},
		{"unknown trigger", "POST", "/crm/v8/Contacts", `{"data":[{"Last_Name":"A"}],"trigger":["workflow","magic"]}`, 400, "INVALID_DATA", false},
		{"bad duplicate_check_fields", "POST", "/crm/v8/Contacts/upsert", `{"data":[{"Last_Name":"A"}],"duplicate_check_fields":["Phone"]}`, 400, "INVALID_DATA", false},
		{"unknown module", "POST", "/crm/v8/Widgets", `{"data":[{"Last_Name":"A"}]}`, 400, "INVALID_MODULE", false},
		{"unknown module for fields", "GET", "/crm/v8/settings/fields?module=Widgets", nil, 400, "INVALID_MODULE", false},
		{"fields without module", "GET", "/crm/v8/settings/fields", nil, 400, "REQUIRED_PARAM_MISSING", false},
		{"list without fields", "GET", "/crm/v8/Contacts", nil, 400, "REQUIRED_PARAM_MISSING", false},
		{"unknown path", "GET", "/crm/v8/Contacts/actions/x/y", nil, 404, "INVALID_URL_PATTERN", false},
		{"unknown version", "GET", "/crm/v99/Contacts?fields=Email", nil, 404, "INVALID_URL_PATTERN", false},
		{"outside crm", "GET", "/nothing", nil, 404, "INVALID_URL_PATTERN", false},
		{"wrong method", "GET", "/crm/v8/Contacts/upsert", nil, 405, "INVALID_REQUEST_METHOD", false},
		{"delete over 100 ids", "DELETE", "/crm/v8/Contacts?ids=" + strings.TrimSuffix(strings.Repeat("1,", 101), ","), nil, 400, "LIMIT_EXCEEDED", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := c.call(tc.method, tc.path, tc.body)
			obj := out
			if tc.wrapped {
				obj = items(t, out)[0]
			}
			if status != tc.status || obj["code"] != tc.code || obj["status"] != "error" {
				t.Fatalf("HTTP %d %v, want %d %s", status, out, tc.status, tc.code)
			}
		})
	}
	if n := len(c.srv.Records("Contacts")); n != 0 {
		t.Errorf("%d records written by rejected requests", n)
	}
	// Nothing at all is written when a batch is over 100 records.
	recs := make([]map[string]any, 101)
	for i := range recs {
		recs[i] = contact(fmt.Sprint("L", i), "")
	}
	if status, _ := c.call("POST", "/crm/v8/Contacts", data(recs...)); status != 400 || len(c.srv.Records("Contacts")) != 0 {
		t.Errorf("101-record insert: HTTP %d, %d records stored", status, len(c.srv.Records("Contacts")))
	}
	// A valid trigger is accepted and kept in the request log.
	body := `{"data":[{"Last_Name":"A"}],"trigger":["workflow","approval"]}`
	if status, _ := c.call("POST", "/crm/v8/Contacts", body); status != 201 {
		t.Fatalf("insert with trigger: HTTP %d", status)
	}
	reqs := c.srv.Requests()
	if last := reqs[len(reqs)-1]; string(last.Body) != body || last.Operation != "insert" || last.Credits != 1 || last.Records != 1 {
		t.Errorf("request log: %+v", last)
	}
}

func TestInsertStatuses(t *testing.T) {
	c := newTestClient(t)
	cases := []struct {
		name   string
		recs   []map[string]any
		status int
		codes  []string
	}{
		{"all ok", []map[string]any{contact("A", ""), contact("B", "")}, 201, []string{"SUCCESS", "SUCCESS"}},
		{"mixed keeps input order", []map[string]any{{"First_Name": "x"}, contact("B", ""), {"Last_Name": true}}, 207, []string{"MANDATORY_NOT_FOUND", "SUCCESS", "INVALID_DATA"}},
		{"all failed", []map[string]any{{"First_Name": "x"}}, 400, []string{"MANDATORY_NOT_FOUND"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := c.call("POST", "/crm/v8/Contacts", data(tc.recs...))
			if status != tc.status {
				t.Fatalf("HTTP %d, want %d", status, tc.status)
			}
			var got []string
			for i, it := range items(t, out) {
				got = append(got, it["code"].(string))
				if p, ok := details(it)["json_path"].(string); ok && !strings.HasPrefix(p, fmt.Sprintf("$.data[%d]", i)) {
					t.Errorf("item %d json_path %s", i, p)
				}
			}
			if !slices.Equal(got, tc.codes) {
				t.Errorf("codes %v, want %v", got, tc.codes)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	c := newTestClient(t, WithUniqueFields("Contacts", "External_Id"), WithClock(simClock()))
	a := c.srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Email": "a@example.com", "Title": "CEO", "External_Id": "1"})
	c.srv.Seed("Contacts", map[string]any{"Last_Name": "B", "External_Id": "2"})
	cases := []struct {
		name    string
		rec     map[string]any
		code    string
		apiName string
	}{
		{"missing id", map[string]any{"Last_Name": "X"}, "MANDATORY_NOT_FOUND", "id"},
		{"unknown id", map[string]any{"id": "999", "Last_Name": "X"}, "INVALID_DATA", "id"},
		{"mandatory cleared", map[string]any{"id": a, "Last_Name": nil}, "MANDATORY_NOT_FOUND", "Last_Name"},
		{"unique taken by another", map[string]any{"id": a, "External_Id": "2"}, "DUPLICATE_DATA", "External_Id"},
		{"own unique value", map[string]any{"id": a, "External_Id": "1", "First_Name": "Ann"}, "SUCCESS", ""},
		{"null clears", map[string]any{"id": a, "Title": nil}, "SUCCESS", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, out := c.call("PUT", "/crm/v8/Contacts", data(tc.rec))
			it := items(t, out)[0]
			if it["code"] != tc.code {
				t.Fatalf("got %v, want %s", it, tc.code)
			}
			if tc.apiName != "" && details(it)["api_name"] != tc.apiName {
				t.Errorf("api_name %v, want %s", details(it)["api_name"], tc.apiName)
			}
			if tc.code == "SUCCESS" && (it["message"] != "record updated" || details(it)["id"] != a) {
				t.Errorf("success item %v", it)
			}
		})
	}
	rec, _ := c.srv.Record("Contacts", a)
	if _, has := rec["Title"]; has || rec["First_Name"] != "Ann" || rec["Full_Name"] != "Ann A" || rec["Last_Name"] != "A" {
		t.Errorf("record after updates: %v", rec)
	}
}

func TestUpsertMatching(t *testing.T) {
	cases := []struct {
		name      string
		dupFields []string // nil: default order
		rec       map[string]any
		action    string
		dupField  any
		wantID    string // "a", "b" or "" (new)
	}{
		{"default: Email first, case-insensitive", nil, map[string]any{"Last_Name": "X", "Email": "A@Example.com", "External_Id": "9"}, "update", "Email", "a"},
		{"default: unique field when Email misses", nil, map[string]any{"Last_Name": "X", "Email": "new@example.com", "External_Id": "2"}, "update", "External_Id", "b"},
		{"explicit order: unique field first", []string{"External_Id", "Email"}, map[string]any{"Last_Name": "X", "Email": "a@example.com", "External_Id": "2"}, "update", "External_Id", "b"},
		{"explicit order: Email first", []string{"Email", "External_Id"}, map[string]any{"Last_Name": "X", "Email": "a@example.com", "External_Id": "9"}, "update", "Email", "a"},
		{"only listed fields count", []string{"External_Id"}, map[string]any{"Last_Name": "X", "Email": "a@example.com", "External_Id": "7"}, "insert", nil, ""},
		{"no match inserts", nil, map[string]any{"Last_Name": "X", "Email": "z@example.com"}, "insert", nil, ""},
		{"no key at all inserts", nil, map[string]any{"Last_Name": "X"}, "insert", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, WithUniqueFields("Contacts", "External_Id"))
			ids := map[string]string{
				"a": c.srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Email": "a@example.com", "External_Id": "1"}),
				"b": c.srv.Seed("Contacts", map[string]any{"Last_Name": "B", "Email": "b@example.com", "External_Id": "2"}),
			}
			body := data(tc.rec)
			if tc.dupFields != nil {
				body["duplicate_check_fields"] = tc.dupFields
			}
			status, out := c.call("POST", "/crm/v8/Contacts/upsert", body)
			it := items(t, out)[0]
			if status != 200 || it["action"] != tc.action || it["duplicate_field"] != tc.dupField {
				t.Fatalf("HTTP %d %v, want action %s duplicate_field %v", status, it, tc.action, tc.dupField)
			}
			id := details(it)["id"]
			if tc.wantID != "" && id != ids[tc.wantID] {
				t.Errorf("updated %v, want record %s (%s)", id, tc.wantID, ids[tc.wantID])
			}
			if tc.wantID == "" && (id == ids["a"] || id == ids["b"]) {
				t.Errorf("insert reused id %v", id)
			}
			want := 2
			if tc.action == "insert" {
				want = 3
			}
			if n := len(c.srv.Records("Contacts")); n != want {
				t.Errorf("%d records, want %d", n, want)
			}
		})
	}
}

func TestUpsertBatchSemantics(t *testing.T) {
	c := newTestClient(t, WithUniqueFields("Contacts", "External_Id"))
	c.srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Email": "a@example.com", "External_Id": "1"})
	c.srv.Seed("Contacts", map[string]any{"Last_Name": "B", "Email": "b@example.com", "External_Id": "2"})
	// The same key twice in one batch: the second matches the first.
	// A matched record whose new unique value belongs to another: DUPLICATE_DATA.
	status, out := c.call("POST", "/crm/v8/Contacts/upsert", data(
		contact("N1", "n@example.com"), contact("N2", "n@example.com"),
		map[string]any{"Email": "a@example.com", "Last_Name": "Q", "External_Id": "2"},
		map[string]any{"Email": "m@example.com"},
	))
	it := items(t, out)
	if status != 207 || it[0]["action"] != "insert" || it[1]["action"] != "update" || details(it[1])["id"] != details(it[0])["id"] {
		t.Fatalf("HTTP %d %v", status, it)
	}
	if it[2]["code"] != "DUPLICATE_DATA" || it[3]["code"] != "MANDATORY_NOT_FOUND" {
		t.Errorf("items 2, 3: %v %v", it[2], it[3])
	}
	rec, _ := c.srv.Record("Contacts", details(it[0])["id"].(string))
	if rec["Last_Name"] != "N2" {
		t.Errorf("record after two upserts %v", rec)
	}
}

func TestDelete(t *testing.T) {
	c := newTestClient(t)
	a := c.srv.Seed("Contacts", contact("A", "a@example.com"))
	b := c.srv.Seed("Contacts", contact("B", "b@example.com"))
	cases := []struct {
		name   string
		ids    []string
		status int
		codes  []string
	}{
		{"one ok", []string{a}, 200, []string{"SUCCESS"}},
		{"already gone", []string{a}, 400, []string{"INVALID_DATA"}},
		{"mixed", []string{"123", b}, 207, []string{"INVALID_DATA", "SUCCESS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := c.call("DELETE", "/crm/v8/Contacts?wf_trigger=false&ids="+strings.Join(tc.ids, ","), nil)
			if status != tc.status {
				t.Fatalf("HTTP %d, want %d: %v", status, tc.status, out)
			}
			for i, it := range items(t, out) {
				if it["code"] != tc.codes[i] || details(it)["id"] != tc.ids[i] {
					t.Errorf("item %d: %v", i, it)
				}
			}
		})
	}
	if n := len(c.srv.Records("Contacts")); n != 0 {
		t.Errorf("%d records left", n)
	}
	// A deleted record no longer matches an upsert.
	_, out := c.call("POST", "/crm/v8/Contacts/upsert", data(contact("A", "a@example.com")))
	if it := items(t, out)[0]; it["action"] != "insert" {
		t.Errorf("upsert after delete: %v", it)
	}
}

func TestTags(t *testing.T) {
	c := newTestClient(t)
	a := c.srv.Seed("Leads", map[string]any{"Last_Name": "A"})
	b := c.srv.Seed("Leads", map[string]any{"Last_Name": "B"})
	body := func(tags []string, ids ...string) map[string]any {
		tl := []any{}
		for _, n := range tags {
			tl = append(tl, map[string]any{"name": n})
		}
		return map[string]any{"tags": tl, "ids": ids}
	}
	steps := []struct {
		name   string
		path   string
		body   any
		status int
		codes  []string
		tagsA  []string
		tagsB  []string
	}{
		{"add to both", "add_tags", body([]string{"Members", "VIP"}, a, b), 200, []string{"SUCCESS", "SUCCESS"}, []string{"Members", "VIP"}, []string{"Members", "VIP"}},
		{"add again is idempotent", "add_tags", body([]string{"members"}, a), 200, []string{"SUCCESS"}, []string{"Members", "VIP"}, []string{"Members", "VIP"}},
		{"remove from one, unknown id", "remove_tags", body([]string{"Members"}, a, "999"), 207, []string{"SUCCESS", "INVALID_DATA"}, []string{"VIP"}, []string{"Members", "VIP"}},
		{"query-string form", "remove_tags?ids=" + b + "&tag_names=VIP", nil, 200, []string{"SUCCESS"}, []string{"VIP"}, []string{"Members"}},
		{"over_write", "add_tags?over_write=true", body([]string{"Gold"}, b), 200, []string{"SUCCESS"}, []string{"VIP"}, []string{"Gold"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, out := c.call("POST", "/crm/v8/Leads/actions/"+st.path, st.body)
			if status != st.status {
				t.Fatalf("HTTP %d, want %d: %v", status, st.status, out)
			}
			for i, it := range items(t, out) {
				if it["code"] != st.codes[i] {
					t.Errorf("item %d: %v", i, it)
				}
			}
			if got := c.srv.Tags("Leads", a); !slices.Equal(got, st.tagsA) {
				t.Errorf("tags of a %v, want %v", got, st.tagsA)
			}
			if got := c.srv.Tags("Leads", b); !slices.Equal(got, st.tagsB) {
				t.Errorf("tags of b %v, want %v", got, st.tagsB)
			}
		})
	}
	ids := make([]string, 501)
	for i := range ids {
		ids[i] = a
	}
	if status, out := c.call("POST", "/crm/v8/Leads/actions/add_tags", body([]string{"X"}, ids...)); status != 400 || items(t, out)[0]["code"] != "LIMIT_EXCEEDED" {
		t.Errorf("501 ids: HTTP %d %v", status, out)
	}
	if status, out := c.call("POST", "/crm/v8/Leads/actions/add_tags", map[string]any{"ids": []string{a}}); status != 400 || out["code"] != "REQUIRED_PARAM_MISSING" {
		t.Errorf("no tags: HTTP %d %v", status, out)
	}
	// Tags show in the record and can be set by Seed's helper.
	if !c.srv.SetTags("Leads", a, "One", "Two") || !slices.Equal(c.srv.Tags("Leads", a), []string{"One", "Two"}) {
		t.Error("SetTags did not replace the tags")
	}
	rec, _ := c.srv.Record("Leads", a)
	if tags := rec["Tag"].([]any); len(tags) != 2 || tags[0].(map[string]any)["id"] == "" {
		t.Errorf("Tag field %v", rec["Tag"])
	}
}

func TestGetRecords(t *testing.T) {
	c := newTestClient(t)
	if status, out := c.call("GET", "/crm/v8/Accounts?fields=Account_Name", nil); status != 204 || out != nil {
		t.Fatalf("empty module: HTTP %d %v", status, out)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, c.srv.Seed("Accounts", map[string]any{"Account_Name": fmt.Sprint("Acme ", i), "Phone": "1"}))
	}
	status, out := c.call("GET", "/crm/v8/Accounts?"+url.Values{"fields": {"Account_Name,Industry"}, "per_page": {"2"}, "page": {"2"}}.Encode(), nil)
	rows := items(t, out)
	info := out["info"].(map[string]any)
	if status != 200 || len(rows) != 2 || rows[0]["id"] != ids[2] || rows[0]["Account_Name"] != "Acme 2" || info["more_records"] != true || info["page"] != 2.0 {
		t.Fatalf("page 2: HTTP %d %v", status, out)
	}
	if _, has := rows[0]["Phone"]; has {
		t.Error("unrequested field returned")
	}
	if status, out := c.call("GET", "/crm/v8/Accounts/"+ids[4], nil); status != 200 || items(t, out)[0]["Account_Name"] != "Acme 4" {
		t.Errorf("get one: HTTP %d %v", status, out)
	}
	if status, _ := c.call("GET", "/crm/v8/Accounts/123", nil); status != 204 {
		t.Errorf("get unknown: HTTP %d", status)
	}
	recs := c.srv.Records("Accounts")
	for i := 1; i < len(recs); i++ {
		if !idLess(recs[i-1]["id"].(string), recs[i]["id"].(string)) {
			t.Fatal("Records not sorted by id")
		}
	}
}

func TestFieldsMetadata(t *testing.T) {
	c := newTestClient(t, WithUniqueFields("Deals", "External_Id"))
	want := map[string]map[string]any{
		"Contacts": {"Last_Name": "text", "Email": "email", "Account_Name": "lookup", "Date_of_Birth": "date", "Email_Opt_Out": "boolean", "External_Id": "bigint", "Owner": "ownerlookup", "Created_Time": "datetime"},
		"Leads":    {"Company": "text", "Annual_Revenue": "currency", "No_of_Employees": "integer", "Product_Interest": "multiselectpicklist", "Website": "website", "Lead_Status": "picklist"},
		"Accounts": {"Account_Name": "text", "Employees": "integer", "Account_Type": "picklist"},
		"Deals":    {"Deal_Name": "text", "Stage": "picklist", "Closing_Date": "date", "Amount": "currency", "Contact_Name": "lookup"},
	}
	for module, types := range want {
		status, out := c.call("GET", "/crm/v8/settings/fields?module="+module, nil)
		if status != 200 {
			t.Fatalf("%s: HTTP %d", module, status)
		}
		got := map[string]map[string]any{}
		for _, x := range out["fields"].([]any) {
			fl := x.(map[string]any)
			got[fl["api_name"].(string)] = fl
		}
		for name, dt := range types {
			if got[name] == nil || got[name]["data_type"] != dt {
				t.Errorf("%s.%s: %v, want data_type %s", module, name, got[name], dt)
			}
		}
		switch module {
		case "Deals":
			if got["Stage"]["system_mandatory"] != true || got["Closing_Date"]["system_mandatory"] != false {
				t.Error("Deals mandatory flags wrong")
			}
			if u := got["External_Id"]["unique"].(map[string]any); len(u) == 0 {
				t.Error("unique field not shown as unique")
			}
			if lk := got["Contact_Name"]["lookup"].(map[string]any); lk["module"].(map[string]any)["api_name"] != "Contacts" {
				t.Errorf("Contact_Name lookup %v", lk)
			}
		case "Leads":
			if got["Company"]["system_mandatory"] != false || got["Created_Time"]["read_only"] != true || got["Annual_Revenue"]["json_type"] != "double" {
				t.Error("Leads flags wrong")
			}
		}
	}
}

// TestPipelines: with pipelines on, a Deal needs a Pipeline; without, it
// does not, and the field is not in the metadata.
func TestPipelines(t *testing.T) {
	deal := map[string]any{"Deal_Name": "Big", "Stage": "Qualification"}
	off := newTestClient(t)
	if status, _ := off.call("POST", "/crm/v8/Deals", data(deal)); status != 201 {
		t.Errorf("deal without pipeline, pipelines off: HTTP %d", status)
	}
	on := newTestClient(t, WithPipelines())
	status, out := on.call("POST", "/crm/v8/Deals", data(deal))
	if it := items(t, out)[0]; status != 400 || it["code"] != "MANDATORY_NOT_FOUND" || details(it)["api_name"] != "Pipeline" {
		t.Errorf("deal without pipeline, pipelines on: HTTP %d %v", status, it)
	}
	deal["Pipeline"] = "Standard (Standard)"
	if status, out := on.call("POST", "/crm/v8/Deals", data(deal)); status != 201 {
		t.Errorf("deal with pipeline: HTTP %d %v", status, out)
	}
	_, meta := on.call("GET", "/crm/v8/settings/fields?module=Deals", nil)
	found := false
	for _, f := range meta["fields"].([]any) {
		fm := f.(map[string]any)
		found = found || (fm["api_name"] == "Pipeline" && fm["system_mandatory"] == true)
	}
	if !found {
		t.Error("Pipeline is not a system-mandatory field of Deals in the metadata")
	}
}

// TestSkipFeatureExecution: the names are logged; an unknown one is the
// documented INVALID_DATA with supported_values, for the whole call.
func TestSkipFeatureExecution(t *testing.T) {
	c := newTestClient(t)
	body := map[string]any{"data": []any{map[string]any{"Last_Name": "A"}}, "skip_feature_execution": []any{map[string]any{"name": "cadences"}}}
	if status, out := c.call("POST", "/crm/v8/Leads/upsert", body); status != 200 {
		t.Fatalf("HTTP %d %v", status, out)
	}
	reqs := c.srv.Requests()
	if got := reqs[len(reqs)-1].SkipFeatures; !slices.Equal(got, []string{"cadences"}) {
		t.Errorf("logged %v", got)
	}
	body["skip_feature_execution"] = []any{map[string]any{"name": "cadences"}, map[string]any{"name": "workflows"}}
	body["data"] = []any{map[string]any{"Last_Name": "A"}, map[string]any{"Last_Name": "B"}}
	status, out := c.call("POST", "/crm/v8/Leads", body)
	it := items(t, out)[0]
	d := details(it)
	if status != 400 || it["code"] != "INVALID_DATA" || d["json_path"] != "$.skip_feature_execution[1].name" || len(items(t, out)) != 1 {
		t.Errorf("HTTP %d %v", status, out)
	}
	if sv, _ := d["supported_values"].([]any); len(sv) != 3 {
		t.Errorf("supported_values %v", d["supported_values"])
	}
	if n := len(c.srv.Records("Leads")); n != 1 {
		t.Errorf("%d leads, want only the first upsert's", n)
	}
}

// TestTagRules: tag name rules, the per-record and per-module caps of the
// edition, and GET /settings/tags.
func TestTagRules(t *testing.T) {
	c := newTestClient(t, WithEdition("professional")) // 10 per record, 60 per module
	id := c.srv.Seed("Leads", map[string]any{"Last_Name": "A"})
	body := func(tags ...string) map[string]any {
		var tl []any
		for _, n := range tags {
			tl = append(tl, map[string]any{"name": n})
		}
		return map[string]any{"tags": tl, "ids": []any{id}}
	}
	for _, bad := range []string{strings.Repeat("x", 26), "a,b", "<b>", "🎉"} {
		if status, out := c.call("POST", "/crm/v8/Leads/actions/add_tags", body(bad)); status != 400 || out["code"] != "INVALID_DATA" {
			t.Errorf("tag %q: HTTP %d %v", bad, status, out)
		}
	}
	var ten []string
	for i := range 10 {
		ten = append(ten, fmt.Sprintf("t%d", i))
	}
	if status, out := c.call("POST", "/crm/v8/Leads/actions/add_tags", body(ten...)); status != 200 {
		t.Fatalf("10 tags: HTTP %d %v", status, out)
	}
	status, out := c.call("POST", "/crm/v8/Leads/actions/add_tags", body("eleventh"))
	if it := items(t, out)[0]; status != 400 || it["code"] != "LIMIT_EXCEEDED" || details(it)["id"] != id {
		t.Errorf("11th tag: HTTP %d %v", status, out)
	}
	if got := c.srv.Tags("Leads", id); len(got) != 10 {
		t.Errorf("record has %d tags", len(got))
	}
	_, out = c.call("GET", "/crm/v8/settings/tags?module=Leads", nil)
	if tags, _ := out["tags"].([]any); len(tags) != 10 || tags[0].(map[string]any)["name"] != "t0" {
		t.Errorf("GET /settings/tags: %v", out)
	}
	for i := range 50 {
		c.srv.CreateTag("Leads", fmt.Sprintf("m%d", i))
	}
	other := c.srv.Seed("Leads", map[string]any{"Last_Name": "B"})
	status, out = c.call("POST", "/crm/v8/Leads/actions/add_tags", map[string]any{"tags": []any{map[string]any{"name": "sixty-first"}}, "ids": []any{other}})
	if status != 400 || out["code"] != "LIMIT_EXCEEDED" {
		t.Errorf("61st tag of the module: HTTP %d %v", status, out)
	}
	c.srv.SetTagCreatePermission(false)
	status, out = c.call("POST", "/crm/v8/Leads/actions/add_tags", map[string]any{"tags": []any{map[string]any{"name": "m1"}}, "ids": []any{other}})
	if status != 200 {
		t.Errorf("existing tag without create permission: HTTP %d %v", status, out)
	}
	c.srv.CreateTag("Contacts", "x")
	cid := c.srv.Seed("Contacts", map[string]any{"Last_Name": "C"})
	status, out = c.call("POST", "/crm/v8/Contacts/actions/add_tags", map[string]any{"tags": []any{map[string]any{"name": "brand-new"}}, "ids": []any{cid}})
	if status != 403 || out["code"] != "NO_PERMISSION" {
		t.Errorf("new tag without create permission: HTTP %d %v", status, out)
	}
}

// TestRefreshTokenCap: the 21st refresh token of the client revokes the
// oldest and the access tokens made from it.
func TestRefreshTokenCap(t *testing.T) {
	c := newTestClient(t)
	first := c.srv.Credentials().RefreshToken
	at := c.mint(first)
	for i := range 20 {
		c.srv.AddRefreshToken(fmt.Sprintf("1000.extra.%d", i))
	}
	if n := c.srv.LiveRefreshTokens(); n != 20 {
		t.Errorf("%d live refresh tokens, want 20", n)
	}
	if _, out := c.tokenCall(c.refreshForm(first)); out["error"] != "invalid_code" {
		t.Errorf("oldest refresh token: %v", out)
	}
	if status, _, _ := c.raw("GET", "/crm/v8/Leads?fields=Last_Name", "Zoho-oauthtoken "+at, nil); status != 401 {
		t.Errorf("access token of the revoked refresh token: HTTP %d", status)
	}
	if _, out := c.tokenCall(c.refreshForm("1000.extra.0")); out["access_token"] == nil {
		t.Errorf("second-oldest refresh token: %v", out)
	}
}
