package schematest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Collection is a MongoDB collection captured by Debezium's MongoDB
// connector (2.x, change streams with capture.mode
// change_streams_update_full). Documents are given as extended JSON text,
// exactly as the connector puts them in before and after, for example
//
//	{"_id": {"$oid": "67ab25755c0d5ac87eb8c632"}, "n": {"$numberLong": "5"}}
//
// The record key is {"id": "<extended JSON of _id>"}.
type Collection struct {
	Prefix string // topic.prefix
	DB     string
	Name   string
}

// Topic is Debezium's topic name for the collection: prefix.db.collection.
func (c Collection) Topic() string { return c.Prefix + "." + c.DB + "." + c.Name }

// documentID returns the extended JSON text of a document's _id.
func documentID(doc string) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &fields); err != nil {
		return "", fmt.Errorf("schematest: document is not extended JSON: %w", err)
	}
	id, ok := fields["_id"]
	if !ok {
		return "", fmt.Errorf("schematest: document has no _id")
	}
	return string(id), nil
}

func (c Collection) eventID(before, after string) (string, error) {
	doc := after
	if doc == "" {
		doc = before
	}
	if doc == "" {
		return "", fmt.Errorf("schematest: an event needs a before or an after document")
	}
	return documentID(doc)
}

func (c Collection) source(op byte, ts time.Time) map[string]any {
	snapshot := "false"
	if op == 'r' {
		snapshot = "true"
	}
	return map[string]any{
		"version": "2.7.3.Final", "connector": "mongodb", "name": c.Prefix, "ts_ms": ts.UnixMilli(),
		"snapshot": snapshot, "db": c.DB, "sequence": nil, "collection": c.Name, "ord": 1,
		"lsid": nil, "txnNumber": nil, "wallTime": nil,
	}
}

func mongoSourceSchema() map[string]any {
	f := func(name, typ string, optional bool) any {
		return map[string]any{"type": typ, "optional": optional, "field": name}
	}
	return map[string]any{
		"type": "struct", "optional": false, "name": "io.debezium.connector.mongo.Source", "field": "source",
		"fields": []any{f("version", "string", false), f("connector", "string", false), f("name", "string", false), f("ts_ms", "int64", false),
			map[string]any{"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
				"parameters": map[string]string{"allowed": "true,last,false,incremental"}, "default": "false", "field": "snapshot"},
			f("db", "string", false), f("sequence", "string", true), f("collection", "string", false), f("ord", "int32", false),
			f("lsid", "string", true), f("txnNumber", "int64", true), f("wallTime", "int64", true)},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// JSONEvent encodes one change of the collection as the MongoDB connector
// writes it with JsonConverter: op is 'c', 'r', 'u' or 'd'; before and
// after are documents as extended JSON text, "" for none (a delete without
// pre-images has neither: its key alone says which document went). With
// schemas, key and value are {"schema", "payload"}; without, bare.
func (c Collection) JSONEvent(op byte, before, after string, ts time.Time, schemas bool) (key, value []byte, err error) {
	id, err := c.eventID(before, after)
	if err != nil {
		return nil, nil, err
	}
	k := map[string]any{"id": id}
	v := map[string]any{
		"before": nullable(before), "after": nullable(after), "updateDescription": nil,
		"source": c.source(op, ts), "op": string(op), "ts_ms": ts.UnixMilli() + 3, "transaction": nil,
	}
	if schemas {
		jsonField := func(name string) any {
			return map[string]any{"type": "string", "optional": true, "name": "io.debezium.data.Json", "version": 1, "field": name}
		}
		k = map[string]any{"schema": map[string]any{"type": "struct", "optional": false, "name": c.Topic() + ".Key",
			"fields": []any{map[string]any{"type": "string", "optional": false, "field": "id"}}}, "payload": k}
		v = map[string]any{"schema": map[string]any{"type": "struct", "optional": false, "name": c.Topic() + ".Envelope",
			"fields": []any{jsonField("before"), jsonField("after"),
				map[string]any{"type": "struct", "optional": true, "name": "io.debezium.connector.mongodb.changestream.updatedescription", "version": 1, "field": "updateDescription",
					"fields": []any{
						map[string]any{"type": "array", "optional": true, "field": "removedFields", "items": map[string]any{"type": "string", "optional": false}},
						jsonField("updatedFields"),
					}},
				mongoSourceSchema(),
				map[string]any{"type": "string", "optional": true, "field": "op"},
				map[string]any{"type": "int64", "optional": true, "field": "ts_ms"},
				transactionBlockSchema()}}, "payload": v}
	}
	if key, err = json.Marshal(k); err != nil {
		return nil, nil, err
	}
	value, err = json.Marshal(v)
	return key, value, err
}

// MongoKeySchema and MongoValueSchema are the Avro schemas AvroConverter
// registers for the collection's keys and change events.
func (c Collection) MongoKeySchema() string {
	return `{"type":"record","name":"Key","namespace":"` + c.Topic() + `","fields":[{"name":"id","type":"string"}],"connect.name":"` + c.Topic() + `.Key"}`
}

// MongoValueSchema: see MongoKeySchema.
func (c Collection) MongoValueSchema() string {
	jsonType := `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}`
	return strings.NewReplacer("TOPIC", c.Topic(), "JSONT", jsonType).Replace(`{"type":"record","name":"Envelope","namespace":"TOPIC","fields":[
{"name":"before","type":["null",JSONT],"default":null},
{"name":"after","type":["null",JSONT],"default":null},
{"name":"updateDescription","type":["null",{"type":"record","name":"updatedescription","namespace":"io.debezium.connector.mongodb.changestream","fields":[
 {"name":"removedFields","type":["null",{"type":"array","items":"string"}],"default":null},
 {"name":"updatedFields","type":["null",JSONT],"default":null}],"connect.name":"io.debezium.connector.mongodb.changestream.updatedescription"}],"default":null},
{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.mongo","fields":[
 {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},
 {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},
 {"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},{"name":"collection","type":"string"},{"name":"ord","type":"int"},
 {"name":"lsid","type":["null","string"],"default":null},{"name":"txnNumber","type":["null","long"],"default":null},{"name":"wallTime","type":["null","long"],"default":null}],
 "connect.name":"io.debezium.connector.mongo.Source"}},
{"name":"op","type":["null","string"],"default":null},
{"name":"ts_ms","type":["null","long"],"default":null},
{"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[{"name":"id","type":"string"},{"name":"total_order","type":"long"},{"name":"data_collection_order","type":"long"}],"connect.version":1,"connect.name":"event.block"}],"default":null}
],"connect.version":1,"connect.name":"TOPIC.Envelope"}`)
}

// CollectionEncoder writes the Avro change events of one collection.
type CollectionEncoder struct {
	c              Collection
	keyID, valueID int
	keyCodec       *goavro.Codec
	valueCodec     *goavro.Codec
}

// NewCollectionEncoder builds an Avro encoder whose events carry the given
// schema ids.
func NewCollectionEncoder(c Collection, keyID, valueID int) (*CollectionEncoder, error) {
	kc, err := goavro.NewCodec(c.MongoKeySchema())
	if err != nil {
		return nil, fmt.Errorf("schematest: key schema of %s: %w", c.Name, err)
	}
	vc, err := goavro.NewCodec(c.MongoValueSchema())
	if err != nil {
		return nil, fmt.Errorf("schematest: value schema of %s: %w", c.Name, err)
	}
	return &CollectionEncoder{c: c, keyID: keyID, valueID: valueID, keyCodec: kc, valueCodec: vc}, nil
}

// RegisterCollection registers the collection's key and value schemas
// (subjects <topic>-key and <topic>-value) and returns an encoder using
// their ids.
func RegisterCollection(ctx context.Context, cl *sr.Client, c Collection) (*CollectionEncoder, error) {
	k, err := cl.CreateSchema(ctx, c.Topic()+"-key", sr.Schema{Schema: c.MongoKeySchema(), Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("schematest: register %s-key: %w", c.Topic(), err)
	}
	v, err := cl.CreateSchema(ctx, c.Topic()+"-value", sr.Schema{Schema: c.MongoValueSchema(), Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("schematest: register %s-value: %w", c.Topic(), err)
	}
	return NewCollectionEncoder(c, k.ID, v.ID)
}

// Event encodes one change as Confluent-framed Avro, with the rules of
// Collection.JSONEvent.
func (e *CollectionEncoder) Event(op byte, before, after string, ts time.Time) (key, value []byte, err error) {
	id, err := e.c.eventID(before, after)
	if err != nil {
		return nil, nil, err
	}
	kb, err := e.keyCodec.BinaryFromNative(nil, map[string]any{"id": id})
	if err != nil {
		return nil, nil, fmt.Errorf("schematest: key of %s: %w", e.c.Name, err)
	}
	doc := func(s string) any {
		if s == "" {
			return nil
		}
		return goavro.Union("string", s)
	}
	src := e.c.source(op, ts)
	src["snapshot"] = goavro.Union("string", src["snapshot"])
	src["ord"] = int32(1)
	native := map[string]any{
		"before": doc(before), "after": doc(after), "updateDescription": nil, "source": src,
		"op": goavro.Union("string", string(op)), "ts_ms": goavro.Union("long", ts.UnixMilli()+3), "transaction": nil,
	}
	vb, err := e.valueCodec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, nil, fmt.Errorf("schematest: %c event of %s: %w", op, e.c.Name, err)
	}
	return frame(e.keyID, kb), frame(e.valueID, vb), nil
}
