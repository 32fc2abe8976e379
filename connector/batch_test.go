package connector

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ent is an entry of key k (action act) arriving at t0+at, at offset off of
// partition p, with match values "email=<m>" (none when m is "").
func ent(k string, act action, m string, at time.Duration, p *partition, off int64) *entry {
	e := &entry{key: k, act: act, since: t0.Add(at), in: inRecord{rec: &kgo.Record{Offset: off}, part: p}, keyHash: keyHash(k)}
	if m != "" {
		e.match = []string{m}
		e.matchHashes.add(matchHash("email=", m))
	}
	return e
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func keys(b *batch) string {
	if b == nil {
		return "-"
	}
	var out []string
	for _, e := range b.entries {
		out = append(out, e.key)
	}
	return b.act.String() + ":" + strings.Join(out, ",")
}

// drain takes every batch due at now, and the wait after the last.
func drain(b *batcher, now time.Time) ([]string, time.Duration) {
	var got []string
	for {
		bt, wait := b.next(now, func(*entry) {})
		if bt == nil {
			return got, wait
		}
		got = append(got, keys(bt))
	}
}

func TestBatcherFormsBatchesExactly(t *testing.T) {
	p := &partition{}
	type step struct {
		add  []*entry
		at   time.Duration // now, after t0
		want []string      // batches formed, in order
		wait time.Duration // until the next may be due
		done []int         // indexes of formed batches (this test's) reported done before the step
		// behind: the sync has records of its partitions still to read;
		// tight: memory is near its bound or fetching paused.
		behind, tight bool
	}
	tests := []struct {
		name        string
		size        int
		maxInflight int
		steps       []step
	}{{
		name: "a full batch goes at once, the rest waits out linger from its oldest",
		size: 2, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 10*time.Millisecond, p, 1), ent("c", actUpsert, "", 20*time.Millisecond, p, 2)},
				at: 20 * time.Millisecond, want: []string{"upsert:a,b"}, wait: time.Second},
			{at: 999 * time.Millisecond, wait: 21 * time.Millisecond},
			{at: 1020 * time.Millisecond, want: []string{"upsert:c"}, wait: time.Hour},
		},
	}, {
		name: "collapse: a key's later change of one action replaces the waiting one and keeps its age",
		size: 100, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("a", actUpsert, "", 500*time.Millisecond, p, 1), ent("b", actUpsert, "", 600*time.Millisecond, p, 2)},
				at: 900 * time.Millisecond, wait: 100 * time.Millisecond},
			{at: time.Second, want: []string{"upsert:a,b"}, wait: time.Hour},
		},
	}, {
		name: "one key's changes of different actions are written in order, one batch at a time",
		size: 100, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "x", 0, p, 0), ent("a", actUntag, "x", 0, p, 1), ent("b", actUntag, "y", 0, p, 2)},
				at: time.Second, want: []string{"upsert:a", "untag:b"}, wait: time.Hour},
			{at: time.Second, done: []int{0}, want: []string{"untag:a"}, wait: time.Hour},
		},
	}, {
		name: "a match value in flight holds back another key with the same value; no batch holds a value twice",
		size: 100, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "m@x", 0, p, 0), ent("b", actUpsert, "m@x", 0, p, 1), ent("c", actUpsert, "n@x", 0, p, 2)},
				at: time.Second, want: []string{"upsert:a,c"}, wait: time.Hour},
			{add: []*entry{ent("d", actUpsert, "n@x", time.Second, p, 3)}, at: 3 * time.Second, wait: time.Hour},
			{at: 3 * time.Second, done: []int{0}, want: []string{"upsert:b,d"}, wait: time.Hour},
		},
	}, {
		name: "a key in flight waits, even for a full batch",
		size: 1, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0)}, want: []string{"upsert:a"}, wait: time.Hour},
			{add: []*entry{ent("a", actUpsert, "", 0, p, 1), ent("b", actUpsert, "", 0, p, 2)}, want: []string{"upsert:b"}, wait: time.Hour},
			{done: []int{0}, want: []string{"upsert:a"}, wait: time.Hour},
		},
	}, {
		name: "at most maxInflight batches in flight",
		size: 1, maxInflight: 2,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 0, p, 1), ent("c", actUpsert, "", 0, p, 2)},
				want: []string{"upsert:a", "upsert:b"}, wait: time.Hour},
			{done: []int{1}, want: []string{"upsert:c"}, wait: time.Hour},
		},
	}, {
		name: "behind, memory fine: even a full batch waits for the keys' later changes, which collapse into it",
		size: 2, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 0, p, 1), ent("c", actUpsert, "", 0, p, 2)},
				at: 5 * time.Second, behind: true, wait: 25 * time.Second},
			{add: []*entry{ent("a", actUpsert, "", 6*time.Second, p, 3), ent("b", actUpsert, "", 6*time.Second, p, 4)},
				at: 10 * time.Second, behind: true, wait: 20 * time.Second},
		},
	}, {
		name: "caught up: what was deferred goes by size and linger",
		size: 2, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 0, p, 1), ent("c", actUpsert, "", 500*time.Millisecond, p, 2), ent("a", actUpsert, "", time.Second, p, 3)},
				at: 2 * time.Second, behind: true, wait: 28 * time.Second},
			{at: 2 * time.Second, want: []string{"upsert:b,c", "upsert:a"}, wait: time.Hour},
		},
	}, {
		name: "behind but memory tight: full batches go, the longest waiting first; a partial one after linger",
		size: 2, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 100*time.Millisecond, p, 1), ent("c", actUpsert, "", 200*time.Millisecond, p, 2)},
				at: 300 * time.Millisecond, behind: true, wait: 29700 * time.Millisecond},
			{at: 300 * time.Millisecond, behind: true, tight: true, want: []string{"upsert:a,b"}, wait: 900 * time.Millisecond},
			{at: 1200 * time.Millisecond, behind: true, tight: true, want: []string{"upsert:c"}, wait: time.Hour},
		},
	}, {
		name: "behind: an entry that waited the max defer goes, full batch or not; the others wait on",
		size: 100, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "", 0, p, 0), ent("b", actUpsert, "", 20*time.Second, p, 1)}, at: 29 * time.Second, behind: true, wait: time.Second},
			// a changes again: the new change keeps the age of the first.
			{add: []*entry{ent("a", actUpsert, "", 29*time.Second, p, 2)}, at: 30 * time.Second, behind: true, want: []string{"upsert:a"}, wait: 20 * time.Second},
			{at: 50 * time.Second, behind: true, want: []string{"upsert:b"}, wait: time.Hour},
		},
	}, {
		name: "behind: an overdue entry still follows an earlier one sharing its match value",
		size: 100, maxInflight: 8,
		steps: []step{
			{add: []*entry{ent("a", actUpsert, "m@x", 0, p, 0), ent("b", actUpsert, "m@x", 10*time.Second, p, 1), ent("a", actUpsert, "m@x", 20*time.Second, p, 2)},
				at: 30 * time.Second, behind: true, wait: time.Hour},
			{at: 40 * time.Second, behind: true, want: []string{"upsert:b"}, wait: time.Hour},
			{at: 40 * time.Second, behind: true, done: []int{0}, want: []string{"upsert:a"}, wait: time.Hour},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatcher(tc.size, time.Second, tc.maxInflight)
			var formed []*batch
			for i, st := range tc.steps {
				for _, d := range st.done {
					b.done(formed[d])
				}
				for _, e := range st.add {
					b.add(e)
				}
				b.behind, b.tight = st.behind, st.tight
				var got []string
				var wait time.Duration
				for {
					bt, w := b.next(t0.Add(st.at), func(*entry) {})
					if bt == nil {
						wait = w
						break
					}
					formed = append(formed, bt)
					got = append(got, keys(bt))
				}
				if !reflect.DeepEqual(got, st.want) && !(len(got) == 0 && len(st.want) == 0) {
					t.Fatalf("step %d: batches %q, want %q", i, got, st.want)
				}
				if wait != st.wait {
					t.Fatalf("step %d: wait %s, want %s", i, wait, st.wait)
				}
			}
		})
	}
}

// The records a collapsed change replaced ride with the change that
// superseded them, so they are done when it is written.
func TestBatcherCollapseCarriesRecords(t *testing.T) {
	p := &partition{}
	b := newBatcher(100, time.Second, 8)
	first, second, third := ent("a", actUpsert, "", 0, p, 10), ent("a", actUpsert, "", time.Millisecond, p, 11), ent("a", actUpsert, "", 2*time.Millisecond, p, 12)
	if _, _, ok := b.add(first); ok {
		t.Fatal("the first change of a key replaced something")
	}
	if r, _, ok := b.add(second); !ok || r.rec.Offset != 10 || !first.removed || first.in.rec != nil {
		t.Fatal("a later change of the key did not replace the waiting one, or the replaced one kept its record")
	}
	if r, _, ok := b.add(third); !ok || r.rec.Offset != 11 {
		t.Fatal("a later change of the key did not replace the waiting one")
	}
	if b.waiting() != 1 || !b.busy("a", keyHash("a")) || b.busy("b", keyHash("b")) {
		t.Fatalf("waiting %d, busy(a) %v, busy(b) %v", b.waiting(), b.busy("a", keyHash("a")), b.busy("b", keyHash("b")))
	}
	var offs []int64
	third.collapsed.each(func(off int64) { offs = append(offs, off) })
	if !reflect.DeepEqual(offs, []int64{10, 11}) || !third.since.Equal(t0) {
		t.Fatalf("collapsed offsets %v, since %s", offs, third.since)
	}
	// A change of another action does not collapse: both are written.
	b.add(ent("a", actDelete, "", 3*time.Millisecond, p, 13))
	got, _ := drain(b, t0.Add(time.Hour))
	if !reflect.DeepEqual(got, []string{"upsert:a"}) || b.waiting() != 1 || !b.busy("a", keyHash("a")) {
		t.Fatalf("got %q, %d waiting", got, b.waiting())
	}
}

// A revoke drops the waiting entries of its partitions; an entry of a
// partition gone meanwhile is dropped when met, never written.
func TestBatcherRevokes(t *testing.T) {
	p0, p1 := &partition{}, &partition{}
	b := newBatcher(100, time.Second, 8)
	b.add(ent("a", actUpsert, "", 0, p0, 0))
	b.add(ent("b", actUpsert, "", 0, p1, 0))
	b.add(ent("c", actUpsert, "", 0, p1, 1))
	dropped := b.revoke(map[*partition]bool{p1: true})
	if len(dropped) != 2 || dropped[0].key != "b" || dropped[1].key != "c" || b.waiting() != 1 || b.busy("b", keyHash("b")) {
		t.Fatalf("revoke dropped %d, %d waiting", len(dropped), b.waiting())
	}
	bt, _ := b.next(t0.Add(time.Hour), func(*entry) { t.Fatal("nothing was gone") })
	if keys(bt) != "upsert:a" || !b.writing(p0) || b.writing(p1) {
		t.Fatalf("batch %s, writing p0 %v p1 %v", keys(bt), b.writing(p0), b.writing(p1))
	}
	b.done(bt)
	if b.writing(p0) || b.inflight != 0 {
		t.Fatal("a finished batch still counts as in flight")
	}

	b.add(ent("d", actUpsert, "", 0, p0, 1))
	b.add(ent("e", actUpsert, "", 0, p1, 2))
	p0.gone.Store(true)
	var gone []string
	bt, _ = b.next(t0.Add(time.Hour), func(e *entry) { gone = append(gone, e.key) })
	if keys(bt) != "upsert:e" || !reflect.DeepEqual(gone, []string{"d"}) {
		t.Fatalf("batch %s, dropped %v", keys(bt), gone)
	}
}

// A record whose change a later one of its key replaced holds only its
// place in the back-pressure count, until the write that superseded it is
// done; then nothing is held.
func TestSupersededRecordHoldsOnlyItsPlace(t *testing.T) {
	r := &Runner{maxHeld: 1 << 20, cache: newKeyCache(1 << 18)}
	p := &partition{cp: newCheckpoint(), r: r}
	old := &kgo.Record{Offset: 0, Key: []byte("k"), Value: make([]byte, 100)}
	cur := &kgo.Record{Offset: 1, Key: []byte("k"), Value: make([]byte, 100)}
	p.track(old)
	p.track(cur)
	if got, want := r.held.Load(), heldSize(old)+heldSize(cur); got != want {
		t.Fatalf("held %d, want %d", got, want)
	}
	var pl places
	grew := pl.add(old.Offset)
	p.rehold(heldSize(old), grew)
	if got, want := r.held.Load(), grew+heldSize(cur); got != want || p.held != got || grew <= 0 || grew > 16 {
		t.Fatalf("after supersede held %d (partition %d), want %d (the place: %d bytes)", got, p.held, want, grew)
	}
	p.done(cur)
	p.doneCollapsed(&pl)
	if off, _, _ := p.cp.Released(); r.held.Load() != 0 || p.held != 0 || off != 2 {
		t.Fatalf("all done: held %d (partition %d), released %d", r.held.Load(), p.held, off)
	}
}

// An entry whose write was abandoned while its partition stays ours (the
// batch was cancelled for another partition's sake) is written again,
// before a later change of its key that waited meanwhile.
func TestBatcherRequeueWritesAgainInOrder(t *testing.T) {
	p := &partition{}
	b := newBatcher(100, time.Second, 8)
	b.add(ent("a", actUpsert, "", 0, p, 0))
	b.add(ent("b", actUpsert, "", 0, p, 1))
	bt, _ := b.next(t0.Add(time.Hour), func(*entry) {})
	if keys(bt) != "upsert:a,b" {
		t.Fatalf("first batch %s", keys(bt))
	}
	b.add(ent("a", actUpsert, "", time.Second, p, 2)) // a's next change waits behind the write in flight
	b.done(bt)
	for i := len(bt.entries) - 1; i >= 0; i-- {
		b.requeue(bt.entries[i])
	}
	if b.waiting() != 3 {
		t.Fatalf("%d waiting, want the 2 requeued and a's next change", b.waiting())
	}
	got, _ := drain(b, t0.Add(time.Hour))
	if len(got) != 1 || got[0] != "upsert:a,b" {
		t.Fatalf("after the requeue: %q, want a and b again first", got)
	}
}

// Changes of one key in two partitions (the topic's partitions were added
// to, or the key's encoding changed) do not collapse: a revoke of one
// partition drops its own entries and records only.
func TestBatcherCollapsesWithinAPartitionOnly(t *testing.T) {
	p0, p1 := &partition{}, &partition{}
	b := newBatcher(100, time.Second, 8)
	if _, _, ok := b.add(ent("a", actUpsert, "", 0, p0, 0)); ok {
		t.Fatal("the first change replaced something")
	}
	if _, _, ok := b.add(ent("a", actUpsert, "", 0, p1, 0)); ok {
		t.Fatal("a change in another partition took over p0's record")
	}
	dropped := b.revoke(map[*partition]bool{p1: true})
	if len(dropped) != 1 || dropped[0].collapsed.n != 0 || b.waiting() != 1 {
		t.Fatalf("revoke of p1 dropped %d entries (collapsed %v), %d waiting", len(dropped), dropped, b.waiting())
	}
}

// The places of superseded records come back in order, whatever their
// distances, and cost a byte to three each for a backlog's distances.
func TestPlacesKeepOffsetsCompactly(t *testing.T) {
	var p places
	var want, got []int64
	off := int64(0)
	for i := range 10_000 {
		off += int64(1 + (i*7919)%20_000) // distances up to 20,000: three bytes at most
		if i == 5_000 {
			off += 1 << 40 // a jump: still one varint
		}
		want = append(want, off)
		p.add(off)
	}
	p.each(func(o int64) { got = append(got, o) })
	if !reflect.DeepEqual(got, want) || p.n != len(want) {
		t.Fatalf("places gave %d offsets back (n %d), want %d in order", len(got), p.n, len(want))
	}
	if perPlace := float64(len(p.buf)) / float64(p.n); perPlace > 3 {
		t.Fatalf("%.1f bytes a place", perPlace)
	}
}

// Match values are compared as the batcher always did: field and value
// without case, so "A@x" in flight holds back "a@x" of another key, and
// the same value of another field does not.
func TestMatchHashNormalises(t *testing.T) {
	m := &mapper{matchPrefix: []string{"email=", "secondary_email="}}
	if m.matchHash(0, "Ann@X.org") != m.matchHash(0, "ann@x.org") {
		t.Fatal("values differing in case hash apart")
	}
	if m.matchHash(0, "ann@x.org") == m.matchHash(1, "ann@x.org") || m.matchHash(0, "ann@x.org") == m.matchHash(0, "ann@x.or") {
		t.Fatal("another field's value, or another value, hashes alike")
	}
	p := &partition{}
	b := newBatcher(100, time.Second, 8)
	a, c := ent("a", actUpsert, "", 0, p, 0), ent("c", actUpsert, "", 0, p, 1)
	a.matchHashes.add(m.matchHash(0, "Ann@X.org"))
	c.matchHashes.add(m.matchHash(0, "ann@x.org"))
	b.add(a)
	b.add(c)
	if got, _ := drain(b, t0.Add(time.Hour)); !reflect.DeepEqual(got, []string{"upsert:a"}) {
		t.Fatalf("batches %q, want a alone (c shares its match value)", got)
	}
}

// An entry holds any number of match values' hashes, in order: two inline,
// more in a slice.
func TestHashListHoldsAll(t *testing.T) {
	var l hashList
	var want []uint64
	for i := range uint64(5) {
		if got := l.all(); !reflect.DeepEqual(got, want) && len(want) > 0 {
			t.Fatalf("after %d: %v, want %v", i, got, want)
		}
		l.add(10 + i)
		want = append(want, 10+i)
	}
	if got := l.all(); !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}
