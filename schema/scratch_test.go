package schema

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// nestedSchema is an envelope whose rows hold a nested record (as a
// PostgreSQL composite type or a geometry does): DecodeReusing reuses the
// row, never what is nested in it.
const nestedSchema = `{"type":"record","name":"Envelope","namespace":"db.public.places","fields":[
{"name":"before","type":["null",{"type":"record","name":"Value","fields":[
 {"name":"id","type":"long"},
 {"name":"name","type":["null","string"],"default":null},
 {"name":"geo","type":["null",{"type":"record","name":"Point","fields":[{"name":"x","type":"double"},{"name":"y","type":"double"}]}],"default":null}
]}],"default":null},
{"name":"after","type":["null","Value"],"default":null},
{"name":"source","type":{"type":"record","name":"Source","fields":[{"name":"connector","type":"string"},{"name":"ts_ms","type":"long"}]}},
{"name":"op","type":"string"},
{"name":"ts_ms","type":["null","long"],"default":null}]}`

const nestedKeySchema = `{"type":"record","name":"Key","namespace":"db.public.places","fields":[{"name":"id","type":"long"}]}`

func placeRow(id int64, name string, x float64) map[string]any {
	return map[string]any{"id": id, "name": u("string", name), "geo": u("db.public.places.Point", map[string]any{"x": x, "y": 2.5})}
}

func placeMessages(t testing.TB) (*Decoder, []Message) {
	reg, cl := registry(t)
	id := register(t, reg, "db.public.places-value", nestedSchema)
	kid := register(t, reg, "db.public.places-key", nestedKeySchema)
	d := newDecoder(t, WithRegistry(cl))
	var ms []Message
	for i, op := range []string{"c", "u", "d", "r"} {
		var before, after any
		if op == "u" || op == "d" {
			before = u("db.public.places.Value", placeRow(int64(i), "old", float64(i)))
		}
		if op != "d" {
			after = u("db.public.places.Value", placeRow(int64(i), "new", float64(10+i)))
		}
		ms = append(ms, Message{Topic: "db.public.places", Offset: int64(i),
			Key: encode(t, kid, nestedKeySchema, map[string]any{"id": int64(i)}),
			Value: encode(t, id, nestedSchema, map[string]any{"before": before, "after": after,
				"source": map[string]any{"connector": "postgresql", "ts_ms": int64(1700000000000)}, "op": op, "ts_ms": nil})})
	}
	ms = append(ms, Message{Topic: "db.public.places", Offset: 9, Key: ms[0].Key}) // a tombstone
	return d, ms
}

// TestDecodeReusing holds DecodeReusing to Decode's result record after
// record with one scratch, and checks that it reuses the rows (the point)
// but nothing nested in them, which a caller may keep.
func TestDecodeReusing(t *testing.T) {
	d, ms := placeMessages(t)
	ctx := context.Background()
	var s Scratch
	var kept []any // nested values kept from earlier changes, with what they held
	var keptWant []any
	for round := 0; round < 2; round++ {
		for _, m := range ms {
			want, err := d.Decode(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.DecodeReusing(ctx, m, &s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("offset %d: DecodeReusing = %+v, Decode = %+v", m.Offset, got, want)
			}
			for _, row := range []Row{got.Before, got.After} {
				if row != nil {
					kept = append(kept, row["geo"])
					keptWant = append(keptWant, Row{"x": row["geo"].(Row)["x"], "y": 2.5})
				}
			}
		}
	}
	if !reflect.DeepEqual(kept, keptWant) {
		t.Errorf("nested rows changed by later decodes: %v, want %v", kept, keptWant)
	}
	// The rows of one change are the rows of the next; its key's text is
	// its own (the scratch's buffer is written again).
	a, err := d.DecodeReusing(ctx, ms[0], &s)
	if err != nil {
		t.Fatal(err)
	}
	keyText := strings.Clone(a.KeyString)
	b, err := d.DecodeReusing(ctx, ms[3], &s)
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyString != keyText || a.KeyString == b.KeyString {
		t.Errorf("the first change's key text %q became %q after the next decode (%q)", keyText, a.KeyString, b.KeyString)
	}
	if reflect.ValueOf(a.After).Pointer() != reflect.ValueOf(b.After).Pointer() || reflect.ValueOf(a.Key).Pointer() != reflect.ValueOf(b.Key).Pointer() {
		t.Error("the key and after rows were not reused")
	}
	if len(s.rows) > 3 {
		t.Errorf("scratch holds %d rows, want at most 3 (key, before, after)", len(s.rows))
	}
	plain := testing.AllocsPerRun(100, func() { _, _ = d.Decode(ctx, ms[1]) })
	reusing := testing.AllocsPerRun(100, func() { _, _ = d.DecodeReusing(ctx, ms[1], &s) })
	if reusing > plain-3 {
		t.Errorf("DecodeReusing allocates %.0f times a record, Decode %.0f: want 3 fewer or better (key, before and after rows)", reusing, plain)
	}
}

// ordersUpdate is the 20-column update of the orders table, and a decoder
// with its schemas registered.
func ordersUpdate(tb testing.TB) (*Decoder, Message) {
	reg, cl := registry(tb)
	id := register(tb, reg, "shop.public.orders-value", ordersSchema)
	kid := register(tb, reg, "shop.public.orders-key", ordersKeySchema)
	return newDecoder(tb, WithRegistry(cl)), Message{Topic: "shop.public.orders", Key: encode(tb, kid, ordersKeySchema, map[string]any{"id": int32(1001)}), Value: ordersEvent(tb, id)}
}

// BenchmarkDecodeReusing is BenchmarkDecodePostgresUpdate20Cols with the
// rows reused, as a sync's loop decodes: every column, and the 5 a sync
// maps (Scratch.Project).
func BenchmarkDecodeReusing(b *testing.B) {
	d, m := ordersUpdate(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		cols []string
	}{{"whole", nil}, {"5_of_20", []string{"id", "email", "status", "total", "order_date"}}} {
		b.Run(bc.name, func(b *testing.B) {
			var s Scratch
			s.Project(bc.cols)
			b.SetBytes(int64(len(m.Value) + len(m.Key)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.DecodeReusing(ctx, m, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeReusingKeyString: the key text DecodeReusing writes from a key
// record's schema is KeyString's, for columns in any schema order.
func TestDecodeReusingKeyString(t *testing.T) {
	reg, cl := registry(t)
	const keySchema = `{"type":"record","name":"Key","namespace":"db.public.t","fields":[
{"name":"z","type":"long"},{"name":"a","type":["null","string"]},{"name":"M","type":"int"},{"name":"b","type":"boolean"},{"name":"_","type":{"type":"int","connect.name":"io.debezium.time.Date"}}]}`
	kid := register(t, reg, "db.public.t-key", keySchema)
	d := newDecoder(t, WithRegistry(cl))
	var s Scratch
	for i, a := range []any{nil, u("string", `q"<x>`), u("string", "")} {
		m := Message{Topic: "db.public.t", Key: encode(t, kid, keySchema, map[string]any{"z": int64(-i), "a": a, "M": int32(i), "b": i%2 == 0, "_": int32(19000 + i)})}
		ch, err := d.DecodeReusing(context.Background(), m, &s)
		if err != nil {
			t.Fatal(err)
		}
		if want := KeyString(ch.Key); ch.KeyString != want || len(ch.Key) != 5 {
			t.Errorf("key %v: %s, KeyString %s", ch.Key, ch.KeyString, want)
		}
	}
}

// A projected scratch keeps, of an envelope's before and after rows, the
// columns named (ignoring case) and nothing else, with the values a full
// decode gives them; the key, the op and the source are whole, and a
// projection of nil decodes every column again.
func TestProjectKeepsTheNamedColumns(t *testing.T) {
	d, m := ordersUpdate(t)
	ctx := context.Background()
	full, err := d.Decode(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// The key's column (id) is left out: the key is decoded whole all the
	// same.
	cols := []string{"email", "Total", "no_such_column"}
	var s Scratch
	s.Project(cols)
	for round := 0; round < 2; round++ { // the second from the cache of kept fields
		got, err := d.DecodeReusing(ctx, m, &s)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Before) != 2 || len(got.After) != 2 || got.Key["id"] == nil {
			t.Errorf("round %d: before %v, after %v, key %v: want email and total in the rows, the key whole", round, got.Before, got.After, got.Key)
		}
		checkProjected(t, got, full, cols)
	}
	// A flattened row (ExtractNewRecordState) is the value itself, kept
	// whole: its metadata columns (__deleted) say what the change is.
	fd, fids := fuzzDecoder(t)
	flat := Message{Topic: "flat", Value: framed(fids[4], []byte{0x02, 0x02, 0x08, 't', 'r', 'u', 'e', 0x00})}
	whole, err := fd.Decode(ctx, flat)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fd.DecodeReusing(ctx, flat, &s)
	if err != nil || !got.Flattened {
		t.Fatalf("flattened row: %+v, %v", got, err)
	}
	checkProjected(t, got, whole, cols)
	s.Project(nil)
	if got, err = d.DecodeReusing(ctx, m, &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, full) {
		t.Errorf("projection of nil: %+v, want every column: %+v", got, full)
	}
}
