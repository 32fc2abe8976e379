package test

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"zohosink/zoho/zohotest"
)

// BenchmarkRequestRates counts the Kafka requests of three processes of
// one group (heartbeats, fetches, the limit shares' reads of the group's
// offsets, commits), idle for 10 s and then behind for 10 s (a backlog
// written at 2 s a call), and reports them per process and second. A
// measurement, ~35 s:
//
//	go test ./test -run '^$' -bench RequestRates -benchtime 1x
func BenchmarkRequestRates(b *testing.B) {
	for range b.N {
		requestRates(b)
	}
}

func requestRates(t *testing.B) {
	topic := contactsTable.Topic()
	s := newStack(t, 6, []string{topic}, zohotest.WithLatency(2*time.Second, 2*time.Second), zohotest.WithConcurrency(10))
	enc := s.register(contactsTable)
	var mu sync.Mutex
	counts := map[int16]int{}
	s.kafka.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.kafka.KeepControl()
		mu.Lock()
		counts[req.Key()]++
		mu.Unlock()
		return nil, nil, false
	})
	snap := func() map[int16]int {
		mu.Lock()
		defer mu.Unlock()
		c := map[int16]int{}
		for k, v := range counts {
			c[k] = v
		}
		return c
	}
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
		fmt.Printf("%s: %.1f requests/s per process:%s\n", name, float64(total)/d.Seconds()/float64(procs), line)
		t.ReportMetric(float64(total)/d.Seconds()/float64(procs), name+"-req/s/process")
	}
	const procs = 3
	for i := range procs {
		cfg := s.configText(contactsConfig, map[string]string{"Group": "rr", "Instance": fmt.Sprintf("rr-%d", i), "Timeout": "30s", "Linger": "1s"})
		p := startLoadProc(t, cfg)
		p.waitFor(t, "partitions assigned", time.Minute)
	}
	time.Sleep(5 * time.Second)
	a := snap()
	time.Sleep(10 * time.Second)
	b := snap()
	show("idle", a, b, 10*time.Second, procs)
	produceAll(t, s, newRecords(t, enc, 0, 20_000)) // 2 s a call, 10 slots: ~20 s behind
	time.Sleep(3 * time.Second)
	a = snap()
	time.Sleep(10 * time.Second)
	b = snap()
	show("behind", a, b, 10*time.Second, procs)
}
