// Package slack is the Slack front end of the bot: /imagine, edits asked for
// by mentioning the bot in the thread of an image (or with an image
// attached), the "Edit image" message shortcut, and result cards with
// Re-roll, Edit and Delete buttons.
//
// It speaks Socket Mode when an app-level token is configured and HTTP mode
// (signed requests to /slack/commands, /slack/events and
// /slack/interactivity) otherwise, through github.com/slack-go/slack. It
// only translates: every request becomes a jobs.Job submitted to the shared
// pipeline before Slack is answered, and the Bot is the jobs.Reporter that
// shows the job's progress, result and failure in Slack.
//
// Rules it keeps:
//   - every command, event and interaction is acknowledged within Slack's
//     3 s; refusals are ephemeral and say when to try again;
//   - a retried or redelivered event never starts a second job (an
//     in-memory window of seen ids, and Job.DedupeKey persisted by the
//     store);
//   - progress edits one status message at most every ProgressEvery;
//   - results are uploaded with files.getUploadURLExternal, the upload URL
//     and files.completeUploadExternal, and a delivery repeated after a
//     crash checks files.info before it uploads again;
//   - tokens, response URLs and image bytes are never logged.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/fluxbot/fluxbot/jobs"
)

// Platform is the jobs.Job platform name of Slack jobs; register the Bot
// under it (manager.Register(slack.Platform, bot)).
const Platform = "slack"

// Config configures a Bot. BotToken is required, and one of AppToken
// (Socket Mode) and SigningSecret (HTTP mode).
type Config struct {
	// BotToken is the xoxb- bot token.
	BotToken string
	// AppToken is the xapp- app-level token (scope connections:write).
	// When set, Run uses Socket Mode.
	AppToken string
	// SigningSecret verifies HTTP-mode requests (Handler).
	SigningSecret string
	// APIURL replaces the Web API base, e.g. for GovSlack or tests; ""
	// means https://slack.com/api/.
	APIURL string
	// Vendors lists the configured vendor names, the default first
	// (imaging.Service.Vendors), for the help text.
	Vendors []string
	// Log receives the front end's logs (default slog.Default()).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HTTPClient makes the Web API calls, uploads and downloads (default:
	// a client with a 60 s timeout).
	HTTPClient *http.Client
	// ProgressEvery is the least time between two edits of one status
	// message (default 3 s), which keeps well inside chat.update's limits.
	ProgressEvery time.Duration
}

// Pipeline is what the Bot needs of the job pipeline; *jobs.Manager
// implements it. A Job given to Submit belongs to the pipeline once Submit
// returns.
type Pipeline interface {
	Submit(ctx context.Context, j *jobs.Job) (*jobs.Admission, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
	SaveDelivery(ctx context.Context, j *jobs.Job, note []byte) error
}

// Bot is the Slack front end. Create it with New, register it as the
// pipeline's Reporter for Platform, mount Handler in HTTP mode, and call
// Run. Its methods are safe for concurrent use.
type Bot struct {
	cfg Config
	// api retries calls Slack refused with 429 after its Retry-After (a
	// refused call did nothing, so any call may be repeated); fast does not
	// wait, for progress edits and work done before an acknowledgement.
	api, fast *slackapi.Client
	jobs      Pipeline
	log       *slog.Logger
	every     time.Duration
	// updates is the workspace-wide budget of status edits: chat.update is
	// a Tier 3 method (about 50 a minute), shared by every job.
	updates *rate.Limiter

	mu        sync.Mutex
	base      context.Context // Run's context, for work that outlives a request
	ready     bool
	botUserID string
	botID     string
	members   map[string]time.Time // channel → when the bot was last seen a member
	edits     map[string]time.Time // job id → last status message edit

	seen    seenSet
	lookups singleflight.Group
	wg      sync.WaitGroup
	sem     chan struct{} // bounds background work
}

var _ jobs.Reporter = (*Bot)(nil)

// maxBackground bounds the handlers running after their acknowledgement.
const maxBackground = 64

// New checks cfg and returns a Bot that submits to p. It does no I/O.
func New(cfg Config, p Pipeline) (*Bot, error) {
	var errs []error
	if p == nil {
		errs = append(errs, errors.New("slack: no pipeline"))
	}
	if cfg.BotToken == "" {
		errs = append(errs, errors.New("slack: the bot token is empty"))
	}
	if cfg.AppToken == "" && cfg.SigningSecret == "" {
		errs = append(errs, errors.New("slack: set an app-level token (Socket Mode) or a signing secret (HTTP mode)"))
	}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("slack: API URL %q is not an http(s) URL", cfg.APIURL))
		} else if !strings.HasSuffix(cfg.APIURL, "/") {
			cfg.APIURL += "/"
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("platform", Platform)
	opts := []slackapi.Option{slackapi.OptionHTTPClient(cfg.HTTPClient), slackapi.OptionLog(debugLogger{log})}
	if cfg.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(cfg.APIURL))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slackapi.OptionAppLevelToken(cfg.AppToken))
	}
	retrying := append(slices.Clone(opts), slackapi.OptionRetryConfig(slackapi.RetryConfig{
		MaxRetries: 3, RetryAfterDuration: 5 * time.Second, RetryAfterJitter: 250 * time.Millisecond,
	}))
	every := cfg.ProgressEvery
	if every <= 0 {
		every = 3 * time.Second
	}
	return &Bot{
		cfg:     cfg,
		api:     slackapi.New(cfg.BotToken, retrying...),
		fast:    slackapi.New(cfg.BotToken, opts...),
		updates: rate.NewLimiter(rate.Every(time.Minute/45), 15),
		jobs:    p,
		log:     log,
		every:   every,
		members: map[string]time.Time{},
		edits:   map[string]time.Time{},
		sem:     make(chan struct{}, maxBackground),
	}, nil
}

// SocketMode reports whether Run uses Socket Mode (an app-level token is
// configured) rather than HTTP mode.
func (b *Bot) SocketMode() bool { return b.cfg.AppToken != "" }

// Ready reports whether the Bot can take requests: connected in Socket
// Mode, or the bot token checked in HTTP mode.
func (b *Bot) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready
}

func (b *Bot) setReady(ok bool) {
	b.mu.Lock()
	b.ready = ok
	b.mu.Unlock()
}

// Run checks the bot token with auth.test, then serves until ctx ends:
// over Socket Mode when an app-level token is configured, else it only
// waits (HTTP requests arrive through Handler). It returns nil when ctx
// ends, after the handlers in flight have stopped (bounded), and an error
// when the token is refused or Socket Mode cannot connect.
func (b *Bot) Run(ctx context.Context) error {
	b.mu.Lock()
	b.base = ctx
	b.mu.Unlock()
	defer b.drain()
	auth, err := b.api.AuthTestContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("slack: auth.test: %w", err)
	}
	b.mu.Lock()
	b.botUserID, b.botID = auth.UserID, auth.BotID
	b.mu.Unlock()
	b.log.InfoContext(ctx, "slack bot authenticated", "team", auth.TeamID, "bot_user", auth.UserID, "socket_mode", b.SocketMode())
	if b.SocketMode() {
		return b.runSocket(ctx)
	}
	b.setReady(true)
	<-ctx.Done()
	b.setReady(false)
	return nil
}

// drain waits (a bounded time) for background handlers to stop.
func (b *Bot) drain() {
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.log.Warn("slack: some handlers were still running at shutdown")
	}
}

func (b *Bot) now() time.Time {
	if b.cfg.Now != nil {
		return b.cfg.Now()
	}
	return time.Now()
}

// self returns the bot's user id and bot id (empty before Run's auth.test).
func (b *Bot) self() (userID, botID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.botUserID, b.botID
}

// taskTimeout bounds one background handler (downloads included).
const taskTimeout = 2 * time.Minute

// background runs f after the acknowledgement, on Run's context (or, before
// Run, a context detached from parent), bounded in time and in number.
func (b *Bot) background(parent context.Context, f func(ctx context.Context)) {
	b.spawn(parent, true, f)
}

// spawn runs f like background; limited says whether it waits for one of
// the maxBackground slots (slash commands' short pre-ack work does not).
func (b *Bot) spawn(parent context.Context, limited bool, f func(ctx context.Context)) {
	b.mu.Lock()
	base := b.base
	b.mu.Unlock()
	if base == nil {
		base = context.WithoutCancel(parent)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if limited {
			select {
			case b.sem <- struct{}{}:
			case <-base.Done():
				return
			}
			defer func() { <-b.sem }()
		}
		ctx, cancel := context.WithTimeout(base, taskTimeout)
		defer cancel()
		f(ctx)
	}()
}

// seenSet remembers ids (event ids, trigger ids) for a while, so a
// redelivery is dropped before any work; the store's dedupe keys are the
// durable guard.
type seenSet struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

const seenFor = time.Hour

// first records id at now and reports whether it was not seen before.
func (s *seenSet) first(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]time.Time{}
	}
	if at, ok := s.ids[id]; ok && now.Sub(at) < seenFor {
		return false
	}
	if len(s.ids) >= 4096 {
		for k, at := range s.ids {
			if now.Sub(at) >= seenFor {
				delete(s.ids, k)
			}
		}
	}
	s.ids[id] = now
	return true
}

// redact drops the URL path and query from a failed HTTP call's error:
// response_url, upload and file URLs carry one-time secrets.
func redact(err error) error {
	ue, ok := errors.AsType[*url.Error](err)
	if !ok {
		return err
	}
	host := "?"
	if u, perr := url.Parse(ue.URL); perr == nil {
		host = u.Host
	}
	return fmt.Errorf("%s %s: %w", ue.Op, host, ue.Err)
}

// debugLogger sends slack-go's own log lines to slog at debug level.
type debugLogger struct{ log *slog.Logger }

func (d debugLogger) Output(_ int, s string) error {
	d.log.Debug(strings.TrimSpace(s), "source", "slack-go")
	return nil
}
