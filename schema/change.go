package schema

import (
	"math/big"
	"time"
)

// Message is one Kafka record as the decoder needs it. It mirrors the fields
// of a consumed record without tying this package to a Kafka client.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Op is what happened to a row.
type Op byte

const (
	OpCreate    Op = 'c' // a row was inserted
	OpRead      Op = 'r' // a row was read by a snapshot
	OpUpdate    Op = 'u' // a row was updated
	OpDelete    Op = 'd' // a row was deleted
	OpTruncate  Op = 't' // the table was truncated (no key, no rows)
	OpMessage   Op = 'm' // a PostgreSQL logical decoding message
	OpTombstone Op = 'T' // a null value following a delete, for log compaction

	// Records on a Debezium topic that are not about a row. They carry no
	// Key columns worth writing, no Before and no After.

	// OpHeartbeat is a Debezium heartbeat (topic __debezium-heartbeat.<prefix>,
	// value schema io.debezium.connector.common.Heartbeat {ts_ms}).
	OpHeartbeat Op = 'h'
	// OpTransaction is a transaction boundary on <prefix>.transaction
	// (status BEGIN or END): see Change.Transaction.
	OpTransaction Op = 'x'
	// OpSchemaChange is a DDL event on the schema change topic
	// (io.debezium.connector.*.SchemaChangeValue): see Change.SchemaChange.
	OpSchemaChange Op = 's'
)

// String returns the Debezium letter of a row op (c, r, u, d, t, m) and a
// name for the others: "tombstone", "heartbeat", "transaction",
// "schema_change" ("unknown" for the zero Op).
func (o Op) String() string {
	switch o {
	case 0:
		return "unknown"
	case OpTombstone:
		return "tombstone"
	case OpHeartbeat:
		return "heartbeat"
	case OpTransaction:
		return "transaction"
	case OpSchemaChange:
		return "schema_change"
	}
	return string(rune(o))
}

// IsRowChange reports whether the op is a change of one row: an insert, a
// snapshot read, an update or a delete. Truncates, logical decoding
// messages, tombstones, heartbeats, transaction boundaries and schema
// changes are not: a sink skips them.
func (o Op) IsRowChange() bool {
	switch o {
	case OpCreate, OpRead, OpUpdate, OpDelete:
		return true
	}
	return false
}

// Row is a table row: column name to value. Values are one of:
//
//	nil                      SQL NULL
//	bool, int32, int64, float32, float64, string, []byte
//	                         (INT8/INT16 columns are int32; a timestamp or
//	                         date outside years 0..9999, as PostgreSQL's
//	                         ±infinity sentinels are, stays the raw int32 or
//	                         int64 Debezium sent; BIT(1) is a bool)
//	Date                     a calendar date without zone (DATE columns)
//	TimeOfDay                a time past midnight without zone (TIME columns;
//	                         a ZonedTime is normalised to UTC)
//	time.Time                a timestamp: naive timestamps are read as UTC;
//	                         zoned ones are normalised to UTC (a ZonedTimestamp
//	                         "infinity"/"-infinity" stays that string)
//	Decimal                  an exact decimal (NUMERIC, DECIMAL, MONEY)
//	JSON                     a JSON document as text (io.debezium.data.Json)
//	[]string                 an EnumSet (MySQL SET) or an Avro array of strings
//	[]any                    any other array
//	Row                      a nested record (rare: geometry, composite types)
//	                         or a map (hstore)
//	Unavailable              PostgreSQL's TOAST placeholder: "unchanged, not sent"
//
// MongoDB documents (Debezium's MongoDB connector sends before and after as
// extended JSON text) become rows too:
//
//   - each top-level field is a column; extended JSON wrappers become plain
//     values: $oid and $symbol a string, $numberInt int32, $numberLong
//     int64, $numberDouble float64, $numberDecimal an exact Decimal, $date
//     and $timestamp a time.Time in UTC, $binary []byte (a UUID subtype
//     the canonical UUID text), $uuid a string; a plain JSON integer is
//     int64 and any other plain number float64 (relaxed extended JSON
//     writes BSON doubles that way);
//   - a nested document or an array is JSON text of the plain values
//     (field order kept, wrappers unwrapped as above, dates as RFC 3339);
//   - every field of a nested document is also a column of its own, named
//     by its dotted path ("address.city", "address.geo.lat"), at any depth;
//     arrays are not expanded. A top-level field whose name itself contains
//     a dot wins over a dotted path of the same name.
//
// The same rules apply to a document flattened by ExtractNewDocumentState
// (a nested record is JSON text and dotted columns). The key of a MongoDB
// change is Row{"_id": plain id} (Debezium's key {"id": "<extended JSON>"}
// decoded), so an ObjectId key is {"_id": "5f1e..."}.
type Row map[string]any

// Change is one decoded Debezium change event.
type Change struct {
	Op Op
	// Key is the record key decoded to columns (nil for a null key). A plain
	// string key is Row{"": "the string"}.
	Key Row
	// KeyString is a canonical text form of the key, equal for equal keys
	// whatever the encoding; "" for a null key. It identifies the row when
	// changes are ordered and collapsed.
	KeyString string
	Before    Row // nil for c and r, and when the replica identity sends nothing
	After     Row // nil for d, t and tombstones
	Source    Source
	// Topic, Partition and Offset say where the record came from.
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is when the change happened in the source database when the
	// event says so (source.ts_ms), else the event's ts_ms, else the Kafka
	// record's timestamp.
	Timestamp time.Time
	// SchemaID is the registry id of the value's writer schema (0 for JSON).
	SchemaID int
	// Flattened is true when the value was already unwrapped by Debezium's
	// ExtractNewRecordState transform (the value has no envelope shape).
	// Then columns whose name starts with "__" are Debezium's additions and
	// are removed from the row; what they say goes to Op, Source, Timestamp:
	//
	//   - __deleted "true" or __op "d": OpDelete, the row is Before, After nil.
	//   - __op c, r, u, t give that Op. Without __op (and not deleted) the
	//     Op is OpCreate: the transform keeps no before image, so a
	//     flattened record can only be applied as an upsert of After.
	//   - __table, __db, __schema, __lsn, __connector, __name, __snapshot,
	//     __file, __pos, __txId (also spelt __source_table etc.) and
	//     __transaction_id fill Source; __source_ts_ms is Source.TsMs and the
	//     Timestamp; __ts_ms is the Timestamp when no source time is given.
	//   - A null value is OpTombstone, as on any topic.
	Flattened bool
	// Message is the logical decoding message of an OpMessage event.
	Message *LogicalMessage
	// Transaction is the boundary of an OpTransaction record.
	Transaction *TransactionMarker
	// SchemaChange is the DDL of an OpSchemaChange record.
	SchemaChange *SchemaChange

	// doc is set when before or after was a MongoDB document, so the key
	// is read as MongoDB's {"id": "<extended JSON>"}.
	doc bool
}

// TransactionMarker is a record of Debezium's transaction topic.
type TransactionMarker struct {
	Status     string // "BEGIN" or "END"
	ID         string // the transaction id
	EventCount int64  // events in the transaction (END only; 0 when absent)
}

// SchemaChange is a record of Debezium's schema change topic: the DDL that
// ran, as the connector read it.
type SchemaChange struct {
	Database string
	Schema   string // "" when the database has no schemas (MySQL)
	DDL      string
}

// Source is the part of Debezium's source block that callers act on.
type Source struct {
	Connector string // "postgresql", "mysql", ...
	Name      string // the topic prefix
	DB        string
	Schema    string // PostgreSQL schema; "" for MySQL
	Table     string
	Snapshot  string // "true", "first", "last", "false", "" ...
	TsMs      int64  // commit time in the source database, ms since epoch
	LSN       int64  // PostgreSQL; 0 when absent
	File      string // MySQL binlog file
	Pos       int64  // MySQL binlog position
	TxID      string // transaction id when the event has a transaction block
}

// Date is a calendar date with no time and no zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String formats the date as yyyy-MM-dd.
func (d Date) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
}

// DateOf returns the date of days since 1970-01-01.
func DateOf(daysSinceEpoch int64) Date {
	t := time.Unix(daysSinceEpoch*86400, 0).UTC()
	return Date{t.Year(), t.Month(), t.Day()}
}

// TimeOfDay is a time past midnight with no zone, at nanosecond precision.
type TimeOfDay time.Duration

// String formats the time as HH:mm:ss, with a fraction only when there is one.
func (t TimeOfDay) String() string {
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(t))
	if time.Duration(t)%time.Second == 0 {
		return base.Format("15:04:05")
	}
	return base.Format("15:04:05.999999999")
}

// Decimal is an exact decimal number: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// String formats the decimal exactly, without exponent ("-12.3400" for
// unscaled -123400 at scale 4).
func (d Decimal) String() string {
	if d.Unscaled == nil {
		return "0"
	}
	s := d.Unscaled.String()
	if d.Scale <= 0 {
		if d.Unscaled.Sign() == 0 {
			return "0"
		}
		for i := int32(0); i < -d.Scale; i++ {
			s += "0"
		}
		return s
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	for int32(len(s)) <= d.Scale {
		s = "0" + s
	}
	cut := int32(len(s)) - d.Scale
	s = s[:cut] + "." + s[cut:]
	if neg {
		s = "-" + s
	}
	return s
}

// JSON is a JSON document carried as text.
type JSON string

// Unavailable marks a PostgreSQL TOASTed column that did not change and was
// not sent: "keep what you have", never a value to write.
type Unavailable struct{}

func (Unavailable) String() string { return "__debezium_unavailable_value" }
