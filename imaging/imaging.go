// Package imaging is the vendor-neutral core of the bot: one request model for
// Flux Kontext generation and editing, the capabilities each vendor declares,
// typed errors with one place that turns them into user text, and a Service
// that submits a request to a vendor, waits for it and downloads the result.
//
// Vendor clients live in sub-packages (poyo, toapis, apixo, vtrix) and
// implement Vendor. The core imports no chat SDK and no vendor package; the
// binary wires vendors in from configuration.
package imaging

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Model is the Flux Kontext tier.
type Model string

// The two Flux Kontext tiers.
const (
	ModelPro Model = "pro"
	ModelMax Model = "max"
)

// Format is the output image format.
type Format string

// Output formats. Vendors that spell JPEG "jpg" translate on the wire.
const (
	FormatPNG  Format = "png"
	FormatJPEG Format = "jpeg"
)

// Image is a reference image for an edit: either a public URL that the vendor
// fetches itself, or bytes with their content type. Exactly one of URL and
// Data is set.
type Image struct {
	URL         string
	Data        []byte
	ContentType string
}

// IsURL reports whether the image is given by URL.
func (im Image) IsURL() bool { return im.URL != "" }

// Request is one generation or edit. The zero values of optional fields mean
// "the vendor's default". Request is plain data and safe to copy; Images
// share their byte slices.
type Request struct {
	Prompt string
	// Model is pro or max; empty means pro.
	Model Model
	// AspectRatio is "W:H", e.g. "16:9"; empty means 1:1 for text-to-image
	// and the vendor's default (usually the input's ratio) for edits.
	AspectRatio string
	// Format is png or jpeg; empty means png.
	Format Format
	// Seed makes a generation reproducible where the vendor supports it.
	Seed *int64
	// PromptUpsampling asks the vendor to expand the prompt.
	PromptUpsampling bool
	// SafetyTolerance is the moderation level in the vendor's range; nil
	// means the vendor's default.
	SafetyTolerance *int
	// Images are reference images; any image makes the request an edit.
	Images []Image
	// CallbackURL, when set, asks a vendor that supports callbacks to POST
	// the task's final state there. The Service sets it; callers leave it.
	CallbackURL string
}

// IsEdit reports whether the request edits a reference image.
func (r *Request) IsEdit() bool { return len(r.Images) > 0 }

// ModelOrDefault returns the model with the default applied.
func (r *Request) ModelOrDefault() Model {
	if r.Model == "" {
		return ModelPro
	}
	return r.Model
}

// FormatOrDefault returns the output format with the default applied.
func (r *Request) FormatOrDefault() Format {
	if r.Format == "" {
		return FormatPNG
	}
	return r.Format
}

// Cost is what a vendor reported a job cost.
type Cost struct {
	Amount float64
	// Unit is "USD" or "credits".
	Unit string
}

func (c Cost) String() string {
	if c.Unit == "USD" {
		return "$" + strconv.FormatFloat(c.Amount, 'f', -1, 64)
	}
	return strconv.FormatFloat(c.Amount, 'f', -1, 64) + " " + c.Unit
}

// Result is a finished generation with the image already downloaded.
type Result struct {
	Image       []byte
	ContentType string
	// Seed and Cost are set where the vendor reports them (or where the
	// request fixed the seed on a vendor that honours it).
	Seed   *int64
	Cost   *Cost
	Vendor string
	TaskID string
	Model  Model
	// SourceURL is where the vendor served the image. It expires (24 h at
	// most vendors); a front end may hand it back to the same vendor for an
	// edit while it is fresh, instead of uploading the bytes again.
	SourceURL string
	// SubmittedAt is when the vendor accepted the task, FinishedAt when the
	// bot saw it finish, and DownloadedAt when the image was in hand; all on
	// the local clock.
	SubmittedAt  time.Time
	FinishedAt   time.Time
	DownloadedAt time.Time
	// Polls counts the status requests made while waiting.
	Polls int
}

// Elapsed is the time from submission to the image in hand.
func (r *Result) Elapsed() time.Duration { return r.DownloadedAt.Sub(r.SubmittedAt) }

// State is a task's place in the one vocabulary every vendor maps onto.
type State int

// Task states.
const (
	StateQueued State = iota
	StateRunning
	StateSucceeded
	StateFailed
)

var stateNames = [...]string{"queued", "running", "succeeded", "failed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Done reports whether the state is terminal.
func (s State) Done() bool { return s == StateSucceeded || s == StateFailed }

// Status is one observation of a vendor task.
type Status struct {
	State State
	// Progress is 0–100 where the vendor reports it, -1 where it does not.
	Progress int
	// URLs are the result image URLs once the task succeeded.
	URLs []string
	Cost *Cost
	Seed *int64
	// Err says why the task failed (a *Error) when State is StateFailed.
	Err error
}

// Vendor is one Flux Kontext provider's HTTP API. Submit returns once the
// vendor has accepted the task; the Service owns waiting. Implementations are
// safe for concurrent use.
type Vendor interface {
	// Name is the configuration name: poyo, toapis, apixo or vtrix.
	Name() string
	// Capabilities describes what the vendor's documents allow.
	Capabilities() Capabilities
	// Submit sends the request and returns the vendor's task id. It is
	// called only with requests that passed Capabilities().Check, with
	// defaults applied. Image bytes are turned into what the vendor accepts
	// (its upload API, or inline base64) here. Submit retries only when the
	// vendor certainly created nothing.
	Submit(ctx context.Context, req *Request) (taskID string, err error)
	// Status fetches the task's current state. It retries transient
	// failures itself.
	Status(ctx context.Context, taskID string) (*Status, error)
}

// Progress is what a waiting caller is told as a job advances.
type Progress struct {
	State State
	// Percent is 0–100 where the vendor reports progress, else -1.
	Percent int
	// Elapsed is the time since the vendor accepted the task.
	Elapsed time.Duration
	TaskID  string
}

func (p Progress) String() string {
	s := fmt.Sprintf("%s %s", p.State, p.Elapsed.Round(time.Second))
	if p.Percent >= 0 {
		s += fmt.Sprintf(" %d%%", p.Percent)
	}
	return s
}

// ErrNoTask is wrapped by a CallbackVendor's error for a well-formed,
// authentic callback that concerns no task (a vendor's endpoint test): the
// receiver answers it with 2xx and does nothing else.
var ErrNoTask = errors.New("imaging: callback concerns no task")

// CallbackVendor is implemented by vendors that can POST a task's final
// state to a URL the bot names in Request.CallbackURL.
type CallbackVendor interface {
	Vendor
	// CallbackTaskID extracts the task id from a callback request's headers
	// and raw body, verifying its signature where the vendor signs and a
	// secret is configured. A callback is only a hint: the caller confirms
	// the result with Status before delivering anything. now is the local
	// clock, for timestamp windows.
	CallbackTaskID(h http.Header, body []byte, now time.Time) (taskID string, err error)
}
