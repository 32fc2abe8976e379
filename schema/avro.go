package schema

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The Avro side of the decoder. A writer schema is compiled once per
// registry id into a tree of nodes; each node knows its Avro type and the
// logical conversion its connect.name / logicalType asks for. Decoding walks
// the tree over the binary datum and builds our Go values directly, so no
// intermediate generic map is built and no reflection is used.
//
// Why not goavro's NativeFromBinary: goavro refuses schemas Debezium writes
// (a decimal whose scale exceeds its precision, as PostgreSQL numeric(5,6)
// produces, or one without an Avro "precision"), loses connect.name, turns
// decimals into *big.Rat (the scale is lost) and allocates a map per union.
// Tests use goavro as the independent encoder.

type kind uint8

const (
	kNull kind = iota + 1
	kBool
	kInt
	kLong
	kFloat
	kDouble
	kBytes
	kString
	kRecord
	kEnum
	kArray
	kMap
	kUnion
	kFixed
)

// conv is the logical conversion applied to a decoded primitive.
type conv uint8

const (
	convNone       conv = iota
	convDate            // int days since epoch -> Date
	convTimeMillis      // ms past midnight -> TimeOfDay
	convTimeMicros      // µs past midnight -> TimeOfDay
	convTimeNanos       // ns past midnight -> TimeOfDay
	convTsMillis        // ms since epoch -> time.Time UTC
	convTsMicros        // µs since epoch -> time.Time UTC
	convTsNanos         // ns since epoch -> time.Time UTC
	convZonedTs         // ISO 8601 text -> time.Time UTC
	convZonedTime       // ISO 8601 time with offset -> TimeOfDay in UTC
	convDecimal         // two's-complement bytes at a fixed scale -> Decimal
	convVarDecimal      // record {scale, value} -> Decimal
	convJSON            // text -> JSON
	convEnumSet         // comma-joined text -> []string
	convBits            // little-endian bits -> []byte, or bool for BIT(1)
)

// maxDepth bounds nesting of records, arrays and maps in a datum, so a
// recursive schema cannot be used to exhaust the stack.
const maxDepth = 64

type node struct {
	kind     kind
	conv     conv
	scale    int32 // convDecimal
	bit      bool  // convBits with length 1
	name     string
	fields   []field
	items    *node   // array items, map values
	branches []*node // union
	symbols  []string
	byName   []string // a record's field names sorted, as KeyString writes them
	size     int      // fixed
	zeroSize bool     // a value of this type may take no bytes at all
}

type field struct {
	name string
	n    *node
}

// compileAvro parses an Avro schema in its JSON form.
func compileAvro(text string) (*node, error) {
	var raw any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, wrapErr("parse avro schema", err)
	}
	c := avroCompiler{names: map[string]*node{}}
	n, err := c.compile(raw, "")
	if err != nil {
		return nil, wrapErr("compile avro schema", err)
	}
	markZeroSize(n, map[*node]bool{})
	return n, nil
}

type avroCompiler struct {
	names map[string]*node
}

var primitiveKinds = map[string]kind{
	"null": kNull, "boolean": kBool, "int": kInt, "long": kLong, "float": kFloat,
	"double": kDouble, "bytes": kBytes, "string": kString,
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (c *avroCompiler) compile(s any, ns string) (*node, error) {
	switch s := s.(type) {
	case string:
		if k, ok := primitiveKinds[s]; ok {
			return &node{kind: k}, nil
		}
		if n, ok := c.names[fullName(s, ns)]; ok {
			return n, nil
		}
		if n, ok := c.names[s]; ok {
			return n, nil
		}
		return nil, errf("unknown type " + strconv.Quote(s))
	case []any:
		if len(s) == 0 {
			return nil, errf("empty union")
		}
		u := &node{kind: kUnion}
		for _, b := range s {
			bn, err := c.compile(b, ns)
			if err != nil {
				return nil, err
			}
			if bn.kind == kUnion {
				return nil, errf("union directly inside a union")
			}
			u.branches = append(u.branches, bn)
		}
		return u, nil
	case map[string]any:
		return c.compileComplex(s, ns)
	}
	return nil, errf("a schema must be a string, an array or an object")
}

func (c *avroCompiler) compileComplex(s map[string]any, ns string) (*node, error) {
	typ, _ := s["type"].(string)
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := s["name"].(string)
		if name == "" {
			return nil, errf("a " + typ + " needs a name")
		}
		if sns, ok := s["namespace"].(string); ok && !strings.Contains(name, ".") {
			ns = sns
		}
		full := fullName(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		} else {
			ns = ""
		}
		if _, dup := c.names[full]; dup {
			return nil, errf("type " + strconv.Quote(full) + " defined twice")
		}
		n := &node{name: full}
		c.names[full] = n
		switch typ {
		case "enum":
			n.kind = kEnum
			syms, _ := s["symbols"].([]any)
			for _, sym := range syms {
				str, ok := sym.(string)
				if !ok {
					return nil, errf("enum " + full + ": symbols must be strings")
				}
				n.symbols = append(n.symbols, str)
			}
		case "fixed":
			n.kind = kFixed
			size, err := jsonInt(s["size"])
			if err != nil || size < 0 || size > 1<<20 {
				return nil, errf("fixed " + full + ": bad size")
			}
			n.size = int(size)
		default:
			n.kind = kRecord
			fs, ok := s["fields"].([]any)
			if !ok {
				return nil, errf("record " + full + ": fields must be an array")
			}
			seen := make(map[string]bool, len(fs))
			for _, f := range fs {
				fm, ok := f.(map[string]any)
				if !ok {
					return nil, errf("record " + full + ": a field must be an object")
				}
				fname, _ := fm["name"].(string)
				if fname == "" || seen[fname] {
					return nil, errf("record " + full + ": missing or duplicate field name " + strconv.Quote(fname))
				}
				seen[fname] = true
				ft, ok := fm["type"]
				if !ok {
					return nil, errf("record " + full + ": field " + fname + " has no type")
				}
				fn, err := c.compile(ft, ns)
				if err != nil {
					return nil, inField(fname, err)
				}
				n.fields = append(n.fields, field{name: fname, n: fn})
				n.byName = append(n.byName, fname)
			}
			sort.Strings(n.byName)
		}
		c.setConv(n, s)
		return n, nil
	case "array":
		it, ok := s["items"]
		if !ok {
			return nil, errf("array without items")
		}
		in, err := c.compile(it, ns)
		if err != nil {
			return nil, err
		}
		n := &node{kind: kArray, items: in}
		return n, nil
	case "map":
		vt, ok := s["values"]
		if !ok {
			return nil, errf("map without values")
		}
		vn, err := c.compile(vt, ns)
		if err != nil {
			return nil, err
		}
		return &node{kind: kMap, items: vn}, nil
	}
	// A primitive with attributes: {"type":"int","connect.name":...}.
	k, ok := primitiveKinds[typ]
	if !ok {
		if inner, isObj := s["type"].(map[string]any); isObj {
			return c.compileComplex(inner, ns)
		}
		if typ != "" {
			// A reference to a named type, written as {"type":"Name"}.
			return c.compile(typ, ns)
		}
		return nil, errf("object schema without a valid type")
	}
	n := &node{kind: k}
	c.setConv(n, s)
	return n, nil
}

// setConv reads connect.name first (Debezium's types carry only that), then
// Avro's logicalType (Kafka Connect's built-ins carry both).
func (c *avroCompiler) setConv(n *node, s map[string]any) {
	cname, _ := s["connect.name"].(string)
	params, _ := s["connect.parameters"].(map[string]any)
	lt, _ := s["logicalType"].(string)
	n.conv = convFor(n.kind, cname, lt)
	if n.conv == convDecimal {
		scale, ok := paramInt(params, "scale")
		if !ok {
			if v, err := jsonInt(s["scale"]); err == nil {
				scale, ok = v, true
			}
		}
		if !ok || scale < -1000 || scale > 1000 {
			scale = 0
		}
		n.scale = int32(scale)
	}
	if n.conv == convBits {
		if l, ok := paramInt(params, "length"); ok && l == 1 {
			n.bit = true
		}
	}
}

// convFor picks the conversion for a semantic name (Connect's or Debezium's)
// or an Avro logical type, given the physical kind it applies to. A name on
// the wrong physical type is ignored: the value is then kept as it came.
func convFor(k kind, name, logical string) conv {
	var c conv
	switch name {
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		c = convDate
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		c = convTimeMillis
	case "io.debezium.time.MicroTime":
		c = convTimeMicros
	case "io.debezium.time.NanoTime":
		c = convTimeNanos
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		c = convTsMillis
	case "io.debezium.time.MicroTimestamp":
		c = convTsMicros
	case "io.debezium.time.NanoTimestamp":
		c = convTsNanos
	case "io.debezium.time.ZonedTimestamp":
		c = convZonedTs
	case "io.debezium.time.ZonedTime":
		c = convZonedTime
	case "org.apache.kafka.connect.data.Decimal":
		c = convDecimal
	case "io.debezium.data.VariableScaleDecimal":
		c = convVarDecimal
	case "io.debezium.data.Json":
		c = convJSON
	case "io.debezium.data.EnumSet":
		c = convEnumSet
	case "io.debezium.data.Bits":
		c = convBits
	case "":
		switch logical {
		case "date":
			c = convDate
		case "time-millis":
			c = convTimeMillis
		case "time-micros":
			c = convTimeMicros
		case "timestamp-millis", "local-timestamp-millis":
			c = convTsMillis
		case "timestamp-micros", "local-timestamp-micros":
			c = convTsMicros
		case "timestamp-nanos", "local-timestamp-nanos":
			c = convTsNanos
		case "decimal":
			c = convDecimal
		}
	}
	ok := false
	switch c {
	case convDate, convTimeMillis:
		ok = k == kInt || k == kLong
	case convTimeMicros, convTimeNanos, convTsMillis, convTsMicros, convTsNanos:
		ok = k == kLong || k == kInt
	case convZonedTs, convZonedTime, convJSON, convEnumSet:
		ok = k == kString
	case convDecimal:
		ok = k == kBytes || k == kFixed
	case convBits:
		ok = k == kBytes || k == kFixed
	case convVarDecimal:
		ok = k == kRecord
	}
	if !ok {
		return convNone
	}
	return c
}

func paramInt(params map[string]any, key string) (int64, bool) {
	v, ok := params[key]
	if !ok {
		return 0, false
	}
	n, err := jsonInt(v)
	return n, err == nil
}

// jsonInt reads an integer from a JSON-decoded value (number or numeric text).
func jsonInt(v any) (int64, error) {
	switch v := v.(type) {
	case json.Number:
		return strconv.ParseInt(string(v), 10, 64)
	case string:
		return strconv.ParseInt(v, 10, 64)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	}
	return 0, errf("not an integer")
}

func markZeroSize(n *node, seen map[*node]bool) bool {
	if seen[n] {
		return n.zeroSize
	}
	seen[n] = true
	switch n.kind {
	case kNull:
		n.zeroSize = true
	case kFixed:
		n.zeroSize = n.size == 0
	case kRecord:
		z := true
		for _, f := range n.fields {
			if !markZeroSize(f.n, seen) {
				z = false
			}
		}
		n.zeroSize = z
	case kArray, kMap:
		markZeroSize(n.items, seen)
	case kUnion:
		for _, b := range n.branches {
			markZeroSize(b, seen)
		}
	}
	return n.zeroSize
}

// reader walks one Avro binary datum.
type reader struct {
	b []byte
	// s is b as one string, made at the first text read (a key of
	// integers has none): text values are substrings of it, not copies.
	s     string
	pos   int
	depth int
	// zeroItems counts array and map items that took no bytes (nulls),
	// which the input length cannot bound.
	zeroItems int64
	// scratch, when set with reuse, gives the record read at the top (the
	// key, before, after, or a flattened row): DecodeReusing's rows.
	scratch *Scratch
	reuse   bool
	// project: the record read at the top keeps the scratch's columns
	// only (Scratch.Project): an envelope's before or after.
	project bool
}

const maxZeroSizeItems = 1 << 16

var (
	errShort    = errf("datum ends early")
	errVarint   = errf("malformed varint")
	errTooDeep  = errf("datum nested too deep")
	errNegative = errf("negative length")
)

func (r *reader) long() (int64, error) {
	var u uint64
	var shift uint
	for i := 0; ; i++ {
		if r.pos >= len(r.b) {
			return 0, errShort
		}
		c := r.b[r.pos]
		r.pos++
		if i == 9 && c > 1 {
			return 0, errVarint
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

func (r *reader) int() (int32, error) {
	var u uint32
	var shift uint
	for i := 0; ; i++ {
		if r.pos >= len(r.b) {
			return 0, errShort
		}
		c := r.b[r.pos]
		r.pos++
		if i == 4 && c > 0x0f {
			return 0, errVarint
		}
		u |= uint32(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	return int32(u>>1) ^ -int32(u&1), nil
}

// text returns the n bytes just read as a string: a part of the datum's
// one copy as a string.
func (r *reader) text(n int) string {
	if len(r.s) != len(r.b) {
		r.s = string(r.b)
	}
	return r.s[r.pos-n : r.pos]
}

// bytes returns a slice of the input (not a copy).
func (r *reader) bytes() ([]byte, error) {
	l, err := r.long()
	if err != nil {
		return nil, err
	}
	if l < 0 {
		return nil, errNegative
	}
	if l > int64(len(r.b)-r.pos) {
		return nil, errShort
	}
	b := r.b[r.pos : r.pos+int(l)]
	r.pos += int(l)
	return b, nil
}

func (r *reader) fixed(n int) ([]byte, error) {
	if n > len(r.b)-r.pos {
		return nil, errShort
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// blockCount reads an array or map block header and bounds it by what the
// remaining bytes can hold.
func (r *reader) blockCount(items *node, total int) (int, error) {
	c, err := r.long()
	if err != nil {
		return 0, err
	}
	if c < 0 {
		if c == math.MinInt64 {
			return 0, errVarint
		}
		c = -c
		if _, err := r.long(); err != nil { // block size in bytes
			return 0, err
		}
	}
	limit := int64(len(r.b) - r.pos)
	if items != nil && items.zeroSize {
		// Items that take no bytes: bound them across the whole datum.
		r.zeroItems += c
		limit = maxZeroSizeItems - r.zeroItems + c
	}
	if c > limit || int64(total)+c > 1<<24 {
		return 0, errf("block count " + strconv.FormatInt(c, 10) + " exceeds the datum")
	}
	return int(c), nil
}

// unionBranch reads a union index.
func (r *reader) unionBranch(n *node) (*node, error) {
	i, err := r.long()
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(n.branches)) {
		return nil, errf("union index " + strconv.FormatInt(i, 10) + " out of range")
	}
	return n.branches[i], nil
}

// value decodes one datum of type n into our Go value.
func (r *reader) value(n *node) (any, error) {
	switch n.kind {
	case kNull:
		return nil, nil
	case kBool:
		if r.pos >= len(r.b) {
			return nil, errShort
		}
		c := r.b[r.pos]
		r.pos++
		if c > 1 {
			return nil, errf("boolean byte out of range")
		}
		return c == 1, nil
	case kInt:
		v, err := r.int()
		if err != nil {
			return nil, err
		}
		if n.conv != convNone {
			return convertInt(n, int64(v)), nil
		}
		return v, nil
	case kLong:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		if n.conv != convNone {
			return convertInt(n, v), nil
		}
		return v, nil
	case kFloat:
		b, err := r.fixed(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case kDouble:
		b, err := r.fixed(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case kBytes:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		return convertBytes(n, b)
	case kFixed:
		b, err := r.fixed(n.size)
		if err != nil {
			return nil, err
		}
		return convertBytes(n, b)
	case kString:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		return convertString(n, r.text(len(b)))
	case kEnum:
		i, err := r.int()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(n.symbols) {
			return nil, errf("enum index out of range")
		}
		return n.symbols[i], nil
	case kUnion:
		b, err := r.unionBranch(n)
		if err != nil {
			return nil, err
		}
		return r.value(b)
	case kRecord:
		if r.depth >= maxDepth {
			return nil, errTooDeep
		}
		var row Row
		var keep []bool
		if r.reuse && r.depth == 0 && r.scratch != nil {
			row = r.scratch.row(len(n.fields))
			if r.project && n.conv == convNone {
				keep = r.scratch.keep(n)
			}
		} else {
			row = make(Row, len(n.fields))
		}
		r.depth++
		for i := range n.fields {
			f := &n.fields[i]
			if keep != nil && !keep[i] {
				if err := r.skip(f.n); err != nil {
					r.depth--
					return nil, inField(f.name, err)
				}
				continue
			}
			v, err := r.value(f.n)
			if err != nil {
				r.depth--
				return nil, inField(f.name, err)
			}
			row[f.name] = v
		}
		r.depth--
		if n.conv == convVarDecimal {
			return varDecimal(row)
		}
		return row, nil
	case kArray:
		if r.depth >= maxDepth {
			return nil, errTooDeep
		}
		r.depth++
		v, err := r.array(n)
		r.depth--
		return v, err
	case kMap:
		if r.depth >= maxDepth {
			return nil, errTooDeep
		}
		r.depth++
		v, err := r.mapValue(n)
		r.depth--
		return v, err
	}
	return nil, errf("unknown avro type")
}

func (r *reader) mapValue(n *node) (any, error) {
	m := Row{}
	total := 0
	for {
		c, err := r.blockCount(n.items, total)
		if err != nil {
			return nil, err
		}
		if c == 0 {
			return m, nil
		}
		total += c
		for ; c > 0; c-- {
			k, err := r.bytes()
			if err != nil {
				return nil, err
			}
			v, err := r.value(n.items)
			if err != nil {
				return nil, inField(string(k), err)
			}
			m[string(k)] = v
		}
	}
}

func (r *reader) array(n *node) (any, error) {
	strs := n.items.kind == kString && n.items.conv == convNone
	var ss []string
	var as []any
	total := 0
	for {
		c, err := r.blockCount(n.items, total)
		if err != nil {
			return nil, err
		}
		if c == 0 {
			break
		}
		total += c
		for ; c > 0; c-- {
			if strs {
				b, err := r.bytes()
				if err != nil {
					return nil, err
				}
				ss = append(ss, r.text(len(b)))
				continue
			}
			v, err := r.value(n.items)
			if err != nil {
				return nil, err
			}
			as = append(as, v)
		}
	}
	if strs {
		if len(ss) == 1 && ss[0] == unavailableText {
			return Unavailable{}, nil
		}
		if ss == nil {
			ss = []string{}
		}
		return ss, nil
	}
	if len(as) == 1 {
		if s, ok := as[0].(Unavailable); ok {
			return s, nil
		}
	}
	if as == nil {
		as = []any{}
	}
	return as, nil
}

// skip moves past one datum of type n without building a value.
func (r *reader) skip(n *node) error {
	switch n.kind {
	case kNull:
		return nil
	case kBool:
		_, err := r.fixed(1)
		return err
	case kInt, kLong, kEnum:
		_, err := r.long()
		return err
	case kFloat:
		_, err := r.fixed(4)
		return err
	case kDouble:
		_, err := r.fixed(8)
		return err
	case kBytes, kString:
		_, err := r.bytes()
		return err
	case kFixed:
		_, err := r.fixed(n.size)
		return err
	case kUnion:
		b, err := r.unionBranch(n)
		if err != nil {
			return err
		}
		return r.skip(b)
	case kRecord:
		if r.depth >= maxDepth {
			return errTooDeep
		}
		r.depth++
		for i := range n.fields {
			if err := r.skip(n.fields[i].n); err != nil {
				r.depth--
				return inField(n.fields[i].name, err)
			}
		}
		r.depth--
		return nil
	case kArray, kMap:
		if r.depth >= maxDepth {
			return errTooDeep
		}
		r.depth++
		err := r.skipBlocks(n)
		r.depth--
		return err
	}
	return errf("unknown avro type")
}

func (r *reader) skipBlocks(n *node) error {
	total := 0
	for {
		c, err := r.blockCount(n.items, total)
		if err != nil {
			return err
		}
		if c == 0 {
			return nil
		}
		total += c
		for ; c > 0; c-- {
			if n.kind == kMap {
				if _, err := r.bytes(); err != nil {
					return err
				}
			}
			if err := r.skip(n.items); err != nil {
				return err
			}
		}
	}
}
