package connector

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The errors of the pipeline. A record's own trouble (it cannot be
// decoded, mapped, or Zoho refuses it) is an outcome that dead-letters it
// (write.go); trouble that outlasts any record (Zoho's zoho.Error with
// Class Fatal, Kafka refusing the credentials) stops the runner (Runner.fail).

// mapError is a change that cannot be mapped: dead-lettered at stage map.
type mapError struct {
	Field string // the Zoho field at fault, "" when none
	Msg   string
	// missing: a mapped column is not in the row; Msg lists the row's
	// columns, which a row decoded with a projection holds only some of.
	missing bool
}

func (e *mapError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("field %s: %s", e.Field, e.Msg)
	}
	return e.Msg
}

// isFatalKafka reports Kafka errors no retry can fix: a person must change
// credentials or ACLs.
func isFatalKafka(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed)
}
