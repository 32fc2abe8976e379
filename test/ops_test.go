package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/zoho/zohotest"
)

var opsConfig = stackHeader("ops") + `log: {level: debug}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email, Title: title}, linger: 100ms}
`

func httpAddr(t *testing.T, p *proc) string {
	t.Helper()
	var addr string
	eventually(t, 30*time.Second, "the HTTP endpoints", func() (bool, string) {
		m := regexp.MustCompile(`"msg":"serving /metrics[^"]*","addr":"([^"]+)"`).FindStringSubmatch(p.output())
		if m != nil {
			addr = m[1]
		}
		return m != nil, "no address logged yet"
	})
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The HTTP endpoints answer as docs/design.md says, and neither they nor the
// logs (at debug level) show a secret.
func TestStatusMetricsAndNoSecrets(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := contactRows(t, enc, 20)
	s.produce(recs...)
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	base := "http://" + httpAddr(t, p)
	eventually(t, 30*time.Second, "ready and caught up", func() (bool, string) {
		code, _ := get(t, base+"/readyz")
		ok, why := s.committedAtEnd("ops", topic)
		return code == 200 && ok, why
	})
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := get(t, base+"/status")
	var st struct {
		Ready bool `json:"ready"`
		Syncs []struct {
			Name, Module, Mode, State string
			Consumed, Written, Lag    int64
		} `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status: %d %v\n%s", code, err, body)
	}
	if !st.Ready || len(st.Syncs) != 1 || st.Syncs[0].Name != "contacts" || st.Syncs[0].State != "running" || st.Syncs[0].Written != 20 || st.Syncs[0].Lag != 0 {
		t.Errorf("/status: %+v", st)
	}
	_, metrics := get(t, base+"/metrics")
	for _, m := range []string{`zohosink_records_consumed_total{sync="contacts"} 20`, `zohosink_records_written_total{module="Contacts",operation="upsert",sync="contacts"} 20`,
		"zohosink_zoho_requests_total", "zohosink_zoho_request_duration_seconds_bucket", "zohosink_zoho_credits_used_total", "zohosink_batch_records_bucket",
		"zohosink_consumer_lag", `zohosink_token_refreshes_total{result="success"} 1`, "zohosink_zoho_rate_limited_total", "zohosink_records_skipped_total", "zohosink_records_dead_lettered_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	p.stop(30 * time.Second)
	c := s.sim.Credentials()
	secrets := append([]string{c.ClientSecret, c.RefreshToken}, s.sim.AccessTokens()...)
	if len(secrets) < 3 {
		t.Fatal("no access token was minted: the check below would miss it")
	}
	for _, where := range []struct{ name, text string }{{"logs", p.output()}, {"/status", body}, {"/metrics", metrics}} {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(where.text, sec) {
				t.Errorf("a secret appears in %s", where.name)
			}
		}
		if strings.Contains(where.text, "Zoho-oauthtoken ") {
			t.Errorf("an access token header appears in %s", where.name)
		}
	}
}

// A revoked refresh token stops the process with exit 1 and one line that
// says what to do; nothing is committed past what was done.
func TestRevokedTokenIsFatal(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	s.produce(event(t, enc, 'c', nil, map[string]any{"id": int64(1), "email": email(1), "last_name": "L", "title": "T", "phone": nil, "note": nil}))
	s.sim.RevokeRefreshToken(s.sim.Credentials().RefreshToken)
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	if code := p.wait(60 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.output())
	}
	lines := strings.Split(strings.TrimSpace(p.output()), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "zohosink run: ") || !strings.Contains(last, "zohosink auth") {
		t.Fatalf("the last line does not say what to do: %q", last)
	}
	if ok, _ := s.committedAtEnd("ops", topic); ok {
		t.Fatal("the record was committed though nothing was written")
	}
}

// A broken mapping that makes Zoho reject record after record stops the
// sync rather than dead-letter the whole topic.
func TestMassDeadLetterGuard(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	var recs []*kgo.Record
	for id := 0; id < 1000; id++ {
		// Every title is longer than Zoho's 100 characters for Title.
		recs = append(recs, event(t, enc, 'c', nil, map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": strings.Repeat("x", 150), "phone": nil, "note": nil}))
	}
	s.produce(recs...)
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	if code := p.wait(60 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.output())
	}
	if out := p.output(); !strings.Contains(out, "stopping rather than dead-letter the whole topic") {
		t.Fatalf("no word of the guard:\n%s", out[max(0, len(out)-2000):])
	}
	n := len(s.deadLetters("ops.dlq"))
	t.Logf("%d dead letters before the guard stopped the sync", n)

	if n > 300 || n < 100 {
		t.Fatalf("%d records dead-lettered: the guard should stop well before the whole topic", n)
	}
}

// While the schema registry is down, records wait (the sync shows
// retrying), nothing is dead-lettered; when it is back, they are written.
// The same for Zoho answering 500 to every call.
func TestOutagesAreRetriedNotDeadLettered(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	s.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error_code":50003,"message":"down"}`))
		return true
	})
	recs := contactRows(t, enc, 50)
	s.produce(recs...)
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	base := "http://" + httpAddr(t, p)
	state := func() string {
		_, body := get(t, base+"/status")
		var st struct {
			Syncs []struct {
				State     string `json:"state"`
				LastError string `json:"last_error"`
			} `json:"syncs"`
		}
		_ = json.Unmarshal([]byte(body), &st)
		if len(st.Syncs) == 0 {
			return ""
		}
		return st.Syncs[0].State + ": " + st.Syncs[0].LastError
	}
	eventually(t, 30*time.Second, "the sync shows the registry outage", func() (bool, string) {
		st := state()
		return strings.HasPrefix(st, "retrying") && strings.Contains(st, "registry"), st
	})
	s.reg.ClearInterceptors()
	s.sim.SetFaultRate(zohotest.FaultInternalError, 1)
	eventually(t, 30*time.Second, "the sync shows the Zoho outage", func() (bool, string) {
		st := state()
		return strings.HasPrefix(st, "retrying") && strings.Contains(st, "INTERNAL_ERROR"), st
	})
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0)
	eventually(t, 60*time.Second, "all written and committed", func() (bool, string) { return s.committedAtEnd("ops", topic) })
	if n := len(s.sim.Records("Contacts")); n != 50 {
		t.Errorf("%d contacts in Zoho, want 50", n)
	}
	if dls := s.deadLetters("ops.dlq"); len(dls) != 0 {
		t.Errorf("%d records dead-lettered for an outage: %+v", len(dls), dls[0])
	}
	eventually(t, 10*time.Second, "running again", func() (bool, string) { st := state(); return strings.HasPrefix(st, "running"), st })
	p.stop(30 * time.Second)
}

// With Kafka out of reach, the process keeps trying and says so: /healthz
// answers, /readyz and /status name the broker it cannot reach, and SIGTERM
// stops it without claiming to have committed anything.
func TestKafkaUnreachableIsShown(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	dead := freeAddr(t)
	p := start(t, nil, "run", "--config", s.config(opsConfig, map[string]string{"Broker": dead}))
	base := "http://" + httpAddr(t, p)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d %q while Kafka is down: the process works", code, body)
	}
	eventually(t, 30*time.Second, "/readyz names the broker", func() (bool, string) {
		code, body := get(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "cannot connect to broker "+dead), body
	})
	eventually(t, 10*time.Second, "/status shows the sync retrying", func() (bool, string) {
		_, body := get(t, base+"/status")
		var st struct {
			Syncs []struct{ State, LastError string } `json:"syncs"`
		}
		_ = json.Unmarshal([]byte(body), &st)
		return len(st.Syncs) == 1 && st.Syncs[0].State == "retrying" && strings.Contains(body, dead), body
	})
	p.stop(30 * time.Second)
	out := p.output()
	if strings.Contains(out, "offsets of finished records committed") || !strings.Contains(out, "nothing was consumed") {
		t.Errorf("the last line should say nothing was consumed:\n%s", out[max(0, len(out)-1500):])
	}
	if strings.Contains(out, "dead-letter topic") {
		t.Errorf("a dead-letter topic warning for an unreachable broker misleads:\n%s", out[max(0, len(out)-1500):])
	}
}

// A port in use for the HTTP endpoints stops the start at once, naming it.
func TestHTTPPortInUse(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := strings.Replace(opsConfig, `listen: "127.0.0.1:0"`, `listen: "`+ln.Addr().String()+`"`, 1)
	code, _, stderr := runCmd(t, nil, "run", "--config", s.config(cfg, nil))
	if code != 1 || !strings.Contains(stderr, "http.listen "+ln.Addr().String()) || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// A topic that does not exist (a typo, or a table without changes yet) is
// named by /readyz, /status and the log, instead of looking like a quiet
// topic; once it is created, its records are written.
func TestMissingTopicIsNamed(t *testing.T) {
	long(t) // the topic watch looks again every 5s
	s := newStack(t, 1, []string{"wh.public.customers"})
	cfg := strings.Replace(opsConfig, "wh.public.customers", "wh.public.customer", 1)
	p := start(t, nil, "run", "--config", s.config(cfg, nil))
	base := "http://" + httpAddr(t, p)
	eventually(t, 30*time.Second, "/readyz names the missing topic", func() (bool, string) {
		code, body := get(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "topic wh.public.customer does not exist"), body
	})
	_, body := get(t, base+"/status")
	if !strings.Contains(body, `"state": "retrying"`) || !strings.Contains(body, "wh.public.customer does not exist") {
		t.Errorf("/status does not show the missing topic:\n%s", body)
	}
	if !strings.Contains(p.output(), `"msg":"topic does not exist (yet)`) || !strings.Contains(p.output(), `"did_you_mean":"wh.public.customers"`) {
		t.Errorf("the log does not name the missing topic:\n%s", p.output())
	}
	// Debezium creates the topic with the table's first change.
	table := contactsTable
	table.Name = "customer"
	enc := s.register(table)
	if _, err := kadm.NewClient(s.cl).CreateTopic(context.Background(), 1, 1, nil, table.Topic()); err != nil {
		t.Fatal(err)
	}
	s.produce(event(t, enc, 'c', nil, map[string]any{"id": int64(1), "email": email(1), "last_name": "L", "title": "T", "phone": nil, "note": nil}))
	eventually(t, 60*time.Second, "the record of the new topic written", func() (bool, string) {
		n := len(s.sim.Records("Contacts"))
		return n == 1, fmt.Sprintf("%d contacts", n)
	})
	eventually(t, 30*time.Second, "ready", func() (bool, string) {
		code, body := get(t, base+"/readyz")
		return code == 200, body
	})
	p.stop(30 * time.Second)
}

// TLS or SASL asked of a listener that speaks neither shows only as EOF or a
// timeout on the wire: /readyz says which setting to check.
func TestKafkaListenerMismatchIsExplained(t *testing.T) {
	long(t)
	s := newStack(t, 1, []string{contactsTable.Topic()})
	for _, c := range []struct{ name, kafka, want string }{
		{"tls", `tls: {enabled: true}`, "check kafka.tls"},
		{"sasl", `sasl: {mechanism: scram-sha-256, username: u, password: p}`, "kafka.sasl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := strings.Replace(opsConfig, "commit_interval: 200ms}", "commit_interval: 200ms, "+c.kafka+"}", 1)
			p := start(t, nil, "run", "--config", s.config(cfg, nil))
			base := "http://" + httpAddr(t, p)
			eventually(t, 60*time.Second, "/readyz names the setting", func() (bool, string) {
				code, body := get(t, base+"/readyz")
				return code == 503 && strings.Contains(body, c.want), body
			})
			p.signal(syscall.SIGTERM)
			if code := p.wait(30 * time.Second); code != 0 {
				t.Fatalf("exit %d\n%s", code, p.output())
			}
		})
	}
}

// SIGTERM during a Zoho outage does not wait out the drain timeout: writes
// waiting to retry give up at once, nothing is committed for them, and the
// next start writes them.
func TestShutdownDuringOutageIsPrompt(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := contactRows(t, enc, 20)
	cfg := s.config(opsConfig, nil)
	p := start(t, nil, "run", "--config", cfg, "--drain-timeout", "10m")
	base := "http://" + httpAddr(t, p)
	// Zoho goes down once the run started (an outage at the start would
	// first wait out the fields metadata's bound); then the records come
	// and their writes are retried.
	eventually(t, 30*time.Second, "ready", func() (bool, string) { code, body := get(t, base+"/readyz"); return code == 200, body })
	s.sim.SetFaultRate(zohotest.FaultInternalError, 1)
	s.produce(recs...)
	eventually(t, 60*time.Second, "the writes retrying", func() (bool, string) {
		_, body := get(t, base+"/status")
		return strings.Contains(body, `"state": "retrying"`) && strings.Contains(body, `"consumed": 20`) && strings.Contains(body, "Zoho upsert"), body
	})
	p.signal(syscall.SIGTERM)
	// Far below the drain timeout: a bound on a hang, not a speed test.
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.output())
	}
	if strings.Contains(p.output(), "drain timeout reached") {
		t.Errorf("shutdown waited out the drain timeout:\n%s", p.output())
	}
	if !strings.Contains(p.output(), "20 record(s) whose writes were still waiting on Zoho are not committed and will be written at the next start") {
		t.Errorf("the last word does not say what was left:\n%s", p.output())
	}
	if ok, _ := s.committedAtEnd("ops", topic); ok {
		t.Fatal("records committed though Zoho never accepted them")
	}
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0)
	p = start(t, nil, "run", "--config", cfg)
	eventually(t, 60*time.Second, "written after the restart", func() (bool, string) { return s.committedAtEnd("ops", topic) })
	if n := len(s.sim.Records("Contacts")); n != 20 {
		t.Errorf("%d contacts, want 20", n)
	}
	p.stop(30 * time.Second)
}

// A mapped field the org does not have stops run at the start: Zoho would
// silently drop its values.
func TestUnknownMappedFieldStopsRun(t *testing.T) {
	s := newStack(t, 1, []string{contactsTable.Topic()})
	cfg := strings.Replace(opsConfig, "Title: title}", "Titel: title}", 1)
	p := start(t, nil, "run", "--config", s.config(cfg, nil))
	if code := p.wait(60 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.output())
	}
	lines := strings.Split(strings.TrimSpace(p.output()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "Titel is not a field of Contacts (did you mean Title?)") || !strings.Contains(last, "validate --online") {
		t.Errorf("the last line does not name the field: %q", last)
	}
}

// A sync shows retrying only while its own writes are retried: a quiet sync
// on the same module stays running, and the busy one is running again once
// Zoho is back.
func TestRetryingStateIsPerSync(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic, "wh.public.quiet"})
	enc := s.register(contactsTable)
	recs := contactRows(t, enc, 10)
	cfg := opsConfig + "  - {name: quiet, topics: [wh.public.quiet], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}}\n"
	p := start(t, nil, "run", "--config", s.config(cfg, nil))
	base := "http://" + httpAddr(t, p)
	eventually(t, 30*time.Second, "ready", func() (bool, string) { code, body := get(t, base+"/readyz"); return code == 200, body })
	s.sim.SetFaultRate(zohotest.FaultInternalError, 1)
	s.produce(recs...)
	states := func() map[string]string {
		_, body := get(t, base+"/status")
		var st struct {
			Syncs []struct{ Name, State string } `json:"syncs"`
		}
		_ = json.Unmarshal([]byte(body), &st)
		out := map[string]string{}
		for _, x := range st.Syncs {
			out[x.Name] = x.State
		}
		return out
	}
	eventually(t, 30*time.Second, "contacts retrying", func() (bool, string) { st := states(); return st["contacts"] == "retrying", fmt.Sprint(st) })
	if st := states(); st["quiet"] != "running" {
		t.Errorf("the quiet sync shows %q while only contacts' writes are retried", st["quiet"])
	}
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0)
	eventually(t, 60*time.Second, "written and running again", func() (bool, string) {
		st := states()
		ok, why := s.committedAtEnd("ops", topic)
		return ok && st["contacts"] == "running" && st["quiet"] == "running", fmt.Sprint(st, " ", why)
	})
	p.stop(30 * time.Second)
}

// Fields metadata out of reach at the start is read later, in the
// background, and used from then on.
func TestFieldsMetadataIsReadLater(t *testing.T) {
	long(t)
	s := newStack(t, 1, []string{contactsTable.Topic()})
	s.sim.SetFaultRate(zohotest.FaultInternalError, 1)
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	eventually(t, 60*time.Second, "the start gives up on the metadata", func() (bool, string) {
		return strings.Contains(p.output(), "fields metadata unavailable"), "not yet"
	})
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0)
	eventually(t, 60*time.Second, "the metadata read later", func() (bool, string) {
		return strings.Contains(p.output(), `"msg":"fields metadata read`), "not yet"
	})
	p.stop(30 * time.Second)
}

// A process with little to do runs on one P (GOMAXPROCS 1), which costs a
// process waiting on Zoho less CPU than several, and says so in its start
// line and /metrics; GOMAXPROCS in the environment is left as it is.
func TestIdleProcessRunsOnOneP(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	cfg := s.config(opsConfig, nil)
	startLine := regexp.MustCompile(`"msg":"zohosink starting".*"gomaxprocs":"([^"]+)"`)
	gomaxprocs := regexp.MustCompile(`(?m)^go_sched_gomaxprocs_threads (\d+)$`)
	check := func(env, wantLine, wantProcs string) {
		t.Helper()
		p := start(t, []string{env}, "run", "--config", cfg)
		defer p.stop(30 * time.Second)
		base := "http://" + httpAddr(t, p)
		if m := startLine.FindStringSubmatch(p.output()); m == nil || !regexp.MustCompile(wantLine).MatchString(m[1]) {
			t.Errorf("%s: start line's gomaxprocs %v, want %s\n%s", env, m, wantLine, p.output())
		}
		// A busy start may raise it at the first look: idle, it is back
		// to one within two more looks.
		var metrics string
		eventually(t, 10*time.Second, env+": go_sched_gomaxprocs_threads "+wantProcs, func() (bool, string) {
			_, metrics = get(t, base+"/metrics")
			m := gomaxprocs.FindStringSubmatch(metrics)
			return m != nil && m[1] == wantProcs, fmt.Sprintf("%v", m)
		})
		// And it stays there while idle, longer than the looks that could
		// raise it.
		time.Sleep(2 * procsLook)
		_, metrics = get(t, base+"/metrics")
		if m := gomaxprocs.FindStringSubmatch(metrics); m == nil || m[1] != wantProcs {
			t.Errorf("%s: idle, /metrics says go_sched_gomaxprocs_threads %v, want %s", env, m, wantProcs)
		}
		if !strings.Contains(metrics, "process_cpu_seconds_total") {
			t.Errorf("%s: /metrics lacks the process's CPU", env)
		}
	}
	if runtime.NumCPU() > 1 { // Go's default is then 2 or more, even under a container's limit of 1
		check("GOMAXPROCS=", `^1-([2-9]|\d\d+) \(adaptive\)$`, "1")
	}
	check("GOMAXPROCS=3", `^3 \(GOMAXPROCS\)$`, "3")
}

// procsLook is how often run reads its CPU use (cmd/zohosink procsEvery).
const procsLook = 500 * time.Millisecond
