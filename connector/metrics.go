package connector

import (
	"zohosink/connector/config"
	"zohosink/zoho"

	"github.com/prometheus/client_golang/prometheus"

	"zohosink/schema"
)

// metrics are the pipeline's Prometheus collectors (docs/design.md,
// "Metrics and endpoints"). The Zoho client registers its own (requests, latency, credits,
// 429s, token refreshes) on the same registry.
type metrics struct {
	consumed     *prometheus.CounterVec   // {sync}
	written      *prometheus.CounterVec   // {sync,module,operation}
	skipped      *prometheus.CounterVec   // {sync,reason}
	deadLettered *prometheus.CounterVec   // {sync,code}
	batch        *prometheus.HistogramVec // {sync}
	lag          *prometheus.GaugeVec     // {topic,partition}
	unread       *prometheus.CounterVec   // {topic}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_records_consumed_total",
			Help: "Kafka records taken from the sync's topics.",
		}, []string{"sync"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_records_written_total",
			Help: "Records Zoho accepted, by operation.",
		}, []string{"sync", "module", "operation"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_records_skipped_total",
			Help: "Records not written, by reason: mode (the mode table skips the change), tombstone, truncate, message, heartbeat, transaction, schema_change (Debezium events that are not row changes), unchanged (mapped fields did not change), collapsed (a later change of the same key was written instead), not_found (no Zoho record matched).",
		}, []string{"sync", "reason"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_records_dead_lettered_total",
			Help: "Records written to the dead-letter topic, by Zoho code or DECODE_ERROR / MAPPING_ERROR.",
		}, []string{"sync", "code"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zohosink_batch_records",
			Help:    "Records per Zoho write call.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 75, 100},
		}, []string{"sync"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zohosink_consumer_lag",
			Help: "Records of the partition not yet done: high watermark minus the committable offset.",
		}, []string{"topic", "partition"}),
		unread: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_kafka_offsets_unread_total",
			Help: "Offsets of the topic skipped unread because Kafka deleted records before they were read (retention shorter than the lag, or DeleteRecords), with those past the log's new start skipped by compaction or kafka.start_offset: latest: an upper bound on the changes lost. Alert on any increase.",
		}, []string{"topic"}),
	}
	if reg != nil {
		reg.MustRegister(m.consumed, m.written, m.skipped, m.deadLettered, m.batch, m.lag, m.unread)
	}
	return m
}

// initSync creates a sync's series at zero, so dashboards and alerts see 0
// rather than no data before the first record.
func (m *metrics) initSync(sc *config.SyncConfig) {
	m.consumed.WithLabelValues(sc.Name)
	for _, t := range sc.Topics {
		m.unread.WithLabelValues(t) // at 0: an alert on its increase sees the first loss
	}
	for _, reason := range []string{"mode", "tombstone", "unchanged", "collapsed", "not_found"} {
		m.skipped.WithLabelValues(sc.Name, reason)
	}
	for _, code := range []string{"DECODE_ERROR", "MAPPING_ERROR"} {
		m.deadLettered.WithLabelValues(sc.Name, code)
	}
	ops := map[string]bool{}
	for _, op := range []schema.Op{schema.OpCreate, schema.OpUpdate, schema.OpDelete} {
		if a := actionFor(sc.Type, sc.Mode, sc.RemoveAction, op); a != actSkip {
			ops[string(a.operation())] = true
		}
	}
	for op := range ops {
		m.written.WithLabelValues(sc.Name, sc.Module, op)
	}
}

// syncCounters are the sync's metric series, looked up once rather than
// by label values at every record. Owned by the loop goroutine.
type syncCounters struct {
	consumed prometheus.Counter
	written  map[zoho.Operation]prometheus.Counter
	skipped  map[string]prometheus.Counter
	batch    prometheus.Observer
}

func (w *syncWorker) consumedCounter() prometheus.Counter {
	if w.counters.consumed == nil {
		w.counters.consumed = w.met.consumed.WithLabelValues(w.cfg.Name)
	}
	return w.counters.consumed
}

func (w *syncWorker) writtenCounter(op zoho.Operation) prometheus.Counter {
	c, ok := w.counters.written[op]
	if !ok {
		if w.counters.written == nil {
			w.counters.written = map[zoho.Operation]prometheus.Counter{}
		}
		c = w.met.written.WithLabelValues(w.cfg.Name, w.cfg.Module, string(op))
		w.counters.written[op] = c
	}
	return c
}

func (w *syncWorker) skippedCounter(reason string) prometheus.Counter {
	c, ok := w.counters.skipped[reason]
	if !ok {
		if w.counters.skipped == nil {
			w.counters.skipped = map[string]prometheus.Counter{}
		}
		c = w.met.skipped.WithLabelValues(w.cfg.Name, reason)
		w.counters.skipped[reason] = c
	}
	return c
}

func (w *syncWorker) batchObserver() prometheus.Observer {
	if w.counters.batch == nil {
		w.counters.batch = w.met.batch.WithLabelValues(w.cfg.Name)
	}
	return w.counters.batch
}
