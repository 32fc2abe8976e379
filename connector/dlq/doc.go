// Package dlq is zohosink's dead-letter topic: the format of a dead letter
// (letter.go: the headers, New to build one, Parse to read one, ForReplay
// for the record a replay hands to its sync), reading a topic without a
// consumer group (read.go), which copy of a source record is the newest
// (copies.go: a record that fails again when replayed is dead-lettered
// again with its replay count raised), and what became of each dead letter
// (progress.go: the replay group, the --max-replays each stretch was read
// with, pending/replayed/left/superseded).
//
// The headers are Kafka Connect's error reporter's where one exists
// (__connect.errors.*), so tools that read Connect's dead letters read
// these; README.md, "The dead-letter topic", lists them.
package dlq
