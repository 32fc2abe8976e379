package connector

import (
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"strings"
	"zohosink/connector/config"

	"zohosink/schema"
	"zohosink/zoho"
)

// action is what a sync does with one change, per the mode table of
// docs/design.md, "What each mode does with each change".
type action int

const (
	actSkip        action = iota
	actUpsert             // upsert (+ add tag for audiences)
	actInsert             // insert
	actUpdate             // update the record found by match_on
	actDelete             // remove_action delete
	actUntag              // remove_action untag
	actClearFields        // remove_action clear_fields
)

func (a action) String() string {
	return [...]string{"skip", "upsert", "insert", "update", "delete", "untag", "clear_fields"}[a]
}

// operation is the Zoho operation an action is written with, for metrics and
// dead-letter headers.
func (a action) operation() zoho.Operation {
	switch a {
	case actUpsert:
		return zoho.OpUpsert
	case actInsert:
		return zoho.OpInsert
	case actUpdate, actClearFields:
		return zoho.OpUpdate
	case actDelete:
		return zoho.OpDelete
	case actUntag:
		return zoho.OpRemoveTags
	}
	return ""
}

// needsID reports whether the action writes to a record found by match_on.
func (a action) needsID() bool {
	return a == actUpdate || a == actDelete || a == actUntag || a == actClearFields
}

// actionFor applies the mode table (docs/design.md).
func actionFor(typ, mode, removeAction string, op schema.Op) action {
	create := op == schema.OpCreate || op == schema.OpRead
	update := op == schema.OpUpdate
	del := op == schema.OpDelete
	remove := func() action {
		switch removeAction {
		case "delete":
			return actDelete
		case "untag":
			return actUntag
		case "clear_fields":
			return actClearFields
		}
		return actSkip
	}
	switch typ + "/" + mode {
	case "model/upsert":
		if create || update {
			return actUpsert
		}
	case "model/insert":
		if create {
			return actInsert
		}
	case "model/update":
		if create || update {
			return actUpdate
		}
	case "audience/add":
		if create {
			return actUpsert
		}
	case "audience/upsert":
		if create || update {
			return actUpsert
		}
	case "audience/remove":
		if del {
			return remove()
		}
	case "audience/mirror":
		if create || update {
			return actUpsert
		}
		if del {
			return remove()
		}
	}
	return actSkip
}

// skipReason names why the mode table skips a change, for metrics.
func skipReason(op schema.Op) string {
	switch op {
	case schema.OpTombstone:
		return "tombstone"
	case schema.OpTruncate:
		return "truncate"
	case schema.OpMessage:
		return "message"
	case schema.OpHeartbeat, schema.OpTransaction, schema.OpSchemaChange:
		return op.String() // heartbeat, transaction, schema_change
	}
	return "mode"
}

// notRowsWarning says, once per topic, why a topic of Debezium's metadata
// (heartbeats, transaction markers, schema changes) writes nothing: a sync
// pointed at it by mistake must not look as if it silently lost records.
func notRowsWarning(op schema.Op) string {
	switch op {
	case schema.OpHeartbeat:
		return "the topic carries Debezium heartbeats, not row changes: nothing of it is written (they are skipped and counted as reason heartbeat); remove it from the sync's topics"
	case schema.OpTransaction:
		return "the topic carries Debezium transaction markers (BEGIN/END), not row changes: nothing of it is written (skipped and counted as reason transaction); remove it from the sync's topics"
	case schema.OpSchemaChange:
		return "the topic carries Debezium schema changes (DDL), not row changes: nothing of it is written (skipped and counted as reason schema_change); remove it from the sync's topics"
	}
	return ""
}

// fieldMapping maps one source column to one Zoho field.
type fieldMapping struct {
	Field  string
	Column string
	Type   *zoho.Field // nil when the field's Zoho type is unknown
}

// mapper turns decoded changes into Zoho records for one sync. It holds no
// mutable state: the sync's loop and its writes (remapping slim entries)
// use it at once.
type mapper struct {
	cfg       *config.SyncConfig
	fields    []fieldMapping
	constants zoho.Record
	required  []string // fields that must not be null or empty on writes that may create
	matchOn   []string
	// matchPrefix is strings.ToLower(matchOn[i] + "="): ToLower works rune
	// by rune and "=" ends any rune, so the lower-cased prefix and value
	// concatenated are the lower-cased concatenation.
	matchPrefix []string
	seed        maphash.Seed
	// lookups: some field or constant is a lookup, so a record may hold a
	// lookupName for resolveLookups to turn into an id.
	lookups bool
}

// newMapper builds the mapper of a sync. types gives the Zoho type of the
// module's fields (from the fields metadata API, else built-in knowledge).
func newMapper(cfg *config.SyncConfig, types map[string]*zoho.Field) *mapper {
	m := &mapper{cfg: cfg, constants: zoho.Record{}, matchOn: cfg.MatchOn, seed: maphash.MakeSeed()}
	for _, f := range cfg.MatchOn {
		m.matchPrefix = append(m.matchPrefix, strings.ToLower(f+"="))
	}
	names := make([]string, 0, len(cfg.Fields))
	for f := range cfg.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		m.fields = append(m.fields, fieldMapping{Field: f, Column: cfg.Fields[f], Type: types[f]})
	}
	for k, v := range cfg.Constants {
		fv, err := formatValue(v, types[k])
		if err != nil {
			fv = v // Validate reports constants Zoho cannot take; keep the value as given
		}
		m.constants[k] = fv
		if _, ok := fv.(lookupName); ok {
			m.lookups = true
		}
	}
	for _, fm := range m.fields {
		if fm.Type != nil && (fm.Type.DataType == "lookup" || fm.Type.DataType == "ownerlookup") {
			m.lookups = true // asLookupID gives a lookupName for a value that is not an id
		}
	}
	if info, ok := config.Module(cfg.Module); ok {
		m.required = info.RequiredFields
	}
	return m
}

// columns are the columns the mapper reads from rows: a decode need not
// decode the others (schema.Scratch.Project).
func (m *mapper) columns() []string {
	cols := make([]string, 0, len(m.fields))
	for _, fm := range m.fields {
		cols = append(cols, fm.Column)
	}
	return cols
}

// column finds a column in a row, by exact name first, then ignoring case.
func column(row schema.Row, name string) (any, bool) {
	if v, ok := row[name]; ok {
		return v, true
	}
	for k, v := range row {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// mapRow builds the Zoho record of a row: mapped columns, then constants.
// Unchanged TOASTed columns are left out, so Zoho keeps what it has.
// Columns missing from the row are an error for explicitly mapped fields and
// left out for default ones (a table need not have every default column).
func (m *mapper) mapRow(row schema.Row, checkRequired bool) (zoho.Record, error) {
	rec := make(zoho.Record, len(m.fields)+len(m.constants))
	for _, fm := range m.fields {
		v, ok := column(row, fm.Column)
		if !ok {
			if m.cfg.FieldsDefaulted {
				continue
			}
			return nil, &mapError{Field: fm.Field, Msg: fmt.Sprintf("column %q is not in the row (columns: %s)", fm.Column, columnList(row)), missing: true}
		}
		if _, unavailable := v.(schema.Unavailable); unavailable {
			continue
		}
		fv, err := formatValue(v, fm.Type)
		if err != nil {
			return nil, &mapError{Field: fm.Field, Msg: fmt.Sprintf("column %q: %v", fm.Column, err)}
		}
		rec[fm.Field] = fv
	}
	for k, v := range m.constants {
		rec[k] = v
	}
	if checkRequired {
		for _, f := range m.required {
			if _, mapped := m.cfg.Fields[f]; !mapped {
				if _, constant := m.cfg.Constants[f]; !constant {
					continue // not mapped (update syncs need not map it): Zoho keeps its value
				}
			}
			v, present := rec[f]
			if !present && m.hasUnavailable(row, f) {
				continue // a TOASTed required column is unchanged, not empty
			}
			if isEmpty(v) {
				return nil, &mapError{Field: f, Msg: fmt.Sprintf("required field %s is empty (module %s requires it)", f, m.cfg.Module)}
			}
		}
	}
	return rec, nil
}

func (m *mapper) hasUnavailable(row schema.Row, field string) bool {
	col := m.cfg.Fields[field]
	if col == "" {
		return false
	}
	v, _ := column(row, col)
	_, u := v.(schema.Unavailable)
	return u
}

func columnList(row schema.Row) string {
	cols := make([]string, 0, len(row))
	for k := range row {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	if len(cols) > 12 {
		cols = append(cols[:12], "...")
	}
	return strings.Join(cols, ", ")
}

// matchValues returns the values of the match_on fields in rec, in order, as
// the text COQL compares ("" where absent).
func (m *mapper) matchValues(rec zoho.Record) []string {
	out := make([]string, len(m.matchOn))
	for i, f := range m.matchOn {
		switch v := rec[f].(type) {
		case nil:
		case string:
			out[i] = v // as fmt.Sprint would, without a copy
		case map[string]any:
			if id, ok := v["id"].(string); ok {
				out[i] = id
			} else {
				out[i] = fmt.Sprint(v["id"])
			}
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// matchHash is the hash of the normalised "field=value" of the i-th
// match_on field's value v, for the batcher's in-flight exclusion:
// strings.ToLower(field + "=" + v), with the field's part made once (see
// matchHash).
func (m *mapper) matchHash(i int, v string) uint64 {
	return matchHash(m.matchPrefix[i], v)
}

// hash is a fingerprint of a record's content, for "did anything change":
// its fields in name order, each value written as fmt.Print writes it. It
// allocates nothing for records of up to 16 fields of the common types.
func (m *mapper) hash(rec zoho.Record) uint64 {
	var buf [16]recField // the fields with their values: each looked up once
	fs := buf[:0]
	for k, v := range rec {
		fs = append(fs, recField{k, v})
	}
	slices.SortFunc(fs, func(a, b recField) int { return strings.Compare(a.k, b.k) })
	var h maphash.Hash
	h.SetSeed(m.seed)
	var num [32]byte
	for _, f := range fs {
		h.WriteString(f.k)
		h.WriteByte(0)
		switch v := f.v.(type) {
		case string:
			h.WriteString(v)
		case nil:
			h.WriteString("<nil>")
		case bool:
			h.Write(strconv.AppendBool(num[:0], v))
		case int64:
			h.Write(strconv.AppendInt(num[:0], v, 10))
		case int:
			h.Write(strconv.AppendInt(num[:0], int64(v), 10))
		case int32:
			h.Write(strconv.AppendInt(num[:0], int64(v), 10))
		default:
			// Not fmt.Fprint(&h, v): passing h to fmt would move it to
			// the heap at every call, for the rare types that need fmt.
			text := fmt.Sprint(v)
			h.WriteString(text)
		}
		h.WriteByte(0)
	}
	return h.Sum64()
}

// recField is a field of a record and its value, for hash.
type recField struct {
	k string
	v any
}

// builtinTypes are the Zoho types of standard fields whose format cannot be
// guessed from the column, used when the fields metadata API is out of reach.
var builtinTypes = map[string]map[string]string{
	"Contacts": {"Account_Name": "lookup:Accounts", "Date_of_Birth": "date", "Email_Opt_Out": "boolean", "Email": "email"},
	"Leads":    {"Annual_Revenue": "currency", "No_of_Employees": "integer", "Email_Opt_Out": "boolean", "Email": "email"},
	"Accounts": {"Annual_Revenue": "currency", "Employees": "integer"},
	"Deals":    {"Account_Name": "lookup:Accounts", "Contact_Name": "lookup:Contacts", "Closing_Date": "date", "Amount": "currency", "Probability": "integer"},
}

// fieldTypes returns the field types of a module: from metadata when given,
// else the built-in ones.
func fieldTypes(module string, meta []zoho.Field) map[string]*zoho.Field {
	out := map[string]*zoho.Field{}
	if len(meta) > 0 {
		for i := range meta {
			out[meta[i].APIName] = &meta[i]
		}
		return out
	}
	for name, t := range builtinTypes[module] {
		f := &zoho.Field{APIName: name, DataType: t}
		if mod, ok := strings.CutPrefix(t, "lookup:"); ok {
			f.DataType, f.LookupModule = "lookup", mod
		}
		out[name] = f
	}
	return out
}

// lookupNameField is the field a lookup given by name is matched on in the
// target module.
func lookupNameField(module string) string {
	switch module {
	case "Accounts":
		return "Account_Name"
	case "Deals":
		return "Deal_Name"
	case "Contacts", "Leads":
		return "Email"
	}
	return "Name"
}
