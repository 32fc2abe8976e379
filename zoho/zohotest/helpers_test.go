package zohotest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// testClient talks to a Server over real HTTP with an access token.
type testClient struct {
	t     *testing.T
	srv   *Server
	token string
}

func newTestClient(t *testing.T, opts ...Option) *testClient {
	t.Helper()
	srv := NewServer(opts...)
	t.Cleanup(srv.Close)
	c := &testClient{t: t, srv: srv}
	c.token = c.mint(srv.Credentials().RefreshToken)
	return c
}

// tokenCall posts a form to the token endpoint.
func (c *testClient) tokenCall(form url.Values) (int, map[string]any) {
	c.t.Helper()
	resp, err := http.PostForm(c.srv.URL+"/oauth/v2/token", form)
	if err != nil {
		c.t.Fatalf("POST /oauth/v2/token: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func (c *testClient) refreshForm(refresh string) url.Values {
	cr := c.srv.Credentials()
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}, "refresh_token": {refresh}}
}

// mint gets an access token for a refresh token, failing the test if none.
func (c *testClient) mint(refresh string) string {
	c.t.Helper()
	_, out := c.tokenCall(c.refreshForm(refresh))
	tok, _ := out["access_token"].(string)
	if tok == "" {
		c.t.Fatalf("no access token minted: %v", out)
	}
	return tok
}

// raw sends a request with an explicit Authorization header.
func (c *testClient) raw(method, path, auth string, body []byte) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// call sends v (marshalled unless []byte or string) with the client's token
// and decodes the JSON answer (nil when empty).
func (c *testClient) call(method, path string, v any) (int, map[string]any) {
	c.t.Helper()
	status, _, b := c.raw(method, path, "Zoho-oauthtoken "+c.token, encode(c.t, v))
	return status, decodeAnswer(c.t, method+" "+path, b)
}

func encode(t *testing.T, v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAnswer(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: answer is not a JSON object: %v: %s", what, err, b)
	}
	return out
}

// items returns data[] of an answer as objects.
func items(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	list, ok := out["data"].([]any)
	if !ok {
		t.Fatalf("answer has no data[]: %v", out)
	}
	res := make([]map[string]any, len(list))
	for i, x := range list {
		res[i], _ = x.(map[string]any)
	}
	return res
}

func details(it map[string]any) map[string]any {
	d, _ := it["details"].(map[string]any)
	return d
}

func data(recs ...map[string]any) map[string]any {
	list := make([]any, len(recs))
	for i, r := range recs {
		list[i] = r
	}
	return map[string]any{"data": list}
}

func contact(last, email string) map[string]any {
	return map[string]any{"Last_Name": last, "Email": email}
}

func simClock() *Clock { return NewClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
