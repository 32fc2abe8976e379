package connector

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"zohosink/zoho"
)

// seq is 0..n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// subsets calls fn with every non-empty subset of 0..n-1, sorted.
func subsets(n int, fn func([]int)) {
	for mask := 1; mask < 1<<n; mask++ {
		var s []int
		for i := range n {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		fn(s)
	}
}

// Whatever the assignment, the processes' shares add up to the limit in
// every turn (no 429s among them, no slot left idle), and over a full
// rotation every partition gets the same slots.
func TestSharesAddUpToTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		limit       int
		assignments [][]int
	}{
		{"3 processes, 6 partitions", 10, [][]int{{0, 1}, {2, 3}, {4, 5}}},
		{"3 processes, interleaved", 10, [][]int{{0, 3}, {1, 4}, {2, 5}}},
		{"uneven", 10, [][]int{{0, 1, 2, 3, 4}, {5}, {6}}},
		{"one process", 10, [][]int{{0, 1, 2}}},
		{"more partitions than slots", 10, [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14, 15}, {16, 17, 18, 19, 20, 21, 22, 23}}},
		{"edition of 20", 20, [][]int{{0, 1}, {2, 3}, {4, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, a := range tc.assignments {
				total += len(a)
			}
			units := seq(total)
			perUnit := make([]int, total)
			for turn := int64(0); turn < int64(total); turn++ {
				sum := 0
				for _, a := range tc.assignments {
					sum += shareOf(tc.limit, a, units, total, turn)
				}
				if sum != tc.limit {
					t.Errorf("turn %d: shares add up to %d, want %d", turn, sum, tc.limit)
				}
				for u := range total {
					perUnit[u] += shareOf(tc.limit, []int{u}, units, total, turn)
				}
			}
			for u, n := range perUnit {
				if n != tc.limit {
					t.Errorf("partition %d got %d slot-turns over %d turns, want %d", u, n, total, tc.limit)
				}
			}
		})
	}
}

// Whichever partitions have a backlog, their slots add up to the limit in
// every turn.
func TestSharesOfABacklogAddUpToTheLimit(t *testing.T) {
	const n = 7
	for _, limit := range []int{3, 10, 20} {
		subsets(n, func(units []int) {
			for turn := int64(0); turn < n; turn++ {
				sum := 0
				for _, u := range units {
					sum += shareOf(limit, []int{u}, units, n, turn)
				}
				if sum != limit {
					t.Errorf("limit %d, units %v, turn %d: %d slots", limit, units, turn, sum)
				}
			}
		})
	}
}

// A partition that leaves the backlog never takes a slot from another: the
// members read the group's offsets at different moments, and one that sees
// a partition caught up (and takes more slots for its own) must not take
// slots that a member still seeing it behind keeps using. With the slots
// left over handed out by position among the units (before), a unit could
// lose its extra slot when one before it left.
func TestSharesNeverShrinkWhenAUnitLeaves(t *testing.T) {
	const n = 7
	for _, limit := range []int{10, 20} {
		subsets(n, func(units []int) {
			for turn := int64(0); turn < n; turn++ {
				for i, gone := range units {
					fewer := append(append([]int{}, units[:i]...), units[i+1:]...)
					if len(fewer) == 0 {
						continue
					}
					for _, u := range fewer {
						before, after := shareOf(limit, []int{u}, units, n, turn), shareOf(limit, []int{u}, fewer, n, turn)
						if after < before {
							t.Fatalf("limit %d, units %v, turn %d: partition %d leaving takes partition %d from %d slots to %d", limit, units, turn, gone, u, before, after)
						}
					}
				}
			}
		})
	}
}

// Members with different views of the backlog (one still sees behind a
// partition that another's owner knows caught up, or whose commit another
// already read) never together take more than the limit.
func TestMixedViewsStayWithinTheLimit(t *testing.T) {
	// 6 partitions over 3 members; partition 1 (member 0's) is caught up.
	// Its owner knows first; the others see it at their next read.
	assign := [][]int{{0, 1}, {2, 3}, {4, 5}}
	behind, caughtUp := seq(6), []int{0, 2, 3, 4, 5}
	for turn := int64(0); turn < 6; turn++ {
		for seen := 0; seen < 1<<2; seen++ { // which of members 1 and 2 read the commit already
			sum := shareOf(10, []int{0}, caughtUp, 6, turn) // the owner: at once
			for m := 1; m <= 2; m++ {
				view := behind
				if seen&(1<<(m-1)) != 0 {
					view = caughtUp
				}
				sum += shareOf(10, assign[m], view, 6, turn)
			}
			if sum > 10 {
				t.Errorf("turn %d, members seeing the commit %b: %d slots", turn, seen, sum)
			}
		}
	}
}

// A process owning no partition, or whose partitions get no slot this turn,
// still may write one call at a time; so may one that does not know the
// group's partitions yet (it may not be alone).
func TestShareFloorAndUnknown(t *testing.T) {
	now := time.Unix(0, 0).Add(shareGrace)
	if got := shareAt(10, nil, seq(6), 6, now); got != 1 {
		t.Errorf("no partitions: %d, want 1", got)
	}
	if got := shareAt(10, []int{20}, seq(24), 24, now); got != 1 {
		t.Errorf("a partition without a slot this turn: %d, want 1", got)
	}
	if got := shareAt(10, nil, nil, 0, now); got != 1 {
		t.Errorf("partitions unknown: %d, want 1", got)
	}
}

// A share that grows at a turn grows shareGrace later; one that shrinks
// shrinks at once.
func TestShareGrowsAfterTheGrace(t *testing.T) {
	owned, units := []int{0}, seq(6) // 10 over 6, the order moving on by 4: partition 0 has 2 slots in turns 0 and 1 (mod 3), 1 in turn 2
	at := func(turn int64, plus time.Duration) time.Time {
		return time.Unix(0, turn*int64(shareRotation)).Add(plus)
	}
	if got := shareAt(10, owned, units, 6, at(2, 0)); got != 1 {
		t.Errorf("shrinking turn: %d, want 1 at once", got)
	}
	if got := shareAt(10, owned, units, 6, at(3, shareGrace/2)); got != 1 {
		t.Errorf("growing turn, within the grace: %d, want 1", got)
	}
	if got := shareAt(10, owned, units, 6, at(3, shareGrace)); got != 2 {
		t.Errorf("growing turn, after the grace: %d, want 2", got)
	}
}

// The units are the partitions behind by the group's committed offsets,
// less those the process owns and knows caught up (all its records up to
// the end done, though maybe not committed yet); all partitions when none
// is behind.
func TestUnitsOf(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	v := &groupView{
		all:    []tp{a(0), a(1), a(2), a(3)},
		ends:   map[tp]int64{a(0): 100, a(1): 100, a(2): 100, a(3): 100},
		behind: map[tp]bool{a(0): true, a(1): true, a(2): true},
	}
	for _, tc := range []struct {
		name         string
		v            *groupView
		own          map[tp]ownPartition
		owned, units []int
		wantN        int
	}{
		{"unknown", nil, map[tp]ownPartition{a(0): {released: -1}}, nil, nil, 0},
		{"behind by the group", v, map[tp]ownPartition{a(0): {released: 50, lso: 100}, a(3): {released: 100, lso: 100}}, []int{0}, []int{0, 1, 2}, 4},
		{"own partition caught up, not committed", v, map[tp]ownPartition{a(0): {released: 100, lso: 100}, a(1): {released: 10, lso: 100}}, []int{1}, []int{1, 2}, 4},
		{"one record still to do is behind", v, map[tp]ownPartition{a(0): {released: 99, lso: 100}}, []int{0}, []int{0, 1, 2}, 4},
		{"released to the end, a record pending", v, map[tp]ownPartition{a(0): {released: 100, pending: 1, lso: 100}}, []int{0}, []int{0, 1, 2}, 4},
		{"caught up to the ends read, not to newer records fetched", v, map[tp]ownPartition{a(0): {released: 100, lso: 120}}, []int{0}, []int{0, 1, 2}, 4},
		{"nothing done yet", v, map[tp]ownPartition{a(0): {released: -1}}, []int{0}, []int{0, 1, 2}, 4},
		{"others' partitions by the group only", v, map[tp]ownPartition{}, nil, []int{0, 1, 2}, 4},
		{"none behind: all are units", &groupView{all: v.all, ends: v.ends, behind: map[tp]bool{}}, map[tp]ownPartition{a(2): {released: 100}}, []int{2}, []int{0, 1, 2, 3}, 4},
		{"the last one behind caught up: all are units", &groupView{all: v.all, ends: v.ends, behind: map[tp]bool{a(1): true}}, map[tp]ownPartition{a(1): {released: 100}}, []int{1}, []int{0, 1, 2, 3}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owned, units, n := unitsOf(tc.v, tc.own, nil, time.Time{})
			if !slicesEqual(owned, tc.owned) || !slicesEqual(units, tc.units) || n != tc.wantN {
				t.Errorf("got owned %v, units %v, n %d; want %v, %v, %d", owned, units, n, tc.owned, tc.units, tc.wantN)
			}
		})
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Before the group's offsets are read, the partition counts of the topic
// watch make every partition a unit.
func TestViewOfCounts(t *testing.T) {
	v := viewOfCounts(map[string]int32{"b": 1, "a": 2})
	want := []tp{{"a", 0}, {"a", 1}, {"b", 0}}
	if len(v.all) != len(want) {
		t.Fatalf("got %v, want %v", v.all, want)
	}
	for i := range want {
		if v.all[i] != want[i] {
			t.Fatalf("got %v, want %v", v.all, want)
		}
	}
	if _, units, n := unitsOf(v, nil, nil, time.Time{}); len(units) != 3 || n != 3 {
		t.Errorf("units %v of %d, want all 3", units, n)
	}
	if viewOfCounts(nil) != nil {
		t.Error("no counts: want no view")
	}
}

// fakeSharer is a CRM whose limits are shared and whose calls in flight
// the test sets.
type fakeSharer struct {
	calls, complexWrites int
	st                   zoho.Stats
}

func (f *fakeSharer) Limits() (int, int)   { return f.calls, f.complexWrites }
func (f *fakeSharer) ShareLimits(int, int) {}
func (f *fakeSharer) Stats() zoho.Stats    { return f.st }
func fired(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// holdRunner is a Runner of one partition, a(0), behind by the group's
// view, that the process caught up to its end (100) and did not commit.
func holdRunner() (*Runner, map[tp]ownPartition) {
	k := tp{"a", 0}
	r := &Runner{parts: map[tp]*partition{}, committed: map[tp]int64{}, commitNow: make(chan struct{}, 1), shareWake: make(chan struct{}, 1)}
	r.group.Store(&groupView{all: []tp{k}, ends: map[tp]int64{k: 100}, behind: map[tp]bool{k: true}})
	return r, map[tp]ownPartition{k: {released: 100}}
}

// The commit of a partition caught up waits until what is in flight fits
// the process's shares of both limits: with an edition of 20 calls, 3
// calls in flight fit a share of 4 calls, but 5 complex writes do not fit
// a share of 3 complex writes.
func TestCommitHoldWaitsForComplexWrites(t *testing.T) {
	now := time.Unix(100, 0)
	for _, tc := range []struct {
		name string
		st   zoho.Stats
		held bool
	}{
		{"both fit", zoho.Stats{InFlight: 3, ComplexInFlight: 3}, false},
		{"calls do not fit", zoho.Stats{InFlight: 5, ComplexInFlight: 0}, true},
		{"complex writes do not fit", zoho.Stats{InFlight: 3, ComplexInFlight: 5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, own := holdRunner()
			crm := &fakeSharer{calls: 20, complexWrites: 10, st: tc.st}
			r.commitCaughtUp(crm, own, shares{calls: 4, complexWrites: 3}, &catchUps{}, now)
			h := r.heldCommits.Load()
			if held := h != nil && (*h)[tp{"a", 0}]; held != tc.held {
				t.Errorf("held %v, want %v", held, tc.held)
			}
			if got := fired(r.commitNow); got == tc.held {
				t.Errorf("commit asked %v, want %v", got, !tc.held)
			}
		})
	}
}

// The slots left over go round all the partitions within n/(limit mod n)
// turns, not n: with 100 partitions and 10 slots each has its slot within
// 10 turns (5 minutes), not 100 (50). Each turn's slots still add up to
// the limit (TestSharesAddUpToTheLimit).
func TestRotationGoesRoundByTheLimit(t *testing.T) {
	for _, tc := range []struct{ limit, n int }{{10, 100}, {10, 6}, {20, 7}, {10, 5}, {25, 1000}} {
		units := seq(tc.n)
		step := tc.limit % tc.n
		if step == 0 {
			step = 1
		}
		turns := (tc.n + step - 1) / step
		got := make([]int, tc.n)
		for turn := range int64(turns) {
			for u := range tc.n {
				got[u] += shareOf(tc.limit, []int{u}, units, tc.n, turn)
			}
		}
		for u, slots := range got {
			if tc.limit%tc.n != 0 && slots <= turns*(tc.limit/tc.n) {
				t.Errorf("limit %d, %d partitions: partition %d got no slot left over in %d turns", tc.limit, tc.n, u, turns)
			}
		}
	}
}

// shareOf costs O(owned × log units): a thousand partitions, all behind,
// a process owning a third of them.
func BenchmarkShareOf(b *testing.B) {
	units := seq(1000)
	var owned []int
	for i := 0; i < 1000; i += 3 {
		owned = append(owned, i)
	}
	for i := 0; b.Loop(); i++ {
		shareOf(10, owned, units, 1000, int64(i))
	}
}

// A partition newly behind counts as a unit at once, but its owner takes
// its slots only behindGrace after it first read it behind: a member whose
// view is older (it does not count the unit yet) keeps its larger share
// until its next read, and its calls in flight must finish. Measured
// before: member 0 (old view, units [0]) 10 + member 1 (new view [0, 1])
// 5 = 15 slots of 10.
func TestNewlyBehindWaitsForTheGrace(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	t0 := time.Unix(1000, 0)
	old := &groupView{all: []tp{a(0), a(1)}, ends: map[tp]int64{a(0): 100, a(1): 100}, behind: map[tp]bool{a(0): true}}
	newer := &groupView{all: old.all, ends: old.ends, behind: map[tp]bool{a(0): true, a(1): true}}
	own0 := map[tp]ownPartition{a(0): {released: 10}}
	own1 := map[tp]ownPartition{a(1): {released: 90}}
	var w0, w1 behindWatch
	w0.note(old, t0)
	w1.note(old, t0)
	w1.note(newer, t0.Add(10*time.Millisecond)) // member 1 reads first
	for _, tc := range []struct {
		name       string
		at         time.Duration
		seen0      bool // member 0 read the newer view
		want0      int
		want1      int
		wantWithin bool
	}{
		{"member 1 read it behind, member 0 not yet", 50 * time.Millisecond, false, 10, 0, true},
		{"both read it, within the grace", 500 * time.Millisecond, true, 5, 0, true},
		{"after the grace", behindGrace + 20*time.Millisecond, true, 5, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(tc.at)
			v0 := old
			if tc.seen0 {
				v0 = newer
				w0.note(newer, now)
			}
			o0, u0, n0 := unitsOf(v0, own0, &w0, now)
			o1, u1, n1 := unitsOf(newer, own1, &w1, now)
			s0, s1 := shareOf(10, o0, u0, n0, 0), shareOf(10, o1, u1, n1, 0)
			if s0 != tc.want0 || s1 != tc.want1 {
				t.Errorf("shares %d and %d, want %d and %d", s0, s1, tc.want0, tc.want1)
			}
			if s0+s1 > 10 {
				t.Errorf("shares add up to %d of 10", s0+s1)
			}
		})
	}
}

// behindWatch: partitions behind at the first view read are settled (the
// process starts, the others counted them already); those that fall behind
// later wait behindGrace; one that caught up and falls behind again waits
// again; a process owning every partition never waits.
func TestBehindWatch(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	t0 := time.Unix(1000, 0)
	all := []tp{a(0), a(1)}
	view := func(behind ...tp) *groupView {
		v := &groupView{all: all, ends: map[tp]int64{a(0): 100, a(1): 100}, behind: map[tp]bool{}}
		for _, k := range behind {
			v.behind[k] = true
		}
		return v
	}
	var w behindWatch
	w.note(view(a(0)), t0)
	if !w.settled(a(0), t0) {
		t.Error("behind at the first view: want settled at once")
	}
	w.note(view(a(0), a(1)), t0.Add(time.Second))
	if w.settled(a(1), t0.Add(time.Second+behindGrace/2)) || !w.settled(a(1), t0.Add(time.Second+behindGrace)) {
		t.Error("newly behind: want settled behindGrace after it was first read behind")
	}
	w.note(view(a(0)), t0.Add(10*time.Second))
	w.note(view(a(0), a(1)), t0.Add(11*time.Second))
	if w.settled(a(1), t0.Add(11*time.Second)) {
		t.Error("behind again: want the grace again")
	}
	if !w.settled(a(0), t0.Add(11*time.Second)) {
		t.Error("behind all along: want settled")
	}
	own := map[tp]ownPartition{a(0): {released: 10}, a(1): {released: 10}}
	if owned, _, _ := unitsOf(view(a(0), a(1)), own, &w, t0.Add(11*time.Second)); len(owned) != 2 {
		t.Errorf("owning every partition: owned %v, want both at once", owned)
	}
}

// A view has every partition of the topics' metadata, whether or not its
// offsets could be read, so that members agree on the order of the slots
// left over; a partition whose read failed keeps its last state (one never
// read counts as behind). Before, a partition-level error dropped it from
// all and shifted every later index: shares added up to 11-12 of 10.
func TestViewOfKeepsPartitionsWhoseReadFailed(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	counts := map[string]int32{"a": 4}
	full := groupRead{counts: counts, lso: map[tp]int64{a(0): 100, a(1): 100, a(2): 100, a(3): 100},
		committed: map[tp]int64{a(0): 50, a(1): 50, a(2): 100, a(3): 100}}
	prev := viewOf(nil, full)
	// The next read: partition 1's leader moved (NOT_LEADER), and
	// partition 2 caught up... no: 3 fell behind.
	moved := groupRead{counts: counts, lso: map[tp]int64{a(0): 120, a(2): 100, a(3): 130},
		committed: map[tp]int64{a(0): 60, a(1): 70, a(2): 100, a(3): 100}, unknown: map[tp]bool{a(1): true}}
	got := viewOf(prev, moved)
	if len(got.all) != 4 || got.all[2] != a(2) {
		t.Fatalf("all %v, want every partition in place", got.all)
	}
	if !got.behind[a(1)] || got.ends[a(1)] != 100 {
		t.Errorf("partition read failed: behind %v end %d, want its last state (behind, 100)", got.behind[a(1)], got.ends[a(1)])
	}
	if !got.behind[a(3)] || got.behind[a(2)] || got.ends[a(0)] != 120 {
		t.Errorf("the others: %v %v, want read afresh", got.behind, got.ends)
	}
	// Two members, one of which read partition 1 and one of which did
	// not: their shares of the same partitions add up to the limit.
	other := viewOf(prev, groupRead{counts: counts, lso: map[tp]int64{a(0): 120, a(1): 100, a(2): 100, a(3): 130},
		committed: moved.committed})
	own := [][]tp{{a(0), a(1)}, {a(2), a(3)}}
	for turn := range int64(4) {
		sum := 0
		for m, v := range []*groupView{got, other} {
			o := map[tp]ownPartition{}
			for _, k := range own[m] {
				o[k] = ownPartition{released: -1}
			}
			owned, units, n := unitsOf(v, o, nil, time.Time{})
			sum += shareOf(10, owned, units, n, turn)
		}
		if sum > 10 {
			t.Errorf("turn %d: %d slots of 10", turn, sum)
		}
	}
	// A partition no read ever got (it appeared, and its first read
	// failed) counts as behind.
	grown := viewOf(got, groupRead{counts: map[string]int32{"a": 5}, lso: moved.lso, committed: moved.committed, unknown: map[tp]bool{a(4): true}})
	if len(grown.all) != 5 || !grown.behind[a(4)] {
		t.Errorf("new partition not read: all %v, behind %v; want it in, behind", grown.all, grown.behind)
	}
	// The group's committed offsets could not be read at all: every
	// partition keeps its last state.
	if failed := viewOf(got, groupRead{counts: counts, lso: moved.lso, allFailed: true}); !failed.behind[a(1)] || failed.behind[a(2)] {
		t.Errorf("offset fetch failed: behind %v, want the last states", failed.behind)
	}
}

// Behind is against the last stable offset: an open transaction's records
// are not behind (the consumer, reading committed, cannot reach them), and
// a partition the group never committed is behind only when records lie
// where the group starts it.
func TestViewOfBehind(t *testing.T) {
	k := tp{"a", 0}
	counts := map[string]int32{"a": 1}
	for _, tc := range []struct {
		name   string
		rd     groupRead
		behind bool
	}{
		{"committed to the last stable offset, a transaction open beyond", groupRead{lso: map[tp]int64{k: 100}, committed: map[tp]int64{k: 100}}, false},
		{"one record to do", groupRead{lso: map[tp]int64{k: 100}, committed: map[tp]int64{k: 99}}, true},
		{"never committed, records from the start", groupRead{lso: map[tp]int64{k: 100}, start: map[tp]int64{k: 0}}, true},
		{"never committed, retention removed every record", groupRead{lso: map[tp]int64{k: 100}, start: map[tp]int64{k: 100}}, false},
		{"never committed, start_offset latest", groupRead{lso: map[tp]int64{k: 100}, latest: true}, false},
		{"empty", groupRead{lso: map[tp]int64{k: 0}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rd.counts = counts
			if got := viewOf(nil, tc.rd).behind[k]; got != tc.behind {
				t.Errorf("behind %v, want %v", got, tc.behind)
			}
		})
	}
}

// Failed reads back off, doubling up to groupBackoffMax; after
// groupStaleAfter without a good read the view is stale (dropped for the
// partition counts); a good read paces by the backlog again.
func TestGroupReadsBackOff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := groupReads{lastOK: t0}
	now := t0
	var waits []time.Duration
	stale := false
	for !stale {
		var w time.Duration
		w, stale = g.failed(now)
		waits = append(waits, w)
		if !stale {
			now = now.Add(w)
		}
		if len(waits) > 20 {
			t.Fatal("never stale")
		}
	}
	if waits[0] != groupReadEvery || waits[1] != 2*groupReadEvery {
		t.Errorf("waits %v, want doubling from groupReadEvery", waits)
	}
	for _, w := range waits {
		if w > groupBackoffMax {
			t.Errorf("wait %s beyond %s", w, groupBackoffMax)
		}
	}
	if now.Sub(t0) < groupStaleAfter || now.Sub(t0) > groupStaleAfter+groupBackoffMax {
		t.Errorf("stale after %s, want about %s", now.Sub(t0), groupStaleAfter)
	}
	a := tp{"a", 0}
	if w := g.ok(&groupView{behind: map[tp]bool{a: true}}, now); w != groupReadEvery || g.failures != 0 {
		t.Errorf("good read, one behind: wait %s failures %d", w, g.failures)
	}
	if w := g.ok(&groupView{behind: map[tp]bool{}}, now); w != groupIdleEvery {
		t.Errorf("good read, none behind: wait %s", w)
	}
	if _, stale := g.failed(now.Add(time.Second)); stale {
		t.Error("one failure a second after a good read: not stale yet")
	}
}

// A partition whose commits bring it within nearEndRecords of its end from
// a low point above that (the end of a catch-up) has the group read fast
// for groupEndingFor, so its slots pass on soon after it is caught up.
// Steady traffic, whose left rises between commits and falls back to the
// same low point, does not, whatever its highs; nor does one whose read
// failed, or one caught up in one step.
func TestEndingPartitionQuickensReads(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	counts := map[string]int32{"a": 3}
	read := func(left0, left1 int64, unknown ...tp) groupRead {
		rd := groupRead{counts: counts, lso: map[tp]int64{a(0): 100_000, a(1): 100_000, a(2): 100_000},
			committed: map[tp]int64{a(0): 100_000 - left0, a(1): 100_000 - left1, a(2): 100_000}, unknown: map[tp]bool{}}
		for _, k := range unknown {
			rd.unknown[k] = true
		}
		return rd
	}
	// Partition 1: steady traffic at 2 s commits, highs of 1,150 and
	// lows of 150. Partition 0: a catch-up, its low points shrinking.
	var v *groupView
	step := func(left0, left1 int64, unknown ...tp) *groupView {
		v = viewOf(v, read(left0, left1, unknown...))
		return v
	}
	for i, left1 := range []int64{1_150, 150, 1_150, 150, 1_150, 150} {
		if step(50_000, left1).ending {
			t.Fatalf("steady traffic (step %d, %d left): ending", i, left1)
		}
	}
	if v.low[a(1)] != 150 || v.left[a(0)] != 50_000 {
		t.Fatalf("low %v, left %v", v.low, v.left)
	}
	step(5_000, 1_150) // partition 0's low point: 5,000
	if step(2_000, 150, a(0)).ending || v.left[a(0)] != 5_000 || v.low[a(0)] != 5_000 {
		t.Fatalf("a partition not read keeps what it had (left %d, low %d) and ends nothing (%v)", v.left[a(0)], v.low[a(0)], v.ending)
	}
	if step(2_000, 1_150).ending || v.low[a(0)] != 2_000 {
		t.Fatalf("low point 2,000: ending %v, low %d", v.ending, v.low[a(0)])
	}
	saved := v
	if v := viewOf(saved, read(0, 150)); v.ending {
		t.Error("caught up in one step: nothing left to quicken")
	}
	ending := step(nearEndRecords, 150)
	if !ending.ending {
		t.Fatal("partition 0 fell to nearEndRecords from a low point of 2,000: not ending")
	}
	if step(nearEndRecords/2, 1_150).ending {
		t.Error("from a low point within nearEndRecords: ending again")
	}

	now := time.Unix(1000, 0)
	g := groupReads{lastOK: now}
	if w := g.ok(saved, now); w != groupReadEvery {
		t.Errorf("behind, none ending: wait %s, want %s", w, groupReadEvery)
	}
	if w := g.ok(ending, now); w != groupEndingEvery {
		t.Errorf("one ending: wait %s, want %s", w, groupEndingEvery)
	}
	if w := g.ok(v, now.Add(groupEndingFor/2)); w != groupEndingEvery {
		t.Errorf("within groupEndingFor of the ending view: wait %s, want %s", w, groupEndingEvery)
	}
	if w := g.ok(v, now.Add(groupEndingFor)); w != groupReadEvery {
		t.Errorf("groupEndingFor after: wait %s, want %s again", w, groupReadEvery)
	}
	g.fastUntil = now.Add(groupEndingFor)
	if w := g.ok(viewOf(v, read(0, 0)), now.Add(groupEndingFor/2)); w != groupIdleEvery {
		t.Errorf("none behind: wait %s, want %s", w, groupIdleEvery)
	}
	// A failed read keeps the partitions behind as they were, and only
	// those: one caught up does not count as behind for the pacing.
	caught := viewOf(v, read(0, 0))
	if failed := viewOf(caught, groupRead{counts: counts, allFailed: true}); len(failed.behind) != 0 {
		t.Errorf("a failed read after none behind: behind %v", failed.behind)
	}
}

// A commit of a partition caught up is asked for once a view of the
// group's offsets, not at every look (20 a second): records done since
// (live traffic), or a commit that failed, wait for the next view.
func TestCommitAskedOncePerView(t *testing.T) {
	r, own := holdRunner()
	crm := &fakeSharer{calls: 10, complexWrites: 10}
	var c catchUps
	now := time.Unix(100, 0)
	asks := 0
	look := func(released int64) {
		own[tp{"a", 0}] = ownPartition{released: released}
		r.commitCaughtUp(crm, own, shares{10, 10}, &c, now)
		now = now.Add(shareEvery)
		if fired(r.commitNow) {
			asks++
		}
	}
	look(100)
	look(100) // the commit failed, or is not read yet
	look(101) // a record more done
	look(102)
	if asks != 1 {
		t.Errorf("%d commits asked for under one view, want 1", asks)
	}
	v := *r.group.Load()
	v.ends = map[tp]int64{{"a", 0}: 102}
	r.group.Store(&v) // the next read: still behind (the commit not read yet)
	look(102)
	look(102)
	if asks != 2 {
		t.Errorf("%d commits asked for under two views, want 2", asks)
	}
}

// The commit loop's partitions are listed before the commit takes its
// lock: one revoked in between is not committed by it (the revoke commits
// it, after its writes had their time; a write finishing later must not
// be committed).
func TestCommitLiveSkipsPartitionsRevokedSince(t *testing.T) {
	k := tp{"a", 0}
	r := &Runner{parts: map[tp]*partition{}, committed: map[tp]int64{}, met: newMetrics(prometheus.NewRegistry())}
	p := r.newPartition(k, nil)
	p.cp.track(5, 0)
	p.cp.markDone(5)
	r.parts[k] = p
	listed := []*partition{p} // committable's list
	p.gone.Store(true)        // revoked
	defer func() {
		if e := recover(); e != nil {
			t.Fatalf("the commit loop committed a revoked partition (%v)", e)
		}
	}()
	if err := r.commit(context.Background(), listed, commitLive); err != nil {
		t.Fatal(err)
	}
}

// A commit held for the calls in flight to fit is held shareHoldMax at
// most: a process whose calls never drain (Zoho slow, a share that keeps
// shrinking) still commits its caught-up partition.
func TestCommitHoldEnds(t *testing.T) {
	r, own := holdRunner()
	crm := &fakeSharer{calls: 10, complexWrites: 10, st: zoho.Stats{InFlight: 9, ComplexInFlight: 9}}
	c := &catchUps{}
	start := time.Unix(100, 0)
	held := func(now time.Time) bool {
		r.commitCaughtUp(crm, own, shares{calls: 2, complexWrites: 2}, c, now)
		h := r.heldCommits.Load()
		return h != nil && (*h)[tp{"a", 0}]
	}
	if !held(start) || !held(start.Add(shareHoldMax/2)) {
		t.Fatal("the commit was not held while the calls in flight exceed the share")
	}
	if held(start.Add(shareHoldMax)) {
		t.Fatalf("the commit is still held after %s", shareHoldMax)
	}
	if !fired(r.commitNow) {
		t.Error("the commit was not asked for once the hold ended")
	}
}

// A partition whose committed offset retention or compaction left behind
// its log start, with nothing left to deliver, is caught up: no record
// will come to commit it, and its slots would idle for good.
func TestViewOfCommittedBehindTheLogStart(t *testing.T) {
	a := func(p int32) tp { return tp{"a", p} }
	v := viewOf(nil, groupRead{counts: map[string]int32{"a": 3},
		lso:       map[tp]int64{a(0): 100, a(1): 100, a(2): 100},
		committed: map[tp]int64{a(0): 40, a(1): 40, a(2): 40},
		start:     map[tp]int64{a(0): 100, a(1): 60}}) // a(2)'s start not read: from its commit
	if v.behind[a(0)] || !v.behind[a(1)] || !v.behind[a(2)] {
		t.Fatalf("behind %v: want a/0 caught up (its log starts at its end), a/1 and a/2 behind", v.behind)
	}
}

// ownsAll: every partition of the view owned and not gone, and the topic
// watch counting no partition the view lacks (one just added).
func TestOwnsAll(t *testing.T) {
	a0, a1 := tp{"a", 0}, tp{"a", 1}
	v := &groupView{all: []tp{a0, a1}}
	r := &Runner{parts: map[tp]*partition{}}
	own := func(ks ...tp) {
		clear(r.parts)
		for _, k := range ks {
			r.parts[k] = &partition{tp: k}
		}
	}
	own(a0, a1)
	if !r.ownsAll(v) {
		t.Error("both partitions owned: want alone")
	}
	if r.ownsAll(nil) || r.ownsAll(&groupView{}) {
		t.Error("no view, or one of no partitions: want not alone")
	}
	own(a0)
	if r.ownsAll(v) {
		t.Error("a(1) not owned: want not alone")
	}
	own(a0, a1)
	r.parts[a1].gone.Store(true)
	if r.ownsAll(v) {
		t.Error("a(1) revoked: want not alone")
	}
	own(a0, a1)
	counts := map[string]int32{"a": 3}
	r.topicPartitions.Store(&counts)
	if r.ownsAll(v) {
		t.Error("a third partition added since the view: want not alone")
	}
	counts = map[string]int32{"a": 2}
	if !r.ownsAll(v) {
		t.Error("the topic watch agrees with the view: want alone")
	}
}
