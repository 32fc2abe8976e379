package config

// ModuleInfo holds what zohosink knows about one Zoho CRM module without
// asking the org: the fields a sync must map, the fields mapped when a sync
// gives no mapping, and the field Zoho matches upserts on by default.
//
// The facts are those of docs/zoho-api.md, "Modules"; this file is their
// only home in the code.
type ModuleInfo struct {
	// Name is the module's API name, e.g. "Contacts".
	Name string
	// RequiredFields must be mapped (by fields or constants) by every sync
	// that creates records: model upsert and insert, audience add, mirror
	// and upsert. A row whose value for one of them is empty is
	// dead-lettered before anything is sent.
	RequiredFields []string
	// DefaultFields are mapped, from columns of the same name compared
	// case-insensitively, when a sync omits fields.
	DefaultFields []string
	// DefaultMatchField is Zoho's system duplicate-check field for upserts.
	DefaultMatchField string
}

// ModuleNames lists the modules zohosink syncs to, in the order the product
// presents them.
var ModuleNames = []string{"Contacts", "Leads", "Accounts", "Deals"}

// moduleTable is the one source of module facts. Module returns copies, so
// callers cannot change it.
var moduleTable = []ModuleInfo{
	{
		Name:              "Contacts",
		RequiredFields:    []string{"Last_Name"},
		DefaultFields:     []string{"Last_Name", "First_Name", "Email", "Phone", "Title", "Mailing_City", "Mailing_State", "Mailing_Country"},
		DefaultMatchField: "Email",
	},
	{
		Name:              "Leads",
		RequiredFields:    []string{"Last_Name", "Company"},
		DefaultFields:     []string{"Last_Name", "First_Name", "Email", "Phone", "Title", "Company", "City", "State", "Country"},
		DefaultMatchField: "Email",
	},
	{
		Name:              "Accounts",
		RequiredFields:    []string{"Account_Name"},
		DefaultFields:     []string{"Account_Name", "Phone", "Website", "Industry", "Billing_City", "Billing_State", "Billing_Country"},
		DefaultMatchField: "Account_Name",
	},
	{
		Name:              "Deals",
		RequiredFields:    []string{"Deal_Name", "Stage"},
		DefaultFields:     []string{"Deal_Name", "Stage", "Closing_Date", "Amount", "Account_Name"},
		DefaultMatchField: "Deal_Name",
	},
}

// Module returns the facts of the module with exactly this API name
// ("Contacts", not "contacts"), and false for any other name. The slices of
// the result are fresh copies the caller may keep or change.
func Module(name string) (ModuleInfo, bool) {
	for _, m := range moduleTable {
		if m.Name == name {
			m.RequiredFields = append([]string(nil), m.RequiredFields...)
			m.DefaultFields = append([]string(nil), m.DefaultFields...)
			return m, true
		}
	}
	return ModuleInfo{}, false
}
