package zoho

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTagIDs is Zoho's limit of records per tag call.
const maxTagIDs = 500

// Insert creates records in module: POST /crm/v8/{module}. It returns one
// Result per record, in input order, and a nil error whenever Zoho answered
// record by record (201, 207, or 400 with per-record errors). 1 to 100
// records; otherwise a Fatal *Error and nothing is sent.
func (c *Client) Insert(ctx context.Context, module string, recs []Record, o WriteOptions) ([]Result, error) {
	return c.write(ctx, OpInsert, http.MethodPost, "/"+module, module, recs, o)
}

// Update changes records in module: PUT /crm/v8/{module}. Each record must
// carry "id". Results as for Insert.
func (c *Client) Update(ctx context.Context, module string, recs []Record, o WriteOptions) ([]Result, error) {
	for i, r := range recs {
		if id, _ := r["id"].(string); id == "" {
			return nil, &Error{Class: Fatal, Op: OpUpdate, Module: module,
				Message: fmt.Sprintf("record %d has no \"id\" (a string): a bug in the caller", i)}
		}
	}
	return c.write(ctx, OpUpdate, http.MethodPut, "/"+module, module, recs, o)
}

// Upsert inserts or updates records in module, matching existing ones by
// o.DuplicateCheckFields (else Zoho's defaults): POST
// /crm/v8/{module}/upsert. Results carry Action ("insert" or "update") and
// DuplicateField. Never send two records with the same key in one call.
func (c *Client) Upsert(ctx context.Context, module string, recs []Record, o WriteOptions) ([]Result, error) {
	return c.write(ctx, OpUpsert, http.MethodPost, "/"+module+"/upsert", module, recs, o)
}

func (c *Client) write(ctx context.Context, op Operation, method, path, module string, recs []Record, o WriteOptions) ([]Result, error) {
	if err := checkCount(op, module, len(recs), MaxRecordsPerCall); err != nil {
		return nil, err
	}
	if err := checkModule(op, module); err != nil {
		return nil, err
	}
	var dup []string
	if op == OpUpsert {
		dup = o.DuplicateCheckFields
	}
	body, err := encodeWrite(recs, dup, o.Trigger, o.SkipFeatures)
	if err != nil {
		return nil, &Error{Class: Fatal, Op: op, Module: module, Message: "cannot encode the records as JSON: " + err.Error(), Err: err}
	}
	cl := &call{op: op, module: module, method: method, path: path, body: body,
		records: len(recs), cost: (len(recs) + 9) / 10, complex: len(recs) > 10}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return rep.results(nil, op, module, recs), nil
}

// Delete deletes records by id: DELETE /crm/v8/{module}?ids=...; wfTrigger
// runs workflow rules. 1 to 100 ids. Results as for Insert, with ID the id
// given.
func (c *Client) Delete(ctx context.Context, module string, ids []string, wfTrigger bool) ([]Result, error) {
	if err := checkCount(OpDelete, module, len(ids), MaxRecordsPerCall); err != nil {
		return nil, err
	}
	if err := checkModule(OpDelete, module); err != nil {
		return nil, err
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "wf_trigger": {strconv.FormatBool(wfTrigger)}}
	cl := &call{op: OpDelete, module: module, method: http.MethodDelete, path: "/" + module, query: q, records: len(ids), cost: 1}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return rep.results(ids, cl.op, module, nil), nil
}

// AddTags adds tags (created when new) to records: POST
// /crm/v8/{module}/actions/add_tags. 1 to 500 ids. One Result per id.
//
// A record that would carry more tags than the edition allows (see
// MaxTagsPerRecord) gets a per-record LIMIT_EXCEEDED Result: the others
// are tagged. A tag that does not exist yet is created by the call, which
// needs a user with the administrator profile or module-customization
// permission; without it Zoho refuses the whole call (Fatal, NO_PERMISSION),
// and TagExists tells whether that was the cause. Tag names are checked
// with ValidateTagName before anything is sent.
func (c *Client) AddTags(ctx context.Context, module string, ids []string, tags []string) ([]Result, error) {
	return c.tags(ctx, OpAddTags, "add_tags", module, ids, tags)
}

// RemoveTags removes tags from records: POST
// /crm/v8/{module}/actions/remove_tags. 1 to 500 ids. One Result per id.
func (c *Client) RemoveTags(ctx context.Context, module string, ids []string, tags []string) ([]Result, error) {
	return c.tags(ctx, OpRemoveTags, "remove_tags", module, ids, tags)
}

func (c *Client) tags(ctx context.Context, op Operation, action, module string, ids, tags []string) ([]Result, error) {
	if err := checkCount(op, module, len(ids), maxTagIDs); err != nil {
		return nil, err
	}
	if err := checkModule(op, module); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, &Error{Class: Fatal, Op: op, Module: module, Message: "no tags given: a bug in the caller"}
	}
	for _, t := range tags {
		if err := ValidateTagName(t); err != nil {
			return nil, &Error{Class: Fatal, Op: op, Module: module, Code: "INVALID_DATA",
				Message: err.Error() + " (nothing was sent)", Hint: "fix the tag name in the configuration", Err: err}
		}
	}
	type tag struct {
		Name string `json:"name"`
	}
	tb := struct {
		Tags []tag    `json:"tags"`
		IDs  []string `json:"ids"`
	}{IDs: ids}
	for _, t := range tags {
		tb.Tags = append(tb.Tags, tag{Name: t})
	}
	body, _ := json.Marshal(tb)
	cl := &call{op: op, module: module, method: http.MethodPost, path: "/" + module + "/actions/" + action,
		body: body, records: len(ids), cost: 1}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return rep.results(ids, cl.op, module, nil), nil
}

func checkCount(op Operation, module string, n, max int) error {
	if n == 0 || n > max {
		return &Error{Class: Fatal, Op: op, Module: module, Code: "LIMIT_EXCEEDED",
			Message: fmt.Sprintf("%d records in one call: 1 to %d allowed (a bug in the caller; nothing was sent)", n, max)}
	}
	return nil
}

func checkModule(op Operation, module string) error {
	if module == "" || strings.ContainsAny(module, "/?#% ") {
		return &Error{Class: Fatal, Op: op, Module: module, Code: "INVALID_MODULE",
			Message: fmt.Sprintf("%q is not a module API name", module),
			Hint:    "use a module API name such as " + strings.Join(Modules, ", ")}
	}
	return nil
}

var limitRE = regexp.MustCompile(`(?i)\blimit\s+(\d+)(?:\s*,\s*(\d+))?`)

// coqlCost is the credits of a COQL query by its LIMIT: 1 up to 200 rows
// (also when no LIMIT is given: Zoho's default is 200), 2 up to 1000, 3
// above. It reads the documented "LIMIT n [OFFSET m]" and, for queries
// written by callers, the undocumented "LIMIT offset, count".
func coqlCost(q string) int {
	m := limitRE.FindStringSubmatch(q)
	if m == nil {
		return 1
	}
	s := m[1]
	if m[2] != "" { // LIMIT offset, count
		s = m[2]
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n <= 200:
		return 1
	case n <= 1000:
		return 2
	}
	return 3
}

// Query runs a COQL query: POST /crm/v8/coql. It returns the rows, and more
// when Zoho has more rows past the query's LIMIT (page with OFFSET). No
// match (204) is nil, false, nil. Errors in the query are Fatal.
func (c *Client) Query(ctx context.Context, coql string) (rows []Record, more bool, err error) {
	body, _ := json.Marshal(map[string]string{"select_query": coql})
	cl := &call{op: OpCOQL, method: http.MethodPost, path: "/coql", body: body, cost: coqlCost(coql)}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, false, err
	}
	if len(rep.body.Data) == 0 || string(rep.body.Data) == "null" {
		return nil, false, nil
	}
	if err := json.Unmarshal(rep.body.Data, &rows); err != nil {
		return nil, false, &Error{Class: Retryable, Op: OpCOQL, HTTPStatus: rep.status,
			Message: "unexpected response: data[] is not a list of rows", Err: err}
	}
	if rep.body.Info != nil {
		more = rep.body.Info.MoreRecords
	}
	return rows, more, nil
}

// findChunk is the most values in one COQL "in (...)": 100 in API v7 and
// v8 (the client speaks v8), 50 before v7 (Zoho CRM docs, "Query API -
// Limitations", v7/v8 pages: "in (up to 100 values)").
const findChunk = 100

// findPage is the LIMIT of each FindIDs query (the most that costs 1 credit).
const findPage = 200

// FindIDs returns, for each value, the ids of the records of module whose
// field equals it. It runs `select id, {field} from {module} where {field}
// in (...) limit 200 offset {offset}` (the documented LIMIT/OFFSET form) for
// chunks of up to 100 values, paging while Zoho reports more records.
// Quotes and backslashes in values are escaped.
//
// Keys are the values as given. Zoho compares text case-insensitively (an
// Email of "A@x.io" matches "a@x.io"), so a row is credited to every given
// value equal to its field ignoring case. Values with no match are absent
// from the map; duplicates in values are looked up once.
func (c *Client) FindIDs(ctx context.Context, module, field string, values []string) (map[string][]string, error) {
	out := map[string][]string{}
	if err := checkModule(OpCOQL, module); err != nil {
		return nil, err
	}
	if field == "" || strings.ContainsAny(field, " '\"(),") {
		return nil, &Error{Class: Fatal, Op: OpCOQL, Module: module, Message: fmt.Sprintf("%q is not a field API name", field)}
	}
	byFold := map[string][]string{} // lower-cased value -> values as given
	var uniq []string
	for _, v := range values {
		k := strings.ToLower(v)
		if _, seen := byFold[k]; !seen {
			uniq = append(uniq, v)
		}
		if !contains(byFold[k], v) {
			byFold[k] = append(byFold[k], v)
		}
	}
	for start := 0; start < len(uniq); start += findChunk {
		chunk := uniq[start:min(start+findChunk, len(uniq))]
		quoted := make([]string, len(chunk))
		for i, v := range chunk {
			quoted[i] = coqlQuote(v)
		}
		for offset := 0; ; offset += findPage {
			q := fmt.Sprintf("select id, %s from %s where %s in (%s) limit %d offset %d",
				field, module, field, strings.Join(quoted, ", "), findPage, offset)
			rows, more, err := c.Query(ctx, q)
			if err != nil {
				if e, ok := errors.AsType[*Error](err); ok && e.Module == "" {
					e.Module = module
				}
				return nil, err
			}
			for _, r := range rows {
				id := fmt.Sprint(r["id"])
				val, ok := r[field]
				if !ok || val == nil || id == "" || id == "<nil>" {
					continue
				}
				for _, given := range byFold[strings.ToLower(fmt.Sprint(val))] {
					if !contains(out[given], id) {
						out[given] = append(out[given], id)
					}
				}
			}
			if !more || len(rows) == 0 {
				break
			}
		}
	}
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// coqlQuote quotes a COQL string literal, escaping backslashes and quotes.
func coqlQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s + "'"
}

// fieldJSON is one field of the fields metadata answer, as Zoho sends it.
type fieldJSON struct {
	APIName         string          `json:"api_name"`
	DataType        string          `json:"data_type"`
	JSONType        string          `json:"json_type"`
	Length          int             `json:"length"`
	ReadOnly        bool            `json:"read_only"`
	SystemMandatory bool            `json:"system_mandatory"`
	Unique          json.RawMessage `json:"unique"`
	PickListValues  []struct {
		ActualValue string `json:"actual_value"`
	} `json:"pick_list_values"`
	Lookup *struct {
		Module *struct {
			APIName string `json:"api_name"`
		} `json:"module"`
	} `json:"lookup"`
	DecimalPlace *int `json:"decimal_place"`
}

func (f *fieldJSON) field() Field {
	out := Field{APIName: f.APIName, DataType: f.DataType, JSONType: f.JSONType, Length: f.Length,
		ReadOnly: f.ReadOnly, SystemMandatory: f.SystemMandatory}
	switch u := strings.TrimSpace(string(f.Unique)); u {
	case "", "null", "{}", "false", "[]":
	default:
		out.Unique = true
	}
	for _, p := range f.PickListValues {
		out.PickListValues = append(out.PickListValues, p.ActualValue)
	}
	if f.Lookup != nil && f.Lookup.Module != nil {
		out.LookupModule = f.Lookup.Module.APIName
	}
	if f.DecimalPlace != nil {
		out.DecimalPlace = *f.DecimalPlace
	}
	return out
}

// ParseField reads one field of Zoho's fields metadata (an item of
// "fields"), as Fields does.
func ParseField(raw []byte) (Field, error) {
	var fj fieldJSON
	if err := json.Unmarshal(raw, &fj); err != nil {
		return Field{}, fmt.Errorf("zoho: parsing a field of the fields metadata: %w", err)
	}
	return fj.field(), nil
}

// Fields returns the fields of module: GET /crm/v8/settings/fields?module=.
func (c *Client) Fields(ctx context.Context, module string) ([]Field, error) {
	if err := checkModule(OpFields, module); err != nil {
		return nil, err
	}
	cl := &call{op: OpFields, module: module, method: http.MethodGet, path: "/settings/fields",
		query: url.Values{"module": {module}}, cost: 1}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var fjs []fieldJSON
	if len(rep.body.Fields) > 0 {
		if err := json.Unmarshal(rep.body.Fields, &fjs); err != nil {
			return nil, &Error{Class: Retryable, Op: OpFields, Module: module, HTTPStatus: rep.status,
				Message: "unexpected response: fields[] is not a list of fields", Err: err}
		}
	}
	out := make([]Field, len(fjs))
	for i := range fjs {
		out[i] = fjs[i].field()
	}
	return out, nil
}

// MaxTagNameLength is the longest tag name Zoho accepts, in characters
// (zoho/crm-oas v8.0/tags_actions/tags_actions.yaml: INVALID_DATA with
// maximum_length 25 for $.tags[*].name).
const MaxTagNameLength = 25

// MaxTagsPerRecord returns how many tags one record may carry in an
// edition's org, and MaxTagsPerModule how many tags a module may have (Zoho
// CRM help, "Tagging records": Standard 5 and 20, Professional 10 and 60,
// Enterprise 10 and 100, Ultimate 10 and 200). Free is taken as Standard
// (not documented). An unknown edition answers Standard's limits.
func MaxTagsPerRecord(edition string) int {
	if n, ok := tagLimits[edition]; ok {
		return n[0]
	}
	return tagLimits["standard"][0]
}

// MaxTagsPerModule: see MaxTagsPerRecord.
func MaxTagsPerModule(edition string) int {
	if n, ok := tagLimits[edition]; ok {
		return n[1]
	}
	return tagLimits["standard"][1]
}

var tagLimits = map[string][2]int{
	"free": {5, 20}, "standard": {5, 20}, "professional": {10, 60}, "enterprise": {10, 100}, "ultimate": {10, 200},
}

// ValidateTagName reports why Zoho would refuse name as a tag name, or nil:
// it must not be empty or blank, must have at most 25 characters
// (MaxTagNameLength, documented), and must not contain a comma, "<", ">" or
// an emoji. The characters rule is unconfirmed against Zoho's documentation:
// commas separate tag names in Zoho's tag_names query parameter, and the
// CRM UI refuses the others; the check is kept strict so a sync never
// depends on Zoho accepting them.
func ValidateTagName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("zoho: a tag name must not be empty")
	}
	if n := utf8.RuneCountInString(name); n > MaxTagNameLength {
		return fmt.Errorf("zoho: tag name %q has %d characters; Zoho allows at most %d", name, n, MaxTagNameLength)
	}
	for _, r := range name {
		switch {
		case r == ',' || r == '<' || r == '>':
			return fmt.Errorf("zoho: tag name %q contains %q, which Zoho does not allow in tag names", name, r)
		case isEmoji(r):
			return fmt.Errorf("zoho: tag name %q contains an emoji, which Zoho does not allow in tag names", name)
		case unicode.IsControl(r):
			return fmt.Errorf("zoho: tag name %q contains a control character", name)
		}
	}
	return nil
}

// isEmoji reports whether r is in one of the Unicode blocks emoji live in
// (pictographs, emoticons, transport, supplemental symbols, dingbats,
// miscellaneous symbols, regional indicators, variation selectors).
func isEmoji(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF, // mahjong .. symbols and pictographs extended-A
		r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
		r >= 0x2B00 && r <= 0x2BFF, // miscellaneous symbols and arrows (stars, squares)
		r >= 0xFE00 && r <= 0xFE0F, // variation selectors
		r == 0x200D, r == 0x20E3:   // zero-width joiner, keycap
		return true
	}
	return false
}

// TagsScope is the OAuth scope GET /settings/tags needs (Tags and
// TagExists). It is not in DefaultScopes: a token without it makes those
// calls fail with a Fatal OAUTH_SCOPE_MISMATCH naming it.
const TagsScope = "ZohoCRM.settings.tags.READ"

// Tag is one tag of a module, from GET /settings/tags.
type Tag struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Tags returns the tags of module: GET /crm/v8/settings/tags?module=
// (scope TagsScope, 1 credit). An org with no tags answers an empty list.
func (c *Client) Tags(ctx context.Context, module string) ([]Tag, error) {
	if err := checkModule(OpTags, module); err != nil {
		return nil, err
	}
	cl := &call{op: OpTags, module: module, method: http.MethodGet, path: "/settings/tags",
		query: url.Values{"module": {module}}, cost: 1}
	rep, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var out []Tag
	if len(rep.body.Tags) > 0 && string(rep.body.Tags) != "null" {
		if err := json.Unmarshal(rep.body.Tags, &out); err != nil {
			return nil, &Error{Class: Retryable, Op: OpTags, Module: module, HTTPStatus: rep.status,
				Message: "unexpected response: tags[] is not a list of tags", Err: err}
		}
	}
	return out, nil
}

// TagExists reports whether module has a tag named name (compared without
// regard to case, as Zoho does). It is for `validate --online`: AddTags
// creates a missing tag, which needs administrator or module-customization
// permission, so a tag that does not exist yet explains a NO_PERMISSION
// answer of AddTags. Errors are those of Tags.
func (c *Client) TagExists(ctx context.Context, module, name string) (bool, error) {
	tags, err := c.Tags(ctx, module)
	if err != nil {
		return false, err
	}
	for _, t := range tags {
		if strings.EqualFold(t.Name, name) {
			return true, nil
		}
	}
	return false, nil
}
