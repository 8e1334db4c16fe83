package imaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"time"
)

// ImageHost turns image bytes into a public URL for vendors that accept only
// URLs. The bot's HTTP server implements it when PUBLIC_URL is set.
type ImageHost interface {
	Host(ctx context.Context, data []byte, contentType string) (url string, err error)
}

// Service submits requests to vendors, waits for them on each vendor's
// schedule and downloads the result. It is safe for concurrent use once
// configured; set the exported fields before the first call.
type Service struct {
	vendors map[string]Vendor
	names   []string
	def     string

	// PollDelay and PollInterval override every vendor's polling advice
	// when non-zero.
	PollDelay, PollInterval time.Duration
	// Jitter is the fraction by which each poll interval varies (0 means
	// the default 0.2, i.e. ±20%; a negative value turns jitter off).
	Jitter float64
	// Timeout bounds a job from submission to the image in hand (default
	// 10 minutes).
	Timeout time.Duration
	// Download fetches result images. Default: a client with a 60 s timeout
	// that sends no credentials.
	Download *http.Client
	// MaxResultBytes bounds a downloaded result (default 50 MiB).
	MaxResultBytes int64
	// Host, when set, hosts reference image bytes for URL-only vendors.
	Host ImageHost

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// NewService returns a Service over vendors. def names the default vendor;
// empty means the only vendor, or the first given.
func NewService(def string, vendors ...Vendor) (*Service, error) {
	if len(vendors) == 0 {
		return nil, errors.New("imaging: no vendor configured")
	}
	s := &Service{vendors: make(map[string]Vendor, len(vendors)), now: time.Now, sleep: sleepCtx}
	for _, v := range vendors {
		if _, dup := s.vendors[v.Name()]; dup {
			return nil, fmt.Errorf("imaging: vendor %q configured twice", v.Name())
		}
		s.vendors[v.Name()] = v
		s.names = append(s.names, v.Name())
	}
	if def == "" {
		def = vendors[0].Name()
	}
	if _, ok := s.vendors[def]; !ok {
		return nil, fmt.Errorf("imaging: default vendor %q is not configured (configured: %s)", def, strings.Join(s.names, ", "))
	}
	s.def = def
	return s, nil
}

// Vendors lists the configured vendor names, the default first.
func (s *Service) Vendors() []string {
	out := []string{s.def}
	for _, n := range s.names {
		if n != s.def {
			out = append(out, n)
		}
	}
	return out
}

// Default is the default vendor's name.
func (s *Service) Default() string { return s.def }

// Vendor returns the named vendor; empty means the default.
func (s *Service) Vendor(name string) (Vendor, error) {
	if name == "" {
		name = s.def
	}
	v, ok := s.vendors[strings.ToLower(name)]
	if !ok {
		return nil, &Error{Kind: KindInvalid, Message: fmt.Sprintf("There is no vendor called %q here; choose one of %s.", name, strings.Join(s.Vendors(), ", "))}
	}
	return v, nil
}

// Prepare resolves the vendor, applies defaults to a copy of req and checks
// it against the vendor's capabilities. The returned request is what Submit
// sends.
func (s *Service) Prepare(vendor string, req *Request) (Vendor, *Request, error) {
	v, err := s.Vendor(vendor)
	if err != nil {
		return nil, nil, err
	}
	r := *req
	r.Images = slices.Clone(req.Images)
	r.Prompt = strings.TrimSpace(r.Prompt)
	r.Model = r.ModelOrDefault()
	r.Format = r.FormatOrDefault()
	if r.AspectRatio == "" && !r.IsEdit() {
		r.AspectRatio = "1:1"
	}
	caps := v.Capabilities()
	if err := caps.Check(&r, s.Host != nil); err != nil {
		return nil, nil, err
	}
	return v, &r, nil
}

// Task is a submitted job: enough to wait for it again after a restart.
type Task struct {
	Vendor      string
	ID          string
	Model       Model
	SubmittedAt time.Time
	// Seed is the seed the request fixed, if any.
	Seed *int64
}

// Submit prepares req and sends it to the vendor once. Image bytes go to
// the vendor's upload API, or to Host for URL-only vendors.
func (s *Service) Submit(ctx context.Context, vendor string, req *Request) (*Task, error) {
	v, r, err := s.Prepare(vendor, req)
	if err != nil {
		return nil, err
	}
	if caps := v.Capabilities(); !caps.ImageBytes {
		for i, im := range r.Images {
			if im.IsURL() {
				continue
			}
			u, err := s.Host.Host(ctx, im.Data, im.ContentType)
			if err != nil {
				return nil, fmt.Errorf("host reference image: %w", err)
			}
			r.Images[i] = Image{URL: u}
		}
	}
	id, err := v.Submit(ctx, r)
	if err != nil {
		return nil, err
	}
	t := &Task{Vendor: v.Name(), ID: id, Model: r.Model, SubmittedAt: s.now()}
	if r.Seed != nil && v.Capabilities().Seed {
		seed := *r.Seed
		t.Seed = &seed
	}
	return t, nil
}

// WaitOptions tune one Wait.
type WaitOptions struct {
	// Progress, when set, is called after every poll that changed the
	// state or progress. It must not block for long.
	Progress func(Progress)
	// Poke, when set, makes the wait poll at once on every receive (a
	// vendor callback arrived). Polling continues on the slower fallback
	// schedule meanwhile.
	Poke <-chan struct{}
	// Slow multiplies the poll interval (e.g. 4 while callbacks are
	// expected); 0 means 1.
	Slow int
	// Deadline, when later than submission plus Timeout, extends the wait
	// (a job resumed after the bot was down for a while).
	Deadline time.Time
}

// Wait polls the task until it finishes, the job's Timeout (counted from
// submission, so a resumed job keeps its original deadline) passes, or ctx
// ends, then downloads the result. A timeout is a KindTimeout *Error; a
// cancelled ctx returns ctx.Err() and leaves the task resumable.
func (s *Service) Wait(ctx context.Context, t *Task, o WaitOptions) (*Result, error) {
	v, err := s.Vendor(t.Vendor)
	if err != nil {
		return nil, err
	}
	caps := v.Capabilities()
	delay, interval := s.schedule(caps)
	if o.Slow > 1 {
		interval *= time.Duration(o.Slow)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	deadline := t.SubmittedAt.Add(timeout)
	if o.Deadline.After(deadline) {
		deadline = o.Deadline
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	timedOut := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Error{Kind: KindTimeout, Vendor: caps.DisplayName, Message: "job took longer than " + HumanDuration(timeout), Err: err}
		}
		return ctx.Err()
	}

	next := t.SubmittedAt.Add(delay)
	polls := 0
	last := Progress{State: -1, Percent: -2}
	for {
		if err := s.waitUntil(ctx, next, o.Poke); err != nil {
			return nil, timedOut(err)
		}
		st, err := v.Status(ctx, t.ID)
		polls++
		now := s.now()
		if err != nil {
			if ctx.Err() != nil {
				return nil, timedOut(err)
			}
			// A poll failed even after the client's own retries. A 404 or
			// an auth failure will not heal; anything else gets another
			// try on the normal schedule.
			switch KindOf(err) {
			case KindNotFound, KindUnauthorized, KindCredits:
				return nil, err
			}
			next = now.Add(s.jitter(interval))
			continue
		}
		p := Progress{State: st.State, Percent: st.Progress, Elapsed: now.Sub(t.SubmittedAt), TaskID: t.ID}
		if o.Progress != nil && (p.State != last.State || p.Percent != last.Percent) {
			o.Progress(p)
		}
		last = p
		switch st.State {
		case StateSucceeded:
			return s.finish(ctx, t, st, caps, polls, now, timedOut)
		case StateFailed:
			if st.Err == nil {
				return nil, &Error{Kind: KindUnknown, Vendor: caps.DisplayName, Message: "task failed without a reason"}
			}
			return nil, st.Err
		}
		next = now.Add(s.jitter(interval))
	}
}

func (s *Service) finish(ctx context.Context, t *Task, st *Status, caps Capabilities, polls int, finished time.Time, timedOut func(error) error) (*Result, error) {
	if len(st.URLs) == 0 {
		return nil, &Error{Kind: KindUnavailable, Vendor: caps.DisplayName, Message: "task succeeded without an image URL"}
	}
	data, ctype, err := s.fetch(ctx, st.URLs[0], caps.DisplayName)
	if err != nil {
		if ctx.Err() != nil {
			return nil, timedOut(err)
		}
		return nil, err
	}
	r := &Result{Image: data, ContentType: ctype, Seed: st.Seed, Cost: st.Cost, Vendor: t.Vendor,
		TaskID: t.ID, Model: t.Model, SourceURL: st.URLs[0], SubmittedAt: t.SubmittedAt, FinishedAt: finished,
		DownloadedAt: s.now(), Polls: polls}
	if r.Seed == nil && t.Seed != nil {
		seed := *t.Seed
		r.Seed = &seed
	}
	return r, nil
}

// Generate submits req and waits for the result.
func (s *Service) Generate(ctx context.Context, vendor string, req *Request, o WaitOptions) (*Result, error) {
	t, err := s.Submit(ctx, vendor, req)
	if err != nil {
		return nil, err
	}
	return s.Wait(ctx, t, o)
}

func (s *Service) schedule(caps Capabilities) (delay, interval time.Duration) {
	delay, interval = caps.PollDelay, caps.PollInterval
	if s.PollDelay > 0 {
		delay = s.PollDelay
	}
	if s.PollInterval > 0 {
		interval = s.PollInterval
	}
	if interval <= 0 {
		interval = 3 * time.Second
	}
	return delay, interval
}

func (s *Service) jitter(d time.Duration) time.Duration {
	j := s.Jitter
	if j == 0 {
		j = 0.2
	}
	if j < 0 || d <= 0 {
		return d
	}
	span := float64(d) * j
	return d + time.Duration(span*(2*rand.Float64()-1))
}

// waitUntil sleeps until at, returning early (nil) on a poke.
func (s *Service) waitUntil(ctx context.Context, at time.Time, poke <-chan struct{}) error {
	d := at.Sub(s.now())
	if d <= 0 {
		return ctx.Err()
	}
	if poke == nil {
		return s.sleep(ctx, d)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.sleep(pctx, d) }()
	select {
	case err := <-done:
		return err
	case <-poke:
		cancel()
		<-done
		return ctx.Err()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Image types a result may have.
var resultTypes = []string{"image/png", "image/jpeg", "image/webp"}

// fetch downloads a result image at once (vendor URLs expire), retrying
// transient failures, bounded in size, its type checked from its bytes.
func (s *Service) fetch(ctx context.Context, url, vendor string) ([]byte, string, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, "", &Error{Kind: KindUnavailable, Vendor: vendor, Message: "result URL is not http(s)"}
	}
	max := s.MaxResultBytes
	if max <= 0 {
		max = 50 << 20
	}
	cl := s.Download
	if cl == nil {
		cl = defaultDownload
	}
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			wait := min(time.Duration(1<<attempt)*250*time.Millisecond, 10*time.Second)
			if ra := RetryAfterOf(lastErr); ra > 0 {
				wait = min(ra, 30*time.Second)
			}
			if err := s.sleep(ctx, wait); err != nil {
				return nil, "", lastErr
			}
		}
		data, ctype, retry, err := fetchOnce(ctx, cl, url, max, vendor)
		if err == nil {
			return data, ctype, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, "", lastErr
}

var defaultDownload = &http.Client{Timeout: 60 * time.Second}

func fetchOnce(ctx context.Context, cl *http.Client, url string, max int64, vendor string) (data []byte, ctype string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", false, &Error{Kind: KindUnavailable, Vendor: vendor, Message: "bad result URL"}
	}
	resp, err := cl.Do(req)
	if err != nil {
		var inner error = err
		if ue, ok := errors.AsType[*neturl.Error](err); ok {
			inner = ue.Err // drop the URL: signed query strings stay out of logs
		}
		return nil, "", true, &Error{Kind: KindUnavailable, Vendor: vendor, Message: "downloading the result", Err: inner}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &Error{Kind: KindUnavailable, Vendor: vendor, HTTPStatus: resp.StatusCode, Message: "downloading the result"}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.Kind = KindRateLimited
		}
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return nil, "", retry, e
	}
	if resp.ContentLength > max {
		return nil, "", false, &Error{Kind: KindUnavailable, Vendor: vendor, Message: fmt.Sprintf("result is %d bytes, over the %d limit", resp.ContentLength, max)}
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", true, &Error{Kind: KindUnavailable, Vendor: vendor, Message: "downloading the result", Err: err}
	}
	if int64(len(data)) > max {
		return nil, "", false, &Error{Kind: KindUnavailable, Vendor: vendor, Message: fmt.Sprintf("result is over the %d byte limit", max)}
	}
	ctype = http.DetectContentType(data)
	if !slices.Contains(resultTypes, ctype) {
		return nil, "", false, &Error{Kind: KindUnavailable, Vendor: vendor, Message: "result is not an image (" + ctype + ")"}
	}
	return data, ctype, false, nil
}
