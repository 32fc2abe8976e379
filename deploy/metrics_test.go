package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	if err := openSources(); err != nil {
		return nil, "", err
	}
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

// openSources opens the binary's Go sources: go test caches a result by the
// files the test opened, and the binary is built, not imported, so a change
// to any of them must run this test again.
func openSources() error {
	return filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if slices.Contains([]string{"deploy", "test", "testdata", ".git"}, d.Name()) && p != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") || d.Name() == "go.mod" || d.Name() == "go.sum" || strings.HasSuffix(p, ".yaml") {
			_, err := os.ReadFile(p)
			return err
		}
		return nil
	})
}

// TestExportedSeries checks the scrape itself: the metrics CONTRACT.md
// promises are there with their labels (the checks of the alerts and the
// dashboard rely on it being complete).
func TestExportedSeries(t *testing.T) {
	c := exportedSeries(t)
	for series, labels := range map[string][]string{
		"zohosink_records_consumed_total":               {"sync"},
		"zohosink_records_dead_lettered_total":          {"sync", "code"},
		"zohosink_zoho_request_duration_seconds_bucket": {"module", "operation", "le"},
		"zohosink_token_refreshes_total":                {"result"},
	} {
		for _, l := range labels {
			if !c[series][l] {
				t.Errorf("the binary's /metrics has no %s with label %s; it has %v", series, l, c.labelNames(series))
			}
		}
	}
}
