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
//     trimming spaces; when several stored records match, the oldest wins.
//     The id key inside an insert or upsert record is ignored.
//   - COQL string comparisons are case-insensitive; "in" takes at most 50
//     values and LIMIT at most 2000, both answered 400 LIMIT_EXCEEDED.
//   - Tags: POST .../actions/add_tags and remove_tags take
//     {"tags":[{"name":"X"}],"ids":["..."]} (ids and tag_names in the query
//     string are accepted too), up to 500 ids, and answer one item per id.
//   - GET of an unknown record id answers 204.
package zohotest
