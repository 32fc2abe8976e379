package test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"zohosink/zoho/zohotest"
)

// BenchmarkRequestRates counts the Kafka requests of one process alone,
// and of three processes of one group (heartbeats, fetches, the limit
// shares' reads of the group's offsets, commits), idle for 10 s and then
// behind for 10 s (a backlog written at 2 s a call), and reports them per
// process and second, with the CPU the processes spent idle. A
// measurement, ~35 s each:
//
//	go test ./test -run '^$' -bench RequestRates -benchtime 1x
func BenchmarkRequestRates(b *testing.B) {
	for _, procs := range []int{1, 3} {
		b.Run(fmt.Sprintf("processes=%d", procs), func(b *testing.B) {
			for range b.N {
				requestRates(b, procs)
			}
		})
	}
}

// cpu is the CPU (user and system) p spent so far, from /proc/<pid>/stat
// (in the kernel's USER_HZ ticks: 10 ms).
func (p *loadProc) cpu(t testing.TB) time.Duration {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", p.cmd.Process.Pid, st)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// kafkaRequests counts the requests s's broker is sent, by API key.
type kafkaRequests struct {
	mu     sync.Mutex
	counts map[int16]int
}

func countKafkaRequests(s *stack) *kafkaRequests {
	k := &kafkaRequests{counts: map[int16]int{}}
	s.kafka.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.kafka.KeepControl()
		k.mu.Lock()
		k.counts[req.Key()]++
		k.mu.Unlock()
		return nil, nil, false
	})
	return k
}

func (k *kafkaRequests) snap() map[int16]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.counts)
}

func requestRates(t *testing.B, procs int) {
	topic := contactsTable.Topic()
	s := newStack(t, 6, []string{topic}, zohotest.WithLatency(2*time.Second, 2*time.Second), zohotest.WithConcurrency(10))
	enc := s.register(contactsTable)
	reqs := countKafkaRequests(s)
	snap := reqs.snap
	show := func(name string, a, b map[int16]int, d time.Duration, procs int) {
		t.Helper()
		var keys []int
		total := 0
		for k := range b {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		line := ""
		for _, k := range keys {
			n := b[int16(k)] - a[int16(k)]
			total += n
			if n > 0 {
				line += fmt.Sprintf(" %s=%.1f", kmsg.NameForKey(int16(k)), float64(n)/d.Seconds()/float64(procs))
			}
		}
		fmt.Printf("%d process(es), %s: %.1f requests/s per process:%s\n", procs, name, float64(total)/d.Seconds()/float64(procs), line)
		t.ReportMetric(float64(total)/d.Seconds()/float64(procs), name+"-req/s/process")
	}
	var ps []*loadProc
	for i := range procs {
		cfg := s.configText(contactsConfig, map[string]string{"Group": "rr", "Instance": fmt.Sprintf("rr-%d", i), "Timeout": "30s", "Linger": "1s"})
		p := startLoadProc(t, cfg)
		p.waitFor(t, "partitions assigned", time.Minute)
		ps = append(ps, p)
	}
	cpu := func() (sum time.Duration) {
		for _, p := range ps {
			sum += p.cpu(t)
		}
		return sum
	}
	time.Sleep(5 * time.Second)
	a, cpuA := snap(), cpu()
	time.Sleep(10 * time.Second)
	b, cpuB := snap(), cpu()
	show("idle", a, b, 10*time.Second, procs)
	idleCPU := float64((cpuB - cpuA).Milliseconds()) / 10 / float64(procs)
	fmt.Printf("%d process(es), idle: %.1f ms of CPU a second per process\n", procs, idleCPU)
	t.ReportMetric(idleCPU, "idle-cpu-ms/s/process")
	produceAll(t, s, newRecords(t, enc, 0, 20_000)) // 2 s a call, 10 slots: ~20 s behind
	time.Sleep(3 * time.Second)
	a = snap()
	time.Sleep(10 * time.Second)
	b = snap()
	show("behind", a, b, 10*time.Second, procs)
}

// A process that owns every partition of its topics has its share (the
// whole limit) whatever the group's offsets say, so it reads them seldom;
// once another member joins, the rebalance has them read again at the
// usual pace, for both to share Zoho's limits.
func TestAProcessAloneReadsTheGroupSeldom(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes and watches their requests for ~15 s")
	}
	s := newStack(t, 6, []string{contactsTable.Topic()})
	s.register(contactsTable)
	// The limit shares' reads of the group's offsets: an OffsetFetch of
	// all the group's topics (a consumer's own, at an assignment, names
	// its partitions).
	var mu sync.Mutex
	var reads []time.Time
	s.kafka.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.kafka.KeepControl()
		if of, ok := req.(*kmsg.OffsetFetchRequest); ok && len(of.Topics) == 0 && !slices.ContainsFunc(of.Groups, func(g kmsg.OffsetFetchRequestGroup) bool { return len(g.Topics) > 0 }) {
			mu.Lock()
			reads = append(reads, time.Now())
			mu.Unlock()
		}
		return nil, nil, false
	})
	between := func(from, to time.Time) (n int, last time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, at := range reads {
			if !at.Before(from) && at.Before(to) {
				n++
			}
			last = at
		}
		return n, last
	}
	start := func(i int) {
		cfg := s.configText(contactsConfig, map[string]string{"Group": "alone", "Instance": fmt.Sprintf("alone-%d", i), "Timeout": "30s", "Linger": "1s"})
		startLoadProc(t, cfg).waitFor(t, "partitions assigned", time.Minute)
	}
	start(0)
	// Reads keep their usual pace (every second, nothing behind) for 6 s
	// after the start, then go to every 10 s.
	time.Sleep(8 * time.Second)
	_, alone := between(time.Time{}, time.Now())
	time.Sleep(3 * time.Second)
	if n, _ := between(alone.Add(time.Millisecond), time.Now()); n > 0 {
		t.Errorf("a process alone read the group's offsets %d times in the 3 s after its read at the 10 s pace; want none", n)
	}
	// A second member: both read every second. Had the rebalance not woken
	// the first, it would not read before its 10 s were up, and the window
	// ends before that.
	start(1)
	from := time.Now().Add(time.Second)
	to := alone.Add(9500 * time.Millisecond)
	if to.Sub(from) > 5*time.Second {
		to = from.Add(5 * time.Second)
	}
	if d := to.Sub(from); d < 2*time.Second {
		t.Fatalf("the second process took too long to start (%v left before the first's next read at the 10 s pace): nothing to tell", d)
	}
	time.Sleep(time.Until(to))
	n, _ := between(from, to)
	if want := 1.6 * to.Sub(from).Seconds(); float64(n) < want {
		t.Errorf("two processes read the group's offsets %d times in %v; want at least %.1f (each every second)", n, to.Sub(from).Round(time.Millisecond), want)
	}
}
