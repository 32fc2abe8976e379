package dlq

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// ErrNoTopic is matched (errors.Is) by the error of a read of a
// dead-letter topic that does not exist: nothing was ever dead-lettered
// there.
var ErrNoTopic = errors.New("the dead-letter topic does not exist")

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

// Contents is what Read read.
type Contents struct {
	// Letters are the records read, at most the limit asked for.
	Letters []Letter
	// Total is how many records the topic holds (the sum over its
	// partitions of end minus start offset), whether or not all were read.
	Total int64
	// Progress is the replay group's progress, read just before the
	// records (ReadWithProgress), and ProgressErr why it could
	// not be read (say, no permission to describe the group).
	Progress    ReplayProgress
	ProgressErr error
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

// Read reads the dead-letter topic from its start to its end
// as it is now (at most limit records when limit > 0), without a consumer
// group and without committing anything, and says how many records the topic
// holds. A topic that does not exist gives an error matching
// ErrNoTopic; brokers that cannot be talked to (after a few
// attempts, not at ctx's deadline) a *BrokersUnreachableError.
func Read(ctx context.Context, opts []kgo.Opt, topic string, limit int) (Contents, error) {
	return read(ctx, opts, topic, limit, "")
}

// ReadWithProgress is Read reading every record,
// and the progress of the replay group first (a replay commits a dead
// letter's offset only after the copy it dead-lettered again was
// acknowledged, so the records read after the progress hold that copy):
// States tells from them what became of each dead letter.
func ReadWithProgress(ctx context.Context, opts []kgo.Opt, topic, group string) (Contents, error) {
	return read(ctx, opts, topic, 0, group)
}

func read(ctx context.Context, opts []kgo.Opt, topic string, limit int, group string) (Contents, error) {
	var res Contents
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watch := &connWatch{giveUp: cancel}
	cl, err := kgo.NewClient(append(opts[:len(opts):len(opts)], kgo.WithHooks(watch))...)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	fail := func(err error) (Contents, error) {
		if errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), errGaveUp) {
			err = errGaveUp
		}
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, watch.explain(err))
	}
	adm := kadm.NewClient(cl)
	if group != "" {
		res.Progress, res.ProgressErr = FetchProgress(ctx, adm, group, topic)
		var ke *kerr.Error
		if res.ProgressErr != nil && !errors.As(res.ProgressErr, &ke) {
			return fail(res.ProgressErr) // the brokers, not the group
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return res, fmt.Errorf("dead-letter topic %s: %w", topic, ErrNoTopic)
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
	consume := map[int32]kgo.Offset{}
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
			consume[o.Partition] = kgo.NewOffset().At(start)
		}
	})
	if len(want) == 0 {
		return res, nil
	}
	err = ConsumeRange(ctx, cl, topic, consume, want, func(r *kgo.Record) bool {
		res.Letters = append(res.Letters, Parse(r))
		return limit <= 0 || len(res.Letters) < limit
	})
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// ConsumeRange reads the partitions of topic of a client that is no group
// member, each from its offset in from to just before its offset in to,
// handing each record to fn in offset order within a partition, until every
// partition reached its end or fn returns false.
func ConsumeRange(ctx context.Context, cl *kgo.Client, topic string, from map[int32]kgo.Offset, to map[int32]int64, fn func(*kgo.Record) bool) error {
	want := maps.Clone(to)
	for p, end := range want {
		if _, ok := from[p]; !ok || end <= 0 {
			delete(want, p)
		}
	}
	if len(want) == 0 {
		return nil
	}
	consume := map[int32]kgo.Offset{}
	for p := range want {
		consume[p] = from[p]
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(consume))})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s/%d: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if stop || !ok {
				return
			}
			if r.Offset < end && !fn(r) {
				stop = true
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}
