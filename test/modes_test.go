package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema/schematest"
)

// A table with a column for every module's fields, so one shape serves
// every sync of the mode test.
func crmTable(name string) schematest.Table {
	return schematest.Table{Prefix: "wh", Schema: "public", Name: name, Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "email", Type: "string", Optional: true},
		{Name: "first_name", Type: "string", Optional: true},
		{Name: "last_name", Type: "string", Optional: true},
		{Name: "company", Type: "string", Optional: true},
		{Name: "account_name", Type: "string", Optional: true},
		{Name: "deal_name", Type: "string", Optional: true},
		{Name: "stage", Type: "string", Optional: true},
		{Name: "amount", Type: "decimal(12,2)", Optional: true},
		{Name: "closing_date", Type: "date", Optional: true},
	}}
}

// moduleFields maps each module's fields and its match field.
var moduleFields = map[string]struct {
	fields string
	match  string
	column string // the column holding the match value
}{
	"Contacts": {"{Last_Name: last_name, First_Name: first_name, Email: email}", "Email", "email"},
	"Leads":    {"{Last_Name: last_name, First_Name: first_name, Email: email, Company: company}", "Email", "email"},
	"Accounts": {"{Account_Name: account_name}", "Account_Name", "account_name"},
	"Deals":    {"{Deal_Name: deal_name, Stage: stage, Amount: amount, Closing_Date: closing_date}", "Deal_Name", "deal_name"},
}

type modeCase struct {
	sync, module, typ, mode string
}

// row builds a row whose match value is unique to the sync and key.
func row(c modeCase, id int64, version string) map[string]any {
	tag := fmt.Sprintf("%s-%d", c.sync, id)
	return map[string]any{
		"id": id, "email": tag + "@modes.example", "first_name": "F" + version, "last_name": "L-" + tag + "-" + version,
		"company": "Co " + version, "account_name": "Acct " + tag, "deal_name": "Deal " + tag, "stage": "Stage " + version,
		"amount": "100." + fmt.Sprintf("%02d", len(version)), "closing_date": time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC),
	}
}

func TestModeTableEndToEnd(t *testing.T) {
	var cases []modeCase
	for _, m := range []string{"Contacts", "Leads", "Accounts", "Deals"} {
		for _, mode := range []string{"upsert", "insert", "update"} {
			cases = append(cases, modeCase{strings.ToLower(m) + "_" + mode, m, "model", mode})
		}
	}
	for _, mode := range []string{"add", "upsert", "remove", "mirror"} {
		cases = append(cases, modeCase{"audience_" + mode, "Contacts", "audience", mode})
		cases = append(cases, modeCase{"leads_audience_" + mode, "Leads", "audience", mode})
	}
	var topics []string
	for _, c := range cases {
		topics = append(topics, "wh.public."+c.sync)
	}
	s := newStack(t, 1, topics)

	var cfg strings.Builder
	cfg.WriteString(stackHeader("modes") + `log: {level: info}
syncs:
`)
	for _, c := range cases {
		mf := moduleFields[c.module]
		fmt.Fprintf(&cfg, "  - {name: %s, topics: [wh.public.%s], module: %s, type: %s, mode: %s, match_on: [%s], fields: %s, linger: 100ms",
			c.sync, c.sync, c.module, c.typ, c.mode, mf.match, mf.fields)
		if c.typ == "audience" {
			cfg.WriteString(", tag: Members")
			if c.mode == "remove" || c.mode == "mirror" {
				cfg.WriteString(", remove_action: untag")
			}
		}
		cfg.WriteString("}\n")
	}
	path := s.config(cfg.String(), nil)

	// Per sync: key 1 is created (c) then updated (u); key 2 is read by a
	// snapshot (r), then deleted (d) with its tombstone. Update and remove
	// syncs act on records that exist in Zoho already.
	var recs []*kgo.Record
	for _, c := range cases {
		enc := s.register(crmTable(c.sync))
		mf := moduleFields[c.module]
		a1, a2, b1 := row(c, 1, "v1"), row(c, 1, "v2"), row(c, 2, "v1")
		if c.mode == "update" || c.mode == "remove" {
			for _, r := range []map[string]any{a1, b1} {
				rec := map[string]any{mf.match: r[mf.column], "Last_Name": "seeded", "Company": "seeded", "Account_Name": r["account_name"], "Deal_Name": r["deal_name"], "Stage": "seeded"}
				id := s.sim.Seed(c.module, rec)
				if c.mode == "remove" {
					s.sim.SetTags(c.module, id, "Members")
				}
			}
		}
		recs = append(recs,
			event(t, enc, 'c', nil, a1),
			event(t, enc, 'r', nil, b1),
			event(t, enc, 'u', a1, a2),
			event(t, enc, 'd', b1, nil),
			tombstone(t, enc, b1),
		)
	}
	s.produce(recs...)

	p := start(t, nil, "run", "--config", path)
	eventually(t, 60*time.Second, "all offsets committed", func() (bool, string) { return s.committedAtEnd("modes", topics...) })
	p.stop(30 * time.Second)

	for _, c := range cases {
		t.Run(c.sync, func(t *testing.T) {
			mf := moduleFields[c.module]
			find := func(r map[string]any) (map[string]any, bool) {
				for _, rec := range s.sim.Records(c.module) {
					if strings.EqualFold(fmt.Sprint(rec[mf.match]), fmt.Sprint(r[mf.column])) {
						return rec, true
					}
				}
				return nil, false
			}
			a1, a2, b1 := row(c, 1, "v1"), row(c, 1, "v2"), row(c, 2, "v1")
			a, aOK := find(a1)
			b, bOK := find(b1)
			tagged := func(rec map[string]any) bool {
				for _, tg := range s.sim.Tags(c.module, fmt.Sprint(rec["id"])) {
					if tg == "Members" {
						return true
					}
				}
				return false
			}
			// versionOf tells which version of key 1 Zoho holds, from a
			// field the sync writes.
			versionOf := func(rec map[string]any) string {
				switch c.module {
				case "Deals":
					return strings.TrimPrefix(fmt.Sprint(rec["Stage"]), "Stage ")
				case "Accounts":
					return "n/a" // Account_Name is the key itself
				}
				return strings.TrimPrefix(fmt.Sprint(rec["First_Name"]), "F")
			}
			want := map[string]struct {
				aExists, bExists bool
				aVersion         string // "" = don't care
				aTagged, bTagged int    // 1 yes, 0 no, -1 don't care
			}{
				"model/upsert":    {true, true, "v2", -1, -1},
				"model/insert":    {true, true, "v1", -1, -1},
				"model/update":    {true, true, "v2", -1, -1},
				"audience/add":    {true, true, "v1", 1, 1},
				"audience/upsert": {true, true, "v2", 1, 1},
				"audience/remove": {true, true, "", 1, 0},
				"audience/mirror": {true, true, "v2", 1, 0},
			}[c.typ+"/"+c.mode]
			if aOK != want.aExists || bOK != want.bExists {
				t.Fatalf("key 1 in Zoho: %v (want %v), key 2: %v (want %v)", aOK, want.aExists, bOK, want.bExists)
			}
			if want.aVersion != "" && c.module != "Accounts" {
				if got := versionOf(a); got != want.aVersion {
					t.Errorf("key 1 holds version %q, want %q (record %v)", got, want.aVersion, a)
				}
			}
			if c.mode == "update" && c.module != "Accounts" && fmt.Sprint(b["Last_Name"]) == "seeded" && c.module != "Deals" {
				t.Errorf("key 2 was not updated by its snapshot read: %v", b)
			}
			if want.aTagged >= 0 && tagged(a) != (want.aTagged == 1) {
				t.Errorf("key 1 tagged %v, want %v", tagged(a), want.aTagged == 1)
			}
			if want.bTagged >= 0 && tagged(b) != (want.bTagged == 1) {
				t.Errorf("key 2 tagged %v, want %v", tagged(b), want.bTagged == 1)
			}
			_ = a2
		})
	}
	if dls := s.deadLetters("modes.dlq"); len(dls) != 0 {
		t.Errorf("%d records dead-lettered, want none: first %+v", len(dls), dls[0])
	}
	// No Cadence emails the synced records: every write skips cadences,
	// the default of skip_features.
	writes := 0
	for _, r := range s.sim.Requests() {
		switch r.Operation {
		case "insert", "update", "upsert":
			writes++
			if len(r.SkipFeatures) != 1 || r.SkipFeatures[0] != "cadences" {
				t.Errorf("%s %s without skip_feature_execution [cadences]: %q", r.Operation, r.Module, r.SkipFeatures)
			}
		}
	}
	if writes == 0 {
		t.Error("no writes in the request log")
	}
}
