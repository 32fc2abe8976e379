package zoho

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
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
