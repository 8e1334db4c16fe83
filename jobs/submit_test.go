package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

func TestSubmitDeliversToThePlatformsReporter(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		m, discord := newManager(t, newService(t, v), st)
		slack := newRecorder()
		t.Cleanup(func() { slack.checkNoOverlap(t) })
		m.Register("slack", slack)
		obs := new(counter)
		m.Metrics = obs
		start(t, m)

		j := newJob("u1", "a red fox")
		j.Platform, j.User, j.Channel = "slack", "slack:T1/U1", "slack:T1/C1"
		seed := int64(42)
		j.Request.Seed = &seed
		a := mustSubmit(t, m, j)
		if a.JobID == "" || a.Position != 0 {
			t.Errorf("Admission = %+v, want an id and position 0", a)
		}
		waitFinished(t, slack, a.JobID)
		waitIdle(t, m)

		if cs := discord.all(""); len(cs) != 0 {
			t.Errorf("discord reporter got calls for a slack job:%s", fmtCalls(cs))
		}
		ds := slack.of(a.JobID, "deliver")
		if len(ds) != 1 {
			t.Fatalf("Deliver calls = %d, want 1:%s", len(ds), fmtCalls(slack.of(a.JobID, "")))
		}
		if !bytes.Equal(ds[0].Image, v.ResultImage()) {
			t.Errorf("delivered %d bytes, not the vendor's %d-byte image", len(ds[0].Image), len(v.ResultImage()))
		}
		if ds[0].State != jobs.Delivering || ds[0].Attempts != 1 {
			t.Errorf("during Deliver: state %s attempts %d, want delivering 1", ds[0].State, ds[0].Attempts)
		}
		if got := slack.of(a.JobID, "fail"); len(got) != 0 {
			t.Errorf("Fail called:%s", fmtCalls(got))
		}
		if ph := slack.phases(a.JobID); len(ph) < 2 || ph[0] != jobs.Starting || ph[len(ph)-1] != jobs.Generating {
			t.Errorf("progress phases = %v, want starting then generating", ph)
		}

		got := mustGet(t, st, a.JobID)
		if got.State != jobs.Delivered || !got.Counted {
			t.Errorf("state %s counted %v, want delivered and counted", got.State, got.Counted)
		}
		if got.Vendor != "fake" || got.TaskID != "fake-task-1" || got.Platform != "slack" || string(got.Target) != string(j.Target) {
			t.Errorf("job = vendor %q task %q platform %q target %s", got.Vendor, got.TaskID, got.Platform, got.Target)
		}
		if got.Cost == nil || *got.Cost != (imaging.Cost{Amount: 0.04, Unit: "USD"}) {
			t.Errorf("Cost = %v, want $0.04", got.Cost)
		}
		if got.Seed == nil || *got.Seed != 42 {
			t.Errorf("Seed = %v, want 42", got.Seed)
		}
		if want := "http://fake.fake.invalid/result/fake-task-1.png"; got.ResultURL != want {
			t.Errorf("ResultURL = %q, want %q", got.ResultURL, want)
		}
		if got.ContentType != "image/png" || got.FinishedAt.IsZero() || got.SubmittedAt.IsZero() || got.Attempts != 1 || got.Error != "" {
			t.Errorf("job = content type %q finished %v submitted %v attempts %d error %q", got.ContentType, got.FinishedAt, got.SubmittedAt, got.Attempts, got.Error)
		}
		if n := len(v.Submits()); n != 1 {
			t.Errorf("vendor submits = %d, want 1", n)
		}
		if s, f := obs.submitted.Load(), obs.finished.Load(); s != 1 || f != 1 {
			t.Errorf("Observer saw %d submitted, %d finished; want 1, 1", s, f)
		}
	})
}

func TestSubmitRecordsBeforeAnyVendorIO(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		entered, release := make(chan struct{}, 1), make(chan struct{})
		v.SubmitHook = func(ctx context.Context, _ *imaging.Request) error {
			entered <- struct{}{}
			<-release
			return nil
		}
		m, rec := newManager(t, newService(t, v), st)
		start(t, m)

		a := mustSubmit(t, m, newJob("u1", "a fox"))
		// Submit has returned: the job is on record although the vendor has
		// not been reached (or is still being reached).
		got := mustGet(t, st, a.JobID)
		if got.State != jobs.Pending && got.State != jobs.Submitting {
			t.Errorf("state right after Submit = %s, want pending or submitting", got.State)
		}
		if got.CreatedAt.IsZero() || got.User != "discord:u1" || got.Vendor != "fake" {
			t.Errorf("recorded job = %+v", got)
		}
		<-entered
		if n := len(v.Submits()); n != 0 {
			t.Errorf("vendor accepted %d before the hook returned", n)
		}
		if got := mustGet(t, st, a.JobID); got.State != jobs.Submitting {
			t.Errorf("state during the vendor submit = %s, want submitting", got.State)
		}
		close(release)
		waitFinished(t, rec, a.JobID)
		waitState(t, st, a.JobID, jobs.Delivered)
	})
}

func TestSubmitBeforeStartIsClosed(t *testing.T) {
	v := fakeVendor()
	m, _ := newManager(t, newService(t, v), jobs.NewMemStore())
	_, err := m.Submit(context.Background(), newJob("u1", "a fox"))
	if !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("Submit before Start: err = %v, want ErrClosed", err)
	}
	if msg := jobs.UserMessage(err); !strings.Contains(msg, "restarting") {
		t.Errorf("UserMessage = %q", msg)
	}
}

func TestSubmitAfterRunReturnsIsClosed(t *testing.T) {
	st := jobs.NewMemStore()
	m, _ := newManager(t, newService(t, fakeVendor()), st)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	eventually(t, 5*time.Second, func() bool {
		_, err := m.Submit(context.Background(), newJob("u1", "warm up"))
		return err == nil
	}, "Run to open Submit")
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	j := newJob("u1", "too late")
	j.ID = "too-late"
	if _, err := m.Submit(context.Background(), j); !errors.Is(err, jobs.ErrClosed) {
		t.Fatalf("Submit after Run returned: err = %v, want ErrClosed", err)
	}
	if _, err := st.Get(context.Background(), "too-late"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("refused job was stored: %v", err)
	}
}

func TestSubmitAfterStartContextEndsIsClosed(t *testing.T) {
	st := jobs.NewMemStore()
	m, _ := newManager(t, newService(t, fakeVendor()), st)
	cancel := start(t, m)
	cancel()
	m.Wait()
	j := newJob("u1", "after shutdown")
	j.ID = "after-shutdown"
	a, err := m.Submit(context.Background(), j)
	if !errors.Is(err, jobs.ErrClosed) {
		t.Errorf("Submit after the Start ctx ended = %+v, %v; want ErrClosed", a, err)
	}
	if _, err := st.Get(context.Background(), "after-shutdown"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("job submitted after shutdown was recorded: %v", err)
	}
}

func TestSubmitInvalidRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		v.Caps.Models = []imaging.Model{imaging.ModelPro}
		m, rec := newManager(t, newService(t, v), st)
		// One token: an invalid request must not spend it.
		m.Limiter = ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour})
		start(t, m)

		for _, tc := range []struct {
			name   string
			edit   func(j *jobs.Job)
			inText string
		}{
			{"model", func(j *jobs.Job) { j.Request.Model = imaging.ModelMax }, "doesn't offer the max model"},
			{"empty prompt", func(j *jobs.Job) { j.Request.Prompt = "  " }, "prompt is empty"},
			{"aspect", func(j *jobs.Job) { j.Request.AspectRatio = "7:1" }, "aspect ratio 7:1"},
			{"vendor", func(j *jobs.Job) { j.Vendor = "nosuch" }, `no vendor called "nosuch"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				j := newJob("u1", "a fox")
				j.ID = "invalid-" + strings.ReplaceAll(tc.name, " ", "-")
				tc.edit(j)
				a, err := m.Submit(context.Background(), j)
				ie, ok := errors.AsType[*imaging.Error](err)
				if !ok || ie.Kind != imaging.KindInvalid {
					t.Fatalf("Submit = %+v, %v; want a KindInvalid *imaging.Error", a, err)
				}
				if msg := jobs.UserMessage(err); !strings.Contains(msg, tc.inText) {
					t.Errorf("UserMessage = %q, want it to mention %q", msg, tc.inText)
				}
				if _, err := st.Get(context.Background(), j.ID); !errors.Is(err, jobs.ErrNotFound) {
					t.Errorf("invalid job stored: Get = %v", err)
				}
			})
		}
		if open, err := st.Unfinished(context.Background()); err != nil || len(open) != 0 {
			t.Errorf("Unfinished = %d jobs, %v; want none", len(open), err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := len(v.Submits()); n != 0 {
			t.Errorf("vendor submits = %d, want 0", n)
		}
		if n := len(rec.all("")); n != 0 {
			t.Errorf("reporter calls for refused jobs:%s", fmtCalls(rec.all("")))
		}
		// The token is still there.
		a := mustSubmit(t, m, newJob("u1", "a valid fox"))
		waitFinished(t, rec, a.JobID)
	})
}

func TestSubmitRefusedByLimiter(t *testing.T) {
	st := jobs.NewMemStore()
	v := fakeVendor()
	m, rec := newManager(t, newService(t, v), st)
	m.Limiter = ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour, AllowedChannels: []string{"discord:chan"}})
	start(t, m)

	a := mustSubmit(t, m, newJob("u1", "first"))
	j := newJob("u1", "second")
	j.ID = "refused-rate"
	_, err := m.Submit(context.Background(), j)
	r, ok := errors.AsType[*ratelimit.Refusal](err)
	if !ok || r.Reason != ratelimit.ReasonRate {
		t.Fatalf("second Submit: err = %v, want a rate *ratelimit.Refusal", err)
	}
	if msg := jobs.UserMessage(err); msg != r.Message() || !strings.HasPrefix(msg, "You can make 1 image every hour. Your next one is free in ") {
		t.Errorf("UserMessage = %q (Refusal.Message %q)", msg, r.Message())
	}
	if _, err := st.Get(context.Background(), "refused-rate"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("refused job stored: %v", err)
	}

	j = newJob("u2", "elsewhere")
	j.Channel = "discord:other"
	_, err = m.Submit(context.Background(), j)
	if r, ok := errors.AsType[*ratelimit.Refusal](err); !ok || r.Reason != ratelimit.ReasonChannel {
		t.Fatalf("Submit in another channel: err = %v, want a channel refusal", err)
	}
	if msg := jobs.UserMessage(err); msg != "Image generation isn't enabled in this channel." {
		t.Errorf("UserMessage = %q", msg)
	}
	waitFinished(t, rec, a.JobID)
	waitIdle(t, m)
	if n := len(v.Submits()); n != 1 {
		t.Errorf("vendor submits = %d, want 1", n)
	}
}

func TestSubmitDuplicate(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		m, rec := newManager(t, newService(t, v), st)
		// Two tokens: the duplicate must give its token back, or the third
		// request is refused.
		m.Limiter = ratelimit.New(ratelimit.Config{Burst: 2, Per: time.Hour})
		start(t, m)

		j1 := newJob("u1", "first")
		j1.DedupeKey = "interaction-1"
		a1 := mustSubmit(t, m, j1)
		j2 := newJob("u1", "redelivered")
		j2.ID, j2.DedupeKey = "duplicate", "interaction-1"
		if _, err := m.Submit(context.Background(), j2); !errors.Is(err, jobs.ErrDuplicate) {
			t.Fatalf("repeated DedupeKey: err = %v, want ErrDuplicate", err)
		}
		if _, err := st.Get(context.Background(), "duplicate"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("duplicate stored: %v", err)
		}
		j3 := newJob("u1", "third")
		j3.DedupeKey = "interaction-2"
		a3 := mustSubmit(t, m, j3)
		waitFinished(t, rec, a1.JobID)
		waitFinished(t, rec, a3.JobID)
		waitIdle(t, m)
		if got := prompts(v.Submits()); len(got) != 2 {
			t.Errorf("vendor submits = %q, want first and third only", got)
		}
		if n := len(rec.of("duplicate", "")); n != 0 {
			t.Errorf("duplicate got %d reporter calls", n)
		}
	})
}

func TestDedupeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st1 := openBolt(t, dir)
	v := fakeVendor()
	m1, rec1 := newManager(t, newService(t, v), st1)
	stop := start(t, m1)
	j := newJob("u1", "once")
	j.DedupeKey = "slack-event-Ev1"
	a := mustSubmit(t, m1, j)
	waitFinished(t, rec1, a.JobID)
	waitIdle(t, m1)
	stop()
	m1.Wait()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openBolt(t, dir)
	m2, rec2 := newManager(t, newService(t, v), st2)
	start(t, m2)
	again := newJob("u1", "once")
	again.ID, again.DedupeKey = "again", "slack-event-Ev1"
	if _, err := m2.Submit(context.Background(), again); !errors.Is(err, jobs.ErrDuplicate) {
		t.Fatalf("DedupeKey after reopening the store: err = %v, want ErrDuplicate", err)
	}
	if _, err := st2.Get(context.Background(), "again"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("duplicate stored: %v", err)
	}
	if n := len(v.Submits()); n != 1 {
		t.Errorf("vendor submits = %d, want 1", n)
	}
	if n := len(rec2.all("")); n != 0 {
		t.Errorf("reporter calls after restart:%s", fmtCalls(rec2.all("")))
	}
}

func TestCounting(t *testing.T) {
	unavailable := &imaging.Error{Kind: imaging.KindUnavailable, Vendor: "fake", HTTPStatus: 503}
	for _, tc := range []struct {
		name      string
		setup     func(v *imagingtest.Vendor)
		counted   bool
		kind      imaging.Kind
		delivered bool
	}{
		{"vendor unavailable at submit", func(v *imagingtest.Vendor) { v.SubmitErrs = []error{unavailable} }, false, imaging.KindUnavailable, false},
		{"vendor rejects as invalid", func(v *imagingtest.Vendor) {
			v.SubmitErrs = []error{&imaging.Error{Kind: imaging.KindInvalid, Vendor: "fake", Message: "bad"}}
		}, false, imaging.KindInvalid, false},
		{"safety refusal at submit", func(v *imagingtest.Vendor) {
			v.SubmitErrs = []error{&imaging.Error{Kind: imaging.KindSafety, Vendor: "fake"}}
		}, true, imaging.KindSafety, false},
		{"safety failure after acceptance", func(v *imagingtest.Vendor) { v.Outcome = imagingtest.FailSafety }, true, imaging.KindSafety, false},
		{"generation failed after acceptance", func(v *imagingtest.Vendor) { v.Outcome = imagingtest.FailGeneric }, true, imaging.KindUnknown, false},
		{"delivered", func(*imagingtest.Vendor) {}, true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
				st := open(t)
				v := fakeVendor()
				tc.setup(v)
				m, rec := newManager(t, newService(t, v), st)
				m.Limiter = ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour, DailyQuota: 1})
				start(t, m)

				a := mustSubmit(t, m, newJob("u1", "first"))
				waitFinished(t, rec, a.JobID)
				waitIdle(t, m)
				got := mustGet(t, st, a.JobID)
				fails := rec.of(a.JobID, "fail")
				if tc.delivered {
					if got.State != jobs.Delivered || len(fails) != 0 {
						t.Fatalf("state %s, fails:%s", got.State, fmtCalls(fails))
					}
				} else {
					if got.State != jobs.Failed || len(fails) != 1 {
						t.Fatalf("state %s, want failed with one Fail call; calls:%s", got.State, fmtCalls(rec.of(a.JobID, "")))
					}
					if k := imaging.KindOf(fails[0].Err); k != tc.kind {
						t.Errorf("Fail cause kind = %v (%v), want %v", k, fails[0].Err, tc.kind)
					}
					if got.Error != fails[0].Msg || got.Error == "" || got.ErrorKind != tc.kind.String() {
						t.Errorf("stored error %q kind %q; Fail message %q", got.Error, got.ErrorKind, fails[0].Msg)
					}
					if n := len(rec.of(a.JobID, "deliver")); n != 0 {
						t.Errorf("failed job delivered %d times", n)
					}
				}
				if got.Counted != tc.counted {
					t.Errorf("Counted = %v, want %v", got.Counted, tc.counted)
				}
				// Burst 1 and a quota of 1: a second job is admitted only if
				// the first gave its token and unit back.
				b, err := m.Submit(context.Background(), newJob("u1", "second"))
				if tc.counted {
					if _, ok := errors.AsType[*ratelimit.Refusal](err); !ok {
						t.Errorf("second Submit after a counted job = %+v, %v; want a refusal", b, err)
					}
				} else if err != nil {
					t.Errorf("second Submit after an uncounted job: %v (token or quota not refunded)", err)
				} else {
					waitFinished(t, rec, b.JobID)
				}
			})
		})
	}
}
