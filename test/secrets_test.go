package test

import (
	"strings"
	"testing"
	"time"
)

// secretsConfig has a password in every place a config can carry one: the
// schema registry's URL, Kafka's SASL settings, and the Zoho secrets.
const secretsConfig = `kafka: {brokers: ["{{.Broker}}"], group_id: sec, commit_interval: 200ms{{.SASL}}}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
log: {level: debug, progress_interval: 1s}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`

const (
	registryPassword = "REG-PASSWORD-7f3a"
	saslPassword     = "SASL-PASSWORD-91bc"
)

// noSecret fails the test when any secret appears in text.
func noSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%.6s...) appears in %s:\n%s", s, where, text)
		}
	}
}

// A password written in the schema registry's URL appears nowhere while
// the registry is down: not in the logs (at debug level), /status, /readyz,
// /metrics, validate --online or dlq inspect. The log says, in a WARN, why
// the sync is retrying and repeats the reason in its progress lines; the
// warnings of the records waiting on the registry fold into one line with a
// count, also on the way out.
func TestRegistryPasswordInURLNeverShown(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	s.produce(contactRows(t, enc, 40)...)
	down := "http://bob:" + registryPassword + "@" + freeAddr(t)
	cfg := s.config(secretsConfig, map[string]string{"Registry": down, "SASL": ""})
	c := s.sim.Credentials()
	secrets := []string{registryPassword, c.ClientSecret, c.RefreshToken}

	p := start(t, nil, "run", "--config", cfg)
	base := "http://" + httpAddr(t, p)
	var status string
	eventually(t, 30*time.Second, "/status shows the sync retrying on the registry", func() (bool, string) {
		_, status = get(t, base+"/status")
		return strings.Contains(status, `"state": "retrying"`) && strings.Contains(status, "registry"), status
	})
	eventually(t, 30*time.Second, "a WARN and a progress line with the reason", func() (bool, string) {
		out := p.output()
		return strings.Contains(out, `"level":"WARN","msg":"sync retrying","sync":"contacts","reason":"`) &&
			strings.Contains(out, `"msg":"progress","sync":"contacts","state":"retrying"`), out
	})
	_, readyz := get(t, base+"/readyz")
	_, metrics := get(t, base+"/metrics")
	p.stop(30 * time.Second)
	out := p.output()
	for where, text := range map[string]string{"the logs": out, "/status": status, "/readyz": readyz, "/metrics": metrics} {
		noSecret(t, where, text, secrets...)
	}
	if !strings.Contains(out, "bob:xxxxx@") && !strings.Contains(status, "127.0.0.1") {
		t.Errorf("neither the logs nor /status name the registry that is down:\n%s\n%s", status, out)
	}
	// 40 records waited on the registry: their warnings fold, and the count
	// is written on the way out.
	if n := strings.Count(out, `"msg":"schema registry unavailable, retrying"`); n > 3 || !strings.Contains(out, `"repeated":`) {
		t.Errorf("%d registry warnings (want them folded into at most 3 lines, one with a count):\n%s", n, out)
	}

	code, stdout, stderr := runCmd(t, nil, "validate", "--config", cfg, "--online")
	if code == 0 || !strings.Contains(stdout+stderr, "schema registry") {
		t.Errorf("validate --online with the registry down: exit %d\n%s%s", code, stdout, stderr)
	}
	noSecret(t, "validate --online", stdout+stderr, secrets...)
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", cfg)
	noSecret(t, "dlq inspect", stdout+stderr, secrets...)
	if code != 0 {
		t.Errorf("dlq inspect: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A SASL password and a listener that speaks no SASL: the log tells the
// story /readyz tells (a WARN naming the setting to check), and the
// password appears nowhere.
func TestKafkaMismatchIsLoggedWithoutPassword(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	cfg := s.config(secretsConfig, map[string]string{"SASL": ", sasl: {mechanism: scram-sha-256, username: u, password: " + saslPassword + "}"})
	p := start(t, nil, "run", "--config", cfg)
	base := "http://" + httpAddr(t, p)
	eventually(t, 60*time.Second, "a WARN naming kafka.sasl", func() (bool, string) {
		out := p.output()
		i := strings.Index(out, `"msg":"sync retrying"`)
		return i >= 0 && strings.Contains(out[i:], "kafka.sasl"), out
	})
	_, readyz := get(t, base+"/readyz")
	_, status := get(t, base+"/status")
	p.stop(30 * time.Second)
	for where, text := range map[string]string{"the logs": p.output(), "/status": status, "/readyz": readyz} {
		noSecret(t, where, text, saslPassword)
	}
	code, stdout, stderr := runCmd(t, nil, "validate", "--config", cfg, "--online")
	noSecret(t, "validate --online", stdout+stderr, saslPassword)
	if code == 0 {
		t.Errorf("validate --online with a SASL mismatch passed:\n%s%s", stdout, stderr)
	}
}

// Zoho's URLs take no user or password (Zoho authenticates with OAuth): a
// config holding one is refused, naming the key and not the password.
func TestZohoURLsWithPasswordsRefused(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	host := strings.TrimPrefix(s.sim.URL, "http://")
	cfg := strings.Replace(secretsConfig, `api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"`,
		`api_domain: "http://api:API-PASSWORD-1@`+host+`", accounts_url: "http://acc:ACC-PASSWORD-2@`+host+`"`, 1)
	path := s.config(cfg, map[string]string{"SASL": ""})
	for _, args := range [][]string{{"validate", "--config", path}, {"run", "--config", path}, {"dlq", "inspect", "--config", path}} {
		code, stdout, stderr := runCmd(t, nil, args...)
		out := stdout + stderr
		if code == 0 || !strings.Contains(out, "zoho.api_domain: holds a user or password") || !strings.Contains(out, "zoho.accounts_url: holds a user or password") {
			t.Errorf("%s: exit %d\n%s", args[0], code, out)
		}
		noSecret(t, strings.Join(args[:1], " "), out, "API-PASSWORD-1", "ACC-PASSWORD-2")
	}
}
