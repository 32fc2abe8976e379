// Package deploy_test checks the deployment files of deploy/ without a
// container engine or a cluster. Each file is parsed by the library its own
// tool uses, strictly (an unknown or misspelt key is an error):
//
//   - Kubernetes manifests: the client-go scheme's strict decoder (k8s.io/api
//     types), as kubectl apply --validate=strict; kustomization.yaml by
//     kustomize itself (sigs.k8s.io/kustomize/api), as kubectl apply -k;
//   - PodMonitor and PrometheusRule: the Prometheus Operator's v1 types, in
//     the same scheme;
//   - the rules inside the PrometheusRule: Prometheus' rulefmt (what promtool
//     check rules runs) and its PromQL parser;
//   - docker-compose.yml: compose-go, the loader docker compose uses, with the
//     Compose Specification's schema;
//   - the Dockerfiles: BuildKit's Dockerfile parser;
//   - the Grafana dashboard: the Grafana Foundation SDK's types, strictly.
//
// On top, the files are checked against each other and against the binary
// (ports, paths, config keys, probes, Secret keys, the series every alert and
// panel reads: scraped from the real binary's /metrics), so that a typo fails
// here instead of in production.
//
// Every check reads the files of a directory and reports problems that name
// the file; TestChecksReportBrokenFiles runs them on broken copies.
package deploy_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// report collects the problems a check finds in the deploy files under dir.
type report struct {
	dir      string
	series   catalogue // the series the binary exports; set for checks that read PromQL
	problems []string
}

func (r *report) errorf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// path returns the path of a deploy file (slash-separated, relative to
// deploy/).
func (r *report) path(name string) string {
	return filepath.Join(r.dir, filepath.FromSlash(name))
}

// read reads a deploy file; a missing file is a problem.
func (r *report) read(name string) ([]byte, bool) {
	data, err := os.ReadFile(r.path(name))
	if err != nil {
		r.errorf("%s: %v", name, err)
		return nil, false
	}
	return data, true
}

// exists reports whether a deploy file exists.
func (r *report) exists(name string) bool {
	_, err := os.Stat(r.path(name))
	return err == nil
}

// check runs one check over deploy/ and fails the test with each problem.
func check(t *testing.T, c func(*report), series catalogue) {
	t.Helper()
	r := &report{dir: ".", series: series}
	c(r)
	for _, p := range r.problems {
		t.Error(p)
	}
}

// deployFiles lists every file of deploy/ with what checks it; a new file
// must be added here so that it is checked.
var deployFiles = map[string]string{
	"docker-compose.yml":               "checkCompose",
	"compose/zohosink.yaml":            "checkCompose (with the compose environment)",
	"kubernetes/deployment.yaml":       "Deployment",
	"kubernetes/configmap.yaml":        "ConfigMap",
	"kubernetes/secret.example.yaml":   "Secret",
	"kubernetes/service.yaml":          "Service",
	"kubernetes/podmonitor.yaml":       "PodMonitor",
	"kubernetes/prometheusrule.yaml":   "PrometheusRule",
	"kubernetes/kustomization.yaml":    "Kustomization",
	"grafana/zohosink-dashboard.json":  "checkDashboard",
	"debezium/postgres-connector.json": "checkCompose",
	"Dockerfile":                       "checkDockerfile",
	"connect/Dockerfile":               "checkDockerfile",
	"Dockerfile.dockerignore":          "checkDockerfile",
	"postgres/init.sql":                "checkCompose",
	"README.md":                        "TestReadme",
	"go.mod":                           "",
	"go.sum":                           "",
	"deploy_test.go":                   "",
	"compose_test.go":                  "",
	"dockerfile_test.go":               "",
	"kubernetes_test.go":               "",
	"metrics_test.go":                  "",
	"mutation_test.go":                 "",
	"promql_test.go":                   "",
	"zohosinkconfig_test.go":           "",
}

// TestEveryFileIsKnown fails on a file of deploy/ this test does not check,
// and on a checked file that is missing.
func TestEveryFileIsKnown(t *testing.T) {
	found := map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		p = filepath.ToSlash(p)
		found[p] = true
		if _, ok := deployFiles[p]; !ok {
			t.Errorf("%s: not known to deploy_test.go; add it to deployFiles and check it", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range deployFiles {
		if !found[p] {
			t.Errorf("%s: missing", p)
		}
	}
}

// TestReadme keeps deploy/README.md in step with the files it describes.
func TestReadme(t *testing.T) {
	r := &report{dir: "."}
	data, _ := r.read("README.md")
	readme := string(data)
	for f := range deployFiles {
		if strings.HasSuffix(f, ".go") || slices.Contains([]string{"README.md", "go.mod", "go.sum"}, f) || strings.HasPrefix(f, "kubernetes/") {
			continue
		}
		if !strings.Contains(readme, f) {
			t.Errorf("README.md: does not say what %s is for", f)
		}
	}
	for _, want := range []string{"docker build -f deploy/Dockerfile", "cd deploy && go test ./..."} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md: does not show %q", want)
		}
	}
	for _, p := range r.problems {
		t.Error(p)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// configFlag returns the value of --config in args.
func configFlag(args []string) string { return flagValue(args, "config") }

// flagValue returns the value of --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}
