// Package connector owns the sync pipeline: configuration, consuming Kafka
// topics, mapping decoded changes to Zoho records per mode, batching,
// writing, per-partition checkpoints and commits, dead letters, metrics and
// status.
package connector
