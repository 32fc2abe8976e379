package schema

import (
	"os"
	"testing"
)

func TestColumnsOf(t *testing.T) {
	data, err := os.ReadFile("testdata/debezium/avro/hamba-avro_concurrent_parse_test_postgres_envelope_dbz2x.avsc")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := ColumnsOf(string(data))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range cols {
		got[c.Name] = c.Kind
	}
	for name, kind := range map[string]string{"tenant": KindString, "updated_at": KindTimestamp, "tags": KindArray, "schema": KindLong} {
		if got[name] != kind {
			t.Errorf("column %s: kind %q, want %q (all: %v)", name, got[name], kind, got)
		}
	}
	flat := `{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},{"name":"born","type":{"type":"int","connect.name":"io.debezium.time.Date"}},
		{"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}]},{"name":"__deleted","type":"string"}]}`
	cols, err = ColumnsOf(flat)
	if err != nil || len(cols) != 3 || cols[1].Kind != KindDate || cols[2].Kind != KindDecimal || cols[0].Kind != KindInt {
		t.Fatalf("flattened: %v %v", cols, err)
	}
	if _, err := ColumnsOf(`"string"`); err == nil {
		t.Fatal("a non-record schema must be an error")
	}
}
