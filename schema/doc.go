// Package schema turns the bytes of a Kafka record written by Debezium into
// a Change: Confluent Schema Registry framing, Avro or JSON-converter bodies,
// the Debezium envelope (or a record already flattened by
// ExtractNewRecordState), and Debezium's and Kafka Connect's logical types.
//
// It knows nothing of Zoho and nothing of how records are consumed: callers
// hand it a Message and get back a Change or an *Error whose class says
// whether to retry (registry unreachable) or to dead-letter the record
// (bytes that cannot be decoded, a schema id the registry does not know).
//
// # Guarantees
//
//   - Every record is decoded with its own writer schema, fetched by id from
//     the registry once (one request in flight per id) and compiled once;
//     a new schema id mid-partition needs no restart.
//   - Values are exact: decimals keep every digit and their scale, 64-bit
//     integers stay integers (JSON numbers are read with UseNumber),
//     timestamps are UTC time.Time, dates are Date, times of day TimeOfDay.
//     See Row for every value type.
//   - Nothing is invented: PostgreSQL's TOAST placeholder is Unavailable,
//     ±infinity timestamp sentinels stay the raw integer, an unknown op is
//     an error.
//   - Decode never panics on any input (fuzzed) and is safe for concurrent
//     use.
//
// The envelope is recognised by its shape (a record with op and
// before/after/source/message fields), not by schema names. Records that
// are not about a row (heartbeats, transaction boundaries, schema changes)
// are recognised by schema name, else by shape and topic name, and get
// their own Op (see Op.IsRowChange); any other record is a flattened row:
// see Change.Flattened.
//
// # What is read
//
//   - Values written by AvroConverter (Confluent framing) or JsonConverter
//     with schemas.enable=true ({"schema", "payload"}, Connect type names
//     as JsonConverter writes them: "float" and "double" included) or
//     false (the bare value, or {"payload": ...} without a schema as other
//     systems write Debezium-format JSON).
//   - Envelopes of every relational connector and of the MongoDB
//     connector, whose before/after documents (extended JSON text) become
//     rows by the rules on Row; records flattened by ExtractNewRecordState
//     or ExtractNewDocumentState.
//   - Source metadata is read leniently: a source, transaction or ts_*
//     field whose value does not match its declared type is taken as it
//     comes instead of failing the record (nothing is written from it).
//     Row values (before, after) are read strictly.
//   - Without a schema, Debezium's DATE day counts and base64 DECIMALs
//     cannot be told from integers and text: SchemalessHint says so when a
//     value does not fit where it goes.
package schema
