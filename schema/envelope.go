package schema

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// The Debezium envelope and records flattened by ExtractNewRecordState.
//
// An envelope is recognised by shape, never by name: a record with an "op"
// field and a "before", "after", "source" or "message" field (schemaless
// truncate and message events carry no before/after). Anything else is a
// flattened row.

type envRole uint8

const (
	envOther envRole = iota
	envBefore
	envAfter
	envSource
	envOp
	envTsMs
	envTsUs
	envTsNs
	envTx
	envMessage
	envPatch // MongoDB's patch (1.x) and updateDescription (2.x)
)

type srcRole uint8

const (
	srcOther srcRole = iota
	srcConnector
	srcName
	srcDB
	srcSchema
	srcTable
	srcSnapshot
	srcTsMs
	srcLSN
	srcFile
	srcPos
	srcTxID
)

var envRoles = map[string]envRole{
	"before": envBefore, "after": envAfter, "source": envSource, "op": envOp,
	"ts_ms": envTsMs, "ts_us": envTsUs, "ts_ns": envTsNs,
	"transaction": envTx, "message": envMessage,
	"patch": envPatch, "updateDescription": envPatch,
}

var srcRoles = map[string]srcRole{
	"connector": srcConnector, "name": srcName, "db": srcDB, "schema": srcSchema,
	"table": srcTable, "snapshot": srcSnapshot, "ts_ms": srcTsMs, "lsn": srcLSN,
	"file": srcFile, "pos": srcPos, "txId": srcTxID,
	"collection": srcTable, // MongoDB
}

// envelopeShape is what the decoder needs to read an envelope fast: the role
// of each top-level field and, when source is a plain record, of each of its
// fields.
type envelopeShape struct {
	roles    []envRole
	source   *node // the source record, or nil to go through a Row
	srcRoles []srcRole
}

func isEnvelope(fields map[string]bool) bool {
	return fields["op"] && (fields["before"] || fields["after"] || fields["source"] || fields["message"])
}

// envelopeOf returns the envelope shape of root, or nil when root is not an
// envelope.
func envelopeOf(root *node) *envelopeShape {
	if root.kind != kRecord {
		return nil
	}
	names := make(map[string]bool, len(root.fields))
	for _, f := range root.fields {
		names[f.name] = true
	}
	if !isEnvelope(names) {
		return nil
	}
	e := &envelopeShape{roles: make([]envRole, len(root.fields))}
	for i, f := range root.fields {
		e.roles[i] = envRoles[f.name]
		if e.roles[i] == envSource && f.n.kind == kRecord {
			e.source = f.n
			e.srcRoles = make([]srcRole, len(f.n.fields))
			for j, sf := range f.n.fields {
				e.srcRoles[j] = srcRoles[sf.name]
			}
		}
	}
	return e
}

// envParts is an envelope taken apart.
type envParts struct {
	before, after any
	src           Source
	srcTxID       string
	op            string
	tsMs          int64
	tsUs          int64
	tsNs          int64
	txID          string
	msg           any
	patch         any // MongoDB: what an update changed, when present
}

// readEnvelope decodes an envelope datum with shape e.
func (r *reader) readEnvelope(root *node, e *envelopeShape) (envParts, error) {
	var p envParts
	for i := range root.fields {
		f := &root.fields[i]
		var err error
		switch e.roles[i] {
		case envOther:
			err = r.skip(f.n)
		case envSource:
			if e.source != nil {
				err = r.readSource(e, &p)
			} else {
				var v any
				if v, err = r.value(f.n); err == nil {
					if row, ok := v.(Row); ok {
						sourceFromRow(row, &p)
					}
				}
			}
		case envOp, envTsMs, envTsUs, envTsNs:
			var m metaVal
			if m, err = r.meta(f.n); err == nil {
				p.setMeta(e.roles[i], m)
			}
		default:
			var v any
			// before and after become the change's rows; the other parts
			// are read into the change, not kept.
			r.reuse = e.roles[i] == envBefore || e.roles[i] == envAfter
			r.project = r.reuse
			v, err = r.value(f.n)
			r.reuse, r.project = false, false
			if err == nil {
				p.set(e.roles[i], v)
			}
		}
		if err != nil {
			return p, inField(f.name, err)
		}
	}
	return p, nil
}

func (p *envParts) set(role envRole, v any) {
	switch role {
	case envBefore:
		p.before = v
	case envAfter:
		p.after = v
	case envOp:
		p.op, _ = v.(string)
	case envTsMs:
		p.tsMs, _ = toInt64(v)
	case envTsUs:
		p.tsUs, _ = toInt64(v)
	case envTsNs:
		p.tsNs, _ = toInt64(v)
	case envTx:
		if row, ok := v.(Row); ok {
			p.txID = textOf(row["id"])
		}
	case envMessage:
		p.msg = v
	case envPatch:
		if v != nil {
			p.patch = v
		}
	}
}

func (r *reader) readSource(e *envelopeShape, p *envParts) error {
	n := e.source
	for j := range n.fields {
		f := &n.fields[j]
		role := e.srcRoles[j]
		if role == srcOther {
			if err := r.skip(f.n); err != nil {
				return inField(f.name, err)
			}
			continue
		}
		m, err := r.meta(f.n)
		if err != nil {
			return inField(f.name, err)
		}
		switch m.kind {
		case metaNull:
		case metaText:
			p.setSourceText(role, m.s)
		case metaInt:
			p.setSourceInt(role, m.i)
		default:
			p.setSource(role, m.v)
		}
	}
	return nil
}

// metaVal is an envelope or source field read without boxing when it is
// text or an integer (the common case), else the decoded value.
type metaVal struct {
	kind uint8
	s    string
	i    int64
	v    any
}

const (
	metaNull uint8 = iota
	metaText
	metaInt
	metaOther
)

func (r *reader) meta(n *node) (metaVal, error) {
	if n.kind == kUnion {
		b, err := r.unionBranch(n)
		if err != nil {
			return metaVal{}, err
		}
		n = b
	}
	if n.conv == convNone {
		switch n.kind {
		case kNull:
			return metaVal{}, nil
		case kString:
			b, err := r.bytes()
			if err != nil {
				return metaVal{}, err
			}
			return metaVal{kind: metaText, s: r.text(len(b))}, nil
		case kLong:
			v, err := r.long()
			return metaVal{kind: metaInt, i: v}, err
		case kInt:
			v, err := r.int()
			return metaVal{kind: metaInt, i: int64(v)}, err
		}
	}
	v, err := r.value(n)
	if v == nil {
		return metaVal{}, err
	}
	return metaVal{kind: metaOther, v: v}, err
}

func (p *envParts) setMeta(role envRole, m metaVal) {
	switch m.kind {
	case metaNull:
	case metaText:
		if role == envOp {
			p.op = m.s
		} else if i, err := strconv.ParseInt(m.s, 10, 64); err == nil {
			p.set(role, i)
		}
	case metaInt:
		switch role {
		case envTsMs:
			p.tsMs = m.i
		case envTsUs:
			p.tsUs = m.i
		case envTsNs:
			p.tsNs = m.i
		}
	default:
		p.set(role, m.v)
	}
}

func (p *envParts) setSourceText(role srcRole, s string) {
	switch role {
	case srcTsMs, srcLSN, srcPos:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			p.setSourceInt(role, i)
		}
	case srcConnector:
		p.src.Connector = s
	case srcName:
		p.src.Name = s
	case srcDB:
		p.src.DB = s
	case srcSchema:
		p.src.Schema = s
	case srcTable:
		p.src.Table = s
	case srcSnapshot:
		p.src.Snapshot = s
	case srcFile:
		p.src.File = s
	case srcTxID:
		p.srcTxID = s
	}
}

func (p *envParts) setSourceInt(role srcRole, i int64) {
	switch role {
	case srcTsMs:
		p.src.TsMs = i
	case srcLSN:
		p.src.LSN = i
	case srcPos:
		p.src.Pos = i
	case srcTxID:
		p.srcTxID = strconv.FormatInt(i, 10)
	default:
		p.setSourceText(role, strconv.FormatInt(i, 10))
	}
}

func (p *envParts) setSource(role srcRole, v any) {
	s := &p.src
	switch role {
	case srcConnector:
		s.Connector = textOf(v)
	case srcName:
		s.Name = textOf(v)
	case srcDB:
		s.DB = textOf(v)
	case srcSchema:
		s.Schema = textOf(v)
	case srcTable:
		s.Table = textOf(v)
	case srcSnapshot:
		s.Snapshot = textOf(v)
	case srcTsMs:
		s.TsMs, _ = toInt64(v)
	case srcLSN:
		s.LSN, _ = toInt64(v)
	case srcFile:
		s.File = textOf(v)
	case srcPos:
		s.Pos, _ = toInt64(v)
	case srcTxID:
		p.srcTxID = textOf(v)
	}
}

func sourceFromRow(row Row, p *envParts) {
	for k, v := range row {
		if role := srcRoles[k]; role != srcOther {
			p.setSource(role, v)
		}
	}
}

// partsFromRow takes apart an envelope that arrived as JSON.
func partsFromRow(row Row) envParts {
	var p envParts
	for k, v := range row {
		switch role := envRoles[k]; role {
		case envOther:
		case envSource:
			if src, ok := v.(Row); ok {
				sourceFromRow(src, &p)
			}
		default:
			p.set(role, v)
		}
	}
	return p
}

// LogicalMessage is the message block of an op "m" event: a PostgreSQL
// logical decoding message written with pg_logical_emit_message.
type LogicalMessage struct {
	Prefix  string
	Content []byte
}

// apply fills ch from an envelope.
func (p *envParts) apply(ch *Change, m *Message) error {
	switch p.op {
	case "c":
		ch.Op = OpCreate
	case "r":
		ch.Op = OpRead
	case "u":
		ch.Op = OpUpdate
	case "d":
		ch.Op = OpDelete
	case "t":
		ch.Op = OpTruncate
	case "m":
		ch.Op = OpMessage
	default:
		return errf("envelope op " + strconv.Quote(truncate(p.op)) + " is not one of c, r, u, d, t, m")
	}
	var err error
	if ch.Before, err = rowOf("before", p.before, &ch.doc); err != nil {
		return err
	}
	if ch.After, err = rowOf("after", p.after, &ch.doc); err != nil {
		return err
	}
	if ch.Op == OpUpdate && ch.After == nil && p.patch != nil {
		return errf("MongoDB update event carries only what changed (patch/updateDescription), not the document: " +
			"set the Debezium MongoDB connector's capture.mode to change_streams_update_full " +
			"(or change_streams_update_full_with_pre_image) so that after holds the whole document")
	}
	ch.Source = p.src
	ch.Source.TxID = p.txID
	if ch.Source.TxID == "" {
		ch.Source.TxID = p.srcTxID
	}
	switch {
	case p.src.TsMs > 0:
		ch.Timestamp = time.UnixMilli(p.src.TsMs).UTC()
	case p.tsMs > 0:
		ch.Timestamp = time.UnixMilli(p.tsMs).UTC()
	case p.tsUs > 0:
		ch.Timestamp = time.UnixMicro(p.tsUs).UTC()
	case p.tsNs > 0:
		ch.Timestamp = time.Unix(0, p.tsNs).UTC()
	default:
		ch.Timestamp = m.Timestamp
	}
	if msg, ok := p.msg.(Row); ok {
		lm := &LogicalMessage{Prefix: textOf(msg["prefix"])}
		switch c := msg["content"].(type) {
		case []byte:
			lm.Content = c
		case string: // schemaless JSON: bytes travel as base64
			if b, err := base64.StdEncoding.DecodeString(c); err == nil {
				lm.Content = b
			} else {
				lm.Content = []byte(c)
			}
		}
		ch.Message = lm
	}
	return nil
}

// rowOf reads before or after: a record, or the extended JSON text of a
// MongoDB document (doc is then set).
func rowOf(name string, v any, doc *bool) (Row, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case Row:
		return v, nil
	case Unavailable:
		return nil, errf("envelope " + name + " is the TOAST placeholder, not a row")
	}
	if s, ok := isDocumentText(v); ok {
		row, err := mongoDocument(s)
		if err != nil {
			return nil, inField(name, err)
		}
		*doc = true
		return row, nil
	}
	return nil, errf("envelope " + name + " is neither a record nor a MongoDB document (extended JSON text)")
}

// flatten fills ch from a row flattened by ExtractNewRecordState, by the
// rules documented on Change.Flattened.
func flatten(row Row, ch *Change, m *Message) error {
	ch.Flattened = true
	var deleted bool
	op := ""
	var p envParts
	var evTs int64
	for k, v := range row {
		if !strings.HasPrefix(k, "__") {
			continue
		}
		delete(row, k)
		name := k[2:]
		switch name {
		case "deleted":
			switch d := v.(type) {
			case string:
				deleted = d == "true"
			case bool:
				deleted = d
			}
			continue
		case "op":
			op = textOf(v)
			continue
		case "ts_ms", "event_ts_ms":
			evTs, _ = toInt64(v)
			continue
		case "transaction_id":
			p.txID = textOf(v)
			continue
		}
		name = strings.TrimPrefix(name, "source_")
		if role := srcRoles[name]; role != srcOther {
			p.setSource(role, v)
		}
	}
	switch op {
	case "", "c":
		ch.Op = OpCreate
	case "r":
		ch.Op = OpRead
	case "u":
		ch.Op = OpUpdate
	case "d":
		deleted = true
	case "t":
		ch.Op = OpTruncate
	default:
		return errf("__op " + strconv.Quote(truncate(op)) + " is not one of c, r, u, d, t")
	}
	if deleted {
		ch.Op = OpDelete
		ch.Before = row
	} else {
		ch.After = row
	}
	ch.Source = p.src
	ch.Source.TxID = p.txID
	if ch.Source.TxID == "" {
		ch.Source.TxID = p.srcTxID
	}
	switch {
	case p.src.TsMs > 0:
		ch.Timestamp = time.UnixMilli(p.src.TsMs).UTC()
	case evTs > 0:
		ch.Timestamp = time.UnixMilli(evTs).UTC()
	default:
		ch.Timestamp = m.Timestamp
	}
	return nil
}

// textOf renders metadata (names, snapshot markers, ids) as text.
func textOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return string(v)
	case Decimal:
		return v.String()
	}
	return ""
}

// toInt64 reads an integer from metadata that may arrive as int, text or a
// JSON number.
func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case Decimal:
		if v.Scale == 0 && v.Unscaled != nil && v.Unscaled.IsInt64() {
			return v.Unscaled.Int64(), true
		}
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	}
	return 0, false
}
