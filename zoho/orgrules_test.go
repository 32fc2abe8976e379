package zoho_test

// Tests of what a production Zoho org does beyond the happy path (issue 12):
// each runs the client against the simulator, or against a documented body.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"zohosink/zoho"
	"zohosink/zoho/zohotest"
)

// TestSkipFeaturesReachZoho: skip_feature_execution goes out on insert,
// update and upsert exactly as given, is absent when not asked for, and an
// unknown feature is refused by Zoho for the whole call.
func TestSkipFeaturesReachZoho(t *testing.T) {
	ctx := context.Background()
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	skip := zoho.WriteOptions{Trigger: []string{}, SkipFeatures: []string{zoho.SkipCadences}}

	res, err := c.Insert(ctx, "Contacts", []zoho.Record{contact(1)}, skip)
	mustOK(t, w, "insert", res, err, 1)
	res, err = c.Update(ctx, "Contacts", []zoho.Record{{"id": res[0].ID, "Title": "CEO"}}, skip)
	mustOK(t, w, "update", res, err, 1)
	res, err = c.Upsert(ctx, "Contacts", []zoho.Record{contact(2)}, zoho.WriteOptions{DuplicateCheckFields: []string{"Email"},
		SkipFeatures: []string{zoho.SkipCadences, zoho.SkipAssignmentRules}})
	mustOK(t, w, "upsert", res, err, 1)
	res, err = c.Upsert(ctx, "Contacts", []zoho.Record{contact(3)}, zoho.WriteOptions{})
	mustOK(t, w, "upsert without skip", res, err, 1)

	want := map[string]string{"insert": "[cadences]", "update": "[cadences]", "upsert": "[cadences assignment_rules]"}
	var seen []string
	for _, r := range srv.Requests() {
		switch r.Operation {
		case "insert", "update", "upsert":
			seen = append(seen, r.Operation+" "+strings.Join(r.SkipFeatures, ","))
		}
	}
	if got := strings.Join(seen, "; "); got != "insert cadences; update cadences; upsert cadences,assignment_rules; upsert " {
		t.Errorf("skip_feature_execution as received: %q (want %v, then none)", got, want)
	}
	if last := srv.Requests()[len(srv.Requests())-1]; last.SkipFeatures != nil || strings.Contains(string(last.Body), "skip_feature_execution") {
		t.Errorf("skip_feature_execution sent without being asked for: %s", last.Body)
	}

	_, err = c.Upsert(ctx, "Contacts", []zoho.Record{contact(4)}, zoho.WriteOptions{SkipFeatures: []string{"cadence"}})
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), "INVALID_DATA") || !strings.Contains(err.Error(), "$.skip_feature_execution[0].name") || !strings.Contains(err.Error(), "cadences") {
		t.Errorf("unknown feature: err = %v, want a fatal INVALID_DATA for the call", err)
	}
	if err := zoho.ValidateSkipFeatures([]string{"cadences", "connected_workflows", "assignment_rules"}); err != nil {
		t.Errorf("ValidateSkipFeatures refused Zoho's names: %v", err)
	}
	if err := zoho.ValidateSkipFeatures([]string{"cadence"}); err == nil {
		t.Error("ValidateSkipFeatures accepted an unknown name")
	}
}

// TestTagCapIsPerRecord: a record already holding the edition's most tags
// is refused alone, as a per-record error; the other records are tagged and
// the call does not fail, even when every record is over the cap.
func TestTagCapIsPerRecord(t *testing.T) {
	ctx := context.Background()
	w := watchSecrets(t)
	srv := newSim(t) // standard: 5 tags per record
	c := simClient(t, srv, w)
	full := srv.Seed("Contacts", map[string]any{"Last_Name": "Full"})
	srv.SetTags("Contacts", full, "t1", "t2", "t3", "t4", "t5")
	free := srv.Seed("Contacts", map[string]any{"Last_Name": "Free"})

	res, err := c.AddTags(ctx, "Contacts", []string{full, free}, []string{"audience"})
	if w.Err(err) != nil {
		t.Fatalf("AddTags: %v (a per-record cap must not fail the call)", err)
	}
	if len(res) != 2 || res[0].OK() || !res[1].OK() {
		t.Fatalf("results %+v, want the full record refused and the other tagged", res)
	}
	if re := res[0].Err; re.Code != "LIMIT_EXCEEDED" || zoho.ClassOf(re) != zoho.PerRecord || !strings.Contains(re.Message, "most tags") || res[0].ID != full {
		t.Errorf("full record: %+v (id %s), want a per-record LIMIT_EXCEEDED explaining the tag cap", re, res[0].ID)
	}
	if got := srv.Tags("Contacts", free); len(got) != 1 || got[0] != "audience" {
		t.Errorf("other record's tags %v", got)
	}

	// Every record over the cap: still record by record.
	srv.SetTags("Contacts", free, "t1", "t2", "t3", "t4", "t5")
	res, err = c.AddTags(ctx, "Contacts", []string{full, free}, []string{"audience2"})
	if w.Err(err) != nil {
		t.Fatalf("AddTags with every record over the cap: %v, want per-record results", err)
	}
	for i, r := range res {
		if r.OK() || r.Err.Code != "LIMIT_EXCEEDED" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if zoho.MaxTagsPerRecord("standard") != 5 || zoho.MaxTagsPerRecord("enterprise") != 10 || zoho.MaxTagsPerModule("ultimate") != 200 {
		t.Error("tag limits by edition")
	}
}

// TestTagModuleCapIsFatal: a module holding the edition's most tags cannot
// get a new one: the call fails as a whole, and a person must act.
func TestTagModuleCapIsFatal(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	for i := range 20 {
		srv.CreateTag("Leads", "tag"+string(rune('a'+i)))
	}
	id := srv.Seed("Leads", map[string]any{"Last_Name": "L"})
	_, err := c.AddTags(context.Background(), "Leads", []string{id}, []string{"one-too-many"})
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), "LIMIT_EXCEEDED") || !strings.Contains(err.Error(), "the most tags its edition allows") {
		t.Errorf("err = %v, want fatal LIMIT_EXCEEDED about the module's tags", err)
	}
}

// TestTagCreationNeedsPermission: a user without the right to create tags
// can tag with existing tags only; a new tag fails the call with a hint,
// and TagExists explains it.
func TestTagCreationNeedsPermission(t *testing.T) {
	ctx := context.Background()
	w := watchSecrets(t)
	srv := newSim(t, zohotest.WithoutTagCreatePermission())
	c := simClient(t, srv, w)
	id := srv.Seed("Contacts", map[string]any{"Last_Name": "A"})

	ok, err := c.TagExists(ctx, "Contacts", "Newsletter")
	if w.Err(err) != nil || ok {
		t.Fatalf("TagExists before creation = %v, %v", ok, err)
	}
	_, err = c.AddTags(ctx, "Contacts", []string{id}, []string{"Newsletter"})
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), "NO_PERMISSION") || !strings.Contains(err.Error(), "create the tag in Zoho CRM first") {
		t.Errorf("err = %v, want fatal NO_PERMISSION saying to create the tag", err)
	}
	srv.CreateTag("Contacts", "Newsletter")
	if ok, err := c.TagExists(ctx, "Contacts", "newsletter"); w.Err(err) != nil || !ok {
		t.Errorf("TagExists after creation = %v, %v", ok, err)
	}
	res, err := c.AddTags(ctx, "Contacts", []string{id}, []string{"Newsletter"})
	mustOK(t, w, "tag with an existing tag", res, err, 1)

	// A token without the tags scope: Fatal, naming the scope.
	srv.AddRefreshToken("1000.notags", "ZohoCRM.modules.ALL")
	cr := srv.Credentials()
	w.Secret("1000.notags")
	c2 := simClient(t, srv, w, zoho.WithCredentials(cr.ClientID, cr.ClientSecret, "1000.notags"))
	_, err = c2.TagExists(ctx, "Contacts", "Newsletter")
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), zoho.TagsScope) {
		t.Errorf("without the tags scope: %v", err)
	}
}

func TestValidateTagName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"audience", true}, {"VIP 2026", true}, {"café-ü", true}, {strings.Repeat("x", 25), true},
		{strings.Repeat("x", 26), false}, {"", false}, {"  ", false}, {"a,b", false}, {"<b>", false},
		{"x>y", false}, {"party 🎉", false}, {"star ⭐", false}, {"tab\there", false},
	} {
		if err := zoho.ValidateTagName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateTagName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	// The client refuses a bad name before sending anything.
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	srv.ResetRequests()
	if _, err := c.AddTags(context.Background(), "Contacts", []string{"1"}, []string{"a,b"}); !zoho.IsFatal(w.Err(err)) {
		t.Errorf("bad tag name: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for a bad tag name", n)
	}
}

// TestSandboxKeepsItsHost: a sandbox client whose token answer names the
// production host keeps calling the sandbox host (and logs the mismatch);
// only WithAPIDomain overrides it; production follows the token answer.
func TestSandboxKeepsItsHost(t *testing.T) {
	for _, tt := range []struct {
		env, apiDomain, want string
	}{
		{"sandbox", "", "https://sandbox.zohoapis.eu"},
		{"developer", "", "https://developer.zohoapis.eu"},
		{"production", "", "https://www.zohoapis.com"},
		{"sandbox", "https://proxy.example.com", "https://proxy.example.com"},
	} {
		t.Run(tt.env+" "+tt.apiDomain, func(t *testing.T) {
			w := watchSecrets(t)
			srv := newSim(t)
			srv.SetBaseURL("https://www.zohoapis.com") // Zoho names the production host
			opts := []zoho.Opt{zoho.WithDataCenter("eu"), zoho.WithEnvironment(tt.env)}
			if tt.apiDomain != "" {
				opts = append(opts, zoho.WithAPIDomain(tt.apiDomain))
			}
			c := simClient(t, srv, w, opts...)
			if err := c.CheckToken(context.Background()); w.Err(err) != nil {
				t.Fatal(err)
			}
			if got := c.APIDomain(); got != tt.want {
				t.Errorf("APIDomain() = %s, want %s", got, tt.want)
			}
			logged := strings.Contains(w.log.String(), "api_domain_from_token=https://www.zohoapis.com")
			if want := tt.env != "production" && tt.apiDomain == ""; logged != want {
				t.Errorf("mismatch logged = %v, want %v; log:\n%s", logged, want, w.log.String())
			}
		})
	}
}

// TestRefreshTokenLimit: the 21st grant-token exchange silently revokes the
// oldest refresh token; a client still using it then stops with a fatal
// error.
func TestRefreshTokenLimit(t *testing.T) {
	ctx := context.Background()
	w := watchSecrets(t)
	srv := newSim(t)
	cr := srv.Credentials()
	for range zoho.MaxRefreshTokensPerClient { // the provisioned token plus 20 more
		g, err := zoho.ExchangeCode(ctx, nil, srv.URL, cr.ClientID, cr.ClientSecret, "", srv.GrantToken())
		if w.Err(err) != nil {
			t.Fatal(err)
		}
		w.Secret(g.RefreshToken, g.AccessToken)
	}
	if n := srv.LiveRefreshTokens(); n != zoho.MaxRefreshTokensPerClient {
		t.Errorf("%d live refresh tokens, want %d", n, zoho.MaxRefreshTokensPerClient)
	}
	c := simClient(t, srv, w)
	err := c.CheckToken(ctx)
	_ = w.Err(err)
	if !zoho.IsFatal(err) || !strings.Contains(err.Error(), "invalid or revoked") {
		t.Errorf("oldest refresh token after the 21st: %v, want fatal invalid_code", err)
	}
	if !strings.Contains(zoho.RefreshTokenLimitWarning, "20") {
		t.Error("RefreshTokenLimitWarning does not name the limit")
	}
}

// TestMultipleErrorsUnpacked: Zoho's documented MULTIPLE_OR_MULTI_ERRORS body
// (crm-oas upsertRecords, response-400-multipleerrors) becomes one
// per-record error naming every field and reason.
func TestMultipleErrorsUnpacked(t *testing.T) {
	body := []byte(`{"data":[{"code":"MULTIPLE_OR_MULTI_ERRORS","details":{"errors":[
	 {"code":"DUPLICATE_DATA","details":{"api_name":"Email","duplicate_record":{"Owner":{"name":"Prajesh Kumar S","id":"4881139000000307001","zuid":"736078909"},"module":{"api_name":"Leads","id":"4881139000000002175"},"id":"4881139000000428295"},"json_path":"$.data[0].Email","more_records":true},"message":"duplicate data","status":"error"},
	 {"code":"DUPLICATE_DATA","details":{"api_name":"Mobile","duplicate_record":{"Owner":{"name":"Prajesh Kumar S","id":"4881139000000307001","zuid":"736078909"},"module":{"api_name":"Leads","id":"4881139000000002175"},"id":"4881139000002432007"},"json_path":"$.data[0].Mobile","more_records":true},"message":"duplicate data","status":"error"}]},
	 "message":"Multiple errors in the request","status":"error"}]}`)
	w := watchSecrets(t)
	r := newReplay(t)
	r.answer(http.StatusBadRequest, body, nil)
	c := r.client(t, w)
	res, err := c.Upsert(context.Background(), "Leads", []zoho.Record{{"Last_Name": "P", "Email": "p@x.io", "Mobile": "555"}}, zoho.WriteOptions{})
	if w.Err(err) != nil {
		t.Fatalf("Upsert: %v, want a per-record error", err)
	}
	re := res[0].Err
	if re == nil || zoho.ClassOf(re) != zoho.PerRecord || len(re.Errors) != 2 {
		t.Fatalf("result %+v, want a per-record error with 2 errors", res[0])
	}
	if re.Code != "DUPLICATE_DATA" || re.APIName != "Email" || !strings.Contains(re.Message, "Email=p@x.io") || !strings.Contains(re.Message, "Mobile=555") {
		t.Errorf("error %q (code %s, field %s), want DUPLICATE_DATA naming Email and Mobile with their values", re.Message, re.Code, re.APIName)
	}
	if re.Errors[1].APIName != "Mobile" || re.Errors[1].Details["more_records"] != true {
		t.Errorf("second error %+v", re.Errors[1])
	}
}

// TestUpsertAmbiguousKey: two contacts share an Email (a duplicate-check
// field that is not unique); an upsert by Email updates neither and comes
// back as a per-record error saying why.
func TestUpsertAmbiguousKey(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	a := srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Email": "twin@example.com"})
	srv.Seed("Contacts", map[string]any{"Last_Name": "B", "Email": "twin@example.com"})
	res, err := c.Upsert(context.Background(), "Contacts", []zoho.Record{{"Last_Name": "C", "Email": "twin@example.com"}},
		zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}})
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	re := res[0].Err
	if re == nil || re.Code != "DUPLICATE_DATA" || zoho.ClassOf(re) != zoho.PerRecord {
		t.Fatalf("result %+v, want a per-record DUPLICATE_DATA", res[0])
	}
	if want := "2 or more Contacts match Email=twin@example.com; Zoho cannot tell which to update"; !strings.Contains(re.Message, want) {
		t.Errorf("message %q does not say %q", re.Message, want)
	}
	if res[0].ID != a {
		t.Errorf("result id %s, want the first matching record %s", res[0].ID, a)
	}
	for _, rec := range srv.Records("Contacts") {
		if rec["Last_Name"] == "C" {
			t.Error("an ambiguous upsert changed a record")
		}
	}
}

// TestUpsertMatchesOtherUniqueField: a row that misses on the listed
// duplicate-check field but holds another record's unique External_Id
// updates that record.
func TestUpsertMatchesOtherUniqueField(t *testing.T) {
	w := watchSecrets(t)
	srv := newSim(t)
	c := simClient(t, srv, w)
	a := srv.Seed("Contacts", map[string]any{"Last_Name": "A", "Email": "old@example.com", "External_Id": "77"})
	res, err := c.Upsert(context.Background(), "Contacts", []zoho.Record{{"Last_Name": "A2", "Email": "new@example.com", "External_Id": "77"}},
		zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}})
	mustOK(t, w, "upsert", res, err, 1)
	if res[0].ID != a || res[0].Action != "update" || res[0].DuplicateField != "External_Id" {
		t.Errorf("result %+v, want an update of %s matched on External_Id", res[0], a)
	}
	if n := len(srv.Records("Contacts")); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
	fields, err := c.Fields(context.Background(), "Contacts")
	if w.Err(err) != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f.APIName == "External_Id" && !f.Unique {
			t.Error("External_Id is not unique in the fields metadata")
		}
	}
}
