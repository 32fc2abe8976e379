package schema

import (
	"encoding/json"
	"strings"
	"time"
)

// Records on Debezium topics that are not row changes: heartbeats,
// transaction boundaries and schema changes. They are recognised by their
// schema name when the record has one (Avro, JSON with schemas), else by
// their shape and topic name, and get their own Op so that a sink skips
// them instead of writing their metadata as a row.
//
//   - Heartbeat: schema io.debezium.connector.common.Heartbeat, or a value
//     that is exactly {ts_ms}, or any value on a topic whose name starts
//     with __debezium-heartbeat.
//   - Transaction: schema *.TransactionMetadataValue, or a value with status
//     BEGIN or END and an id, and event_count and data_collections fields
//     (or on a topic whose name ends with .transaction).
//   - Schema change: schema io.debezium.connector.*.SchemaChangeValue, or a
//     value without op that has source and one of ddl, tableChanges and
//     historyRecord (or databaseName, ddl and tableChanges).

const heartbeatTopicPrefix = "__debezium-heartbeat"

// metaOp returns the op of a record that is not a row change, or 0.
func metaOp(schemaName, topic string, obj map[string]any) Op {
	switch {
	case schemaName == "":
	case strings.HasPrefix(schemaName, "io.debezium.") && strings.HasSuffix(schemaName, ".Heartbeat"):
		return OpHeartbeat
	case strings.HasSuffix(schemaName, ".TransactionMetadataValue"):
		return OpTransaction
	case strings.HasPrefix(schemaName, "io.debezium.connector.") && strings.HasSuffix(schemaName, ".SchemaChangeValue"):
		return OpSchemaChange
	}
	if _, ok := obj["op"]; ok {
		return 0 // an envelope, or a flattened row with its __op kept as op
	}
	if strings.HasPrefix(topic, heartbeatTopicPrefix) {
		return OpHeartbeat
	}
	if len(obj) == 1 {
		if _, ok := toInt64(obj["ts_ms"]); ok {
			return OpHeartbeat
		}
	}
	if st := textOf(obj["status"]); st == "BEGIN" || st == "END" {
		_, hasID := obj["id"]
		_, hasCount := obj["event_count"]
		_, hasColls := obj["data_collections"]
		if hasID && ((hasCount && hasColls) || strings.HasSuffix(topic, ".transaction")) {
			return OpTransaction
		}
	}
	has := func(k string) bool { _, ok := obj[k]; return ok }
	if has("source") && (has("ddl") || has("tableChanges") || has("historyRecord")) ||
		has("databaseName") && has("ddl") && has("tableChanges") {
		return OpSchemaChange
	}
	return 0
}

// applyMeta fills ch from a record that is not a row change.
func applyMeta(op Op, row Row, ch *Change, m *Message) {
	ch.Op = op
	var p envParts
	if src, ok := row["source"].(Row); ok {
		sourceFromRow(src, &p)
		ch.Source = p.src
	}
	ts, _ := toInt64(row["ts_ms"])
	switch op {
	case OpTransaction:
		t := &TransactionMarker{Status: textOf(row["status"]), ID: textOf(row["id"])}
		t.EventCount, _ = toInt64(row["event_count"])
		ch.Transaction = t
		ch.Source.TxID = t.ID
	case OpSchemaChange:
		sc := &SchemaChange{Database: textOf(row["databaseName"]), Schema: textOf(row["schemaName"]), DDL: textOf(row["ddl"])}
		if h, ok := row["historyRecord"].(string); ok && sc.DDL == "" {
			// Debezium 1.x embedded: the history record as JSON text.
			var hr struct {
				DatabaseName string `json:"databaseName"`
				SchemaName   string `json:"schemaName"`
				DDL          string `json:"ddl"`
			}
			if json.Unmarshal([]byte(h), &hr) == nil {
				sc.DDL = hr.DDL
				if sc.Database == "" {
					sc.Database = hr.DatabaseName
				}
				if sc.Schema == "" {
					sc.Schema = hr.SchemaName
				}
			}
		}
		ch.SchemaChange = sc
	}
	switch {
	case ch.Source.TsMs > 0:
		ch.Timestamp = time.UnixMilli(ch.Source.TsMs).UTC()
	case ts > 0:
		ch.Timestamp = time.UnixMilli(ts).UTC()
	default:
		ch.Timestamp = m.Timestamp
	}
}
