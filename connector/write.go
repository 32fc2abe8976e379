package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
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

type outcomeKind int

const (
	outPending   outcomeKind = iota - 1 // not decided yet: the write is still working on it
	outAbandoned                        // not finished (shutdown or revoke): not done, consumed again later
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

// write performs one batch against Zoho. It retries retryable trouble for as
// long as it lasts (until writeCtx ends, when the batch is abandoned) and
// returns fatal trouble for the process to stop on.
func (w *syncWorker) write(ctx context.Context, b *batch) batchResult {
	res := batchResult{b: b, outcomes: make([]outcome, len(b.entries))}
	for i := range res.outcomes {
		res.outcomes[i].kind = outPending
	}
	err := w.remap(ctx, b, res.outcomes)
	if err == nil {
		err = w.retry(ctx, func() error { return w.resolveLookups(ctx, b, res.outcomes) })
	}
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
			if res.outcomes[i].kind == outPending {
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
	if !w.mayLookup.Load() {
		return nil // no record of this sync holds a lookup name: no need to look at every field
	}
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
		if fixed != nil && out[i].kind == outPending {
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
			if out[i].kind == outPending && e.id == "" && fi < len(e.match) && e.match[fi] != "" {
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
		if out[i].kind == outPending && e.id == "" {
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
		if out[i].kind == outPending {
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
