package fakediscord_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/fluxbot/fluxbot/internal/fakediscord"
)

// decodeErrors collects discordgo's "error unmarshalling" logs: discordgo
// logs a payload it cannot decode and dispatches it half-filled
// (protocols.md A2.6), so TestMain fails the run if the fake sent one.
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
		fmt.Fprintf(os.Stderr, "discordgo could not decode payloads from the fake:\n%s\n", strings.Join(decodeErrors, "\n"))
		code = 1
	}
	os.Exit(code)
}

// rewrite sends https://discord.com requests to the fake (protocols.md A1).
type rewrite struct{ target *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "discord.com" {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = r.target.Scheme, r.target.Host, r.target.Host
	}
	return http.DefaultTransport.RoundTrip(req)
}

// newSession returns a discordgo session wired to the fake, not yet open.
func newSession(t *testing.T, f *fakediscord.Server, intents discordgo.Intent) *discordgo.Session {
	t.Helper()
	s, err := discordgo.New("Bot " + f.Token)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = &http.Client{Transport: rewrite{u}, Timeout: 10 * time.Second}
	s.Identify.Intents = intents
	s.LogLevel = discordgo.LogError // routed to decodeErrors by TestMain
	// Handlers run in the reading goroutine, in order, and before the state
	// applies later events to shared structs.
	s.SyncEvents = true
	return s
}

// open opens s and closes it in cleanup (before the fake's own cleanup).
func open(t *testing.T, s *discordgo.Session) {
	t.Helper()
	if err := s.Open(); err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
}

// collect buffers every event of type T.
func collect[T any](s *discordgo.Session) <-chan T {
	ch := make(chan T, 64)
	s.AddHandler(func(_ *discordgo.Session, e T) { ch <- e })
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		var zero T
		t.Fatalf("no %T event within 5s", zero)
		return zero
	}
}

func none[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %T: %+v", e, e)
	case <-time.After(d):
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// restErr asserts err is a Discord error with status and JSON code.
func restErr(t *testing.T, err error, status, code int) *discordgo.RESTError {
	t.Helper()
	var re *discordgo.RESTError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *discordgo.RESTError %d/%d", err, status, code)
	}
	if re.Response.StatusCode != status || re.Message == nil || re.Message.Code != code {
		t.Fatalf("error = %d %s, want %d code %d", re.Response.StatusCode, re.ResponseBody, status, code)
	}
	return re
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func download(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func ptr[T any](v T) *T { return &v }

// imagineCommands is the bot's registration: /imagine and "Edit image".
func imagineCommands() []*discordgo.ApplicationCommand {
	return []*discordgo.ApplicationCommand{
		{
			Name: "imagine", Description: "Generate an image",
			Options: []*discordgo.ApplicationCommandOption{
				{Type: discordgo.ApplicationCommandOptionString, Name: "prompt", Description: "What to draw", Required: true},
				{Type: discordgo.ApplicationCommandOptionAttachment, Name: "image", Description: "Image to edit"},
				{Type: discordgo.ApplicationCommandOptionInteger, Name: "steps", Description: "Steps", MinValue: ptr(1.0), MaxValue: 50},
			},
		},
		{Name: "Edit image", Type: discordgo.MessageApplicationCommand},
	}
}

func register(t *testing.T, f *fakediscord.Server, s *discordgo.Session) {
	t.Helper()
	if _, err := s.ApplicationCommandBulkOverwrite(f.AppID, "", imagineCommands()); err != nil {
		t.Fatalf("bulk overwrite: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
