package zoho

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Opt configures a Client. Options are applied in order; NewClient checks
// the result and names the option at fault.
type Opt func(*clientOptions)

type clientOptions struct {
	dataCenter   string
	environment  string
	apiDomain    string
	accountsURL  string
	clientID     string
	clientSecret secret
	refreshToken secret
	httpClient   *http.Client
	edition      string
	maxConc      int
	budget       int
	rps          float64
	reqTimeout   time.Duration
	maxRetries   int
	onRetry      func(op Operation, module string, attempt int, err error)
	metrics      *Metrics
	logger       *slog.Logger
	now          func() time.Time

	backoffBase, backoffMax time.Duration
}

func defaultOptions() clientOptions {
	return clientOptions{
		dataCenter:  "us",
		environment: "production",
		edition:     "standard",
		reqTimeout:  30 * time.Second,
		maxRetries:  5,
		now:         time.Now,
	}
}

// String describes the options with every secret redacted.
func (o *clientOptions) String() string {
	return fmt.Sprintf("zoho.Client{data_center=%s environment=%s api_domain=%q accounts_url=%q client_id=%q client_secret=%s refresh_token=%s edition=%s max_concurrency=%d daily_credit_budget=%d requests_per_second=%g request_timeout=%s max_retries=%d}",
		o.dataCenter, o.environment, o.apiDomain, o.accountsURL, o.clientID, o.clientSecret, o.refreshToken,
		o.edition, o.maxConc, o.budget, o.rps, o.reqTimeout, o.maxRetries)
}

// secret holds a credential. Every way of printing it redacts it.
type secret string

func (s secret) String() string {
	if s == "" {
		return `""`
	}
	return "REDACTED"
}
func (s secret) GoString() string             { return s.String() }
func (s secret) LogValue() slog.Value         { return slog.StringValue(s.String()) }
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// WithDataCenter sets the Zoho data center: us, eu, in, au, jp, ca, cn or sa
// (default us). It picks the accounts server and the default API domain.
func WithDataCenter(dc string) Opt {
	return func(o *clientOptions) {
		if dc != "" {
			o.dataCenter = dc
		}
	}
}

// WithEnvironment sets the org's environment: production, sandbox or
// developer (default production). It sets the default API domain
// (APIDomainFor). For sandbox and developer that domain is kept even when
// the token endpoint names another one; only WithAPIDomain overrides it.
func WithEnvironment(env string) Opt {
	return func(o *clientOptions) {
		if env != "" {
			o.environment = env
		}
	}
}

// WithAPIDomain overrides the API base URL (e.g. "https://www.zohoapis.eu").
// Without it, production calls go to the api_domain of the token response,
// else to the data center's default; sandbox and developer calls go to the
// environment's default host.
func WithAPIDomain(url string) Opt { return func(o *clientOptions) { o.apiDomain = trimSlash(url) } }

// WithAccountsURL overrides the accounts base URL; the token endpoint is
// accounts + "/oauth/v2/token".
func WithAccountsURL(url string) Opt {
	return func(o *clientOptions) { o.accountsURL = trimSlash(url) }
}

// WithCredentials sets the OAuth client and the refresh token (from
// `zohosink auth` or ExchangeCode). They are never logged or printed.
func WithCredentials(clientID, clientSecret, refreshToken string) Opt {
	return func(o *clientOptions) {
		o.clientID, o.clientSecret, o.refreshToken = clientID, secret(clientSecret), secret(refreshToken)
	}
}

// WithHTTPClient sets the HTTP client for the token endpoint and the API.
// Its Timeout, if any, applies on top of WithRequestTimeout.
func WithHTTPClient(c *http.Client) Opt { return func(o *clientOptions) { o.httpClient = c } }

// WithEdition sets the org's CRM edition: free, standard, professional,
// enterprise or ultimate (default standard). It sets the default limit of
// calls in flight (5, 10, 15, 20, 25).
func WithEdition(edition string) Opt {
	return func(o *clientOptions) {
		if edition != "" {
			o.edition = edition
		}
	}
}

// WithMaxConcurrency caps the calls in flight at once; 0 means the edition's
// limit. The lower of the two applies.
func WithMaxConcurrency(n int) Opt { return func(o *clientOptions) { o.maxConc = n } }

// WithDailyCreditBudget paces calls so the API credits they cost over any
// rolling 24 hours stay at or below n (0: no budget). A call that would go
// over waits until enough older calls leave the window.
func WithDailyCreditBudget(n int) Opt { return func(o *clientOptions) { o.budget = n } }

// WithRequestsPerSecond caps the rate at which calls start (0: no cap).
func WithRequestsPerSecond(r float64) Opt { return func(o *clientOptions) { o.rps = r } }

// WithRequestTimeout bounds one HTTP attempt (default 30s; 0 keeps the
// default). An attempt that times out is retried.
func WithRequestTimeout(d time.Duration) Opt {
	return func(o *clientOptions) {
		if d != 0 {
			o.reqTimeout = d
		}
	}
}

// WithMaxRetries sets how many times a call is retried after a retryable
// failure (default 5); -1 retries until the call's context ends. Per-record
// rejections are never retried.
func WithMaxRetries(n int) Opt { return func(o *clientOptions) { o.maxRetries = n } }

// WithOnRetry sets a function told before each retry wait, from the
// goroutine of the call. attempt counts from 1.
func WithOnRetry(f func(op Operation, module string, attempt int, err error)) Opt {
	return func(o *clientOptions) { o.onRetry = f }
}

// WithMetrics records requests, durations, credits, rate limiting and token
// refreshes in m (nil: none).
func WithMetrics(m *Metrics) Opt { return func(o *clientOptions) { o.metrics = m } }

// WithLogger sets where the client logs retries, throttling and token
// refreshes (default: nothing is logged). Secrets never appear in it.
func WithLogger(l *slog.Logger) Opt { return func(o *clientOptions) { o.logger = l } }

// WithClock sets the clock of the credit ledger and of token expiry
// (default time.Now). Waits still take real time.
func WithClock(now func() time.Time) Opt { return func(o *clientOptions) { o.now = now } }

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// editionConcurrency is Zoho's limit of calls in flight per edition.
var editionConcurrency = map[string]int{
	"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25,
}

// complexConcurrency is Zoho's sub-concurrency limit for complex calls
// (writes of more than 10 records), the same in every edition.
const complexConcurrency = 10

func (o *clientOptions) validate() error {
	var errs []string
	if _, err := AccountsURL(o.dataCenter, "production"); err != nil {
		errs = append(errs, fmt.Sprintf("WithDataCenter: unknown data center %q (want one of us, eu, in, au, jp, ca, cn, sa)", o.dataCenter))
	}
	switch o.environment {
	case "production", "sandbox", "developer":
	default:
		errs = append(errs, fmt.Sprintf("WithEnvironment: unknown environment %q (want production, sandbox or developer)", o.environment))
	}
	if _, ok := editionConcurrency[o.edition]; !ok {
		errs = append(errs, fmt.Sprintf("WithEdition: unknown edition %q (want free, standard, professional, enterprise or ultimate)", o.edition))
	}
	if o.apiDomain != "" {
		if err := checkBaseURL(o.apiDomain); err != nil {
			errs = append(errs, "WithAPIDomain: "+err.Error())
		}
	}
	if o.accountsURL != "" {
		if err := checkBaseURL(o.accountsURL); err != nil {
			errs = append(errs, "WithAccountsURL: "+err.Error())
		}
	}
	if o.maxConc < 0 {
		errs = append(errs, fmt.Sprintf("WithMaxConcurrency: %d is negative (0 means the edition's limit)", o.maxConc))
	}
	if o.budget < 0 {
		errs = append(errs, fmt.Sprintf("WithDailyCreditBudget: %d is negative (0 means no budget)", o.budget))
	}
	if o.rps < 0 {
		errs = append(errs, fmt.Sprintf("WithRequestsPerSecond: %g is negative (0 means no cap)", o.rps))
	}
	if o.reqTimeout < 0 {
		errs = append(errs, fmt.Sprintf("WithRequestTimeout: %s is negative", o.reqTimeout))
	}
	if o.maxRetries < -1 {
		errs = append(errs, fmt.Sprintf("WithMaxRetries: %d is invalid (want -1 for no limit, or >= 0)", o.maxRetries))
	}
	if o.now == nil {
		errs = append(errs, "WithClock: nil clock")
	}
	if len(errs) == 0 {
		return nil
	}
	return &OptionError{Problems: errs}
}
