package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"zohosink/schema"
	"zohosink/schema/schematest"
)

// The warehouse tables of the demo, as Debezium's PostgreSQL connector with
// topic.prefix "warehouse" names and types them.
var (
	customers = schematest.Table{Prefix: "warehouse", Schema: "public", Name: "customers", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "first_name", Type: "string", Optional: true},
		{Name: "last_name", Type: "string", Optional: true},
		{Name: "email", Type: "string", Optional: true},
		{Name: "phone", Type: "string", Optional: true},
		{Name: "title", Type: "string", Optional: true},
		{Name: "city", Type: "string", Optional: true},
		{Name: "country", Type: "string", Optional: true},
		{Name: "birth_date", Type: "date", Optional: true},
		{Name: "updated_at", Type: "timestamptz"},
	}}
	leads = schematest.Table{Prefix: "warehouse", Schema: "public", Name: "leads", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "first_name", Type: "string", Optional: true},
		{Name: "last_name", Type: "string", Optional: true},
		{Name: "email", Type: "string", Optional: true},
		{Name: "company", Type: "string", Optional: true},
		{Name: "annual_revenue", Type: "decimal(14,2)", Optional: true},
		{Name: "employees", Type: "int", Optional: true},
		{Name: "created_at", Type: "timestamp"},
	}}
	companies = schematest.Table{Prefix: "warehouse", Schema: "public", Name: "companies", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "name", Type: "string"},
		{Name: "website", Type: "string", Optional: true},
		{Name: "industry", Type: "string", Optional: true},
		{Name: "city", Type: "string", Optional: true},
		{Name: "country", Type: "string", Optional: true},
		{Name: "revenue", Type: "decimal(16,2)", Optional: true},
	}}
	opportunities = schematest.Table{Prefix: "warehouse", Schema: "public", Name: "opportunities", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "name", Type: "string"},
		{Name: "stage", Type: "string", Optional: true},
		{Name: "amount", Type: "decimal(12,2)", Optional: true},
		{Name: "close_date", Type: "date", Optional: true},
	}}
	members = schematest.Table{Prefix: "warehouse", Schema: "public", Name: "newsletter_members", Key: []string{"id"}, Columns: []schematest.Column{
		{Name: "id", Type: "long"},
		{Name: "email", Type: "string"},
		{Name: "last_name", Type: "string"},
		{Name: "joined_at", Type: "timestamptz"},
	}}
	tables = []schematest.Table{customers, leads, companies, opportunities, members}
)

var (
	firstNames = []string{"Sally", "George", "Edward", "Anne", "Ravi", "Mei", "Lars", "Amara", "Diego", "Yuki", "Fatima", "Noah", "Priya", "Olga", "Kwame"}
	lastNames  = []string{"Thomas", "Bailey", "Walker", "Kretchmar", "Iyer", "Chen", "Nilsson", "Okafor", "Alvarez", "Sato", "Haddad", "Miller", "Nair", "Petrova", "Mensah"}
	titles     = []string{"Engineer", "VP Sales", "CFO", "Analyst", "Head of Data", "Buyer", "CTO", "Office Manager"}
	cities     = [][2]string{{"Austin", "USA"}, {"Berlin", "Germany"}, {"Chennai", "India"}, {"Sydney", "Australia"}, {"Lyon", "France"}, {"Osaka", "Japan"}}
	industries = []string{"Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy"}
	stages     = []string{"Qualification", "Needs Analysis", "Value Proposition", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}
	words      = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka"}
)

// event is one record to produce: encoded, or raw bytes for the bad ones.
type event struct {
	topic      string
	key, value []byte
}

// plan builds the demo's change events: per table, n snapshot reads, then
// updates (some to unmapped columns only, some repeated on one key), deletes
// with their tombstones, members leaving the audience, and a few bad records
// of every kind: a corrupt value, an unknown schema id, a lead without a
// company, a contact whose email Zoho refuses.
func plan(encs map[string]*schematest.Encoder, n int, seed uint64) ([]event, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	base := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var out []event
	add := func(t schematest.Table, op byte, before, after map[string]any) error {
		k, v, err := encs[t.Name].Event(op, before, after, base.Add(time.Duration(len(out))*time.Millisecond))
		if err != nil {
			return err
		}
		out = append(out, event{topic: t.Topic(), key: k, value: v})
		return nil
	}
	tomb := func(t schematest.Table, row map[string]any) error {
		k, err := encs[t.Name].Key(row)
		if err != nil {
			return err
		}
		out = append(out, event{topic: t.Topic(), key: k})
		return nil
	}
	pick := func(s []string) string { return s[r.IntN(len(s))] }

	// Accounts first: the rows other tables refer to.
	companyRows := make([]map[string]any, n)
	for i := range companyRows {
		c := cities[r.IntN(len(cities))]
		name := fmt.Sprintf("%s %s %d", pick(words), pick([]string{"Corp", "GmbH", "Ltd", "Inc", "Labs"}), i+1)
		companyRows[i] = map[string]any{"id": int64(i + 1), "name": name, "website": "https://" + strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example",
			"industry": pick(industries), "city": c[0], "country": c[1], "revenue": fmt.Sprintf("%d.%02d", 100_000+r.IntN(90_000_000), r.IntN(100))}
	}
	people := func(t schematest.Table, build func(i int, first, last string) map[string]any) []map[string]any {
		rows := make([]map[string]any, n)
		for i := range rows {
			first, last := pick(firstNames), pick(lastNames)
			rows[i] = build(i, first, last)
		}
		return rows
	}
	customerRows := people(customers, func(i int, first, last string) map[string]any {
		c := cities[r.IntN(len(cities))]
		return map[string]any{"id": int64(1000 + i), "first_name": first, "last_name": last,
			"email": fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), 1000+i),
			"phone": fmt.Sprintf("+1 555 %04d", r.IntN(10000)), "title": pick(titles), "city": c[0], "country": c[1],
			"birth_date": schema.Date{Year: 1950 + r.IntN(55), Month: time.Month(1 + r.IntN(12)), Day: 1 + r.IntN(28)}, "updated_at": base}
	})
	leadRows := people(leads, func(i int, first, last string) map[string]any {
		return map[string]any{"id": int64(5000 + i), "first_name": first, "last_name": last,
			"email": fmt.Sprintf("%s.%d@lead.example", strings.ToLower(first+last), 5000+i), "company": companyRows[r.IntN(n)]["name"],
			"annual_revenue": fmt.Sprintf("%d.%02d", r.IntN(50_000_000), r.IntN(100)), "employees": int32(1 + r.IntN(5000)), "created_at": base}
	})
	oppRows := make([]map[string]any, n)
	for i := range oppRows {
		oppRows[i] = map[string]any{"id": int64(9000 + i), "name": fmt.Sprintf("%s renewal %d", companyRows[r.IntN(n)]["name"], 9000+i),
			"stage": pick(stages), "amount": fmt.Sprintf("%d.%02d", 1000+r.IntN(500_000), r.IntN(100)),
			"close_date": base.AddDate(0, 0, 7+r.IntN(180))}
	}
	// Half the members are customers already (same email): the audience sync
	// tags their Contact; the others become new Contacts.
	memberRows := make([]map[string]any, n)
	for i := range memberRows {
		email, last := customerRows[i]["email"], customerRows[i]["last_name"]
		if i%2 == 1 {
			email, last = fmt.Sprintf("reader.%d@newsletter.example", i), pick(lastNames)
		}
		memberRows[i] = map[string]any{"id": int64(20000 + i), "email": email, "last_name": last, "joined_at": base}
	}

	// Snapshot reads.
	for _, set := range []struct {
		t    schematest.Table
		rows []map[string]any
	}{{companies, companyRows}, {customers, customerRows}, {leads, leadRows}, {opportunities, oppRows}, {members, memberRows}} {
		for _, row := range set.rows {
			if err := add(set.t, 'r', nil, row); err != nil {
				return nil, err
			}
		}
	}
	clone := func(m map[string]any) map[string]any {
		c := make(map[string]any, len(m))
		for k, v := range m {
			c[k] = v
		}
		return c
	}
	// Updates: most change a synced column; every fifth only an unsynced one
	// (free: skipped as unchanged); some keys change three times in a row
	// (collapsed into one write).
	for i := 0; i < n/2; i++ {
		j := r.IntN(n)
		before := customerRows[j]
		after := clone(before)
		after["updated_at"] = base.Add(time.Hour)
		if i%5 != 0 {
			after["title"] = pick(titles) + " II"
		}
		if err := add(customers, 'u', before, after); err != nil {
			return nil, err
		}
		customerRows[j] = after
		if i%7 == 0 {
			for k := 0; k < 2; k++ {
				b := customerRows[j]
				a := clone(b)
				a["phone"] = fmt.Sprintf("+1 555 %04d", r.IntN(10000))
				if err := add(customers, 'u', b, a); err != nil {
					return nil, err
				}
				customerRows[j] = a
			}
		}
		o := oppRows[r.IntN(n)]
		no := clone(o)
		no["stage"] = pick(stages)
		no["amount"] = fmt.Sprintf("%d.%02d", 1000+r.IntN(500_000), r.IntN(100))
		if err := add(opportunities, 'u', o, no); err != nil {
			return nil, err
		}
		oppRows[indexOf(oppRows, o)] = no
	}
	// Deletes (skipped by upsert syncs) and their tombstones.
	for i := 0; i < max(n/10, 1); i++ {
		row := leadRows[n-1-i]
		if err := add(leads, 'd', row, nil); err != nil {
			return nil, err
		}
		if err := tomb(leads, row); err != nil {
			return nil, err
		}
	}
	// Members leaving the newsletter: untagged in Zoho.
	for i := 0; i < max(n/5, 1); i++ {
		row := memberRows[i*3%n]
		if err := add(members, 'd', row, nil); err != nil {
			return nil, err
		}
		if err := tomb(members, row); err != nil {
			return nil, err
		}
	}
	// Bad records.
	badLead := clone(leadRows[0])
	badLead["id"], badLead["company"], badLead["email"] = int64(4999), nil, "no.company@lead.example"
	if err := add(leads, 'c', nil, badLead); err != nil {
		return nil, err
	}
	badContact := clone(customerRows[0])
	badContact["id"], badContact["email"] = int64(999), "not-an-email"
	if err := add(customers, 'c', nil, badContact); err != nil {
		return nil, err
	}
	k, _ := encs["customers"].Key(map[string]any{"id": int64(998)})
	out = append(out, event{topic: customers.Topic(), key: k, value: []byte("{\"id\": 998, \"oops\": \"not Avro\"")})
	k, _ = encs["leads"].Key(map[string]any{"id": int64(4998)})
	out = append(out, event{topic: leads.Topic(), key: k, value: []byte{0, 0, 0, 0x27, 0x0f, 2, 4, 6}}) // schema id 9999
	return out, nil
}

func indexOf(rows []map[string]any, row map[string]any) int {
	for i, r := range rows {
		if r["id"] == row["id"] {
			return i
		}
	}
	return 0
}
