package schema

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// The JSON-converter fixtures from Debezium's documentation and test
// resources. Documentation snippets (.jsonc) are made strict by jsonc().
func TestDecodeJSONFixtures(t *testing.T) {
	anne := Row{"id": int64(1004), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
	anneMarie := Row{"id": int64(1004), "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
	anne32 := Row{"id": int32(1004), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}

	tests := []struct {
		file       string
		fix        func([]byte) []byte
		op         Op
		before     Row
		after      Row
		src        Source
		ts         time.Time
		flattened  bool
		msgContent string
	}{
		{file: "docs/pg_doc_create_event_value_json_with_schema.json", op: OpCreate,
			after: Row{"id": int32(1), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
			src:   Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Schema: "public", Table: "customers", Snapshot: "true", TsMs: 1559033904863, LSN: 24023128, TxID: "555"},
			ts:    time.UnixMilli(1559033904863)},
		{file: "docs/pg_doc_update_event_value.jsonc", op: OpUpdate, before: Row{"id": int64(1)},
			after: Row{"id": int64(1), "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
			src:   Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Schema: "public", Table: "customers", Snapshot: "false", TsMs: 1559033904863, LSN: 24023128, TxID: "556"},
			ts:    time.UnixMilli(1559033904863)},
		{file: "docs/pg_doc_delete_event_value.jsonc", op: OpDelete, before: Row{"id": int64(1)},
			src: Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Schema: "public", Table: "customers", Snapshot: "false", TsMs: 1559033904863, LSN: 46523128, TxID: "556"},
			ts:  time.UnixMilli(1559033904863)},
		{file: "docs/pg_doc_truncate_event_value.jsonc", op: OpTruncate,
			src: Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Schema: "public", Table: "customers", Snapshot: "false", TsMs: 1559033904863, LSN: 46523128, TxID: "556"},
			ts:  time.UnixMilli(1559033904863)},
		{file: "docs/pg_doc_message_event_transactional.jsonc", op: OpMessage, msgContent: "bg\xf2", // the documentation's "Ymfy" (not "YmFy")
			src: Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Snapshot: "false", TsMs: 1559033904863, LSN: 46523128, TxID: "556"},
			ts:  time.UnixMilli(1559033904863)},
		// The documentation snippet lacks one closing brace.
		{file: "docs/pg_doc_message_event_nontransactional.jsonc", fix: func(b []byte) []byte { return append(b, '}') }, op: OpMessage, msgContent: "bg\xf2", // the documentation's "Ymfy" (not "YmFy")
			src: Source{Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Snapshot: "false", TsMs: 1559033904863, LSN: 46523128},
			ts:  time.UnixMilli(1559033904863)},
		{file: "docs/pg_doc_envelope_with_transaction_field.jsonc", op: OpCreate, after: Row{"pk": "2", "aa": "1"},
			src: Source{TxID: "571:53195832"}, ts: time.UnixMilli(1580390884335)},
		{file: "docs/mysql_doc_create_event_value_json_with_schema.json", op: OpCreate,
			after: Row{"id": int32(1004), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
			src:   Source{Connector: "{context}", Name: "{context}-server-1", DB: "inventory", Table: "customers", Snapshot: "false", File: "{context}-bin.000003", Pos: 154},
			ts:    time.UnixMilli(1465491411815)}, // source.ts_ms is 0: the envelope's ts_ms
		{file: "docs/mysql_doc_update_event_value.jsonc", op: OpUpdate, before: anne, after: anneMarie,
			src: Source{Connector: "{context}", Name: "{context}-server-1", DB: "inventory", Table: "customers", Snapshot: "false", TsMs: 1465581029100, File: "{context}-bin.000003", Pos: 484},
			ts:  time.UnixMilli(1465581029100)},
		{file: "docs/mysql_doc_delete_event_value.jsonc", op: OpDelete, before: anneMarie,
			src: Source{Connector: "{context}", Name: "{context}-server-1", DB: "inventory", Table: "customers", Snapshot: "false", TsMs: 1465581902300, File: "{context}-bin.000003", Pos: 805},
			ts:  time.UnixMilli(1465581902300)},
		{file: "docs/mysql_doc_truncate_event_value.jsonc", op: OpTruncate,
			src: Source{Connector: "{context}", Name: "{context}-server-1", DB: "inventory", Table: "customers", Snapshot: "false", TsMs: 1465581029100, File: "{context}-bin.000003", Pos: 484},
			ts:  time.UnixMilli(1465581029100)},
		{file: "docs/tutorial_mysql_snapshot_read_value_1004_json_with_schema.json", op: OpRead, after: anne32},
		{file: "docs/tutorial_mysql_update_value_1004.jsonc", op: OpUpdate, before: anne, after: anneMarie,
			src: Source{Name: "dbserver1", DB: "inventory", Table: "customers", File: "mysql-bin.000003", Pos: 364}, ts: time.UnixMilli(1486501486308)},
		{file: "docs/tutorial_mysql_delete_value_1004.jsonc", op: OpDelete, before: anneMarie,
			src: Source{Name: "dbserver1", DB: "inventory", Table: "customers", File: "mysql-bin.000003", Pos: 725}, ts: time.UnixMilli(1486501558315)},
		{file: "json/debezium-core-test_serde-without-schema.json", op: OpCreate, after: anne,
			src: Source{Connector: "mysql", Name: "mysql-server-1", DB: "inventory", Table: "customers", Snapshot: "false", File: "mysql-bin.000003", Pos: 154},
			ts:  time.UnixMilli(1465491411815)},
		{file: "json/debezium-core-test_serde-update.json", op: OpUpdate,
			before: Row{"id": int64(1004), "first_name": "Anne-Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"}, after: anne,
			src: Source{Connector: "mysql", Name: "mysql-server-1", DB: "inventory", Table: "customers", Snapshot: "false", File: "mysql-bin.000003", Pos: 154},
			ts:  time.UnixMilli(1465491411815)},
		{file: "json/debezium-core-test_serde-with-schema.json", op: OpCreate, after: anne32,
			src: Source{Connector: "mysql", Name: "mysql-server-1", DB: "inventory", Table: "customers", Snapshot: "false", File: "mysql-bin.000003", Pos: 154},
			ts:  time.UnixMilli(1465491411815)},
		{file: "json/debezium-core-test_serde-unwrapped.json", op: OpCreate, after: anne, flattened: true},
		{file: "unwrap/unwrap_doc_output_after_flattening.json", op: OpCreate, after: Row{"field1": "newvalue1", "field2": "newvalue2"}, flattened: true},
	}
	d := newDecoder(t)
	kafkaTime := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := jsonc(readFixture(t, tt.file))
			if tt.fix != nil {
				b = tt.fix(b)
			}
			ch := decode(t, d, Message{Topic: "json", Value: b, Timestamp: kafkaTime})
			if ch.Op != tt.op {
				t.Errorf("op = %v, want %v", ch.Op, tt.op)
			}
			if !reflect.DeepEqual(ch.Before, tt.before) {
				t.Errorf("before = %#v\nwant %#v", ch.Before, tt.before)
			}
			if !reflect.DeepEqual(ch.After, tt.after) {
				t.Errorf("after = %#v\nwant %#v", ch.After, tt.after)
			}
			if (tt.src != Source{}) && ch.Source != tt.src {
				t.Errorf("source = %+v\nwant %+v", ch.Source, tt.src)
			}
			want := tt.ts
			if want.IsZero() {
				want = kafkaTime
			}
			if (tt.src != Source{} || !tt.ts.IsZero()) && !ch.Timestamp.Equal(want) {
				t.Errorf("timestamp = %v, want %v", ch.Timestamp, want)
			}
			if ch.Flattened != tt.flattened || ch.SchemaID != 0 {
				t.Errorf("flattened = %v schemaID = %d", ch.Flattened, ch.SchemaID)
			}
			if tt.msgContent != "" && (ch.Message == nil || ch.Message.Prefix != "foo" || string(ch.Message.Content) != tt.msgContent) {
				t.Errorf("message = %+v", ch.Message)
			}
		})
	}
}

// Flink's capture of a Debezium 1.2 PostgreSQL topic without schemas.
func TestDecodeJSONLines(t *testing.T) {
	d := newDecoder(t, WithFormat(FormatJSON))
	lines := bytes.Split(readFixture(t, "json/flink_debezium-postgres-data-schema-exclude.jsonl"), []byte("\n"))
	var ops []Op
	for i, l := range lines {
		ch := decode(t, d, Message{Topic: "fullfillment.inventory.products", Offset: int64(i), Value: l})
		ops = append(ops, ch.Op)
		if ch.Source.Table != "products" || ch.Source.Schema != "inventory" || ch.Source.TxID == "" {
			t.Errorf("line %d source = %+v", i, ch.Source)
		}
		if i == 0 {
			want := Row{"id": int64(101), "name": "scooter", "description": "Small 2-wheel scooter", "weight": dec("314", 2)}
			if !reflect.DeepEqual(ch.After, want) {
				t.Errorf("after = %#v", ch.After)
			}
		}
	}
	want := []Op{OpRead, OpRead, OpRead, OpRead, OpRead, OpRead, OpRead, OpRead, OpRead, OpUpdate, OpUpdate, OpCreate, OpCreate, OpUpdate, OpUpdate, OpDelete}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("ops = %v, want %v", ops, want)
	}
}

// Connect JSON with schemas: semantic types through name/parameters,
// base64 decimals, 64-bit integers beyond 2^53.
func TestDecodeJSONWithSchemaLogicalTypes(t *testing.T) {
	value := `{"schema":{"type":"struct","name":"pg.public.t.Value","fields":[
		{"field":"big","type":"int64"},
		{"field":"price","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}},
		{"field":"num","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3"}},
		{"field":"born","type":"int32","name":"io.debezium.time.Date","version":1},
		{"field":"at","type":"int64","name":"io.debezium.time.MicroTimestamp","version":1},
		{"field":"zoned","type":"string","name":"io.debezium.time.ZonedTimestamp","version":1},
		{"field":"doc","type":"string","name":"io.debezium.data.Json","version":1},
		{"field":"flags","type":"string","name":"io.debezium.data.EnumSet","parameters":{"allowed":"a,b"}},
		{"field":"vsd","type":"struct","name":"io.debezium.data.VariableScaleDecimal","fields":[{"field":"scale","type":"int32"},{"field":"value","type":"bytes"}]},
		{"field":"bit","type":"bytes","name":"io.debezium.data.Bits","parameters":{"length":"1"}},
		{"field":"toasted","type":"string","optional":true},
		{"field":"tags","type":"array","items":{"type":"string"}}
	]},"payload":{"big":9007199254740993,"price":"AeI=","num":12.5,"born":-1,"at":1700000000123456,
		"zoned":"2024-01-01T00:00:00+01:00","doc":"{\"a\":1}","flags":"b","vsd":{"scale":1,"value":"Cw=="},"bit":"AQ==",
		"toasted":"__debezium_unavailable_value","tags":["x"]}}`
	d := newDecoder(t)
	ch := decode(t, d, Message{Topic: "pg.public.t", Value: []byte(value)})
	want := Row{
		"big": int64(9007199254740993), "price": dec("482", 2), "num": dec("12500", 3), "born": Date{1969, 12, 31},
		"at": time.UnixMicro(1700000000123456).UTC(), "zoned": time.Date(2023, 12, 31, 23, 0, 0, 0, time.UTC),
		"doc": JSON(`{"a":1}`), "flags": []string{"b"}, "vsd": dec("11", 1), "bit": true, "toasted": Unavailable{}, "tags": []string{"x"},
	}
	if !ch.Flattened || !reflect.DeepEqual(ch.After, want) {
		t.Errorf("after = %#v\nwant %#v", ch.After, want)
	}
}

func TestDecodeFlattened(t *testing.T) {
	reg, cl := registry(t)
	schemaText := `{"type":"record","name":"Value","namespace":"shop.public.orders","fields":[
		{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null},
		{"name":"__deleted","type":["null","string"],"default":null},
		{"name":"__op","type":["null","string"],"default":null},
		{"name":"__table","type":["null","string"],"default":null},
		{"name":"__lsn","type":["null","long"],"default":null},
		{"name":"__source_ts_ms","type":["null","long"],"default":null}],"connect.name":"shop.public.orders.Value"}`
	id := register(t, reg, "shop.public.orders-value", schemaText)
	d := newDecoder(t, WithRegistry(cl))
	kafkaTime := time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)
	row := func(deleted, op any, ts any) map[string]any {
		return map[string]any{"id": int64(5), "note": u("string", "n"), "__deleted": deleted, "__op": op,
			"__table": u("string", "orders"), "__lsn": u("long", int64(777)), "__source_ts_ms": ts}
	}
	plain := Row{"id": int64(5), "note": "n"}
	tests := []struct {
		name          string
		native        any
		op            Op
		before, after Row
		ts            time.Time
	}{
		{"update with add.fields", row(u("string", "false"), u("string", "u"), u("long", int64(1700000000000))), OpUpdate, nil, plain, time.UnixMilli(1700000000000)},
		{"snapshot read", row(u("string", "false"), u("string", "r"), nil), OpRead, nil, plain, kafkaTime},
		{"rewrite delete: __deleted true", row(u("string", "true"), u("string", "d"), nil), OpDelete, plain, nil, kafkaTime},
		{"__deleted true without __op", row(u("string", "true"), nil, nil), OpDelete, plain, nil, kafkaTime},
		{"__op d without __deleted", row(nil, u("string", "d"), nil), OpDelete, plain, nil, kafkaTime},
		{"no __op: create (upsert)", row(nil, nil, nil), OpCreate, nil, plain, kafkaTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := decode(t, d, Message{Topic: "shop.public.orders", Timestamp: kafkaTime, Value: encode(t, id, schemaText, tt.native)})
			if !ch.Flattened || ch.Op != tt.op {
				t.Errorf("flattened %v op %v, want %v", ch.Flattened, ch.Op, tt.op)
			}
			if !reflect.DeepEqual(ch.Before, tt.before) || !reflect.DeepEqual(ch.After, tt.after) {
				t.Errorf("before %#v after %#v", ch.Before, ch.After)
			}
			if ch.Source.Table != "orders" || ch.Source.LSN != 777 {
				t.Errorf("source = %+v", ch.Source)
			}
			if !ch.Timestamp.Equal(tt.ts) {
				t.Errorf("timestamp = %v, want %v", ch.Timestamp, tt.ts)
			}
		})
	}
	// ExtractNewRecordState's default delete: a null value.
	ch := decode(t, d, Message{Topic: "shop.public.orders", Key: []byte(`{"id":5}`)})
	if ch.Op != OpTombstone || ch.KeyString != `{"id":5}` {
		t.Errorf("null value: %+v", ch)
	}
	// The documented add.fields snippet, as schemaless JSON (strings for __lsn
	// and __source_ts_ms, as documented).
	js := decode(t, d, Message{Topic: "t", Value: []byte(`{"pk":2,"cola":null,"__op":"c","__table":"MY_TABLE","__lsn":"123456789","__source_ts_ms":"123456789"}`)})
	if js.Op != OpCreate || js.Source.Table != "MY_TABLE" || js.Source.LSN != 123456789 || !js.Timestamp.Equal(time.UnixMilli(123456789)) ||
		!reflect.DeepEqual(js.After, Row{"pk": int64(2), "cola": nil}) {
		t.Errorf("add.fields json: %+v", js)
	}
}

func TestDecodeJSONRewriteDeleteFixture(t *testing.T) {
	// The fixture is the fragment `"value": {...}`: decode its value.
	frag := jsonc(readFixture(t, "unwrap/unwrap_doc_rewrite_delete___deleted.jsonc"))
	val := bytes.TrimPrefix(frag, []byte(`"value": `))
	ch := decode(t, newDecoder(t), Message{Topic: "t", Value: val})
	if ch.Op != OpDelete || ch.After != nil || !ch.Flattened || !reflect.DeepEqual(ch.Before, Row{"pk": int64(2), "cola": nil}) {
		t.Errorf("rewrite delete: %+v", ch)
	}
}
