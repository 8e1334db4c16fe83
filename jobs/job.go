// Package jobs is the pipeline every front end shares: admission (rate
// limits, quotas, allowed channels), a durable record of each accepted
// request, a fair per-vendor queue, one submission to the vendor, the wait,
// and delivery through the Reporter of the platform the request came from.
//
// A front end only translates: it builds a Job (request plus an opaque reply
// target it will understand later), calls Manager.Submit before it
// acknowledges, and implements Reporter to show progress, results and
// errors. Because jobs and their reply targets are persisted before the
// acknowledgement and the vendor's task id as soon as it is known, a restart
// resumes every unfinished job instead of losing it or paying for it twice.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// State is where a job is in its life.
type State string

// Job states. Pending, Submitting, Submitted, Delivering and Failing are unfinished
// and resumed after a restart.
const (
	// Pending: accepted and recorded, waiting for a vendor slot.
	Pending State = "pending"
	// Submitting: the submit call is (or was, at a crash) under way. A job
	// found here after a restart without a task id is never resubmitted: the
	// vendor may have accepted and billed it.
	Submitting State = "submitting"
	// Submitted: the vendor accepted it; TaskID is set.
	Submitted State = "submitted"
	// Delivering: the image is ready and being posted.
	Delivering State = "delivering"
	// Failing: the job failed and the requester is being told.
	Failing State = "failing"
	// Delivered and Failed are final.
	Delivered State = "delivered"
	Failed    State = "failed"
)

// Finished reports whether the state is final.
func (s State) Finished() bool { return s == Delivered || s == Failed }

// Job is one accepted request and everything needed to finish it after a
// restart.
type Job struct {
	ID       string `json:"id"`
	Platform string `json:"platform"`
	// User and Channel are platform-qualified ids ("discord:123",
	// "slack:T1/U2", "slack:T1/C3").
	User     string `json:"user"`
	UserName string `json:"user_name,omitempty"`
	Channel  string `json:"channel"`
	// Vendor is the vendor name; empty means the default.
	Vendor  string          `json:"vendor"`
	Request imaging.Request `json:"request"`
	// Target is the front end's reply target, opaque to the pipeline.
	Target json.RawMessage `json:"target,omitempty"`
	// DedupeKey, when set, makes a second Submit with the same key fail
	// with ErrDuplicate (retried or redelivered platform events).
	DedupeKey string `json:"dedupe_key,omitempty"`
	// Parent is the job this one re-rolls or edits, if any.
	Parent string `json:"parent,omitempty"`

	State       State     `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	TaskID      string    `json:"task_id,omitempty"`
	SubmittedAt time.Time `json:"submitted_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// Seed is the seed the request fixed (or the vendor reported).
	Seed *int64 `json:"seed,omitempty"`
	// Cost, ContentType and Elapsed describe the delivered result.
	Cost        *imaging.Cost `json:"cost,omitempty"`
	ContentType string        `json:"content_type,omitempty"`
	// ResultURL is the vendor's URL of the result, valid about a day; see
	// imaging.Result.SourceURL.
	ResultURL string        `json:"result_url,omitempty"`
	Elapsed   time.Duration `json:"elapsed,omitempty"`
	// Error is the user message of a failed job and ErrorKind its kind.
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	// Counted reports that the job counted against the user's limits.
	Counted bool `json:"counted,omitempty"`
	// Attempts counts delivery attempts, so a Reporter can make a repeated
	// delivery after a crash idempotent.
	Attempts int `json:"attempts,omitempty"`
	// Delivery is free-form data a Reporter may persist about a delivery
	// in progress (e.g. the message it posted), via Manager.SaveDelivery.
	Delivery json.RawMessage `json:"delivery,omitempty"`
}

// Task returns the vendor task, for waiting on it again.
func (j *Job) Task(defaultVendor string) *imaging.Task {
	v := j.Vendor
	if v == "" {
		v = defaultVendor
	}
	return &imaging.Task{Vendor: v, ID: j.TaskID, Model: j.Request.ModelOrDefault(), SubmittedAt: j.SubmittedAt, Seed: j.Seed}
}

// Phase is what a job is doing, for progress.
type Phase int

// Phases reported to a Reporter.
const (
	// Queued: waiting for a vendor slot; Position is its place.
	Queued Phase = iota
	// Starting: being submitted to the vendor.
	Starting
	// Generating: the vendor accepted it; Percent where reported.
	Generating
)

func (p Phase) String() string {
	switch p {
	case Queued:
		return "queued"
	case Starting:
		return "starting"
	}
	return "generating"
}

// Update is one progress report.
type Update struct {
	Phase Phase
	// Position is the 1-based place in the vendor queue while Queued.
	Position int
	// Percent is the vendor's progress 0–100, or -1 when unknown.
	Percent int
	// Elapsed is the time since the job was accepted.
	Elapsed time.Duration
	// VendorState is the vendor's state while Generating.
	VendorState imaging.State
}

// Reporter shows a job's life on the platform it came from. Calls for one
// job never overlap. Progress is best effort; Deliver and Fail return an
// error when the platform could not be reached, and are retried.
type Reporter interface {
	Progress(ctx context.Context, j *Job, u Update)
	// Deliver posts the finished image. After a crash it may be called
	// again for a job whose Attempts > 0: it should then avoid posting a
	// second copy (see Job.Delivery and Manager.SaveDelivery).
	Deliver(ctx context.Context, j *Job, r *imaging.Result) error
	// Fail tells the requester the job failed; UserMessage(err) is the text.
	Fail(ctx context.Context, j *Job, err error) error
}

// ErrDuplicate is returned by Submit for a DedupeKey seen before.
var ErrDuplicate = errors.New("jobs: duplicate request")

// ErrNotFound is returned for an unknown job id.
var ErrNotFound = errors.New("jobs: no such job")

// ErrClosed is returned by Submit once the manager is shutting down.
var ErrClosed = errors.New("jobs: shutting down")

// UserMessage is the one place any pipeline error becomes user text.
func UserMessage(err error) string {
	if r, ok := errors.AsType[*ratelimit.Refusal](err); ok {
		return r.Message()
	}
	if f, ok := errors.AsType[*recordedFailure](err); ok {
		return f.msg
	}
	switch {
	case errors.Is(err, ErrClosed):
		return "The bot is restarting. Please try again in a moment."
	case errors.Is(err, ErrNotFound):
		return "I can't find that image's request any more, so I can't redo it. Start a new /imagine instead."
	case errors.Is(err, ErrMaybeSubmitted):
		return "The bot restarted while sending this request, and the image service may or may not have started it (you may have been charged). Please try again."
	}
	return imaging.UserMessage(err)
}

// ErrMaybeSubmitted fails a job that was being submitted when the bot
// stopped: it is never submitted again.
var ErrMaybeSubmitted = errors.New("jobs: submission interrupted")

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random, URL-safe, unguessable id.
func NewID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// ShortID is a job id shortened for captions and file names.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return strings.ToLower(id)
}
