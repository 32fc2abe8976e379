package zoho

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// appendJSON appends v as JSON, byte for byte what json.Marshal writes.
// Common record values (strings, numbers, booleans, nil, lookups, string
// lists) are written directly; any other value goes through encoding/json.
// Object keys are sorted, as json.Marshal sorts them.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		if f, ok := appendFloat(b, x, 64); ok {
			return f, nil
		}
	case float32:
		if f, ok := appendFloat(b, float64(x), 32); ok {
			return f, nil
		}
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0" // as encoding/json writes an empty Number
		}
		if validNumber(s) {
			return append(b, s...), nil
		}
	case Record:
		return appendObject(b, x)
	case map[string]any:
		return appendObject(b, x)
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendString(b, s); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendFloat writes f as encoding/json's float encoder does (shortest
// representation, exponent form below 1e-6 and from 1e21, "e-07" written
// "e-7"); false for NaN and infinities, which it refuses.
func appendFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// validNumber reports whether s is a JSON number, as encoding/json checks
// a json.Number.
func validNumber(s string) bool {
	end, ok := numberEnd(s, 0)
	return ok && end == len(s)
}

// numberEnd reads a JSON number in b from i,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns where it
// ends; false when none starts at i. The encoder checks json.Number values
// with it, the answer scanner reads numbers with it.
func numberEnd[T string | []byte](b T, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

// member is a field of a record being written.
type member struct {
	k string
	v any
}

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var buf [16]member // most records: the fields sorted on the stack, each looked up once
	ms := buf[:0]
	for k, v := range m {
		ms = append(ms, member{k, v})
	}
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
	b = append(b, '{')
	for i, f := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendString(b, f.k); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = appendJSON(b, f.v); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// plainJSON marks the bytes a JSON string holds as they are, as
// encoding/json writes it: printable ASCII but for the quote, the backslash
// and the HTML characters <, > and &, which it escapes.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes plain printable ASCII directly and leaves anything
// needing escapes (quotes, controls, <>&, non-ASCII) to encoding/json.
func appendString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			j, err := json.Marshal(s)
			return append(b, j...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// encodeWrite builds the body of insert, update and upsert.
func encodeWrite(recs []Record, dupFields []string, trigger []string, skip []string) ([]byte, error) {
	b := make([]byte, 0, 64+len(recs)*160)
	b = append(b, `{"data":[`...)
	var err error
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendObject(b, r); err != nil {
			return nil, err
		}
	}
	b = append(b, ']')
	if len(dupFields) > 0 {
		b = append(b, `,"duplicate_check_fields":`...)
		if b, err = appendJSON(b, dupFields); err != nil {
			return nil, err
		}
	}
	if trigger != nil {
		b = append(b, `,"trigger":`...)
		if b, err = appendJSON(b, trigger); err != nil {
			return nil, err
		}
	}
	if len(skip) > 0 {
		b = append(b, `,"skip_feature_execution":[`...)
		for i, name := range skip {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			if b, err = appendString(b, name); err != nil {
				return nil, err
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}
