package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"zohosink/zoho"
)

const authUsage = `
ZOHO_CLIENT_SECRET=... zohosink auth --data-center DC --client-id ID [--grant-token CODE] [--write FILE]

Gets a Zoho refresh token and prints it with the api_domain to use.

Two ways:
  Self Client: in https://api-console.zoho.com (or your data center's console)
    create a Self Client, generate a grant token with the scopes
    ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ,ZohoCRM.settings.tags.READ
    and pass it with --grant-token within 3 minutes.
  Browser: register a Server-based Application whose redirect URI is
    http://localhost:8085/callback (or --redirect-port), run without
    --grant-token, open the printed URL and approve.

--write FILE stores the refresh token alone in FILE with 0600 permissions, so
the config can say: refresh_token: file:/path/to/FILE

The client secret is read from the environment variable ZOHO_CLIENT_SECRET:
--client-secret on the command line shows it in ps and in the shell history.

Zoho keeps at most 20 refresh tokens per user and client, and minting a 21st
silently revokes the oldest: get one per deployment (all its processes share
it), not one per run.

Examples:
  export ZOHO_CLIENT_SECRET=...   # or read it from your secret store
  zohosink auth --data-center eu --client-id 1000.XXXX --grant-token 1000.abcd... --write ./refresh_token
  zohosink auth --data-center us --client-id 1000.XXXX --write ~/.zohosink/refresh_token`

func cmdAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("auth", authUsage, stdout, stderr)
	dc := fs.String("data-center", "us", "Zoho data center: us, eu, in, au, jp, ca, cn, sa")
	env := fs.String("environment", "production", "production, sandbox or developer")
	clientID := fs.String("client-id", "", "the OAuth client id (required)")
	clientSecret := fs.String("client-secret", "", "the OAuth client secret (prefer env ZOHO_CLIENT_SECRET: a flag shows in ps)")
	grant := fs.String("grant-token", "", "a Self Client grant token (skips the browser)")
	accountsURL := fs.String("accounts-url", "", "override the accounts URL (tests, proxies)")
	port := fs.Int("redirect-port", 8085, "local port of the browser flow's redirect listener")
	scopes := fs.String("scopes", "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ,ZohoCRM.settings.tags.READ", "scopes to ask for in the browser flow")
	write := fs.String("write", "", "store the refresh token in this file (mode 0600)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long the browser flow waits")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clientSecret == "" {
		*clientSecret = os.Getenv("ZOHO_CLIENT_SECRET")
	}
	if *clientID == "" || *clientSecret == "" {
		return &exitError{code: 2, err: errors.New("--client-id and the client secret are required: export ZOHO_CLIENT_SECRET (or pass --client-secret); see --help")}
	}
	accounts := *accountsURL
	if accounts == "" {
		var err error
		if accounts, err = zoho.AccountsURL(*dc, *env); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	code, redirect := *grant, ""
	if code == "" {
		var err error
		code, redirect, accounts, err = browserFlow(ctx, accounts, *accountsURL != "", *clientID, *port, strings.Split(*scopes, ","), *timeout, stdout)
		if err != nil {
			return err
		}
	}
	g, err := zoho.ExchangeCode(ctx, &http.Client{Timeout: 30 * time.Second}, accounts, *clientID, *clientSecret, redirect, code)
	if err != nil {
		return err
	}
	if g.RefreshToken == "" {
		return errors.New("no refresh token in Zoho's answer: a grant token can be exchanged only once and lives 3 minutes; generate a new one (Self Client) or approve again with access_type=offline")
	}
	if *write != "" {
		if err := os.WriteFile(*write, []byte(g.RefreshToken+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", *write, err)
		}
		if err := os.Chmod(*write, 0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", *write, err)
		}
		// The token goes to the file only: not to a terminal's scrollback
		// or a CI log.
		fmt.Fprintf(stdout, "stored the refresh token in %s (mode 0600); in the config: refresh_token: file:%s\napi_domain: %s\n", *write, *write, g.APIDomain)
	} else {
		fmt.Fprintf(stdout, "refresh_token: %s\napi_domain: %s\n", g.RefreshToken, g.APIDomain)
	}
	fmt.Fprintln(stderr, refreshTokenWarning)
	return nil
}

// refreshTokenWarning is said after every refresh token minted.
var refreshTokenWarning = fmt.Sprintf("note: Zoho keeps at most %d refresh tokens per user and client, and minting one more silently revokes the oldest: use one refresh token per deployment, shared by all its processes.", zoho.MaxRefreshTokensPerClient)

// browserFlow runs the authorization-code flow with a redirect listener on
// localhost. It returns the code, the redirect URI used, and the accounts URL
// to exchange it at (Zoho says which data center the user's account is in).
//
// The listener answers any page the user's browser opens, so it trusts
// nothing it is sent: a redirect counts only when it carries the random
// state sent with the authorize URL (else a page could fire the callback
// with its own code, tying the sync to another org, or with its own
// accounts-server, to be sent the client secret), and the accounts server
// it names must be one of Zoho's (https) or the --accounts-url given. A
// callback that fails these checks is answered 400 and changes nothing:
// the flow keeps waiting for the real one.
func browserFlow(ctx context.Context, accounts string, accountsGiven bool, clientID string, port int, scopes []string, timeout time.Duration, stdout io.Writer) (code, redirect, accountsURL string, err error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", "", "", fmt.Errorf("redirect listener on port %d: %w (choose another with --redirect-port)", port, err)
	}
	redirect = fmt.Sprintf("http://localhost:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	state, err := randomState()
	if err != nil {
		return "", "", "", err
	}
	authURL, err := withState(zoho.AuthCodeURL(accounts, clientID, redirect, scopes...), state)
	if err != nil {
		return "", "", "", err
	}
	type answer struct{ code, server, err string }
	got := make(chan answer, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q := r.URL.Query()
		if r.Method != http.MethodGet || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "zohosink: this request does not carry the state zohosink sent to Zoho, so it did not come from your approval: ignored.", http.StatusBadRequest)
			return
		}
		a := answer{code: q.Get("code"), server: strings.TrimRight(q.Get("accounts-server"), "/"), err: termText(q.Get("error"))}
		switch {
		case a.err != "":
		case a.code == "":
			a.err = "no code in the redirect"
		case !grantCode.MatchString(a.code):
			a.err = "the code in the redirect is not a Zoho grant code"
		case a.server != "" && !zoho.IsAccountsServer(a.server) && !(accountsGiven && a.server == strings.TrimRight(accounts, "/")):
			a.err = fmt.Sprintf("the redirect names %q as your accounts server, which is not one of Zoho's (https://accounts.zoho.*): nothing was sent to it", termText(a.server))
		}
		if a.err != "" {
			http.Error(w, "zohosink: authorization failed: "+a.err+". You can close this tab.", http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "zohosink: authorized. You can close this tab and return to the terminal.")
		}
		select {
		case got <- a:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	// Shut down rather than close: the page that answered the redirect
	// ("authorized", or why not) reaches the browser before the listener
	// goes.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()
	fmt.Fprintf(stdout, "Open this URL in a browser and approve (redirect URI %s must be registered for the client):\n\n  %s\n\nWaiting for the redirect...\n", redirect, authURL)
	select {
	case a := <-got:
		if a.err != "" {
			return "", "", "", fmt.Errorf("authorization failed: %s", a.err)
		}
		if a.server != "" {
			accounts = a.server
		}
		return a.code, redirect, accounts, nil
	case <-time.After(timeout):
		return "", "", "", fmt.Errorf("no redirect within %s", timeout)
	case <-ctx.Done():
		return "", "", "", ctx.Err()
	}
}

// grantCode is what a Zoho grant code looks like (1000.<hex>.<hex>): a code
// of another shape is not sent anywhere.
var grantCode = regexp.MustCompile(`^[0-9A-Za-z._-]{1,512}$`)

// randomState is the browser flow's CSRF token: 32 random bytes, hex.
func randomState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random state: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// withState adds state to an authorize URL.
func withState(authURL, state string) (string, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", fmt.Errorf("authorize URL: %w", err)
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// termText cuts s to 200 characters and drops control characters, for
// what a callback says that reaches the terminal.
func termText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
