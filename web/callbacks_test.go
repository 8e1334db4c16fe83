package web_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/apixo"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/imaging/poyo"
	"github.com/fluxbot/fluxbot/imaging/toapis"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/web"
)

const (
	publicURL    = "https://bot.example"
	toapisSecret = "toapis-signing-secret-0123456789abcdef"
	poyoTask     = "task-unified-1757165031-uyujaw3d"
	toapisTask   = "task_img_7"
	apixoTask    = "task_abc123xyz"
)

// toapisAt is the fixed time ToAPIs callbacks are signed at.
var toapisAt = time.Unix(1783953302, 0)

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

type poke struct{ vendor, task string }

// fakeJobs is the jobSource: Get by id, Poke recorded.
type fakeJobs struct {
	mu     sync.Mutex
	jobs   map[string]jobs.Job
	pokes  []poke
	gets   int
	idle   bool  // Poke reports false (nothing waiting)
	getErr error // returned by Get for every id when set
}

func (f *fakeJobs) Get(_ context.Context, id string) (*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.getErr != nil {
		return nil, f.getErr
	}
	j, ok := f.jobs[id]
	if !ok {
		return nil, fmt.Errorf("load job %s: %w", id, jobs.ErrNotFound)
	}
	return &j, nil
}

func (f *fakeJobs) Poke(vendor, taskID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pokes = append(f.pokes, poke{vendor, taskID})
	return !f.idle
}

func (f *fakeJobs) Pokes() []poke {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]poke(nil), f.pokes...)
}

func (f *fakeJobs) Gets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

type cbEnv struct {
	cb     *web.Callbacks
	jobs   *fakeJobs
	m      *web.Metrics
	poyo   *imagingtest.PoYoServer
	toapis *imagingtest.ToAPIsServer
	apixo  *imagingtest.APIXOServer
	now    atomic.Pointer[time.Time]
	key    []byte
}

func (e *cbEnv) setNow(t time.Time) { e.now.Store(&t) }

func newCBEnv(t *testing.T) *cbEnv {
	t.Helper()
	e := &cbEnv{
		jobs: &fakeJobs{jobs: map[string]jobs.Job{
			"jobpoyo":   {ID: "jobpoyo", Vendor: "poyo", TaskID: poyoTask, State: jobs.Submitted},
			"jobpoyo2":  {ID: "jobpoyo2", Vendor: "poyo", TaskID: "task-unified-other", State: jobs.Submitted},
			"jobtoapis": {ID: "jobtoapis", Vendor: "toapis", TaskID: toapisTask, State: jobs.Submitted},
			"jobapixo":  {ID: "jobapixo", Vendor: "apixo", TaskID: apixoTask, State: jobs.Submitted},
			"jobvtrix":  {ID: "jobvtrix", Vendor: "vtrix", TaskID: "vt-1", State: jobs.Submitted},
		}},
		m:      &web.Metrics{},
		poyo:   imagingtest.NewPoYo(t),
		toapis: imagingtest.NewToAPIs(t),
		apixo:  imagingtest.NewAPIXO(t),
		key:    bytes.Repeat([]byte{0x5a}, 32),
	}
	e.toapis.EnableWebhooks(publicURL+"/callbacks", toapisSecret)
	e.setNow(toapisAt)
	e.cb = &web.Callbacks{
		PublicURL: publicURL,
		Key:       e.key,
		Vendors: map[string]imaging.CallbackVendor{
			"poyo":   poyo.New("k", poyo.WithWebhookSecret(e.poyo.WebhookSecret())),
			"toapis": toapis.New("k", toapis.WithWebhookSecret(toapisSecret)),
			"apixo":  apixo.New("k"),
		},
		Jobs:    e.jobs,
		Metrics: e.m,
		Log:     slog.New(slog.DiscardHandler),
		Now:     func() time.Time { return *e.now.Load() },
	}
	return e
}

// url is the callback URL of a stored job.
func (e *cbEnv) url(t *testing.T, id string) string {
	t.Helper()
	j := e.jobs.jobs[id]
	u := e.cb.URL(&j)
	if u == "" {
		t.Fatalf("no callback URL for %s", id)
	}
	return u
}

// post sends a POST to the callback URL u (absolute or a path).
func (e *cbEnv) post(u string, h http.Header, body []byte) *httptest.ResponseRecorder {
	return e.do(http.MethodPost, u, h, body)
}

func (e *cbEnv) do(method, u string, h http.Header, body []byte) *httptest.ResponseRecorder {
	path := strings.TrimPrefix(u, publicURL)
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.cb.ServeHTTP(rec, r)
	return rec
}

// poyoCallback is the fake's signed callback for task, with the clock set
// to its timestamp.
func (e *cbEnv) poyoCallback(t *testing.T, task string) (http.Header, []byte) {
	t.Helper()
	h, body := e.poyo.CallbackRequest(task)
	sec, err := strconv.ParseInt(h.Get("X-Webhook-Timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("fake PoYo timestamp: %v", err)
	}
	e.setNow(time.Unix(sec, 0))
	return h, body
}

func (e *cbEnv) toapisCallback(task string) (http.Header, []byte) {
	e.setNow(toapisAt)
	return e.toapis.CallbackRequestAt(task, toapisAt)
}

func (e *cbEnv) apixoCallback(task string) (http.Header, []byte) {
	return e.apixo.CallbackRequest(task)
}

// callbackCount reads fluxbot_callbacks_total{vendor,result}.
func (e *cbEnv) callbackCount(t *testing.T, vendor, result string) float64 {
	t.Helper()
	v, _ := scrape(t, e.m).value("fluxbot_callbacks_total", L("vendor", vendor, "result", result))
	return v
}

func wantCode(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Errorf("status = %d, want %d (body %q)", rec.Code, code, rec.Body.String())
	}
}

func wantPokes(t *testing.T, e *cbEnv, want ...poke) {
	t.Helper()
	got := e.jobs.Pokes()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pokes = %v, want %v", got, want)
	}
}

func TestCallbackURL(t *testing.T) {
	e := newCBEnv(t)
	for _, id := range []string{"jobpoyo", "jobtoapis", "jobapixo"} {
		j := e.jobs.jobs[id]
		u := e.cb.URL(&j)
		prefix := publicURL + "/callbacks/" + j.Vendor + "/" + j.ID + "/"
		tok, ok := strings.CutPrefix(u, prefix)
		if !ok {
			t.Fatalf("URL = %q, want prefix %q", u, prefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) < 16 {
			t.Errorf("token %q: %d bytes, err %v; want >= 128 bits of base64url", tok, len(raw), err)
		}
		if strings.ContainsAny(tok, "/?#=+") {
			t.Errorf("token %q is not path-safe", tok)
		}
		if again := e.cb.URL(&j); again != u {
			t.Errorf("URL not stable: %q then %q", u, again)
		}
	}
	tokenOf := func(c *web.Callbacks, vendor, id string) string {
		u := c.URL(&jobs.Job{ID: id, Vendor: vendor})
		return u[strings.LastIndexByte(u, '/')+1:]
	}
	a := tokenOf(e.cb, "poyo", "jobpoyo")
	if b := tokenOf(e.cb, "poyo", "jobpoyo2"); a == b {
		t.Error("two jobs share a token")
	}
	if b := tokenOf(e.cb, "apixo", "jobpoyo"); a == b {
		t.Error("the token does not depend on the vendor")
	}
	other := *e.cb
	other.Key = bytes.Repeat([]byte{0x5b}, 32)
	if b := tokenOf(&other, "poyo", "jobpoyo"); a == b {
		t.Error("the token does not depend on the key")
	}

	// A vendor that takes no callback gets no URL.
	vt := e.jobs.jobs["jobvtrix"]
	if u := e.cb.URL(&vt); u != "" {
		t.Errorf("URL for vendor not in Vendors = %q, want \"\"", u)
	}
	if u := e.cb.URL(&jobs.Job{ID: "x", Vendor: ""}); u != "" {
		t.Errorf("URL for empty vendor = %q", u)
	}
	// Without PUBLIC_URL nobody gets one.
	noURL := *e.cb
	noURL.PublicURL = ""
	j := e.jobs.jobs["jobpoyo"]
	if u := noURL.URL(&j); u != "" {
		t.Errorf("URL without PublicURL = %q", u)
	}
}

func TestCallbackValid(t *testing.T) {
	for _, tc := range []struct {
		vendor, job, task string
		req               func(*testing.T, *cbEnv, string) (http.Header, []byte)
	}{
		{"poyo", "jobpoyo", poyoTask, func(t *testing.T, e *cbEnv, task string) (http.Header, []byte) { return e.poyoCallback(t, task) }},
		{"toapis", "jobtoapis", toapisTask, func(_ *testing.T, e *cbEnv, task string) (http.Header, []byte) { return e.toapisCallback(task) }},
		{"apixo", "jobapixo", apixoTask, func(_ *testing.T, e *cbEnv, task string) (http.Header, []byte) { return e.apixoCallback(task) }},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			e := newCBEnv(t)
			h, body := tc.req(t, e, tc.task)
			rec := e.post(e.url(t, tc.job), h, body)
			wantCode(t, rec, http.StatusOK)
			wantPokes(t, e, poke{tc.vendor, tc.task})
			if n := e.callbackCount(t, tc.vendor, "accepted"); n != 1 {
				t.Errorf("accepted count = %v, want 1", n)
			}
		})
	}
}

// PoYo's documented failure callback and the older {"code","data"} wrapper
// both only poke.
func TestCallbackPoYoVariants(t *testing.T) {
	e := newCBEnv(t)
	failed := imagingtest.NewPoYo(t, imagingtest.WithOutcome(imagingtest.FailSafety))
	h, body := failed.CallbackRequest(poyoTask)
	if !strings.Contains(string(body), `"failed"`) {
		t.Fatalf("fake failure body: %s", body)
	}
	sec, _ := strconv.ParseInt(h.Get("X-Webhook-Timestamp"), 10, 64)
	e.setNow(time.Unix(sec, 0))
	wantCode(t, e.post(e.url(t, "jobpoyo"), h, body), http.StatusOK)

	wrapped := []byte(`{"code":200,"data":{"task_id":"` + poyoTask + `","status":"finished","files":[]}}`)
	wantCode(t, e.post(e.url(t, "jobpoyo"), h, wrapped), http.StatusOK)
	wantPokes(t, e, poke{"poyo", poyoTask}, poke{"poyo", poyoTask})
}

func TestCallbackBadToken(t *testing.T) {
	e := newCBEnv(t)
	h, body := e.poyoCallback(t, poyoTask)
	good := e.url(t, "jobpoyo")
	base := good[:strings.LastIndexByte(good, '/')+1]
	tok := good[len(base):]
	flipped := []byte(tok)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	otherJob := e.url(t, "jobpoyo2")
	otherTok := otherJob[strings.LastIndexByte(otherJob, '/')+1:]
	apixoTok := e.url(t, "jobapixo")
	apixoTok = apixoTok[strings.LastIndexByte(apixoTok, '/')+1:]

	for name, path := range map[string]string{
		"wrong token":                 base + string(flipped),
		"truncated token":             base + tok[:len(tok)-1],
		"empty token":                 base,
		"token of another job":        base + otherTok,
		"token of another vendor/job": base + apixoTok,
		"job's token, other vendor":   "/callbacks/apixo/jobpoyo/" + tok,
		"unknown vendor":              "/callbacks/bfl/jobpoyo/" + tok,
		"no token segment":            "/callbacks/poyo/jobpoyo",
		"extra segment":               good + "/x",
		"bare prefix":                 "/callbacks/",
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, e.post(path, h, body), http.StatusNotFound)
		})
	}
	wantPokes(t, e)
	if g := e.jobs.Gets(); g != 0 {
		t.Errorf("a bad token loaded a job (%d Gets): job existence leaks", g)
	}
	if n := e.callbackCount(t, "poyo", "bad_token"); n < 5 {
		t.Errorf("bad_token count = %v, want >= 5", n)
	}
	// The valid URL still works afterwards.
	wantCode(t, e.post(good, h, body), http.StatusOK)
}

func TestCallbackUnknownJob(t *testing.T) {
	e := newCBEnv(t)
	// Only someone holding the key can mint this URL; the job is gone.
	u := e.cb.URL(&jobs.Job{ID: "ghost", Vendor: "poyo"})
	h, body := e.poyoCallback(t, poyoTask)
	wantCode(t, e.post(u, h, body), http.StatusNotFound)
	wantPokes(t, e)
	if n := e.callbackCount(t, "poyo", "unknown_job"); n != 1 {
		t.Errorf("unknown_job count = %v", n)
	}
}

func TestCallbackStoreError(t *testing.T) {
	e := newCBEnv(t)
	e.jobs.getErr = errors.New("bolt: database not open")
	h, body := e.poyoCallback(t, poyoTask)
	rec := e.post(e.url(t, "jobpoyo"), h, body)
	if rec.Code < 500 {
		t.Errorf("store error answered %d; want a 5xx so the vendor retries", rec.Code)
	}
	wantPokes(t, e)
}

func TestCallbackPoYoBadSignature(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobpoyo")
	h, body := e.poyoCallback(t, poyoTask)
	ts := h.Get("X-Webhook-Timestamp")

	mutate := map[string]func(http.Header){
		"missing signature": func(h http.Header) { h.Del("X-Webhook-Signature") },
		"garbage signature": func(h http.Header) { h.Set("X-Webhook-Signature", "not base64!") },
		"flipped signature": func(h http.Header) {
			raw, _ := base64.StdEncoding.DecodeString(h.Get("X-Webhook-Signature"))
			raw[0] ^= 1
			h.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(raw))
		},
		"signed with another key": func(h http.Header) {
			h.Set("X-Webhook-Signature", base64.StdEncoding.EncodeToString(hmacSHA256([]byte("other-secret"), poyoTask+"."+ts)))
		},
		"timestamp moved (signature over the old one)": func(h http.Header) {
			sec, _ := strconv.ParseInt(ts, 10, 64)
			h.Set("X-Webhook-Timestamp", strconv.FormatInt(sec+1, 10))
		},
		"missing timestamp": func(h http.Header) { h.Del("X-Webhook-Timestamp") },
	}
	for name, f := range mutate {
		t.Run(name, func(t *testing.T) {
			h2 := h.Clone()
			f(h2)
			wantCode(t, e.post(u, h2, body), http.StatusUnauthorized)
		})
	}
	// A signature for another task does not carry over to this one.
	h3, _ := e.poyoCallback(t, "task-unified-other")
	wantCode(t, e.post(u, h3, body), http.StatusUnauthorized)

	wantPokes(t, e)
	if n := e.callbackCount(t, "poyo", "rejected"); n != float64(len(mutate)+1) {
		t.Errorf("rejected count = %v, want %d", n, len(mutate)+1)
	}
	if n := e.callbackCount(t, "poyo", "accepted"); n != 0 {
		t.Errorf("accepted count = %v", n)
	}
}

func TestCallbackStale(t *testing.T) {
	t.Run("poyo", func(t *testing.T) {
		e := newCBEnv(t)
		u := e.url(t, "jobpoyo")
		h, body := e.poyoCallback(t, poyoTask)
		signed := *e.now.Load()
		for _, d := range []time.Duration{poyo.CallbackMaxSkew + time.Second, -poyo.CallbackMaxSkew - time.Second, 24 * time.Hour} {
			e.setNow(signed.Add(d))
			wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
		}
		wantPokes(t, e)
		// Inside the window it is fine.
		e.setNow(signed.Add(poyo.CallbackMaxSkew - time.Second))
		wantCode(t, e.post(u, h, body), http.StatusOK)
		wantPokes(t, e, poke{"poyo", poyoTask})
	})
	t.Run("toapis", func(t *testing.T) {
		e := newCBEnv(t)
		u := e.url(t, "jobtoapis")
		for _, d := range []time.Duration{toapis.CallbackTolerance + time.Second, -toapis.CallbackTolerance - time.Second} {
			h, body := e.toapis.CallbackRequestAt(toapisTask, toapisAt.Add(-d))
			e.setNow(toapisAt)
			wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
		}
		wantPokes(t, e)
		h, body := e.toapis.CallbackRequestAt(toapisTask, toapisAt.Add(-toapis.CallbackTolerance+time.Second))
		wantCode(t, e.post(u, h, body), http.StatusOK)
		wantPokes(t, e, poke{"toapis", toapisTask})
		if n := e.callbackCount(t, "toapis", "rejected"); n != 2 {
			t.Errorf("rejected = %v, want 2", n)
		}
	})
}

func TestCallbackToAPIsSignature(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobtoapis")
	h, body := e.toapisCallback(toapisTask)
	for name, f := range map[string]func(http.Header, []byte) (http.Header, []byte){
		"body changed": func(h http.Header, b []byte) (http.Header, []byte) {
			return h, bytes.Replace(b, []byte(`"SUCCESS"`), []byte(`"FAILURE"`), 1)
		},
		"no signature": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Del("X-ToAPIs-Webhook-Signature")
			return h, b
		},
		"no v1 prefix": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set("X-ToAPIs-Webhook-Signature", strings.TrimPrefix(h.Get("X-ToAPIs-Webhook-Signature"), "v1="))
			return h, b
		},
		"event id changed": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set("X-ToAPIs-Webhook-Id", "evt_forged")
			return h, b
		},
		"wrong secret": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set("X-ToAPIs-Webhook-Signature", "v1="+imagingtest.ToAPIsSignature("guess", h.Get("X-ToAPIs-Webhook-Id"), h.Get("X-ToAPIs-Webhook-Timestamp"), b))
			return h, b
		},
	} {
		t.Run(name, func(t *testing.T) {
			h2, b2 := f(h.Clone(), bytes.Clone(body))
			wantCode(t, e.post(u, h2, b2), http.StatusUnauthorized)
		})
	}
	wantPokes(t, e)

	// During a secret rotation both v1 values are sent; one match is enough.
	e.toapis.RotateWebhookSecret("toapis-new-secret")
	h, body = e.toapisCallback(toapisTask)
	if !strings.Contains(h.Get("X-ToAPIs-Webhook-Signature"), ",") {
		t.Fatalf("fake did not dual-sign: %q", h.Get("X-ToAPIs-Webhook-Signature"))
	}
	wantCode(t, e.post(u, h, body), http.StatusOK)
	wantPokes(t, e, poke{"toapis", toapisTask})
}

func TestCallbackToAPIsNoSecret(t *testing.T) {
	e := newCBEnv(t)
	e.cb.Vendors["toapis"] = toapis.New("k") // webhooks not enabled
	h, body := e.toapisCallback(toapisTask)
	wantCode(t, e.post(e.url(t, "jobtoapis"), h, body), http.StatusUnauthorized)
	wantPokes(t, e)
}

func TestCallbackOtherTask(t *testing.T) {
	cases := []struct {
		vendor, job string
		req         func(*testing.T, *cbEnv) (http.Header, []byte)
	}{
		{"poyo", "jobpoyo", func(t *testing.T, e *cbEnv) (http.Header, []byte) { return e.poyoCallback(t, "task-unified-other") }},
		{"toapis", "jobtoapis", func(_ *testing.T, e *cbEnv) (http.Header, []byte) { return e.toapisCallback("task_img_999") }},
		{"apixo", "jobapixo", func(_ *testing.T, e *cbEnv) (http.Header, []byte) { return e.apixoCallback("task_other") }},
	}
	for _, tc := range cases {
		t.Run(tc.vendor, func(t *testing.T) {
			e := newCBEnv(t)
			h, body := tc.req(t, e)
			wantCode(t, e.post(e.url(t, tc.job), h, body), http.StatusUnauthorized)
			wantPokes(t, e)
			if n := e.callbackCount(t, tc.vendor, "mismatch"); n != 1 {
				t.Errorf("mismatch count = %v", n)
			}
		})
	}
	t.Run("job of another vendor", func(t *testing.T) {
		// A job recorded under toapis cannot be poked through a poyo URL,
		// even one minted for its id.
		e := newCBEnv(t)
		e.jobs.jobs["jobx"] = jobs.Job{ID: "jobx", Vendor: "toapis", TaskID: poyoTask}
		u := e.cb.URL(&jobs.Job{ID: "jobx", Vendor: "poyo"})
		h, body := e.poyoCallback(t, poyoTask)
		wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
		wantPokes(t, e)
	})
}

// A job whose task id is not yet recorded (the submit answer and the
// callback race) is poked by the task the verified callback names.
func TestCallbackBeforeTaskIDSaved(t *testing.T) {
	e := newCBEnv(t)
	e.jobs.jobs["fresh"] = jobs.Job{ID: "fresh", Vendor: "poyo", State: jobs.Submitting}
	h, body := e.poyoCallback(t, poyoTask)
	wantCode(t, e.post(e.url(t, "fresh"), h, body), http.StatusOK)
	wantPokes(t, e, poke{"poyo", poyoTask})
}

func TestCallbackReplay(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobpoyo")
	h, body := e.poyoCallback(t, poyoTask)
	for range 3 {
		wantCode(t, e.post(u, h, body), http.StatusOK)
	}
	// Replays only poke again: the job confirms with Status each time.
	wantPokes(t, e, poke{"poyo", poyoTask}, poke{"poyo", poyoTask}, poke{"poyo", poyoTask})

	// Once the job no longer waits, a replay is still acknowledged (so the
	// vendor stops retrying) and counted idle.
	e.jobs.idle = true
	wantCode(t, e.post(u, h, body), http.StatusOK)
	if n := e.callbackCount(t, "poyo", "idle"); n != 1 {
		t.Errorf("idle count = %v", n)
	}
	// Replayed after the timestamp window, a signed callback is refused.
	e.setNow(e.now.Load().Add(time.Hour))
	wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
	if got := len(e.jobs.Pokes()); got != 4 {
		t.Errorf("pokes = %d, want 4", got)
	}

	// ToAPIs at-least-once delivery: the same event twice.
	th, tbody := e.toapisCallback(toapisTask)
	tu := e.url(t, "jobtoapis")
	e.jobs.idle = false
	wantCode(t, e.post(tu, th, tbody), http.StatusOK)
	wantCode(t, e.post(tu, th, tbody), http.StatusOK)
	if n := e.callbackCount(t, "toapis", "accepted"); n != 2 {
		t.Errorf("toapis accepted = %v", n)
	}
}

func TestCallbackMethod(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobpoyo")
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		rec := e.do(m, u, nil, nil)
		wantCode(t, rec, http.StatusMethodNotAllowed)
		if a := rec.Header().Get("Allow"); a != http.MethodPost {
			t.Errorf("%s: Allow = %q", m, a)
		}
	}
	wantPokes(t, e)
}

func TestCallbackBodyLimit(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobapixo")
	_, valid := e.apixoCallback(apixoTask)
	// A valid envelope padded with spaces past the limit.
	big := append(bytes.Clone(valid), bytes.Repeat([]byte(" "), web.MaxCallbackBody+1-len(valid))...)
	wantCode(t, e.post(u, nil, big), http.StatusRequestEntityTooLarge)
	wantPokes(t, e)
	if n := e.callbackCount(t, "apixo", "too_large"); n != 1 {
		t.Errorf("too_large count = %v", n)
	}
	// Exactly at the limit it is read and accepted.
	atLimit := append(bytes.Clone(valid), bytes.Repeat([]byte(" "), web.MaxCallbackBody-len(valid))...)
	wantCode(t, e.post(u, nil, atLimit), http.StatusOK)
	wantPokes(t, e, poke{"apixo", apixoTask})
}

func TestCallbackToAPIsEndpointTest(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobtoapis")
	h, body := e.toapis.EndpointTestRequest(toapisAt)
	wantCode(t, e.post(u, h, body), http.StatusOK)
	wantPokes(t, e)
	if n := e.callbackCount(t, "toapis", "test"); n != 1 {
		t.Errorf("test count = %v", n)
	}
	// An unsigned "test" event is still a forgery.
	h.Set("X-ToAPIs-Webhook-Signature", "v1=00")
	wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
	wantPokes(t, e)
}

func TestCallbackAPIXOUnsigned(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobapixo")
	h, body := e.apixoCallback(apixoTask)
	for k := range h {
		if strings.Contains(strings.ToLower(k), "sign") {
			t.Fatalf("fake APIXO callback carries a signature header %s", k)
		}
	}
	// No signature exists: any well-formed envelope for the job's task is
	// accepted, with no headers at all, and the only effect is a poke.
	wantCode(t, e.post(u, nil, body), http.StatusOK)
	failed := imagingtest.NewAPIXO(t, imagingtest.WithOutcome(imagingtest.FailSafety))
	_, fbody := failed.CallbackRequest(apixoTask)
	wantCode(t, e.post(u, h, fbody), http.StatusOK)
	wantPokes(t, e, poke{"apixo", apixoTask}, poke{"apixo", apixoTask})

	for name, b := range map[string]string{
		"not json":        `hello`,
		"no taskId":       `{"code":200,"message":"success","data":{"state":"success"}}`,
		"implausible id":  `{"code":200,"data":{"taskId":"a b"}}`,
		"array":           `[]`,
		"empty":           ``,
		"data not object": `{"code":200,"data":"task_abc123xyz"}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, e.post(u, nil, []byte(b)), http.StatusUnauthorized)
		})
	}
	if got := len(e.jobs.Pokes()); got != 2 {
		t.Errorf("pokes = %d, want 2", got)
	}
}

func TestCallbackNoMetrics(t *testing.T) {
	e := newCBEnv(t)
	e.cb.Metrics = nil
	e.cb.Log = nil
	h, body := e.apixoCallback(apixoTask)
	wantCode(t, e.post(e.url(t, "jobapixo"), nil, body), http.StatusOK)
	wantCode(t, e.post(publicURL+"/callbacks/apixo/jobapixo/bad", h, body), http.StatusNotFound)
}

// Every handler result moves its own counter, and the output stays valid.
func TestCallbackMetrics(t *testing.T) {
	e := newCBEnv(t)
	pu := e.url(t, "jobpoyo")
	ph, pbody := e.poyoCallback(t, poyoTask)
	e.post(pu, ph, pbody)                                              // accepted
	e.post(pu+"x", ph, pbody)                                          // bad_token
	e.post(pu, http.Header{}, pbody)                                   // rejected
	e.post(e.cb.URL(&jobs.Job{ID: "gone", Vendor: "poyo"}), ph, pbody) // unknown_job
	oh, obody := e.poyoCallback(t, "task-unified-other")
	e.post(pu, oh, obody) // mismatch
	e.jobs.idle = true
	e.post(pu, ph, pbody) // idle
	e.jobs.idle = false
	e.post(pu, nil, bytes.Repeat([]byte("x"), web.MaxCallbackBody+1)) // too_large
	th, tbody := e.toapis.EndpointTestRequest(toapisAt)
	e.setNow(toapisAt)
	e.post(e.url(t, "jobtoapis"), th, tbody) // test

	p := scrape(t, e.m)
	for _, w := range []struct {
		vendor, result string
	}{
		{"poyo", "accepted"}, {"poyo", "bad_token"}, {"poyo", "rejected"}, {"poyo", "unknown_job"},
		{"poyo", "mismatch"}, {"poyo", "idle"}, {"poyo", "too_large"}, {"toapis", "test"},
	} {
		if v, ok := p.value("fluxbot_callbacks_total", L("vendor", w.vendor, "result", w.result)); !ok || v != 1 {
			t.Errorf("callbacks{%s,%s} = %v (present %v), want 1", w.vendor, w.result, v, ok)
		}
	}
	if n := len(p.families["fluxbot_callbacks_total"].samples); n != 8 {
		t.Errorf("%d callback series, want 8: %v", n, p.families["fluxbot_callbacks_total"].samples)
	}
}

// Run with -race.
func TestCallbackConcurrent(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobapixo")
	_, body := e.apixoCallback(apixoTask)
	const n = 64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if rec := e.post(u, nil, body); rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if got := len(e.jobs.Pokes()); got != n {
		t.Errorf("pokes = %d, want %d", got, n)
	}
	if c := e.callbackCount(t, "apixo", "accepted"); c != n {
		t.Errorf("accepted = %v, want %d", c, n)
	}
}

// Through a real server and mux, as the binary mounts it.
func TestCallbackOverHTTP(t *testing.T) {
	e := newCBEnv(t)
	mux := http.NewServeMux()
	mux.Handle("/callbacks/", e.cb)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h, body := e.toapisCallback(toapisTask)
	u := srv.URL + strings.TrimPrefix(e.url(t, "jobtoapis"), publicURL)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header = h
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	wantPokes(t, e, poke{"toapis", toapisTask})
}

// BUG: callbacks.go treats any vendor error whose text contains "test" as
// ToAPIs' endpoint.test event. PoYo quotes the attacker-supplied
// X-Webhook-Timestamp in its ErrStaleCallback text, so a forged PoYo
// callback with timestamp "test" (or "latest", "contest") gets 200 and is
// counted as "test" instead of 401 "rejected".
func TestBugCallbackTestEventBySubstring(t *testing.T) {
	e := newCBEnv(t)
	u := e.url(t, "jobpoyo")
	_, body := e.poyoCallback(t, poyoTask)
	for _, ts := range []string{"test", "latest"} {
		h := http.Header{}
		h.Set("X-Webhook-Timestamp", ts)
		h.Set("X-Webhook-Signature", "Zm9yZ2Vk")
		wantCode(t, e.post(u, h, body), http.StatusUnauthorized)
	}
	wantPokes(t, e)
	if n := e.callbackCount(t, "poyo", "test"); n != 0 {
		t.Errorf("forged PoYo callbacks counted as test events: %v", n)
	}
	if n := e.callbackCount(t, "poyo", "rejected"); n != 2 {
		t.Errorf("rejected = %v, want 2", n)
	}
}

// BUG: an unknown vendor name from the URL path becomes a metric label.
// Anyone can create unbounded series (memory and scrape size grow with
// every distinct path), and a control character in the path is rendered
// by %q as \x01, which is not a valid escape in the Prometheus text format,
// so one request breaks every later scrape.
func TestBugCallbackUnknownVendorLabel(t *testing.T) {
	e := newCBEnv(t)
	for i := range 100 {
		e.post(fmt.Sprintf("/callbacks/v%d/j/t", i), nil, nil)
	}
	p := scrape(t, e.m)
	if n := len(p.families["fluxbot_callbacks_total"].samples); n > 1 {
		t.Errorf("100 requests to random vendor paths created %d series", n)
	}
	e.post("/callbacks/%01/j/t", nil, nil)
	scrape(t, e.m) // fails: invalid escape sequence \x
}

// Vendors deliver callbacks over https only (PoYo refuses a submit whose
// callback_url is http), so an http PUBLIC_URL yields no callback URL and
// the job is simply polled.
func TestCallbackURLNeedsHTTPS(t *testing.T) {
	for _, pub := range []string{"http://bot.example", "", "ftp://bot.example"} {
		c := &web.Callbacks{PublicURL: pub, Key: make([]byte, 32),
			Vendors: map[string]imaging.CallbackVendor{"apixo": apixo.New("k")}}
		if u := c.URL(&jobs.Job{ID: "j1", Vendor: "apixo"}); u != "" {
			t.Errorf("PublicURL %q: URL = %q, want none", pub, u)
		}
	}
	c := &web.Callbacks{PublicURL: "https://bot.example", Key: make([]byte, 32),
		Vendors: map[string]imaging.CallbackVendor{"apixo": apixo.New("k")}}
	if u := c.URL(&jobs.Job{ID: "j1", Vendor: "apixo"}); !strings.HasPrefix(u, "https://bot.example/callbacks/apixo/j1/") {
		t.Errorf("https PublicURL: URL = %q", u)
	}
}
