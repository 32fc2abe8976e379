package connector

import (
	"context"
	"time"
	"zohosink/schema"
	"zohosink/zoho"
)

// entry is the latest change of one key waiting to be written, with the
// earlier changes of that key it replaced.
type entry struct {
	key       string // topic + NUL + the row key
	act       action
	rec       zoho.Record
	match     []string // match_on values, in order
	matchKeys []string // normalised "field=value" for in-flight exclusion
	in        inRecord // the record whose state this is
	op        schema.Op
	collapsed []inRecord // earlier records of the key superseded by this one
	since     time.Time
	id        string // the Zoho id when known before the write (cache)
	fp        uint64 // fingerprint of rec, for upserts, inserts and updates
	removed   bool   // launched, replaced or revoked: ignore when met in the queue
}

type batch struct {
	act     action
	entries []*entry
	types   map[string]*zoho.Field // the field types when it was made: the loop may get new ones meanwhile
}

// readyCount counts entries waiting to be written.
func (w *syncWorker) readyCount() int {
	n := 0
	for _, c := range w.counts {
		n += c
	}
	return n
}

// flush launches every batch that is full, has lingered long enough, or is
// due because the sync is draining. It returns how long until the next
// linger deadline.
func (w *syncWorker) flush(writeCtx context.Context, now time.Time) time.Duration {
	w.compact()
	linger := w.cfg.Linger.D()
	next := time.Hour
	for act := actUpsert; act <= actClearFields; act++ {
		for w.inflight < maxInflightBatches && w.counts[act] > 0 {
			b, oldest := w.formBatch(act, now, linger)
			if b == nil {
				if !oldest.IsZero() {
					if d := linger - now.Sub(oldest); d < next {
						next = max(d, time.Millisecond)
					}
				}
				break
			}
			w.launch(writeCtx, b)
		}
	}
	return next
}

// compact drops removed entries from the queue once they are most of it.
func (w *syncWorker) compact() {
	if len(w.queue) < 64 || w.readyCount()*2 > len(w.queue) {
		return
	}
	kept := w.queue[:0]
	for _, e := range w.queue {
		if !e.removed {
			kept = append(kept, e)
		}
	}
	clear(w.queue[len(kept):])
	w.queue = kept
}

// formBatch gathers up to batch_size entries of one action that may be
// written now, in arrival order. An entry waits while its key or one of its
// match values is in flight, or belongs to an earlier waiting entry (of any
// action): so the writes of one key, and of one match value, reach Zoho in
// the order their changes happened, and no batch holds a match value twice.
// It returns nil (and the oldest eligible entry's time) when the batch is
// neither full nor due.
func (w *syncWorker) formBatch(act action, now time.Time, linger time.Duration) (*batch, time.Time) {
	size := w.cfg.BatchSize
	var picked []*entry
	var oldest time.Time
	reserved := map[string]bool{}
	for _, e := range w.queue {
		if len(picked) == size {
			break
		}
		if e.removed {
			continue
		}
		if e.in.part.gone.Load() {
			w.drop(e) // revoked: the next owner writes it
			continue
		}
		blocked := e.act != act || w.inflightKeys[e.key] || reserved[e.key] ||
			conflict(e.matchKeys, w.inflightMatch) || conflict(e.matchKeys, reserved)
		reserved[e.key] = true
		for _, k := range e.matchKeys {
			reserved[k] = true
		}
		if blocked {
			continue
		}
		picked = append(picked, e)
		if oldest.IsZero() || e.since.Before(oldest) {
			oldest = e.since
		}
	}
	if len(picked) == 0 {
		return nil, time.Time{}
	}
	if len(picked) < size && now.Sub(oldest) < linger {
		return nil, oldest
	}
	return &batch{act: act, entries: picked, types: w.types}, oldest
}

// drop forgets a pending entry whose partition was revoked; its records are
// not done and will be consumed again by the partition's next owner.
func (w *syncWorker) drop(e *entry) {
	e.removed = true
	w.counts[e.act]--
	if w.pending[e.key] == e {
		delete(w.pending, e.key)
	}
	w.status.consumed.Add(-int64(1 + len(e.collapsed)))
}

func conflict(keys []string, set map[string]bool) bool {
	for _, k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}

// launch marks a batch's keys in flight and writes it in a goroutine.
func (w *syncWorker) launch(writeCtx context.Context, b *batch) {
	// The write ends when any of its partitions is gone (revoked past the
	// wait, or lost): the partition's next owner writes those changes, and a
	// late write of ours must not land after theirs.
	ctx, cancel := context.WithCancel(writeCtx)
	parts := map[*partition]bool{}
	for _, e := range b.entries {
		e.removed = true
		w.counts[e.act]--
		if w.pending[e.key] == e {
			delete(w.pending, e.key)
		}
		w.inflightKeys[e.key] = true
		for _, k := range e.matchKeys {
			w.inflightMatch[k] = true
		}
		w.inflightByPart[e.in.part]++
		parts[e.in.part] = true
		// A removal with no match value to look up (a before image with key
		// columns only) falls back on the id an earlier write returned.
		if b.act.needsID() && !hasAny(e.match) {
			e.id = w.idCache[e.key]
		}
	}
	var stops []func() bool
	for p := range parts {
		stops = append(stops, context.AfterFunc(p.ctx, cancel))
	}
	w.inflight++
	w.status.writing.Add(1)
	w.met.batch.WithLabelValues(w.cfg.Name).Observe(float64(len(b.entries)))
	go func() {
		res := w.write(ctx, b)
		for _, stop := range stops {
			stop()
		}
		cancel()
		w.results <- res
	}()
}
