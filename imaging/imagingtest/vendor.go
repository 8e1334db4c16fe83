package imagingtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
)

// Vendor is an in-memory imaging.Vendor for tests of the packages above the
// core. Its tasks succeed (or fail, per Outcome) after PollsToFinish polls,
// or once FinishAfter has passed on its clock, or when Finish is called.
// Result images are served by Transport, so a Service whose Download client
// uses it fetches them without a network. Configure the exported fields
// before use; methods are safe for concurrent use.
type Vendor struct {
	// ID is the vendor's Name() (default "fake").
	ID   string
	Caps imaging.Capabilities
	// PollsToFinish ends a task on that poll (default 2 when FinishAfter
	// is zero; a negative value means never by polls).
	PollsToFinish int
	// FinishAfter ends a task once that long has passed since submission
	// on Now.
	FinishAfter time.Duration
	// Now is the clock for FinishAfter (default time.Now).
	Now func() time.Time
	// Outcome is how tasks end (default Succeed).
	Outcome Outcome
	// Image is the result (default PNG(7)).
	Image []byte
	// SubmitErrs are returned by the next submits, in order.
	SubmitErrs []error
	// SubmitHook, when set, runs at the start of each submit (to block or
	// observe); a non-nil error is returned.
	SubmitHook func(ctx context.Context, req *imaging.Request) error

	mu      sync.Mutex
	n       int
	tasks   map[string]*memTask
	submits []imaging.Request
	polls   int
}

type memTask struct {
	at    time.Time
	polls int
	done  bool
	req   imaging.Request
}

// NewVendor returns a fake vendor named name with permissive capabilities.
func NewVendor(name string) *Vendor {
	return &Vendor{ID: name, Caps: PermissiveCaps(name)}
}

// PermissiveCaps are capabilities that accept nearly anything, for tests.
func PermissiveCaps(name string) imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName:    name,
		Models:         []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:   []string{"1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3"},
		Formats:        []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:      4,
		ImageURLs:      true,
		ImageBytes:     true,
		MaxPromptRunes: 5000,
		Safety:         &imaging.Range{Min: 0, Max: 6},
		Seed:           true,
		Upsampling:     true,
		Progress:       true,
		PollDelay:      10 * time.Millisecond,
		PollInterval:   10 * time.Millisecond,
		Concurrency:    4,
	}
}

var _ imaging.Vendor = (*Vendor)(nil)

// Name implements imaging.Vendor.
func (v *Vendor) Name() string {
	if v.ID == "" {
		return "fake"
	}
	return v.ID
}

// Capabilities implements imaging.Vendor.
func (v *Vendor) Capabilities() imaging.Capabilities { return v.Caps }

func (v *Vendor) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Submit implements imaging.Vendor.
func (v *Vendor) Submit(ctx context.Context, req *imaging.Request) (string, error) {
	if v.SubmitHook != nil {
		if err := v.SubmitHook(ctx, req); err != nil {
			return "", err
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.SubmitErrs) > 0 {
		err := v.SubmitErrs[0]
		v.SubmitErrs = v.SubmitErrs[1:]
		if err != nil {
			return "", err
		}
	}
	v.n++
	id := fmt.Sprintf("%s-task-%d", v.Name(), v.n)
	if v.tasks == nil {
		v.tasks = make(map[string]*memTask)
	}
	v.tasks[id] = &memTask{at: v.now(), req: *req}
	v.submits = append(v.submits, *req)
	return id, nil
}

// Status implements imaging.Vendor.
func (v *Vendor) Status(ctx context.Context, id string) (*imaging.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.polls++
	t, ok := v.tasks[id]
	if !ok {
		return nil, &imaging.Error{Kind: imaging.KindNotFound, Vendor: v.Caps.DisplayName, Message: "task not found"}
	}
	t.polls++
	finishPolls := v.PollsToFinish
	if finishPolls == 0 && v.FinishAfter == 0 {
		finishPolls = 2
	}
	if !t.done {
		if finishPolls > 0 && t.polls >= finishPolls {
			t.done = true
		}
		if v.FinishAfter > 0 && !v.now().Before(t.at.Add(v.FinishAfter)) {
			t.done = true
		}
	}
	if !t.done || v.Outcome == Never {
		return &imaging.Status{State: imaging.StateRunning, Progress: min(90, t.polls*10)}, nil
	}
	switch v.Outcome {
	case FailSafety:
		return &imaging.Status{State: imaging.StateFailed, Progress: -1, Err: &imaging.Error{Kind: imaging.KindSafety, Vendor: v.Caps.DisplayName, Code: "moderated"}}, nil
	case FailImage:
		return &imaging.Status{State: imaging.StateFailed, Progress: -1, Err: &imaging.Error{Kind: imaging.KindImageUnreachable, Vendor: v.Caps.DisplayName}}, nil
	case FailGeneric:
		return &imaging.Status{State: imaging.StateFailed, Progress: -1, Err: &imaging.Error{Kind: imaging.KindUnknown, Vendor: v.Caps.DisplayName, Message: "generation failed"}}, nil
	}
	st := &imaging.Status{State: imaging.StateSucceeded, Progress: 100,
		URLs: []string{"http://" + v.Name() + ".fake.invalid/result/" + id + ".png"},
		Cost: &imaging.Cost{Amount: 0.04, Unit: "USD"}}
	return st, nil
}

// Finish marks a task done now.
func (v *Vendor) Finish(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.tasks[id]; ok {
		t.done = true
	}
}

// Submits returns the requests submitted so far.
func (v *Vendor) Submits() []imaging.Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]imaging.Request(nil), v.submits...)
}

// Polls counts status calls.
func (v *Vendor) Polls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.polls
}

// ResultImage is the bytes every successful task serves.
func (v *Vendor) ResultImage() []byte {
	if v.Image == nil {
		return PNG(7)
	}
	return v.Image
}

// Transport serves the vendor's result URLs from memory.
func (v *Vendor) Transport() http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != v.Name()+".fake.invalid" || !strings.HasPrefix(r.URL.Path, "/result/") {
			return &http.Response{StatusCode: 404, Body: io.NopCloser(strings.NewReader("not found")), Header: http.Header{}, Request: r}, nil
		}
		img := v.ResultImage()
		return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(img)), ContentLength: int64(len(img)),
			Header: http.Header{"Content-Type": {http.DetectContentType(img)}}, Request: r}, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
