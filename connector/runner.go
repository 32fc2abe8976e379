package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"zohosink/connector/config"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"zohosink/zoho"
)

// Runner runs every sync of a config.Config in one Kafka consumer group.
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
	cfg          *config.Config
	log          *slog.Logger
	reg          *prometheus.Registry
	met          *metrics
	crm          CRM
	dec          Decoder            // one decoder for every sync (WithDecoder), or
	decs         map[string]Decoder // one per sync, by name
	kopts        []kgo.Opt
	drainTimeout time.Duration
	workers      []*syncWorker
	byTopic      map[string]*syncWorker
	cl           *kgo.Client
	dlq          *deadLetterer
	fieldsOf     func(ctx context.Context, module string) ([]zoho.Field, error)
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

	held    atomic.Int64 // bytes of records consumed and not done (partition.track)
	maxHeld int64        // kafka.max_buffered_bytes
	// slimmers counts the syncs holding a backlog slim: while one does, the
	// bound of every sync is theirs (Runner.tight), or a sync without
	// recurring keys would write change by change in the memory they hold.
	slimmers atomic.Int32
	cache    *keyCache // the syncs' ids and last states written

	finalCommitFailed atomic.Bool
	loopsStarted      atomic.Bool

	waiting       atomic.Value // string: what the start waits for (/readyz)
	missingTopics atomic.Pointer[map[string]bool]
	// topicPartitions is the partition count of each topic consumed, from
	// the topic watch: what the shares of Zoho's limits are reckoned on.
	topicPartitions atomic.Pointer[map[string]int32]
	// group is the group's partitions, their ends and which are behind
	// (watchGroup): what the shares are reckoned on.
	group atomic.Pointer[groupView]
	// shareWake has the share looked at again at once (an assignment);
	// commitNow has the commit loop commit at once (a partition caught up,
	// whose slots the other processes take once they see its commit).
	shareWake chan struct{}
	// groupWake has the group's offsets read again at once (an assignment
	// changed): a process that owned every partition reads them seldom.
	groupWake chan struct{}
	// pausedWake has resumeLoop look at the paused partitions again (one
	// was paused): it sleeps while none is.
	pausedWake    chan struct{}
	commitNow     chan struct{}
	heldCommits   atomic.Pointer[map[tp]bool] // ends whose commit waits for the calls in flight to fit the share (commitCaughtUp)
	kafkaConnErr  atomic.Value                // string: the last broker connection failure, "" once one succeeds
	kafkaGroupErr atomic.Value                // string: the last group management failure, "" once partitions are assigned

	// groupCommitted replaces the client's CommittedOffsets (the group's
	// offsets franz-go started from) in tests.
	groupCommitted func() map[string]map[int32]kgo.EpochOffset
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
func WithDrainTimeout(d time.Duration) Option { return func(r *Runner) { r.drainTimeout = d } }

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
func New(cfg *config.Config, opts ...Option) (*Runner, error) {
	r := &Runner{cfg: cfg, log: slog.Default(), drainTimeout: 30 * time.Second, byTopic: map[string]*syncWorker{}, parts: map[tp]*partition{}, committed: map[tp]int64{}, loopsDone: make(chan struct{}), shareWake: make(chan struct{}, 1), groupWake: make(chan struct{}, 1), pausedWake: make(chan struct{}, 1), commitNow: make(chan struct{}, 1), maxHeld: cfg.Kafka.MaxBufferedBytes}
	if r.maxHeld <= 0 { // a Config not made by Load
		r.maxHeld = config.DefaultMaxBufferedBytes
	}
	// The per-key caches take up to a quarter of the memory budget; the
	// records consumed and not done the rest (partition.backpressure).
	r.cache = newKeyCache(r.maxHeld / 4)
	for _, o := range opts {
		o(r)
	}
	if r.reg == nil {
		r.reg = prometheus.NewRegistry()
	}
	r.met = newMetrics(r.reg)
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zohosink_buffered_bytes",
		Help: "Estimated memory held by records consumed and not yet done and by the per-key caches; fetching pauses at kafka.max_buffered_bytes.",
	}, func() float64 { return float64(r.buffered()) }))
	if r.crm == nil {
		c, err := NewZohoClient(cfg, r.reg, r.log, zoho.WithOnRetry(r.onZohoRetry))
		if err != nil {
			return nil, err
		}
		r.crm = c
	}
	if f, ok := r.crm.(FieldsSource); ok { // *zoho.Client is
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
		w.cache = r.cache
		w.tight, w.slimmers = r.tight, &r.slimmers
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
		kopts = append(kopts, kgo.ConsumerGroup(r.groupID()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(replayFetchMaxWait))
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
	go r.resumeLoop(runCtx)
	if s, ok := r.crm.(limitSharer); ok && !r.replay {
		go r.shareLimits(runCtx, s, topics)
	}
	go r.rereadFieldTypes(runCtx)

	r.poll(runCtx)
	<-commitDone

	r.drain(cl, stopWaiting, abandonWrites, stopLoops)
	if err := r.fatal(); err != nil {
		return err
	}
	return nil
}

// drain ends a Run: no more fetching; the syncs finish what is in flight
// within the drain timeout (after a fatal error nothing more is written),
// dead letters already produced are flushed, and what is done is committed.
// stopWaiting, when closed, makes writes and decodes waiting out an outage
// give up; abandonWrites cancels writes in flight; stopLoops ends the sync
// loops.
func (r *Runner) drain(cl *kgo.Client, stopWaiting chan struct{}, abandonWrites, stopLoops context.CancelFunc) {
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
	drainTimer := time.NewTimer(r.drainTimeout)
	select {
	case <-r.loopsDone:
	case <-drainTimer.C:
		r.log.Warn("drain timeout reached: abandoning in-flight writes (they are consumed again at the next start)", "drain_timeout", r.drainTimeout)
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
	r.finalCommit()
	// Nothing is left to commit on the revoke that closing the client runs.
	r.mu.Lock()
	all := make([]*partition, 0, len(r.parts))
	for _, p := range r.parts {
		p.gone.Store(true)
		all = append(all, p)
	}
	r.mu.Unlock()
	r.forget(all)
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

// fatal returns the error that stopped the runner, if one did.
func (r *Runner) fatal() error {
	if p := r.fatalErr.Load(); p != nil {
		return *p
	}
	return nil
}

// every calls fn every d until ctx ends or fn returns false. The runner's
// background loops are each one call of it (the replay's end), of
// everyOrWoken (commits) or of pacedOrWoken (resumes, limit shares), all
// three the last.
func every(ctx context.Context, d time.Duration, fn func() bool) { everyOrWoken(ctx, d, nil, fn) }

// everyOrWoken is every, calling fn at once too when wake has a value
// (commits are also asked for by events).
func everyOrWoken(ctx context.Context, d time.Duration, wake <-chan struct{}, fn func() bool) {
	pacedOrWoken(ctx, d, wake, func() (time.Duration, bool) { return d, fn() })
}

// pacedOrWoken calls fn after wait, or at once when wake has a value, and
// again after the wait fn returns, until ctx ends or fn returns false. A
// wait of 0 waits for wake alone (a loop with nothing to watch sleeps).
func pacedOrWoken(ctx context.Context, wait time.Duration, wake <-chan struct{}, fn func() (next time.Duration, ok bool)) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var tick <-chan time.Time
		if wait > 0 {
			t.Reset(wait)
			tick = t.C
		} else {
			t.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-wake:
		}
		var ok bool
		if wait, ok = fn(); !ok {
			return
		}
	}
}

// finalCommit commits every partition still ours, whatever the limit
// shares hold back (they wait for calls in flight, and none is left),
// trying again for up to 10 s: it may meet a rebalance in progress.
func (r *Runner) finalCommit() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := r.commit(ctx, nil, commitLive)
		if err == nil {
			return
		}
		if ctx.Err() != nil || !sleepCtx(ctx, 200*time.Millisecond) {
			r.log.Error("final commit failed: the records since the last commit will be written again at the next start", "err", err)
			r.finalCommitFailed.Store(true)
			return
		}
	}
}
