package schematest

import (
	"bytes"
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

func decodeOne(t *testing.T, d *schema.Decoder, topic string, key, value []byte) schema.Change {
	t.Helper()
	ch, err := d.Decode(context.Background(), schema.Message{Topic: topic, Key: key, Value: value})
	if err != nil {
		t.Fatalf("decode %s: %v", topic, err)
	}
	return ch
}

func TestJSONEventFloatAndDoubleDecode(t *testing.T) {
	tab := Table{Prefix: "shop", Schema: "public", Name: "parts", Key: []string{"id"}, Columns: []Column{
		{Name: "id", Type: "int"}, {Name: "weight", Type: "float"}, {Name: "price", Type: "double", Optional: true},
		{Name: "cost", Type: "decimal(10,3)"}, {Name: "born", Type: "date", Optional: true},
	}}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	row := map[string]any{"id": 7, "weight": 1.5, "price": 19.99, "cost": "-12.345", "born": schema.Date{Year: 2024, Month: 2, Day: 29}}
	key, val, err := tab.JSONEvent('c', nil, row, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(val, []byte(`"type":"float"`)) || !bytes.Contains(val, []byte(`"type":"double"`)) {
		t.Fatalf("value does not use JsonConverter's type names: %s", val)
	}
	d, _ := schema.NewDecoder()
	ch := decodeOne(t, d, tab.Topic(), key, val)
	if ch.Op != schema.OpCreate || ch.KeyString != `{"id":7}` {
		t.Fatalf("change = %+v", ch)
	}
	if ch.After["weight"] != float32(1.5) || ch.After["price"] != 19.99 || ch.After["cost"].(schema.Decimal).String() != "-12.345" ||
		ch.After["born"] != (schema.Date{Year: 2024, Month: 2, Day: 29}) {
		t.Fatalf("after = %v", ch.After)
	}
}

func TestHeartbeatAndTransactionAreNotRows(t *testing.T) {
	d, _ := schema.NewDecoder()
	now := time.UnixMilli(1565787098802).UTC()
	for _, schemas := range []bool{true, false} {
		topic, k, v := Heartbeat("warehouse", now, schemas)
		ch := decodeOne(t, d, topic, k, v)
		if ch.Op != schema.OpHeartbeat || ch.Op.IsRowChange() || !ch.Timestamp.Equal(now) {
			t.Fatalf("heartbeat (schemas %v) = %+v", schemas, ch)
		}
		ch = decodeOne(t, d, "elsewhere", k, v) // recognised without its topic name
		if ch.Op != schema.OpHeartbeat {
			t.Fatalf("heartbeat on another topic = %v", ch.Op)
		}
	}
	topic, k, v := Transaction("warehouse", "BEGIN", "571:53195832", 0, nil, now)
	ch := decodeOne(t, d, topic, k, v)
	if ch.Op != schema.OpTransaction || ch.Transaction == nil || ch.Transaction.Status != "BEGIN" || ch.Transaction.ID != "571:53195832" {
		t.Fatalf("begin = %+v", ch)
	}
	_, k, v = Transaction("warehouse", "END", "571:53195832", 3, map[string]int64{"warehouse.public.customers": 2, "warehouse.public.orders": 1}, now)
	ch = decodeOne(t, d, "elsewhere", k, v)
	if ch.Op != schema.OpTransaction || ch.Transaction.EventCount != 3 || ch.After != nil {
		t.Fatalf("end = %+v", ch)
	}
}

var people = Collection{Prefix: "crm", DB: "app", Name: "people"}

const (
	personV1 = `{"_id": {"$oid": "67ab25755c0d5ac87eb8c632"}, "name": "Ada", "visits": {"$numberLong": "5"}, "address": {"city": "Turin", "zip": "10121"}, "tags": ["a", "b"], "since": {"$date": 1739455297970}}`
	personV2 = `{"_id": {"$oid": "67ab25755c0d5ac87eb8c632"}, "name": "Ada L.", "visits": {"$numberLong": "6"}, "address": {"city": "Milan", "zip": "20121"}, "tags": ["a"], "since": {"$date": 1739455297970}}`
)

func checkPerson(t *testing.T, ch schema.Change, op schema.Op, name, city string) {
	t.Helper()
	row := ch.After
	if op == schema.OpDelete {
		row = ch.Before
	}
	if ch.Op != op || ch.KeyString != `{"_id":"67ab25755c0d5ac87eb8c632"}` {
		t.Fatalf("change = %v key %s", ch.Op, ch.KeyString)
	}
	if row == nil {
		return
	}
	if row["_id"] != "67ab25755c0d5ac87eb8c632" || row["name"] != name || row["address.city"] != city {
		t.Fatalf("row = %v", row)
	}
	if _, ok := row["visits"].(int64); !ok {
		t.Fatalf("visits = %T", row["visits"])
	}
	if s, ok := row["since"].(time.Time); !ok || !s.Equal(time.UnixMilli(1739455297970)) {
		t.Fatalf("since = %v", row["since"])
	}
}

func TestMongoJSONEventsDecode(t *testing.T) {
	d, _ := schema.NewDecoder()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, schemas := range []bool{true, false} {
		k, v, err := people.JSONEvent('c', "", personV1, now, schemas)
		if err != nil {
			t.Fatal(err)
		}
		checkPerson(t, decodeOne(t, d, people.Topic(), k, v), schema.OpCreate, "Ada", "Turin")
		k, v, _ = people.JSONEvent('u', personV1, personV2, now, schemas)
		ch := decodeOne(t, d, people.Topic(), k, v)
		checkPerson(t, ch, schema.OpUpdate, "Ada L.", "Milan")
		if ch.Before["name"] != "Ada" {
			t.Fatalf("before = %v", ch.Before)
		}
		k, v, _ = people.JSONEvent('d', personV2, "", now, schemas)
		checkPerson(t, decodeOne(t, d, people.Topic(), k, v), schema.OpDelete, "Ada L.", "Milan")
		ch = decodeOne(t, d, people.Topic(), k, nil)
		if ch.Op != schema.OpTombstone || ch.KeyString != `{"_id":"67ab25755c0d5ac87eb8c632"}` {
			t.Fatalf("tombstone = %v %s", ch.Op, ch.KeyString)
		}
	}
}

func TestMongoAvroEventsDecode(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := RegisterCollection(context.Background(), cl, people)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := schema.NewDecoder(schema.WithRegistry(cl))
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	k, v, err := enc.Event('c', "", personV1, now)
	if err != nil {
		t.Fatal(err)
	}
	checkPerson(t, decodeOne(t, d, people.Topic(), k, v), schema.OpCreate, "Ada", "Turin")
	k, v, _ = enc.Event('u', personV1, personV2, now)
	checkPerson(t, decodeOne(t, d, people.Topic(), k, v), schema.OpUpdate, "Ada L.", "Milan")
	k, v, _ = enc.Event('d', personV2, "", now)
	checkPerson(t, decodeOne(t, d, people.Topic(), k, v), schema.OpDelete, "Ada L.", "Milan")
}
