package schema

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	flatFuzzSchema = `{"type":"record","name":"V","fields":[{"name":"id","type":"long"},{"name":"__deleted","type":["null","string"]},{"name":"m","type":{"type":"map","values":{"type":"array","items":"null"}}}]}`
	treeFuzzSchema = `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`
)

// fuzzDecoder is a decoder backed by srfake holding the real schemas: the
// wire fixture's under id 6, the PostgreSQL 20-column envelope, its key, a
// flattened record and a recursive schema.
func fuzzDecoder(f testing.TB) (*Decoder, []int) {
	reg, cl := registry(f)
	reg.SeedSchema("dbserver1.inventory.customers-value", 1, 6, srSchema(string(readFixture(f, mysqlEnvelope))))
	ids := []int{6}
	for _, s := range []struct{ subject, text string }{
		{"shop.public.orders-value", ordersSchema},
		{"shop.public.orders-key", ordersKeySchema},
		{"pg-value", string(readFixture(f, pgEnvelope))},
		{"flat-value", flatFuzzSchema},
		{"tree-value", treeFuzzSchema},
	} {
		ids = append(ids, register(f, reg, s.subject, s.text))
	}
	return newDecoder(f, WithRegistry(cl)), ids
}

func addJSONSeeds(f *testing.F, add func([]byte)) {
	for _, dir := range []string{"json", "docs", "unwrap"} {
		files, _ := filepath.Glob(filepath.Join(fixtures, dir, "*.json*"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			add(jsonc(b))
		}
	}
}

// checkDecoded asserts what must hold for any input: no panic (the fuzzer
// catches that), and either a change with an op or an *Error with a class.
func checkDecoded(t *testing.T, ch Change, err error) {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || (e.Class != PerRecord && e.Class != Retryable) || e.Err == nil {
			t.Fatalf("error without a class: %#v", err)
		}
		if e.Class == Retryable {
			t.Fatalf("bytes alone made a retryable error: %v", err)
		}
		_ = err.Error()
		return
	}
	if ch.Op == 0 {
		t.Fatalf("change without op: %+v", ch)
	}
	_ = KeyString(ch.Key)
}

// FuzzDecodeFraming feeds arbitrary keys and values, framed or not.
func FuzzDecodeFraming(f *testing.F) {
	d, ids := fuzzDecoder(f)
	f.Add([]byte(nil), readFixture(f, wireMessage))
	f.Add([]byte(nil), ordersEvent(f, ids[1]))
	f.Add(encode(f, ids[2], ordersKeySchema, map[string]any{"id": int32(7)}), []byte(nil))
	f.Add([]byte("k"), []byte{1, 0, 0, 0, 0, 0})
	f.Add([]byte(`{"id":1}`), []byte{0, 0, 0, 0})
	addJSONSeeds(f, func(b []byte) { f.Add([]byte(nil), b) })
	for _, s := range nonRowSeeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		ch, err := d.Decode(context.Background(), Message{Topic: "fuzz", Key: key, Value: value})
		if err != nil && errors.Is(err, ErrUnknownSchema) {
			return // an id nobody registered: per-record, asserted below too
		}
		checkDecoded(t, ch, err)
	})
}

// FuzzDecodeEnvelope feeds arbitrary Avro bodies under each registered
// writer schema, and the same bytes as a JSON value.
func FuzzDecodeEnvelope(f *testing.F) {
	d, ids := fuzzDecoder(f)
	f.Add(uint8(0), readFixture(f, wireMessage)[5:])
	f.Add(uint8(1), ordersEvent(f, ids[1])[5:])
	f.Add(uint8(3), []byte{0, 2, 4, 0, 6, 0})
	f.Add(uint8(4), []byte{0x02, 0x61, 0x02, 0x02, 0x62, 0x00})
	addJSONSeeds(f, func(b []byte) { f.Add(uint8(0), b) })
	for _, s := range nonRowSeeds {
		f.Add(uint8(0), []byte(s[1]))
	}
	prior := Message{Topic: "fuzz", Value: ordersEvent(f, ids[1])}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		id := ids[int(which)%len(ids)]
		m := Message{Topic: "fuzz", Value: framed(id, body)}
		ch, err := d.Decode(context.Background(), m)
		checkDecoded(t, ch, err)
		// Decoding into the rows of an earlier change gives the same.
		var s Scratch
		if _, err := d.DecodeReusing(context.Background(), prior, &s); err != nil {
			t.Fatal(err)
		}
		re, rerr := d.DecodeReusing(context.Background(), m, &s)
		// (fmt's text where DeepEqual fails: a NaN is not equal to itself)
		if (err == nil) != (rerr == nil) || err == nil && !reflect.DeepEqual(re, ch) && fmt.Sprint(re) != fmt.Sprint(ch) {
			t.Fatalf("DecodeReusing = %+v, %v; Decode = %+v, %v", re, rerr, ch, err)
		}
		// A projection keeps the named columns of what decodes whole. It
		// may decode what does not (a value it skips need not convert),
		// but never fails where the whole decode succeeds.
		projected := []string{"ID", "status", "email", "name"}
		s.Project(projected)
		pr, perr := d.DecodeReusing(context.Background(), m, &s)
		if err == nil {
			if perr != nil {
				t.Fatalf("projected DecodeReusing failed: %v; Decode = %+v", perr, ch)
			}
			checkProjected(t, pr, ch, projected)
		}
		if len(body) > 0 {
			ch, err = d.Decode(context.Background(), Message{Topic: "fuzz", Value: body, Key: body})
			if err != nil && errors.Is(err, ErrUnknownSchema) {
				return
			}
			checkDecoded(t, ch, err)
		}
	})
}

// nonRowSeeds are key and value pairs of the shapes added for real
// Debezium output: MongoDB documents, heartbeats, transaction markers,
// schema changes, payload-only wrappers, JsonConverter float/double.
var nonRowSeeds = [][2]string{
	{`{"id":"{\"$oid\": \"67ab25755c0d5ac87eb8c632\"}"}`, `{"before":null,"after":"{\"_id\": {\"$oid\": \"67ab25755c0d5ac87eb8c632\"},\"n\": {\"$numberLong\": \"5\"},\"a\": {\"b\": {\"$date\": 1739455297970}},\"t\": [1, {\"$numberDecimal\": \"1.10\"}]}","updateDescription":null,"source":{"connector":"mongodb","collection":"c","ts_ms":1},"op":"c","ts_ms":2}`},
	{`{"id":"\"x\""}`, `{"before":"{\"_id\": \"x\"}","after":null,"patch":null,"source":{"connector":"mongodb"},"op":"d"}`},
	{`{"id":"{\"$numberLong\": \"1\"}"}`, `{"_id":1,"doc":{"k":{"$oid":"5f"}},"__op":"r","__deleted":"false"}`},
	{`{"serverName":"s"}`, `{"schema":{"type":"struct","name":"io.debezium.connector.common.Heartbeat","fields":[{"type":"int64","field":"ts_ms"}]},"payload":{"ts_ms":1}}`},
	{`{"id":"571"}`, `{"status":"END","id":"571","event_count":2,"data_collections":[{"data_collection":"a.b","event_count":2}]}`},
	{`{"databaseName":"inv"}`, `{"source":{"ts_ms":1},"databaseName":"inv","ddl":"DROP TABLE t","tableChanges":[]}`},
	{``, `{"payload":{"after":{"id":1},"op":"r"}}`},
	{``, `{"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after","fields":[{"type":"float","field":"f"},{"type":"double","field":"d"}]},{"type":"string","field":"op"}]},"payload":{"after":{"f":1.5,"d":"NaN"},"op":"c"}}`},
	{``, `{"after":{"n":{"scale":1,"value":"AQ=="}},"op":"r"}`},
}

// FuzzExtendedJSON feeds arbitrary text as a MongoDB document and as a
// MongoDB key: decoding must return a row or an error, never panic, and
// every column of a row must be a value of Row's documented types.
func FuzzExtendedJSON(f *testing.F) {
	for _, s := range []string{
		`{"_id": {"$oid": "5f1e7c3b9d1e8a0001a2b3c4"}, "n": {"$numberInt": "7"}, "l": {"$numberLong": "-3"}}`,
		`{"d": {"$date": "2025-02-13T14:01:37.97Z"}, "e": {"$date": {"$numberLong": "1"}}, "f": {"$date": 1}}`,
		`{"b": {"$binary": "AQID", "$type": "00"}, "c": {"$binary": {"base64": "FA7YEzXgQXSX9OxmzllH2w==", "subType": "04"}}}`,
		`{"x": {"$numberDecimal": "NaN"}, "y": {"$numberDouble": "-Infinity"}, "z": {"$timestamp": {"t": 1, "i": 2}}}`,
		`{"a": {"b": {"c": [1, {"d": {"$oid": "x"}}]}}, "a.b": 1, "u": {"$undefined": true}, "m": {"$minKey": 1}}`,
		`{"id": "{\"$oid\": \"x\"}"}`, `"plain"`, `[1,2]`, `{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		row, err := mongoDocument(s)
		if err == nil {
			for k, v := range row {
				switch v.(type) {
				case nil, bool, int32, int64, float64, string, []byte, Decimal, time.Time, JSON:
				default:
					t.Fatalf("column %q has type %T", k, v)
				}
			}
			_ = KeyString(row)
		}
		if k := mongoKey(Row{"id": s}, true); len(k) != 1 {
			t.Fatalf("key %v", k)
		}
		_ = SchemalessHint(s)
	})
}

// checkProjected holds a change decoded with a projection to the same
// change decoded whole: the same key, op, source and metadata, rows where
// the whole one has rows, and in them exactly the whole rows' columns
// named in cols (ignoring case), with equal values. Only an envelope's
// before and after are projected: a flattened row (which has no before)
// stays whole.
func checkProjected(t *testing.T, pr, ch Change, cols []string) {
	t.Helper()
	same := func(a, b any) bool { return reflect.DeepEqual(a, b) || fmt.Sprint(a) == fmt.Sprint(b) }
	if !same(pr.Key, ch.Key) || pr.KeyString != ch.KeyString || pr.Op != ch.Op || !same(pr.Source, ch.Source) || pr.Flattened != ch.Flattened {
		t.Fatalf("projected change %+v; whole %+v", pr, ch)
	}
	for _, rows := range [][2]Row{{pr.Before, ch.Before}, {pr.After, ch.After}} {
		p, w := rows[0], rows[1]
		if (p == nil) != (w == nil) {
			t.Fatalf("projected row %v; whole %v", p, w)
		}
		want := w
		if !ch.Flattened {
			want = Row{}
			for k, v := range w {
				if slices.ContainsFunc(cols, func(c string) bool { return strings.EqualFold(c, k) }) {
					want[k] = v
				}
			}
		}
		if len(p) != len(want) {
			t.Fatalf("projected row %v; want %v of whole %v", p, want, w)
		}
		for k, v := range want {
			if pv, ok := p[k]; !ok || !same(pv, v) {
				t.Fatalf("projected column %s = %#v (present %v); whole %#v", k, pv, ok, v)
			}
		}
	}
}
