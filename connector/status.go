package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"zohosink/connector/config"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// logProgress tells in the log what /status tells: a WARN with the reason
// when a sync starts retrying (and an INFO when it runs again), checked every
// second, and every cfg.log.progress_interval each sync's counts when they
// moved, or the reason while the sync is still retrying.
func (r *Runner) logProgress(ctx context.Context) {
	every := r.cfg.Log.ProgressInterval.D()
	if every <= 0 {
		every = config.DefaultProgressInterval
	}
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	next := time.Now().Add(every)
	last := map[string]SyncStatus{}  // as of the last progress line
	state := map[string]SyncStatus{} // as of the last check
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
		}
		syncs := r.Status().Syncs
		for _, s := range syncs {
			prev, seen := state[s.Name]
			switch {
			case s.State == stateRetrying && (prev.State != stateRetrying || !seen):
				r.log.Warn("sync retrying", "sync", s.Name, "reason", s.LastError)
			case s.State == stateRunning && prev.State == stateRetrying:
				r.log.Info("sync running again", "sync", s.Name)
			}
			state[s.Name] = s
		}
		if time.Now().Before(next) {
			continue
		}
		next = time.Now().Add(every)
		for _, s := range syncs {
			prev := last[s.Name]
			if s.Consumed == prev.Consumed && s.Lag == prev.Lag && s.Waiting == prev.Waiting && s.State == prev.State && s.State != stateRetrying {
				continue
			}
			last[s.Name] = s
			args := []any{"sync", s.Name, "state", s.State, "consumed", s.Consumed, "written", s.Written,
				"skipped", s.Skipped, "dead_lettered", s.DeadLettered, "lag", s.Lag, "waiting", s.Waiting, "partitions", s.Partitions}
			if s.Compacting {
				args = append(args, "compacting", "holding writes while behind, so that later changes of a key replace its waiting one; offsets are committed once written")
			}
			if s.State == stateRetrying {
				args = append(args, "reason", s.LastError)
			}
			r.log.Info("progress", args...)
		}
	}
}

// Status is what /status shows.
type Status struct {
	Ready    bool         `json:"ready"`
	NotReady string       `json:"not_ready,omitempty"` // why not, when not ready
	Syncs    []SyncStatus `json:"syncs"`
}

// SyncStatus is one sync's state and counters.
type SyncStatus struct {
	Name         string `json:"name"`
	Module       string `json:"module"`
	Type         string `json:"type"`
	Mode         string `json:"mode"`
	State        string `json:"state"`
	Consumed     int64  `json:"consumed"`
	Written      int64  `json:"written"`
	Skipped      int64  `json:"skipped"`
	DeadLettered int64  `json:"dead_lettered"`
	Lag          int64  `json:"lag"`
	// Waiting is how many changes are mapped and wait to be written;
	// Compacting says the sync holds them on purpose: it is behind its
	// partitions' ends, and a key's later changes, coming, replace its
	// waiting one (backlog compaction). Their offsets are committed once
	// they are written: lag stays until then.
	Waiting     int64     `json:"waiting"`
	Compacting  bool      `json:"compacting,omitempty"`
	Partitions  int       `json:"partitions"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Status returns the state of every sync.
func (r *Runner) Status() Status {
	lag := map[*syncWorker]int64{}
	parts := map[*syncWorker]int{}
	r.mu.Lock()
	for _, p := range r.parts {
		if p.gone.Load() {
			continue
		}
		parts[p.w]++
		if pos, known := p.cp.Position(); known {
			lag[p.w] += max(p.end()-pos, 0)
		}
	}
	r.mu.Unlock()
	st := Status{NotReady: r.NotReady()}
	st.Ready = st.NotReady == ""
	// Kafka's trouble is every sync's: a broker out of reach before the
	// group is joined, or a group that cannot be (re)joined.
	kafka, _ := r.kafkaGroupErr.Load().(string)
	if !r.joined.Load() {
		kafka = r.kafkaProblem()
	}
	for _, w := range r.workers {
		s := w.status
		s.mu.Lock()
		ss := SyncStatus{Name: s.name, Module: s.module, Type: s.typ, Mode: s.mode, State: s.st, LastError: s.lastErr, LastErrorAt: s.lastErrAt}
		s.mu.Unlock()
		ss.Consumed, ss.Written, ss.Skipped, ss.DeadLettered = s.consumed.Load(), s.written.Load(), s.skipped.Load(), s.deadLettered.Load()
		ss.Waiting, ss.Compacting = s.waiting.Load(), s.compacting.Load()
		ss.Lag, ss.Partitions = lag[w], parts[w]
		if kafka != "" && ss.State != stateFailed {
			ss.State, ss.LastError = stateRetrying, kafka
		} else if m := r.missingTopicsOf(w.cfg); m != "" && ss.State != stateFailed {
			ss.State, ss.LastError = stateRetrying, m
		}
		ss.LastError = config.RedactURL(ss.LastError)
		st.Syncs = append(st.Syncs, ss)
	}
	st.NotReady = config.RedactURL(st.NotReady)
	sort.Slice(st.Syncs, func(i, j int) bool { return st.Syncs[i].Name < st.Syncs[j].Name })
	return st
}

// Ready reports whether the group was joined and a Zoho token is at hand.
func (r *Runner) Ready() bool { return r.NotReady() == "" }

// NotReady says why the runner is not ready, or "" when it is.
func (r *Runner) NotReady() string {
	if err := r.fatal(); err != nil {
		return "stopped: " + err.Error()
	}
	if !r.joined.Load() {
		if m := r.missingTopicsReason(); m != "" {
			return m
		}
		why, _ := r.waiting.Load().(string)
		if why == "" {
			why = "starting"
		}
		if p := r.kafkaProblem(); p != "" && why != "reading the fields metadata of the Zoho modules" {
			why += " (" + p + ")"
		}
		return why
	}
	if g, _ := r.kafkaGroupErr.Load().(string); g != "" {
		return g // the group was lost and cannot be joined again
	}
	if t, ok := r.crm.(tokenHolder); ok && !t.HasToken() {
		return "no Zoho access token yet"
	}
	return r.missingTopicsReason()
}

// tokenHolder is a CRM that says whether it holds an access token
// (*zoho.Client does): until it does, the runner is not ready.
type tokenHolder interface{ HasToken() bool }

// HTTPAddr returns the address the HTTP endpoints listen on ("" before Run
// started them or when disabled).
func (r *Runner) HTTPAddr() string {
	s, _ := r.httpAddr.Load().(string)
	return s
}

func (r *Runner) serveHTTP() (*http.Server, error) {
	addr := r.cfg.HTTP.Listen
	if addr == "" || addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	r.httpAddr.Store(ln.Addr().String())
	r.log.Info("serving /metrics, /healthz, /readyz and /status", "addr", ln.Addr().String())
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// syncStatus is what /status shows of a sync. Safe for concurrent use.
type syncStatus struct {
	name, module, typ, mode                  string
	consumed, written, skipped, deadLettered atomic.Int64
	writing                                  atomic.Int32 // batches being written
	waiting                                  atomic.Int64 // changes waiting to be written (the batcher's)
	compacting                               atomic.Bool  // the batcher defers writes for a backlog
	notWritten                               atomic.Int64 // records whose writes were stopped by a shutdown
	mu                                       sync.Mutex
	st                                       string
	lastErr                                  string
	lastErrAt                                time.Time
}

func newSyncStatus(cfg *config.SyncConfig) *syncStatus {
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

const (
	stateRunning  = "running"
	stateRetrying = "retrying"
	stateFailed   = "failed"
)

// Handler serves /metrics (Prometheus), /healthz (200 while the process
// works), /readyz (200 once the group is joined and a Zoho token is at hand)
// and /status (JSON: every sync's state, counts, lag and last error). None of
// them shows a secret.
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := r.NotReady(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + config.RedactURL(why) + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.Status())
	})
	return mux
}
