package test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema/schematest"
	"zohosink/zoho/zohotest"
)

var contactsTable = schematest.Table{Prefix: "wh", Schema: "public", Name: "customers", Key: []string{"id"}, Columns: []schematest.Column{
	{Name: "id", Type: "long"},
	{Name: "email", Type: "string"},
	{Name: "last_name", Type: "string", Optional: true},
	{Name: "title", Type: "string", Optional: true},
	{Name: "phone", Type: "string", Optional: true},
	{Name: "note", Type: "string", Optional: true}, // not synced
}}

const contactsConfig = `kafka:
  brokers: ["{{.Broker}}"]
  group_id: {{.Group}}
  commit_interval: 200ms
  session_timeout: 6s
  instance_id: "{{.Instance}}"
schema_registry: {url: "{{.Registry}}"}
zoho:
  data_center: us
  client_id: "{{.ClientID}}"
  client_secret: "{{.ClientSecret}}"
  refresh_token: "{{.RefreshToken}}"
  api_domain: "{{.Zoho}}"
  accounts_url: "{{.Zoho}}"
  request_timeout: {{.Timeout}}
http: {listen: "127.0.0.1:0"}
log: {level: info}
syncs:
  - name: contacts
    topics: [wh.public.customers]
    module: Contacts
    type: model
    mode: upsert
    match_on: [Email]
    fields: {Email: email, Last_Name: last_name, Title: title, Phone: phone}
    batch_size: 100
    linger: {{.Linger}}
`

func contactsCfg(s *stack, group, instance, timeout, linger string) string {
	return s.config(contactsConfig, map[string]string{"Group": group, "Instance": instance, "Timeout": timeout, "Linger": linger})
}

func email(id int) string { return fmt.Sprintf("c%d@load.example", id) }

// history produces n changes over keys: creates, then updates that change
// synced columns again and again, some that change only an unsynced column,
// and now and then a change Zoho rejects (a malformed email). It returns the records and the last state of every
// key that Zoho should hold, and the ids whose last change is a rejection.
func history(t testing.TB, enc *schematest.Encoder, n, keys int, seed uint64) ([]*kgo.Record, map[string]map[string]any, map[int]bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	last := map[int]map[string]any{}
	rejected := map[int]bool{}
	var recs []*kgo.Record
	for len(recs) < n {
		id := r.IntN(keys)
		prev := last[id]
		row := map[string]any{"id": int64(id), "email": email(id), "last_name": fmt.Sprintf("Last%d", id),
			"title": "T" + strconv.Itoa(len(recs)), "phone": fmt.Sprintf("+1 555 %04d", r.IntN(10000)), "note": "n"}
		switch {
		case prev == nil:
			recs = append(recs, event(t, enc, 'c', nil, row))
			delete(rejected, id)
		case r.IntN(10) == 0: // only an unsynced column changes: the synced state stays
			row = clone(prev)
			row["note"] = "changed " + strconv.Itoa(len(recs))
			recs = append(recs, event(t, enc, 'u', prev, row))
		default:
			recs = append(recs, event(t, enc, 'u', prev, row))
			delete(rejected, id)
		}
		last[id] = row
		if r.IntN(200) == 0 { // a change Zoho rejects: a malformed email
			bad := clone(row)
			bad["email"] = fmt.Sprintf("broken-%d", id)
			recs = append(recs, event(t, enc, 'u', row, bad))
			rejected[id] = true
			last[id] = bad
		}
	}
	want := map[string]map[string]any{}
	for id, row := range last {
		if !rejected[id] {
			want[email(id)] = row
		}
	}
	return recs, want, rejected
}

// upserts waits until Zoho received at least n upsert calls.
func upserts(t *testing.T, s *stack, n int) {
	t.Helper()
	eventually(t, 60*time.Second, "some writes done", func() (bool, string) {
		got := 0
		for _, r := range s.sim.Requests() {
			if r.Operation == "upsert" {
				got++
			}
		}
		return got >= n, fmt.Sprintf("%d upserts", got)
	})
}

// upsertedRecords counts the records of every upsert Zoho received.
func upsertedRecords(s *stack) int {
	n := 0
	for _, r := range s.sim.Requests() {
		if r.Operation == "upsert" {
			n += r.Records
		}
	}
	return n
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// checkFinalState asserts Zoho holds the last state of every key.
func checkFinalState(t *testing.T, s *stack, want map[string]map[string]any) {
	t.Helper()
	got := map[string]map[string]any{}
	for _, rec := range s.sim.Records("Contacts") {
		e := strings.ToLower(fmt.Sprint(rec["Email"]))
		if _, dup := got[e]; dup {
			t.Errorf("two Zoho records with email %s: duplicates were created", e)
		}
		got[e] = rec
	}
	bad := 0
	for e, row := range want {
		rec, ok := got[e]
		if !ok {
			bad++
			if bad < 5 {
				t.Errorf("%s is not in Zoho", e)
			}
			continue
		}
		if rec["Title"] != row["title"] || rec["Phone"] != row["phone"] || rec["Last_Name"] != row["last_name"] {
			bad++
			if bad < 5 {
				t.Errorf("%s: Zoho has Title=%v Phone=%v Last_Name=%v, the last change says %v %v %v", e, rec["Title"], rec["Phone"], rec["Last_Name"], row["title"], row["phone"], row["last_name"])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d keys do not hold their last state", bad, len(want))
	}
}

// 10,000 changes with repeated updates to the same keys across 3
// partitions, while the simulator answers some calls with 500, 429 and
// answers too slow for the client's timeout. Zoho ends with the last state
// of every key, every rejected record is dead-lettered with its reason, and
// the committed offsets reach the end of every partition.
func TestTenThousandChangesUnderFaults(t *testing.T) {
	long(t)
	topic := contactsTable.Topic()
	s := newStack(t, 3, []string{topic}, zohotest.WithLatency(time.Millisecond, 15*time.Millisecond))
	enc := s.register(contactsTable)
	recs, want, rejected := history(t, enc, 10_000, 5000, 42)
	s.produce(recs...)
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0.15)
	s.sim.SetFaultRate(zohotest.FaultTooManyRequests, 0.15)
	s.sim.SetFaultRate(zohotest.FaultDrop, 0.05)
	s.sim.SetFaultRate(zohotest.FaultSlow, 0.05)
	s.sim.SetSlowDuration(3 * time.Second)

	path := contactsCfg(s, "load", "", "1s", "100ms")
	p := start(t, nil, "run", "--config", path)
	eventually(t, 4*time.Minute, "all offsets committed", func() (bool, string) { return s.committedAtEnd("load", topic) })
	p.stop(60 * time.Second)
	for _, f := range []zohotest.Fault{zohotest.FaultInternalError, zohotest.FaultTooManyRequests, zohotest.FaultDrop, zohotest.FaultSlow} {
		s.sim.SetFaultRate(f, 0)
	}
	checkFinalState(t, s, want)

	dls := s.deadLetters("load.dlq")
	dead := map[string]bool{}
	for _, d := range dls {
		if d.Code == "" || d.Message == "" || d.Topic != topic || d.Stage == "" {
			t.Errorf("dead letter without its reason: %+v", d)
		}
		dead[d.Topic+"/"+strconv.Itoa(int(d.Partition))+"@"+strconv.FormatInt(d.Offset, 10)] = true
	}
	if len(rejected) > 0 && len(dls) == 0 {
		t.Fatalf("%d keys ended with a rejected change, but the dead-letter topic is empty", len(rejected))
	}
	statuses := map[int]int{}
	for _, r := range s.sim.Requests() {
		statuses[r.Status]++
		if r.Operation == "upsert" && r.Records > 100 {
			t.Errorf("a write of %d records: more than Zoho's 100", r.Records)
		}
	}
	if statuses[500] == 0 || statuses[429] == 0 {
		t.Errorf("the simulator answered %v: the faults were not exercised", statuses)
	}
	t.Logf("Zoho answers by status: %v", statuses)
	if peak := s.sim.PeakConcurrency(); peak > 10 {
		t.Errorf("peak concurrency %d, above the standard edition's 10", peak)
	}
}

// A process killed with SIGKILL in the middle of batches loses nothing: the
// restarted process (same static member id) writes what was not committed.
func TestKillMidBatchLosesNothing(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 3, []string{topic}, zohotest.WithLatency(40*time.Millisecond, 120*time.Millisecond))
	enc := s.register(contactsTable)
	recs, want, _ := history(t, enc, 3000, 800, 7)
	s.produce(recs...)
	path := contactsCfg(s, "crash", "zohosink-0", "10s", "200ms")

	p := start(t, nil, "run", "--config", path)
	upserts(t, s, 5)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(10 * time.Second)
	if ok, _ := s.committedAtEnd("crash", topic); ok {
		t.Fatal("everything was committed before the kill: the test did not kill mid-run")
	}

	p2 := start(t, nil, "run", "--config", path)
	eventually(t, 3*time.Minute, "all offsets committed after restart", func() (bool, string) { return s.committedAtEnd("crash", topic) })
	p2.stop(60 * time.Second)
	checkFinalState(t, s, want)
}

// Under backlog, batches are full; several changes of one key in a batch
// collapse into one write; updates of unsynced columns cost nothing.
func TestBatchingCollapseAndNoOps(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	var recs []*kgo.Record
	rows := map[int]map[string]any{}
	for id := 0; id < 1000; id++ {
		row := map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": "v1", "phone": "1", "note": "a"}
		recs = append(recs, event(t, enc, 'r', nil, row))
		rows[id] = row
	}
	// 200 keys change three times each in a row: one write each.
	for id := 0; id < 200; id++ {
		prev := rows[id]
		for v := 2; v <= 4; v++ {
			next := clone(prev)
			next["title"] = "v" + strconv.Itoa(v)
			recs = append(recs, event(t, enc, 'u', prev, next))
			prev = next
		}
		rows[id] = prev
	}
	// 300 updates of an unsynced column only: no call at all.
	for id := 200; id < 500; id++ {
		next := clone(rows[id])
		next["note"] = "b"
		recs = append(recs, event(t, enc, 'u', rows[id], next))
		rows[id] = next
	}
	s.produce(recs...)

	path := contactsCfg(s, "batching", "", "10s", "2s")
	p := start(t, nil, "run", "--config", path)
	eventually(t, 60*time.Second, "all offsets committed", func() (bool, string) { return s.committedAtEnd("batching", topic) })
	p.stop(30 * time.Second)
	var writes, written int
	for _, r := range s.sim.Requests() {
		if r.Operation != "upsert" {
			continue
		}
		writes++
		written += r.Records
		if r.Records != 100 {
			t.Errorf("an upsert of %d records under backlog; want full batches of 100", r.Records)
		}
	}
	// 1000 snapshot rows, plus at most one more write for each of the 200
	// keys whose three updates collapsed (they collapse into the snapshot
	// write when they wait in the same batch).
	if written < 1000 || written > 1200 {
		t.Errorf("%d records written in %d calls; want 1000..1200 (collapsed updates and no-ops must cost nothing)", written, writes)
	}
	want := map[string]map[string]any{}
	for id, row := range rows {
		want[email(id)] = row
	}
	checkFinalState(t, s, want)
}

// SIGTERM drains: the process commits what is done and exits 0, and a
// restart has nothing left to write.
func TestGracefulShutdown(t *testing.T) {
	long(t)
	topic := contactsTable.Topic()
	s := newStack(t, 3, []string{topic}, zohotest.WithLatency(150*time.Millisecond, 250*time.Millisecond))
	enc := s.register(contactsTable)
	recs, want, _ := history(t, enc, 4000, 3000, 3)
	s.produce(recs...)
	path := contactsCfg(s, "graceful", "", "10s", "200ms")

	p := start(t, nil, "run", "--config", path)
	upserts(t, s, 3)
	p.stop(45 * time.Second)
	if upsertedRecords(s) == 0 {
		t.Fatal("nothing was written before SIGTERM")
	}
	// What it wrote is committed: a restart writes only what was left.
	if ok, _ := s.committedAtEnd("graceful", topic); ok {
		t.Fatal("the first run finished everything before SIGTERM: the test did not stop it mid-run")
	}
	p2 := start(t, nil, "run", "--config", path)
	eventually(t, 2*time.Minute, "all offsets committed after restart", func() (bool, string) { return s.committedAtEnd("graceful", topic) })
	p2.stop(45 * time.Second)
	total := upsertedRecords(s)
	// Records written before the stop and committed are not written again:
	// allow one commit interval's worth of repeats.
	if total > len(recs)+200 {
		t.Errorf("%d records written in all for %d changes: the first run's work was not committed", total, len(recs))
	}
	checkFinalState(t, s, want)
}

// Two processes in one consumer group share the partitions: a second one
// joining mid-run makes the first give up partitions with writes in flight,
// and then the first one stops. Nothing is lost, nothing is committed before
// it is done, and Zoho ends with the last state of every key.
func TestTwoProcessesRebalance(t *testing.T) {
	long(t)
	topic := contactsTable.Topic()
	s := newStack(t, 6, []string{topic}, zohotest.WithLatency(400*time.Millisecond, 600*time.Millisecond))
	enc := s.register(contactsTable)
	recs, want, _ := history(t, enc, 16000, 14000, 11)
	s.produce(recs...)
	cfgA := contactsCfg(s, "shared", "zohosink-a", "10s", "200ms")
	cfgB := contactsCfg(s, "shared", "zohosink-b", "10s", "200ms")

	a := start(t, nil, "run", "--config", cfgA)
	upserts(t, s, 3)
	// Zoho fails every call until the second process has its partitions:
	// the first is mid-work (writes retrying, in flight) when the group
	// rebalances, however fast it would otherwise be.
	s.sim.SetFaultRate(zohotest.FaultInternalError, 1)
	b := start(t, nil, "run", "--config", cfgB)
	eventually(t, 60*time.Second, "the first process gives partitions to the second", func() (bool, string) {
		return strings.Contains(a.output(), "partitions revoked") && strings.Contains(b.output(), "partitions assigned"), "no rebalance yet"
	})
	if ok, _ := s.committedAtEnd("shared", topic); ok {
		t.Fatal("everything was done before the rebalance: the test did not test what it says")
	}
	s.sim.SetFaultRate(zohotest.FaultInternalError, 0)
	a.stop(60 * time.Second)
	eventually(t, 3*time.Minute, "all offsets committed", func() (bool, string) { return s.committedAtEnd("shared", topic) })
	b.stop(60 * time.Second)
	checkFinalState(t, s, want)
}

// Rows of a table without a primary key come with no Kafka key: each is
// its own change, even when two partitions hold one at the same offset.
func TestKeylessRowsAtTheSameOffsetAreAllWritten(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 2, []string{topic})
	enc := s.register(contactsTable)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for part := int32(0); part < 2; part++ {
		rec := contactRows(t, enc, 2)[part]
		rec.Key, rec.Partition = nil, part
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := start(t, nil, "run", "--config", s.config(opsConfig, nil))
	eventually(t, 60*time.Second, "both written and committed", func() (bool, string) {
		ok, why := s.committedAtEnd("ops", topic)
		n := len(s.sim.Records("Contacts"))
		return ok && n == 2, fmt.Sprintf("%d contacts; %s", n, why)
	})
	p.stop(30 * time.Second)
}

// Back-pressure is on memory: with kafka.max_buffered_bytes at 1 MiB and
// Zoho slow, a backlog of large records (about 30 MiB of them) is fetched a
// little at a time, the estimate of what the process holds
// (zohosink_buffered_bytes) staying near the limit rather than growing with
// the backlog; and every record is written in the end.
func TestBackPressureIsOnMemory(t *testing.T) {
	long(t)
	topic := contactsTable.Topic()
	s := newStack(t, 3, []string{topic}, zohotest.WithLatency(50*time.Millisecond, 50*time.Millisecond))
	enc := s.register(contactsTable)
	// Random notes: compressed batches would fetch many records per MiB.
	noise := rand.New(rand.NewPCG(1, 2))
	note := func() string {
		b := make([]byte, 25_000)
		for i := range b {
			b[i] = byte(noise.Uint32())
		}
		return hex.EncodeToString(b)
	}
	// One record a produce, so each is a batch of its own: a fetch brings
	// what fits in franz-go's 1 MiB per partition, not a whole batch.
	for id := 0; id < 600; id++ {
		rec := event(t, enc, 'c', nil, map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": "T", "phone": nil, "note": note()})
		rec.Partition = int32(id % 3)
		s.produce(rec)
	}
	cfg := s.config(`kafka: {brokers: ["{{.Broker}}"], group_id: mem, commit_interval: 200ms, max_buffered_bytes: 1048576}
schema_registry: {url: "{{.Registry}}"}
zoho: {data_center: us, client_id: "{{.ClientID}}", client_secret: "{{.ClientSecret}}", refresh_token: "{{.RefreshToken}}", api_domain: "{{.Zoho}}", accounts_url: "{{.Zoho}}"}
http: {listen: "127.0.0.1:0"}
syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, batch_size: 10, linger: 50ms}
`, nil)
	p := start(t, nil, "run", "--config", cfg)
	base := "http://" + httpAddr(t, p)
	peak := 0.0
	re := regexp.MustCompile(`(?m)^zohosink_buffered_bytes (\S+)$`)
	eventually(t, 120*time.Second, "every record committed", func() (bool, string) {
		_, m := get(t, base+"/metrics")
		if g := re.FindStringSubmatch(m); g != nil {
			v, _ := strconv.ParseFloat(g[1], 64)
			peak = max(peak, v)
		}
		return s.committedAtEnd("mem", topic)
	})
	p.stop(30 * time.Second)
	// A fetch is tracked whole before the partition pauses: the limit can
	// be passed by what franz-go fetched ahead (1 MiB per partition, a
	// fetch or two, 3× in the estimate), never by the backlog's 90 MiB.
	if peak == 0 || peak > 1<<20+2*3*3*(1<<20) {
		t.Fatalf("peak buffered estimate %.0f bytes with a limit of 1 MiB", peak)
	}
	if n := len(s.sim.Records("Contacts")); n != 600 {
		t.Fatalf("%d contacts written, want 600", n)
	}
}
