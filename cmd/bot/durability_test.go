package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/internal/fakediscord"
)

// These tests run the real bot binary against a fake Discord and a strict
// fake vendor, kill it with SIGKILL at the worst moments and start it again
// on the same DATA_DIR: the promise under test is exactly one vendor
// submission and exactly one delivery.

var (
	buildOnce sync.Once
	botBin    string
	buildErr  error
)

func buildBot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fluxbot-bin")
		if err != nil {
			buildErr = err
			return
		}
		botBin = filepath.Join(dir, "bot")
		out, err := exec.Command("go", "build", "-o", botBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return botBin
}

// syncBuf is a goroutine-safe buffer for a child's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type botProc struct {
	cmd  *exec.Cmd
	out  *syncBuf
	done chan error
}

func startBot(t *testing.T, bin string, env map[string]string) *botProc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir() // no stray .env
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &botProc{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("bot output:\n%s", out.String())
		}
	})
	return p
}

func (p *botProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil // for the cleanup's receive
}

// restProxy stands between the bot and the fake Discord's REST API. When
// holding is set, it keeps the bot's upload of the result (a multipart
// PATCH of the original response) from ever reaching Discord, and reports
// that it did.
type restProxy struct {
	*http.Server
	url     string
	holding atomic.Bool
	held    chan struct{}
	once    sync.Once
}

func newRESTProxy(t *testing.T, target string) *restProxy {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &restProxy{held: make(chan struct{})}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.holding.Load() && r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/messages/@original") &&
			strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			p.once.Do(func() { close(p.held) })
			<-r.Context().Done() // never answered: the bot dies waiting
			return
		}
		rp.ServeHTTP(w, r)
	})
	srv := newLoopbackServer(t, mux)
	p.url = srv
	return p
}

func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := &http.Server{Handler: h}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return "http://" + ln.Addr().String()
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type durabilityWorld struct {
	discord *fakediscord.Server
	vendor  *imagingtest.PoYoServer
	proxy   *restProxy
	env     map[string]string
}

func newDurabilityWorld(t *testing.T, running int) *durabilityWorld {
	f := fakediscord.New(t, fakediscord.WithQuiet())
	v := imagingtest.NewPoYo(t, imagingtest.WithPolls(1, running), imagingtest.WithImage(imagingtest.PNG(42)))
	p := newRESTProxy(t, f.URL)
	env := map[string]string{
		"POYO_API_KEY": "test-key", "POYO_BASE_URL": v.URL,
		"IMAGING_POLL_DELAY": "50ms", "IMAGING_POLL_INTERVAL": "50ms",
		"DISCORD_BOT_TOKEN": f.Token, "DISCORD_API_URL": p.url, "DISCORD_GUILD_IDS": f.GuildID,
		"DATA_DIR": t.TempDir(), "RATE_LIMIT": "0", "LOG_LEVEL": "debug",
	}
	return &durabilityWorld{discord: f, vendor: v, proxy: p, env: env}
}

// imagine starts the bot's first life and sends /imagine once it is ready.
func (w *durabilityWorld) imagine(t *testing.T, bin string) (*botProc, *fakediscord.Interaction) {
	t.Helper()
	p := startBot(t, bin, w.env)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := w.discord.WaitReady(ctx); err != nil {
		t.Fatalf("bot never connected: %v", err)
	}
	waitFor(t, "command registration", 10*time.Second, func() bool { return len(w.discord.Commands(w.discord.GuildID)) > 0 })
	it, err := w.discord.SlashCommand(fakediscord.SlashCommand{Name: "imagine",
		Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "a lighthouse at dawn")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.discord.DispatchInteraction(it); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acknowledgement", 5*time.Second, func() bool { r, _ := w.discord.Response(it.ID); return r.Acked })
	return p, it
}

// delivered returns the messages that carry the vendor's image.
func (w *durabilityWorld) delivered() []fakediscord.Message {
	var out []fakediscord.Message
	for _, m := range w.discord.Messages(w.discord.ChannelID) {
		for _, a := range m.Attachments {
			if bytes.Equal(a.Data, imagingtest.PNG(42)) && !m.Deleted {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func (w *durabilityWorld) checkExactlyOnce(t *testing.T, it *fakediscord.Interaction) {
	t.Helper()
	waitFor(t, "the result in the channel", 30*time.Second, func() bool { return len(w.delivered()) > 0 })
	time.Sleep(500 * time.Millisecond) // a second copy would arrive now
	if n := len(w.vendor.Submits()); n != 1 {
		t.Errorf("vendor submissions = %d, want exactly 1", n)
	}
	d := w.delivered()
	if len(d) != 1 {
		t.Fatalf("messages carrying the image = %d, want exactly 1", len(d))
	}
	if n := len(d[0].Attachments); n != 1 {
		t.Errorf("the result message has %d attachments, want 1", n)
	}
	if r, _ := w.discord.Response(it.ID); r.OriginalID != d[0].ID {
		t.Errorf("the result is message %s, want the deferred response %s edited", d[0].ID, r.OriginalID)
	}
}

func TestKillAfterVendorAcceptedResumesOnce(t *testing.T) {
	t.Parallel()
	bin := buildBot(t)
	w := newDurabilityWorld(t, 60) // ~3 s of polls: the job outlives the first process
	p, it := w.imagine(t, bin)
	// The first status poll comes after the task id is stored.
	waitFor(t, "the first status poll", 10*time.Second, func() bool { return w.vendor.Polls() >= 1 })
	p.kill(t)
	if len(w.delivered()) != 0 {
		t.Fatal("delivered before the kill; the vendor finished too soon for this test")
	}
	startBot(t, bin, w.env)
	w.checkExactlyOnce(t, it)
}

func TestKillDuringDeliveryDeliversOnce(t *testing.T) {
	t.Parallel()
	bin := buildBot(t)
	w := newDurabilityWorld(t, 2)
	w.proxy.holding.Store(true)
	p, it := w.imagine(t, bin)
	select {
	case <-w.proxy.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the bot never tried to deliver")
	}
	p.kill(t)
	w.proxy.holding.Store(false)
	startBot(t, bin, w.env)
	w.checkExactlyOnce(t, it)
}

func TestSIGTERMExitsWithinTenSeconds(t *testing.T) {
	t.Parallel()
	bin := buildBot(t)
	w := newDurabilityWorld(t, 1000000) // a job that never finishes is in flight
	p, _ := w.imagine(t, bin)
	waitFor(t, "the first status poll", 10*time.Second, func() bool { return w.vendor.Polls() >= 1 })
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s to exit", d)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("still running 12 s after SIGTERM")
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
