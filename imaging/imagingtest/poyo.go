package imagingtest

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// PoYoServer is a strict fake of PoYo's API (section 1 of
// shared/vendors/vendors.md): POST /api/generate/submit, GET
// /api/generate/status/{task_id}, POST /api/common/upload/base64, and a CDN
// under /cdn/ serving results and uploads. It answers every documented
// rule violation with the documented status and error shape, and also
// rejects unknown and null fields, which the real API might ignore, so that
// a client never sends undocumented fields. It is safe for concurrent use.
type PoYoServer struct {
	*httptest.Server
	cfg Config
	log Log

	submitFaults, statusFaults, uploadFaults, downloadFaults *Faults

	mu     sync.Mutex
	n      int
	tasks  map[string]*poyoTask
	files  map[string]poyoFile // CDN path -> uploaded file
	window time.Time           // start of the upload rate-limit window
	inWin  int                 // uploads accepted in the window
	secret string
}

type poyoTask struct {
	id, model, created string
	polls              int
}

type poyoFile struct {
	data  []byte
	ctype string
}

// poyoModels are the documented Flux Kontext model ids.
var poyoModels = []string{"flux-kontext-pro", "flux-kontext-pro-edit", "flux-kontext-max", "flux-kontext-max-edit"}

// poyoSizes is the documented size enum (16:21 on the seed page is a typo
// the docs fixed to 9:21).
var poyoSizes = []string{"1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21"}

// poyoUploadTypes are the types /api/common/upload/base64 accepts.
var poyoUploadTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

const (
	poyoPromptMax      = 2000
	poyoCallbackURLMax = 2048
	poyoUploadsPerMin  = 10
	poyoDefaultSecret  = "poyo-test-webhook-secret"
)

// NewPoYo starts a fake PoYo server, closed when the test ends.
func NewPoYo(t testing.TB, opts ...Option) *PoYoServer {
	cfg := NewConfig(opts...)
	s := &PoYoServer{
		cfg:            cfg,
		submitFaults:   NewFaults(cfg.SubmitFaults),
		statusFaults:   NewFaults(cfg.StatusFaults),
		uploadFaults:   NewFaults(cfg.UploadFaults),
		downloadFaults: NewFaults(cfg.DownloadFaults),
		tasks:          map[string]*poyoTask{},
		files:          map[string]poyoFile{},
		secret:         poyoDefaultSecret,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// WebhookSecret is the HMAC key the fake signs callbacks with.
func (s *PoYoServer) WebhookSecret() string { return s.secret }

// Requests returns every request the fake received, in order.
func (s *PoYoServer) Requests() []Recorded { return s.log.All() }

// Submits returns the requests to POST /api/generate/submit, whatever
// they were answered with (dropped connections have Status 0).
func (s *PoYoServer) Submits() []Recorded { return s.filter(http.MethodPost, "/api/generate/submit") }

// Uploads returns the requests to the upload endpoints.
func (s *PoYoServer) Uploads() []Recorded { return s.filter(http.MethodPost, "/api/common/upload/") }

// Polls returns how many status requests were received.
func (s *PoYoServer) Polls() int { return len(s.filter(http.MethodGet, "/api/generate/status/")) }

// Downloads returns how many result-image downloads were received.
func (s *PoYoServer) Downloads() int { return len(s.filter(http.MethodGet, "/cdn/generated/")) }

func (s *PoYoServer) filter(method, prefix string) []Recorded {
	var out []Recorded
	for _, r := range s.log.All() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// CallbackRequest builds the callback PoYo would POST when taskID ends:
// the task data object without the code/data wrapper, as the task will be
// once terminal under the configured Outcome (finished unless the outcome is
// a failure), with X-Webhook-Timestamp (now) and X-Webhook-Signature =
// base64(HMAC-SHA256(WebhookSecret, task_id + "." + timestamp)).
func (s *PoYoServer) CallbackRequest(taskID string) (http.Header, []byte) {
	s.mu.Lock()
	t, ok := s.tasks[taskID]
	if !ok {
		t = &poyoTask{id: taskID, model: "flux-kontext-pro", created: poyoNow()}
	}
	data := s.taskData(t, true)
	s.mu.Unlock()
	delete(data, "progress")
	delete(data, "credits_amount")
	body, _ := json.Marshal(data)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte(taskID + "." + ts))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Webhook-Timestamp", ts)
	h.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return h, body
}

func (s *PoYoServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	rec := s.log.track(w, r, r.URL.Path, body)
	defer rec.Record()
	p := r.URL.Path
	switch {
	case p == "/api/generate/submit":
		if r.Method != http.MethodPost {
			poyoDetail(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		s.submit(rec, r, body)
	case strings.HasPrefix(p, "/api/generate/status/"):
		if r.Method != http.MethodGet {
			poyoDetail(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		s.status(rec, r, strings.TrimPrefix(p, "/api/generate/status/"))
	case p == "/api/common/upload/base64":
		if r.Method != http.MethodPost {
			poyoDetail(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		s.upload(rec, r, body)
	case strings.HasPrefix(p, "/cdn/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			poyoDetail(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		s.cdn(rec, p)
	default:
		poyoDetail(rec, http.StatusNotFound, "Not Found")
	}
}

// poyoAuthorized checks "Authorization: Bearer <key>".
func (s *PoYoServer) poyoAuthorized(r *http.Request) bool {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && key == s.cfg.APIKey
}

// poyoGenError writes the generation endpoints' error envelope.
func poyoGenError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(poyoGenErrorBody(status, typ, msg))
}

func poyoGenErrorBody(status int, typ, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"code": status, "error": map[string]string{"message": msg, "type": typ}})
	return b
}

// poyoGenFault is the documented generation error body for a status.
func poyoGenFault(status int) string {
	typ, msg := "internal_error", "Internal server error"
	switch status {
	case 400:
		typ, msg = "invalid_request_error", "Invalid request parameters"
	case 401:
		typ, msg = "authentication_error", "Unauthorized - Invalid API key"
	case 402:
		typ, msg = "insufficient_credits_error", "Insufficient credits to complete this request"
	case 403:
		typ, msg = "permission_denied_error", "Permission denied"
	case 404:
		typ, msg = "resource_not_found_error", "Task not found"
	case 408:
		typ, msg = "timeout_error", "Request timed out"
	case 429:
		typ, msg = "rate_limit_error", "Rate limit exceeded. Please try again later."
	case 502:
		typ, msg = "upstream_error", "Upstream service unavailable"
	case 503:
		typ, msg = "service_error", "The server is busy. Please try again later."
	}
	return string(poyoGenErrorBody(status, typ, msg))
}

// poyoDetail writes the FastAPI error shape of the status and upload
// endpoints.
func poyoDetail(w http.ResponseWriter, status int, detail any) {
	b, _ := json.Marshal(map[string]any{"detail": detail})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// poyoDetailFault is the documented {"detail"} body for a status.
func poyoDetailFault(status int) string {
	msg := "Internal Server Error"
	switch status {
	case 400:
		msg = "Invalid file data"
	case 401:
		msg = "Not authenticated"
	case 403:
		msg = "Task belongs to another user"
	case 404:
		msg = "Task not found"
	case 429:
		msg = "Rate limit exceeded"
	case 502:
		msg = "Bad Gateway"
	case 503:
		msg = "Service Unavailable"
	}
	b, _ := json.Marshal(map[string]string{"detail": msg})
	return string(b)
}

// poyoMissing is FastAPI's 422 for a missing field.
func poyoMissing(w http.ResponseWriter, loc ...string) {
	poyoDetail(w, http.StatusUnprocessableEntity, []map[string]any{{
		"loc": append([]string{"body"}, loc...), "msg": "field required", "type": "value_error.missing"}})
}

func poyoIsJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// poyoObject decodes a JSON object, reporting a field that is not allowed
// or is null.
func poyoObject(raw []byte, allowed ...string) (map[string]json.RawMessage, string, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, "", false
	}
	for k, v := range m {
		if !slices.Contains(allowed, k) {
			return nil, "unknown field: " + k, false
		}
		if string(bytes.TrimSpace(v)) == "null" {
			return nil, "null field: " + k, false
		}
	}
	return m, "", true
}

// poyoString decodes an optional string field.
func poyoString(m map[string]json.RawMessage, k string) (string, bool, bool) {
	raw, ok := m[k]
	if !ok {
		return "", false, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

func (s *PoYoServer) submit(w http.ResponseWriter, r *http.Request, body []byte) {
	if s.submitFaults.Serve(w, poyoGenFault) {
		return
	}
	if !s.poyoAuthorized(r) {
		poyoGenError(w, 401, "authentication_error", "Unauthorized - Invalid API key")
		return
	}
	bad := func(typ, msg string) { poyoGenError(w, 400, typ, msg) }
	if !poyoIsJSON(r) {
		bad("invalid_request_error", "Content-Type must be application/json")
		return
	}
	top, why, ok := poyoObject(body, "model", "callback_url", "input")
	if !ok {
		bad("validation_error", cmp.Or(why, "Invalid JSON body"))
		return
	}
	model, has, ok := poyoString(top, "model")
	if !has {
		bad("validation_error", "Missing required parameter: model")
		return
	}
	if !ok || !slices.Contains(poyoModels, model) {
		bad("validation_error", "Invalid parameter: model")
		return
	}
	if cb, has, ok := poyoString(top, "callback_url"); has {
		u, err := url.Parse(cb)
		if !ok || err != nil || u.Scheme != "https" || u.Host == "" || len(cb) > poyoCallbackURLMax {
			bad("validation_error", "Invalid parameter: callback_url (an HTTPS URL of at most 2048 characters)")
			return
		}
	}
	rawIn, has := top["input"]
	if !has {
		bad("validation_error", "Missing required parameter: input")
		return
	}
	in, why, ok := poyoObject(rawIn, "prompt", "image_urls", "size", "output_format")
	if !ok {
		bad("validation_error", cmp.Or(why, "Invalid parameter: input"))
		return
	}
	prompt, has, ok := poyoString(in, "prompt")
	switch {
	case !has:
		bad("validation_error", "Missing required parameter: prompt")
		return
	case !ok || strings.TrimSpace(prompt) == "":
		bad("validation_error", "Invalid parameter: prompt")
		return
	case utf8.RuneCountInString(prompt) > poyoPromptMax:
		bad("content_too_long_error", "Prompt exceeds the maximum length of 2000 characters")
		return
	}
	if v, has, ok := poyoString(in, "size"); has && (!ok || !slices.Contains(poyoSizes, v)) {
		bad("validation_error", "Invalid parameter: size")
		return
	}
	if v, has, ok := poyoString(in, "output_format"); has && (!ok || (v != "png" && v != "jpg")) {
		bad("validation_error", "Invalid parameter: output_format")
		return
	}
	edit := strings.HasSuffix(model, "-edit")
	rawURLs, has := in["image_urls"]
	switch {
	case edit && !has:
		bad("validation_error", "image_urls is required for edit models")
		return
	case !edit && has:
		// Not forbidden by the schema, but only edit models use it: a
		// client sending it to a text-to-image model has lost the image.
		bad("validation_error", "image_urls is only used by edit models")
		return
	case has:
		var urls []string
		if json.Unmarshal(rawURLs, &urls) != nil || len(urls) != 1 {
			bad("validation_error", "Invalid parameter: image_urls (exactly 1 URL)")
			return
		}
		u, err := url.Parse(urls[0])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("validation_error", "Invalid parameter: image_urls[0] must be a URL")
			return
		}
	}
	s.mu.Lock()
	s.n++
	t := &poyoTask{id: TaskID(fmt.Sprintf("task-unified-%d-", time.Now().Unix()), s.n), model: model, created: poyoNow()}
	s.tasks[t.id] = t
	s.mu.Unlock()
	poyoJSON(w, map[string]any{"code": 200, "data": map[string]any{
		"task_id": t.id, "status": "not_started", "created_time": t.created}})
}

func poyoNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05") }

func poyoJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *PoYoServer) status(w http.ResponseWriter, r *http.Request, id string) {
	if s.statusFaults.Serve(w, poyoDetailFault) {
		return
	}
	if !s.poyoAuthorized(r) {
		poyoDetail(w, http.StatusUnauthorized, "Not authenticated")
		return
	}
	s.mu.Lock()
	t, ok := s.tasks[id]
	if ok {
		t.polls++
	}
	var data map[string]any
	if ok {
		data = s.taskData(t, false)
	}
	s.mu.Unlock()
	if !ok {
		poyoDetail(w, http.StatusNotFound, "Task not found")
		return
	}
	poyoJSON(w, map[string]any{"code": 200, "data": data})
}

// poyoFailures are the fake's error_message texts per outcome.
var poyoFailures = map[Outcome]string{
	FailSafety:  "The prompt violates our content policy",
	FailImage:   "Failed to download the input image from image_urls[0]",
	FailGeneric: "Generation failed, please try again",
}

// taskData is the status data object for t after its polls, or in its
// terminal state when terminal is set.
func (s *PoYoServer) taskData(t *poyoTask, terminal bool) map[string]any {
	credits := 2
	if strings.HasPrefix(t.model, "flux-kontext-max") {
		credits = 4
	}
	d := map[string]any{"task_id": t.id, "status": "not_started", "credits_amount": credits,
		"files": []any{}, "created_time": t.created, "progress": 0, "error_message": nil}
	q, run := s.cfg.PollsQueued, s.cfg.PollsRunning
	switch {
	case !terminal && t.polls <= q:
	case !terminal && (t.polls <= q+run || s.cfg.Outcome == Never):
		d["status"] = "running"
		d["progress"] = 45
	case s.cfg.Outcome == Succeed || s.cfg.Outcome == Never:
		ext := "png"
		if s.cfg.ImageContentType == "image/jpeg" {
			ext = "jpg"
		}
		d["status"] = "finished"
		d["progress"] = 100
		d["files"] = []any{map[string]string{"file_url": s.URL + "/cdn/generated/" + url.PathEscape(t.id) + "." + ext, "file_type": "image"}}
	default:
		d["status"] = "failed"
		d["credits_amount"] = 0 // failed tasks are free
		d["error_message"] = poyoFailures[s.cfg.Outcome]
	}
	return d
}

func (s *PoYoServer) upload(w http.ResponseWriter, r *http.Request, body []byte) {
	if s.uploadFaults.Serve(w, poyoDetailFault) {
		return
	}
	if !s.poyoAuthorized(r) {
		poyoDetail(w, http.StatusUnauthorized, "Not authenticated")
		return
	}
	if !poyoIsJSON(r) {
		poyoDetail(w, http.StatusUnprocessableEntity, []map[string]any{{
			"loc": []string{"body"}, "msg": "value is not a valid dict", "type": "type_error.dict"}})
		return
	}
	m, why, ok := poyoObject(body, "base64_data", "upload_path", "file_name")
	if !ok {
		poyoDetail(w, http.StatusUnprocessableEntity, []map[string]any{{
			"loc": []string{"body"}, "msg": cmp.Or(why, "invalid JSON"), "type": "value_error"}})
		return
	}
	for _, k := range []string{"upload_path", "file_name"} {
		if _, has, ok := poyoString(m, k); has && !ok {
			poyoDetail(w, http.StatusUnprocessableEntity, []map[string]any{{
				"loc": []string{"body", k}, "msg": "str type expected", "type": "type_error.str"}})
			return
		}
	}
	b64, has, ok := poyoString(m, "base64_data")
	if !has {
		poyoMissing(w, "base64_data")
		return
	}
	if !ok {
		poyoDetail(w, http.StatusBadRequest, "Invalid Base64 encoding")
		return
	}
	declared := ""
	if rest, isURL := strings.CutPrefix(b64, "data:"); isURL {
		meta, payload, found := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !found || !isB64 || mt == "" {
			poyoDetail(w, http.StatusBadRequest, "Invalid data URL format")
			return
		}
		declared, b64 = mt, payload
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(data) == 0 {
		poyoDetail(w, http.StatusBadRequest, "Invalid Base64 encoding")
		return
	}
	sniffed := http.DetectContentType(data)
	if declared != "" && !slices.Contains(poyoUploadTypes, declared) {
		poyoDetail(w, http.StatusBadRequest, "Unsupported file type: "+declared)
		return
	}
	if !slices.Contains(poyoUploadTypes, sniffed) || (declared != "" && declared != sniffed) {
		poyoDetail(w, http.StatusBadRequest, "Invalid file data")
		return
	}
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.window) >= time.Minute {
		s.window, s.inWin = now, 0
	}
	if s.inWin >= poyoUploadsPerMin {
		s.mu.Unlock()
		poyoDetail(w, http.StatusTooManyRequests, "Rate limit exceeded")
		return
	}
	s.inWin++
	sum := md5.Sum(data)
	id := hex.EncodeToString(sum[:])
	ext := strings.TrimPrefix(sniffed, "image/")
	if ext == "jpeg" {
		ext = "jpg"
	}
	name := id + "." + ext
	cdnPath := "/cdn/temp/" + name
	s.files[cdnPath] = poyoFile{data: data, ctype: sniffed}
	s.mu.Unlock()
	fileURL := s.URL + cdnPath
	poyoJSON(w, map[string]any{"success": true, "code": 200, "msg": "File uploaded successfully", "data": map[string]any{
		"file_id": id, "file_name": name, "original_name": name, "file_size": len(data), "mime_type": sniffed,
		"upload_path": "temp", "file_url": fileURL, "download_url": fileURL,
		"upload_time": now.UTC().Format("2006-01-02T15:04:05.000000"),
		"expires_at":  now.Add(72 * time.Hour).UTC().Format("2006-01-02T15:04:05.000000"),
	}})
}

func (s *PoYoServer) cdn(w http.ResponseWriter, p string) {
	if rest, ok := strings.CutPrefix(p, "/cdn/generated/"); ok {
		if s.downloadFaults.Serve(w, func(st int) string { return http.StatusText(st) }) {
			return
		}
		id := strings.TrimSuffix(rest, path.Ext(rest))
		s.mu.Lock()
		_, known := s.tasks[id]
		s.mu.Unlock()
		if !known {
			http.NotFound(w, nil)
			return
		}
		w.Header().Set("Content-Type", s.cfg.ImageContentType)
		_, _ = w.Write(s.cfg.Image)
		return
	}
	s.mu.Lock()
	f, ok := s.files[p]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	_, _ = w.Write(f.data)
}
