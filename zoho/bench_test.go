package zoho_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"zohosink/zoho"
	"zohosink/zoho/zohotest"
)

// BenchmarkUpsert100 measures one 100-record upsert through the client
// against the in-process simulator. The simulator runs in this process, so
// ns/op and allocs/op include its work; client-ns/op and client-allocs/op
// subtract a baseline measured first: the same request bytes sent with bare
// net/http and the answer read but not parsed. ns/record and allocs/record
// are the totals per record.
func BenchmarkUpsert100(b *testing.B) {
	srv := zohotest.NewServer(zohotest.WithEdition("ultimate"), zohotest.WithDailyCredits(1<<30))
	defer srv.Close()
	cr := srv.Credentials()
	c, err := zoho.NewClient(zoho.WithAccountsURL(srv.URL), zoho.WithCredentials(cr.ClientID, cr.ClientSecret, cr.RefreshToken))
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]zoho.Record, 100)
	for i := range batch {
		batch[i] = zoho.Record{"Last_Name": fmt.Sprintf("Bench%d", i), "First_Name": "B",
			"Email": fmt.Sprintf("bench%d@example.com", i), "Phone": "+1 555 0100", "Mailing_City": "Springfield"}
	}
	ctx := context.Background()
	opts := zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}}
	if _, err := c.Upsert(ctx, "Contacts", batch, opts); err != nil { // warm up: token, connection, records exist
		b.Fatal(err)
	}
	baseNs, baseAllocs := rawBaseline(b, srv, batch)

	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Upsert(ctx, "Contacts", batch, opts)
		if err != nil {
			b.Fatal(err)
		}
		if !res[99].OK() {
			b.Fatal(res[99].Err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(b.N)
	b.ReportMetric(ns/100, "ns/record")
	b.ReportMetric(allocs/100, "allocs/record")
	b.ReportMetric(ns-baseNs, "client-ns/op")
	b.ReportMetric(allocs-baseAllocs, "client-allocs/op")
}

// rawBaseline returns ns and allocations per call of the same upsert sent
// with bare net/http.
func rawBaseline(b *testing.B, srv *zohotest.Server, batch []zoho.Record) (float64, float64) {
	cr := srv.Credentials()
	resp, err := http.PostForm(srv.URL+"/oauth/v2/token", url.Values{"grant_type": {"refresh_token"},
		"client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}, "refresh_token": {cr.RefreshToken}})
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	body, _ := json.Marshal(map[string]any{"data": batch, "duplicate_check_fields": []string{"Email"}})
	send := func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/crm/v8/Contacts/upsert", bytes.NewReader(body))
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("baseline upsert: HTTP %d", resp.StatusCode)
		}
	}
	send()
	const n = 200
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for range n {
		send()
	}
	d := time.Since(start)
	runtime.ReadMemStats(&ms1)
	return float64(d.Nanoseconds()) / n, float64(ms1.Mallocs-ms0.Mallocs) / n
}
