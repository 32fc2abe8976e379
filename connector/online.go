package connector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"zohosink/connector/config"

	"zohosink/schema"
	"zohosink/zoho"
)

// Finding is one result of an online check.
type Finding struct {
	Code    FindingCode
	Sync    string
	Key     string
	Message string
	Warning bool // worth a look, but the config can run
}

// FindingCode says what kind of finding it is, for callers that act on some
// kinds (run refuses unknown fields) and only report others.
type FindingCode string

// The kinds of Finding.
const (
	FindingUnknownField  FindingCode = "unknown_field"  // the module has no such field
	FindingReadOnly      FindingCode = "read_only"      // the field is read-only
	FindingMissingColumn FindingCode = "missing_column" // the topic's schema lacks the mapped column
	FindingColumnType    FindingCode = "column_type"    // the column's type may not fit the field
	FindingConstant      FindingCode = "constant"       // a constant the field cannot take
	FindingPicklist      FindingCode = "picklist"       // a constant not in the org's pick list
	FindingMatchField    FindingCode = "match_field"    // match_on Zoho refuses for upserts
	FindingTagUnchecked  FindingCode = "tag_unchecked"  // the tag could not be looked up
	FindingTagMissing    FindingCode = "tag_missing"    // the tag does not exist yet
	FindingMandatory     FindingCode = "mandatory"      // a mandatory field is not mapped
)

func (f Finding) String() string {
	kind := "problem"
	if f.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: sync %q: %s: %s", kind, f.Sync, f.Key, f.Message)
}

// FieldsSource is what CheckOnline needs of Zoho.
type FieldsSource interface {
	Fields(ctx context.Context, module string) ([]zoho.Field, error)
}

// TagSource is what CheckOnline needs of Zoho to check audience tags; a
// FieldsSource that is one too (as *zoho.Client is) gets the check.
type TagSource interface {
	TagExists(ctx context.Context, module, name string) (bool, error)
}

// CheckOnline checks every mapped field of every sync against the org's
// fields metadata: unknown fields (with the closest name), read-only fields,
// constants Zoho cannot take, picklist constants not in the org's list, and
// the mandatory fields of each module. An error is returned when the metadata
// cannot be read at all (bad token, wrong data center, ...).
//
// columns, when not nil, gives the columns of each topic (from its writer
// schema); each mapped column is then checked against its field's type: a
// column that can never fill the field is a problem, one whose values may
// or may not fit (text into a date field) a warning.
func CheckOnline(ctx context.Context, cfg *config.Config, src FieldsSource, columns map[string][]schema.Column) ([]Finding, map[string][]string, error) {
	meta := map[string][]zoho.Field{}
	required := map[string][]string{}
	var out []Finding
	for i := range cfg.Syncs {
		s := &cfg.Syncs[i]
		fields, ok := meta[s.Module]
		if !ok {
			fs, err := src.Fields(ctx, s.Module)
			if err != nil {
				return nil, nil, fmt.Errorf("fields metadata of %s: %w", s.Module, err)
			}
			meta[s.Module], fields = fs, fs
			for _, f := range fs {
				if f.SystemMandatory {
					required[s.Module] = append(required[s.Module], f.APIName)
				}
			}
			if info, ok := config.Module(s.Module); ok {
				for _, f := range info.RequiredFields {
					if !contains(required[s.Module], f) {
						required[s.Module] = append(required[s.Module], f)
					}
				}
			}
			sort.Strings(required[s.Module])
		}
		byName := map[string]*zoho.Field{}
		for j := range fields {
			byName[fields[j].APIName] = &fields[j]
		}
		check := func(key, name string) *zoho.Field {
			f, ok := byName[name]
			if !ok {
				msg := fmt.Sprintf("%s is not a field of %s", name, s.Module)
				if near := closest(name, fields); near != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", near)
				}
				out = append(out, Finding{Code: FindingUnknownField, Sync: s.Name, Key: key, Message: msg})
				return nil
			}
			if f.ReadOnly {
				out = append(out, Finding{Code: FindingReadOnly, Sync: s.Name, Key: key, Message: fmt.Sprintf("%s is read-only in %s: Zoho ignores or refuses writes to it", name, s.Module)})
			}
			return f
		}
		for _, name := range slices.Sorted(maps.Keys(s.Fields)) {
			key := fmt.Sprintf("syncs[%d].fields.%s", i, name)
			f := check(key, name)
			if f == nil || columns == nil {
				continue
			}
			for _, topic := range s.Topics {
				cols, known := columns[topic]
				if !known {
					continue
				}
				kind, found := "", false
				for _, c := range cols {
					if strings.EqualFold(c.Name, s.Fields[name]) {
						kind, found = c.Kind, true
					}
				}
				switch {
				case !found && !s.FieldsDefaulted:
					out = append(out, Finding{Code: FindingMissingColumn, Sync: s.Name, Key: key, Message: fmt.Sprintf("column %q is not in topic %s (its columns: %s)", s.Fields[name], topic, columnNames(cols))})
				case found:
					if msg, warn := columnFits(kind, f); msg != "" {
						out = append(out, Finding{Code: FindingColumnType, Sync: s.Name, Key: key, Warning: warn, Message: fmt.Sprintf("column %q of topic %s is %s, field %s is %s: %s", s.Fields[name], topic, kind, name, f.DataType, msg)})
					}
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(s.Constants)) {
			f := check(fmt.Sprintf("syncs[%d].constants.%s", i, name), name)
			if f == nil {
				continue
			}
			v := s.Constants[name]
			if _, err := formatValue(v, f); err != nil {
				out = append(out, Finding{Code: FindingConstant, Sync: s.Name, Key: fmt.Sprintf("syncs[%d].constants.%s", i, name), Message: fmt.Sprintf("%v cannot be written to a %s field: %v", v, f.DataType, err)})
			}
			if f.DataType == "picklist" && len(f.PickListValues) > 0 && !contains(f.PickListValues, fmt.Sprint(v)) {
				out = append(out, Finding{Code: FindingPicklist, Sync: s.Name, Key: fmt.Sprintf("syncs[%d].constants.%s", i, name), Warning: true,
					Message: fmt.Sprintf("%q is not in the org's pick list for %s (Zoho adds it; known values: %s)", fmt.Sprint(v), name, strings.Join(first10(f.PickListValues), ", "))})
			}
		}
		for j, name := range s.MatchOn {
			key := fmt.Sprintf("syncs[%d].match_on[%d]", i, j)
			f := check(key, name)
			info, _ := config.Module(s.Module)
			if f != nil && s.CreatesRecords() && s.Mode != "insert" && !f.Unique && name != info.DefaultMatchField {
				out = append(out, Finding{Code: FindingMatchField, Sync: s.Name, Key: key, Message: fmt.Sprintf("%s is neither %s's duplicate-check field (%s) nor a unique field: Zoho refuses it as a duplicate_check_field of an upsert; match on %s or on a field marked unique in Zoho", name, s.Module, info.DefaultMatchField, info.DefaultMatchField)})
			}
		}
		if ts, ok := src.(TagSource); ok && s.Tag != "" {
			key := fmt.Sprintf("syncs[%d].tag", i)
			switch exists, err := ts.TagExists(ctx, s.Module, s.Tag); {
			case err != nil:
				out = append(out, Finding{Code: FindingTagUnchecked, Sync: s.Name, Key: key, Warning: true, Message: fmt.Sprintf("cannot check whether tag %q exists in %s: %v", s.Tag, s.Module, err)})
			case !exists:
				out = append(out, Finding{Code: FindingTagMissing, Sync: s.Name, Key: key, Warning: true, Message: fmt.Sprintf("tag %q does not exist in %s yet: the first write creates it, which Zoho allows only to a user with administrator or module-customization permission; if the token's user lacks it, create the tag in Zoho first (Setup, Modules and Fields, %s, Tags)", s.Tag, s.Module, s.Module)})
			}
		}
		for j, name := range s.ClearFields {
			check(fmt.Sprintf("syncs[%d].clear_fields[%d]", i, j), name)
		}
		if s.Mode != "update" && s.Mode != "remove" {
			for _, f := range required[s.Module] {
				if _, m := s.Fields[f]; !m {
					if _, c := s.Constants[f]; !c {
						out = append(out, Finding{Code: FindingMandatory, Sync: s.Name, Key: fmt.Sprintf("syncs[%d].fields", i), Message: fmt.Sprintf("%s is mandatory in %s and not mapped: map it under fields or constants", f, s.Module)})
					}
				}
			}
		}
	}
	return out, required, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func first10(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], "...")
	}
	return s
}

// closest returns the field name nearest to name (case-insensitive edit
// distance at most a third of its length), or "".
func closest(name string, fields []zoho.Field) string {
	best, bestD := "", len(name)/3+1
	for _, f := range fields {
		if d := config.EditDistance(strings.ToLower(name), strings.ToLower(f.APIName)); d < bestD {
			best, bestD = f.APIName, d
		}
	}
	return best
}

func columnNames(cols []schema.Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// columnFits says whether values of a column kind can fill a Zoho field:
// "" when they always can, else why not, and whether it is only a warning
// (some values may fit).
func columnFits(kind string, f *zoho.Field) (string, bool) {
	is := func(kinds ...string) bool {
		for _, k := range kinds {
			if k == kind {
				return true
			}
		}
		return false
	}
	switch f.DataType {
	case "date", "datetime":
		switch {
		case is(schema.KindDate, schema.KindTimestamp):
			return "", false
		case is(schema.KindString):
			return "each value must be a date in ISO form, or the record is dead-lettered", true
		}
		return "these values are never dates", false
	case "integer", "bigint":
		switch {
		case is(schema.KindInt, schema.KindLong, schema.KindBoolean):
			if f.DataType == "integer" && kind == schema.KindLong {
				return "values above 9 digits are dead-lettered (Zoho integers take 9 digits)", true
			}
			return "", false
		case is(schema.KindDecimal, schema.KindDouble, schema.KindString):
			return "values with a fraction or not a number are dead-lettered", true
		}
		return "these values are never whole numbers", false
	case "double", "currency", "decimal", "percent":
		switch {
		case is(schema.KindInt, schema.KindLong, schema.KindDouble, schema.KindDecimal):
			return "", false
		case is(schema.KindString):
			return "values that are not numbers are dead-lettered", true
		}
		return "these values are never numbers", false
	case "boolean":
		switch {
		case is(schema.KindBoolean):
			return "", false
		case is(schema.KindInt, schema.KindLong, schema.KindString):
			return "only 0/1 and true/false-like values are taken", true
		}
		return "these values are never booleans", false
	case "multiselectpicklist":
		if is(schema.KindArray, schema.KindString, schema.KindJSON) {
			return "", false
		}
		return "these values are never lists", false
	case "lookup", "ownerlookup":
		if is(schema.KindString, schema.KindLong, schema.KindInt, schema.KindDecimal) {
			return "", false
		}
		return "a lookup takes a record id or name", false
	}
	if is(schema.KindRecord) {
		return "a nested record has no text form", false
	}
	return "", false
}
