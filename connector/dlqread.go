package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter is one record of the dead-letter topic, with its headers read.
type DeadLetter struct {
	// Where the record came from.
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Why it was set aside.
	Sync        string `json:"sync"`
	Stage       string `json:"stage"`
	Module      string `json:"module"`
	Operation   string `json:"operation"`
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Message     string `json:"message"`
	ReplayCount int    `json:"replay_count"`
	// The record itself, as consumed.
	Key       []byte    `json:"key"`
	Value     []byte    `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	// Where it is in the dead-letter topic.
	DLQPartition int32 `json:"dlq_partition"`
	DLQOffset    int64 `json:"dlq_offset"`

	rec *kgo.Record
}

// ParseDeadLetter reads the headers zohosink wrote on a dead-letter record.
func ParseDeadLetter(r *kgo.Record) DeadLetter {
	d := DeadLetter{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, DLQPartition: r.Partition, DLQOffset: r.Offset, rec: r}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrTopic:
			d.Topic = v
		case hdrPartition:
			p, _ := strconv.Atoi(v)
			d.Partition = int32(p)
		case hdrOffset:
			d.Offset, _ = strconv.ParseInt(v, 10, 64)
		case hdrConnector:
			d.Sync = v
		case hdrStage:
			d.Stage = v
		case hdrMessage:
			d.Message = v
		case hdrModule:
			d.Module = v
		case hdrOperation:
			d.Operation = v
		case hdrCode:
			d.Code = v
		case hdrField:
			d.Field = v
		case hdrReplayCount:
			d.ReplayCount, _ = strconv.Atoi(v)
		}
	}
	return d
}

// ErrNoDeadLetterTopic is matched (errors.Is) by the error of a read of a
// dead-letter topic that does not exist: nothing was ever dead-lettered
// there.
var ErrNoDeadLetterTopic = errors.New("the dead-letter topic does not exist")

// BrokersUnreachableError is a read that failed because no broker could be
// talked to: nothing listening, a TLS or SASL mismatch, a wrong address.
type BrokersUnreachableError struct {
	// Brokers are the addresses that could not be talked to, in the order
	// they first failed.
	Brokers []string
	// Err is the last connection error.
	Err error
}

func (e *BrokersUnreachableError) Error() string {
	return fmt.Sprintf("cannot talk to Kafka broker(s) %s: %v", strings.Join(e.Brokers, ", "), e.Err)
}

func (e *BrokersUnreachableError) Unwrap() error { return e.Err }

// DeadLetterRead is what ReadDeadLetterTopic read.
type DeadLetterRead struct {
	// DeadLetters are the records read, at most the limit asked for.
	DeadLetters []DeadLetter
	// Total is how many records the topic holds (the sum over its
	// partitions of end minus start offset), whether or not all were read.
	Total int64
}

// ReadDeadLetters reads the dead-letter topic from its start to its end as
// it is now (at most limit records when limit > 0), without a consumer group
// and without committing anything.
func ReadDeadLetters(ctx context.Context, opts []kgo.Opt, topic string, limit int) ([]DeadLetter, error) {
	r, err := ReadDeadLetterTopic(ctx, opts, topic, limit)
	return r.DeadLetters, err
}

// A read gives up on brokers it cannot talk to once connection attempts
// have failed connFailuresToGiveUp times in a row over at least
// connFailingToGiveUp, none ever succeeding: retrying until the caller's
// deadline would only hide why. (Once one broker answered, a broker out of
// reach is retried up to franz-go's request retry timeout, 30s.)
const (
	connFailuresToGiveUp = 2
	connFailingToGiveUp  = 2 * time.Second
)

// connWatch follows the client's connections to the brokers.
type connWatch struct {
	mu      sync.Mutex
	fails   int       // connection attempts failed in a row
	since   time.Time // when the first of them started
	last    error     // the newest connection or read failure
	lastOK  bool      // a connection or read succeeded since
	everOK  bool      // a connection succeeded
	brokers []string  // that failed, in the order they first did
	giveUp  context.CancelCauseFunc
}

var errGaveUp = errors.New("the brokers cannot be talked to")

func (w *connWatch) failed(meta kgo.BrokerMetadata, err error) {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	if !slices.Contains(w.brokers, addr) {
		w.brokers = append(w.brokers, addr)
	}
	w.last, w.lastOK = err, false
}

func (w *connWatch) OnBrokerConnect(meta kgo.BrokerMetadata, took time.Duration, _ net.Conn, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.fails, w.lastOK, w.everOK = 0, true, true
		return
	}
	w.failed(meta, connError(err, took))
	if w.fails == 0 {
		w.since = time.Now().Add(-took)
	}
	if w.fails++; !w.everOK && w.fails >= connFailuresToGiveUp && time.Since(w.since) >= connFailingToGiveUp {
		w.giveUp(errGaveUp)
	}
}

func (w *connWatch) OnBrokerRead(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.lastOK = true
		return
	}
	w.failed(meta, connError(err, 0))
}

// connError is why a connection attempt or a read failed: a timeout says
// how long it waited, a dial error loses franz-go's "unable to dial: ". The
// error it wraps stays matchable (errors.Is, KafkaHint).
func connError(err error, took time.Duration) error {
	trimmed := trimmedError{strings.TrimPrefix(err.Error(), "unable to dial: "), err}
	var ne net.Error
	if took > 0 && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		return fmt.Errorf("no answer within %s: %w", took.Round(time.Second), trimmed)
	}
	return trimmed
}

// trimmedError is an error shown in other words.
type trimmedError struct {
	msg string
	err error
}

func (e trimmedError) Error() string { return e.msg }
func (e trimmedError) Unwrap() error { return e.err }

// explain turns the error of a failed read into one that names the brokers
// and says they could not be talked to, when that is why it failed.
func (w *connWatch) explain(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	waited := errors.Is(err, errGaveUp) || errors.Is(err, context.DeadlineExceeded)
	var oe *net.OpError
	dial := errors.As(err, &oe) || strings.HasPrefix(err.Error(), "unable to dial")
	if w.last == nil || (w.lastOK && !waited && !dial) {
		return err
	}
	why := w.last
	if !waited {
		why = connError(err, 0) // franz-go's own words are often the clearer
	}
	return &BrokersUnreachableError{Brokers: slices.Clone(w.brokers), Err: why}
}

// ReadDeadLetterTopic reads the dead-letter topic from its start to its end
// as it is now (at most limit records when limit > 0), without a consumer
// group and without committing anything, and says how many records the topic
// holds. A topic that does not exist gives an error matching
// ErrNoDeadLetterTopic; brokers that cannot be talked to (after a few
// attempts, not at ctx's deadline) a *BrokersUnreachableError.
func ReadDeadLetterTopic(ctx context.Context, opts []kgo.Opt, topic string, limit int) (DeadLetterRead, error) {
	var res DeadLetterRead
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watch := &connWatch{giveUp: cancel}
	cl, err := kgo.NewClient(append(opts[:len(opts):len(opts)], kgo.WithHooks(watch))...)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	fail := func(err error) (DeadLetterRead, error) {
		if errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), errGaveUp) {
			err = errGaveUp
		}
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, watch.explain(err))
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, ErrNoDeadLetterTopic)
	}
	if err != nil {
		return fail(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fail(err)
	}
	want := map[int32]int64{}
	consume := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			start = s.Offset
		}
		// A partition emptied by retention (start == end) has nothing to
		// wait for.
		if o.Offset > start {
			res.Total += o.Offset - start
			want[o.Partition] = o.Offset
			consume[topic][o.Partition] = kgo.NewOffset().At(start)
		}
	})
	if len(want) == 0 {
		return res, nil
	}
	cl.AddConsumePartitions(consume)
	out := &res.DeadLetters
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s/%d: %w", t, p, err) })
		if ferr != nil {
			return fail(ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				*out = append(*out, ParseDeadLetter(r))
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if limit > 0 && len(*out) >= limit {
			*out = (*out)[:limit]
			return res, nil
		}
	}
	return res, nil
}

// sourceKey is where a dead letter's record came from.
type sourceKey struct {
	topic     string
	partition int32
	offset    int64
}

// LatestDeadLetters keeps, of the dead letters of one source record (the
// same __connect.errors.topic, partition and offset), only the newest copy:
// a record that failed again when replayed is dead-lettered again with its
// replay count raised, and the older copies stay in the topic. The newest is
// the one with the highest replay count; between equal counts, the later in
// the dead-letter partition (or by timestamp across partitions, or in dls).
// Dead letters without origin headers are all kept. latest keeps the order
// of dls; superseded is how many older copies were left out.
func LatestDeadLetters(dls []DeadLetter) (latest []DeadLetter, superseded int) {
	newest := make(map[sourceKey]int, len(dls))
	for i, d := range dls {
		if d.Topic == "" {
			continue
		}
		k := sourceKey{d.Topic, d.Partition, d.Offset}
		if j, ok := newest[k]; !ok || newerDeadLetter(d, dls[j]) {
			newest[k] = i
		}
	}
	latest = make([]DeadLetter, 0, len(newest))
	for i, d := range dls {
		if d.Topic != "" && newest[sourceKey{d.Topic, d.Partition, d.Offset}] != i {
			superseded++
			continue
		}
		latest = append(latest, d)
	}
	return latest, superseded
}

// newerDeadLetter reports whether a is a newer copy than b, which comes
// before it in the slice read.
func newerDeadLetter(a, b DeadLetter) bool {
	switch {
	case a.ReplayCount != b.ReplayCount:
		return a.ReplayCount > b.ReplayCount
	case a.DLQPartition == b.DLQPartition:
		return a.DLQOffset > b.DLQOffset
	case !a.Timestamp.Equal(b.Timestamp):
		return a.Timestamp.After(b.Timestamp)
	}
	return true
}

// BrokerOptions returns the franz-go options to reach the config's Kafka
// cluster (brokers, TLS, SASL) without joining the consumer group.
func BrokerOptions(cfg *Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ClientID("zohosink")}
	if cfg.Kafka.TLS.Enabled {
		tc, err := tlsConfig(cfg.Kafka.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := saslMechanism(cfg.Kafka.SASL); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}
