package imagingtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
)

// ToAPIs' documented limits and enums (shared/vendors/vendors.md §2).
var (
	toapisModels  = []string{"flux-kontext-pro", "flux-kontext-max"}
	toapisSizes   = []string{"match_input_image", "1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9", "9:21"}
	toapisFormats = []string{"png", "jpg"}
)

const (
	toapisMaxUpload = 10 << 20
	// toapisMaxBody bounds what the fake reads of one request.
	toapisMaxBody = toapisMaxUpload + 1<<20
)

// ToAPIsServer is a strict fake of ToAPIs' Flux Kontext API:
//
//	POST /v1/images/generations       submit (flat JSON body)
//	GET  /v1/images/generations/{id}  status
//	POST /v1/uploads/images           multipart upload, part "file"
//	GET  /cdn/{id}.{ext}              result image (public, no auth)
//	GET  /files/uploads/{name}        uploaded image (public, no auth)
//
// It rejects, with ToAPIs' documented error bodies, anything the documents
// do not allow: wrong auth, content type or method, unknown or null fields,
// values outside the documented enums, more than one image, base64 images,
// callback_url on a key without Task Webhooks, unknown task ids. ToAPIs
// documents no prompt length limit, so none is enforced. Tasks are
// "queued" for PollsQueued polls (see SetQueuedStatus), "in_progress" for
// PollsRunning polls, then end as Config.Outcome says.
type ToAPIsServer struct {
	*httptest.Server
	cfg Config
	log Log

	submitFaults, statusFaults, uploadFaults, downloadFaults *Faults

	mu           sync.Mutex
	tasks        map[string]*toapisTask
	uploads      map[string][]byte // path -> bytes
	seq          int
	queuedStatus string
	webhookURL   *url.URL
	secret       string
	prevSecret   string
}

type toapisTask struct {
	id, model   string
	created     int64
	polls       int
	callbackURL string
}

// NewToAPIs starts a fake ToAPIs server, closed when the test ends.
func NewToAPIs(t testing.TB, opts ...Option) *ToAPIsServer {
	t.Helper()
	cfg := NewConfig(opts...)
	s := &ToAPIsServer{
		cfg:            cfg,
		submitFaults:   NewFaults(cfg.SubmitFaults),
		statusFaults:   NewFaults(cfg.StatusFaults),
		uploadFaults:   NewFaults(cfg.UploadFaults),
		downloadFaults: NewFaults(cfg.DownloadFaults),
		tasks:          make(map[string]*toapisTask),
		uploads:        make(map[string][]byte),
		queuedStatus:   "queued",
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetQueuedStatus sets the status reported while a task waits: "queued"
// (the default, as the field docs spell it) or "submitted" (as the status
// reference table spells it).
func (s *ToAPIsServer) SetQueuedStatus(v string) {
	s.mu.Lock()
	s.queuedStatus = v
	s.mu.Unlock()
}

// EnableWebhooks configures Task Webhooks for the key, as the operator does
// in the ToAPIs console: a default HTTPS URL and a signing secret. Until it
// is called, a submit with callback_url gets 400 webhook_not_configured.
// Afterwards callback_url must keep defaultURL's scheme, host and port.
func (s *ToAPIsServer) EnableWebhooks(defaultURL, secret string) {
	u, err := url.Parse(defaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		panic("imagingtest: EnableWebhooks needs an https URL, got " + defaultURL)
	}
	s.mu.Lock()
	s.webhookURL, s.secret, s.prevSecret = u, secret, ""
	s.mu.Unlock()
}

// RotateWebhookSecret replaces the signing secret. As ToAPIs does for 24 h
// after a rotation, callbacks are then signed with both the new and the
// previous secret: "v1=<new>,v1=<old>".
func (s *ToAPIsServer) RotateWebhookSecret(secret string) {
	s.mu.Lock()
	s.prevSecret, s.secret = s.secret, secret
	s.mu.Unlock()
}

// Requests returns every request the server saw, in order.
func (s *ToAPIsServer) Requests() []Recorded { return s.log.All() }

// Submits returns the submit requests (POST /v1/images/generations).
func (s *ToAPIsServer) Submits() []Recorded {
	return s.filter(func(r Recorded) bool {
		return r.Method == http.MethodPost && r.Path == "/v1/images/generations"
	})
}

// Uploads returns the upload requests (POST /v1/uploads/images).
func (s *ToAPIsServer) Uploads() []Recorded {
	return s.filter(func(r Recorded) bool { return r.Method == http.MethodPost && r.Path == "/v1/uploads/images" })
}

// Polls counts status requests, answered or not.
func (s *ToAPIsServer) Polls() int {
	return len(s.filter(func(r Recorded) bool {
		return r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1/images/generations/")
	}))
}

// Downloads counts requests for result images.
func (s *ToAPIsServer) Downloads() int {
	return len(s.filter(func(r Recorded) bool { return strings.HasPrefix(r.Path, "/cdn/") }))
}

// UploadedFile returns the bytes stored at an upload URL the server handed
// out.
func (s *ToAPIsServer) UploadedFile(rawURL string) ([]byte, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.uploads[u.Path]
	return b, ok
}

func (s *ToAPIsServer) filter(keep func(Recorded) bool) []Recorded {
	var out []Recorded
	for _, r := range s.log.All() {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// CallbackRequest builds the Task Webhooks request ToAPIs would POST when
// taskID reaches its scripted end, signed now: generation.completed for
// Succeed, generation.failed otherwise.
func (s *ToAPIsServer) CallbackRequest(taskID string) (http.Header, []byte) {
	return s.CallbackRequestAt(taskID, time.Now())
}

// CallbackRequestAt is CallbackRequest with the signed timestamp at.
func (s *ToAPIsServer) CallbackRequestAt(taskID string, at time.Time) (http.Header, []byte) {
	s.mu.Lock()
	model := "flux-kontext-pro"
	var submitted int64
	if tk, ok := s.tasks[taskID]; ok {
		model, submitted = tk.model, tk.created
	}
	s.seq++
	evt := "evt_" + strconv.Itoa(s.seq)
	s.mu.Unlock()
	data := map[string]any{
		"task_id":      taskID,
		"task_type":    "image",
		"model":        model,
		"progress":     "100%",
		"submitted_at": submitted,
		"finished_at":  at.Unix(),
	}
	typ := "generation.completed"
	if s.cfg.Outcome == Succeed {
		data["status"] = "SUCCESS"
		data["result"] = map[string]any{"type": "image", "data": []any{map[string]any{"url": s.resultURL(taskID)}}}
		data["error"] = nil
	} else {
		typ = "generation.failed"
		data["status"] = "FAILURE"
		data["result"] = nil
		data["error"] = s.taskError()
	}
	return s.signedEvent(evt, typ, data, at)
}

// EndpointTestRequest builds the endpoint.test event the ToAPIs console
// sends to check a webhook endpoint, signed at at.
func (s *ToAPIsServer) EndpointTestRequest(at time.Time) (http.Header, []byte) {
	s.mu.Lock()
	s.seq++
	evt := "evt_test" + strconv.Itoa(s.seq)
	s.mu.Unlock()
	return s.signedEvent(evt, "endpoint.test", map[string]any{
		"task_id": "endpoint_test", "task_type": "image", "status": "SUCCESS", "progress": "100%",
		"result": map[string]any{"message": "ToAPIs webhook endpoint test"}, "error": nil,
		"submitted_at": 0, "finished_at": 0,
	}, at)
}

func (s *ToAPIsServer) signedEvent(id, typ string, data map[string]any, at time.Time) (http.Header, []byte) {
	body, _ := json.Marshal(map[string]any{
		"id": id, "type": typ, "api_version": "v1", "created_at": at.Unix(), "data": data,
	})
	ts := strconv.FormatInt(at.Unix(), 10)
	s.mu.Lock()
	secrets := []string{s.secret}
	if s.prevSecret != "" {
		secrets = append(secrets, s.prevSecret)
	}
	s.mu.Unlock()
	var sigs []string
	for _, sec := range secrets {
		sigs = append(sigs, "v1="+ToAPIsSignature(sec, id, ts, body))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "ToAPIs-Webhook/1.0")
	h.Set("X-ToAPIs-Webhook-Id", id)
	h.Set("X-ToAPIs-Webhook-Timestamp", ts)
	h.Set("X-ToAPIs-Webhook-Signature", strings.Join(sigs, ","))
	return h, body
}

// ToAPIsSignature is ToAPIs' documented webhook signature: hex
// HMAC-SHA256(secret, eventID + "." + timestamp + "." + body).
func ToAPIsSignature(secret, eventID, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(eventID + "." + timestamp + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// ToAPIsErrorBody returns ToAPIs' documented error body for an HTTP status.
// 401 and 404 are verbatim from the status page (integer code plus type),
// 429 and 503 verbatim from the rate-limit page; 400, 402, 422 and 500 use
// the codes in the status page's error table.
func ToAPIsErrorBody(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return `{"error":{"code":401,"message":"Authentication failed, please check your API key","type":"authentication_error"}}`
	case http.StatusNotFound:
		return `{"error":{"code":404,"message":"Task not found","type":"not_found_error"}}`
	case http.StatusTooManyRequests:
		return `{"error":{"code":"rate_limit_exceeded","message":"Async task request rate exceeded"}}`
	case http.StatusServiceUnavailable:
		return `{"error":{"code":"rate_limit_unavailable","message":"The async task submit limiter is temporarily unavailable"}}`
	case http.StatusBadRequest:
		return toapisError("invalid_request", "Invalid request")
	case http.StatusPaymentRequired:
		return toapisError("insufficient_quota", "Insufficient quota, please top up your balance")
	case http.StatusUnprocessableEntity:
		return toapisError("content_policy_violation", "The prompt violates the content policy")
	}
	return toapisError("internal_error", "Internal server error")
}

func toapisError(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	return string(b)
}

func (s *ToAPIsServer) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, toapisMaxBody+1))
	w := s.log.track(rw, r, r.URL.Path, body)
	defer w.Record()
	if err != nil {
		toapisJSON(w, http.StatusBadRequest, toapisError("invalid_request", "unreadable body"))
		return
	}
	if len(body) > toapisMaxBody {
		toapisJSON(w, http.StatusRequestEntityTooLarge, `{"success":false,"message":"Image too large. Maximum size is 10MB"}`)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/cdn/"):
		s.serveDownload(w, r)
		return
	case strings.HasPrefix(p, "/files/uploads/"):
		s.serveUploaded(w, r)
		return
	}
	// Every API path needs the bearer key.
	if r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
		toapisJSON(w, http.StatusUnauthorized, ToAPIsErrorBody(http.StatusUnauthorized))
		return
	}
	switch {
	case p == "/v1/images/generations":
		if r.Method != http.MethodPost {
			toapisMethod(w, http.MethodPost)
			return
		}
		s.serveSubmit(w, r, body)
	case strings.HasPrefix(p, "/v1/images/generations/") && !strings.Contains(p[len("/v1/images/generations/"):], "/"):
		if r.Method != http.MethodGet {
			toapisMethod(w, http.MethodGet)
			return
		}
		s.serveStatus(w, p[len("/v1/images/generations/"):])
	case p == "/v1/uploads/images":
		if r.Method != http.MethodPost {
			toapisMethod(w, http.MethodPost)
			return
		}
		s.serveUpload(w, r, body)
	default:
		toapisJSON(w, http.StatusNotFound, `{"error":{"code":404,"message":"Not found","type":"not_found_error"}}`)
	}
}

func toapisJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// toapisMethod answers a wrong method. ToAPIs documents no body for it; the
// shape follows its other error bodies.
func toapisMethod(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	toapisJSON(w, http.StatusMethodNotAllowed, `{"error":{"code":405,"message":"Method not allowed","type":"invalid_request_error"}}`)
}

func toapisInvalid(w http.ResponseWriter, format string, args ...any) {
	toapisJSON(w, http.StatusBadRequest, toapisError("invalid_request", fmt.Sprintf(format, args...)))
}

// toapisRateHeaders sets the documented X-RateLimit-* headers (default tier).
func toapisRateHeaders(w http.ResponseWriter, category string, limit int) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-1))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	h.Set("X-RateLimit-Category", category)
}

func (s *ToAPIsServer) serveSubmit(w http.ResponseWriter, r *http.Request, body []byte) {
	toapisRateHeaders(w, "async_submit", 300)
	if s.submitFaults.Serve(w, ToAPIsErrorBody) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		toapisInvalid(w, "Content-Type must be application/json")
		return
	}
	fields, err := toapisObject(body)
	if err != nil {
		toapisInvalid(w, "invalid JSON body: %v", err)
		return
	}
	var (
		model, prompt, size, callback string
		images                        []string
	)
	for k, raw := range fields {
		var err error
		switch k {
		case "model":
			err = toapisEnum(raw, &model, toapisModels)
		case "prompt":
			err = json.Unmarshal(raw, &prompt)
		case "size":
			err = toapisEnum(raw, &size, toapisSizes)
		case "image_urls":
			err = json.Unmarshal(raw, &images)
		case "metadata":
			err = toapisMetadata(raw)
		case "callback_url":
			err = json.Unmarshal(raw, &callback)
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			toapisInvalid(w, "%s: %v", k, err)
			return
		}
	}
	switch {
	case model == "":
		toapisInvalid(w, "model is required")
		return
	case strings.TrimSpace(prompt) == "":
		toapisInvalid(w, "prompt is required")
		return
	}
	if _, ok := fields["image_urls"]; ok {
		if len(images) == 0 {
			toapisInvalid(w, "image_urls must not be empty")
			return
		}
		if len(images) > 1 {
			toapisInvalid(w, "image_urls: maximum 1 image")
			return
		}
		for _, u := range images {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				toapisInvalid(w, "image_urls: base64 image data is not supported; upload the image and pass its URL")
				return
			}
		}
	}
	if size == "match_input_image" && len(images) == 0 {
		toapisInvalid(w, "size match_input_image requires a reference image")
		return
	}
	if _, ok := fields["callback_url"]; ok {
		if msg := s.checkCallback(callback); msg != "" {
			if msg == "webhook_not_configured" {
				toapisJSON(w, http.StatusBadRequest, toapisError("webhook_not_configured",
					"Task Webhooks are not configured for this token"))
				return
			}
			toapisInvalid(w, "callback_url: %s", msg)
			return
		}
	}
	now := time.Now().Unix()
	s.mu.Lock()
	s.seq++
	tk := &toapisTask{id: "task_img_" + strconv.Itoa(s.seq), model: model, created: now, callbackURL: callback}
	s.tasks[tk.id] = tk
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{
		"id": tk.id, "object": "generation.task", "model": model, "status": "queued",
		"progress": 0, "created_at": now, "metadata": map[string]any{},
	})
	toapisJSON(w, http.StatusOK, string(b))
}

// checkCallback returns "" for an acceptable callback_url,
// "webhook_not_configured" when the key has no Task Webhooks, or a reason.
func (s *ToAPIsServer) checkCallback(raw string) string {
	s.mu.Lock()
	base := s.webhookURL
	s.mu.Unlock()
	if base == nil {
		return "webhook_not_configured"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return "not an absolute URL"
	case u.User != nil || u.Fragment != "":
		return "must not carry userinfo or a fragment"
	case u.Scheme != base.Scheme || u.Host != base.Host:
		return "may only change the path and query of the configured webhook URL"
	}
	return ""
}

// toapisObject decodes a JSON object, refusing null values (the client
// must omit unset fields).
func toapisObject(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not an object")
	}
	for k, v := range m {
		if string(bytes.TrimSpace(v)) == "null" {
			return nil, fmt.Errorf("%s is null; omit unset fields", k)
		}
	}
	return m, nil
}

func toapisEnum(raw json.RawMessage, dst *string, allowed []string) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return err
	}
	for _, a := range allowed {
		if *dst == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", *dst, strings.Join(allowed, ", "))
}

func toapisMetadata(raw json.RawMessage) error {
	m, err := toapisObject(raw)
	if err != nil {
		return err
	}
	for k, v := range m {
		switch k {
		case "response_format":
			var f string
			err = toapisEnum(v, &f, toapisFormats)
		case "safety_tolerance":
			var n int
			if err = json.Unmarshal(v, &n); err == nil && (n < 0 || n > 6) {
				err = fmt.Errorf("%d is outside 0-6", n)
			}
		case "prompt_upsampling":
			var b bool
			err = json.Unmarshal(v, &b)
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func (s *ToAPIsServer) serveStatus(w http.ResponseWriter, id string) {
	toapisRateHeaders(w, "async_query", 3000)
	if s.statusFaults.Serve(w, ToAPIsErrorBody) {
		return
	}
	s.mu.Lock()
	tk, ok := s.tasks[id]
	var n int
	if ok {
		n = tk.polls
		tk.polls++
	}
	queued := s.queuedStatus
	s.mu.Unlock()
	if !ok {
		toapisJSON(w, http.StatusNotFound, ToAPIsErrorBody(http.StatusNotFound))
		return
	}
	resp := map[string]any{"id": tk.id, "object": "generation.task", "model": tk.model, "created_at": tk.created}
	q, run := s.cfg.PollsQueued, s.cfg.PollsRunning
	switch {
	case n < q:
		resp["status"], resp["progress"] = queued, 0
	case n < q+run || s.cfg.Outcome == Never:
		resp["status"] = "in_progress"
		resp["progress"] = min(90, (n-q+1)*90/max(run, 1))
	case s.cfg.Outcome == Succeed:
		done := time.Now().Unix()
		resp["status"], resp["progress"] = "completed", 100
		resp["completed_at"], resp["expires_at"] = done, done+86400
		resp["result"] = map[string]any{"type": "image", "data": []any{map[string]any{"url": s.resultURL(tk.id)}}}
	default:
		resp["status"], resp["progress"] = "failed", 0
		resp["error"] = s.taskError()
	}
	b, _ := json.Marshal(resp)
	toapisJSON(w, http.StatusOK, string(b))
}

// taskError is the failed task's error object for the scripted outcome.
// ToAPIs documents only generation_failed; the safety and image codes are
// the HTTP table's content_policy_violation and an upstream fetch failure.
func (s *ToAPIsServer) taskError() map[string]any {
	switch s.cfg.Outcome {
	case FailSafety:
		return map[string]any{"code": "content_policy_violation", "message": "The prompt or image violates the content policy"}
	case FailImage:
		return map[string]any{"code": "generation_failed", "message": "call upstream API failed: failed to fetch input image"}
	}
	return map[string]any{"code": "generation_failed", "message": "call upstream API failed: upstream returned status 422"}
}

func (s *ToAPIsServer) resultURL(id string) string {
	ext := ".png"
	if s.cfg.ImageContentType == "image/jpeg" {
		ext = ".jpg"
	}
	return s.URL + "/cdn/" + url.PathEscape(id) + ext
}

func (s *ToAPIsServer) serveDownload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		toapisMethod(w, http.MethodGet)
		return
	}
	if s.downloadFaults.Serve(w, ToAPIsErrorBody) {
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/cdn/")
	id := strings.TrimSuffix(strings.TrimSuffix(name, ".png"), ".jpg")
	s.mu.Lock()
	_, ok := s.tasks[id]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", s.cfg.ImageContentType)
	_, _ = w.Write(s.cfg.Image)
}

func (s *ToAPIsServer) serveUploaded(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.uploads[r.URL.Path]
	s.mu.Unlock()
	if r.Method != http.MethodGet || !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", http.DetectContentType(b))
	_, _ = w.Write(b)
}

func toapisUploadFail(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"success": false, "message": msg})
	toapisJSON(w, http.StatusBadRequest, string(b))
}

func (s *ToAPIsServer) serveUpload(w http.ResponseWriter, r *http.Request, body []byte) {
	if s.uploadFaults.Serve(w, ToAPIsErrorBody) {
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		toapisUploadFail(w, "Content-Type must be multipart/form-data")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseMultipartForm(toapisMaxBody); err != nil {
		toapisUploadFail(w, "invalid multipart body")
		return
	}
	form := r.MultipartForm
	defer form.RemoveAll()
	for k, v := range form.Value {
		if k != "purpose" || len(v) != 1 || v[0] != "generation" {
			toapisUploadFail(w, "unknown or invalid form field "+k)
			return
		}
	}
	for k := range form.File {
		if k != "file" {
			toapisUploadFail(w, "unknown form file "+k)
			return
		}
	}
	files := form.File["file"]
	if len(files) != 1 {
		toapisUploadFail(w, "exactly one file is required")
		return
	}
	f, err := files[0].Open()
	if err != nil {
		toapisUploadFail(w, "unreadable file")
		return
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		toapisUploadFail(w, "unreadable file")
		return
	}
	if len(data) > toapisMaxUpload {
		toapisUploadFail(w, "Image too large. Maximum size is 10MB")
		return
	}
	ct := http.DetectContentType(data)
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}[ct]
	if ext == "" {
		toapisUploadFail(w, "Unsupported image type. Allowed: JPEG, PNG, WebP, GIF")
		return
	}
	s.mu.Lock()
	s.seq++
	id := "upload_" + strconv.Itoa(s.seq)
	path := "/files/uploads/" + strconv.FormatInt(time.Now().Unix(), 10) + "_" + id + ext
	s.uploads[path] = data
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{
		"success": true, "message": "",
		"data": map[string]any{"id": id, "url": s.URL + path, "mime_type": ct, "size": len(data)},
	})
	toapisJSON(w, http.StatusOK, string(b))
}
