package schema

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Test helpers: a real schema registry (srfake), goavro as the independent
// encoder, Confluent framing, and the fixtures copied from
// /work/shared/debezium/fixtures into testdata/debezium.

const fixtures = "testdata/debezium"

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registry starts srfake and returns it with a client pointed at it.
func registry(t testing.TB) (*srfake.Registry, *sr.Client) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl
}

func newDecoder(t testing.TB, opts ...Option) *Decoder {
	t.Helper()
	d, err := NewDecoder(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func register(t testing.TB, reg *srfake.Registry, subject, schema string) int {
	t.Helper()
	id, _, err := reg.RegisterSchema(subject, sr.Schema{Schema: schema})
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

// stripLogical removes Avro logicalType attributes: the binary encoding is
// the same, and goavro then takes the physical values (raw ints and bytes)
// the tests want to control, including decimals goavro itself refuses
// (scale above precision).
func stripLogical(t testing.TB, schema string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			delete(x, "logicalType")
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	b, _ := json.Marshal(v)
	return string(b)
}

// encode writes native (goavro's native form) as Confluent-framed Avro.
func encode(t testing.TB, id int, schema string, native any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(stripLogical(t, schema))
	if err != nil {
		t.Fatalf("goavro codec: %v", err)
	}
	body, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("goavro encode: %v", err)
	}
	return framed(id, body)
}

func framed(id int, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, body...)
}

// u is goavro's native form of a non-null union branch.
func u(branch string, v any) any { return map[string]any{branch: v} }

func decode(t testing.TB, d *Decoder, m Message) Change {
	t.Helper()
	ch, err := d.Decode(context.Background(), m)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return ch
}

var (
	jsoncComment  = regexp.MustCompile(`(?m)^\s*//.*$|\s+//\s.*$|<\d+>`)
	jsoncEllipsis = regexp.MustCompile(`\{\s*\.\.\.\s*\}`)
	jsoncDots     = regexp.MustCompile(`(?m)^\s*\.\.\.\s*,?\s*$`)
	jsoncTrailing = regexp.MustCompile(`,(\s*[}\]])`)
)

// jsonc turns a documentation snippet into strict JSON: comments and
// callouts removed, "{ ... }" placeholders made null, "..." lines dropped,
// trailing commas removed.
func jsonc(b []byte) []byte {
	s := string(b)
	s = jsoncComment.ReplaceAllString(s, "")
	s = jsoncEllipsis.ReplaceAllString(s, "null")
	s = jsoncDots.ReplaceAllString(s, "")
	s = jsoncTrailing.ReplaceAllString(s, "$1")
	return []byte(strings.TrimSpace(s))
}

func srSchema(text string) sr.Schema { return sr.Schema{Schema: text} }
