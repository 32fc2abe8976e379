package schema

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const (
	pgEnvelope    = "avro/hamba-avro_concurrent_parse_test_postgres_envelope_dbz2x.avsc"
	mysqlEnvelope = "avro/risingwave_debezium_avro_msg_schema_mysql_customers-value.avsc"
	mysqlKey      = "avro/risingwave_avro_parser_rs_test_key_schema_dbserver1.inventory.customers-key.avsc"
	flinkEnvelope = "avro/flink_debezium-test-schema_mysql_envelope.avsc"
	wireMessage   = "wire/risingwave_DEBEZIUM_AVRO_DATA_mysql_customers_value.bin"
)

// The real wire message, served under its real id 6 (srfake's SeedSchema
// fixes the id, so the bytes are used unchanged).
func TestDecodeRealWireMessage(t *testing.T) {
	reg, cl := registry(t)
	schemaText := string(readFixture(t, mysqlEnvelope))
	reg.SeedSchema("dbserver1.inventory.customers-value", 1, 6, sr.Schema{Schema: schemaText})
	d := newDecoder(t, WithRegistry(cl))

	value := readFixture(t, wireMessage)
	ch := decode(t, d, Message{Topic: "dbserver1.inventory.customers", Partition: 0, Offset: 42, Value: value})

	if ch.Op != OpRead {
		t.Errorf("op = %v, want r", ch.Op)
	}
	want := Row{"id": int32(1001), "first_name": "Sally", "last_name": "Thomas", "email": "sally.thomas@acme.com"}
	if !reflect.DeepEqual(ch.After, want) {
		t.Errorf("after = %#v, want %#v", ch.After, want)
	}
	if ch.Before != nil || ch.SchemaID != 6 || ch.Flattened || ch.Offset != 42 {
		t.Errorf("before=%v schemaID=%d flattened=%v offset=%d", ch.Before, ch.SchemaID, ch.Flattened, ch.Offset)
	}

	// goavro, decoding the same bytes on its own, is the oracle for source.
	codec, err := goavro.NewCodec(schemaText)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(value[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v, %d bytes left", err, len(rest))
	}
	src := native.(map[string]any)["source"].(map[string]any)
	wantSrc := Source{
		Connector: src["connector"].(string), Name: src["name"].(string), DB: src["db"].(string),
		Table: src["table"].(map[string]any)["string"].(string), Snapshot: src["snapshot"].(map[string]any)["string"].(string),
		TsMs: src["ts_ms"].(int64), File: src["file"].(string), Pos: src["pos"].(int64),
	}
	if ch.Source != wantSrc {
		t.Errorf("source = %+v, want %+v", ch.Source, wantSrc)
	}
	if ch.Source.Connector != "mysql" || ch.Source.Table != "customers" || ch.Source.DB != "inventory" {
		t.Errorf("source = %+v", ch.Source)
	}
	if !ch.Timestamp.Equal(time.UnixMilli(wantSrc.TsMs)) {
		t.Errorf("timestamp = %v, want source.ts_ms %d", ch.Timestamp, wantSrc.TsMs)
	}
}

func pgSource(ts int64) map[string]any {
	return map[string]any{
		"version": "2.6.1.Final", "connector": "postgresql", "name": "changefeed", "ts_ms": ts,
		"snapshot": u("string", "false"), "db": "shop", "sequence": u("string", `["1","2"]`),
		"ts_us": u("long", ts*1000), "ts_ns": nil, "schema": "public", "table": "kvs",
		"txId": u("long", int64(556)), "lsn": u("long", int64(24023128)), "xmin": nil,
	}
}

func kvsRow(version string) map[string]any {
	return map[string]any{
		"tenant": "t1", "store": "s1", "partition_key": "p", "sort_key": "k", "version": version,
		"updated_at": "2024-03-01T10:15:30.5+01:00",
		"tags":       u("array", []any{u("string", "a"), nil}),
		"data":       u("string", "payload"), "encoding": nil, "schema": u("long", int64(3)), "lookup_keys": nil,
	}
}

func wantKvs(version string) Row {
	return Row{
		"tenant": "t1", "store": "s1", "partition_key": "p", "sort_key": "k", "version": version,
		"updated_at": time.Date(2024, 3, 1, 9, 15, 30, 500_000_000, time.UTC),
		"tags":       []any{"a", nil}, "data": "payload", "encoding": nil, "schema": int64(3), "lookup_keys": nil,
	}
}

func TestDecodeEnvelopeOps(t *testing.T) {
	reg, cl := registry(t)
	pgSchema := string(readFixture(t, pgEnvelope))
	pgID := register(t, reg, "changefeed.public.kvs-value", pgSchema)
	d := newDecoder(t, WithRegistry(cl))
	const valueName = "changefeed.pg.testtenant_teststore_abc_kv.public.kvs.Value"
	const ts = int64(1700000000123)
	kafkaTime := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name          string
		op            string
		before, after any
		tx            any
		srcTs         int64
		envTs         any
		wantOp        Op
		wantBefore    Row
		wantAfter     Row
		wantTx        string
		wantTime      time.Time
	}{
		{name: "create", op: "c", after: u(valueName, kvsRow("1")), srcTs: ts, wantOp: OpCreate, wantAfter: wantKvs("1"), wantTx: "556", wantTime: time.UnixMilli(ts).UTC()},
		{name: "snapshot read", op: "r", after: u(valueName, kvsRow("1")), srcTs: ts, wantOp: OpRead, wantAfter: wantKvs("1"), wantTx: "556", wantTime: time.UnixMilli(ts).UTC()},
		{name: "update with transaction", op: "u", before: u(valueName, kvsRow("1")), after: u(valueName, kvsRow("2")),
			tx:    u("event.block", map[string]any{"id": "571:53195832", "total_order": int64(1), "data_collection_order": int64(1)}),
			srcTs: ts, wantOp: OpUpdate, wantBefore: wantKvs("1"), wantAfter: wantKvs("2"), wantTx: "571:53195832", wantTime: time.UnixMilli(ts).UTC()},
		{name: "delete", op: "d", before: u(valueName, kvsRow("2")), srcTs: ts, wantOp: OpDelete, wantBefore: wantKvs("2"), wantTx: "556", wantTime: time.UnixMilli(ts).UTC()},
		{name: "truncate", op: "t", srcTs: ts, wantOp: OpTruncate, wantTx: "556", wantTime: time.UnixMilli(ts).UTC()},
		{name: "no source time falls back to envelope ts_ms", op: "c", after: u(valueName, kvsRow("1")), srcTs: 0, envTs: u("long", ts+5),
			wantOp: OpCreate, wantAfter: wantKvs("1"), wantTx: "556", wantTime: time.UnixMilli(ts + 5).UTC()},
		{name: "no time at all falls back to the record timestamp", op: "c", after: u(valueName, kvsRow("1")), srcTs: 0,
			wantOp: OpCreate, wantAfter: wantKvs("1"), wantTx: "556", wantTime: kafkaTime},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			native := map[string]any{
				"before": tt.before, "after": tt.after, "source": pgSource(tt.srcTs), "transaction": tt.tx,
				"op": tt.op, "ts_ms": tt.envTs, "ts_us": nil, "ts_ns": nil,
			}
			m := Message{Topic: "changefeed.public.kvs", Partition: 2, Offset: int64(i), Timestamp: kafkaTime,
				Value: encode(t, pgID, pgSchema, native)}
			ch := decode(t, d, m)
			if ch.Op != tt.wantOp {
				t.Errorf("op = %v, want %v", ch.Op, tt.wantOp)
			}
			if !reflect.DeepEqual(ch.Before, tt.wantBefore) {
				t.Errorf("before = %#v\nwant %#v", ch.Before, tt.wantBefore)
			}
			if !reflect.DeepEqual(ch.After, tt.wantAfter) {
				t.Errorf("after = %#v\nwant %#v", ch.After, tt.wantAfter)
			}
			wantSrc := Source{Connector: "postgresql", Name: "changefeed", DB: "shop", Schema: "public", Table: "kvs",
				Snapshot: "false", TsMs: tt.srcTs, LSN: 24023128, TxID: tt.wantTx}
			if ch.Source != wantSrc {
				t.Errorf("source = %+v, want %+v", ch.Source, wantSrc)
			}
			if !ch.Timestamp.Equal(tt.wantTime) {
				t.Errorf("timestamp = %v, want %v", ch.Timestamp, tt.wantTime)
			}
			if ch.Topic != m.Topic || ch.Partition != 2 || ch.Offset != int64(i) || ch.SchemaID != pgID {
				t.Errorf("position = %s/%d@%d id %d", ch.Topic, ch.Partition, ch.Offset, ch.SchemaID)
			}
		})
	}
}

// The Debezium 1.x MySQL envelope (ConnectDefault transaction, no
// connect.version) and its Avro key, with a tombstone after the delete.
func TestDecodeMySQL1xWithKeyAndTombstone(t *testing.T) {
	reg, cl := registry(t)
	valSchema := string(readFixture(t, flinkEnvelope))
	keySchema := string(readFixture(t, mysqlKey))
	valID := register(t, reg, "fullfillment.test1.person-value", valSchema)
	keyID := register(t, reg, "fullfillment.test1.person-key", keySchema)
	d := newDecoder(t, WithRegistry(cl))

	key := encode(t, keyID, keySchema, map[string]any{"id": int32(1001)})
	src := map[string]any{"version": "1.9.7.Final", "connector": "mysql", "name": "fullfillment", "ts_ms": int64(1589355606000),
		"snapshot": u("string", "true"), "db": "test1", "table": u("string", "person"), "server_id": int64(223344), "gtid": nil,
		"file": "mysql-bin.000003", "pos": int64(154), "row": int32(0), "thread": nil, "query": nil}
	before := map[string]any{"id": int64(1001), "name": u("string", "scooter"), "description": nil, "weight": u("double", 3.14)}
	value := encode(t, valID, valSchema, map[string]any{
		"before": u("fullfillment.test1.person.Value", before), "after": nil, "source": src, "op": "d",
		"ts_ms":       u("long", int64(1589355606100)),
		"transaction": u("io.confluent.connect.avro.ConnectDefault", map[string]any{"id": "file=mysql-bin.000003,pos=154", "total_order": int64(1), "data_collection_order": int64(1)}),
	})

	del := decode(t, d, Message{Topic: "fullfillment.test1.person", Key: key, Value: value, Offset: 7})
	if del.Op != OpDelete || del.After != nil {
		t.Fatalf("op = %v after = %v", del.Op, del.After)
	}
	if want := (Row{"id": int64(1001), "name": "scooter", "description": nil, "weight": 3.14}); !reflect.DeepEqual(del.Before, want) {
		t.Errorf("before = %#v", del.Before)
	}
	if !reflect.DeepEqual(del.Key, Row{"id": int32(1001)}) || del.KeyString != `{"id":1001}` {
		t.Errorf("key = %#v %q", del.Key, del.KeyString)
	}
	if del.Source.TxID != "file=mysql-bin.000003,pos=154" || del.Source.File != "mysql-bin.000003" || del.Source.Pos != 154 || del.Source.Snapshot != "true" {
		t.Errorf("source = %+v", del.Source)
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tomb := decode(t, d, Message{Topic: "fullfillment.test1.person", Key: key, Value: nil, Offset: 8, Timestamp: at})
	if tomb.Op != OpTombstone || tomb.KeyString != del.KeyString || tomb.Before != nil || tomb.After != nil || !tomb.Timestamp.Equal(at) {
		t.Errorf("tombstone = %+v", tomb)
	}
}

func TestDecodeKeys(t *testing.T) {
	reg, cl := registry(t)
	keySchema := string(readFixture(t, mysqlKey))
	keyID := register(t, reg, "dbserver1.inventory.customers-key", keySchema)
	strKeyID := register(t, reg, "strkeys-key", `"string"`)
	compositeSchema := `{"type":"record","name":"Key","namespace":"shop.public.lines","fields":[{"name":"order_id","type":"long"},{"name":"line","type":"int"},{"name":"sku","type":"string"}],"connect.name":"shop.public.lines.Key"}`
	compID := register(t, reg, "shop.public.lines-key", compositeSchema)
	d := newDecoder(t, WithRegistry(cl))

	tests := []struct {
		name    string
		key     []byte
		wantKey Row
		wantStr string
	}{
		{"avro record", encode(t, keyID, keySchema, map[string]any{"id": int32(1001)}), Row{"id": int32(1001)}, `{"id":1001}`},
		{"json with schema", readFixture(t, "docs/mysql_doc_key_json_with_schema.json"), Row{"id": int32(1001)}, `{"id":1001}`},
		{"tutorial json key with schema", readFixture(t, "docs/tutorial_mysql_key_1004.json"), Row{"id": int32(1004)}, `{"id":1004}`},
		{"pg doc key: connect schema in the field's schema, INT32 as text", jsonc(readFixture(t, "docs/pg_doc_key_json_with_schema.jsonc")), Row{"id": int32(1)}, `{"id":1}`},
		{"plain json object", []byte(` {"id": 1001}`), Row{"id": int64(1001)}, `{"id":1001}`},
		{"string converter", []byte("CUST-0042"), Row{"": "CUST-0042"}, `{"":"CUST-0042"}`},
		{"avro string", encode(t, strKeyID, `"string"`, "CUST-0042"), Row{"": "CUST-0042"}, `{"":"CUST-0042"}`},
		{"composite: sorted names", encode(t, compID, compositeSchema, map[string]any{"order_id": int64(77), "line": int32(2), "sku": `A"1`}),
			Row{"order_id": int64(77), "line": int32(2), "sku": `A"1`}, `{"line":2,"order_id":77,"sku":"A\"1"}`},
		{"null key", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := decode(t, d, Message{Topic: "keys", Key: tt.key})
			if !reflect.DeepEqual(ch.Key, tt.wantKey) {
				t.Errorf("key = %#v, want %#v", ch.Key, tt.wantKey)
			}
			if ch.KeyString != tt.wantStr {
				t.Errorf("KeyString = %q, want %q", ch.KeyString, tt.wantStr)
			}
			if ch.Op != OpTombstone {
				t.Errorf("op = %v, want tombstone for a null value", ch.Op)
			}
		})
	}
}

func TestKeyStringCanonical(t *testing.T) {
	d1 := mustDecimal("1001.00")
	tests := []struct {
		name string
		a, b Row
	}{
		{"int32 vs int64", Row{"id": int32(5)}, Row{"id": int64(5)}},
		{"decimal trailing zeros vs integer", Row{"id": d1}, Row{"id": int64(1001)}},
		{"order of columns", Row{"a": "x", "b": int32(1)}, Row{"b": int64(1), "a": "x"}},
		{"timestamps in other zones", Row{"t": time.Date(2024, 1, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))}, Row{"t": time.Date(2024, 1, 1, 11, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		if KeyString(tt.a) != KeyString(tt.b) {
			t.Errorf("%s: %q != %q", tt.name, KeyString(tt.a), KeyString(tt.b))
		}
	}
	if KeyString(Row{"id": "1"}) == KeyString(Row{"id": int64(1)}) {
		t.Error("string \"1\" and number 1 must differ")
	}
	if KeyString(Row{"a": "x,b=1"}) == KeyString(Row{"a": "x", "b": int64(1)}) {
		t.Error("separators inside values must not collide")
	}
}

func mustDecimal(s string) Decimal {
	d, ok := parseDecimalLiteral(s)
	if !ok {
		panic(s)
	}
	return d
}

// Schema evolution mid-partition: id A, then B (column added, one removed,
// int widened to long), then A again, with no restart.
func TestDecodeSchemaEvolution(t *testing.T) {
	reg, cl := registry(t)
	envelope := func(valueFields string) string {
		return `{"type":"record","name":"Envelope","namespace":"shop.public.customers","fields":[
			{"name":"before","type":["null",{"type":"record","name":"Value","fields":[` + valueFields + `],"connect.name":"shop.public.customers.Value"}],"default":null},
			{"name":"after","type":["null","Value"],"default":null},
			{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
				{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},{"name":"db","type":"string"},
				{"name":"schema","type":"string"},{"name":"table","type":"string"},{"name":"lsn","type":["null","long"],"default":null}]}},
			{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null}],
			"connect.name":"shop.public.customers.Envelope"}`
	}
	schemaA := envelope(`{"name":"id","type":"int"},{"name":"email","type":["null","string"],"default":null}`)
	schemaB := envelope(`{"name":"id","type":"long"},{"name":"phone","type":["null","string"],"default":null}`)
	idA := register(t, reg, "shop.public.customers-value", schemaA)
	idB := register(t, reg, "shop.public.customers-value", schemaB)
	if idA == idB {
		t.Fatal("registry gave both schemas one id")
	}
	d := newDecoder(t, WithRegistry(cl))
	src := map[string]any{"connector": "postgresql", "name": "shop", "ts_ms": int64(1), "db": "shop", "schema": "public", "table": "customers", "lsn": nil}
	msgs := []struct {
		value []byte
		want  Row
		id    int
	}{
		{encode(t, idA, schemaA, map[string]any{"after": u("shop.public.customers.Value", map[string]any{"id": int32(1), "email": u("string", "a@x.io")}), "source": src, "op": "c"}),
			Row{"id": int32(1), "email": "a@x.io"}, idA},
		{encode(t, idB, schemaB, map[string]any{"after": u("shop.public.customers.Value", map[string]any{"id": int64(1) << 40, "phone": u("string", "+33 1")}), "source": src, "op": "c"}),
			Row{"id": int64(1) << 40, "phone": "+33 1"}, idB},
		{encode(t, idA, schemaA, map[string]any{"after": u("shop.public.customers.Value", map[string]any{"id": int32(2), "email": nil}), "source": src, "op": "c"}),
			Row{"id": int32(2), "email": nil}, idA},
	}
	for i, m := range msgs {
		ch := decode(t, d, Message{Topic: "shop.public.customers", Partition: 0, Offset: int64(i), Value: m.value})
		if !reflect.DeepEqual(ch.After, m.want) || ch.SchemaID != m.id {
			t.Errorf("offset %d: after = %#v (id %d), want %#v (id %d)", i, ch.After, ch.SchemaID, m.want, m.id)
		}
	}
}

func TestDecodeFraming(t *testing.T) {
	reg, cl := registry(t)
	schemaText := string(readFixture(t, mysqlEnvelope))
	reg.SeedSchema("dbserver1.inventory.customers-value", 1, 6, sr.Schema{Schema: schemaText})
	d := newDecoder(t, WithRegistry(cl))
	good := readFixture(t, wireMessage)

	tests := []struct {
		name    string
		m       Message
		is      error
		stage   string
		id      int
		errText string
	}{
		{"too short", Message{Value: []byte{0, 0, 0}}, ErrBadFraming, "value", 0, "too short"},
		{"other magic", Message{Value: []byte{7, 0, 0, 0, 6, 2}}, ErrBadFraming, "value", 0, "neither Confluent-framed Avro"},
		{"other magic, format avro", Message{Value: []byte{'{', 0, 0, 0, 6, 2}}, ErrBadFraming, "value", 0, "magic byte 0x7b"},
		{"guid framing", Message{Value: append([]byte{1}, make([]byte, 20)...)}, ErrUnsupportedFraming, "value", 0, "GUID"},
		{"id in header", Message{Value: good[5:], Headers: []Header{{Key: "__value_schema_id", Value: []byte("6")}}}, ErrUnsupportedFraming, "value", 0, "__value_schema_id"},
		{"key id in header", Message{Key: []byte("k"), Value: good, Headers: []Header{{Key: "__key_schema_id", Value: []byte("6")}}}, ErrUnsupportedFraming, "key", 0, "__key_schema_id"},
		{"trailing bytes", Message{Value: append(append([]byte{}, good...), 0, 0)}, nil, "value", 6, "2 bytes after the datum"},
		{"truncated datum", Message{Value: good[:len(good)-20]}, nil, "value", 6, "ends early"},
		{"not json", Message{Value: []byte(`{"op":`)}, nil, "value", 0, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Topic, tt.m.Partition, tt.m.Offset = "orders", 2, 1234
			dec := d
			if strings.Contains(tt.name, "format avro") {
				dec = newDecoder(t, WithRegistry(cl), WithFormat(FormatAvro))
			}
			_, err := dec.Decode(context.Background(), tt.m)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Class != PerRecord || IsRetryable(err) || !IsPerRecord(err) {
				t.Errorf("class = %v, want per-record", e.Class)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
			if e.Stage != tt.stage || e.SchemaID != tt.id || e.Topic != "orders" || e.Partition != 2 || e.Offset != 1234 {
				t.Errorf("error fields = %+v", e)
			}
			if !strings.Contains(err.Error(), tt.errText) || !strings.HasPrefix(err.Error(), "schema: decode "+tt.stage+" of orders/2@1234") {
				t.Errorf("message %q, want it to contain %q", err, tt.errText)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Class: PerRecord, Topic: "orders", Partition: 2, Offset: 1234, SchemaID: 7, Stage: "value", Err: errors.New("boom")}
	if got, want := e.Error(), "schema: decode value of orders/2@1234 (schema id 7): boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if IsRetryable(nil) || IsPerRecord(nil) {
		t.Error("nil error has no class")
	}
}

func TestNewDecoderOptions(t *testing.T) {
	if _, err := NewDecoder(WithRegistryURL("::not a url", "u", "hunter2")); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad url: err = %v", err)
	}
	if _, err := NewDecoder(WithRegistryURL("http://user:hunter2@registry:8081", "", "")); err != nil {
		t.Errorf("url with credentials: %v", err)
	}
	if _, err := NewDecoder(WithFormat(Format(9))); err == nil {
		t.Error("unknown format accepted")
	}
	// Without a registry, Avro is a retryable (configuration) error.
	d := newDecoder(t)
	_, err := d.Decode(context.Background(), Message{Topic: "t", Value: readFixture(t, wireMessage)})
	if !errors.Is(err, ErrNoRegistry) || !IsRetryable(err) {
		t.Errorf("avro without registry: %v", err)
	}
}

// Bytes built to exhaust the decoder get a per-record error, not a crash,
// a hang or a huge allocation.
func TestDecodeHostileAvro(t *testing.T) {
	reg, cl := registry(t)
	flatID := register(t, reg, "flat-value", flatFuzzSchema)
	treeID := register(t, reg, "tree-value", treeFuzzSchema)
	d := newDecoder(t, WithRegistry(cl))

	deep := []byte{}
	for i := 0; i < 200; i++ {
		deep = append(deep, 0x02, 0x02) // v=1, next = branch 1 (Node)
	}
	deep = append(deep, 0x02, 0x00)
	nulls := []byte{0x02, 0x00, 0x02, 0x02, 'k'} // id=1, __deleted null, a map of one entry "k"
	for i := 0; i < 40; i++ {
		nulls = append(nulls, 0x80, 0x40) // a block of 4096 nulls
	}
	nulls = append(nulls, 0x00, 0x00)
	tests := []struct {
		name string
		id   int
		body []byte
		want string
	}{
		{"recursion", treeID, deep, "nested too deep"},
		{"null flood", flatID, nulls, "exceeds the datum"},
		{"negative length", flatID, []byte{0x02, 0x02, 0x01}, "negative length"},
		{"huge block count", flatID, []byte{0x02, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f}, "exceeds the datum"},
		{"varint overflow", flatID, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "malformed varint"},
		{"union index out of range", flatID, []byte{0x02, 0x08}, "union index 4 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(context.Background(), Message{Topic: "t", Value: framed(tt.id, tt.body)})
			if !IsPerRecord(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want per-record %q", err, tt.want)
			}
		})
	}
}
