package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// A redelivered event is a duplicate, not a refusal, even when the limits
// its original used up would refuse a new request.
func TestDuplicateIsRecognisedBeforeLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		v := fakeVendor()
		v.PollsToFinish = -1 // never finishes: its concurrency slot stays taken
		m, _ := newManager(t, newService(t, v), open(t))
		m.Limiter = ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour, UserConcurrency: 1})
		start(t, m)
		j := newJob("u1", "a fox")
		j.DedupeKey = "discord:i:1"
		mustSubmit(t, m, j)
		again := newJob("u1", "a fox")
		again.DedupeKey = "discord:i:1"
		_, err := m.Submit(context.Background(), again)
		if !errors.Is(err, jobs.ErrDuplicate) {
			t.Fatalf("redelivered Submit = %v, want ErrDuplicate", err)
		}
		// A different request from the same user is refused by the limits.
		other := newJob("u1", "a cat")
		if _, err := m.Submit(context.Background(), other); !errors.As(err, new(*ratelimit.Refusal)) {
			t.Fatalf("new Submit = %v, want a refusal", err)
		}
	})
}

// A job that failed but whose requester was not yet told (the bot died in
// between) is told on the next start, with the recorded message.
func TestFailingJobIsReportedAfterRestart(t *testing.T) {
	s := openBolt(t, t.TempDir())
	j := storedJob("failing1", "u1", jobs.Failing, time.Now().Add(-time.Minute))
	j.Error, j.ErrorKind, j.TaskID = "The image service's safety filter refused this prompt.", "safety", "fake-task-9"
	if err := s.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	v := fakeVendor()
	m, rec := newManager(t, newService(t, v), s)
	start(t, m)
	waitState(t, s, "failing1", jobs.Failed)
	fails := okCalls(rec.of("failing1", "fail"))
	if len(fails) != 1 {
		t.Fatalf("Fail calls = %d, want 1", len(fails))
	}
	if fails[0].Msg != j.Error {
		t.Errorf("message = %q, want the recorded %q", fails[0].Msg, j.Error)
	}
	if n := len(v.Submits()); n != 0 {
		t.Errorf("vendor submits = %d, want 0", n)
	}
}
