package schema

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Small fixtures written for these tests (shapes learnt from Debezium's
// documentation and from events other projects publish).

func decodeJSON(t *testing.T, topic, key, value string) (Change, error) {
	t.Helper()
	d := newDecoder(t)
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	return d.Decode(context.Background(), Message{Topic: topic, Key: k, Value: []byte(value), Timestamp: time.UnixMilli(42)})
}

func mustJSON(t *testing.T, topic, key, value string) Change {
	t.Helper()
	ch, err := decodeJSON(t, topic, key, value)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestOpNamesAndRowChanges(t *testing.T) {
	for op, want := range map[Op]string{OpCreate: "c", OpRead: "r", OpUpdate: "u", OpDelete: "d", OpTruncate: "t", OpMessage: "m",
		OpTombstone: "tombstone", OpHeartbeat: "heartbeat", OpTransaction: "transaction", OpSchemaChange: "schema_change", 0: "unknown"} {
		if op.String() != want {
			t.Errorf("%q.String() = %q, want %q", byte(op), op.String(), want)
		}
		if row := op == OpCreate || op == OpRead || op == OpUpdate || op == OpDelete; op.IsRowChange() != row {
			t.Errorf("%v.IsRowChange() = %v", op, !row)
		}
	}
}

func TestNotRowChangesAreRecognised(t *testing.T) {
	for _, tc := range []struct {
		name, topic, value string
		want               Op
	}{
		{"heartbeat with schema", "x", `{"schema":{"type":"struct","name":"io.debezium.connector.common.Heartbeat","fields":[{"field":"ts_ms","type":"int64"}]},"payload":{"ts_ms":1700000000000}}`, OpHeartbeat},
		{"heartbeat schemaless", "x", `{"ts_ms":1700000000000}`, OpHeartbeat},
		{"heartbeat by topic", "__debezium-heartbeat.shop", `{"ts_ms":1700000000000,"extra":1}`, OpHeartbeat},
		{"transaction begin schemaless", "x", `{"status":"BEGIN","id":"571","ts_ms":1,"event_count":null,"data_collections":null}`, OpTransaction},
		{"transaction end by topic", "shop.transaction", `{"status":"END","id":"571","event_count":2}`, OpTransaction},
		{"schema change 2.x", "shop", `{"source":{"connector":"mysql","ts_ms":5},"databaseName":"inv","schemaName":null,"ddl":"CREATE TABLE t (id INT)","tableChanges":[]}`, OpSchemaChange},
		{"schema change by name", "shop", `{"schema":{"type":"struct","name":"io.debezium.connector.postgresql.SchemaChangeValue","fields":[{"field":"ddl","type":"string"}]},"payload":{"ddl":"x"}}`, OpSchemaChange},
		{"table row with a status column", "shop.public.jobs", `{"id":1,"status":"BEGIN"}`, OpCreate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := mustJSON(t, tc.topic, "", tc.value)
			if ch.Op != tc.want {
				t.Fatalf("op = %v, want %v", ch.Op, tc.want)
			}
			if !tc.want.IsRowChange() && (ch.After != nil || ch.Before != nil) {
				t.Fatalf("a %v carries a row: %v", ch.Op, ch.After)
			}
		})
	}
	ch := mustJSON(t, "x", "", `{"source":{"ts_ms":5},"historyRecord":"{\"databaseName\":\"db1\",\"ddl\":\"ALTER TABLE t ADD c INT\"}"}`)
	if ch.SchemaChange == nil || ch.SchemaChange.Database != "db1" || ch.SchemaChange.DDL != "ALTER TABLE t ADD c INT" || ch.Timestamp != time.UnixMilli(5).UTC() {
		t.Fatalf("history record = %+v %v", ch.SchemaChange, ch.Timestamp)
	}
}

func TestAvroHeartbeatIsNotARow(t *testing.T) {
	reg, cl := registry(t)
	const hb = `{"type":"record","name":"Heartbeat","namespace":"io.debezium.connector.common","fields":[{"name":"ts_ms","type":"long"},{"name":"note","type":"string"}],"connect.name":"io.debezium.connector.common.Heartbeat"}`
	id := register(t, reg, "hb-value", hb)
	d := newDecoder(t, WithRegistry(cl))
	ch := decode(t, d, Message{Topic: "x", Value: encode(t, id, hb, map[string]any{"ts_ms": int64(1565787098802), "note": "n"})})
	if ch.Op != OpHeartbeat || ch.Timestamp != time.UnixMilli(1565787098802).UTC() {
		t.Fatalf("change = %+v", ch)
	}
}

func TestJSONConverterFloatAndDouble(t *testing.T) {
	v := `{"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after","fields":[{"type":"int32","field":"id"},{"type":"float","field":"f"},{"type":"double","field":"d"},{"type":"int8","field":"i8"}]},{"type":"string","field":"op"}]},
"payload":{"after":{"id":1,"f":1.25,"d":-2.5e-3,"i8":-8},"op":"c"}}`
	ch := mustJSON(t, "x", "", v)
	if ch.After["f"] != float32(1.25) || ch.After["d"] != -0.0025 || ch.After["i8"] != int32(-8) {
		t.Fatalf("after = %#v", ch.After)
	}
}

func TestPayloadWithoutSchemaIsUnwrapped(t *testing.T) {
	for _, v := range []string{
		`{"payload":{"before":null,"after":{"id":7},"source":{"ts_ms":1},"op":"c"}}`,
		`{"schema":null,"payload":{"before":null,"after":{"id":7},"source":{"ts_ms":1},"op":"c"}}`,
		`{"schema":{},"payload":{"before":null,"after":{"id":7},"source":{"ts_ms":1},"op":"c"}}`,
	} {
		ch := mustJSON(t, "x", "", v)
		if ch.Op != OpCreate || ch.After["id"] != int64(7) || len(ch.After) != 1 {
			t.Fatalf("%s: %+v", v, ch)
		}
	}
}

func TestSourceMetadataIsLenient(t *testing.T) {
	// Vitess's documented schema types source.vgtid as int64; the connector
	// sends a string. The row is still read strictly.
	v := `{"schema":{"type":"struct","fields":[
 {"type":"struct","optional":true,"field":"after","fields":[{"type":"int32","field":"id"}]},
 {"type":"struct","field":"source","fields":[{"type":"int64","field":"ts_ms"},{"type":"int64","field":"vgtid"},{"type":"string","field":"table"}]},
 {"type":"struct","optional":true,"field":"ts_us"},
 {"type":"string","field":"op"}]},
"payload":{"after":{"id":1},"source":{"ts_ms":1559033904000,"vgtid":"[{\"keyspace\":\"commerce\"}]","table":"customers"},"ts_us":1,"op":"c"}}`
	ch := mustJSON(t, "x", "", v)
	if ch.Op != OpCreate || ch.After["id"] != int32(1) || ch.Source.Table != "customers" || ch.Source.TsMs != 1559033904000 {
		t.Fatalf("change = %+v", ch)
	}
	bad := strings.Replace(v, `"after":{"id":1}`, `"after":{"id":"one"}`, 1)
	if _, err := decodeJSON(t, "x", "", bad); err == nil || !IsPerRecord(err) {
		t.Fatalf("a row value of the wrong type must stay an error: %v", err)
	}
}

func TestSchemalessVariableScaleDecimal(t *testing.T) {
	ch := mustJSON(t, "x", "", `{"after":{"n":{"scale":2,"value":"MDk="}},"op":"r"}`)
	if d, ok := ch.After["n"].(Decimal); !ok || d.String() != "123.45" {
		t.Fatalf("n = %#v", ch.After["n"])
	}
}

func TestRefusedShapesSayWhatToDo(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{`[1,2]`, "JsonConverter"},
		{`{"after":null,"patch":"{\"$set\":{\"a\":1}}","source":{"connector":"mongodb"},"op":"u"}`, "capture.mode"},
		{`{"after":null,"updateDescription":{"updatedFields":"{\"a\":1}"},"source":{"connector":"mongodb"},"op":"u"}`, "change_streams_update_full"},
		{`{"schema":{"type":"struct","fields":[{"type":"float128","field":"x"}]},"payload":{"x":1}}`, "int64, float, double"},
		{`{"after":"not a document","op":"c"}`, "MongoDB document"},
	} {
		_, err := decodeJSON(t, "x", "", tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.value, err, tc.want)
		}
	}
	d := newDecoder(t)
	_, err := d.Decode(context.Background(), Message{Topic: "x", Value: []byte("plain text")})
	if err == nil || !strings.Contains(err.Error(), "value.converter") {
		t.Errorf("plain text value: %v", err)
	}
}

func TestSchemalessHint(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{int64(19439), "DATE sent as days since 1970-01-01 (2023-03-23)"},
		{int32(0), "(1970-01-01)"},
		{int64(1679581805000), "milliseconds since 1970 (2023-03-23T14:30:05Z)"},
		{int64(1679581805123456), "microseconds"},
		{int64(1734382927000000000), "nanoseconds"},
		{"MDk=", "base64 of its unscaled value (12345"},
		{Row{"scale": int32(2), "value": []byte{1}}, "VariableScaleDecimal"},
		{"hello world", ""},
		{"2024-01-01", ""},
		{3.5, ""},
		{nil, ""},
	} {
		got := SchemalessHint(tc.v)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("SchemalessHint(%#v) = %q, want it to contain %q", tc.v, got, tc.want)
		}
	}
	if h := SchemalessHint("AeJA"); !strings.Contains(h, "decimal.handling.mode=string") {
		t.Errorf("decimal hint names no setting: %q", h)
	}
	if h := SchemalessHint(int64(19439)); !strings.Contains(h, "schemas.enable=true") {
		t.Errorf("date hint names no setting: %q", h)
	}
}
