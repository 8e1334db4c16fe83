// Package vtrix is the imaging.Vendor for Vtrix (vtrix.ai, a SeaArt
// "SeaCloud" product), which serves Flux Kontext Pro through its multimodal
// generation API: POST /model/v1/generation, then poll
// GET /model/v1/generation/task/{id}. Vtrix has no callbacks and no upload
// API; reference images are sent inline as base64 or as URLs.
//
// The contract follows shared/vendors/vtrix.seed.txt (the vendor's page
// https://doc.vtrix.ai/docs/api/blackforestlabs/flux-kontext-pro) and
// section 4 of shared/vendors/vendors.md. The request envelope
// {"model", "input":[{"params":{…}}]} is the one Vtrix's own CLI sends
// (VtrixAI/vtrix-cli internal/generation/client.go); the stored docs do not
// show it.
//
// A Client is safe for concurrent use.
package vtrix

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// DefaultBaseURL is Vtrix's API host (vendors.md §4.1).
const DefaultBaseURL = "https://cloud.vtrix.ai"

// displayName is how users see the vendor, and the Vendor of its errors.
const displayName = "Vtrix"

// modelPro is the only Flux Kontext model ID Vtrix documents; a
// flux_kontext_max ID is NOT FOUND on Vtrix (vendors.md §4.8).
const modelPro = "flux_kontext_pro"

const (
	submitPath = "/model/v1/generation"
	taskPath   = "/model/v1/generation/task/"
)

// maxImages is input_image … input_image_4.
const maxImages = 4

// Client talks to the Vtrix generation API. Create it with New.
type Client struct {
	api vendorhttp.Client
}

var _ imaging.Vendor = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another host (a test server).
func WithBaseURL(u string) Option { return func(c *Client) { c.api.BaseURL = u } }

// WithHTTPClient replaces the default vendorhttp.NewHTTPClient().
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.api.HTTP = h } }

// WithRetryWait sets the first backoff between retries and the cap on any
// one wait, Retry-After included. Tests use it to keep retries fast.
func WithRetryWait(base, maxWait time.Duration) Option {
	return func(c *Client) { c.api.BaseBackoff, c.api.MaxWait = base, maxWait }
}

// New returns a client that authenticates with apiKey as a bearer token. It
// does no I/O.
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

// Name returns the configuration name, "vtrix".
func (c *Client) Name() string { return "vtrix" }

// Capabilities reports what the Vtrix Flux Kontext Pro page documents.
func (c *Client) Capabilities() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName: displayName,
		// Only flux_kontext_pro is documented.
		Models: []imaging.Model{imaging.ModelPro},
		// "Image aspect ratio, between 21:9 and 9:21": free form.
		MinAspect: 9.0 / 21,
		MaxAspect: 21.0 / 9,
		// output_format "Options: jpeg, png".
		Formats:   []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages: maxImages,
		// input_image*: "Base64 encoded image or image URL used as
		// reference. Supports up to 20MB". The docs do not say whether 20MB
		// is the image or its base64 text; we bound the image.
		ImageURLs:     true,
		ImageBytes:    true,
		MaxImageBytes: 20 << 20,
		// No prompt limit is documented.
		MaxPromptRunes: 0,
		// "0 means strictest, 6 means least strict" but "Range: 1 - 6": we
		// send 1–6 (vendors.md §4.2).
		Safety:     &imaging.Range{Min: 1, Max: 6},
		Seed:       true,
		Upsampling: true,
		// No callback parameter exists (vendors.md §4.4).
		Callbacks: false,
		// progress is a 0.0–1.0 number while the task runs.
		Progress: true,
		// The SeaCloud design doc polls every 3 s (the CLI uses 5 s).
		PollDelay:    3 * time.Second,
		PollInterval: 3 * time.Second,
		// Not documented ("Rate limits apply to all endpoints"); a
		// conservative default.
		Concurrency: 10,
	}
}

// generationRequest is the envelope Vtrix's CLI sends.
type generationRequest struct {
	Model string       `json:"model"`
	Input []inputBlock `json:"input"`
}

type inputBlock struct {
	Params params `json:"params"`
}

// params are flux_kontext_pro's documented parameters. Every optional field
// is omitted when the request leaves it unset.
type params struct {
	Prompt      string `json:"prompt"`
	InputImage  string `json:"input_image,omitempty"`
	InputImage2 string `json:"input_image_2,omitempty"`
	InputImage3 string `json:"input_image_3,omitempty"`
	InputImage4 string `json:"input_image_4,omitempty"`
	Seed        *int64 `json:"seed,omitempty"`
	AspectRatio string `json:"aspect_ratio,omitempty"`
	// OutputFormat is always sent: Vtrix defaults to jpeg, the bot to png.
	OutputFormat string `json:"output_format,omitempty"`
	// PromptUpsampling false is the documented default, so it is omitted.
	PromptUpsampling bool `json:"prompt_upsampling,omitempty"`
	SafetyTolerance  *int `json:"safety_tolerance,omitempty"`
}

// buildRequest turns req into the wire body. It re-checks req against the
// capabilities so nothing undocumented (a max model, a fifth image) is ever
// sent, whoever calls Submit.
func (c *Client) buildRequest(req *imaging.Request) (*generationRequest, error) {
	caps := c.Capabilities()
	if err := caps.Check(req, false); err != nil {
		return nil, err
	}
	p := params{
		Prompt:           req.Prompt,
		Seed:             req.Seed,
		AspectRatio:      req.AspectRatio,
		OutputFormat:     string(req.FormatOrDefault()),
		PromptUpsampling: req.PromptUpsampling,
		SafetyTolerance:  req.SafetyTolerance,
	}
	slots := [maxImages]*string{&p.InputImage, &p.InputImage2, &p.InputImage3, &p.InputImage4}
	for i, im := range req.Images {
		*slots[i] = imageParam(im)
	}
	return &generationRequest{Model: modelPro, Input: []inputBlock{{Params: p}}}, nil
}

// imageParam is an input_image value: the URL as given, or the bytes as
// plain standard base64. The doc says "Base64 encoded image or image URL"
// and shows no data-URI form, so no "data:<type>;base64," prefix is added:
// a server that sniffs "http" vs base64 reads plain base64 either way,
// while a prefix is something the docs never promise to accept.
func imageParam(im imaging.Image) string {
	if im.IsURL() {
		return im.URL
	}
	return base64.StdEncoding.EncodeToString(im.Data)
}

// Submit creates a generation task and returns its id.
// Request.CallbackURL is ignored: Vtrix has no callbacks.
//
// API: POST https://cloud.vtrix.ai/model/v1/generation
// (https://doc.vtrix.ai/docs/api/blackforestlabs/flux-kontext-pro).
func (c *Client) Submit(ctx context.Context, req *imaging.Request) (string, error) {
	body, err := c.buildRequest(req)
	if err != nil {
		return "", err
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{Method: http.MethodPost, Path: submitPath, JSON: body})
	if err != nil {
		return "", fmt.Errorf("vtrix: submit: %w", err)
	}
	id, err := parseSubmit(resp.Body)
	if err != nil {
		return "", fmt.Errorf("vtrix: submit: %w", err)
	}
	return id, nil
}

// Status fetches a task's state, retrying transient failures.
//
// API: GET https://cloud.vtrix.ai/model/v1/generation/task/{id}.
func (c *Client) Status(ctx context.Context, taskID string) (*imaging.Status, error) {
	if taskID == "" {
		return nil, &imaging.Error{Kind: imaging.KindNotFound, Vendor: displayName, Message: "empty task id"}
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{
		Method:     http.MethodGet,
		Path:       taskPath + url.PathEscape(taskID),
		Idempotent: true,
	})
	if err != nil {
		return nil, fmt.Errorf("vtrix: status %s: %w", taskID, err)
	}
	st, err := parseStatus(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("vtrix: status %s: %w", taskID, err)
	}
	return st, nil
}
