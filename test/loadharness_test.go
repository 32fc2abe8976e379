package test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema/schematest"
	"zohosink/zoho/zohotest"
)

// BenchmarkLoad measures the product against Zoho's ceiling, one scenario a
// sub-benchmark, each run once:
//
//	go test ./test -run '^$' -bench BenchmarkLoad -benchtime 1x
//	go test ./test -run '^$' -bench 'BenchmarkLoad/a' -benchtime 1x
//
// The product is the real binary (one process, or three of one consumer
// group), so its CPU and peak RSS are its own (the child's rusage), not the
// harness's. Kafka (kfake), the schema registry (srfake) and the Zoho
// stand-in run in the benchmark's process on the same machine. The stand-in
// answers every call after a fixed latency and refuses with 429 any call
// beyond its limit of calls in flight (and beyond 10 writes of more than 10
// records), as Zoho does. Its daily credits are unlimited: credits are
// counted, not enforced.
//
// Scenarios (6 partitions each):
//
//	a  50,000 new records, one process
//	b  a backlog of 200,000 changes over 10,000 keys (20 changes a key), one process
//	c  50,000 new records, three processes of one group
//	d  100 changes/s of new records for 20 s, one process: latency from Kafka's append to Zoho's answer
//
// Environment:
//
//	LOAD_SCALE=0.2      scale the record counts of a, b and c (and d's duration)
//	LOAD_LATENCY=100ms  the stand-in's latency per call
//	LOAD_LIMIT=10       the stand-in's limit of calls in flight
//	LOAD_LINGER=1s      the syncs' linger (the product's default)
//	LOAD_BUFFERED=N     the processes' kafka.max_buffered_bytes (default 64 MiB)
//	LOAD_PROC_ENV="K=V ..."  more environment for the zohosink processes
//	                    only (GOMAXPROCS=1, GOGC=400, ...), not for the
//	                    harness or the floor
//	LOAD_DUMP=FILE      write each zohosink process's output (its log, and
//	                    the runtime's gctrace with LOAD_PROC_ENV=GODEBUG=gctrace=1)
//	                    to FILE when it ends (the last process's stays)
//	ZOHOSINK_TEST_BINARY=PATH  run that binary instead of one built from
//	                    this tree (to compare two builds, alternating)
//
// For a and b the same changes are then consumed by the CPU floor: a plain
// franz-go consumer that decodes them with goavro into maps, maps three
// fields and encodes 100-record bodies with encoding/json (no Zoho calls, no
// checkpoints), in a process of its own; its CPU per change is reported
// beside the product's. For a, three more plain programs show what the
// calls cost: the floor with calls (each body also upserted, answers read
// with encoding/json), the calls alone (the changes consumed with franz-go
// and one fixed body upserted per 100 of them, nothing decoded or encoded,
// answers discarded, on one P): the least any program that makes the calls
// spends, and the consuming only (franz-go and nothing else, on one P):
// the calls alone less it is what the calls and their waiting cost.
func BenchmarkLoad(b *testing.B) {
	scale := envFloat(b, "LOAD_SCALE", 1)
	lat := envDuration(b, "LOAD_LATENCY", 100*time.Millisecond)
	limit := int(envFloat(b, "LOAD_LIMIT", 10))
	linger := envDuration(b, "LOAD_LINGER", time.Second)
	n := func(x int) int { return max(int(float64(x)*scale), 100) }
	sc := loadScenario{lat: lat, limit: limit, linger: linger}
	b.Run("a_new_records_one_process", func(b *testing.B) {
		s := sc
		s.name, s.procs, s.floor, s.floorCalls = "a", 1, true, true
		s.gen = func(enc *schematest.Encoder) ([]*kgo.Record, int) {
			return newRecords(b, enc, 0, n(50_000)), n(50_000)
		}
		runLoad(b, s)
	})
	b.Run("b_backlog_20_changes_a_key", func(b *testing.B) {
		s := sc
		s.name, s.procs, s.floor = "b", 1, true
		keys := n(10_000)
		s.gen = func(enc *schematest.Encoder) ([]*kgo.Record, int) { return rounds(b, enc, keys, 20), keys }
		runLoad(b, s)
	})
	b.Run("c_new_records_three_processes", func(b *testing.B) {
		s := sc
		s.name, s.procs = "c", 3
		s.gen = func(enc *schematest.Encoder) ([]*kgo.Record, int) {
			return newRecords(b, enc, 0, n(50_000)), n(50_000)
		}
		runLoad(b, s)
	})
	b.Run("d_low_rate", func(b *testing.B) {
		s := sc
		s.name, s.procs = "d", 1
		s.rate, s.duration = 100, time.Duration(float64(20*time.Second)*min(scale, 1))
		runLoad(b, s)
	})
}

type loadScenario struct {
	name   string
	procs  int
	lat    time.Duration
	limit  int
	linger time.Duration
	floor  bool
	// floorCalls: the floor runs a second time, writing its bodies to the
	// stand-in as the product does (see floorMain).
	floorCalls bool
	// gen makes the backlog produced before the processes start, and says
	// how many distinct keys it holds.
	gen func(enc *schematest.Encoder) ([]*kgo.Record, int)
	// rate > 0: instead, new records are produced at rate per second for
	// duration once the processes joined.
	rate     int
	duration time.Duration
}

// loadResult is what one run measured.
type loadResult struct {
	changes, keys                     int
	written, calls, throttled, others int
	credits                           int
	firstWrite, lastAnswer            time.Time
	busy                              time.Duration // sum of the write calls' durations
	peak, peakComplex                 int
	peakAsked                         int // write calls open at the stand-in at once, refused ones included
	catchUp                           time.Duration
	cpu                               time.Duration // the product's processes together
	rssKiB                            int64         // the largest of them
	faults                            int64         // their page faults (minor: memory touched the first time, mostly)
	floorCPU                          time.Duration
	floorCallsCPU                     time.Duration
	callsAloneCPU                     time.Duration
	consumeOnlyCPU                    time.Duration
	lat                               []time.Duration
}

func runLoad(b *testing.B, sc loadScenario) {
	for i := 0; i < b.N; i++ {
		res := runLoadOnce(b, sc)
		report(b, sc, res)
	}
}

func runLoadOnce(b *testing.B, sc loadScenario) loadResult {
	b.StopTimer()
	topic := contactsTable.Topic()
	s := newStack(b, 6, []string{topic}, zohotest.WithLatency(sc.lat, sc.lat), zohotest.WithConcurrency(sc.limit),
		zohotest.WithDailyCredits(math.MaxInt32), zohotest.WithSeed(1))
	defer s.close()
	enc := s.register(contactsTable)
	var res loadResult
	if sc.gen != nil {
		recs, keys := sc.gen(enc)
		produceAll(b, s, recs)
		res.changes, res.keys = len(recs), keys
	}
	group := "load-" + sc.name
	procs := make([]*loadProc, sc.procs)
	b.StartTimer()
	start := time.Now()
	for i := range procs {
		cfg := s.configText(contactsConfig, map[string]string{"Group": group, "Instance": fmt.Sprintf("load-%s-%d", sc.name, i), "Timeout": "30s", "Linger": sc.linger.String()})
		if v := os.Getenv("LOAD_BUFFERED"); v != "" {
			cfg = strings.Replace(cfg, "kafka:\n", "kafka:\n  max_buffered_bytes: "+v+"\n", 1)
		}
		procs[i] = startLoadProc(b, cfg)
	}
	var appended map[string]time.Time
	if sc.rate > 0 {
		for _, p := range procs {
			p.waitFor(b, "partitions assigned", time.Minute)
		}
		appended = produceAtRate(b, s, enc, sc.rate, sc.duration)
		res.changes, res.keys = len(appended), len(appended)
		start = time.Now() // catch-up: from the last append
	}
	for {
		if ok, _ := s.committedAtEnd(group, topic); ok {
			break
		}
		for _, p := range procs {
			if p.exited() {
				b.Fatalf("zohosink exited early:\n%s", p.output())
			}
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatal("not caught up within 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.catchUp = time.Since(start)
	b.StopTimer()
	for _, p := range procs {
		cpu, rss, faults := p.stop(b)
		res.cpu += cpu
		res.rssKiB = max(res.rssKiB, rss)
		res.faults += faults
	}

	type edge struct {
		at   time.Time
		open int
	}
	var edges []edge
	for _, r := range s.sim.Requests() {
		switch r.Operation {
		case "insert", "update", "upsert", "delete", "add_tags", "remove_tags":
		default:
			continue
		}
		edges = append(edges, edge{r.Time, 1}, edge{r.Answered, -1})
		if r.Status == 429 {
			res.throttled++
			continue
		}
		if r.Status < 200 || r.Status >= 300 {
			res.others++
			continue
		}
		res.calls++
		res.written += r.Records
		res.credits += r.Credits
		res.busy += r.Answered.Sub(r.Time)
		if res.firstWrite.IsZero() || r.Time.Before(res.firstWrite) {
			res.firstWrite = r.Time
		}
		if r.Answered.After(res.lastAnswer) {
			res.lastAnswer = r.Answered
		}
		if appended != nil {
			var body struct {
				Data []struct{ Email string } `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &body); err == nil {
				for _, d := range body.Data {
					if at, ok := appended[d.Email]; ok {
						res.lat = append(res.lat, r.Answered.Sub(at))
					}
				}
			}
		}
	}
	res.peak, res.peakComplex = s.sim.PeakConcurrency(), s.sim.PeakComplexConcurrency()
	if os.Getenv("LOAD_TRACE") != "" { // records answered per 250 ms, to see where slots idle
		buckets := map[int]int{}
		last := 0
		for _, r := range s.sim.Requests() {
			if r.Operation == "upsert" && r.Status == 200 {
				i := int(r.Answered.Sub(res.firstWrite) / (250 * time.Millisecond))
				buckets[i] += r.Records
				last = max(last, i)
			}
		}
		for i := 0; i <= last; i++ {
			fmt.Printf("%5.2fs %5d\n", float64(i)/4, buckets[i])
		}
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(a.at.Compare(b.at), a.open-b.open) })
	open := 0
	for _, e := range edges {
		open += e.open
		res.peakAsked = max(res.peakAsked, open)
	}
	if sc.floor {
		res.floorCPU = runFloor(b, s, topic, res.changes, "")
	}
	if sc.floorCalls {
		tokens := s.sim.AccessTokens()
		if len(tokens) == 0 {
			b.Fatal("the stand-in holds no access token for the floor's calls")
		}
		res.floorCallsCPU = runFloor(b, s, topic, res.changes, s.sim.URL+","+tokens[0])
		res.callsAloneCPU = runFloor(b, s, topic, res.changes, s.sim.URL+","+tokens[0]+",alone")
		res.consumeOnlyCPU = runFloor(b, s, topic, res.changes, "consume")
	}
	return res
}

func report(b *testing.B, sc loadScenario, r loadResult) {
	ceiling := 10 * 100 / sc.lat.Seconds() // records/s: 10 slots of 100 records every latency
	if sc.limit < 10 {
		ceiling = float64(sc.limit) * 100 / sc.lat.Seconds()
	}
	phase := r.lastAnswer.Sub(r.firstWrite).Seconds()
	tput := float64(r.written) / phase
	cpuPer := float64(r.cpu.Microseconds()) / float64(r.changes)
	least := (r.keys + 9) / 10
	b.ReportMetric(tput, "records/s")
	b.ReportMetric(100*tput/ceiling, "%ceiling")
	b.ReportMetric(float64(r.written)/float64(max(r.calls, 1)), "records/call")
	b.ReportMetric(float64(r.credits), "credits")
	b.ReportMetric(float64(least), "least-credits")
	b.ReportMetric(cpuPer, "cpu-µs/change")
	b.ReportMetric(float64(r.rssKiB)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(r.faults)/float64(r.changes), "page-faults/change")
	b.ReportMetric(r.catchUp.Seconds(), "catch-up-s")
	b.ReportMetric(float64(r.throttled), "429s")
	b.ReportMetric(float64(r.peakAsked), "peak-in-flight")
	var lines []string
	add := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	add("scenario %s: %d changes over %d keys, %d process(es), latency %s, limit %d, linger %s", sc.name, r.changes, r.keys, sc.procs, sc.lat, sc.limit, sc.linger)
	add("  throughput      %.0f records/s written (first write to last answer, %.2f s) = %.1f%% of the ceiling %.0f", tput, phase, 100*tput/ceiling, ceiling)
	add("  calls           %d writes, %.1f records/call, %d answered 429, %d other failures; peak in flight %d admitted (writes of >10 records %d), %d asked (429s included), mean %.1f admitted", r.calls, float64(r.written)/float64(max(r.calls, 1)), r.throttled, r.others, r.peak, r.peakComplex, r.peakAsked, r.busy.Seconds()/phase)
	add("  credits         %d spent, %d the least possible (distinct keys / 10)", r.credits, least)
	add("  catch-up        %.2f s (%s to the group's commit of the end)", r.catchUp.Seconds(), map[bool]string{true: "last append", false: "processes' start"}[sc.rate > 0])
	add("  CPU             %.1f µs/change (the zohosink processes' user+system, start to exit)", cpuPer)
	if r.floorCPU > 0 {
		add("  CPU floor       %.1f µs/change (franz-go + goavro maps + 3 fields + encoding/json 100-record bodies)", float64(r.floorCPU.Microseconds())/float64(r.changes))
	}
	if r.floorCallsCPU > 0 {
		per := float64(r.floorCallsCPU.Microseconds()) / float64(r.changes)
		b.ReportMetric(per, "floor-calls-cpu-µs/change")
		add("  CPU floor+calls %.1f µs/change (the floor, each body also upserted to the stand-in, 10 calls at a time, answers read with encoding/json)", per)
	}
	if r.callsAloneCPU > 0 {
		per := float64(r.callsAloneCPU.Microseconds()) / float64(r.changes)
		b.ReportMetric(per, "calls-alone-cpu-µs/change")
		add("  CPU calls alone %.1f µs/change (franz-go consuming the changes and one fixed 100-record body upserted per 100 of them, 10 calls at a time, answers discarded unread; GOMAXPROCS=1)", per)
	}
	if r.consumeOnlyCPU > 0 {
		per := float64(r.consumeOnlyCPU.Microseconds()) / float64(r.changes)
		b.ReportMetric(per, "consume-only-cpu-µs/change")
		add("  CPU consume only %.1f µs/change (franz-go consuming the changes, nothing else; GOMAXPROCS=1: the calls alone less it is what the calls and their waiting cost)", per)
	}
	add("  peak RSS        %.0f MiB (the largest zohosink process, VmHWM before SIGTERM); %d page faults, %.2f a change", float64(r.rssKiB)/1024, r.faults, float64(r.faults)/float64(r.changes))
	if len(r.lat) > 0 {
		slices.Sort(r.lat)
		q := func(p float64) time.Duration {
			return r.lat[min(int(p*float64(len(r.lat))), len(r.lat)-1)].Round(time.Millisecond)
		}
		add("  latency         p50 %s, p99 %s, max %s (Kafka append to Zoho's answer, %d records)", q(0.50), q(0.99), r.lat[len(r.lat)-1].Round(time.Millisecond), len(r.lat))
	}
	fmt.Println(strings.Join(lines, "\n"))
}

// newRecords are creates of n new customers, ids from..from+n-1.
func newRecords(t testing.TB, enc *schematest.Encoder, from, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for id := from; id < from+n; id++ {
		recs = append(recs, event(t, enc, 'c', nil, map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": "T", "phone": "1", "note": nil}))
	}
	return recs
}

// rounds are n rounds of changes to every one of keys customers: a create,
// then updates of the title.
func rounds(t testing.TB, enc *schematest.Encoder, keys, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, keys*n)
	prev := make([]map[string]any, keys)
	for r := 0; r < n; r++ {
		for id := 0; id < keys; id++ {
			row := map[string]any{"id": int64(id), "email": email(id), "last_name": "L", "title": "T" + strconv.Itoa(r), "phone": "1", "note": nil}
			op := byte('u')
			if r == 0 {
				op = 'c'
			}
			recs = append(recs, event(t, enc, op, prev[id], row))
			prev[id] = row
		}
	}
	return recs
}

func produceAll(t testing.TB, s *stack, recs []*kgo.Record) {
	t.Helper()
	for c := range slices.Chunk(recs, 10_000) {
		s.produce(c...)
	}
}

// produceAtRate produces new customers at rate per second for d and returns
// when Kafka appended each (by email).
func produceAtRate(t testing.TB, s *stack, enc *schematest.Encoder, rate int, d time.Duration) map[string]time.Time {
	t.Helper()
	var mu sync.Mutex
	appended := map[string]time.Time{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for id := 0; time.Now().Before(end); id++ {
		<-tick.C
		rec := newRecords(t, enc, id, 1)[0]
		wg.Add(1)
		s.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			appended[email(id)] = time.Now()
			mu.Unlock()
		})
	}
	wg.Wait()
	return appended
}

// loadProc is a zohosink process of a load run.
type loadProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func startLoadProc(t testing.TB, cfg string) *loadProc {
	t.Helper()
	path := t.TempDir() + "/zohosink.yaml"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &loadProc{cmd: exec.Command(binary, "run", "--config", path), done: make(chan struct{})}
	w := lockedWriter{&p.mu, &p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if v := os.Getenv("LOAD_PROC_ENV"); v != "" {
		p.cmd.Env = append(os.Environ(), strings.Fields(v)...)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if d := os.Getenv("LOAD_DUMP"); d != "" {
			_ = os.WriteFile(d, []byte(p.output()), 0o644)
		}
	})
	return p
}

func (p *loadProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *loadProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *loadProc) waitFor(t testing.TB, text string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.output(), text) {
			return
		}
	}
	t.Fatalf("no %q within %s:\n%s", text, d, p.output())
}

// stop ends the process with SIGTERM and returns the CPU it spent (user and
// system), its peak RSS in KiB until then, and its minor page faults (each
// page of memory it touched the first time costs one, about 1.3 µs of
// system CPU on the development machine). The peak is VmHWM of
// /proc/<pid>/status: the rusage of a waited child is no good here, as Linux
// starts its ru_maxrss at the RSS of the process that forked it (this
// benchmark, holding the whole backlog).
func (p *loadProc) stop(t testing.TB) (time.Duration, int64, int64) {
	t.Helper()
	var hwm int64
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for line := range strings.Lines(string(st)) {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				hwm, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("zohosink did not stop:\n%s", p.output())
	}
	var faults int64
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		faults = ru.Minflt
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime(), hwm, faults
}

// The CPU floor runs in a process of its own: this test binary again, told
// by floorEnv where the broker is. See floorMain.
const floorEnv = "ZOHOSINK_LOAD_FLOOR"

// calls is "" for the floor, "URL,access token" of the stand-in for the
// floor with calls, that and ",alone" for the calls alone, or "consume"
// for the consuming only.
func runFloor(t testing.TB, s *stack, topic string, changes int, calls string) time.Duration {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	arg := s.broker + "," + topic + "," + strconv.Itoa(changes)
	if calls != "" {
		arg += "," + calls
	}
	cmd.Env = append(os.Environ(), floorEnv+"="+arg)
	if strings.HasSuffix(calls, ",alone") || calls == "consume" {
		// The least: a program that waits on calls spends less on one P
		// (no second thread woken for each answer), as zohosink runs.
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CPU floor: %v\n%s", err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// floorMain is the CPU floor: the least a program must spend to take the
// changes from Kafka to Zoho request bodies. It consumes n records of topic
// with franz-go, decodes key and value with goavro into maps, maps three
// fields of the after image, and encodes 100-record upsert bodies with
// encoding/json, which it discards.
//
// Given the stand-in's URL and an access token as well, it is the floor
// with calls: each body is upserted too, at most 10 calls in flight (the
// stand-in's limit) over kept-alive connections, and each answer is read
// with encoding/json, as a plain program would. Issue 14's floor makes no
// calls; this one shows what calls cost a program that makes them.
func floorMain(arg string) {
	parts := strings.Split(arg, ",")
	n, err := strconv.Atoi(parts[min(2, len(parts)-1)])
	if err != nil || n <= 0 || len(parts) < 3 || len(parts) > 6 || len(parts) == 4 && parts[3] != "consume" {
		must(fmt.Errorf("%s=%q: want broker,topic,changes[,consume | ,URL,token[,alone]]", floorEnv, arg))
	}
	var post func(body []byte)
	wait := func() {}
	if len(parts) == 4 {
		callsAlone(parts[0], parts[1], n, nil)
		return
	}
	if len(parts) >= 5 {
		post, wait = floorCalls(parts[3], parts[4], len(parts) == 6)
	}
	if len(parts) == 6 {
		callsAlone(parts[0], parts[1], n, post)
		wait()
		return
	}
	ks, err := contactsTable.KeySchema()
	must(err)
	vs, err := contactsTable.ValueSchema()
	must(err)
	kc, err := goavro.NewCodec(ks)
	must(err)
	vc, err := goavro.NewCodec(vs)
	must(err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(parts[0]), kgo.ConsumeTopics(parts[1]), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	must(err)
	defer cl.Close()
	batch := make([]map[string]any, 0, 100)
	flush := func() {
		body, err := json.Marshal(map[string]any{"data": batch, "duplicate_check_fields": []string{"Email"}})
		must(err)
		if post != nil {
			post(body)
		}
		batch = batch[:0]
	}
	seen := 0
	for seen < n {
		fs := cl.PollFetches(context.Background())
		must(fs.Err())
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			_, _, err := kc.NativeFromBinary(r.Key[5:])
			must(err)
			v, _, err := vc.NativeFromBinary(r.Value[5:])
			must(err)
			after, _ := v.(map[string]any)["after"].(map[string]any)
			for _, row := range after { // the union's one branch
				m := row.(map[string]any)
				rec := map[string]any{}
				for to, from := range map[string]string{"Email": "email", "Last_Name": "last_name", "Title": "title"} {
					rec[to] = unwrapUnion(m[from])
				}
				batch = append(batch, rec)
			}
			if len(batch) == 100 {
				flush()
			}
		})
	}
	if len(batch) > 0 {
		flush()
	}
	wait()
}

// floorCalls returns the floor's post, which upserts a body to the stand-in
// at zohoURL in a goroutine of its own once fewer than 10 are in flight,
// and wait, which returns once every call was answered (discard: its
// answer unread, for the calls alone). A call that fails
// or is answered other than 200 ends the floor with an error.
func floorCalls(zohoURL, token string, discard bool) (post func(body []byte), wait func()) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 10
	hc := &http.Client{Transport: tr}
	slots := make(chan struct{}, 10)
	var wg sync.WaitGroup
	post = func(body []byte) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			// The stand-in frees a call's slot once its handler returns,
			// which can be after the client read the answer: a call that
			// follows at once may be refused with 429, as Zoho may. A
			// plain program tries again.
			for {
				if floorUpsert(hc, zohoURL, token, body, discard) {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	return post, wg.Wait
}

// floorUpsert upserts body, reading the answer with encoding/json, or
// discarding it unread: false when refused with 429.
func floorUpsert(hc *http.Client, zohoURL, token string, body []byte, discard bool) bool {
	req, err := http.NewRequest(http.MethodPost, zohoURL+"/crm/v8/Contacts/upsert", bytes.NewReader(body))
	must(err)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	must(err)
	defer resp.Body.Close()
	if discard {
		_, err := io.Copy(io.Discard, resp.Body)
		must(err)
		if resp.StatusCode == http.StatusTooManyRequests {
			return false
		}
		if resp.StatusCode != http.StatusOK {
			must(fmt.Errorf("calls alone: status %d", resp.StatusCode))
		}
		return true
	}
	var answer struct {
		Data []struct {
			Code    string `json:"code"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Details struct {
				ID string `json:"id"`
			} `json:"details"`
		} `json:"data"`
	}
	must(json.NewDecoder(resp.Body).Decode(&answer))
	if resp.StatusCode == http.StatusTooManyRequests {
		return false
	}
	if resp.StatusCode != http.StatusOK || len(answer.Data) == 0 {
		must(fmt.Errorf("floor upsert: status %d, %d items", resp.StatusCode, len(answer.Data)))
	}
	return true
}

// callsAlone is the least a program that makes the calls must spend: it
// consumes n records of topic with franz-go and, for every 100 of them,
// upserts one body made once beforehand (100 contacts), without decoding,
// mapping or encoding anything, and discards the answers unread. With post
// nil it only consumes: the least any consumer of the changes spends.
func callsAlone(broker, topic string, n int, post func([]byte)) {
	recs := make([]map[string]any, 100)
	for i := range recs {
		recs[i] = map[string]any{"Email": fmt.Sprintf("alone-%d@example.com", i), "Last_Name": "L", "Title": "T"}
	}
	body, err := json.Marshal(map[string]any{"data": recs, "duplicate_check_fields": []string{"Email"}})
	must(err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	must(err)
	defer cl.Close()
	seen := 0
	for seen < n {
		fs := cl.PollFetches(context.Background())
		must(fs.Err())
		fs.EachRecord(func(*kgo.Record) {
			seen++
			if post != nil && (seen%100 == 0 || seen == n) {
				post(body)
			}
		})
	}
}

func unwrapUnion(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func envFloat(t testing.TB, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}
