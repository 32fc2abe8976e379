package schematest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
)

// JsonConverter output (value.converter=org.apache.kafka.connect.json.JsonConverter
// with schemas.enable=true): every key and value is
// {"schema": <Connect schema>, "payload": <value>}. Connect type names are
// JsonConverter's own: int8 … int64, "float" for FLOAT32, "double" for
// FLOAT64, boolean, string, bytes, array, map, struct.

// connectField is the Connect schema of column c, as JsonConverter writes it.
func connectField(c Column) (map[string]any, error) {
	f := map[string]any{"field": c.Name, "optional": c.Optional}
	switch {
	case c.Type == "int":
		f["type"] = "int32"
	case c.Type == "long":
		f["type"] = "int64"
	case c.Type == "string", c.Type == "boolean", c.Type == "double", c.Type == "float":
		f["type"] = c.Type
	case c.Type == "date":
		f["type"], f["name"], f["version"] = "int32", "io.debezium.time.Date", 1
	case c.Type == "timestamp":
		f["type"], f["name"], f["version"] = "int64", "io.debezium.time.MicroTimestamp", 1
	case c.Type == "timestamptz":
		f["type"], f["name"], f["version"] = "string", "io.debezium.time.ZonedTimestamp", 1
	case c.Type == "uuid":
		f["type"], f["name"], f["version"] = "string", "io.debezium.data.Uuid", 1
	case c.Type == "json":
		f["type"], f["name"], f["version"] = "string", "io.debezium.data.Json", 1
	case strings.HasPrefix(c.Type, "decimal("):
		p, sc, err := precisionScale(c.Type)
		if err != nil {
			return nil, err
		}
		f["type"], f["name"], f["version"] = "bytes", "org.apache.kafka.connect.data.Decimal", 1
		f["parameters"] = map[string]string{"scale": strconv.Itoa(sc), "connect.decimal.precision": strconv.Itoa(p)}
	default:
		return nil, fmt.Errorf("schematest: column %s: unknown type %q", c.Name, c.Type)
	}
	return f, nil
}

// jsonValue is the JsonConverter payload of a column value.
func jsonValue(c Column, v any) (any, error) {
	if v == nil {
		if !c.Optional {
			return nil, fmt.Errorf("schematest: column %s is not optional but has no value", c.Name)
		}
		return nil, nil
	}
	n, err := nativeValue(Column{Name: c.Name, Type: c.Type}, v)
	if err != nil {
		return nil, err
	}
	switch x := n.(type) {
	case *big.Rat: // a decimal: base64 of the unscaled two's-complement value
		_, scale, _ := precisionScale(c.Type)
		u := new(big.Int).Mul(x.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		u.Quo(u, x.Denom())
		return base64.StdEncoding.EncodeToString(twos(u)), nil
	}
	return n, nil
}

// twos is the big-endian two's-complement encoding of i.
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

func (t Table) connectStruct(name string, cols []Column, optional bool) (map[string]any, error) {
	fields := make([]any, 0, len(cols))
	for _, c := range cols {
		f, err := connectField(c)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	return map[string]any{"type": "struct", "fields": fields, "optional": optional, "name": t.Topic() + "." + name}, nil
}

func (t Table) jsonRow(cols []Column, row map[string]any) (map[string]any, error) {
	if row == nil {
		return nil, nil
	}
	out := make(map[string]any, len(cols))
	for _, c := range cols {
		v, err := jsonValue(c, row[c.Name])
		if err != nil {
			return nil, err
		}
		out[c.Name] = v
	}
	return out, nil
}

func (t Table) keyColumns() ([]Column, error) {
	var cols []Column
	for _, k := range t.Key {
		c, ok := t.column(k)
		if !ok {
			return nil, fmt.Errorf("schematest: key column %s is not a column of %s", k, t.Name)
		}
		c.Optional = false
		cols = append(cols, c)
	}
	return cols, nil
}

// JSONEvent encodes one change as Debezium's PostgreSQL connector writes it
// with JsonConverter and schemas.enable=true: op is 'c', 'r', 'u' or 'd';
// before is nil for c and r, after nil for d. Columns of type float and
// double carry JsonConverter's "float" and "double" type names. It returns
// the record's key and value.
func (t Table) JSONEvent(op byte, before, after map[string]any, ts time.Time) (key, value []byte, err error) {
	keyCols, err := t.keyColumns()
	if err != nil {
		return nil, nil, err
	}
	keyRow := after
	if keyRow == nil {
		keyRow = before
	}
	ks, err := t.connectStruct("Key", keyCols, false)
	if err != nil {
		return nil, nil, err
	}
	kp, err := t.jsonRow(keyCols, keyRow)
	if err != nil {
		return nil, nil, err
	}
	if key, err = json.Marshal(map[string]any{"schema": ks, "payload": kp}); err != nil {
		return nil, nil, err
	}
	rowSchema := func(field string) (map[string]any, error) {
		s, err := t.connectStruct("Value", t.Columns, true)
		if err != nil {
			return nil, err
		}
		s["field"] = field
		return s, nil
	}
	bs, err := rowSchema("before")
	if err != nil {
		return nil, nil, err
	}
	as, _ := rowSchema("after")
	b, err := t.jsonRow(t.Columns, before)
	if err != nil {
		return nil, nil, err
	}
	a, err := t.jsonRow(t.Columns, after)
	if err != nil {
		return nil, nil, err
	}
	snapshot := "false"
	if op == 'r' {
		snapshot = "true"
	}
	env := map[string]any{
		"schema": map[string]any{
			"type": "struct", "optional": false, "name": t.Topic() + ".Envelope", "version": 1,
			"fields": []any{bs, as, postgresSourceSchema(),
				map[string]any{"type": "string", "optional": false, "field": "op"},
				map[string]any{"type": "int64", "optional": true, "field": "ts_ms"},
				transactionBlockSchema()},
		},
		"payload": map[string]any{
			"before": b, "after": a,
			"source": map[string]any{
				"version": "2.7.3.Final", "connector": "postgresql", "name": t.Prefix, "ts_ms": ts.UnixMilli(),
				"snapshot": snapshot, "db": "warehouse", "sequence": nil, "schema": t.Schema, "table": t.Name,
				"txId": 780, "lsn": 24023128, "xmin": nil,
			},
			"op": string(op), "ts_ms": ts.UnixMilli() + 3, "transaction": nil,
		},
	}
	value, err = json.Marshal(env)
	return key, value, err
}

func postgresSourceSchema() map[string]any {
	str := func(name string, optional bool) any {
		return map[string]any{"type": "string", "optional": optional, "field": name}
	}
	i64 := func(name string, optional bool) any {
		return map[string]any{"type": "int64", "optional": optional, "field": name}
	}
	return map[string]any{
		"type": "struct", "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source",
		"fields": []any{str("version", false), str("connector", false), str("name", false), i64("ts_ms", false),
			map[string]any{"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
				"parameters": map[string]string{"allowed": "true,last,false,incremental"}, "default": "false", "field": "snapshot"},
			str("db", false), str("sequence", true), str("schema", false), str("table", false),
			i64("txId", true), i64("lsn", true), i64("xmin", true)},
	}
}

func transactionBlockSchema() map[string]any {
	return map[string]any{
		"type": "struct", "optional": true, "name": "event.block", "version": 1, "field": "transaction",
		"fields": []any{
			map[string]any{"type": "string", "optional": false, "field": "id"},
			map[string]any{"type": "int64", "optional": false, "field": "total_order"},
			map[string]any{"type": "int64", "optional": false, "field": "data_collection_order"},
		},
	}
}

// HeartbeatTopic is the topic Debezium writes heartbeats of a connector
// with topic.prefix prefix to (topic.heartbeat.prefix left at its default).
func HeartbeatTopic(prefix string) string { return "__debezium-heartbeat." + prefix }

// Heartbeat returns a heartbeat record as Debezium writes it with
// JsonConverter: the key {serverName} and the value {ts_ms}, with schemas
// (io.debezium.connector.common.ServerNameKey / Heartbeat) when schemas is
// true, bare otherwise.
func Heartbeat(prefix string, ts time.Time, schemas bool) (topic string, key, value []byte) {
	k := map[string]any{"serverName": prefix}
	v := map[string]any{"ts_ms": ts.UnixMilli()}
	if schemas {
		k = map[string]any{"schema": map[string]any{"type": "struct", "optional": false, "name": "io.debezium.connector.common.ServerNameKey", "version": 1,
			"fields": []any{map[string]any{"type": "string", "optional": false, "field": "serverName"}}}, "payload": k}
		v = map[string]any{"schema": map[string]any{"type": "struct", "optional": false, "name": "io.debezium.connector.common.Heartbeat", "version": 1,
			"fields": []any{map[string]any{"type": "int64", "optional": false, "field": "ts_ms"}}}, "payload": v}
	}
	key, _ = json.Marshal(k)
	value, _ = json.Marshal(v)
	return HeartbeatTopic(prefix), key, value
}

// TransactionTopic is the topic of transaction boundaries of a connector
// with topic.prefix prefix (provide.transaction.metadata=true).
func TransactionTopic(prefix string) string { return prefix + ".transaction" }

// Transaction returns a transaction boundary record as Debezium writes it
// with JsonConverter and schemas.enable=true: status "BEGIN" (eventCount
// and collections are then ignored and sent as null) or "END" with the
// number of events and the events per data collection ("db.schema.table").
func Transaction(prefix, status, id string, eventCount int64, collections map[string]int64, ts time.Time) (topic string, key, value []byte) {
	k := map[string]any{
		"schema": map[string]any{"type": "struct", "optional": false, "name": "io.debezium.connector.common.TransactionMetadataKey",
			"fields": []any{map[string]any{"type": "string", "optional": false, "field": "id"}}},
		"payload": map[string]any{"id": id},
	}
	var count, colls any
	if status == "END" {
		count = eventCount
		var list []any
		names := make([]string, 0, len(collections))
		for n := range collections {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			list = append(list, map[string]any{"data_collection": n, "event_count": collections[n]})
		}
		colls = list
	}
	v := map[string]any{
		"schema": map[string]any{"type": "struct", "optional": false, "name": "io.debezium.connector.common.TransactionMetadataValue", "version": 1,
			"fields": []any{
				map[string]any{"type": "string", "optional": false, "field": "status"},
				map[string]any{"type": "string", "optional": false, "field": "id"},
				map[string]any{"type": "int64", "optional": true, "field": "event_count"},
				map[string]any{"type": "array", "optional": true, "field": "data_collections", "items": map[string]any{
					"type": "struct", "optional": false, "name": "event.collection", "version": 1,
					"fields": []any{
						map[string]any{"type": "string", "optional": false, "field": "data_collection"},
						map[string]any{"type": "int64", "optional": false, "field": "event_count"},
					}}},
				map[string]any{"type": "int64", "optional": false, "field": "ts_ms"},
			}},
		"payload": map[string]any{"status": status, "id": id, "event_count": count, "data_collections": colls, "ts_ms": ts.UnixMilli()},
	}
	key, _ = json.Marshal(k)
	value, _ = json.Marshal(v)
	return TransactionTopic(prefix), key, value
}
