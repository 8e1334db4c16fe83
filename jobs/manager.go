package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// Manager runs jobs. Set the exported fields, Register each platform's
// Reporter, then call Run; Submit is safe for concurrent use once Run has
// started.
type Manager struct {
	Service *imaging.Service
	Store   Store
	// Limiter applies per-user limits; nil means none.
	Limiter *ratelimit.Limiter
	// VendorConcurrency caps jobs in flight per vendor; 0 uses each
	// vendor's documented default.
	VendorConcurrency int
	// ProgressEvery is the least time between two progress reports of one
	// job, so platforms' edit rate limits are never hit (default 3 s).
	ProgressEvery time.Duration
	// CallbackURL, when set, gives the callback URL for a job's
	// submission (empty for none).
	CallbackURL func(j *Job) string
	// Metrics, when set, observes job outcomes.
	Metrics Observer
	Log     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	base      context.Context
	closed    bool
	reporters map[string]Reporter
	queues    map[string]*ratelimit.Queue
	tickets   map[string]*ratelimit.Ticket
	pokes     map[string]chan struct{}
	wg        sync.WaitGroup
	running   atomic.Int64
}

// InFlight is how many accepted jobs have not finished.
func (m *Manager) InFlight() int { return int(m.running.Load()) }

// Observer is told what happens to jobs, for metrics.
type Observer interface {
	Submitted(vendor string)
	Finished(vendor, outcome string, elapsed time.Duration, polls int, cost *imaging.Cost)
	Refused(reason string)
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// Register sets the Reporter for a platform's jobs.
func (m *Manager) Register(platform string, r Reporter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reporters == nil {
		m.reporters = map[string]Reporter{}
	}
	m.reporters[platform] = r
}

func (m *Manager) reporter(platform string) Reporter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.reporters[platform]; ok {
		return r
	}
	return nopReporter{}
}

type nopReporter struct{}

func (nopReporter) Progress(context.Context, *Job, Update)               {}
func (nopReporter) Deliver(context.Context, *Job, *imaging.Result) error { return nil }
func (nopReporter) Fail(context.Context, *Job, error) error              { return nil }

func (m *Manager) queue(vendor string) *ratelimit.Queue {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.queues == nil {
		m.queues = map[string]*ratelimit.Queue{}
	}
	q, ok := m.queues[vendor]
	if !ok {
		n := m.VendorConcurrency
		if n <= 0 {
			if v, err := m.Service.Vendor(vendor); err == nil {
				n = v.Capabilities().Concurrency
			}
		}
		if n <= 0 {
			n = 4
		}
		q = ratelimit.NewQueue(n)
		m.queues[vendor] = q
	}
	return q
}

// QueueLen is how many jobs wait for a slot across vendors.
func (m *Manager) QueueLen() int {
	m.mu.Lock()
	qs := make([]*ratelimit.Queue, 0, len(m.queues))
	for _, q := range m.queues {
		qs = append(qs, q)
	}
	m.mu.Unlock()
	n := 0
	for _, q := range qs {
		n += q.Len()
	}
	return n
}

// Admission is an accepted job.
type Admission struct {
	JobID string
	// Position is the job's estimated place in its vendor's queue; 0 means
	// it starts at once.
	Position int
}

// Submit admits, records and starts j. It fills in ID, CreatedAt, State
// and the vendor name. It returns *ratelimit.Refusal when a limit is hit,
// an *imaging.Error when the request cannot be served by the vendor,
// ErrDuplicate for a repeated DedupeKey, and ErrClosed while shutting down;
// UserMessage turns each into text. It does no vendor I/O, so a front end
// can call it before acknowledging.
func (m *Manager) Submit(ctx context.Context, j *Job) (*Admission, error) {
	m.mu.Lock()
	base, closed := m.base, m.closed
	m.mu.Unlock()
	if base == nil || closed || base.Err() != nil {
		return nil, ErrClosed
	}
	v, _, err := m.Service.Prepare(j.Vendor, &j.Request)
	if err != nil {
		m.refused(imaging.KindOf(err).String())
		return nil, err
	}
	j.Vendor = v.Name()
	now := m.now()
	if j.ID == "" {
		j.ID = NewID()
	}
	j.CreatedAt, j.State = now, Pending
	// A repeated event is recognised before any limit is consulted, so it
	// is ignored rather than refused.
	if j.DedupeKey != "" {
		seen, err := m.Store.Seen(ctx, j.DedupeKey)
		if err != nil {
			return nil, err
		}
		if seen {
			return nil, ErrDuplicate
		}
	}
	var ticket *ratelimit.Ticket
	if m.Limiter != nil {
		ticket, err = m.Limiter.Admit(j.User, j.Channel, now)
		if err != nil {
			if r, ok := errors.AsType[*ratelimit.Refusal](err); ok {
				m.refused(r.Reason.String())
			}
			return nil, err
		}
	}
	if err := m.Store.Create(ctx, j); err != nil {
		if ticket != nil {
			ticket.Done(false, now)
		}
		return nil, err
	}
	pos := m.queue(j.Vendor).Position(j.User)
	// The job goroutine works on its own copy: the caller's Job stays as
	// it was accepted, so reading it after Submit is not a race.
	own := *j
	own.Request.Images = slices.Clone(j.Request.Images)
	m.start(&own, ticket)
	return &Admission{JobID: j.ID, Position: pos}, nil
}

func (m *Manager) refused(reason string) {
	if m.Metrics != nil {
		m.Metrics.Refused(reason)
	}
}

func (m *Manager) start(j *Job, t *ratelimit.Ticket) {
	m.mu.Lock()
	if t != nil {
		if m.tickets == nil {
			m.tickets = map[string]*ratelimit.Ticket{}
		}
		m.tickets[j.ID] = t
	}
	base := m.base
	m.wg.Add(1)
	m.mu.Unlock()
	m.running.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.running.Add(-1)
		m.process(base, j)
	}()
}

// Get returns a job by id, with its reference images.
func (m *Manager) Get(ctx context.Context, id string) (*Job, error) { return m.Store.Get(ctx, id) }

// SaveDelivery persists a Reporter's note about a delivery in progress.
func (m *Manager) SaveDelivery(ctx context.Context, j *Job, note []byte) error {
	j.Delivery = note
	return m.Store.Update(ctx, j)
}

// Poke tells the job waiting on a vendor task that a callback arrived, so
// it polls at once. It reports whether such a job is waiting.
func (m *Manager) Poke(vendor, taskID string) bool {
	m.mu.Lock()
	ch, ok := m.pokes[vendor+"\x00"+taskID]
	m.mu.Unlock()
	if ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return ok
}

func (m *Manager) pokeChan(vendor, taskID string) (<-chan struct{}, func()) {
	key := vendor + "\x00" + taskID
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.pokes == nil {
		m.pokes = map[string]chan struct{}{}
	}
	m.pokes[key] = ch
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.pokes, key)
		m.mu.Unlock()
	}
}

// Run resumes every unfinished job, then serves until ctx ends. It returns
// once every job goroutine has stopped; a job interrupted by ctx stays
// recorded in its last state and is resumed by the next Run.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Start resumes unfinished jobs and opens Submit, without blocking. Jobs
// run until ctx ends; Wait returns when they have stopped.
func (m *Manager) Start(ctx context.Context) error {
	now := m.now()
	open, err := m.Store.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("jobs: resume: %w", err)
	}
	tickets := map[string]*ratelimit.Ticket{}
	if m.Limiter != nil {
		midnight := now.UTC().Truncate(24 * time.Hour)
		usage, err := m.Store.UsageSince(ctx, midnight)
		if err != nil {
			return fmt.Errorf("jobs: restore usage: %w", err)
		}
		inflight := map[string][]*Job{}
		for _, j := range open {
			inflight[j.User] = append(inflight[j.User], j)
		}
		for user, n := range usage {
			if _, ok := inflight[user]; !ok {
				m.Limiter.Restore(user, 0, n, now)
			}
		}
		for user, js := range inflight {
			ts := m.Limiter.Restore(user, len(js), usage[user], now)
			for i, j := range js {
				if i < len(ts) {
					tickets[j.ID] = ts[i]
				}
			}
		}
	}
	m.mu.Lock()
	m.base = ctx
	m.closed = false
	m.mu.Unlock()
	for _, j := range open {
		m.log().InfoContext(ctx, "resuming job", "job", j.ID, "state", j.State, "vendor", j.Vendor, "platform", j.Platform)
		m.start(j, tickets[j.ID])
	}
	return nil
}

// Wait blocks until every job goroutine has stopped (after the ctx given
// to Start ended).
func (m *Manager) Wait() { m.wg.Wait() }

func (m *Manager) ticket(id string) *ratelimit.Ticket {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tickets[id]
	delete(m.tickets, id)
	return t
}

func (m *Manager) save(ctx context.Context, j *Job) {
	// Persisting must survive the shutdown that cancelled ctx.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.Store.Update(sctx, j); err != nil {
		m.log().ErrorContext(ctx, "saving job", "job", j.ID, "state", j.State, "err", err)
	}
}

// process drives one job to its end, or until ctx ends.
func (m *Manager) process(ctx context.Context, j *Job) {
	rep := m.reporter(j.Platform)
	if j.State == Failing {
		m.finishFailed(ctx, j, rep, &recordedFailure{msg: j.Error, kind: j.ErrorKind}, j.Counted)
		return
	}
	if j.State == Submitting && j.TaskID == "" {
		m.finishFailed(ctx, j, rep, ErrMaybeSubmitted, false)
		return
	}
	if j.State == Submitting { // task id saved, state not yet advanced
		j.State = Submitted
	}
	q := m.queue(j.Vendor)
	release, err := m.acquire(ctx, q, j, rep)
	if err != nil {
		return // shutting down; the job stays pending and resumes
	}
	defer release()

	if j.State == Pending {
		j.State = Submitting
		m.save(ctx, j)
		rep.Progress(ctx, j, Update{Phase: Starting, Percent: -1, Elapsed: m.now().Sub(j.CreatedAt)})
		req := j.Request
		if m.CallbackURL != nil {
			req.CallbackURL = m.CallbackURL(j)
		}
		// The submit is not cancelled by shutdown: its answer (the task id)
		// must be recorded, or the paid job would be lost.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		task, err := m.Service.Submit(sctx, j.Vendor, &req)
		cancel()
		if err != nil {
			m.finishFailed(ctx, j, rep, err, false)
			return
		}
		j.TaskID, j.SubmittedAt, j.Seed, j.State = task.ID, task.SubmittedAt, task.Seed, Submitted
		m.save(ctx, j)
		if m.Metrics != nil {
			m.Metrics.Submitted(j.Vendor)
		}
	}

	task := j.Task(m.Service.Default())
	poke, unpoke := m.pokeChan(task.Vendor, task.ID)
	defer unpoke()
	var lastSent time.Time
	lastPhase := Starting
	o := imaging.WaitOptions{
		Poke: poke,
		Progress: func(p imaging.Progress) {
			now := m.now()
			if lastPhase == Generating && now.Sub(lastSent) < m.progressEvery() {
				return
			}
			lastSent, lastPhase = now, Generating
			rep.Progress(ctx, j, Update{Phase: Generating, Percent: p.Percent, Elapsed: now.Sub(j.CreatedAt), VendorState: p.State})
		},
	}
	if m.CallbackURL != nil && m.CallbackURL(j) != "" {
		if v, err := m.Service.Vendor(task.Vendor); err == nil && v.Capabilities().Callbacks {
			o.Slow = 3 // callbacks are expected; polling is the fallback
		}
	}
	if j.State == Delivering || m.now().Sub(j.SubmittedAt) > time.Minute {
		o.Deadline = m.now().Add(5 * time.Minute) // resumed: give it a fair chance
	}
	res, err := m.Service.Wait(ctx, task, o)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // shutting down; resumes from Submitted
		}
		m.finishFailed(ctx, j, rep, err, true)
		return
	}
	m.deliver(ctx, j, rep, res)
}

func (m *Manager) progressEvery() time.Duration {
	if m.ProgressEvery > 0 {
		return m.ProgressEvery
	}
	return 3 * time.Second
}

// acquire waits for a vendor slot, reporting the queue position (at most
// every ProgressEvery) while it waits.
func (m *Manager) acquire(ctx context.Context, q *ratelimit.Queue, j *Job, rep Reporter) (func(), error) {
	posCh := make(chan int, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := -1
		var lastAt time.Time
		var pending int
		var timer *time.Timer
		var tc <-chan time.Time
		send := func(p int) {
			last, lastAt = p, m.now()
			rep.Progress(ctx, j, Update{Phase: Queued, Position: p, Percent: -1, Elapsed: m.now().Sub(j.CreatedAt)})
		}
		for {
			select {
			case <-done:
				if timer != nil {
					timer.Stop()
				}
				return
			case p := <-posCh:
				if p == 0 || p == last {
					pending = 0 // back where it was: nothing outdated to send
					continue
				}
				if wait := m.progressEvery() - m.now().Sub(lastAt); last >= 0 && wait > 0 {
					pending = p
					if timer == nil {
						timer = time.NewTimer(wait)
						tc = timer.C
					}
					continue
				}
				send(p)
			case <-tc:
				timer, tc = nil, nil
				if pending != 0 && pending != last {
					send(pending)
				}
				pending = 0
			}
		}
	}()
	release, err := q.Acquire(ctx, j.User, func(p int) {
		select {
		case posCh <- p:
		default:
			select { // replace a stale position with the newest
			case <-posCh:
			default:
			}
			select {
			case posCh <- p:
			default:
			}
		}
	})
	close(done)
	wg.Wait()
	return release, err
}

func (m *Manager) deliver(ctx context.Context, j *Job, rep Reporter, res *imaging.Result) {
	j.State = Delivering
	j.Cost, j.ContentType, j.ResultURL = res.Cost, res.ContentType, res.SourceURL
	j.Elapsed = res.DownloadedAt.Sub(j.CreatedAt)
	if res.Seed != nil {
		j.Seed = res.Seed
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			if serr := sleep(ctx, time.Duration(attempt*attempt)*2*time.Second); serr != nil {
				return // shutting down: resumes from Delivering
			}
		}
		// Every try is recorded before it is made, so a Reporter (now or
		// after a crash) can tell a repeated delivery from the first.
		j.Attempts++
		m.save(ctx, j)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		err = rep.Deliver(dctx, j, res)
		cancel()
		if err == nil {
			break
		}
		m.log().WarnContext(ctx, "delivering result", "job", j.ID, "platform", j.Platform, "attempt", attempt+1, "err", err)
	}
	if err != nil {
		m.finishFailed(ctx, j, rep, &imaging.Error{Kind: imaging.KindUnknown, Message: "posting the result failed", Err: err}, true)
		return
	}
	j.State, j.FinishedAt, j.Counted = Delivered, m.now(), true
	m.save(ctx, j)
	if t := m.ticket(j.ID); t != nil {
		t.Done(true, m.now())
	}
	if m.Metrics != nil {
		m.Metrics.Finished(j.Vendor, "succeeded", res.DownloadedAt.Sub(res.SubmittedAt), res.Polls, res.Cost)
	}
}

// finishFailed records and reports a failure. counted says whether the
// vendor ran (or judged) the job, so it counts against the user's limits.
func (m *Manager) finishFailed(ctx context.Context, j *Job, rep Reporter, cause error, counted bool) {
	if _, resumed := errors.AsType[*recordedFailure](cause); !resumed {
		if imaging.KindOf(cause) == imaging.KindSafety {
			counted = true
		}
		// Failing is recorded before the requester is told, and Failed
		// only after: a crash in between tells them on the next start.
		j.State, j.FinishedAt, j.Counted = Failing, m.now(), counted
		j.Error, j.ErrorKind = UserMessage(cause), imaging.KindOf(cause).String()
		m.save(ctx, j)
		if m.Metrics != nil {
			m.Metrics.Finished(j.Vendor, j.ErrorKind, 0, 0, nil)
		}
		lvl := slog.LevelInfo
		if k := imaging.KindOf(cause); k == imaging.KindUnknown || k == imaging.KindUnauthorized || k == imaging.KindCredits {
			lvl = slog.LevelError
		}
		m.log().Log(ctx, lvl, "job failed", "job", j.ID, "vendor", j.Vendor, "platform", j.Platform, "user", j.User, "kind", j.ErrorKind, "err", cause)
	}
	if t := m.ticket(j.ID); t != nil {
		t.Done(j.Counted, m.now())
	}
	for attempt := range 3 {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := rep.Fail(fctx, j, cause)
		cancel()
		if err == nil {
			break
		}
		m.log().WarnContext(ctx, "reporting failure", "job", j.ID, "attempt", attempt+1, "err", err)
		if sleep(ctx, time.Duration(attempt+1)*2*time.Second) != nil {
			return // shutting down: told on the next start
		}
	}
	j.State = Failed // told, or given up after three tries
	m.save(ctx, j)
}

// recordedFailure is a failure read back from the store after a restart;
// its user message is the one recorded when it happened.
type recordedFailure struct{ msg, kind string }

func (e *recordedFailure) Error() string { return "jobs: recorded failure (" + e.kind + "): " + e.msg }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
