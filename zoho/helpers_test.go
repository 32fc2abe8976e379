package zoho_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"zohosink/zoho"
)

// fixtureDir holds real Zoho bodies (see its SOURCES.md).
const fixtureDir = "testdata/fixtures" // copies of ../shared/zoho/fixtures (SOURCES.md says where each comes from)

// fixture reads a fixture body; a missing fixture fails the test.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture %s is missing (expected in %s): %v", name, fixtureDir, err)
	}
	return b
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secretWatch captures a client's log and the errors a test saw, and fails
// the test at its end if any of the given secrets appears in them.
type secretWatch struct {
	t       testing.TB
	log     syncBuffer
	mu      sync.Mutex
	texts   []string
	secrets []string
}

func watchSecrets(t testing.TB) *secretWatch {
	w := &secretWatch{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		all := append([]string{w.log.String()}, w.texts...)
		for _, s := range w.secrets {
			if s == "" {
				continue
			}
			for _, text := range all {
				if strings.Contains(text, s) {
					t.Errorf("a secret (%d chars, starting %q) leaked into a log line or error: %q", len(s), s[:min(4, len(s))], text)
				}
			}
		}
	})
	return w
}

// Logger returns a debug-level logger whose output is checked.
func (w *secretWatch) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&w.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Secret adds strings that must never appear.
func (w *secretWatch) Secret(s ...string) {
	w.mu.Lock()
	w.secrets = append(w.secrets, s...)
	w.mu.Unlock()
}

// Err records an error's text (and %+v / %#v forms) for checking; it returns err.
func (w *secretWatch) Err(err error) error {
	if err == nil {
		return nil
	}
	w.Text(err.Error())
	var ze *zoho.Error
	if errors.As(err, &ze) {
		w.Text(ze.Message, ze.Hint)
		if ze.Err != nil {
			w.Text(ze.Err.Error())
		}
	}
	return err
}

// Text records texts for checking.
func (w *secretWatch) Text(s ...string) { w.mu.Lock(); w.texts = append(w.texts, s...); w.mu.Unlock() }

// asError returns err as *zoho.Error or fails.
func asError(t testing.TB, err error) *zoho.Error {
	t.Helper()
	var ze *zoho.Error
	if !errors.As(err, &ze) {
		t.Fatalf("want a *zoho.Error, got %T: %v", err, err)
	}
	return ze
}
