package zoho

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultScopes are the OAuth scopes zohosink needs: writing records of any
// module, reading fields metadata, COQL, and reading the tags of a module
// (TagsScope, for TagExists).
var DefaultScopes = []string{"ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ", "ZohoCRM.coql.READ", TagsScope}

// MaxRefreshTokensPerClient is how many refresh tokens Zoho keeps per user
// per OAuth client: minting the 21st silently deletes the oldest, and the
// access tokens made from it (Zoho Accounts FAQ, "When will the refresh
// tokens expire?"; Kaizen #43, "Tokens and Limitations").
const MaxRefreshTokensPerClient = 20

// RefreshTokenLimitWarning is what `zohosink auth` should tell a user
// before minting a refresh token.
const RefreshTokenLimitWarning = "Zoho keeps at most 20 refresh tokens per user for one client: creating a 21st silently revokes the oldest one, and every deployment still using it stops with an invalid refresh token. Reuse a refresh token you already have where you can, or give each deployment its own client."

// dataCenters maps a data center to its accounts host and API domain suffix.
var dataCenters = map[string]struct{ accounts, apiTLD string }{
	"us": {"https://accounts.zoho.com", "com"},
	"eu": {"https://accounts.zoho.eu", "eu"},
	"in": {"https://accounts.zoho.in", "in"},
	"au": {"https://accounts.zoho.com.au", "com.au"},
	"jp": {"https://accounts.zoho.jp", "jp"},
	"ca": {"https://accounts.zohocloud.ca", "ca"},
	"cn": {"https://accounts.zoho.com.cn", "com.cn"},
	"sa": {"https://accounts.zoho.sa", "sa"},
}

// AccountsURL returns the accounts server of a data center (us, eu, in, au,
// jp, ca, cn, sa) for an environment (production, sandbox, developer; ""
// means production). Sandbox and developer orgs sign in on the same accounts
// server as production, so env only is checked.
func AccountsURL(dc, env string) (string, error) {
	d, ok := dataCenters[dc]
	if !ok {
		return "", fmt.Errorf("zoho: unknown data center %q (want one of us, eu, in, au, jp, ca, cn, sa)", dc)
	}
	if err := checkEnv(env); err != nil {
		return "", err
	}
	return d.accounts, nil
}

// APIDomainFor returns the default API domain of a data center and
// environment: https://www.zohoapis.{tld} for production,
// https://sandbox.zohoapis.{tld} and https://developer.zohoapis.{tld} for the
// others (ca: zohoapis.ca, not zohocloud.ca).
func APIDomainFor(dc, env string) (string, error) {
	d, ok := dataCenters[dc]
	if !ok {
		return "", fmt.Errorf("zoho: unknown data center %q (want one of us, eu, in, au, jp, ca, cn, sa)", dc)
	}
	if err := checkEnv(env); err != nil {
		return "", err
	}
	host := "www"
	if env == "sandbox" || env == "developer" {
		host = env
	}
	return "https://" + host + ".zohoapis." + d.apiTLD, nil
}

func checkEnv(env string) error {
	switch env {
	case "", "production", "sandbox", "developer":
		return nil
	}
	return fmt.Errorf("zoho: unknown environment %q (want production, sandbox or developer)", env)
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) base URL", s)
	}
	return nil
}

// AuthCodeURL returns the URL a user opens to grant the client access, with
// access_type=offline and prompt=consent so that the code exchange returns a
// refresh token. No scopes means DefaultScopes. Zoho separates scopes with
// commas.
func AuthCodeURL(accountsURL, clientID, redirectURI string, scopes ...string) string {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	cfg := oauth2.Config{
		ClientID:    clientID,
		RedirectURL: redirectURI,
		Endpoint:    oauth2.Endpoint{AuthURL: trimSlash(accountsURL) + "/oauth/v2/auth", TokenURL: tokenURL(accountsURL), AuthStyle: oauth2.AuthStyleInParams},
		Scopes:      []string{strings.Join(scopes, ",")},
	}
	return cfg.AuthCodeURL("", oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
}

func tokenURL(accountsURL string) string { return trimSlash(accountsURL) + "/oauth/v2/token" }

// Grant is what a code exchange returns.
type Grant struct {
	RefreshToken string
	AccessToken  string
	APIDomain    string // where this org's API calls go
	ExpiresIn    time.Duration
}

// String redacts the tokens.
func (g Grant) String() string {
	return fmt.Sprintf("zoho.Grant{RefreshToken:%s AccessToken:%s APIDomain:%q ExpiresIn:%s}",
		secret(g.RefreshToken), secret(g.AccessToken), g.APIDomain, g.ExpiresIn)
}

// GoString redacts the tokens.
func (g Grant) GoString() string { return g.String() }

// ExchangeCode trades an authorization code (from the browser flow) or a
// Self Client grant token for a refresh token, at accountsURL's token
// endpoint. redirectURI may be empty for a Self Client grant token. hc nil
// means http.DefaultClient. The exchange is not retried: codes are
// single-use. Errors are *Error; an invalid, used or expired code is Fatal.
//
// It does not use oauth2.Config.Exchange because Zoho answers errors with
// HTTP 200 and may give expires_in in milliseconds.
func ExchangeCode(ctx context.Context, hc *http.Client, accountsURL, clientID, clientSecret, redirectURI, code string) (Grant, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
		"code":          {code},
	}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	tr, err := postToken(ctx, hc, accountsURL, form, true)
	if err != nil {
		return Grant{}, err
	}
	if tr.RefreshToken == "" {
		return Grant{}, &Error{Class: Fatal, Op: OpToken, Code: "NO_REFRESH_TOKEN",
			Message: "the token endpoint " + tokenURL(accountsURL) + " returned no refresh token",
			Hint:    "authorize again with access_type=offline and prompt=consent (AuthCodeURL does), or generate a new Self Client grant token"}
	}
	return Grant{RefreshToken: tr.RefreshToken, AccessToken: tr.AccessToken, APIDomain: tr.APIDomain, ExpiresIn: tr.expiresIn}, nil
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	AccessToken      string      `json:"access_token"`
	RefreshToken     string      `json:"refresh_token"`
	ExpiresIn        json.Number `json:"expires_in"`
	ExpiresInSec     json.Number `json:"expires_in_sec"`
	APIDomain        string      `json:"api_domain"`
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`

	expiresIn time.Duration
}

// postToken posts form to the token endpoint and maps every failure to an
// *Error that names the endpoint and never the form's secrets. exchange says
// whether the form carries a code (else a refresh token).
func postToken(ctx context.Context, hc *http.Client, accountsURL string, form url.Values, exchange bool) (*tokenResponse, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	endpoint := tokenURL(accountsURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Class: Fatal, Op: OpToken, Message: "cannot build a request to the token endpoint " + endpoint, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Class: Retryable, Op: OpToken, Code: "network_error", Message: "gave up waiting for the token endpoint " + endpoint, Err: ctx.Err()}
		}
		return nil, &Error{Class: Retryable, Op: OpToken, Code: "network_error", Message: "the token endpoint " + endpoint + " is unreachable: " + scrubURLError(err), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Class: Retryable, Op: OpToken, Code: "network_error", HTTPStatus: resp.StatusCode, Message: "reading the answer of the token endpoint " + endpoint + ": " + err.Error(), Err: err}
	}
	var tr tokenResponse
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if jerr := dec.Decode(&tr); jerr != nil {
		cls := Fatal
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			cls = Retryable
		}
		return nil, &Error{Class: cls, Op: OpToken, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("unexpected response from the token endpoint %s (%d bytes that are not a JSON object; not shown, they may hold a token)", endpoint, len(body)),
			Hint:    "check accounts_url / data_center", Err: jerr}
	}
	if tr.Error != "" {
		return nil, tokenError(&tr, resp.StatusCode, accountsURL, exchange)
	}
	if resp.StatusCode >= 500 {
		return nil, &Error{Class: Retryable, Op: OpToken, HTTPStatus: resp.StatusCode, Message: "the token endpoint " + endpoint + " failed"}
	}
	if resp.StatusCode/100 != 2 || tr.AccessToken == "" {
		return nil, &Error{Class: Fatal, Op: OpToken, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("unexpected response from the token endpoint %s: no access token", endpoint),
			Hint:    "check accounts_url / data_center"}
	}
	tr.expiresIn = parseExpiry(tr.ExpiresIn, tr.ExpiresInSec)
	tr.APIDomain = trimSlash(tr.APIDomain)
	return &tr, nil
}

// parseExpiry reads the token lifetime: expires_in_sec when present (then
// expires_in is in milliseconds), else expires_in in seconds, taken as
// milliseconds when above a day (old answers). Default one hour.
func parseExpiry(in, sec json.Number) time.Duration {
	if s, err := sec.Int64(); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if v, err := in.Int64(); err == nil && v > 0 {
		if v > 86400 {
			return time.Duration(v) * time.Millisecond
		}
		return time.Duration(v) * time.Second
	}
	return time.Hour
}

func tokenError(tr *tokenResponse, status int, accountsURL string, exchange bool) *Error {
	e := &Error{Op: OpToken, HTTPStatus: status, Code: tr.Error}
	switch {
	case tr.Error == "invalid_code" && exchange:
		e.Class = Fatal
		e.Message = "the grant token or authorization code is invalid, used or expired (they are single-use and live 3 minutes; this client uses " + accountsURL + ")"
		e.Hint = "generate a new one in the same data center and exchange it at once"
	case tr.Error == "invalid_code":
		e.Class = Fatal
		e.Message = "the refresh token is invalid or revoked (or belongs to another data center: this client uses " + accountsURL + ")"
		e.Hint = "run `zohosink auth` again"
	case tr.Error == "invalid_client_secret":
		e.Class = Fatal
		e.Message = "the client secret is wrong for this client id (this client uses " + accountsURL + ")"
		e.Hint = "check client_secret: copy it again from the Zoho API console (Self Client or server client) of that data center; the refresh token is not at fault"
	case tr.Error == "invalid_client":
		e.Class = Fatal
		e.Message = "the client id or secret is wrong (or the client belongs to another data center: this client uses " + accountsURL + ")"
		e.Hint = "check client_id and client_secret in the Zoho API console of that data center"
	case strings.EqualFold(tr.Error, "Access Denied"):
		e.Class = Retryable
		e.Message = "the token endpoint is throttling (more than 10 access tokens per refresh token in 10 minutes)"
		if tr.ErrorDescription != "" {
			e.Message += ": " + tr.ErrorDescription
		}
		e.RetryAfter = 30*time.Second + rand.N(30*time.Second)
		e.Hint = "every process using this refresh token takes its own access token when it starts (zohosink run and each restart of it, validate --online, dlq replay): wait up to 10 minutes; give each deployment its own refresh token (zohosink auth) so they do not share the allowance"
	case tr.Error == "invalid_redirect_uri":
		e.Class = Fatal
		e.Message = "the redirect URI is not the one registered for this client"
		e.Hint = "register it in the Zoho API console or use the one registered"
	default:
		e.Class = Fatal
		e.Message = "the token endpoint " + tokenURL(accountsURL) + " refused the request"
		if tr.ErrorDescription != "" {
			e.Message += ": " + tr.ErrorDescription
		}
		e.Hint = "run `zohosink auth` again"
	}
	return e
}

// scrubURLError returns the text of a transport error without its URL's
// query (which never carries secrets here, but may be long).
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery = ""
			return ue.Op + " " + u.String() + ": " + ue.Err.Error()
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// snippet returns the start of a body for an error message, quoted.
func snippet(b []byte) string {
	const max = 120
	s := string(b)
	if len(s) > max {
		s = s[:max] + "..."
	}
	if s == "" {
		return "empty body"
	}
	return strconv.Quote(s)
}
