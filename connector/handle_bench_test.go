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

// loopFixture is the sync of the load harness's scenarios: a customers
// table of six columns, four mapped to Contacts, upsert on Email, its
// schemas in a fake registry, and the decoder that reads them.
type loopFixture struct {
	table schematest.Table
	enc   *schematest.Encoder
	dec   *schema.Decoder
	cfg   *config.SyncConfig
}

func newLoopFixture(tb testing.TB) *loopFixture {
	tb.Helper()
	table := schematest.Table{Prefix: "wh", Schema: "public", Name: "customers", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "email", Type: "string"},
		{Name: "last_name", Type: "string", Optional: true},
		{Name: "title", Type: "string", Optional: true},
		{Name: "phone", Type: "string", Optional: true},
		{Name: "note", Type: "string", Optional: true},
	}}
	reg := srfake.New()
	tb.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := schematest.Register(context.Background(), cl, table)
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := schema.NewDecoder(schema.WithRegistry(cl))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &config.SyncConfig{Name: "contacts", Topics: []string{table.Topic()}, Module: "Contacts", Type: "model", Mode: "upsert",
		MatchOn: []string{"Email"}, Fields: map[string]string{"Email": "email", "Last_Name": "last_name", "Title": "title", "Phone": "phone"},
		BatchSize: 100, Linger: config.Duration(time.Second)}
	return &loopFixture{table: table, enc: enc, dec: dec, cfg: cfg}
}

// row is customer id's row with the given title.
func (f *loopFixture) row(id int, title string) map[string]any {
	return map[string]any{"id": int64(id), "email": fmt.Sprintf("c%d@load.example", id), "last_name": "L", "title": title, "phone": "1", "note": nil}
}

// record is a change event of the table as Kafka hands it over.
func (f *loopFixture) record(tb testing.TB, op byte, before, after map[string]any) *kgo.Record {
	tb.Helper()
	k, v, err := f.enc.Event(op, before, after, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return &kgo.Record{Topic: f.table.Topic(), Key: k, Value: v}
}

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
	f := newLoopFixture(b)
	const n = 10_000 // distinct records, reused round after round at new offsets
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = f.record(b, 'c', nil, f.row(i, "T"))
	}
	r := &Runner{maxHeld: config.DefaultMaxBufferedBytes, cache: newKeyCache(config.DefaultMaxBufferedBytes / 4)}
	w := newSyncWorker(f.cfg, fieldTypes("Contacts", nil), nil, f.dec, nil, newMetrics(nil), slog.New(slog.DiscardHandler), func(error) {})
	w.cache = r.cache
	p := r.newPartition(tp{f.table.Topic(), 0}, w)
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
