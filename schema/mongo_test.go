package schema

import (
	"strings"
	"testing"
)

// MongoDB documents in the extended JSON forms Debezium has written:
// legacy strict (1.x and 2.x), relaxed and canonical.
func TestMongoDocumentForms(t *testing.T) {
	doc := `{"_id": {"$oid": "5f1e7c3b9d1e8a0001a2b3c4"},
 "n32": {"$numberInt": "7"}, "n64": {"$numberLong": "9007199254740993"}, "dbl": {"$numberDouble": "-1.5"}, "inf": {"$numberDouble": "Infinity"},
 "dec": {"$numberDecimal": "1234567890.123456789012345"}, "plainInt": 12, "plainDbl": 2.50,
 "d1": {"$date": 1739455297970}, "d2": {"$date": "2025-02-13T14:01:37.97Z"}, "d3": {"$date": {"$numberLong": "1739455297970"}},
 "bin": {"$binary": "AQID", "$type": "00"}, "bin2": {"$binary": {"base64": "AQID", "subType": "00"}},
 "uuid": {"$binary": {"base64": "FA7YEzXgQXSX9OxmzllH2w==", "subType": "04"}},
 "ts": {"$timestamp": {"t": 1700000000, "i": 1}}, "none": null, "flag": true,
 "address": {"city": "Turin", "geo": {"lat": {"$numberDouble": "45.07"}, "lng": 7.68}}, "address.city": "wins",
 "tags": ["x", {"$numberLong": "3"}, {"k": {"$oid": "5f1e7c3b9d1e8a0001a2b3c4"}}]}`
	row, err := mongoDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"_id": "s:5f1e7c3b9d1e8a0001a2b3c4", "n32": "i32:7", "n64": "i64:9007199254740993", "dbl": "f64:-1.5", "inf": "f64:+Inf",
		"dec": "dec:1234567890.123456789012345", "plainInt": "i64:12", "plainDbl": "f64:2.5",
		"d1": "ts:2025-02-13T14:01:37.97Z", "d2": "ts:2025-02-13T14:01:37.97Z", "d3": "ts:2025-02-13T14:01:37.97Z",
		"bin": "bytes:AQID", "bin2": "bytes:AQID", "uuid": "s:140ed813-35e0-4174-97f4-ec66ce5947db",
		"ts": "ts:2023-11-14T22:13:20Z", "none": "null", "flag": "bool:true",
		"address":         `json:{"city":"Turin","geo":{"lat":45.07,"lng":7.68}}`,
		"address.city":    "s:wins", // a top-level field named with a dot wins
		"address.geo":     `json:{"lat":45.07,"lng":7.68}`,
		"address.geo.lat": "f64:45.07",
		"address.geo.lng": "f64:7.68",
		"tags":            `json:["x",3,{"k":"5f1e7c3b9d1e8a0001a2b3c4"}]`,
	}
	for col, w := range want {
		if got := show(row[col]); got != w {
			t.Errorf("%s = %s, want %s", col, got, w)
		}
	}
	if len(row) != len(want) {
		t.Errorf("%d columns, want %d: %v", len(row), len(want), row)
	}
}

func TestMongoKeys(t *testing.T) {
	for key, want := range map[string]string{
		`{"id":"{\"$oid\": \"5f1e7c3b9d1e8a0001a2b3c4\"}"}`: `{"_id":"5f1e7c3b9d1e8a0001a2b3c4"}`,
		`{"id":"\"plain-string-id\""}`:                      `{"_id":"plain-string-id"}`,
		`{"id":"{\"$numberLong\": \"1004\"}"}`:              `{"_id":1004}`,
		`{"id":"1004"}`:                                     `{"_id":1004}`,
		`{"id":"{\"a\": 1, \"b\": \"x\"}"}`:                 `{"_id":"{\"a\":1,\"b\":\"x\"}"}`,
	} {
		ch := mustJSON(t, "m", key, `{"after":"{\"_id\": 1, \"a\": 2}","source":{"connector":"mongodb"},"op":"c"}`)
		if ch.KeyString != want {
			t.Errorf("key %s: %s, want %s", key, ch.KeyString, want)
		}
	}
	// A relational table whose key column is called id keeps its key.
	ch := mustJSON(t, "t", `{"id":"1004"}`, `{"after":{"id":"1004"},"source":{"connector":"postgresql"},"op":"c"}`)
	if ch.KeyString != `{"id":"1004"}` {
		t.Errorf("relational key rewritten: %s", ch.KeyString)
	}
	// A tombstone: only ids that are unmistakably extended JSON.
	d := newDecoder(t)
	for key, want := range map[string]string{
		`{"id":"{\"$oid\": \"5f1e7c3b9d1e8a0001a2b3c4\"}"}`: `{"_id":"5f1e7c3b9d1e8a0001a2b3c4"}`,
		`{"id":"1004"}`: `{"id":"1004"}`,
	} {
		ch := decode(t, d, Message{Topic: "m", Key: []byte(key)})
		if ch.Op != OpTombstone || ch.KeyString != want {
			t.Errorf("tombstone key %s: %v %s, want %s", key, ch.Op, ch.KeyString, want)
		}
	}
}

// ExtractNewDocumentState output: the document itself, with __op,
// __deleted and other additions like ExtractNewRecordState's.
func TestMongoFlattenedDocument(t *testing.T) {
	key := `{"id":"{\"$oid\": \"5f1e7c3b9d1e8a0001a2b3c4\"}"}`
	ch := mustJSON(t, "m", key, `{"_id":"5f1e7c3b9d1e8a0001a2b3c4","name":"Ada","address":{"city":"Turin","zip":10121},"tags":["a"],"__op":"u","__deleted":"false"}`)
	if ch.Op != OpUpdate || !ch.Flattened || ch.KeyString != `{"_id":"5f1e7c3b9d1e8a0001a2b3c4"}` {
		t.Fatalf("change = %v %v %s", ch.Op, ch.Flattened, ch.KeyString)
	}
	for col, w := range map[string]string{"name": "s:Ada", "address": `json:{"city":"Turin","zip":10121}`, "address.city": "s:Turin", "address.zip": "i64:10121", "tags": `json:["a"]`} {
		if got := show(ch.After[col]); got != w {
			t.Errorf("%s = %s, want %s", col, got, w)
		}
	}
	ch = mustJSON(t, "m", key, `{"_id":"5f1e7c3b9d1e8a0001a2b3c4","__deleted":true}`)
	if ch.Op != OpDelete || ch.Before["_id"] != "5f1e7c3b9d1e8a0001a2b3c4" {
		t.Fatalf("delete = %+v", ch)
	}
}

func TestMongoDocumentErrors(t *testing.T) {
	for _, doc := range []string{`{"a":`, `{"$oid": "x"}`, `{"a": 1} trailing`, strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)} {
		if _, err := mongoDocument(doc); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
	// A date outside years 0..9999 stays the raw milliseconds.
	row, err := mongoDocument(`{"d": {"$date": {"$numberLong": "-99999999999999999"}}}`)
	if err != nil || row["d"] != int64(-99999999999999999) {
		t.Fatalf("far date = %#v %v", row["d"], err)
	}
}

func TestColumnsOfMongoEnvelopeSaysWhy(t *testing.T) {
	env := `{"type":"record","name":"Envelope","fields":[{"name":"after","type":["null",{"type":"string","connect.name":"io.debezium.data.Json"}]},{"name":"op","type":"string"}]}`
	if _, err := ColumnsOf(env); err == nil || !strings.Contains(err.Error(), "MongoDB documents") {
		t.Fatalf("err = %v", err)
	}
}
