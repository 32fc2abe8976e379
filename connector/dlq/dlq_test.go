package dlq

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

func dl(topic string, partition int32, offset int64, replays int, dlqPartition int32, dlqOffset int64) Letter {
	return Letter{Topic: topic, Partition: partition, Offset: offset, ReplayCount: replays, DLQPartition: dlqPartition, DLQOffset: dlqOffset,
		Timestamp: time.Unix(1700000000+dlqOffset, 0)}
}

func where(ds []Letter) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Topic+"/"+strconv.Itoa(int(d.Partition))+"@"+strconv.FormatInt(d.Offset, 10)+
			" r"+strconv.Itoa(d.ReplayCount)+" dlq "+strconv.Itoa(int(d.DLQPartition))+"@"+strconv.FormatInt(d.DLQOffset, 10))
	}
	return out
}

func TestLatestDeadLettersKeepsTheNewestCopyOfEachSource(t *testing.T) {
	dls := []Letter{
		dl("a", 0, 5, 0, 0, 0),
		dl("a", 0, 7, 0, 0, 1),
		dl("b", 1, 5, 0, 0, 2), // same partition and offset, other topic...
		dl("a", 1, 5, 0, 0, 3), // ...or other partition: all distinct
		dl("a", 0, 5, 1, 0, 4), // a/0@5 failed again on the first replay
		dl("a", 0, 7, 1, 0, 5),
		dl("a", 0, 5, 2, 0, 6),          // and again on the second
		{DLQPartition: 0, DLQOffset: 7}, // no origin headers: not zohosink's, kept
		{DLQPartition: 0, DLQOffset: 8},
	}
	kept, superseded := latest(dls)
	want := []string{
		"b/1@5 r0 dlq 0@2",
		"a/1@5 r0 dlq 0@3",
		"a/0@7 r1 dlq 0@5",
		"a/0@5 r2 dlq 0@6",
		"/0@0 r0 dlq 0@7",
		"/0@0 r0 dlq 0@8",
	}
	if got := where(kept); strings.Join(got, "\n") != strings.Join(want, "\n") || superseded != 3 {
		t.Fatalf("latest (superseded %d):\n%s\nwant (superseded 3):\n%s", superseded, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(dls) != len(kept)+superseded {
		t.Fatalf("%d in, %d kept + %d superseded", len(dls), len(kept), superseded)
	}
}

func TestLatestDeadLettersBreaksTiesByPosition(t *testing.T) {
	// The higher replay count wins wherever it sits in the slice.
	kept, n := latest([]Letter{dl("a", 0, 1, 2, 1, 0), dl("a", 0, 1, 1, 0, 9)})
	if n != 1 || len(kept) != 1 || kept[0].ReplayCount != 2 {
		t.Fatalf("replay count: %v (%d superseded)", where(kept), n)
	}
	// Equal counts (dead-lettered twice, e.g. around a crash): the later in
	// the dead-letter partition.
	kept, n = latest([]Letter{dl("a", 0, 1, 0, 0, 9), dl("a", 0, 1, 0, 0, 3)})
	if n != 1 || len(kept) != 1 || kept[0].DLQOffset != 9 {
		t.Fatalf("same partition: %v (%d superseded)", where(kept), n)
	}
	// Equal counts across dead-letter partitions: the later timestamp.
	a, b := dl("a", 0, 1, 0, 0, 50), dl("a", 0, 1, 0, 1, 2)
	kept, n = latest([]Letter{a, b})
	if n != 1 || len(kept) != 1 || kept[0].DLQPartition != 0 {
		t.Fatalf("across partitions: %v (%d superseded)", where(kept), n)
	}
	if kept, n := latest(nil); len(kept) != 0 || n != 0 {
		t.Fatalf("nil: %v %d", kept, n)
	}
}

func TestReadDeadLetterTopicMissingTopic(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = Read(ctx, []kgo.Opt{kgo.SeedBrokers(kc.ListenAddrs()...)}, "fresh.dlq", 0)
	if !errors.Is(err, ErrNoTopic) {
		t.Fatalf("err %v, want ErrNoTopic", err)
	}
}

func TestReadDeadLetterTopicCountsWhatItDoesNotRead(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "x.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(kc.ListenAddrs()...)}
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 7 {
		r := &kgo.Record{Topic: "x.dlq", Partition: int32(i % 2), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: hdrTopic, Value: []byte("src")}, {Key: hdrOffset, Value: []byte(strconv.Itoa(i))}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	all, err := Read(ctx, opts, "x.dlq", 0)
	if err != nil || len(all.Letters) != 7 || all.Total != 7 {
		t.Fatalf("all: %d read of %d, %v", len(all.Letters), all.Total, err)
	}
	some, err := Read(ctx, opts, "x.dlq", 2)
	if err != nil || len(some.Letters) != 2 || some.Total != 7 {
		t.Fatalf("limit 2: %d read of %d, %v", len(some.Letters), some.Total, err)
	}
	if d := all.Letters[0]; d.Topic != "src" {
		t.Fatalf("headers not read: %+v", d)
	}
}

// selfSigned is a TLS certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A broker that cannot be talked to is named, with why, well before the
// caller's deadline: nothing listening, or a TLS or SASL mismatch.
func TestReadDeadLetterTopicUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cluster := func(opts ...kfake.Opt) string {
		kc, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "x.dlq")}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(kc.Close)
		return kc.ListenAddrs()[0]
	}
	plaintext := cluster()
	withTLS := cluster(kfake.TLS(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}))
	withSASL := cluster(kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "secret"))

	for _, c := range []struct {
		name, broker, why string
		opts              []kgo.Opt
	}{
		{"nothing listening", dead, "connection refused", nil},
		{"TLS to a plaintext listener", plaintext, "no answer within 2s", []kgo.Opt{kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true}), kgo.DialTimeout(2 * time.Second)}},
		{"plaintext to a TLS listener", withTLS, "TLS", nil},
		{"no SASL to a SASL listener", withSASL, "SASL", nil},
		{"wrong SASL password", withSASL, "", []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "wrong"}.AsMechanism())}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			begin := time.Now()
			_, err := Read(ctx, append([]kgo.Opt{kgo.SeedBrokers(c.broker)}, c.opts...), "x.dlq", 0)
			took := time.Since(begin)
			var ue *BrokersUnreachableError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.broker) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("err %v, want a BrokersUnreachableError naming %s and saying %q", err, c.broker, c.why)
			}
			if took > 45*time.Second {
				t.Errorf("gave up after %s: too close to the deadline", took)
			}
			t.Logf("%s: %v", took.Round(time.Millisecond), err)
		})
	}
}

func TestLimitHistoryRoundTrip(t *testing.T) {
	var h LimitHistory
	h = h.Add(3, 0, 10)
	h = h.Add(3, 10, 15) // the same limit, adjacent: one span
	h = h.Add(5, 15, 20)
	h = h.Add(5, 20, 20) // nothing read: no span
	if got := h.String(); got != "zohosink.max_replays 3:0-15 5:15-20" {
		t.Fatalf("history %q", got)
	}
	back := ParseLimitHistory(h.String())
	for off, want := range map[int64]int{0: 3, 14: 3, 15: 5, 19: 5} {
		if got, ok := back.At(off); !ok || got != want {
			t.Errorf("at %d: %d %v, want %d", off, got, ok, want)
		}
	}
	if _, ok := back.At(20); ok {
		t.Error("offset 20 was not read by any replay")
	}
	// After a reset a partition is read again: the newest span wins.
	back = back.Add(4, 0, 20)
	if got, _ := back.At(3); got != 4 {
		t.Errorf("after a re-read: %d, want 4", got)
	}
	// franz-go's own metadata (the member id), or garbage: no history.
	for _, meta := range []string{"", "kgo-1234-abcd", "zohosink.max_replays x:1-2", "zohosink.max_replays 3:9-2"} {
		if h := ParseLimitHistory(meta); h != nil {
			t.Errorf("%q parsed as %v", meta, h)
		}
	}
	long := LimitHistory{}
	for i := range 200 {
		long = long.Add(i%2+3, int64(i), int64(i+1))
	}
	if len(long) != limitHistoryMax || len(long.String()) > 4096 {
		t.Errorf("%d spans, %d bytes of metadata", len(long), len(long.String()))
	}
}

func TestDeadLetterStates(t *testing.T) {
	named := func(d Letter, sync string) Letter { d.Sync = sync; return d }
	dls := []Letter{
		named(dl("a", 0, 1, 0, 0, 0), "s"), // 0: failed again at 4
		named(dl("a", 0, 2, 0, 0, 1), "s"), // 1: written by the first replay
		named(dl("a", 0, 3, 3, 0, 2), "s"), // 2: at the default limit: left
		named(dl("a", 0, 4, 0, 0, 3), "gone"),
		named(dl("a", 0, 1, 1, 0, 4), "s"), // 4: newest of a/0@1, pending
		named(dl("a", 0, 5, 3, 1, 0), "s"), // 5: count 3 read with --max-replays 5: written
		named(dl("a", 0, 6, 5, 1, 1), "s"), // 6: count 5 read with 5: left
		named(dl("a", 0, 7, 0, 2, 0), "s"), // 7: no progress in partition 2: pending
	}
	prog := ReplayProgress{
		Committed: map[int32]int64{0: 4, 1: 2},
		limits:    map[int32]LimitHistory{1: {{5, 0, 2}}},
	}
	got := States(dls, prog, func(s string) bool { return s == "s" })
	want := []string{"superseded", "replayed", "left (replayed 3 times)", `left (no sync "gone" in the config)`, "pending", "replayed", "left (replayed 5 times)", "pending"}
	for i := range dls {
		if got[i].String() != want[i] {
			t.Errorf("dead letter %d (%s): %q, want %q", i, where(dls[i : i+1])[0], got[i], want[i])
		}
	}
	// No progress at all: every newest copy is pending.
	for i, st := range States(dls, ReplayProgress{}, func(string) bool { return true }) {
		if want := map[bool]string{true: "superseded", false: "pending"}[i == 0]; st.State != want {
			t.Errorf("no progress, dead letter %d: %s, want %s", i, st, want)
		}
	}
}

func TestNewestCopies(t *testing.T) {
	n := Copies{}
	dls := []Letter{dl("a", 0, 1, 0, 0, 0), dl("a", 0, 2, 0, 0, 1), dl("a", 0, 1, 1, 0, 2), dl("a", 0, 1, 2, 1, 0), {DLQOffset: 9}}
	for _, d := range dls {
		n.Add(d)
	}
	for i, want := range []bool{true, false, true, false, false} {
		if got := n.Superseded(dls[i]); got != want {
			t.Errorf("%s superseded %v, want %v", where(dls[i : i+1])[0], got, want)
		}
	}
	// A copy the scan did not see (after the replay's end) is its own.
	if n.Superseded(dl("b", 0, 1, 0, 0, 10)) {
		t.Error("an unknown source is superseded")
	}
}
