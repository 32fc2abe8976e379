package zoho

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestEncodeWriteMatchesEncodingJSON: the fast encoder produces JSON that
// decodes to exactly what encoding/json's output decodes to.
func TestEncodeWriteMatchesEncodingJSON(t *testing.T) {
	recs := []Record{
		{"Last_Name": "Plain", "Age": 42, "Big": int64(1) << 60, "Score": 3.25, "Ok": true, "Nil": nil},
		{"Last_Name": "Quote\" back\\slash\nnew <tag> & ü 日本 \u2028", "Account_Name": map[string]any{"id": "123"}},
		{"Tags": []string{"a", "b\"c"}, "Multi": []any{"x", 1.5}, "Lookup": Record{"id": "9"}, "Bad": "\xff\xfe"},
		{"Float": 1e21, "Neg": -0.000001, "U8": uint8(7)},
	}
	tests := []struct {
		dup, trig, skip []string
	}{{nil, nil, nil}, {[]string{"Email"}, []string{}, []string{"cadences"}}, {nil, []string{"workflow", "approval"}, []string{"cadences", "assignment_rules"}}}
	for _, tt := range tests {
		got, err := encodeWrite(recs, tt.dup, tt.trig, tt.skip)
		if err != nil {
			t.Fatal(err)
		}
		type body struct {
			Data    []Record  `json:"data"`
			Dup     []string  `json:"duplicate_check_fields,omitempty"`
			Trigger *[]string `json:"trigger,omitempty"`
			Skip    []struct {
				Name string `json:"name"`
			} `json:"skip_feature_execution,omitempty"`
		}
		ref := body{Data: recs, Dup: tt.dup}
		for _, n := range tt.skip {
			ref.Skip = append(ref.Skip, struct {
				Name string `json:"name"`
			}{n})
		}
		if tt.trig != nil {
			ref.Trigger = &tt.trig
		}
		want, _ := json.Marshal(ref)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("encodeWrite = %s\nwant %s", got, want)
		}
	}
	if _, err := encodeWrite([]Record{{"x": math.NaN()}}, nil, nil, nil); err == nil {
		t.Error("NaN encoded without error")
	}
}

// encodeCases are values a Zoho record may hold, for the byte-for-byte
// comparison with json.Marshal.
var encodeCases = []any{
	nil, "", "plain", "Quote\" back\\slash", "new\nline\ttab\r\x00\x1f\x7f", "<tag> & </tag>", "ü 日本 \u2028 \u2029 😀",
	"\xff\xfe", "a\xc3", "\xed\xa0\x80 surrogate", "é", true, false,
	0, -1, int64(math.MaxInt64), int64(math.MinInt64), int32(-7), int32(math.MaxInt32),
	0.0, math.Copysign(0, -1), 1.0, -2.5, 3.25, 0.1, 1e20, 1e21, 1.5e21, 1e-6, 9.99e-7, 1e-7, -1e-7, 123456789.123456789, math.MaxFloat64, math.SmallestNonzeroFloat64,
	float32(0.1), float32(1e21), float32(1e-7), float32(3.4e38), float32(-1.5),
	json.Number("12.50"), json.Number("-0.5e-3"), json.Number("0"), json.Number(""), json.Number("1E+9"),
	[]string{}, []string(nil), []string{"a", "b\"c", "<d>"}, []any{"x", 1.5, nil, true},
	map[string]any{"id": "123"}, map[string]any(nil), map[string]any{}, Record{"id": "9", "name": "N&M"},
	map[string]any{"nested": map[string]any{"b": 1, "a": []any{map[string]any{"z": "é", "y": nil}}}},
	uint8(7), uint64(math.MaxUint64), []int{1, 2},
}

// TestAppendJSONMatchesMarshal: appendJSON writes exactly json.Marshal's
// bytes, and fails where it fails (NaN, infinities, invalid numbers).
func TestAppendJSONMatchesMarshal(t *testing.T) {
	for _, v := range encodeCases {
		want, werr := json.Marshal(v)
		got, gerr := appendJSON([]byte("prefix"), v)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%#v: error %v, json.Marshal's %v", v, gerr, werr)
			continue
		}
		if werr == nil && string(got) != "prefix"+string(want) {
			t.Errorf("%#v: %s, json.Marshal %s", v, got[len("prefix"):], want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), float32(math.Inf(-1)), json.Number("1."), json.Number("01"), json.Number("abc"), json.Number("+1")} {
		if _, err := appendJSON(nil, v); err == nil {
			t.Errorf("%#v encoded without error", v)
		}
	}
	// Whole records: the fields sorted as json.Marshal sorts a map's keys.
	rec := Record{}
	for i, v := range encodeCases {
		rec[fmt.Sprintf("F%02d_<&>", len(encodeCases)-i)] = v
	}
	rec["ü"], rec["Z"], rec["a"] = 1, 2, 3
	want, _ := json.Marshal(rec)
	got, err := appendJSON(nil, rec)
	if err != nil || string(got) != string(want) {
		t.Errorf("record: %s, %v\njson.Marshal: %s", got, err, want)
	}
}

// FuzzAppendJSON holds appendJSON to json.Marshal's bytes for any text,
// float and integer, alone and in a record.
func FuzzAppendJSON(f *testing.F) {
	f.Add("plain", 1.5, int64(1), "key")
	f.Add("<\xff>\u2028", 1e-7, int64(-1), "ü")
	f.Add("", 1e21, int64(math.MaxInt64), "")
	f.Fuzz(func(t *testing.T, s string, x float64, n int64, k string) {
		nested := map[string]any{k: []any{s, x, n, nil, true, map[string]any{s: k, "r": json.RawMessage(`{"a":1}`)}}, s: Record{k: []any{}, "t": time.Unix(n%1e10, 0).UTC(), "b": []byte(s)}}
		for _, v := range []any{s, x, float32(x), n, int32(n), json.Number(s), []string{s, k}, Record{k: s, s: x, "n": n}, nested, []any{nested, false, nil}} {
			want, werr := json.Marshal(v)
			got, gerr := appendJSON(nil, v)
			if (werr != nil) != (gerr != nil) || werr == nil && string(got) != string(want) {
				t.Fatalf("%#v: %q, %v; json.Marshal %q, %v", v, got, gerr, want, werr)
			}
		}
	})
}

// BenchmarkEncodeWrite encodes a 100-record upsert body of the load
// harness's records (four text fields).
func BenchmarkEncodeWrite(b *testing.B) {
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{"Email": fmt.Sprintf("c%d@load.example", i), "Last_Name": "L", "Title": "T", "Phone": "1"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeWrite(recs, []string{"Email"}, []string{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
