package zoho

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// answerCases are write answers the scanner must read exactly as
// encoding/json does: Zoho's own (the fixtures) and the odd ones it must
// leave to encoding/json.
func answerCases(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{"data":[{"code":"SUCCESS","details":{"id":"1","Created_By":{"name":"A","id":"9"}},"message":"record added","status":"success","action":"insert","duplicate_field":null}]}`,
		`{"data":[{"code":"SUCCESS","duplicate_field":"Email","action":"update","details":{"id":"1"},"message":"record updated","status":"success"}]}`,
		`  {"data" : [ {"code" : "SUCCESS" , "details" : { "id" : "1" } } ] }  `,
		`{"data":[]}`, `{"data":null}`, `{}`, `{"data":[null]}`, `[]`, `null`, ``, `{`, `{"data":[{}]}`,
		`{"data":[{"code":"A\"B","details":{"id":"1"}}]}`,         // an escape in a kept string
		`{"data":[{"code":"A","details":{"id":"1\u0031"}}]}`,      // an escape in the id
		`{"data":[{"code":"A","details":{"x":"1\u0031\n\t\/"}}]}`, // escapes in a skipped string
		`{"data":[{"code":"A","details":{"x":"\x"}}]}`,            // a bad escape
		`{"data":[{"code":"A","details":{"ID":"7"}}]}`,            // another case of id
		`{"data":[{"Code":"A","details":{"id":"7"}}]}`,            // another case of code
		`{"DATA":[{"code":"A"}]}`,                                 // another case of data
		`{"data":[{"ſtatus":"success"}]}`,                         // a Unicode fold of status
		`{"data":[{"code":"A","details":{"id":7}}]}`,              // a non-string id
		`{"data":[{"code":"A","details":{"id":null}}]}`,           // a null id
		`{"data":[{"code":"A","details":{"id":"1","id":"2"}}]}`,   // a duplicate id
		`{"data":[{"code":"A","code":"B"}]}`,                      // a duplicate key
		`{"data":[{"code":null,"message":null,"action":null}]}`,   // null strings
		`{"data":[{"code":5}]}`,                                   // a non-string code
		`{"data":[{"code":"A","details":null}]}`,                  // null details
		`{"data":[{"code":"A","details":"x"}]}`,                   // non-object details
		`{"data":[{"code":"A","details":{"n":[1,-2.5e+3,0,true,false,null,{}],"m":{"a":[]}}}]}`,
		`{"data":[{"code":"A","details":{"n":01}}]}`,    // a bad number
		`{"data":[{"code":"A","details":{"n":1.}}]}`,    // a bad number
		`{"data":[{"code":"A","details":{"n":-}}]}`,     // a bad number
		`{"data":[{"code":"A","details":{"n":tru}}]}`,   // a bad literal
		`{"data":[{"code":"A","details":{"n":truex}}]}`, // a bad literal
		`{"data":[{"code":"A"}],"code":"X","status":"error","message":"m"}`,
		`{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}`,
		`{"code":"INVALID_TOKEN","details":null,"message":"invalid oauth token","status":"error"}`,
		`{"data":[{"code":"A"}]} x`,                                 // trailing garbage
		`{"data":[{"code":"A"}],}`,                                  // a trailing comma
		`{"data":[{"code":"A"},]}`,                                  // a trailing comma
		`{"data":[{"code":"\xff"}]}`,                                // invalid UTF-8 in a kept string
		`{"data":[{"message":"é日本"}]}`,                              // valid UTF-8
		`{"data":[{"code":"A","details":{"x":"a` + "\x01" + `"}}]}`, // a control character
		`{"data":[{"code":"A","other":{"deep":[[[[1]]]]}}]}`,
		`{"data":[{"code":"A","details":{"d":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}]}`, // deeper than the scanner goes
		`{"data":[{"code":"SUCCESS","duplicate_field":5}]}`,
		`{"data":[{"code":"SUCCESS","duplicate_field":"Email","duplicate_field":null}]}`,
		`{"data":[{"code":"SUCCESS","status":"success"}],"info":{"count":1,"more_records":false}}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// sameAsEncodingJSON fails unless decodeWriteAnswer reads raw as
// json.Unmarshal does (both an error, or both the same answer).
func sameAsEncodingJSON(t testing.TB, raw []byte) {
	t.Helper()
	var want, got writeAnswer
	werr := json.Unmarshal(raw, &want)
	gerr := decodeWriteAnswer(raw, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json error %v, decodeWriteAnswer error %v", raw, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q:\nencoding/json     %+v\ndecodeWriteAnswer %+v", raw, want, got)
	}
}

func TestDecodeWriteAnswerMatchesEncodingJSON(t *testing.T) {
	for _, raw := range answerCases(t) {
		sameAsEncodingJSON(t, raw)
	}
}

// TestScanWriteAnswerReadsZohoAnswers: Zoho's usual answers take the fast
// path (the equivalence above would hold if everything fell back).
func TestScanWriteAnswerReadsZohoAnswers(t *testing.T) {
	for _, name := range []string{"f1-insert-http-201-all-succeeded.json", "f2-insert-http-207-partial-failure.json", "f3-upsert-success-one-update-one-insert.json", "f4-upsert-http-207-partial-failure.json", "f5-delete-http-207-partial-failure.json"} {
		raw, err := os.ReadFile("testdata/fixtures/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var wb writeAnswer
		if !scanWriteAnswer(raw, &wb) || len(wb.Data) == 0 {
			t.Errorf("%s: not read by the scanner", name)
		}
	}
}

func FuzzDecodeWriteAnswer(f *testing.F) {
	for _, raw := range answerCases(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsEncodingJSON(t, raw)
	})
}

// BenchmarkDecodeWriteAnswer reads a 100-item upsert answer as the
// simulator gives it.
func BenchmarkDecodeWriteAnswer(b *testing.B) {
	item := `{"code":"SUCCESS","duplicate_field":null,"action":"insert","details":{"Modified_Time":"2026-12-04T10:31:43+00:00","Modified_By":{"name":"Patricia Boyle","id":"4150868000000225013"},"Created_Time":"2026-12-04T10:31:43+00:00","id":"4150868000003194003","Created_By":{"name":"Patricia Boyle","id":"4150868000000225013"}},"message":"record added","status":"success"}`
	raw := []byte(`{"data":[` + strings.TrimSuffix(strings.Repeat(item+",", 100), ",") + `]}`)
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var wb writeAnswer
			if err := decodeWriteAnswer(raw, &wb); err != nil || len(wb.Data) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var wb writeAnswer
			if err := json.Unmarshal(raw, &wb); err != nil || len(wb.Data) != 100 {
				b.Fatal(err)
			}
		}
	})
}

// stringStops finds the first quote, backslash or control character of a
// word, in any place, whatever the bytes before and after it.
func TestStringStops(t *testing.T) {
	fill := []byte{'a', 0x7f, 0x80, 0xc3, 0xff, ' ', '!', '#', '[', ']', 0, '"', '\\', 0x1f}
	isStop := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for pos := range 8 {
		for c := range 256 {
			for _, before := range fill {
				for _, after := range fill {
					w := make([]byte, 8)
					for i := range w {
						switch {
						case i < pos:
							w[i] = 'a'
							if i == pos-1 && !isStop(before) {
								w[i] = before
							}
						case i == pos:
							w[i] = byte(c)
						default:
							w[i] = after
						}
					}
					want := -1
					for i, x := range w {
						if isStop(x) {
							want = i
							break
						}
					}
					m := stringStops(binary.LittleEndian.Uint64(w))
					got := -1
					if m != 0 {
						got = bits.TrailingZeros64(m) / 8
					}
					if got != want || m&^0x8080808080808080 != 0 {
						t.Fatalf("word %q: first stop at %d (mask %#x), want %d", w, got, m, want)
					}
				}
			}
		}
	}
}
