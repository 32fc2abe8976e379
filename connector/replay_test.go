package connector

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A replayed dead letter is consumed at the dead-letter topic's partition and
// offset (its checkpoint's), but logs and messages name its source record.
func TestReplayedRecordNamesItsSource(t *testing.T) {
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	replayed := inRecord{rec: &kgo.Record{Topic: "wh.public.leads", Partition: 3, Offset: 0,
		Headers: []kgo.RecordHeader{hdr(hdrTopic, "wh.public.leads"), hdr(hdrPartition, "0"), hdr(hdrOffset, "38"), hdr(hdrReplayCount, "1")}}}
	if got := replayed.where(); got != "wh.public.leads/0@38" {
		t.Errorf("replayed record is %s, want its source wh.public.leads/0@38", got)
	}
	// A source record that happens to carry Connect's error headers (say,
	// from another connector's dead-letter topic) is where it is.
	plain := inRecord{rec: &kgo.Record{Topic: "wh.public.leads", Partition: 2, Offset: 7,
		Headers: []kgo.RecordHeader{hdr(hdrPartition, "0"), hdr(hdrOffset, "38")}}}
	if got := plain.where(); got != "wh.public.leads/2@7" {
		t.Errorf("source record is %s, want wh.public.leads/2@7", got)
	}
}
