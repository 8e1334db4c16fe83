package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// gatedVendorHook blocks the submit of each prompt in gated until a value
// arrives on the returned channel.
func gatedVendorHook(gated ...string) (func(context.Context, *imaging.Request) error, chan struct{}) {
	gate := make(chan struct{})
	return func(_ context.Context, req *imaging.Request) error {
		if slices.Contains(gated, req.Prompt) {
			<-gate
		}
		return nil
	}, gate
}

func TestQueueReportsPosition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := jobs.NewMemStore()
		v := fakeVendor()
		hook, gate := gatedVendorHook("A1")
		v.SubmitHook = hook
		m, rec := newManager(t, newService(t, v), st)
		m.VendorConcurrency = 1
		start(t, m)

		a1 := mustSubmit(t, m, newJob("A", "A1"))
		synctest.Wait() // A1 holds the only slot, blocked in the vendor
		b1 := mustSubmit(t, m, newJob("B", "B1"))
		if b1.Position != 1 {
			t.Errorf("Admission.Position with the vendor full = %d, want 1", b1.Position)
		}
		synctest.Wait()
		if got := rec.queuedPositions(b1.JobID); !slices.Equal(got, []int{1}) {
			t.Errorf("queued positions reported = %v, want [1]", got)
		}
		if n := m.QueueLen(); n != 1 {
			t.Errorf("QueueLen = %d, want 1", n)
		}
		if got := mustGet(t, st, b1.JobID); got.State != jobs.Pending {
			t.Errorf("queued job state = %s, want pending", got.State)
		}
		close(gate)
		waitFinished(t, rec, a1.JobID)
		waitFinished(t, rec, b1.JobID)
		ph := rec.phases(b1.JobID)
		if len(ph) < 3 || ph[0] != jobs.Queued || ph[1] != jobs.Starting || ph[2] != jobs.Generating {
			t.Errorf("phases = %v, want queued, starting, generating", ph)
		}
		if got := prompts(v.Submits()); !slices.Equal(got, []string{"A1", "B1"}) {
			t.Errorf("vendor order = %v", got)
		}
	})
}

func TestQueueIsFairAcrossUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := fakeVendor()
		hook, gate := gatedVendorHook("A1")
		v.SubmitHook = hook
		m, rec := newManager(t, newService(t, v), jobs.NewMemStore())
		m.VendorConcurrency = 1
		start(t, m)

		var ids []string
		for _, j := range []*jobs.Job{newJob("A", "A1"), newJob("A", "A2"), newJob("A", "A3"), newJob("B", "B1")} {
			ids = append(ids, mustSubmit(t, m, j).JobID)
			synctest.Wait()
		}
		if got := rec.queuedPositions(ids[3]); len(got) == 0 || got[0] != 2 {
			t.Errorf("B1 positions = %v, want to start at 2 (behind A2 only)", got)
		}
		if got := rec.queuedPositions(ids[2]); !slices.Equal(got, []int{2}) {
			// A3 moved from 2 to 3 when B1 arrived, within ProgressEvery
			// of its last report: that update waits.
			t.Logf("A3 positions so far = %v", got)
		}
		close(gate)
		for _, id := range ids {
			waitFinished(t, rec, id)
		}
		if got := prompts(v.Submits()); !slices.Equal(got, []string{"A1", "A2", "B1", "A3"}) {
			t.Errorf("vendor order = %v, want A1 A2 B1 A3 (round-robin by user)", got)
		}
	})
}

func TestAdmissionPositionMatchesFairQueue(t *testing.T) {
	// A new user behind another user's burst is told the round-robin
	// place the queue then reports.
	synctest.Test(t, func(t *testing.T) {
		v := fakeVendor()
		hook, gate := gatedVendorHook("A1")
		v.SubmitHook = hook
		m, rec := newManager(t, newService(t, v), jobs.NewMemStore())
		m.VendorConcurrency = 1
		start(t, m)
		for _, p := range []string{"A1", "A2", "A3"} {
			mustSubmit(t, m, newJob("A", p))
			synctest.Wait()
		}
		b := mustSubmit(t, m, newJob("B", "B1"))
		synctest.Wait()
		reported := rec.queuedPositions(b.JobID)
		if b.Position != 2 || len(reported) == 0 || reported[0] != b.Position {
			t.Errorf("Admission.Position = %d, queue then reported %v; want both 2", b.Position, reported)
		}
		close(gate)
		waitIdle(t, m)
	})
}

func TestQueuedPositionIsNotStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := jobs.NewMemStore()
		v := fakeVendor()
		hook, gate := gatedVendorHook("A1", "A2")
		v.SubmitHook = hook
		m, rec := newManager(t, newService(t, v), st)
		m.VendorConcurrency = 1
		m.ProgressEvery = time.Second
		start(t, m)

		var ids []string
		for _, j := range []*jobs.Job{newJob("A", "A1"), newJob("A", "A2"), newJob("A", "A3"), newJob("B", "B1")} {
			ids = append(ids, mustSubmit(t, m, j).JobID)
			synctest.Wait()
		}
		// A3 was told 2, then moved to 3 behind B1 (deferred by
		// ProgressEvery). A1 finishes, A2 takes the slot: A3 is 2nd again.
		gate <- struct{}{}
		waitFinished(t, rec, ids[0])
		synctest.Wait()
		time.Sleep(2 * time.Second) // past ProgressEvery
		got := rec.queuedPositions(ids[2])
		if len(got) == 0 || got[len(got)-1] != 2 {
			t.Errorf("A3 positions reported = %v; it is 2nd in line, so the last should be 2", got)
		}
		close(gate)
		for _, id := range ids {
			waitFinished(t, rec, id)
		}
	})
}

func TestProgressIsThrottled(t *testing.T) {
	for _, tc := range []struct {
		every  time.Duration
		minN   int
		maxN   int
		minGap time.Duration
	}{
		{time.Nanosecond, 10, 10, 0}, // every change: 10%..90% and 100%
		{20 * time.Millisecond, 2, 5, 20 * time.Millisecond},
		{time.Hour, 1, 1, 0},
	} {
		t.Run(tc.every.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v := fakeVendor()
				v.PollsToFinish = 20 // progress 10, 20, ... 90, then 100 on poll 20
				svc := newService(t, v)
				svc.Jitter = -1
				m, rec := newManager(t, svc, jobs.NewMemStore())
				m.ProgressEvery = tc.every
				start(t, m)
				a := mustSubmit(t, m, newJob("u1", "many updates"))
				waitFinished(t, rec, a.JobID)

				var gen []call
				for _, c := range rec.of(a.JobID, "progress") {
					if c.Update.Phase == jobs.Generating {
						gen = append(gen, c)
					}
				}
				if len(gen) < tc.minN || len(gen) > tc.maxN {
					t.Errorf("generating updates = %d, want %d..%d:%s", len(gen), tc.minN, tc.maxN, fmtCalls(gen))
				}
				for i := 1; i < len(gen); i++ {
					if gap := gen[i].At.Sub(gen[i-1].At); gap < tc.minGap {
						t.Errorf("updates %d and %d only %v apart, want at least %v", i-1, i, gap, tc.minGap)
					}
				}
				if len(gen) > 0 && (gen[0].Update.Percent != 10 || gen[0].Update.VendorState != imaging.StateRunning) {
					t.Errorf("first update = %+v, want running 10%%", gen[0].Update)
				}
			})
		})
	}
}

func TestReporterCallsNeverOverlap(t *testing.T) {
	v := fakeVendor()
	v.PollsToFinish = 4
	m, rec := newManager(t, newService(t, v), jobs.NewMemStore())
	rec.hold = time.Millisecond
	m.VendorConcurrency = 2
	m.ProgressEvery = time.Millisecond
	start(t, m)
	var ids []string
	for i := range 9 {
		ids = append(ids, mustSubmit(t, m, newJob(fmt.Sprint("u", i%3), fmt.Sprint("job ", i))).JobID)
	}
	for _, id := range ids {
		waitFinished(t, rec, id)
	}
	waitIdle(t, m)
	rec.checkNoOverlap(t)
	for _, id := range ids {
		if n := len(okCalls(rec.of(id, "deliver"))); n != 1 {
			t.Errorf("job %s delivered %d times", id, n)
		}
	}
	if n := len(v.Submits()); n != 9 {
		t.Errorf("vendor submits = %d, want 9", n)
	}
}

func TestDeliverIsRetried(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		synctest.Test(t, func(t *testing.T) {
			st := open(t)
			m, rec := newManager(t, newService(t, fakeVendor()), st)
			rec.failDeliver = 2
			start(t, m)
			begin := time.Now()
			a := mustSubmit(t, m, newJob("u1", "flaky platform"))
			waitFinishedWithin(t, rec, a.JobID, time.Minute) // virtual time: backoff
			waitIdle(t, m)

			ds := rec.of(a.JobID, "deliver")
			if len(ds) != 3 || len(okCalls(ds)) != 1 || !ds[2].OK {
				t.Fatalf("Deliver calls:%s\nwant two failures then one success", fmtCalls(ds))
			}
			if d := time.Since(begin); d < 10*time.Second {
				t.Errorf("retries took %v, want the 2 s + 8 s backoff", d)
			}
			if fs := rec.of(a.JobID, "fail"); len(fs) != 0 {
				t.Errorf("Fail called:%s", fmtCalls(fs))
			}
			got := mustGet(t, st, a.JobID)
			if got.State != jobs.Delivered || !got.Counted || got.Attempts < 1 {
				t.Errorf("job: state %s counted %v attempts %d", got.State, got.Counted, got.Attempts)
			}
		})
	})
}

func TestDeliverRetryCountsAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := jobs.NewMemStore()
		m, rec := newManager(t, newService(t, fakeVendor()), st)
		rec.failDeliver = 2
		start(t, m)
		a := mustSubmit(t, m, newJob("u1", "flaky platform"))
		waitFinishedWithin(t, rec, a.JobID, time.Minute) // virtual time: backoff
		waitIdle(t, m)
		var seen []int
		for _, c := range rec.of(a.JobID, "deliver") {
			seen = append(seen, c.Attempts)
		}
		if !slices.Equal(seen, []int{1, 2, 3}) {
			t.Errorf("Attempts seen by Deliver = %v, want [1 2 3]", seen)
		}
		if got := mustGet(t, st, a.JobID); got.Attempts != 3 {
			t.Errorf("stored Attempts = %d, want 3", got.Attempts)
		}
	})
}

func TestDeliverGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := jobs.NewMemStore()
		m, rec := newManager(t, newService(t, fakeVendor()), st)
		rec.failDeliver = 100
		start(t, m)
		a := mustSubmit(t, m, newJob("u1", "platform down"))
		waitFinishedWithin(t, rec, a.JobID, time.Minute) // virtual time: backoff
		waitIdle(t, m)
		if n := len(rec.of(a.JobID, "deliver")); n != 4 {
			t.Errorf("Deliver calls = %d, want 4", n)
		}
		fs := rec.of(a.JobID, "fail")
		if len(fs) != 1 || imaging.KindOf(fs[0].Err) != imaging.KindUnknown || !strings.Contains(fs[0].Msg, "Something went wrong") {
			t.Fatalf("Fail calls:%s", fmtCalls(fs))
		}
		// The vendor ran the job: it counts.
		if got := mustGet(t, st, a.JobID); got.State != jobs.Failed || !got.Counted {
			t.Errorf("job: state %s counted %v, want failed and counted", got.State, got.Counted)
		}
	})
}

func TestFailIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := fakeVendor()
		v.SubmitErrs = []error{&imaging.Error{Kind: imaging.KindUnavailable, HTTPStatus: 502}}
		m, rec := newManager(t, newService(t, v), jobs.NewMemStore())
		rec.failFail = 2
		start(t, m)
		a := mustSubmit(t, m, newJob("u1", "vendor down, platform flaky"))
		waitFinishedWithin(t, rec, a.JobID, time.Minute) // virtual time: backoff
		waitIdle(t, m)
		fs := rec.of(a.JobID, "fail")
		if len(fs) != 3 || !fs[2].OK {
			t.Errorf("Fail calls:%s\nwant two failures then one success", fmtCalls(fs))
		}
	})
}

// notingReporter saves a note through Manager.SaveDelivery before each
// delivery, as a front end records the message it posts, and records the
// note each Deliver call found.
type notingReporter struct {
	*recorder
	m     *jobs.Manager
	mu    sync.Mutex
	notes []string
}

func (n *notingReporter) Deliver(ctx context.Context, j *jobs.Job, r *imaging.Result) error {
	n.mu.Lock()
	n.notes = append(n.notes, string(j.Delivery))
	n.mu.Unlock()
	if len(j.Delivery) == 0 {
		if err := n.m.SaveDelivery(ctx, j, []byte(`{"message":"m-1"}`)); err != nil {
			return err
		}
	}
	return n.recorder.Deliver(ctx, j, r)
}

// TestShutdownDuringDeliveryResumes stops the bot while a delivery backs
// off; the next run delivers with Attempts raised and the Reporter's saved
// note, and the vendor is not asked again.
func TestShutdownDuringDeliveryResumes(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		synctest.Test(t, func(t *testing.T) {
			st := open(t)
			v := fakeVendor()
			svc := newService(t, v)
			m1, rec1 := newManager(t, svc, st)
			rec1.failDeliver = 1
			n1 := &notingReporter{recorder: rec1, m: m1}
			m1.Register("discord", n1)
			stop := start(t, m1)
			a := mustSubmit(t, m1, newJob("u1", "interrupted delivery"))
			eventually(t, 10*time.Second, func() bool { return len(rec1.of(a.JobID, "deliver")) == 1 }, "the first Deliver")
			synctest.Wait() // backing off
			stop()
			m1.Wait()
			got := mustGet(t, st, a.JobID)
			if got.State != jobs.Delivering || got.Attempts != 1 || string(got.Delivery) != `{"message":"m-1"}` {
				t.Fatalf("after shutdown: state %s attempts %d note %s, want delivering 1 with the note", got.State, got.Attempts, got.Delivery)
			}
			if fs := rec1.of(a.JobID, "fail"); len(fs) != 0 {
				t.Fatalf("shutdown reported a failure:%s", fmtCalls(fs))
			}

			m2, rec2 := newManager(t, svc, st)
			n2 := &notingReporter{recorder: rec2, m: m2}
			m2.Register("discord", n2)
			start(t, m2)
			waitFinished(t, rec2, a.JobID)
			ds := rec2.of(a.JobID, "deliver")
			if len(ds) != 1 || !ds[0].OK || ds[0].Attempts != 2 {
				t.Errorf("Deliver after restart:%s\nwant one with Attempts 2", fmtCalls(ds))
			}
			if !slices.Equal(n2.notes, []string{`{"message":"m-1"}`}) {
				t.Errorf("notes seen by Deliver after restart = %q, want the one saved before", n2.notes)
			}
			if n := len(v.Submits()); n != 1 {
				t.Errorf("vendor submits = %d, want 1", n)
			}
			waitState(t, st, a.JobID, jobs.Delivered)
		})
	})
}

func TestPoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := jobs.NewMemStore()
		v := fakeVendor()
		v.Caps.PollDelay, v.Caps.PollInterval = time.Hour, time.Hour
		v.PollsToFinish = -1 // only Finish ends a task
		m, rec := newManager(t, newService(t, v), st)
		start(t, m)

		if m.Poke("fake", "no-such-task") {
			t.Error("Poke for an unknown task = true")
		}
		a := mustSubmit(t, m, newJob("u1", "callback vendor"))
		synctest.Wait() // waiting for the first poll, an hour away
		task := mustGet(t, st, a.JobID).TaskID
		begin := time.Now()

		// A poke before the task finished: one poll, still running.
		if !m.Poke("fake", task) {
			t.Fatal("Poke for the waiting task = false")
		}
		synctest.Wait()
		if n := v.Polls(); n != 1 {
			t.Errorf("polls after a poke = %d, want 1", n)
		}
		if rec.finished(a.JobID) {
			t.Fatal("finished before the task did")
		}

		v.Finish(task)
		if !m.Poke("fake", task) {
			t.Fatal("second Poke = false")
		}
		waitFinished(t, rec, a.JobID)
		if d := time.Since(begin); d > time.Minute {
			t.Errorf("delivered after %v: the poke did not make it poll", d)
		}
		if n := len(okCalls(rec.of(a.JobID, "deliver"))); n != 1 {
			t.Errorf("deliveries = %d", n)
		}
		waitIdle(t, m)
		if m.Poke("fake", task) {
			t.Error("Poke after the job finished = true")
		}
	})
}

func TestSubmitDoesNotShareTheCallersJob(t *testing.T) {
	m, rec := newManager(t, newService(t, fakeVendor()), jobs.NewMemStore())
	start(t, m)
	j := newJob("u1", "front end keeps its job")
	a := mustSubmit(t, m, j)
	if j.State != jobs.Pending { // races with the job goroutine
		t.Logf("state after Submit = %s", j.State)
	}
	waitFinished(t, rec, a.JobID)
}
