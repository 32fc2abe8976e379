package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the config as YAML, defaults included, with every secret
// shown as [redacted]: what `zohosink validate` and logs may print.
func (c *Config) Redacted() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		// Only a value YAML cannot encode (a channel in constants, say) gets
		// here; never print a partial config.
		return fmt.Sprintf("# the config cannot be shown as YAML: %v\n", err)
	}
	_ = enc.Close()
	return b.String()
}

// Summary describes the config in human lines for `zohosink validate`: the
// Kafka and Zoho endpoints, then per sync its topics, module, type and mode,
// match_on and the fields it maps (marked "(default fields)" when the sync
// omitted fields).
func (c *Config) Summary() []string {
	k, z := c.Kafka, c.Zoho
	conc := "the edition's limit"
	if z.MaxConcurrency > 0 {
		conc = strconv.Itoa(z.MaxConcurrency)
	}
	lines := []string{
		fmt.Sprintf("kafka: brokers %s, group %s, dead letters to %s", strings.Join(k.Brokers, ", "), k.GroupID, k.DeadLetterTopic),
		fmt.Sprintf("zoho: data center %s (%s), edition %s, concurrency %s", z.DataCenter, z.Environment, z.Edition, conc),
	}
	for i := range c.Syncs {
		s := &c.Syncs[i]
		line := fmt.Sprintf("sync %s: %s -> %s, %s/%s", s.Name, strings.Join(s.Topics, ", "), s.Module, s.Type, s.Mode)
		if len(s.MatchOn) > 0 {
			line += ", match_on " + strings.Join(s.MatchOn, ", ")
		}
		if s.RemoveAction != "" {
			line += ", remove_action " + s.RemoveAction
		}
		if s.Tag != "" {
			line += ", tag " + s.Tag
		}
		lines = append(lines, line)
		fields := make([]string, 0, len(s.Fields))
		for _, f := range sortedNames(s.Fields) {
			fields = append(fields, f+" <- "+s.Fields[f])
		}
		fl := "  fields: " + strings.Join(fields, ", ")
		if len(fields) == 0 {
			fl = "  fields: none"
		}
		if s.FieldsDefaulted {
			fl += " (default fields)"
		}
		lines = append(lines, fl)
		if len(s.Constants) > 0 {
			consts := make([]string, 0, len(s.Constants))
			for _, f := range sortedNames(s.Constants) {
				consts = append(consts, fmt.Sprintf("%s = %v", f, s.Constants[f]))
			}
			lines = append(lines, "  constants: "+strings.Join(consts, ", "))
		}
	}
	return lines
}

// ReferenceKeys returns the path of every YAML key of Config, sections
// included, in the order of the struct: "kafka", "kafka.brokers", ...,
// "syncs", "syncs[].match_on", .... It is derived from the yaml tags, so a
// test can check that the README's reference names every key.
func ReferenceKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			key := prefix + name
			keys = append(keys, key)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, key+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[].")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}
