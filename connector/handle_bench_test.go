package connector

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"zohosink/connector/config"
	"zohosink/schema"
	"zohosink/schema/schematest"
	"zohosink/zoho"
)

// BenchmarkSyncLoop measures a sync's loop per record, without Kafka and
// Zoho: decode (a real schema.Decoder, its schemas cached), the mode table,
// mapping, the fingerprint, the batcher, and completing each batch of 100
// as written (the id and fingerprint cache, metrics, checkpoints). The
// records are those of the load harness's scenario a (new contacts, four
// fields mapped, upsert on Email); the write itself is measured by zoho's
// BenchmarkUpsert100.
//
//	go test ./connector -run '^$' -bench SyncLoop -benchmem
func BenchmarkSyncLoop(b *testing.B) {
	table := schematest.Table{Prefix: "wh", Schema: "public", Name: "customers", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "email", Type: "string"},
		{Name: "last_name", Type: "string", Optional: true},
		{Name: "title", Type: "string", Optional: true},
		{Name: "phone", Type: "string", Optional: true},
		{Name: "note", Type: "string", Optional: true},
	}}
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		b.Fatal(err)
	}
	enc, err := schematest.Register(context.Background(), cl, table)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := schema.NewDecoder(schema.WithRegistry(cl))
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000 // distinct records, reused round after round at new offsets
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k, v, err := enc.Event('c', nil, map[string]any{"id": int64(i), "email": fmt.Sprintf("c%d@load.example", i), "last_name": "L", "title": "T", "phone": "1", "note": nil}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: table.Topic(), Key: k, Value: v}
	}
	cfg := &config.SyncConfig{Name: "contacts", Topics: []string{table.Topic()}, Module: "Contacts", Type: "model", Mode: "upsert",
		MatchOn: []string{"Email"}, Fields: map[string]string{"Email": "email", "Last_Name": "last_name", "Title": "title", "Phone": "phone"},
		BatchSize: 100, Linger: config.Duration(time.Second)}
	r := &Runner{maxHeld: config.DefaultMaxBufferedBytes, cache: newKeyCache(config.DefaultMaxBufferedBytes / 4)}
	w := newSyncWorker(cfg, fieldTypes("Contacts", nil), nil, dec, nil, newMetrics(nil), slog.New(slog.DiscardHandler), func(error) {})
	w.cache = r.cache
	p := r.newPartition(tp{table.Topic(), 0}, w)
	ctx := context.Background()
	far := time.Now().Add(time.Hour) // every batch is due
	written := func() {
		for {
			bt, _ := w.batcher.next(far, w.dropped)
			if bt == nil {
				return
			}
			res := batchResult{b: bt, outcomes: make([]outcome, len(bt.entries))}
			for i := range res.outcomes {
				res.outcomes[i] = outcome{kind: outWritten, op: zoho.OpUpsert, id: strconv.Itoa(i)}
			}
			w.complete(res)
		}
	}
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		if off%n == 0 {
			w.cacheGen.Add(1) // the keys again, as new ones: nothing known of them
		}
		rec := *recs[off%n]
		rec.Offset = off
		off++
		if !p.track(&rec) {
			b.Fatal("not tracked")
		}
		w.handle(ctx, inRecord{rec: &rec, part: p})
		if off%100 == 0 {
			written()
		}
	}
	b.StopTimer()
	if done := w.status.written.Load(); done < off-100 {
		b.Fatalf("%d of %d records written", done, off)
	}
}
