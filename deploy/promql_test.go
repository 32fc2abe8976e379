package deploy_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// metricSpec is one metric the binary exports (CONTRACT.md) with its labels.
type metricSpec struct {
	labels    []string
	histogram bool // exposes _bucket (with le), _sum and _count only
}

// exportedMetrics are the only metrics alerts and dashboards may use.
var exportedMetrics = map[string]metricSpec{
	"zohosink_records_consumed_total":        {labels: []string{"sync"}},
	"zohosink_records_written_total":         {labels: []string{"sync", "module", "operation"}},
	"zohosink_records_skipped_total":         {labels: []string{"sync", "reason"}},
	"zohosink_records_dead_lettered_total":   {labels: []string{"sync", "code"}},
	"zohosink_zoho_requests_total":           {labels: []string{"module", "operation", "code"}},
	"zohosink_zoho_request_duration_seconds": {labels: []string{"module", "operation"}, histogram: true},
	"zohosink_zoho_credits_used_total":       {},
	"zohosink_zoho_rate_limited_total":       {},
	"zohosink_batch_records":                 {labels: []string{"sync"}, histogram: true},
	"zohosink_consumer_lag":                  {labels: []string{"topic", "partition"}},
	"zohosink_token_refreshes_total":         {labels: []string{"result"}},
	// Prometheus' own, with the target labels the Prometheus Operator adds.
	"up": {labels: []string{"job", "instance", "namespace", "pod", "container", "endpoint"}},
}

// targetLabels are attached to every scraped series by Prometheus and the
// Prometheus Operator's PodMonitor.
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "endpoint"}

// seriesLabels returns the labels a series name carries, or an error when
// the binary does not export it.
func seriesLabels(name string) ([]string, error) {
	if m, ok := exportedMetrics[name]; ok {
		if m.histogram {
			return nil, fmt.Errorf("metric %s is a histogram: use %s_bucket, _sum or _count", name, name)
		}
		return append(slices.Clone(m.labels), targetLabels...), nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if m, known := exportedMetrics[base]; ok && known && m.histogram {
			labels := append(slices.Clone(m.labels), targetLabels...)
			if suffix == "_bucket" {
				labels = append(labels, "le")
			}
			return labels, nil
		}
	}
	return nil, fmt.Errorf("metric %s is not exported by zohosink (CONTRACT.md lists the metrics)", name)
}

var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricIdent = regexp.MustCompile(`\bzohosink_[a-z_]+\b|\bup\b`)
	selector    = regexp.MustCompile(`(\bzohosink_[a-z_]+|\bup)\s*\{([^}]*)\}`)
	matcher     = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$`)
	grouping    = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	aggregation = regexp.MustCompile(`\b(sum|avg|min|max|count|stddev|stdvar|topk|bottomk|quantile|count_values|group)\s*(\(|by\b|without\b)`)
	grafanaVar  = regexp.MustCompile(`\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|([a-zA-Z_][a-zA-Z0-9_]*))`)
	labelsTmpl  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// blankStrings replaces the contents of string literals by spaces, keeping
// offsets, so that label values never look like identifiers.
func blankStrings(expr string) string {
	return stringLit.ReplaceAllStringFunc(expr, func(s string) string {
		return `"` + strings.Repeat(" ", len(s)-2) + `"`
	})
}

// balanced returns the end (exclusive) of the parenthesised group opening at
// s[open], or -1.
func balanced(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// balancedBack returns the start of the parenthesised group closing at
// s[closing], or -1.
func balancedBack(s string, closing int) int {
	depth := 0
	for i := closing; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func splitLabels(list string) []string {
	var out []string
	for _, l := range strings.Split(list, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// metricsIn returns the metric names used in a (string-blanked) expression.
func metricsIn(blank string) []string {
	var out []string
	for _, m := range metricIdent.FindAllString(blank, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// checkPromQL returns the problems of one PromQL expression: metrics the
// binary does not export, and labels (in selectors and in by, without, on,
// ignoring and group_* clauses) the metrics involved do not carry.
func checkPromQL(expr string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	blank := blankStrings(expr)
	names := metricsIn(blank)
	if len(names) == 0 {
		add("uses no zohosink metric")
	}
	labelsOf := map[string][]string{}
	for _, n := range names {
		l, err := seriesLabels(n)
		if err != nil {
			add("%v", err)
			continue
		}
		labelsOf[n] = l
	}
	for _, loc := range selector.FindAllStringSubmatchIndex(blank, -1) {
		name := blank[loc[2]:loc[3]]
		body := expr[loc[4]:loc[5]] // the original text, with label values
		labels, known := labelsOf[name]
		for _, m := range splitMatchers(body) {
			sub := matcher.FindStringSubmatch(m)
			if sub == nil {
				add("%s{%s}: cannot read the label matcher %q", name, body, m)
				continue
			}
			if known && !slices.Contains(labels, sub[1]) {
				add("%s has no label %q (it has %s)", name, sub[1], strings.Join(labels, ", "))
			}
		}
	}
	for _, loc := range grouping.FindAllStringSubmatchIndex(blank, -1) {
		kw := blank[loc[2]:loc[3]]
		clause := splitLabels(blank[loc[4]:loc[5]])
		scope := blank
		if kw == "by" || kw == "without" {
			// The aggregated expression: "sum by (x) (...)" or "sum(...) by (x)".
			after := strings.TrimLeft(blank[loc[1]:], " \t\n")
			before := strings.TrimRight(blank[:loc[0]], " \t\n")
			switch {
			case strings.HasPrefix(after, "("):
				start := len(blank) - len(after)
				if end := balanced(blank, start); end > 0 {
					scope = blank[start:end]
				}
			case strings.HasSuffix(before, ")"):
				if start := balancedBack(blank, len(before)-1); start >= 0 {
					scope = blank[start:len(before)]
				}
			}
		}
		inScope := metricsIn(scope)
		for _, l := range clause {
			for _, n := range inScope {
				labels, ok := labelsOf[n]
				if !ok {
					continue
				}
				// An aggregation needs the label on every series it reads;
				// vector matching needs it on at least one side.
				if (kw == "by" || kw == "without") && !slices.Contains(labels, l) {
					add("%s (%s): %s has no label %q", kw, strings.Join(clause, ", "), n, l)
				}
			}
			if kw != "by" && kw != "without" && !slices.ContainsFunc(inScope, func(n string) bool { return slices.Contains(labelsOf[n], l) }) {
				add("%s (%s): no metric in the expression has the label %q", kw, strings.Join(clause, ", "), l)
			}
		}
	}
	// histogram_quantile over an aggregation must keep le.
	for i := strings.Index(blank, "histogram_quantile("); i >= 0; {
		end := balanced(blank, i+len("histogram_quantile"))
		if end < 0 {
			add("histogram_quantile: unbalanced parentheses")
			break
		}
		arg := blank[i:end]
		if !strings.Contains(arg, "_bucket") {
			add("histogram_quantile over %q reads no _bucket series", expr[i:end])
		}
		for _, g := range grouping.FindAllStringSubmatch(arg, -1) {
			if g[1] == "by" && !slices.Contains(splitLabels(g[2]), "le") {
				add("histogram_quantile: the aggregation by (%s) drops le", g[2])
			}
		}
		next := strings.Index(blank[end:], "histogram_quantile(")
		if next < 0 {
			break
		}
		i = end + next
	}
	return problems
}

// splitMatchers splits a selector body on the commas between matchers.
func splitMatchers(body string) []string {
	var out []string
	inString, start := false, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			inString = !inString
		case ',':
			if !inString {
				out = append(out, body[start:i])
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(body[start:]); rest != "" {
		out = append(out, body[start:])
	}
	return out
}

// resultLabels returns the labels an alert expression's result keeps, as far
// as annotations can rely on them: the by labels of its aggregations, or the
// labels of its metrics when it aggregates nothing.
func resultLabels(expr string) []string {
	blank := blankStrings(expr)
	var out []string
	if aggregation.MatchString(blank) {
		for _, g := range grouping.FindAllStringSubmatch(blank, -1) {
			if g[1] == "by" {
				out = append(out, splitLabels(g[2])...)
			}
		}
	} else {
		for _, n := range metricsIn(blank) {
			l, _ := seriesLabels(n)
			out = append(out, l...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestPromQLChecker(t *testing.T) {
	tests := []struct {
		expr string
		want string // a problem containing this; "" for none
	}{
		{`sum by (sync) (rate(zohosink_records_consumed_total{sync=~"a|b"}[5m]))`, ""},
		{`sum(rate(zohosink_records_written_total[5m])) by (sync, module)`, ""},
		{`histogram_quantile(0.9, sum by (le, module) (rate(zohosink_zoho_request_duration_seconds_bucket[5m])))`, ""},
		{`up{job="zohosink"} == 0 or absent(up{job="zohosink"})`, ""},
		{`sum by (sync) (rate(a[5m])) / on (sync) group_left sum by (sync) (rate(zohosink_records_consumed_total[5m]))`, ""},
		{`rate(zohosink_records_consumed[5m])`, "not exported"},
		{`rate(zohosink_records_consumed_total{topic="x"}[5m])`, `has no label "topic"`},
		{`rate(zohosink_records_consumed_total{sync="a", code="x"}[5m])`, `has no label "code"`},
		{`sum by (code) (rate(zohosink_records_written_total[5m]))`, `has no label "code"`},
		{`sum(rate(zohosink_records_skipped_total[5m])) by (module)`, `has no label "module"`},
		{`histogram_quantile(0.9, rate(zohosink_batch_records[5m]))`, "is a histogram"},
		{`histogram_quantile(0.9, sum by (sync) (rate(zohosink_batch_records_bucket[5m])))`, "drops le"},
		{`zohosink_consumer_lag{topic="a" partition="0"}`, "cannot read the label matcher"},
		{`vector(1)`, "uses no zohosink metric"},
		{`sum by (x) (rate(zohosink_zoho_requests_total[5m])) / on (nope) rate(zohosink_zoho_requests_total[5m])`, `has the label "nope"`},
	}
	for _, tt := range tests {
		problems := strings.Join(checkPromQL(tt.expr), "\n")
		switch {
		case tt.want == "" && problems != "":
			t.Errorf("checkPromQL(%s) = %q, want no problem", tt.expr, problems)
		case tt.want != "" && !strings.Contains(problems, tt.want):
			t.Errorf("checkPromQL(%s) = %q, want a problem containing %q", tt.expr, problems, tt.want)
		}
	}
}
