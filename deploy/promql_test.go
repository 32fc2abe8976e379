package deploy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	sigsyaml "sigs.k8s.io/yaml"
)

// promql parses PromQL as Prometheus does.
var promql = parser.NewParser(parser.Options{})

// ---- PromQL against the binary's series --------------------------------------

// selectors returns the vector selectors of an expression.
func selectors(e parser.Node) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// seriesName returns the metric name a selector reads, or "".
func seriesName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// checkPromQL parses an expression and returns its problems: a syntax error;
// a series the binary does not export; a label a selector matches, an
// aggregation groups by, or a vector match joins on that its series do not
// carry; a histogram_quantile that does not read _bucket series or
// aggregates le away.
func checkPromQL(expr string, series catalogue) (parser.Expr, []string) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, []string{err.Error()}
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	known := func(vs *parser.VectorSelector) (string, map[string]bool) {
		n := seriesName(vs)
		return n, series[n]
	}
	if len(selectors(e)) == 0 {
		add("reads no series")
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name, labels := known(n)
			if labels == nil {
				add("%s is not a series the zohosink binary exports (checked against its /metrics after a demo run)", cmpOr(name, n.String()))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !labels[m.Name] {
					add("%s has no label %q (it has %s)", name, m.Name, strings.Join(series.labelNames(name), ", "))
				}
			}
		case *parser.AggregateExpr:
			// An aggregation needs its labels on every series it reads.
			for _, l := range n.Grouping {
				for _, vs := range selectors(n.Expr) {
					if name, labels := known(vs); labels != nil && !labels[l] {
						add("%s (%s): %s has no label %q", map[bool]string{false: "by", true: "without"}[n.Without], strings.Join(n.Grouping, ", "), name, l)
					}
				}
			}
		case *parser.BinaryExpr:
			// Vector matching needs its labels on at least one side.
			if vm := n.VectorMatching; vm != nil {
				join := vm.Include
				if vm.On {
					join = append(slices.Clone(vm.MatchingLabels), join...)
				}
				for _, l := range join {
					if !slices.ContainsFunc(selectors(n), func(vs *parser.VectorSelector) bool { _, labels := known(vs); return labels[l] }) {
						add("on/group (%s): no series of %s has the label %q", strings.Join(join, ", "), n, l)
					}
				}
			}
		case *parser.Call:
			if n.Func.Name != "histogram_quantile" || len(n.Args) != 2 {
				return nil
			}
			for _, vs := range selectors(n.Args[1]) {
				if name := seriesName(vs); !strings.HasSuffix(name, "_bucket") {
					add("histogram_quantile reads %s, not a histogram's _bucket series", name)
				}
			}
			parser.Inspect(n.Args[1], func(a parser.Node, _ []parser.Node) error {
				if agg, ok := a.(*parser.AggregateExpr); ok && agg.Without == slices.Contains(agg.Grouping, model.BucketLabel) {
					add("histogram_quantile: %s drops le", agg)
				}
				return nil
			})
		}
		return nil
	})
	return e, problems
}

// resultLabels returns the labels the series of an expression's result may
// carry, so that an alert's annotations use only those: an aggregation keeps
// its by labels (or drops its without labels), a function or an operator
// the labels of its vector argument, "or" the labels of either side.
func resultLabels(e parser.Expr, series catalogue) map[string]bool {
	out := map[string]bool{}
	switch e := e.(type) {
	case *parser.VectorSelector:
		for l := range series[seriesName(e)] {
			out[l] = true
		}
		delete(out, model.MetricNameLabel)
	case *parser.MatrixSelector:
		return resultLabels(e.VectorSelector, series)
	case *parser.SubqueryExpr:
		return resultLabels(e.Expr, series)
	case *parser.ParenExpr:
		return resultLabels(e.Expr, series)
	case *parser.UnaryExpr:
		return resultLabels(e.Expr, series)
	case *parser.StepInvariantExpr:
		return resultLabels(e.Expr, series)
	case *parser.AggregateExpr:
		switch {
		case e.Op == parser.TOPK || e.Op == parser.BOTTOMK || e.Op == parser.LIMITK || e.Op == parser.LIMIT_RATIO:
			return resultLabels(e.Expr, series)
		case e.Without:
			out = resultLabels(e.Expr, series)
			for _, l := range e.Grouping {
				delete(out, l)
			}
		default:
			for _, l := range e.Grouping {
				out[l] = true
			}
		}
	case *parser.Call:
		switch e.Func.Name {
		case "absent", "absent_over_time":
			// The equality matchers of its selector.
			for _, vs := range selectors(e) {
				for _, m := range vs.LabelMatchers {
					if m.Type == labels.MatchEqual && m.Name != model.MetricNameLabel {
						out[m.Name] = true
					}
				}
			}
		case "histogram_quantile":
			if len(e.Args) == 2 {
				out = resultLabels(e.Args[1], series)
				delete(out, model.BucketLabel)
			}
		default:
			for _, a := range e.Args {
				if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
					for l := range resultLabels(a, series) {
						out[l] = true
					}
				}
			}
		}
	case *parser.BinaryExpr:
		lhs, rhs := resultLabels(e.LHS, series), resultLabels(e.RHS, series)
		switch {
		case e.Op == parser.LOR:
			for l := range rhs {
				lhs[l] = true
			}
			return lhs
		case e.LHS.Type() != parser.ValueTypeVector:
			return rhs
		case e.VectorMatching != nil && e.VectorMatching.Card == parser.CardOneToMany:
			for _, l := range e.VectorMatching.Include {
				lhs[l] = true
			}
			for l := range rhs {
				lhs[l] = true
			}
			return lhs
		case e.VectorMatching != nil:
			for _, l := range e.VectorMatching.Include {
				lhs[l] = true
			}
			return lhs
		}
		return lhs
	}
	return out
}

// ---- alerts -----------------------------------------------------------------

var labelsTmpl = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// checkRules checks the rules of kubernetes/prometheusrule.yaml: with
// Prometheus' own rule file parser (what promtool check rules runs: rule
// shape, durations, label names, annotation templates, PromQL), then every
// expression against the series the binary exports.
func checkRules(r *report) {
	const name = "kubernetes/prometheusrule.yaml"
	m := readManifests(r)
	if m == nil {
		return
	}
	if r.series == nil {
		r.errorf("%s: no series to check the rules against", name)
		return
	}
	// The spec's groups are a Prometheus rule file's groups: the Operator
	// writes them out as one.
	file, err := sigsyaml.Marshal(map[string]any{"groups": m.rules.Spec.Groups})
	if err != nil {
		r.errorf("%s: %v", name, err)
		return
	}
	if _, errs := rulefmt.Parse(file, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil))); len(errs) > 0 {
		for _, err := range errs {
			r.errorf("%s: %v", name, err)
		}
	}

	job := m.deploy.Spec.Template.Labels[m.pm.Spec.JobLabel]
	readme, _ := r.read("README.md")
	var budget float64
	if cm := m.cm.Data["config.yaml"]; cm != "" {
		if b := regexp.MustCompile(`daily_credit_budget:\s*(\d+)`).FindStringSubmatch(cm); b != nil {
			_, _ = fmt.Sscan(b[1], &budget) // digits only: the regexp matched them
		}
	}
	alerts := map[string]bool{}
	for _, g := range m.rules.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "" {
				r.errorf("%s: group %s: recording rule %s: recording rules are not expected here", name, g.Name, rule.Record)
				continue
			}
			where := fmt.Sprintf("%s: alert %s", name, rule.Alert)
			alerts[rule.Alert] = true
			expr, problems := checkPromQL(rule.Expr.String(), r.series)
			for _, p := range problems {
				r.errorf("%s: expr %q: %s", where, rule.Expr.String(), p)
			}
			if expr == nil {
				continue
			}
			for _, vs := range selectors(expr) {
				for _, lm := range vs.LabelMatchers {
					if lm.Name == "job" && lm.Type == labels.MatchEqual && lm.Value != job {
						r.errorf("%s: job=%q, but the PodMonitor gives the job label %q", where, lm.Value, job)
					}
				}
			}
			if s := rule.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				r.errorf("%s: severity label %q, want critical, warning or info", where, s)
			}
			if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				r.errorf("%s: needs summary and description annotations", where)
			}
			if !strings.Contains(rule.Annotations["description"], "Runbook:") && rule.Annotations["runbook_url"] == "" {
				r.errorf("%s: no runbook hint", where)
			}
			if !strings.Contains(strings.ToLower(string(readme)), "### "+strings.ToLower(rule.Alert)+"\n") {
				r.errorf("%s: README.md has no runbook section ### %s", where, rule.Alert)
			}
			keeps := resultLabels(expr, r.series)
			reported := map[string]bool{}
			for _, a := range rule.Annotations {
				for _, l := range labelsTmpl.FindAllStringSubmatch(a, -1) {
					if !keeps[l[1]] && !reported[l[1]] {
						reported[l[1]] = true
						r.errorf("%s: an annotation uses $labels.%s, which the expression's result does not carry (it keeps %s)", where, l[1], strings.Join(sortedKeys(keeps), ", "))
					}
				}
			}
			if rule.Alert == "ZohosinkCreditsHigh" && budget > 0 {
				b, ok := expr.(*parser.BinaryExpr)
				th, isNum := (*parser.NumberLiteral)(nil), false
				if ok && b.Op == parser.GTR {
					th, isNum = b.RHS.(*parser.NumberLiteral)
				}
				if !isNum || th.Val >= budget {
					r.errorf("%s: expr %q: want ... > N with N below the configmap's daily_credit_budget %v", where, rule.Expr.String(), budget)
				}
			}
			if rule.Alert == "ZohosinkConsumerLagHigh" && (rule.For == nil || *rule.For != "10m") {
				r.errorf("%s: for %v, want 10m", where, rule.For)
			}
		}
	}
	for _, want := range []string{"ZohosinkConsumerLagHigh", "ZohosinkDeadLetterRate", "ZohosinkRateLimited", "ZohosinkAuthFailures", "ZohosinkDown", "ZohosinkCreditsHigh"} {
		if !alerts[want] {
			r.errorf("%s: no alert %s", name, want)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPrometheusRules(t *testing.T) { check(t, checkRules, exportedSeries(t)) }

// ---- Grafana ----------------------------------------------------------------

func init() {
	// The panel and query types this dashboard may use, so that the SDK
	// decodes their options and targets strictly too.
	rt := cog.NewRuntime()
	rt.RegisterDataqueryVariant(grafanaprom.VariantConfig())
	for _, p := range []func() variants.PanelcfgConfig{timeseries.VariantConfig, stat.VariantConfig, gauge.VariantConfig, bargauge.VariantConfig, table.VariantConfig, heatmap.VariantConfig} {
		rt.RegisterPanelcfgVariant(p())
	}
}

var (
	grafanaVar      = regexp.MustCompile(`\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|([a-zA-Z_][a-zA-Z0-9_]*))`)
	grafanaInterval = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	labelValues     = regexp.MustCompile(`^label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)$`)
)

// grafanaToPromQL replaces a target's dashboard variables with what
// Grafana would put there, so that Prometheus' parser can read it: an
// interval for $__rate_interval and the like, a value for the others (they
// are used in label matchers). It returns the variables used.
func grafanaToPromQL(expr string) (string, []string) {
	var used []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		n := cmpOr(m[1], m[2])
		used = append(used, n)
		if grafanaInterval[n] {
			return "5m"
		}
		return "value"
	})
	return out, used
}

// checkDashboard decodes the dashboard strictly with the Grafana Foundation
// SDK's types, then checks every target's PromQL against the binary's
// series and that every zohosink metric the binary exports has a panel.
func checkDashboard(r *report) {
	const name = "grafana/zohosink-dashboard.json"
	if r.series == nil {
		r.errorf("%s: no series to check the panels against", name)
		return
	}
	data, ok := r.read(name)
	if !ok {
		return
	}
	// The file is a classic dashboard (schema v1), which dashboardv2 does not
	// read: the v1 types are the right ones here.
	var d dashboard.Dashboard //nolint:staticcheck // SA1019: see above
	// UnmarshalJSONStrict reports every problem, but returns its
	// cog.BuildErrors even when empty (a nil slice in a non-nil error), and
	// so drops every panel it decoded without a problem: the values are
	// taken from the SDK's plain decoding once the strict one found nothing.
	if err := d.UnmarshalJSONStrict(data); err != nil && err.Error() != "" {
		r.errorf("%s: not a valid Grafana dashboard: %v", name, err)
		return
	}
	d = dashboard.Dashboard{} //nolint:staticcheck // SA1019: the v1 file format
	if err := json.Unmarshal(data, &d); err != nil {
		r.errorf("%s: not a valid Grafana dashboard: %v", name, err)
		return
	}
	if d.Uid == nil || *d.Uid == "" || d.Title == nil || *d.Title == "" {
		r.errorf("%s: uid and title are required", name)
	}
	if d.SchemaVersion < 36 {
		r.errorf("%s: schemaVersion %d, want 36 or later (timeseries panels, datasource references)", name, d.SchemaVersion)
	}
	vars := maps(grafanaInterval)
	var dsVar, syncVar bool
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		query := ""
		if v.Query != nil {
			switch {
			case v.Query.String != nil:
				query = *v.Query.String
			case v.Query.Map != nil:
				query, _ = v.Query.Map["query"].(string)
			}
		}
		switch v.Name {
		case "datasource":
			dsVar = v.Type == dashboard.VariableTypeDatasource && query == "prometheus"
		case "sync":
			syncVar = v.Type == dashboard.VariableTypeQuery
			lv := labelValues.FindStringSubmatch(query)
			if lv == nil {
				r.errorf("%s: variable sync: query %q, want label_values(<series>, sync)", name, query)
				break
			}
			if _, problems := checkPromQL(lv[1], r.series); len(problems) > 0 {
				r.errorf("%s: variable sync: %q: %s", name, lv[1], strings.Join(problems, "; "))
			} else if vs := selectors(mustParse(lv[1])); len(vs) != 1 || !r.series[seriesName(vs[0])][lv[2]] {
				r.errorf("%s: variable sync: %s has no label %s", name, lv[1], lv[2])
			}
			if v.Definition != nil && *v.Definition != "" && *v.Definition != query {
				r.errorf("%s: variable sync: definition %q differs from its query %q", name, *v.Definition, query)
			}
		}
	}
	if !dsVar {
		r.errorf("%s: no datasource variable (type datasource, query prometheus)", name)
	}
	if !syncVar {
		r.errorf("%s: no query variable sync", name)
	}

	ids := map[uint32]string{}
	used := map[string]bool{}
	var panels []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			panels = append(panels, *p.Panel)
		case p.RowPanel != nil:
			if p.RowPanel.Id != 0 {
				if prev, dup := ids[p.RowPanel.Id]; dup {
					r.errorf("%s: row %d: id is also panel %q", name, p.RowPanel.Id, prev)
				}
				ids[p.RowPanel.Id] = "row"
			}
			panels = append(panels, p.RowPanel.Panels...)
		}
	}
	for _, p := range panels {
		id, title := uint32(0), ""
		if p.Id != nil {
			id = *p.Id
		}
		if p.Title != nil {
			title = *p.Title
		}
		where := fmt.Sprintf("%s: panel %d %q", name, id, title)
		if prev, dup := ids[id]; dup {
			r.errorf("%s: id %d is also panel %q", where, id, prev)
		}
		ids[id] = title
		if !slices.Contains([]string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap"}, p.Type) {
			r.errorf("%s: type %q", where, p.Type)
		}
		if len(p.Targets) == 0 {
			r.errorf("%s: no target", where)
		}
		if p.Datasource == nil || p.Datasource.Uid == nil || *p.Datasource.Uid != "${datasource}" {
			r.errorf("%s: datasource does not use the datasource variable", where)
		}
		refs := map[string]bool{}
		for i, tg := range p.Targets {
			q, ok := tg.(*grafanaprom.Dataquery)
			if !ok {
				r.errorf("%s: target %d is not a Prometheus query (%T)", where, i, tg)
				continue
			}
			if q.Expr == "" || q.RefId == nil || *q.RefId == "" || refs[*q.RefId] {
				r.errorf("%s: target %d: needs an expr and a unique refId", where, i)
				continue
			}
			refs[*q.RefId] = true
			expr, vs := grafanaToPromQL(q.Expr)
			for _, v := range vs {
				if !vars[v] {
					r.errorf("%s: target %s uses $%s, which is not a dashboard variable", where, *q.RefId, v)
				}
			}
			e, problems := checkPromQL(expr, r.series)
			for _, problem := range problems {
				r.errorf("%s: target %s: %q: %s", where, *q.RefId, q.Expr, problem)
			}
			if e != nil {
				for _, s := range selectors(e) {
					used[seriesName(s)] = true
				}
			}
		}
	}
	// Every zohosink metric the binary exports has a panel (a histogram's
	// _bucket, _sum or _count series count for it).
	metric := func(s string) string {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(s, suffix); ok && r.series[b+"_bucket"] != nil {
				return b
			}
		}
		return s
	}
	shown := map[string]bool{}
	for s := range used {
		shown[metric(s)] = true
	}
	missing := map[string]bool{}
	for s := range r.series {
		if m := metric(s); strings.HasPrefix(m, "zohosink_") && !shown[m] {
			missing[m] = true
		}
	}
	for _, m := range sortedKeys(missing) {
		r.errorf("%s: no panel shows %s, which the binary exports", name, m)
	}
}

func maps(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mustParse(expr string) parser.Expr {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		panic(err)
	}
	return e
}

func TestGrafanaDashboard(t *testing.T) { check(t, checkDashboard, exportedSeries(t)) }
