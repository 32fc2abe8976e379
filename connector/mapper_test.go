package connector

import (
	"log/slog"
	"testing"
	"time"

	"zohosink/connector/config"
	"zohosink/schema"
	"zohosink/zoho"
)

// TestMapperLookups: resolveLookups looks at the records of a sync only when
// its mapper may have put a lookup name in them. Every kind of value mapped
// to every non-lookup type must give no lookupName, and a lookup field or
// constant must set the flag; a flag once set by types read late stays.
func TestMapperLookups(t *testing.T) {
	values := []any{nil, "Acme Inc", "5725767000000002002", "", int64(5725767000000002002), int32(7), 1.5, true,
		schema.Date{Year: 2024, Month: 2, Day: 29}, time.Date(2024, 2, 29, 1, 2, 3, 0, time.UTC), dec("12345", 2),
		schema.JSON(`{"a":1}`), []byte("x"), []string{"a", "b"}, []any{"a", int64(1)}}
	types := []string{"", "text", "textarea", "email", "phone", "website", "picklist", "textarea_large", "date", "datetime",
		"integer", "bigint", "double", "currency", "decimal", "percent", "boolean", "multiselectpicklist", "formula", "autonumber", "unknown"}
	cfg := &config.SyncConfig{Name: "s", Module: "Leads", Type: "model", Mode: "upsert", MatchOn: []string{"Email"}, FieldsDefaulted: true,
		Fields: map[string]string{}}
	ftypes := map[string]*zoho.Field{}
	row := schema.Row{}
	for i, dt := range types {
		for j, v := range values {
			f := "F" + string(rune('a'+i)) + string(rune('a'+j))
			cfg.Fields[f] = f
			if dt != "" {
				ftypes[f] = &zoho.Field{APIName: f, DataType: dt}
			}
			row[f] = v
		}
	}
	m := newMapper(cfg, ftypes)
	if m.lookups {
		t.Fatal("a mapper with no lookup field says it may give lookup names")
	}
	for _, fm := range m.fields {
		rec, err := m.mapRow(schema.Row{fm.Column: row[fm.Column]}, false)
		if err != nil {
			continue
		}
		if _, ok := rec[fm.Field].(lookupName); ok {
			t.Errorf("field %s (%v) of %v gave a lookup name with no lookup field", fm.Field, fm.Type, row[fm.Column])
		}
	}

	deals := &config.SyncConfig{Name: "d", Module: "Deals", Type: "model", Mode: "upsert", MatchOn: []string{"Deal_Name"},
		Fields: map[string]string{"Deal_Name": "name", "Account_Name": "account"}}
	if m := newMapper(deals, fieldTypesFor("Deals")); !m.lookups {
		t.Error("a mapper with a lookup field says it gives no lookup names")
	} else if rec, err := m.mapRow(schema.Row{"name": "D", "account": "Acme Inc"}, false); err != nil {
		t.Fatal(err)
	} else if _, ok := rec["Account_Name"].(lookupName); !ok {
		t.Errorf("Account_Name = %#v, want a lookup name", rec["Account_Name"])
	}
	constant := &config.SyncConfig{Name: "c", Module: "Deals", Type: "model", Mode: "upsert", MatchOn: []string{"Deal_Name"},
		Fields: map[string]string{"Deal_Name": "name"}, Constants: map[string]any{"Account_Name": "Acme Inc"}}
	if m := newMapper(constant, fieldTypesFor("Deals")); !m.lookups {
		t.Error("a mapper with a lookup constant says it gives no lookup names")
	}

	// Types read late: a sync that started without them learns of a lookup
	// field, and keeps resolving after types that have none.
	late := &config.SyncConfig{Name: "l", Module: "Leads", Type: "model", Mode: "upsert", MatchOn: []string{"Email"},
		Fields: map[string]string{"Email": "email", "Last_Name": "last", "Owner": "owner"}}
	w := newSyncWorker(late, fieldTypes(late.Module, nil), nil, nil, nil, newMetrics(nil), slog.New(slog.DiscardHandler), func(error) {})
	if w.mayLookup.Load() {
		t.Fatal("mayLookup set with no lookup field")
	}
	w.setTypes(map[string]*zoho.Field{"Owner": {APIName: "Owner", DataType: "ownerlookup"}})
	if !w.mayLookup.Load() {
		t.Fatal("mayLookup not set by types with a lookup field")
	}
	w.setTypes(map[string]*zoho.Field{})
	if !w.mayLookup.Load() {
		t.Error("mayLookup unset by later types: records mapped before may still hold lookup names")
	}
}

func fieldTypesFor(module string) map[string]*zoho.Field { return fieldTypes(module, nil) }
