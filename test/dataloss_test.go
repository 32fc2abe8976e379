package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"zohosink/zoho/zohotest"
)

// Kafka deleted records of a partition before the sync read them (retention,
// or DeleteRecords), while the sync held records it had read and not yet
// written. The deleted records are lost, and the log says which; the records
// the sync held are genuine and still written; it goes on from the log's new
// start, and the group's commits reach the end.
func TestRecordsDeletedBeforeTheyWereReadAreReportedAndTheRestWritten(t *testing.T) {
	topic := contactsTable.Topic()
	// Slow answers: the first records' write is still in flight when the
	// loss is found.
	s := newStack(t, 1, []string{topic}, zohotest.WithLatency(5*time.Second, 5*time.Second))
	enc := s.register(contactsTable)
	recs := contactRows(t, enc, 400) // id i at offset i
	s.produce(recs[:50]...)          // offsets 0-49
	adm := kadm.NewClient(s.cl)
	deleteTo := func(at int64) {
		t.Helper()
		deleted, err := adm.DeleteRecords(context.Background(), kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: at}}})
		if err != nil || deleted.Error() != nil {
			t.Fatalf("DeleteRecords: %v %v", err, deleted.Error())
		}
	}
	caughtUp := func() {
		t.Helper()
		eventually(t, 60*time.Second, "the group committed the end", func() (bool, string) { return s.committedAtEnd("loss", topic) })
	}
	var blockFetches atomic.Bool
	s.kafka.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.kafka.KeepControl()
		if _, fetch := req.(*kmsg.FetchRequest); fetch && blockFetches.Load() {
			return nil, errors.New("fetches held back by the test"), true
		}
		return nil, nil, false
	})

	cfg := contactsCfg(s, "loss", "loss-0", "30s", "200ms")
	p := start(t, nil, "run", "--config", cfg)
	base := "http://" + httpAddr(t, p)
	eventually(t, 30*time.Second, "the first records' write sent", func() (bool, string) {
		_, body := get(t, base+"/status")
		var st struct {
			Syncs []struct{ Consumed, Written, Waiting int64 }
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Syncs) != 1 {
			return false, body
		}
		c := st.Syncs[0]
		return c.Consumed == 50 && c.Waiting == 0 && c.Written == 0, body
	})
	// The consumer waits at offset 50 while 100 more records come and the
	// first 70 of them are deleted: its next fetch is below the log's start.
	blockFetches.Store(true)
	time.Sleep(time.Second) // the fetch waiting at the broker (250 ms) returns empty; the next are refused
	s.produce(recs[50:150]...)
	deleteTo(120)
	blockFetches.Store(false)

	caughtUp()
	checkLost(t, p, base, 50, 120, 120)
	p.stop(30 * time.Second)

	// Stopped longer than the topic's retention: the group's committed
	// offset (150) is below the log's start when the next process starts.
	s.produce(recs[150:200]...)
	deleteTo(180)
	p = start(t, nil, "run", "--config", cfg)
	caughtUp()
	checkLost(t, p, "http://"+httpAddr(t, p), 150, 180, 180)
	p.stop(30 * time.Second)

	// The same with start_offset latest, which franz-go follows when the
	// committed offset (200) is gone: it skips to the log's end, past
	// records the log still holds (220-249), which are not read either.
	s.produce(recs[200:250]...)
	deleteTo(220)
	latest := strings.Replace(s.configText(contactsConfig, map[string]string{"Group": "loss", "Instance": "loss-0", "Timeout": "30s", "Linger": "200ms"}), "kafka:\n", "kafka:\n  start_offset: latest\n", 1)
	path := filepath.Join(t.TempDir(), "latest.yaml")
	if err := os.WriteFile(path, []byte(latest), 0o600); err != nil {
		t.Fatal(err)
	}
	p = start(t, nil, "run", "--config", path)
	base = "http://" + httpAddr(t, p)
	// New records, one at a time, until one reaches Zoho: those produced
	// before the consumer's reset to the end are skipped too.
	inZoho := func(id int) bool {
		for _, rec := range s.sim.Records("Contacts") {
			if rec["Email"] == email(id) {
				return true
			}
		}
		return false
	}
	next, first := 250, -1
	for end := time.Now().Add(60 * time.Second); first < 0; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no record after the reset reached Zoho:\n%s", p.output())
		}
		if next < len(recs) {
			s.produce(recs[next])
			next++
		}
		for id := 250; id < next; id++ {
			if inZoho(id) {
				first = id
				break
			}
		}
	}
	caughtUp()
	checkLost(t, p, base, 200, first, 220)
	p.stop(30 * time.Second)

	for id := range next {
		if lost := id >= 50 && id < 120 || id >= 150 && id < 180 || id >= 200 && id < first; inZoho(id) == lost {
			t.Errorf("record %d (offset %d): in Zoho %v, want %v", id, id, inZoho(id), !lost)
		}
	}

	// A quiet table: its changes all expired while zohosink was stopped,
	// and none came since, so no fetch brings the poll a record to find
	// the loss by. It is told at the start, not with the table's next
	// change, and the group's commit moves past it.
	quiet := next
	s.produce(recs[quiet : quiet+30]...)
	deleteTo(int64(quiet + 30))
	p = start(t, nil, "run", "--config", cfg)
	caughtUp()
	checkLost(t, p, "http://"+httpAddr(t, p), quiet, quiet+30, quiet+30)
	p.stop(30 * time.Second)
	// So the next start does not tell it again: it writes the table's
	// next change, and says nothing of a loss.
	p = start(t, nil, "run", "--config", cfg)
	s.produce(recs[quiet+30])
	eventually(t, 60*time.Second, "the change after the quiet loss in Zoho", func() (bool, string) { return inZoho(quiet + 30), p.output() })
	if strings.Contains(p.output(), "kafka deleted records") {
		t.Errorf("the loss was told again after its offsets were committed:\n%s", p.output())
	}
	if _, metrics := get(t, "http://"+httpAddr(t, p)+"/metrics"); !strings.Contains(metrics, `zohosink_kafka_offsets_unread_total{topic="wh.public.customers"} 0`) {
		t.Errorf("/metrics counts offsets unread again:\n%s", grepLines(metrics, "unread"))
	}
	p.stop(30 * time.Second)
	for id := quiet; id < quiet+30; id++ {
		if inZoho(id) {
			t.Errorf("record %d, deleted unread, is in Zoho", id)
		}
	}
}

// checkLost asserts p said, in an error, in /status and in
// zohosink_kafka_offsets_unread_total, that offsets from to to-1 were not
// read, the log starting at logStart.
func checkLost(t *testing.T, p *proc, base string, from, to, logStart int) {
	t.Helper()
	skipped := ""
	if to > logStart {
		skipped = fmt.Sprintf("; %d to %d are still in the log, skipped by compaction or by kafka.start_offset: latest", logStart, to-1)
	}
	want := fmt.Sprintf("offsets %d to %d were not read (the log now starts at %d%s), so up to %d changes that had not reached Zoho are lost", from, to-1, logStart, skipped, to-from)
	found := false
	for line := range strings.Lines(p.output()) {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, fmt.Sprintf(`"first_unread":%d,"last_unread":%d,"log_start":%d,"unread":%d`, from, to-1, logStart, to-from)) && strings.Contains(line, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no error saying %q:\n%s", want, p.output())
	}
	if _, status := get(t, base+"/status"); !strings.Contains(status, want) {
		t.Errorf("/status does not say %q:\n%s", want, status)
	}
	if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, fmt.Sprintf(`zohosink_kafka_offsets_unread_total{topic="wh.public.customers"} %d`, to-from)) {
		t.Errorf("/metrics does not count %d offsets unread:\n%s", to-from, grepLines(metrics, "unread"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
