package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"zohosink/zoho"
)

// Back-pressure: a partition stops being fetched when this many of its
// records are consumed but not done, and is fetched again below resumeAt.
// Memory stays bounded whatever the backlog.
const (
	pauseAt  = 5000
	resumeAt = pauseAt / 2
)

// Runner runs every sync of a Config in one Kafka consumer group.
//
// # Delivery
//
// Offsets are committed only from each partition's checkpoint, which
// releases the highest contiguous offset whose records are all done (written,
// skipped by the mode table, or dead-lettered with Kafka's acknowledgement).
// No rebalance can commit an offset whose record was not done:
//
//   - Polls and rebalance callbacks never interleave (BlockRebalanceOnPoll):
//     a revoke sees every record handed out so far tracked in a checkpoint.
//   - On revoke, the partition is marked gone first, so records still queued
//     are dropped (not done, so not committable); pending batch entries are
//     dropped; in-flight writes get a bounded time to finish. Only then is
//     the checkpoint's released offset committed, and the partition forgotten:
//     a write that finishes later marks a checkpoint nobody commits.
//   - On loss (the group moved on without us), nothing is committed.
//   - Commits use the member's current generation; a stale member's commit is
//     refused by the broker.
//
// A crash at any moment therefore loses nothing: the records after the last
// commit are consumed again and written again, which upsert makes harmless.
type Runner struct {
	cfg      *Config
	log      *slog.Logger
	reg      *prometheus.Registry
	met      *metrics
	crm      CRM
	dec      Decoder            // one decoder for every sync (WithDecoder), or
	decs     map[string]Decoder // one per sync, by name
	kopts    []kgo.Opt
	drain    time.Duration
	workers  []*syncWorker
	byTopic  map[string]*syncWorker
	cl       *kgo.Client
	dlq      *deadLetterer
	fieldsOf func(ctx context.Context, module string) ([]zoho.Field, error)
	// fieldsMeta is the org's fields of each module whose metadata was read.
	fieldsMeta   map[string][]zoho.Field
	fieldsMetaMu sync.Mutex

	mu        sync.Mutex
	parts     map[tp]*partition
	committed map[tp]int64

	// Replay mode (dlq replay): consume the dead-letter topic instead.
	replay     bool
	maxReplays int
	replayEnd  map[int32]int64
	replayed   replayCounts

	commitMu  sync.Mutex    // one commit at a time: a late commit never lowers an offset
	loopsDone chan struct{} // closed once every sync's loop returned
	joined    atomic.Bool
	fatalOnce sync.Once
	fatalErr  atomic.Pointer[error]
	cancelRun context.CancelFunc
	httpAddr  atomic.Value // string: the address /metrics listens on

	finalCommitFailed atomic.Bool
	loopsStarted      atomic.Bool

	waiting       atomic.Value // string: what the start waits for (/readyz)
	missingTopics atomic.Pointer[map[string]bool]
	kafkaConnErr  atomic.Value // string: the last broker connection failure, "" once one succeeds
	kafkaGroupErr atomic.Value // string: the last group management failure, "" once partitions are assigned
}

type tp struct {
	topic string
	part  int32
}

// partition is the state of one assigned partition.
type partition struct {
	tp   tp
	cp   *checkpoint
	w    *syncWorker // nil in replay mode, where records are routed one by one
	r    *Runner
	gone atomic.Bool
	hwm  atomic.Int64
	// ctx ends when the partition is forgotten (revoked or lost): in-flight
	// writes of its records stop then.
	ctx    context.Context
	cancel context.CancelFunc

	pauseMu sync.Mutex
	paused  bool
}

func (r *Runner) newPartition(k tp, w *syncWorker) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	return &partition{tp: k, cp: newCheckpoint(), w: w, r: r, ctx: ctx, cancel: cancel}
}

// done marks a record finished and resumes fetching when the backlog drained.
func (p *partition) done(offset int64) {
	p.cp.markDone(offset)
	p.backpressure()
}

// backpressure pauses fetching the partition while pauseAt records wait
// behind its first unfinished one, and resumes it below resumeAt.
func (p *partition) backpressure() {
	n := p.cp.Window()
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	switch {
	case !p.paused && n >= pauseAt && !p.gone.Load():
		p.paused = true
		p.r.cl.PauseFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.part}})
	case p.paused && n < resumeAt:
		p.paused = false
		p.r.cl.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.part}})
	}
}

// Option configures a Runner.
type Option func(*Runner)

// WithCRM sets the Zoho client (default: one built from the config).
func WithCRM(c CRM) Option { return func(r *Runner) { r.crm = c } }

// WithDecoder sets the decoder (default: one built from the config).
func WithDecoder(d Decoder) Option { return func(r *Runner) { r.dec = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

// WithRegistry sets the Prometheus registry metrics are registered on.
func WithRegistry(reg *prometheus.Registry) Option { return func(r *Runner) { r.reg = reg } }

// WithKafkaOpts adds franz-go options (tests, tuning).
func WithKafkaOpts(o ...kgo.Opt) Option { return func(r *Runner) { r.kopts = append(r.kopts, o...) } }

// WithDrainTimeout bounds how long shutdown waits for in-flight writes.
func WithDrainTimeout(d time.Duration) Option { return func(r *Runner) { r.drain = d } }

// WithReplay makes Run replay the dead-letter topic instead of consuming the
// syncs' topics: each dead letter goes through its sync again, with its
// replay count raised; one whose count reached maxReplays is left where it
// is. Progress is committed under the group "<group_id>.replay", so a replay
// can stop and resume. Run returns once it reached the end of the
// dead-letter topic as it was when the replay started.
func WithReplay(maxReplays int) Option {
	return func(r *Runner) { r.replay, r.maxReplays = true, maxReplays }
}

// New builds a Runner from a validated config.
func New(cfg *Config, opts ...Option) (*Runner, error) {
	r := &Runner{cfg: cfg, log: slog.Default(), drain: 30 * time.Second, byTopic: map[string]*syncWorker{}, parts: map[tp]*partition{}, committed: map[tp]int64{}, loopsDone: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	if r.reg == nil {
		r.reg = prometheus.NewRegistry()
	}
	r.met = newMetrics(r.reg)
	if r.crm == nil {
		c, err := NewZohoClient(cfg, r.reg, r.log, zoho.WithOnRetry(r.onZohoRetry))
		if err != nil {
			return nil, err
		}
		r.crm = c
	}
	if f, ok := r.crm.(interface {
		Fields(ctx context.Context, module string) ([]zoho.Field, error)
	}); ok {
		r.fieldsOf = f.Fields
	}
	if r.dec == nil {
		decs, err := NewDecoders(cfg)
		if err != nil {
			return nil, err
		}
		r.decs = decs
	}
	return r, nil
}

// onZohoRetry shows a retried Zoho call in the status of the syncs writing
// to its module; their next finished batch shows them running again.
func (r *Runner) onZohoRetry(op zoho.Operation, module string, attempt int, err error) {
	if errors.Is(err, zoho.ErrStopped) {
		return
	}
	// A call is the sync's that is writing to the module (the client does
	// not know which sync asked); while starting, every sync's.
	starting := !r.loopsStarted.Load()
	for _, w := range r.workers {
		if (module == "" || w.cfg.Module == module) && (starting || w.status.writing.Load() > 0) {
			w.status.setState(stateRetrying, fmt.Sprintf("Zoho %s (attempt %d): %v", op, attempt, err))
		}
	}
	if attempt == 1 || attempt%10 == 0 {
		r.log.Warn("Zoho call failed, retrying", "operation", op, "module", module, "attempt", attempt, "err", err)
	}
}

// Registry returns the Prometheus registry the runner's metrics are on.
func (r *Runner) Registry() *prometheus.Registry { return r.reg }

func (r *Runner) fail(err error) {
	r.fatalOnce.Do(func() {
		r.fatalErr.Store(&err)
		r.log.Error("stopping: fatal error", "err", err)
		if r.cancelRun != nil {
			r.cancelRun()
		}
	})
}

// Run consumes and writes until ctx ends (then drains: stops fetching,
// finishes in-flight writes within the drain timeout, commits what is done)
// or a fatal error stops it, which it returns.
func (r *Runner) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	r.cancelRun = cancel
	defer cancel()
	// Draining closes stopWaiting: writes and decodes waiting out an outage
	// (a backoff, a token, a concurrency slot, the registry) give up then,
	// not at the drain timeout; requests already sent finish.
	stopWaiting := make(chan struct{})
	loopCtx, stopLoops := context.WithCancel(zoho.WithStopWaiting(context.Background(), stopWaiting))
	defer stopLoops()
	writeCtx, abandonWrites := context.WithCancel(zoho.WithStopWaiting(context.Background(), stopWaiting))
	defer abandonWrites()

	// The workers exist before the client joins the group: its callbacks
	// route partitions to them. They get their field types once the
	// metadata is read, before their loops start.
	r.dlq = &deadLetterer{topic: r.cfg.Kafka.DeadLetterTopic}
	for i := range r.cfg.Syncs {
		sc := &r.cfg.Syncs[i]
		dec := r.dec
		if dec == nil {
			dec = r.decs[sc.Name]
		}
		w := newSyncWorker(sc, nil, r.crm, dec, r.dlq, r.met, r.log, r.fail)
		w.stopped = func() bool { return r.fatal() != nil }
		r.met.initSync(sc)
		r.workers = append(r.workers, w)
		for _, t := range sc.Topics {
			r.byTopic[t] = w
		}
	}
	// /healthz, /readyz and /status answer from the start, so probes and
	// users see what a slow start waits for; a port in use fails at once.
	srv, err := r.serveHTTP()
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
	}

	r.setWaiting("reading the fields metadata of the Zoho modules")
	types, err := r.loadFieldTypes(runCtx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing was consumed
		}
		return err
	}
	if err := r.checkMappedFields(runCtx); err != nil {
		return err
	}
	for _, w := range r.workers {
		w.setTypes(types[w.cfg.Module])
	}
	r.setWaiting("joining the consumer group " + r.groupID())

	kopts, err := kafkaOptions(r.cfg)
	if err != nil {
		return err
	}
	var topics []string
	for i := range r.cfg.Syncs {
		topics = append(topics, r.cfg.Syncs[i].Topics...)
	}
	if r.replay {
		topics = []string{r.cfg.Kafka.DeadLetterTopic}
		kopts = append(kopts, kgo.ConsumerGroup(r.cfg.Kafka.GroupID+".replay"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(replayFetchMaxWait))
		if r.replayEnd, err = r.replayEnds(runCtx); err != nil {
			return err
		}
		if r.replayEnd == nil {
			r.log.Info("nothing to replay: the dead-letter topic does not exist yet", "topic", r.cfg.Kafka.DeadLetterTopic)
			return nil
		}
	}
	kopts = append(kopts,
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.WithLogger(newKgoLogger(r.log)),
		kgo.WithHooks(kafkaWatch{r}),
	)
	kopts = append(kopts, r.kopts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	r.cl = cl
	defer cl.Close()
	r.dlq.cl = cl
	go r.ensureDLQTopic(runCtx)
	if !r.replay {
		go r.watchTopics(runCtx, topics)
	}

	// What the start retried is over: each sync's state is its own now.
	for _, w := range r.workers {
		if w.status.state() == stateRetrying {
			w.status.setState(stateRunning, "")
		}
	}
	r.loopsStarted.Store(true)
	var loops sync.WaitGroup
	for _, w := range r.workers {
		loops.Add(1)
		go func() { defer loops.Done(); w.run(loopCtx, writeCtx) }()
	}
	go func() { loops.Wait(); close(r.loopsDone) }()
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); r.commitLoop(runCtx) }()
	if r.replay {
		go r.stopAtReplayEnd(runCtx)
	}
	go r.logProgress(runCtx)
	go r.rereadFieldTypes(runCtx)

	r.poll(runCtx)
	<-commitDone

	// Drain: no more fetching; finish what is in flight within the bound.
	// After a fatal error nothing more is written.
	close(stopWaiting)
	if r.fatal() == nil {
		for _, w := range r.workers {
			select {
			case w.drainCh <- struct{}{}:
			case <-r.loopsDone:
			}
		}
	} else {
		abandonWrites()
		stopLoops()
	}
	drainTimer := time.NewTimer(r.drain)
	select {
	case <-r.loopsDone:
	case <-drainTimer.C:
		r.log.Warn("drain timeout reached: abandoning in-flight writes (they are consumed again at the next start)", "drain_timeout", r.drain)
		abandonWrites()
		stopLoops()
		<-r.loopsDone
	}
	drainTimer.Stop()
	stopLoops()
	// Dead letters already produced are done once Kafka acknowledges them.
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = cl.Flush(fctx)
	fcancel()
	// The final commit may meet a rebalance in progress: try again for a while.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	for {
		err := r.commit(cctx, nil)
		if err == nil {
			break
		}
		if cctx.Err() != nil || !sleepCtx(cctx, 200*time.Millisecond) {
			r.log.Error("final commit failed: the records since the last commit will be written again at the next start", "err", err)
			r.finalCommitFailed.Store(true)
			break
		}
	}
	// Nothing is left to commit on the revoke that closing the client runs.
	r.mu.Lock()
	all := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		p.gone.Store(true)
		all = append(all, p)
	}
	r.mu.Unlock()
	r.forget(all)
	if err := r.fatal(); err != nil {
		return err
	}
	return nil
}

// Stopped says in a sentence how a Run that returned nil ended.
func (r *Runner) Stopped() string {
	switch {
	case !r.joined.Load():
		return "stopped before joining the consumer group " + r.groupID() + ": nothing was consumed"
	case r.finalCommitFailed.Load():
		return "stopped: the final commit failed, so the records since the last commit will be written again at the next start"
	}
	var notWritten int64
	for _, w := range r.workers {
		notWritten += w.status.notWritten.Load()
	}
	if notWritten > 0 {
		return fmt.Sprintf("stopped: offsets of finished records committed; %d record(s) whose writes were still waiting on Zoho are not committed and will be written at the next start", notWritten)
	}
	return "stopped: offsets of finished records committed"
}

// logProgress tells in the log what /status tells: a WARN with the reason
// when a sync starts retrying (and an INFO when it runs again), checked every
// second, and every cfg.log.progress_interval each sync's counts when they
// moved, or the reason while the sync is still retrying.
func (r *Runner) logProgress(ctx context.Context) {
	every := r.cfg.Log.ProgressInterval.D()
	if every <= 0 {
		every = DefaultProgressInterval
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
			if s.Consumed == prev.Consumed && s.Lag == prev.Lag && s.State == prev.State && s.State != stateRetrying {
				continue
			}
			last[s.Name] = s
			args := []any{"sync", s.Name, "state", s.State, "consumed", s.Consumed, "written", s.Written,
				"skipped", s.Skipped, "dead_lettered", s.DeadLettered, "lag", s.Lag, "partitions", s.Partitions}
			if s.State == stateRetrying {
				args = append(args, "reason", s.LastError)
			}
			r.log.Info("progress", args...)
		}
	}
}

// fatal returns the error that stopped the runner, if one did.
func (r *Runner) fatal() error {
	if p := r.fatalErr.Load(); p != nil {
		return *p
	}
	return nil
}

// poll hands fetched records to the syncs until ctx ends.
func (r *Runner) poll(ctx context.Context) {
	for {
		fetches := r.cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			r.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			if t != "" { // group errors (no topic) are logged by franz-go and shown by /status
				r.log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
			}
			if isFatalKafka(err) {
				r.fail(fmt.Errorf("kafka: topic %s partition %d: %w: check the credentials and ACLs of the consumer", t, p, err))
			}
		})
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			p := r.partition(ftp.Topic, ftp.Partition)
			if p == nil {
				return
			}
			p.hwm.Store(ftp.HighWatermark)
			byWorker := map[*syncWorker][]inRecord{}
			for _, rec := range ftp.Records {
				if r.replay && rec.Offset >= r.replayEnd[rec.Partition] {
					continue // dead-lettered after the replay started: the next replay's
				}
				if !p.cp.track(rec.Offset, rec.LeaderEpoch) {
					continue // delivered twice: the first copy is on its way
				}
				w := p.w
				if r.replay {
					w, rec = r.routeReplay(rec)
				}
				if w == nil {
					p.done(rec.Offset)
					continue
				}
				byWorker[w] = append(byWorker[w], inRecord{rec: rec, part: p})
			}
			p.backpressure()
			for w, items := range byWorker {
				w.input.push(items...)
			}
		})
		r.cl.AllowRebalance()
	}
}

func (r *Runner) partition(topic string, part int32) *partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := tp{topic, part}
	if p, ok := r.parts[k]; ok {
		return p
	}
	w := r.byTopic[topic]
	if w == nil && !r.replay {
		return nil
	}
	p := r.newPartition(k, w)
	r.parts[k] = p
	return p
}

func (r *Runner) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	for t, ps := range assigned {
		for _, p := range ps {
			k := tp{t, p}
			if old, ok := r.parts[k]; ok {
				old.gone.Store(true)
				old.cancel()
			}
			if w := r.byTopic[t]; w != nil || r.replay {
				r.parts[k] = r.newPartition(k, w)
			}
		}
	}
	r.mu.Unlock()
	cl.ResumeFetchPartitions(assigned) // a pause outlives a revoke in franz-go
	r.joined.Store(true)
	r.kafkaGroupErr.Store("")
	if len(assigned) > 0 {
		r.log.Info("partitions assigned", "partitions", describe(assigned))
	}
}

func (r *Runner) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	parts := r.take(revoked)
	if len(parts) == 0 {
		return
	}
	// Give in-flight writes of these partitions a bounded time to finish.
	wait := r.drain
	if rt := r.cfg.Kafka.RebalanceTimeout.D(); rt > 0 && rt/2 < wait {
		wait = rt / 2
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	byWorker := map[*syncWorker]map[*partition]bool{}
	for _, p := range parts {
		ws := []*syncWorker{p.w}
		if p.w == nil { // replay: a partition feeds every sync
			ws = r.workers
		}
		for _, w := range ws {
			if byWorker[w] == nil {
				byWorker[w] = map[*partition]bool{}
			}
			byWorker[w][p] = true
		}
	}
	expired := false
	for w, set := range byWorker {
		if expired {
			break
		}
		req := revokeReq{parts: set, done: make(chan struct{})}
		select {
		case w.revokes <- req:
			select {
			case <-req.done:
			case <-r.loopsDone:
			case <-deadline.C:
				expired = true
			}
		case <-r.loopsDone:
		case <-deadline.C:
			expired = true
		}
	}
	if expired {
		r.log.Warn("revoke: in-flight writes did not finish in time; abandoning them (the new owner writes those changes)", "wait", wait)
	}
	// Dead letters produced for these partitions are done once acknowledged.
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = cl.Flush(fctx)
	fcancel()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.commit(cctx, parts); err != nil {
		r.log.Warn("commit on revoke failed: the new owner will write those records again", "err", err)
	}
	r.forget(parts)
	cl.ResumeFetchPartitions(revoked)
	r.log.Info("partitions revoked", "partitions", describe(revoked))
}

func (r *Runner) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	parts := r.take(lost)
	r.forget(parts) // their in-flight writes stop now; nothing is committed
	set := map[*partition]bool{}
	for _, p := range parts {
		set[p] = true
	}
	for _, w := range r.workers {
		select {
		case w.revokes <- revokeReq{parts: set, done: make(chan struct{})}:
		case <-r.loopsDone:
		case <-time.After(time.Second):
		}
	}
	cl.ResumeFetchPartitions(lost)
	if len(lost) > 0 {
		r.log.Warn("partitions lost: nothing committed for them; their records will be consumed again", "partitions", describe(lost))
	}
}

// take marks partitions gone (their queued records are dropped from now on)
// and returns them; they stay committable until forget.
func (r *Runner) take(m map[string][]int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for t, ps := range m {
		for _, p := range ps {
			if pp, ok := r.parts[tp{t, p}]; ok {
				pp.gone.Store(true)
				out = append(out, pp)
			}
		}
	}
	return out
}

func (r *Runner) forget(parts []*partition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		p.cancel()
		if r.parts[p.tp] == p {
			delete(r.parts, p.tp)
		}
		delete(r.committed, p.tp)
		r.met.lag.DeleteLabelValues(p.tp.topic, strconv.Itoa(int(p.tp.part)))
	}
}

func (r *Runner) commitLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Kafka.CommitInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := r.commit(cctx, nil); err != nil && ctx.Err() == nil {
				r.log.Warn("offset commit failed, will retry", "err", err)
			}
			cancel()
		}
	}
}

// commit commits the released offsets of parts (nil: every live partition
// whose offset moved) and updates the lag gauges.
func (r *Runner) commit(ctx context.Context, parts []*partition) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.mu.Lock()
	if parts == nil {
		for _, p := range r.parts {
			if !p.gone.Load() {
				parts = append(parts, p)
			}
		}
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	next := map[tp]int64{}
	for _, p := range parts {
		off, epoch, ok := p.cp.Released()
		if pos, known := p.cp.Position(); known {
			r.met.lag.WithLabelValues(p.tp.topic, strconv.Itoa(int(p.tp.part))).Set(float64(max(p.hwm.Load()-pos, 0)))
		}
		if !ok || r.committed[p.tp] >= off {
			continue
		}
		if offsets[p.tp.topic] == nil {
			offsets[p.tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.tp.topic][p.tp.part] = kgo.EpochOffset{Epoch: epoch, Offset: off}
		next[p.tp] = off
	}
	r.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	// Only what the broker confirmed counts as committed: a request that
	// failed as a whole (a cancelled context, a rebalance) commits nothing.
	var cerr error
	confirmed := map[tp]int64{}
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				k := tp{t.Topic, p.Partition}
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					cerr = fmt.Errorf("topic %s partition %d: %w", t.Topic, p.Partition, e)
					continue
				}
				if off, ok := next[k]; ok {
					confirmed[k] = off
				}
			}
		}
	})
	r.mu.Lock()
	for k, off := range confirmed {
		if _, live := r.parts[k]; live {
			r.committed[k] = off
		}
	}
	r.mu.Unlock()
	return cerr
}

// ensureDLQTopic creates the dead-letter topic when it does not exist. It
// waits for the brokers when they cannot be reached (the connection errors
// say so already) and warns only when a broker refuses.
func (r *Runner) ensureDLQTopic(ctx context.Context) {
	adm := kadm.NewClient(r.cl)
	topic := r.cfg.Kafka.DeadLetterTopic
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := adm.CreateTopic(cctx, -1, -1, nil, topic)
		var ke *kerr.Error
		if err != nil && errors.As(err, &ke) && !errors.Is(err, kerr.TopicAlreadyExists) {
			// Brokers before 2.4 want explicit partitions and replicas.
			if _, err2 := adm.CreateTopic(cctx, 1, -1, nil, topic); err2 == nil || errors.Is(err2, kerr.TopicAlreadyExists) {
				err = nil
			}
		}
		cancel()
		switch {
		case err == nil || errors.Is(err, kerr.TopicAlreadyExists):
			return
		case errors.As(err, &ke):
			r.log.Warn("the broker refused to create the dead-letter topic; create it yourself or allow auto-creation", "topic", topic, "err", err)
			return
		}
		if !sleepCtx(ctx, 5*time.Second) {
			return
		}
	}
}

// groupID is the consumer group the runner joins.
func (r *Runner) groupID() string {
	if r.replay {
		return r.cfg.Kafka.GroupID + ".replay"
	}
	return r.cfg.Kafka.GroupID
}

// setWaiting records what the start waits for, shown by /readyz until the
// group is joined.
func (r *Runner) setWaiting(what string) { r.waiting.Store(what) }

// kafkaProblem is the newest reason Kafka cannot be used: a broker that
// cannot be reached, or the group that cannot be joined. "" when none.
func (r *Runner) kafkaProblem() string {
	if s, _ := r.kafkaConnErr.Load().(string); s != "" {
		return s
	}
	s, _ := r.kafkaGroupErr.Load().(string)
	return s
}

// kafkaWatch turns franz-go's connection and group errors into the state
// /status and /readyz show.
type kafkaWatch struct{ r *Runner }

func (h kafkaWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		why := strings.TrimPrefix(err.Error(), "unable to dial: ")
		h.r.kafkaConnErr.Store(withKafkaHint(h.r.cfg, fmt.Sprintf("kafka: cannot connect to broker %s: %s", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), why), err))
		return
	}
	h.r.kafkaConnErr.Store("")
}

func (h kafkaWatch) OnGroupManageError(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.r.kafkaGroupErr.Store(withKafkaHint(h.r.cfg, fmt.Sprintf("kafka: consumer group %s: %v", h.r.groupID(), err), err))
}

// loadFieldTypes gets the Zoho type of every field of the synced modules
// from the fields metadata API, all modules at once within one bound,
// falling back to built-in knowledge when the org cannot be reached. A fatal
// answer (bad token, missing scope) stops here.
func (r *Runner) loadFieldTypes(ctx context.Context) (map[string]map[string]*zoho.Field, error) {
	var mods []string
	for i := range r.cfg.Syncs {
		if m := r.cfg.Syncs[i].Module; !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	metas := make([][]zoho.Field, len(mods))
	errs := make([]error, len(mods))
	if r.fieldsOf != nil {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		var wg sync.WaitGroup
		for i, mod := range mods {
			wg.Go(func() { metas[i], errs[i] = r.fieldsOf(cctx, mod) })
		}
		wg.Wait()
		cancel()
	}
	out := map[string]map[string]*zoho.Field{}
	r.fieldsMeta = map[string][]zoho.Field{}
	for i, mod := range mods {
		switch err := errs[i]; {
		case err == nil:
			r.fieldsMeta[mod] = metas[i]
		case zoho.IsFatal(err):
			var ze *zoho.Error
			if errors.As(err, &ze) && ze.Code == "OAUTH_SCOPE_MISMATCH" {
				r.log.Warn("no scope to read fields metadata: formatting values from column types", "module", mod, "hint", "add scope ZohoCRM.settings.fields.READ")
				break
			}
			return nil, err
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.log.Warn("fields metadata unavailable: formatting values from column types until it can be read (tried again in the background)", "module", mod, "err", err)
		}
		out[mod] = fieldTypes(mod, metas[i])
	}
	return out, nil
}

// rereadFieldTypes reads, after 10s and then at most every minute, the fields metadata of the modules
// whose metadata could not be read at the start (Zoho out of reach), and
// hands it to their syncs; a mapping to a field the org does not have then
// stops the runner, as it would have at the start.
func (r *Runner) rereadFieldTypes(ctx context.Context) {
	if r.fieldsOf == nil {
		return
	}
	wait := 10 * time.Second
	for {
		var missing []string
		for i := range r.cfg.Syncs {
			m := r.cfg.Syncs[i].Module
			if _, ok := r.fieldsMeta[m]; !ok && !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || !sleepCtx(ctx, wait) {
			return
		}
		wait = min(2*wait, time.Minute)
		for _, mod := range missing {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			meta, err := r.fieldsOf(cctx, mod)
			cancel()
			if err != nil {
				continue
			}
			r.fieldsMetaMu.Lock()
			r.fieldsMeta[mod] = meta
			r.fieldsMetaMu.Unlock()
			r.log.Info("fields metadata read: values are formatted by the org's field types from now on", "module", mod)
			if err := r.checkMappedFields(ctx); err != nil {
				r.fail(err)
				return
			}
			types := fieldTypes(mod, meta)
			for _, w := range r.workers {
				if w.cfg.Module == mod {
					select {
					case w.typesCh <- types:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}
}

// checkMappedFields refuses a mapping that names fields the org does not
// have: Zoho would drop their values without a word. Read-only fields are
// warned about. Modules whose metadata could not be read are not checked.
func (r *Runner) checkMappedFields(ctx context.Context) error {
	if len(r.fieldsMeta) == 0 {
		return nil
	}
	r.fieldsMetaMu.Lock()
	cfg := *r.cfg
	cfg.Syncs = nil
	for _, s := range r.cfg.Syncs {
		if _, ok := r.fieldsMeta[s.Module]; ok {
			cfg.Syncs = append(cfg.Syncs, s)
		}
	}
	r.fieldsMetaMu.Unlock()
	r.fieldsMetaMu.Lock()
	known := knownFields(maps.Clone(r.fieldsMeta))
	r.fieldsMetaMu.Unlock()
	findings, _, err := CheckOnline(ctx, &cfg, known, nil)
	if err != nil {
		return nil
	}
	var bad []string
	for _, f := range findings {
		switch {
		case strings.Contains(f.Message, "is not a field of"):
			bad = append(bad, fmt.Sprintf("sync %s: %s: %s", f.Sync, f.Key, f.Message))
		case !f.Warning:
			r.log.Warn("mapping problem", "sync", f.Sync, "key", f.Key, "problem", f.Message)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("the mapping names fields the Zoho org does not have (Zoho would drop their values): %s. Fix the config; `zohosink validate --online` lists every problem", strings.Join(bad, "; "))
}

// knownFields serves fields metadata already read.
type knownFields map[string][]zoho.Field

func (k knownFields) Fields(_ context.Context, module string) ([]zoho.Field, error) {
	return k[module], nil
}

// Status is what /status shows.
type Status struct {
	Ready    bool         `json:"ready"`
	NotReady string       `json:"not_ready,omitempty"` // why not, when not ready
	Syncs    []SyncStatus `json:"syncs"`
}

// SyncStatus is one sync's state and counters.
type SyncStatus struct {
	Name         string    `json:"name"`
	Module       string    `json:"module"`
	Type         string    `json:"type"`
	Mode         string    `json:"mode"`
	State        string    `json:"state"`
	Consumed     int64     `json:"consumed"`
	Written      int64     `json:"written"`
	Skipped      int64     `json:"skipped"`
	DeadLettered int64     `json:"dead_lettered"`
	Lag          int64     `json:"lag"`
	Partitions   int       `json:"partitions"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
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
			lag[p.w] += max(p.hwm.Load()-pos, 0)
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
		ss.Lag, ss.Partitions = lag[w], parts[w]
		if kafka != "" && ss.State != stateFailed {
			ss.State, ss.LastError = stateRetrying, kafka
		} else if m := r.missingTopicsOf(w.cfg); m != "" && ss.State != stateFailed {
			ss.State, ss.LastError = stateRetrying, m
		}
		ss.LastError = RedactURL(ss.LastError)
		st.Syncs = append(st.Syncs, ss)
	}
	st.NotReady = RedactURL(st.NotReady)
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
	if t, ok := r.crm.(interface{ HasToken() bool }); ok && !t.HasToken() {
		return "no Zoho access token yet"
	}
	return r.missingTopicsReason()
}

// missingTopicsReason names the first sync with a missing topic, or "".
func (r *Runner) missingTopicsReason() string {
	for _, w := range r.workers {
		if m := r.missingTopicsOf(w.cfg); m != "" {
			return fmt.Sprintf("sync %s: %s", w.cfg.Name, m)
		}
	}
	return ""
}

// watchTopics checks that the topics of the syncs exist, at the start and
// then every half minute: a misspelt topic otherwise looks like a quiet
// one. /status and /readyz name the missing ones, and the log says it once
// per topic (and again when it appears).
func (r *Runner) watchTopics(ctx context.Context, topics []string) {
	adm := kadm.NewClient(r.cl)
	warned := map[string]bool{}
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		details, err := adm.ListTopics(cctx, topics...)
		cancel()
		if err == nil {
			missing := map[string]bool{}
			for _, t := range topics {
				if d, ok := details[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
					missing[t] = true
				}
			}
			r.missingTopics.Store(&missing)
			var all []string
			if len(missing) > 0 {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if everything, err := adm.ListTopics(cctx); err == nil {
					all = everything.Names()
				}
				cancel()
			}
			for _, t := range topics {
				switch {
				case missing[t] && !warned[t]:
					args := []any{"topic", t}
					if near := SuggestTopic(t, all); near != "" {
						args = append(args, "did_you_mean", near)
					}
					r.log.Warn("topic does not exist (yet): check its name in the config; Debezium creates a table's topic with its first change", args...)
				case !missing[t] && warned[t]:
					r.log.Info("topic exists now", "topic", t)
					r.cl.ForceMetadataRefresh() // consume it now, not at the next metadata refresh
				}
				warned[t] = missing[t]
			}
		}
		every := 30 * time.Second
		if p := r.missingTopics.Load(); p != nil && len(*p) > 0 {
			every = 5 * time.Second
		}
		if !sleepCtx(ctx, every) {
			return
		}
	}
}

// missingTopicsOf says which topics of a sync do not exist, "" when all do
// (or when not known yet).
func (r *Runner) missingTopicsOf(sc *SyncConfig) string {
	p := r.missingTopics.Load()
	if p == nil {
		return ""
	}
	var gone []string
	for _, t := range sc.Topics {
		if (*p)[t] {
			gone = append(gone, t)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	return fmt.Sprintf("topic %s does not exist (yet): check its name; Debezium creates a table's topic with its first change", strings.Join(gone, ", "))
}

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

func describe(m map[string][]int32) string {
	var parts []string
	for t, ps := range m {
		for _, p := range ps {
			parts = append(parts, t+"/"+strconv.Itoa(int(p)))
		}
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}
