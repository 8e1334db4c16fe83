package jobs_test

import (
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

func TestShutdownLeavesJobsRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		v.Outcome = imagingtest.Never
		m, rec := newManager(t, newService(t, v), st)
		m.VendorConcurrency = 1
		stop := start(t, m)

		running := mustSubmit(t, m, newJob("u1", "never finishes"))
		waitState(t, st, running.JobID, jobs.Submitted)
		queued := mustSubmit(t, m, newJob("u2", "waits for a slot"))
		if queued.Position != 1 {
			t.Errorf("queued Admission.Position = %d, want 1", queued.Position)
		}
		eventually(t, 5*time.Second, func() bool { return m.QueueLen() == 1 }, "the second job to queue")
		eventually(t, 5*time.Second, func() bool { return v.Polls() > 0 }, "a poll")

		stop()
		waitReturns(t, 2*time.Second, "Wait after cancel", m.Wait)

		got := mustGet(t, st, running.JobID)
		if got.State != jobs.Submitted || got.TaskID != "fake-task-1" || got.Error != "" || got.Counted {
			t.Errorf("running job after shutdown: state %s task %q error %q counted %v; want submitted with its task id", got.State, got.TaskID, got.Error, got.Counted)
		}
		if got := mustGet(t, st, queued.JobID); got.State != jobs.Pending || got.TaskID != "" {
			t.Errorf("queued job after shutdown: state %s task %q, want pending", got.State, got.TaskID)
		}
		if open, err := st.Unfinished(context.Background()); err != nil || len(open) != 2 {
			t.Errorf("Unfinished = %d, %v; want both jobs", len(open), err)
		}
		if cs := append(rec.all("fail"), rec.all("deliver")...); len(cs) != 0 {
			t.Errorf("shutdown reported to users:%s", fmtCalls(cs))
		}
		if n := len(v.Submits()); n != 1 {
			t.Errorf("vendor submits = %d, want 1", n)
		}
	})
}

// TestRestartResumesSubmittedJob runs a job until the vendor accepted it,
// shuts the bot down, and starts a new one on the same store: the job is
// polled and delivered, never submitted again.
func TestRestartResumesSubmittedJob(t *testing.T) {
	dir := t.TempDir()
	st1 := openBolt(t, dir)
	v1 := fakeVendor()
	v1.Outcome = imagingtest.Never
	m1, rec1 := newManager(t, newService(t, v1), st1)
	stop := start(t, m1)
	a := mustSubmit(t, m1, newJob("u1", "survives a restart"))
	waitState(t, st1, a.JobID, jobs.Submitted)
	stop()
	waitReturns(t, 2*time.Second, "Wait", m1.Wait)
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(rec1.all("fail")); n != 0 {
		t.Fatalf("shutdown failed the job:%s", fmtCalls(rec1.all("")))
	}

	// The new process: the vendor still knows the task (the in-memory fake
	// forgets it, so recreate it under the same id).
	v2 := fakeVendor()
	v2.Image = imagingtest.PNG(9)
	if id, err := v2.Submit(context.Background(), &imaging.Request{Prompt: "made before the restart"}); err != nil || id != "fake-task-1" {
		t.Fatalf("recreating the task: %q, %v", id, err)
	}
	st2 := openBolt(t, dir)
	m2, rec2 := newManager(t, newService(t, v2), st2)
	start(t, m2)
	waitFinished(t, rec2, a.JobID)
	waitIdle(t, m2)

	if n := len(v2.Submits()); n != 1 {
		t.Errorf("resumed job was submitted again: vendor submits = %d, want only the recreated one", n)
	}
	ds := okCalls(rec2.of(a.JobID, "deliver"))
	if len(ds) != 1 || string(ds[0].Image) != string(v2.ResultImage()) {
		t.Fatalf("deliveries after restart:%s", fmtCalls(rec2.of(a.JobID, "")))
	}
	if got := mustGet(t, st2, a.JobID); got.State != jobs.Delivered || !got.Counted || got.TaskID != "fake-task-1" {
		t.Errorf("job after restart: state %s counted %v task %q", got.State, got.Counted, got.TaskID)
	}
}

func TestRestartResumesEachState(t *testing.T) {
	type want struct {
		submits  int    // new vendor submits
		delivers int    // successful Deliver calls
		fail     error  // the Fail cause (errors.Is), nil for none
		msg      string // part of the Fail message
		attempts int    // Attempts during Deliver
		state    jobs.State
	}
	for _, tc := range []struct {
		name  string
		state jobs.State
		task  string // TaskID stored with the job
		want  want
	}{
		{"submitted", jobs.Submitted, "fake-task-1", want{submits: 0, delivers: 1, attempts: 1, state: jobs.Delivered}},
		{"submitting with task id", jobs.Submitting, "fake-task-1", want{submits: 0, delivers: 1, attempts: 1, state: jobs.Delivered}},
		{"submitting without task id", jobs.Submitting, "", want{submits: 0, fail: jobs.ErrMaybeSubmitted, msg: "may or may not have started it", state: jobs.Failed}},
		{"pending", jobs.Pending, "", want{submits: 1, delivers: 1, attempts: 1, state: jobs.Delivered}},
		{"delivering", jobs.Delivering, "fake-task-1", want{submits: 0, delivers: 1, attempts: 2, state: jobs.Delivered}},
		{"submitted but unknown to the vendor", jobs.Submitted, "fake-task-99", want{submits: 0, fail: imaging.KindNotFound, msg: "lost track of this job", state: jobs.Failed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st1 := openBolt(t, dir)
			now := time.Now()
			j := storedJob("job-1", "u1", tc.state, now.Add(-time.Second))
			j.TaskID = tc.task
			if tc.task != "" {
				j.SubmittedAt = now.Add(-time.Second)
			}
			if tc.state == jobs.Delivering {
				j.Attempts = 1
			}
			if err := st1.Create(context.Background(), j); err != nil {
				t.Fatal(err)
			}
			if err := st1.Close(); err != nil {
				t.Fatal(err)
			}

			v := fakeVendor()
			if _, err := v.Submit(context.Background(), &imaging.Request{Prompt: "before the restart"}); err != nil {
				t.Fatal(err)
			}
			st := openBolt(t, dir)
			m, rec := newManager(t, newService(t, v), st)
			start(t, m)
			waitFinished(t, rec, "job-1")
			waitIdle(t, m)

			if n := len(v.Submits()) - 1; n != tc.want.submits {
				t.Errorf("new vendor submits = %d, want %d", n, tc.want.submits)
			}
			ds := okCalls(rec.of("job-1", "deliver"))
			if len(ds) != tc.want.delivers {
				t.Errorf("deliveries = %d, want %d:%s", len(ds), tc.want.delivers, fmtCalls(rec.of("job-1", "")))
			}
			if len(ds) == 1 && ds[0].Attempts != tc.want.attempts {
				t.Errorf("Attempts during Deliver = %d, want %d", ds[0].Attempts, tc.want.attempts)
			}
			fs := rec.of("job-1", "fail")
			switch {
			case tc.want.fail == nil && len(fs) != 0:
				t.Errorf("unexpected Fail:%s", fmtCalls(fs))
			case tc.want.fail != nil && (len(fs) != 1 || !errors.Is(fs[0].Err, tc.want.fail) || !strings.Contains(fs[0].Msg, tc.want.msg)):
				t.Errorf("Fail calls = %s; want one for %v saying %q", fmtCalls(fs), tc.want.fail, tc.want.msg)
			}
			got := mustGet(t, st, "job-1")
			if got.State != tc.want.state {
				t.Errorf("state = %s, want %s", got.State, tc.want.state)
			}
			if tc.want.fail != nil && got.Error != fs[0].Msg {
				t.Errorf("stored error %q, Fail message %q", got.Error, fs[0].Msg)
			}
			if open, _ := st.Unfinished(context.Background()); len(open) != 0 {
				t.Errorf("%d jobs still unfinished", len(open))
			}
		})
	}
}

func TestRestartRestoresInFlight(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		v := fakeVendor()
		v.PollsToFinish = -1 // only Finish ends a task
		task, err := v.Submit(context.Background(), &imaging.Request{Prompt: "before the restart"})
		if err != nil {
			t.Fatal(err)
		}
		j := storedJob("resumed", "u1", jobs.Submitted, time.Now().Add(-time.Second))
		j.TaskID, j.SubmittedAt = task, time.Now().Add(-time.Second)
		if err := st.Create(context.Background(), j); err != nil {
			t.Fatal(err)
		}

		m, rec := newManager(t, newService(t, v), st)
		m.Limiter = ratelimit.New(ratelimit.Config{UserConcurrency: 1})
		start(t, m)

		_, err = m.Submit(context.Background(), newJob("u1", "while resumed runs"))
		r, ok := errors.AsType[*ratelimit.Refusal](err)
		if !ok || r.Reason != ratelimit.ReasonConcurrency {
			t.Fatalf("Submit while the resumed job runs: err = %v, want a concurrency refusal", err)
		}
		if msg := jobs.UserMessage(err); msg != "You already have an image in progress. Wait for it to finish." {
			t.Errorf("UserMessage = %q", msg)
		}
		other := mustSubmit(t, m, newJob("u2", "another user"))

		v.Finish(task)
		waitFinished(t, rec, "resumed")
		eventually(t, 5*time.Second, func() bool { return m.InFlight() == 1 }, "the resumed job to end")
		a := mustSubmit(t, m, newJob("u1", "after resumed finished"))
		eventually(t, 5*time.Second, func() bool { return len(v.Submits()) == 3 }, "both new jobs submitted")
		v.Finish("fake-task-2")
		v.Finish("fake-task-3")
		waitFinished(t, rec, other.JobID)
		waitFinished(t, rec, a.JobID)
	})
}

func TestRestartRestoresDailyQuota(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		st := open(t)
		// The manager's clock is fixed so that "today" cannot change under
		// the test.
		now := time.Now()
		midnight := now.UTC().Truncate(24 * time.Hour)
		for _, j := range []*jobs.Job{
			func() *jobs.Job { j := storedJob("u-today", "u", jobs.Delivered, now); j.Counted = true; return j }(),
			func() *jobs.Job { j := storedJob("s-safety", "s", jobs.Failed, now); j.Counted = true; return j }(),
			func() *jobs.Job { return storedJob("f-uncounted", "f", jobs.Failed, now) }(),
			func() *jobs.Job {
				j := storedJob("y-yesterday", "y", jobs.Delivered, midnight.Add(-time.Hour))
				j.Counted = true
				return j
			}(),
		} {
			if err := st.Create(context.Background(), j); err != nil {
				t.Fatal(err)
			}
		}
		v := fakeVendor()
		m, rec := newManager(t, newService(t, v), st)
		m.Limiter = ratelimit.New(ratelimit.Config{DailyQuota: 1})
		m.Now = func() time.Time { return now }
		start(t, m)

		for _, tc := range []struct {
			user    string
			refused bool
		}{{"u", true}, {"s", true}, {"f", false}, {"y", false}} {
			a, err := m.Submit(context.Background(), newJob(tc.user, "today's"))
			if !tc.refused {
				if err != nil {
					t.Errorf("user %s: %v, want admitted", tc.user, err)
				} else {
					waitFinished(t, rec, a.JobID)
				}
				continue
			}
			r, ok := errors.AsType[*ratelimit.Refusal](err)
			if !ok || r.Reason != ratelimit.ReasonDaily {
				t.Errorf("user %s: err = %v, want a daily refusal", tc.user, err)
				continue
			}
			if msg := jobs.UserMessage(err); !strings.HasPrefix(msg, "You've used your 1 image for today.") {
				t.Errorf("UserMessage = %q", msg)
			}
		}
	})
}
