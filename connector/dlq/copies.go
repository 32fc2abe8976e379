package dlq

import "time"

// sourceKey is where a dead letter's record came from.
type sourceKey struct {
	topic     string
	partition int32
	offset    int64
}

// latest keeps, of the dead letters of one source record (the
// same __connect.errors.topic, partition and offset), only the newest copy:
// a record that failed again when replayed is dead-lettered again with its
// replay count raised, and the older copies stay in the topic. The newest is
// the one with the highest replay count; between equal counts, the later in
// the dead-letter partition (or by timestamp across partitions, or in dls).
// Dead letters without origin headers are all kept. latest keeps the order
// of dls; superseded is how many older copies were left out.
func latest(dls []Letter) (latest []Letter, superseded int) {
	newest := newestIndex(dls)
	latest = make([]Letter, 0, len(newest))
	for i, d := range dls {
		if !isNewest(newest, dls, i) {
			superseded++
			continue
		}
		latest = append(latest, d)
	}
	return latest, superseded
}

// newestIndex returns, per source record, the index in dls of its newest
// copy.
func newestIndex(dls []Letter) map[sourceKey]int {
	newest := make(map[sourceKey]int, len(dls))
	for i, d := range dls {
		k, ok := d.source()
		if !ok {
			continue
		}
		if j, ok := newest[k]; !ok || newerLetter(d, dls[j]) {
			newest[k] = i
		}
	}
	return newest
}

// isNewest reports whether dls[i] is the newest copy of its source record
// (a dead letter without origin headers is its own).
func isNewest(newest map[sourceKey]int, dls []Letter, i int) bool {
	k, ok := dls[i].source()
	return !ok || newest[k] == i
}

// source is the source record of a dead letter; false when it carries no
// origin headers.
func (l Letter) source() (sourceKey, bool) {
	return sourceKey{l.Topic, l.Partition, l.Offset}, l.Topic != ""
}

// newerLetter reports whether a is a newer copy than b, which comes
// before it in the slice read.
func newerLetter(a, b Letter) bool {
	return newerCopy(copyOf(a), copyOf(b))
}

// copyRef is where one dead-letter copy of a source record is, and what
// tells copies apart.
type copyRef struct {
	replays   int
	partition int32
	offset    int64
	ts        time.Time
}

func copyOf(d Letter) copyRef {
	return copyRef{d.ReplayCount, d.DLQPartition, d.DLQOffset, d.Timestamp}
}

// newerCopy reports whether a is a newer copy than b, which was read before
// it: the higher replay count; between equal counts (dead-lettered twice,
// e.g. around a crash), the later in the dead-letter partition, else the
// later timestamp, else the one read last.
func newerCopy(a, b copyRef) bool {
	switch {
	case a.replays != b.replays:
		return a.replays > b.replays
	case a.partition == b.partition:
		return a.offset > b.offset
	case !a.ts.Equal(b.ts):
		return a.ts.After(b.ts)
	}
	return true
}

// Copies knows, for each source record, where its newest dead-letter
// copy is: a replay sends a record through its sync once, from its newest
// copy, and leaves the older ones where they are.
type Copies map[sourceKey]copyRef

// add records a dead letter read (in offset order within its partition).
func (n Copies) Add(d Letter) {
	k, ok := d.source()
	if !ok {
		return
	}
	c := copyOf(d)
	if cur, ok := n[k]; !ok || newerCopy(c, cur) {
		n[k] = c
	}
}

// superseded reports whether a newer copy of d's source record was read.
func (n Copies) Superseded(d Letter) bool {
	k, ok := d.source()
	if !ok {
		return false
	}
	cur, ok := n[k]
	return ok && (cur.partition != d.DLQPartition || cur.offset != d.DLQOffset)
}
