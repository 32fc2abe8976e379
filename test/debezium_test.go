package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema/schematest"
)

// What real Debezium deployments write, through the binary: JSON-converter
// topics with FLOAT/DOUBLE columns (JsonConverter's "float" and "double"
// type names) sync; heartbeat and transaction topics put in a sync's topics
// by mistake write nothing, are committed and are reported; a MongoDB
// collection's inserts, updates and deletes reach Contacts, with a nested
// field mapped by its dotted name.
func TestRealDebeziumShapesThroughTheBinary(t *testing.T) {
	prospects := schematest.Table{Prefix: "wh", Schema: "public", Name: "prospects", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "last_name", Type: "string"},
		{Name: "email", Type: "string"},
		{Name: "company", Type: "string"},
		{Name: "score", Type: "float", Optional: true},
		{Name: "revenue", Type: "double", Optional: true},
	}}
	people := schematest.Collection{Prefix: "mongo", DB: "crm", Name: "people"}
	heartbeats, transactions := schematest.HeartbeatTopic("wh"), schematest.TransactionTopic("wh")
	topics := []string{prospects.Topic(), people.Topic(), heartbeats, transactions}
	s := newStack(t, 1, topics)
	now := time.Now()

	var recs []*kgo.Record
	for i, row := range []map[string]any{
		{"id": int64(1), "last_name": "Hopper", "email": "grace@example.com", "company": "Navy", "score": float32(0.75), "revenue": 1234567.5},
		{"id": int64(2), "last_name": "Lamarr", "email": "hedy@example.com", "company": "MGM", "score": nil, "revenue": 99.25},
	} {
		k, v, err := prospects.JSONEvent('c', nil, row, now)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: prospects.Topic(), Key: k, Value: v})
		tp, hk, hv := schematest.Heartbeat("wh", now, i == 0)
		recs = append(recs, &kgo.Record{Topic: tp, Key: hk, Value: hv})
	}
	for _, status := range []string{"BEGIN", "END"} {
		tp, k, v := schematest.Transaction("wh", status, "571:53195829", 2, map[string]int64{"wh.public.prospects": 2}, now)
		recs = append(recs, &kgo.Record{Topic: tp, Key: k, Value: v})
	}
	const (
		ada  = `{"_id": {"$oid": "596e275826f08b2730779e1f"}, "email": "ada@example.com", "name": {"first": "Ada", "last": "Byron"}, "visits": {"$numberLong": "5"}}`
		ada2 = `{"_id": {"$oid": "596e275826f08b2730779e1f"}, "email": "ada@example.com", "name": {"first": "Ada", "last": "Lovelace"}, "visits": {"$numberLong": "6"}}`
		alan = `{"_id": {"$oid": "596e275826f08b2730779e20"}, "email": "alan@example.com", "name": {"first": "Alan", "last": "Turing"}}`
	)
	for _, ev := range []struct {
		op            byte
		before, after string
	}{{'c', "", ada}, {'c', "", alan}, {'u', "", ada2}} {
		k, v, err := people.JSONEvent(ev.op, ev.before, ev.after, now, true)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: people.Topic(), Key: k, Value: v})
	}
	s.produce(recs...)
	// Alan's document is deleted later, without a pre-image: the key names
	// it, and the id Zoho gave its insert finds the contact.
	k, v, err := people.JSONEvent('d', alan, "", now, true)
	if err != nil {
		t.Fatal(err)
	}
	var del struct {
		Schema  json.RawMessage `json:"schema"`
		Payload map[string]any  `json:"payload"`
	}
	if err := json.Unmarshal(v, &del); err != nil {
		t.Fatal(err)
	}
	del.Payload["before"] = nil
	v, _ = json.Marshal(del)

	cfg := s.config(`kafka: {brokers: ["{{.Broker}}"], group_id: dbz, commit_interval: 200ms}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
syncs:
  - {name: prospects, topics: [wh.public.prospects, __debezium-heartbeat.wh, wh.transaction], format: json, module: Leads, type: model, mode: upsert, match_on: [Email],
     fields: {Last_Name: last_name, Email: email, Company: company, Annual_Revenue: revenue}, linger: 100ms}
  - {name: people, topics: [mongo.crm.people], format: json, module: Contacts, type: audience, mode: mirror, remove_action: delete, match_on: [Email],
     fields: {Email: email, First_Name: name.first, Last_Name: name.last}, linger: 100ms}
`, nil)
	p := start(t, nil, "run", "--config", cfg)
	base := "http://" + httpAddr(t, p)
	eventually(t, 60*time.Second, "the MongoDB inserts written", func() (bool, string) {
		return len(s.sim.Records("Contacts")) == 2, p.output()
	})
	s.produce(&kgo.Record{Topic: people.Topic(), Key: k, Value: v})
	for _, topic := range topics {
		eventually(t, 60*time.Second, "committed "+topic, func() (bool, string) {
			ok, why := s.committedAtEnd("dbz", topic)
			return ok, why + "\n" + p.output()
		})
	}
	_, metrics := get(t, base+"/metrics")
	_, status := get(t, base+"/status")
	p.stop(30 * time.Second)

	leads := s.sim.Records("Leads")
	if len(leads) != 2 {
		t.Fatalf("%d leads in Zoho, want the 2 prospects (and nothing from heartbeats or transaction markers): %v", len(leads), leads)
	}
	for _, l := range leads {
		if l["Last_Name"] == "Hopper" && (fmt.Sprint(l["Annual_Revenue"]) != "1234567.5" || l["Company"] != "Navy") {
			t.Errorf("Hopper's lead: %v", l)
		}
	}
	for _, want := range []string{`zohosink_records_skipped_total{reason="heartbeat",sync="prospects"} 2`, `zohosink_records_skipped_total{reason="transaction",sync="prospects"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	out := p.output()
	for _, topic := range []string{heartbeats, transactions} {
		if n := strings.Count(out, `"msg":"topic is not a table's changes","sync":"prospects","topic":"`+topic+`"`); n != 1 {
			t.Errorf("%d warnings that %s carries no row changes, want 1:\n%s", n, topic, out)
		}
	}
	if !strings.Contains(status, `"skipped": 4`) {
		t.Errorf("/status does not count the 4 skipped metadata records:\n%s", status)
	}

	contacts := s.sim.Records("Contacts")
	if len(contacts) != 1 || contacts[0]["Email"] != "ada@example.com" || contacts[0]["Last_Name"] != "Lovelace" || contacts[0]["First_Name"] != "Ada" {
		t.Fatalf("Contacts after the MongoDB insert, update and delete: %v\n%s\n%s", contacts, metrics, out)
	}
	if dls := s.deadLetters("dbz.dlq"); len(dls) != 0 {
		t.Fatalf("dead letters: %+v", dls)
	}
}
