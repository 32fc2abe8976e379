package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"zohosink/connector/config"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/prometheus/client_golang/prometheus"

	"zohosink/connector"
)

// catalogue maps each series name Prometheus can hold for a zohosink target
// to the label names it carries.
type catalogue map[string]map[string]bool

// labelNames returns a series' labels, sorted.
func (c catalogue) labelNames(series string) []string {
	var out []string
	for l := range c[series] {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// targetLabels are the labels Prometheus (job, instance) and the Prometheus
// Operator's PodMonitor (namespace, pod, container, endpoint) attach to every
// series scraped from a zohosink pod.
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "endpoint"}

// scrapeSeries are the series Prometheus itself records for each target.
var scrapeSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

// newCatalogue returns the series of a /metrics exposition as Prometheus
// stores them: a histogram is its _bucket (with le), _sum and _count
// series, a summary its quantiles, _sum and _count; each with the target
// labels, plus the series Prometheus records per target.
func newCatalogue(families map[string]*dto.MetricFamily) catalogue {
	c := catalogue{}
	add := func(series string, labels ...string) {
		if c[series] == nil {
			c[series] = map[string]bool{}
		}
		for _, l := range append(labels, targetLabels...) {
			c[series][l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", append(labels, model.BucketLabel)...)
				add(name+"_sum", labels...)
				add(name+"_count", labels...)
			case dto.MetricType_SUMMARY:
				add(name, append(labels, model.QuantileLabel)...)
				add(name+"_sum", labels...)
				add(name+"_count", labels...)
			default:
				add(name, labels...)
			}
		}
	}
	for _, s := range scrapeSeries {
		add(s)
	}
	return c
}

var (
	scrapeOnce   sync.Once
	scraped      catalogue
	scrapeOutput string
	scrapeErr    error
)

// exportedSeries returns the series the real zohosink binary exports, as
// scraped from its /metrics once `zohosink demo` has run records through
// every sync (written, skipped and dead-lettered ones, with token refreshes
// and Zoho calls): every labelled series the alerts and the dashboard can
// read exists by then. It is scraped once per test run.
func exportedSeries(t *testing.T) catalogue {
	t.Helper()
	scrapeOnce.Do(func() { scraped, scrapeOutput, scrapeErr = scrapeDemo() })
	if scrapeErr != nil {
		t.Fatalf("scraping the zohosink binary's /metrics: %v\n%s", scrapeErr, scrapeOutput)
	}
	return scraped
}

var metricsLine = regexp.MustCompile(`(?m)^\s*metrics\s+(http://\S+/metrics)\s*$`)

// scrapeDemo builds the zohosink binary, runs `zohosink demo --keep` (an
// embedded Kafka, schema registry and Zoho simulator, and the connector),
// waits for the summary and the addresses it prints, scrapes /metrics and
// stops the demo.
func scrapeDemo() (catalogue, string, error) {
	dir, err := os.MkdirTemp("", "zohosink-deploy-test")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "zohosink")
	build := exec.Command("go", "build", "-o", bin, "zohosink/cmd/zohosink")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, string(out), fmt.Errorf("go build zohosink/cmd/zohosink: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--records", "30", "--keep")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 20 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	var out strings.Builder
	url := ""
	sc := bufio.NewScanner(stdout)
	for url == "" && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if m := metricsLine.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	stop := func() string {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		return out.String() + stderr.String()
	}
	if url == "" {
		return nil, stop(), fmt.Errorf("zohosink demo --keep printed no metrics address")
	}
	families, err := scrape(ctx, url)
	output := stop()
	if err != nil {
		return nil, output, err
	}
	return newCatalogue(families), output, nil
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: not the Prometheus text format: %w", url, err)
	}
	return families, nil
}

// registeredConfig is a config with one sync, for a connector that is built
// and never run.
const registeredConfig = `
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "http://127.0.0.1:1"}
zoho: {data_center: us, client_id: id, client_secret: secret, refresh_token: token}
syncs:
  - name: contacts
    topics: [warehouse.public.customers]
    module: Contacts
    type: model
    mode: upsert
    match_on: [Email]
    fields: {Last_Name: last_name, Email: email}
`

// TestScrapeCoversRegisteredSeries checks the scrape against the series a
// connector registers before any traffic (the unlabelled metrics, and the
// labelled ones it creates at zero for each sync): each is in the binary's
// /metrics with at least those labels, so the scrape is taken late enough
// and from the same code. (It also makes this test binary hold the code
// that registers the metrics, so that go test does not serve a cached
// result after a metric changed.)
func TestScrapeCoversRegisteredSeries(t *testing.T) {
	series := exportedSeries(t)
	cfg, err := config.Parse([]byte(registeredConfig), func(string) (string, bool) { return "", false })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := connector.New(cfg, connector.WithRegistry(reg), connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
		t.Fatal(err)
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		families[f.GetName()] = f
	}
	registered := newCatalogue(families)
	n := 0
	for s, labels := range registered {
		if !strings.HasPrefix(s, "zohosink_") {
			continue
		}
		n++
		for l := range labels {
			if !series[s][l] {
				t.Errorf("the connector registers %s with label %s, but the binary's /metrics has no such series (it has %v)", s, l, series.labelNames(s))
			}
		}
	}
	if n == 0 {
		t.Errorf("a connector registered no zohosink series: %v", gathered)
	}
}
