package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"zohosink/connector/dlq"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deadLetterer writes rejected records to the dead-letter topic.
type deadLetterer struct {
	cl    *kgo.Client
	topic string
}

// send produces the dead letter of a consumed record (dlq.New). done is
// called once Kafka acknowledged it (err nil) or refused it for good.
func (d *deadLetterer) send(orig *kgo.Record, info dlq.Info, done func(error)) {
	// Not tied to any run context: a dead letter produced is acknowledged or
	// refused by Kafka, never cancelled by a shutdown racing it.
	d.cl.Produce(context.Background(), dlq.New(orig, d.topic, info), func(_ *kgo.Record, err error) { done(err) })
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
	w.dlq.send(r.rec, dlq.Info{Sync: w.cfg.Name, Module: w.cfg.Module, Stage: o.stage, Operation: string(op), Code: code, Field: o.field, Message: o.msg + o.detail}, func(err error) {
		if err != nil {
			w.fatal(fmt.Errorf("sync %q: cannot write record %s to the dead-letter topic %s: %w (nothing was committed past it)", w.cfg.Name, r.where(), w.dlq.topic, err))
			return
		}
		w.met.deadLettered.WithLabelValues(w.cfg.Name, code).Inc()
		w.status.deadLettered.Add(1)
		w.status.setLastError(fmt.Sprintf("%s: %s %s: %s", r.where(), code, o.field, o.msg))
		r.done()
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
