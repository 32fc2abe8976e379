package connector

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"zohosink/schema"
	"zohosink/zoho"
)

// Zoho's value formats (docs/zoho-api.md, "Fields and value formats").
const (
	zohoDate     = "2006-01-02"
	zohoDateTime = "2006-01-02T15:04:05-07:00"
	// Integer fields take at most 9 digits; bigint (Long Integer) 18, as a string.
	maxIntegerDigits = 9
	maxBigintDigits  = 18
	// Currency, decimal and percent: 16 digits before the point, 9 after.
	maxDecimalIntDigits  = 16
	maxDecimalFracDigits = 9
)

// formatValue turns a decoded column value into the JSON value Zoho takes for
// a field of type f. With f nil (no fields metadata and no built-in
// knowledge) the value is formatted from its own type. The error says what is
// wrong in words a user can act on; the caller adds the field and column.
func formatValue(v any, f *zoho.Field) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v has no JSON form", x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%v has no JSON form", x)
		}
	}
	dt := ""
	if f != nil {
		dt = f.DataType
	}
	switch dt {
	case "", "formula", "autonumber":
		return formatNatural(v)
	case "text", "textarea", "email", "phone", "website", "picklist", "textarea_large":
		s, err := asText(v)
		if err != nil {
			return nil, err
		}
		if f.Length > 0 && utf8.RuneCountInString(s) > f.Length {
			return nil, fmt.Errorf("value has %d characters, more than the field's maximum of %d", utf8.RuneCountInString(s), f.Length)
		}
		if _, ok := v.(string); ok {
			return v, nil // the same string, not boxed again
		}
		return s, nil
	case "date":
		return asDate(v)
	case "datetime":
		return asDateTime(v)
	case "integer":
		return asInteger(v, maxIntegerDigits, false)
	case "bigint":
		return asInteger(v, maxBigintDigits, true)
	case "double", "currency", "decimal", "percent":
		return asDecimal(v)
	case "boolean":
		return asBool(v)
	case "multiselectpicklist":
		return asStringList(v)
	case "lookup", "ownerlookup":
		return asLookupID(v)
	default:
		return formatNatural(v)
	}
}

// formatNatural formats a value by its own type, for fields whose Zoho type
// is unknown.
func formatNatural(v any) (any, error) {
	switch x := v.(type) {
	case schema.Date:
		return x.String(), nil
	case time.Time:
		return x.Format(zohoDateTime), nil
	case schema.Decimal:
		return decimalNumber(x)
	case schema.TimeOfDay:
		return x.String(), nil
	case schema.JSON:
		return string(x), nil
	case []byte:
		return bytesText(x), nil
	case int32, int64, int, float32, float64, bool, string, []string:
		return x, nil
	case json.Number:
		return x, nil
	case []any:
		return x, nil
	}
	return nil, fmt.Errorf("a value of type %T has no Zoho form", v)
}

func bytesText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func asText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case schema.Decimal:
		return x.String(), nil
	case schema.Date:
		return x.String(), nil
	case time.Time:
		return x.Format(zohoDateTime), nil
	case schema.TimeOfDay:
		return x.String(), nil
	case schema.JSON:
		return string(x), nil
	case []byte:
		return bytesText(x), nil
	case []string:
		return strings.Join(x, ";"), nil
	}
	return "", fmt.Errorf("a value of type %T cannot be written to a text field", v)
}

func asDate(v any) (any, error) {
	switch x := v.(type) {
	case schema.Date:
		return x.String(), nil
	case time.Time:
		return x.UTC().Format(zohoDate), nil
	case string:
		for _, layout := range []string{zohoDate, time.RFC3339Nano, "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.Format(zohoDate), nil
			}
		}
		return nil, fmt.Errorf("%q is not a date (yyyy-MM-dd)", x)
	}
	if h := schema.SchemalessHint(v); h != "" {
		return nil, fmt.Errorf("%v is not a date: it %s", v, h)
	}
	return nil, fmt.Errorf("a value of type %T cannot be written to a date field", v)
}

func asDateTime(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x.Truncate(time.Second).Format(zohoDateTime), nil
	case schema.Date:
		return time.Date(x.Year, x.Month, x.Day, 0, 0, 0, 0, time.UTC).Format(zohoDateTime), nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", zohoDate} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.Format(zohoDateTime), nil
			}
		}
		return nil, fmt.Errorf("%q is not a date-time (yyyy-MM-ddTHH:mm:ss±HH:mm)", x)
	}
	if h := schema.SchemalessHint(v); h != "" {
		return nil, fmt.Errorf("%v is not a date-time: it %s", v, h)
	}
	return nil, fmt.Errorf("a value of type %T cannot be written to a date-time field", v)
}

// asInteger formats an integral value. Bigint fields take strings; integer
// fields take JSON numbers.
func asInteger(v any, maxDigits int, asString bool) (any, error) {
	var n *big.Int
	switch x := v.(type) {
	case int32:
		n = big.NewInt(int64(x))
	case int64:
		n = big.NewInt(x)
	case int:
		n = big.NewInt(int64(x))
	case float64:
		if x != float64(int64(x)) {
			return nil, fmt.Errorf("%v is not a whole number", x)
		}
		n = big.NewInt(int64(x))
	case schema.Decimal:
		r, ok := decimalInteger(x)
		if !ok {
			return nil, fmt.Errorf("%s is not a whole number", x)
		}
		n = r
	case string, json.Number:
		s := fmt.Sprint(x)
		r, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
		if !ok {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		n = r
	case bool:
		if x {
			n = big.NewInt(1)
		} else {
			n = big.NewInt(0)
		}
	default:
		return nil, fmt.Errorf("a value of type %T cannot be written to a number field", v)
	}
	digits := len(new(big.Int).Abs(n).String())
	if digits > maxDigits {
		return nil, fmt.Errorf("%s has %d digits, more than the field's %d", n, digits, maxDigits)
	}
	if asString {
		return n.String(), nil
	}
	return json.Number(n.String()), nil
}

// decimalInteger returns d as an integer when it has no fraction.
func decimalInteger(d schema.Decimal) (*big.Int, bool) {
	if d.Unscaled == nil {
		return new(big.Int), true
	}
	if d.Scale <= 0 {
		return new(big.Int).Mul(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-d.Scale)), nil)), true
	}
	q, r := new(big.Int).QuoRem(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil), new(big.Int))
	return q, r.Sign() == 0
}

func asDecimal(v any) (any, error) {
	switch x := v.(type) {
	case schema.Decimal:
		return decimalNumber(x)
	case int32, int64, int:
		return json.Number(fmt.Sprint(x)), nil
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 32)), nil
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case json.Number:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if _, ok := new(big.Rat).SetString(s); !ok || strings.ContainsAny(s, "/eE") {
			if h := schema.SchemalessHint(x); h != "" {
				return nil, fmt.Errorf("%q is not a decimal number: it %s", x, h)
			}
			return nil, fmt.Errorf("%q is not a decimal number", x)
		}
		return json.Number(s), nil
	}
	return nil, fmt.Errorf("a value of type %T cannot be written to a number field", v)
}

// decimalNumber writes an exact decimal as a JSON number, trimming trailing
// zeros of the fraction, within Zoho's 16 digits before and 9 after the point.
func decimalNumber(d schema.Decimal) (any, error) {
	s := d.String()
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > maxDecimalFracDigits {
		return nil, fmt.Errorf("%s has %d digits after the point, more than Zoho's %d", s, len(frac), maxDecimalFracDigits)
	}
	if len(intPart) > maxDecimalIntDigits {
		return nil, fmt.Errorf("%s has %d digits before the point, more than Zoho's %d", s, len(intPart), maxDecimalIntDigits)
	}
	return json.Number(s), nil
}

func asBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int32:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "yes", "y", "1":
			return true, nil
		case "false", "f", "no", "n", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (true/false)", x)
	case []byte: // BIT(n) with n > 1 has no boolean meaning
	}
	return nil, fmt.Errorf("%v (%T) is not a boolean", v, v)
}

func asStringList(v any) (any, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := asText(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case schema.JSON:
		var out []string
		if err := json.Unmarshal([]byte(x), &out); err != nil {
			return nil, fmt.Errorf("JSON %s is not an array of strings", x)
		}
		return out, nil
	case string:
		if x == "" {
			return []string{}, nil
		}
		parts := strings.Split(x, ";")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	return nil, fmt.Errorf("a value of type %T cannot be written to a multi-select field", v)
}

// lookupName is a lookup value given by name, to be resolved to a record id
// before the write.
type lookupName string

// asLookupID returns {"id": ...} for a record id (a run of digits) and a
// lookupName for anything else.
func asLookupID(v any) (any, error) {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case string:
		s = strings.TrimSpace(x)
	case schema.Decimal:
		n, ok := decimalInteger(x)
		if !ok {
			return nil, fmt.Errorf("%s is not a record id", x)
		}
		s = n.String()
	default:
		return nil, fmt.Errorf("a value of type %T cannot be written to a lookup field", v)
	}
	if s == "" {
		return nil, nil
	}
	if isRecordID(s) {
		return map[string]any{"id": s}, nil
	}
	return lookupName(s), nil
}

// isRecordID reports whether s looks like a Zoho record id: 10 to 19 digits.
func isRecordID(s string) bool {
	if len(s) < 10 || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isEmpty reports whether a formatted value is null or blank: what the
// required-field check refuses.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case lookupName:
		return strings.TrimSpace(string(x)) == ""
	}
	return false
}
