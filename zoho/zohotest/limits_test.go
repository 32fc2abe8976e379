package zohotest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// holdCalls starts n calls that the simulator holds (FaultSlow) until the
// returned cancel runs, and waits until all n are in flight.
func holdCalls(t *testing.T, c *testClient, n int, body func(i int) (string, string, any)) (cancel func()) {
	t.Helper()
	c.srv.SetSlowDuration(time.Hour)
	c.srv.FailNext(n, FaultSlow)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		method, path, v := body(i)
		req, _ := http.NewRequestWithContext(ctx, method, c.srv.URL+path, nil)
		if v != nil {
			req, _ = http.NewRequestWithContext(ctx, method, c.srv.URL+path, bytesReader(encode(t, v)))
		}
		req.Header.Set("Authorization", "Zoho-oauthtoken "+c.token)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.srv.inFlight() < n {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("only %d of %d calls in flight", c.srv.inFlight(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return func() {
		stop()
		wg.Wait()
		deadline := time.Now().Add(20 * time.Second)
		for c.srv.inFlight() > 0 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func (s *Simulator) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

func batch(n int) map[string]any {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = contact(fmt.Sprint("L", i), "")
	}
	return data(recs...)
}

func TestConcurrencyLimit(t *testing.T) {
	for _, tc := range []struct {
		edition string
		limit   int
	}{{"free", 5}, {"standard", 10}, {"professional", 15}} {
		t.Run(tc.edition, func(t *testing.T) {
			c := newTestClient(t, WithEdition(tc.edition))
			release := holdCalls(t, c, tc.limit, func(int) (string, string, any) { return "GET", "/crm/v8/Contacts?fields=Email", nil })
			status, out := c.call("GET", "/crm/v8/Contacts?fields=Email", nil)
			release()
			if status != 429 || out["code"] != "TOO_MANY_REQUESTS" {
				t.Fatalf("call over the limit: HTTP %d %v", status, out)
			}
			if p := c.srv.PeakConcurrency(); p != tc.limit {
				t.Errorf("peak %d, want %d", p, tc.limit)
			}
			if status, _ := c.call("GET", "/crm/v8/Contacts?fields=Email", nil); status != 204 {
				t.Errorf("after the calls ended: HTTP %d", status)
			}
		})
	}
	t.Run("WithConcurrency", func(t *testing.T) {
		c := newTestClient(t, WithConcurrency(2))
		release := holdCalls(t, c, 2, func(int) (string, string, any) { return "GET", "/crm/v8/Leads?fields=Email", nil })
		defer release()
		if status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil); status != 429 {
			t.Errorf("third call: HTTP %d", status)
		}
	})
}

func TestComplexSubPool(t *testing.T) {
	c := newTestClient(t, WithEdition("enterprise"))
	release := holdCalls(t, c, 10, func(int) (string, string, any) { return "POST", "/crm/v8/Contacts", batch(11) })
	defer release()
	if p := c.srv.PeakComplexConcurrency(); p != 10 {
		t.Errorf("peak complex %d, want 10", p)
	}
	if status, out := c.call("POST", "/crm/v8/Contacts/upsert", batch(11)); status != 429 || out["code"] != "TOO_MANY_REQUESTS" {
		t.Errorf("11th complex write: HTTP %d %v", status, out)
	}
	if status, _ := c.call("POST", "/crm/v8/Contacts", batch(10)); status != 201 {
		t.Errorf("a 10-record write is not complex: HTTP %d", status)
	}
	if status, _ := c.call("GET", "/crm/v8/Contacts?fields=Email", nil); status != 200 {
		t.Errorf("a read beside the full sub-pool: HTTP %d", status)
	}
}

func TestLatencyOverlaps(t *testing.T) {
	c := newTestClient(t, WithLatency(50*time.Millisecond, 50*time.Millisecond), WithSeed(3))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = c.raw("GET", "/crm/v8/Contacts?fields=Email", "Zoho-oauthtoken "+c.token, nil)
		}()
	}
	wg.Wait()
	if p := c.srv.PeakConcurrency(); p < 2 {
		t.Errorf("peak concurrency %d with 4 parallel 50ms calls", p)
	}
}

func TestCredits(t *testing.T) {
	clock := simClock()
	c := newTestClient(t, WithClock(clock), WithDailyCredits(25))
	ins := func() (int, http.Header) {
		status, h, _ := c.raw("POST", "/crm/v8/Contacts", "Zoho-oauthtoken "+c.token, encode(t, batch(100)))
		return status, h
	}
	if status, h := ins(); status != 201 || h.Get("X-API-CREDITS-REMAINING") != "" {
		t.Fatalf("first 100-record insert: HTTP %d, remaining header %q", status, h.Get("X-API-CREDITS-REMAINING"))
	}
	clock.Advance(12 * time.Hour)
	c.token = c.mint(c.srv.Credentials().RefreshToken) // the old one expired
	if status, h := ins(); status != 201 || h.Get("X-API-CREDITS-REMAINING") != "5" {
		t.Fatalf("second insert: HTTP %d, remaining %q, want 5", status, h.Get("X-API-CREDITS-REMAINING"))
	}
	if used := c.srv.CreditsUsed(); used != 20 {
		t.Errorf("credits used %d, want 20", used)
	}
	status, _, b := c.raw("POST", "/crm/v8/Contacts", "Zoho-oauthtoken "+c.token, encode(t, batch(100)))
	if out := decodeAnswer(t, "insert", b); status != 429 || out["code"] != "TOO_MANY_REQUESTS" {
		t.Fatalf("third insert over the limit: HTTP %d %v", status, out)
	}
	if status, _ := c.call("DELETE", "/crm/v8/Contacts?ids=1", nil); status != 400 {
		t.Errorf("a 1-credit call still fits: HTTP %d", status)
	}
	clock.Advance(12*time.Hour + time.Second) // the first insert leaves the window
	c.token = c.mint(c.srv.Credentials().RefreshToken)
	if used := c.srv.CreditsUsed(); used != 11 {
		t.Errorf("credits used after 24h %d, want 11", used)
	}
	if status, _ := ins(); status != 201 {
		t.Errorf("insert after the window moved: HTTP %d", status)
	}
	var charged []int
	for _, r := range c.srv.Requests() {
		if r.Operation == "insert" {
			charged = append(charged, r.Credits)
		}
	}
	if fmt.Sprint(charged) != "[10 10 0 10]" {
		t.Errorf("credits per insert %v", charged)
	}
}

func TestEditionCredits(t *testing.T) {
	for _, tc := range []struct {
		edition string
		users   int
		want    int
	}{{"free", 3, 5000}, {"standard", 4, 51000}, {"standard", 1000, 100000}, {"professional", 10, 55000},
		{"enterprise", 10000, 5000000}, {"ultimate", 10, 70000}} {
		conc, credits, ok := editionLimits(tc.edition, tc.users)
		if !ok || credits != tc.want || conc == 0 {
			t.Errorf("%s with %d users: %d credits, want %d", tc.edition, tc.users, credits, tc.want)
		}
	}
	// The limit is enforced: free allows 5000 credits.
	clock := simClock()
	c := newTestClient(t, WithClock(clock), WithEdition("free"))
	c.srv.mu.Lock()
	c.srv.charges = append(c.srv.charges, charge{at: clock.Now(), credits: 4999})
	c.srv.mu.Unlock()
	if status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil); status != 204 {
		t.Errorf("5000th credit: HTTP %d", status)
	}
	if status, _ := c.call("GET", "/crm/v8/Leads?fields=Email", nil); status != 429 {
		t.Errorf("5001st credit: HTTP %d", status)
	}
}

func TestRetryAfter(t *testing.T) {
	c := newTestClient(t, WithDailyCredits(1))
	c.srv.SetRetryAfter(1500 * time.Millisecond)
	c.call("GET", "/crm/v8/Leads?fields=Email", nil)
	status, h, _ := c.raw("GET", "/crm/v8/Leads?fields=Email", "Zoho-oauthtoken "+c.token, nil)
	if n, _ := strconv.Atoi(h.Get("Retry-After")); status != 429 || n != 2 {
		t.Errorf("HTTP %d Retry-After %q, want 429 and 2", status, h.Get("Retry-After"))
	}
}
