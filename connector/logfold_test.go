package connector

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestFoldingHandlerFoldsRepeatedWarnings(t *testing.T) {
	var buf bytes.Buffer
	h := NewFoldingHandler(slog.NewTextHandler(&buf, nil), 30*time.Second)
	now := time.Unix(1000, 0)
	h.st.now = func() time.Time { return now }
	log := slog.New(h).With("sync", "contacts")
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	// 167 buffered records meet one registry outage: one line.
	for i := 0; i < 167; i++ {
		log.Warn("schema registry unavailable, retrying", "record", i, "err", fmt.Sprintf("decode wh.customers/0@%d: connection refused", i))
	}
	if got := lines(); len(got) != 1 || strings.Contains(got[0], "repeated") {
		t.Fatalf("after 167 identical warnings: %q", got)
	}
	// Another kind (other error text, other sync) is written at once; info always is.
	log.Warn("schema registry unavailable, retrying", "record", 1, "err", "timeout")
	slog.New(h).With("sync", "leads").Warn("schema registry unavailable, retrying", "record", 1, "err", "decode wh.customers/0@1: connection refused")
	log.Info("progress", "consumed", 1)
	log.Info("progress", "consumed", 1)
	if got := lines(); len(got) != 5 {
		t.Fatalf("other kinds and info lines were folded: %q", got)
	}
	// The way out: the count of what was folded is written.
	h.Flush()
	got := lines()
	if len(got) != 6 || !strings.Contains(got[5], "repeated=166") || !strings.Contains(got[5], "sync=contacts") || !strings.Contains(got[5], "record=166") || !strings.Contains(got[5], "0@166") {
		t.Fatalf("Flush wrote %q", got)
	}
	h.Flush() // nothing new folded: nothing written
	if len(lines()) != 6 {
		t.Fatalf("a second Flush wrote again: %q", lines())
	}
	// Past the window the kind is written again, with what was folded meanwhile.
	log.Warn("schema registry unavailable, retrying", "record", 1, "err", "decode wh.customers/0@1: connection refused")
	log.Warn("schema registry unavailable, retrying", "record", 2, "err", "decode wh.customers/0@2: connection refused")
	now = now.Add(31 * time.Second)
	log.Warn("schema registry unavailable, retrying", "record", 3, "err", "decode wh.customers/0@3: connection refused")
	got = lines()
	if len(got) != 7 || !strings.Contains(got[6], "repeated=2") {
		t.Fatalf("after the window: %q", got)
	}
}
