package zoho_test

import (
	"context"
	"fmt"
	"log"

	"zohosink/zoho"
	"zohosink/zoho/zohotest"
)

// A client for an org in the EU data center would be built with
// zoho.WithDataCenter("eu") and the refresh token from `zohosink auth`; here
// it talks to the in-process simulator instead.
func ExampleNewClient() {
	sim := zohotest.NewServer()
	defer sim.Close()
	cred := sim.Credentials()

	client, err := zoho.NewClient(
		zoho.WithAccountsURL(sim.URL), // production: WithDataCenter("eu")
		zoho.WithCredentials(cred.ClientID, cred.ClientSecret, cred.RefreshToken),
		zoho.WithEdition("professional"),
		zoho.WithDailyCreditBudget(20000),
		zoho.WithMaxRetries(-1), // retry transient failures until ctx ends
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res, err := client.Upsert(ctx, "Leads", []zoho.Record{
		{"Last_Name": "Lovelace", "Company": "Analytical Engines", "Email": "ada@example.com"},
		{"First_Name": "Nameless", "Company": "Nowhere Ltd"}, // no Last_Name
	}, zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}, Trigger: []string{}})
	switch {
	case zoho.IsFatal(err):
		log.Fatal(err) // a person must act: the message says how
	case err != nil:
		log.Fatal(err) // retries ran out; the whole call can be tried again later
	}
	for i, r := range res {
		if r.OK() {
			fmt.Printf("record %d: %s\n", i, r.Action)
		} else {
			fmt.Printf("record %d: rejected: %s on %s\n", i, r.Err.Code, r.Err.APIName)
		}
	}
	fmt.Println("credits used:", client.Stats().CreditsUsed24h)
	// Output:
	// record 0: insert
	// record 1: rejected: MANDATORY_NOT_FOUND on Last_Name
	// credits used: 1
}
