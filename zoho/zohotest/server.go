package zohotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"
)

func sortRecords(rs []*record, cmp func(a, b *record) int) { slices.SortStableFunc(rs, cmp) }

// Server is a Simulator listening on a random loopback port, like
// httptest.Server. The token endpoint is URL+"/oauth/v2/token" and the API
// URL+"/crm/v8/...": URL serves as both accounts URL and api_domain.
type Server struct {
	*Simulator
	URL string
	srv *httptest.Server
}

// NewServer starts a Simulator made with opts on 127.0.0.1 and sets its
// base URL to the server's URL.
func NewServer(opts ...Option) *Server {
	sim := New(opts...)
	srv := httptest.NewServer(sim)
	sim.SetBaseURL(srv.URL)
	return &Server{Simulator: sim, URL: srv.URL, srv: srv}
}

// Close releases calls held by latency or FaultSlow, shuts the server down
// and waits for its handlers to return.
func (s *Server) Close() {
	s.Simulator.shutdown()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// ListenAndServe serves the simulator on addr until ctx ends, with the base
// URL set to http://<bound address>. It returns nil when ctx ended, or the
// error that stopped it. It logs nothing.
func (s *Simulator) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the simulator on ln until ctx ends, with ln's address as
// its base URL (token responses' api_domain).
func (s *Simulator) Serve(ctx context.Context, ln net.Listener) error {
	s.SetBaseURL("http://" + ln.Addr().String())
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		s.shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-errc //nolint:errcheck // the Serve error of a server shut down
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
}
