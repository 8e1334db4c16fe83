package discord_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/fluxbot/fluxbot/bots/discord"
	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/internal/fakediscord"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// decodeErrors collects discordgo's "error unmarshalling" logs: discordgo
// logs a payload it cannot decode and dispatches it half-filled, so a test
// run that saw one fails.
var (
	decodeMu     sync.Mutex
	decodeErrors []string
)

func TestMain(m *testing.M) {
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if level == discordgo.LogError && strings.Contains(msg, "unmarshal") {
			decodeMu.Lock()
			decodeErrors = append(decodeErrors, msg)
			decodeMu.Unlock()
		}
	}
	code := m.Run()
	if len(decodeErrors) > 0 {
		fmt.Fprintf(os.Stderr, "discordgo could not decode payloads:\n%s\n", strings.Join(decodeErrors, "\n"))
		code = 1
	}
	os.Exit(code)
}

// setup configures one harness.
type setup struct {
	fake []fakediscord.Option
	// f reuses a fake (a restart); nil creates one.
	f       *fakediscord.Server
	store   jobs.Store
	limiter *ratelimit.Limiter
	// vendors default to one permissive "fake" vendor.
	vendors       []*imagingtest.Vendor
	progressEvery time.Duration
	cfg           func(*discord.Config)
	// pipeline wraps the manager (to slow it down).
	pipeline func(discord.Pipeline) discord.Pipeline
}

// harness is a bot wired to a fake Discord, a real jobs.Manager and
// in-memory vendors.
type harness struct {
	t       testing.TB
	f       *fakediscord.Server
	vendors []*imagingtest.Vendor
	vendor  *imagingtest.Vendor // vendors[0]
	store   jobs.Store
	mgr     *jobs.Manager
	bot     *discord.Bot
	logs    *syncBuffer
	stop    func()
}

func start(t testing.TB, s setup) *harness {
	t.Helper()
	h := &harness{t: t, f: s.f, logs: &syncBuffer{}}
	if h.f == nil {
		h.f = fakediscord.New(t, s.fake...)
	}
	h.vendors = s.vendors
	if len(h.vendors) == 0 {
		h.vendors = []*imagingtest.Vendor{imagingtest.NewVendor("fake")}
	}
	h.vendor = h.vendors[0]
	var vs []imaging.Vendor
	var names []string
	routes := map[string]http.RoundTripper{}
	for _, v := range h.vendors {
		vs = append(vs, v)
		names = append(names, v.Name())
		routes[v.Name()+".fake.invalid"] = v.Transport()
	}
	svc, err := imaging.NewService("", vs...)
	if err != nil {
		t.Fatal(err)
	}
	svc.Jitter = -1
	svc.Download = &http.Client{Transport: hostRoutes(routes), Timeout: 10 * time.Second}
	h.store = s.store
	if h.store == nil {
		h.store = jobs.NewMemStore()
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.mgr = &jobs.Manager{Service: svc, Store: h.store, Limiter: s.limiter, ProgressEvery: s.progressEvery, Log: log}
	cfg := discord.Config{Token: h.f.Token, APIURL: h.f.URL, Vendors: names, Log: log, Now: h.f.Now}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	var p discord.Pipeline = h.mgr
	if s.pipeline != nil {
		p = s.pipeline(p)
	}
	h.bot, err = discord.New(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	h.mgr.Register(discord.Platform, h.bot)

	ctx, cancel := context.WithCancel(context.Background())
	if err := h.mgr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- h.bot.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("Run() = %v", err)
			}
			h.mgr.Wait()
			if h.bot.Ready() {
				t.Error("Ready() after Run returned")
			}
		})
	}
	// Registered after fakediscord.New, so it runs before the fake closes.
	t.Cleanup(h.stop)
	waitFor(t, "the bot to be ready", func() bool {
		select {
		case err := <-runErr:
			runErr <- err
			t.Fatalf("Run() returned early: %v", err)
		default:
		}
		return h.bot.Ready()
	})
	return h
}

// hostRoutes sends each request to the vendor transport of its host.
type hostRoutes map[string]http.RoundTripper

func (r hostRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := r[req.URL.Host]; ok {
		return rt.RoundTrip(req)
	}
	return nil, fmt.Errorf("no route to %s", req.URL.Host)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dispatch builds-and-sends an interaction.
func (h *harness) dispatch(it *fakediscord.Interaction, err error) *fakediscord.Interaction {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.f.DispatchInteraction(it); err != nil {
		h.t.Fatal(err)
	}
	return it
}

// imagine runs /imagine as user (zero: the default user).
func (h *harness) imagine(user fakediscord.User, args ...fakediscord.Arg) *fakediscord.Interaction {
	h.t.Helper()
	return h.dispatch(h.f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", User: user, Args: args}))
}

// response waits until the interaction was acknowledged.
func (h *harness) response(it *fakediscord.Interaction) fakediscord.Response {
	h.t.Helper()
	var r fakediscord.Response
	waitFor(h.t, "the acknowledgement of "+it.ID, func() bool {
		r, _ = h.f.Response(it.ID)
		return r.Acked
	})
	return r
}

// original waits until the interaction's response satisfies cond.
func (h *harness) original(it *fakediscord.Interaction, what string, cond func(fakediscord.Message) bool) fakediscord.Message {
	h.t.Helper()
	var m fakediscord.Message
	waitFor(h.t, what, func() bool {
		r, _ := h.f.Response(it.ID)
		if r.OriginalID == "" {
			return false
		}
		m, _ = h.f.Message(r.OriginalID)
		return cond(m)
	})
	return m
}

// result waits for the interaction's response to carry the image.
func (h *harness) result(it *fakediscord.Interaction) fakediscord.Message {
	h.t.Helper()
	return h.original(it, "the result of "+it.ID, func(m fakediscord.Message) bool { return len(m.Attachments) > 0 })
}

// jobOf is the job id in a result's buttons.
func jobOf(t testing.TB, m fakediscord.Message) string {
	t.Helper()
	for _, b := range m.Buttons() {
		if id, ok := strings.CutPrefix(b.CustomID, "fb:reroll:"); ok {
			return id
		}
	}
	t.Fatalf("message %s has no re-roll button: %+v", m.ID, m.Buttons())
	return ""
}

// submits waits until the vendor has seen n submits and returns them.
func (h *harness) submits(v *imagingtest.Vendor, n int) []imaging.Request {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d vendor submits", n), func() bool { return len(v.Submits()) >= n })
	return v.Submits()
}

// noRefusals fails if the fake refused any request of the bot.
func (h *harness) noRefusals() {
	h.t.Helper()
	for _, r := range h.f.Refusals() {
		h.t.Errorf("fake refused %s %s (%s) -> %d %d %s", r.Method, r.Path, r.Route, r.Status, r.Code, r.Message)
	}
}

// cdnPrefix is the start of an attachment's CDN URL (before the
// signature, which changes with the fake clock).
func (h *harness) cdnPrefix(a fakediscord.Attachment, channelID string, ephemeral bool) string {
	dir := "/attachments/"
	if ephemeral {
		dir = "/ephemeral-attachments/"
	}
	return h.f.URL + dir + channelID + "/" + a.ID + "/" + a.Filename + "?"
}

func mustJSON(t testing.TB, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// noisyPNG is a size×size PNG of random pixels: it compresses badly.
func noisyPNG(t testing.TB, size int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range size {
		for x := range size {
			img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// slowPipeline delays Submit, like a stalled disk.
type slowPipeline struct {
	discord.Pipeline
	delay time.Duration
	calls atomic.Int32
}

func (p *slowPipeline) Submit(ctx context.Context, j *jobs.Job) (*jobs.Admission, error) {
	p.calls.Add(1)
	time.Sleep(p.delay)
	return p.Pipeline.Submit(ctx, j)
}

var _ io.Writer = (*syncBuffer)(nil)
