package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/patrickmn/go-cache"

	"github.com/fluxbot/fluxbot/jobs"
)

// Platform is the jobs.Job.Platform of Discord jobs; register the Bot
// under it with jobs.Manager.Register.
const Platform = "discord"

// Config configures a Bot.
type Config struct {
	// Token is the bot token (with or without the "Bot " prefix).
	Token string
	// APIURL replaces the https://discord.com origin of every REST call
	// and of gateway discovery; "" means https://discord.com.
	APIURL string
	// GuildIDs, when set, registers the commands in these guilds (instant)
	// instead of globally.
	GuildIDs []string
	// MessageContent requests the privileged MESSAGE_CONTENT intent.
	MessageContent bool
	// Vendors are the configured vendor names, the default first. The
	// /imagine vendor option is offered when there is more than one.
	Vendors []string
	// VendorNames are display names by vendor name ("poyo" → "PoYo");
	// a missing name shows as is.
	VendorNames map[string]string
	// Log receives the bot's logs (default slog.Default()).
	Log *slog.Logger
	// Now is the clock for the interaction token's 15 minutes and the
	// progress throttle (default time.Now).
	Now func() time.Time
}

// Pipeline is what the bot needs from the job pipeline; *jobs.Manager
// satisfies it.
type Pipeline interface {
	Submit(ctx context.Context, j *jobs.Job) (*jobs.Admission, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
	SaveDelivery(ctx context.Context, j *jobs.Job, note []byte) error
}

var _ Pipeline = (*jobs.Manager)(nil)

// Timing rules (receiving-and-responding.mdx): 3 s to acknowledge, the
// token lives 15 minutes.
const (
	tokenLifetime = 15 * time.Minute
	// deliverMargin and progressMargin keep uploads and edits clear of the
	// token's end, so a slow upload is not cut off by it.
	deliverMargin  = time.Minute
	progressMargin = 30 * time.Second
	// submitBudget is how long a handler waits for Submit before it
	// acknowledges anyway.
	submitBudget = 2 * time.Second
	// ackTimeout bounds one acknowledgement call.
	ackTimeout = 5 * time.Second
	// minEditGap is the least time between two progress edits of one
	// message.
	minEditGap = 2 * time.Second
	// defaultUploadLimit is Discord's per-file limit where the payload
	// does not say (reference.mdx "Uploading Files").
	defaultUploadLimit int64 = 10 << 20
)

// Bot is the Discord front end. Create it with New, register it with the
// jobs.Manager (it is the jobs.Reporter of Platform), then call Run. Its
// methods are safe for concurrent use.
type Bot struct {
	cfg Config
	p   Pipeline
	log *slog.Logger
	s   *discordgo.Session

	ready atomic.Bool

	mu       sync.Mutex
	appID    string
	botID    string
	stopping bool
	acks     map[string]chan struct{} // job id → closed once acknowledged
	limits   map[string]int64         // guild id → attachment_size_limit
	handlers sync.WaitGroup

	seen     *cache.Cache // "i:<id>" / "m:<id>" of events already handled
	lastEdit *cache.Cache // job id → time.Time of the last progress edit
	editURLs *cache.Cache // "fb:msgedit:…" modal id → image URL
}

// New returns a Bot; it does no I/O. It fails when the token is missing or
// APIURL is not an http(s) origin.
func New(cfg Config, p Pipeline) (*Bot, error) {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cfg.Token), "Bot "))
	if token == "" {
		return nil, errors.New("discord: no bot token")
	}
	if p == nil {
		return nil, errors.New("discord: no job pipeline")
	}
	origin, err := parseOrigin(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	s.Client = &http.Client{Transport: &rewrite{origin: origin, next: tr}, Timeout: 60 * time.Second}
	// The bot keeps no gateway state: it needs none, and discordgo's state
	// mutates event structs in place while handlers read them.
	s.StateEnabled = false
	s.Identify.Intents = intents(cfg.MessageContent)
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Bot{
		cfg: cfg, p: p, s: s, log: log.With("platform", Platform),
		acks:     map[string]chan struct{}{},
		limits:   map[string]int64{},
		seen:     cache.New(tokenLifetime, 0),
		lastEdit: cache.New(time.Hour, 0),
		editURLs: cache.New(tokenLifetime, 0),
	}, nil
}

// intents are the gateway intents the bot needs: mentions in guilds and
// DMs, and message content only when asked for.
func intents(messageContent bool) discordgo.Intent {
	i := discordgo.IntentsGuildMessages | discordgo.IntentsDirectMessages
	if messageContent {
		i |= discordgo.IntentMessageContent
	}
	return i
}

// Run connects to the gateway, registers the commands with one bulk
// overwrite (globally, or per guild when Config.GuildIDs is set), logs the
// invite URL and serves until ctx ends. It returns after the gateway is
// closed and every event handler has finished. A failed registration is
// logged, not fatal: commands registered before keep working.
func (b *Bot) Run(ctx context.Context) error {
	b.mu.Lock()
	b.stopping = false
	b.mu.Unlock()
	remove := b.s.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) { b.event(ctx, e) })
	defer remove()
	if err := b.s.Open(); err != nil {
		err = redact(err)
		if b.cfg.MessageContent && strings.Contains(err.Error(), "4014") {
			return fmt.Errorf("discord: the gateway refused the MESSAGE_CONTENT intent (4014): switch on the Message Content Intent in the Developer Portal (Bot page), or set DISCORD_MESSAGE_CONTENT=false: %w", err)
		}
		return fmt.Errorf("discord: connecting to the gateway: %w", err)
	}
	defer b.stop()

	b.s.State.RLock()
	appID, botID := "", ""
	if b.s.State.Application != nil {
		appID = b.s.State.Application.ID
	}
	if b.s.State.User != nil {
		botID = b.s.State.User.ID
	}
	b.s.State.RUnlock()
	if appID == "" {
		appID = botID // the same for every application created since 2019
	}
	b.mu.Lock()
	b.appID, b.botID = appID, botID
	b.mu.Unlock()

	if err := b.register(ctx, appID); err != nil {
		b.log.ErrorContext(ctx, "registering the slash commands failed; commands registered before keep working", "err", err)
	}
	b.log.InfoContext(ctx, "connected to Discord; invite the bot with this link", "invite_url", InviteURL(appID),
		"message_content_intent", b.cfg.MessageContent)
	b.ready.Store(true)

	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			b.seen.DeleteExpired()
			b.lastEdit.DeleteExpired()
			b.editURLs.DeleteExpired()
		}
	}
}

// stop closes the gateway and waits for the handlers that are running.
func (b *Bot) stop() {
	b.ready.Store(false)
	if err := b.s.Close(); err != nil {
		b.log.Warn("closing the gateway", "err", redact(err))
	}
	b.mu.Lock()
	b.stopping = true
	b.mu.Unlock()
	b.handlers.Wait()
}

// Ready reports whether the bot is connected to the gateway and has
// registered its commands (for /healthz).
func (b *Bot) Ready() bool {
	if !b.ready.Load() {
		return false
	}
	b.s.RLock()
	defer b.s.RUnlock()
	return b.s.DataReady
}

// event routes one gateway dispatch. discordgo runs it in its own
// goroutine; it is counted so that Run can wait for it.
func (b *Bot) event(ctx context.Context, e *discordgo.Event) {
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		return
	}
	b.handlers.Add(1)
	b.mu.Unlock()
	defer b.handlers.Done()
	defer func() {
		if r := recover(); r != nil {
			b.log.ErrorContext(ctx, "event handler panicked", "event", e.Type, "panic", r)
		}
	}()
	switch e.Type {
	case "INTERACTION_CREATE":
		ic, ok := e.Struct.(*discordgo.InteractionCreate)
		if !ok || ic.Interaction == nil || ic.Data == nil {
			return
		}
		// discordgo does not decode attachment_size_limit.
		var raw struct {
			Limit int64 `json:"attachment_size_limit"`
		}
		_ = json.Unmarshal(e.RawData, &raw)
		b.onInteraction(ctx, ic.Interaction, raw.Limit)
	case "MESSAGE_CREATE":
		mc, ok := e.Struct.(*discordgo.MessageCreate)
		if !ok || mc.Message == nil {
			return
		}
		b.onMessage(ctx, mc.Message)
	}
}

func (b *Bot) now() time.Time {
	if b.cfg.Now != nil {
		return b.cfg.Now()
	}
	return time.Now()
}

func (b *Bot) ids() (appID, botID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.appID, b.botID
}

// guildLimit is the upload limit last seen in an interaction from guildID.
func (b *Bot) guildLimit(guildID string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.limits[guildID]; n > 0 {
		return n
	}
	return defaultUploadLimit
}

func (b *Bot) setGuildLimit(guildID string, n int64) {
	if guildID == "" || n <= 0 {
		return
	}
	b.mu.Lock()
	b.limits[guildID] = n
	b.mu.Unlock()
}

// expectAck notes that job id is being acknowledged; Reporter calls for
// it wait until the returned func is called (the response they edit does
// not exist before).
func (b *Bot) expectAck(id string) func() {
	ch := make(chan struct{})
	b.mu.Lock()
	b.acks[id] = ch
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.acks, id)
		b.mu.Unlock()
		close(ch)
	}
}

func (b *Bot) waitAck(ctx context.Context, id string) {
	b.mu.Lock()
	ch := b.acks[id]
	b.mu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(2 * ackTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-t.C:
	}
}

// rewrite sends requests for https://discord.com to the configured origin
// (protocols.md A1). Gateway discovery (GET /api/v9/gateway) goes through
// it too, so the gateway URL comes from that origin.
type rewrite struct {
	origin *url.URL // nil: no rewriting
	next   http.RoundTripper
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.origin != nil && req.URL.Host == "discord.com" {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = r.origin.Scheme, r.origin.Host, r.origin.Host
		req.URL.Path = strings.TrimRight(r.origin.Path, "/") + req.URL.Path
		if req.URL.RawPath != "" {
			req.URL.RawPath = strings.TrimRight(r.origin.EscapedPath(), "/") + req.URL.RawPath
		}
	}
	return r.next.RoundTrip(req)
}

func parseOrigin(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.TrimRight(s, "/") == "https://discord.com" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("discord: API URL %q is not an http(s) origin like https://proxy.example.com", s)
	}
	return u, nil
}

// tokenPath matches the secret part of webhook and interaction URLs.
var tokenPath = regexp.MustCompile(`(/(?:webhooks|interactions)/\d+/)[^/?\s"]+`)

// redactedError hides interaction tokens that net/http puts in its errors
// (the URL), keeping the original for errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact removes interaction tokens from err's text. Every error from a
// REST call goes through it before it is logged or returned.
func redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := tokenPath.ReplaceAllString(msg, "${1}[token]")
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// restCode returns the HTTP status and Discord error code of a REST error.
func restCode(err error) (status, code int) {
	var re *discordgo.RESTError
	if !errors.As(err, &re) {
		return 0, 0
	}
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if re.Message != nil {
		code = re.Message.Code
	}
	return status, code
}

// Discord JSON error codes (opcodes-and-status-codes.mdx).
const (
	codeUnknownMessage      = 10008
	codeUnknownWebhook      = 10015
	codeUnknownInteraction  = 10062
	codeTooLarge            = 40005
	codeInvalidWebhookToken = 50027
)

// tokenGone reports that the interaction token (or its response) can no
// longer be used, so the result must go to the channel instead.
func tokenGone(err error) bool {
	_, code := restCode(err)
	switch code {
	case codeInvalidWebhookToken, codeUnknownWebhook, codeUnknownInteraction, codeUnknownMessage:
		return true
	}
	return false
}

func tooLarge(err error) bool {
	status, code := restCode(err)
	return code == codeTooLarge || status == http.StatusRequestEntityTooLarge
}

func unknownMessage(err error) bool {
	_, code := restCode(err)
	return code == codeUnknownMessage
}
