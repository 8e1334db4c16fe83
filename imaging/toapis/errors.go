package toapis

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// apiError is ToAPIs' error object. Its code is a string in task bodies and
// in the rate-limit bodies ("generation_failed", "rate_limit_exceeded") but
// an integer in the documented 401 and 404 bodies, which carry the string
// in type instead.
type apiError struct {
	Code    flexString `json:"code"`
	Message string     `json:"message"`
	Type    string     `json:"type"`
}

// code is the most specific string code: code when it is a string, else
// type, else the numeric code.
func (e *apiError) code() string {
	c := string(e.Code)
	if isNumeric(c) && e.Type != "" {
		return e.Type
	}
	return c
}

// toError classifies an error object found in a 2xx body.
func (e *apiError) toError(status int) *imaging.Error {
	k, ok := kindOfCode(e.code(), e.Message)
	if !ok {
		k = imaging.KindUnknown
	}
	return &imaging.Error{Kind: k, Vendor: displayName, HTTPStatus: status, Code: e.code(), Message: e.Message}
}

// errorEnvelope covers every documented error body:
//
//	{"error":{"code":401,"message":"...","type":"authentication_error"}}
//	{"error":{"code":"rate_limit_exceeded","message":"..."}}
//	{"success":false,"message":"Image too large. Maximum size is 10MB"} (uploads)
type errorEnvelope struct {
	Error   json.RawMessage `json:"error"`
	Success *bool           `json:"success"`
	Message string          `json:"message"`
}

// parseErrorBody returns the error object in body, or nil when the body
// has none of the documented shapes.
func parseErrorBody(body []byte) *apiError {
	var env errorEnvelope
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	if e := parseTaskError(env.Error); e != nil {
		return e
	}
	if env.Message != "" {
		return &apiError{Message: env.Message}
	}
	return nil
}

// classify is the vendorhttp.Classifier for ToAPIs. The HTTP status decides
// first, as documented: 401 unauthorized, 402 insufficient_quota, 404
// task_not_found, 429 rate_limit_exceeded, 500 internal_error and 503
// rate_limit_unavailable. 400 and 422 (and other 4xx) depend on the body:
// 422 is documented as content_policy_violation, 400 as invalid_request,
// and the upload and webhook errors have their own meaning.
func classify(status int, body []byte, _ http.Header) *imaging.Error {
	e := parseErrorBody(body)
	if e == nil {
		e = &apiError{}
	}
	k := imaging.KindUnknown
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		k = imaging.KindUnauthorized
	case status == http.StatusPaymentRequired:
		k = imaging.KindCredits
	case status == http.StatusNotFound:
		k = imaging.KindNotFound
	case status == http.StatusTooManyRequests:
		k = imaging.KindRateLimited
	case status >= 500:
		k = imaging.KindUnavailable
	case status >= 400:
		var ok bool
		if k, ok = kindOfCode(e.code(), e.Message); !ok {
			k = vendorhttp.ClassifyStatus(status).Kind
			if status == http.StatusUnprocessableEntity {
				k = imaging.KindSafety
			}
		}
	}
	return &imaging.Error{Kind: k, HTTPStatus: status, Code: e.code(), Message: userMessage(k, e)}
}

// kindOfCode classifies by a documented code or message alone.
func kindOfCode(code, message string) (imaging.Kind, bool) {
	lc, lm := strings.ToLower(code), strings.ToLower(message)
	switch lc {
	case "invalid_request", "invalid_request_error":
		if safetyLike(lm) && !strings.Contains(lm, "safety_tolerance") {
			return imaging.KindSafety, true
		}
		return imaging.KindInvalid, true
	case "unauthorized", "authentication_error":
		return imaging.KindUnauthorized, true
	case "insufficient_quota":
		return imaging.KindCredits, true
	case "task_not_found", "not_found_error", "not_found":
		return imaging.KindNotFound, true
	case "rate_limit_exceeded":
		return imaging.KindRateLimited, true
	case "rate_limit_unavailable", "internal_error":
		return imaging.KindUnavailable, true
	case "webhook_not_configured":
		return imaging.KindUnsupported, true
	}
	switch {
	case safetyLike(lc) || (lc == "" && safetyLike(lm) && !strings.Contains(lm, "safety_tolerance")):
		return imaging.KindSafety, true
	case strings.Contains(lm, "unsupported image type"):
		return imaging.KindImageUnreachable, true
	case strings.Contains(lm, "image too large"):
		return imaging.KindInvalid, true
	case imageUnreachable(taskErrorText(lc, lm)):
		return imaging.KindImageUnreachable, true
	}
	return imaging.KindUnknown, false
}

// userMessage is the Message of a classified error. KindInvalid and
// KindUnsupported messages reach the user, so the cases we can name get
// plain words; everything else keeps the vendor's text for logs.
func userMessage(k imaging.Kind, e *apiError) string {
	switch {
	case k == imaging.KindUnsupported && e.code() == "webhook_not_configured":
		return "ToAPIs refused the callback URL because Task Webhooks are not set up for this API key. " +
			"The operator should enable them in the ToAPIs console or remove the ToAPIs webhook secret."
	case k == imaging.KindInvalid && strings.Contains(strings.ToLower(e.Message), "image too large"):
		return "The image is too large; ToAPIs accepts at most 10 MB."
	case k == imaging.KindInvalid && e.Message != "":
		return "ToAPIs rejected the request: " + e.Message
	}
	return e.Message
}

// flexString decodes a JSON string or number as a string; other shapes
// decode as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	*f = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch {
	case b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*f = flexString(s)
		}
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if json.Unmarshal(b, &n) == nil {
			*f = flexString(n.String())
		}
	}
	return nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '-' && r != '.' {
			return false
		}
	}
	return true
}
