package connector

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/connector/dlq"
	"zohosink/zoho"
)

// upsertRecorder is a CRM that accepts every upsert and keeps what it got.
type upsertRecorder struct {
	CRM // nil: a sync of upserts calls nothing else
	mu  sync.Mutex
	got []zoho.Record
}

func (u *upsertRecorder) Upsert(_ context.Context, _ string, recs []zoho.Record, _ zoho.WriteOptions) ([]zoho.Result, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]zoho.Result, len(recs))
	for i, r := range recs {
		u.got = append(u.got, r)
		out[i] = zoho.Result{ID: "id-" + r["Email"].(string), Action: "insert"}
	}
	return out, nil
}

func (u *upsertRecorder) written() []zoho.Record {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]zoho.Record(nil), u.got...)
}

// A backlog of a few thousand keys changing round after round, read by a
// sync whose memory budget holds its keys' latest changes only if they are
// slim: once the keys recur, the waiting changes drop their mapped records
// and the sync goes on reading instead of writing, so each key is written
// once for the rest of the backlog; the records are mapped again for the
// write, with their last state. Full entries (the behaviour before) would
// have been written round after round: the budget's half holds about 1,300
// of the 2,000 keys.
func TestRecurringBacklogIsHeldSlim(t *testing.T) {
	f := newLoopFixture(t)
	const keys, rounds = 2000, 5
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // pause and resume only: never dialled
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	crm := &upsertRecorder{}
	r := &Runner{cl: cl, maxHeld: 4 << 20, cache: newKeyCache(1 << 20)}
	w := newSyncWorker(f.cfg, fieldTypes("Contacts", nil), crm, f.dec, nil, newMetrics(nil), slog.New(slog.DiscardHandler), func(err error) { t.Error(err) })
	w.cache, w.tight, w.slimmers = r.cache, r.tight, &r.slimmers
	r.workers = []*syncWorker{w}
	p := r.newPartition(tp{f.table.Topic(), 0}, w)
	p.hwm.Store(keys*rounds + 1000) // more is there to read: behind throughout
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx, ctx)

	handled := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); w.status.consumed.Load() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("the sync handled %d of %d records", w.status.consumed.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	off := int64(0)
	var prev [keys]map[string]any
	var afterTwo int // written by the end of round 2: the keys recur from round 1 on
	for round := range rounds {
		if round == 2 {
			handled(off)
			afterTwo = len(crm.written())
		}
		for id := range keys {
			op := byte('u')
			if round == 0 {
				op = 'c'
			}
			row := f.row(id, "T"+strconv.Itoa(round))
			rec := f.record(t, op, prev[id], row)
			prev[id] = row
			rec.Offset = off
			off++
			if !p.track(rec) {
				t.Fatal("not tracked")
			}
			w.input.push(inRecord{rec: rec, part: p})
			if off%500 == 0 {
				handled(off) // as fetching would, under the budget
			}
		}
	}
	handled(off)
	behindWrites := len(crm.written())
	if behindWrites != afterTwo {
		t.Errorf("%d records written in rounds 3 to %d, while the sync was behind: the backlog was not held", behindWrites-afterTwo, rounds)
	}
	if held := r.held.Load(); held >= r.maxHeld*3/4 {
		t.Errorf("the backlog holds %d bytes, budget %d", held, r.maxHeld)
	}
	// /status says what waits, and why.
	if n, c := w.status.waiting.Load(), w.status.compacting.Load(); n != keys || !c {
		t.Errorf("status: %d waiting (want %d), compacting %v", n, keys, c)
	}

	// Caught up: the sync writes what waits.
	p.hwm.Store(off)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if released, _, _ := p.cp.Released(); released == off {
			break
		}
		if time.Now().After(deadline) {
			released, _, _ := p.cp.Released()
			t.Fatalf("released %d of %d offsets", released, off)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); w.status.waiting.Load() != 0 || w.status.compacting.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("caught up and written, status still says %d waiting, compacting %v", w.status.waiting.Load(), w.status.compacting.Load())
		}
	}
	got := crm.written()
	if len(got)-behindWrites > keys {
		t.Errorf("%d records written for %d keys over %d rounds (%d while behind): the backlog was not held", len(got), keys, rounds, behindWrites)
	}
	last := map[string]zoho.Record{}
	for _, rec := range got {
		last[rec["Email"].(string)] = rec
	}
	if len(last) != keys {
		t.Fatalf("%d keys written, want %d", len(last), keys)
	}
	want := "T" + strconv.Itoa(rounds-1)
	for email, rec := range last {
		if rec["Title"] != want || rec["Last_Name"] != "L" || rec["Phone"] != "1" {
			t.Fatalf("%s last written as %v, want its last change (Title %s)", email, rec, want)
		}
	}
	if held := r.held.Load(); held != 0 {
		t.Errorf("all done, %d bytes still counted", held)
	}
	t.Logf("%d records written for %d keys (%d while behind)", len(got), keys, behindWrites)
}

// A slim entry is mapped again before its write; when that no longer
// works (here the field types read since make Title a number), the record
// is dead-lettered at the map stage with the reason, and done: nothing is
// written for it and nothing is lost.
func TestSlimEntryThatNoLongerMapsIsDeadLettered(t *testing.T) {
	f := newLoopFixture(t)
	_, cl := newDLQCluster(t)
	crm := &upsertRecorder{}
	r := &Runner{cl: cl, maxHeld: 4 << 20, cache: newKeyCache(1 << 20)}
	w := newSyncWorker(f.cfg, fieldTypes("Contacts", nil), crm, f.dec, &deadLetterer{cl: cl, topic: "g.dlq"}, newMetrics(nil), slog.New(slog.DiscardHandler), func(err error) { t.Error(err) })
	w.cache = r.cache
	p := r.newPartition(tp{f.table.Topic(), 0}, w)
	w.batcher.behind, w.slimming = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var fetched []*kgo.Record
	for id := range 3 {
		rec := f.record(t, 'c', nil, f.row(id, "T"))
		rec.Offset = int64(id)
		fetched = append(fetched, rec)
		p.track(rec)
		w.handle(ctx, inRecord{rec: rec, part: p})
	}
	slim := 0
	w.batcher.eachWaiting(func(e *entry) {
		orig := fetched[e.in.rec.Offset]
		// A slim entry keeps a copy of its record, not the fetch's bytes.
		if e.slim && e.rec == nil && e.in.rec != orig && &e.in.rec.Value[0] != &orig.Value[0] && bytes.Equal(e.in.rec.Value, orig.Value) && bytes.Equal(e.in.rec.Key, orig.Key) {
			slim++
		}
	})
	if slim != 3 {
		t.Fatalf("%d of 3 waiting entries slim", slim)
	}
	w.setTypes(fieldTypes("Contacts", []zoho.Field{{APIName: "Email", DataType: "email"}, {APIName: "Last_Name", DataType: "text"}, {APIName: "Title", DataType: "integer"}, {APIName: "Phone", DataType: "phone"}}))
	w.batcher.behind = false
	bt, _ := w.batcher.next(time.Now().Add(time.Hour), w.dropped)
	if bt == nil || len(bt.entries) != 3 {
		t.Fatal("the three entries were not due")
	}
	w.launch(ctx, bt)
	w.complete(<-w.results)
	for released, _, _ := p.cp.Released(); released != 3; released, _, _ = p.cp.Released() {
		if ctx.Err() != nil {
			t.Fatalf("released %d of 3: the dead letters were not acknowledged", released)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := crm.written(); len(got) != 0 {
		t.Fatalf("%d records written that do not map", len(got))
	}
	letters := readLetters(ctx, t, cl, "g.dlq", 3)
	for _, l := range letters {
		if l.Stage != "map" || l.Code != "MAPPING_ERROR" || l.Field != "Title" || l.Topic != f.table.Topic() {
			t.Fatalf("dead letter %+v", l)
		}
	}
	if len(letters) != 3 || r.held.Load() != 0 {
		t.Fatalf("%d dead letters, %d bytes still counted", len(letters), r.held.Load())
	}
}

// A sync decodes only the columns it maps (schema.Scratch.Project); a
// record whose mapped column is missing is still dead-lettered with every
// column of the table listed, the ones left undecoded (note) included, so
// that the operator sees what to map instead.
func TestMissingColumnListsTheWholeRow(t *testing.T) {
	f := newLoopFixture(t)
	cfg := *f.cfg
	cfg.Fields = map[string]string{"Email": "email", "Last_Name": "last_name", "Mobile": "mobile_phone"}
	_, cl := newDLQCluster(t)
	r := &Runner{cl: cl, maxHeld: 4 << 20, cache: newKeyCache(1 << 20)}
	w := newSyncWorker(&cfg, fieldTypes("Contacts", nil), &upsertRecorder{}, f.dec, &deadLetterer{cl: cl, topic: "g.dlq"}, newMetrics(nil), slog.New(slog.DiscardHandler), func(err error) { t.Error(err) })
	w.cache = r.cache
	p := r.newPartition(tp{f.table.Topic(), 0}, w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := f.record(t, 'c', nil, f.row(1, "T"))
	p.track(rec)
	w.handle(ctx, inRecord{rec: rec, part: p})
	letters := readLetters(ctx, t, cl, "g.dlq", 1)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1", len(letters))
	}
	l := letters[0]
	want := `column "mobile_phone" is not in the row (columns: email, id, last_name, note, phone, title)`
	if l.Stage != "map" || l.Field != "Mobile" || !strings.Contains(l.Message, want) {
		t.Fatalf("dead letter %s/%s %q; want the map stage, field Mobile and %q", l.Stage, l.Field, l.Message, want)
	}
}

// readLetters reads the dead letters of topic on cl's cluster until it has
// n or ctx ends.
func readLetters(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, n int) []dlq.Letter {
	t.Helper()
	fetch, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer fetch.Close()
	var letters []dlq.Letter
	for len(letters) < n && ctx.Err() == nil {
		fetch.PollFetches(ctx).EachRecord(func(rec *kgo.Record) { letters = append(letters, dlq.Parse(rec)) })
	}
	return letters
}
