package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Column kinds reported by ColumnsOf.
const (
	KindString    = "string"
	KindInt       = "int"  // int8, int16, int32
	KindLong      = "long" // int64
	KindDouble    = "double"
	KindBoolean   = "boolean"
	KindDecimal   = "decimal"
	KindDate      = "date"
	KindTimestamp = "timestamp"
	KindTime      = "time"
	KindBytes     = "bytes"
	KindArray     = "array"
	KindJSON      = "json"
	KindRecord    = "record"
)

// Column is a column of a table and the kind of value it decodes to.
type Column struct {
	Name string
	Kind string
}

// ColumnsOf returns the columns of the rows a writer schema (Avro, as a
// schema registry holds it) carries: the fields of the envelope's after (or
// before) record, or of the record itself when the topic is flattened.
// Kinds follow the decoder's logical types, so they say what a column's
// values will be, whatever Avro type carries them.
func ColumnsOf(writerSchema string) ([]Column, error) {
	var root any
	if err := json.Unmarshal([]byte(writerSchema), &root); err != nil {
		return nil, fmt.Errorf("schema: not a JSON schema: %w", err)
	}
	rec, ok := root.(map[string]any)
	if !ok || rec["type"] != "record" {
		return nil, fmt.Errorf("schema: the writer schema is not a record")
	}
	fields, _ := rec["fields"].([]any)
	byName := map[string]any{}
	for _, f := range fields {
		if m, ok := f.(map[string]any); ok {
			byName[fmt.Sprint(m["name"])] = m["type"]
		}
	}
	if _, hasOp := byName["op"]; hasOp {
		for _, side := range []string{"after", "before"} {
			if row := recordIn(byName[side]); row != nil {
				return columnsOfRecord(row), nil
			}
		}
		if strings.Contains(fmt.Sprint(byName["after"]), "io.debezium.data.Json") {
			return nil, fmt.Errorf("schema: the envelope's rows are MongoDB documents (extended JSON text): their columns are known only from the events")
		}
		return nil, fmt.Errorf("schema: the envelope has no row record")
	}
	return columnsOfRecord(rec), nil
}

// recordIn finds the record in a type or a nullable union of one.
func recordIn(t any) map[string]any {
	switch x := t.(type) {
	case map[string]any:
		if x["type"] == "record" {
			return x
		}
	case []any:
		for _, b := range x {
			if r := recordIn(b); r != nil {
				return r
			}
		}
	}
	return nil
}

func columnsOfRecord(rec map[string]any) []Column {
	fields, _ := rec["fields"].([]any)
	out := make([]Column, 0, len(fields))
	for _, f := range fields {
		m, ok := f.(map[string]any)
		if !ok {
			continue
		}
		name := fmt.Sprint(m["name"])
		if strings.HasPrefix(name, "__") {
			continue // ExtractNewRecordState's added fields
		}
		out = append(out, Column{Name: name, Kind: kindOf(m["type"])})
	}
	return out
}

func kindOf(t any) string {
	switch x := t.(type) {
	case string:
		switch x {
		case "int":
			return KindInt
		case "long":
			return KindLong
		case "float", "double":
			return KindDouble
		case "boolean":
			return KindBoolean
		case "bytes", "fixed":
			return KindBytes
		case "string", "enum":
			return KindString
		}
		return KindRecord // a named type defined elsewhere
	case []any:
		for _, b := range x {
			if b != "null" {
				return kindOf(b)
			}
		}
		return KindString
	case map[string]any:
		switch fmt.Sprint(x["connect.name"]) {
		case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
			return KindDate
		case "io.debezium.time.Timestamp", "io.debezium.time.MicroTimestamp", "io.debezium.time.NanoTimestamp",
			"io.debezium.time.ZonedTimestamp", "org.apache.kafka.connect.data.Timestamp":
			return KindTimestamp
		case "io.debezium.time.Time", "io.debezium.time.MicroTime", "io.debezium.time.NanoTime",
			"io.debezium.time.ZonedTime", "org.apache.kafka.connect.data.Time":
			return KindTime
		case "org.apache.kafka.connect.data.Decimal", "io.debezium.data.VariableScaleDecimal":
			return KindDecimal
		case "io.debezium.data.Json":
			return KindJSON
		case "io.debezium.data.EnumSet":
			return KindArray
		case "io.debezium.data.Bits":
			return KindBytes
		}
		switch fmt.Sprint(x["logicalType"]) {
		case "date":
			return KindDate
		case "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros":
			return KindTimestamp
		case "time-millis", "time-micros":
			return KindTime
		case "decimal":
			return KindDecimal
		}
		switch x["type"] {
		case "array":
			return KindArray
		case "record", "map":
			return KindRecord
		}
		return kindOf(x["type"])
	}
	return KindRecord
}
