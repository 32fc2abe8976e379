package connector

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter headers (CONTRACT.md). The __connect.errors.* names are Kafka
// Connect's error reporter's, so tools that read Connect's dead letters read
// ours.
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

// dlqHeaderNames are the headers zohosink adds; a replayed record's copies
// of them are replaced, not repeated.
var dlqHeaderNames = map[string]bool{
	hdrTopic: true, hdrPartition: true, hdrOffset: true, hdrConnector: true, hdrStage: true, hdrMessage: true,
	hdrModule: true, hdrOperation: true, hdrCode: true, hdrField: true, hdrReplayCount: true,
}

type dlqInfo struct {
	sync, module, stage, op, code, field, msg string
}

// deadLetterer writes rejected records to the dead-letter topic.
type deadLetterer struct {
	cl    *kgo.Client
	topic string
}

// send produces a copy of the consumed record with the error headers. done is
// called once Kafka acknowledged it (err nil) or refused it for good.
//
// A record that is being replayed (it carries zohosink.replay.count and the
// original __connect.errors.* headers) keeps its original topic, partition
// and offset, so the dead-letter topic always points at the source record.
func (d *deadLetterer) send(orig *kgo.Record, info dlqInfo, done func(error)) {
	rec := &kgo.Record{Topic: d.topic, Key: orig.Key, Value: orig.Value}
	origin := map[string]string{
		hdrTopic:     orig.Topic,
		hdrPartition: strconv.Itoa(int(orig.Partition)),
		hdrOffset:    strconv.FormatInt(orig.Offset, 10),
	}
	replays := "0"
	for _, h := range orig.Headers {
		switch h.Key {
		case hdrReplayCount:
			replays = string(h.Value)
			continue
		case hdrTopic, hdrPartition, hdrOffset:
			origin[h.Key] = string(h.Value)
			continue
		}
		if dlqHeaderNames[h.Key] {
			continue
		}
		rec.Headers = append(rec.Headers, h)
	}
	add := func(k, v string) { rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(hdrTopic, origin[hdrTopic])
	add(hdrPartition, origin[hdrPartition])
	add(hdrOffset, origin[hdrOffset])
	add(hdrConnector, info.sync)
	add(hdrStage, info.stage)
	add(hdrMessage, info.msg)
	add(hdrModule, info.module)
	add(hdrOperation, info.op)
	add(hdrCode, info.code)
	add(hdrField, info.field)
	add(hdrReplayCount, replays)
	// Not tied to any run context: a dead letter produced is acknowledged or
	// refused by Kafka, never cancelled by a shutdown racing it.
	d.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done(err) })
}
