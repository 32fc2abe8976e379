// Package zoho is a client for the Zoho CRM REST API (v8): OAuth 2.0 with a
// shared, refreshed-ahead access token; insert, update, upsert and delete of
// up to 100 records a call with every response mapped back to its input
// record; tags; COQL; and fields metadata. Every call passes through one
// limiter that keeps to Zoho's concurrency limits and the org's daily API
// credits.
//
// It knows nothing of Kafka or Debezium. Errors carry their class (see
// Class): a per-record rejection to set aside, a transient condition to
// retry, or a fatal one that a person must fix, with a message saying how.
//
// The simulator in package zohotest answers like Zoho does, for tests.
package zoho
