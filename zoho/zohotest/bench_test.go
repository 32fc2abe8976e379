package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"testing"
)

// BenchmarkUpsert100 measures the server-side cost of a 100-record upsert
// (half updates, half inserts) into an org holding 10,000 contacts, through
// ServeHTTP without a network.
func BenchmarkUpsert100(b *testing.B) {
	var sim *Simulator
	var tok string
	fresh := func() {
		sim = New(WithSeed(1), WithDailyCredits(1<<40))
		for i := range 10000 {
			sim.Seed("Contacts", map[string]any{"Last_Name": "L", "Email": fmt.Sprintf("c%d@example.com", i)})
		}
		sim.mu.Lock()
		tok, _ = sim.mintLocked(sim.oauth.creds.RefreshToken, sim.oauth.refresh[sim.oauth.creds.RefreshToken], sim.now())
		sim.mu.Unlock()
	}
	fresh()
	bodies := make([][]byte, 64)
	for j := range bodies {
		recs := make([]any, 100)
		for i := range recs {
			email := fmt.Sprintf("c%d@example.com", (j*50+i)%10000)
			if i%2 == 1 {
				email = fmt.Sprintf("new%d-%d@example.com", j, i)
			}
			recs[i] = map[string]any{"Last_Name": "Name", "First_Name": "F", "Email": email, "Phone": "+1 555 0100",
				"Mailing_City": "Paris", "Title": "Engineer", "Lead_Source": "Web Download"}
		}
		bodies[j], _ = json.Marshal(map[string]any{"data": recs, "duplicate_check_fields": []string{"Email"}, "trigger": []string{}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest("POST", "/crm/v8/Contacts/upsert", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		if i%len(bodies) == len(bodies)-1 { // a fresh org, so that half the records stay inserts
			b.StopTimer()
			fresh()
			runtime.GC()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/record")
}

// BenchmarkCOQLLookup measures a 50-value "in" lookup over 10,000 contacts.
func BenchmarkCOQLLookup(b *testing.B) {
	sim := New(WithSeed(1), WithDailyCredits(1<<40))
	for i := range 10000 {
		sim.Seed("Contacts", map[string]any{"Last_Name": "L", "Email": fmt.Sprintf("c%d@example.com", i)})
	}
	sim.mu.Lock()
	tok, _ := sim.mintLocked(sim.oauth.creds.RefreshToken, sim.oauth.refresh[sim.oauth.creds.RefreshToken], sim.now())
	sim.mu.Unlock()
	q := "select id, Email from Contacts where Email in ("
	for i := range 50 {
		if i > 0 {
			q += ","
		}
		q += fmt.Sprintf("'c%d@example.com'", i*97)
	}
	body, _ := json.Marshal(map[string]any{"select_query": q + ") limit 200"})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/crm/v8/coql", bytes.NewReader(body))
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		sim.ResetRequests()
	}
}
