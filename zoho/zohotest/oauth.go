package zohotest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Zoho's token rules.
const (
	accessTokenTTL  = time.Hour
	grantTokenTTL   = 3 * time.Minute
	mintWindow      = 10 * time.Minute
	mintsPerWindow  = 10
	liveTokensLimit = 15
	// refreshTokensLimit refresh tokens live at once per user per client;
	// minting the 21st deletes the oldest, and the access tokens minted
	// from it (Zoho Accounts FAQ, "When will the refresh tokens expire?":
	// https://help.zoho.com/portal/en/kb/accounts/faqs-troubleshooting/faqs/oauth/articles/will-the-refresh-tokens-expire;
	// Kaizen #43, "Tokens and Limitations":
	// https://help.zoho.com/portal/en/community/topic/kaizen-43-tokens-and-limitations).
	// The simulated org has one user, so the limit is per client.
	refreshTokensLimit = 20
)

// defaultScopes are those of the refresh token provisioned by New.
var defaultScopes = []string{"ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ", "ZohoCRM.coql.READ", "ZohoCRM.settings.tags.READ"}

// Credentials are an OAuth client and a refresh token of the simulated org.
// They are secrets: the simulator never logs them or puts them in errors.
type Credentials struct {
	ClientID, ClientSecret, RefreshToken string
}

type refreshToken struct {
	scopes  []string
	seq     int // creation order
	revoked bool
	mints   []time.Time // mint times within the last window
	live    []string    // live access tokens, oldest first
}

type accessToken struct {
	refresh string
	scopes  []string
	expires time.Time
}

type grant struct {
	scopes      []string
	expires     time.Time
	redirectURI string // "" for Self Client grant tokens: any redirect_uri
}

type oauthState struct {
	creds   Credentials
	refresh map[string]*refreshToken
	access  map[string]*accessToken
	grants  map[string]*grant
	minted  int
	seq     int // refresh tokens created so far
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newTokenString() string { return "1000." + randomHex(16) + "." + randomHex(16) }

func (o *oauthState) init(c Credentials) {
	if c.ClientID == "" {
		c.ClientID = "1000." + strings.ToUpper(randomHex(15))
	}
	if c.ClientSecret == "" {
		c.ClientSecret = randomHex(21)
	}
	if c.RefreshToken == "" {
		c.RefreshToken = newTokenString()
	}
	o.creds = c
	o.seq = 1
	o.refresh = map[string]*refreshToken{c.RefreshToken: {scopes: defaultScopes, seq: 1}}
	o.access = map[string]*accessToken{}
	o.grants = map[string]*grant{}
}

// Credentials returns the client and refresh token provisioned at start,
// with scopes ZohoCRM.modules.ALL, ZohoCRM.settings.fields.READ and
// ZohoCRM.coql.READ.
func (s *Simulator) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.creds
}

// AddRefreshToken provisions another refresh token for the same client.
// Access tokens minted from it may do only what scopes allow (none given:
// the default scopes).
func (s *Simulator) AddRefreshToken(token string, scopes ...string) {
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRefreshLocked(token, &refreshToken{scopes: append([]string(nil), scopes...)})
}

// addRefreshLocked stores a new refresh token and, past refreshTokensLimit
// live ones, revokes the oldest with its access tokens, silently, as Zoho
// does.
func (s *Simulator) addRefreshLocked(token string, rt *refreshToken) {
	s.oauth.seq++
	rt.seq = s.oauth.seq
	s.oauth.refresh[token] = rt
	for {
		live, oldest := 0, ""
		for tok, r := range s.oauth.refresh {
			if r.revoked {
				continue
			}
			live++
			if oldest == "" || r.seq < s.oauth.refresh[oldest].seq {
				oldest = tok
			}
		}
		if live <= refreshTokensLimit {
			return
		}
		s.revokeLocked(oldest)
	}
}

// LiveRefreshTokens returns how many refresh tokens of the client are live
// (not revoked).
func (s *Simulator) LiveRefreshTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.oauth.refresh {
		if !r.revoked {
			n++
		}
	}
	return n
}

// RevokeRefreshToken revokes a refresh token and every access token minted
// from it, as revoking in Zoho's API console does.
func (s *Simulator) RevokeRefreshToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeLocked(token)
}

func (s *Simulator) revokeLocked(token string) {
	rt, ok := s.oauth.refresh[token]
	if !ok {
		return
	}
	rt.revoked = true
	for _, at := range rt.live {
		delete(s.oauth.access, at)
	}
	rt.live = nil
}

// GrantToken returns a Self Client grant token with scopes (none given: the
// default scopes): single use, valid 3 minutes by the simulator's clock,
// exchanged with grant_type=authorization_code for a refresh token.
func (s *Simulator) GrantToken(scopes ...string) string {
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	code := "1000." + randomHex(16) + "." + randomHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.grants[code] = &grant{scopes: append([]string(nil), scopes...), expires: s.now().Add(grantTokenTTL)}
	return code
}

// SelfClientPath stands in for the API console's Self Client page: a
// request with the query scope=A,B,... answers a fresh grant token as plain
// text, as GrantToken does. It is how a user of `zohosink zoho-sim` tries `zohosink
// auth --grant-token`.
const SelfClientPath = "/selfclient/grant-token"

func (s *Simulator) serveSelfClient(w http.ResponseWriter, r *http.Request) outcome {
	scopes := strings.FieldsFunc(r.URL.Query().Get("scope"), func(r rune) bool { return r == ',' || r == ' ' })
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, s.GrantToken(scopes...)+"\n")
	return outcome{op: "selfclient"}
}

// ExpireAccessTokens makes every access token issued so far invalid.
func (s *Simulator) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.access = map[string]*accessToken{}
	for _, rt := range s.oauth.refresh {
		rt.live = nil
	}
}

// TokensMinted returns how many access tokens the token endpoint issued.
func (s *Simulator) TokensMinted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.minted
}

// mintLocked issues an access token from a refresh token, keeping the
// 10-per-10-minutes and 15-live rules. Nil when throttled.
func (s *Simulator) mintLocked(refresh string, rt *refreshToken, now time.Time) (string, bool) {
	cut := now.Add(-mintWindow)
	i := 0
	for i < len(rt.mints) && !rt.mints[i].After(cut) {
		i++
	}
	rt.mints = rt.mints[i:]
	if len(rt.mints) >= mintsPerWindow {
		return "", false
	}
	rt.mints = append(rt.mints, now)
	tok := newTokenString()
	s.oauth.access[tok] = &accessToken{refresh: refresh, scopes: rt.scopes, expires: now.Add(accessTokenTTL)}
	// Expired tokens no longer count as live.
	live := rt.live[:0]
	for _, t := range rt.live {
		if at, ok := s.oauth.access[t]; ok && now.Before(at.expires) {
			live = append(live, t)
		} else {
			delete(s.oauth.access, t)
		}
	}
	rt.live = append(live, tok)
	if len(rt.live) > liveTokensLimit {
		delete(s.oauth.access, rt.live[0])
		rt.live = rt.live[1:]
	}
	s.oauth.minted++
	return tok, true
}

// serveToken answers POST /oauth/v2/token. Parameters may come in the form
// body or the query string, as Zoho accepts both.
func (s *Simulator) serveToken(w http.ResponseWriter, r *http.Request, body []byte) outcome {
	res := outcome{op: "token"}
	if r.Method != http.MethodPost {
		res.code = "INVALID_REQUEST_METHOD"
		s.writeError(w, errInvalidMethod())
		return res
	}
	form := r.URL.Query()
	if ct := r.Header.Get("Content-Type"); ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range vals {
				form[k] = v
			}
		}
	}
	answer := func(status int, v map[string]string, code string) outcome {
		res.code = code
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = x
		}
		s.writeJSON(w, status, out)
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// An unknown client id is invalid_client; a known one with a wrong
	// secret is invalid_client_secret (Zoho's token endpoint names the two
	// apart: Kaizen #4, "Troubleshooting OAuth2.0",
	// https://help.zoho.com/portal/en/community/topic/kaizen-4-troubleshooting-oauth2-0).
	// Both with HTTP 200, as logged from real Zoho.
	if form.Get("client_id") != s.oauth.creds.ClientID {
		return answer(http.StatusOK, tokenErr("invalid_client").body, "invalid_client")
	}
	if form.Get("client_secret") != s.oauth.creds.ClientSecret {
		return answer(http.StatusOK, tokenErr("invalid_client_secret").body, "invalid_client_secret")
	}
	switch form.Get("grant_type") {
	case "refresh_token":
		refresh := form.Get("refresh_token")
		rt, ok := s.oauth.refresh[refresh]
		if !ok || rt.revoked {
			return answer(http.StatusOK, tokenErr("invalid_code").body, "invalid_code")
		}
		tok, ok := s.mintLocked(refresh, rt, now)
		if !ok {
			return answer(http.StatusOK, tokenThrottled().body, "Access Denied")
		}
		res.code = "SUCCESS"
		s.writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3600,
			"api_domain": s.baseURL, "token_type": "Bearer"})
		return res
	case "authorization_code":
		code := form.Get("code")
		g, ok := s.oauth.grants[code]
		if !ok || !now.Before(g.expires) {
			delete(s.oauth.grants, code)
			return answer(http.StatusOK, tokenErr("invalid_code").body, "invalid_code")
		}
		if g.redirectURI != "" && form.Get("redirect_uri") != g.redirectURI {
			return answer(http.StatusOK, tokenErr("invalid_redirect_uri").body, "invalid_redirect_uri")
		}
		delete(s.oauth.grants, code)
		refresh := newTokenString()
		rt := &refreshToken{scopes: g.scopes}
		s.addRefreshLocked(refresh, rt)
		tok, _ := s.mintLocked(refresh, rt, now)
		res.code = "SUCCESS"
		s.writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "refresh_token": refresh,
			"scope": strings.Join(g.scopes, " "), "expires_in": 3600, "api_domain": s.baseURL, "token_type": "Bearer"})
		return res
	}
	return answer(http.StatusOK, tokenErr("unsupported_grant_type").body, "unsupported_grant_type")
}

// serveAuthorize answers GET /oauth/v2/auth as if the user consented at
// once: a 302 to redirect_uri with code, location=us and accounts-server.
func (s *Simulator) serveAuthorize(w http.ResponseWriter, r *http.Request) outcome {
	res := outcome{op: "token"}
	q := r.URL.Query()
	s.mu.Lock()
	clientOK := q.Get("client_id") == s.oauth.creds.ClientID
	base := s.baseURL
	s.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case !clientOK:
		res.code = "invalid_client"
		http.Error(w, "Invalid Client: no OAuth client with this client_id", http.StatusBadRequest)
		return res
	case q.Get("redirect_uri") == "" || err != nil || !redirect.IsAbs():
		res.code = "invalid_redirect_uri"
		http.Error(w, "Invalid Redirect Uri: redirect_uri must be an absolute URL", http.StatusBadRequest)
		return res
	case q.Get("response_type") != "code":
		res.code = "unsupported_response_type"
		http.Error(w, "response_type must be code", http.StatusBadRequest)
		return res
	}
	scopes := strings.FieldsFunc(q.Get("scope"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(scopes) == 0 {
		res.code = "invalid_scope"
		http.Error(w, "Invalid OAuth Scope: scope is required", http.StatusBadRequest)
		return res
	}
	code := "1000." + randomHex(16) + "." + randomHex(16)
	s.mu.Lock()
	s.oauth.grants[code] = &grant{scopes: scopes, expires: s.now().Add(grantTokenTTL), redirectURI: q.Get("redirect_uri")}
	s.mu.Unlock()
	rq := redirect.Query()
	rq.Set("code", code)
	rq.Set("location", "us")
	rq.Set("accounts-server", base)
	if st := q.Get("state"); st != "" {
		rq.Set("state", st)
	}
	redirect.RawQuery = rq.Encode()
	res.code = "SUCCESS"
	http.Redirect(w, r, redirect.String(), http.StatusFound)
	return res
}

// authenticate checks the Authorization header and returns the token's
// scopes.
func (s *Simulator) authenticate(r *http.Request) ([]string, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errAuthenticationFailure()
	}
	tok, ok := strings.CutPrefix(h, "Zoho-oauthtoken ")
	if !ok {
		return nil, errInvalidToken()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.oauth.access[strings.TrimSpace(tok)]
	if !ok {
		return nil, errInvalidToken()
	}
	if !s.now().Before(at.expires) {
		return nil, errInvalidToken()
	}
	if rt := s.oauth.refresh[at.refresh]; rt == nil || rt.revoked {
		return nil, errInvalidToken()
	}
	return at.scopes, nil
}

// Scope operations.
const (
	opRead   = "READ"
	opCreate = "CREATE"
	opUpdate = "UPDATE"
	opDelete = "DELETE"
)

// scopeCovers reports whether scopes allow every op on module.
func scopeCovers(scopes []string, module string, ops ...string) bool {
	for _, op := range ops {
		ok := false
		for _, sc := range scopes {
			parts := strings.Split(sc, ".")
			if len(parts) < 3 || !strings.EqualFold(parts[0], "ZohoCRM") || !strings.EqualFold(parts[1], "modules") {
				continue
			}
			if len(parts) == 3 && strings.EqualFold(parts[2], "ALL") {
				ok = true
				break
			}
			if len(parts) == 4 && strings.EqualFold(parts[2], module) {
				switch strings.ToUpper(parts[3]) {
				case "ALL":
					ok = true
				case "WRITE":
					ok = op != opRead
				default:
					ok = strings.EqualFold(parts[3], op)
				}
				if ok {
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func hasScope(scopes []string, any ...string) bool {
	for _, sc := range scopes {
		for _, a := range any {
			if strings.EqualFold(sc, a) {
				return true
			}
		}
	}
	return false
}
