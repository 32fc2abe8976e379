package schema_test

import (
	"context"
	"fmt"

	"zohosink/schema"
)

// A JSON-converter event (schemas.enable=false) needs no registry. With
// Avro topics, pass WithRegistry or WithRegistryURL.
func ExampleDecoder_Decode() {
	d, err := schema.NewDecoder()
	if err != nil {
		panic(err)
	}
	ch, err := d.Decode(context.Background(), schema.Message{
		Topic: "shop.public.customers", Partition: 0, Offset: 17,
		Key: []byte(`{"id":1004}`),
		Value: []byte(`{"before":null,"after":{"id":1004,"email":"annek@noanswer.org","balance":12.50},
			"source":{"connector":"postgresql","name":"shop","db":"shop","schema":"public","table":"customers","ts_ms":1700000000000},
			"op":"c","ts_ms":1700000000100}`),
	})
	if err != nil {
		fmt.Println(err, schema.IsRetryable(err))
		return
	}
	fmt.Println(ch.Op, ch.KeyString, ch.Source.Table, ch.Timestamp.UTC().Format("2006-01-02T15:04:05Z"))
	fmt.Println(ch.After["email"], ch.After["balance"])
	// Output:
	// c {"id":1004} customers 2023-11-14T22:13:20Z
	// annek@noanswer.org 12.50
}
