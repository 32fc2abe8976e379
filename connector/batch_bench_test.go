package connector

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkBatcherBacklog measures the batcher per entry under a backlog:
// 40,000 new keys waiting (about what kafka.max_buffered_bytes holds of
// small records), taken in batches of 100, 12 in flight at most, each done
// before the next is asked for once 12 are out.
//
//	go test ./connector -run '^$' -bench BatcherBacklog -benchmem
func BenchmarkBatcherBacklog(b *testing.B) {
	const n = 40_000
	p := &partition{}
	entries := make([]*entry, n)
	for i := range entries {
		k := "t\x00" + strconv.Itoa(i)
		entries[i] = ent(k, actUpsert, "c"+strconv.Itoa(i)+"@x", 0, p, int64(i))
	}
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		bt := newBatcher(100, time.Second, 12)
		for _, e := range entries {
			e.removed, e.collapsed = false, places{}
			bt.add(e)
		}
		var out []*batch
		for written := 0; written < n; {
			next, _ := bt.next(now, func(*entry) {})
			if next != nil {
				out = append(out, next)
				continue
			}
			bt.done(out[0]) // the oldest write answers
			written += len(out[0].entries)
			out = out[1:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}
