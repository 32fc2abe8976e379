package schema

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

// Format says how record values are encoded.
type Format int

const (
	// FormatAuto (the default) looks at each value: a first byte 0 is
	// Confluent-framed Avro, a first non-space byte '{' is JSON.
	FormatAuto Format = iota
	// FormatAvro expects every value to be Confluent-framed Avro.
	FormatAvro
	// FormatJSON expects every value to be JSON (JsonConverter, with or
	// without schemas).
	FormatJSON
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatAvro:
		return "avro"
	case FormatJSON:
		return "json"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Option configures a Decoder.
type Option func(*config)

type config struct {
	registry *sr.Client
	format   Format
	err      error
}

// WithRegistry decodes Confluent-framed Avro with schemas fetched from cl.
// Authentication and TLS are configured on cl by the caller.
func WithRegistry(cl *sr.Client) Option {
	return func(c *config) { c.registry = cl }
}

// WithRegistryURL builds the registry client from a URL and, when user is
// not empty, HTTP basic auth credentials. The password is never part of an
// error or log line. Credentials written into the URL itself
// (http://user:pass@host) are moved to basic auth.
func WithRegistryURL(rawURL, user, pass string) Option {
	return func(c *config) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			c.err = errf("schema registry url " + strconv.Quote(redactURL(rawURL)) + " is not an absolute http(s) url")
			return
		}
		if u.User != nil {
			if user == "" {
				user = u.User.Username()
				pass, _ = u.User.Password()
			}
			u.User = nil
		}
		opts := []sr.ClientOpt{sr.URLs(u.String())}
		if user != "" {
			opts = append(opts, sr.BasicAuth(user, pass))
		}
		cl, err := sr.NewClient(opts...)
		if err != nil {
			c.err = errf("schema registry client for " + strconv.Quote(u.String()) + ": " + redactText(err.Error(), pass))
			return
		}
		c.registry = cl
	}
}

// WithFormat fixes the value format instead of detecting it per record.
// Keys are always detected per record (a topic commonly has StringConverter
// keys and Avro values): Confluent-framed Avro when the key starts with byte
// 0 and has at least 5 bytes (unless the format is FormatJSON), a clear
// "unsupported" error for magic byte 1 (schema GUID), JSON when it starts
// with '{', plain text (Row{"": text}) otherwise.
func WithFormat(f Format) Option {
	return func(c *config) {
		if f < FormatAuto || f > FormatJSON {
			c.err = errf("unknown format " + f.String())
			return
		}
		c.format = f
	}
}

// Decoder turns Kafka records written by Debezium into Changes.
//
// It is safe for concurrent use by many goroutines. Writer schemas are
// fetched from the registry once per id (one request in flight per id,
// however many goroutines need it), compiled once and kept for the life of
// the Decoder; every record is decoded with its own writer schema, so a new
// schema id mid-partition needs no restart.
type Decoder struct {
	format  Format
	schemas *schemaCache
	hasReg  bool
	json    jsonSchemaCache
}

// NewDecoder returns a Decoder. Without a registry option it decodes JSON
// and tombstones only; Avro records then fail with a Retryable error
// wrapping ErrNoRegistry (a configuration problem: nothing is dead-lettered
// for it, the pipeline stalls until someone configures the registry).
func NewDecoder(opts ...Option) (*Decoder, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.err != nil {
		return nil, wrapErr("schema: new decoder", c.err)
	}
	return &Decoder{
		format:  c.format,
		schemas: newSchemaCache(c.registry),
		hasReg:  c.registry != nil,
	}, nil
}

// Decode decodes one record.
//
// A nil or empty value is a tombstone (OpTombstone, the key decoded). An
// error is an *Error: IsRetryable says whether decoding the same record
// later may succeed (the registry was unreachable or ctx ended); any other
// error is about the record itself and will not go away. Decode never
// panics on any input.
func (d *Decoder) Decode(ctx context.Context, m Message) (Change, error) {
	return d.decode(ctx, m, nil)
}

// DecodeReusing is Decode, reusing the rows of the change it returned last
// with the same scratch: the Key, Before and After maps of the change it
// returns (not the values in them, nor anything nested) are valid only
// until the next call with s. For a caller that is done with each change
// before it decodes the next (a sync's loop copies what it keeps into a
// Zoho record), it saves the allocation of a map or two a record. s is not
// safe for concurrent use; the Decoder is.
func (d *Decoder) DecodeReusing(ctx context.Context, m Message, s *Scratch) (Change, error) {
	s.used = 0
	return d.decode(ctx, m, s)
}

// Scratch holds the rows DecodeReusing hands out, to hand them out again.
// The zero value is ready to use.
type Scratch struct {
	rows []Row
	used int
	buf  []byte // KeyString's
	// only, when set (Project), are the columns the before and after rows
	// of an Avro envelope keep; keeps caches, by record schema, which of
	// its fields they are.
	only  []string
	keeps map[*node][]bool
}

// Project has DecodeReusing keep, of the before and after rows of a
// Debezium envelope in Avro, only the columns named in cols (matched
// ignoring case, as a mapping looks them up); the others are skipped over,
// not decoded, which saves most of the work on a wide table of which a
// sync maps a few columns. A value that does not decode in a column left
// out is still an error if it cannot be skipped (its length runs past the
// datum), not if it merely does not convert. nil keeps every column, as
// do the key, flattened rows (ExtractNewRecordState) and JSON.
func (s *Scratch) Project(cols []string) {
	s.only = slices.Clone(cols)
	s.keeps = nil
}

// keep returns which fields of record n the rows keep (Project), nil for
// all of them.
func (s *Scratch) keep(n *node) []bool {
	if s == nil || s.only == nil {
		return nil
	}
	if k, ok := s.keeps[n]; ok {
		return k
	}
	k := make([]bool, len(n.fields))
	for i := range n.fields {
		for _, c := range s.only {
			if strings.EqualFold(n.fields[i].name, c) {
				k[i] = true
				break
			}
		}
	}
	if s.keeps == nil {
		s.keeps = map[*node][]bool{}
	}
	s.keeps[n] = k
	return k
}

// row returns an empty row: the next one of the last decode's, else a new
// one kept for the next.
func (s *Scratch) row(hint int) Row {
	if s.used < len(s.rows) {
		r := s.rows[s.used]
		s.used++
		clear(r)
		return r
	}
	r := make(Row, hint)
	s.rows = append(s.rows, r)
	s.used++
	return r
}

func (d *Decoder) decode(ctx context.Context, m Message, s *Scratch) (Change, error) {
	ch := Change{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}

	for _, h := range m.Headers {
		switch h.Key {
		case "__key_schema_id":
			if len(m.Key) > 0 {
				return Change{}, d.fail(&m, "key", 0, wrapErr("schema id in header __key_schema_id", ErrUnsupportedFraming))
			}
		case "__value_schema_id":
			if len(m.Value) > 0 {
				return Change{}, d.fail(&m, "value", 0, wrapErr("schema id in header __value_schema_id", ErrUnsupportedFraming))
			}
		}
	}

	if len(m.Key) > 0 {
		key, rec, id, err := d.decodeKey(ctx, m.Key, s)
		if err != nil {
			return Change{}, d.fail(&m, "key", id, err)
		}
		ch.Key = key
		switch {
		case s == nil || key == nil:
			ch.KeyString = KeyString(key)
		case rec != nil && len(rec.byName) == len(key):
			// An Avro record: its columns in the order its schema sorted
			// once, each looked up, rather than the row iterated and sorted.
			s.buf = appendRecordKey(s.buf[:0], rec.byName, key)
			ch.KeyString = string(s.buf)
		default:
			s.buf = appendRow(s.buf[:0], key) // the text built in the scratch's buffer: one allocation, the string
			ch.KeyString = string(s.buf)
		}
	}

	if len(m.Value) == 0 {
		ch.Op = OpTombstone
		ch.Timestamp = m.Timestamp
		mongoChange(&ch)
		return ch, nil
	}
	id, err := d.decodeValue(ctx, &m, &ch, s)
	if err != nil {
		return Change{}, d.fail(&m, "value", id, err)
	}
	ch.SchemaID = id
	mongoChange(&ch)
	return ch, nil
}

// mongoChange applies MongoDB's conventions once the value is known: the key
// {"id": "<extended JSON>"} becomes {"_id": plain}, and a document
// flattened by ExtractNewDocumentState gets the document rules of Row.
func mongoChange(ch *Change) {
	mongo := ch.doc || ch.Source.Connector == "mongodb"
	if ch.Flattened {
		row := ch.After
		if row == nil {
			row = ch.Before
		}
		_, hasID := row["_id"]
		_, keyID := ch.Key["id"].(string)
		if mongo || hasID && keyID && len(ch.Key) == 1 {
			mongo = true
			mongoFlattened(row)
		}
	}
	if ch.Key == nil || !(mongo || ch.Op == OpTombstone) {
		return
	}
	if k := mongoKey(ch.Key, mongo); len(k) == 1 && k["_id"] != nil {
		ch.Key = k
		ch.KeyString = KeyString(k)
	}
}

func (d *Decoder) fail(m *Message, stage string, id int, err error) error {
	class := PerRecord
	if isRetryableCause(err) {
		class = Retryable
	}
	return &Error{Class: class, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, SchemaID: id, Stage: stage, Err: err}
}

// frame reads Confluent framing: magic 0 and a 4-byte big-endian id.
func frame(b []byte) (int, []byte, error) {
	if len(b) > 0 && b[0] == 1 {
		return 0, nil, wrapErr("magic byte 0x01 (schema GUID)", ErrUnsupportedFraming)
	}
	if len(b) < 5 {
		return 0, nil, wrapErr(strconv.Itoa(len(b))+" bytes are too short for Confluent framing (magic byte and 4-byte schema id)", ErrBadFraming)
	}
	if b[0] != 0 {
		return 0, nil, wrapErr("magic byte 0x"+strconv.FormatUint(uint64(b[0]), 16)+" is not 0", ErrBadFraming)
	}
	id := binary.BigEndian.Uint32(b[1:5])
	if id > 1<<31-1 {
		return 0, nil, wrapErr("schema id "+strconv.FormatUint(uint64(id), 10)+" out of range", ErrBadFraming)
	}
	return int(id), b[5:], nil
}

// decodeAvro decodes a framed datum with its writer schema. The id is
// returned as soon as it is known, for errors.
func (d *Decoder) avroDatum(ctx context.Context, b []byte) (*writerSchema, []byte, int, error) {
	id, body, err := frame(b)
	if err != nil {
		return nil, nil, 0, err
	}
	ws, err := d.schemas.get(ctx, id)
	if err != nil {
		return nil, nil, id, err
	}
	return ws, body, id, nil
}

func trailing(r *reader) error {
	if r.pos != len(r.b) {
		return errf(strconv.Itoa(len(r.b)-r.pos) + " bytes after the datum")
	}
	return nil
}

// decodeKey decodes a record's key into a row, with the Avro record schema
// it was decoded from when it is one (and not a logical type: the row holds
// its fields), and the schema id (0 when none).
func (d *Decoder) decodeKey(ctx context.Context, k []byte, s *Scratch) (Row, *node, int, error) {
	if k[0] == 1 && len(k) >= 17 && d.format != FormatJSON {
		return nil, nil, 0, wrapErr("magic byte 0x01 (schema GUID)", ErrUnsupportedFraming)
	}
	if k[0] == 0 && len(k) >= 5 && d.format != FormatJSON {
		ws, body, id, err := d.avroDatum(ctx, k)
		if err != nil {
			return nil, nil, id, err
		}
		r := &reader{b: body, scratch: s, reuse: true}
		v, err := r.value(ws.root)
		if err != nil {
			return nil, nil, id, wrapErr("avro datum", err)
		}
		if err := trailing(r); err != nil {
			return nil, nil, id, err
		}
		switch v := v.(type) {
		case nil:
			return nil, nil, id, nil
		case Row:
			if ws.root.kind == kRecord && ws.root.conv == convNone {
				return v, ws.root, id, nil
			}
			return v, nil, id, nil
		}
		return Row{"": v}, nil, id, nil
	}
	if firstNonSpace(k) == '{' {
		v, err := parseJSON(k)
		if err != nil {
			return nil, nil, 0, err
		}
		obj, _ := v.(map[string]any)
		val, sch, err := d.unwrapJSON(obj)
		if err != nil {
			return nil, nil, 0, err
		}
		var conv any
		if sch != nil {
			if conv, err = fromJSON(sch, val, 0); err != nil {
				return nil, nil, 0, err
			}
		} else {
			conv = schemaless(val, 0)
		}
		switch c := conv.(type) {
		case nil:
			return nil, nil, 0, nil
		case Row:
			return c, nil, 0, nil
		}
		return Row{"": conv}, nil, 0, nil
	}
	return plainKey(k), nil, 0, nil
}

// unwrapJSON returns the payload and compiled schema of a
// {"schema","payload"} object, or obj itself and nil when it is not one.
// A {"payload": {...}} without schema (written by several systems that
// produce Debezium-format JSON) is unwrapped too, and so is a schema that
// is null or an empty object.
func (d *Decoder) unwrapJSON(obj map[string]any) (any, *node, error) {
	payload, okP := obj["payload"]
	if !okP {
		return obj, nil, nil
	}
	if len(obj) == 1 {
		if _, isObj := payload.(map[string]any); isObj {
			return payload, nil, nil
		}
		return obj, nil, nil
	}
	sch, okS := obj["schema"]
	if len(obj) != 2 || !okS {
		return obj, nil, nil
	}
	if sm, isObj := sch.(map[string]any); sch == nil || isObj && len(sm) == 0 {
		return payload, nil, nil
	}
	raw, err := json.Marshal(sch)
	if err != nil {
		return nil, nil, wrapErr("schema", err)
	}
	n, err := d.json.get(raw)
	if err != nil {
		return nil, nil, err
	}
	return payload, n, nil
}

func (d *Decoder) decodeValue(ctx context.Context, m *Message, ch *Change, s *Scratch) (int, error) {
	v := m.Value
	format := d.format
	if format == FormatAuto {
		switch {
		case v[0] == 0 || v[0] == 1:
			format = FormatAvro
		case firstNonSpace(v) == '{':
			format = FormatJSON
		default:
			return 0, wrapErr("value is neither Confluent-framed Avro (magic byte 0) nor a JSON object (first byte 0x"+strconv.FormatUint(uint64(v[0]), 16)+
				"): set the Debezium connector's value.converter to io.confluent.connect.avro.AvroConverter or org.apache.kafka.connect.json.JsonConverter", ErrBadFraming)
		}
	}
	if format == FormatJSON {
		return 0, d.decodeJSONValue(m, ch)
	}
	if !d.hasReg {
		if _, _, err := frame(v); err != nil {
			return 0, err
		}
		return 0, &causeError{err: ErrNoRegistry, retryable: true}
	}
	ws, body, id, err := d.avroDatum(ctx, v)
	if err != nil {
		return id, err
	}
	r := &reader{b: body, scratch: s}
	if ws.env != nil {
		p, err := r.readEnvelope(ws.root, ws.env)
		if err != nil {
			return id, wrapErr("avro datum", err)
		}
		if err := trailing(r); err != nil {
			return id, err
		}
		return id, p.apply(ch, m)
	}
	r.reuse = true // a flattened row: what flatten or applyMeta read of it, they copy
	val, err := r.value(ws.root)
	if err != nil {
		return id, wrapErr("avro datum", err)
	}
	if err := trailing(r); err != nil {
		return id, err
	}
	row, ok := val.(Row)
	if !ok {
		if val == nil { // a null datum: ExtractNewRecordState's delete
			ch.Op = OpTombstone
			ch.Timestamp = m.Timestamp
			return id, nil
		}
		return id, errf("the Avro value is not a record, so neither a Debezium envelope nor a row flattened by ExtractNewRecordState")
	}
	if op := metaOp(ws.root.name, m.Topic, row); op != 0 {
		applyMeta(op, row, ch, m)
		return id, nil
	}
	return id, flatten(row, ch, m)
}

func (d *Decoder) decodeJSONValue(m *Message, ch *Change) error {
	v, err := parseJSON(m.Value)
	if err != nil {
		return err
	}
	if v == nil { // the JSON literal null
		ch.Op = OpTombstone
		ch.Timestamp = m.Timestamp
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errf("JSON value is not an object, so not a Debezium change event: zohosink reads values written by JsonConverter (with or without schemas.enable) or AvroConverter")
	}
	payload, sch, err := d.unwrapJSON(obj)
	if err != nil {
		return err
	}
	if payload == nil {
		ch.Op = OpTombstone
		ch.Timestamp = m.Timestamp
		return nil
	}
	pobj, ok := payload.(map[string]any)
	if !ok {
		return errf("payload is not an object, so not a Debezium change event")
	}
	if sch != nil && sch.kind != kRecord {
		return errf("the schema of the payload is a Connect " + kindName(sch.kind) + ", not a struct: not a Debezium change event")
	}
	name := ""
	if sch != nil {
		name = sch.name
	}
	if op := metaOp(name, m.Topic, pobj); op != 0 {
		applyMeta(op, lenientRecord(sch, pobj), ch, m)
		return nil
	}
	var names map[string]bool
	if sch != nil {
		names = make(map[string]bool, len(sch.fields))
		for _, f := range sch.fields {
			names[f.name] = true
		}
	} else {
		names = make(map[string]bool, len(pobj))
		for k := range pobj {
			names[k] = true
		}
	}
	if isEnvelope(names) {
		row, err := envelopeRecord(sch, pobj)
		if err != nil {
			return wrapErr("payload", err)
		}
		p := partsFromRow(row)
		return p.apply(ch, m)
	}
	var conv any
	if sch != nil {
		if conv, err = fromJSON(sch, pobj, 0); err != nil {
			return wrapErr("payload", err)
		}
	} else {
		conv = schemaless(pobj, 0)
	}
	row, ok := conv.(Row)
	if !ok {
		return errf("payload is not an object")
	}
	return flatten(row, ch, m)
}

// envelopeRecord converts an envelope payload: before and after strictly
// (their values are what a sink writes), everything else (source,
// transaction, ts_ms, Debezium's additions) leniently: a field whose value
// does not match its declared type is taken as schemaless JSON rather than
// failing the record, since nothing is written from it.
func envelopeRecord(sch *node, obj map[string]any) (Row, error) {
	if sch == nil {
		row, _ := schemaless(obj, 0).(Row)
		return row, nil
	}
	row := make(Row, len(obj))
	for _, f := range sch.fields {
		raw := obj[f.name]
		switch f.name {
		case "before", "after":
			v, err := fromJSON(f.n, raw, 1)
			if err != nil {
				return nil, inField(f.name, err)
			}
			row[f.name] = v
		default:
			row[f.name] = lenientValue(f.n, raw)
		}
	}
	for k, x := range obj { // payload fields the schema does not list
		if _, done := row[k]; !done {
			row[k] = schemaless(x, 1)
		}
	}
	return row, nil
}

// lenientRecord converts a record whose values are only read for metadata.
func lenientRecord(sch *node, obj map[string]any) Row {
	if sch == nil {
		row, _ := schemaless(obj, 0).(Row)
		return row
	}
	row, ok := lenientValue(sch, obj).(Row)
	if !ok {
		row, _ = schemaless(obj, 0).(Row)
	}
	return row
}

func lenientValue(n *node, v any) any {
	if n.kind == kRecord {
		if obj, ok := v.(map[string]any); ok && n.conv == convNone {
			row := make(Row, len(obj))
			for _, f := range n.fields {
				row[f.name] = lenientValue(f.n, obj[f.name])
			}
			for k, x := range obj {
				if _, done := row[k]; !done {
					row[k] = schemaless(x, 1)
				}
			}
			return row
		}
	}
	c, err := fromJSON(n, v, 1)
	if err != nil {
		return schemaless(v, 1)
	}
	return c
}

func kindName(k kind) string {
	switch k {
	case kArray:
		return "array"
	case kMap:
		return "map"
	case kRecord:
		return "struct"
	}
	return "primitive"
}

// redactURL removes a password from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}

func redactText(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "xxxxx")
}
