package zoho

import (
	"encoding/json"
	"slices"
	"strconv"
)

// appendJSON appends v as JSON. Common record values (ASCII strings,
// numbers, booleans, nil, lookups, string lists) are written directly; any
// other value goes through encoding/json, so the output is always what
// json.Marshal would accept. Object keys are sorted, as json.Marshal sorts
// them.
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
	case Record:
		return appendObject(b, x)
	case map[string]any:
		return appendObject(b, x)
	case []string:
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

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	var buf [16]string // most records: the names sorted on the stack
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendString(b, k); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = appendJSON(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendString writes plain printable ASCII directly and leaves anything
// needing escapes (quotes, controls, <>&, non-ASCII) to encoding/json.
func appendString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
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
