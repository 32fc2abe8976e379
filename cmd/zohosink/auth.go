package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"zohosink/zoho"
)

const authUsage = `
zohosink auth --data-center DC --client-id ID --client-secret S [--grant-token CODE] [--write FILE]

Gets a Zoho refresh token and prints it with the api_domain to use.

Two ways:
  Self Client: in https://api-console.zoho.com (or your data center's console)
    create a Self Client, generate a grant token with the scopes
    ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ
    and pass it with --grant-token within 3 minutes.
  Browser: register a Server-based Application whose redirect URI is
    http://localhost:8085/callback (or --redirect-port), run without
    --grant-token, open the printed URL and approve.

--write FILE stores the refresh token alone in FILE with 0600 permissions, so
the config can say: refresh_token: file:/path/to/FILE

Examples:
  zohosink auth --data-center eu --client-id 1000.XXXX --client-secret $SECRET --grant-token 1000.abcd...
  zohosink auth --data-center us --client-id 1000.XXXX --client-secret $SECRET --write ~/.zohosink/refresh_token`

func cmdAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("auth", authUsage, stdout, stderr)
	dc := fs.String("data-center", "us", "Zoho data center: us, eu, in, au, jp, ca, cn, sa")
	env := fs.String("environment", "production", "production, sandbox or developer")
	clientID := fs.String("client-id", "", "the OAuth client id (required)")
	clientSecret := fs.String("client-secret", "", "the OAuth client secret (required; or env ZOHO_CLIENT_SECRET)")
	grant := fs.String("grant-token", "", "a Self Client grant token (skips the browser)")
	accountsURL := fs.String("accounts-url", "", "override the accounts URL (tests, proxies)")
	port := fs.Int("redirect-port", 8085, "local port of the browser flow's redirect listener")
	scopes := fs.String("scopes", "ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.coql.READ", "scopes to ask for in the browser flow")
	write := fs.String("write", "", "store the refresh token in this file (mode 0600)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long the browser flow waits")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clientSecret == "" {
		*clientSecret = os.Getenv("ZOHO_CLIENT_SECRET")
	}
	if *clientID == "" || *clientSecret == "" {
		return &exitError{code: 2, err: errors.New("--client-id and --client-secret are required (see --help)")}
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
		code, redirect, accounts, err = browserFlow(ctx, accounts, *clientID, *port, strings.Split(*scopes, ","), *timeout, stdout)
		if err != nil {
			return err
		}
	}
	g, err := zoho.ExchangeCode(ctx, &http.Client{Timeout: 30 * time.Second}, accounts, *clientID, *clientSecret, redirect, code)
	if err != nil {
		return err
	}
	if g.RefreshToken == "" {
		return errors.New("Zoho answered without a refresh token: a grant token can be exchanged only once and lives 3 minutes; generate a new one (Self Client) or approve again with access_type=offline")
	}
	fmt.Fprintf(stdout, "refresh_token: %s\napi_domain: %s\n", g.RefreshToken, g.APIDomain)
	if *write != "" {
		if err := os.WriteFile(*write, []byte(g.RefreshToken+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", *write, err)
		}
		if err := os.Chmod(*write, 0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", *write, err)
		}
		fmt.Fprintf(stdout, "stored the refresh token in %s (mode 0600); in the config: refresh_token: file:%s\n", *write, *write)
	}
	return nil
}

// browserFlow runs the authorization-code flow with a redirect listener on
// localhost. It returns the code, the redirect URI used, and the accounts URL
// to exchange it at (Zoho says which data center the user's account is in).
func browserFlow(ctx context.Context, accounts, clientID string, port int, scopes []string, timeout time.Duration, stdout io.Writer) (code, redirect, accountsURL string, err error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", "", "", fmt.Errorf("redirect listener on port %d: %w (choose another with --redirect-port)", port, err)
	}
	redirect = fmt.Sprintf("http://localhost:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	type answer struct{ code, server, err string }
	got := make(chan answer, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		a := answer{code: q.Get("code"), server: q.Get("accounts-server"), err: q.Get("error")}
		if a.code == "" && a.err == "" {
			a.err = "no code in the redirect"
		}
		if a.err != "" {
			fmt.Fprintf(w, "zohosink: authorization failed: %s. You can close this tab.\n", a.err)
		} else {
			fmt.Fprintln(w, "zohosink: authorized. You can close this tab and return to the terminal.")
		}
		select {
		case got <- a:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(stdout, "Open this URL in a browser and approve (redirect URI %s must be registered for the client):\n\n  %s\n\nWaiting for the redirect...\n", redirect, zoho.AuthCodeURL(accounts, clientID, redirect, scopes...))
	select {
	case a := <-got:
		if a.err != "" {
			return "", "", "", fmt.Errorf("authorization failed: %s", a.err)
		}
		if a.server != "" {
			accounts = strings.TrimRight(a.server, "/")
		}
		return a.code, redirect, accounts, nil
	case <-time.After(timeout):
		return "", "", "", fmt.Errorf("no redirect within %s", timeout)
	case <-ctx.Done():
		return "", "", "", ctx.Err()
	}
}
