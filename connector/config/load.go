package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"zohosink/zoho"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path: see Parse. Environment variables come
// from the process environment; relative paths of secret files (file:)
// and TLS files are read from the config file's folder.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, os.LookupEnv, dir)
}

// Parse reads a config from YAML:
//
//   - ${NAME} in any value is replaced by env(NAME) (os.LookupEnv when env is
//     nil); a variable env does not know is an error naming it and the key.
//     $${ writes a literal ${. A $ not followed by { is kept as is. The value
//     is substituted after YAML parsing, so it needs no quoting, except that
//     inside a flow collection ([...] or {...}) a value holding ${ must be
//     quoted, as YAML reads { there as the start of a mapping.
//   - A secret (kafka.sasl.password, schema_registry.password,
//     zoho.client_secret, zoho.refresh_token) given as file:/path is read
//     from that file, without its trailing newline. An unreadable file is
//     an error naming the key and the path, never the content.
//   - Unknown keys, duplicate keys and values of the wrong kind are errors
//     naming the key path and the line; every such problem is reported.
//   - Defaults are applied to absent (or null) keys; for string keys an
//     empty value also takes the default, while an explicit 0 for a number
//     or duration is kept (and reported by Validate). A sync without fields
//     gets the module's default destination fields (FieldsDefaulted); a sync
//     without trigger gets [] (run no automation).
//
// Parse does not call Validate.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	return parse(data, env, "")
}

// parse is Parse with relative file paths (secrets' file:, TLS files) read
// from dir; "" leaves them relative to the working directory.
func parse(data []byte, env func(string) (string, bool), dir string) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config is not valid YAML: %w (%s)", err, yamlHint(data))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: the config holds more than one YAML document", extra.Line)
	}
	cfg := &Config{}
	w := &configWalker{env: env, lines: map[string]int{}, seen: map[*yaml.Node]bool{}, active: map[*yaml.Node]bool{}}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		w.walk(root, reflect.TypeFor[Config](), "")
		if len(w.problems) > 0 {
			for i := range w.problems {
				w.problems[i].Message = unexpand(w.problems[i].Message, w.expansions())
			}
			pe := &ParseError{Problems: w.problems}
			// Read the rest without the values that failed, so Validate can
			// report its problems too (every problem at once).
			for _, n := range w.bad {
				*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
			}
			partial := &Config{}
			if !w.aborted && root.Decode(partial) == nil {
				pe.Problems = append(pe.Problems, readSecretFiles(reflect.ValueOf(partial).Elem(), "", w.lines, dir)...)
				partial.applyDefaults(w.lines)
				partial.resolveTLSFiles(dir)
				partial.lines, partial.unexpand = w.lines, w.unexpander()
				pe.Partial = partial
				pe.nameSyncs()
			}
			return nil, pe
		}
		if err := root.Decode(cfg); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	cfg.lines, cfg.unexpand = w.lines, w.unexpander()
	cfg.resolveTLSFiles(dir)
	if ps := readSecretFiles(reflect.ValueOf(cfg).Elem(), "", w.lines, dir); len(ps) > 0 {
		cfg.applyDefaults(w.lines)
		pe := &ParseError{Problems: ps, Partial: cfg}
		pe.nameSyncs()
		return nil, pe
	}
	cfg.applyDefaults(w.lines)
	return cfg, nil
}

// yamlHint says where to look for a YAML syntax error: a tab in the
// indentation, or else near the line named (YAML notices a mistaken
// indentation on a later line than the mistake).
func yamlHint(data []byte) string {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Sprintf("line %d is indented with a tab: YAML wants spaces", i+1)
		}
	}
	return "look at the indentation of the lines around the one named: a key one space off is read as part of another"
}

// ParseError lists every problem Parse found reading the config: unknown
// and duplicate keys, values of the wrong kind, unknown variables, secret
// files that cannot be read.
type ParseError struct {
	Problems []Problem
	// Partial is the config read without the values that failed (nil when
	// even that is impossible): Validate it to report the other problems
	// too, skipping those under a key Problems names (see Validate).
	Partial *Config
}

// Error returns one line per problem: "line 12: syncs[0].linger: ...".
func (e *ParseError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = fmt.Sprintf("line %d: %s: %s", p.Line, p.Key, p.Message)
		if p.Key == "" {
			lines[i] = fmt.Sprintf("line %d: %s", p.Line, p.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// nameSyncs names the sync of each problem under syncs[i], once the
// partial config knows the names.
func (e *ParseError) nameSyncs() {
	if e.Partial == nil {
		return
	}
	for i := range e.Problems {
		e.Problems[i].Sync = e.Partial.syncOf(e.Problems[i].Key)
	}
}

// syncOf returns the name of the sync a key path belongs to ("" when none).
func (c *Config) syncOf(key string) string {
	var i int
	if _, err := fmt.Sscanf(key, "syncs[%d]", &i); err != nil || i < 0 || i >= len(c.Syncs) {
		return ""
	}
	return c.Syncs[i].Name
}

// AllProblems validates what the ParseError could read and returns its
// problems with those of Validate that do not follow from them, sorted by
// line: what `zohosink validate` prints.
func (e *ParseError) AllProblems() []Problem {
	all := slices.Clone(e.Problems)
	if e.Partial != nil {
		var ve *ValidationError
		if errors.As(e.Partial.Validate(), &ve) {
			for _, p := range ve.Problems {
				if !e.covers(p.Key) {
					all = append(all, p)
				}
			}
		}
	}
	slices.SortStableFunc(all, func(a, b Problem) int { return a.Line - b.Line })
	return all
}

// covers reports whether a parse problem is about key or a key around it.
func (e *ParseError) covers(key string) bool {
	for _, p := range e.Problems {
		if p.Key != "" && (key == p.Key || strings.HasPrefix(key, p.Key+".") || strings.HasPrefix(key, p.Key+"[")) {
			return true
		}
	}
	return false
}

// readSecretFiles replaces every Secret "file:/path" with the file's
// content, trimmed of its trailing newline, and reports every file that
// cannot be read or is empty (naming the key and the path, never content).
func readSecretFiles(v reflect.Value, path string, lines map[string]int, dir string) []Problem {
	t := v.Type()
	var out []Problem
	switch {
	case t == reflect.TypeFor[Secret]():
		s := v.Interface().(Secret).Reveal()
		file, ok := strings.CutPrefix(s, "file:")
		if !ok {
			return nil
		}
		bad := func(format string, args ...any) []Problem {
			return []Problem{{Key: path, Message: fmt.Sprintf(format, args...), Line: lines[path]}}
		}
		if file == "" {
			return bad("file: needs a path (file:/run/secrets/name)")
		}
		file = inDir(dir, file)
		data, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named below
			}
			return bad("cannot read the secret file %s: %v", file, err)
		}
		secret := strings.TrimRight(string(data), "\r\n")
		if strings.TrimSpace(secret) == "" {
			return bad("the secret file %s is empty", file)
		}
		if named := namedSecret(secret); named != "" {
			what := "the secret"
			switch {
			case strings.HasSuffix(path, "token"):
				what = "the token"
			case strings.HasSuffix(path, "password"):
				what = "the password"
			}
			return bad("the secret file %s holds `%s`; it should hold %s alone", file, named, what)
		}
		v.SetString(secret)
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			out = append(out, readSecretFiles(v.Field(i), p, lines, dir)...)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		for i := range v.Len() {
			out = append(out, readSecretFiles(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lines, dir)...)
		}
	}
	return out
}

// secretLine matches a first line that names a secret before giving it
// ("refresh_token: 1000.x", as zohosink auth prints it, or
// "ZOHO_CLIENT_SECRET=abc", as an env file holds it).
var secretLine = regexp.MustCompile(`(?i)^\s*(?:export\s+)?"?((?:zoho_)?(?:refresh_token|client_secret|access_token|password))"?\s*([:=])`)

// namedSecret returns how a secret file's content names its secret
// ("refresh_token: ..." when it holds `refresh_token: 1000...` pasted from
// zohosink auth's output), "" when it starts with the secret itself.
func namedSecret(content string) string {
	first, _, _ := strings.Cut(strings.TrimLeft(content, " \t\r\n"), "\n")
	m := secretLine.FindStringSubmatch(first)
	switch {
	case m == nil:
		return ""
	case m[2] == ":":
		return m[1] + ": ..."
	}
	return m[1] + "=..."
}

// inDir returns a relative path as a path in dir (when dir is not "").
func inDir(dir, path string) string {
	if dir == "" || path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// resolveTLSFiles makes the TLS files' relative paths paths in dir.
func (c *Config) resolveTLSFiles(dir string) {
	t := &c.Kafka.TLS
	t.CAFile, t.CertFile, t.KeyFile = inDir(dir, t.CAFile), inDir(dir, t.CertFile), inDir(dir, t.KeyFile)
}

// applyDefaults fills absent keys (lines lacks them) and empty strings.
func (c *Config) applyDefaults(lines map[string]int) {
	orStr := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	orDur := func(d *Duration, key string, def time.Duration) {
		if _, set := lines[key]; !set {
			*d = Duration(def)
		}
	}
	k := &c.Kafka
	orStr(&k.GroupID, DefaultGroupID)
	orStr(&k.DeadLetterTopic, k.GroupID+".dlq")
	orStr(&k.StartOffset, DefaultStartOffset)
	orDur(&k.CommitInterval, "kafka.commit_interval", DefaultCommitInterval)
	orDur(&k.SessionTimeout, "kafka.session_timeout", DefaultSessionTimeout)
	orDur(&k.RebalanceTimeout, "kafka.rebalance_timeout", DefaultRebalanceTimeout)
	orDur(&k.HeartbeatInterval, "kafka.heartbeat_interval", DefaultHeartbeatInterval)
	if _, set := lines["kafka.max_buffered_bytes"]; !set {
		k.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	z := &c.Zoho
	orStr(&z.Environment, DefaultEnvironment)
	orStr(&z.Edition, DefaultEdition)
	orDur(&z.RequestTimeout, "zoho.request_timeout", DefaultRequestTimeout)
	for i := range c.Syncs {
		s := &c.Syncs[i]
		p := fmt.Sprintf("syncs[%d].", i)
		if _, set := lines[p+"batch_size"]; !set {
			s.BatchSize = DefaultBatchSize
		}
		orDur(&s.Linger, p+"linger", DefaultLinger)
		orStr(&s.Format, DefaultFormat)
		if s.Trigger == nil {
			s.Trigger = []string{}
		}
		if _, set := lines[p+"skip_features"]; !set && s.SkipFeatures == nil {
			s.SkipFeatures = []string{zoho.SkipCadences}
		}
		if _, set := lines[p+"fields"]; !set && s.Fields == nil {
			if info, ok := Module(s.Module); ok {
				s.Fields = make(map[string]string, len(info.DefaultFields))
				for _, f := range info.DefaultFields {
					if _, constant := s.Constants[f]; !constant { // a constant overrides the default
						s.Fields[f] = strings.ToLower(f)
					}
				}
				s.FieldsDefaulted = true
			}
		}
	}
	orStr(&c.HTTP.Listen, DefaultHTTPListen)
	orStr(&c.Log.Level, DefaultLogLevel)
	orStr(&c.Log.Format, DefaultLogFormat)
	orDur(&c.Log.ProgressInterval, "log.progress_interval", DefaultProgressInterval)
	c.moveRegistryCredentials()
}

// moveRegistryCredentials moves a user and password written in
// schema_registry.url (http://user:password@host:8081) to username and
// password, so the URL the registry client carries in every error it
// returns (and so in logs, /status and validate's output) holds no secret.
// When username is set too the URL is left as it is and Validate refuses it
// (two places for one credential), without quoting it.
func (c *Config) moveRegistryCredentials() {
	r := &c.SchemaRegistry
	u, err := url.Parse(r.URL)
	if err != nil || u.User == nil || r.Username != "" {
		return
	}
	r.Username = u.User.Username()
	if pw, ok := u.User.Password(); ok {
		r.Password = Secret(pw)
	}
	u.User = nil
	r.URL = u.String()
}
