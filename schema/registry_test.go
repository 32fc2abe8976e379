package schema

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// proxy puts an httptest server in front of a registry handler, counting
// schema-by-id requests and letting a test hold or fail them.
type proxy struct {
	srv      *httptest.Server
	byID     atomic.Int64
	mu       sync.Mutex
	failNext int           // answer this many by-id requests with 503
	hold     chan struct{} // when not nil, by-id requests wait for it to close
	arrived  chan struct{} // receives once per by-id request
}

func newProxy(t *testing.T, target string) (*proxy, *sr.Client) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{arrived: make(chan struct{}, 1000)}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			p.byID.Add(1)
			p.arrived <- struct{}{}
			p.mu.Lock()
			fail := p.failNext > 0
			if fail {
				p.failNext--
			}
			hold := p.hold
			p.mu.Unlock()
			if hold != nil {
				<-hold
			}
			if fail {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error_code":50003,"message":"Error while forwarding the request to the primary"}`))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	cl, err := sr.NewClient(sr.URLs(p.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return p, cl
}

func wireSchemaRegistry(t *testing.T) (target string) {
	t.Helper()
	reg, _ := registry(t)
	reg.SeedSchema("dbserver1.inventory.customers-value", 1, 6, sr.Schema{Schema: string(readFixture(t, mysqlEnvelope))})
	return reg.URL()
}

func TestRegistryDownIsRetryable(t *testing.T) {
	reg, cl := registry(t)
	reg.Close() // nothing listens any more
	d := newDecoder(t, WithRegistry(cl))
	_, err := d.Decode(context.Background(), Message{Topic: "orders", Partition: 3, Offset: 10, Value: readFixture(t, wireMessage)})
	if !IsRetryable(err) || !errors.Is(err, ErrRegistry) {
		t.Fatalf("err = %v, want retryable ErrRegistry", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.SchemaID != 6 || e.Stage != "value" || e.Offset != 10 {
		t.Errorf("error = %+v", e)
	}
}

func TestRegistry503IsRetryableAndNotCached(t *testing.T) {
	p, cl := newProxy(t, wireSchemaRegistry(t))
	p.failNext = 1
	d := newDecoder(t, WithRegistry(cl))
	m := Message{Topic: "dbserver1.inventory.customers", Value: readFixture(t, wireMessage)}

	_, err := d.Decode(context.Background(), m)
	if !IsRetryable(err) || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "50003") {
		t.Fatalf("first decode: %v, want retryable 503", err)
	}
	ch, err := d.Decode(context.Background(), m)
	if err != nil || ch.After["first_name"] != "Sally" {
		t.Fatalf("second decode: %v %v", ch.After, err)
	}
	if n := p.byID.Load(); n != 2 {
		t.Errorf("registry asked %d times, want 2 (the failure must not be cached)", n)
	}
	if _, err := d.Decode(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := p.byID.Load(); n != 2 {
		t.Errorf("registry asked %d times after a success, want the cache to answer", n)
	}
}

func TestUnknownSchemaIDIsPerRecord(t *testing.T) {
	p, cl := newProxy(t, wireSchemaRegistry(t))
	d := newDecoder(t, WithRegistry(cl))
	value := framed(4242, []byte{0})
	for i := 0; i < 2; i++ {
		_, err := d.Decode(context.Background(), Message{Topic: "orders", Partition: 2, Offset: 1234, Value: value})
		if !IsPerRecord(err) || !errors.Is(err, ErrUnknownSchema) {
			t.Fatalf("err = %v, want per-record ErrUnknownSchema", err)
		}
		for _, part := range []string{"orders/2@1234", "schema id 4242", "value"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%q does not name %q", err, part)
			}
		}
	}
	if n := p.byID.Load(); n != 1 {
		t.Errorf("registry asked %d times for an unknown id, want 1 (remembered)", n)
	}
}

// 100 goroutines decode records of an id nobody fetched yet: the registry
// sees one request, and every goroutine gets the change.
func TestSchemaFetchedOnceForConcurrentDecodes(t *testing.T) {
	p, cl := newProxy(t, wireSchemaRegistry(t))
	p.hold = make(chan struct{})
	d := newDecoder(t, WithRegistry(cl))
	value := readFixture(t, wireMessage)

	const n = 100
	var started, done sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			started.Done()
			ch, err := d.Decode(context.Background(), Message{Topic: "dbserver1.inventory.customers", Offset: int64(i), Value: value})
			if err == nil && (ch.After["id"] != int32(1001) || ch.Offset != int64(i)) {
				err = errors.New("wrong change")
			}
			errs <- err
		}(i)
	}
	started.Wait()
	<-p.arrived // the one fetch is at the registry; everyone else waits on it
	close(p.hold)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := p.byID.Load(); got != 1 {
		t.Errorf("registry asked %d times, want 1", got)
	}
}

// A caller whose context ends while it waits gets a retryable error; the
// fetch it joined still completes for others.
func TestWaiterContextCancelled(t *testing.T) {
	p, cl := newProxy(t, wireSchemaRegistry(t))
	p.hold = make(chan struct{})
	d := newDecoder(t, WithRegistry(cl))
	value := readFixture(t, wireMessage)

	first := make(chan error, 1)
	go func() {
		_, err := d.Decode(context.Background(), Message{Topic: "x", Value: value})
		first <- err
	}()
	<-p.arrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Decode(ctx, Message{Topic: "x", Value: value})
	if !IsRetryable(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	close(p.hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestRegistryRejectsNonAvroAndBadSchemas(t *testing.T) {
	reg, cl := registry(t)
	reg.SeedSchema("p-value", 1, 11, sr.Schema{Schema: `syntax = "proto3"; message M { int32 a = 1; }`, Type: sr.TypeProtobuf})
	reg.SeedSchema("q-value", 1, 12, sr.Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}`})
	d := newDecoder(t, WithRegistry(cl))
	for id, want := range map[int]string{11: "only AVRO", 12: `unknown type "Nope"`} {
		_, err := d.Decode(context.Background(), Message{Topic: "t", Value: framed(id, []byte{2})})
		if !IsPerRecord(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("id %d: %v, want per-record %q", id, err, want)
		}
	}
}
