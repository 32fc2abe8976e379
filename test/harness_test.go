// Package test holds black-box tests: they build the zohosink binary and
// drive it as a user would, against an in-process Kafka (kfake), schema
// registry (srfake) and Zoho CRM simulator (zohotest).
package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"zohosink/connector/dlq"
	"zohosink/schema/schematest"
	"zohosink/zoho/zohotest"
)

var binary string

func TestMain(m *testing.M) {
	if arg := os.Getenv(floorEnv); arg != "" {
		floorMain(arg) // BenchmarkLoad's CPU floor, in a process of its own
		os.Exit(0)
	}
	// ZOHOSINK_TEST_BINARY runs the tests against a binary built before
	// (to compare two builds in the load harness, alternating) instead of
	// building one from this tree (so ZOHOSINK_TEST_RACE does not apply).
	// A relative path is the caller's, not this package's directory, where
	// go test runs: give an absolute one.
	if b := os.Getenv("ZOHOSINK_TEST_BINARY"); b != "" {
		if st, err := os.Stat(b); err != nil || !filepath.IsAbs(b) || st.IsDir() {
			fmt.Fprintf(os.Stderr, "ZOHOSINK_TEST_BINARY=%s: want the absolute path of a zohosink binary (%v)\n", b, err)
			os.Exit(1)
		}
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "zohosink-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "zohosink")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	// The binary's own sources are not imported by this package: opening
	// them makes go test count them as inputs, so a change to a command
	// never leaves a stale cached result.
	mains, _ := filepath.Glob(filepath.Join(root, "cmd", "zohosink", "*.go"))
	for _, f := range mains {
		if data, err := os.ReadFile(f); err != nil || len(data) == 0 {
			fmt.Fprintln(os.Stderr, "reading", f, err)
		}
	}
	args := []string{"build", "-o", binary}
	if os.Getenv("ZOHOSINK_TEST_RACE") != "" {
		args = append(args, "-race") // CI: the end-to-end runs under the race detector too
	}
	build := exec.Command("go", append(args, "./cmd/zohosink")...)
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the zohosink binary failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is a Kafka broker, schema registry and Zoho simulator.
type stack struct {
	t      testing.TB
	once   sync.Once
	closes []func()
	kafka  *kfake.Cluster
	broker string
	reg    *srfake.Registry
	srcl   *sr.Client
	sim    *zohotest.Server
	cl     *kgo.Client
}

func newStack(t testing.TB, partitions int32, topics []string, simOpts ...zohotest.Option) *stack {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, kafka: kc, broker: kc.ListenAddrs()[0]}
	s.closes = append(s.closes, kc.Close)
	t.Cleanup(s.close)
	s.reg = srfake.New()
	s.closes = append(s.closes, s.reg.Close)
	if s.srcl, err = sr.NewClient(sr.URLs(s.reg.URL())); err != nil {
		t.Fatal(err)
	}
	s.sim = zohotest.NewServer(simOpts...)
	s.closes = append(s.closes, s.sim.Close)
	if s.cl, err = kgo.NewClient(kgo.SeedBrokers(s.broker)); err != nil {
		t.Fatal(err)
	}
	s.closes = append(s.closes, s.cl.Close)
	return s
}

// close stops the stack (idempotent; also run at the test's cleanup).
func (s *stack) close() {
	s.once.Do(func() {
		for i := len(s.closes) - 1; i >= 0; i-- {
			s.closes[i]()
		}
	})
}

func (s *stack) register(t schematest.Table) *schematest.Encoder {
	s.t.Helper()
	e, err := schematest.Register(context.Background(), s.srcl, t)
	if err != nil {
		s.t.Fatal(err)
	}
	return e
}

func (s *stack) produce(recs ...*kgo.Record) {
	s.t.Helper()
	if err := s.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
}

// event encodes one change as a record of the table's topic.
func event(t testing.TB, e *schematest.Encoder, op byte, before, after map[string]any) *kgo.Record {
	t.Helper()
	k, v, err := e.Event(op, before, after, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: e.Table().Topic(), Key: k, Value: v}
}

func tombstone(t testing.TB, e *schematest.Encoder, row map[string]any) *kgo.Record {
	t.Helper()
	k, err := e.Key(row)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: e.Table().Topic(), Key: k}
}

// config writes a config file from a template; the stack's addresses and the
// simulator's credentials are {{.Broker}}, {{.Registry}}, {{.Zoho}},
// {{.ClientID}}, {{.ClientSecret}}, {{.RefreshToken}}.
func (s *stack) config(tmpl string, extra map[string]string) string {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), "zohosink.yaml")
	if err := os.WriteFile(path, []byte(s.configText(tmpl, extra)), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// configText fills a config template with the stack's addresses.
func (s *stack) configText(tmpl string, extra map[string]string) string {
	s.t.Helper()
	c := s.sim.Credentials()
	data := map[string]string{"Broker": s.broker, "Registry": s.reg.URL(), "Zoho": s.sim.URL,
		"ClientID": c.ClientID, "ClientSecret": c.ClientSecret, "RefreshToken": c.RefreshToken}
	for k, v := range extra {
		data[k] = v
	}
	var b bytes.Buffer
	if err := template.Must(template.New("cfg").Parse(tmpl)).Execute(&b, data); err != nil {
		s.t.Fatal(err)
	}
	return b.String()
}

// committedAtEnd reports whether the group committed the end of every
// partition of topics, and describes the difference when not.
func (s *stack) committedAtEnd(group string, topics ...string) (bool, string) {
	adm := kadm.NewClient(s.cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err.Error()
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err.Error()
	}
	var diffs []string
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && (!ok || c.At != o.Offset) {
			diffs = append(diffs, fmt.Sprintf("%s/%d committed %d, end %d", o.Topic, o.Partition, c.At, o.Offset))
		}
	})
	return len(diffs) == 0, strings.Join(diffs, "; ")
}

func (s *stack) deadLetters(topic string) []dlq.Letter {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read, err := dlq.Read(ctx, []kgo.Opt{kgo.SeedBrokers(s.broker)}, topic, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return read.Letters
}

// proc is a running zohosink process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	err    error
	exited bool
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start runs the binary with args; its output (stdout and stderr) is kept.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	w := lockedWriter{&p.mu, &p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		close(p.done)
	}()
	// A signal sent before the Go runtime installed the handler would kill
	// the process outright: wait until it says it started.
	eventually(t, 30*time.Second, "zohosink started", func() (bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		out := p.out.String()
		return strings.Contains(out, "zohosink starting") || strings.Contains(out, "simulator") || p.exited, "no start line yet"
	})
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("zohosink did not exit within %s; output:\n%s", timeout, p.output())
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return ee.ExitCode()
	}
	return -1
}

// runCmd runs the binary to completion and returns its exit code, stdout and
// stderr.
func runCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// long marks a long end-to-end run (load, crash, rebalance, or a wait the
// product bounds in tens of seconds): go test -short skips it, go test runs
// it, and .ci/run runs go test.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("long end-to-end run; go test without -short runs it")
	}
}

// eventually polls cond until it holds or the deadline passes. Deadlines are
// generous: they bound a hang, they do not measure speed.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s (%s)", what, timeout, last)
}

// contactRows are n change events of new customers, ids 0..n-1, with the
// columns a Contacts upsert maps.
func contactRows(t testing.TB, enc *schematest.Encoder, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for id := 0; id < n; id++ {
		recs = append(recs, event(t, enc, 'c', nil, map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": "T", "phone": nil, "note": nil}))
	}
	return recs
}

// freeAddr returns a local address nothing listens on (now).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rowsMissingLastName are n change events of new customers, ids 0..n-1,
// where every third (ids 0, 3, 6, ...) has no last name, which Contacts
// requires: those are dead-lettered at stage map.
func rowsMissingLastName(t testing.TB, enc *schematest.Encoder, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for id := 0; id < n; id++ {
		row := map[string]any{"id": int64(id), "email": email(id), "last_name": "Last" + strconv.Itoa(id), "title": "T", "phone": "1", "note": nil}
		if id%3 == 0 {
			row["last_name"] = nil
		}
		recs = append(recs, event(t, enc, 'c', nil, row))
	}
	return recs
}

// stop sends SIGTERM and fails the test unless the process drains and
// exits 0 within the bound.
func (p *proc) stop(timeout time.Duration) {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(timeout); code != 0 {
		p.t.Fatalf("exit %d after SIGTERM\n%s", code, p.output())
	}
}

// runUntilCommitted runs the binary on cfg until the group committed the
// end of topic, then stops it with SIGTERM, which must exit 0.
func runUntilCommitted(t *testing.T, s *stack, cfg, group, topic string) {
	t.Helper()
	p := start(t, nil, "run", "--config", cfg)
	eventually(t, 60*time.Second, "offsets committed", func() (bool, string) { return s.committedAtEnd(group, topic) })
	p.stop(30 * time.Second)
}

// stackHeader is the kafka, schema_registry, zoho and http sections of a
// config for the stack (its template variables filled by stack.config),
// with consumer group group and commits every 200 ms; a test adds its
// syncs and anything else.
func stackHeader(group string) string {
	return `kafka: {brokers: ["{{.Broker}}"], group_id: ` + group + `, commit_interval: 200ms}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
`
}
