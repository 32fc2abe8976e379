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
// before/after/source/message fields), not by schema names. Records without
// that shape are flattened rows: see Change.Flattened.
package schema
