package schema

import (
	"context"
	"errors"
	"strconv"
)

// Class says what a caller should do about an error.
type Class int

const (
	// Retryable: transient trouble outside the record (the schema registry
	// unreachable, answering 5xx or timing out, the caller's context ending).
	// Decode the same record again later; nothing is wrong with its bytes.
	Retryable Class = iota + 1
	// PerRecord: this record cannot be decoded (bad framing, a schema id the
	// registry does not know, bytes that do not match the writer schema, a
	// value no logical type can hold). Set it aside (dead-letter); others go on.
	PerRecord
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case PerRecord:
		return "per-record"
	}
	return "unknown"
}

// Sentinel causes, matched with errors.Is through an *Error.
var (
	// ErrUnsupportedFraming: the record uses a Confluent framing this
	// decoder does not read (magic byte 0x01 with a schema GUID, or the
	// schema id carried in a __key_schema_id / __value_schema_id header).
	ErrUnsupportedFraming = errors.New("unsupported framing")
	// ErrBadFraming: the bytes are not Confluent-framed Avro nor JSON.
	ErrBadFraming = errors.New("bad framing")
	// ErrUnknownSchema: the registry does not know the schema id (40403).
	ErrUnknownSchema = errors.New("schema id not found in the registry")
	// ErrRegistry: the registry could not be reached or failed (retryable).
	ErrRegistry = errors.New("schema registry unavailable")
	// ErrNoRegistry: a record is Confluent-framed Avro but the decoder was
	// built without a registry (Retryable: a configuration problem, not the
	// record's).
	ErrNoRegistry = errors.New("no schema registry configured")
)

// Error is a record that could not be decoded, with where it came from and
// what the caller should do about it. It never holds registry credentials.
type Error struct {
	Class     Class
	Topic     string
	Partition int32
	Offset    int64
	// SchemaID is the writer schema id of the part that failed (0 when the
	// failure came before an id was read, or for JSON).
	SchemaID int
	// Stage is "key" or "value".
	Stage string
	Err   error
}

// Error reads like
// "schema: decode value of orders/2@1234 (schema id 7): <why>".
func (e *Error) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, "schema: decode "...)
	if e.Stage != "" {
		b = append(b, e.Stage...)
	} else {
		b = append(b, "record"...)
	}
	b = append(b, " of "...)
	b = append(b, e.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(e.Partition), 10)
	b = append(b, '@')
	b = strconv.AppendInt(b, e.Offset, 10)
	if e.SchemaID != 0 {
		b = append(b, " (schema id "...)
		b = strconv.AppendInt(b, int64(e.SchemaID), 10)
		b = append(b, ')')
	}
	b = append(b, ": "...)
	if e.Err != nil {
		b = append(b, e.Err.Error()...)
	} else {
		b = append(b, "unknown error"...)
	}
	return string(b)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the Class of an *Error in its chain;
// context cancellation and unknown errors are Retryable (a caller that gave
// up knows it did, and nothing says the record is bad).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) && e.Class != 0 {
		return e.Class
	}
	return Retryable
}

// IsRetryable reports whether decoding the same record again may succeed.
func IsRetryable(err error) bool { return err != nil && ClassOf(err) == Retryable }

// IsPerRecord reports whether err is about this record alone: dead-letter it
// and go on.
func IsPerRecord(err error) bool { return err != nil && ClassOf(err) == PerRecord }

// causeError is a failure inside the decoding of a value, before it is
// placed (topic, offset, stage) in an *Error. Retryable causes are marked.
type causeError struct {
	msg       string
	err       error
	retryable bool
}

func (e *causeError) Error() string {
	if e.err != nil {
		if e.msg == "" {
			return e.err.Error()
		}
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *causeError) Unwrap() error { return e.err }

func errf(msg string) error { return &causeError{msg: msg} }

func wrapErr(msg string, err error) error { return &causeError{msg: msg, err: err} }

// pathError says at which field of the datum decoding failed.
type pathError struct {
	field string
	err   error
}

func (e *pathError) Error() string { return "field " + e.field + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func inField(name string, err error) error {
	if pe, ok := err.(*pathError); ok { //nolint:errorlint // only a pathError made here, never wrapped, takes the outer field's name
		return &pathError{field: name + "." + pe.field, err: pe.err}
	}
	return &pathError{field: name, err: err}
}

func isRetryableCause(err error) bool {
	var c *causeError
	for e := err; e != nil; {
		if errors.As(e, &c) {
			if c.retryable {
				return true
			}
			e = c.err
			continue
		}
		break
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
