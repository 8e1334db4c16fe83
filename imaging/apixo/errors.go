package apixo

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// envelope is APIXO's {"code", "message", "data"} wrapper. It is decoded
// leniently (code as number or numeric string, data as anything) because
// the documents show it only by example.
type envelope struct {
	code    int
	hasCode bool
	message string
	data    json.RawMessage
}

func decodeEnvelope(body []byte) (envelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return envelope{}, err
	}
	if m == nil {
		return envelope{}, errors.New("body is not a JSON object")
	}
	var e envelope
	if raw, ok := m["code"]; ok {
		e.code, e.hasCode = flexInt(raw)
	}
	e.message = flexString(m["message"])
	e.data = m["data"]
	return e, nil
}

// object returns data as a JSON object, or nil.
func (e envelope) object() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(e.data, &m) != nil {
		return nil
	}
	return m
}

// detail returns the error detail: data.error in the documented 400 shape
// {"code":400,"message":"Invalid request","data":{"error":"…"}}, else
// data.message, else data itself when it is a string.
func (e envelope) detail() string {
	if m := e.object(); m != nil {
		if s := flexString(m["error"]); s != "" {
			return s
		}
		return flexString(m["message"])
	}
	return flexString(e.data)
}

// flexString returns a JSON string or number as text, anything else as "".
func flexString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// flexInt reads an integral JSON number or numeric string.
func flexInt(raw json.RawMessage) (int, bool) {
	s := strings.TrimSpace(flexString(raw))
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
		return 0, false
	}
	return int(f), true
}

// classify is the vendorhttp.Classifier for non-2xx answers. The HTTP
// status decides the kind (APIXO's table: 400 invalid, 401 key, 402
// balance, 403 key or route cannot access the model, 404 task not found,
// 429 rate limit, 500/502 server or upstream error, 504 upstream timeout);
// the body refines 400 and 5xx.
func classify(status int, body []byte, _ http.Header) *imaging.Error {
	env, _ := decodeEnvelope(body) // a body that is no envelope leaves the status alone
	return errorFor(status, status, env)
}

// errorFor classifies an error envelope whose effective code is code;
// httpStatus is the HTTP status it came with (200 for an error wrapped in
// a 2xx answer, where Code then carries the body code).
func errorFor(httpStatus, code int, env envelope) *imaging.Error {
	detail := env.detail()
	text := clip(joinText(env.message, detail))
	e := vendorhttp.ClassifyStatus(code)
	e.Vendor, e.HTTPStatus, e.Message = displayName, httpStatus, text
	if code != httpStatus {
		e.Code = strconv.Itoa(code)
	}
	if code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge ||
		code == http.StatusUnprocessableEntity || code >= 500 {
		refine(e, env.message, detail, text)
	}
	if e.Kind == imaging.KindInvalid {
		e.Message = displayName + " rejected the request"
		if text != "" {
			e.Message += ": " + text
		}
	}
	return e
}

// refine reclassifies a 400 or 5xx by its body: APIXO may return a task
// failure code "as a provider error identifier for some immediate errors"
// (shape undocumented, so both message and detail are tried), a
// moderation message, or, for 400, an unreachable image URL.
func refine(e *imaging.Error, message, detail, text string) {
	for _, s := range []string{detail, message} {
		s = strings.TrimSpace(s)
		if k, ok := codeKinds[normCode(s)]; ok && k != imaging.KindUnknown {
			e.Kind, e.Code = k, s
			return
		}
	}
	switch {
	case safetyText(text):
		e.Kind = imaging.KindSafety
	case e.Kind == imaging.KindInvalid && imageProblem(text):
		e.Kind = imaging.KindImageUnreachable
	}
}

// imageProblem reports whether a 400 message is about a reference image
// APIXO could not fetch ("unreachable image URL" in its HTTP error table).
func imageProblem(text string) bool {
	t := strings.ToLower(text)
	if !strings.Contains(t, "image") {
		return false
	}
	for _, w := range []string{"fetch", "download", "access", "reach", "public", "load"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// codeKinds maps every failCode found in any version of APIXO's documents,
// normalized by normCode, onto a kind. The vocabulary differs between the
// Flux page, the errors page and the older error-codes and zh pages, so
// all of them are listed and the values are treated as opaque.
var codeKinds = func() map[string]imaging.Kind {
	m := map[string]imaging.Kind{}
	add := func(k imaging.Kind, codes ...string) {
		for _, c := range codes {
			m[normCode(c)] = k
		}
	}
	add(imaging.KindSafety, "SensitiveContent", "SensitiveContentDetected", "InputImageSensitiveContentDetected",
		"InputOutputSensitiveContentDetected", "NSFW", "NSFW_DETECTED", "ProhibitedContentDetected", "CONTENT_VIOLATION")
	add(imaging.KindImageUnreachable, "ImageNotAccess", "INVALID_IMAGE_URL", "IMAGE_DOWNLOAD_FAILED", "IMAGE_TOO_LARGE",
		"UNSUPPORTED_FORMAT")
	add(imaging.KindInvalid, "PromptInvalid", "INVALID_PROMPT", "PROMPT_TOO_LONG", "PromptLengthExceeded")
	add(imaging.KindRateLimited, "RateLimited")
	add(imaging.KindTimeout, "Timeout", "PROCESSING_TIMEOUT")
	add(imaging.KindCredits, "INSUFFICIENT_CREDITS")
	add(imaging.KindUnavailable, "MODEL_UNAVAILABLE")
	add(imaging.KindUnknown, "Unknown error", "GENERATION_FAILED")
	return m
}()

// normCode upper-cases a code and drops everything but letters and digits,
// so "NSFW_DETECTED", "NsfwDetected" and "nsfw detected" are one code.
func normCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// safetyText reports moderation wording: any code or message containing
// Sensitive, NSFW, Prohibited or Violat(ion|es).
func safetyText(s string) bool {
	u := strings.ToUpper(s)
	for _, w := range []string{"SENSITIVE", "NSFW", "PROHIBITED", "VIOLAT"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// failKind classifies a failed task by its failCode, falling back to
// moderation wording in the code or failMsg; anything else is unknown.
func failKind(code, msg string) imaging.Kind {
	if k, ok := codeKinds[normCode(code)]; ok && k != imaging.KindUnknown {
		return k
	}
	if safetyText(code) || safetyText(msg) {
		return imaging.KindSafety
	}
	return imaging.KindUnknown
}

// failure is the error of a task in state "failed".
func failure(code, msg string) *imaging.Error {
	k := failKind(code, msg)
	m := clip(msg)
	if m == "" {
		m = clip(code)
	}
	if k == imaging.KindInvalid {
		m = strings.TrimSuffix(displayName+" rejected the prompt: "+m, ": ")
	}
	return &imaging.Error{Kind: k, Vendor: displayName, Code: clip(code), Message: m}
}

// resultURLs decodes resultJson, documented as a JSON string holding
// {"resultUrls":[…]}; a plain object is accepted too. Only http(s) URLs
// are kept.
func resultURLs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("no resultJson")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	var r struct {
		ResultURLs []string `json:"resultUrls"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, errors.New("resultJson is not {\"resultUrls\":[…]}")
	}
	var urls []string
	for _, u := range r.ResultURLs {
		if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

func joinText(a, b string) string {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	}
	return a + ": " + b
}

// clip bounds vendor text kept in errors.
func clip(s string) string {
	const maxLen = 300
	if len(s) <= maxLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLen], "") + "…"
}
