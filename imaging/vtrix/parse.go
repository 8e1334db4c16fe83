package vtrix

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

// task is the task object that both the submit and the status endpoints
// return (vendors.md §4.3): {"id", "created_at", "status", "model",
// "progress", "error", "output":[{"content":[{"type","url"}]}],
// "usage":{"cost","discount"}, "metadata"}. Fields whose type the sources
// disagree on are raw and read leniently.
type task struct {
	ID string `json:"id"`
	// Status is a string on a task, but an object {code, message,
	// error_code} on a SeaCloud error envelope.
	Status json.RawMessage `json:"status"`
	// Progress is a number 0.0–1.0, present only while in progress.
	Progress json.RawMessage `json:"progress"`
	// Error is a string (vtrix-cli) or {code, message|error_message}.
	Error  json.RawMessage `json:"error"`
	Output []struct {
		Content []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		// Cost is "Total cost in USD", a string.
		Cost json.RawMessage `json:"cost"`
	} `json:"usage"`
}

// errorBody holds every error shape the SeaCloud CLI parses
// (vendors.md §4.6): {"status":{"code","message","error_code"},"data":null},
// {"message"}, {"error": string|object} and a top-level "error_code".
type errorBody struct {
	Status    json.RawMessage `json:"status"`
	Message   json.RawMessage `json:"message"`
	Error     json.RawMessage `json:"error"`
	ErrorCode json.RawMessage `json:"error_code"`
	Data      json.RawMessage `json:"data"`
}

type statusObject struct {
	Code      json.RawMessage `json:"code"`
	Message   json.RawMessage `json:"message"`
	ErrorCode json.RawMessage `json:"error_code"`
}

type errorObject struct {
	Code         json.RawMessage `json:"code"`
	Message      json.RawMessage `json:"message"`
	ErrorMessage json.RawMessage `json:"error_message"`
}

func malformed(what string, err error) *imaging.Error {
	return &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, Message: "malformed " + what, Err: err}
}

// parseSubmit reads the task id from a 2xx submit answer.
func parseSubmit(body []byte) (string, error) {
	t, err := decodeTask(body, "submit response")
	if err != nil {
		return "", err
	}
	if t.ID != "" {
		return t.ID, nil
	}
	// The CLI fails on an empty id, reporting "error" when present.
	if code, msg, ok := parseTaskError(t.Error); ok {
		e := classifyFailure(code, msg)
		return "", e
	}
	return "", &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, Message: "no task id in submit response"}
}

// parseStatus turns a 2xx status body into an imaging.Status. Status values
// (vendors.md §4.3, which lists three inconsistent sources):
// pending, in_queue => queued; processing, in_progress => running;
// completed => succeeded; failed => failed. Any other value is treated as
// running; the core's overall job timeout bounds such a task. A body
// without a status string is malformed (KindUnavailable).
func parseStatus(body []byte) (*imaging.Status, error) {
	t, err := decodeTask(body, "status response")
	if err != nil {
		return nil, err
	}
	st := &imaging.Status{Progress: -1}
	if p, ok := progress(t.Progress); ok {
		st.Progress = p
	}
	if t.Usage != nil {
		if amt, ok := number(t.Usage.Cost); ok && amt >= 0 {
			st.Cost = &imaging.Cost{Amount: amt, Unit: "USD"}
		}
	}
	status := strings.ToLower(text(t.Status))
	switch status {
	case "":
		return nil, malformed("status response", errors.New("no status"))
	case "pending", "in_queue":
		st.State = imaging.StateQueued
	case "processing", "in_progress":
		st.State = imaging.StateRunning
	case "completed":
		for _, o := range t.Output {
			for _, c := range o.Content {
				// Every url, whatever its type: the sources spell the type
				// "image", "video_url", … (vendors.md §4.3).
				if u := strings.TrimSpace(c.URL); u != "" {
					st.URLs = append(st.URLs, u)
				}
			}
		}
		if len(st.URLs) == 0 {
			st.State = imaging.StateFailed
			if code, msg, ok := parseTaskError(t.Error); ok {
				st.Err = classifyFailure(code, msg)
			} else {
				st.Err = &imaging.Error{Kind: imaging.KindUnknown, Vendor: displayName,
					Message: "task completed without an output url"}
			}
			return st, nil
		}
		st.State = imaging.StateSucceeded
		st.Progress = 100
	case "failed":
		st.State = imaging.StateFailed
		code, msg, _ := parseTaskError(t.Error)
		st.Err = classifyFailure(code, msg)
	default:
		st.State = imaging.StateRunning
	}
	return st, nil
}

// decodeTask decodes a task object. A 2xx body that is a SeaCloud error
// envelope ({"status":{…}}) is returned as its classified error; one whose
// envelope reports success with a task in "data" is unwrapped.
func decodeTask(body []byte, what string) (*task, error) {
	var t task
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, malformed(what, err)
	}
	if !isObject(t.Status) {
		return &t, nil
	}
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	var so statusObject
	_ = json.Unmarshal(eb.Status, &so)
	code, _ := strconv.Atoi(text(so.Code))
	ecode := firstNonEmpty(text(eb.ErrorCode), text(so.ErrorCode))
	ok := (code == 0 || code/100 == 2) && (ecode == "" || ecode == "0")
	if ok && isObject(eb.Data) {
		var inner task
		if err := json.Unmarshal(eb.Data, &inner); err != nil {
			return nil, malformed(what, err)
		}
		if !isObject(inner.Status) {
			return &inner, nil
		}
	}
	if ok {
		return nil, &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, Message: "unexpected " + what}
	}
	status := code
	if status < 400 {
		// A 200 carrying an error envelope. SeaCloud error codes are the
		// HTTP status followed by two digits (40101, 40201, …) [inferred],
		// so classify by those when the envelope code says nothing.
		if n, err := strconv.Atoi(ecode); err == nil && n >= 40000 && n < 60000 {
			status = n / 100
		}
	}
	e := classify(status, body, nil)
	e.HTTPStatus = http.StatusOK
	return nil, e
}

// classify is the vendorhttp.Classifier for Vtrix. HTTP statuses (docs):
// 401 key missing or invalid, 403 insufficient balance or permission denied,
// 429 rate limit, 500. The SeaCloud CLI reads error_code 40201–40208 as
// insufficient balance; SeaCloud answers that with 402.
func classify(status int, body []byte, _ http.Header) *imaging.Error {
	code, msg := errorDetail(body)
	e := &imaging.Error{Vendor: displayName, HTTPStatus: status, Code: code, Message: msg}
	lower := strings.ToLower(msg)
	n, _ := strconv.Atoi(code)
	switch {
	case n >= 40201 && n <= 40208, status == http.StatusPaymentRequired:
		e.Kind = imaging.KindCredits
	case status == http.StatusForbidden:
		if containsAny(lower, "balance", "credit", "insufficient") {
			e.Kind = imaging.KindCredits
		} else {
			e.Kind = imaging.KindUnauthorized
		}
	case status == http.StatusUnauthorized:
		e.Kind = imaging.KindUnauthorized
	case status == http.StatusTooManyRequests:
		e.Kind = imaging.KindRateLimited
	case status == http.StatusNotFound:
		e.Kind = imaging.KindNotFound
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity:
		switch {
		case isSafety(lower):
			e.Kind = imaging.KindSafety
		case isImageProblem(lower):
			e.Kind = imaging.KindImageUnreachable
		default:
			// KindInvalid messages are shown to the user.
			e.Kind = imaging.KindInvalid
			e.Message = "Vtrix rejected the request"
			if msg != "" {
				e.Message += ": " + msg
			}
			e.Message += "."
		}
	case status >= 500:
		e.Kind = imaging.KindUnavailable
	default:
		e.Kind = vendorhttp.ClassifyStatus(status).Kind
	}
	return e
}

// errorDetail extracts the error code and message from any documented error
// body shape. The code is error_code (top level, then status.error_code),
// then error.code, then status.code.
func errorDetail(body []byte) (code, msg string) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", ""
	}
	var so statusObject
	if isObject(eb.Status) {
		_ = json.Unmarshal(eb.Status, &so)
	}
	ecode, emsg, _ := parseTaskError(eb.Error)
	code = firstNonEmpty(text(eb.ErrorCode), text(so.ErrorCode), ecode, text(so.Code))
	msg = firstNonEmpty(text(so.Message), text(eb.Message), emsg)
	return code, msg
}

// parseTaskError reads a task's "error": a plain string or an object
// {"code": string|number, "message"|"error_message": string}. ok reports
// whether an error was present.
func parseTaskError(raw json.RawMessage) (code, msg string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", "", false
	}
	if isObject(raw) {
		var eo errorObject
		if json.Unmarshal(raw, &eo) != nil {
			return "", "", true
		}
		return text(eo.Code), firstNonEmpty(text(eo.Message), text(eo.ErrorMessage)), true
	}
	s := text(raw)
	return "", s, true
}

// classifyFailure classifies a failed task by its error code and message.
func classifyFailure(code, msg string) *imaging.Error {
	e := &imaging.Error{Kind: imaging.KindUnknown, Vendor: displayName, Code: code, Message: msg}
	if msg == "" && code == "" {
		e.Message = "task failed without an error"
	}
	s := strings.ToLower(code + " " + msg)
	switch {
	case isSafety(s):
		e.Kind = imaging.KindSafety
	case isImageProblem(s):
		e.Kind = imaging.KindImageUnreachable
	}
	return e
}

func isSafety(s string) bool {
	return containsAny(s, "moderat", "safety", "nsfw", "content policy", "content_policy",
		"contentpolicy", "policy violation", "sensitive")
}

func isImageProblem(s string) bool {
	return containsAny(s, "fetch", "download", "decode", "unreachable", "failed to load", "could not load",
		"cannot load", "unable to load", "invalid image", "unsupported image", "image format", "corrupt")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// text renders a JSON string or number as text; anything else is "".
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// number reads a JSON number or numeric string as a finite float.
func number(raw json.RawMessage) (float64, bool) {
	s := text(raw)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// progress maps the 0.0–1.0 progress onto 0–100.
func progress(raw json.RawMessage) (int, bool) {
	f, ok := number(raw)
	if !ok {
		return 0, false
	}
	f = min(max(f, 0), 1)
	return int(math.Round(f * 100)), true
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
