package test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic written in transactions (Debezium or Kafka Connect with
// exactly-once sources) is committed to its end: the transactions'
// markers, and an aborted transaction at the tail, are passed like done
// records (the limit shares count a partition caught up only there), and
// the aborted records are not written.
func TestTransactionsCommittedToTheirEnd(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx := txProducer(t, s, "eos-source")
	inTx := func(end kgo.TransactionEndTry, recs ...*kgo.Record) {
		t.Helper()
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := tx.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	inTx(kgo.TryCommit, newRecords(t, enc, 0, 5)...)
	inTx(kgo.TryAbort, newRecords(t, enc, 5, 3)...)

	p := startLoadProc(t, s.configText(contactsConfig, map[string]string{"Group": "tx", "Instance": "tx-0", "Timeout": "30s", "Linger": "100ms"}))
	var why string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, why = s.committedAtEnd("tx", topic); ok {
			break
		}
		if p.exited() || time.Now().After(end) {
			t.Fatalf("not committed to the end (%s):\n%s", why, p.output())
		}
	}
	if written := upserted(s); written != 5 {
		t.Errorf("%d records written, want the 5 committed", written)
	}
}

// An open transaction at a partition's tail (an exactly-once source is
// mostly inside one) is not a backlog: its records are not handed out
// until it ends, so the committed changes before it are written after
// linger, not held for later changes of their keys (backlog compaction
// holds writes up to 30 s while a sync is behind).
func TestOpenTransactionIsNotABacklog(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tx := txProducer(t, s, "eos-open")
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		if err := tx.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(newRecords(t, enc, 0, 5)...)
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(newRecords(t, enc, 5, 500)...) // open: more than a few batches past the committed ones

	p := startLoadProc(t, s.configText(contactsConfig, map[string]string{"Group": "txo", "Instance": "txo-0", "Timeout": "30s", "Linger": "100ms"}))
	written := func() int { return upserted(s) }
	// Held as a backlog, they would wait 30 s.
	for end := time.Now().Add(15 * time.Second); written() < 5; time.Sleep(50 * time.Millisecond) {
		if p.exited() || time.Now().After(end) {
			t.Fatalf("the 5 committed records not written within 15 s of the start (%d):\n%s", written(), p.output())
		}
	}
	if n := written(); n != 5 {
		t.Fatalf("%d records written while the transaction was open, want the 5 committed", n)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok, why := s.committedAtEnd("txo", topic)
		if ok && written() == 505 {
			break
		}
		if p.exited() || time.Now().After(end) {
			t.Fatalf("after the commit: %d of 505 written, committed at end %v (%s):\n%s", written(), ok, why, p.output())
		}
	}
}

// txProducer is a transactional producer of the stack's broker.
func txProducer(t *testing.T, s *stack, id string) *kgo.Client {
	t.Helper()
	tx, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.TransactionalID(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Close)
	return tx
}

// upserted counts the records Zoho accepted in upserts.
func upserted(s *stack) int {
	n := 0
	for _, r := range s.sim.Requests() {
		if r.Operation == "upsert" && r.Status == 200 {
			n += r.Records
		}
	}
	return n
}
