package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/jobs"
)

// call is one Reporter call as the recorder saw it.
type call struct {
	Kind     string // "progress", "deliver" or "fail"
	Job      string
	Platform string
	State    jobs.State // the job's state during the call
	Attempts int        // the job's Attempts during the call
	Update   jobs.Update
	Image    []byte // the bytes delivered
	Err      error  // the cause given to Fail
	Msg      string // jobs.UserMessage(Err)
	At       time.Time
	OK       bool // Deliver or Fail returned nil
}

// recorder is a jobs.Reporter that records every call per job, can fail
// Deliver and Fail a number of times, and notices overlapping calls for one
// job.
type recorder struct {
	mu          sync.Mutex
	calls       []call
	active      map[string]bool
	overlaps    []string
	failDeliver int           // fail the next failDeliver Deliver calls
	failFail    int           // fail the next failFail Fail calls
	hold        time.Duration // how long each call takes, to widen overlap windows
}

func newRecorder() *recorder { return &recorder{active: map[string]bool{}} }

var errPlatformDown = errors.New("platform unreachable")

func (r *recorder) enter(j *jobs.Job, kind string) {
	r.mu.Lock()
	if r.active[j.ID] {
		r.overlaps = append(r.overlaps, j.ID+" "+kind)
	}
	r.active[j.ID] = true
	r.mu.Unlock()
	if r.hold > 0 {
		time.Sleep(r.hold)
	}
}

func (r *recorder) exit(c call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[c.Job] = false
	r.calls = append(r.calls, c)
}

func (r *recorder) record(j *jobs.Job, kind string) call {
	return call{Kind: kind, Job: j.ID, Platform: j.Platform, State: j.State, Attempts: j.Attempts, At: time.Now()}
}

func (r *recorder) Progress(_ context.Context, j *jobs.Job, u jobs.Update) {
	r.enter(j, "progress")
	c := r.record(j, "progress")
	c.Update, c.OK = u, true
	r.exit(c)
}

func (r *recorder) Deliver(_ context.Context, j *jobs.Job, res *imaging.Result) error {
	r.enter(j, "deliver")
	c := r.record(j, "deliver")
	c.Image = slices.Clone(res.Image)
	r.mu.Lock()
	fail := r.failDeliver > 0
	if fail {
		r.failDeliver--
	}
	r.mu.Unlock()
	c.OK = !fail
	r.exit(c)
	if fail {
		return errPlatformDown
	}
	return nil
}

func (r *recorder) Fail(_ context.Context, j *jobs.Job, err error) error {
	r.enter(j, "fail")
	c := r.record(j, "fail")
	c.Err, c.Msg = err, jobs.UserMessage(err)
	r.mu.Lock()
	fail := r.failFail > 0
	if fail {
		r.failFail--
	}
	r.mu.Unlock()
	c.OK = !fail
	r.exit(c)
	if fail {
		return errPlatformDown
	}
	return nil
}

// of returns the calls for job id of kind ("" for all), in order.
func (r *recorder) of(id, kind string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.Job == id && (kind == "" || c.Kind == kind) {
			out = append(out, c)
		}
	}
	return out
}

// all returns every call of kind ("" for all).
func (r *recorder) all(kind string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if kind == "" || c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

func okCalls(cs []call) []call {
	var out []call
	for _, c := range cs {
		if c.OK {
			out = append(out, c)
		}
	}
	return out
}

// finished reports whether the job was delivered or its failure reported.
func (r *recorder) finished(id string) bool {
	for _, c := range r.of(id, "") {
		if c.OK && (c.Kind == "deliver" || c.Kind == "fail") {
			return true
		}
	}
	return false
}

func (r *recorder) phases(id string) []jobs.Phase {
	var out []jobs.Phase
	for _, c := range r.of(id, "progress") {
		out = append(out, c.Update.Phase)
	}
	return out
}

func (r *recorder) queuedPositions(id string) []int {
	var out []int
	for _, c := range r.of(id, "progress") {
		if c.Update.Phase == jobs.Queued {
			out = append(out, c.Update.Position)
		}
	}
	return out
}

func (r *recorder) checkNoOverlap(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlaps) > 0 {
		t.Errorf("overlapping Reporter calls for one job: %v", r.overlaps)
	}
}

// eventually polls cond every millisecond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitFinished(t testing.TB, r *recorder, id string) {
	t.Helper()
	waitFinishedWithin(t, r, id, 10*time.Second)
}

func waitFinishedWithin(t testing.TB, r *recorder, id string, d time.Duration) {
	t.Helper()
	eventually(t, d, func() bool { return r.finished(id) }, "job %s to be delivered or failed", id)
}

func waitState(t testing.TB, s jobs.Store, id string, want jobs.State) *jobs.Job {
	t.Helper()
	var j *jobs.Job
	eventually(t, 10*time.Second, func() bool {
		var err error
		j, err = s.Get(context.Background(), id)
		return err == nil && j.State == want
	}, "job %s to reach state %s", id, want)
	return j
}

func waitIdle(t testing.TB, m *jobs.Manager) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return m.InFlight() == 0 }, "no job in flight (have %d)", m.InFlight())
}

func mustGet(t testing.TB, s jobs.Store, id string) *jobs.Job {
	t.Helper()
	j, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

// fakeVendor is an in-memory vendor named "fake" that polls every 5 ms.
func fakeVendor() *imagingtest.Vendor {
	v := imagingtest.NewVendor("fake")
	v.Caps.PollDelay, v.Caps.PollInterval = 5*time.Millisecond, 5*time.Millisecond
	v.Image = imagingtest.PNG(5)
	return v
}

func newService(t testing.TB, v *imagingtest.Vendor) *imaging.Service {
	t.Helper()
	svc, err := imaging.NewService("", v)
	if err != nil {
		t.Fatal(err)
	}
	svc.Download = &http.Client{Transport: v.Transport()}
	return svc
}

func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newManager returns a Manager over svc and s with a recorder registered
// for "discord". Set further fields, then call start.
func newManager(t testing.TB, svc *imaging.Service, s jobs.Store) (*jobs.Manager, *recorder) {
	rec := newRecorder()
	t.Cleanup(func() { rec.checkNoOverlap(t) })
	m := &jobs.Manager{Service: svc, Store: s, Log: testLogger(t)}
	m.Register("discord", rec)
	return m, rec
}

// start starts m until the test ends (or the returned cancel is called) and
// waits for its jobs at cleanup.
func start(t testing.TB, m *jobs.Manager) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		waitReturns(t, 10*time.Second, "Manager.Wait", m.Wait)
	})
	return cancel
}

// waitReturns runs f and fails if it takes longer than d.
func waitReturns(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

type storeKind struct {
	name string
	open func(t testing.TB) jobs.Store
}

var storeKinds = []storeKind{
	{"mem", func(testing.TB) jobs.Store { return jobs.NewMemStore() }},
	{"bolt", func(t testing.TB) jobs.Store { return openBolt(t, t.TempDir()) }},
}

func eachStore(t *testing.T, f func(t *testing.T, open func(testing.TB) jobs.Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.open) })
	}
}

func openBolt(t testing.TB, dir string) *jobs.BoltStore {
	t.Helper()
	s, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newJob is a text-to-image request from a Discord user.
func newJob(user, prompt string) *jobs.Job {
	return &jobs.Job{
		Platform: "discord",
		User:     "discord:" + user,
		UserName: user,
		Channel:  "discord:chan",
		Request:  imaging.Request{Prompt: prompt},
		Target:   json.RawMessage(`{"channel":"chan"}`),
	}
}

// storedJob is a job as a previous run left it in the store.
func storedJob(id, user string, st jobs.State, created time.Time) *jobs.Job {
	j := newJob(user, "stored "+id)
	j.ID, j.State, j.CreatedAt, j.Vendor = id, st, created, "fake"
	if st.Finished() {
		j.FinishedAt = created.Add(time.Second)
	}
	return j
}

func mustSubmit(t testing.TB, m *jobs.Manager, j *jobs.Job) *jobs.Admission {
	t.Helper()
	a, err := m.Submit(context.Background(), j)
	if err != nil {
		t.Fatalf("Submit(%s): %v", j.Request.Prompt, err)
	}
	return a
}

func prompts(reqs []imaging.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Prompt
	}
	return out
}

func fmtCalls(cs []call) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("\n  %s state=%s attempts=%d ok=%v phase=%v pos=%d pct=%d err=%v", c.Kind, c.State, c.Attempts, c.OK, c.Update.Phase, c.Update.Position, c.Update.Percent, c.Err)
	}
	return s
}
