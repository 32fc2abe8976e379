// Package schematest builds Debezium change events the way Debezium's
// PostgreSQL connector writes them with Confluent's AvroConverter: an
// Envelope (before, after, source, op, ts_ms, transaction) with Debezium's
// logical types, Avro binary, Confluent framing, schemas registered in a
// schema registry under TopicNameStrategy subjects.
//
// The demo and the end-to-end tests use it to produce realistic topics; it
// is not used on the data path.
package schematest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"zohosink/schema"
)

// Column is one column of a table. Type is one of:
//
//	int, long, string, boolean, double     plain Avro types
//	float                                  a FLOAT32 (Avro float; "float" in JsonConverter)
//	date                                   io.debezium.time.Date (days since epoch)
//	timestamp                              io.debezium.time.MicroTimestamp (no zone)
//	timestamptz                            io.debezium.time.ZonedTimestamp (ISO 8601 text)
//	decimal(P,S)                           org.apache.kafka.connect.data.Decimal (bytes)
//	uuid, json                             io.debezium.data.Uuid / Json (text)
type Column struct {
	Name     string
	Type     string
	Optional bool
}

// Table describes a source table.
type Table struct {
	Prefix  string // Debezium topic.prefix, e.g. "warehouse"
	Schema  string // e.g. "public"
	Name    string
	Key     []string // primary-key columns
	Columns []Column
}

// Topic is Debezium's topic name for the table: prefix.schema.table.
func (t Table) Topic() string { return t.Prefix + "." + t.Schema + "." + t.Name }

func (t Table) column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

func avroType(c Column) (any, error) {
	var typ any
	switch {
	case c.Type == "int", c.Type == "long", c.Type == "string", c.Type == "boolean", c.Type == "double", c.Type == "float":
		typ = c.Type
	case c.Type == "date":
		typ = map[string]any{"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"}
	case c.Type == "timestamp":
		typ = map[string]any{"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestamp"}
	case c.Type == "timestamptz":
		typ = map[string]any{"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTimestamp"}
	case c.Type == "uuid":
		typ = map[string]any{"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Uuid"}
	case c.Type == "json":
		typ = map[string]any{"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Json"}
	case strings.HasPrefix(c.Type, "decimal("):
		p, s, err := precisionScale(c.Type)
		if err != nil {
			return nil, err
		}
		typ = map[string]any{
			"type": "bytes", "scale": s, "precision": p, "connect.version": 1,
			"connect.parameters": map[string]string{"scale": strconv.Itoa(s), "connect.decimal.precision": strconv.Itoa(p)},
			"connect.name":       "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal",
		}
	default:
		return nil, fmt.Errorf("schematest: column %s: unknown type %q", c.Name, c.Type)
	}
	if c.Optional {
		return []any{"null", typ}, nil
	}
	return typ, nil
}

func precisionScale(t string) (int, int, error) {
	inner := strings.TrimSuffix(strings.TrimPrefix(t, "decimal("), ")")
	ps := strings.Split(inner, ",")
	if len(ps) != 2 {
		return 0, 0, fmt.Errorf("schematest: bad decimal type %q", t)
	}
	p, err1 := strconv.Atoi(strings.TrimSpace(ps[0]))
	s, err2 := strconv.Atoi(strings.TrimSpace(ps[1]))
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("schematest: bad decimal type %q", t)
	}
	return p, s, nil
}

func (t Table) record(name string, cols []Column) (map[string]any, error) {
	fields := make([]any, 0, len(cols))
	for _, c := range cols {
		typ, err := avroType(c)
		if err != nil {
			return nil, err
		}
		f := map[string]any{"name": c.Name, "type": typ}
		if c.Optional {
			f["default"] = nil
		}
		fields = append(fields, f)
	}
	return map[string]any{"type": "record", "name": name, "namespace": t.Topic(), "fields": fields, "connect.name": t.Topic() + "." + name}, nil
}

// KeySchema is the Avro schema of the table's keys.
func (t Table) KeySchema() (string, error) {
	var cols []Column
	for _, k := range t.Key {
		c, ok := t.column(k)
		if !ok {
			return "", fmt.Errorf("schematest: key column %s is not a column of %s", k, t.Name)
		}
		c.Optional = false
		cols = append(cols, c)
	}
	rec, err := t.record("Key", cols)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(rec)
	return string(b), err
}

// ValueSchema is the Avro schema of the table's change events: Debezium 2.x's
// PostgreSQL Envelope.
func (t Table) ValueSchema() (string, error) {
	value, err := t.record("Value", t.Columns)
	if err != nil {
		return "", err
	}
	nullable := func(typ any) any { return []any{"null", typ} }
	env := map[string]any{
		"type": "record", "name": "Envelope", "namespace": t.Topic(), "connect.version": 2, "connect.name": t.Topic() + ".Envelope",
		"fields": []any{
			map[string]any{"name": "before", "type": nullable(value), "default": nil},
			map[string]any{"name": "after", "type": nullable("Value"), "default": nil},
			map[string]any{"name": "source", "type": map[string]any{
				"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "connect.name": "io.debezium.connector.postgresql.Source",
				"fields": []any{
					map[string]any{"name": "version", "type": "string"},
					map[string]any{"name": "connector", "type": "string"},
					map[string]any{"name": "name", "type": "string"},
					map[string]any{"name": "ts_ms", "type": "long"},
					map[string]any{"name": "snapshot", "type": []any{map[string]any{"type": "string", "connect.version": 1, "connect.parameters": map[string]any{"allowed": "true,last,false,incremental"}, "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"}, "default": "false"},
					map[string]any{"name": "db", "type": "string"},
					map[string]any{"name": "sequence", "type": nullable("string"), "default": nil},
					map[string]any{"name": "schema", "type": "string"},
					map[string]any{"name": "table", "type": "string"},
					map[string]any{"name": "txId", "type": nullable("long"), "default": nil},
					map[string]any{"name": "lsn", "type": nullable("long"), "default": nil},
					map[string]any{"name": "xmin", "type": nullable("long"), "default": nil},
				},
			}},
			map[string]any{"name": "op", "type": "string"},
			map[string]any{"name": "ts_ms", "type": nullable("long"), "default": nil},
			map[string]any{"name": "transaction", "type": nullable(map[string]any{
				"type": "record", "name": "block", "namespace": "event", "connect.version": 1, "connect.name": "event.block",
				"fields": []any{
					map[string]any{"name": "id", "type": "string"},
					map[string]any{"name": "total_order", "type": "long"},
					map[string]any{"name": "data_collection_order", "type": "long"},
				},
			}), "default": nil},
		},
	}
	b, err := json.Marshal(env)
	return string(b), err
}

// Encoder writes the change events of one table.
type Encoder struct {
	t              Table
	keyID, valueID int
	keyCodec       *goavro.Codec
	valueCodec     *goavro.Codec
	lsn            atomic.Int64
}

// NewEncoder builds an encoder whose events carry the given schema ids.
func NewEncoder(t Table, keyID, valueID int) (*Encoder, error) {
	ks, err := t.KeySchema()
	if err != nil {
		return nil, err
	}
	vs, err := t.ValueSchema()
	if err != nil {
		return nil, err
	}
	kc, err := goavro.NewCodec(ks)
	if err != nil {
		return nil, fmt.Errorf("schematest: key schema of %s: %w", t.Name, err)
	}
	vc, err := goavro.NewCodec(vs)
	if err != nil {
		return nil, fmt.Errorf("schematest: value schema of %s: %w", t.Name, err)
	}
	e := &Encoder{t: t, keyID: keyID, valueID: valueID, keyCodec: kc, valueCodec: vc}
	e.lsn.Store(23_000_000)
	return e, nil
}

// Register registers the table's key and value schemas (subjects
// <topic>-key and <topic>-value) and returns an encoder using their ids.
func Register(ctx context.Context, cl *sr.Client, t Table) (*Encoder, error) {
	ks, err := t.KeySchema()
	if err != nil {
		return nil, err
	}
	vs, err := t.ValueSchema()
	if err != nil {
		return nil, err
	}
	k, err := cl.CreateSchema(ctx, t.Topic()+"-key", sr.Schema{Schema: ks, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("schematest: register %s-key: %w", t.Topic(), err)
	}
	v, err := cl.CreateSchema(ctx, t.Topic()+"-value", sr.Schema{Schema: vs, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("schematest: register %s-value: %w", t.Topic(), err)
	}
	return NewEncoder(t, k.ID, v.ID)
}

// Table returns the encoder's table.
func (e *Encoder) Table() Table { return e.t }

// ValueSchemaID returns the schema id the encoder's values carry.
func (e *Encoder) ValueSchemaID() int { return e.valueID }

func frame(id int, body []byte) []byte {
	out := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, body...)
}

// Key encodes the key of a row.
func (e *Encoder) Key(row map[string]any) ([]byte, error) {
	native := map[string]any{}
	for _, k := range e.t.Key {
		c, _ := e.t.column(k)
		c.Optional = false
		v, err := nativeValue(c, row[k])
		if err != nil {
			return nil, err
		}
		native[k] = v
	}
	b, err := e.keyCodec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, fmt.Errorf("schematest: key of %s: %w", e.t.Name, err)
	}
	return frame(e.keyID, b), nil
}

// Event encodes one change: op is 'c', 'r', 'u' or 'd'; before is nil for c
// and r, after nil for d. It returns the record's key and value.
func (e *Encoder) Event(op byte, before, after map[string]any, ts time.Time) (key, value []byte, err error) {
	keyRow := after
	if keyRow == nil {
		keyRow = before
	}
	if key, err = e.Key(keyRow); err != nil {
		return nil, nil, err
	}
	row := func(r map[string]any) (any, error) {
		if r == nil {
			return nil, nil
		}
		native := map[string]any{}
		for _, c := range e.t.Columns {
			v, err := nativeValue(c, r[c.Name])
			if err != nil {
				return nil, err
			}
			native[c.Name] = v
		}
		return goavro.Union(e.t.Topic()+".Value", native), nil
	}
	b, err := row(before)
	if err != nil {
		return nil, nil, err
	}
	a, err := row(after)
	if err != nil {
		return nil, nil, err
	}
	snapshot := "false"
	if op == 'r' {
		snapshot = "true"
	}
	lsn := e.lsn.Add(64)
	native := map[string]any{
		"before": b,
		"after":  a,
		"source": map[string]any{
			"version": "2.7.3.Final", "connector": "postgresql", "name": e.t.Prefix, "ts_ms": ts.UnixMilli(),
			"snapshot": goavro.Union("string", snapshot), "db": "warehouse", "sequence": nil,
			"schema": e.t.Schema, "table": e.t.Name, "txId": goavro.Union("long", lsn/64), "lsn": goavro.Union("long", lsn), "xmin": nil,
		},
		"op":          string(op),
		"ts_ms":       goavro.Union("long", ts.UnixMilli()+3),
		"transaction": nil,
	}
	body, err := e.valueCodec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, nil, fmt.Errorf("schematest: %c event of %s: %w", op, e.t.Name, err)
	}
	return key, frame(e.valueID, body), nil
}

// nativeValue converts a Go value to goavro's native form for column c.
func nativeValue(c Column, v any) (any, error) {
	if v == nil {
		if !c.Optional {
			return nil, fmt.Errorf("schematest: column %s is not optional but has no value", c.Name)
		}
		return nil, nil
	}
	var out any
	var union string
	switch {
	case c.Type == "int":
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("schematest: column %s: %w", c.Name, err)
		}
		out, union = int32(n), "int"
	case c.Type == "long":
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("schematest: column %s: %w", c.Name, err)
		}
		out, union = n, "long"
	case c.Type == "string", c.Type == "uuid", c.Type == "json":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("schematest: column %s: want a string, got %T", c.Name, v)
		}
		out, union = s, "string"
	case c.Type == "boolean":
		out, union = v, "boolean"
	case c.Type == "double":
		f, err := toFloat(v)
		if err != nil {
			return nil, fmt.Errorf("schematest: column %s: %w", c.Name, err)
		}
		out, union = f, "double"
	case c.Type == "float":
		f, err := toFloat(v)
		if err != nil {
			return nil, fmt.Errorf("schematest: column %s: %w", c.Name, err)
		}
		out, union = float32(f), "float"
	case c.Type == "date":
		switch d := v.(type) {
		case schema.Date:
			out = int32(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
		case time.Time:
			out = int32(time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
		default:
			return nil, fmt.Errorf("schematest: column %s: want a date, got %T", c.Name, v)
		}
		union = "int"
	case c.Type == "timestamp":
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("schematest: column %s: want a time.Time, got %T", c.Name, v)
		}
		out, union = t.UnixMicro(), "long"
	case c.Type == "timestamptz":
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("schematest: column %s: want a time.Time, got %T", c.Name, v)
		}
		out, union = t.UTC().Format(time.RFC3339Nano), "string"
	case strings.HasPrefix(c.Type, "decimal("):
		_, scale, _ := precisionScale(c.Type)
		r, err := toRat(v, scale)
		if err != nil {
			return nil, fmt.Errorf("schematest: column %s: %w", c.Name, err)
		}
		out, union = r, "bytes.decimal"
	default:
		return nil, fmt.Errorf("schematest: column %s: unknown type %q", c.Name, c.Type)
	}
	if c.Optional {
		return goavro.Union(union, out), nil
	}
	return out, nil
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case int:
		return float64(n), nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

func toRat(v any, scale int) (*big.Rat, error) {
	switch d := v.(type) {
	case schema.Decimal:
		return new(big.Rat).SetFrac(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil)), nil
	case string:
		r, ok := new(big.Rat).SetString(d)
		if !ok {
			return nil, fmt.Errorf("%q is not a decimal", d)
		}
		return r, nil
	case int:
		return new(big.Rat).SetInt64(int64(d)), nil
	case float64:
		return new(big.Rat).SetFloat64(d), nil
	}
	return nil, fmt.Errorf("want a decimal, got %T", v)
}
