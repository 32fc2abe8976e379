package connector

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
	"zohosink/connector/config"
	"zohosink/connector/dlq"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A replayed dead letter is consumed at the dead-letter topic's partition and
// offset (its checkpoint's), but logs and messages name its source record.
func TestReplayedRecordNamesItsSource(t *testing.T) {
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	replayed := inRecord{rec: &kgo.Record{Topic: "wh.public.leads", Partition: 3, Offset: 0,
		Headers: []kgo.RecordHeader{hdr("__connect.errors.topic", "wh.public.leads"), hdr("__connect.errors.partition", "0"), hdr("__connect.errors.offset", "38"), hdr("zohosink.replay.count", "1")}}}
	if got := replayed.where(); got != "wh.public.leads/0@38" {
		t.Errorf("replayed record is %s, want its source wh.public.leads/0@38", got)
	}
	// A source record that happens to carry Connect's error headers (say,
	// from another connector's dead-letter topic) is where it is.
	plain := inRecord{rec: &kgo.Record{Topic: "wh.public.leads", Partition: 2, Offset: 7,
		Headers: []kgo.RecordHeader{hdr("__connect.errors.partition", "0"), hdr("__connect.errors.offset", "38")}}}
	if got := plain.where(); got != "wh.public.leads/2@7" {
		t.Errorf("source record is %s, want wh.public.leads/2@7", got)
	}
}

// dlqRecord is a dead letter as zohosink writes it.
func dlqRecord(sync string, srcOffset int64, replays int, partition int32, offset int64) *kgo.Record {
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	return &kgo.Record{Topic: "g.dlq", Partition: partition, Offset: offset, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.Unix(1700000000+offset, 0), Headers: []kgo.RecordHeader{
			hdr("__connect.errors.topic", "wh.public.leads"), hdr("__connect.errors.partition", "0"), hdr("__connect.errors.offset", strconv.FormatInt(srcOffset, 10)),
			hdr("__connect.errors.connector.name", sync), hdr("__connect.errors.stage", "map"), hdr("zoho.code", "MAPPING_ERROR"), hdr("zohosink.replay.count", strconv.Itoa(replays)),
		}}
}

// A replay sends each source record through its sync once, from its newest
// copy; it leaves older copies, copies at the limit and unknown syncs' where
// they are, and counts each.
func TestRouteReplaySendsTheNewestCopyOnce(t *testing.T) {
	w := &syncWorker{cfg: &config.SyncConfig{Name: "leads"}}
	r := &Runner{replay: true, maxReplays: 3, workers: []*syncWorker{w}, log: slog.New(slog.DiscardHandler)}
	topic := []*kgo.Record{
		dlqRecord("leads", 10, 0, 0, 0), // superseded by 3
		dlqRecord("leads", 11, 0, 0, 1), // the only copy: sent
		dlqRecord("leads", 12, 3, 0, 2), // at the limit: left
		dlqRecord("leads", 10, 1, 0, 3), // newest of 10: sent
		dlqRecord("other", 13, 0, 0, 4), // unknown sync: left
		dlqRecord("leads", 12, 2, 0, 5), // older than 2 (count 2 < 3), although later: superseded
	}
	r.replayed.newest = dlq.Copies{}
	for _, rec := range topic {
		r.replayed.newest.Add(dlq.Parse(rec))
	}
	var sent []string
	for _, rec := range topic {
		if got, out := r.routeReplay(rec); got == w {
			if out.Topic != "wh.public.leads" || out.Offset != rec.Offset {
				t.Fatalf("routed as %s@%d", out.Topic, out.Offset)
			}
			sent = append(sent, inRecord{rec: out}.where())
		}
	}
	if got := strings.Join(sent, " "); got != "wh.public.leads/0@11 wh.public.leads/0@10" {
		t.Fatalf("sent %s, want each of 10 and 11 once", got)
	}
	want := ReplayResult{Read: 6, Replayed: 2, OverLimit: 1, UnknownSync: 1, Superseded: 2, MaxLeftReplays: 3}
	if got := r.ReplayResult(); got != want {
		t.Fatalf("result %+v, want %+v", got, want)
	}
}

func newDLQCluster(t *testing.T) (*config.Config, *kgo.Client) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "g.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cfg := &config.Config{Kafka: config.KafkaConfig{Brokers: kc.ListenAddrs(), GroupID: "g", DeadLetterTopic: "g.dlq"}, Syncs: []config.SyncConfig{{Name: "leads"}}}
	return cfg, cl
}

// replayEnds starts where the replay group left off, knowing the newest
// copy of each record from there to the end; --from-start copies what
// earlier replays left to the end (refusing while the group has members),
// and the limit is recorded with the offsets once the replay is done.
func TestReplayEndsFromStart(t *testing.T) {
	cfg, cl := newDLQCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, rec := range []*kgo.Record{
		dlqRecord("leads", 10, 0, 0, 0), dlqRecord("leads", 11, 0, 0, 1), dlqRecord("leads", 10, 1, 0, 2), dlqRecord("leads", 11, 1, 0, 3),
	} {
		rec.Offset = int64(i)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	commit := func(at int64, meta string) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "g.dlq", Partition: 0, At: at, LeaderEpoch: -1, Metadata: meta})
		if resp, err := adm.CommitOffsets(ctx, "g.replay", offs); err != nil || resp.Error() != nil {
			t.Fatalf("commit: %v %v", err, resp.Error())
		}
	}
	commit(2, "zohosink.max_replays 2:0-2")
	runner := func(fromStart bool) *Runner {
		r := &Runner{cfg: cfg, replay: true, maxReplays: 4, log: slog.New(slog.DiscardHandler)}
		r.replayed.fromStart = fromStart
		return r
	}

	// Resuming: from offset 2, where the copies at 2 and 3 are the newest.
	r := runner(false)
	ends, err := r.replayEnds(ctx)
	if err != nil || ends[0] != 4 || r.replayed.started[0] != 2 || r.replayed.history[0].String() != "zohosink.max_replays 2:0-2" || len(r.replayed.newest) != 2 {
		t.Fatalf("resume: ends %v, err %v, started %v, history %v, newest %v", ends, err, r.replayed.started, r.replayed.history, r.replayed.newest)
	}
	// The replay ran to the end: its limit is recorded after the old one.
	commit(4, "kgo-member-id")
	if err := r.SaveReplayLimits(ctx); err != nil {
		t.Fatal(err)
	}
	read, err := dlq.ReadWithProgress(ctx, []kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...)}, "g.dlq", "g.replay")
	if err != nil || read.ProgressErr != nil || read.Progress.Committed[0] != 4 {
		t.Fatalf("progress: %+v, %v", read.Progress, err)
	}
	if l, _ := read.Progress.MaxReplaysAt(0, 1); l != 2 {
		t.Errorf("offset 1 was read with --max-replays 2, says %d", l)
	}
	if l, _ := read.Progress.MaxReplaysAt(0, 3); l != 4 {
		t.Errorf("offset 3 was read with --max-replays 4, says %d", l)
	}

	// --from-start beside a replay running: refused, nothing forgotten.
	member, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumerGroup("g.replay"), kgo.ConsumeTopics("g.dlq"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	eventuallyMember := time.Now().Add(30 * time.Second)
	for {
		dg, err := adm.DescribeGroups(ctx, "g.replay")
		if err == nil && len(dg["g.replay"].Members) > 0 {
			break
		}
		if time.Now().After(eventuallyMember) {
			t.Fatalf("the stand-in replay did not join: %v", err)
		}
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		member.PollFetches(pctx)
		pcancel()
	}
	if _, err := runner(true).replayEnds(ctx); err == nil || !strings.Contains(err.Error(), "another `zohosink dlq replay` is running") {
		t.Fatalf("--from-start with a member: %v", err)
	}
	member.Close()
	if c, err := adm.FetchOffsets(ctx, "g.replay"); err != nil || c.Error() != nil {
		t.Fatalf("offsets: %v", err)
	} else if o, _ := c.Lookup("g.dlq", 0); o.At != 4 {
		t.Fatalf("a refused --from-start moved the progress to %d", o.At)
	}

	// A copy an earlier replay left at its limit (4): with --max-replays 5,
	// --from-start copies it to the end, and the replay reads it there,
	// resuming where the group was; what was written is not read again.
	left := dlqRecord("leads", 12, 4, 0, 4)
	if err := cl.ProduceSync(ctx, left).FirstErr(); err != nil {
		t.Fatal(err)
	}
	commit(5, "zohosink.max_replays 2:0-2 4:2-5")
	r = runner(true)
	r.maxReplays = 5
	ends, err = r.replayEnds(ctx)
	if err != nil || ends[0] != 6 || r.replayed.started[0] != 5 || r.replayed.requeued.Load() != 1 || len(r.replayed.newest) != 1 {
		t.Fatalf("--from-start: ends %v, err %v, started %v, requeued %d, newest %v", ends, err, r.replayed.started, r.replayed.requeued.Load(), r.replayed.newest)
	}
	if c, err := adm.FetchOffsets(ctx, "g.replay"); err != nil {
		t.Fatal(err)
	} else if o, _ := c.Lookup("g.dlq", 0); o.At != 5 {
		t.Fatalf("--from-start moved the progress to %d", o.At)
	}
	// Again, below the limit of the copy: nothing to send again.
	r = runner(true)
	r.maxReplays = 4
	if _, err := r.replayEnds(ctx); err != nil || r.replayed.requeued.Load() != 0 {
		t.Fatalf("--from-start at the copy's limit: err %v, requeued %d", err, r.replayed.requeued.Load())
	}
}
