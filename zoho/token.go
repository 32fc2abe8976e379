package zoho

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"
)

const (
	// refreshAhead is how long before expiry the cached token is replaced.
	refreshAhead = 5 * time.Minute
	// mintLimit access tokens at most per mintWindow per refresh token: Zoho
	// answers "Access Denied" past 10 per 10 minutes.
	mintLimit  = 10
	mintWindow = 10 * time.Minute
)

// tokenCache holds the one access token of a Client. Every goroutine shares
// it; one refresh at a time runs and the others wait for its outcome.
type tokenCache struct {
	c *Client

	mu           sync.Mutex
	token        secret
	expiry       time.Time
	gen          uint64 // bumped by every new token
	apiDomain    string // from the last token response (production only)
	domainWarned bool   // the token's api_domain was ignored and logged once
	flight       *refreshFlight
	mints        []time.Time // when tokens were minted, within mintWindow
}

type refreshFlight struct {
	done chan struct{}
	err  error
}

// get returns a usable access token and its generation, refreshing it when
// missing or within refreshAhead of expiry.
func (t *tokenCache) get(ctx context.Context) (secret, uint64, error) {
	for {
		now := t.c.opts.now()
		t.mu.Lock()
		if t.token != "" && now.Before(t.expiry.Add(-refreshAhead)) {
			tok, gen := t.token, t.gen
			t.mu.Unlock()
			return tok, gen, nil
		}
		if f := t.flight; f != nil {
			t.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return "", 0, ctxError(ctx, OpToken, "")
			case <-stopOf(ctx):
				return "", 0, ctxError(ctx, OpToken, "")
			}
			if f.err != nil && !isContextErr(f.err) {
				// The refresh this call waited for failed: share its
				// outcome rather than hitting the endpoint again, unless
				// the old token is still good.
				if tok, gen, ok := t.stillValid(); ok {
					return tok, gen, nil
				}
				return "", 0, f.err
			}
			continue
		}
		f := &refreshFlight{done: make(chan struct{})}
		t.flight = f
		t.mu.Unlock()

		f.err = t.refresh(ctx)
		t.mu.Lock()
		t.flight = nil
		t.mu.Unlock()
		close(f.done)
		if f.err != nil {
			if tok, gen, ok := t.stillValid(); ok && !isContextErr(f.err) {
				return tok, gen, nil
			}
			return "", 0, f.err
		}
	}
}

// stillValid returns the cached token if it has not expired yet (it may be
// within the refresh-ahead window).
func (t *tokenCache) stillValid() (secret, uint64, bool) {
	now := t.c.opts.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && now.Before(t.expiry) {
		return t.token, t.gen, true
	}
	return "", 0, false
}

// invalidate drops the cached token if it is still the one of generation
// gen (Zoho said INVALID_TOKEN for it). A newer token is kept.
func (t *tokenCache) invalidate(gen uint64) {
	t.mu.Lock()
	if t.gen == gen {
		t.token = ""
	}
	t.mu.Unlock()
}

// refresh mints a new access token, keeping to mintLimit per mintWindow.
func (t *tokenCache) refresh(ctx context.Context) error {
	o := &t.c.opts
	if o.clientID == "" || o.clientSecret == "" || o.refreshToken == "" {
		return &Error{Class: Fatal, Op: OpToken, Code: "NO_CREDENTIALS",
			Message: "no client id, client secret or refresh token was given (WithCredentials)",
			Hint:    "run `zohosink auth` to get a refresh token"}
	}
	if err := t.waitMintBudget(ctx); err != nil {
		return err
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {o.clientID},
		"client_secret": {string(o.clientSecret)},
		"refresh_token": {string(o.refreshToken)},
	}
	mintedAt := o.now()
	t.mu.Lock()
	t.mints = append(t.mints, mintedAt)
	t.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
	defer cancel()
	tr, err := postToken(pctx, t.c.hc, t.c.accounts, form, false)
	if err != nil {
		result := "failure"
		var ze *Error
		if errors.As(err, &ze) && ze.Code == "Access Denied" {
			result = "throttled"
		}
		if opErr := (*net.OpError)(nil); errors.As(err, &opErr) && opErr.Op == "dial" {
			// Never connected, so no token minted: it does not count against
			// Zoho's 10 per 10 minutes. An outage of the token endpoint
			// must not lock the process out for 10 minutes after it.
			t.mu.Lock()
			if i := slices.Index(t.mints, mintedAt); i >= 0 {
				t.mints = slices.Delete(t.mints, i, i+1)
			}
			t.mu.Unlock()
		}
		t.c.metrics.tokenRefresh(result)
		t.c.log().Warn("zoho: token refresh failed", "accounts_url", t.c.accounts, "error", err.Error())
		return err
	}
	t.c.metrics.tokenRefresh("success")
	t.mu.Lock()
	t.token = secret(tr.AccessToken)
	t.expiry = o.now().Add(tr.expiresIn)
	t.gen++
	ignored := ""
	switch {
	case tr.APIDomain == "":
	case o.environment == "" || o.environment == "production":
		t.apiDomain = tr.APIDomain
	default:
		// A sandbox or developer org keeps its environment's host: if Zoho
		// named the production host here, following it would send sandbox
		// test writes to production. Only WithAPIDomain overrides it.
		if own, _ := APIDomainFor(o.dataCenter, o.environment); tr.APIDomain != own && !t.domainWarned {
			ignored, t.domainWarned = tr.APIDomain, true
		}
	}
	exp := t.expiry
	t.mu.Unlock()
	if ignored != "" && o.apiDomain == "" {
		own, _ := APIDomainFor(o.dataCenter, o.environment)
		t.c.log().Warn("zoho: the token endpoint named another API domain than the environment's; keeping the environment's (set api_domain to override)",
			"environment", o.environment, "api_domain_used", own, "api_domain_from_token", ignored)
	}
	t.c.log().Debug("zoho: access token refreshed", "expires", exp, "api_domain", t.c.APIDomain())
	return nil
}

// waitMintBudget waits until fewer than mintLimit tokens were minted in the
// last mintWindow.
func (t *tokenCache) waitMintBudget(ctx context.Context) error {
	logged := false
	for {
		now := t.c.opts.now()
		t.mu.Lock()
		cut := now.Add(-mintWindow)
		i := 0
		for i < len(t.mints) && !t.mints[i].After(cut) {
			i++
		}
		t.mints = t.mints[i:]
		var wait time.Duration
		if len(t.mints) >= mintLimit {
			wait = t.mints[0].Add(mintWindow).Sub(now)
		}
		t.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if !logged {
			t.c.log().Warn("zoho: waiting before minting another access token (at most 10 per 10 minutes)", "wait", wait)
			logged = true
		}
		if err := sleep(ctx, min(wait, clockPoll)); err != nil {
			return ctxError(ctx, OpToken, "")
		}
	}
}

func (t *tokenCache) expiryTime() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expiry, t.token != ""
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// clockPoll is the longest a wait computed from the clock sleeps before
// reading the clock again, so that a clock set by WithClock may jump.
const clockPoll = 250 * time.Millisecond

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stopOf(ctx):
		return ErrStopped
	}
}
