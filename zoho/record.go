package zoho

import (
	"fmt"
	"slices"
	"strings"
)

// Record is one CRM record as JSON: field API name to value. Values must
// already be in Zoho's formats (dates "2006-01-02", datetimes with offset and
// no fraction, bigint as a string, lookups as map[string]any{"id": "..."}).
type Record map[string]any

// Result is Zoho's answer for one input record of a write, at the same
// position as the record in the call's input.
type Result struct {
	// ID is the CRM record id: the record written, or for a delete or a tag
	// call the id given. For a rejected record it is the id Zoho named in
	// the error's details (for DUPLICATE_DATA: the existing record), or for
	// a delete or a tag call the id given; empty when there is none.
	ID string
	// Action is "insert" or "update" for upserts; "" for other operations.
	Action string
	// DuplicateField is, for upserts that updated a record, the field that
	// matched it ("" when none, or not an upsert).
	DuplicateField string
	// Err is nil when Zoho accepted the record, else why it did not.
	Err *RecordError
}

// OK reports whether Zoho accepted the record.
func (r Result) OK() bool { return r.Err == nil }

// WriteOptions tunes insert, update and upsert calls.
type WriteOptions struct {
	// DuplicateCheckFields is sent as duplicate_check_fields on upserts: the
	// fields Zoho compares, in order, to find the record to update. Empty
	// means Zoho's defaults for the module.
	DuplicateCheckFields []string
	// Trigger lists the automations to run ("workflow", "approval",
	// "blueprint", "pathfinder", "orchestration"). Nil omits the key, so Zoho
	// runs all of them; an empty non-nil slice runs none.
	Trigger []string
	// SkipFeatures is sent as skip_feature_execution on insert, update and
	// upsert: the features Zoho must not run for these records (see
	// SkipFeatureNames). Zoho runs a module's Cadences on API writes unless
	// "cadences" is listed here. Nil or empty omits the key, so Zoho runs
	// every feature. Unknown names are refused by Zoho as a whole call
	// (INVALID_DATA naming the supported values, Fatal); check them first
	// with ValidateSkipFeatures.
	SkipFeatures []string
}

// The features skip_feature_execution may name on insert, update and
// upsert (Zoho CRM API v8, Insert/Update/Upsert Records, input key
// skip_feature_execution).
const (
	SkipAssignmentRules    = "assignment_rules"
	SkipCadences           = "cadences"
	SkipConnectedWorkflows = "connected_workflows"
)

// SkipFeatureNames are the values WriteOptions.SkipFeatures accepts.
var SkipFeatureNames = []string{SkipAssignmentRules, SkipCadences, SkipConnectedWorkflows}

// ValidateSkipFeatures returns an error naming the first entry of names
// that Zoho does not accept in skip_feature_execution, or nil.
func ValidateSkipFeatures(names []string) error {
	for _, n := range names {
		if !slices.Contains(SkipFeatureNames, n) {
			return fmt.Errorf("zoho: %q is not a feature Zoho can skip (want one of %s)", n, strings.Join(SkipFeatureNames, ", "))
		}
	}
	return nil
}

// Field is one field of a module, from the fields metadata API.
type Field struct {
	APIName         string   `json:"api_name"`
	DataType        string   `json:"data_type"`
	JSONType        string   `json:"json_type"`
	Length          int      `json:"length"`
	ReadOnly        bool     `json:"read_only"`
	SystemMandatory bool     `json:"system_mandatory"`
	Unique          bool     `json:"-"`
	PickListValues  []string `json:"-"` // actual_value of each entry
	LookupModule    string   `json:"-"` // lookup.module.api_name
	DecimalPlace    int      `json:"-"`
}

// Modules are the CRM modules zohosink syncs to.
var Modules = []string{"Contacts", "Leads", "Accounts", "Deals"}

// Operation names a kind of API call, as used in metrics and errors.
type Operation string

const (
	OpInsert     Operation = "insert"
	OpUpdate     Operation = "update"
	OpUpsert     Operation = "upsert"
	OpDelete     Operation = "delete"
	OpAddTags    Operation = "add_tags"
	OpRemoveTags Operation = "remove_tags"
	OpCOQL       Operation = "coql"
	OpFields     Operation = "fields"
	OpTags       Operation = "tags" // GET /settings/tags
	OpToken      Operation = "token"
)

// MaxRecordsPerCall is Zoho's limit for insert, update, upsert and delete.
const MaxRecordsPerCall = 100
