package test

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics written by the JSON converter with schemas.enable=false carry
// Debezium's dates as day counts and its decimals as base64: zohosink
// cannot know what they mean, and its dead letters say so and what to set.
// validate --online does not look for the schemas of such syncs in the
// registry.
func TestSchemalessJSONSaysWhatTheValuesAre(t *testing.T) {
	s := newStack(t, 1, []string{"wh.public.people", "wh.public.prospects"})
	s.produce(
		&kgo.Record{Topic: "wh.public.people", Key: []byte(`{"id":1}`),
			Value: []byte(`{"before":null,"after":{"id":1,"last_name":"Lovelace","email":"ada@example.com","born":-56270},"source":{"connector":"postgresql","ts_ms":1700000000000},"op":"c","ts_ms":1700000000000}`)},
		&kgo.Record{Topic: "wh.public.prospects", Key: []byte(`{"id":2}`),
			Value: []byte(`{"before":null,"after":{"id":2,"last_name":"Hopper","email":"grace@example.com","company":"Navy","revenue":"AeJA"},"source":{"connector":"postgresql","ts_ms":1700000000000},"op":"c","ts_ms":1700000000000}`)},
	)
	cfg := s.config(`kafka: {brokers: ["{{.Broker}}"], group_id: schemaless, commit_interval: 200ms}
schema_registry: {url: "http://{{.Down}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
syncs:
  - {name: people, topics: [wh.public.people], format: json, module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email, Date_of_Birth: born}, linger: 100ms}
  - {name: prospects, topics: [wh.public.prospects], format: json, module: Leads, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email, Company: company, Annual_Revenue: revenue}, linger: 100ms}
`, map[string]string{"Down": freeAddr(t)})

	code, stdout, stderr := runCmd(t, nil, "validate", "--config", cfg, "--online")
	if code != 0 || strings.Contains(stdout+stderr, "registry") {
		t.Errorf("validate --online looked in the registry for format: json syncs: exit %d\n%s%s", code, stdout, stderr)
	}

	p := start(t, nil, "run", "--config", cfg)
	for _, topic := range []string{"wh.public.people", "wh.public.prospects"} {
		eventually(t, 60*time.Second, "committed", func() (bool, string) { return s.committedAtEnd("schemaless", topic) })
	}
	p.stop(30 * time.Second)
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("dlq inspect: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"-56270 is not a date: it looks like a Debezium DATE sent as days since 1970-01-01 (1815-12-10) without a schema: set value.converter.schemas.enable=true",
		`\"AeJA\" is not a decimal number: it looks like a Debezium DECIMAL sent as base64 of its unscaled value (123456 times a power of ten the schema would give) without a schema: set the Debezium connector's decimal.handling.mode=string`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the dead letters do not say %q:\n%s", want, stdout)
		}
	}
}
