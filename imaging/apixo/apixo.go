// Package apixo is the imaging.Vendor for APIXO's Flux Kontext API
// (https://apixo.ai/docs/models/image/flux-kontext).
//
// APIXO names the model in the path (POST /generateTask/flux-kontext, GET
// /statusTask/flux-kontext?taskId=…) and picks the tier with input.mode. It
// takes reference images only as public URLs (it has no upload API), reports
// no progress and no cost, and can POST the final state to a callback URL
// without signing it. Every answer, errors included, is an envelope
// {"code", "message", "data"}; task failures arrive as HTTP 200 with
// state "failed" and an opaque failCode whose vocabulary differs between
// versions of APIXO's documents.
package apixo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// DefaultBaseURL is APIXO's documented API root.
const DefaultBaseURL = "https://api.apixo.ai/api/v1"

const (
	name        = "apixo"
	displayName = "APIXO"
	submitPath  = "/generateTask/flux-kontext"
	statusPath  = "/statusTask/flux-kontext"
	// defaultAspect is sent when the request leaves the ratio to the
	// vendor: APIXO requires aspect_ratio and documents no default and no
	// "match input" value.
	defaultAspect = "1:1"
)

// Client is APIXO's Flux Kontext API. It is safe for concurrent use; the
// zero value is not usable, use New.
type Client struct {
	api vendorhttp.Client
}

var _ imaging.CallbackVendor = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another API root (a fake in tests).
func WithBaseURL(u string) Option { return func(c *Client) { c.api.BaseURL = u } }

// WithHTTPClient sets the HTTP client (default vendorhttp.NewHTTPClient()).
// A nil client keeps the default.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.api.HTTP = h } }

// WithRetryWait sets the first backoff between retries and the cap on any
// one wait, Retry-After included (defaults 500 ms and 30 s). Tests shorten
// them.
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

// Name returns the configuration name, "apixo".
func (c *Client) Name() string { return name }

// Capabilities describes APIXO's documented Flux Kontext contract.
//
// Concurrency is deliberately far below the 1000 concurrent tasks per
// account that APIXO's zh page states: the English page says limits "vary
// by account, API key, and route", so the bot stays conservative.
// MaxImageBytes is 0 because no size limit is documented (only the
// failCode IMAGE_TOO_LARGE).
func (c *Client) Capabilities() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName:    displayName,
		Models:         []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:   []string{"1:1", "4:3", "3:4", "9:16", "16:9", "21:9"},
		Formats:        []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:      1,
		ImageURLs:      true,
		ImageBytes:     false,
		MaxPromptRunes: 10000,
		Safety:         &imaging.Range{Min: 0, Max: 2},
		Seed:           false,
		Upsampling:     true,
		Callbacks:      true,
		Progress:       false,
		PollDelay:      20 * time.Second,
		PollInterval:   4 * time.Second,
		Concurrency:    50,
	}
}

// submitBody is the documented POST /generateTask/flux-kontext body. The
// "provider" routing field of the zh/fr pages and the legacy input fields
// (image_url, enableTranslation, watermark, uploadCn) are never sent.
type submitBody struct {
	RequestType string      `json:"request_type"`
	CallbackURL string      `json:"callback_url,omitempty"`
	Input       submitInput `json:"input"`
}

type submitInput struct {
	Mode             string   `json:"mode"`
	Prompt           string   `json:"prompt"`
	AspectRatio      string   `json:"aspect_ratio"`
	ImageURLs        []string `json:"image_urls,omitempty"`
	OutputFormat     string   `json:"output_format,omitempty"`
	PromptUpsampling *bool    `json:"promptUpsampling,omitempty"`
	SafetyTolerance  *int     `json:"safetyTolerance,omitempty"`
}

// buildSubmit turns req into the wire body. Image bytes are refused: APIXO
// has no upload API and accepts no base64, so the core must host them.
func buildSubmit(req *imaging.Request) (*submitBody, error) {
	in := submitInput{
		Mode:         string(req.ModelOrDefault()),
		Prompt:       req.Prompt,
		AspectRatio:  req.AspectRatio,
		OutputFormat: string(req.FormatOrDefault()),
	}
	if in.AspectRatio == "" {
		in.AspectRatio = defaultAspect
	}
	for _, im := range req.Images {
		if !im.IsURL() {
			return nil, &imaging.Error{Kind: imaging.KindUnsupported, Vendor: displayName, Message: displayName +
				" can only edit images it can download from a public link; it has no upload API. Use an image link, or ask the operator to set PUBLIC_URL so the bot can host the image."}
		}
		in.ImageURLs = append(in.ImageURLs, im.URL)
	}
	if req.PromptUpsampling {
		t := true
		in.PromptUpsampling = &t
	}
	if req.SafetyTolerance != nil {
		st := *req.SafetyTolerance
		in.SafetyTolerance = &st
	}
	b := &submitBody{RequestType: "async", Input: in}
	// APIXO requires a public HTTPS callback_url; an http one would only
	// get the whole submit refused, and a callback is merely a hint, so
	// such a URL is dropped and the task is polled.
	if u := req.CallbackURL; strings.HasPrefix(u, "https://") {
		b.RequestType, b.CallbackURL = "callback", u
	}
	return b, nil
}

// Submit sends the request to POST /generateTask/flux-kontext and returns
// APIXO's taskId
// (https://apixo.ai/docs/models/image/flux-kontext#request-body). It is
// retried only on 429 or when the request never reached APIXO. Image bytes
// yield a KindUnsupported *imaging.Error without any request.
func (c *Client) Submit(ctx context.Context, req *imaging.Request) (string, error) {
	body, err := buildSubmit(req)
	if err != nil {
		return "", err
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{Method: http.MethodPost, Path: submitPath, JSON: body})
	if err != nil {
		return "", fmt.Errorf("submit: %w", err)
	}
	env, err := decodeEnvelope(resp.Body)
	if err != nil {
		return "", fmt.Errorf("submit: %w", malformed(resp.Status, "submit response", err))
	}
	if env.hasCode && env.code != http.StatusOK {
		return "", fmt.Errorf("submit: %w", errorFor(resp.Status, env.code, env))
	}
	id := flexString(env.object()["taskId"])
	if id == "" {
		return "", fmt.Errorf("submit: %w", malformed(resp.Status, "submit response without taskId", nil))
	}
	return id, nil
}

// Status polls GET /statusTask/flux-kontext?taskId=…
// (https://apixo.ai/docs/api-reference/status-task). Transient failures are
// retried. An unknown task is a KindNotFound error.
func (c *Client) Status(ctx context.Context, taskID string) (*imaging.Status, error) {
	if taskID == "" {
		return nil, &imaging.Error{Kind: imaging.KindInvalid, Vendor: displayName, Message: "empty task id"}
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{
		Method:     http.MethodGet,
		Path:       statusPath + "?taskId=" + url.QueryEscape(taskID),
		Idempotent: true,
	})
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", taskID, err)
	}
	st, id, err := parseStatus(resp.Body)
	if err != nil {
		if e, ok := errors.AsType[*imaging.Error](err); ok && e.HTTPStatus == 0 {
			e.HTTPStatus = resp.Status
		}
		return nil, fmt.Errorf("status %s: %w", taskID, err)
	}
	if id != "" && id != taskID {
		return nil, fmt.Errorf("status %s: %w", taskID, malformed(resp.Status, "status for another task "+id, nil))
	}
	return st, nil
}

// parseStatus reads a status (or callback) envelope. It returns the task's
// status and the taskId the body names. A non-200 body code is returned as
// a classified error.
//
// States: pending → queued, processing → running, success → succeeded,
// failed → failed. Any other state (none is documented) is reported as
// running, so the core's overall job timeout bounds it. A success whose
// resultJson yields no URL is reported as a failed task (KindUnknown):
// there is nothing to wait for.
func parseStatus(body []byte) (*imaging.Status, string, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, "", malformed(0, "status response", err)
	}
	if env.hasCode && env.code != http.StatusOK {
		return nil, "", errorFor(0, env.code, env)
	}
	data := env.object()
	if data == nil {
		return nil, "", malformed(0, "status response without data", nil)
	}
	id := flexString(data["taskId"])
	st := &imaging.Status{Progress: -1}
	switch state := strings.ToLower(flexString(data["state"])); state {
	case "pending":
		st.State = imaging.StateQueued
	case "processing":
		st.State = imaging.StateRunning
	case "success":
		urls, err := resultURLs(data["resultJson"])
		if err != nil || len(urls) == 0 {
			st.State = imaging.StateFailed
			st.Err = &imaging.Error{Kind: imaging.KindUnknown, Vendor: displayName,
				Message: "task succeeded but reported no result URL", Err: err}
			return st, id, nil
		}
		st.State, st.URLs = imaging.StateSucceeded, urls
	case "failed":
		st.State = imaging.StateFailed
		st.Err = failure(flexString(data["failCode"]), flexString(data["failMsg"]))
	default:
		st.State = imaging.StateRunning
	}
	return st, id, nil
}

// CallbackTaskID returns the taskId of an APIXO callback POST, whose body is
// the status envelope ({"code", "message", "data": {"taskId", "state",
// …}}). APIXO signs nothing, so h and now are unused: the callback is only
// a hint that the caller confirms with Status. A body that is not such an
// envelope, or names no plausible taskId, is a KindInvalid error.
func (c *Client) CallbackTaskID(h http.Header, body []byte, now time.Time) (string, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return "", &imaging.Error{Kind: imaging.KindInvalid, Vendor: displayName, Message: "malformed callback body", Err: err}
	}
	id := flexString(env.object()["taskId"])
	if id == "" {
		return "", &imaging.Error{Kind: imaging.KindInvalid, Vendor: displayName, Message: "callback without data.taskId"}
	}
	if len(id) > 256 || strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", &imaging.Error{Kind: imaging.KindInvalid, Vendor: displayName, Message: "callback with an implausible taskId"}
	}
	return id, nil
}

func malformed(status int, what string, err error) *imaging.Error {
	return &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: status,
		Message: "malformed " + what, Err: err}
}
