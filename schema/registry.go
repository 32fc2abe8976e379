package schema

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
)

// writerSchema is a registry schema compiled for decoding. It is immutable
// once built and shared by every goroutine decoding records of that id.
type writerSchema struct {
	id   int
	root *node
	env  *envelopeShape // nil when the value is not a Debezium envelope
}

// schemaCache fetches writer schemas by id and keeps them forever (registry
// ids are immutable). At most one fetch per id is in flight: concurrent
// decoders of a new id wait for the first one's answer. Retryable failures
// are not remembered, so the next record asks again; an id the registry
// does not know and a schema that cannot be compiled are remembered.
type schemaCache struct {
	cl *sr.Client

	mu       sync.Mutex
	entries  map[int]*cacheEntry
	negative int // entries holding a per-record failure
}

// maxNegative bounds how many per-record failures (unknown ids, schemas
// that do not compile) are remembered, so garbage records with random ids
// cannot grow the cache without limit; past it they are asked again.
const maxNegative = 1024

type cacheEntry struct {
	done chan struct{} // closed when ws or err is set
	ws   *writerSchema
	err  error
}

func newSchemaCache(cl *sr.Client) *schemaCache {
	return &schemaCache{cl: cl, entries: map[int]*cacheEntry{}}
}

// get returns the compiled schema for id. Errors are *causeError: retryable
// ones say so.
func (c *schemaCache) get(ctx context.Context, id int) (*writerSchema, error) {
	for {
		c.mu.Lock()
		e, ok := c.entries[id]
		if ok {
			c.mu.Unlock()
			select {
			case <-e.done:
			default:
				select {
				case <-e.done:
				case <-ctx.Done():
					return nil, &causeError{msg: "waiting for schema id " + strconv.Itoa(id), err: ctx.Err(), retryable: true}
				}
			}
			if e.err != nil && isRetryableCause(e.err) && ctx.Err() == nil &&
				(errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) {
				// The fetching caller gave up; we have not: fetch ourselves.
				continue
			}
			return e.ws, e.err
		}
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[id] = e
		c.mu.Unlock()

		e.ws, e.err = c.fetch(ctx, id)
		if e.err != nil {
			c.mu.Lock()
			if isRetryableCause(e.err) || c.negative >= maxNegative {
				delete(c.entries, id)
			} else {
				c.negative++
			}
			c.mu.Unlock()
		}
		close(e.done)
		return e.ws, e.err
	}
}

func (c *schemaCache) fetch(ctx context.Context, id int) (*writerSchema, error) {
	if c.cl == nil {
		return nil, &causeError{err: ErrNoRegistry, retryable: true}
	}
	s, err := c.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, classifyRegistryError(id, err)
	}
	if s.Type != sr.TypeAvro {
		return nil, errf("schema id " + strconv.Itoa(id) + " is " + s.Type.String() + ", only AVRO is supported")
	}
	if len(s.References) > 0 {
		return nil, errf("schema id " + strconv.Itoa(id) + " uses schema references, which are not supported")
	}
	root, err := compileAvro(s.Schema)
	if err != nil {
		return nil, wrapErr("schema id "+strconv.Itoa(id), err)
	}
	return &writerSchema{id: id, root: root, env: envelopeOf(root)}, nil
}

// classifyRegistryError: "not found" is about the record (its id is wrong
// for this registry); everything else (refused connections, timeouts, 5xx,
// 401/403 while credentials are being fixed, garbage answers) is retryable,
// so nothing is dead-lettered for the registry's trouble.
func classifyRegistryError(id int, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		if re.ErrorCode == 40403 || re.StatusCode == http.StatusNotFound {
			return &causeError{msg: "schema id " + strconv.Itoa(id), err: ErrUnknownSchema}
		}
		msg := "registry answered HTTP " + strconv.Itoa(re.StatusCode)
		if re.ErrorCode != 0 {
			msg += " error code " + strconv.Itoa(re.ErrorCode)
		}
		if re.Message != "" {
			msg += ": " + truncate(re.Message)
		}
		return &causeError{msg: "fetch schema id " + strconv.Itoa(id), err: fmt.Errorf("%w: %s", ErrRegistry, msg), retryable: true}
	}
	return &causeError{msg: "fetch schema id " + strconv.Itoa(id), err: fmt.Errorf("%w: %w", ErrRegistry, err), retryable: true}
}
