package zoho

import (
	"bytes"
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
	if st == http.StatusNoContent || (len(bytes.TrimSpace(raw)) == 0 && st/100 == 2) { // not string(raw): a copy of the answer
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
		var wb writeAnswer
		if err := decodeWriteAnswer(raw, &wb); err != nil {
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
			aboutRequest := false
			for i := range items {
				if items[i].ok() {
					allErr = false
				}
				if items[i].Code != first.Code {
					sameReqCode = false
				}
				if !items[i].ok() && items[i].aboutRequest() {
					aboutRequest = true
				}
			}
			if sameReqCode && isWrite && len(items) == cl.records && !aboutRequest {
				// A code that usually speaks for the call (LIMIT_EXCEEDED)
				// given record by record, each item naming its record:
				// add_tags answers a record over its tag cap this way.
				allRecords := true
				for i := range items {
					allRecords = allRecords && items[i].aboutRecord()
				}
				sameReqCode = !allRecords
			}
			pagedOK := st == http.StatusOK || st == http.StatusCreated || st == http.StatusMultiStatus || st == http.StatusAccepted || st == http.StatusBadRequest
			if allErr && (!pagedOK || sameReqCode || aboutRequest || (isWrite && len(items) != cl.records)) {
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
	case (code == "NO_PERMISSION" || code == "AUTHORIZATION_FAILED") && cl.op == OpAddTags:
		e.Class = Fatal
		e.Message = fmt.Sprintf("the Zoho user of the refresh token may not tag %s records (%s%s)", orAll(cl.module), msg, permissionsOf(details))
		e.Hint = "a tag that does not exist yet is created by tagging, which needs the administrator profile or the module-customization permission: create the tag in Zoho CRM first (check with `zohosink validate --online`), or give that user's profile the permission (Setup > Users and Control > Profiles)"
	case code == "NO_PERMISSION" || code == "AUTHORIZATION_FAILED":
		e.Class = Fatal
		e.Message = fmt.Sprintf("the Zoho user of the refresh token lacks permission to %s %s (%s%s)", cl.op, orAll(cl.module), msg, permissionsOf(details))
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
		e.Message = fmt.Sprintf("the query exceeds a COQL limit (%s): at most %d values in an \"in\", 25 criteria and a LIMIT of 2000", msg, findChunk)
	case code == "LIMIT_EXCEEDED" && cl.op == OpAddTags:
		e.Class = Fatal
		e.Message = fmt.Sprintf("Zoho refused a new tag for %s (%s): the module has the most tags its edition allows", orAll(cl.module), msg)
		e.Hint = "delete unused tags of the module in Zoho CRM (Standard allows 20 per module, Professional 60, Enterprise 100, Ultimate 200), or use an existing tag"
	case code == "LIMIT_EXCEEDED":
		e.Class = Fatal
		e.Message = fmt.Sprintf("Zoho refused %d records in one call (%s): a bug in the caller, the limit is %d", cl.records, msg, MaxRecordsPerCall)
	default:
		e.Class = Fatal
		if code == "" {
			e.Message = "unexpected response: " + e.Message
		}
		if p, _ := details["json_path"].(string); p != "" {
			e.Message += " at " + p
		}
		if sv, ok := details["supported_values"].([]any); ok {
			e.Message += fmt.Sprintf(" (supported values: %v)", sv)
		}
	}
	return e
}

// permissionsOf lists details.permissions of a NO_PERMISSION answer, e.g.
// "; missing Crm_Implied_Tags_Leads".
func permissionsOf(details map[string]any) string {
	list, _ := details["permissions"].([]any)
	var names []string
	for _, p := range list {
		if s, ok := p.(string); ok {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "; missing " + strings.Join(names, ", ")
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
	case OpTags:
		return TagsScope + " (or ZohoCRM.settings.tags.ALL)"
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
// the ids given (delete, tags), or nil; recs the records written, or nil.
func results(items []apiItem, ids []string, op Operation, module string, recs []Record) []Result {
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
			if op == OpUpsert {
				r.Action = it.Action
				if it.DuplicateField != nil {
					r.DuplicateField = *it.DuplicateField
				}
			}
			continue
		}
		var rec Record
		if i < len(recs) {
			rec = recs[i]
		}
		r.Err = recordError(it, op, module, rec)
		if r.ID == "" && r.Err.Code == "DUPLICATE_DATA" {
			r.ID = dupRecordID(r.Err.Details)
			if r.ID == "" && len(r.Err.Errors) > 0 {
				r.ID = dupRecordID(r.Err.Errors[0].Details)
			}
		}
	}
	return out
}

// dupRecordID is the id of the existing record a DUPLICATE_DATA names.
func dupRecordID(d map[string]any) string {
	if dr, ok := d["duplicate_record"].(map[string]any); ok {
		if id, ok := dr["id"].(string); ok {
			return id
		}
	}
	return ""
}

// recordError reads one error item. MULTIPLE_OR_MULTI_ERRORS (several
// errors for one record, in details.errors[]) is unpacked: Errors holds each,
// APIName the first field named, and Message names every field and reason.
// When all of them share one code, Code is that code (a DUPLICATE_DATA is a
// DUPLICATE_DATA however many fields it names).
func recordError(it *apiItem, op Operation, module string, rec Record) *RecordError {
	re := newRecordError(it.Code, it.Message, it.detailsMap())
	if re.Code == "MULTIPLE_OR_MULTI_ERRORS" {
		unpackMulti(re)
	}
	explain(re, op, module, rec)
	for i := range re.Errors {
		explain(&re.Errors[i], op, module, rec)
	}
	if len(re.Errors) > 0 {
		parts := make([]string, len(re.Errors))
		for i, sub := range re.Errors {
			parts[i] = sub.Message
			if sub.APIName != "" && !strings.Contains(sub.Message, sub.APIName) {
				parts[i] = sub.APIName + ": " + sub.Message
			}
		}
		re.Message = strings.Join(parts, "; ")
	}
	return re
}

func newRecordError(code, msg string, d map[string]any) *RecordError {
	re := &RecordError{Code: code, Message: msg}
	if re.Code == "" {
		re.Code = "UNKNOWN"
	}
	if len(d) > 0 {
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

// unpackMulti fills re.Errors from details.errors[].
func unpackMulti(re *RecordError) {
	list, _ := re.Details["errors"].([]any)
	same := ""
	for i, x := range list {
		obj, ok := x.(map[string]any)
		if !ok {
			continue
		}
		code, _ := obj["code"].(string)
		msg, _ := obj["message"].(string)
		d, _ := obj["details"].(map[string]any)
		sub := newRecordError(code, msg, d)
		re.Errors = append(re.Errors, *sub)
		switch {
		case i == 0:
			same = sub.Code
		case same != sub.Code:
			same = "-"
		}
	}
	if len(re.Errors) == 0 {
		return
	}
	if re.APIName == "" {
		re.APIName = re.Errors[0].APIName
		re.JSONPath = re.Errors[0].JSONPath
	}
	if same != "-" && same != "" {
		re.Code = same
	}
}

// explain rewrites Zoho's terse messages where the client knows more.
func explain(re *RecordError, op Operation, module string, rec Record) {
	switch {
	case re.Code == "DUPLICATE_DATA" && op == OpUpsert && re.Details["more_records"] == true:
		val := ""
		if v, ok := rec[re.APIName]; ok && v != nil {
			val = fmt.Sprint(v)
		}
		re.Message = fmt.Sprintf("2 or more %s match %s=%s; Zoho cannot tell which to update (%s)", orAll(module), re.APIName, val, re.Message)
	case re.Code == "LIMIT_EXCEEDED" && op == OpAddTags:
		re.Message = fmt.Sprintf("the record has the most tags Zoho allows per record (%s)", re.Message)
	}
}
