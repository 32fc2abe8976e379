// Package zoho is a client for the Zoho CRM REST API (v8): OAuth 2.0 with a
// shared, refreshed-ahead access token; insert, update, upsert and delete of
// up to 100 records a call with every response mapped back to its input
// record; tags; COQL; and fields metadata. Every call passes through one
// limiter that keeps to Zoho's concurrency limits and the org's daily API
// credits.
//
// It knows nothing of Kafka or Debezium. Errors carry their class (see
// Class): a per-record rejection to set aside, a transient condition to
// retry, or a fatal one that a person must fix, with a message saying how.
//
// The simulator in package zohotest answers like Zoho does, for tests.
//
// # Results
//
// A write returns one Result per input record, in input order, and a nil
// error whenever Zoho answered record by record (200, 201, 207, or 400 with
// per-record errors in data[]). A Result's Err is Zoho's rejection of that
// record; the client never retries it. The error is an *Error only when the
// call failed as a whole, after the client's own retries. Batches of 0 or
// more than 100 records are refused before anything is sent (Fatal).
// MULTIPLE_OR_MULTI_ERRORS (several errors for one record) is one
// RecordError whose Errors hold each field's error; an upsert key matching
// several records comes back as a per-record DUPLICATE_DATA saying so. A
// LIMIT_EXCEEDED that Zoho gives record by record (add_tags over the
// per-record tag cap) is per-record too; one for the whole call is Fatal.
//
// # Tokens
//
// A Client holds one access token for all goroutines. It is refreshed five
// minutes before expiry by one goroutine while the others wait for it; at
// most 10 tokens are minted per rolling 10 minutes (Zoho's limit), waiting
// when that budget is spent. An INVALID_TOKEN answer forces one shared
// refresh and one retry of the call; a second one in a row is Fatal and
// says to check the data center and run `zohosink auth` again. The token
// endpoint's "Access Denied" throttle is retried after 30-60 seconds.
//
// Calls go to WithAPIDomain when set; else a production client follows the
// api_domain of the token answer, while a sandbox or developer client keeps
// its environment's host (sandbox.zohoapis.{tld}, developer.zohoapis.{tld})
// and logs a different api_domain, so sandbox writes never reach
// production.
//
// # Limiter
//
// Every API attempt passes, in order:
//   - the credit ledger (CreditLedger): with WithDailyCreditBudget, an
//     attempt whose cost (insert/update/upsert 1 per 10 records; delete,
//     tags and fields 1; COQL 1, 2 or 3 by LIMIT) would push the credits of
//     the rolling 24 hours over the budget waits until enough older calls
//     leave the window. Calls Zoho refuses as a whole are refunded.
//   - Zoho's X-API-CREDITS-REMAINING: when the last value Zoho sent is below
//     the attempt's cost, the attempt waits one minute once and forgets the
//     value (the next answer reports a fresh one); a 429 then backs off.
//   - the optional rate limiter (WithRequestsPerSecond).
//   - the sub-concurrency pool of 10 for writes of more than 10 records.
//   - the concurrency limit: min(edition limit, WithMaxConcurrency). A 429
//     halves it (not below 1); it grows back by one after as many successes
//     in a row as the current limit.
//
// Retryable failures (429, 5xx, timeouts, network errors, the token endpoint
// unreachable or throttling) are retried up to WithMaxRetries times with
// exponential back-off and full jitter (base 500ms, cap 30s), or after
// Retry-After when Zoho sends it. When the context ends the call returns an
// *Error of class Retryable wrapping ctx.Err().
//
// # Secrets
//
// The client secret, the refresh token and access tokens never appear in
// errors, logs, String or GoString output.
package zoho
