package imagingtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Vtrix API paths (shared/vendors/vendors.md §4.2–4.3).
const (
	vtrixSubmitPath = "/model/v1/generation"
	vtrixTaskPath   = "/model/v1/generation/task/"
	vtrixCDNPath    = "/cdn/"
)

// vtrixModel is the only documented Flux Kontext model ID on Vtrix.
const vtrixModel = "flux_kontext_pro"

// vtrixMaxImageBytes is "Supports up to 20MB" per input_image.
const vtrixMaxImageBytes = 20 << 20

// vtrixParams are flux_kontext_pro's documented parameters; anything else is
// refused.
var vtrixParams = map[string]bool{
	"prompt": true, "input_image": true, "input_image_2": true, "input_image_3": true, "input_image_4": true,
	"seed": true, "aspect_ratio": true, "output_format": true, "prompt_upsampling": true, "safety_tolerance": true,
}

// VtrixServer is a strict fake of the Vtrix generation API (vendors.md §4):
// POST /model/v1/generation with {"model","input":[{"params":{…}}]} and
// GET /model/v1/generation/task/{id}, bearer auth, and the SeaCloud error
// envelope {"status":{"code","message","error_code"},"data":null}. Results
// are served at /cdn/<id>.<ext> on the same server. Vtrix has no callbacks
// and no upload API.
//
// Queued polls answer "pending" and "in_queue" in turn, running polls
// "processing" and "in_progress" in turn (with progress 0.0–1.0), so every
// documented status value is seen. A failed task's "error" comes in each
// documented shape: FailSafety an object with a string code and "message",
// FailImage an object with a numeric code and "error_message", FailGeneric
// a plain string.
type VtrixServer struct {
	*httptest.Server
	cfg Config
	log Log

	submitFaults, statusFaults, downloadFaults *Faults

	mu    sync.Mutex
	n     int
	tasks map[string]*vtrixTask
}

type vtrixTask struct {
	id      string
	created int64
	polls   int
	ext     string
}

// NewVtrix starts a fake Vtrix server, closed when the test ends.
func NewVtrix(t testing.TB, opts ...Option) *VtrixServer {
	t.Helper()
	cfg := NewConfig(opts...)
	s := &VtrixServer{
		cfg:            cfg,
		submitFaults:   NewFaults(cfg.SubmitFaults),
		statusFaults:   NewFaults(cfg.StatusFaults),
		downloadFaults: NewFaults(cfg.DownloadFaults),
		tasks:          make(map[string]*vtrixTask),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns every request the server saw, in order.
func (s *VtrixServer) Requests() []Recorded { return s.log.All() }

// Submits returns every POST /model/v1/generation, answered or refused.
func (s *VtrixServer) Submits() []Recorded {
	var out []Recorded
	for _, r := range s.log.All() {
		if r.Path == vtrixSubmitPath {
			out = append(out, r)
		}
	}
	return out
}

// Polls counts status requests (any outcome).
func (s *VtrixServer) Polls() int {
	n := 0
	for _, r := range s.log.All() {
		if strings.HasPrefix(r.Path, vtrixTaskPath) {
			n++
		}
	}
	return n
}

// Downloads counts result image requests (any outcome).
func (s *VtrixServer) Downloads() int { return s.log.Count(http.MethodGet, vtrixCDNPath, 0, 999) }

// VtrixErrorBody is the SeaCloud error envelope the fake answers with, e.g.
// {"status":{"code":401,"message":"Unauthorized","error_code":40101},"data":null}.
func VtrixErrorBody(status, errorCode int, message string) string {
	b, _ := json.Marshal(map[string]any{
		"status": map[string]any{"code": status, "message": message, "error_code": errorCode},
		"data":   nil,
	})
	return string(b)
}

// vtrixFaultBody is the documented body for a scripted fault status.
func vtrixFaultBody(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return VtrixErrorBody(status, 40101, "Unauthorized")
	case http.StatusPaymentRequired:
		// Verbatim SeaCloud fixture (vendors.md §4.6).
		return VtrixErrorBody(status, 40201, "Insufficient credits")
	case http.StatusForbidden:
		return VtrixErrorBody(status, 40301, "Permission denied")
	case http.StatusNotFound:
		return VtrixErrorBody(status, 40401, "Not Found")
	case http.StatusTooManyRequests:
		return VtrixErrorBody(status, 42901, "Too Many Requests")
	}
	return VtrixErrorBody(status, status*100+1, http.StatusText(status))
}

func (s *VtrixServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4*vtrixMaxImageBytes*2))
	rec := s.log.track(w, r, r.URL.Path, body)
	defer rec.Record()
	switch {
	case r.URL.Path == vtrixSubmitPath:
		if r.Method != http.MethodPost {
			vtrixError(rec, http.StatusMethodNotAllowed, 40501, "Method Not Allowed")
			return
		}
		if s.submitFaults.Serve(rec, vtrixFaultBody) {
			return
		}
		if !s.authorized(rec, r) {
			return
		}
		s.submit(rec, r, body)
	case strings.HasPrefix(r.URL.Path, vtrixTaskPath):
		if r.Method != http.MethodGet {
			vtrixError(rec, http.StatusMethodNotAllowed, 40501, "Method Not Allowed")
			return
		}
		if s.statusFaults.Serve(rec, vtrixFaultBody) {
			return
		}
		if !s.authorized(rec, r) {
			return
		}
		s.status(rec, strings.TrimPrefix(r.URL.Path, vtrixTaskPath))
	case strings.HasPrefix(r.URL.Path, vtrixCDNPath):
		if r.Method != http.MethodGet {
			vtrixError(rec, http.StatusMethodNotAllowed, 40501, "Method Not Allowed")
			return
		}
		if s.downloadFaults.Serve(rec, vtrixFaultBody) {
			return
		}
		s.download(rec, strings.TrimPrefix(r.URL.Path, vtrixCDNPath))
	default:
		vtrixError(rec, http.StatusNotFound, 40401, "Not Found")
	}
}

func vtrixError(w http.ResponseWriter, status, errorCode int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, VtrixErrorBody(status, errorCode, message))
}

func vtrixJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *VtrixServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
		vtrixError(w, http.StatusUnauthorized, 40101, "Unauthorized")
		return false
	}
	return true
}

func (s *VtrixServer) submit(w http.ResponseWriter, r *http.Request, body []byte) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		vtrixError(w, http.StatusBadRequest, 40001, "Content-Type must be application/json")
		return
	}
	ext, msg := vtrixValidate(body)
	if msg != "" {
		vtrixError(w, http.StatusBadRequest, 40001, msg)
		return
	}
	s.mu.Lock()
	s.n++
	t := &vtrixTask{id: TaskID("task-vtrix-", s.n), created: time.Now().Unix(), ext: ext}
	s.tasks[t.id] = t
	s.mu.Unlock()
	// The SeaCloud fixture's submit answer (vendors.md §4.2).
	vtrixJSON(w, map[string]any{"id": t.id, "status": "in_progress", "model": vtrixModel, "created_at": t.created})
}

// vtrixValidate checks a submit body against the documents and returns the
// result file extension, or a message saying what is wrong.
func vtrixValidate(body []byte) (ext, msg string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", "invalid JSON body"
	}
	for k := range top {
		if k != "model" && k != "input" {
			return "", "unknown field " + strconv.Quote(k)
		}
	}
	var model string
	if json.Unmarshal(top["model"], &model) != nil || model == "" {
		return "", "model is required"
	}
	if model != vtrixModel {
		return "", "model " + strconv.Quote(model) + " not found"
	}
	var input []map[string]json.RawMessage
	if json.Unmarshal(top["input"], &input) != nil || len(input) != 1 {
		return "", "input must be an array with one element"
	}
	for k := range input[0] {
		if k != "params" {
			return "", "unknown input field " + strconv.Quote(k)
		}
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(input[0]["params"], &p) != nil || p == nil {
		return "", "input[0].params must be an object"
	}
	for k := range p {
		if !vtrixParams[k] {
			return "", "unknown parameter " + strconv.Quote(k)
		}
		// Only seed documents null ("If null or omitted, a random seed is
		// used"); other optional parameters are omitted, never null.
		if k != "seed" && string(bytes.TrimSpace(p[k])) == "null" {
			return "", k + " must not be null"
		}
	}
	var prompt string
	if json.Unmarshal(p["prompt"], &prompt) != nil || strings.TrimSpace(prompt) == "" || !utf8.ValidString(prompt) {
		return "", "prompt is required"
	}
	for _, k := range []string{"input_image", "input_image_2", "input_image_3", "input_image_4"} {
		raw, ok := p[k]
		if !ok {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", k + " must be a string"
		}
		if m := vtrixCheckImage(v); m != "" {
			return "", k + ": " + m
		}
	}
	if raw, ok := p["seed"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", "seed must be an integer"
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return "", "seed must be an integer"
		}
	}
	if raw, ok := p["aspect_ratio"]; ok {
		var ar string
		if json.Unmarshal(raw, &ar) != nil || !vtrixAspectOK(ar) {
			return "", "aspect_ratio must be between 21:9 and 9:21"
		}
	}
	ext = "jpg" // "Default: jpeg"
	if raw, ok := p["output_format"]; ok {
		var f string
		_ = json.Unmarshal(raw, &f)
		switch f {
		case "jpeg":
		case "png":
			ext = "png"
		default:
			return "", "output_format must be one of jpeg, png"
		}
	}
	if raw, ok := p["prompt_upsampling"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", "prompt_upsampling must be a boolean"
		}
	}
	if raw, ok := p["safety_tolerance"]; ok {
		var n int
		if json.Unmarshal(raw, &n) != nil || n < 1 || n > 6 {
			return "", "safety_tolerance must be an integer from 1 to 6"
		}
	}
	return ext, ""
}

// vtrixCheckImage accepts an http(s) URL or plain base64 of an image of at
// most 20 MB ("Base64 encoded image or image URL").
func vtrixCheckImage(v string) string {
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			return "invalid image URL"
		}
		return ""
	}
	if base64.StdEncoding.DecodedLen(len(v)) > vtrixMaxImageBytes+3 {
		return "image larger than 20MB"
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "not a URL or base64 encoded image"
	}
	if len(b) == 0 || len(b) > vtrixMaxImageBytes {
		return "image must be 1 byte to 20MB"
	}
	if !strings.HasPrefix(http.DetectContentType(b), "image/") {
		return "base64 data is not an image"
	}
	return ""
}

func vtrixAspectOK(ar string) bool {
	w, h, ok := strings.Cut(ar, ":")
	if !ok {
		return false
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil || wi <= 0 || hi <= 0 {
		return false
	}
	r := float64(wi) / float64(hi)
	return r >= 9.0/21-1e-9 && r <= 21.0/9+1e-9
}

func (s *VtrixServer) status(w http.ResponseWriter, id string) {
	s.mu.Lock()
	t, ok := s.tasks[id]
	var polls int
	if ok {
		t.polls++
		polls = t.polls
	}
	s.mu.Unlock()
	if !ok {
		vtrixError(w, http.StatusNotFound, 40401, "task not found")
		return
	}
	body := map[string]any{"id": t.id, "created_at": t.created, "model": vtrixModel, "metadata": map[string]any{}}
	q, run := s.cfg.PollsQueued, s.cfg.PollsRunning
	switch {
	case polls <= q:
		body["status"] = []string{"pending", "in_queue"}[(polls-1)%2]
	case polls <= q+run || s.cfg.Outcome == Never:
		i := polls - q
		body["status"] = []string{"processing", "in_progress"}[(i-1)%2]
		body["progress"] = min(float64(i)/float64(run+1), 0.99)
	default:
		switch s.cfg.Outcome {
		case Succeed:
			body["status"] = "completed"
			body["output"] = []any{map[string]any{"content": []any{
				map[string]any{"type": "image", "url": s.URL + vtrixCDNPath + t.id + "." + t.ext},
			}}}
			body["usage"] = map[string]any{"cost": "0.04", "discount": 0}
		case FailSafety:
			body["status"] = "failed"
			body["error"] = map[string]any{"code": "content_moderation", "message": "The prompt was flagged by content moderation (NSFW)."}
		case FailImage:
			body["status"] = "failed"
			body["error"] = map[string]any{"code": 2014002, "error_message": "Failed to download input_image: connection refused"}
		default:
			body["status"] = "failed"
			body["error"] = "Image generation failed"
		}
	}
	vtrixJSON(w, body)
}

func (s *VtrixServer) download(w *tracked, file string) {
	id, _, _ := strings.Cut(file, ".")
	s.mu.Lock()
	t, ok := s.tasks[id]
	s.mu.Unlock()
	if !ok || file != id+"."+t.ext {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", s.cfg.ImageContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(s.cfg.Image)))
	w.WriteHeader(http.StatusOK)
	// Log before the body: a large image may reach the client before the
	// handler returns.
	w.Record()
	_, _ = io.Copy(w, bytes.NewReader(s.cfg.Image))
}
