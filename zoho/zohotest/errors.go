package zohotest

import "fmt"

// apiError is a request-level Zoho error: the top-level object
// {"code","details","message","status":"error"} with its HTTP status.
type apiError struct {
	status  int
	code    string
	message string
	details map[string]any
	wrap    bool // answered inside "data":[...] as Zoho does for LIMIT_EXCEEDED
}

func (e *apiError) Error() string {
	return fmt.Sprintf("zohotest: HTTP %d %s: %s", e.status, e.code, e.message)
}

func (e *apiError) body() any {
	d := e.details
	if d == nil {
		d = map[string]any{}
	}
	obj := map[string]any{"code": e.code, "details": d, "message": e.message, "status": "error"}
	if e.wrap {
		return map[string]any{"data": []any{obj}}
	}
	return obj
}

func errInvalidToken() *apiError {
	return &apiError{status: 401, code: "INVALID_TOKEN", message: "invalid oauth token"}
}

func errAuthenticationFailure() *apiError {
	return &apiError{status: 401, code: "AUTHENTICATION_FAILURE", message: "Authentication failed"}
}

func errScopeMismatch() *apiError {
	return &apiError{status: 401, code: "OAUTH_SCOPE_MISMATCH", message: "Unauthorized"}
}

func errInvalidURL() *apiError {
	return &apiError{status: 404, code: "INVALID_URL_PATTERN", message: "Please check if the URL trying to access is a correct one"}
}

func errInvalidMethod() *apiError {
	return &apiError{status: 405, code: "INVALID_REQUEST_METHOD", message: "The http request method type is not a valid one"}
}

func errInvalidModulePath() *apiError {
	return &apiError{status: 400, code: "INVALID_MODULE", message: "the module name given seems to be invalid",
		details: map[string]any{"resource_path_index": 2}}
}

func errInvalidModuleParam(param string) *apiError {
	return &apiError{status: 400, code: "INVALID_MODULE", message: "the module name given seems to be invalid",
		details: map[string]any{"param_name": param}}
}

func errParamMissing(param string) *apiError {
	return &apiError{status: 400, code: "REQUIRED_PARAM_MISSING", message: "One of the expected parameter is missing",
		details: map[string]any{"param_name": param}}
}

func errInvalidBody(msg string) *apiError {
	return &apiError{status: 400, code: "INVALID_DATA", message: msg}
}

func errInvalidParam(param, msg string) *apiError {
	return &apiError{status: 400, code: "INVALID_DATA", message: msg, details: map[string]any{"param_name": param}}
}

func errLimitExceeded(apiName string, max int) *apiError {
	return &apiError{status: 400, code: "LIMIT_EXCEEDED", message: "count of records in your request exceeds the limit",
		details: map[string]any{"maximum_length": max, "api_name": apiName}, wrap: true}
}

func errTooManyRequests(msg string) *apiError {
	return &apiError{status: 429, code: "TOO_MANY_REQUESTS", message: msg}
}

func errInternal() *apiError {
	return &apiError{status: 500, code: "INTERNAL_ERROR", message: "Internal Server Error"}
}

func errSyntax(near string) *apiError {
	return &apiError{status: 400, code: "SYNTAX_ERROR", message: "error occured while parsing the query",
		details: map[string]any{"near": near}}
}

func errInvalidQuery(msg string, details map[string]any) *apiError {
	return &apiError{status: 400, code: "INVALID_QUERY", message: msg, details: details}
}

func errQueryLimit(clause string, max int) *apiError {
	return &apiError{status: 400, code: "LIMIT_EXCEEDED", message: "limit exceeded in the " + clause + " clause",
		details: map[string]any{"clause": clause, "maximum_length": max}}
}

// itemError is Zoho's rejection of one record inside data[].
type itemError struct {
	code    string
	message string
	details map[string]any
}

func fieldErr(code, msg string, i int, apiName string, extra ...any) *itemError {
	d := map[string]any{"api_name": apiName, "json_path": fmt.Sprintf("$.data[%d].%s", i, apiName)}
	for j := 0; j+1 < len(extra); j += 2 {
		d[extra[j].(string)] = extra[j+1]
	}
	return &itemError{code: code, message: msg, details: d}
}

// tokenError is an answer of the token endpoint other than success.
type tokenError struct {
	body map[string]string
}

func tokenErr(code string) *tokenError { return &tokenError{body: map[string]string{"error": code}} }

func tokenThrottled() *tokenError {
	return &tokenError{body: map[string]string{
		"error_description": "You have made too many requests continuously. Please try again after some time.",
		"error":             "Access Denied",
		"status":            "failure",
	}}
}
