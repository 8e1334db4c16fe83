// Package poyo is the imaging.Vendor for PoYo (poyo.ai), which resells Black
// Forest Labs' Flux Kontext behind one unified task API:
//
//   - POST /api/generate/submit starts a task; the model id selects
//     text-to-image (flux-kontext-pro, flux-kontext-max) or editing (the
//     -edit variants, which require exactly one image URL).
//   - GET /api/generate/status/{task_id} reports not_started, running,
//     finished or failed, with progress, result files and credits.
//   - POST /api/common/upload/base64 turns image bytes into a URL (72 h).
//   - A callback_url receives the final state, signed with an account-level
//     HMAC key over task_id and a timestamp (not over the body).
//
// Docs: https://docs.poyo.ai/api-manual/image-series/flux-kontext and
// /api-manual/task-management/status; the contract the client follows is
// section 1 of shared/vendors/vendors.md.
//
// Every call goes through vendorhttp, so the retry policy is the shared one:
// status polls and uploads are retried on 429, 5xx and network errors; a
// submit only on 429 or a connection the vendor never saw.
package poyo

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// DefaultBaseURL is PoYo's documented API root.
const DefaultBaseURL = "https://api.poyo.ai"

const displayName = "PoYo"

// CallbackMaxSkew is how far a signed callback's X-Webhook-Timestamp may be
// from the local clock (the docs' sample verifier uses 300 s).
const CallbackMaxSkew = 300 * time.Second

// Errors returned by CallbackTaskID when a webhook secret is configured.
var (
	// ErrBadSignature is a callback whose X-Webhook-Signature is missing or
	// does not match.
	ErrBadSignature = errors.New("poyo: callback signature invalid")
	// ErrStaleCallback is a callback whose X-Webhook-Timestamp is missing,
	// malformed or more than CallbackMaxSkew from now.
	ErrStaleCallback = errors.New("poyo: callback timestamp outside the allowed window")
)

// Client talks to PoYo's API. It is safe for concurrent use; its zero value
// is not usable (use New).
type Client struct {
	api           vendorhttp.Client
	webhookSecret string
}

var (
	_ imaging.Vendor         = (*Client)(nil)
	_ imaging.CallbackVendor = (*Client)(nil)
)

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another API root (a test server, or the
// white-label copy at https://api.vidgo.ai).
func WithBaseURL(u string) Option { return func(c *Client) { c.api.BaseURL = u } }

// WithHTTPClient replaces the default vendorhttp.NewHTTPClient().
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.api.HTTP = h } }

// WithWebhookSecret sets the account's webhook HMAC key (from GET
// /api/api-keys/webhook-secret). With it, CallbackTaskID rejects unsigned,
// badly signed and stale callbacks; without it, callbacks are accepted
// unsigned (they are only hints: the bot confirms with Status).
func WithWebhookSecret(secret string) Option { return func(c *Client) { c.webhookSecret = secret } }

// WithRetryWait sets the first backoff and the cap on any one wait between
// tries, Retry-After included. Tests use it to keep retries fast.
func WithRetryWait(base, maxWait time.Duration) Option {
	return func(c *Client) { c.api.BaseBackoff, c.api.MaxWait = base, maxWait }
}

// New returns a client that authenticates with apiKey. It does no I/O.
func New(apiKey string, opts ...Option) *Client {
	c := &Client{api: vendorhttp.Client{
		Vendor:   displayName,
		BaseURL:  DefaultBaseURL,
		APIKey:   apiKey,
		Classify: classify,
	}}
	for _, o := range opts {
		o(c)
	}
	if c.api.HTTP == nil {
		c.api.HTTP = vendorhttp.NewHTTPClient()
	}
	return c
}

// Name returns the configuration name, "poyo".
func (c *Client) Name() string { return "poyo" }

// Capabilities returns what PoYo's Flux Kontext documents allow.
func (c *Client) Capabilities() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName: displayName,
		Models:      []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		// The seed page lists 16:21; the docs fixed it to 9:21 (commit
		// aea8501, "修正 Flux Kontext 尺寸选项"), so 16:21 is not offered.
		AspectRatios: []string{"1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21"},
		Formats:      []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		// image_urls has maxItems 1.
		MaxImages: 1,
		ImageURLs: true,
		// Bytes go through /api/common/upload/base64 first. No image size
		// limit is documented for it.
		ImageBytes:     true,
		MaxPromptRunes: 2000,
		// "Other downstream fields are not exposed": no seed, upsampling or
		// safety tolerance.
		Safety:     nil,
		Seed:       false,
		Upsampling: false,
		Callbacks:  true,
		Progress:   true,
		// The docs advise polling every 2-5 s; images take 15-60 s.
		PollDelay:    3 * time.Second,
		PollInterval: 3 * time.Second,
		// PoYo documents no concurrency limit ("rate limits vary by account
		// type"); 10 jobs in flight is our own conservative default.
		Concurrency: 10,
	}
}

// submitRequest is the body of POST /api/generate/submit.
type submitRequest struct {
	Model       string      `json:"model"`
	CallbackURL string      `json:"callback_url,omitempty"`
	Input       submitInput `json:"input"`
}

type submitInput struct {
	Prompt       string   `json:"prompt"`
	ImageURLs    []string `json:"image_urls,omitempty"`
	Size         string   `json:"size,omitempty"`
	OutputFormat string   `json:"output_format,omitempty"`
}

type submitData struct {
	TaskID string `json:"task_id"`
	Status string `json:"status"`
}

// Submit starts a task (POST /api/generate/submit, docs
// api-manual/image-series/flux-kontext). Image bytes are uploaded first with
// POST /api/common/upload/base64 and sent by their file_url.
func (c *Client) Submit(ctx context.Context, req *imaging.Request) (string, error) {
	model := "flux-kontext-" + string(req.ModelOrDefault())
	in := submitInput{
		Prompt: req.Prompt,
		// An empty ratio is omitted; PoYo then uses its documented default,
		// 1:1 (also for edits).
		Size:         req.AspectRatio,
		OutputFormat: wireFormat(req.FormatOrDefault()),
	}
	if req.IsEdit() {
		model += "-edit"
		im := req.Images[0] // maxItems 1; Check enforced it
		u := im.URL
		if !im.IsURL() {
			var err error
			if u, err = c.upload(ctx, im); err != nil {
				return "", fmt.Errorf("upload image: %w", err)
			}
		}
		in.ImageURLs = []string{u}
	}
	body := submitRequest{Model: model, CallbackURL: req.CallbackURL, Input: in}
	resp, err := c.api.Do(ctx, vendorhttp.Call{Method: http.MethodPost, Path: "/api/generate/submit", JSON: body})
	if err != nil {
		return "", fmt.Errorf("submit: %w", err)
	}
	var d submitData
	if err := decodeEnvelope(resp, &d); err != nil {
		return "", fmt.Errorf("submit: %w", err)
	}
	if d.TaskID == "" {
		return "", fmt.Errorf("submit: %w", malformed(resp.Status, "no task_id in the response"))
	}
	return d.TaskID, nil
}

// wireFormat spells the output format as PoYo does.
func wireFormat(f imaging.Format) string {
	if f == imaging.FormatJPEG {
		return "jpg"
	}
	return string(f)
}

// uploadTypes are the content types /api/common/upload/base64 accepts.
var uploadTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

type uploadRequest struct {
	Base64Data string `json:"base64_data"`
}

type uploadResponse struct {
	Success *bool  `json:"success"`
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	Data    *struct {
		FileURL string `json:"file_url"`
	} `json:"data"`
}

// upload stores image bytes with POST /api/common/upload/base64 (docs
// api-manual/file-series/upload-base64) and returns the data.file_url. The
// base64 endpoint is used rather than /upload/stream because it takes JSON,
// which vendorhttp already sends, and carries the MIME type in the data URL.
func (c *Client) upload(ctx context.Context, im imaging.Image) (string, error) {
	ct := uploadType(im)
	if ct == "" {
		return "", &imaging.Error{Kind: imaging.KindInvalid, Vendor: displayName,
			Message: displayName + " accepts JPEG, PNG, GIF or WebP reference images; this one is none of those."}
	}
	body := uploadRequest{Base64Data: "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(im.Data)}
	// Uploading the same bytes twice is harmless, so it is idempotent; the
	// documented limit (10 uploads a minute) answers 429, which is retried.
	resp, err := c.api.Do(ctx, vendorhttp.Call{Method: http.MethodPost, Path: "/api/common/upload/base64", JSON: body, Idempotent: true})
	if err != nil {
		// A 400 from the upload endpoint is about the file ("Invalid Base64
		// encoding", "Unsupported file type: …", "Invalid file data").
		if e, ok := errors.AsType[*imaging.Error](err); ok && e.HTTPStatus == http.StatusBadRequest && e.Kind == imaging.KindInvalid {
			e.Kind = imaging.KindImageUnreachable
		}
		return "", err
	}
	var ur uploadResponse
	if err := resp.Decode(displayName, &ur); err != nil {
		return "", err
	}
	if ur.Code >= 400 || (ur.Success != nil && !*ur.Success) {
		st := ur.Code
		if st < 400 {
			st = http.StatusBadRequest
		}
		e := classify(st, resp.Body, resp.Header)
		e.Vendor, e.HTTPStatus = displayName, resp.Status
		if e.Message == "" {
			e.Message = ur.Msg
		}
		if e.Kind == imaging.KindInvalid {
			e.Kind = imaging.KindImageUnreachable
		}
		return "", e
	}
	if ur.Data == nil || ur.Data.FileURL == "" {
		return "", malformed(resp.Status, "no data.file_url in the upload response")
	}
	return ur.Data.FileURL, nil
}

// uploadType picks the data URL's MIME type: the sniffed type when it is
// one PoYo accepts, else the declared one, else "" (not uploadable).
func uploadType(im imaging.Image) string {
	if ct := http.DetectContentType(im.Data); slices.Contains(uploadTypes, ct) {
		return ct
	}
	if ct, _, err := mime.ParseMediaType(im.ContentType); err == nil && slices.Contains(uploadTypes, ct) {
		return ct
	}
	return ""
}

// Status fetches a task (GET /api/generate/status/{task_id}, docs
// api-manual/task-management/status).
func (c *Client) Status(ctx context.Context, taskID string) (*imaging.Status, error) {
	if taskID == "" {
		return nil, &imaging.Error{Kind: imaging.KindNotFound, Vendor: displayName, Message: "empty task id"}
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{Method: http.MethodGet,
		Path: "/api/generate/status/" + url.PathEscape(taskID), Idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", taskID, err)
	}
	st, err := parseStatusResponse(resp.Status, resp.Body, resp.Header)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", taskID, err)
	}
	return st, nil
}

// taskData is the status endpoint's data object, and also the callback
// body.
type taskData struct {
	TaskID        string     `json:"task_id"`
	Status        string     `json:"status"`
	CreditsAmount *float64   `json:"credits_amount"`
	Files         []taskFile `json:"files"`
	Progress      *float64   `json:"progress"`
	ErrorMessage  *string    `json:"error_message"`
}

type taskFile struct {
	FileURL  string `json:"file_url"`
	FileType string `json:"file_type"`
}

// parseStatusResponse turns a 2xx status body into a Status; a body whose
// own code is an error is classified like an HTTP error.
func parseStatusResponse(httpStatus int, body []byte, h http.Header) (*imaging.Status, error) {
	var d taskData
	if err := decodeEnvelope(&vendorhttp.Response{Status: httpStatus, Body: body, Header: h}, &d); err != nil {
		return nil, err
	}
	return d.toStatus()
}

// toStatus maps PoYo's task onto the core's vocabulary.
func (d *taskData) toStatus() (*imaging.Status, error) {
	st := &imaging.Status{Progress: -1}
	if d.Progress != nil {
		st.Progress = int(min(max(*d.Progress, 0), 100))
	}
	switch d.Status {
	case "not_started":
		st.State = imaging.StateQueued
	case "running":
		st.State = imaging.StateRunning
	case "finished":
		st.State = imaging.StateSucceeded
		st.Progress = 100
		for _, f := range d.Files {
			// Take images only; a file without a type is taken too.
			if f.FileURL != "" && (f.FileType == "image" || f.FileType == "") {
				st.URLs = append(st.URLs, f.FileURL)
			}
		}
		if len(st.URLs) == 0 {
			st.State = imaging.StateFailed
			st.Err = &imaging.Error{Kind: imaging.KindUnknown, Vendor: displayName, Message: "task finished without an image file"}
			return st, nil
		}
		// Credits are deducted only when a task finishes.
		if d.CreditsAmount != nil {
			st.Cost = &imaging.Cost{Amount: *d.CreditsAmount, Unit: "credits"}
		}
	case "failed":
		st.State = imaging.StateFailed
		msg := ""
		if d.ErrorMessage != nil {
			msg = *d.ErrorMessage
		}
		st.Err = &imaging.Error{Kind: failureKind(msg), Vendor: displayName, Message: msg}
	case "":
		return nil, malformed(http.StatusOK, "no status in the task")
	default:
		// An undocumented status is treated as still running; the
		// Service's overall timeout bounds a task that never ends.
		st.State = imaging.StateRunning
	}
	return st, nil
}

// failureKind classifies a failed task's error_message, which PoYo gives
// only as free text ("The prompt violates our content policy").
func failureKind(msg string) imaging.Kind {
	m := strings.ToLower(msg)
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(m, w) })
	}
	switch {
	case has("content policy", "moderat", "safety", "nsfw", "sensitive", "inappropriate", "policy violation", "violates"):
		return imaging.KindSafety
	case has("image", "url", "file") && has("fetch", "download", "unreachable", "access", "load", "read", "retriev", "invalid", "not found", "404", "decode", "format", "corrupt"):
		return imaging.KindImageUnreachable
	}
	return imaging.KindUnknown
}

// envelope is PoYo's {code, data} wrapper, with the fields of either error
// shape so a 2xx error body is recognised.
type envelope struct {
	Code   int             `json:"code"`
	Data   json.RawMessage `json:"data"`
	Error  json.RawMessage `json:"error"`
	Detail json.RawMessage `json:"detail"`
}

// decodeEnvelope checks the body's own code (PoYo's code is documented as
// "HTTP status code" and may disagree with the real one) and decodes data
// into v.
func decodeEnvelope(resp *vendorhttp.Response, v any) error {
	var env envelope
	if err := resp.Decode(displayName, &env); err != nil {
		return err
	}
	if env.Code >= 400 || isNull(env.Data) && (!isNull(env.Error) || !isNull(env.Detail)) {
		st := env.Code
		if st < 400 {
			st = 0 // an error body without an error code: classify by body
		}
		e := classify(st, resp.Body, resp.Header)
		e.Vendor, e.HTTPStatus = displayName, resp.Status
		if d, ok := vendorhttp.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		return e
	}
	if isNull(env.Data) {
		return malformed(resp.Status, "no data in the response")
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: resp.Status,
			Message: "malformed response", Err: err}
	}
	return nil
}

func isNull(r json.RawMessage) bool {
	s := strings.TrimSpace(string(r))
	return s == "" || s == "null"
}

func malformed(status int, msg string) *imaging.Error {
	return &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: status, Message: "malformed response: " + msg}
}

// errorBody holds both documented error shapes: the generation endpoints'
// {"code":N,"error":{"message","type"}} and the status and upload
// endpoints' FastAPI {"detail": "..." | [{"loc","msg","type"}]}.
type errorBody struct {
	Code  int `json:"code"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
	Detail json.RawMessage `json:"detail"`
	Msg    string          `json:"msg"`
}

// typeKinds maps the documented error.type values (docs
// api-manual/error-codes) onto kinds.
var typeKinds = map[string]imaging.Kind{
	"validation_error":           imaging.KindInvalid,
	"invalid_request_error":      imaging.KindInvalid,
	"content_too_long_error":     imaging.KindInvalid,
	"content_moderation_error":   imaging.KindSafety,
	"file_format_error":          imaging.KindImageUnreachable,
	"authentication_error":       imaging.KindUnauthorized,
	"permission_denied_error":    imaging.KindUnauthorized,
	"insufficient_credits_error": imaging.KindCredits,
	"resource_not_found_error":   imaging.KindNotFound,
	"timeout_error":              imaging.KindTimeout,
	"rate_limit_error":           imaging.KindRateLimited,
	"internal_error":             imaging.KindUnavailable,
	"upstream_error":             imaging.KindUnavailable,
	"service_error":              imaging.KindUnavailable,
}

// classify is the vendorhttp.Classifier for every PoYo endpoint. The HTTP
// status decides the kind unless it says nothing specific, in which case
// the body's code does; a documented error.type refines both.
func classify(status int, body []byte, _ http.Header) *imaging.Error {
	var b errorBody
	_ = json.Unmarshal(body, &b) // an unparsable body leaves b empty
	e := vendorhttp.ClassifyStatus(status)
	if b.Code >= 400 && b.Code != status && (e.Kind == imaging.KindUnknown || e.Kind == imaging.KindInvalid) {
		e.Kind = vendorhttp.ClassifyStatus(b.Code).Kind
	}
	switch {
	case b.Error != nil:
		e.Code, e.Message = b.Error.Type, b.Error.Message
		if k, ok := typeKinds[b.Error.Type]; ok {
			e.Kind = k
		}
	case !isNull(b.Detail):
		e.Message = detailText(b.Detail)
	default:
		e.Message = b.Msg
	}
	if e.Kind == imaging.KindInvalid {
		// KindInvalid messages are shown to the user.
		e.Message = displayName + " rejected the request: " + cmp.Or(e.Message, "invalid parameters") + "."
	}
	return e
}

// detailText renders a FastAPI detail: a string, or a list of
// {loc, msg, type}.
func detailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, it := range list {
			loc := make([]string, 0, len(it.Loc))
			for _, l := range it.Loc {
				switch v := l.(type) {
				case string:
					loc = append(loc, v)
				case float64:
					loc = append(loc, strconv.FormatFloat(v, 'f', -1, 64))
				}
			}
			p := it.Msg
			if len(loc) > 0 {
				p = strings.Join(loc, ".") + ": " + p
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "; ")
	}
	const maxLen = 200
	s = string(raw)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

// callbackBody is the callback's JSON: the task data object itself (docs
// api-manual/task-management/webhooks). An older revision of that page
// showed it wrapped as {"code","data"}; both are accepted.
type callbackBody struct {
	TaskID string `json:"task_id"`
	Data   *struct {
		TaskID string `json:"task_id"`
	} `json:"data"`
}

// CallbackTaskID returns the task id of a PoYo callback. With a webhook
// secret configured it first checks X-Webhook-Timestamp (unix seconds,
// within CallbackMaxSkew of now, else ErrStaleCallback) and
// X-Webhook-Signature = base64(HMAC-SHA256(secret, task_id + "." +
// timestamp)) (else ErrBadSignature). The signature does not cover the body,
// so the caller must confirm the result with Status.
func (c *Client) CallbackTaskID(h http.Header, body []byte, now time.Time) (string, error) {
	var cb callbackBody
	if err := json.Unmarshal(body, &cb); err != nil {
		return "", fmt.Errorf("poyo: callback body: %w", err)
	}
	id := cb.TaskID
	if id == "" && cb.Data != nil {
		id = cb.Data.TaskID
	}
	if id == "" {
		return "", errors.New("poyo: callback body has no task_id")
	}
	if c.webhookSecret == "" {
		return id, nil
	}
	ts := h.Get("X-Webhook-Timestamp")
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: X-Webhook-Timestamp %q", ErrStaleCallback, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > CallbackMaxSkew || d < -CallbackMaxSkew {
		return "", fmt.Errorf("%w: %s off", ErrStaleCallback, d.Round(time.Second))
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Get("X-Webhook-Signature")))
	if err != nil || len(got) == 0 {
		return "", ErrBadSignature
	}
	if !hmac.Equal(got, sign(c.webhookSecret, id, ts)) {
		return "", ErrBadSignature
	}
	return id, nil
}

// sign returns the raw HMAC-SHA256 PoYo puts, base64-encoded, in
// X-Webhook-Signature: keyed by the webhook secret, over task_id + "." +
// timestamp (the header's text).
func sign(secret, taskID, timestamp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(taskID + "." + timestamp))
	return m.Sum(nil)
}
