package connector

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// FoldingHandler is a slog.Handler that folds repeated warnings and errors:
// the first of a kind is written at once, the same kind again within the
// window is only counted, and the count is written with the next one after
// the window, or by Flush (call it on the way out, and now and then while
// running). A kind is the level, the message and the attributes, less those
// that only say which record or attempt it was ("record", "attempt",
// "partition", "offset", "dlq_partition", "dlq_offset"): a registry outage
// felt by 500 buffered records is one line with "repeated": 499, not 500.
// Records below Warn pass through untouched. Safe for concurrent use.
type FoldingHandler struct {
	next   slog.Handler
	prefix string // the attributes and groups added by WithAttrs/WithGroup
	st     *foldState
}

type foldState struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	seen  map[string]*foldedKind
}

type foldedKind struct {
	at   time.Time    // when the kind was last written
	n    int          // how many were folded since
	last slog.Record  // the newest folded one, written by Flush
	h    slog.Handler // the handler (with its attributes) that folded it
}

// foldIgnored are attributes that tell records apart without making them a
// different warning.
var foldIgnored = map[string]bool{"record": true, "attempt": true, "partition": true, "offset": true, "dlq_partition": true, "dlq_offset": true, "repeated": true}

// digits are what a kind's attributes may differ in: an error quoting the
// record's offset, or a count, is the same warning.
var digits = regexp.MustCompile(`[0-9]+`)

// NewFoldingHandler folds repeats within every (30s when 0) before next.
func NewFoldingHandler(next slog.Handler, every time.Duration) *FoldingHandler {
	if every <= 0 {
		every = 30 * time.Second
	}
	return &FoldingHandler{next: next, st: &foldState{every: every, now: time.Now, seen: map[string]*foldedKind{}}}
}

// Enabled reports whether next writes records of level.
func (h *FoldingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle writes r, or counts it when its kind was written within the window.
func (h *FoldingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	var key strings.Builder
	key.WriteString(h.prefix)
	fmt.Fprintf(&key, "|%d|%s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if !foldIgnored[a.Key] {
			fmt.Fprintf(&key, "|%s=%s", a.Key, digits.ReplaceAllString(a.Value.String(), "#"))
		}
		return true
	})
	st := h.st
	now := st.now()
	st.mu.Lock()
	k := st.seen[key.String()]
	if k != nil && now.Sub(k.at) < st.every {
		k.n++
		k.last, k.h = r.Clone(), h.next
		st.mu.Unlock()
		return nil
	}
	folded := 0
	if k != nil {
		folded = k.n
	}
	if len(st.seen) >= 1000 {
		clear(st.seen)
	}
	st.seen[key.String()] = &foldedKind{at: now}
	st.mu.Unlock()
	if folded > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", folded))
	}
	return h.next.Handle(ctx, r)
}

// Flush writes, for every kind folded since it was last written, its newest
// record with "repeated": how many were folded.
func (h *FoldingHandler) Flush() {
	type pending struct {
		r slog.Record
		h slog.Handler
	}
	var out []pending
	h.st.mu.Lock()
	for _, k := range h.st.seen {
		if k.n > 0 {
			r := k.last.Clone()
			r.AddAttrs(slog.Int("repeated", k.n))
			out = append(out, pending{r, k.h})
			k.n, k.at = 0, h.st.now()
		}
	}
	h.st.mu.Unlock()
	for _, p := range out {
		_ = p.h.Handle(context.Background(), p.r)
	}
}

// WithAttrs returns a handler whose records carry attrs; kinds with other
// attributes are told apart.
func (h *FoldingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		fmt.Fprintf(&b, "|%s=%v", a.Key, a.Value)
	}
	return &FoldingHandler{next: h.next.WithAttrs(attrs), prefix: b.String(), st: h.st}
}

// WithGroup returns a handler that nests later attributes under name.
func (h *FoldingHandler) WithGroup(name string) slog.Handler {
	return &FoldingHandler{next: h.next.WithGroup(name), prefix: h.prefix + "|group=" + name, st: h.st}
}
