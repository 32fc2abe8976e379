package schema

import (
	"context"
	"math/big"
	"testing"
	"time"
)

// ordersSchema is a Debezium 2.x PostgreSQL envelope for a 20-column table
// (int, bigint, text, varchar, numeric, date, timestamp, timestamptz,
// boolean, uuid, json, nullable columns), as AvroConverter registers it.
const ordersSchema = `{"type":"record","name":"Envelope","namespace":"shop.public.orders","fields":[
{"name":"before","type":["null",{"type":"record","name":"Value","fields":[
 {"name":"id","type":"int"},
 {"name":"customer_id","type":"long"},
 {"name":"status","type":"string"},
 {"name":"email","type":["null","string"],"default":null},
 {"name":"total","type":{"type":"bytes","scale":2,"precision":12,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"12"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
 {"name":"tax","type":["null",{"type":"bytes","scale":2,"precision":12,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"12"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},
 {"name":"order_date","type":{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}},
 {"name":"created_at","type":{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}},
 {"name":"updated_at","type":["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.time.ZonedTimestamp"}],"default":null},
 {"name":"paid","type":"boolean"},
 {"name":"external_id","type":["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Uuid"}],"default":null},
 {"name":"attrs","type":["null",{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}],"default":null},
 {"name":"quantity","type":"int"},
 {"name":"weight_grams","type":["null","long"],"default":null},
 {"name":"currency","type":"string"},
 {"name":"channel","type":["null","string"],"default":null},
 {"name":"ship_date","type":["null",{"type":"int","connect.version":1,"connect.name":"io.debezium.time.Date"}],"default":null},
 {"name":"discount","type":["null",{"type":"bytes","scale":4,"precision":8,"connect.version":1,"connect.parameters":{"scale":"4","connect.decimal.precision":"8"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},
 {"name":"notes","type":["null","string"],"default":null},
 {"name":"priority","type":{"type":"int","connect.type":"int16"}}
],"connect.name":"shop.public.orders.Value"}],"default":null},
{"name":"after","type":["null","Value"],"default":null},
{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[
 {"name":"version","type":"string"},{"name":"connector","type":"string"},{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},
 {"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},
 {"name":"db","type":"string"},{"name":"sequence","type":["null","string"],"default":null},
 {"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null},
 {"name":"schema","type":"string"},{"name":"table","type":"string"},
 {"name":"txId","type":["null","long"],"default":null},{"name":"lsn","type":["null","long"],"default":null},{"name":"xmin","type":["null","long"],"default":null}],
 "connect.name":"io.debezium.connector.postgresql.Source"}},
{"name":"transaction","type":["null",{"type":"record","name":"block","namespace":"event","fields":[{"name":"id","type":"string"},{"name":"total_order","type":"long"},{"name":"data_collection_order","type":"long"}],"connect.version":1,"connect.name":"event.block"}],"default":null},
{"name":"op","type":"string"},
{"name":"ts_ms","type":["null","long"],"default":null},{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null}
],"connect.version":2,"connect.name":"shop.public.orders.Envelope"}`

const ordersKeySchema = `{"type":"record","name":"Key","namespace":"shop.public.orders","fields":[{"name":"id","type":"int"}],"connect.name":"shop.public.orders.Key"}`

func ordersRow(status string, total int64) map[string]any {
	return map[string]any{
		"id": int32(1001), "customer_id": int64(5000000001), "status": status,
		"email":       u("string", "sally.thomas@acme.com"),
		"total":       twos(big.NewInt(total)),
		"tax":         u("bytes", twos(big.NewInt(total/5))),
		"order_date":  int32(20000),
		"created_at":  int64(1700000000123456),
		"updated_at":  u("string", "2026-11-29T10:15:30.123456Z"),
		"paid":        true,
		"external_id": u("string", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
		"attrs":       u("string", `{"gift":true,"lines":3}`),
		"quantity":    int32(3), "weight_grams": u("long", int64(1250)), "currency": "EUR",
		"channel": u("string", "web"), "ship_date": u("int", int32(20002)),
		"discount": u("bytes", twos(big.NewInt(1500))), "notes": nil, "priority": int32(2),
	}
}

func ordersEvent(t testing.TB, id int) []byte {
	return encode(t, id, ordersSchema, map[string]any{
		"before": u("shop.public.orders.Value", ordersRow("pending", 12999)),
		"after":  u("shop.public.orders.Value", ordersRow("paid", 13999)),
		"source": map[string]any{
			"version": "2.7.3.Final", "connector": "postgresql", "name": "shop", "ts_ms": int64(1764411330123),
			"snapshot": u("string", "false"), "db": "shop", "sequence": u("string", `["24023119","24023128"]`),
			"ts_us": u("long", int64(1764411330123456)), "ts_ns": u("long", int64(1764411330123456000)),
			"schema": "public", "table": "orders", "txId": u("long", int64(556)), "lsn": u("long", int64(24023128)), "xmin": nil,
		},
		"transaction": nil, "op": "u",
		"ts_ms": u("long", int64(1764411330200)), "ts_us": u("long", int64(1764411330200000)), "ts_ns": u("long", int64(1764411330200000000)),
	})
}

func TestDecodePostgresUpdate20Cols(t *testing.T) {
	reg, cl := registry(t)
	id := register(t, reg, "shop.public.orders-value", ordersSchema)
	kid := register(t, reg, "shop.public.orders-key", ordersKeySchema)
	d := newDecoder(t, WithRegistry(cl))
	ch := decode(t, d, Message{Topic: "shop.public.orders", Key: encode(t, kid, ordersKeySchema, map[string]any{"id": int32(1001)}), Value: ordersEvent(t, id)})
	if ch.Op != OpUpdate || len(ch.Before) != 20 || len(ch.After) != 20 || ch.KeyString != `{"id":1001}` {
		t.Fatalf("change = %+v", ch)
	}
	checks := map[string]string{
		"status": "paid", "total": "139.99", "tax": "27.99", "order_date": "2024-10-04", "created_at": "2023-11-14 22:13:20.123456 +0000 UTC",
		"updated_at": "2026-11-29 10:15:30.123456 +0000 UTC", "discount": "0.1500", "attrs": `{"gift":true,"lines":3}`, "notes": "<nil>",
	}
	for col, want := range checks {
		if got := fmtValue(ch.After[col]); got != want {
			t.Errorf("%s = %s, want %s", col, got, want)
		}
	}
	if ch.Before["status"] != "pending" || ch.Source.Table != "orders" || ch.Source.TxID != "556" {
		t.Errorf("before/source: %v %+v", ch.Before["status"], ch.Source)
	}
}

func fmtValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return v
	case JSON:
		return string(v)
	case interface{ String() string }:
		return v.String()
	}
	return "?"
}

// BenchmarkDecodePostgresUpdate20Cols decodes a 20-column PostgreSQL update
// (before and after) with a warm schema cache.
//
//	go test ./schema -run=^$ -bench=DecodePostgresUpdate20Cols -benchmem -cpu 1
func BenchmarkDecodePostgresUpdate20Cols(b *testing.B) {
	reg, cl := registry(b)
	id := register(b, reg, "shop.public.orders-value", ordersSchema)
	kid := register(b, reg, "shop.public.orders-key", ordersKeySchema)
	d := newDecoder(b, WithRegistry(cl))
	m := Message{Topic: "shop.public.orders", Partition: 0, Timestamp: time.Now(),
		Key: encode(b, kid, ordersKeySchema, map[string]any{"id": int32(1001)}), Value: ordersEvent(b, id)}
	ctx := context.Background()
	if _, err := d.Decode(ctx, m); err != nil { // warm the cache
		b.Fatal(err)
	}
	b.SetBytes(int64(len(m.Value) + len(m.Key)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Offset = int64(i)
		if _, err := d.Decode(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "events/s")
	}
}
