package zoho

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class says what a caller should do about an error.
type Class int

const (
	// Retryable: transient (429, 5xx, timeouts, refused connections, the
	// token endpoint unreachable or throttling). Try the same call again
	// later; nothing is wrong with the data.
	Retryable Class = iota + 1
	// PerRecord: Zoho rejected this record on its own (INVALID_DATA,
	// MANDATORY_NOT_FOUND, DUPLICATE_DATA, ...). Set it aside; others go on.
	PerRecord
	// Fatal: a person must act (revoked refresh token, missing scope or
	// permission, unknown module, wrong data center). Retrying cannot help.
	Fatal
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case PerRecord:
		return "per-record"
	case Fatal:
		return "fatal"
	}
	return "unknown"
}

// RecordError is Zoho's rejection of one record of a call.
type RecordError struct {
	Code     string // Zoho's code: INVALID_DATA, MANDATORY_NOT_FOUND, ...
	Message  string // Zoho's message
	APIName  string // the field at fault, when Zoho named one
	JSONPath string // e.g. "$.data[1].Company"
	// Details holds the rest of Zoho's details object (expected_data_type,
	// maximum_length, duplicate_record, more_records, ...).
	Details map[string]any
	// Errors are the errors of a MULTIPLE_OR_MULTI_ERRORS answer (several
	// errors for one record), one per field; nil otherwise. Message then
	// names each field and reason, and APIName the first field.
	Errors []RecordError
}

func (e *RecordError) Error() string {
	if e.APIName != "" {
		return fmt.Sprintf("zoho: %s: %s (field %s)", e.Code, e.Message, e.APIName)
	}
	return fmt.Sprintf("zoho: %s: %s", e.Code, e.Message)
}

// Class of a RecordError is always PerRecord.
func (e *RecordError) Class() Class { return PerRecord }

// Error is a call that failed as a whole.
type Error struct {
	Class      Class
	Op         Operation
	Module     string // "" for calls not about one module
	HTTPStatus int    // 0 when no response came
	Code       string // Zoho's code (INVALID_TOKEN, ...) or the token endpoint's error
	Message    string // what went wrong, in words, with no secret in it
	// Hint says what a person should do, for fatal errors.
	Hint string
	// RetryAfter is how long Zoho asked to wait (Retry-After), if it did.
	RetryAfter time.Duration
	// RequestID is Zoho's request or trace id when one was sent.
	RequestID string
	Err       error // the underlying error, if any (network, decoding)
}

func (e *Error) Error() string {
	s := "zoho"
	if e.Op != "" {
		s += " " + string(e.Op)
	}
	if e.Module != "" {
		s += " " + e.Module
	}
	s += ": "
	if e.Code != "" {
		s += e.Code + ": "
	}
	s += e.Message
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Hint != "" {
		s += ". " + strings.ToUpper(e.Hint[:1]) + e.Hint[1:]
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: the Class of an *Error or *RecordError in
// its chain; context cancellation and unknown errors are Retryable (a caller
// that gave up knows it did).
func ClassOf(err error) Class {
	var re *RecordError
	if errors.As(err, &re) {
		return PerRecord
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Retryable
}

// IsFatal reports whether a person must act before err can go away.
func IsFatal(err error) bool { return err != nil && ClassOf(err) == Fatal }

// IsRetryable reports whether the same call may succeed later.
func IsRetryable(err error) bool { return err != nil && ClassOf(err) == Retryable }

// OptionError is NewClient's error for options that cannot work, one
// problem per option, each naming it.
type OptionError struct {
	Problems []string
}

func (e *OptionError) Error() string {
	return "zoho: invalid client options: " + strings.Join(e.Problems, "; ")
}
