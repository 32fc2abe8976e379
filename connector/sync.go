package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"zohosink/connector/config"
	"zohosink/connector/dlq"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema"
	"zohosink/zoho"
)

// Decoder turns a Kafka record into a change; *schema.Decoder implements it.
type Decoder interface {
	Decode(ctx context.Context, m schema.Message) (schema.Change, error)
}

// reusingDecoder is a Decoder that can reuse the rows of the change it
// returned last (*schema.Decoder): a sync's loop is done with each change
// before it decodes the next.
type reusingDecoder interface {
	DecodeReusing(ctx context.Context, m schema.Message, s *schema.Scratch) (schema.Change, error)
}

// A change of signature must not quietly leave the syncs decoding into new
// rows.
var _ reusingDecoder = (*schema.Decoder)(nil)

const (
	// spareBatches is how many batches a sync keeps in flight beyond the
	// write slots the Zoho client may use now (writeSlots): they wait at the
	// client's limiter, encoded, and take a slot the moment one frees, so
	// that under backlog no slot idles while the sync's loop makes the next
	// batch. The client's limiter bounds the calls of all syncs together.
	spareBatches = 2
	// defaultWriteSlots is the write slots of a CRM that does not say
	// (writeLimiter): Zoho's sub-concurrency.
	defaultWriteSlots = 10
	// Mass dead-letter guard: when at least guardRatio of the last
	// guardWindow finished records of a sync were dead-lettered (and at least
	// guardMin were seen), the mapping is broken: stop rather than
	// dead-letter the whole topic.
	guardWindow = 200
	guardMin    = 100
	guardRatio  = 0.9
)

// writeLimiter is what a sync asks of a CRM that limits its calls;
// *zoho.Client implements it.
type writeLimiter interface {
	// WriteSlots is how many writes of more than 10 records may be in
	// flight now, for all syncs of the process together.
	WriteSlots() int
}

// inRecord is one consumed Kafka record on its way through a sync.
type inRecord struct {
	rec  *kgo.Record
	part *partition
	// held is what rec counts in the partition's memory once its entry is
	// slim (slimSize); 0: heldSize, what every record counts when consumed.
	held int64
}

// heldBytes is what r counts in its partition's memory until it is done.
func (r inRecord) heldBytes() int64 {
	if r.held > 0 {
		return r.held
	}
	return heldSize(r.rec)
}

// done marks r finished, releasing what it holds.
func (r inRecord) done() { r.part.doneHeld(r.rec.Offset, r.heldBytes()) }

// source is the partition and offset of the source record: rec's own, or for
// a replayed dead letter (whose rec has the dead-letter topic's partition
// and offset, for the replay's checkpoint) those of its origin headers.
func (r inRecord) source() (int32, int64) {
	if !dlq.Replayed(r.rec) {
		return r.rec.Partition, r.rec.Offset
	}
	d := dlq.Parse(r.rec)
	return d.Partition, d.Offset
}

func (r inRecord) where() string {
	part, off := r.source()
	return fmt.Sprintf("%s/%d@%d", r.rec.Topic, part, off)
}

type revokeReq struct {
	parts map[*partition]bool
	done  chan struct{}
}

// syncWorker runs one sync. Its loop goroutine owns every field below the
// line; writes run in their own goroutines and report back on results.
type syncWorker struct {
	cfg     *config.SyncConfig
	mapper  *mapper
	types   map[string]*zoho.Field
	crm     CRM
	dec     Decoder
	dlq     *deadLetterer
	met     *metrics
	status  *syncStatus
	log     *slog.Logger
	fatal   func(error)
	stopped func() bool // a fatal error stopped the runner
	input   *recordQueue
	results chan batchResult
	revokes chan revokeReq
	drainCh chan struct{}
	typesCh chan map[string]*zoho.Field // field types read after the start
	slots   func() int                  // the CRM's write slots now (writeLimiter)
	tight   func() bool                 // memory near its bound (Runner.tight)

	lookupMu    sync.Mutex
	lookupCache map[string]string // module NUL name -> id

	// --- owned by the loop goroutine ---
	batcher        *batcher
	waitingRevokes []revokeReq
	cache          *keyCache     // ids and last states written, by row key (shared by the process)
	cacheGen       atomic.Uint64 // the sync's generation in cache: an assignment, revoke or loss starts a new one
	learnt         []learned     // complete's scratch: what a write taught the cache
	guard          [guardWindow]bool
	guardCodes     [guardWindow]string
	guardN         int
	draining       bool
	warnedTopics   map[string]bool // topics of Debezium metadata already warned about
	counters       syncCounters
	// lastRead is the highest offset handled of each of the sync's
	// partitions: with the partition's end (partition.end), how much is left to
	// read (behind).
	lastRead map[*partition]int64
	// Recurrence: of the last records handled (recurN of recurEvery), how
	// many were of a key that changed before while the sync ran (recurHits):
	// collapsed into its waiting change, or written already. recurring says
	// whether the last full round of recurEvery had at least one in
	// recurShare: a backlog of such keys is worth holding (slimming).
	recurN, recurHits int
	recurring         bool
	// slimming: the sync is behind, its keys recur, and memory is past half
	// its bound: waiting entries drop their mapped records (slim) rather
	// than be written, so that the backlog's keys keep collapsing.
	slimming bool
	slimmers *atomic.Int32 // the syncs of the process slimming (Runner.slimmers)

	// scratch holds the rows of the change decoded last (reusingDecoder):
	// they are valid until the next decode. Its rows keep cols alone, the
	// columns the sync maps (mapper.columns: cfg.Fields', whatever the
	// field types), which remap's scratch keeps too.
	scratch schema.Scratch
	cols    []string
	// mayLookup: a mapper of this sync (the first, or one given types
	// later) has lookup fields, so records written may hold lookup names
	// to resolve. Never unset: records mapped earlier may still wait.
	mayLookup atomic.Bool
}

// Slimming: see syncWorker.recurring.
const (
	recurEvery = 1024
	recurShare = 64
)

func newSyncWorker(cfg *config.SyncConfig, types map[string]*zoho.Field, crm CRM, dec Decoder, dlq *deadLetterer, met *metrics, log *slog.Logger, fatal func(error)) *syncWorker {
	w := &syncWorker{
		cfg:          cfg,
		mapper:       newMapper(cfg, types),
		types:        types,
		crm:          crm,
		dec:          dec,
		dlq:          dlq,
		met:          met,
		status:       newSyncStatus(cfg),
		log:          log.With("sync", cfg.Name),
		fatal:        fatal,
		stopped:      func() bool { return false },
		input:        newRecordQueue(),
		results:      make(chan batchResult, defaultWriteSlots+spareBatches),
		revokes:      make(chan revokeReq),
		drainCh:      make(chan struct{}),
		typesCh:      make(chan map[string]*zoho.Field, 1),
		lookupCache:  map[string]string{},
		slots:        func() int { return defaultWriteSlots },
		tight:        func() bool { return false },
		slimmers:     new(atomic.Int32),
		lastRead:     map[*partition]int64{},
		batcher:      newBatcher(cfg.BatchSize, cfg.Linger.D(), defaultWriteSlots+spareBatches),
		cache:        newKeyCache(config.DefaultMaxBufferedBytes / 4), // the runner gives its own, shared by its syncs
		warnedTopics: map[string]bool{},
	}
	if l, ok := crm.(writeLimiter); ok {
		w.slots = l.WriteSlots
	}
	w.mayLookup.Store(w.mapper.lookups)
	w.cols = w.mapper.columns()
	w.scratch.Project(w.cols)
	return w
}

// setTypes gives the worker the Zoho types of its module's fields, read
// from the org once the runner started; before its loop runs.
func (w *syncWorker) setTypes(types map[string]*zoho.Field) {
	w.types = types
	w.mapper = newMapper(w.cfg, types)
	if w.mapper.lookups {
		w.mayLookup.Store(true)
	}
}

// run is the sync's loop. It returns when ctx ends, or once draining has
// nothing left in flight. Writes are given writeCtx, which outlives ctx by the
// drain timeout.
func (w *syncWorker) run(ctx, writeCtx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	drain := w.drainCh
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.input.signal:
			if !w.draining {
				for _, r := range w.input.take() {
					if w.stopped() {
						break // a fatal error: nothing more is handled or committed
					}
					w.handle(ctx, r)
				}
			}
		case res := <-w.results:
			w.complete(res)
		case req := <-w.revokes:
			w.revoke(req)
		case <-drain:
			w.draining = true
			drain = nil
		case types := <-w.typesCh:
			w.setTypes(types) // the fields metadata, read late
		case <-timer.C:
		}
		// Draining: no new batch starts; the loop ends once the writes in
		// flight are done. What waits is not done, so not committed: the next
		// start consumes it again.
		if w.draining {
			if w.batcher.inflight == 0 {
				return
			}
			continue
		}
		next := w.flush(writeCtx, time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// handle takes one record through decode, the mode table and mapping, into
// the pending set (or straight to done or the dead-letter topic).
func (w *syncWorker) handle(ctx context.Context, r inRecord) {
	if r.part.gone.Load() {
		return // revoked while queued: the next owner consumes it
	}
	if r.part.w == w {
		w.lastRead[r.part] = max(w.lastRead[r.part], r.rec.Offset)
	}
	ch, err := w.decode(ctx, r, &w.scratch)
	if err != nil {
		if ctx.Err() == nil && !r.part.gone.Load() && !schema.IsRetryable(err) {
			w.countConsumed()
			w.deadLetter(r, outcome{kind: outDeadLetter, stage: "decode", code: "DECODE_ERROR", msg: err.Error()}, nil)
		}
		return // else not done: consumed again at the next start
	}
	w.countConsumed()
	act := actionFor(w.cfg.Type, w.cfg.Mode, w.cfg.RemoveAction, ch.Op)
	if act == actSkip {
		if why := notRowsWarning(ch.Op); why != "" && !w.warnedTopics[ch.Topic] {
			w.warnedTopics[ch.Topic] = true
			w.log.Warn("topic is not a table's changes", "topic", ch.Topic, "problem", why)
		}
		w.skip(r, skipReason(ch.Op))
		return
	}
	row := ch.After
	if act == actDelete || act == actUntag || act == actClearFields {
		row = ch.Before
	}
	key := ch.Topic + "\x00" + ch.KeyString
	if ch.KeyString == "" {
		// No key: every record is its own (partition and offset identify it).
		key = ch.Topic + "\x00#" + strconv.Itoa(int(ch.Partition)) + "@" + strconv.FormatInt(ch.Offset, 10)
	}
	kh := keyHash(key)

	var rec zoho.Record
	var match []string
	if act.needsID() && act != actUpdate {
		// Removals need only the match values: from the row's before image,
		// else from the record's key (a match_on field mapped from a key
		// column, as MongoDB's _id), else from what an earlier write of the
		// key told us.
		if row == nil {
			row = ch.Key
		}
		if row != nil {
			rec, _ = w.mapper.mapRow(row, false) // what cannot be mapped has no match values: the id cache may know the record
		}
		if rec != nil {
			match = w.mapper.matchValues(rec)
		}
		if !hasAny(match) {
			if f, ok := w.cache.getHashed(key, kh, w.cacheGen.Load()); !ok || f.id == "" {
				w.deadLetter(r, outcome{kind: outDeadLetter, stage: "map", op: act.operation(), code: "MAPPING_ERROR", field: first(w.cfg.MatchOn),
					msg: fmt.Sprintf("delete of key %s: the event carries no value for match_on %v and no Zoho id is known for the key (for PostgreSQL, set REPLICA IDENTITY FULL on the table so deletes carry the whole row; for MongoDB, capture.mode=change_streams_update_full_with_pre_image with pre-images enabled on the collection, or map a unique Zoho field from _id and match_on it)", ch.KeyString, w.cfg.MatchOn)}, nil)
				return
			}
			err = nil
		}
		if act == actClearFields {
			cleared := zoho.Record{}
			for _, f := range w.cfg.ClearFields {
				cleared[f] = nil
			}
			rec = cleared
		}
	} else {
		rec, err = w.mapper.mapRow(row, true)
		if err != nil {
			field := ""
			if me, ok := errors.AsType[*mapError](err); ok {
				field = me.Field
				if me.missing {
					err = w.mapWhole(ctx, r, err)
				}
			}
			w.deadLetter(r, outcome{kind: outDeadLetter, stage: "map", op: act.operation(), code: "MAPPING_ERROR", field: field, msg: err.Error()}, nil)
			return
		}
		match = w.mapper.matchValues(rec)
	}

	// An update whose mapped fields did not change costs nothing: neither
	// against the event's before image, nor against the last state Zoho
	// accepted for the key when nothing else of the key is waiting or in
	// flight (which could still change Zoho after it).
	var fp uint64
	recurred := false
	if act == actUpsert || act == actUpdate || act == actInsert {
		fp = w.mapper.hash(rec) ^ uint64(act)
		if ch.Op == schema.OpUpdate && ch.Before != nil {
			if before, err := w.mapper.mapRow(ch.Before, false); err == nil && w.mapper.hash(before)^uint64(act) == fp {
				w.skip(r, "unchanged")
				return
			}
		}
		if last, ok := w.cache.getHashed(key, kh, w.cacheGen.Load()); ok && last.hasFP {
			recurred = true // written before
			if last.fp == fp && !w.batcher.busy(key, kh) {
				w.noteRecurrence(true)
				w.skip(r, "unchanged")
				return
			}
		}
	}

	e := &entry{key: key, act: act, rec: rec, match: match, in: r, op: ch.Op, since: time.Now(), fp: fp, keyHash: kh}
	for i, v := range match {
		if v != "" {
			e.matchHashes.add(w.mapper.matchHash(i, v))
		}
	}
	// Collapse: of several waiting writes of one kind, the key's last
	// change is the only one worth making (see batcher). Of the change it
	// replaced only the place is kept: its memory is free.
	if old, grew, ok := w.batcher.add(e); ok {
		old.part.rehold(old.heldBytes(), grew)
		recurred = true
	}
	w.noteRecurrence(recurred)
	if w.slimming {
		w.slim(e)
	}
}

// mapWhole maps r's after image again decoded whole, for the error of a
// mapped column missing from the row to list every column of the table,
// not only those the projected decode kept (schema.Scratch.Project); err
// when that decode fails. A record of a mapping that names a column the
// table lacks is thus decoded twice on its way to the dead-letter topic.
// (Removals map their rows without checking, so never come here.)
func (w *syncWorker) mapWhole(ctx context.Context, r inRecord, err error) error {
	ch, derr := w.decode(ctx, r, nil)
	if derr != nil {
		return err
	}
	if _, merr := w.mapper.mapRow(ch.After, true); merr != nil {
		return merr
	}
	return err
}

// noteRecurrence counts a record handled, and whether its key changed
// before while the sync ran (see syncWorker.recurring).
func (w *syncWorker) noteRecurrence(recurred bool) {
	w.recurN++
	if recurred {
		w.recurHits++
	}
	if w.recurN == recurEvery {
		w.recurring = w.recurHits*recurShare >= recurEvery
		w.recurN, w.recurHits = 0, 0
	}
}

// slim drops the mapped record of a waiting upsert, insert or update, to
// hold a backlog in less memory: what is kept is a copy of the Kafka
// record (the fetched one would keep its whole fetch alive), the key, the
// fingerprint and the match values (copied out of the decoded value, which
// they would otherwise keep alive). The record is mapped again from the
// Kafka record before it is written (remap). Removals, whose records are a
// few fields, stay as they are.
func (w *syncWorker) slim(e *entry) {
	if e.slim || e.rec == nil || !(e.act == actUpsert || e.act == actInsert || e.act == actUpdate) {
		return
	}
	for i, v := range e.match {
		e.match[i] = strings.Clone(v)
	}
	e.rec, e.slim = nil, true
	// franz-go hands out the records of a fetched batch as one array over
	// the batch's bytes: holding one record holds them all. A slim entry's
	// record is a copy of its own, so that a backlog held slim costs its
	// keys' records, not the batches they came in.
	own := *e.in.rec
	kv := make([]byte, len(own.Key)+len(own.Value))
	own.Key, own.Value = kv[:len(own.Key):len(own.Key)], kv[len(own.Key):]
	copy(own.Key, e.in.rec.Key)
	copy(own.Value, e.in.rec.Value)
	if e.in.rec.Key == nil {
		own.Key = nil // a record without a key stays without one
	}
	if len(own.Headers) > 0 {
		own.Headers = make([]kgo.RecordHeader, len(e.in.rec.Headers))
		for i, h := range e.in.rec.Headers {
			own.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)}
		}
	}
	e.in.rec = &own
	n := slimSize(e.in.rec)
	e.in.part.rehold(e.in.heldBytes(), n)
	e.in.held = n
}

// remap maps again the records of the batch's slim entries (see slim),
// from their Kafka records, before the write. An entry that no longer
// decodes or maps (the registry lost its schema, the field types read
// since refuse a value) gets its dead-letter outcome; one whose decode
// waits on the registry while the write is cancelled stays pending, and is
// abandoned with the batch.
func (w *syncWorker) remap(ctx context.Context, b *batch, out []outcome) error {
	var scratch *schema.Scratch // the write's own: the loop decodes into w.scratch meanwhile
	for i, e := range b.entries {
		if !e.slim || e.rec != nil || out[i].kind != outPending {
			continue
		}
		if scratch == nil {
			scratch = new(schema.Scratch)
			scratch.Project(w.cols)
		}
		ch, err := w.decode(ctx, e.in, scratch)
		if err != nil {
			if schema.IsRetryable(err) {
				return err
			}
			out[i] = outcome{kind: outDeadLetter, stage: "decode", code: "DECODE_ERROR", msg: err.Error()}
			continue
		}
		rec, err := b.mapper.mapRow(ch.After, true)
		if err != nil {
			field := ""
			if me, ok := errors.AsType[*mapError](err); ok {
				field = me.Field
			}
			out[i] = outcome{kind: outDeadLetter, stage: "map", op: e.act.operation(), code: "MAPPING_ERROR", field: field, msg: err.Error()}
			continue
		}
		e.rec = rec
	}
	return nil
}

// countConsumed counts a record that reached the sync's logic.
func (w *syncWorker) countConsumed() {
	w.consumedCounter().Inc()
	w.status.consumed.Add(1)
}

// decode decodes a record, retrying while the schema registry is out of
// reach; a record that cannot be decoded is returned as an error. The
// change's rows (Key, Before, After) are valid until the next decode into
// scratch: what is kept of them must be copied (mapping does). A nil
// scratch decodes into rows of the change's own, every column.
func (w *syncWorker) decode(ctx context.Context, r inRecord, scratch *schema.Scratch) (schema.Change, error) {
	part, off := r.source()
	m := schema.Message{Topic: r.rec.Topic, Partition: part, Offset: off, Timestamp: r.rec.Timestamp, Key: r.rec.Key, Value: r.rec.Value}
	for _, h := range r.rec.Headers {
		m.Headers = append(m.Headers, schema.Header{Key: h.Key, Value: h.Value})
	}
	for attempt := 0; ; attempt++ {
		var ch schema.Change
		var err error
		if rd, ok := w.dec.(reusingDecoder); ok && scratch != nil {
			ch, err = rd.DecodeReusing(ctx, m, scratch)
		} else {
			ch, err = w.dec.Decode(ctx, m)
		}
		if err == nil {
			if attempt > 0 {
				w.status.setState(stateRunning, "")
			}
			return ch, nil
		}
		if !schema.IsRetryable(err) {
			return ch, err
		}
		if r.part.gone.Load() || ctx.Err() != nil {
			return ch, err // revoked or stopping meanwhile: decoded again later
		}
		w.status.setState(stateRetrying, err.Error())
		if attempt == 0 || attempt%10 == 0 {
			w.log.Warn("schema registry unavailable, retrying", "record", r.where(), "err", err)
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return ch, err // stopping: decoded again at the next start
		}
	}
}

func (w *syncWorker) skip(r inRecord, reason string) {
	w.skippedCounter(reason).Inc()
	w.status.skipped.Add(1)
	r.done()
}

// complete applies a batch's outcomes: caches, metrics, checkpoints and dead
// letters.
func (w *syncWorker) complete(res batchResult) {
	w.batcher.done(res.b)
	w.status.writing.Add(-1)
	if res.fatal != nil {
		w.status.setState(stateFailed, res.fatal.Error())
		w.fatal(fmt.Errorf("sync %q: %w", w.cfg.Name, res.fatal))
	}
	var again []*entry // abandoned with their partition still ours: written again
	// The counts of written and collapsed records go to the metrics once a
	// batch (of one operation, its action's), not once a record.
	var written, collapsed int64
	for i, e := range res.b.entries {
		o := res.outcomes[i]
		switch o.kind {
		case outAbandoned:
			if w.draining || res.stopped {
				w.status.notWritten.Add(1)
			}
			switch {
			case e.in.part.gone.Load():
				w.status.consumed.Add(-int64(1 + e.collapsed.n)) // the next owner counts them
			case !w.draining && !res.stopped && res.fatal == nil && !w.stopped():
				// Cancelled because another partition of the batch went.
				again = append(again, e)
			}
			continue
		case outWritten:
			written++
			// Revoked or lost meanwhile: another member may write the key
			// before it is ours again, so what this write learned is stale.
			if !e.in.part.gone.Load() {
				// Applied to the cache below, under one lock for the batch.
				w.learnt = append(w.learnt, learned{key: e.key, hash: e.keyHash, gone: e.act == actDelete, id: o.id, fp: e.fp})
			}
			e.in.done()
			w.noteGuard(false, "")
		case outSkipped:
			w.forgetState(e.key)
			w.skip(e.in, o.reason)
		case outDeadLetter:
			w.forgetState(e.key)
			w.deadLetter(e.in, o, res.b)
		}
		if n := e.collapsed.n; n > 0 {
			collapsed += int64(n)
			e.in.part.doneCollapsed(&e.collapsed)
		}
	}
	if written > 0 {
		w.writtenCounter(res.b.act.operation()).Add(float64(written))
	}
	w.status.written.Add(written)
	if collapsed > 0 {
		w.skippedCounter("collapsed").Add(float64(collapsed))
		w.status.skipped.Add(collapsed)
	}
	if len(w.learnt) > 0 {
		// The batch's keys are distinct (no batch holds a key twice), so
		// learning them after the loop is learning them in it.
		w.cache.learn(w.cacheGen.Load(), w.learnt)
		clear(w.learnt)
		w.learnt = w.learnt[:0]
	}
	if res.fatal == nil && w.status.state() == stateRetrying {
		w.status.setState(stateRunning, "")
	}
	for i := len(again) - 1; i >= 0; i-- {
		if again[i].slim {
			again[i].rec = nil // as it waited: mapped again at its next write
		}
		w.batcher.requeue(again[i])
	}
	w.answerRevokes()
}

// forgetState forgets the last state written for key: what Zoho holds is
// no longer known (a write of it was skipped or refused).
func (w *syncWorker) forgetState(key string) {
	w.cache.update(key, w.cacheGen.Load(), func(f *keyFacts) { f.fp, f.hasFP = 0, false })
}

// revoke drops the pending entries of revoked partitions and answers once
// their in-flight writes are finished.
func (w *syncWorker) revoke(req revokeReq) {
	for _, e := range w.batcher.revoke(req.parts) {
		w.dropped(e)
	}
	// What recurred may have been the revoked partitions' keys, or keys
	// known in the cache generation this revoke ends.
	w.recurN, w.recurHits, w.recurring = 0, 0, false
	for p := range req.parts {
		delete(w.lastRead, p)
	}
	// Another member may write these keys while they are away: what we
	// learned of them (ids, last states written) may go stale.
	w.cacheGen.Add(1)
	w.waitingRevokes = append(w.waitingRevokes, req)
	w.answerRevokes()
}

func (w *syncWorker) answerRevokes() {
	kept := w.waitingRevokes[:0]
	for _, req := range w.waitingRevokes {
		busy := false
		for p := range req.parts {
			if w.batcher.writing(p) {
				busy = true
				break
			}
		}
		if busy {
			kept = append(kept, req)
		} else {
			close(req.done)
		}
	}
	w.waitingRevokes = kept
}

// pressurePoll is how often a deferring sync looks again at memory and
// back-pressure, which other syncs' reads change without waking it.
const pressurePoll = 100 * time.Millisecond

// flush launches every batch that is due (full, lingered long enough, or
// overdue while the sync is behind) and returns how long until the next
// may be.
func (w *syncWorker) flush(writeCtx context.Context, now time.Time) time.Duration {
	// Zoho's limits, not ours: as many batches as the client may write at
	// once (its share of the org, lowered after 429s), and a spare or two.
	w.batcher.maxInflight = max(w.slots(), 1) + spareBatches
	behind, windowFull := w.behind()
	// A backlog whose keys change again is held slim once memory passes
	// half its bound, rather than written (Runner.tight), until the sync
	// caught up: a run of new keys within it does not make it write the
	// backlog held so far.
	slimming := behind && !windowFull && (w.slimming || w.recurring && w.tight())
	switch {
	case slimming && !w.slimming:
		w.slimmers.Add(1)
		w.batcher.eachWaiting(w.slim)
	case !slimming && w.slimming:
		w.slimmers.Add(-1)
	}
	w.slimming = slimming
	w.batcher.behind, w.batcher.tight = behind, windowFull || w.tight()
	for {
		b, wait := w.batcher.next(now, w.dropped)
		if b == nil {
			waiting := w.batcher.waiting()
			w.status.waiting.Store(int64(waiting))
			w.status.compacting.Store(w.batcher.deferring() && waiting > 0)
			if w.batcher.deferring() {
				wait = min(wait, pressurePoll)
			}
			return wait
		}
		w.launch(writeCtx, b)
	}
}

// behind reports whether records of the sync's partitions are still to be
// read: more than a batch beyond what it handled, by the partitions' ends
// at the last fetches (partition.end: the last stable offset, so that an
// open transaction's records, not handed out until it ends, do not count;
// allowing one offset a partition for a transaction's closing marker,
// which the poll marks done and never hands to the sync). Then the later
// changes of the keys waiting may be coming, and their writes wait for
// them (batcher), unless memory is tight (Runner.tight), or a partition's
// window of records not done nears maxWindow (windowFull), where
// back-pressure pauses it whatever the memory. An end is as old as the
// partition's last fetch: records produced since make the sync behind
// only once fetched.
func (w *syncWorker) behind() (behind, windowFull bool) {
	var left int64
	for p, last := range w.lastRead {
		if p.gone.Load() {
			delete(w.lastRead, p)
			continue
		}
		left += max(p.end()-last-2, 0)
		if p.cp.Window() >= maxWindow/2 {
			windowFull = true
		}
	}
	return left > int64(w.batcher.size), windowFull
}

// dropped forgets an entry whose partition was revoked; its records are not
// done and will be consumed again by the partition's next owner, who counts
// them.
func (w *syncWorker) dropped(e *entry) {
	w.status.consumed.Add(-int64(1 + e.collapsed.n))
}

// launch writes a batch the batcher marked in flight, in a goroutine that
// reports on results.
func (w *syncWorker) launch(writeCtx context.Context, b *batch) {
	b.types, b.mapper = w.types, w.mapper
	// The write ends when any of its partitions is gone (revoked past the
	// wait, or lost): the partition's next owner writes those changes, and a
	// late write of ours must not land after theirs.
	ctx, cancel := context.WithCancel(writeCtx)
	parts := map[*partition]bool{}
	for _, e := range b.entries {
		parts[e.in.part] = true
		// A removal with no match value to look up (a before image with key
		// columns only) falls back on the id an earlier write returned.
		if b.act.needsID() && !hasAny(e.match) {
			if f, ok := w.cache.getHashed(e.key, e.keyHash, w.cacheGen.Load()); ok {
				e.id = f.id
			}
		}
	}
	var stops []func() bool
	for p := range parts {
		stops = append(stops, context.AfterFunc(p.ctx, cancel))
	}
	w.status.writing.Add(1)
	w.batchObserver().Observe(float64(len(b.entries)))
	go func() {
		res := w.write(ctx, b)
		for _, stop := range stops {
			stop()
		}
		cancel()
		w.results <- res
	}()
}

// recordQueue hands records from the poll loop to a sync's loop. Its size is
// bounded by pausing partitions (see partition).
type recordQueue struct {
	mu     sync.Mutex
	items  []inRecord
	signal chan struct{}
	// bytes is what the queued records hold (heldSize): memory the sync
	// frees by handling them (a change collapsing into its key's waiting
	// one), not by writing.
	bytes atomic.Int64
}

func newRecordQueue() *recordQueue { return &recordQueue{signal: make(chan struct{}, 1)} }

func (q *recordQueue) push(rs ...inRecord) {
	var n int64
	for _, r := range rs {
		n += heldSize(r.rec)
	}
	q.mu.Lock()
	q.items = append(q.items, rs...)
	q.bytes.Add(n)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *recordQueue) take() []inRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	q.bytes.Store(0)
	return out
}
