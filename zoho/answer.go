package zoho

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// writeAnswer is the answer to an insert, update, upsert, delete or tag
// call: data[] straight into items, or a top-level error object.
type writeAnswer struct {
	Data    []apiItem      `json:"data"`
	Code    string         `json:"code"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// decodeWriteAnswer reads a write's answer into wb. Zoho's usual answer (a
// data[] of items of plain strings and a details object) is read by a small
// scanner without reflection, about ten times cheaper than encoding/json on a
// 100-record answer; anything it is not sure of (escapes in the strings it
// keeps, keys that differ from the field names only by case, a top-level
// details object, duplicate keys, any syntax error) is left to
// encoding/json, so the result is always exactly json.Unmarshal's.
func decodeWriteAnswer(raw []byte, wb *writeAnswer) error {
	if scanWriteAnswer(raw, wb) {
		return nil
	}
	*wb = writeAnswer{}
	return json.Unmarshal(raw, wb)
}

// scanWriteAnswer is the fast path of decodeWriteAnswer: it reports false
// (leaving wb in any state) for any input it does not read exactly as
// encoding/json would.
func scanWriteAnswer(b []byte, wb *writeAnswer) bool {
	p := scanner{b: b}
	const (
		seenData = 1 << iota
		seenCode
		seenStatus
		seenMessage
		seenDetails
	)
	var seen uint8
	once := func(bit uint8) bool {
		if seen&bit != 0 {
			return false // a duplicate key: left to encoding/json
		}
		seen |= bit
		return true
	}
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "data":
			return once(seenData) && p.items(&wb.Data)
		case "code":
			return once(seenCode) && p.stringInto(&wb.Code)
		case "status":
			return once(seenStatus) && p.stringInto(&wb.Status)
		case "message":
			return once(seenMessage) && p.stringInto(&wb.Message)
		case "details":
			return once(seenDetails) && p.null() // an error's details: encoding/json reads them
		}
		return !foldsTo(key, "data", "code", "status", "message", "details") && p.skip(0)
	})
	if !ok {
		return false
	}
	p.ws()
	return p.i == len(b)
}

// items reads data[]: an array of item objects, or null.
func (p *scanner) items(out *[]apiItem) bool {
	p.ws()
	if p.null() {
		*out = nil
		return true
	}
	if !p.eat('[') {
		return false
	}
	var items []apiItem
	if p, _ := itemsPool.Get().(*[]apiItem); p != nil {
		items = (*p)[:0]
	} else {
		items = make([]apiItem, 0, MaxRecordsPerCall)
	}
	p.ws()
	if p.eat(']') {
		*out = items
		return true
	}
	for {
		items = append(items, apiItem{})
		if !p.item(&items[len(items)-1]) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			*out = items
			return true
		}
		return false
	}
}

// item reads one item of data[].
func (p *scanner) item(it *apiItem) bool {
	p.ws()
	var seen uint8
	once := func(bit uint8) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "code":
			return once(1) && p.stringInto(&it.Code)
		case "status":
			return once(2) && p.stringInto(&it.Status)
		case "message":
			return once(4) && p.stringInto(&it.Message)
		case "action":
			return once(8) && p.stringInto(&it.Action)
		case "details":
			return once(16) && p.details(&it.Details)
		case "duplicate_field":
			if !once(32) {
				return false
			}
			p.ws()
			if p.null() {
				it.DuplicateField = nil
				return true
			}
			s, ok := p.plainString()
			if ok {
				v := internAnswer(s)
				it.DuplicateField = &v
			}
			return ok
		}
		return !foldsTo(key, "code", "status", "message", "action", "details", "duplicate_field") && p.skip(0)
	})
}

// details reads an item's details object: its raw bytes (a part of the
// answer buffer, valid until the reply is released: detailsMap copies what
// is kept) and its id when a string, as
// itemDetails.UnmarshalJSON does.
func (p *scanner) details(d *itemDetails) bool {
	p.ws()
	start := p.i
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false // null or not an object: left to encoding/json
	}
	seenID := false
	ok := p.object(func(key []byte) bool {
		if string(key) == "id" {
			if seenID {
				return false
			}
			seenID = true
			p.ws()
			if p.null() {
				return true
			}
			s, ok := p.plainString()
			if ok {
				d.id = string(s)
			}
			return ok
		}
		return !foldsTo(key, "id") && p.skip(0)
	})
	if ok {
		d.raw = p.b[start:p.i]
	}
	return ok
}

// stringInto reads a plain string (or null, which leaves *s as it is, as
// encoding/json does) into *s.
func (p *scanner) stringInto(s *string) bool {
	p.ws()
	if p.null() {
		return true
	}
	v, ok := p.plainString()
	if ok {
		*s = internAnswer(v)
	}
	return ok
}

// internAnswer returns the common values of answers without allocating.
func internAnswer(b []byte) string {
	switch string(b) {
	case "SUCCESS":
		return "SUCCESS"
	case "success":
		return "success"
	case "error":
		return "error"
	case "record added":
		return "record added"
	case "record updated":
		return "record updated"
	case "record deleted":
		return "record deleted"
	case "insert":
		return "insert"
	case "update":
		return "update"
	case "Email":
		return "Email"
	}
	return string(b)
}

// foldsTo reports whether key, which is none of names exactly, could still
// name one of them for encoding/json (which matches keys ignoring case, with
// Unicode folding): any non-ASCII key counts, so the caller gives up.
func foldsTo(key []byte, names ...string) bool {
	// ASCII folds to ASCII of one length: only a name of the key's length
	// can match an ASCII key.
	for _, n := range names {
		if len(n) == len(key) && strings.EqualFold(string(key), n) {
			return true
		}
	}
	return !isASCII(key)
}

const (
	ones8  = 0x0101010101010101
	highs8 = 0x8080808080808080
)

// isASCII reports whether b is all ASCII, 8 bytes at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&highs8 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// stringStops returns, for the 8 bytes of w (a word of a string's bytes,
// little-endian), a mask whose lowest set bit is the high bit of the first
// byte that ends a plain run (a quote, a backslash or a control character:
// strClass 1), or 0 when none does. (x - 0x01…) &^ x & 0x80… flags the zero
// bytes of x and (x - 0x20…) &^ x & 0x80… the bytes below 0x20: a borrow
// only runs upwards, so the lowest flag of each is exact (a higher one may
// not be).
func stringStops(w uint64) uint64 {
	q := w ^ ('"' * ones8)
	bs := w ^ ('\\' * ones8)
	return ((w-0x20*ones8)&^w | (q-ones8)&^q | (bs-ones8)&^bs) & highs8
}

// scanner reads JSON strictly (RFC 8259, as encoding/json's own checker),
// reporting false on anything else.
type scanner struct {
	b []byte
	i int
}

// maxScanDepth bounds the nesting the scanner skips; deeper input is left
// to encoding/json.
const maxScanDepth = 100

// ws skips white space. Zoho's answers have none between tokens: the
// common case is one comparison, inlined.
func (p *scanner) ws() {
	if p.i < len(p.b) && p.b[p.i] > ' ' {
		return
	}
	p.wsSlow()
}

func (p *scanner) wsSlow() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// null reads the literal null.
func (p *scanner) null() bool {
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// object reads an object, calling member for each key with the scanner
// before the key's value; member reads the value.
func (p *scanner) object(member func(key []byte) bool) bool {
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') || !member(key) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

// strClass classifies the bytes of a JSON string for the scanner's loops:
// 0 plain ASCII, 1 one that ends a plain run (a quote, a backslash, a
// control character), 2 the start or part of a multi-byte character.
var strClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == '"' || c == '\\' || c < 0x20:
			t[c] = 1
		case c >= utf8.RuneSelf:
			t[c] = 2
		}
	}
	return t
}()

// plainString reads a string with no escapes that is valid UTF-8 and
// returns its bytes (a part of the input).
func (p *scanner) plainString() ([]byte, bool) {
	b := p.b
	if p.i >= len(b) || b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	ascii := true
	j := start
	for len(b)-j >= 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		m := stringStops(w)
		if m == 0 {
			if w&highs8 != 0 {
				ascii = false
			}
			j += 8
			continue
		}
		if w&highs8&(m&-m-1) != 0 { // a byte of 0x80 or more before the stop
			ascii = false
		}
		j += bits.TrailingZeros64(m) / 8
		break
	}
	for ; j < len(b); j++ {
		switch strClass[b[j]] {
		case 0:
			continue
		case 2:
			ascii = false
			continue
		}
		if b[j] != '"' {
			return nil, false // an escape or a control character
		}
		s := b[start:j]
		if !ascii && !utf8.Valid(s) {
			return nil, false // encoding/json would replace the invalid bytes
		}
		p.i = j + 1
		return s, true
	}
	return nil, false
}

// skip reads any value.
func (p *scanner) skip(depth int) bool {
	p.ws()
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; c {
	case '{':
		if depth >= maxScanDepth {
			return false
		}
		p.i++
		p.ws()
		if p.eat('}') {
			return true
		}
		for {
			p.ws()
			if !p.skipString() {
				return false
			}
			p.ws()
			if !p.eat(':') || !p.skip(depth+1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat('}')
		}
	case '[':
		if depth >= maxScanDepth {
			return false
		}
		p.i++
		p.ws()
		if p.eat(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	case '"':
		return p.skipString()
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	}
	return p.number()
}

func (p *scanner) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// skipString reads any valid string.
func (p *scanner) skipString() bool {
	if !p.eat('"') {
		return false
	}
	b, i := p.b, p.i
	for i < len(b) {
		if len(b)-i >= 8 {
			m := stringStops(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		c := b[i]
		i++
		if strClass[c] != 1 {
			continue
		}
		switch {
		case c == '"':
			p.i = i
			return true
		case c < 0x20:
			return false
		}
		// A backslash.
		if i >= len(b) {
			return false
		}
		e := b[i]
		i++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if len(b)-i < 4 {
				return false
			}
			for _, h := range b[i : i+4] {
				if !isHex(h) {
					return false
				}
			}
			i += 4
		default:
			return false
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a number (numberEnd).
func (p *scanner) number() bool {
	end, ok := numberEnd(p.b, p.i)
	if ok {
		p.i = end
	}
	return ok
}
