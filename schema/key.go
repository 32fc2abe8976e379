package schema

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// KeyString returns the canonical text of a key: a JSON object with the
// column names sorted (byte order) and each value in one stable form, so that
// equal keys give equal text whether they came as Avro, JSON with or without
// a schema, or a plain string. "" for a nil key.
//
// Forms: integers and decimals as JSON numbers in plain notation with no
// trailing fractional zeros (Avro int 1001, JSON 1001 and decimal 1001.00
// all give 1001); strings JSON-quoted; booleans and null as in JSON; dates
// as "2006-01-02"; times of day as "15:04:05.999999999"; timestamps as
// RFC 3339 in UTC with nanoseconds when present; bytes as base64 text;
// nested records as nested objects. A plain string key "abc" gives
// {"":"abc"}; a record key {id: 1001} gives {"id":1001}.
func KeyString(key Row) string {
	if key == nil {
		return ""
	}
	return string(appendRow(make([]byte, 0, 32), key))
}

func appendRow(b []byte, r Row) []byte {
	if len(r) == 1 {
		b = append(b, '{')
		for k, v := range r {
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendKeyValue(b, v)
		}
		return append(b, '}')
	}
	names := make([]string, 0, len(r))
	for k := range r {
		names = append(names, k)
	}
	sort.Strings(names)
	return appendRecordKey(b, names, r)
}

// appendRecordKey is appendRow for a row holding exactly the columns
// names, given sorted.
func appendRecordKey(b []byte, names []string, r Row) []byte {
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendKeyValue(b, r[k])
	}
	return append(b, '}')
}

func appendKeyValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case float32:
		return appendFloat(b, float64(v), 32)
	case float64:
		return appendFloat(b, v, 64)
	case string:
		return appendJSONString(b, v)
	case JSON:
		return appendJSONString(b, string(v))
	case json.Number:
		if d, ok := parseDecimalLiteral(string(v)); ok {
			return appendDecimal(b, d)
		}
		return appendJSONString(b, string(v))
	case Decimal:
		return appendDecimal(b, v)
	case Date:
		return appendJSONString(b, v.String())
	case TimeOfDay:
		return appendJSONString(b, v.String())
	case time.Time:
		b = append(b, '"')
		b = v.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, '"')
	case Unavailable:
		return appendJSONString(b, unavailableText)
	case Row:
		return appendRow(b, v)
	case map[string]any:
		return appendRow(b, Row(v))
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKeyValue(b, e)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendJSONString(b, strconv.FormatFloat(f, 'g', -1, bits))
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e18 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'f', -1, bits)
}

// appendDecimal writes d without trailing fractional zeros, so 1.50 and 1.5
// (and 1001.00 and the integer 1001) give the same text.
func appendDecimal(b []byte, d Decimal) []byte {
	if d.Unscaled == nil || d.Unscaled.Sign() == 0 {
		return append(b, '0')
	}
	if d.Scale > 0 {
		u := new(big.Int).Set(d.Unscaled)
		scale := d.Scale
		ten := big.NewInt(10)
		m := new(big.Int)
		q := new(big.Int)
		for scale > 0 {
			q.QuoRem(u, ten, m)
			if m.Sign() != 0 {
				break
			}
			u.Set(q)
			scale--
		}
		d = Decimal{Unscaled: u, Scale: scale}
	}
	return append(b, d.String()...)
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// plainKey is a key that is neither framed Avro nor JSON: StringConverter's
// text. Leading and trailing spaces are part of it.
func plainKey(k []byte) Row { return Row{"": string(k)} }

// firstNonSpace returns the first byte of b that is not JSON white space,
// or 0.
func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
