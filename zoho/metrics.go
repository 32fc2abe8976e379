package zoho

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the client's Prometheus collectors. A nil *Metrics records
// nothing. One Metrics may be shared by several clients.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	credits        prometheus.Counter
	rateLimited    prometheus.Counter
	tokenRefreshes *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered). It registers exactly:
//
//	zohosink_zoho_requests_total{module,operation,code}   one per HTTP attempt; code is Zoho's code ("SUCCESS", "INVALID_DATA", ...), else the HTTP status ("429") or "network_error"
//	zohosink_zoho_request_duration_seconds{module,operation}  histogram of attempt durations
//	zohosink_zoho_credits_used_total                       credits of the calls Zoho charged
//	zohosink_zoho_rate_limited_total                       429 / TOO_MANY_REQUESTS answers
//	zohosink_token_refreshes_total{result}                 success | failure | throttled
//
// It panics if reg already holds collectors of the same names, as
// prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_zoho_requests_total",
			Help: "Zoho CRM API attempts, by module, operation and Zoho code (or HTTP status, or network_error).",
		}, []string{"module", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zohosink_zoho_request_duration_seconds",
			Help:    "Duration of Zoho CRM API attempts.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"module", "operation"}),
		credits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zohosink_zoho_credits_used_total",
			Help: "Zoho API credits charged, by the documented cost of each call.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zohosink_zoho_rate_limited_total",
			Help: "Zoho CRM API answers of 429 TOO_MANY_REQUESTS.",
		}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zohosink_token_refreshes_total",
			Help: "Access token refreshes, by result (success, failure, throttled).",
		}, []string{"result"}),
	}
	for _, r := range []string{"success", "failure", "throttled"} {
		m.tokenRefreshes.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.credits, m.rateLimited, m.tokenRefreshes)
	}
	return m
}

func (m *Metrics) request(module string, op Operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(module, string(op), code).Inc()
	m.duration.WithLabelValues(module, string(op)).Observe(d.Seconds())
}

func (m *Metrics) charged(credits int) {
	if m == nil || credits <= 0 {
		return
	}
	m.credits.Add(float64(credits))
}

func (m *Metrics) throttled() {
	if m == nil {
		return
	}
	m.rateLimited.Inc()
}

func (m *Metrics) tokenRefresh(result string) {
	if m == nil {
		return
	}
	m.tokenRefreshes.WithLabelValues(result).Inc()
}

// RateLimited returns the counter of 429 answers, for tests and dashboards
// built in process.
func (m *Metrics) RateLimited() prometheus.Counter { return m.rateLimited }
