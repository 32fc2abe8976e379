package zohotest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// COQL limits and grammar, as Zoho documents them for API v7 and v8:
//   - "in" and "not in" take up to 100 values (50 before v7): Zoho CRM
//     docs, "Query API - Limitations",
//     https://www.zoho.com/crm/developer/docs/api/v8/COQL-Limitations.html
//     (v7 page likewise; the v4 page says 50).
//   - at most 25 criteria in WHERE; "If WHERE has more than two criteria
//     such as A, B, and C, use them as (A and (B and C)) or ((A and B) and
//     C)" (same page). An and/or chain of three criteria at one level is a
//     SYNTAX_ERROR (Kaizen #171, FAQs on COQL API, question 2:
//     https://help.zoho.com/portal/en/community/topic/kaizen-171-faqs-on-coql-api).
//   - LIMIT up to 2000, default 200; paging with "LIMIT {n} OFFSET {m}"
//     (COQL-Overview, "The default value for LIMIT is 200 and OFFSET is
//     0"; the crm-oas coql.yaml says "Use LIMIT and OFFSET to paginate").
//     The MySQL form "LIMIT {offset}, {count}" appears in no Zoho source and
//     is a SYNTAX_ERROR here.
//   - WHERE is required: the documented syntax is "SELECT ... FROM ...
//     WHERE ..." and Zoho's own fetch-all examples add "where id is not
//     null" (COQL-Limitations, Kaizen #171). Inference: no Zoho page states
//     what a query without WHERE answers; the simulator refuses it.
const (
	coqlMaxLimit    = 2000
	coqlMaxIn       = 100
	coqlDefaultLim  = 200
	coqlMaxDepth    = 20
	coqlMaxCriteria = 25
)

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumber
	tkPunct
)

type token struct {
	kind tokKind
	text string // ident/punct text, string value, number text
}

func lexCOQL(q string) ([]token, *apiError) {
	var out []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					b.WriteByte(q[j+1])
					j += 2
					continue
				}
				if q[j] == '\'' {
					closed = true
					j++
					break
				}
				b.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, errSyntax(q[i:min(len(q), i+20)])
			}
			out = append(out, token{tkString, b.String()})
			i = j
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			num := q[i:j]
			if _, err := strconv.ParseFloat(num, 64); err != nil {
				return nil, errSyntax(num)
			}
			out = append(out, token{tkNumber, num})
			i = j
		case c == '_' || c == '$' || c < 0x80 && unicode.IsLetter(rune(c)):
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] == '.' || q[j] == '$' || q[j] < 0x80 && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])))) {
				j++
			}
			out = append(out, token{tkIdent, q[i:j]})
			i = j
		case strings.ContainsRune("(),=", rune(c)):
			out = append(out, token{tkPunct, string(c)})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(q) && (q[i+1] == '=' || (c == '<' && q[i+1] == '>')) {
				out = append(out, token{tkPunct, q[i : i+2]})
				i += 2
			} else if c == '!' {
				return nil, errSyntax("!")
			} else {
				out = append(out, token{tkPunct, string(c)})
				i++
			}
		default:
			return nil, errSyntax(q[i:min(len(q), i+10)])
		}
	}
	return append(out, token{kind: tkEOF}), nil
}

// cond is a node of a where clause: a leaf comparison or and/or of nodes.
type cond struct {
	op       string // and | or | = | != | < | > | <= | >= | in | not in | like | not like | is null | is not null
	children []*cond
	field    string
	values   []any               // string, json.Number, bool
	strSet   map[string]struct{} // in / not in with only string values: lower-cased
}

type orderKey struct {
	field string
	desc  bool
}

type coqlQuery struct {
	fields []string
	module string
	where  *cond
	order  []orderKey
	limit  int
	offset int
}

type coqlParser struct {
	toks     []token
	pos      int
	depth    int
	criteria int
}

func (p *coqlParser) peek() token { return p.toks[p.pos] }
func (p *coqlParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tkEOF {
		p.pos++
	}
	return t
}

func (p *coqlParser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tkIdent && strings.EqualFold(t.text, kw) {
		p.pos++
		return true
	}
	return false
}

func (p *coqlParser) punct(s string) bool {
	t := p.peek()
	if t.kind == tkPunct && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *coqlParser) fail() *apiError {
	t := p.peek()
	if t.kind == tkEOF {
		return errSyntax("end of query")
	}
	return errSyntax(t.text)
}

var coqlKeywords = map[string]bool{"select": true, "from": true, "where": true, "and": true, "or": true, "not": true,
	"in": true, "is": true, "null": true, "limit": true, "offset": true, "order": true, "by": true, "like": true}

func (p *coqlParser) ident() (string, bool) {
	t := p.peek()
	if t.kind != tkIdent || coqlKeywords[strings.ToLower(t.text)] {
		return "", false
	}
	p.pos++
	return t.text, true
}

// parseCOQL parses a COQL select query.
func parseCOQL(q string) (*coqlQuery, *apiError) {
	toks, e := lexCOQL(q)
	if e != nil {
		return nil, e
	}
	p := &coqlParser{toks: toks}
	query := &coqlQuery{limit: coqlDefaultLim}
	if !p.keyword("select") {
		return nil, p.fail()
	}
	for {
		f, ok := p.ident()
		if !ok {
			return nil, p.fail()
		}
		query.fields = append(query.fields, f)
		if !p.punct(",") {
			break
		}
	}
	if !p.keyword("from") {
		return nil, p.fail()
	}
	mod, ok := p.ident()
	if !ok {
		return nil, p.fail()
	}
	query.module = mod
	if !p.keyword("where") {
		return nil, p.fail()
	}
	c, e := p.expr()
	if e != nil {
		return nil, e
	}
	query.where = c
	if p.keyword("order") {
		if !p.keyword("by") {
			return nil, p.fail()
		}
		for {
			f, ok := p.ident()
			if !ok {
				return nil, p.fail()
			}
			k := orderKey{field: f}
			if p.keyword("desc") {
				k.desc = true
			} else {
				p.keyword("asc")
			}
			query.order = append(query.order, k)
			if !p.punct(",") {
				break
			}
		}
	}
	if p.keyword("limit") {
		a, ok := p.integer()
		if !ok {
			return nil, p.fail()
		}
		query.limit = a
		if p.keyword("offset") {
			b, ok := p.integer()
			if !ok {
				return nil, p.fail()
			}
			query.offset = b
		}
		if query.limit < 1 {
			return nil, errSyntax(strconv.Itoa(query.limit))
		}
		if query.limit > coqlMaxLimit {
			return nil, errQueryLimit("limit", coqlMaxLimit)
		}
	}
	if p.peek().kind != tkEOF {
		return nil, p.fail()
	}
	return query, nil
}

func (p *coqlParser) integer() (int, bool) {
	t := p.peek()
	if t.kind != tkNumber {
		return 0, false
	}
	n, err := strconv.Atoi(t.text)
	if err != nil || n < 0 || n > 1_000_000 {
		return 0, false
	}
	p.pos++
	return n, true
}

// expr parses criteria: one criterion, or two joined by "and" or "or".
// A third at the same level (A and B or C) must be grouped with brackets.
func (p *coqlParser) expr() (*cond, *apiError) {
	left, e := p.primary()
	if e != nil {
		return nil, e
	}
	var op string
	switch {
	case p.keyword("and"):
		op = "and"
	case p.keyword("or"):
		op = "or"
	default:
		return left, nil
	}
	right, e := p.primary()
	if e != nil {
		return nil, e
	}
	if t := p.peek(); t.kind == tkIdent && (strings.EqualFold(t.text, "and") || strings.EqualFold(t.text, "or")) {
		return nil, errSyntax(t.text)
	}
	return &cond{op: op, children: []*cond{left, right}}, nil
}

func (p *coqlParser) primary() (*cond, *apiError) {
	if p.punct("(") {
		p.depth++
		if p.depth > coqlMaxDepth {
			return nil, errSyntax("(")
		}
		c, e := p.expr()
		if e != nil {
			return nil, e
		}
		if !p.punct(")") {
			return nil, p.fail()
		}
		p.depth--
		return c, nil
	}
	p.criteria++
	if p.criteria > coqlMaxCriteria {
		return nil, errQueryLimit("where", coqlMaxCriteria)
	}
	f, ok := p.ident()
	if !ok {
		return nil, p.fail()
	}
	c := &cond{field: f}
	t := p.peek()
	switch {
	case t.kind == tkPunct && (t.text == "=" || t.text == "!=" || t.text == "<>" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">="):
		p.pos++
		c.op = t.text
		if c.op == "<>" {
			c.op = "!="
		}
		v, ok := p.value()
		if !ok {
			return nil, p.fail()
		}
		c.values = []any{v}
	case p.keyword("is"):
		c.op = "is null"
		if p.keyword("not") {
			c.op = "is not null"
		}
		if !p.keyword("null") {
			return nil, p.fail()
		}
	case p.keyword("not"):
		switch {
		case p.keyword("in"):
			c.op = "not in"
		case p.keyword("like"):
			c.op = "not like"
		default:
			return nil, p.fail()
		}
	case p.keyword("in"):
		c.op = "in"
	case p.keyword("like"):
		c.op = "like"
	default:
		return nil, p.fail()
	}
	switch c.op {
	case "in", "not in":
		if !p.punct("(") {
			return nil, p.fail()
		}
		for {
			v, ok := p.value()
			if !ok {
				return nil, p.fail()
			}
			c.values = append(c.values, v)
			if len(c.values) > coqlMaxIn {
				return nil, errQueryLimit("where", coqlMaxIn)
			}
			if !p.punct(",") {
				break
			}
		}
		if !p.punct(")") {
			return nil, p.fail()
		}
		c.strSet = map[string]struct{}{}
		for _, v := range c.values {
			str, ok := v.(string)
			if !ok {
				c.strSet = nil
				break
			}
			c.strSet[strings.ToLower(str)] = struct{}{}
		}
	case "like", "not like":
		t := p.next()
		if t.kind != tkString {
			return nil, errSyntax(t.text)
		}
		c.values = []any{t.text}
	}
	return c, nil
}

func (p *coqlParser) value() (any, bool) {
	t := p.peek()
	switch t.kind {
	case tkString:
		p.pos++
		return t.text, true
	case tkNumber:
		p.pos++
		return json.Number(t.text), true
	case tkIdent:
		switch strings.ToLower(t.text) {
		case "true":
			p.pos++
			return true, true
		case "false":
			p.pos++
			return false, true
		}
	}
	return nil, false
}

// resolve checks the query's field names against module m.
func (q *coqlQuery) resolve(m *module) *apiError {
	check := func(name string) *apiError {
		if name == "id" {
			return nil
		}
		base, sub, dotted := strings.Cut(name, ".")
		fl, ok := m.byName[base]
		if !ok {
			return errInvalidQuery("column given seems to be invalid", map[string]any{"column_name": name})
		}
		if dotted {
			if fl.dataType != "lookup" && fl.dataType != "ownerlookup" {
				return errInvalidQuery("column given seems to be invalid", map[string]any{"column_name": name})
			}
			if fl.dataType == "lookup" && sub != "id" {
				// checked against the target module at evaluation
				_ = sub
			}
		}
		return nil
	}
	for _, f := range q.fields {
		if e := check(f); e != nil {
			return e
		}
	}
	for _, o := range q.order {
		if e := check(o.field); e != nil {
			return e
		}
	}
	var walk func(c *cond) *apiError
	walk = func(c *cond) *apiError {
		if c == nil {
			return nil
		}
		if c.op == "and" || c.op == "or" {
			for _, ch := range c.children {
				if e := walk(ch); e != nil {
					return e
				}
			}
			return nil
		}
		return check(c.field)
	}
	return walk(q.where)
}

// fieldValue resolves a (possibly dotted) field name on a record.
func (s *Simulator) fieldValue(m *module, r *record, name string) any {
	if name == "id" {
		return r.id
	}
	base, sub, dotted := strings.Cut(name, ".")
	if base == "Tag" {
		if len(r.tags) == 0 {
			return nil
		}
		out := make([]any, len(r.tags))
		for i, t := range r.tags {
			out[i] = t
		}
		return out
	}
	v := r.fields[base]
	if !dotted {
		return v
	}
	ref, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := ref[sub]; ok {
		return x
	}
	fl := m.byName[base]
	if fl == nil || fl.lookup == "" {
		return nil
	}
	id, _ := ref["id"].(string)
	target := s.modules[fl.lookup]
	if tr, ok := target.records[id]; ok {
		return s.fieldValue(target, tr, sub)
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case map[string]any:
		id, ok := x["id"].(string)
		return id, ok
	case nil:
		return "", false
	}
	return "", false
}

func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// compare returns -1, 0, 1 comparing a stored value with a literal, and
// false when they cannot be compared. Strings compare case-insensitively.
func compare(a, lit any) (int, bool) {
	if isNull(a) {
		return 0, false
	}
	if lb, ok := lit.(bool); ok {
		ab, ok := a.(bool)
		if !ok {
			return 0, false
		}
		if ab == lb {
			return 0, true
		}
		return 1, true
	}
	if _, isNum := lit.(json.Number); isNum {
		af, ok1 := toFloat(a)
		lf, ok2 := toFloat(lit)
		if ok1 && ok2 {
			switch {
			case af < lf:
				return -1, true
			case af > lf:
				return 1, true
			}
			return 0, true
		}
	}
	at, ok := scalarText(a)
	if !ok {
		return 0, false
	}
	lt, _ := scalarText(lit)
	return strings.Compare(strings.ToLower(at), strings.ToLower(lt)), true
}

func likeMatch(s, pattern string) bool {
	s, pattern = strings.ToLower(s), strings.ToLower(pattern)
	parts := strings.Split(pattern, "%")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

func (s *Simulator) eval(m *module, r *record, c *cond) bool {
	switch c.op {
	case "and":
		return s.eval(m, r, c.children[0]) && s.eval(m, r, c.children[1])
	case "or":
		return s.eval(m, r, c.children[0]) || s.eval(m, r, c.children[1])
	}
	v := s.fieldValue(m, r, c.field)
	switch c.op {
	case "is null":
		return isNull(v)
	case "is not null":
		return !isNull(v)
	}
	if list, ok := v.([]any); ok { // multi-select: any element
		for _, e := range list {
			if s.evalScalar(e, c) {
				return true
			}
		}
		return false
	}
	return s.evalScalar(v, c)
}

func (s *Simulator) evalScalar(v any, c *cond) bool {
	switch c.op {
	case "in", "not in":
		if isNull(v) {
			return false
		}
		if str, ok := v.(string); ok && c.strSet != nil {
			_, found := c.strSet[strings.ToLower(str)]
			return found == (c.op == "in")
		}
		found := false
		for _, lit := range c.values {
			if n, ok := compare(v, lit); ok && n == 0 {
				found = true
				break
			}
		}
		return found == (c.op == "in")
	case "like", "not like":
		t, ok := scalarText(v)
		if !ok {
			return false
		}
		return likeMatch(t, c.values[0].(string)) == (c.op == "like")
	}
	n, ok := compare(v, c.values[0])
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case ">":
		return n > 0
	case "<=":
		return n <= 0
	case ">=":
		return n >= 0
	}
	return false
}

func coqlOut(v any) any {
	if ref, ok := v.(map[string]any); ok {
		return map[string]any{"id": ref["id"]}
	}
	return deepCopy(v)
}

// runCOQL evaluates a resolved query; s.mu is held.
func (s *Simulator) runCOQL(m *module, q *coqlQuery) answer {
	var matched []*record
	ids, indexed := m.candidates(q.where)
	if !indexed {
		ids = m.order
	}
	for _, id := range ids {
		r := m.records[id]
		if q.where == nil || s.eval(m, r, q.where) {
			matched = append(matched, r)
		}
	}
	if len(q.order) > 0 {
		sortRecords(matched, func(a, b *record) int {
			for _, k := range q.order {
				va, vb := s.fieldValue(m, a, k.field), s.fieldValue(m, b, k.field)
				n := orderCompare(va, vb)
				if k.desc {
					n = -n
				}
				if n != 0 {
					return n
				}
			}
			return 0
		})
	}
	if q.offset >= len(matched) {
		return answer{status: 204, code: "NO_CONTENT"}
	}
	end := min(q.offset+q.limit, len(matched))
	rows := make([]any, 0, end-q.offset)
	for _, r := range matched[q.offset:end] {
		row := make(map[string]any, len(q.fields)+1)
		for _, f := range q.fields {
			row[f] = coqlOut(s.fieldValue(m, r, f))
		}
		row["id"] = r.id
		rows = append(rows, row)
	}
	return answer{status: 200, code: "SUCCESS", body: map[string]any{"data": rows,
		"info": map[string]any{"count": len(rows), "more_records": end < len(matched)}}}
}

// orderCompare orders values with nulls last.
func orderCompare(a, b any) int {
	an, bn := isNull(a), isNull(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	if _, ok := b.(json.Number); ok {
		if n, ok := compare(a, b); ok {
			return n
		}
	}
	bt, _ := scalarText(b)
	if n, ok := compare(a, bt); ok {
		return n
	}
	return 0
}

// candidates narrows a where clause to the ids an index can find: when the
// clause is (an and of conditions including) "=" or "in" on an indexed
// field, only records under those keys can match. Every candidate is still
// evaluated against the whole clause. Ids come back in ascending order.
func (m *module) candidates(c *cond) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	switch c.op {
	case "and":
		if ids, ok := m.candidates(c.children[0]); ok {
			return ids, true
		}
		return m.candidates(c.children[1])
	case "=", "in":
	default:
		return nil, false
	}
	idx, ok := m.index[c.field]
	if !ok {
		return nil, false
	}
	seen := map[string]bool{}
	var ids []string
	for _, v := range c.values {
		str, ok := v.(string)
		if !ok {
			return nil, false
		}
		k, ok := normKey(str)
		if !ok {
			continue
		}
		for _, id := range idx[k] {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if idLess(a, b) {
			return -1
		}
		if a == b {
			return 0
		}
		return 1
	})
	return ids, true
}
