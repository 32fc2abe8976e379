package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configWalker checks the YAML tree against the Config type before it is
// decoded: it expands ${NAME}, rejects unknown keys and values of the wrong
// kind with their key path and line, and records the line of every key
// present, for defaults and later errors.
type configWalker struct {
	env   func(string) (string, bool)
	lines map[string]int      // key path -> line, for keys with a non-null value
	seen  map[*yaml.Node]bool // scalars already expanded
	// active holds the nodes being walked, to stop at an alias cycle;
	// steps counts nodes walked, aborted is set once maxWalkSteps is passed.
	active   map[*yaml.Node]bool
	steps    int
	aborted  bool
	problems []Problem
	bad      []*yaml.Node // values failValue reported
	// expanded holds each value a variable gave, with the text that named
	// it, so messages show ${NAME} in place of a secret; expandedAt is the
	// index of a scalar's expansion, for a scalar an alias uses again.
	expanded   []expansion
	expandedAt map[*yaml.Node]int
}

// expansion is a value variables gave a scalar, and the text that named
// them ("${DC}", "http://${HOST}:8081").
type expansion struct {
	value, text string
	// secret is set when the value went to a secret key (kafka.sasl.password,
	// zoho.client_secret, ...) or a variable's name says it holds one
	// (secretVarName): problems never quote it, only the text.
	secret bool
}

// secretVarName matches the names of variables that probably hold a
// secret: their values are kept out of problems even when given to a key
// that is no secret (ZOHO_CLIENT_SECRET written under data_center by
// mistake).
var secretVarName = regexp.MustCompile(`(?i)secret|token|passw|pwd|credential|key`)

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expansions returns what the walker expanded, each marked secret when
// one of its variables also gave a secret key its value, or is named like
// a secret.
func (w *configWalker) expansions() []expansion {
	secretVars := map[string]bool{}
	for _, e := range w.expanded {
		for _, m := range varRef.FindAllStringSubmatch(e.text, -1) {
			if e.secret || secretVarName.MatchString(m[1]) {
				secretVars[m[1]] = true
			}
		}
	}
	out := slices.Clone(w.expanded)
	for i := range out {
		for _, m := range varRef.FindAllStringSubmatch(out[i].text, -1) {
			out[i].secret = out[i].secret || secretVars[m[1]]
		}
	}
	return out
}

// unexpander returns unexpand over what the walker expanded, nil if nothing.
func (w *configWalker) unexpander() func(string) string {
	if len(w.expanded) == 0 {
		return nil
	}
	exps := w.expansions()
	return func(msg string) string { return unexpand(msg, exps) }
}

// unexpand writes the variables' names back in place of the secrets they
// gave, then names the variables beside the other values, where a message
// quotes them: `"europe" (from ${DC}) is not one of ...`.
func unexpand(msg string, exps []expansion) string {
	for _, e := range exps {
		if e.secret {
			msg = strings.ReplaceAll(msg, e.value, e.text)
		}
	}
	for _, e := range exps {
		if !e.secret {
			q := strconv.Quote(e.value)
			msg = strings.ReplaceAll(msg, q, q+" (from "+e.text+")")
		}
	}
	return msg
}

func (w *configWalker) fail(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Key: path, Message: fmt.Sprintf(format, args...), Line: n.Line})
}

// failValue reports a value that cannot be read and marks it, so the rest
// of the config can still be read without it (ParseError.Partial).
func (w *configWalker) failValue(n *yaml.Node, path, format string, args ...any) {
	w.fail(n, path, format, args...)
	w.bad = append(w.bad, n)
}

var (
	durationType = reflect.TypeFor[Duration]()
	anyType      = reflect.TypeFor[any]()
	secretType   = reflect.TypeFor[Secret]()
)

// maxWalkSteps bounds the nodes visited, aliases expanded: a real config has
// a few thousand; more is an alias bomb.
const maxWalkSteps = 50_000

func (w *configWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if w.aborted {
		return
	}
	if w.steps++; w.steps > maxWalkSteps {
		w.fail(n, path, "the config expands to too many values (aliases that repeat aliases?)")
		w.aborted = true
		return
	}
	if w.active[n] {
		w.fail(n, path, "an alias refers to a value that contains it")
		return
	}
	w.active[n] = true
	defer delete(w.active, n)
	if n.Kind == yaml.ScalarNode {
		w.expand(n, path, t)
	}
	if isNull(n) {
		return
	}
	if path != "" {
		w.lines[path] = n.Line
	}
	switch {
	case t == durationType:
		if _, err := parseDuration(n); err != nil {
			w.failValue(n, path, "%v", err)
		}
	case t == anyType:
		w.walkAny(n, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.failValue(n, path, "expected a mapping of keys (%s), got %s", strings.Join(yamlKeys(t), ", "), nodeKind(n))
			return
		}
		w.walkMapping(n, path, func(key *yaml.Node, kpath string) (reflect.Type, bool) {
			f, ok := fieldByTag(t, key.Value)
			if !ok && path == "" && strings.HasPrefix(key.Value, "x-") {
				return nil, false // an extension key: a place for anchors, read only through them
			}
			if !ok {
				msg := "unknown key"
				if near := suggestKey(key.Value, yamlKeys(t)); near != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", near)
				} else {
					where := "the top level"
					if path != "" {
						where = path
					}
					msg += fmt.Sprintf(" (known keys of %s: %s)", where, strings.Join(yamlKeys(t), ", "))
				}
				w.fail(key, kpath, "%s", msg)
				return nil, false
			}
			return f.Type, true
		})
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.failValue(n, path, "expected a mapping, got %s", nodeKind(n))
			return
		}
		w.walkMapping(n, path, func(*yaml.Node, string) (reflect.Type, bool) { return t.Elem(), true })
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.failValue(n, path, "expected a list (e.g. [a, b]), got %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.failValue(n, path, "expected %s, got %s", kindWord(t), nodeKind(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.failValue(n, path, "%q is not %s", n.Value, kindWord(t))
		}
	}
}

// walkMapping visits the pairs of a mapping, resolving merge keys (<<) as
// YAML's merge spec says, and rejecting duplicate keys; elem returns the
// type of a key's value, or false when the key is unknown (already
// reported).
func (w *configWalker) walkMapping(n *yaml.Node, path string, elem func(key *yaml.Node, kpath string) (reflect.Type, bool)) {
	for _, kv := range w.mergedPairs(n, path, map[string]bool{}, map[*yaml.Node]bool{}) {
		k, v := kv[0], kv[1]
		kpath := k.Value
		if path != "" {
			kpath = path + "." + k.Value
		}
		if t, ok := elem(k, kpath); ok {
			w.walk(v, t, kpath)
		}
	}
}

// mergedPairs returns the key/value pairs of mapping m that count, in the
// order written, leaving out the keys in taken (and adding its own): a key
// written in m wins over the same key from a mapping merged with <<, and of
// the mappings of <<: [*a, *b] the earlier wins. A key written twice in one
// mapping is reported as a duplicate; merged is the mappings merged so far,
// each merged once.
func (w *configWalker) mergedPairs(m *yaml.Node, path string, taken map[string]bool, merged map[*yaml.Node]bool) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	var merges []*yaml.Node
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "a key must be a plain name, got %s", nodeKind(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			kpath := k.Value
			if path != "" {
				kpath = path + "." + k.Value
			}
			w.fail(k, kpath, "duplicate key (first set at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		if !taken[k.Value] {
			out = append(out, [2]*yaml.Node{k, v})
		}
	}
	for key := range first {
		taken[key] = true
	}
	for _, v := range merges {
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind == yaml.MappingNode && !merged[src] {
				merged[src] = true
				out = append(out, w.mergedPairs(src, path, taken, merged)...)
			}
		}
	}
	return out
}

// walkAny expands variables in a free-form value (constants).
func (w *configWalker) walkAny(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], anyType, path+"."+n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, anyType, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// expand replaces ${NAME} in a scalar, once per node (anchors are shared).
// A plain scalar that held a variable is resolved again, so
// `max_concurrency: ${N}` becomes a number; string targets stay strings
// whatever the variable holds.
func (w *configWalker) expand(n *yaml.Node, path string, t reflect.Type) {
	if w.seen[n] {
		if i, ok := w.expandedAt[n]; ok && t == secretType {
			w.expanded[i].secret = true // an alias gives a secret key what a variable gave another
		}
		return
	}
	w.seen[n] = true
	if !strings.Contains(n.Value, "${") {
		return
	}
	v, err := expandEnv(n.Value, w.env)
	if err != nil {
		w.failValue(n, path, "%v", err)
		return
	}
	if v != "" && v != n.Value {
		if w.expandedAt == nil {
			w.expandedAt = map[*yaml.Node]int{}
		}
		w.expandedAt[n] = len(w.expanded)
		w.expanded = append(w.expanded, expansion{value: v, text: n.Value, secret: t == secretType})
	}
	n.Value = v
	switch {
	case t.Kind() == reflect.String || t == durationType:
		n.Tag = "!!str"
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0:
		n.Tag = "" // resolve again: plain scalars take the type of their new value
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} with env(NAME) and $${ with a literal ${.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q (write $${ for a literal ${)", s[i:])
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			return "", fmt.Errorf("${%s} is not a valid environment variable name (write $${ for a literal ${)", name)
		}
		v, ok := env(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// yamlName returns the YAML key of a struct field, "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
