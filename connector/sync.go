package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/schema"
	"zohosink/zoho"
)

// CRM is what a sync needs of Zoho; *zoho.Client implements it.
type CRM interface {
	Insert(ctx context.Context, module string, recs []zoho.Record, o zoho.WriteOptions) ([]zoho.Result, error)
	Update(ctx context.Context, module string, recs []zoho.Record, o zoho.WriteOptions) ([]zoho.Result, error)
	Upsert(ctx context.Context, module string, recs []zoho.Record, o zoho.WriteOptions) ([]zoho.Result, error)
	Delete(ctx context.Context, module string, ids []string, wfTrigger bool) ([]zoho.Result, error)
	AddTags(ctx context.Context, module string, ids []string, tags []string) ([]zoho.Result, error)
	RemoveTags(ctx context.Context, module string, ids []string, tags []string) ([]zoho.Result, error)
	FindIDs(ctx context.Context, module, field string, values []string) (map[string][]string, error)
}

// Decoder turns a Kafka record into a change; *schema.Decoder implements it.
type Decoder interface {
	Decode(ctx context.Context, m schema.Message) (schema.Change, error)
}

const (
	// maxInflightBatches bounds the write calls one sync has in flight; the
	// Zoho client's limiter bounds all syncs together.
	maxInflightBatches = 8
	// Mass dead-letter guard: when at least guardRatio of the last
	// guardWindow finished records of a sync were dead-lettered (and at least
	// guardMin were seen), the mapping is broken: stop rather than
	// dead-letter the whole topic.
	guardWindow = 200
	guardMin    = 100
	guardRatio  = 0.9
	// cacheCap bounds the per-key fingerprints and ids kept to skip no-op
	// updates and save id look-ups.
	cacheCap = 500_000
)

// inRecord is one consumed Kafka record on its way through a sync.
type inRecord struct {
	rec  *kgo.Record
	part *partition
}

// source is the partition and offset of the source record: rec's own, or for
// a replayed dead letter (whose rec has the dead-letter topic's partition
// and offset, for the replay's checkpoint) those of its origin headers.
func (r inRecord) source() (int32, int64) {
	if !slices.ContainsFunc(r.rec.Headers, func(h kgo.RecordHeader) bool { return h.Key == hdrReplayCount }) {
		return r.rec.Partition, r.rec.Offset
	}
	d := ParseDeadLetter(r.rec)
	return d.Partition, d.Offset
}

func (r inRecord) where() string {
	part, off := r.source()
	return fmt.Sprintf("%s/%d@%d", r.rec.Topic, part, off)
}

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

type outcomeKind int

const (
	outAbandoned outcomeKind = iota // not finished (shutdown or revoke): not done, consumed again later
	outWritten
	outSkipped
	outDeadLetter
)

type outcome struct {
	kind   outcomeKind
	id     string
	reason string // skipped: why
	stage  string // dead letter: map or write
	op     zoho.Operation
	code   string
	field  string
	msg    string
	// detail adds to msg in the dead letter only (never the log): the value
	// Zoho refused, which may be personal data.
	detail string
}

type batchResult struct {
	b        *batch
	outcomes []outcome
	fatal    error
	stopped  bool // the write gave up waiting because the runner is draining
}

type revokeReq struct {
	parts map[*partition]bool
	done  chan struct{}
}

// syncWorker runs one sync. Its loop goroutine owns every field below the
// line; writes run in their own goroutines and report back on results.
type syncWorker struct {
	cfg     *SyncConfig
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

	lookupMu    sync.Mutex
	lookupCache map[string]string // module NUL name -> id

	// --- owned by the loop goroutine ---
	pending        map[string]*entry
	queue          []*entry // pending entries in arrival order (with removed ones until compaction)
	counts         [actClearFields + 1]int
	inflightKeys   map[string]bool
	inflightMatch  map[string]bool
	inflight       int
	inflightByPart map[*partition]int
	waitingRevokes []revokeReq
	idCache        map[string]string // row key -> Zoho id learned from a write
	lastWritten    map[string]uint64 // row key -> fingerprint of the last state Zoho accepted
	guard          [guardWindow]bool
	guardCodes     [guardWindow]string
	guardN         int
	draining       bool
	warnedTopics   map[string]bool // topics of Debezium metadata already warned about
}

func newSyncWorker(cfg *SyncConfig, types map[string]*zoho.Field, crm CRM, dec Decoder, dlq *deadLetterer, met *metrics, log *slog.Logger, fatal func(error)) *syncWorker {
	return &syncWorker{
		cfg:            cfg,
		mapper:         newMapper(cfg, types),
		types:          types,
		crm:            crm,
		dec:            dec,
		dlq:            dlq,
		met:            met,
		status:         newSyncStatus(cfg),
		log:            log.With("sync", cfg.Name),
		fatal:          fatal,
		stopped:        func() bool { return false },
		input:          newRecordQueue(),
		results:        make(chan batchResult, maxInflightBatches),
		revokes:        make(chan revokeReq),
		drainCh:        make(chan struct{}),
		typesCh:        make(chan map[string]*zoho.Field, 1),
		lookupCache:    map[string]string{},
		pending:        map[string]*entry{},
		inflightKeys:   map[string]bool{},
		inflightMatch:  map[string]bool{},
		inflightByPart: map[*partition]int{},
		idCache:        map[string]string{},
		lastWritten:    map[string]uint64{},
		warnedTopics:   map[string]bool{},
	}
}

// setTypes gives the worker the Zoho types of its module's fields, read
// from the org once the runner started; before its loop runs.
func (w *syncWorker) setTypes(types map[string]*zoho.Field) {
	w.types = types
	w.mapper = newMapper(w.cfg, types)
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
			if w.inflight == 0 {
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
	ch, err := w.decode(ctx, r)
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
			rec, err = w.mapper.mapRow(row, false)
		}
		if rec != nil {
			match = w.mapper.matchValues(rec)
		}
		if !hasAny(match) {
			if _, ok := w.idCache[key]; !ok {
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
			var me *mapError
			errors.As(err, &me)
			w.deadLetter(r, outcome{kind: outDeadLetter, stage: "map", op: act.operation(), code: "MAPPING_ERROR", field: me.Field, msg: err.Error()}, nil)
			return
		}
		match = w.mapper.matchValues(rec)
	}

	// An update whose mapped fields did not change costs nothing: neither
	// against the event's before image, nor against the last state Zoho
	// accepted for the key when nothing else of the key is waiting or in
	// flight (which could still change Zoho after it).
	var fp uint64
	if act == actUpsert || act == actUpdate || act == actInsert {
		fp = w.mapper.hash(rec) ^ uint64(act)
		if ch.Op == schema.OpUpdate && ch.Before != nil {
			if before, err := w.mapper.mapRow(ch.Before, false); err == nil && w.mapper.hash(before)^uint64(act) == fp {
				w.skip(r, "unchanged")
				return
			}
		}
		_, waiting := w.pending[key]
		if last, ok := w.lastWritten[key]; ok && last == fp && !waiting && !w.inflightKeys[key] {
			w.skip(r, "unchanged")
			return
		}
	}

	e := &entry{key: key, act: act, rec: rec, match: match, in: r, op: ch.Op, since: time.Now(), fp: fp}
	for i, v := range match {
		if v != "" {
			e.matchKeys = append(e.matchKeys, strings.ToLower(w.cfg.MatchOn[i]+"="+v))
		}
	}
	if old, ok := w.pending[key]; ok && old.act == act {
		// Collapse: of several waiting writes of one kind, the key's last
		// change is the only one worth making. Writes of different kinds
		// (an upsert, then an untag) all run, in order, so the outcome does
		// not depend on how changes fell into batches.
		old.removed = true
		w.counts[old.act]--
		e.collapsed = append(old.collapsed, old.in)
		e.since = old.since
	}
	w.pending[key] = e
	w.queue = append(w.queue, e)
	w.counts[act]++
}

// countConsumed counts a record that reached the sync's logic.
func (w *syncWorker) countConsumed() {
	w.met.consumed.WithLabelValues(w.cfg.Name).Inc()
	w.status.consumed.Add(1)
}

// decode decodes a record, retrying while the schema registry is out of
// reach; a record that cannot be decoded is returned as an error.
func (w *syncWorker) decode(ctx context.Context, r inRecord) (schema.Change, error) {
	part, off := r.source()
	m := schema.Message{Topic: r.rec.Topic, Partition: part, Offset: off, Timestamp: r.rec.Timestamp, Key: r.rec.Key, Value: r.rec.Value}
	for _, h := range r.rec.Headers {
		m.Headers = append(m.Headers, schema.Header{Key: h.Key, Value: h.Value})
	}
	for attempt := 0; ; attempt++ {
		ch, err := w.dec.Decode(ctx, m)
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
	w.met.skipped.WithLabelValues(w.cfg.Name, reason).Inc()
	w.status.skipped.Add(1)
	r.part.done(r.rec.Offset)
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

// complete applies a batch's outcomes: caches, metrics, checkpoints and dead
// letters.
func (w *syncWorker) complete(res batchResult) {
	w.inflight--
	w.status.writing.Add(-1)
	if res.fatal != nil {
		w.status.setState(stateFailed, res.fatal.Error())
		w.fatal(fmt.Errorf("sync %q: %w", w.cfg.Name, res.fatal))
	}
	for i, e := range res.b.entries {
		delete(w.inflightKeys, e.key)
		for _, k := range e.matchKeys {
			delete(w.inflightMatch, k)
		}
		w.inflightByPart[e.in.part]--
		if w.inflightByPart[e.in.part] <= 0 {
			delete(w.inflightByPart, e.in.part)
		}
		o := res.outcomes[i]
		switch o.kind {
		case outAbandoned:
			if w.draining || res.stopped {
				w.status.notWritten.Add(1)
			}
			if e.in.part.gone.Load() {
				w.status.consumed.Add(-int64(1 + len(e.collapsed))) // the next owner counts them
			}
			continue
		case outWritten:
			w.met.written.WithLabelValues(w.cfg.Name, w.cfg.Module, string(o.op)).Inc()
			w.status.written.Add(1)
			if len(w.idCache) >= cacheCap {
				clear(w.idCache)
			}
			if len(w.lastWritten) >= cacheCap {
				clear(w.lastWritten)
			}
			switch {
			case e.act == actDelete:
				delete(w.idCache, e.key)
				delete(w.lastWritten, e.key)
			case o.id != "":
				w.idCache[e.key] = o.id
			}
			if e.fp != 0 {
				w.lastWritten[e.key] = e.fp
			} else {
				delete(w.lastWritten, e.key)
			}
			e.in.part.done(e.in.rec.Offset)
			w.noteGuard(false, "")
		case outSkipped:
			delete(w.lastWritten, e.key)
			w.skip(e.in, o.reason)
		case outDeadLetter:
			delete(w.lastWritten, e.key)
			w.deadLetter(e.in, o, res.b)
		}
		for _, c := range e.collapsed {
			w.skip(c, "collapsed")
		}
	}
	if res.fatal == nil && w.status.state() == stateRetrying {
		w.status.setState(stateRunning, "")
	}
	w.answerRevokes()
}

// deadLetter sends a record to the dead-letter topic; it is done once Kafka
// acknowledged it.
func (w *syncWorker) deadLetter(r inRecord, o outcome, b *batch) {
	code := o.code
	w.log.Warn("record dead-lettered", "record", r.where(),
		"stage", o.stage, "code", code, "field", o.field, "reason", o.msg)
	op := o.op
	if op == "" && b != nil {
		op = b.act.operation()
	}
	w.dlq.send(r.rec, dlqInfo{sync: w.cfg.Name, module: w.cfg.Module, stage: o.stage, op: string(op), code: code, field: o.field, msg: o.msg + o.detail}, func(err error) {
		if err != nil {
			w.fatal(fmt.Errorf("sync %q: cannot write record %s to the dead-letter topic %s: %w (nothing was committed past it)", w.cfg.Name, r.where(), w.dlq.topic, err))
			return
		}
		w.met.deadLettered.WithLabelValues(w.cfg.Name, code).Inc()
		w.status.deadLettered.Add(1)
		w.status.setLastError(fmt.Sprintf("%s: %s %s: %s", r.where(), code, o.field, o.msg))
		r.part.done(r.rec.Offset)
	})
	w.noteGuard(true, code+" "+o.field)
}

// noteGuard records a finished record for the mass dead-letter guard and
// stops the sync when most recent records were rejected.
func (w *syncWorker) noteGuard(dead bool, why string) {
	i := w.guardN % guardWindow
	w.guard[i], w.guardCodes[i] = dead, why
	w.guardN++
	n := min(w.guardN, guardWindow)
	if n < guardMin || !dead {
		return
	}
	bad := 0
	counts := map[string]int{}
	for j := 0; j < n; j++ {
		if w.guard[j] {
			bad++
			counts[w.guardCodes[j]]++
		}
	}
	if float64(bad) < guardRatio*float64(n) {
		return
	}
	top, topN := "", 0
	for k, c := range counts {
		if c > topN {
			top, topN = k, c
		}
	}
	w.fatal(fmt.Errorf("sync %q: %d of the last %d records were dead-lettered (most often %s): the mapping or the data is broken; stopping rather than dead-letter the whole topic. Fix the mapping (zohosink validate --online), then restart and replay the dead letters (zohosink dlq replay)", w.cfg.Name, bad, n, strings.TrimSpace(top)))
}

// revoke drops the pending entries of revoked partitions and answers once
// their in-flight writes are finished.
func (w *syncWorker) revoke(req revokeReq) {
	for _, e := range w.queue {
		if !e.removed && req.parts[e.in.part] {
			w.drop(e)
		}
	}
	// Another member may write these keys while they are away: what we
	// learned of them (ids, last states written) may go stale.
	clear(w.idCache)
	clear(w.lastWritten)
	w.waitingRevokes = append(w.waitingRevokes, req)
	w.answerRevokes()
}

func (w *syncWorker) answerRevokes() {
	kept := w.waitingRevokes[:0]
	for _, req := range w.waitingRevokes {
		busy := false
		for p := range req.parts {
			if w.inflightByPart[p] > 0 {
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

// write performs one batch against Zoho. It retries retryable trouble for as
// long as it lasts (until writeCtx ends, when the batch is abandoned) and
// returns fatal trouble for the process to stop on.
func (w *syncWorker) write(ctx context.Context, b *batch) batchResult {
	res := batchResult{b: b, outcomes: make([]outcome, len(b.entries))}
	for i := range res.outcomes {
		res.outcomes[i].kind = -1 // not decided yet
	}
	err := w.retry(ctx, func() error { return w.resolveLookups(ctx, b, res.outcomes) })
	if err == nil && b.act.needsID() {
		err = w.retry(ctx, func() error { return w.resolveIDs(ctx, b, res.outcomes) })
	}
	if err == nil {
		err = w.retry(ctx, func() error { return w.call(ctx, b, res.outcomes) })
	}
	if err != nil {
		if zoho.IsFatal(err) {
			res.fatal = err
		}
		res.stopped = errors.Is(err, zoho.ErrStopped)
		for i := range res.outcomes {
			if res.outcomes[i].kind == -1 {
				res.outcomes[i] = outcome{kind: outAbandoned}
			}
		}
	}
	return res
}

// retry runs f until it succeeds, fails fatally, or ctx ends.
func (w *syncWorker) retry(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || zoho.IsFatal(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, zoho.ErrStopped) {
			return err // draining: written again at the next start
		}
		w.status.setState(stateRetrying, err.Error())
		if attempt%10 == 0 {
			w.log.Warn("Zoho call failed, retrying", "err", err, "attempt", attempt+1)
		}
		if !sleepCtx(ctx, backoff(attempt)) {
			return err // stopping: written again at the next start
		}
	}
}

// resolveLookups turns lookup values given by name into {"id": ...}, one
// COQL query per target module for the whole batch. A name with no record is
// dead-lettered at stage map.
func (w *syncWorker) resolveLookups(ctx context.Context, b *batch, out []outcome) error {
	type need struct{ module, field string }
	names := map[need]map[string]bool{}
	for i, e := range b.entries {
		if out[i].kind != -1 {
			continue
		}
		for f, v := range e.rec {
			if n, ok := v.(lookupName); ok {
				mod := "Accounts"
				if t := b.types[f]; t != nil && t.LookupModule != "" {
					mod = t.LookupModule
				}
				k := need{mod, lookupNameField(mod)}
				if names[k] == nil {
					names[k] = map[string]bool{}
				}
				if _, hit := w.lookupGet(mod, string(n)); !hit {
					names[k][string(n)] = true
				}
			}
		}
	}
	for k, set := range names {
		if len(set) == 0 {
			continue
		}
		vals := make([]string, 0, len(set))
		for v := range set {
			vals = append(vals, v)
		}
		found, err := w.crm.FindIDs(ctx, k.module, k.field, vals)
		if err != nil {
			return err
		}
		for v, ids := range found {
			if len(ids) > 0 {
				w.lookupPut(k.module, v, ids[0])
			}
		}
	}
	for i, e := range b.entries {
		if out[i].kind != -1 {
			continue
		}
		var fixed zoho.Record
		for f, v := range e.rec {
			n, ok := v.(lookupName)
			if !ok {
				continue
			}
			mod := "Accounts"
			if t := b.types[f]; t != nil && t.LookupModule != "" {
				mod = t.LookupModule
			}
			id, hit := w.lookupGet(mod, string(n))
			if !hit {
				out[i] = outcome{kind: outDeadLetter, stage: "map", code: "MAPPING_ERROR", field: f, op: b.act.operation(),
					msg: fmt.Sprintf("lookup %s: no %s record has %s %q", f, mod, lookupNameField(mod), string(n))}
				break
			}
			if fixed == nil {
				fixed = make(zoho.Record, len(e.rec))
				for k2, v2 := range e.rec {
					fixed[k2] = v2
				}
			}
			fixed[f] = map[string]any{"id": id}
		}
		if fixed != nil && out[i].kind == -1 {
			e.rec = fixed
		}
	}
	return nil
}

func (w *syncWorker) lookupGet(module, name string) (string, bool) {
	w.lookupMu.Lock()
	defer w.lookupMu.Unlock()
	id, ok := w.lookupCache[module+"\x00"+strings.ToLower(name)]
	return id, ok
}

func (w *syncWorker) lookupPut(module, name, id string) {
	w.lookupMu.Lock()
	defer w.lookupMu.Unlock()
	if len(w.lookupCache) > 100_000 {
		clear(w.lookupCache)
	}
	w.lookupCache[module+"\x00"+strings.ToLower(name)] = id
}

// resolveIDs finds the Zoho ids of entries that act on an existing record,
// trying the match_on fields in order like Zoho's own duplicate check. An
// entry no record matches is skipped (counted as not_found).
func (w *syncWorker) resolveIDs(ctx context.Context, b *batch, out []outcome) error {
	for fi, field := range w.cfg.MatchOn {
		var vals []string
		for i, e := range b.entries {
			if out[i].kind == -1 && e.id == "" && fi < len(e.match) && e.match[fi] != "" {
				vals = append(vals, e.match[fi])
			}
		}
		if len(vals) == 0 {
			continue
		}
		found, err := w.crm.FindIDs(ctx, w.cfg.Module, field, vals)
		if err != nil {
			return err
		}
		lower := make(map[string][]string, len(found))
		for k, v := range found {
			lower[strings.ToLower(k)] = v
		}
		for i, e := range b.entries {
			if out[i].kind != -1 || e.id != "" || fi >= len(e.match) || e.match[fi] == "" {
				continue
			}
			ids := found[e.match[fi]]
			if len(ids) == 0 {
				ids = lower[strings.ToLower(e.match[fi])]
			}
			if len(ids) > 0 {
				e.id = ids[0]
			}
		}
	}
	for i, e := range b.entries {
		if out[i].kind == -1 && e.id == "" {
			out[i] = outcome{kind: outSkipped, reason: "not_found"}
		}
	}
	return nil
}

// call makes the write itself and fills the outcome of every entry still
// undecided. Per-record rejections are outcomes; errors are the call's.
func (w *syncWorker) call(ctx context.Context, b *batch, out []outcome) error {
	var idx []int
	for i := range b.entries {
		if out[i].kind == -1 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	mod := w.cfg.Module
	opts := zoho.WriteOptions{Trigger: w.cfg.Trigger, SkipFeatures: w.cfg.SkipFeatures}
	if opts.Trigger == nil {
		opts.Trigger = []string{}
	}
	var results []zoho.Result
	var err error
	switch b.act {
	case actUpsert, actInsert, actUpdate, actClearFields:
		recs := make([]zoho.Record, len(idx))
		for j, i := range idx {
			e := b.entries[i]
			if e.id != "" {
				r := make(zoho.Record, len(e.rec)+1)
				for k, v := range e.rec {
					r[k] = v
				}
				r["id"] = e.id
				recs[j] = r
			} else {
				recs[j] = e.rec
			}
		}
		switch b.act {
		case actUpsert:
			opts.DuplicateCheckFields = w.cfg.MatchOn
			results, err = w.crm.Upsert(ctx, mod, recs, opts)
		case actInsert:
			results, err = w.crm.Insert(ctx, mod, recs, opts)
		default:
			results, err = w.crm.Update(ctx, mod, recs, opts)
		}
	case actDelete, actUntag:
		ids := make([]string, len(idx))
		for j, i := range idx {
			ids[j] = b.entries[i].id
		}
		if b.act == actDelete {
			results, err = w.crm.Delete(ctx, mod, ids, false)
		} else {
			results, err = w.crm.RemoveTags(ctx, mod, ids, []string{w.cfg.Tag})
		}
	}
	if err != nil {
		return err
	}
	if len(results) != len(idx) {
		return &zoho.Error{Class: zoho.Retryable, Op: b.act.operation(), Module: mod, Message: fmt.Sprintf("Zoho answered %d results for %d records", len(results), len(idx))}
	}
	var tagIdx []int
	for j, i := range idx {
		r := results[j]
		e := b.entries[i]
		if r.OK() {
			id := r.ID
			if id == "" {
				id = e.id
			}
			out[i] = outcome{kind: outWritten, id: id, op: b.act.operation()}
			if b.act == actUpsert && w.cfg.Type == "audience" && w.cfg.Tag != "" && id != "" {
				tagIdx = append(tagIdx, i)
			}
			continue
		}
		if b.act == actDelete && r.Err.Code == "INVALID_DATA" && (r.Err.APIName == "" || r.Err.APIName == "id") {
			out[i] = outcome{kind: outSkipped, reason: "not_found"} // deleted meanwhile: what the delete wanted
			continue
		}
		out[i] = outcome{kind: outDeadLetter, stage: "write", op: b.act.operation(), code: r.Err.Code, field: r.Err.APIName, msg: r.Err.Message, detail: refusedValue(r.Err, e.rec)}
	}
	if len(tagIdx) > 0 {
		return w.tag(ctx, b, tagIdx, out)
	}
	return nil
}

// refusedValue says what Zoho refused of a record: the value of the field it
// named and what it expected, e.g. ` (value "not-an-email"; expected email)`.
func refusedValue(re *zoho.RecordError, rec zoho.Record) string {
	if re == nil || re.APIName == "" {
		return ""
	}
	v, ok := rec[re.APIName]
	if !ok {
		return ""
	}
	var parts []string
	if b, err := json.Marshal(v); err == nil {
		text := string(b)
		if len(text) > 120 {
			text = text[:117] + "..."
		}
		parts = append(parts, "value "+text)
	}
	if t, ok := re.Details["expected_data_type"]; ok {
		parts = append(parts, fmt.Sprintf("expected %v", t))
	}
	if n, ok := re.Details["maximum_length"]; ok {
		parts = append(parts, fmt.Sprintf("at most %v characters", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// tag adds the audience tag to records just upserted. A record written but
// not tagged is dead-lettered (replaying it upserts and tags again).
func (w *syncWorker) tag(ctx context.Context, b *batch, idx []int, out []outcome) error {
	ids := make([]string, len(idx))
	for j, i := range idx {
		ids[j] = out[i].id
	}
	var results []zoho.Result
	err := w.retry(ctx, func() error {
		var err error
		results, err = w.crm.AddTags(ctx, w.cfg.Module, ids, []string{w.cfg.Tag})
		if err == nil && len(results) != len(ids) {
			err = &zoho.Error{Class: zoho.Retryable, Op: zoho.OpAddTags, Module: w.cfg.Module, Message: fmt.Sprintf("Zoho answered %d tag results for %d records", len(results), len(ids))}
		}
		return err
	})
	if err != nil {
		// Written but not tagged: not done, so consumed and written again.
		for _, i := range idx {
			out[i] = outcome{kind: outAbandoned}
		}
		return err
	}
	for j, i := range idx {
		if !results[j].OK() {
			re := results[j].Err
			out[i] = outcome{kind: outDeadLetter, stage: "write", op: zoho.OpAddTags, code: re.Code, field: re.APIName, msg: "written but not tagged: " + re.Message, id: out[i].id}
		}
	}
	return nil
}

// recordQueue hands records from the poll loop to a sync's loop. Its size is
// bounded by pausing partitions (see partition).
type recordQueue struct {
	mu     sync.Mutex
	items  []inRecord
	signal chan struct{}
}

func newRecordQueue() *recordQueue { return &recordQueue{signal: make(chan struct{}, 1)} }

func (q *recordQueue) push(rs ...inRecord) {
	q.mu.Lock()
	q.items = append(q.items, rs...)
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
	return out
}

func hasAny(vals []string) bool {
	for _, v := range vals {
		if v != "" {
			return true
		}
	}
	return false
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// backoff is exponential with full jitter: 250ms doubling to 30s.
func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt, 7)
	d = min(d, 30*time.Second)
	return time.Duration(rand.Int64N(int64(d)/2) + int64(d)/2)
}

// sleepCtx waits d; false when ctx ended first, or its stop channel
// (zoho.WithStopWaiting: the runner is draining) closed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-zoho.StopChannel(ctx):
		return false
	case <-t.C:
		return true
	}
}

// syncStatus is what /status shows of a sync. Safe for concurrent use.
type syncStatus struct {
	name, module, typ, mode                  string
	consumed, written, skipped, deadLettered atomic.Int64
	writing                                  atomic.Int32 // batches being written
	notWritten                               atomic.Int64 // records whose writes were stopped by a shutdown
	mu                                       sync.Mutex
	st                                       string
	lastErr                                  string
	lastErrAt                                time.Time
}

const (
	stateRunning  = "running"
	stateRetrying = "retrying"
	stateFailed   = "failed"
)

func newSyncStatus(cfg *SyncConfig) *syncStatus {
	return &syncStatus{name: cfg.Name, module: cfg.Module, typ: cfg.Type, mode: cfg.Mode, st: stateRunning}
}

func (s *syncStatus) setState(st, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == stateFailed {
		return
	}
	s.st = st
	if why != "" {
		s.lastErr, s.lastErrAt = why, time.Now()
	}
}

func (s *syncStatus) setLastError(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr, s.lastErrAt = why, time.Now()
}

func (s *syncStatus) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}
