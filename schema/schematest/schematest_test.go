package schematest

import (
	"context"
	"encoding/binary"
	"math/big"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"zohosink/schema"
)

var customers = Table{Prefix: "warehouse", Schema: "public", Name: "customers", Key: []string{"id"}, Columns: []Column{
	{Name: "id", Type: "long"},
	{Name: "email", Type: "string", Optional: true},
	{Name: "born", Type: "date", Optional: true},
	{Name: "balance", Type: "decimal(12,2)", Optional: true},
	{Name: "updated_at", Type: "timestamptz"},
}}

func TestRegisterAndEncodeRoundTrip(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Register(context.Background(), cl, customers)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	row := map[string]any{"id": int64(1001), "email": "sally@acme.com", "born": schema.Date{Year: 1969, Month: 7, Day: 20},
		"balance": schema.Decimal{Unscaled: big.NewInt(-12345), Scale: 2}, "updated_at": now}
	key, val, err := enc.Event('u', row, row, now)
	if err != nil {
		t.Fatal(err)
	}
	if val[0] != 0 || int(binary.BigEndian.Uint32(val[1:5])) != enc.ValueSchemaID() {
		t.Fatalf("value framing: % x", val[:5])
	}
	got, err := cl.SchemaByID(context.Background(), enc.ValueSchemaID())
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(got.Schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(val[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v (%d bytes left)", err, len(rest))
	}
	env := native.(map[string]any)
	if env["op"] != "u" {
		t.Fatalf("op = %v", env["op"])
	}
	after := env["after"].(map[string]any)["warehouse.public.customers.Value"].(map[string]any)
	if after["email"].(map[string]any)["string"] != "sally@acme.com" {
		t.Fatalf("email = %v", after["email"])
	}
	if after["born"].(map[string]any)["int"] != int32(-165) {
		t.Fatalf("born = %v, want -165 days", after["born"])
	}
	if r := after["balance"].(map[string]any)["bytes.decimal"].(*big.Rat); r.FloatString(2) != "-123.45" {
		t.Fatalf("balance = %v", r.FloatString(2))
	}
	if len(key) < 6 || key[0] != 0 {
		t.Fatalf("key framing: % x", key)
	}
	if _, _, err := enc.Event('c', nil, map[string]any{"id": int64(1)}, now); err == nil {
		t.Fatal("a missing required column must be an error")
	}
}
