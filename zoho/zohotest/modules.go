package zohotest

import (
	"fmt"
	"strings"
)

// field is one field of a module as the fields metadata describes it.
type field struct {
	apiName         string
	label           string
	dataType        string
	length          int
	readOnly        bool
	systemMandatory bool
	unique          bool
	custom          bool
	lookup          string   // target module of a lookup
	picklist        []string // actual values; unknown values written are appended
	decimalPlace    int      // currency: 2
	id              string
}

func (fl *field) jsonType() string {
	switch fl.dataType {
	case "integer":
		return "integer"
	case "currency", "double", "decimal", "percent":
		return "double"
	case "boolean":
		return "boolean"
	case "lookup", "ownerlookup":
		return "jsonobject"
	case "multiselectpicklist":
		return "jsonarray"
	}
	if fl.apiName == "Tag" {
		return "jsonarray"
	}
	return "string"
}

// module is a simulated CRM module: its fields and its records.
type module struct {
	name      string
	fields    []*field
	byName    map[string]*field
	dupField  string   // the system duplicate-check field used by upsert
	uniques   []string // user-defined "no duplicates" fields, in option order
	nameField string   // what a lookup to this module shows as name
	records   map[string]*record
	order     []string                       // ids, ascending
	index     map[string]map[string][]string // indexed field -> key -> ids (ascending)
	tagIDs    map[string]string              // lower-cased tag name -> tag id
	tagOrder  []string                       // tag names as created, oldest first
}

// record is one stored record.
type record struct {
	id     string
	fields map[string]any // stored values by api name (system fields included)
	tags   []string
}

var (
	stagePicklist = []string{"Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
		"Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost", "Closed Lost to Competition"}
	leadSourcePicklist = []string{"-None-", "Advertisement", "Cold Call", "Employee Referral", "External Referral",
		"Online Store", "Partner", "Public Relations", "Sales Email Alias", "Seminar Partner", "Internal Seminar",
		"Trade Show", "Web Download", "Web Research", "Chat"}
	industryPicklist = []string{"-None-", "ASP (Application Service Provider)", "Data/Telecom OEM", "ERP (Enterprise Resource Planning)",
		"Government/Military", "Large Enterprise", "ManagementISV", "MSP (Management Service Provider)", "Network Equipment Enterprise",
		"Non-management ISV", "Optical Networking", "Service Provider", "Small/Medium Enterprise", "Storage Equipment",
		"Storage Service Provider", "Systems Integrator", "Wireless Industry", "Communications", "Technology", "Government", "Retail", "Manufacturing"}
	leadStatusPicklist = []string{"-None-", "Attempted to Contact", "Contact in Future", "Contacted", "Junk Lead",
		"Lost Lead", "Not Contacted", "Pre-Qualified", "Not Qualified"}
	ratingPicklist      = []string{"-None-", "Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down"}
	accountTypePicklist = []string{"-None-", "Analyst", "Competitor", "Customer", "Distributor", "Integrator",
		"Investor", "Other", "Partner", "Press", "Prospect", "Reseller", "Vendor"}
	ownershipPicklist = []string{"-None-", "Other", "Private", "Public", "Subsidiary", "Partnership", "Government", "Privately Held", "Public Company"}
	dealTypePicklist  = []string{"-None-", "Existing Business", "New Business"}
	interestPicklist  = []string{"Analytics", "CRM", "Marketing", "Support", "Finance"}
)

func f(api, dataType string, length int) *field {
	return &field{apiName: api, label: strings.ReplaceAll(api, "_", " "), dataType: dataType, length: length}
}

func pick(api string, values []string) *field {
	fl := f(api, "picklist", 120)
	fl.picklist = append([]string(nil), values...)
	return fl
}

func lookupTo(api, target string) *field {
	fl := f(api, "lookup", 0)
	fl.lookup = target
	return fl
}

func mandatory(fl *field) *field { fl.systemMandatory = true; return fl }
func readOnly(fl *field) *field  { fl.readOnly = true; return fl }
func money(api string) *field {
	fl := f(api, "currency", 16)
	fl.decimalPlace = 2
	return fl
}

// commonFields are on every module.
func commonFields() []*field {
	return []*field{
		f("Owner", "ownerlookup", 0),
		readOnly(f("Created_Time", "datetime", 0)),
		readOnly(f("Modified_Time", "datetime", 0)),
		readOnly(f("Created_By", "ownerlookup", 0)),
		readOnly(f("Modified_By", "ownerlookup", 0)),
		f("Tag", "text", 0),
		externalID(),
	}
}

// externalID is the custom Long Integer field External_Id that every module
// of a fresh simulated org has, marked "Do not allow duplicate values": a
// user-defined unique field, which upsert matches on after the listed
// duplicate_check_fields (crm-oas v8.0/record/operations/upsertRecords/
// operation.md: "User-defined unique fields are fields for which the 'Do not
// allow duplicate values' option is enabled"; Long Integer fields can be
// unique: docs/zoho-api.md, "Upsert matching").
func externalID() *field {
	fl := f("External_Id", "bigint", 18)
	fl.custom, fl.unique = true, true
	return fl
}

// newModules builds the four modules of a fresh org.
func newModules() map[string]*module {
	defs := []struct {
		name, dup, nameField string
		fields               []*field
	}{
		{"Contacts", "Email", "Full_Name", []*field{
			f("First_Name", "text", 40), mandatory(f("Last_Name", "text", 80)), readOnly(f("Full_Name", "text", 120)),
			f("Email", "email", 100), f("Secondary_Email", "email", 100), f("Phone", "phone", 30), f("Mobile", "phone", 30),
			f("Home_Phone", "phone", 30), f("Other_Phone", "phone", 30), f("Asst_Phone", "phone", 30), f("Fax", "phone", 30),
			f("Assistant", "text", 30), f("Title", "text", 100), f("Department", "text", 30),
			f("Mailing_Street", "text", 250), f("Mailing_City", "text", 100), f("Mailing_State", "text", 100),
			f("Mailing_Zip", "text", 30), f("Mailing_Country", "text", 100),
			f("Date_of_Birth", "date", 0), f("Description", "textarea", 32000), pick("Lead_Source", leadSourcePicklist),
			f("Email_Opt_Out", "boolean", 0), lookupTo("Account_Name", "Accounts"),
		}},
		{"Leads", "Email", "Full_Name", []*field{
			f("First_Name", "text", 40), mandatory(f("Last_Name", "text", 80)), readOnly(f("Full_Name", "text", 120)),
			f("Email", "email", 100), f("Secondary_Email", "email", 100), f("Phone", "phone", 30), f("Mobile", "phone", 30),
			f("Fax", "phone", 30), f("Title", "text", 100), f("Company", "text", 200), f("Street", "text", 250), f("City", "text", 100), f("State", "text", 100),
			f("Zip_Code", "text", 30), f("Country", "text", 100), pick("Industry", industryPicklist),
			money("Annual_Revenue"), f("No_of_Employees", "integer", 9), pick("Lead_Source", leadSourcePicklist),
			pick("Lead_Status", leadStatusPicklist), pick("Rating", ratingPicklist), f("Website", "website", 255),
			f("Description", "textarea", 32000), f("Email_Opt_Out", "boolean", 0),
			func() *field {
				fl := f("Product_Interest", "multiselectpicklist", 2000)
				fl.picklist = append([]string(nil), interestPicklist...)
				return fl
			}(),
		}},
		{"Accounts", "Account_Name", "Account_Name", []*field{
			mandatory(f("Account_Name", "text", 200)), f("Phone", "phone", 30), f("Fax", "phone", 30), f("Website", "website", 255),
			pick("Industry", industryPicklist), f("Billing_Street", "text", 250), f("Billing_City", "text", 100),
			f("Billing_State", "text", 100), f("Billing_Code", "text", 30), f("Billing_Country", "text", 100),
			money("Annual_Revenue"), f("Employees", "integer", 9), pick("Account_Type", accountTypePicklist),
			pick("Ownership", ownershipPicklist), f("Description", "textarea", 32000),
		}},
		{"Deals", "Deal_Name", "Deal_Name", []*field{
			mandatory(f("Deal_Name", "text", 120)), mandatory(pick("Stage", stagePicklist)), f("Closing_Date", "date", 0),
			money("Amount"), f("Probability", "integer", 3), lookupTo("Account_Name", "Accounts"),
			lookupTo("Contact_Name", "Contacts"), pick("Type", dealTypePicklist), pick("Lead_Source", leadSourcePicklist),
			f("Next_Step", "text", 100), f("Description", "textarea", 32000),
		}},
	}
	out := make(map[string]*module, len(defs))
	for mi, d := range defs {
		m := &module{name: d.name, dupField: d.dup, nameField: d.nameField, byName: map[string]*field{},
			records: map[string]*record{}, index: map[string]map[string][]string{}, tagIDs: map[string]string{}}
		for _, fl := range append(d.fields, commonFields()...) {
			m.addField(fl, mi)
		}
		m.index[d.dup] = map[string][]string{}
		for _, fl := range m.fields {
			if fl.unique {
				m.uniques = append(m.uniques, fl.apiName)
				m.index[fl.apiName] = map[string][]string{}
			}
		}
		out[d.name] = m
	}
	// Field labels Zoho shows differently from the api name.
	for _, m := range out {
		for _, fl := range m.fields {
			switch fl.apiName {
			case "Owner":
				fl.label = m.singular() + " Owner"
			case "Email_Opt_Out":
				fl.label = "Email Opt Out"
			case "Tag":
				fl.label = "Tag"
			case "External_Id":
				fl.label = "External Id"
			}
		}
	}
	return out
}

func (m *module) addField(fl *field, moduleIndex int) {
	fl.id = fmt.Sprintf("57257670000000%02d%03d", moduleIndex+2, len(m.fields)+1)
	m.fields = append(m.fields, fl)
	m.byName[fl.apiName] = fl
}

// moduleID is a stable id for the module, as Zoho's module objects carry.
func (m *module) moduleID() string {
	return fmt.Sprintf("57257670000000%05d", 2000+len(m.name))
}

func (m *module) singular() string { return strings.TrimSuffix(m.name, "s") }

// addUnique marks api names as user-defined unique fields, creating a
// custom single-line field for a name the module does not have.
func (m *module) addUnique(names []string) {
	for _, n := range names {
		fl, ok := m.byName[n]
		if !ok {
			fl = f(n, "text", 255)
			fl.custom = true
			m.addField(fl, 8)
		}
		if fl.unique {
			continue
		}
		fl.unique = true
		m.uniques = append(m.uniques, n)
		if m.index[n] == nil {
			m.index[n] = map[string][]string{}
		}
	}
}

// dupFields are the fields upsert may match on: the system field, then the
// user-defined unique ones.
func (m *module) dupCapable(name string) bool {
	if name == m.dupField {
		return true
	}
	fl := m.byName[name]
	return fl != nil && fl.unique
}

func (m *module) defaultDupFields() []string {
	return append([]string{m.dupField}, m.uniques...)
}

// metadata renders a field like an item of GET /settings/fields.
func (fl *field) metadata(m *module) map[string]any {
	pl := make([]any, 0, len(fl.picklist))
	for i, v := range fl.picklist {
		pl = append(pl, map[string]any{"display_value": v, "actual_value": v, "sequence_number": i + 1,
			"id": fmt.Sprintf("%s%03d", fl.id[:16], i+1), "type": "used"})
	}
	unique := map[string]any{}
	if fl.unique {
		unique["casesensitive"] = "false"
	}
	lookup := map[string]any{}
	if fl.lookup != "" {
		lookup["module"] = map[string]any{"api_name": fl.lookup, "id": fmt.Sprintf("57257670000000%05d", 2000+len(fl.lookup))}
		lookup["display_label"] = fl.label
		lookup["api_name"] = fl.apiName
	}
	var length any = fl.length
	var decimal any
	if fl.decimalPlace > 0 {
		decimal = fl.decimalPlace
	}
	created := "default"
	if fl.custom {
		created = "user"
	}
	return map[string]any{
		"api_name":                          fl.apiName,
		"field_label":                       fl.label,
		"display_label":                     fl.label,
		"data_type":                         fl.dataType,
		"json_type":                         fl.jsonType(),
		"length":                            length,
		"read_only":                         fl.readOnly,
		"field_read_only":                   fl.readOnly,
		"system_mandatory":                  fl.systemMandatory,
		"unique":                            unique,
		"pick_list_values":                  pl,
		"lookup":                            lookup,
		"decimal_place":                     decimal,
		"custom_field":                      fl.custom,
		"id":                                fl.id,
		"visible":                           true,
		"type":                              "used",
		"created_source":                    created,
		"filterable":                        true,
		"sortable":                          true,
		"searchable":                        fl.dataType != "textarea",
		"currency":                          map[string]any{},
		"formula":                           map[string]any{},
		"auto_number":                       map[string]any{},
		"multiselectlookup":                 map[string]any{},
		"multi_module_lookup":               map[string]any{},
		"rollup_summary":                    map[string]any{},
		"associated_module":                 nil,
		"operation_type":                    map[string]any{"web_update": !fl.readOnly, "api_create": !fl.readOnly, "web_create": !fl.readOnly, "api_update": !fl.readOnly},
		"view_type":                         map[string]any{"view": true, "edit": !fl.readOnly, "quick_create": fl.systemMandatory, "create": !fl.readOnly},
		"mass_update":                       !fl.readOnly && !fl.systemMandatory,
		"virtual_field":                     false,
		"display_type":                      -1,
		"global_picklist":                   nil,
		"history_tracking":                  nil,
		"crypt":                             nil,
		"tooltip":                           nil,
		"external":                          nil,
		"webhook":                           true,
		"separator":                         false,
		"display_field":                     fl.apiName == m.nameField,
		"pick_list_values_sorted_lexically": false,
	}
}
