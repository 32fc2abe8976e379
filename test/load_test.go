package test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
	"zohosink/connector/config"

	"zohosink/connector"
	"zohosink/zoho/zohotest"
)

// BenchmarkPipeline is the load harness: the real pipeline (Runner) in
// process against kfake, srfake and the Zoho simulator, over a backlog of
// 10,000 changes to 3,000 keys on 3 partitions (snapshot reads, repeated
// updates, no-op updates). It reports records per second end to end
// (consume, decode, map, batch, upsert, commit), Zoho calls and credits per
// 1,000 changes, and the heap in use at the end.
//
//	go test ./test -run '^$' -bench BenchmarkPipeline -benchtime 3x
func BenchmarkPipeline(b *testing.B) {
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			var records, calls, credits float64
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				topic := contactsTable.Topic()
				var simOpts []zohotest.Option
				if lat > 0 {
					simOpts = append(simOpts, zohotest.WithLatency(lat/2, lat*3/2))
				}
				s := newStack(b, 3, []string{topic}, simOpts...)
				enc := s.register(contactsTable)
				recs, _, _ := history(b, enc, 10_000, 3000, uint64(i+1))
				s.produce(recs...)
				cfg, err := config.Parse([]byte(s.configText(contactsConfig, map[string]string{"Group": "bench", "Instance": "", "Timeout": "10s", "Linger": "200ms"})), func(string) (string, bool) { return "", false })
				if err != nil {
					b.Fatal(err)
				}
				r, err := connector.New(cfg, connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- r.Run(ctx) }()
				for {
					st := r.Status()
					if len(st.Syncs) == 0 {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					if n := st.Syncs[0].Written + st.Syncs[0].Skipped + st.Syncs[0].DeadLettered; n == int64(len(recs)) {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				records += float64(len(recs))
				for _, req := range s.sim.Requests() {
					if req.Operation != "token" && req.Operation != "fields" {
						calls++
					}
				}
				credits += float64(s.sim.CreditsUsed())
				s.close()
			}
			b.ReportMetric(records/elapsed.Seconds(), "records/s")
			b.ReportMetric(calls/records*1000, "calls/1k-changes")
			b.ReportMetric(credits/records*1000, "credits/1k-changes")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}
