package toapis

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/fluxbot/fluxbot/imaging"
)

// taskBody is the documented body of GET /v1/images/generations/{id}.
// Fields whose shape varies between ToAPIs' documents are decoded leniently.
type taskBody struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Progress progressValue   `json:"progress"`
	Result   json.RawMessage `json:"result"`
	// URL is documented as "only returned on success", though the
	// completed example carries only result.data[].url.
	URL   string          `json:"url"`
	Error json.RawMessage `json:"error"`
}

// taskResult is result: {"type":"image","data":[{"url":...}]}.
type taskResult struct {
	Type string `json:"type"`
	Data []struct {
		URL string `json:"url"`
	} `json:"data"`
}

// parseStatus maps a status body onto imaging.Status. status is the HTTP
// status of the (2xx) answer, for errors.
//
// The documented values are queued and submitted (both waiting; the field
// list says queued, the status reference table submitted), in_progress,
// completed and failed. SUCCESS and FAILURE, the webhook spelling, are
// accepted too. Any other value is reported as running: the core's overall
// job timeout bounds a task that never leaves it.
func parseStatus(status int, body []byte) (*imaging.Status, error) {
	var tb taskBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return nil, &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: status,
			Message: "malformed status response", Err: err}
	}
	st := &imaging.Status{Progress: tb.Progress.percent()}
	terr := parseTaskError(tb.Error)
	switch strings.ToLower(strings.TrimSpace(tb.Status)) {
	case "":
		// No task at all: an error envelope on a 2xx, or garbage.
		if terr != nil {
			return nil, terr.toError(status)
		}
		return nil, &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: status,
			Message: "status response has no status"}
	case "queued", "submitted":
		st.State = imaging.StateQueued
	case "in_progress":
		st.State = imaging.StateRunning
	case "completed", "success":
		st.State = imaging.StateSucceeded
		st.URLs = resultURLs(tb.Result, tb.URL)
		if len(st.URLs) == 0 {
			st.State = imaging.StateFailed
			st.Err = &imaging.Error{Kind: imaging.KindUnknown, Vendor: displayName,
				Message: "task completed without an image URL"}
		}
	case "failed", "failure":
		st.State = imaging.StateFailed
		if terr == nil {
			terr = &apiError{Message: "task failed without an error"}
		}
		st.Err = terr.taskFailure()
	default:
		st.State = imaging.StateRunning
	}
	return st, nil
}

// resultURLs reads result.data[].url, falling back to the top-level url.
func resultURLs(result json.RawMessage, fallback string) []string {
	var urls []string
	var r taskResult
	if len(result) > 0 && json.Unmarshal(result, &r) == nil {
		for _, d := range r.Data {
			if d.URL != "" {
				urls = append(urls, d.URL)
			}
		}
	}
	if len(urls) == 0 && fallback != "" {
		urls = []string{fallback}
	}
	return urls
}

// parseTaskError reads error as an object {code, message, type} or, to be
// safe, a bare string. It returns nil for absent or null errors.
func parseTaskError(raw json.RawMessage) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var e apiError
	if raw[0] == '{' {
		if json.Unmarshal(raw, &e) != nil {
			return &apiError{Message: "unreadable error"}
		}
		return &e
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &apiError{Message: s}
	}
	return &apiError{Message: "unreadable error"}
}

// taskFailure classifies a failed task's error: moderation-like codes or
// messages are KindSafety, a reference image ToAPIs could not fetch is
// KindImageUnreachable, anything else KindUnknown.
func (e *apiError) taskFailure() *imaging.Error {
	k := imaging.KindUnknown
	text := taskErrorText(string(e.Code), e.Message)
	switch {
	case safetyLike(text):
		k = imaging.KindSafety
	case imageUnreachable(text):
		k = imaging.KindImageUnreachable
	}
	return &imaging.Error{Kind: k, Vendor: displayName, Code: e.code(), Message: e.Message}
}

// safetyLike reports moderation wording in a lower-cased code or message.
func safetyLike(text string) bool {
	for _, w := range []string{"content_policy", "content policy", "moderat", "safety", "nsfw", "sensitive"} {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// imageUnreachable reports wording about a reference image ToAPIs could not
// fetch or read, in a lower-cased code or message.
func imageUnreachable(text string) bool {
	if !strings.Contains(text, "image") {
		return false
	}
	for _, w := range []string{"fetch", "download", "unreachable", "inaccessible", "could not load",
		"cannot load", "failed to load", "decode", "image_url"} {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// progressValue is an integer 0-100 when polling and a string such as
// "100%" in callbacks; other shapes read as "not reported".
type progressValue struct {
	v  float64
	ok bool
}

func (p *progressValue) UnmarshalJSON(b []byte) error {
	*p = progressValue{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")))
	}
	if v, err := strconv.ParseFloat(string(b), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		*p = progressValue{v: v, ok: true}
	}
	return nil
}

// percent returns 0-100, or -1 when no progress was reported.
func (p progressValue) percent() int {
	if !p.ok {
		return -1
	}
	return int(math.Round(min(max(p.v, 0), 100)))
}
