package imaging_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
)

// newService returns a Service over v alone whose downloads are served from
// v's memory, so it may run inside a synctest bubble.
func newService(t testing.TB, v *imagingtest.Vendor) *imaging.Service {
	t.Helper()
	s, err := imaging.NewService("", v)
	if err != nil {
		t.Fatalf("NewService() error = %v", err)
	}
	s.Download = &http.Client{Transport: v.Transport()}
	return s
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// imageClient serves img at every URL, from memory.
func imageClient(img []byte) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(img)),
			ContentLength: int64(len(img)), Header: http.Header{}, Request: r}, nil
	})}
}

// statusReply is one scripted answer to a status poll.
type statusReply struct {
	st  *imaging.Status
	err error
}

// scriptVendor is an imaging.Vendor whose status polls are answered from a
// script (the last answer repeats), for outcomes the in-memory fake cannot
// produce.
type scriptVendor struct {
	caps   imaging.Capabilities
	script []statusReply
	// onStatus, when set, runs at the start of every poll.
	onStatus func()

	mu    sync.Mutex
	polls int
}

func newScriptVendor(script ...statusReply) *scriptVendor {
	caps := imagingtest.PermissiveCaps("Script")
	caps.PollDelay = 0
	return &scriptVendor{caps: caps, script: script}
}

func (v *scriptVendor) Name() string                       { return "script" }
func (v *scriptVendor) Capabilities() imaging.Capabilities { return v.caps }
func (v *scriptVendor) Submit(context.Context, *imaging.Request) (string, error) {
	return "script-1", nil
}

func (v *scriptVendor) Status(ctx context.Context, id string) (*imaging.Status, error) {
	if v.onStatus != nil {
		v.onStatus()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.script[min(v.polls, len(v.script)-1)]
	v.polls++
	return r.st, r.err
}

func (v *scriptVendor) Polls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.polls
}

func succeeded(url string) *imaging.Status {
	return &imaging.Status{State: imaging.StateSucceeded, Progress: 100, URLs: []string{url}}
}

// timedVendor records when each status poll happened.
type timedVendor struct {
	*imagingtest.Vendor
	mu    sync.Mutex
	times []time.Time
}

func (v *timedVendor) Status(ctx context.Context, id string) (*imaging.Status, error) {
	v.mu.Lock()
	v.times = append(v.times, time.Now())
	v.mu.Unlock()
	return v.Vendor.Status(ctx, id)
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := imagingtest.NewVendor("fake")
		v.Image = imagingtest.PNG(3)
		v.PollsToFinish = 3
		s := newService(t, v)
		start := time.Now()
		seed := int64(42)

		res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "  a lighthouse at dawn  ", Seed: &seed}, imaging.WaitOptions{})
		if err != nil {
			t.Fatalf("Generate() error = %v", err)
		}
		if !bytes.Equal(res.Image, imagingtest.PNG(3)) {
			t.Errorf("Result.Image = %d bytes, want the fake's PNG(3) (%d bytes) byte for byte", len(res.Image), len(imagingtest.PNG(3)))
		}
		if got, want := res.ContentType, "image/png"; got != want {
			t.Errorf("ContentType = %q, want %q", got, want)
		}
		if got, want := res.Polls, 3; got != want {
			t.Errorf("Polls = %d, want %d", got, want)
		}
		if got, want := v.Polls(), res.Polls; got != want {
			t.Errorf("vendor saw %d polls, Result.Polls = %d", got, want)
		}
		if res.Seed == nil || *res.Seed != 42 {
			t.Errorf("Seed = %v, want 42 (carried from the request)", res.Seed)
		}
		if res.Cost == nil || *res.Cost != (imaging.Cost{Amount: 0.04, Unit: "USD"}) {
			t.Errorf("Cost = %+v, want 0.04 USD", res.Cost)
		} else if got, want := res.Cost.String(), "$0.04"; got != want {
			t.Errorf("Cost.String() = %q, want %q", got, want)
		}
		if got, want := res.Vendor, "fake"; got != want {
			t.Errorf("Vendor = %q, want %q", got, want)
		}
		if got, want := res.Model, imaging.ModelPro; got != want {
			t.Errorf("Model = %q, want %q", got, want)
		}
		if res.TaskID == "" || !strings.HasSuffix(res.SourceURL, "/"+res.TaskID+".png") {
			t.Errorf("TaskID = %q, SourceURL = %q; want the URL of that task", res.TaskID, res.SourceURL)
		}
		if !res.SubmittedAt.Equal(start) {
			t.Errorf("SubmittedAt = %v, want %v", res.SubmittedAt, start)
		}
		// First poll after 10 ms, then two more 10 ms ±20% apart.
		if d := res.FinishedAt.Sub(res.SubmittedAt); d < 26*time.Millisecond || d > 34*time.Millisecond {
			t.Errorf("FinishedAt - SubmittedAt = %v, want 26ms..34ms", d)
		}
		if res.DownloadedAt.Before(res.FinishedAt) {
			t.Errorf("DownloadedAt %v before FinishedAt %v", res.DownloadedAt, res.FinishedAt)
		}
		if got, want := res.Elapsed(), time.Since(start); got != want {
			t.Errorf("Elapsed() = %v, want %v", got, want)
		}

		subs := v.Submits()
		if len(subs) != 1 {
			t.Fatalf("vendor got %d submits, want 1", len(subs))
		}
		got := subs[0]
		if got.Prompt != "a lighthouse at dawn" || got.Model != imaging.ModelPro || got.Format != imaging.FormatPNG ||
			got.AspectRatio != "1:1" || got.Seed == nil || *got.Seed != 42 {
			t.Errorf("submitted %+v, want trimmed prompt, pro, png, 1:1, seed 42", got)
		}
	})
}

func TestGenerateNoSeed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := imagingtest.NewVendor("fake")
		s := newService(t, v)
		res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
		if err != nil {
			t.Fatalf("Generate() error = %v", err)
		}
		if res.Seed != nil {
			t.Errorf("Seed = %d, want nil when neither request nor vendor set one", *res.Seed)
		}
	})
}

func TestWaitSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		delay, interval       time.Duration // the vendor's advice
		svcDelay, svcInterval time.Duration // Service overrides
		slow                  int
		jitter                float64
		polls                 int
		wantFirst             time.Duration
		wantGap, tolerance    time.Duration
	}{
		{name: "vendor advice without jitter", delay: 20 * time.Second, interval: 4 * time.Second, jitter: -1, polls: 4,
			wantFirst: 20 * time.Second, wantGap: 4 * time.Second},
		{name: "default jitter is ±20%", delay: 20 * time.Second, interval: 4 * time.Second, polls: 8,
			wantFirst: 20 * time.Second, wantGap: 4 * time.Second, tolerance: 800 * time.Millisecond},
		{name: "service overrides vendor advice", delay: 20 * time.Second, interval: 4 * time.Second,
			svcDelay: 2 * time.Second, svcInterval: time.Second, jitter: -1, polls: 3,
			wantFirst: 2 * time.Second, wantGap: time.Second},
		{name: "slow multiplies the interval", delay: 3 * time.Second, interval: 3 * time.Second, slow: 4, jitter: -1, polls: 3,
			wantFirst: 3 * time.Second, wantGap: 12 * time.Second},
		{name: "no advice polls at once then every 3s", jitter: -1, polls: 3, wantFirst: 0, wantGap: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := imagingtest.NewVendor("fake")
				fake.Caps.PollDelay, fake.Caps.PollInterval = tt.delay, tt.interval
				fake.PollsToFinish = tt.polls
				v := &timedVendor{Vendor: fake}
				s, err := imaging.NewService("", v)
				if err != nil {
					t.Fatal(err)
				}
				s.Download = &http.Client{Transport: fake.Transport()}
				s.PollDelay, s.PollInterval, s.Jitter = tt.svcDelay, tt.svcInterval, tt.jitter
				start := time.Now()
				if _, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{Slow: tt.slow}); err != nil {
					t.Fatalf("Generate() error = %v", err)
				}
				if got, want := len(v.times), tt.polls; got != want {
					t.Fatalf("made %d polls, want %d", got, want)
				}
				if got, want := v.times[0].Sub(start), tt.wantFirst; got != want {
					t.Errorf("first poll after %v, want %v", got, want)
				}
				var gaps []time.Duration
				for i := 1; i < len(v.times); i++ {
					gap := v.times[i].Sub(v.times[i-1])
					gaps = append(gaps, gap)
					if gap < tt.wantGap-tt.tolerance || gap > tt.wantGap+tt.tolerance {
						t.Errorf("gap %d = %v, want %v ± %v", i, gap, tt.wantGap, tt.tolerance)
					}
				}
				if tt.tolerance > 0 && len(slices.Compact(slices.Clone(gaps))) == 1 {
					t.Errorf("gaps %v are all equal, want jitter", gaps)
				}
			})
		})
	}
}

func TestWaitFailures(t *testing.T) {
	t.Parallel()
	vendorErr := func(k imaging.Kind) error {
		return &imaging.Error{Kind: k, Vendor: "Script", Message: "vendor said no"}
	}
	fake := func(o imagingtest.Outcome) func() (imaging.Vendor, func() int) {
		return func() (imaging.Vendor, func() int) {
			v := imagingtest.NewVendor("fake")
			v.Outcome = o
			return v, v.Polls
		}
	}
	script := func(replies ...statusReply) func() (imaging.Vendor, func() int) {
		return func() (imaging.Vendor, func() int) {
			v := newScriptVendor(replies...)
			return v, v.Polls
		}
	}
	running := &imaging.Status{State: imaging.StateRunning, Progress: -1}
	tests := []struct {
		name      string
		vendor    func() (imaging.Vendor, func() int)
		wantKind  imaging.Kind
		wantMsg   string // in UserMessage
		wantPolls int
	}{
		{"safety", fake(imagingtest.FailSafety), imaging.KindSafety, "safety filter refused", 2},
		{"image unreachable", fake(imagingtest.FailImage), imaging.KindImageUnreachable, "reference image couldn't be read", 2},
		{"generic failure", fake(imagingtest.FailGeneric), imaging.KindUnknown, "Something went wrong", 2},
		{"failed without a reason", script(statusReply{st: &imaging.Status{State: imaging.StateFailed, Progress: -1}}),
			imaging.KindUnknown, "Something went wrong", 1},
		{"succeeded without a URL", script(statusReply{st: &imaging.Status{State: imaging.StateSucceeded, Progress: 100}}),
			imaging.KindUnavailable, "Script is having trouble", 1},
		{"not found stops at once", script(statusReply{err: vendorErr(imaging.KindNotFound)}),
			imaging.KindNotFound, "Script lost track of this job", 1},
		{"unauthorized stops at once", script(statusReply{err: vendorErr(imaging.KindUnauthorized)}),
			imaging.KindUnauthorized, "refused the bot's API key", 1},
		{"no credits stops at once", script(statusReply{err: vendorErr(imaging.KindCredits)}),
			imaging.KindCredits, "out of credits", 1},
		{"transient poll failures are retried on schedule", script(
			statusReply{err: vendorErr(imaging.KindUnavailable)}, statusReply{err: vendorErr(imaging.KindRateLimited)},
			statusReply{st: running}, statusReply{st: succeeded("https://cdn.example/a.png")}), 0, "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				v, polls := tt.vendor()
				s, err := imaging.NewService("", v)
				if err != nil {
					t.Fatal(err)
				}
				s.Download = imageClient(imagingtest.PNG(5))
				res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
				if got, want := polls(), tt.wantPolls; got != want {
					t.Errorf("vendor saw %d polls, want %d", got, want)
				}
				if tt.wantMsg == "" {
					if err != nil {
						t.Fatalf("Generate() error = %v, want success", err)
					}
					if got, want := res.Polls, tt.wantPolls; got != want {
						t.Errorf("Result.Polls = %d, want %d", got, want)
					}
					return
				}
				if err == nil {
					t.Fatalf("Generate() succeeded, want %v", tt.wantKind)
				}
				if _, ok := errors.AsType[*imaging.Error](err); !ok {
					t.Errorf("Generate() error %T %v is not an *imaging.Error", err, err)
				}
				if got, want := imaging.KindOf(err), tt.wantKind; got != want {
					t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
				}
				if !errors.Is(err, tt.wantKind) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.wantKind)
				}
				if got := imaging.UserMessage(err); !strings.Contains(got, tt.wantMsg) {
					t.Errorf("UserMessage() = %q, want it to contain %q", got, tt.wantMsg)
				}
			})
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"set", 2 * time.Minute, 2 * time.Minute},
		{"default 10 minutes", 0, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				v := imagingtest.NewVendor("fake")
				v.Caps.DisplayName = "Fake"
				v.Outcome = imagingtest.Never
				s := newService(t, v)
				s.Timeout = tt.timeout
				start := time.Now()
				_, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
				if got, want := time.Since(start), tt.want; got != want {
					t.Errorf("gave up after %v, want %v", got, want)
				}
				e, ok := errors.AsType[*imaging.Error](err)
				if !ok {
					t.Fatalf("Generate() error = %T %v, want *imaging.Error", err, err)
				}
				if got, want := e.Kind, imaging.KindTimeout; got != want {
					t.Errorf("Kind = %v, want %v", got, want)
				}
				if got, want := e.Vendor, "Fake"; got != want {
					t.Errorf("Vendor = %q, want %q", got, want)
				}
				if errors.Is(err, context.Canceled) {
					t.Errorf("timeout error %v is context.Canceled", err)
				}
				if got, want := imaging.UserMessage(err), "took too long"; !strings.Contains(got, want) {
					t.Errorf("UserMessage() = %q, want it to contain %q", got, want)
				}
				if v.Polls() < 2 {
					t.Errorf("vendor saw %d polls before the timeout, want several", v.Polls())
				}
			})
		})
	}
}

func TestWaitCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := imagingtest.NewVendor("fake")
		v.Caps.PollDelay, v.Caps.PollInterval = 3*time.Second, 3*time.Second
		v.PollsToFinish = -1
		s := newService(t, v)
		task, err := s.Submit(t.Context(), "", &imaging.Request{Prompt: "cat"})
		if err != nil {
			t.Fatalf("Submit() error = %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		time.AfterFunc(10*time.Second+time.Millisecond, cancel) // mid-sleep between polls
		_, err = s.Wait(ctx, task, imaging.WaitOptions{})
		if got, want := time.Since(start), 10*time.Second+time.Millisecond; got != want {
			t.Errorf("Wait returned %v after start, want %v (at the cancel)", got, want)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait() error = %v, want context.Canceled", err)
		}
		if got := imaging.KindOf(err); got == imaging.KindTimeout {
			t.Errorf("KindOf(%v) = %v, want not timeout", err, got)
		}
		if got, want := imaging.UserMessage(err), "cancelled"; !strings.Contains(got, want) {
			t.Errorf("UserMessage() = %q, want it to contain %q", got, want)
		}

		// The task is left resumable.
		v.Finish(task.ID)
		res, err := s.Wait(t.Context(), task, imaging.WaitOptions{})
		if err != nil {
			t.Fatalf("resumed Wait() error = %v", err)
		}
		if got, want := res.TaskID, task.ID; got != want {
			t.Errorf("TaskID = %q, want %q", got, want)
		}
		if got, want := time.Since(start), 10*time.Second+time.Millisecond; got != want {
			t.Errorf("resumed Wait finished %v after start, want %v (at once)", got, want)
		}
	})
}

func TestWaitCancelledDuringStatus(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	v := newScriptVendor(statusReply{err: &imaging.Error{Kind: imaging.KindUnavailable, Err: context.Canceled}})
	v.onStatus = cancel // the user gives up while the poll is in flight
	s, err := imaging.NewService("", v)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Generate(ctx, "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate() error = %v, want context.Canceled", err)
	}
	if got := imaging.KindOf(err); got == imaging.KindTimeout || got == imaging.KindUnavailable {
		t.Errorf("KindOf(%v) = %v, want neither timeout nor the poll's own error", err, got)
	}
	if got, want := v.Polls(), 1; got != want {
		t.Errorf("vendor saw %d polls, want %d", got, want)
	}
}

func TestWaitResumed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		down        time.Duration // between submission and the resumed Wait
		finishAfter time.Duration // 0: never finishes
		extendBy    time.Duration // WaitOptions.Deadline, from the resume
		wantWait    time.Duration
		wantKind    imaging.Kind // KindUnknown: success
		wantPolls   int          // -1: don't check
	}{
		{name: "keeps the original deadline", down: 8 * time.Minute, wantWait: 2 * time.Minute, wantKind: imaging.KindTimeout, wantPolls: -1},
		{name: "deadline already passed", down: 11 * time.Minute, wantWait: 0, wantKind: imaging.KindTimeout, wantPolls: 0},
		{name: "Deadline option extends", down: 8 * time.Minute, extendBy: 5 * time.Minute, wantWait: 5 * time.Minute, wantKind: imaging.KindTimeout, wantPolls: -1},
		{name: "Deadline before the original is ignored", down: 8 * time.Minute, extendBy: time.Minute, wantWait: 2 * time.Minute, wantKind: imaging.KindTimeout, wantPolls: -1},
		{name: "finished while down is fetched at once", down: 5 * time.Minute, finishAfter: time.Minute, wantWait: 0, wantPolls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				v := imagingtest.NewVendor("fake")
				v.Caps.PollDelay, v.Caps.PollInterval = 3*time.Second, 3*time.Second
				v.PollsToFinish = -1
				v.FinishAfter = tt.finishAfter
				if tt.finishAfter == 0 {
					v.Outcome = imagingtest.Never
				}
				s := newService(t, v)
				s.Timeout = 10 * time.Minute
				task, err := s.Submit(t.Context(), "", &imaging.Request{Prompt: "cat"})
				if err != nil {
					t.Fatalf("Submit() error = %v", err)
				}
				time.Sleep(tt.down) // the bot is down

				// A new process resumes from the stored task.
				resumed := &imaging.Task{Vendor: task.Vendor, ID: task.ID, Model: task.Model, SubmittedAt: task.SubmittedAt}
				s2 := newService(t, v)
				s2.Timeout = 10 * time.Minute
				var o imaging.WaitOptions
				if tt.extendBy > 0 {
					o.Deadline = time.Now().Add(tt.extendBy)
				}
				start := time.Now()
				res, err := s2.Wait(t.Context(), resumed, o)
				if got, want := time.Since(start), tt.wantWait; got != want {
					t.Errorf("resumed Wait took %v, want %v", got, want)
				}
				if tt.wantPolls >= 0 {
					if got, want := v.Polls(), tt.wantPolls; got != want {
						t.Errorf("vendor saw %d polls, want %d", got, want)
					}
				}
				if tt.wantKind == imaging.KindUnknown {
					if err != nil {
						t.Fatalf("resumed Wait() error = %v", err)
					}
					if !res.SubmittedAt.Equal(task.SubmittedAt) {
						t.Errorf("SubmittedAt = %v, want the original %v", res.SubmittedAt, task.SubmittedAt)
					}
					return
				}
				if got, want := imaging.KindOf(err), tt.wantKind; got != want {
					t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
				}
			})
		})
	}
}

func TestWaitPoke(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := imagingtest.NewVendor("fake")
		v.Caps.PollDelay, v.Caps.PollInterval = time.Minute, time.Minute
		v.PollsToFinish = -1
		s := newService(t, v)
		task, err := s.Submit(t.Context(), "", &imaging.Request{Prompt: "cat"})
		if err != nil {
			t.Fatalf("Submit() error = %v", err)
		}
		poke := make(chan struct{})
		type outcome struct {
			res *imaging.Result
			err error
		}
		done := make(chan outcome, 1)
		start := time.Now()
		go func() {
			res, err := s.Wait(t.Context(), task, imaging.WaitOptions{Poke: poke})
			done <- outcome{res, err}
		}()

		time.Sleep(5 * time.Second)
		poke <- struct{}{} // a callback before the job is done: one poll, keep waiting
		synctest.Wait()
		if got, want := v.Polls(), 1; got != want {
			t.Fatalf("after the first poke the vendor saw %d polls, want %d", got, want)
		}

		time.Sleep(5 * time.Second)
		v.Finish(task.ID)
		poke <- struct{}{}
		o := <-done
		if o.err != nil {
			t.Fatalf("Wait() error = %v", o.err)
		}
		if got, want := time.Since(start), 10*time.Second; got != want {
			t.Errorf("Wait returned after %v, want %v (at the second poke, not the 1m schedule)", got, want)
		}
		if got, want := o.res.Polls, 2; got != want {
			t.Errorf("Polls = %d, want %d", got, want)
		}
	})
}

func TestWaitProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := imagingtest.NewVendor("fake")
		// The fake reports 10% more per poll up to 90%, so polls 10 and
		// 11 repeat 90% and must not be reported.
		v.PollsToFinish = 12
		s := newService(t, v)
		var got []imaging.Progress
		res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{
			Progress: func(p imaging.Progress) { got = append(got, p) },
		})
		if err != nil {
			t.Fatalf("Generate() error = %v", err)
		}
		if got, want := res.Polls, 12; got != want {
			t.Fatalf("Polls = %d, want %d", got, want)
		}
		if len(got) != 10 {
			t.Fatalf("Progress called %d times (%v), want 10: once per change", len(got), got)
		}
		for i, p := range got {
			if p.TaskID != res.TaskID {
				t.Errorf("progress %d TaskID = %q, want %q", i, p.TaskID, res.TaskID)
			}
			if i == 0 {
				continue
			}
			prev := got[i-1]
			if p.State == prev.State && p.Percent == prev.Percent {
				t.Errorf("progress %d repeats %v", i, p)
			}
			if p.Elapsed <= prev.Elapsed {
				t.Errorf("progress %d Elapsed %v not after %v", i, p.Elapsed, prev.Elapsed)
			}
		}
		if first := got[0]; first.State != imaging.StateRunning || first.Percent != 10 {
			t.Errorf("first progress = %v, want running 10%%", first)
		}
		if last := got[len(got)-1]; last.State != imaging.StateSucceeded || last.Percent != 100 {
			t.Errorf("last progress = %v, want succeeded 100%%", last)
		}
	})
}

func TestProgressString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    imaging.Progress
		want string
	}{
		{imaging.Progress{State: imaging.StateRunning, Percent: 40, Elapsed: 5400 * time.Millisecond}, "running 5s 40%"},
		{imaging.Progress{State: imaging.StateQueued, Percent: -1, Elapsed: 2 * time.Second}, "queued 2s"},
		{imaging.Progress{State: imaging.State(9), Percent: -1}, "state(9) 0s"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	apixo := imagingtest.PermissiveCaps("APIXO")
	apixo.AspectRatios = []string{"1:1", "4:3", "3:4", "9:16", "16:9", "21:9"}
	img := imaging.Image{URL: "https://example.com/cat.png"}
	tests := []struct {
		name    string
		req     imaging.Request
		want    imaging.Request
		wantErr string // in the KindInvalid message
	}{
		{name: "text-to-image defaults",
			req:  imaging.Request{Prompt: "  cat \n"},
			want: imaging.Request{Prompt: "cat", Model: imaging.ModelPro, Format: imaging.FormatPNG, AspectRatio: "1:1"}},
		{name: "edit leaves the ratio to the vendor",
			req:  imaging.Request{Prompt: "make it blue", Images: []imaging.Image{img}},
			want: imaging.Request{Prompt: "make it blue", Model: imaging.ModelPro, Format: imaging.FormatPNG, Images: []imaging.Image{img}}},
		{name: "explicit options kept",
			req:  imaging.Request{Prompt: "cat", Model: imaging.ModelMax, Format: imaging.FormatJPEG, AspectRatio: "16:9"},
			want: imaging.Request{Prompt: "cat", Model: imaging.ModelMax, Format: imaging.FormatJPEG, AspectRatio: "16:9"}},
		{name: "unsupported ratio refused with the list",
			req:     imaging.Request{Prompt: "cat", AspectRatio: "5:4"},
			wantErr: "APIXO doesn't support the aspect ratio 5:4; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."},
		{name: "whitespace prompt refused",
			req:     imaging.Request{Prompt: " \t "},
			wantErr: "prompt is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := imagingtest.NewVendor("apixo")
			v.Caps = apixo
			s := newService(t, v)
			in := tt.req
			in.Images = slices.Clone(tt.req.Images)
			gotV, got, err := s.Prepare("apixo", &in)
			if !reflect.DeepEqual(in, tt.req) {
				t.Errorf("Prepare modified its input: %+v, was %+v", in, tt.req)
			}
			if tt.wantErr != "" {
				e, ok := errors.AsType[*imaging.Error](err)
				if !ok || e.Kind != imaging.KindInvalid {
					t.Fatalf("Prepare() error = %v, want KindInvalid", err)
				}
				if !strings.Contains(imaging.UserMessage(err), tt.wantErr) {
					t.Errorf("UserMessage() = %q, want it to contain %q", imaging.UserMessage(err), tt.wantErr)
				}
				if gotV != nil || got != nil {
					t.Errorf("Prepare() returned a vendor and request with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare() error = %v", err)
			}
			if gotV != v {
				t.Errorf("Prepare() vendor = %v, want the apixo fake", gotV)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Prepare() request = %+v, want %+v", *got, tt.want)
			}
			if len(got.Images) > 0 {
				got.Images[0] = imaging.Image{URL: "https://changed.example/"}
				if in.Images[0].URL != img.URL {
					t.Errorf("the prepared request shares its Images slice with the input")
				}
			}
		})
	}
}

// fakeHost records the images it is asked to host.
type fakeHost struct {
	url string
	err error

	mu    sync.Mutex
	calls []imaging.Image
}

func (h *fakeHost) Host(ctx context.Context, data []byte, contentType string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, imaging.Image{Data: data, ContentType: contentType})
	return h.url, h.err
}

func TestSubmitImageBytes(t *testing.T) {
	t.Parallel()
	png := imagingtest.PNG(2)
	bytesImage := imaging.Image{Data: png, ContentType: "image/png"}
	urlImage := imaging.Image{URL: "https://example.com/cat.png"}
	const hosted = "https://bot.example/img/abc.png"
	tests := []struct {
		name       string
		imageBytes bool // the vendor takes bytes itself
		host       *fakeHost
		image      imaging.Image
		wantKind   imaging.Kind // KindUnknown: success
		wantSent   imaging.Image
		wantHosted int
	}{
		{name: "URL-only vendor, bytes hosted", host: &fakeHost{url: hosted}, image: bytesImage,
			wantSent: imaging.Image{URL: hosted}, wantHosted: 1},
		{name: "URL-only vendor, link passed through", host: &fakeHost{url: hosted}, image: urlImage,
			wantSent: urlImage},
		{name: "URL-only vendor without a host refuses bytes", image: bytesImage, wantKind: imaging.KindUnsupported},
		{name: "URL-only vendor, host fails", host: &fakeHost{err: errors.New("disk full")}, image: bytesImage,
			wantKind: imaging.KindUnknown, wantHosted: 1},
		{name: "bytes vendor gets the bytes", imageBytes: true, host: &fakeHost{url: hosted}, image: bytesImage,
			wantSent: bytesImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := imagingtest.NewVendor("urlonly")
			v.Caps.ImageBytes = tt.imageBytes
			s := newService(t, v)
			if tt.host != nil {
				s.Host = tt.host
			}
			req := &imaging.Request{Prompt: "make it blue", Images: []imaging.Image{tt.image}}
			task, err := s.Submit(t.Context(), "", req)
			if tt.host != nil {
				if got, want := len(tt.host.calls), tt.wantHosted; got != want {
					t.Errorf("Host called %d times, want %d", got, want)
				} else if want > 0 && (!bytes.Equal(tt.host.calls[0].Data, png) || tt.host.calls[0].ContentType != "image/png") {
					t.Errorf("Host got %d bytes of %q, want the PNG's %d bytes of image/png",
						len(tt.host.calls[0].Data), tt.host.calls[0].ContentType, len(png))
				}
			}
			if req.Images[0].URL != tt.image.URL || !bytes.Equal(req.Images[0].Data, tt.image.Data) {
				t.Errorf("Submit modified the caller's image: %+v", req.Images[0])
			}
			subs := v.Submits()
			if tt.wantSent.URL == "" && tt.wantSent.Data == nil {
				if err == nil {
					t.Fatalf("Submit() = %+v, want an error", task)
				}
				if tt.wantKind != imaging.KindUnknown {
					if got, want := imaging.KindOf(err), tt.wantKind; got != want {
						t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
					}
				}
				if len(subs) != 0 {
					t.Errorf("vendor got %d submits, want none", len(subs))
				}
				if tt.wantKind == imaging.KindUnsupported {
					if msg := imaging.UserMessage(err); !strings.Contains(msg, "PUBLIC_URL") {
						t.Errorf("UserMessage() = %q, want it to say how to fix it (PUBLIC_URL)", msg)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			if len(subs) != 1 || len(subs[0].Images) != 1 {
				t.Fatalf("vendor got %+v, want one submit with one image", subs)
			}
			got := subs[0].Images[0]
			if got.URL != tt.wantSent.URL || !bytes.Equal(got.Data, tt.wantSent.Data) {
				t.Errorf("vendor got image %q/%d bytes, want %q/%d bytes", got.URL, len(got.Data), tt.wantSent.URL, len(tt.wantSent.Data))
			}
		})
	}
}

func TestSubmitVendorError(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.SubmitErrs = []error{&imaging.Error{Kind: imaging.KindCredits, Vendor: "Fake"}}
	s := newService(t, v)
	_, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
	if got, want := imaging.KindOf(err), imaging.KindCredits; got != want {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
	}
	if got := v.Polls(); got != 0 {
		t.Errorf("vendor saw %d polls after a failed submit, want 0", got)
	}
}

func TestSubmitSeedUnsupported(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.Caps.Seed = false
	s := newService(t, v)
	seed := int64(7)
	_, err := s.Submit(t.Context(), "", &imaging.Request{Prompt: "cat", Seed: &seed})
	if got, want := imaging.KindOf(err), imaging.KindInvalid; got != want {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
	}
	if got := len(v.Submits()); got != 0 {
		t.Errorf("vendor got %d submits, want 0", got)
	}
}

func TestVendorLookup(t *testing.T) {
	t.Parallel()
	a, b := imagingtest.NewVendor("poyo"), imagingtest.NewVendor("vtrix")
	s, err := imaging.NewService("vtrix", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Vendors(), []string{"vtrix", "poyo"}; !slices.Equal(got, want) {
		t.Errorf("Vendors() = %v, want %v", got, want)
	}
	if got, want := s.Default(), "vtrix"; got != want {
		t.Errorf("Default() = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		want imaging.Vendor
	}{
		{"", b},
		{"poyo", a},
		{"PoYo", a},
	}
	for _, tt := range tests {
		got, err := s.Vendor(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("Vendor(%q) = %v, %v; want %s", tt.name, got, err, tt.want.Name())
		}
	}

	_, err = s.Submit(t.Context(), "midjourney", &imaging.Request{Prompt: "cat"})
	if got, want := imaging.KindOf(err), imaging.KindInvalid; got != want {
		t.Fatalf("KindOf(%v) = %v, want %v", err, got, want)
	}
	if got, want := imaging.UserMessage(err), `There is no vendor called "midjourney" here; choose one of vtrix, poyo.`; got != want {
		t.Errorf("UserMessage() = %q, want %q", got, want)
	}
	if n := len(a.Submits()) + len(b.Submits()); n != 0 {
		t.Errorf("%d submits, want none", n)
	}
	_, err = s.Wait(t.Context(), &imaging.Task{Vendor: "gone", ID: "x"}, imaging.WaitOptions{})
	if got, want := imaging.KindOf(err), imaging.KindInvalid; got != want {
		t.Errorf("Wait on an unconfigured vendor: KindOf(%v) = %v, want %v", err, got, want)
	}
}

func TestNewService(t *testing.T) {
	t.Parallel()
	a, b := imagingtest.NewVendor("poyo"), imagingtest.NewVendor("toapis")
	tests := []struct {
		name        string
		def         string
		vendors     []imaging.Vendor
		wantDefault string
		wantErr     []string // all in the error
	}{
		{name: "no vendors", wantErr: []string{"no vendor"}},
		{name: "duplicate", vendors: []imaging.Vendor{a, imagingtest.NewVendor("poyo")}, wantErr: []string{`"poyo"`, "twice"}},
		{name: "unknown default", def: "vtrix", vendors: []imaging.Vendor{a, b}, wantErr: []string{`"vtrix"`, "poyo, toapis"}},
		{name: "first is the default", vendors: []imaging.Vendor{b, a}, wantDefault: "toapis"},
		{name: "named default", def: "poyo", vendors: []imaging.Vendor{b, a}, wantDefault: "poyo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := imaging.NewService(tt.def, tt.vendors...)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("NewService() = %v, want an error", s.Vendors())
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("NewService() error = %q, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("NewService() error = %v", err)
			}
			if got := s.Default(); got != tt.wantDefault {
				t.Errorf("Default() = %q, want %q", got, tt.wantDefault)
			}
		})
	}
}

// sleepRecorder is a Service sleep that records the waits instead of
// sleeping.
type sleepRecorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) all() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sleeps)
}

// reply is one scripted answer of the download server.
type reply struct {
	status     int
	retryAfter string
	body       []byte
	chunked    bool // send without a Content-Length
	drop       bool // close the connection without answering
	hold       bool // declare 1 GiB, send body, then wait for the client to hang up
}

// downloadServer serves scripted replies in order; the last repeats.
type downloadServer struct {
	*httptest.Server
	replies []reply

	mu sync.Mutex
	n  int
}

func newDownloadServer(t *testing.T, replies ...reply) *downloadServer {
	ds := &downloadServer{replies: replies}
	ds.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		rp := ds.replies[min(ds.n, len(ds.replies)-1)]
		ds.n++
		ds.mu.Unlock()
		switch {
		case rp.drop:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case rp.hold:
			w.Header().Set("Content-Length", "1073741824")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(rp.body)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		if rp.retryAfter != "" {
			w.Header().Set("Retry-After", rp.retryAfter)
		}
		if rp.chunked {
			w.WriteHeader(rp.status)
			w.(http.Flusher).Flush()
		} else {
			w.WriteHeader(rp.status)
		}
		_, _ = w.Write(rp.body)
	}))
	t.Cleanup(ds.Close)
	return ds
}

func (ds *downloadServer) requests() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.n
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct {
	base http.RoundTripper
	read *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, read: c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	read *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read.Add(int64(n))
	return n, err
}

type downloadRun struct {
	res      *imaging.Result
	err      error
	sleeps   []time.Duration
	requests int
	read     int64
	took     time.Duration
}

// download runs a job whose vendor names a result on ds at path, with
// download retries recorded instead of slept.
func download(t *testing.T, ds *downloadServer, path string, maxBytes int64) downloadRun {
	t.Helper()
	v := newScriptVendor(statusReply{st: succeeded(ds.URL + path)})
	s, err := imaging.NewService("", v)
	if err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	s.Download = &http.Client{Transport: countingTransport{base: ds.Client().Transport, read: &read}}
	s.MaxResultBytes = maxBytes
	rec := &sleepRecorder{}
	imaging.SetClock(s, time.Now, rec.sleep)
	start := time.Now()
	res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
	return downloadRun{res: res, err: err, sleeps: rec.all(), requests: ds.requests(), read: read.Load(), took: time.Since(start)}
}

func TestDownload(t *testing.T) {
	t.Parallel()
	png, jpg := imagingtest.PNG(4), imagingtest.JPEG(4)
	ok := reply{status: http.StatusOK, body: png}
	big := append(slices.Clone(png), make([]byte, 4096)...)
	html := []byte("<!DOCTYPE html><html><body>This link has expired.</body></html>")
	tests := []struct {
		name         string
		replies      []reply
		max          int64
		wantType     string       // success: the content type
		wantKind     imaging.Kind // failure
		wantStatus   int
		wantRequests int
		wantSleeps   []time.Duration
		wantUnread   bool
	}{
		{name: "200", replies: []reply{ok}, wantType: "image/png", wantRequests: 1},
		{name: "JPEG", replies: []reply{{status: http.StatusOK, body: jpg}}, wantType: "image/jpeg", wantRequests: 1},
		{name: "503 then 200 is retried", replies: []reply{{status: 503}, ok},
			wantType: "image/png", wantRequests: 2, wantSleeps: []time.Duration{500 * time.Millisecond}},
		{name: "429 then 200 is retried", replies: []reply{{status: 429}, ok},
			wantType: "image/png", wantRequests: 2, wantSleeps: []time.Duration{500 * time.Millisecond}},
		{name: "dropped connection is retried", replies: []reply{{drop: true}, {drop: true}, ok},
			wantType: "image/png", wantRequests: 3, wantSleeps: []time.Duration{500 * time.Millisecond, time.Second}},
		{name: "5xx gives up after 5 tries with backoff", replies: []reply{{status: 502}},
			wantKind: imaging.KindUnavailable, wantStatus: 502, wantRequests: 5,
			wantSleeps: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "429 exhausted is rate limited", replies: []reply{{status: 429}},
			wantKind: imaging.KindRateLimited, wantStatus: 429, wantRequests: 5,
			wantSleeps: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "404 is not retried", replies: []reply{{status: 404}, ok},
			wantKind: imaging.KindUnavailable, wantStatus: 404, wantRequests: 1},
		{name: "403 expired link is not retried", replies: []reply{{status: 403}, ok},
			wantKind: imaging.KindUnavailable, wantStatus: 403, wantRequests: 1},
		{name: "at the size limit", replies: []reply{ok}, max: int64(len(png)), wantType: "image/png", wantRequests: 1},
		{name: "one byte over the limit", replies: []reply{ok, ok}, max: int64(len(png)) - 1,
			wantKind: imaging.KindUnavailable, wantRequests: 1},
		{name: "streamed body over the limit", replies: []reply{{status: http.StatusOK, body: big, chunked: true}, ok}, max: 1024,
			wantKind: imaging.KindUnavailable, wantRequests: 1},
		{name: "Content-Length over the limit refused unread", replies: []reply{{hold: true, body: png[:16]}, ok}, max: 1024,
			wantKind: imaging.KindUnavailable, wantRequests: 1, wantUnread: true},
		{name: "HTML is not an image", replies: []reply{{status: http.StatusOK, body: html}, ok},
			wantKind: imaging.KindUnavailable, wantRequests: 1},
		{name: "empty body is not an image", replies: []reply{{status: http.StatusOK}, ok},
			wantKind: imaging.KindUnavailable, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ds := newDownloadServer(t, tt.replies...)
			r := download(t, ds, "/out/result.png?sig=s3cret", tt.max)
			if got, want := r.requests, tt.wantRequests; got != want {
				t.Errorf("server got %d requests, want %d", got, want)
			}
			if got, want := r.sleeps, tt.wantSleeps; !slices.Equal(got, want) {
				t.Errorf("slept %v between tries, want %v", got, want)
			}
			if tt.wantUnread {
				if r.read != 0 {
					t.Errorf("read %d body bytes, want none", r.read)
				}
				if r.took > 5*time.Second {
					t.Errorf("took %v, want the oversized body refused at once", r.took)
				}
			}
			if tt.wantType != "" {
				if r.err != nil {
					t.Fatalf("Generate() error = %v", r.err)
				}
				if got, want := r.res.ContentType, tt.wantType; got != want {
					t.Errorf("ContentType = %q, want %q", got, want)
				}
				if want := tt.replies[len(tt.replies)-1].body; !bytes.Equal(r.res.Image, want) {
					t.Errorf("Image = %d bytes, want the served %d bytes", len(r.res.Image), len(want))
				}
				if got, want := r.res.SourceURL, ds.URL+"/out/result.png?sig=s3cret"; got != want {
					t.Errorf("SourceURL = %q, want %q", got, want)
				}
				return
			}
			e, ok := errors.AsType[*imaging.Error](r.err)
			if !ok {
				t.Fatalf("Generate() error = %T %v, want *imaging.Error", r.err, r.err)
			}
			if got, want := e.Kind, tt.wantKind; got != want {
				t.Errorf("Kind = %v, want %v (%v)", got, want, e)
			}
			if got, want := e.HTTPStatus, tt.wantStatus; got != want {
				t.Errorf("HTTPStatus = %d, want %d", got, want)
			}
			if got, want := e.Vendor, "Script"; got != want {
				t.Errorf("Vendor = %q, want %q", got, want)
			}
			for _, s := range []string{r.err.Error(), imaging.UserMessage(r.err)} {
				if strings.Contains(s, "s3cret") || strings.Contains(s, ds.URL) {
					t.Errorf("error text %q leaks the result URL", s)
				}
			}
		})
	}
}

func TestDownloadRefusesNonHTTP(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"file:///etc/passwd", "ftp://cdn.example/a.png", "data:image/png;base64,AAAA", ""} {
		t.Run(url, func(t *testing.T) {
			t.Parallel()
			v := newScriptVendor(statusReply{st: succeeded(url)})
			s, err := imaging.NewService("", v)
			if err != nil {
				t.Fatal(err)
			}
			var fetched atomic.Int32
			s.Download = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				fetched.Add(1)
				return nil, errors.New("must not fetch")
			})}
			_, err = s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
			if got, want := imaging.KindOf(err), imaging.KindUnavailable; got != want {
				t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
			}
			if n := fetched.Load(); n != 0 {
				t.Errorf("fetched %d times, want 0", n)
			}
		})
	}
}

func TestDownloadCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	ds := newDownloadServer(t, reply{status: 503})
	v := newScriptVendor(statusReply{st: succeeded(ds.URL + "/a.png")})
	s, err := imaging.NewService("", v)
	if err != nil {
		t.Fatal(err)
	}
	s.Download = ds.Client()
	ctx, cancel := context.WithCancel(t.Context())
	imaging.SetClock(s, nil, func(ctx context.Context, d time.Duration) error {
		cancel() // the user gives up during the first backoff
		return ctx.Err()
	})
	_, err = s.Generate(ctx, "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate() error = %v, want context.Canceled", err)
	}
	if got, want := ds.requests(), 1; got != want {
		t.Errorf("server got %d requests, want %d", got, want)
	}
}

func TestBugDownloadIgnoresRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		replies    []reply
		wantSleeps []time.Duration
		wantOK     bool
	}{
		{name: "429 with Retry-After then 200", replies: []reply{{status: 429, retryAfter: "7"}, {status: http.StatusOK, body: imagingtest.PNG(1)}},
			wantSleeps: []time.Duration{7 * time.Second}, wantOK: true},
		{name: "503 with Retry-After then 200", replies: []reply{{status: 503, retryAfter: "3"}, {status: http.StatusOK, body: imagingtest.PNG(1)}},
			wantSleeps: []time.Duration{3 * time.Second}, wantOK: true},
		{name: "429 with Retry-After exhausted", replies: []reply{{status: 429, retryAfter: "7"}},
			wantSleeps: []time.Duration{7 * time.Second, 7 * time.Second, 7 * time.Second, 7 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := download(t, newDownloadServer(t, tt.replies...), "/a.png", 0)
			if got, want := r.sleeps, tt.wantSleeps; !slices.Equal(got, want) {
				t.Errorf("slept %v between tries, want %v (Retry-After)", got, want)
			}
			if tt.wantOK {
				if r.err != nil {
					t.Errorf("Generate() error = %v", r.err)
				}
				return
			}
			if got, want := imaging.RetryAfterOf(r.err), 7*time.Second; got != want {
				t.Errorf("RetryAfterOf(%v) = %v, want %v", r.err, got, want)
			}
			if got, want := imaging.UserMessage(r.err), "try again in 7s"; !strings.Contains(got, want) {
				t.Errorf("UserMessage() = %q, want it to contain %q", got, want)
			}
		})
	}
}
