package zohotest

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// okDetails is the details object of a successful write item.
type okDetails struct {
	ModifiedTime  string    `json:"Modified_Time"`
	ModifiedBy    userShort `json:"Modified_By"`
	CreatedTime   string    `json:"Created_Time"`
	ID            string    `json:"id"`
	CreatedBy     userShort `json:"Created_By"`
	ApprovalState string    `json:"$approval_state,omitempty"`
}

type userShort struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// resultItem is one item of data[] in a write answer.
type resultItem struct {
	Code           string          `json:"code"`
	DuplicateField json.RawMessage `json:"duplicate_field,omitempty"` // upsert only: null or the field
	Action         string          `json:"action,omitempty"`          // upsert only
	Details        any             `json:"details"`
	Message        string          `json:"message"`
	Status         string          `json:"status"`
}

func errorItem(e *itemError) resultItem {
	return resultItem{Code: e.code, Details: e.details, Message: e.message, Status: "error"}
}

// cleaned is a validated record: values to set (nil clears) and tags to add.
type cleaned struct {
	set  map[string]any
	tags []string
}

// emailRE is the e-mail rule of the validator Zoho generates for its own CRM
// web forms (zf_ValidateEmailID in the script of every Zoho CRM web-to-lead
// form): a word character, then word characters or -.+&'/ before the @;
// dot-separated labels of letters, digits and inner hyphens; a top-level
// domain of 2 to 22 letters. That the API applies the same rule to email
// fields is an inference: the API docs only say an invalid e-mail is
// INVALID_DATA.
var emailRE = regexp.MustCompile(`^\w[\w\-.+&'/]*@([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,22}$`)

func validEmail(s string) bool { return emailRE.MatchString(s) }

// websiteRE is the shape of a website (URL) value: an optional http, https
// or ftp scheme, a host of dot-separated labels with a 2-22 letter top-level
// domain (the same host rule as emailRE), an optional port and a path
// without spaces. Zoho documents no pattern for URL fields; this is an
// inference kept strict (it refuses spaces, missing dots and one-letter
// TLDs, which the CRM UI refuses).
var websiteRE = regexp.MustCompile(`^(?i:(https?|ftp)://)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,22}(:\d{1,5})?([/?#][^\s]*)?$`)

func validWebsite(s string) bool { return websiteRE.MatchString(s) }

// validPhone: Zoho documents phone fields as text of up to 30 characters
// (docs/zoho-api.md, "Fields and value formats") and no pattern; the simulator
// checks the length (by the field's metadata) and refuses control
// characters, nothing more, so it is not looser than the documentation and
// does not invent a rule.
func validPhone(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validate checks one input record against the module's fields, in field
// order, and returns the values to store. Unknown api names are ignored.
func (s *Simulator) validate(m *module, obj map[string]any, i int) (cleaned, *itemError) {
	out := cleaned{set: make(map[string]any, len(obj))}
	for _, fl := range m.fields {
		v, ok := obj[fl.apiName]
		if !ok {
			continue
		}
		if fl.readOnly {
			return out, fieldErr("INVALID_DATA", "the field is read only", i, fl.apiName)
		}
		if v == nil {
			if fl.apiName != "Tag" {
				out.set[fl.apiName] = nil
			}
			continue
		}
		val, e := s.checkValue(m, fl, v, i)
		if e != nil {
			return out, e
		}
		if fl.apiName == "Tag" {
			out.tags = val.([]string)
			continue
		}
		out.set[fl.apiName] = val
	}
	return out, nil
}

func typeErr(fl *field, i int) *itemError {
	return fieldErr("INVALID_DATA", "invalid data", i, fl.apiName, "expected_data_type", fl.dataType)
}

func numberDigits(n json.Number) (intDigits, fracDigits int, isInt, ok bool) {
	s := strings.TrimPrefix(string(n), "-")
	if strings.ContainsAny(s, "eE") {
		f, err := n.Float64()
		if err != nil {
			return 0, 0, false, false
		}
		s = strings.TrimPrefix(strconv.FormatFloat(f, 'f', -1, 64), "-")
	}
	ip, fp, hasDot := strings.Cut(s, ".")
	return len(strings.TrimLeft(ip, "0")), len(fp), !hasDot, true
}

func (s *Simulator) checkValue(m *module, fl *field, v any, i int) (any, *itemError) {
	switch fl.dataType {
	case "text", "textarea", "email", "phone", "website":
		if fl.apiName == "Tag" {
			list, ok := v.([]any)
			if !ok {
				return nil, fieldErr("INVALID_DATA", "invalid data", i, fl.apiName, "expected_data_type", "jsonarray")
			}
			var tags []string
			for _, t := range list {
				name := strings.TrimSpace(tagName(t))
				if name == "" {
					return nil, fieldErr("INVALID_DATA", "invalid data", i, fl.apiName, "expected_data_type", "jsonarray")
				}
				tags = appendTag(tags, name)
			}
			return tags, nil
		}
		str, ok := v.(string)
		if !ok {
			return nil, typeErr(fl, i)
		}
		if fl.length > 0 && utf8.RuneCountInString(str) > fl.length {
			return nil, fieldErr("INVALID_DATA", "invalid data", i, fl.apiName, "maximum_length", fl.length)
		}
		switch {
		case str == "":
		case fl.dataType == "email" && !validEmail(str),
			fl.dataType == "website" && !validWebsite(str),
			fl.dataType == "phone" && !validPhone(str):
			return nil, typeErr(fl, i)
		}
		return str, nil
	case "date":
		str, ok := v.(string)
		if !ok || len(str) != 10 {
			return nil, typeErr(fl, i)
		}
		if _, err := time.Parse("2006-01-02", str); err != nil {
			return nil, typeErr(fl, i)
		}
		return str, nil
	case "datetime":
		str, ok := v.(string)
		if !ok || len(str) != 25 {
			return nil, typeErr(fl, i)
		}
		if _, err := time.Parse(timeLayout, str); err != nil {
			return nil, typeErr(fl, i)
		}
		return str, nil
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return nil, typeErr(fl, i)
		}
		id, _, isInt, ok := numberDigits(n)
		if !ok || !isInt || id > 9 || strings.ContainsAny(string(n), "eE") {
			return nil, typeErr(fl, i)
		}
		return n, nil
	case "bigint":
		str, ok := v.(string)
		digits := strings.TrimPrefix(str, "-")
		if !ok || !isDigits(digits) || len(digits) > 18 {
			return nil, typeErr(fl, i)
		}
		return str, nil
	case "currency", "double", "decimal", "percent":
		n, ok := v.(json.Number)
		if !ok {
			return nil, typeErr(fl, i)
		}
		id, fd, _, ok := numberDigits(n)
		if !ok || id > 16 || fd > 9 {
			return nil, typeErr(fl, i)
		}
		// A currency field keeps decimal_place digits after the point (its
		// fields metadata). What Zoho does with more is not documented
		// (rounding is likely); the simulator takes the strict reading and
		// refuses the value, so data that depends on rounding shows up in
		// tests.
		if fl.dataType == "currency" && fl.decimalPlace > 0 && fd > fl.decimalPlace {
			return nil, fieldErr("INVALID_DATA", "invalid data", i, fl.apiName, "expected_data_type", fl.dataType, "decimal_place", fl.decimalPlace)
		}
		return n, nil
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, typeErr(fl, i)
		}
		return b, nil
	case "picklist":
		str, ok := v.(string)
		if !ok {
			return nil, typeErr(fl, i)
		}
		fl.addPick(str)
		return str, nil
	case "multiselectpicklist":
		list, ok := v.([]any)
		if !ok {
			return nil, typeErr(fl, i)
		}
		out := make([]any, 0, len(list))
		for _, x := range list {
			str, ok := x.(string)
			if !ok {
				return nil, typeErr(fl, i)
			}
			out = append(out, str)
		}
		for _, x := range out {
			fl.addPick(x.(string))
		}
		return out, nil
	case "lookup":
		id, ok := refID(v)
		if !ok {
			return nil, typeErr(fl, i)
		}
		target := s.modules[fl.lookup]
		r, ok := target.records[id]
		if !ok {
			return nil, fieldErr("INVALID_DATA", "the id given seems to be invalid", i, fl.apiName, "id", id)
		}
		return map[string]any{"id": id, "name": r.fields[target.nameField]}, nil
	case "ownerlookup":
		id, ok := refID(v)
		if !ok {
			return nil, typeErr(fl, i)
		}
		for j, u := range s.users {
			if u.id == id {
				return s.userRef(j), nil
			}
		}
		return nil, fieldErr("INVALID_DATA", "the id given seems to be invalid", i, fl.apiName, "id", id)
	}
	return v, nil
}

func refID(v any) (string, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := obj["id"].(string)
	return id, ok && isDigits(id)
}

func (fl *field) addPick(v string) {
	for _, p := range fl.picklist {
		if p == v {
			return
		}
	}
	if len(fl.picklist) < 1000 {
		fl.picklist = append(fl.picklist, v)
	}
}

// normKey is the duplicate-check key of a value: strings compare
// case-insensitively after trimming.
func normKey(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		k := strings.ToLower(strings.TrimSpace(x))
		return k, k != ""
	case json.Number:
		return string(x), true
	case map[string]any:
		id, ok := x["id"].(string)
		return id, ok
	}
	return "", false
}

func (m *module) indexRecord(r *record) {
	for fname, idx := range m.index {
		if k, ok := normKey(r.fields[fname]); ok {
			ids := idx[k]
			pos := sort.SearchStrings(ids, r.id)
			ids = append(ids, "")
			copy(ids[pos+1:], ids[pos:])
			ids[pos] = r.id
			idx[k] = ids
		}
	}
}

func (m *module) unindex(r *record) {
	for fname, idx := range m.index {
		if k, ok := normKey(r.fields[fname]); ok {
			ids := idx[k]
			for j, id := range ids {
				if id == r.id {
					ids = append(ids[:j], ids[j+1:]...)
					break
				}
			}
			if len(ids) == 0 {
				delete(idx, k)
			} else {
				idx[k] = ids
			}
		}
	}
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// store adds a new record.
func (m *module) store(r *record) {
	m.records[r.id] = r
	pos := sort.Search(len(m.order), func(j int) bool { return !idLess(m.order[j], r.id) })
	m.order = append(m.order, "")
	copy(m.order[pos+1:], m.order[pos:])
	m.order[pos] = r.id
	m.indexRecord(r)
}

func (m *module) removeID(id string) {
	pos := sort.Search(len(m.order), func(j int) bool { return !idLess(m.order[j], id) })
	if pos < len(m.order) && m.order[pos] == id {
		m.order = append(m.order[:pos], m.order[pos+1:]...)
	}
	delete(m.records, id)
}

func (m *module) computeName(r *record) {
	if m.nameField != "Full_Name" {
		return
	}
	first, _ := r.fields["First_Name"].(string)
	last, _ := r.fields["Last_Name"].(string)
	r.fields["Full_Name"] = strings.TrimSpace(first + " " + last)
}

func (m *module) tagID(name string, s *Simulator) string {
	key := strings.ToLower(name)
	if id, ok := m.tagIDs[key]; ok {
		return id
	}
	id := s.newID()
	m.tagIDs[key] = id
	m.tagOrder = append(m.tagOrder, name)
	return id
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// export is the record as the API shows it: stored fields, id and Tag.
func (r *record) export(m *module) map[string]any {
	out := make(map[string]any, len(r.fields)+2)
	for k, v := range r.fields {
		out[k] = deepCopy(v)
	}
	out["id"] = r.id
	tags := make([]any, 0, len(r.tags))
	for _, t := range r.tags {
		tags = append(tags, map[string]any{"name": t, "id": m.tagIDs[strings.ToLower(t)]})
	}
	out["Tag"] = tags
	return out
}

func (s *Simulator) successDetails(r *record, withApproval bool) okDetails {
	short := func(k string) userShort {
		u, _ := r.fields[k].(map[string]any)
		name, _ := u["name"].(string)
		id, _ := u["id"].(string)
		return userShort{Name: name, ID: id}
	}
	d := okDetails{ID: r.id, CreatedBy: short("Created_By"), ModifiedBy: short("Modified_By")}
	d.CreatedTime, _ = r.fields["Created_Time"].(string)
	d.ModifiedTime, _ = r.fields["Modified_Time"].(string)
	if withApproval {
		d.ApprovalState = "approved"
	}
	return d
}

// checkUnique finds a stored record other than self holding one of the
// user-defined unique values of c.
func (m *module) checkUnique(c cleaned, self string, i int) *itemError {
	for _, fname := range m.uniques {
		k, ok := normKey(c.set[fname])
		if !ok {
			continue
		}
		var others []string
		for _, id := range m.index[fname][k] {
			if id != self {
				others = append(others, id)
			}
		}
		if len(others) == 0 {
			continue
		}
		dup := m.records[others[0]]
		owner, _ := dup.fields["Owner"].(map[string]any)
		ownerOut := map[string]any{"name": owner["name"], "id": owner["id"], "zuid": zuid(owner["id"])}
		return fieldErr("DUPLICATE_DATA", "duplicate data", i, fname,
			"duplicate_record", map[string]any{"Owner": ownerOut, "id": dup.id},
			"id", dup.id, "more_records", len(others) > 1)
	}
	return nil
}

// ambiguous is upsert's answer when a duplicate-check value matches several
// stored records (possible for Email in Contacts and Leads, a duplicate-check
// field that is not unique): Zoho cannot tell which to update and answers
// MULTIPLE_OR_MULTI_ERRORS with a DUPLICATE_DATA per field, each naming the
// first matching record and more_records true, updating nothing. Body as
// documented in crm-oas v8.0/record/operations/upsertRecords/examples/
// response-400-multipleerrors.md ("Multiple validation errors in a single
// record"); that this is the answer for one ambiguous key, rather than a
// silent update of one of the records, is an inference from that example.
func (m *module) ambiguous(fname string, ids []string, i int) *itemError {
	dup := m.records[ids[0]]
	owner, _ := dup.fields["Owner"].(map[string]any)
	ownerOut := map[string]any{"name": owner["name"], "id": owner["id"], "zuid": zuid(owner["id"])}
	sub := map[string]any{"code": "DUPLICATE_DATA", "message": "duplicate data", "status": "error",
		"details": map[string]any{"api_name": fname, "json_path": "$.data[" + strconv.Itoa(i) + "]." + fname,
			"duplicate_record": map[string]any{"Owner": ownerOut, "id": dup.id,
				"module": map[string]any{"api_name": m.name, "id": m.moduleID()}},
			"more_records": true}}
	return &itemError{code: "MULTIPLE_OR_MULTI_ERRORS", message: "Multiple errors in the request",
		details: map[string]any{"errors": []any{sub}}}
}

func zuid(id any) string {
	s, _ := id.(string)
	if len(s) > 8 {
		return "7" + s[len(s)-7:]
	}
	return "75092197"
}

func (m *module) checkMandatory(r map[string]any, i int, recordID string) *itemError {
	for _, fl := range m.fields {
		if !fl.systemMandatory {
			continue
		}
		v := r[fl.apiName]
		if str, ok := v.(string); v == nil || (ok && strings.TrimSpace(str) == "") {
			id := recordID
			if id == "" {
				id = fl.id
			}
			return fieldErr("MANDATORY_NOT_FOUND", "required field not found", i, fl.apiName, "id", id)
		}
	}
	return nil
}

func (s *Simulator) insertRecord(m *module, c cleaned, now string) *record {
	me := s.userRef(0)
	fields := c.set // validate made it for this record alone: keep it
	for k, v := range fields {
		if v == nil {
			delete(fields, k)
		}
	}
	r := &record{id: s.newID(), fields: fields}
	if _, ok := fields["Owner"]; !ok {
		fields["Owner"] = me
	}
	fields["Created_Time"], fields["Modified_Time"] = now, now
	fields["Created_By"], fields["Modified_By"] = me, me
	for _, t := range c.tags {
		r.tags = appendTag(r.tags, t)
		m.tagID(t, s)
	}
	m.computeName(r)
	m.store(r)
	return r
}

func (s *Simulator) updateRecord(m *module, r *record, c cleaned, now string) {
	m.unindex(r)
	for k, v := range c.set {
		if v == nil {
			delete(r.fields, k)
		} else {
			r.fields[k] = v
		}
	}
	r.fields["Modified_Time"] = now
	r.fields["Modified_By"] = s.userRef(0)
	for _, t := range c.tags {
		r.tags = appendTag(r.tags, t)
		m.tagID(t, s)
	}
	m.computeName(r)
	m.indexRecord(r)
}

// checkMandatoryUpdate checks the system-mandatory fields of r as it would
// be after applying c.
func (m *module) checkMandatoryUpdate(r *record, c cleaned, i int) *itemError {
	for _, fl := range m.fields {
		if !fl.systemMandatory {
			continue
		}
		v, ok := c.set[fl.apiName]
		if !ok {
			v = r.fields[fl.apiName]
		}
		if str, isStr := v.(string); v == nil || (isStr && strings.TrimSpace(str) == "") {
			return fieldErr("MANDATORY_NOT_FOUND", "required field not found", i, fl.apiName, "id", r.id)
		}
	}
	return nil
}

var nullJSON = json.RawMessage("null")

// write runs insert, update or upsert; s.mu is held.
func (s *Simulator) write(c *call) answer {
	m := c.module
	now := s.now().Format(timeLayout)
	items := make([]resultItem, len(c.items))
	ok := 0
	var dupFields []string
	if c.op == "upsert" {
		// Zoho checks the duplicate_check_fields in the order given, then
		// the module's other user-defined unique fields; without the key,
		// the system duplicate-check field, then the user-defined unique
		// fields (crm-oas v8.0/record/operations/upsertRecords/operation.md:
		// "If duplicate_check_fields is not specified, the system checks
		// duplicate records in the following order: 1. System-defined
		// duplicate check fields. 2. User-defined unique fields."). That the
		// unlisted unique fields are still checked after the listed ones is
		// an inference: a unique value held by another record could not be
		// inserted anyway.
		if d, has := c.payload["duplicate_check_fields"].([]any); has {
			for _, x := range d {
				dupFields = append(dupFields, x.(string))
			}
			for _, u := range m.uniques {
				if !slices.Contains(dupFields, u) {
					dupFields = append(dupFields, u)
				}
			}
		} else {
			dupFields = m.defaultDupFields()
		}
	}
	for i, raw := range c.items {
		item, e := s.writeOne(c.op, m, raw, i, dupFields, now)
		if e != nil {
			items[i] = errorItem(e)
			continue
		}
		items[i] = item
		ok++
	}
	status := 200
	if c.op == "insert" {
		status = 201
	}
	code := "SUCCESS"
	switch {
	case ok == 0:
		status, code = 400, items[0].Code
	case ok < len(items):
		status = 207
		for _, it := range items {
			if it.Status == "error" {
				code = it.Code
				break
			}
		}
	}
	return answer{status: status, body: map[string]any{"data": items}, code: code}
}

func (s *Simulator) writeOne(op string, m *module, raw any, i int, dupFields []string, now string) (resultItem, *itemError) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return resultItem{}, &itemError{code: "INVALID_DATA", message: "invalid data",
			details: map[string]any{"expected_data_type": "jsonobject", "json_path": "$.data[" + strconv.Itoa(i) + "]"}}
	}
	var target *record
	if op == "update" {
		rawID, has := obj["id"]
		if !has || rawID == nil {
			return resultItem{}, fieldErr("MANDATORY_NOT_FOUND", "required field not found", i, "id")
		}
		id, _ := rawID.(string)
		if target = m.records[id]; target == nil {
			return resultItem{}, fieldErr("INVALID_DATA", "the id given seems to be invalid", i, "id")
		}
	}
	cl, e := s.validate(m, obj, i)
	if e != nil {
		return resultItem{}, e
	}
	dupField := ""
	if op == "upsert" {
		for _, fname := range dupFields {
			k, ok := normKey(cl.set[fname])
			if !ok {
				continue
			}
			ids := m.index[fname][k]
			if len(ids) > 1 {
				return resultItem{}, m.ambiguous(fname, ids, i)
			}
			if len(ids) == 1 {
				target, dupField = m.records[ids[0]], fname
				break
			}
		}
	}
	if target == nil {
		if e := m.checkMandatory(cl.set, i, ""); e != nil {
			return resultItem{}, e
		}
		if e := m.checkUnique(cl, "", i); e != nil {
			return resultItem{}, e
		}
		r := s.insertRecord(m, cl, now)
		item := resultItem{Code: "SUCCESS", Details: s.successDetails(r, op == "insert"), Message: "record added", Status: "success"}
		if op == "upsert" {
			item.Action, item.DuplicateField = "insert", nullJSON
		}
		return item, nil
	}
	if e := m.checkMandatoryUpdate(target, cl, i); e != nil {
		return resultItem{}, e
	}
	if e := m.checkUnique(cl, target.id, i); e != nil {
		return resultItem{}, e
	}
	s.updateRecord(m, target, cl, now)
	item := resultItem{Code: "SUCCESS", Details: s.successDetails(target, false), Message: "record updated", Status: "success"}
	if op == "upsert" {
		df, _ := json.Marshal(dupField)
		item.Action, item.DuplicateField = "update", df
	}
	return item, nil
}

// deleteRecords runs DELETE /{Module}?ids=...; s.mu is held.
func (s *Simulator) deleteRecords(c *call) answer {
	m := c.module
	ids := splitIDs(c.r.URL.Query().Get("ids"))
	items := make([]resultItem, len(ids))
	ok := 0
	for i, id := range ids {
		r, found := m.records[id]
		if !found {
			items[i] = resultItem{Code: "INVALID_DATA", Details: map[string]any{"id": id}, Message: "record not deleted", Status: "error"}
			continue
		}
		m.unindex(r)
		m.removeID(id)
		items[i] = resultItem{Code: "SUCCESS", Details: map[string]any{"id": id}, Message: "record deleted", Status: "success"}
		ok++
	}
	return multiStatus(items, ok)
}

func multiStatus(items []resultItem, ok int) answer {
	switch {
	case ok == len(items):
		return answer{status: 200, body: map[string]any{"data": items}, code: "SUCCESS"}
	case ok == 0:
		return answer{status: 400, body: map[string]any{"data": items}, code: items[0].Code}
	}
	code := ""
	for _, it := range items {
		if it.Status == "error" {
			code = it.Code
			break
		}
	}
	return answer{status: 207, body: map[string]any{"data": items}, code: code}
}

// tagRequest is the parsed body (or query) of add_tags / remove_tags.
type tagRequest struct {
	tags      []string
	ids       []string
	overwrite bool
}

const maxTagIDs = 500

// Tag limits by edition: tags per record and per module (Zoho CRM help,
// "Tagging records":
// https://help.zoho.com/portal/en/kb/crm/manage-crm-data/record-management/articles/tagging-records;
// Standard 5 and 20, Professional 10 and 60, Enterprise 10 and 100,
// Ultimate 10 and 200). The Free edition is not listed; the simulator gives
// it Standard's limits.
var tagLimits = map[string][2]int{
	"free": {5, 20}, "standard": {5, 20}, "professional": {10, 60}, "enterprise": {10, 100}, "ultimate": {10, 200},
}

func tagsPerRecord(edition string) int { return tagLimits[edition][0] }
func tagsPerModule(edition string) int { return tagLimits[edition][1] }

// checkTagName applies Zoho's tag name rules: at most 25 characters
// (crm-oas v8.0/tags_actions/tags_actions.yaml, INVALID_DATA with
// maximum_length 25 for $.tags[*].name, answered inside "tags"). Commas,
// "<", ">" and emoji are refused too: commas separate names in the
// tag_names parameter and the CRM UI refuses the others; that the API
// refuses them is an inference, kept strict.
func checkTagName(name string, j int) *apiError {
	path := "$.tags[" + strconv.Itoa(j) + "].name"
	if name == "" {
		return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
			details: map[string]any{"api_name": "name", "json_path": path}}
	}
	if utf8.RuneCountInString(name) > 25 {
		return &apiError{status: 400, code: "INVALID_DATA", message: "Invalid data",
			details: map[string]any{"api_name": "name", "json_path": path, "maximum_length": 25}}
	}
	for _, r := range name {
		if r == ',' || r == '<' || r == '>' || unicode.IsControl(r) || isEmoji(r) {
			return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
				details: map[string]any{"api_name": "name", "json_path": path}}
		}
	}
	return nil
}

// isEmoji reports whether r is in a block emoji live in.
func isEmoji(r rune) bool {
	return r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r >= 0x2B00 && r <= 0x2BFF ||
		r >= 0xFE00 && r <= 0xFE0F || r == 0x200D || r == 0x20E3
}

func (s *Simulator) prepareTags(c *call) *apiError {
	q := c.r.URL.Query()
	var tr tagRequest
	tr.overwrite = q.Get("over_write") == "true"
	if len(strings.TrimSpace(string(c.body))) > 0 {
		v, err := decodeJSON(c.body)
		obj, _ := v.(map[string]any)
		if err != nil || obj == nil {
			return errInvalidBody("the request body is not a valid JSON object")
		}
		if tl, ok := obj["tags"]; ok {
			list, ok := tl.([]any)
			if !ok {
				return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
					details: map[string]any{"api_name": "tags", "expected_data_type": "jsonarray"}}
			}
			for j, t := range list {
				name := strings.TrimSpace(tagName(t))
				if e := checkTagName(name, j); e != nil {
					return e
				}
				tr.tags = appendTag(tr.tags, name)
			}
		}
		if il, ok := obj["ids"]; ok {
			list, ok := il.([]any)
			if !ok {
				return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
					details: map[string]any{"api_name": "ids", "expected_data_type": "jsonarray"}}
			}
			for _, x := range list {
				switch id := x.(type) {
				case string:
					tr.ids = append(tr.ids, id)
				case json.Number:
					tr.ids = append(tr.ids, string(id))
				default:
					return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data",
						details: map[string]any{"api_name": "ids", "expected_data_type": "jsonarray"}}
				}
			}
		}
		if ow, ok := obj["over_write"].(bool); ok {
			tr.overwrite = ow
		}
	}
	if len(tr.tags) == 0 {
		for _, n := range strings.Split(q.Get("tag_names"), ",") {
			if n = strings.TrimSpace(n); n != "" {
				tr.tags = appendTag(tr.tags, n)
			}
		}
	}
	if len(tr.ids) == 0 {
		tr.ids = splitIDs(q.Get("ids"))
	}
	c.records = len(tr.ids)
	if len(tr.tags) == 0 {
		return errParamMissing("tags")
	}
	if len(tr.ids) == 0 {
		return errParamMissing("ids")
	}
	if len(tr.ids) > maxTagIDs {
		return errLimitExceeded("ids", maxTagIDs)
	}
	c.payload = map[string]any{"tagRequest": tr}
	c.credits = 1
	return nil
}

// tags runs add_tags / remove_tags; s.mu is held.
func (s *Simulator) tags(c *call) answer {
	m := c.module
	tr := c.payload["tagRequest"].(tagRequest)
	items := make([]resultItem, len(tr.ids))
	ok := 0
	msg := "tags updated successfully"
	if c.op == "remove_tags" {
		msg = "tags removed successfully"
	}
	if c.op == "add_tags" {
		var fresh []string
		for _, t := range tr.tags {
			if _, ok := m.tagIDs[strings.ToLower(t)]; !ok {
				fresh = append(fresh, t)
			}
		}
		if len(fresh) > 0 && s.noTagCreate {
			// See SetTagCreatePermission.
			return errAnswer(&apiError{status: 403, code: "NO_PERMISSION", message: "permission denied",
				details: map[string]any{"permissions": []any{"Crm_Implied_Tags_" + m.name}}})
		}
		if capM := tagsPerModule(s.edition); len(m.tagIDs)+len(fresh) > capM {
			// More tags than the module may have: the call is refused as a
			// whole. The limit is documented (tagLimits); the shape of the
			// answer is an inference (LIMIT_EXCEEDED as for other limits).
			return errAnswer(&apiError{status: 400, code: "LIMIT_EXCEEDED", message: "tags limit exceeded for the module",
				details: map[string]any{"api_name": "tags", "json_path": "$.tags", "maximum_length": capM}})
		}
	}
	capR := tagsPerRecord(s.edition)
	for i, id := range tr.ids {
		r, found := m.records[id]
		if !found {
			items[i] = resultItem{Code: "INVALID_DATA", Details: map[string]any{"id": id}, Message: "the given id seems to be invalid", Status: "error"}
			continue
		}
		if c.op == "add_tags" {
			next := r.tags
			if tr.overwrite {
				next = nil
			}
			next = slices.Clone(next)
			for _, t := range tr.tags {
				next = appendTag(next, t)
			}
			if len(next) > capR {
				// A record over the per-record cap is refused alone, the
				// others are tagged. The cap is documented (tagLimits); the
				// item's shape (LIMIT_EXCEEDED naming the record's id and
				// the limit) is an inference.
				items[i] = resultItem{Code: "LIMIT_EXCEEDED", Message: "tags limit exceeded for the record", Status: "error",
					Details: map[string]any{"id": id, "api_name": "tags", "maximum_length": capR}}
				continue
			}
			r.tags = next
			for _, t := range tr.tags {
				m.tagID(t, s)
			}
		} else {
			kept := r.tags[:0]
			for _, t := range r.tags {
				drop := false
				for _, x := range tr.tags {
					drop = drop || strings.EqualFold(t, x)
				}
				if !drop {
					kept = append(kept, t)
				}
			}
			r.tags = kept
		}
		tagsOut := make([]any, 0, len(r.tags))
		for _, t := range r.tags {
			tagsOut = append(tagsOut, map[string]any{"name": t, "id": m.tagIDs[strings.ToLower(t)]})
		}
		items[i] = resultItem{Code: "SUCCESS", Details: map[string]any{"id": id, "tags": tagsOut}, Message: msg, Status: "success"}
		ok++
	}
	return multiStatus(items, ok)
}

// get runs GET /{Module}/{id} and GET /{Module}?fields=...; s.mu is held.
func (s *Simulator) get(c *call) answer {
	m := c.module
	if c.id != "" {
		r, ok := m.records[c.id]
		if !ok {
			return answer{status: 204, code: "NO_CONTENT"}
		}
		return answer{status: 200, body: map[string]any{"data": []any{r.export(m)}}, code: "SUCCESS"}
	}
	q := c.r.URL.Query()
	fields := splitIDs(q.Get("fields"))
	page, perPage := atoiDefault(q.Get("page"), 1), atoiDefault(q.Get("per_page"), 200)
	start := (page - 1) * perPage
	if start >= len(m.order) {
		return answer{status: 204, code: "NO_CONTENT"}
	}
	end := min(start+perPage, len(m.order))
	data := make([]any, 0, end-start)
	for _, id := range m.order[start:end] {
		full := m.records[id].export(m)
		row := map[string]any{"id": id}
		for _, f := range fields {
			if v, ok := full[f]; ok {
				row[f] = v
			} else if _, known := m.byName[f]; known {
				row[f] = nil
			}
		}
		data = append(data, row)
	}
	return answer{status: 200, code: "SUCCESS", body: map[string]any{"data": data,
		"info": map[string]any{"per_page": perPage, "count": len(data), "page": page, "more_records": end < len(m.order)}}}
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
