package test

import (
	"strings"
	"testing"

	"zohosink/zoho/zohotest"
)

// validate --online tells, before the first write, what a real org would
// refuse: an upsert matched on a field that is neither the module's
// duplicate-check field nor unique, and an audience tag that does not exist
// yet (creating it needs permissions the token's user may lack).
func TestValidateOnlineKnowsTheOrgsRules(t *testing.T) {
	s := newStack(t, 1, []string{"wh.public.customers", "wh.public.members"}, zohotest.WithoutTagCreatePermission())
	s.register(contactsTable)
	cfg := s.config(`kafka: {brokers: ["{{.Broker}}"], group_id: org}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: by_name, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Last_Name], fields: {Last_Name: last_name, Email: email}}
  - {name: members, topics: [wh.public.members], module: Contacts, type: audience, mode: add, match_on: [Email], tag: Newsletter, fields: {Last_Name: last_name, Email: email}}
`, nil)
	code, stdout, stderr := runCmd(t, nil, "validate", "--config", cfg, "--online")
	out := stdout + stderr
	if code == 0 || !strings.Contains(out, `sync "by_name": syncs[0].match_on[0]: Last_Name is neither Contacts's duplicate-check field (Email) nor a unique field`) {
		t.Errorf("match_on on a plain field: exit %d\n%s", code, out)
	}
	// Each online command takes one of Zoho's 10 access tokens per 10
	// minutes, shared with a running deployment: validate says so.
	if !strings.Contains(out, "this minted 1 of the 10 access tokens Zoho allows per refresh token in 10 minutes") {
		t.Errorf("validate --online does not say it took one of Zoho's 10 tokens:\n%s", out)
	}
	if !strings.Contains(out, `warning: sync "members": syncs[1].tag: tag "Newsletter" does not exist in Contacts yet`) {
		t.Errorf("a tag that does not exist yet is not named:\n%s", out)
	}
	// Once the tag exists there is nothing to say about it.
	s.sim.CreateTag("Contacts", "Newsletter")
	_, stdout, stderr = runCmd(t, nil, "validate", "--config", cfg, "--online")
	if strings.Contains(stdout+stderr, `tag "Newsletter" does not exist`) {
		t.Errorf("the tag exists now, yet:\n%s%s", stdout, stderr)
	}
}

// A record that already carries as many tags as Zoho allows (5 on
// Standard) cannot take the audience's tag: Zoho answers LIMIT_EXCEEDED for
// that record alone, which is dead-lettered with the reason while the
// others are tagged and the sync goes on.
func TestTagCapIsPerRecord(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	full := s.sim.Seed("Contacts", map[string]any{"Last_Name": "Full", "Email": email(1)})
	if !s.sim.SetTags("Contacts", full, "t1", "t2", "t3", "t4", "t5") {
		t.Fatal("could not tag the seeded contact")
	}
	s.produce(contactRows(t, enc, 4)...)
	cfg := s.config(stackHeader("tags")+`syncs:
  - {name: members, topics: [wh.public.customers], module: Contacts, type: audience, mode: add, match_on: [Email], tag: Newsletter, fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`, nil)
	runUntilCommitted(t, s, cfg, "tags", topic)
	dls := s.deadLetters("tags.dlq")
	if len(dls) != 1 || dls[0].Code != "LIMIT_EXCEEDED" || !strings.Contains(dls[0].Message, "written but not tagged") {
		t.Fatalf("dead letters %+v, want the one contact with 5 tags, LIMIT_EXCEEDED", dls)
	}
	tagged := 0
	for _, rec := range s.sim.Records("Contacts") {
		for _, tg := range s.sim.Tags("Contacts", rec["id"].(string)) {
			if tg == "Newsletter" {
				tagged++
			}
		}
	}
	if tagged != 3 {
		t.Fatalf("%d contacts tagged Newsletter, want the other 3", tagged)
	}
}

// Two contacts share an email (Email is Zoho's duplicate-check field for
// Contacts, but not unique): an upsert matched on it cannot tell which to
// update. The row is dead-lettered with Zoho's DUPLICATE_DATA, saying so,
// and neither contact is changed.
func TestUpsertMatchingSeveralRecordsIsDeadLettered(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	a := s.sim.Seed("Contacts", map[string]any{"Last_Name": "Twin A", "Email": email(0)})
	b := s.sim.Seed("Contacts", map[string]any{"Last_Name": "Twin B", "Email": email(0)})
	s.produce(contactRows(t, enc, 2)...)
	cfg := s.config(stackHeader("twins")+`syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`, nil)
	runUntilCommitted(t, s, cfg, "twins", topic)
	dls := s.deadLetters("twins.dlq")
	if len(dls) != 1 || dls[0].Code != "DUPLICATE_DATA" || !strings.Contains(dls[0].Message, "2 or more Contacts match") {
		t.Fatalf("dead letters %+v, want the row whose email two contacts share", dls)
	}
	for _, id := range []string{a, b} {
		if rec, _ := s.sim.Record("Contacts", id); !strings.HasPrefix(rec["Last_Name"].(string), "Twin") {
			t.Errorf("contact %s was changed: %v", id, rec)
		}
	}
	if n := len(s.sim.Records("Contacts")); n != 3 {
		t.Errorf("%d contacts, want the twins and the other row's", n)
	}
}
