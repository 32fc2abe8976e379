// Package schema turns the bytes of a Kafka record written by Debezium into
// a Change: Confluent Schema Registry framing, Avro or JSON-converter bodies,
// the Debezium envelope (or a record already flattened by
// ExtractNewRecordState), and Debezium's and Kafka Connect's logical types.
//
// It knows nothing of Zoho and nothing of how records are consumed: callers
// hand it a Message and get back a Change or an *Error whose class says
// whether to retry (registry unreachable) or to dead-letter the record
// (bytes that cannot be decoded, a schema id the registry does not know).
package schema
