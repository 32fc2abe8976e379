package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
)

// JSON-converter bodies: {"schema": <Connect schema>, "payload": <value>}
// when schemas.enable=true, the bare value otherwise. Connect schemas are
// compiled into the same node tree as Avro schemas, so semantic types
// (name + parameters) convert exactly as they do for Avro.

// parseJSON decodes one JSON value with UseNumber and rejects trailing data.
func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, wrapErr("invalid JSON", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errf("invalid JSON: data after the value")
	}
	return v, nil
}

// jsonSchemaCache remembers compiled Connect schemas by their text: every
// record of a topic repeats the same schema.
type jsonSchemaCache struct {
	mu sync.Mutex
	m  map[string]*node
}

const jsonSchemaCacheMax = 512

func (c *jsonSchemaCache) get(raw json.RawMessage) (*node, error) {
	c.mu.Lock()
	n, ok := c.m[string(raw)]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, wrapErr("schema", err)
	}
	if v == nil {
		return nil, nil
	}
	sm, ok := v.(map[string]any)
	if !ok {
		return nil, errf("schema is not a JSON object")
	}
	n, err = compileConnect(sm, 0)
	if err != nil {
		return nil, wrapErr("connect schema", err)
	}
	markZeroSize(n, map[*node]bool{})
	c.mu.Lock()
	if c.m == nil || len(c.m) >= jsonSchemaCacheMax {
		c.m = make(map[string]*node)
	}
	c.m[string(raw)] = n
	c.mu.Unlock()
	return n, nil
}

// compileConnect turns a Kafka Connect JSON schema into a node.
func compileConnect(s map[string]any, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	typ, _ := s["type"].(string)
	typ = strings.ToLower(typ)
	n := &node{}
	switch typ {
	case "struct":
		n.kind = kRecord
		fs, _ := s["fields"].([]any)
		for _, f := range fs {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, errf("a struct field must be an object")
			}
			name, _ := fm["field"].(string)
			if name == "" {
				name, _ = fm["name"].(string)
			}
			fsch := fm
			if inner, ok := fm["schema"].(map[string]any); ok {
				fsch = inner
			}
			fn, err := compileConnect(fsch, depth+1)
			if err != nil {
				return nil, inField(name, err)
			}
			n.fields = append(n.fields, field{name: name, n: fn})
		}
	case "array":
		n.kind = kArray
		it, _ := s["items"].(map[string]any)
		if it == nil {
			return nil, errf("array without items")
		}
		in, err := compileConnect(it, depth+1)
		if err != nil {
			return nil, err
		}
		n.items = in
	case "map":
		n.kind = kMap
		vs, _ := s["values"].(map[string]any)
		if vs == nil {
			return nil, errf("map without values")
		}
		vn, err := compileConnect(vs, depth+1)
		if err != nil {
			return nil, err
		}
		n.items = vn
	case "int8", "int16", "int32":
		n.kind = kInt
	case "int64":
		n.kind = kLong
	case "float", "float32": // JsonConverter writes FLOAT32 as "float"
		n.kind = kFloat
	case "double", "float64": // and FLOAT64 as "double"
		n.kind = kDouble
	case "boolean":
		n.kind = kBool
	case "string":
		n.kind = kString
	case "bytes":
		n.kind = kBytes
	default:
		return nil, errf("unknown connect type " + strconv.Quote(truncate(typ)) +
			" (JsonConverter writes int8, int16, int32, int64, float, double, boolean, string, bytes, array, map or struct)")
	}
	name, _ := s["name"].(string)
	n.name = name
	n.conv = convFor(n.kind, name, "")
	params, _ := s["parameters"].(map[string]any)
	if n.conv == convDecimal {
		if sc, ok := paramInt(params, "scale"); ok && sc >= -1000 && sc <= 1000 {
			n.scale = int32(sc)
		}
	}
	if n.conv == convBits {
		if l, ok := paramInt(params, "length"); ok && l == 1 {
			n.bit = true
		}
	}
	return n, nil
}

// fromJSON converts a payload value of Connect type n.
func fromJSON(n *node, v any, depth int) (any, error) {
	if v == nil {
		return nil, nil
	}
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if s, ok := v.(string); ok && s == unavailableText {
		return Unavailable{}, nil
	}
	switch n.kind {
	case kBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			if p, err := strconv.ParseBool(b); err == nil {
				return p, nil
			}
		}
		return nil, errf("not a boolean")
	case kInt, kLong:
		i, ok := jsonInteger(v)
		if !ok {
			return nil, errf("not an integer")
		}
		if n.kind == kInt && (i < math.MinInt32 || i > math.MaxInt32) {
			return nil, errf("integer out of int32 range")
		}
		return convertInt(n, i), nil
	case kFloat, kDouble:
		var f float64
		var err error
		switch x := v.(type) {
		case json.Number:
			f, err = strconv.ParseFloat(string(x), 64)
		case string: // Connect writes NaN and infinities as text
			f, err = strconv.ParseFloat(x, 64)
		default:
			return nil, errf("not a number")
		}
		if err != nil {
			return nil, errf("not a number")
		}
		if n.kind == kFloat {
			return float32(f), nil
		}
		return f, nil
	case kString:
		s, ok := v.(string)
		if !ok {
			return nil, errf("not a string")
		}
		return convertString(n, s)
	case kBytes:
		switch x := v.(type) {
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, errf("bytes are not base64")
			}
			return convertBytes(n, b)
		case json.Number:
			// decimal.format=NUMERIC writes decimals as numbers.
			if n.conv != convDecimal {
				return nil, errf("a number where bytes were expected")
			}
			d, ok := parseDecimalLiteral(string(x))
			if !ok {
				return nil, errf("bad decimal number")
			}
			if r, exact := rescale(d, n.scale); exact {
				return r, nil
			}
			return d, nil
		}
		return nil, errf("not bytes")
	case kRecord:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, errf("not an object")
		}
		row := make(Row, len(n.fields))
		for _, f := range n.fields {
			fv, err := fromJSON(f.n, obj[f.name], depth+1)
			if err != nil {
				return nil, inField(f.name, err)
			}
			row[f.name] = fv
		}
		for k, x := range obj { // payload fields the schema does not list
			if _, done := row[k]; !done {
				row[k] = schemaless(x, depth+1)
			}
		}
		if n.conv == convVarDecimal {
			return varDecimal(row)
		}
		return row, nil
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			return nil, errf("not an array")
		}
		if n.items.kind == kString && n.items.conv == convNone {
			out := make([]string, 0, len(arr))
			for _, e := range arr {
				s, ok := e.(string)
				if !ok {
					return nil, errf("array item not a string")
				}
				out = append(out, s)
			}
			if len(out) == 1 && out[0] == unavailableText {
				return Unavailable{}, nil
			}
			return out, nil
		}
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			x, err := fromJSON(n.items, e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case kMap:
		switch m := v.(type) {
		case map[string]any:
			row := make(Row, len(m))
			for k, x := range m {
				c, err := fromJSON(n.items, x, depth+1)
				if err != nil {
					return nil, inField(k, err)
				}
				row[k] = c
			}
			return row, nil
		case []any: // maps with non-string keys are arrays of [key, value]
			return schemaless(m, depth+1), nil
		}
		return nil, errf("not a map")
	}
	return nil, errf("unsupported type")
}

// jsonInteger reads an integer from a JSON number or numeric text (some
// documented keys carry "1" for an INT32).
func jsonInteger(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = x
	default:
		return 0, false
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// schemaless converts a value of schemaless JSON: objects become Rows;
// integral numbers that fit become int64, other numbers an exact Decimal of
// their literal; the TOAST placeholder becomes Unavailable.
func schemaless(v any, depth int) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if d, ok := parseDecimalLiteral(string(x)); ok {
			if d.Scale == 0 && d.Unscaled.IsInt64() {
				return d.Unscaled.Int64()
			}
			return d
		}
		return string(x)
	case string:
		if x == unavailableText {
			return Unavailable{}
		}
		return x
	case map[string]any:
		if d, ok := schemalessVarDecimal(x); ok {
			return d
		}
		row := make(Row, len(x))
		for k, e := range x {
			if depth > maxDepth {
				row[k] = nil
				continue
			}
			row[k] = schemaless(e, depth+1)
		}
		return row
	case []any:
		if len(x) == 1 && x[0] == unavailableText {
			return Unavailable{}
		}
		out := make([]any, len(x))
		for i, e := range x {
			if depth > maxDepth {
				continue
			}
			out[i] = schemaless(e, depth+1)
		}
		return out
	}
	return v
}

// schemalessVarDecimal reads io.debezium.data.VariableScaleDecimal sent
// without a schema: exactly {"scale": <integer>, "value": "<base64>"}.
func schemalessVarDecimal(m map[string]any) (Decimal, bool) {
	if len(m) != 2 {
		return Decimal{}, false
	}
	n, ok := m["scale"].(json.Number)
	if !ok {
		return Decimal{}, false
	}
	scale, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil || scale < -1000 || scale > 1000 {
		return Decimal{}, false
	}
	s, ok := m["value"].(string)
	if !ok {
		return Decimal{}, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return Decimal{}, false
	}
	return Decimal{Unscaled: twosComplement(b), Scale: int32(scale)}, true
}
