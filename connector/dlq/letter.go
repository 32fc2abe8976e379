package dlq

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter headers (README.md, "The dead-letter topic"; docs/design.md,
// "Dead letters"). The __connect.errors.* names are Kafka Connect's error
// reporter's, so tools that read Connect's dead letters read ours.
const (
	hdrTopic       = "__connect.errors.topic"
	hdrPartition   = "__connect.errors.partition"
	hdrOffset      = "__connect.errors.offset"
	hdrConnector   = "__connect.errors.connector.name"
	hdrStage       = "__connect.errors.stage"
	hdrMessage     = "__connect.errors.exception.message"
	hdrModule      = "zoho.module"
	hdrOperation   = "zoho.operation"
	hdrCode        = "zoho.code"
	hdrField       = "zoho.field"
	hdrReplayCount = "zohosink.replay.count"
)

// ours are the headers zohosink adds; a replayed record's copies of them
// are replaced, not repeated.
var ours = map[string]bool{
	hdrTopic: true, hdrPartition: true, hdrOffset: true, hdrConnector: true, hdrStage: true, hdrMessage: true,
	hdrModule: true, hdrOperation: true, hdrCode: true, hdrField: true, hdrReplayCount: true,
}

// Letter is one record of the dead-letter topic, with its headers read.
type Letter struct {
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
	Field       string `json:"field"`
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

// Parse reads the headers zohosink wrote on a dead-letter record.
func Parse(r *kgo.Record) Letter {
	d := Letter{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, DLQPartition: r.Partition, DLQOffset: r.Offset, rec: r}
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

// Info is why a record is dead-lettered.
type Info struct {
	Sync, Module, Stage, Operation, Code, Field, Message string
}

// New returns the dead letter of a consumed record for topic: its key,
// value and own headers, and the headers that say where it came from and
// why it was set aside. A record being replayed (it carries
// zohosink.replay.count and the origin headers, see ForReplay) keeps its
// origin and its replay count, so a dead letter always points at the
// source record.
func New(orig *kgo.Record, topic string, info Info) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Key: orig.Key, Value: orig.Value, Headers: theirs(orig.Headers)}
	origin := [3]string{orig.Topic, strconv.Itoa(int(orig.Partition)), strconv.FormatInt(orig.Offset, 10)}
	replays := "0"
	for _, h := range orig.Headers {
		switch h.Key {
		case hdrReplayCount:
			replays = string(h.Value)
		case hdrTopic:
			origin[0] = string(h.Value)
		case hdrPartition:
			origin[1] = string(h.Value)
		case hdrOffset:
			origin[2] = string(h.Value)
		}
	}
	for _, kv := range [...][2]string{
		{hdrTopic, origin[0]}, {hdrPartition, origin[1]}, {hdrOffset, origin[2]},
		{hdrConnector, info.Sync}, {hdrStage, info.Stage}, {hdrMessage, info.Message},
		{hdrModule, info.Module}, {hdrOperation, info.Operation}, {hdrCode, info.Code},
		{hdrField, info.Field}, {hdrReplayCount, replays},
	} {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
	}
	return rec
}

// ForReplay returns the record a replay hands to its sync in place of the
// dead letter l: the source record's topic, the dead letter's partition and
// offset (what the replay commits), the record's own headers, its origin
// headers, and the replay count raised by one.
func ForReplay(l Letter) *kgo.Record {
	rec := l.rec
	out := &kgo.Record{Topic: l.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value,
		Timestamp: rec.Timestamp, LeaderEpoch: rec.LeaderEpoch, Headers: theirs(rec.Headers)}
	for _, h := range rec.Headers {
		switch h.Key {
		case hdrTopic, hdrPartition, hdrOffset:
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: hdrReplayCount, Value: []byte(strconv.Itoa(l.ReplayCount + 1))})
	return out
}

// Replayed reports whether a record came from a replay (ForReplay): its
// source is then in its origin headers (Parse), not its own position.
func Replayed(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == hdrReplayCount {
			return true
		}
	}
	return false
}

// Copy returns a new record of l for topic, with the same key, value,
// headers and timestamp: what dlq replay --from-start appends to the end of
// the topic for a record an earlier replay left.
func (l Letter) Copy(topic string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: l.rec.Key, Value: l.rec.Value, Headers: l.rec.Headers, Timestamp: l.rec.Timestamp}
}

// theirs returns the headers that are not zohosink's.
func theirs(hs []kgo.RecordHeader) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		if !ours[h.Key] {
			out = append(out, h)
		}
	}
	return out
}
