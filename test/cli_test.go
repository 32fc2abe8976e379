package test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"zohosink/connector/dlq"
)

func TestHelpShowsExamples(t *testing.T) {
	// Help asked for goes to stdout, so it pipes into less or grep.
	for _, cmd := range [][]string{{"run"}, {"validate"}, {"demo"}, {"auth"}, {"dlq"}, {"dlq", "inspect"}, {"dlq", "replay"}, {"zoho-sim"}, {"version"}} {
		code, stdout, stderr := runCmd(t, nil, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(stdout, "Example") || !strings.Contains(stdout, "zohosink "+cmd[0]) || stderr != "" {
			t.Errorf("%v --help: exit %d, stdout:\n%s\nstderr:\n%s", cmd, code, stdout, stderr)
		}
	}
	// A wrong flag is an error on stderr, exit 2.
	code, stdout, stderr := runCmd(t, nil, "run", "--no-such-flag")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("run --no-such-flag: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "zohosink ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestValidate(t *testing.T) {
	s := newStack(t, 1, []string{"wh.public.customers"})
	env := []string{"ZOHO_SECRET=" + s.sim.Credentials().ClientSecret}
	good := s.config(`kafka: {brokers: ["{{.Broker}}"]}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "${ZOHO_SECRET}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
`, nil)
	code, stdout, stderr := runCmd(t, env, "validate", "--config", good)
	if code != 0 || !strings.Contains(stdout, "contacts") {
		t.Fatalf("valid config: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, s.sim.Credentials().ClientSecret) {
		t.Fatal("validate printed the client secret")
	}
	code, stdout, stderr = runCmd(t, env, "validate", "--config", good, "--online")
	if code != 0 || !strings.Contains(stdout, "Contacts requires") || !strings.Contains(stdout, "Last_Name") ||
		!strings.Contains(stdout, "1 of 1 topics exist") || !strings.HasSuffix(stdout, "is valid, checked online against "+s.sim.URL+"\n") {
		t.Fatalf("valid config online: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// A misspelt topic is a warning (Debezium creates topics lazily); a
	// registry out of reach is a problem, said once.
	typoTopic := s.config(strings.Replace(s.configText(`kafka: {brokers: ["{{.Broker}}"]}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
`, nil), "wh.public.customers", "wh.public.customer", 1), nil)
	code, stdout, stderr = runCmd(t, nil, "validate", "--config", typoTopic, "--online")
	if code != 0 || !strings.Contains(stdout, "warning: topic wh.public.customer does not exist (yet) (did you mean wh.public.customers?)") {
		t.Errorf("misspelt topic online: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	s.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	code, stdout, stderr = runCmd(t, nil, "validate", "--config", typoTopic, "--online")
	s.reg.ClearInterceptors()
	if code == 0 || strings.Count(stderr, "schema registry") != 1 || !strings.Contains(stderr, "cannot be reached") || strings.Contains(stdout, "is valid") {
		t.Errorf("registry down online: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// Several problems at once, each naming the sync and the key.
	bad := s.config(`kafka: {brokers: ["{{.Broker}}"]}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: mars, client_id: x, client_secret: y, refresh_token: z}
syncs:
  - {name: leads, topics: [t1], module: Leads, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
  - {name: deals, topics: [t2], module: Deals, type: model, mode: mirror, fields: {Deal_Name: name}, batch_size: 500}
  - {name: deals2, topics: [t3], module: Deals, type: model, mode: insert, fields: {Deal_Name: name}}
`, nil)
	code, stdout, stderr = runCmd(t, nil, "validate", "--config", bad)
	if code == 0 {
		t.Fatalf("invalid config accepted:\n%s", stdout)
	}
	for _, want := range []string{"zoho.data_center", `sync "leads"`, "Company", `sync "deals"`, "mode", "batch_size", `sync "deals2"`, "Stage"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the problems do not mention %q:\n%s", want, stderr)
		}
	}

	// Online: a field the org does not have.
	typo := s.config(`kafka: {brokers: ["{{.Broker}}"]}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email, Mailing_Cty: city}}
`, nil)
	code, _, stderr = runCmd(t, nil, "validate", "--config", typo, "--online")
	if code == 0 || !strings.Contains(stderr, "Mailing_Cty") || !strings.Contains(stderr, "Mailing_City") {
		t.Fatalf("an unknown field online: exit %d, stderr:\n%s", code, stderr)
	}

	// Online, against the topic's schema in the registry: a column that can
	// never fill its field, and a column the table does not have.
	s.register(contactsTable)
	types := s.config(`kafka: {brokers: ["{{.Broker}}"]}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email, Date_of_Birth: id, Mailing_City: city}}
`, nil)
	code, _, stderr = runCmd(t, nil, "validate", "--config", types, "--online")
	if code == 0 || !strings.Contains(stderr, `column "id" of topic wh.public.customers is long, field Date_of_Birth is date`) || !strings.Contains(stderr, `column "city" is not in topic wh.public.customers`) {
		t.Fatalf("column types online: exit %d, stderr:\n%s", code, stderr)
	}

	// A revoked refresh token: one clear line saying what to do.
	s.sim.RevokeRefreshToken(s.sim.Credentials().RefreshToken)
	code, _, stderr = runCmd(t, env, "validate", "--config", good, "--online")
	if code == 0 || !strings.Contains(stderr, "zohosink auth") {
		t.Fatalf("revoked token online: exit %d, stderr:\n%s", code, stderr)
	}
}

// What an operator writes in a first config: anchors under an x- key,
// merge keys that override, ${DC} holding a region's name, and a token file
// holding what zohosink auth printed. validate takes the first and points
// at the others offline, showing the variable's value but never a secret.
func TestValidateFirstConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("refresh_token", "1000.good-token\n")
	good := write("good.yaml", `x-sync: &sync {module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
kafka: {brokers: ["localhost:9092"]}
schema_registry: {url: "http://localhost:8081"}
zoho: {data_center: eu, client_id: id, client_secret: "${ZOHO_CLIENT_SECRET}", refresh_token: "file:refresh_token"}
syncs:
  - {<<: *sync, name: contacts, topics: [wh.public.customers]}
  - {<<: *sync, name: contacts-new, topics: [wh.public.signups], mode: insert, match_on: []}
`)
	env := []string{"ZOHO_CLIENT_SECRET=cs-0xDEADBEEF", "DC=europe"}
	code, stdout, stderr := runCmd(t, env, "validate", "--config", good)
	if code != 0 || !strings.Contains(stdout, "contacts-new") {
		t.Fatalf("anchors and overriding merge keys: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	write("pasted_token", "refresh_token: 1000.0xCAFEBABE\napi_domain: https://www.zohoapis.eu\n")
	bad := write("bad.yaml", strings.NewReplacer("data_center: eu", `data_center: "${DC}"`, "file:refresh_token", "file:pasted_token").Replace(readFile(t, good)))
	code, stdout, stderr = runCmd(t, env, "validate", "--config", bad)
	for _, want := range []string{
		`zoho.data_center: "europe" (from ${DC}) is not one of us, eu, in, au, jp, ca, cn, sa (write eu)`,
		"zoho.refresh_token: the secret file " + filepath.Join(dir, "pasted_token") + " holds `refresh_token: ...`; it should hold the token alone",
	} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d; the problems lack %q:\n%s%s", code, want, stdout, stderr)
		}
	}
	if out := stdout + stderr; strings.Contains(out, "CAFEBABE") || strings.Contains(out, "DEADBEEF") {
		t.Errorf("validate quoted a secret:\n%s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuthGrantToken(t *testing.T) {
	s := newStack(t, 1, nil)
	c := s.sim.Credentials()
	env := []string{"ZOHO_CLIENT_SECRET=" + c.ClientSecret}
	grant := s.sim.GrantToken("ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ", "ZohoCRM.coql.READ")
	file := filepath.Join(t.TempDir(), "refresh_token")
	code, stdout, stderr := runCmd(t, env, "auth", "--data-center", "us", "--client-id", c.ClientID,
		"--grant-token", grant, "--accounts-url", s.sim.URL, "--write", file)
	if code != 0 {
		t.Fatalf("auth: exit %d\n%s%s", code, stdout, stderr)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("--write file: %v, mode %v", err, st.Mode())
	}
	data, _ := os.ReadFile(file)
	token := strings.TrimSpace(string(data))
	if !strings.HasPrefix(token, "1000.") {
		t.Fatalf("the file holds %q, not a refresh token", data)
	}
	// With --write the token goes to the file only, never to the terminal.
	if strings.Contains(stdout+stderr, token) || !strings.Contains(stdout, "refresh_token: file:"+file) || !strings.Contains(stdout, "api_domain: "+s.sim.URL) {
		t.Fatalf("auth --write output shows the token or lacks the file and api_domain:\n%s", stdout)
	}
	if !strings.Contains(stderr, "20 refresh tokens") {
		t.Errorf("auth does not warn about Zoho's 20 refresh tokens per client:\n%s", stderr)
	}
	// Without --write it is printed, to be copied.
	grant = s.sim.GrantToken("ZohoCRM.modules.ALL")
	code, stdout, stderr = runCmd(t, env, "auth", "--client-id", c.ClientID, "--grant-token", grant, "--accounts-url", s.sim.URL)
	if code != 0 || !regexp.MustCompile(`refresh_token: 1000\.\S+`).MatchString(stdout) {
		t.Fatalf("auth without --write: exit %d\n%s%s", code, stdout, stderr)
	}
	// The grant token is single-use.
	code, _, stderr = runCmd(t, env, "auth", "--client-id", c.ClientID, "--grant-token", grant, "--accounts-url", s.sim.URL)
	if code == 0 || !strings.Contains(stderr, "zohosink auth") && !strings.Contains(strings.ToLower(stderr), "grant") {
		t.Fatalf("a used grant token: exit %d, stderr:\n%s", code, stderr)
	}
}

// Dead letters after a broken mapping: inspect shows them with their
// reasons; after the mapping is fixed, replay writes them and the replay
// does not replay twice.
func TestDeadLetterInspectAndReplay(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := rowsMissingLastName(t, enc, 30) // required by Contacts: dead-lettered at stage map
	s.produce(recs...)
	broken := s.config(stackHeader("dlq")+`syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`, nil)
	runUntilCommitted(t, s, broken, "dlq", topic)
	code, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", broken)
	if code != 0 || strings.Count(stdout, "MAPPING_ERROR") != 10 || !strings.Contains(stdout, "Last_Name") || !strings.Contains(stdout, topic) {
		t.Fatalf("dlq inspect: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", broken, "--json", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("dlq inspect --json --limit 2: exit %d, %d lines", code, len(lines))
	}
	var d dlq.Letter
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil || d.Code != "MAPPING_ERROR" || d.Field != "Last_Name" || d.Stage != "map" || d.Sync != "contacts" {
		t.Fatalf("dlq inspect --json: %v %+v", err, d)
	}

	// The fix: a constant fills the missing last name. Replay writes them.
	fixed := s.config(stackHeader("dlq")+`syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Email: email}, constants: {Last_Name: Unknown}, linger: 100ms}
`, nil)
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixed)
	if code != 0 || !strings.Contains(stdout, "replayed 10") {
		t.Fatalf("dlq replay: exit %d\n%s%s", code, stdout, stderr)
	}
	n := 0
	for _, rec := range s.sim.Records("Contacts") {
		if rec["Last_Name"] == "Unknown" {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d replayed contacts in Zoho, want 10", n)
	}
	// A second replay has nothing left to do.
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixed)
	if code != 0 || !strings.Contains(stdout, "replayed 0") {
		t.Fatalf("second replay: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestDemo(t *testing.T) {
	code, stdout, stderr := runCmd(t, nil, "demo", "--records", "40")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"consumed = written + skipped + dead-lettered", "Zoho API:", "credits", "DECODE_ERROR", "MAPPING_ERROR", "INVALID_DATA", "at the end of every partition",
		"value: schema id 9999: schema id not found in the registry"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the demo's summary lacks %q:\n%s", want, stdout)
		}
	}
	// The API line adds up: the calls of each kind it names sum to the
	// total it states.
	m := regexp.MustCompile(`Zoho API: +(\d+) calls \(([^)]*)\)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no Zoho API line naming the kinds of calls:\n%s", stdout)
	}
	sum := 0
	for _, n := range regexp.MustCompile(`(\d+) [a-z_]+`).FindAllStringSubmatch(m[2], -1) {
		k, _ := strconv.Atoi(n[1])
		sum += k
	}
	if total, _ := strconv.Atoi(m[1]); sum != total || !strings.Contains(m[2], "upsert") {
		t.Errorf("the API line's kinds (%s) sum to %d, not the %d calls it states", m[2], sum, total)
	}
	// A dead letter's row names its source once: the reason does not repeat it.
	for _, l := range strings.Split(stdout, "\n") {
		if src := regexp.MustCompile(`warehouse\.public\.\w+/\d+@\d+`).FindString(l); src != "" && strings.Count(l, src) != 1 {
			t.Errorf("the row repeats its source: %q", l)
		}
	}
}

// Replaying a group that never dead-lettered anything is not an error.
func TestReplayWithoutDeadLetters(t *testing.T) {
	s := newStack(t, 1, []string{"wh.public.customers"})
	cfg := s.config(`kafka: {brokers: ["{{.Broker}}"], group_id: fresh}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}
`, nil)
	p := start(t, nil, "dlq", "replay", "--config", cfg)
	if code := p.wait(60 * time.Second); code != 0 || !strings.Contains(p.output(), "replayed 0 dead letter(s)") || !strings.Contains(p.output(), "does not exist yet") {
		t.Fatalf("exit %d\n%s", code, p.output())
	}
}
