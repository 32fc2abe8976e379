package schema

import (
	"context"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func bigInt(s string) *big.Int {
	i, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return i
}

// twos encodes i as big-endian two's complement, the way Connect writes
// decimals.
func twos(i *big.Int) []byte {
	if i.Sign() >= 0 {
		b := i.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	n := (i.BitLen() + 8) / 8
	m := new(big.Int).Add(i, new(big.Int).Lsh(big.NewInt(1), uint(n*8)))
	b := m.Bytes()
	for len(b) < n {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func dec(unscaled string, scale int32) Decimal {
	return Decimal{Unscaled: bigInt(unscaled), Scale: scale}
}

// Every logical type of the table in docs/debezium.md, "Logical types",
// through a realistic PostgreSQL envelope whose Value record holds one
// column "v" of that type, each schema registered in srfake and encoded by
// goavro.
func TestDecodeLogicalTypes(t *testing.T) {
	reg, cl := registry(t)
	d := newDecoder(t, WithRegistry(cl))
	hugePos := "123456789012345678901234567890123456789" // beyond int64
	hugeNeg := "-98765432109876543210987654321"

	tests := []struct {
		name   string
		typ    string // the Avro type of column v
		native any    // goavro native (physical) value
		want   any
	}{
		{"io.debezium.time.Date epoch", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}`, int32(0), Date{1970, 1, 1}},
		{"io.debezium.time.Date before 1970", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}`, int32(-25567), Date{1900, 1, 1}},
		{"io.debezium.time.Date leap day", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}`, int32(19782), Date{2024, 2, 29}},
		{"io.debezium.time.Date infinity stays raw", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}`, int32(2147483647), int32(2147483647)},
		{"io.debezium.time.Time", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Time"}`, int32(45296789), TimeOfDay(12*time.Hour + 34*time.Minute + 56*time.Second + 789*time.Millisecond)},
		{"io.debezium.time.MicroTime", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTime"}`, int64(86399999999), TimeOfDay(24*time.Hour - time.Microsecond)},
		{"io.debezium.time.NanoTime", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.NanoTime"}`, int64(1), TimeOfDay(1)},
		{"io.debezium.time.Timestamp", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}`, int64(1700000000123), time.UnixMilli(1700000000123).UTC()},
		{"io.debezium.time.Timestamp epoch", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}`, int64(0), time.Unix(0, 0).UTC()},
		{"io.debezium.time.MicroTimestamp before 1970", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}`, int64(-1), time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"io.debezium.time.MicroTimestamp +infinity stays raw", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}`, int64(9223372036825200000), int64(9223372036825200000)},
		{"io.debezium.time.MicroTimestamp -infinity stays raw", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}`, int64(-9223372036832400000), int64(-9223372036832400000)},
		{"io.debezium.time.Timestamp year 10000 stays raw", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.Timestamp"}`, int64(253402300800000), int64(253402300800000)},
		{"io.debezium.time.NanoTimestamp", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.NanoTimestamp"}`, int64(1700000000123456789), time.Unix(0, 1700000000123456789).UTC()},
		{"io.debezium.time.ZonedTimestamp", `{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}`, "2024-03-01T10:15:30.123456+05:30", time.Date(2024, 3, 1, 4, 45, 30, 123456000, time.UTC)},
		{"io.debezium.time.ZonedTimestamp Z", `{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}`, "1970-01-01T00:00:00Z", time.Unix(0, 0).UTC()},
		{"io.debezium.time.ZonedTimestamp infinity", `{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}`, "infinity", "infinity"},
		{"io.debezium.time.ZonedTime", `{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTime"}`, "01:30:00+02:00", TimeOfDay(23*time.Hour + 30*time.Minute)},
		{"io.debezium.time.Year", `{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Year"}`, int32(2024), int32(2024)},
		{"io.debezium.time.MicroDuration", `{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroDuration"}`, int64(3600000000), int64(3600000000)},
		{"connect Date", `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}`, int32(-1), Date{1969, 12, 31}},
		{"connect Time", `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}`, int32(1000), TimeOfDay(time.Second)},
		{"connect Timestamp", `{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}`, int64(-86400000), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"avro time-micros", `{"type":"long","logicalType":"time-micros"}`, int64(1500000), TimeOfDay(1500 * time.Millisecond)},
		{"avro timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, int64(1), time.UnixMicro(1).UTC()},
		{"connect Decimal", `{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, twos(big.NewInt(-123456)), dec("-123456", 2)},
		{"connect Decimal zero", `{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"4"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, []byte{}, dec("0", 4)},
		{"connect Decimal beyond int64", `{"type":"bytes","scale":0,"precision":64,"connect.version":1,"connect.parameters":{"scale":"0"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, twos(bigInt(hugePos)), dec(hugePos, 0)},
		{"connect Decimal negative beyond int64", `{"type":"bytes","scale":10,"precision":40,"connect.version":1,"connect.parameters":{"scale":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, twos(bigInt(hugeNeg)), dec(hugeNeg, 10)},
		{"connect Decimal scale above precision (numeric(5,6))", `{"type":"bytes","scale":6,"precision":5,"connect.version":1,"connect.parameters":{"scale":"6","connect.decimal.precision":"5"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, twos(big.NewInt(12345)), dec("12345", 6)},
		{"connect Decimal int64 minimum", `{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"0"},"connect.name":"org.apache.kafka.connect.data.Decimal"}`, twos(bigInt("-9223372036854775808")), dec("-9223372036854775808", 0)},
		{"connect Decimal int64 maximum", `{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"3"},"connect.name":"org.apache.kafka.connect.data.Decimal"}`, twos(bigInt("9223372036854775807")), dec("9223372036854775807", 3)},
		{"connect Decimal minus one", `{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"0"},"connect.name":"org.apache.kafka.connect.data.Decimal"}`, []byte{0xff}, dec("-1", 0)},
		{"connect Decimal TOAST placeholder", `{"type":"bytes","connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal","precision":10,"scale":2}`, []byte(unavailableText), Unavailable{}},
		{"VariableScaleDecimal", `{"type":"record","name":"VariableScaleDecimal","namespace":"io.debezium.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}],"connect.doc":"Variable scaled decimal","connect.version":1,"connect.name":"io.debezium.data.VariableScaleDecimal"}`,
			map[string]any{"scale": int32(30), "value": twos(bigInt(hugePos))}, dec(hugePos, 30)},
		{"decimal.handling.mode double", `"double"`, 1234.5, 1234.5},
		{"decimal.handling.mode string", `"string"`, "1234.50", "1234.50"},
		{"io.debezium.data.Json", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}`, `{"a":[1,2]}`, JSON(`{"a":[1,2]}`)},
		{"io.debezium.data.Json TOAST placeholder", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}`, unavailableText, Unavailable{}},
		{"io.debezium.data.Enum", `{"type":"string","connect.version":1,"connect.parameters":{"allowed":"small,large"},"connect.name":"io.debezium.data.Enum"}`, "large", "large"},
		{"io.debezium.data.Uuid", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Uuid"}`, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"io.debezium.data.Xml", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Xml"}`, "<a/>", "<a/>"},
		{"io.debezium.data.Ltree", `{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Ltree"}`, "Top.Science", "Top.Science"},
		{"io.debezium.data.EnumSet", `{"type":"string","connect.version":1,"connect.parameters":{"allowed":"a,b,c"},"connect.name":"io.debezium.data.EnumSet"}`, "a,c", []string{"a", "c"}},
		{"io.debezium.data.EnumSet empty", `{"type":"string","connect.version":1,"connect.parameters":{"allowed":"a,b,c"},"connect.name":"io.debezium.data.EnumSet"}`, "", []string{}},
		{"io.debezium.data.Bits", `{"type":"bytes","connect.version":1,"connect.parameters":{"length":"12"},"connect.name":"io.debezium.data.Bits"}`, []byte{0x05, 0x08}, []byte{0x05, 0x08}},
		{"io.debezium.data.Bits BIT(1) true", `{"type":"bytes","connect.version":1,"connect.parameters":{"length":"1"},"connect.name":"io.debezium.data.Bits"}`, []byte{0x01}, true},
		{"io.debezium.data.Bits BIT(1) false", `{"type":"bytes","connect.version":1,"connect.parameters":{"length":"1"},"connect.name":"io.debezium.data.Bits"}`, []byte{0x00}, false},
		{"INT16", `{"type":"int","connect.type":"int16"}`, int32(-32768), int32(-32768)},
		{"INT8", `{"type":"int","connect.type":"int8"}`, int32(127), int32(127)},
		{"bigint", `"long"`, int64(-9223372036854775808), int64(-9223372036854775808)},
		{"real", `"float"`, float32(1.5), float32(1.5)},
		{"boolean", `"boolean"`, true, true},
		{"bytea", `"bytes"`, []byte{0, 1, 2}, []byte{0, 1, 2}},
		{"bytea TOAST placeholder", `"bytes"`, []byte(unavailableText), Unavailable{}},
		{"text TOAST placeholder", `"string"`, unavailableText, Unavailable{}},
		{"nullable null", `["null",{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}]`, nil, nil},
		{"nullable value", `["null",{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}]`, u("int", int32(1)), Date{1970, 1, 2}},
		{"nullable decimal", `["null",{"type":"bytes","scale":3,"precision":9,"connect.version":1,"connect.parameters":{"scale":"3"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}]`, u("bytes", twos(big.NewInt(5))), dec("5", 3)},
		{"text[]", `{"type":"array","items":"string"}`, []any{"x", "y"}, []string{"x", "y"}},
		{"text[] TOAST placeholder", `{"type":"array","items":"string"}`, []any{unavailableText}, Unavailable{}},
		{"int[] with nulls", `{"type":"array","items":["null","int"]}`, []any{u("int", int32(1)), nil}, []any{int32(1), nil}},
		{"geometry", `{"type":"record","name":"Geometry","namespace":"io.debezium.data.geometry","fields":[{"name":"wkb","type":"bytes"},{"name":"srid","type":["null","int"],"default":null}],"connect.name":"io.debezium.data.geometry.Geometry"}`,
			map[string]any{"wkb": []byte{1}, "srid": u("int", int32(4326))}, Row{"wkb": []byte{1}, "srid": int32(4326)}},
		{"hstore map", `{"type":"map","values":["null","string"]}`, map[string]any{"k": u("string", "v")}, Row{"k": "v"}},
		{"avro enum", `{"type":"enum","name":"mood","symbols":["sad","happy"]}`, "happy", "happy"},
		{"fixed", `{"type":"fixed","name":"md5","size":2}`, []byte{9, 8}, []byte{9, 8}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "pg.public.t" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
			schemaText := `{"type":"record","name":"Envelope","namespace":"` + ns + `","fields":[
				{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},{"name":"v","type":` + tt.typ + `}],"connect.name":"` + ns + `.Value"}],"default":null},
				{"name":"after","type":["null","Value"],"default":null},
				{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[{"name":"connector","type":"string"},{"name":"ts_ms","type":"long"}]}},
				{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null}],"connect.name":"` + ns + `.Envelope"}`
			id := register(t, reg, ns+"-value", schemaText)
			value := encode(t, id, schemaText, map[string]any{
				"after":  u(ns+".Value", map[string]any{"id": int32(1), "v": tt.native}),
				"source": map[string]any{"connector": "postgresql", "ts_ms": int64(1)}, "op": "c",
			})
			ch := decode(t, d, Message{Topic: ns, Value: value})
			got := ch.After["v"]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
			if w, ok := tt.want.(Decimal); ok {
				if g, ok := got.(Decimal); !ok || g.String() != w.String() {
					t.Errorf("decimal text %v, want %v", got, w)
				}
			}
		})
	}
}

func TestDecodeLogicalErrors(t *testing.T) {
	reg, cl := registry(t)
	d := newDecoder(t, WithRegistry(cl))
	schemaText := `{"type":"record","name":"Value","namespace":"pg.public.z","fields":[{"name":"ts","type":{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}}]}`
	id := register(t, reg, "pg.public.z-value", schemaText)
	_, err := d.Decode(context.Background(), Message{Topic: "pg.public.z", Partition: 1, Offset: 9,
		Value: encode(t, id, schemaText, map[string]any{"ts": "yesterday at noon"})})
	if !IsPerRecord(err) || !strings.Contains(err.Error(), "field ts") || !strings.Contains(err.Error(), "ZonedTimestamp") {
		t.Errorf("err = %v, want a per-record error naming the field", err)
	}
}

func TestDecimalString(t *testing.T) {
	tests := []struct {
		d    Decimal
		want string
	}{
		{dec("-123400", 4), "-12.3400"},
		{dec("12345", 6), "0.012345"},
		{dec("-5", 3), "-0.005"},
		{dec("7", -2), "700"},
		{dec("0", 2), "0.00"},
		{Decimal{}, "0"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%v/%d: %q, want %q", tt.d.Unscaled, tt.d.Scale, got, tt.want)
		}
	}
	for lit, want := range map[string]string{"12.50": "12.50", "-1e-3": "-0.001", "4E+2": "400", "0.0": "0.0"} {
		d, ok := parseDecimalLiteral(lit)
		if !ok || d.String() != want {
			t.Errorf("parse %q = %v %v, want %s", lit, d, ok, want)
		}
	}
	var n json.Number = "1.5"
	if KeyString(Row{"x": n}) != `{"x":1.5}` {
		t.Error(KeyString(Row{"x": n}))
	}
}
