// Package toapis is the imaging.Vendor for ToAPIs (toapis.com), a reseller
// of Black Forest Labs' Flux Kontext.
//
// The contract followed here is ToAPIs' public documentation (mirror
// github.com/toapis/docs @741ee9d), summarised in shared/vendors/vendors.md
// section 2:
//
//   - submit: POST /v1/images/generations with a flat JSON body
//     (https://toapis.com/docs/en/api-reference/images/flux-kontext/generation)
//   - status: GET /v1/images/generations/{task_id}
//     (https://toapis.com/docs/en/api-reference/tasks/image-status)
//   - image bytes: POST /v1/uploads/images first; image_urls takes URLs only
//     (https://toapis.com/docs/en/api-reference/uploads/images)
//   - callbacks: Task Webhooks, configured per API key in the ToAPIs console
//     and signed with HMAC-SHA256
//     (https://toapis.com/docs/en/api-reference/webhooks/task-webhooks)
//
// Every call goes through vendorhttp and its retry policy. The one addition
// is in Submit: a 503 whose body code is rate_limit_unavailable is retried,
// because ToAPIs refuses such a submit in its rate limiter before any task
// exists.
package toapis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// DefaultBaseURL is ToAPIs' documented API origin; paths live under /v1.
const DefaultBaseURL = "https://toapis.com"

// displayName is how users see the vendor, and the Vendor of every error.
const displayName = "ToAPIs"

// submitLimiterRetries bounds the extra submits after a 503
// rate_limit_unavailable (see Client.Submit).
const submitLimiterRetries = 3

// Default waits between retries; they match vendorhttp's defaults and are
// used by the rate_limit_unavailable retry in Submit.
const (
	defaultBaseBackoff = 500 * time.Millisecond
	defaultMaxWait     = 30 * time.Second
)

// Client talks to the ToAPIs API. Create it with New; it is safe for
// concurrent use once created.
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

// WithBaseURL points the client at another origin (a test server or a
// proxy). The /v1 paths are appended to it.
func WithBaseURL(u string) Option { return func(c *Client) { c.api.BaseURL = u } }

// WithHTTPClient replaces the default vendorhttp.NewHTTPClient(). The client
// should not follow redirects, so the API key never leaves ToAPIs.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.api.HTTP = hc } }

// WithWebhookSecret turns callbacks on. ToAPIs sends task callbacks only when
// the operator enabled Task Webhooks for this API key in the ToAPIs console,
// with a default HTTPS URL and a signing secret; secret is that signing
// secret. Without this option Capabilities().Callbacks is false and Submit
// never sends callback_url, because ToAPIs answers a callback_url on an
// unconfigured key with 400 webhook_not_configured. With it, callback URLs
// must keep the scheme, host and port of the URL configured in the console.
func WithWebhookSecret(secret string) Option { return func(c *Client) { c.webhookSecret = secret } }

// WithRetryWait sets the first retry backoff and the cap on any single wait,
// including a vendor's Retry-After. Tests use it to keep retries fast; the
// defaults are 500 ms and 30 s.
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

// Name returns the configuration name, "toapis".
func (c *Client) Name() string { return "toapis" }

// Capabilities reports what ToAPIs' documents allow for Flux Kontext.
// Callbacks is true only when WithWebhookSecret was given. ToAPIs documents
// no prompt length limit (MaxPromptRunes is 0) and no seed. Concurrency 20 is
// our default cap on jobs in flight; ToAPIs' own limit is per user: 300
// submits and 3,000 status queries per minute on the default tier.
func (c *Client) Capabilities() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName:    displayName,
		Models:         []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:   []string{"1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9", "9:21"},
		Formats:        []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:      1,
		ImageURLs:      true,
		ImageBytes:     true,
		MaxImageBytes:  maxUploadBytes,
		MaxPromptRunes: 0,
		Safety:         &imaging.Range{Min: 0, Max: 6},
		Seed:           false,
		Upsampling:     true,
		Callbacks:      c.webhookSecret != "",
		Progress:       true,
		// "Initial wait 5 s, then every 5-10 s with jitter"; typical
		// generation time is 5-30 s.
		PollDelay:    5 * time.Second,
		PollInterval: 5 * time.Second,
		Concurrency:  20,
	}
}

// submitBody is the documented body of POST /v1/images/generations.
// Optional fields are omitted when unset; ToAPIs has no seed field.
type submitBody struct {
	Model       string          `json:"model"`
	Prompt      string          `json:"prompt"`
	Size        string          `json:"size,omitempty"`
	ImageURLs   []string        `json:"image_urls,omitempty"`
	Metadata    *submitMetadata `json:"metadata,omitempty"`
	CallbackURL string          `json:"callback_url,omitempty"`
}

type submitMetadata struct {
	// ResponseFormat is "png" or "jpg".
	ResponseFormat   string `json:"response_format"`
	SafetyTolerance  *int   `json:"safety_tolerance,omitempty"`
	PromptUpsampling bool   `json:"prompt_upsampling,omitempty"`
}

// submitResponse is the documented answer to a submit.
type submitResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Error is not documented on a 2xx answer; it is read defensively.
	Error *apiError `json:"error"`
}

// Submit creates a Flux Kontext task and returns its id. Image bytes are
// uploaded first (POST /v1/uploads/images) and sent by URL, since image_urls
// accepts no base64. An edit without an aspect ratio omits size, so ToAPIs
// applies its edit default, match_input_image.
//
// Submit retries what vendorhttp retries for a paid call (429, and a
// connection that never carried the request) and, in addition, a 503 whose
// body code is rate_limit_unavailable: ToAPIs documents that answer as "the
// async task submit limiter is temporarily unavailable", given before any
// task is created, so repeating the submit cannot bill twice. Any other 5xx
// is returned at once.
//
// See https://toapis.com/docs/en/api-reference/images/flux-kontext/generation.
func (c *Client) Submit(ctx context.Context, req *imaging.Request) (string, error) {
	body, err := c.buildSubmit(ctx, req)
	if err != nil {
		return "", err
	}
	call := vendorhttp.Call{Method: http.MethodPost, Path: "/v1/images/generations", JSON: body}
	resp, err := c.api.Do(ctx, call)
	for attempt := 1; err != nil && attempt <= submitLimiterRetries && limiterUnavailable(err); attempt++ {
		wait := c.backoff(attempt, imaging.RetryAfterOf(err))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			break
		}
		if vendorhttp.Sleep(ctx, wait) != nil {
			break
		}
		resp, err = c.api.Do(ctx, call)
	}
	if err != nil {
		return "", fmt.Errorf("toapis: submit: %w", err)
	}
	var sr submitResponse
	if err := resp.Decode(displayName, &sr); err != nil {
		return "", fmt.Errorf("toapis: submit: %w", err)
	}
	if sr.ID == "" {
		if sr.Error != nil {
			return "", fmt.Errorf("toapis: submit: %w", sr.Error.toError(resp.Status))
		}
		return "", fmt.Errorf("toapis: submit: %w", &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName,
			HTTPStatus: resp.Status, Message: "response has no task id"})
	}
	return sr.ID, nil
}

func (c *Client) buildSubmit(ctx context.Context, req *imaging.Request) (*submitBody, error) {
	b := &submitBody{
		Model:  "flux-kontext-" + string(req.ModelOrDefault()),
		Prompt: req.Prompt,
		Size:   req.AspectRatio,
		Metadata: &submitMetadata{
			ResponseFormat:   wireFormat(req.FormatOrDefault()),
			SafetyTolerance:  req.SafetyTolerance,
			PromptUpsampling: req.PromptUpsampling,
		},
	}
	if b.Size == "" && !req.IsEdit() {
		// Request documents "" as 1:1 for text-to-image, while ToAPIs'
		// own default without an image is 16:9; say 1:1 explicitly.
		b.Size = "1:1"
	}
	for i, im := range req.Images {
		if im.IsURL() {
			b.ImageURLs = append(b.ImageURLs, im.URL)
			continue
		}
		u, err := c.upload(ctx, im)
		if err != nil {
			return nil, fmt.Errorf("toapis: upload image %d: %w", i+1, err)
		}
		b.ImageURLs = append(b.ImageURLs, u)
	}
	if req.CallbackURL != "" && c.webhookSecret != "" {
		b.CallbackURL = req.CallbackURL
	}
	return b, nil
}

// wireFormat spells the output format as metadata.response_format does.
func wireFormat(f imaging.Format) string {
	if f == imaging.FormatJPEG {
		return "jpg"
	}
	return string(f)
}

// limiterUnavailable reports the documented 503 rate_limit_unavailable, a
// submit refused before any task was created.
func limiterUnavailable(err error) bool {
	e, ok := errors.AsType[*imaging.Error](err)
	return ok && e.HTTPStatus == http.StatusServiceUnavailable && e.Code == "rate_limit_unavailable"
}

// backoff mirrors vendorhttp's wait: Retry-After when given, else
// exponential from BaseBackoff with jitter, capped by MaxWait.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	maxWait := c.api.MaxWait
	if maxWait <= 0 {
		maxWait = defaultMaxWait
	}
	if retryAfter > 0 {
		return min(retryAfter, maxWait)
	}
	base := c.api.BaseBackoff
	if base <= 0 {
		base = defaultBaseBackoff
	}
	d := base << (attempt - 1)
	d = d/2 + rand.N(d/2+1)
	return min(d, maxWait)
}

// Status fetches the task's state. Transient failures (429, 5xx, network)
// are retried by vendorhttp. An unknown task is a KindNotFound error.
//
// See https://toapis.com/docs/en/api-reference/tasks/image-status.
func (c *Client) Status(ctx context.Context, taskID string) (*imaging.Status, error) {
	if taskID == "" {
		return nil, errors.New("toapis: status: empty task id")
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{
		Method:     http.MethodGet,
		Path:       "/v1/images/generations/" + url.PathEscape(taskID),
		Idempotent: true,
	})
	if err != nil {
		return nil, fmt.Errorf("toapis: status %s: %w", taskID, err)
	}
	st, err := parseStatus(resp.Status, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("toapis: status %s: %w", taskID, err)
	}
	return st, nil
}

// taskErrorText is what a task error is classified on.
func taskErrorText(code, message string) string {
	return strings.ToLower(code + " " + message)
}
