// Command zohosink syncs Debezium change events from Kafka to Zoho CRM.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "zohosink: commands are being built; see README.md")
	os.Exit(2)
}
