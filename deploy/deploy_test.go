// Package deploy_test checks the deployment files of deploy/ without a
// container engine or a cluster: every YAML file is decoded strictly into the
// shape it claims (an unknown key is an error), and the files are checked
// against each other and against the binary's contract (config keys, metrics,
// ports, paths), so that a typo fails here instead of in production.
package deploy_test

import (
	"zohosink/connector"

	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// ---- reading files ----------------------------------------------------------

// readFile reads a file of deploy/ (the test's working directory).
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

// decodeStrict decodes the single YAML document data into v, rejecting
// unknown keys.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the file is empty")
		}
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("line %d: a second YAML document; keep one object per file", extra.Line)
	}
	return nil
}

func mustDecode(t *testing.T, name string, v any) {
	t.Helper()
	if err := decodeStrict(readFile(t, name), v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// ---- Kubernetes shapes (only the fields these manifests use) ---------------

type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// intOrString is a Kubernetes IntOrString (a port number or name).
type intOrString string

func (s *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number or a name", n.Line)
	}
	*s = intOrString(n.Value)
	return nil
}

type deployment struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas             *int          `yaml:"replicas"`
		RevisionHistoryLimit *int          `yaml:"revisionHistoryLimit"`
		Selector             labelSelector `yaml:"selector"`
		Strategy             struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxUnavailable intOrString `yaml:"maxUnavailable"`
				MaxSurge       intOrString `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
	ServiceAccountName            string `yaml:"serviceAccountName"`
	SecurityContext               *struct {
		RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
		RunAsUser      *int64          `yaml:"runAsUser"`
		RunAsGroup     *int64          `yaml:"runAsGroup"`
		FSGroup        *int64          `yaml:"fsGroup"`
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type container struct {
	Name            string          `yaml:"name"`
	Image           string          `yaml:"image"`
	ImagePullPolicy string          `yaml:"imagePullPolicy"`
	Command         []string        `yaml:"command"`
	Args            []string        `yaml:"args"`
	Env             []envVar        `yaml:"env"`
	Ports           []containerPort `yaml:"ports"`
	LivenessProbe   *probe          `yaml:"livenessProbe"`
	ReadinessProbe  *probe          `yaml:"readinessProbe"`
	StartupProbe    *probe          `yaml:"startupProbe"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		Privileged               *bool  `yaml:"privileged"`
		Capabilities             *struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		FieldRef        *struct {
			APIVersion string `yaml:"apiVersion"`
			FieldPath  string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		ResourceFieldRef *struct {
			ContainerName string `yaml:"containerName"`
			Resource      string `yaml:"resource"`
			Divisor       string `yaml:"divisor"`
		} `yaml:"resourceFieldRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional *bool  `yaml:"optional"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type probe struct {
	HTTPGet *struct {
		Path   string      `yaml:"path"`
		Port   intOrString `yaml:"port"`
		Scheme string      `yaml:"scheme"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	SuccessThreshold    int `yaml:"successThreshold"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name        string `yaml:"name"`
		DefaultMode *int   `yaml:"defaultMode"`
		Items       []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	EmptyDir *struct {
		Medium    string `yaml:"medium"`
		SizeLimit string `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type secret struct {
	typeMeta   `yaml:",inline"`
	Metadata   objectMeta        `yaml:"metadata"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podMonitor struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		JobLabel            string        `yaml:"jobLabel"`
		Selector            labelSelector `yaml:"selector"`
		PodMetricsEndpoints []struct {
			Port          string `yaml:"port"`
			Path          string `yaml:"path"`
			Interval      string `yaml:"interval"`
			ScrapeTimeout string `yaml:"scrapeTimeout"`
		} `yaml:"podMetricsEndpoints"`
	} `yaml:"spec"`
}

type prometheusRule struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Groups []struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval"`
			Rules    []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

type kustomization struct {
	typeMeta  `yaml:",inline"`
	Namespace string `yaml:"namespace"`
	Labels    []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
		IncludeTemplates bool              `yaml:"includeTemplates"`
	} `yaml:"labels"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// ---- Compose shapes ---------------------------------------------------------

type compose struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]any            `yaml:"networks"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
		Restart   bool   `yaml:"restart"`
		Required  *bool  `yaml:"required"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
		Disable     bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	Restart         string `yaml:"restart"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	ContainerName   string `yaml:"container_name"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

// ---- the set of files -------------------------------------------------------

// deployFiles lists every file of deploy/ with, for YAML files, the kind it
// claims; a new file must be added here so that it is checked.
var deployFiles = map[string]string{
	"docker-compose.yml":               "compose",
	"compose/zohosink.yaml":            "zohosink config",
	"kubernetes/deployment.yaml":       "Deployment",
	"kubernetes/configmap.yaml":        "ConfigMap",
	"kubernetes/secret.example.yaml":   "Secret",
	"kubernetes/service.yaml":          "Service",
	"kubernetes/podmonitor.yaml":       "PodMonitor",
	"kubernetes/prometheusrule.yaml":   "PrometheusRule",
	"kubernetes/kustomization.yaml":    "Kustomization",
	"grafana/zohosink-dashboard.json":  "", // JSON, see TestGrafanaDashboard
	"debezium/postgres-connector.json": "", // JSON, see TestDebeziumConnector
	"Dockerfile":                       "",
	"connect/Dockerfile":               "",
	"Dockerfile.dockerignore":          "",
	"postgres/init.sql":                "",
	"README.md":                        "",
	"deploy_test.go":                   "",
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

// TestYAMLFilesParseStrictly decodes every YAML file into the shape its kind
// claims; an unknown or misplaced key fails.
func TestYAMLFilesParseStrictly(t *testing.T) {
	for name, kind := range deployFiles {
		if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
			continue
		}
		data := readFile(t, name)
		var tm typeMeta
		if err := yaml.Unmarshal(data, &tm); err != nil {
			t.Errorf("%s: not valid YAML: %v", name, err)
			continue
		}
		if strings.HasPrefix(name, "kubernetes/") && tm.Kind != kind {
			t.Errorf("%s: kind is %q, want %s", name, tm.Kind, kind)
			continue
		}
		var v any
		wantAPI := ""
		switch kind {
		case "compose":
			v = &compose{}
		case "zohosink config":
			continue // TestComposeStack decodes it with the environment compose gives it
		case "Deployment":
			v, wantAPI = &deployment{}, "apps/v1"
		case "ConfigMap":
			v, wantAPI = &configMap{}, "v1"
		case "Secret":
			v, wantAPI = &secret{}, "v1"
		case "Service":
			v, wantAPI = &service{}, "v1"
		case "PodMonitor":
			v, wantAPI = &podMonitor{}, "monitoring.coreos.com/v1"
		case "PrometheusRule":
			v, wantAPI = &prometheusRule{}, "monitoring.coreos.com/v1"
		case "Kustomization":
			v, wantAPI = &kustomization{}, "kustomize.config.k8s.io/v1beta1"
		default:
			t.Errorf("%s: no shape for kind %q", name, kind)
			continue
		}
		if wantAPI != "" && tm.APIVersion != wantAPI {
			t.Errorf("%s: apiVersion %q, want %q for %s", name, tm.APIVersion, wantAPI, kind)
		}
		if err := decodeStrict(data, v); err != nil {
			t.Errorf("%s: not a valid %s: %v", name, kind, err)
		}
	}
}

// ---- Dockerfile -------------------------------------------------------------

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile returns the instructions of a Dockerfile, with line
// continuations joined and comments dropped.
func parseDockerfile(data string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

type stage struct {
	base, name string
	ins        []instruction
}

// stagesOf splits instructions into build stages, resolving ARGs declared
// before the first FROM in the base image names.
func stagesOf(ins []instruction) []stage {
	globals := map[string]string{}
	var stages []stage
	for _, in := range ins {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			globals[k] = v
		case in.cmd == "FROM":
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--") })
			s := stage{base: os.Expand(fields[0], func(k string) string { return globals[k] })}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
		case len(stages) > 0:
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	return stages
}

func find(ins []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// jsonArgs reads an exec-form (JSON array) ENTRYPOINT or CMD.
func jsonArgs(in instruction) ([]string, error) {
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		return nil, fmt.Errorf("line %d: %s %s is not in exec form (a JSON array): %v", in.line, in.cmd, in.args, err)
	}
	return args, nil
}

// dockerImage describes the zohosink image as the Dockerfile builds it.
type dockerImage struct {
	uid        int
	entrypoint []string
	cmd        []string
	exposed    []string
}

var goBuildTarget = regexp.MustCompile(`\./cmd/zohosink(\s|$)`)

// checkDockerfile reads deploy/Dockerfile and returns what its runtime stage
// declares, and its problems. TestDockerfile reports them; other tests only
// read the image.
func checkDockerfile(data string) (dockerImage, []string) {
	const name = "Dockerfile"
	img := dockerImage{uid: -1}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stages := stagesOf(parseDockerfile(data))
	if len(stages) < 2 {
		add("%s: %d stage(s), want a multi-stage build (build, then runtime)", name, len(stages))
		return img, problems
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.base, "golang:1.26") {
		add("%s: build stage FROM %s, want golang:1.26 (go.mod's Go)", name, build.base)
	}
	var out string
	for _, st := range stages[:len(stages)-1] {
		for _, in := range find(st.ins, "RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-s -w"} {
				if !strings.Contains(in.args, want) {
					add("%s:%d: go build lacks %s", name, in.line, want)
				}
			}
			if !goBuildTarget.MatchString(in.args) {
				add("%s:%d: go build does not build ./cmd/zohosink", name, in.line)
			}
			if m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(in.args); m != nil {
				out = m[1]
			}
		}
	}
	if out == "" {
		add("%s: no stage runs go build -o FILE ./cmd/zohosink", name)
	}
	if !strings.HasPrefix(final.base, "gcr.io/distroless/static") && final.base != "scratch" {
		add("%s: runtime stage FROM %s, want distroless static or scratch (no shell)", name, final.base)
	}
	if runs := find(final.ins, "RUN"); len(runs) > 0 {
		add("%s:%d: RUN in the runtime stage: it has no shell", name, runs[0].line)
	}
	copied := slices.ContainsFunc(find(final.ins, "COPY"), func(in instruction) bool {
		f := strings.Fields(in.args)
		return build.name != "" && slices.Contains(f, "--from="+build.name) && len(f) >= 3 && f[len(f)-2] == out
	})
	if !copied {
		add("%s: the runtime stage does not COPY --from=<build stage> the binary %s", name, out)
	}
	if users := find(final.ins, "USER"); len(users) == 0 {
		add("%s: no USER in the runtime stage: it would run as root", name)
	} else {
		last := users[len(users)-1]
		user, _, _ := strings.Cut(last.args, ":")
		switch uid, err := strconv.Atoi(user); {
		case err != nil:
			add("%s:%d: USER %s is not numeric: Kubernetes' runAsNonRoot cannot verify a user name", name, last.line, user)
		case uid == 0:
			add("%s:%d: USER is root", name, last.line)
		default:
			img.uid = uid
		}
	}
	for _, in := range find(final.ins, "EXPOSE") {
		img.exposed = append(img.exposed, strings.Fields(in.args)...)
	}
	for _, pair := range []struct {
		cmd string
		out *[]string
	}{{"ENTRYPOINT", &img.entrypoint}, {"CMD", &img.cmd}} {
		ins := find(final.ins, pair.cmd)
		if len(ins) == 0 {
			add("%s: no %s in the runtime stage", name, pair.cmd)
			continue
		}
		args, err := jsonArgs(ins[len(ins)-1])
		if err != nil {
			add("%s: %v", name, err)
		}
		*pair.out = args
	}
	if !slices.Equal(img.entrypoint, []string{"/zohosink"}) {
		add("%s: ENTRYPOINT %q, want [\"/zohosink\"]", name, img.entrypoint)
	}
	return img, problems
}

// dockerfileImage returns what deploy/Dockerfile's runtime stage declares.
func dockerfileImage(t *testing.T) dockerImage {
	t.Helper()
	img, _ := checkDockerfile(string(readFile(t, "Dockerfile")))
	return img
}

func TestDockerfile(t *testing.T) {
	img, problems := checkDockerfile(string(readFile(t, "Dockerfile")))
	for _, p := range problems {
		t.Error(p)
	}
	if !slices.Contains(img.exposed, "9464") {
		t.Errorf("Dockerfile: EXPOSE %v lacks 9464 (metrics and health)", img.exposed)
	}
	if len(img.cmd) < 3 || img.cmd[0] != "run" || configFlag(img.cmd) == "" {
		t.Errorf("Dockerfile: CMD %q, want run --config FILE", img.cmd)
	}
	ignore := string(readFile(t, "Dockerfile.dockerignore"))
	for _, want := range []string{".git", "**/.env"} {
		if !strings.Contains(ignore, want) {
			t.Errorf("Dockerfile.dockerignore: does not exclude %s from the build context", want)
		}
	}
	for _, line := range strings.Split(ignore, "\n") {
		if l := strings.TrimSpace(line); l == "go.mod" || l == "go.sum" || l == "cmd" || l == "connector" || l == "zoho" || l == "schema" {
			t.Errorf("Dockerfile.dockerignore: excludes %s, which go build needs", l)
		}
	}

	const connect = "connect/Dockerfile"
	stages := stagesOf(parseDockerfile(string(readFile(t, connect))))
	if len(stages) != 1 || !strings.HasPrefix(stages[0].base, "quay.io/debezium/connect:") {
		t.Fatalf("%s: want one stage FROM quay.io/debezium/connect, got %+v", connect, stages)
	}
	var runs string
	for _, in := range find(stages[0].ins, "RUN") {
		runs += in.args
	}
	for _, jar := range []string{"kafka-connect-avro-converter", "kafka-connect-avro-data", "kafka-avro-serializer", "kafka-schema-registry-client", "/avro/"} {
		if !strings.Contains(runs, jar) {
			t.Errorf("%s: does not install %s, which io.confluent.connect.avro.AvroConverter needs", connect, jar)
		}
	}
}

// configFlag returns the value of --config in args.
func configFlag(args []string) string {
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
	}
	return ""
}

// drainTimeout returns --drain-timeout in args, or its default.
func drainTimeout(args []string) (time.Duration, error) {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--drain-timeout=")
		if a == "--drain-timeout" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			return time.ParseDuration(v)
		}
	}
	return 30 * time.Second, nil
}

// ---- Debezium connector -----------------------------------------------------

type connectorFile struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

func readConnector(t *testing.T) connectorFile {
	t.Helper()
	const name = "debezium/postgres-connector.json"
	dec := json.NewDecoder(bytes.NewReader(readFile(t, name)))
	dec.DisallowUnknownFields()
	var c connectorFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: not a Connect REST API connector ({\"name\", \"config\": {string: string}}): %v", name, err)
	}
	return c
}

func TestDebeziumConnector(t *testing.T) {
	const name = "debezium/postgres-connector.json"
	c := readConnector(t)
	if c.Name == "" {
		t.Errorf("%s: name is empty", name)
	}
	want := map[string]string{
		"connector.class":       "io.debezium.connector.postgresql.PostgresConnector",
		"plugin.name":           "pgoutput",
		"key.converter":         "io.confluent.connect.avro.AvroConverter",
		"value.converter":       "io.confluent.connect.avro.AvroConverter",
		"decimal.handling.mode": "precise",
		"time.precision.mode":   "adaptive",
		"tombstones.on.delete":  "true",
		"topic.prefix":          "warehouse",
	}
	for k, v := range want {
		if got := c.Config[k]; got != v {
			t.Errorf("%s: %s is %q, want %q", name, k, got, v)
		}
	}
	for _, k := range []string{"key.converter.schema.registry.url", "value.converter.schema.registry.url", "table.include.list", "database.hostname", "database.dbname"} {
		if c.Config[k] == "" {
			t.Errorf("%s: %s is not set", name, k)
		}
	}
}

// ---- Compose ----------------------------------------------------------------

// interpolate does what Compose does to a value read from docker-compose.yml
// with an empty shell environment: $$ is a literal $, ${X:-d} and ${X-d} are
// d. A variable with no default, or a lone $, is an error: Compose would
// substitute an empty string, silently.
func interpolate(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ in %q", s)
			}
			expr := s[i+2 : i+end]
			if _, def, ok := strings.Cut(expr, ":-"); ok {
				b.WriteString(def)
			} else if _, def, ok := strings.Cut(expr, "-"); ok {
				b.WriteString(def)
			} else {
				return "", fmt.Errorf("${%s} has no default: with the variable unset Compose writes an empty string (escape a literal $ as $$)", expr)
			}
			i += end
		default:
			return "", fmt.Errorf("a lone $ in %q: Compose reads it as a variable (escape it as $$)", s[max(0, i-20):min(len(s), i+20)])
		}
	}
	return b.String(), nil
}

func hostPort(t *testing.T, where, hp string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", where, hp, err)
	}
	return h, p
}

func urlHostPort(t *testing.T, where, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%s: %q is not an absolute URL", where, raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Hostname(), port
}

// publishes reports whether a compose ports entry publishes container port p.
func publishes(ports []string, p string) bool {
	for _, e := range ports {
		e, _, _ = strings.Cut(e, "/")
		parts := strings.Split(e, ":")
		if parts[len(parts)-1] == p {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	return host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
}

// bindMount returns the host path (relative to deploy/) of the bind mount
// at target, or "".
func bindMount(volumes []string, target string) string {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target && (strings.HasPrefix(parts[0], "./") || strings.HasPrefix(parts[0], "../")) {
			return path.Clean(parts[0])
		}
	}
	return ""
}

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

func TestComposeStack(t *testing.T) {
	const name = "docker-compose.yml"
	var c compose
	mustDecode(t, name, &c)
	for _, want := range []string{"kafka", "schema-registry", "postgres", "connect", "register-connector", "zoho-sim", "zohosink"} {
		if _, ok := c.Services[want]; !ok {
			t.Fatalf("%s: no service %s", name, want)
		}
	}
	env := map[string]map[string]string{} // service -> interpolated environment
	for sname, s := range c.Services {
		where := name + ": service " + sname
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", where)
		}
		if s.Build != nil {
			df := path.Join(s.Build.Context, cmpOr(s.Build.Dockerfile, "Dockerfile"))
			if _, err := os.Stat(filepath.FromSlash(df)); err != nil {
				t.Errorf("%s: build: %s does not exist (relative to deploy/)", where, df)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s: depends_on %s, which is not a service", where, dep)
			case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition):
				t.Errorf("%s: depends_on %s: condition %q is not a Compose condition", where, dep, d.Condition)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s: depends_on %s: service_healthy, but %s has no healthcheck (it would never be healthy)", where, dep, dep)
			}
		}
		if h := s.Healthcheck; h != nil {
			if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
				t.Errorf("%s: healthcheck test %q must start with CMD or CMD-SHELL", where, h.Test)
			}
			for _, d := range []string{h.Interval, h.Timeout, h.StartPeriod} {
				if _, err := time.ParseDuration(cmpOr(d, "0s")); err != nil {
					t.Errorf("%s: healthcheck: %q is not a duration", where, d)
				}
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.FromSlash(src)); err != nil {
					t.Errorf("%s: volume %s: %s does not exist (relative to deploy/)", where, v, src)
				}
			}
		}
		for _, a := range append(slices.Clone(s.Command), s.Entrypoint...) {
			if _, err := interpolate(a); err != nil {
				t.Errorf("%s: command: %v", where, err)
			}
		}
		env[sname] = map[string]string{}
		for k, v := range s.Environment {
			iv, err := interpolate(v)
			if err != nil {
				t.Errorf("%s: environment %s: %v", where, k, err)
			}
			env[sname][k] = iv
		}
		if s.Restart != "" && !slices.Contains([]string{"no", "always", "on-failure", "unless-stopped"}, strings.Split(s.Restart, ":")[0]) {
			t.Errorf("%s: restart %q is not a restart policy", where, s.Restart)
		}
	}
	if t.Failed() {
		return
	}

	// Kafka: the address compose services use must be advertised.
	kafkaEnv := env["kafka"]
	if kafkaEnv["KAFKA_PROCESS_ROLES"] == "" || kafkaEnv["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("%s: kafka: not in KRaft mode (KAFKA_PROCESS_ROLES, KAFKA_CONTROLLER_QUORUM_VOTERS)", name)
	}
	advertised := kafkaEnv["KAFKA_ADVERTISED_LISTENERS"]
	if id, err := base64.RawURLEncoding.DecodeString(kafkaEnv["CLUSTER_ID"]); err != nil || len(id) != 16 {
		t.Errorf("%s: kafka: CLUSTER_ID %q is not a KRaft cluster id (16 bytes in base64url, no padding): the broker would not format its storage", name, kafkaEnv["CLUSTER_ID"])
	}

	// PostgreSQL: logical decoding and the sample schema.
	pg := c.Services["postgres"]
	if !slices.ContainsFunc(pg.Command, func(a string) bool { return strings.Contains(a, "wal_level=logical") }) {
		t.Errorf("%s: postgres: command %q does not set wal_level=logical", name, pg.Command)
	}
	initSQL := ""
	for _, v := range pg.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if strings.HasPrefix(dst, "/docker-entrypoint-initdb.d/") && strings.HasSuffix(src, ".sql") {
			initSQL = path.Clean(src)
		}
	}
	if initSQL == "" {
		t.Fatalf("%s: postgres: no .sql file mounted in /docker-entrypoint-initdb.d/", name)
	}
	tables := parseTables(t, initSQL)

	// The Debezium connector: registered by the one-shot, pointed at the
	// compose services.
	conn := readConnector(t)
	reg := c.Services["register-connector"]
	if !slices.ContainsFunc(reg.Volumes, func(v string) bool { return strings.HasPrefix(v, "./debezium/postgres-connector.json:") }) {
		t.Errorf("%s: register-connector does not mount ./debezium/postgres-connector.json", name)
	}
	if !strings.Contains(strings.Join(reg.Command, " "), "connect:8083/connectors") {
		t.Errorf("%s: register-connector does not call the Connect REST API at connect:8083/connectors", name)
	}
	if dep, ok := reg.DependsOn["connect"]; !ok || dep.Condition != "service_healthy" {
		t.Errorf("%s: register-connector must wait for connect to be healthy", name)
	}
	const connName = "debezium/postgres-connector.json"
	if h := conn.Config["database.hostname"]; c.Services[h].Image == "" && c.Services[h].Build == nil {
		t.Errorf("%s: database.hostname %q is not a compose service", connName, h)
	}
	for k, envKey := range map[string]string{"database.dbname": "POSTGRES_DB", "database.user": "POSTGRES_USER", "database.password": "POSTGRES_PASSWORD"} {
		if conn.Config[k] != env["postgres"][envKey] {
			t.Errorf("%s: %s does not match the postgres service's %s", connName, k, envKey)
		}
	}
	for _, k := range []string{"key.converter.schema.registry.url", "value.converter.schema.registry.url"} {
		if h, p := urlHostPort(t, connName+": "+k, conn.Config[k]); h != "schema-registry" || p != "8081" {
			t.Errorf("%s: %s = %s, want the schema-registry service (http://schema-registry:8081)", connName, k, conn.Config[k])
		}
	}
	included := strings.Split(conn.Config["table.include.list"], ",")

	// The simulator: reachable, with the demo credentials.
	sim := c.Services["zoho-sim"]
	if len(sim.Command) == 0 || sim.Command[0] != "zoho-sim" {
		t.Fatalf("%s: zoho-sim: command %q, want zoho-sim --listen ...", name, sim.Command)
	}
	simHost, simPort := hostPort(t, name+": zoho-sim --listen", flagValue(sim.Command, "listen"))
	if isLoopback(simHost) {
		t.Errorf("%s: zoho-sim listens on %s: unreachable from other containers", name, simHost)
	}

	// zohosink: the config it runs with.
	zs := c.Services["zohosink"]
	if len(zs.Command) == 0 || zs.Command[0] != "run" {
		t.Fatalf("%s: zohosink: command %q, want run --config FILE", name, zs.Command)
	}
	cfgPath := configFlag(zs.Command)
	src := bindMount(zs.Volumes, cfgPath)
	if src == "" {
		t.Fatalf("%s: zohosink: --config %s is not bind-mounted from a file of deploy/", name, cfgPath)
	}
	for _, dep := range []string{"kafka", "schema-registry", "zoho-sim"} {
		if _, ok := zs.DependsOn[dep]; !ok {
			t.Errorf("%s: zohosink does not depend on %s", name, dep)
		}
	}
	drain, err := drainTimeout(zs.Command)
	if err != nil {
		t.Fatalf("%s: zohosink: --drain-timeout: %v", name, err)
	}
	if grace, err := time.ParseDuration(cmpOr(zs.StopGracePeriod, "10s")); err != nil || grace <= drain {
		t.Errorf("%s: zohosink: stop_grace_period %q is not above the drain timeout %s: docker would kill zohosink mid-drain", name, cmpOr(zs.StopGracePeriod, "10s (the default)"), drain)
	}
	cfg := checkZohosinkConfig(t, src, readFile(t, src), env["zohosink"])
	where := src + " (with docker-compose.yml's environment)"
	for _, b := range cfg.Kafka.Brokers {
		h, _ := hostPort(t, where+": kafka.brokers", b)
		if _, ok := c.Services[h]; !ok {
			t.Errorf("%s: kafka.brokers: %s is not a compose service", where, b)
		}
		if !strings.Contains(advertised, "//"+b) {
			t.Errorf("%s: kafka.brokers: %s is not in kafka's KAFKA_ADVERTISED_LISTENERS %q", where, b, advertised)
		}
	}
	if h, _ := urlHostPort(t, where+": schema_registry.url", cfg.SchemaRegistry.URL); h != "schema-registry" {
		t.Errorf("%s: schema_registry.url %s is not the schema-registry service", where, cfg.SchemaRegistry.URL)
	}
	for key, u := range map[string]string{"zoho.api_domain": cfg.Zoho.APIDomain, "zoho.accounts_url": cfg.Zoho.AccountsURL} {
		if u == "" {
			t.Errorf("%s: %s is empty: by default the stack must write to zoho-sim, not a real org", where, key)
			continue
		}
		if h, p := urlHostPort(t, where+": "+key, u); h != "zoho-sim" || p != simPort {
			t.Errorf("%s: %s = %s, want http://zoho-sim:%s", where, key, u, simPort)
		}
	}
	// Secrets are compared, never printed.
	if cfg.Zoho.ClientID != flagValue(sim.Command, "client-id") ||
		cfg.Zoho.ClientSecret.Reveal() != flagValue(sim.Command, "client-secret") ||
		cfg.Zoho.RefreshToken.Reveal() != flagValue(sim.Command, "refresh-token") {
		t.Errorf("%s: zoho client_id, client_secret or refresh_token differ from the credentials zoho-sim is started with", where)
	}
	listenHost, listenPort := hostPort(t, where+": http.listen", cfg.HTTP.Listen)
	if isLoopback(listenHost) {
		t.Errorf("%s: http.listen %s is loopback: the published port would reach nothing", where, cfg.HTTP.Listen)
	}
	if !publishes(zs.Ports, listenPort) {
		t.Errorf("%s: zohosink: ports %v do not publish http.listen's port %s", name, zs.Ports, listenPort)
	}
	if !publishes(sim.Ports, simPort) {
		t.Errorf("%s: zoho-sim: ports %v do not publish its --listen port %s", name, sim.Ports, simPort)
	}
	img := dockerfileImage(t)
	if cfgPath != configFlag(img.cmd) {
		t.Errorf("%s: zohosink --config %s differs from the image's default %s", name, cfgPath, configFlag(img.cmd))
	}
	checkSyncsAgainstWarehouse(t, where, cfg, conn, included, tables)

	// The expected syncs of the local stack.
	want := map[string]string{ // topic -> module/type/mode/match_on
		"warehouse.public.customers":          "Contacts/model/upsert/Email",
		"warehouse.public.leads":              "Leads/model/upsert/Email",
		"warehouse.public.companies":          "Accounts/model/upsert/Account_Name",
		"warehouse.public.opportunities":      "Deals/model/upsert/Deal_Name",
		"warehouse.public.newsletter_members": "Contacts/audience/mirror/Email",
	}
	for _, s := range cfg.Syncs {
		for _, topic := range s.Topics {
			got := fmt.Sprintf("%s/%s/%s/%s", s.Module, s.Type, s.Mode, strings.Join(s.MatchOn, ","))
			if w, ok := want[topic]; ok && got != w {
				t.Errorf("%s: sync %q on %s is %s, want %s", where, s.Name, topic, got, w)
			}
			delete(want, topic)
		}
		if s.Type == "audience" && (s.RemoveAction != "untag" || s.Tag != "Newsletter") {
			t.Errorf("%s: sync %q: remove_action %q tag %q, want untag and Newsletter", where, s.Name, s.RemoveAction, s.Tag)
		}
	}
	for topic := range want {
		t.Errorf("%s: no sync reads %s", where, topic)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sqlTable is a table of the sample schema.
type sqlTable struct {
	columns         []string
	replicaIdentity string // FULL, or "" for the default (primary key only)
}

var (
	createTable = regexp.MustCompile(`(?is)CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?(\w+)\s*\((.*?)\)\s*;`)
	replicaFull = regexp.MustCompile(`(?i)ALTER\s+TABLE\s+(?:public\.)?(\w+)\s+REPLICA\s+IDENTITY\s+FULL`)
	sqlComment  = regexp.MustCompile(`--[^\n]*`)
)

// parseTables reads the CREATE TABLE statements of an init SQL file.
func parseTables(t *testing.T, name string) map[string]*sqlTable {
	t.Helper()
	sql := sqlComment.ReplaceAllString(string(readFile(t, name)), "")
	tables := map[string]*sqlTable{}
	for _, m := range createTable.FindAllStringSubmatch(sql, -1) {
		tb := &sqlTable{}
		for _, def := range strings.Split(m[2], ",\n") {
			col := strings.Fields(strings.ToLower(def))
			if len(col) == 0 || slices.Contains([]string{"primary", "unique", "constraint", "foreign", "check"}, col[0]) {
				continue
			}
			tb.columns = append(tb.columns, strings.Trim(col[0], `"`))
		}
		tables[strings.ToLower(m[1])] = tb
	}
	for _, m := range replicaFull.FindAllStringSubmatch(sql, -1) {
		if tb, ok := tables[strings.ToLower(m[1])]; ok {
			tb.replicaIdentity = "FULL"
		}
	}
	if len(tables) == 0 {
		t.Fatalf("%s: no CREATE TABLE statement", name)
	}
	return tables
}

// checkSyncsAgainstWarehouse checks each sync's topics against the Debezium
// connector (prefix, included tables) and the sample schema (columns mapped
// exist; audience removals can see the matched columns of deleted rows).
func checkSyncsAgainstWarehouse(t *testing.T, where string, cfg *connector.Config, conn connectorFile, included []string, tables map[string]*sqlTable) {
	t.Helper()
	prefix := conn.Config["topic.prefix"]
	for _, s := range cfg.Syncs {
		for _, topic := range s.Topics {
			parts := strings.Split(topic, ".")
			if len(parts) != 3 || parts[0] != prefix {
				t.Errorf("%s: sync %q: topic %s is not <topic.prefix %s>.<schema>.<table> as Debezium names it", where, s.Name, topic, prefix)
				continue
			}
			if !slices.Contains(included, parts[1]+"."+parts[2]) {
				t.Errorf("%s: sync %q: table %s.%s is not in the connector's table.include.list %v", where, s.Name, parts[1], parts[2], included)
			}
			tb, ok := tables[parts[2]]
			if !ok {
				t.Errorf("%s: sync %q: table %s is not created by the init SQL", where, s.Name, parts[2])
				continue
			}
			for field, col := range s.Fields {
				if !slices.Contains(tb.columns, strings.ToLower(col)) {
					t.Errorf("%s: sync %q: fields.%s maps column %q, which table %s lacks (it has %s)", where, s.Name, field, col, parts[2], strings.Join(tb.columns, ", "))
				}
			}
			if s.Type == "audience" && (s.Mode == "mirror" || s.Mode == "remove") && tb.replicaIdentity != "FULL" {
				t.Errorf("%s: sync %q: table %s needs REPLICA IDENTITY FULL: a delete must carry %v to find the Zoho record", where, s.Name, parts[2], s.MatchOn)
			}
		}
	}
}

// ---- Kubernetes -------------------------------------------------------------

type manifests struct {
	deploy deployment
	cm     configMap
	secret secret
	svc    service
	pm     podMonitor
	rules  prometheusRule
	kustom kustomization
}

func readManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	mustDecode(t, "kubernetes/deployment.yaml", &m.deploy)
	mustDecode(t, "kubernetes/configmap.yaml", &m.cm)
	mustDecode(t, "kubernetes/secret.example.yaml", &m.secret)
	mustDecode(t, "kubernetes/service.yaml", &m.svc)
	mustDecode(t, "kubernetes/podmonitor.yaml", &m.pm)
	mustDecode(t, "kubernetes/prometheusrule.yaml", &m.rules)
	mustDecode(t, "kubernetes/kustomization.yaml", &m.kustom)
	return m
}

// podName stands for the pod's name in the container's environment.
const podName = "zohosink-6d5f8b7c9-x2k4q"

func TestKubernetesDeployment(t *testing.T) {
	const name = "kubernetes/deployment.yaml"
	m := readManifests(t)
	d := m.deploy
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("%s: replicas %v, want 2", name, d.Spec.Replicas)
	}
	podLabels := d.Spec.Template.Metadata.Labels
	if !matches(d.Spec.Selector.MatchLabels, podLabels) || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("%s: selector %v does not select the pod template's labels %v", name, d.Spec.Selector.MatchLabels, podLabels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Errorf("%s: container %s has no image", name, c.Name)
	}
	if len(c.Command) > 0 {
		t.Errorf("%s: command %q overrides the image's ENTRYPOINT /zohosink; use args", name, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("%s: args %q, want run --config FILE", name, c.Args)
	}

	// Environment: secrets from the Secret, POD_NAME from the pod.
	secretKeys := map[string]string{}
	for k, v := range m.secret.StringData {
		secretKeys[k] = v
	}
	for k := range m.secret.Data {
		secretKeys[k] = "placeholder"
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: env %s is set twice", name, e.Name)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secretKeys[ref.Key]
			if ref.Name != m.secret.Metadata.Name || !ok {
				t.Errorf("%s: env %s reads key %q of Secret %q, which kubernetes/secret.example.yaml (Secret %q) does not have", name, e.Name, ref.Key, ref.Name, m.secret.Metadata.Name)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			if e.Name == "POD_NAME" && e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("%s: env POD_NAME comes from %s, want metadata.name", name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = map[string]string{"metadata.name": podName}[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = "536870912"
		default:
			t.Errorf("%s: env %s: valueFrom without a source", name, e.Name)
		}
	}
	for _, want := range []string{"ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "KAFKA_SASL_PASSWORD"} {
		e := slices.IndexFunc(c.Env, func(e envVar) bool { return e.Name == want })
		if e < 0 || c.Env[e].ValueFrom == nil || c.Env[e].ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: env %s does not come from a Secret", name, want)
		}
	}

	// The config: mounted from the ConfigMap, loadable with this environment.
	cfgPath := configFlag(c.Args)
	cfgData, cfgKey := mountedConfigMap(t, m, c, cfgPath)
	cfg := checkZohosinkConfig(t, "kubernetes/configmap.yaml (data."+cfgKey+", with the Deployment's environment)", []byte(cfgData), env)
	where := "kubernetes/configmap.yaml"
	if cfg.Kafka.InstanceID != podName {
		t.Errorf("%s: kafka.instance_id is not the pod name (${POD_NAME}): static membership needs a stable, unique id per pod", where)
	}
	if cfg.Zoho.APIDomain != "" || cfg.Zoho.AccountsURL != "" {
		t.Errorf("%s: zoho.api_domain/accounts_url are set: a real org's URLs follow from data_center", where)
	}
	if cfg.Zoho.DataCenter != "us" {
		t.Errorf("%s: zoho.data_center %q, want the default us", where, cfg.Zoho.DataCenter)
	}
	img := dockerfileImage(t)
	if cfgPath != configFlag(img.cmd) {
		t.Errorf("%s: --config %s differs from the image's default %s", name, cfgPath, configFlag(img.cmd))
	}

	// Ports and probes.
	listenHost, listenPort := hostPort(t, where+": http.listen", cfg.HTTP.Listen)
	if isLoopback(listenHost) {
		t.Errorf("%s: http.listen %s is loopback: probes and Prometheus cannot reach it", where, cfg.HTTP.Listen)
	}
	metricsPort := slices.IndexFunc(c.Ports, func(p containerPort) bool { return p.Name == "metrics" })
	if metricsPort < 0 {
		t.Fatalf("%s: no container port named metrics", name)
	}
	if strconv.Itoa(c.Ports[metricsPort].ContainerPort) != listenPort {
		t.Errorf("%s: port metrics is %d, but the config listens on %s", name, c.Ports[metricsPort].ContainerPort, listenPort)
	}
	if !slices.Contains(img.exposed, listenPort) {
		t.Errorf("Dockerfile: does not EXPOSE %s, the port the Deployment uses", listenPort)
	}
	for _, p := range []struct {
		kind string
		p    *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		switch {
		case p.p == nil || p.p.HTTPGet == nil:
			t.Errorf("%s: no %s httpGet", name, p.kind)
		case p.p.HTTPGet.Path != p.path:
			t.Errorf("%s: %s path %s, want %s", name, p.kind, p.p.HTTPGet.Path, p.path)
		case !portRefers(string(p.p.HTTPGet.Port), c.Ports[metricsPort]):
			t.Errorf("%s: %s port %s, want the metrics port", name, p.kind, p.p.HTTPGet.Port)
		}
	}

	// Resources and security.
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("%s: no resources.requests.%s", name, r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: no resources.limits.memory", name)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("%s: container has no securityContext", name)
	}
	psc := pod.SecurityContext
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", name)
	}
	if psc != nil && psc.RunAsUser != nil && img.uid >= 0 && int(*psc.RunAsUser) != img.uid {
		t.Errorf("%s: runAsUser %d differs from the image's USER %d", name, *psc.RunAsUser, img.uid)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", name)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != "RuntimeDefault" {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", name)
	}
	drain, err := drainTimeout(c.Args)
	if err != nil {
		t.Fatalf("%s: --drain-timeout: %v", name, err)
	}
	switch g := pod.TerminationGracePeriodSeconds; {
	case g == nil:
		t.Errorf("%s: no terminationGracePeriodSeconds: the default 30s is not above the drain timeout %s", name, drain)
	case time.Duration(*g)*time.Second <= drain:
		t.Errorf("%s: terminationGracePeriodSeconds %d is not above the drain timeout %s: the kubelet would kill zohosink mid-drain", name, *g, drain)
	}

	// Service and PodMonitor reach the pods' metrics port.
	if !matches(m.svc.Spec.Selector, podLabels) || len(m.svc.Spec.Selector) == 0 {
		t.Errorf("kubernetes/service.yaml: selector %v does not select the pods (%v)", m.svc.Spec.Selector, podLabels)
	}
	if m.svc.Spec.Type != "" && m.svc.Spec.Type != "ClusterIP" {
		t.Errorf("kubernetes/service.yaml: type %s, want ClusterIP", m.svc.Spec.Type)
	}
	if len(m.svc.Spec.Ports) == 0 || !portRefers(string(m.svc.Spec.Ports[0].TargetPort), c.Ports[metricsPort]) {
		t.Errorf("kubernetes/service.yaml: targetPort does not name the container's metrics port")
	}
	if !matches(m.pm.Spec.Selector.MatchLabels, podLabels) || len(m.pm.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("kubernetes/podmonitor.yaml: selector %v does not select the pods (%v)", m.pm.Spec.Selector.MatchLabels, podLabels)
	}
	if len(m.pm.Spec.PodMetricsEndpoints) == 0 || m.pm.Spec.PodMetricsEndpoints[0].Port != "metrics" || cmpOr(m.pm.Spec.PodMetricsEndpoints[0].Path, "/metrics") != "/metrics" {
		t.Errorf("kubernetes/podmonitor.yaml: want one endpoint on port metrics, path /metrics")
	}

	// Kustomization.
	const kname = "kubernetes/kustomization.yaml"
	for _, r := range m.kustom.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", filepath.FromSlash(r))); err != nil {
			t.Errorf("%s: resource %s does not exist", kname, r)
		}
	}
	for _, f := range []string{"configmap.yaml", "deployment.yaml", "service.yaml", "podmonitor.yaml", "prometheusrule.yaml"} {
		if !slices.Contains(m.kustom.Resources, f) {
			t.Errorf("%s: resources lack %s", kname, f)
		}
	}
	if slices.Contains(m.kustom.Resources, "secret.example.yaml") {
		t.Errorf("%s: lists secret.example.yaml: applying it would overwrite the real Secret with placeholders", kname)
	}
	repo, _, _ := strings.Cut(c.Image, ":")
	for _, im := range m.kustom.Images {
		if im.Name != repo {
			t.Errorf("%s: images: %s is not the Deployment's image %s", kname, im.Name, repo)
		}
	}
}

// matches reports whether a selector selects labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// portRefers reports whether a probe or targetPort value names port p.
func portRefers(v string, p containerPort) bool {
	return v == p.Name || v == strconv.Itoa(p.ContainerPort)
}

// mountedConfigMap returns the ConfigMap data the container reads at
// cfgPath, and its key.
func mountedConfigMap(t *testing.T, m *manifests, c container, cfgPath string) (string, string) {
	t.Helper()
	const name = "kubernetes/deployment.yaml"
	for _, vm := range c.VolumeMounts {
		file := ""
		switch {
		case vm.SubPath != "" && vm.MountPath == cfgPath:
			file = vm.SubPath
		case vm.SubPath == "" && path.Dir(cfgPath) == path.Clean(vm.MountPath):
			file = path.Base(cfgPath)
		default:
			continue
		}
		vi := slices.IndexFunc(m.deploy.Spec.Template.Spec.Volumes, func(v volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			t.Fatalf("%s: volumeMount %s names no volume", name, vm.Name)
		}
		v := m.deploy.Spec.Template.Spec.Volumes[vi]
		if v.ConfigMap == nil || v.ConfigMap.Name != m.cm.Metadata.Name {
			t.Fatalf("%s: volume %s mounted at %s is not the ConfigMap %s", name, v.Name, vm.MountPath, m.cm.Metadata.Name)
		}
		key := file
		if len(v.ConfigMap.Items) > 0 {
			i := slices.IndexFunc(v.ConfigMap.Items, func(it struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			}) bool {
				return it.Path == file
			})
			if i < 0 {
				t.Fatalf("%s: volume %s maps no ConfigMap key to %s, the file --config %s reads", name, v.Name, file, cfgPath)
			}
			key = v.ConfigMap.Items[i].Key
		}
		data, ok := m.cm.Data[key]
		if !ok {
			t.Fatalf("%s: --config %s is key %q of ConfigMap %s, which kubernetes/configmap.yaml lacks", name, cfgPath, key, m.cm.Metadata.Name)
		}
		return data, key
	}
	t.Fatalf("%s: nothing is mounted at --config %s", name, cfgPath)
	return "", ""
}

// ---- alerts -----------------------------------------------------------------

func TestPrometheusRules(t *testing.T) {
	const name = "kubernetes/prometheusrule.yaml"
	m := readManifests(t)
	jobLabel := m.pm.Spec.JobLabel
	job := m.deploy.Spec.Template.Metadata.Labels[jobLabel]
	if jobLabel == "" || job == "" {
		t.Errorf("kubernetes/podmonitor.yaml: jobLabel %q is not a label of the pods: the job label would be <namespace>/<podmonitor>", jobLabel)
	}
	readme := string(readFile(t, "README.md"))
	cm := m.cm.Data["config.yaml"]
	budget := regexp.MustCompile(`daily_credit_budget:\s*(\d+)`).FindStringSubmatch(cm)
	alerts := map[string]bool{}
	for _, g := range m.rules.Spec.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("%s: alert %s", name, r.Alert)
			if r.Alert == "" {
				t.Errorf("%s: group %s: a rule without alert (recording rules are not expected here)", name, g.Name)
				continue
			}
			alerts[r.Alert] = true
			for _, p := range checkPromQL(r.Expr) {
				t.Errorf("%s: expr %q: %s", where, r.Expr, p)
			}
			for _, j := range regexp.MustCompile(`job\s*=\s*"([^"]*)"`).FindAllStringSubmatch(r.Expr, -1) {
				if j[1] != job {
					t.Errorf("%s: job=%q, but the PodMonitor gives the job label %q", where, j[1], job)
				}
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q is not a duration", where, r.For)
				}
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity label %q, want critical, warning or info", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", where)
			}
			if !strings.Contains(r.Annotations["description"], "Runbook:") && r.Annotations["runbook_url"] == "" {
				t.Errorf("%s: no runbook hint", where)
			}
			if !strings.Contains(strings.ToLower(readme), "### "+strings.ToLower(r.Alert)+"\n") {
				t.Errorf("%s: README.md has no runbook section ### %s", where, r.Alert)
			}
			keeps := resultLabels(r.Expr)
			reported := map[string]bool{}
			for _, a := range r.Annotations {
				for _, l := range labelsTmpl.FindAllStringSubmatch(a, -1) {
					if !slices.Contains(keeps, l[1]) && !reported[l[1]] {
						reported[l[1]] = true
						t.Errorf("%s: an annotation uses $labels.%s, which the expression's result does not carry (it keeps %v)", where, l[1], keeps)
					}
				}
			}
			if r.Alert == "ZohosinkCreditsHigh" && budget != nil {
				th := regexp.MustCompile(`>\s*(\d+)`).FindStringSubmatch(r.Expr)
				if th == nil || mustAtoi(th[1]) >= mustAtoi(budget[1]) {
					t.Errorf("%s: threshold %q must stay below the configmap's daily_credit_budget %s", where, r.Expr, budget[1])
				}
			}
			if r.Alert == "ZohosinkConsumerLagHigh" && r.For != "10m" {
				t.Errorf("%s: for %q, want 10m", where, r.For)
			}
		}
	}
	for _, want := range []string{"ZohosinkConsumerLagHigh", "ZohosinkDeadLetterRate", "ZohosinkRateLimited", "ZohosinkAuthFailures", "ZohosinkDown", "ZohosinkCreditsHigh"} {
		if !alerts[want] {
			t.Errorf("%s: no alert %s", name, want)
		}
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// ---- Grafana ----------------------------------------------------------------

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

func TestGrafanaDashboard(t *testing.T) {
	const name = "grafana/zohosink-dashboard.json"
	data := readFile(t, name)
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: not valid JSON: %v", name, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: uid and title are required", name)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("%s: schemaVersion %d, want 36 or later (timeseries panels, datasource references)", name, d.SchemaVersion)
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	var dsVar, syncVar bool
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Name {
		case "datasource":
			var q string
			dsVar = v.Type == "datasource" && json.Unmarshal(v.Query, &q) == nil && q == "prometheus"
		case "sync":
			var q struct {
				Query string `json:"query"`
			}
			if json.Unmarshal(v.Query, &q) != nil {
				_ = json.Unmarshal(v.Query, &q.Query)
			}
			m := regexp.MustCompile(`^label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)$`).FindStringSubmatch(q.Query)
			if m == nil || m[1] != "zohosink_records_consumed_total" || m[2] != "sync" {
				t.Errorf("%s: variable sync: query %q, want label_values(zohosink_records_consumed_total, sync)", name, q.Query)
			}
			if v.Definition != "" && v.Definition != q.Query {
				t.Errorf("%s: variable sync: definition %q differs from its query %q", name, v.Definition, q.Query)
			}
			syncVar = v.Type == "query"
		}
	}
	if !dsVar {
		t.Errorf("%s: no datasource variable (type datasource, query prometheus)", name)
	}
	if !syncVar {
		t.Errorf("%s: no query variable sync", name)
	}
	ids := map[int]string{}
	used := map[string]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			where := fmt.Sprintf("%s: panel %d %q", name, p.ID, p.Title)
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("%s: id %d is also panel %q", where, p.ID, prev)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				if len(p.Targets) > 0 {
					t.Errorf("%s: a row with targets", where)
				}
				continue
			}
			if !slices.Contains([]string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap"}, p.Type) {
				t.Errorf("%s: type %q", where, p.Type)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no target", where)
			}
			if !strings.Contains(string(p.Datasource), "${datasource}") {
				t.Errorf("%s: datasource %s does not use the datasource variable", where, p.Datasource)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: target %q: needs an expr and a unique refId", where, tg.RefID)
				}
				refs[tg.RefID] = true
				for _, problem := range checkPromQL(tg.Expr) {
					t.Errorf("%s: target %s: %q: %s", where, tg.RefID, tg.Expr, problem)
				}
				for _, v := range grafanaVar.FindAllStringSubmatch(tg.Expr, -1) {
					if n := cmpOr(v[1], v[2]); !vars[n] {
						t.Errorf("%s: target %s uses $%s, which is not a dashboard variable", where, tg.RefID, n)
					}
				}
				for _, n := range metricsIn(blankStrings(tg.Expr)) {
					used[n] = true
				}
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{
		"zohosink_records_consumed_total", "zohosink_records_written_total", "zohosink_records_skipped_total",
		"zohosink_records_dead_lettered_total", "zohosink_zoho_requests_total", "zohosink_zoho_request_duration_seconds_bucket",
		"zohosink_zoho_credits_used_total", "zohosink_zoho_rate_limited_total", "zohosink_batch_records_bucket",
		"zohosink_consumer_lag", "zohosink_token_refreshes_total",
	} {
		if !used[want] {
			t.Errorf("%s: no panel shows %s", name, want)
		}
	}
}

// TestReadme keeps deploy/README.md in step with the files it describes.
func TestReadme(t *testing.T) {
	readme := string(readFile(t, "README.md"))
	for f := range deployFiles {
		if strings.HasSuffix(f, "_test.go") || f == "README.md" || strings.HasPrefix(f, "kubernetes/") {
			continue
		}
		if !strings.Contains(readme, f) {
			t.Errorf("README.md: does not say what %s is for", f)
		}
	}
	if !strings.Contains(readme, "docker build -f deploy/Dockerfile") {
		t.Errorf("README.md: does not show the build command (docker build -f deploy/Dockerfile .)")
	}
}

func TestInterpolate(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"$${HOME} costs $$5", "${HOME} costs $5", ""},
		{"${A:-x}/${B-y}", "x/y", ""},
		{"${ZOHO_CLIENT_ID}", "", "has no default"},
		{"echo $code", "", "lone $"},
		{"${A:-x", "", "unclosed"},
	}
	for _, tt := range tests {
		got, err := interpolate(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("interpolate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("interpolate(%q) error = %v, want one containing %q", tt.in, err, tt.err)
		}
	}
}
