package connector

import (
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"zohosink/schema"
	"zohosink/zoho"
)

func dec(unscaled string, scale int32) schema.Decimal {
	n, _ := new(big.Int).SetString(unscaled, 10)
	return schema.Decimal{Unscaled: n, Scale: scale}
}

func TestFormatValue(t *testing.T) {
	ft := func(dt string, length int) *zoho.Field { return &zoho.Field{DataType: dt, Length: length} }
	la := time.FixedZone("PDT", -7*3600)
	tests := []struct {
		name    string
		v       any
		f       *zoho.Field
		want    any
		wantErr string
	}{
		{"date from Debezium date", schema.Date{Year: 1969, Month: 12, Day: 31}, ft("date", 0), "1969-12-31", ""},
		{"date from timestamp", time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC), ft("date", 0), "2024-02-29", ""},
		{"date from text", "2024-03-01", ft("date", 0), "2024-03-01", ""},
		{"date garbage", "yesterday", ft("date", 0), nil, "not a date"},
		// Schemaless JSON: Debezium's numbers whose meaning was in the schema.
		{"date as days without schema", int64(19723), ft("date", 0), nil, "19723 is not a date: it looks like a Debezium DATE sent as days since 1970-01-01 (2024-01-01) without a schema: set value.converter.schemas.enable=true"},
		{"datetime as micros without schema", int64(1704067200000000), ft("datetime", 0), nil, "timestamp sent as microseconds since 1970 (2024-01-01T00:00:00Z)"},
		{"datetime as millis without schema", int64(1704067200000), ft("datetime", 0), nil, "milliseconds since 1970"},
		{"decimal as base64 without schema", "AeJA", ft("currency", 0), nil, "decimal.handling.mode=string"},
		{"decimal garbage is not called base64", "12,5", ft("currency", 0), nil, `"12,5" is not a decimal number`},
		{"datetime keeps offset, drops fraction", time.Date(2023, 5, 10, 1, 10, 47, 123456789, la), ft("datetime", 0), "2023-05-10T01:10:47-07:00", ""},
		{"datetime UTC", time.Unix(0, 0).UTC(), ft("datetime", 0), "1970-01-01T00:00:00+00:00", ""},
		{"currency exact beyond float", dec("12345678901234567", 2), ft("currency", 0), json.Number("123456789012345.67"), ""},
		{"currency trims zeros", dec("1250000", 4), ft("currency", 0), json.Number("125"), ""},
		{"currency negative", dec("-5", 3), ft("currency", 0), json.Number("-0.005"), ""},
		{"currency too many decimals", dec("1", 12), ft("currency", 0), nil, "digits after the point"},
		{"currency too large", dec("123456789012345678", 0), ft("currency", 0), nil, "digits before the point"},
		{"bigint as string", int64(9007199254740993), ft("bigint", 0), "9007199254740993", ""},
		{"bigint from decimal", dec("123456789012345678", 0), ft("bigint", 0), "123456789012345678", ""},
		{"bigint too long", dec("1234567890123456789", 0), ft("bigint", 0), nil, "more than the field's 18"},
		{"integer as number", int32(42), ft("integer", 0), json.Number("42"), ""},
		{"integer too long", int64(1234567890), ft("integer", 0), nil, "more than the field's 9"},
		{"integer from fraction", dec("15", 1), ft("integer", 0), nil, "not a whole number"},
		{"boolean", true, ft("boolean", 0), true, ""},
		{"boolean from text", "yes", ft("boolean", 0), true, ""},
		{"boolean from int", int32(0), ft("boolean", 0), false, ""},
		{"boolean garbage", "maybe", ft("boolean", 0), nil, "not a boolean"},
		{"text from number", int64(7), ft("text", 10), "7", ""},
		{"text too long", strings.Repeat("é", 41), ft("text", 40), nil, "41 characters, more than the field's maximum of 40"},
		{"phone", "+1 555 0100", ft("phone", 30), "+1 555 0100", ""},
		{"multiselect from set", []string{"a", "b"}, ft("multiselectpicklist", 0), []string{"a", "b"}, ""},
		{"multiselect from text", "a; b", ft("multiselectpicklist", 0), []string{"a", "b"}, ""},
		{"lookup by id", "5725767000000524157", ft("lookup", 0), map[string]any{"id": "5725767000000524157"}, ""},
		{"lookup by name", "Acme Corp", ft("lookup", 0), lookupName("Acme Corp"), ""},
		{"unknown type: decimal", dec("1999", 2), nil, json.Number("19.99"), ""},
		{"unknown type: date", schema.Date{Year: 2024, Month: 1, Day: 2}, nil, "2024-01-02", ""},
		{"unknown type: json", schema.JSON(`{"a":1}`), nil, `{"a":1}`, ""},
		{"null", nil, ft("text", 10), nil, ""},
		{"NaN", math.NaN(), ft("double", 0), nil, "no JSON form"},
		{"infinity", math.Inf(1), nil, nil, "no JSON form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := formatValue(tt.v, tt.f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestModeTable(t *testing.T) {
	c, r, u, d, ts := schema.OpCreate, schema.OpRead, schema.OpUpdate, schema.OpDelete, schema.OpTombstone
	rows := []struct {
		typ, mode string
		want      map[schema.Op]action // ops absent are skipped
	}{
		{"model", "upsert", map[schema.Op]action{c: actUpsert, r: actUpsert, u: actUpsert}},
		{"model", "insert", map[schema.Op]action{c: actInsert, r: actInsert}},
		{"model", "update", map[schema.Op]action{c: actUpdate, r: actUpdate, u: actUpdate}},
		{"audience", "add", map[schema.Op]action{c: actUpsert, r: actUpsert}},
		{"audience", "upsert", map[schema.Op]action{c: actUpsert, r: actUpsert, u: actUpsert}},
		{"audience", "remove", map[schema.Op]action{d: actUntag}},
		{"audience", "mirror", map[schema.Op]action{c: actUpsert, r: actUpsert, u: actUpsert, d: actUntag}},
	}
	for _, row := range rows {
		for _, op := range []schema.Op{c, r, u, d, ts, schema.OpTruncate, schema.OpMessage} {
			got := actionFor(row.typ, row.mode, "untag", op)
			if got != row.want[op] {
				t.Errorf("%s/%s on %s: got %s, want %s", row.typ, row.mode, op, got, row.want[op])
			}
		}
	}
	if got := actionFor("audience", "mirror", "delete", d); got != actDelete {
		t.Errorf("mirror with remove_action delete: got %s", got)
	}
	if got := actionFor("audience", "remove", "clear_fields", d); got != actClearFields {
		t.Errorf("remove with remove_action clear_fields: got %s", got)
	}
}
