package zoho

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// requestCodes are codes that speak for the whole call even when Zoho puts
// them in data[] with one item per record.
var requestCodes = map[string]bool{
	"LIMIT_EXCEEDED": true, "INVALID_TOKEN": true, "OAUTH_SCOPE_MISMATCH": true,
	"NO_PERMISSION": true, "AUTHORIZATION_FAILED": true, "INVALID_MODULE": true,
	"INVALID_URL_PATTERN": true, "TOO_MANY_REQUESTS": true, "INTERNAL_ERROR": true,
	"REQUIRED_PARAM_MISSING": true, "INVALID_REQUEST_METHOD": true, "AUTHENTICATION_FAILURE": true,
}

// classify reads an answer: the reply when Zoho answered the call (wholly or
// record by record), else the call's *Error. code is for metrics.
func (c *Client) classify(cl *call, resp *http.Response, raw []byte) (*reply, string, error) {
	st := resp.StatusCode
	rep := &reply{status: st}
	if st == http.StatusNoContent || (len(strings.TrimSpace(string(raw))) == 0 && st/100 == 2) {
		if cl.records > 0 {
			return nil, strconv.Itoa(st), &Error{Class: Retryable, Op: cl.op, Module: cl.module, HTTPStatus: st,
				Message: fmt.Sprintf("unexpected response: no body for %d records", cl.records), RequestID: requestID(resp, nil)}
		}
		return rep, "SUCCESS", nil
	}
	isWrite := cl.records > 0
	b := &rep.body
	var items []apiItem
	hasData := false
	if isWrite {
		// One pass: data[] straight into items.
		var wb struct {
			Data    []apiItem      `json:"data"`
			Code    string         `json:"code"`
			Status  string         `json:"status"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		}
		if err := json.Unmarshal(raw, &wb); err != nil {
			return nil, strconv.Itoa(st), c.garbled(cl, resp, raw, err)
		}
		items, hasData = wb.Data, len(wb.Data) > 0
		b.Code, b.Status, b.Message, b.Details = wb.Code, wb.Status, wb.Message, wb.Details
	} else {
		if err := json.Unmarshal(raw, b); err != nil {
			return nil, strconv.Itoa(st), c.garbled(cl, resp, raw, err)
		}
		if len(b.Data) > 0 && st/100 != 2 {
			if err := json.Unmarshal(b.Data, &items); err != nil {
				return nil, strconv.Itoa(st), c.garbled(cl, resp, raw, err)
			}
			hasData = len(items) > 0
		}
	}
	// A top-level error object.
	if !hasData && b.Code != "" && !strings.EqualFold(b.Status, "success") {
		return nil, b.Code, c.requestError(cl, resp, b.Code, b.Message, b.Details)
	}
	if hasData {
		if len(items) > 0 {
			first := items[0]
			allErr, sameReqCode := true, requestCodes[first.Code]
			for i := range items {
				if items[i].ok() {
					allErr = false
				}
				if items[i].Code != first.Code {
					sameReqCode = false
				}
			}
			pagedOK := st == http.StatusOK || st == http.StatusCreated || st == http.StatusMultiStatus || st == http.StatusAccepted || st == http.StatusBadRequest
			if allErr && (!pagedOK || sameReqCode || (isWrite && len(items) != cl.records)) {
				return nil, first.Code, c.requestError(cl, resp, first.Code, first.Message, first.detailsMap())
			}
		}
		if isWrite && len(items) != cl.records {
			return nil, strconv.Itoa(st), &Error{Class: Retryable, Op: cl.op, Module: cl.module, HTTPStatus: st,
				Message:   fmt.Sprintf("unexpected response: %d results for %d records", len(items), cl.records),
				RequestID: requestID(resp, nil)}
		}
		rep.items = items
		code := "SUCCESS"
		for i := range items {
			if !items[i].ok() {
				code = items[i].Code
				break
			}
		}
		return rep, code, nil
	}
	if st/100 != 2 {
		return nil, strconv.Itoa(st), c.requestError(cl, resp, "", http.StatusText(st), nil)
	}
	if isWrite {
		return nil, strconv.Itoa(st), &Error{Class: Retryable, Op: cl.op, Module: cl.module, HTTPStatus: st,
			Message: fmt.Sprintf("unexpected response: no data[] for %d records", cl.records), RequestID: requestID(resp, nil)}
	}
	return rep, "SUCCESS", nil
}

// garbled is the error for a body that is not the JSON Zoho sends.
func (c *Client) garbled(cl *call, resp *http.Response, raw []byte, err error) *Error {
	st := resp.StatusCode
	e := &Error{Op: cl.op, Module: cl.module, HTTPStatus: st, Err: err, RequestID: requestID(resp, nil),
		Message: fmt.Sprintf("unexpected response from %s: %s", c.APIDomain(), snippet(raw))}
	switch {
	case st >= 500 || st == http.StatusTooManyRequests || st/100 == 2:
		// 2xx: a proxy or a cut connection; the same call is safe to repeat
		// for upserts, and Zoho's own errors are always JSON.
		e.Class = Retryable
	case st == http.StatusNotFound:
		e.Class = Fatal
		e.Hint = c.urlHint()
	default:
		e.Class = Fatal
		e.Hint = c.urlHint()
	}
	return e
}

func (c *Client) urlHint() string {
	return fmt.Sprintf("check data_center / api_domain (this client uses data center %s, API %s)", c.opts.dataCenter, c.APIDomain())
}

// requestError maps a request-level error to an *Error with its class and,
// for fatal ones, what to do.
func (c *Client) requestError(cl *call, resp *http.Response, code, msg string, details map[string]any) *Error {
	st := resp.StatusCode
	e := &Error{Op: cl.op, Module: cl.module, HTTPStatus: st, Code: code, Message: msg, RequestID: requestID(resp, details)}
	if e.Message == "" {
		e.Message = http.StatusText(st)
	}
	switch {
	case code == "INVALID_TOKEN" || code == "AUTHENTICATION_FAILURE":
		e.Code = "INVALID_TOKEN"
		e.Class = Retryable // do() refreshes once, then makes it Fatal
	case code == "TOO_MANY_REQUESTS" || st == http.StatusTooManyRequests:
		e.Class = Retryable
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case code == "INTERNAL_ERROR" || st >= 500:
		e.Class = Retryable
	case code == "OAUTH_SCOPE_MISMATCH":
		e.Class = Fatal
		e.Message = "the token lacks scope " + scopeFor(cl.op, cl.module)
		e.Hint = "create a new grant with scopes " + strings.Join(DefaultScopes, ",") + " and run `zohosink auth`"
	case code == "NO_PERMISSION" || code == "AUTHORIZATION_FAILED":
		e.Class = Fatal
		e.Message = fmt.Sprintf("the Zoho user of the refresh token lacks permission to %s %s (%s)", cl.op, orAll(cl.module), msg)
		e.Hint = "give that user's profile the permission in Zoho CRM (Setup > Users and Control > Profiles), or authorize as another user with `zohosink auth`"
	case code == "INVALID_MODULE":
		e.Class = Fatal
		if cl.module != "" {
			e.Message = fmt.Sprintf("Zoho knows no module %q (%s)", cl.module, msg)
		} else {
			e.Message = "Zoho knows no such module (" + msg + ")"
		}
		e.Hint = "use a module API name such as " + strings.Join(Modules, ", ") + " (names are case-sensitive and plural)"
	case code == "INVALID_URL_PATTERN" || st == http.StatusNotFound:
		e.Class = Fatal
		e.Message = fmt.Sprintf("Zoho does not know the URL %s/crm/%s%s (%s)", c.APIDomain(), apiVersion, cl.path, e.Message)
		e.Hint = c.urlHint()
	case code == "LIMIT_EXCEEDED" && cl.op == OpCOQL:
		e.Class = Fatal
		e.Message = "the query exceeds a COQL limit (" + msg + "): at most 50 values in an \"in\" and a LIMIT of 2000"
	case code == "LIMIT_EXCEEDED":
		e.Class = Fatal
		e.Message = fmt.Sprintf("Zoho refused %d records in one call (%s): a bug in the caller, the limit is %d", cl.records, msg, MaxRecordsPerCall)
	default:
		e.Class = Fatal
		if code == "" {
			e.Message = "unexpected response: " + e.Message
		}
	}
	return e
}

func orAll(module string) string {
	if module == "" {
		return "this resource"
	}
	return module
}

// scopeFor names the scope a call needs.
func scopeFor(op Operation, module string) string {
	m := module
	if m == "" {
		m = "{module}"
	}
	switch op {
	case OpInsert:
		return "ZohoCRM.modules." + m + ".CREATE or ZohoCRM.modules.ALL"
	case OpUpdate, OpAddTags, OpRemoveTags:
		return "ZohoCRM.modules." + m + ".UPDATE or ZohoCRM.modules.ALL"
	case OpUpsert:
		return "ZohoCRM.modules." + m + ".CREATE and .UPDATE, or ZohoCRM.modules.ALL"
	case OpDelete:
		return "ZohoCRM.modules." + m + ".DELETE or ZohoCRM.modules.ALL"
	case OpCOQL:
		return "ZohoCRM.coql.READ (and ZohoCRM.modules.ALL or the module's READ)"
	case OpFields:
		return "ZohoCRM.settings.fields.READ"
	}
	return "ZohoCRM.modules.ALL"
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func requestID(resp *http.Response, details map[string]any) string {
	for _, h := range []string{"X-Request-Id", "X-Zoho-Request-Id", "X-Trace-Id"} {
		if v := resp.Header.Get(h); v != "" {
			return v
		}
	}
	if s, ok := details["trace_id"].(string); ok {
		return s
	}
	return ""
}

// results maps data[] items to Results, one per input, in order. ids are
// the ids given (delete, tags), or nil.
func results(items []apiItem, ids []string, withAction bool) []Result {
	out := make([]Result, len(items))
	for i := range items {
		it := &items[i]
		r := &out[i]
		if id := it.detailsID(); id != "" {
			r.ID = id
		} else if ids != nil {
			r.ID = ids[i]
		}
		if it.ok() {
			if withAction {
				r.Action = it.Action
				if it.DuplicateField != nil {
					r.DuplicateField = *it.DuplicateField
				}
			}
			continue
		}
		r.Err = recordError(it)
	}
	return out
}

func recordError(it *apiItem) *RecordError {
	re := &RecordError{Code: it.Code, Message: it.Message}
	if re.Code == "" {
		re.Code = "UNKNOWN"
	}
	if d := it.detailsMap(); len(d) > 0 {
		re.Details = make(map[string]any, len(d))
		for k, v := range d {
			switch k {
			case "api_name":
				re.APIName, _ = v.(string)
			case "json_path":
				re.JSONPath, _ = v.(string)
			default:
				re.Details[k] = v
			}
		}
		if len(re.Details) == 0 {
			re.Details = nil
		}
	}
	return re
}
