package config

import (
	"slices"
	"testing"
)

func TestModuleFacts(t *testing.T) {
	// The facts of docs/zoho-api.md, "Modules", restated.
	for _, c := range []struct {
		name     string
		required []string
		defaults []string
		match    string
	}{
		{"Contacts", []string{"Last_Name"}, []string{"Last_Name", "First_Name", "Email", "Phone", "Title", "Mailing_City", "Mailing_State", "Mailing_Country"}, "Email"},
		{"Leads", []string{"Last_Name", "Company"}, []string{"Last_Name", "First_Name", "Email", "Phone", "Title", "Company", "City", "State", "Country"}, "Email"},
		{"Accounts", []string{"Account_Name"}, []string{"Account_Name", "Phone", "Website", "Industry", "Billing_City", "Billing_State", "Billing_Country"}, "Account_Name"},
		{"Deals", []string{"Deal_Name", "Stage"}, []string{"Deal_Name", "Stage", "Closing_Date", "Amount", "Account_Name"}, "Deal_Name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, ok := Module(c.name)
			if !ok {
				t.Fatalf("Module(%q) not found", c.name)
			}
			if m.Name != c.name || !slices.Equal(m.RequiredFields, c.required) || !slices.Equal(m.DefaultFields, c.defaults) || m.DefaultMatchField != c.match {
				t.Errorf("Module(%q) = %+v", c.name, m)
			}
			// A sync on the default fields must satisfy the module's rules.
			for _, f := range append(slices.Clone(m.RequiredFields), m.DefaultMatchField) {
				if !slices.Contains(m.DefaultFields, f) {
					t.Errorf("%s: %s is not among the default fields", c.name, f)
				}
			}
		})
	}
}

func TestModuleNamesMatchTheTable(t *testing.T) {
	if len(ModuleNames) != len(moduleTable) {
		t.Fatalf("ModuleNames has %d names, the table %d modules", len(ModuleNames), len(moduleTable))
	}
	for i, name := range ModuleNames {
		if moduleTable[i].Name != name {
			t.Errorf("ModuleNames[%d] = %s, table has %s", i, name, moduleTable[i].Name)
		}
	}
}

func TestModuleUnknownAndCase(t *testing.T) {
	for _, name := range []string{"contacts", "CONTACTS", "Contact", "Vendors", ""} {
		if m, ok := Module(name); ok {
			t.Errorf("Module(%q) = %+v, want not found (module API names are exact)", name, m)
		}
	}
}

func TestModuleReturnsCopies(t *testing.T) {
	m, _ := Module("Leads")
	m.RequiredFields[0] = "Changed"
	m.DefaultFields = m.DefaultFields[:1]
	again, _ := Module("Leads")
	if again.RequiredFields[0] != "Last_Name" || len(again.DefaultFields) != 9 {
		t.Errorf("a caller changed the module table: %+v", again)
	}
}
