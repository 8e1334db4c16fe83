package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/bots/slack"
	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/internal/fakeslack"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// harness is a Bot over a real jobs.Manager and imaging.Service (with the
// in-memory fake vendor), against a fake Slack driven by the real slack-go
// and socketmode clients.
type harness struct {
	t      testing.TB
	f      *fakeslack.Server
	vendor *imagingtest.Vendor
	svc    *imaging.Service
	store  jobs.Store
	m      *jobs.Manager
	bot    *slack.Bot
	pipe   *recPipeline
	url    string // HTTP mode: the bot's server
	stop   func() // stops the bot and the manager (idempotent)
}

// recPipeline is the Manager as the Bot sees it, recording every Submit.
type recPipeline struct {
	*jobs.Manager
	mu      sync.Mutex
	outcome []error // one per Submit call, in order
	changed chan struct{}
}

func (p *recPipeline) Submit(ctx context.Context, j *jobs.Job) (*jobs.Admission, error) {
	a, err := p.Manager.Submit(ctx, j)
	p.mu.Lock()
	p.outcome = append(p.outcome, err)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return a, err
}

// waitSubmits waits until cond holds for the Submit outcomes so far.
func (h *harness) waitSubmits(cond func(outcomes []error) bool) []error {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		h.pipe.mu.Lock()
		out, ch := slices.Clone(h.pipe.outcome), h.pipe.changed
		h.pipe.mu.Unlock()
		if cond(out) {
			return out
		}
		select {
		case <-ch:
		case <-timeout:
			h.t.Fatalf("Submit outcomes %v never met the condition", out)
		}
	}
}

// count returns how many outcomes are err (nil: accepted) by errors.Is.
func count(outcomes []error, err error) int {
	n := 0
	for _, o := range outcomes {
		if (err == nil && o == nil) || (err != nil && errors.Is(o, err)) {
			n++
		}
	}
	return n
}

type options struct {
	http      bool // HTTP mode instead of Socket Mode
	limits    *ratelimit.Config
	store     jobs.Store
	fake      []fakeslack.Option
	server    *fakeslack.Server   // reuse this fake Slack (a restart)
	vendorIn  *imagingtest.Vendor // reuse this vendor (a restart)
	vendor    func(v *imagingtest.Vendor)
	config    func(c *slack.Config)
	noStrict  bool
	discard   bool // no logs (benchmarks)
	noConnect bool
}

func testLogger(t testing.TB, discard bool) *slog.Logger {
	if _, ok := t.(*testing.B); ok || discard {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeVendor is the in-memory vendor "fake" polling every 5 ms.
func fakeVendor() *imagingtest.Vendor {
	v := imagingtest.NewVendor("fake")
	v.Caps.PollDelay, v.Caps.PollInterval = 5*time.Millisecond, 5*time.Millisecond
	v.Image = imagingtest.PNG(5)
	return v
}

func newHarness(t testing.TB, o options) *harness {
	t.Helper()
	fo := append([]fakeslack.Option{fakeslack.WithPingInterval(500 * time.Millisecond)}, o.fake...)
	if !o.noStrict {
		fo = append(fo, fakeslack.WithStrictWarnings())
	}
	f := o.server
	if f == nil {
		f = fakeslack.New(t, fo...)
	}
	h := &harness{t: t, f: f, vendor: o.vendorIn}
	if h.vendor == nil {
		h.vendor = fakeVendor()
	}
	if o.vendor != nil {
		o.vendor(h.vendor)
	}
	svc, err := imaging.NewService("", h.vendor)
	if err != nil {
		t.Fatal(err)
	}
	svc.Download = &http.Client{Transport: h.vendor.Transport()}
	h.svc = svc
	h.store = o.store
	if h.store == nil {
		h.store = jobs.NewMemStore()
	}
	log := testLogger(t, o.discard)
	h.m = &jobs.Manager{Service: svc, Store: h.store, Log: log, ProgressEvery: time.Millisecond}
	if o.limits != nil {
		h.m.Limiter = ratelimit.New(*o.limits)
	}
	cfg := slack.Config{
		BotToken: f.BotToken(), APIURL: f.APIURL(), Vendors: svc.Vendors(), Log: log,
		ProgressEvery: time.Millisecond,
	}
	if o.http {
		cfg.SigningSecret = f.SigningSecret()
	} else {
		cfg.AppToken = f.AppToken()
	}
	if o.config != nil {
		o.config(&cfg)
	}
	h.pipe = &recPipeline{Manager: h.m, changed: make(chan struct{})}
	bot, err := slack.New(cfg, h.pipe)
	if err != nil {
		t.Fatal(err)
	}
	h.bot = bot
	h.m.Register(slack.Platform, bot)

	ctx, cancel := context.WithCancel(context.Background())
	if err := h.m.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- bot.Run(ctx) }()
	if o.http {
		srv := httptest.NewServer(bot.Handler())
		h.url = srv.URL
		t.Cleanup(srv.Close)
	}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-runDone:
				if err != nil {
					t.Errorf("Bot.Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Bot.Run did not return within 10s of cancel")
			}
			done := make(chan struct{})
			go func() { h.m.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("Manager.Wait did not return within 10s")
			}
		})
	}
	t.Cleanup(h.stop)
	if !o.noConnect {
		h.waitReady()
	}
	return h
}

func (h *harness) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.bot.Ready() {
		if time.Now().After(deadline) {
			h.t.Fatal("the bot did not become ready within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if h.url == "" {
		if err := h.f.WaitConnected(h.ctx(5 * time.Second)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// deliver sends d over Socket Mode and waits for its ack, which must come
// within Slack's deadline.
func (h *harness) deliver(d fakeslack.Deliverable) fakeslack.Ack {
	h.t.Helper()
	env, err := h.f.Deliver(h.ctx(5*time.Second), d)
	if err != nil {
		h.t.Fatal(err)
	}
	ack, err := env.WaitAck(h.ctx(5 * time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	if ack.Late {
		h.t.Errorf("ack of %s came after %v, past Slack's deadline", env.Type, ack.Latency)
	}
	return ack
}

// result waits for a result card (a bot message with a file) in channel
// for which match (nil: any) holds.
func (h *harness) result(channel string, match func(fakeslack.Message) bool) fakeslack.Message {
	h.t.Helper()
	m, err := h.f.WaitForMessage(h.ctx(10*time.Second), channel, func(m fakeslack.Message) bool {
		return m.FromBot() && len(m.Files) > 0 && (match == nil || match(m))
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// results returns the live result cards in channel.
func (h *harness) results(channel string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range h.f.Messages(channel) {
		if m.FromBot() && len(m.Files) > 0 && !m.Deleted {
			out = append(out, m)
		}
	}
	return out
}

// ephemeral waits for an ephemeral message to user containing substr.
func (h *harness) ephemeral(channel, user, substr string) fakeslack.Ephemeral {
	h.t.Helper()
	e, err := h.f.WaitForEphemeral(h.ctx(10*time.Second), channel, user, func(e fakeslack.Ephemeral) bool {
		return strings.Contains(e.Text, substr)
	})
	if err != nil {
		h.t.Fatalf("%v; ephemerals: %+v", err, h.f.Ephemerals(channel, user))
	}
	return e
}

// idle waits until no job is in flight.
func (h *harness) idle() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.m.InFlight() > 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d jobs still in flight after 10s", h.m.InFlight())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// jobOf returns the job a result card belongs to, from its buttons.
func (h *harness) jobOf(m fakeslack.Message) *jobs.Job {
	h.t.Helper()
	for _, b := range m.Buttons() {
		if b.ActionID == "fb_reroll" {
			j, err := h.store.Get(context.Background(), b.Value)
			if err != nil {
				h.t.Fatalf("job %q of the card: %v", b.Value, err)
			}
			return j
		}
	}
	h.t.Fatalf("no fb_reroll button on %+v", m)
	return nil
}

// cardText is the text of a card's section and context blocks.
func cardText(t testing.TB, m fakeslack.Message) string {
	t.Helper()
	type text struct {
		Text string `json:"text"`
	}
	var blocks []struct {
		Type     string `json:"type"`
		Text     text   `json:"text"`
		Elements []json.RawMessage
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks of %s: %v", m.TS, err)
	}
	var sb strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case "section":
			sb.WriteString(b.Text.Text + "\n")
		case "context":
			for _, e := range b.Elements {
				var el text
				_ = json.Unmarshal(e, &el)
				sb.WriteString(el.Text + "\n")
			}
		}
	}
	return sb.String()
}

// statusMessages returns the bot's status messages (text messages that are
// not results) in channel, deleted ones included.
func (h *harness) statusMessages(channel string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range h.f.Messages(channel) {
		if m.FromBot() && len(m.Files) == 0 && m.Via == "chat.postMessage" {
			out = append(out, m)
		}
	}
	return out
}

func buttonIDs(m fakeslack.Message) []string {
	var ids []string
	for _, b := range m.Buttons() {
		ids = append(ids, b.ActionID)
	}
	return ids
}

func sameStrings(a, b []string) bool { return slices.Equal(a, b) }
