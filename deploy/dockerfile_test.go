package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is a Dockerfile as BuildKit reads it.
type dockerfile struct {
	stages []instructions.Stage
	args   map[string]string // ARGs before the first FROM, with their defaults
}

// parseDockerfile parses a deploy Dockerfile with BuildKit's parser and its
// typed instructions; syntax errors and the build checks' warnings
// (docker build --check) are problems.
func parseDockerfile(r *report, name string) *dockerfile {
	data, ok := r.read(name)
	if !ok {
		return nil
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		r.errorf("%s: %v", name, err)
		return nil
	}
	for _, w := range res.Warnings {
		l := 0
		if w.Location != nil {
			l = w.Location.Start.Line
		}
		r.errorf("%s:%d: %s", name, l, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		r.errorf("%s:%d: %s: %s", name, line, rule, msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		r.errorf("%s: %v", name, err)
		return nil
	}
	d := &dockerfile{stages: stages, args: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				d.args[kv.Key] = *kv.Value
			}
		}
	}
	return d
}

// base returns the image a stage starts from, with the global ARGs' defaults.
func (d *dockerfile) base(s instructions.Stage) string {
	return os.Expand(s.BaseName, func(k string) string { return d.args[k] })
}

// commandsOf returns the commands of type T in a stage.
func commandsOf[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func line(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// dockerImage describes the zohosink image as the Dockerfile builds it.
type dockerImage struct {
	uid        int
	entrypoint []string
	cmd        []string
	exposed    []string
}

var goBuildTarget = regexp.MustCompile(`\./cmd/zohosink(\s|$)`)

// zohosinkImage reads deploy/Dockerfile and returns what its runtime stage
// declares; the problems it finds are reported (and so reported again by
// every check that reads the image: each names the file).
func zohosinkImage(r *report) (dockerImage, bool) {
	const name = "Dockerfile"
	img := dockerImage{uid: -1}
	d := parseDockerfile(r, name)
	if d == nil {
		return img, false
	}
	if len(d.stages) < 2 {
		r.errorf("%s: %d stage(s), want a multi-stage build (build, then runtime)", name, len(d.stages))
		return img, false
	}
	build, final := d.stages[0], d.stages[len(d.stages)-1]
	if b := d.base(build); !strings.HasPrefix(b, "golang:1.26") {
		r.errorf("%s: build stage FROM %s, want golang:1.26 (go.mod's Go)", name, b)
	}
	var out string
	for _, st := range d.stages[:len(d.stages)-1] {
		for _, run := range commandsOf[*instructions.RunCommand](st) {
			script := strings.Join(run.CmdLine, " ")
			if !strings.Contains(script, "go build") {
				continue
			}
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-s -w"} {
				if !strings.Contains(script, want) {
					r.errorf("%s:%d: go build lacks %s", name, line(run), want)
				}
			}
			if !goBuildTarget.MatchString(script) {
				r.errorf("%s:%d: go build does not build ./cmd/zohosink", name, line(run))
			}
			if m := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(script); m != nil {
				out = m[1]
			}
		}
	}
	if out == "" {
		r.errorf("%s: no stage runs go build -o FILE ./cmd/zohosink", name)
	}
	if b := d.base(final); !strings.HasPrefix(b, "gcr.io/distroless/static") && b != "scratch" {
		r.errorf("%s: runtime stage FROM %s, want distroless static or scratch (no shell)", name, b)
	}
	if runs := commandsOf[*instructions.RunCommand](final); len(runs) > 0 {
		r.errorf("%s:%d: RUN in the runtime stage: it has no shell", name, line(runs[0]))
	}
	copied := slices.ContainsFunc(commandsOf[*instructions.CopyCommand](final), func(c *instructions.CopyCommand) bool {
		return build.Name != "" && c.From == build.Name && slices.Contains(c.SourcePaths, out)
	})
	if !copied {
		r.errorf("%s: the runtime stage does not COPY --from=<build stage> the binary %s", name, out)
	}
	if users := commandsOf[*instructions.UserCommand](final); len(users) == 0 {
		r.errorf("%s: no USER in the runtime stage: it would run as root", name)
	} else {
		last := users[len(users)-1]
		user, _, _ := strings.Cut(last.User, ":")
		switch uid, err := strconv.Atoi(user); {
		case err != nil:
			r.errorf("%s:%d: USER %s is not numeric: Kubernetes' runAsNonRoot cannot verify a user name", name, line(last), user)
		case uid == 0:
			r.errorf("%s:%d: USER is root", name, line(last))
		default:
			img.uid = uid
		}
	}
	for _, e := range commandsOf[*instructions.ExposeCommand](final) {
		img.exposed = append(img.exposed, e.Ports...)
	}
	execForm := func(kind string, c instructions.ShellDependantCmdLine, l int) []string {
		if c.PrependShell {
			r.errorf("%s:%d: %s %q is in shell form: the runtime image has no shell; use exec form (a JSON array)", name, l, kind, c.CmdLine)
		}
		return c.CmdLine
	}
	if eps := commandsOf[*instructions.EntrypointCommand](final); len(eps) == 0 {
		r.errorf("%s: no ENTRYPOINT in the runtime stage", name)
	} else {
		img.entrypoint = execForm("ENTRYPOINT", eps[len(eps)-1].ShellDependantCmdLine, line(eps[len(eps)-1]))
	}
	if cmds := commandsOf[*instructions.CmdCommand](final); len(cmds) == 0 {
		r.errorf("%s: no CMD in the runtime stage", name)
	} else {
		img.cmd = execForm("CMD", cmds[len(cmds)-1].ShellDependantCmdLine, line(cmds[len(cmds)-1]))
	}
	if !slices.Equal(img.entrypoint, []string{"/zohosink"}) {
		r.errorf("%s: ENTRYPOINT %q, want [\"/zohosink\"]", name, img.entrypoint)
	}
	return img, true
}

// checkDockerfile checks both Dockerfiles and the build context filter.
func checkDockerfile(r *report) {
	img, ok := zohosinkImage(r)
	if ok {
		if !slices.Contains(img.exposed, "9464") {
			r.errorf("Dockerfile: EXPOSE %v lacks 9464 (metrics and health)", img.exposed)
		}
		if len(img.cmd) < 3 || img.cmd[0] != "run" || configFlag(img.cmd) == "" {
			r.errorf("Dockerfile: CMD %q, want run --config FILE", img.cmd)
		}
	}
	if data, ok := r.read("Dockerfile.dockerignore"); ok {
		ignore := string(data)
		for _, want := range []string{".git", "**/.env"} {
			if !strings.Contains(ignore, want) {
				r.errorf("Dockerfile.dockerignore: does not exclude %s from the build context", want)
			}
		}
		for _, l := range strings.Split(ignore, "\n") {
			if l = strings.TrimSpace(l); slices.Contains([]string{"go.mod", "go.sum", "cmd", "connector", "zoho", "schema"}, l) {
				r.errorf("Dockerfile.dockerignore: excludes %s, which go build needs", l)
			}
		}
	}

	const connect = "connect/Dockerfile"
	d := parseDockerfile(r, connect)
	if d == nil {
		return
	}
	if len(d.stages) != 1 || !strings.HasPrefix(d.base(d.stages[0]), "quay.io/debezium/connect:") {
		bases := []string{}
		for _, s := range d.stages {
			bases = append(bases, d.base(s))
		}
		r.errorf("%s: want one stage FROM quay.io/debezium/connect, got %s", connect, fmt.Sprint(bases))
		return
	}
	var runs string
	for _, run := range commandsOf[*instructions.RunCommand](d.stages[0]) {
		runs += strings.Join(run.CmdLine, " ")
	}
	for _, jar := range []string{"kafka-connect-avro-converter", "kafka-connect-avro-data", "kafka-avro-serializer", "kafka-schema-registry-client", "/avro/"} {
		if !strings.Contains(runs, jar) {
			r.errorf("%s: does not install %s, which io.confluent.connect.avro.AvroConverter needs", connect, jar)
		}
	}
}

func TestDockerfile(t *testing.T) { check(t, checkDockerfile, nil) }
