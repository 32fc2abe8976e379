package test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// authFlow is a running `zohosink auth` browser flow.
type authFlow struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	port string
}

func startAuthFlow(t *testing.T, accountsURL, clientID, secret string) *authFlow {
	t.Helper()
	a := &authFlow{done: make(chan struct{}), port: strings.Split(freeAddr(t), ":")[1]}
	a.cmd = exec.Command(binary, "auth", "--client-id", clientID, "--accounts-url", accountsURL, "--redirect-port", a.port, "--timeout", "60s")
	a.cmd.Env = append(os.Environ(), "ZOHO_CLIENT_SECRET="+secret)
	w := lockedWriter{&a.mu, &a.out}
	a.cmd.Stdout, a.cmd.Stderr = w, w
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() { _ = a.cmd.Process.Kill(); <-a.done })
	eventually(t, 30*time.Second, "auth waits for the redirect", func() (bool, string) {
		return strings.Contains(a.output(), "Waiting for the redirect"), a.output()
	})
	return a
}

func (a *authFlow) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// authURL is the URL the flow asks the user to open.
func (a *authFlow) authURL(t *testing.T) *url.URL {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+(http\S+/oauth/v2/auth\?\S+)$`).FindStringSubmatch(a.output())
	if m == nil {
		t.Fatalf("no authorize URL in:\n%s", a.output())
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// callback fires a request at the flow's redirect listener, as any page in
// the user's browser could.
func (a *authFlow) callback(t *testing.T, q url.Values) (int, string) {
	t.Helper()
	return get(t, "http://localhost:"+a.port+"/callback?"+q.Encode())
}

func (a *authFlow) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("auth did not exit:\n%s", a.output())
	}
	return a.cmd.ProcessState.ExitCode()
}

// The browser flow's redirect listener answers any page the user's browser
// opens: a forged callback (no state, or another accounts server) is
// refused with 400 and sends the client secret nowhere; the real approval
// still completes.
func TestAuthBrowserFlowRefusesForgedCallbacks(t *testing.T) {
	s := newStack(t, 1, nil)
	c := s.sim.Credentials()
	var stolen atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"1000.a","refresh_token":"1000.evil","api_domain":"https://www.zohoapis.com","expires_in":3600}`))
	}))
	defer evil.Close()

	a := startAuthFlow(t, s.sim.URL, c.ClientID, c.ClientSecret)
	state := a.authURL(t).Query().Get("state")
	if len(state) < 32 {
		t.Fatalf("the authorize URL carries no random state: %s", a.authURL(t))
	}
	forged := []url.Values{
		{"code": {"1000.attacker.code"}, "accounts-server": {evil.URL}},                    // no state: the attack of the issue
		{"code": {"1000.attacker.code"}, "accounts-server": {"https://accounts.zoho.eu"}},  // no state, a real Zoho server: login CSRF
		{"code": {"1000.attacker.code"}, "state": {"0123"}, "accounts-server": {evil.URL}}, // a wrong state
		{"error": {"access_denied\x1b[2J"}},                                                // no state: not even an error is taken
	}
	for _, q := range forged {
		if code, body := a.callback(t, q); code != http.StatusBadRequest || !strings.Contains(body, "state") {
			t.Errorf("forged callback %v: %d %q, want 400 naming the state", q, code, body)
		}
	}
	// The real approval: the consent page redirects to the listener with
	// the code, the state and the accounts server.
	resp, err := http.Get(a.authURL(t).String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := a.exitCode(t); code != 0 || !strings.Contains(a.output(), "refresh_token: 1000.") {
		t.Fatalf("the real approval: exit %d\n%s", code, a.output())
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the client secret was sent to the attacker's server %d time(s)", n)
	}

	// With the right state, an accounts server that is not Zoho's (nor the
	// --accounts-url given) is refused, and nothing is sent to it.
	a = startAuthFlow(t, s.sim.URL, c.ClientID, c.ClientSecret)
	state = a.authURL(t).Query().Get("state")
	code, body := a.callback(t, url.Values{"code": {"1000.some.code"}, "state": {state}, "accounts-server": {evil.URL}})
	if code != http.StatusBadRequest || !strings.Contains(body, "not one of Zoho's") {
		t.Errorf("accounts-server %s with the right state: %d %q", evil.URL, code, body)
	}
	if code := a.exitCode(t); code == 0 || !strings.Contains(a.output(), "nothing was sent to it") {
		t.Fatalf("auth after a foreign accounts server: exit %d\n%s", code, a.output())
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the client secret was sent to the attacker's server %d time(s)", n)
	}
	if strings.Contains(a.output(), c.ClientSecret) {
		t.Fatal("auth printed the client secret")
	}
}
