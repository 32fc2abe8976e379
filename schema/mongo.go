package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MongoDB documents. Debezium's MongoDB connector sends before and after as
// extended JSON text (io.debezium.data.Json): canonical, relaxed or the
// legacy strict form, depending on the version ({"$numberLong": "5"},
// {"$date": 1739455297970}, {"$date": "2025-02-13T14:01:37.97Z"},
// {"$date": {"$numberLong": "..."}}). The rules are on Row.

// ordObj is a JSON object with its field order kept.
type ordObj struct {
	keys []string
	vals []any
}

func (o *ordObj) get(k string) (any, bool) {
	for i, n := range o.keys {
		if n == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

// parseOrdered reads one JSON value keeping object field order. Numbers are
// json.Number.
func parseOrdered(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := ordValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errf("data after the document")
	}
	return v, nil
}

func ordValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &ordObj{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				v, err := ordValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, ks)
				o.vals = append(o.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := ordValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, errf("unexpected " + t.String())
	}
	return t, nil
}

// extPlain turns parsed extended JSON into plain values: wrappers become Go
// values, documents stay *ordObj (with plain values inside), arrays []any.
func extPlain(v any, depth int) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f
		}
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = extPlain(e, depth+1)
		}
		return out
	case *ordObj:
		if w, ok := extWrapper(x); ok {
			return w
		}
		out := &ordObj{keys: x.keys, vals: make([]any, len(x.vals))}
		for i, e := range x.vals {
			out.vals[i] = extPlain(e, depth+1)
		}
		return out
	}
	return v
}

// extWrapper converts a {"$type": ...} object of extended JSON. ok is false
// when o is an ordinary document.
func extWrapper(o *ordObj) (any, bool) {
	if len(o.keys) == 0 || len(o.keys) > 2 || !strings.HasPrefix(o.keys[0], "$") {
		return nil, false
	}
	v := o.vals[0]
	str, isStr := v.(string)
	switch o.keys[0] {
	case "$oid", "$symbol", "$code", "$uuid":
		if isStr && len(o.keys) == 1 {
			return str, true
		}
	case "$numberLong":
		if isStr {
			if i, err := strconv.ParseInt(str, 10, 64); err == nil {
				return i, true
			}
		}
	case "$numberInt":
		if isStr {
			if i, err := strconv.ParseInt(str, 10, 32); err == nil {
				return int32(i), true
			}
		}
	case "$numberDouble":
		if isStr {
			if f, err := strconv.ParseFloat(str, 64); err == nil {
				return f, true
			}
		}
	case "$numberDecimal":
		if isStr {
			if d, ok := parseDecimalLiteral(str); ok {
				return d, true
			}
			return str, true // NaN, Infinity: kept as text
		}
	case "$date":
		return extDate(v)
	case "$timestamp":
		if t, ok := v.(*ordObj); ok {
			if s, ok := t.get("t"); ok {
				if n, ok := s.(json.Number); ok {
					if sec, err := strconv.ParseInt(string(n), 10, 64); err == nil && sec >= 0 && sec <= maxUnixSec {
						return time.Unix(sec, 0).UTC(), true
					}
				}
			}
		}
	case "$binary":
		return extBinary(o)
	case "$undefined":
		return nil, true
	case "$minKey":
		return "MinKey", true
	case "$maxKey":
		return "MaxKey", true
	}
	return nil, false
}

func extDate(v any) (any, bool) {
	var ms int64
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil, false
		}
		ms = i
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return nil, false
		}
		return t.UTC(), true
	case *ordObj:
		w, ok := extWrapper(x)
		i, isInt := w.(int64)
		if !ok || !isInt {
			return nil, false
		}
		ms = i
	default:
		return nil, false
	}
	if ms < minUnixSec*1000 || ms > maxUnixSec*1000+999 {
		return ms, true // outside years 0..9999: the raw milliseconds
	}
	return time.UnixMilli(ms).UTC(), true
}

// extBinary reads {"$binary": "<base64>", "$type": "04"} (legacy) and
// {"$binary": {"base64": "...", "subType": "04"}} (canonical). A 16-byte
// UUID (subtype 03 or 04) becomes its canonical text.
func extBinary(o *ordObj) (any, bool) {
	var b64, sub string
	switch x := o.vals[0].(type) {
	case string:
		b64 = x
		if t, ok := o.get("$type"); ok {
			sub, _ = t.(string)
		}
	case *ordObj:
		if v, ok := x.get("base64"); ok {
			b64, _ = v.(string)
		}
		if v, ok := x.get("subType"); ok {
			sub, _ = v.(string)
		}
	default:
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, false
	}
	if (sub == "03" || sub == "04" || sub == "3" || sub == "4") && len(b) == 16 {
		h := hex.EncodeToString(b)
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
	}
	return b, true
}

// mongoDocument reads the extended JSON text of a MongoDB document into a
// Row, by the rules on Row.
func mongoDocument(s string) (Row, error) {
	v, err := parseOrdered(s)
	if err != nil {
		return nil, wrapErr("MongoDB document is not extended JSON", err)
	}
	o, ok := v.(*ordObj)
	if !ok {
		return nil, errf("MongoDB document is not a JSON object")
	}
	p, ok := extPlain(o, 0).(*ordObj)
	if !ok { // the whole document was one wrapper ({"$oid": ...})
		return nil, errf("MongoDB document is a single extended JSON value, not a document")
	}
	return docRow(p), nil
}

// docRow turns a plain document into columns: nested documents and arrays
// are JSON text, nested fields also dotted columns.
func docRow(o *ordObj) Row {
	row := make(Row, len(o.keys)+4)
	for i, k := range o.keys {
		row[k] = docColumn(o.vals[i])
	}
	for i, k := range o.keys {
		if sub, ok := o.vals[i].(*ordObj); ok {
			addDotted(row, k, sub, 1)
		}
	}
	return row
}

func docColumn(v any) any {
	switch v.(type) {
	case *ordObj, []any:
		return JSON(appendPlainJSON(nil, v))
	}
	return v
}

func addDotted(row Row, prefix string, o *ordObj, depth int) {
	if depth > maxDepth {
		return
	}
	for i, k := range o.keys {
		name := prefix + "." + k
		if _, taken := row[name]; !taken {
			row[name] = docColumn(o.vals[i])
		}
		if sub, ok := o.vals[i].(*ordObj); ok {
			addDotted(row, name, sub, depth+1)
		}
	}
}

// appendPlainJSON writes plain values as JSON, documents in their order.
func appendPlainJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case *ordObj:
		b = append(b, '{')
		for i, k := range x.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendPlainJSON(b, x.vals[i])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPlainJSON(b, e)
		}
		return append(b, ']')
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendJSONString(b, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case JSON:
		if json.Valid([]byte(x)) {
			return append(b, x...)
		}
		return appendJSONString(b, string(x))
	}
	return appendKeyValue(b, v)
}

// mongoKeyText decodes the id of a MongoDB key ({"id": "<extended JSON>"})
// into the plain _id: "{\"$oid\": \"5f...\"}" is "5f...", "\"abc\"" is
// "abc", "{\"$numberLong\": \"5\"}" is int64 5, a document is JSON text.
func mongoKeyText(s string) (any, bool) {
	v, err := parseOrdered(s)
	if err != nil {
		return nil, false
	}
	return docColumn(extPlain(v, 0)), true
}

// looksExtendedJSON reports whether s is unmistakably extended JSON text of
// an id ({"$oid": ...}, {"$numberLong": ...}, a quoted string), not a plain
// string key that happens to be text.
func looksExtendedJSON(s string) bool {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, `"`) && strings.HasSuffix(t, `"`) && len(t) >= 2 {
		return true
	}
	if !strings.HasPrefix(t, "{") {
		return false
	}
	t = strings.TrimSpace(t[1:])
	return strings.HasPrefix(t, `"$`)
}

// mongoKey rewrites Debezium's MongoDB key {"id": "<extended JSON>"} to
// {"_id": plain}. When sure is false (no MongoDB value says so), only ids
// that are unmistakably extended JSON are rewritten.
func mongoKey(key Row, sure bool) Row {
	if len(key) != 1 {
		return key
	}
	s, ok := key["id"].(string)
	if !ok || (!sure && !looksExtendedJSON(s)) {
		return key
	}
	v, ok := mongoKeyText(s)
	if !ok {
		return key
	}
	return Row{"_id": v}
}

// mongoFlattened applies the document rules to a row flattened by
// ExtractNewDocumentState: nested records become JSON text and dotted
// columns, arrays JSON text, extended JSON wrappers plain values.
func mongoFlattened(row Row) {
	type nest struct {
		k string
		o *ordObj
	}
	var nested []nest
	for k, v := range row {
		switch x := v.(type) {
		case Row:
			p := extPlain(rowToOrd(x, 0), 0)
			if o, ok := p.(*ordObj); ok {
				row[k] = JSON(appendPlainJSON(nil, o))
				nested = append(nested, nest{k, o})
			} else {
				row[k] = p // a wrapper such as {"$oid": ...}
			}
		case []any, []string:
			row[k] = JSON(appendKeyValue(nil, x))
		}
	}
	for _, n := range nested {
		addDotted(row, n.k, n.o, 1)
	}
}

// rowToOrd orders a Row's fields by name (a Row has no order of its own).
func rowToOrd(r Row, depth int) *ordObj {
	o := &ordObj{}
	for k := range r {
		o.keys = append(o.keys, k)
	}
	sort.Strings(o.keys)
	for _, k := range o.keys {
		v := r[k]
		if sub, ok := v.(Row); ok && depth < maxDepth {
			o.vals = append(o.vals, rowToOrd(sub, depth+1))
			continue
		}
		o.vals = append(o.vals, v)
	}
	return o
}

// isDocumentText reports whether v is text that can only be a MongoDB
// document (Debezium's MongoDB before/after).
func isDocumentText(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case JSON:
		s = string(x)
	default:
		return "", false
	}
	t := bytes.TrimLeft([]byte(s), " \t\r\n")
	return s, len(t) > 0 && t[0] == '{'
}
