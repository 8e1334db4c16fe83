package imagingtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// APIXO's documented paths, under the API root /api/v1.
const (
	apixoRoot       = "/api/v1"
	apixoSubmitPath = apixoRoot + "/generateTask/flux-kontext"
	apixoStatusPath = apixoRoot + "/statusTask/flux-kontext"
	apixoCDNPath    = "/cdn/"
)

// APIXOServer is a strict fake of APIXO's Flux Kontext API, written from
// shared/vendors/apixo.seed.txt and section 3 of vendors.md:
//
//   - POST /api/v1/generateTask/flux-kontext with a bearer key and
//     Content-Type application/json, body {request_type, callback_url,
//     input:{mode, prompt, aspect_ratio, image_urls, output_format,
//     promptUpsampling, safetyTolerance}}, answered with
//     {"code":200,"message":"success","data":{"taskId":…}}.
//   - GET /api/v1/statusTask/flux-kontext?taskId=… answered with the status
//     envelope (pending → processing → success|failed; resultJson a JSON
//     string), or {"code":404,"message":"Task not found"}.
//   - GET /cdn/<taskId>.<png|jpg> serves the result image (no auth, like a
//     CDN).
//
// Validation failures get the documented 400 shape {"code":400,"message":
// "Invalid request","data":{"error":…}}, auth failures the documented
// {"code":401,"message":"Invalid or missing API key"}. Fields the current
// documents do not list are refused, including the zh/fr pages' "provider"
// and the legacy image_url, enableTranslation, watermark and uploadCn, as
// are JSON nulls. Undocumented details chosen here: 404 for other models'
// paths or unknown paths, 405 for a wrong method, and the message texts of
// 402/403/429/5xx bodies.
//
// It is safe for concurrent use and closed by the test's cleanup.
type APIXOServer struct {
	*httptest.Server

	cfg                                        Config
	log                                        Log
	submitFaults, statusFaults, downloadFaults *Faults

	mu                sync.Mutex
	tasks             map[string]*apixoTask
	n                 int
	failCode, failMsg string
}

type apixoTask struct {
	id          string
	format      string
	callbackURL string
	created     time.Time
	polls       int
}

// NewAPIXO starts a fake APIXO server configured by opts. Point a client at
// BaseURL().
func NewAPIXO(t testing.TB, opts ...Option) *APIXOServer {
	t.Helper()
	s := &APIXOServer{cfg: NewConfig(opts...), tasks: map[string]*apixoTask{}}
	s.submitFaults = NewFaults(s.cfg.SubmitFaults)
	s.statusFaults = NewFaults(s.cfg.StatusFaults)
	s.downloadFaults = NewFaults(s.cfg.DownloadFaults)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// BaseURL is the API root to configure a client with (like
// https://api.apixo.ai/api/v1).
func (s *APIXOServer) BaseURL() string { return s.URL + apixoRoot }

// SetFailure makes failing outcomes (FailSafety, FailImage, FailGeneric)
// report this failCode and failMsg instead of the documented defaults
// (SensitiveContent, ImageNotAccess, "Unknown error"), for testing the
// other doc versions' codes. Empty code restores the defaults.
func (s *APIXOServer) SetFailure(code, msg string) {
	s.mu.Lock()
	s.failCode, s.failMsg = code, msg
	s.mu.Unlock()
}

// Requests returns every request received, in order. Recorded.Path holds
// the path with its query.
func (s *APIXOServer) Requests() []Recorded { return s.log.All() }

// Submits returns every request to the submit path, whatever the answer.
func (s *APIXOServer) Submits() []Recorded { return s.filter(http.MethodPost, apixoSubmitPath) }

// Polls counts status requests, faulted and refused ones included.
func (s *APIXOServer) Polls() int { return s.log.Count(http.MethodGet, apixoStatusPath, 0, 999) }

// Downloads counts requests for result images, faulted ones included.
func (s *APIXOServer) Downloads() int { return s.log.Count(http.MethodGet, apixoCDNPath, 0, 999) }

// CallbackURL returns the callback_url the task was submitted with, or "".
func (s *APIXOServer) CallbackURL(taskID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tasks[taskID]; t != nil {
		return t.callbackURL
	}
	return ""
}

// ResultURL is where the fake serves a task's image.
func (s *APIXOServer) ResultURL(taskID string) string {
	ext := ".png"
	s.mu.Lock()
	if t := s.tasks[taskID]; t != nil && t.format == "jpeg" {
		ext = ".jpg"
	}
	s.mu.Unlock()
	return s.URL + apixoCDNPath + taskID + ext
}

// CallbackRequest builds the POST APIXO would send to the task's
// callback_url once it finished: Content-Type application/json and the
// status envelope of the task's final state (the outcome's success or
// failure; with Never, a failed PROCESSING_TIMEOUT). APIXO signs nothing,
// so there is no signature header. An unknown taskID still gets a body.
func (s *APIXOServer) CallbackRequest(taskID string) (http.Header, []byte) {
	s.mu.Lock()
	t := s.tasks[taskID]
	if t == nil {
		t = &apixoTask{id: taskID, format: "png", created: time.Now()}
	}
	data := s.apixoFinal(t)
	s.mu.Unlock()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return h, apixoMarshal(apixoEnvelope{Code: 200, Message: "success", Data: data})
}

func (s *APIXOServer) filter(method, path string) []Recorded {
	var out []Recorded
	for _, r := range s.log.All() {
		if r.Method == method && strings.HasPrefix(r.Path, path) {
			out = append(out, r)
		}
	}
	return out
}

// apixoEnvelope is every APIXO answer.
type apixoEnvelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// apixoData is the status (and callback) data object, field order as in
// the documents' examples.
type apixoData struct {
	TaskID       string `json:"taskId"`
	State        string `json:"state"`
	ResultJSON   string `json:"resultJson,omitempty"`
	FailCode     string `json:"failCode,omitempty"`
	FailMsg      string `json:"failMsg,omitempty"`
	CreateTime   int64  `json:"createTime"`
	CompleteTime int64  `json:"completeTime,omitempty"`
	CostTime     int64  `json:"costTime,omitempty"`
}

func apixoMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func apixoWrite(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(apixoMarshal(v))
}

// apixoInvalid answers the documented 400 shape.
func apixoInvalid(w http.ResponseWriter, detail string) {
	apixoWrite(w, http.StatusBadRequest, apixoEnvelope{Code: 400, Message: "Invalid request",
		Data: map[string]string{"error": detail}})
}

// apixoErrorBody is the error body for a status: the documented 400 and
// 401 shapes, the status-task page's 404 "Task not found", and the same
// {code, message} shape with APIXO's table wording for the others.
func apixoErrorBody(status int) string {
	switch status {
	case http.StatusBadRequest:
		return string(apixoMarshal(apixoEnvelope{Code: 400, Message: "Invalid request",
			Data: map[string]string{"error": "Missing required field: input.prompt"}}))
	case http.StatusUnauthorized:
		return `{"code":401,"message":"Invalid or missing API key"}`
	case http.StatusNotFound:
		return `{"code":404,"message":"Task not found"}`
	}
	msg := map[int]string{
		402: "Insufficient balance or quota",
		403: "API key or route cannot access this model",
		429: "Rate limit or concurrency limit reached",
		500: "Internal server error",
		502: "Upstream provider error",
		504: "Upstream timeout",
	}[status]
	if msg == "" {
		msg = http.StatusText(status)
	}
	return string(apixoMarshal(apixoEnvelope{Code: status, Message: msg}))
}

func (s *APIXOServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	rec := s.log.track(w, r, r.URL.RequestURI(), body)
	defer rec.Record()
	p := r.URL.Path
	switch {
	case p == apixoSubmitPath:
		if s.apixoMethod(rec, r, http.MethodPost) {
			s.submit(rec, r, body)
		}
	case p == apixoStatusPath:
		if s.apixoMethod(rec, r, http.MethodGet) {
			s.status(rec, r)
		}
	case strings.HasPrefix(p, apixoCDNPath):
		if s.apixoMethod(rec, r, http.MethodGet) {
			s.download(rec, r, strings.TrimPrefix(p, apixoCDNPath))
		}
	case strings.HasPrefix(p, apixoRoot+"/generateTask/"), strings.HasPrefix(p, apixoRoot+"/statusTask/"):
		apixoWrite(rec, http.StatusNotFound, apixoEnvelope{Code: 404, Message: "Model not found"})
	default:
		apixoWrite(rec, http.StatusNotFound, apixoEnvelope{Code: 404, Message: "Not found"})
	}
}

func (s *APIXOServer) apixoMethod(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want {
		return true
	}
	w.Header().Set("Allow", want)
	apixoWrite(w, http.StatusMethodNotAllowed, apixoEnvelope{Code: 405, Message: "Method not allowed"})
	return false
}

func (s *APIXOServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+s.cfg.APIKey {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, apixoErrorBody(http.StatusUnauthorized))
	return false
}

func (s *APIXOServer) submit(w http.ResponseWriter, r *http.Request, body []byte) {
	if s.submitFaults.Serve(w, apixoErrorBody) || !s.authorized(w, r) {
		return
	}
	if ct := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]); !strings.EqualFold(ct, "application/json") {
		apixoInvalid(w, "Content-Type must be application/json")
		return
	}
	t, detail := apixoParseSubmit(body)
	if detail != "" {
		apixoInvalid(w, detail)
		return
	}
	s.mu.Lock()
	s.n++
	t.id = TaskID("task_", s.n)
	t.created = time.Now()
	s.tasks[t.id] = t
	s.mu.Unlock()
	apixoWrite(w, http.StatusOK, apixoEnvelope{Code: 200, Message: "success", Data: map[string]string{"taskId": t.id}})
}

// apixoParseSubmit validates a submit body against the documented rules and
// returns the task, or the 400 detail.
func apixoParseSubmit(body []byte) (*apixoTask, string) {
	top, detail := apixoObject(body, "request body")
	if detail != "" {
		return nil, detail
	}
	for k := range top {
		if k != "request_type" && k != "callback_url" && k != "input" {
			return nil, "Unknown field: " + k
		}
	}
	t := &apixoTask{format: "png"}
	reqType := "async"
	if raw, ok := top["request_type"]; ok {
		if detail := apixoString(raw, "request_type", &reqType); detail != "" {
			return nil, detail
		}
		if reqType != "async" && reqType != "callback" {
			return nil, "Invalid value for request_type: must be async or callback"
		}
	}
	if raw, ok := top["callback_url"]; ok {
		if reqType != "callback" {
			return nil, "callback_url is only accepted when request_type is callback"
		}
		if detail := apixoString(raw, "callback_url", &t.callbackURL); detail != "" {
			return nil, detail
		}
		if u, err := url.Parse(t.callbackURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, "callback_url must be a public HTTPS URL"
		}
	} else if reqType == "callback" {
		return nil, "Missing required field: callback_url"
	}
	rawIn, ok := top["input"]
	if !ok {
		return nil, "Missing required field: input"
	}
	in, detail := apixoObject(rawIn, "input")
	if detail != "" {
		return nil, detail
	}
	allowed := []string{"mode", "prompt", "aspect_ratio", "image_urls", "output_format", "promptUpsampling", "safetyTolerance"}
	for k := range in {
		if !slices.Contains(allowed, k) {
			return nil, "Unknown field: input." + k
		}
	}
	for _, k := range []string{"mode", "prompt", "aspect_ratio"} {
		if _, ok := in[k]; !ok {
			return nil, "Missing required field: input." + k
		}
	}
	var mode, prompt, aspect string
	if detail := apixoString(in["mode"], "input.mode", &mode); detail != "" {
		return nil, detail
	}
	if mode != "pro" && mode != "max" {
		return nil, "Invalid value for input.mode: must be pro or max"
	}
	if detail := apixoString(in["prompt"], "input.prompt", &prompt); detail != "" {
		return nil, detail
	}
	if prompt == "" {
		return nil, "input.prompt must not be empty"
	}
	if utf8.RuneCountInString(prompt) > 10000 {
		return nil, "input.prompt cannot exceed 10000 characters"
	}
	if detail := apixoString(in["aspect_ratio"], "input.aspect_ratio", &aspect); detail != "" {
		return nil, detail
	}
	if !slices.Contains([]string{"1:1", "4:3", "3:4", "9:16", "16:9", "21:9"}, aspect) {
		return nil, "Invalid value for input.aspect_ratio: must be 1:1, 4:3, 3:4, 9:16, 16:9, or 21:9"
	}
	if raw, ok := in["image_urls"]; ok {
		var urls []json.RawMessage
		if apixoNull(raw) || json.Unmarshal(raw, &urls) != nil {
			return nil, "Invalid value for input.image_urls: must be an array of image URLs"
		}
		if len(urls) == 0 {
			return nil, "input.image_urls cannot be empty"
		}
		if len(urls) > 1 {
			return nil, "input.image_urls cannot contain more than 1 image URL"
		}
		var u string
		if detail := apixoString(urls[0], "input.image_urls[0]", &u); detail != "" {
			return nil, detail
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, "input.image_urls[0] must be a public HTTP(S) image URL"
		}
	}
	if raw, ok := in["output_format"]; ok {
		if detail := apixoString(raw, "input.output_format", &t.format); detail != "" {
			return nil, detail
		}
		if t.format != "jpeg" && t.format != "png" {
			return nil, "Invalid value for input.output_format: must be jpeg or png"
		}
	}
	if raw, ok := in["promptUpsampling"]; ok {
		var b bool
		if apixoNull(raw) || json.Unmarshal(raw, &b) != nil {
			return nil, "Invalid value for input.promptUpsampling: must be a boolean"
		}
	}
	if raw, ok := in["safetyTolerance"]; ok {
		var n int
		if apixoNull(raw) || json.Unmarshal(raw, &n) != nil || n < 0 || n > 2 {
			return nil, "Invalid value for input.safetyTolerance: must be 0, 1, or 2"
		}
	}
	return t, ""
}

func apixoNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// apixoObject decodes exactly one JSON object.
func apixoObject(raw []byte, what string) (map[string]json.RawMessage, string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, "Invalid JSON in " + what
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "Invalid JSON in " + what
	}
	return m, ""
}

func apixoString(raw json.RawMessage, field string, dst *string) string {
	if apixoNull(raw) || json.Unmarshal(raw, dst) != nil {
		return "Invalid value for " + field + ": must be a string"
	}
	return ""
}

func (s *APIXOServer) status(w http.ResponseWriter, r *http.Request) {
	if s.statusFaults.Serve(w, apixoErrorBody) || !s.authorized(w, r) {
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "taskId" {
			apixoInvalid(w, "Unknown query parameter: "+k)
			return
		}
	}
	id := q.Get("taskId")
	if id == "" {
		apixoInvalid(w, "Missing required query parameter: taskId")
		return
	}
	s.mu.Lock()
	t := s.tasks[id]
	var data apixoData
	if t != nil {
		t.polls++
		switch {
		case t.polls <= s.cfg.PollsQueued:
			data = apixoData{TaskID: t.id, State: "pending", CreateTime: t.created.UnixMilli()}
		case t.polls <= s.cfg.PollsQueued+s.cfg.PollsRunning || s.cfg.Outcome == Never:
			data = apixoData{TaskID: t.id, State: "processing", CreateTime: t.created.UnixMilli()}
		default:
			data = s.apixoFinal(t)
		}
	}
	s.mu.Unlock()
	if t == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, apixoErrorBody(http.StatusNotFound))
		return
	}
	apixoWrite(w, http.StatusOK, apixoEnvelope{Code: 200, Message: "success", Data: data})
}

// apixoFinal is the task's terminal data; s.mu is held.
func (s *APIXOServer) apixoFinal(t *apixoTask) apixoData {
	d := apixoData{TaskID: t.id, State: "failed", CreateTime: t.created.UnixMilli()}
	done := time.Now()
	d.CompleteTime = done.UnixMilli()
	d.CostTime = max(done.Sub(t.created).Milliseconds(), 1)
	code, msg := s.failCode, s.failMsg
	switch s.cfg.Outcome {
	case Succeed:
		ext := ".png"
		if t.format == "jpeg" {
			ext = ".jpg"
		}
		d.State = "success"
		d.ResultJSON = string(apixoMarshal(map[string][]string{"resultUrls": {s.URL + apixoCDNPath + t.id + ext}}))
		return d
	case FailSafety:
		if code == "" {
			code, msg = "SensitiveContent", "Content violates provider policy, please adjust the prompt"
		}
	case FailImage:
		if code == "" {
			code, msg = "ImageNotAccess", "A reference image URL could not be fetched or was not a public HTTP(S) URL"
		}
	case FailGeneric:
		if code == "" {
			code, msg = "Unknown error", "Provider returned an unmapped failure"
		}
	default:
		code, msg = "PROCESSING_TIMEOUT", "Processing timed out"
	}
	d.FailCode, d.FailMsg = code, msg
	return d
}

func (s *APIXOServer) download(w http.ResponseWriter, r *http.Request, name string) {
	if s.downloadFaults.Serve(w, apixoErrorBody) {
		return
	}
	id := strings.TrimSuffix(strings.TrimSuffix(name, ".png"), ".jpg")
	s.mu.Lock()
	t := s.tasks[id]
	s.mu.Unlock()
	if t == nil || id == name {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", s.cfg.ImageContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(s.cfg.Image)))
	_, _ = w.Write(s.cfg.Image)
}
