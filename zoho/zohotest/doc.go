// Package zohotest is a Zoho CRM simulator for tests, the way
// net/http/httptest sits beside net/http: a Simulator is an http.Handler that
// answers the Zoho Accounts token endpoint and the CRM v8 REST API (records,
// upsert, delete, tags, COQL, fields metadata) with the status codes and body
// shapes Zoho uses, and a Server runs one on a loopback port.
//
// The simulated org keeps Zoho's rules: OAuth refresh and grant tokens with
// their lifetimes and mint limits, scopes, per-record validation by field
// type, system-mandatory fields, duplicate checks, 100 records a write,
// concurrency limits per edition (and the sub-pool of 10 for writes of more
// than 10 records) and rolling 24-hour API credits. Time-based rules follow a
// Clock that tests can move by hand. Faults (500, 429, dropped connections,
// slow answers, invalid tokens) can be injected on demand or at random with a
// seed, and every request is recorded for inspection.
//
// All methods are safe for concurrent use. The package depends on the
// standard library only and knows nothing of package zoho.
//
// # Choices where Zoho is undocumented
//
//   - Token endpoint errors (invalid_code, invalid_client, Access Denied) are
//     answered with HTTP 200, as logged from real Zoho.
//   - A request without an Authorization header gets 401
//     AUTHENTICATION_FAILURE; a "Bearer" header, an unknown, expired or
//     foreign token gets 401 INVALID_TOKEN.
//   - Unknown field api names in records are ignored silently (not stored).
//     Writing a read-only field (Created_Time, Modified_Time, Created_By,
//     Modified_By, Full_Name) is INVALID_DATA "the field is read only".
//   - datetime values need an explicit offset: "Z" and fractions are
//     INVALID_DATA.
//   - Upsert and unique-field matching of strings is case-insensitive after
//     trimming spaces. Upsert checks the duplicate_check_fields in order,
//     then the module's other user-defined unique fields (every module has a
//     unique custom External_Id); a key matching several stored records
//     (Email is a duplicate-check field but not unique) is answered
//     MULTIPLE_OR_MULTI_ERRORS with DUPLICATE_DATA and more_records, never a
//     silent update. The id key inside an insert or upsert record is ignored.
//   - COQL takes only the documented grammar: WHERE required, criteria
//     grouped in pairs, "in" of at most 100 values, "LIMIT n [OFFSET m]"
//     with LIMIT at most 2000. String comparisons are case-insensitive.
//   - E-mail values follow the rule of Zoho's web-form validator (TLD of 2
//     to 22 letters), website values a URL shape; currency values keep at
//     most the field's decimal_place digits (refused past it: Zoho's
//     rounding is undocumented).
//   - Tags: POST .../actions/add_tags and remove_tags take
//     {"tags":[{"name":"X"}],"ids":["..."]} (ids and tag_names in the query
//     string are accepted too), up to 500 ids, and answer one item per id;
//     a record over its edition's tag cap gets LIMIT_EXCEEDED alone; a new
//     tag past the module's cap, or without the permission to create tags,
//     fails the call.
//   - skip_feature_execution is checked against its enum and kept in the
//     request log (Request.SkipFeatures).
//   - Each behaviour's source (Zoho page, crm-oas spec path, or "inference")
//     is cited in a comment where it is implemented.
//   - GET of an unknown record id answers 204.
package zohotest
