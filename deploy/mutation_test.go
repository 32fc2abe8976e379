package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDeploy copies the deploy files (not the tests) into a new directory
// named deploy, as the compose file's ../deploy/Dockerfile expects.
func copyDeploy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deploy")
	for name := range deployFiles {
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			continue
		}
		data, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestChecksReportBrokenFiles breaks a copy of one file at a time and
// asserts that the check reports it, naming the file and the problem; on
// the unbroken copy the same check reports nothing, so the break is what it
// found.
func TestChecksReportBrokenFiles(t *testing.T) {
	series := exportedSeries(t)
	tests := []struct {
		name     string
		file     string
		old, new string // the first old in file becomes new
		check    func(*report)
		want     []string // the problem naming file contains each
	}{
		{
			name: "a misspelt field in a manifest", file: "kubernetes/deployment.yaml",
			old: "imagePullPolicy: IfNotPresent", new: "imagePullPolcy: IfNotPresent",
			check: checkKubernetes, want: []string{`unknown field "spec.template.spec.containers[0].imagePullPolcy"`},
		},
		{
			name: "a misspelt field in the PodMonitor", file: "kubernetes/podmonitor.yaml",
			old: "scrapeTimeout:", new: "scrapeTimout:",
			check: checkKubernetes, want: []string{`unknown field "spec.podMetricsEndpoints[0].scrapeTimout"`},
		},
		{
			name: "a value of the wrong type in a manifest", file: "kubernetes/deployment.yaml",
			old: "replicas: 2", new: "replicas: two",
			check: checkKubernetes, want: []string{"replicas", "int32"},
		},
		{
			name: "a misspelt kustomization field", file: "kubernetes/kustomization.yaml",
			old: "resources:", new: "resource:",
			check: checkKubernetes, want: []string{"kustomize build fails", `unknown field "resource"`},
		},
		{
			name: "an env var from a key the Secret lacks", file: "kubernetes/secret.example.yaml",
			old: "kafka-sasl-password:", new: "kafka-sasl-passwd:",
			check: checkKubernetes, want: []string{`reads key "kafka-sasl-password"`},
		},
		{
			name: "a probe off /readyz", file: "kubernetes/deployment.yaml",
			old: "path: /readyz", new: "path: /ready",
			check: checkKubernetes, want: []string{"readinessProbe path /ready, want /readyz"},
		},
		{
			name: "an invalid PromQL expression", file: "kubernetes/prometheusrule.yaml",
			old: "sum by (topic) (zohosink_consumer_lag) > 10000", new: "sum by (topic) (zohosink_consumer_lag > 10000",
			check: checkRules, want: []string{"ZohosinkConsumerLagHigh", "unclosed left parenthesis"},
		},
		{
			name: "an alert on a metric the binary does not export", file: "kubernetes/prometheusrule.yaml",
			old: "zohosink_zoho_rate_limited_total", new: "zohosink_zoho_throttled_total",
			check: checkRules, want: []string{"ZohosinkRateLimited", "zohosink_zoho_throttled_total is not a series the zohosink binary exports"},
		},
		{
			name: "an alert grouping by a label the metric lacks", file: "kubernetes/prometheusrule.yaml",
			old: "sum by (topic) (zohosink_consumer_lag)", new: "sum by (sync) (zohosink_consumer_lag)",
			check: checkRules, want: []string{"ZohosinkConsumerLagHigh", `zohosink_consumer_lag has no label "sync"`},
		},
		{
			name: "a rule promtool refuses", file: "kubernetes/prometheusrule.yaml",
			old: "for: 15m", new: "for: 15 minutes",
			check: checkRules, want: []string{`"15 minutes"`},
		},
		{
			name: "a compose key the specification lacks", file: "docker-compose.yml",
			old: "stop_grace_period: 45s", new: "stop_grace_periods: 45s",
			check: checkCompose, want: []string{"not a valid Compose file", "services.zohosink.stop_grace_periods"},
		},
		{
			name: "a compose variable without a default", file: "docker-compose.yml",
			old: "${ZOHO_CLIENT_ID:-demo-client-id}", new: "${ZOHO_CLIENT_ID}",
			check: checkCompose, want: []string{"${ZOHO_CLIENT_ID} has no default"},
		},
		{
			name: "a compose config key zohosink does not know", file: "compose/zohosink.yaml",
			old: "linger:", new: "lingr:",
			check: checkCompose, want: []string{"lingr"},
		},
		{
			name: "an unknown dashboard field", file: "grafana/zohosink-dashboard.json",
			old: `"graphTooltip":`, new: `"graphTooltips":`,
			check: checkDashboard, want: []string{"unexpected field 'graphTooltips'"},
		},
		{
			name: "a panel on a metric the binary does not export", file: "grafana/zohosink-dashboard.json",
			old: "zohosink_records_written_total", new: "zohosink_records_writen_total",
			check: checkDashboard, want: []string{"zohosink_records_writen_total is not a series the zohosink binary exports"},
		},
		{
			name: "an unknown Dockerfile instruction", file: "Dockerfile",
			old: "COPY --from=build", new: "COPPY --from=build",
			check: checkDockerfile, want: []string{"unknown instruction: COPPY"},
		},
		{
			name: "a shell-form ENTRYPOINT in an image without a shell", file: "Dockerfile",
			old: `ENTRYPOINT ["/zohosink"]`, new: `ENTRYPOINT /zohosink`,
			check: checkDockerfile, want: []string{"ENTRYPOINT", "shell form"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDeploy(t)
			good := &report{dir: dir, series: series}
			tt.check(good)
			if len(good.problems) > 0 {
				t.Fatalf("the unbroken copy has problems already:\n%s", strings.Join(good.problems, "\n"))
			}
			path := filepath.Join(dir, filepath.FromSlash(tt.file))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.old) {
				t.Fatalf("%s does not contain %q: update this test", tt.file, tt.old)
			}
			broken := strings.Replace(string(data), tt.old, tt.new, 1)
			if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			r := &report{dir: dir, series: series}
			tt.check(r)
			for _, p := range r.problems {
				found := strings.Contains(p, tt.file)
				for _, w := range tt.want {
					found = found && strings.Contains(p, w)
				}
				if found {
					return
				}
			}
			t.Errorf("%s with %q: no problem names the file and says %q; the check reported:\n%s", tt.file, tt.new, tt.want, strings.Join(r.problems, "\n"))
		})
	}
}
