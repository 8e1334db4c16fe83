package fakediscord

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Interaction timing from developers/interactions/receiving-and-responding.mdx:
// "you must send an initial response within 3 seconds of receiving the event
// ... Interaction tokens are valid for 15 minutes".
const (
	AckDeadline   = 3 * time.Second
	TokenLifetime = 15 * time.Minute
)

// DefaultUploadLimit is the per-file upload limit of a guild that was not
// given another one, and of DMs: 10 MiB, as developers/reference.mdx
// "Uploading Files" read at commit c98d64b (Aug 2026). Newer docs (change log
// of September 3, 2026) raise it to 20 MiB; use WithUploadLimit for that.
const DefaultUploadLimit int64 = 10 << 20

// Gateway intents used by the fake (developers/events/gateway.mdx §Gateway
// Intents). Privileged: IntentGuildMembers, IntentGuildPresences,
// IntentMessageContent.
const (
	IntentGuilds         int64 = 1 << 0
	IntentGuildMembers   int64 = 1 << 1
	IntentGuildPresences int64 = 1 << 8
	IntentGuildMessages  int64 = 1 << 9
	IntentDirectMessages int64 = 1 << 12
	IntentMessageContent int64 = 1 << 15

	privilegedIntents = IntentGuildMembers | IntentGuildPresences | IntentMessageContent
	// knownIntents are the bits the docs define: 0-16, 20, 21, 24, 25.
	knownIntents int64 = 1<<17 - 1 | 1<<20 | 1<<21 | 1<<24 | 1<<25
)

// Permission bits (developers/topics/permissions.mdx) the fake checks.
const (
	PermAddReactions        int64 = 1 << 6
	PermViewChannel         int64 = 1 << 10
	PermSendMessages        int64 = 1 << 11
	PermManageMessages      int64 = 1 << 13
	PermEmbedLinks          int64 = 1 << 14
	PermAttachFiles         int64 = 1 << 15
	PermReadMessageHistory  int64 = 1 << 16
	PermMentionEveryone     int64 = 1 << 17
	PermUseExternalEmojis   int64 = 1 << 18
	PermUseApplicationCmds  int64 = 1 << 31
	PermSendMessagesThreads int64 = 1 << 38

	// DefaultBotPermissions is what the bot holds in guild channels unless
	// SetBotPermissions says otherwise: a typical invite without
	// MANAGE_MESSAGES.
	DefaultBotPermissions = PermAddReactions | PermViewChannel | PermSendMessages |
		PermEmbedLinks | PermAttachFiles | PermReadMessageHistory |
		PermUseExternalEmojis | PermUseApplicationCmds | PermSendMessagesThreads

	// dmAppPermissions is app_permissions in a DM with the bot
	// (receiving-and-responding.mdx, note *** on app_permissions).
	dmAppPermissions = PermAttachFiles | PermEmbedLinks | PermMentionEveryone | PermUseExternalEmojis
	// memberPermissions is what invoking members hold (all text permissions).
	memberPermissions = "2248473465835073"
)

const discordEpochMS = 1420070400000

// ErrNoSession is returned by dispatch methods when no bot has identified on
// the gateway (or every session was invalidated).
var ErrNoSession = errors.New("fakediscord: no gateway session")

// ErrNotPossible wraps errors from the user-action builders when a real
// Discord client could not do the action (unknown command, wrong option
// type, no such button, ...).
var ErrNotPossible = errors.New("fakediscord: a real user could not do this")

// Option configures New.
type Option func(*config)

type config struct {
	token         string
	appID         string
	botUserID     string
	botName       string
	heartbeat     time.Duration
	privileged    int64
	frozen        bool
	start         time.Time
	uploadLimit   int64
	urlLifetime   time.Duration
	cdnBase       string
	compress      bool
	quiet         bool
	botPerms      int64
	replayBufSize int
}

// WithToken sets the bot token the fake accepts (without the "Bot " prefix).
// The default is a random token in Discord's three-part shape.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithAppID sets the application id. The default is a fresh snowflake.
func WithAppID(id string) Option { return func(c *config) { c.appID = id } }

// WithBotUserID sets the bot user's id. The default equals the application
// id, as for every application created since 2019; set a different id to
// catch code that confuses the two.
func WithBotUserID(id string) Option { return func(c *config) { c.botUserID = id } }

// WithBotUsername sets the bot user's username (default "fakebot").
func WithBotUsername(name string) Option { return func(c *config) { c.botName = name } }

// WithHeartbeatInterval sets heartbeat_interval in HELLO (default 41.25 s,
// Discord's usual value). discordgo reconnects after 5 intervals without an
// ACK, so small values make heartbeat problems show quickly.
func WithHeartbeatInterval(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithPrivilegedIntents sets which privileged intents are switched on in the
// (simulated) Developer Portal: any of IntentGuildMembers,
// IntentGuildPresences, IntentMessageContent. The default is none, like a
// new app. IDENTIFY asking for a privileged intent that is off is closed
// with 4014, and REST message objects have their content blanked unless
// IntentMessageContent is on (gateway.mdx §Privileged Intents; change log
// "Message Content is a Privileged Intent": "across Discord's APIs").
func WithPrivilegedIntents(mask int64) Option { return func(c *config) { c.privileged = mask } }

// WithFrozenClock stops the fake clock at start: it only moves by Advance.
// Without it the clock is the wall clock plus the total Advance.
func WithFrozenClock(start time.Time) Option {
	return func(c *config) { c.frozen, c.start = true, start }
}

// WithUploadLimit sets the default per-file upload limit in bytes (guilds
// without SetUploadLimit, and DMs). Default DefaultUploadLimit.
func WithUploadLimit(n int64) Option { return func(c *config) { c.uploadLimit = n } }

// WithAttachmentURLLifetime sets how long signed CDN URLs stay valid
// (default 24 h: Discord documents "a preset expiry time" without the value;
// 24 h is what third-party reports observe).
func WithAttachmentURLLifetime(d time.Duration) Option { return func(c *config) { c.urlLifetime = d } }

// WithCDNBase makes attachment URLs start with base (for example
// "https://cdn.discordapp.com") instead of Server.URL; the bot's transport
// must then send that host to Server.URL too. The fake serves the same paths
// either way.
func WithCDNBase(base string) Option {
	return func(c *config) { c.cdnBase = strings.TrimRight(base, "/") }
}

// WithPayloadCompression sends dispatches as zlib-compressed binary frames to
// sessions that set "compress": true in IDENTIFY, as Discord may
// (gateway.mdx "Payload Compression").
func WithPayloadCompression() Option { return func(c *config) { c.compress = true } }

// WithQuiet stops the fake from logging refused requests with t.Logf.
func WithQuiet() Option { return func(c *config) { c.quiet = true } }

// WithBotPermissions sets the bot's permissions in guild channels that have
// no SetBotPermissions override (default DefaultBotPermissions).
func WithBotPermissions(perms int64) Option { return func(c *config) { c.botPerms = perms } }

// Server is the fake Discord. Create it with New; the exported fields are
// read-only after New.
type Server struct {
	// URL is the origin of the fake, like http://127.0.0.1:PORT. Rewrite
	// https://discord.com to it.
	URL string
	// Token is the bot token the fake accepts, without the "Bot " prefix.
	Token string
	// AppID is the application id (READY application.id).
	AppID string
	// BotUserID and BotUsername identify the bot user (READY user).
	BotUserID   string
	BotUsername string
	// GuildID and ChannelID are a default guild and its text channel.
	GuildID   string
	ChannelID string
	// User is a default human member of GuildID.
	User User

	t      testing.TB
	cfg    config
	srv    *httptest.Server
	secret []byte
	closed atomic.Bool
	wg     sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{}
	offset  time.Duration
	idMS    int64
	idInc   int64

	users        map[string]User
	guilds       map[string]*guild
	guildOrder   []string
	channels     map[string]*channel
	dms          map[string]string // user id -> DM channel id
	messages     map[string]*message
	attachments  map[string]*attachment
	interactions map[string]*interaction
	byToken      map[string]*interaction
	commands     map[string][]*Command // "" = global, else guild id
	creates      map[string][]time.Time
	regs         []Registration
	requests     []Request
	limits       []*RateLimit
	gw           gatewayState
}

// New starts a fake Discord with a default guild, text channel and user, and
// closes it in t's cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		botName:       "fakebot",
		heartbeat:     41250 * time.Millisecond,
		uploadLimit:   DefaultUploadLimit,
		urlLifetime:   24 * time.Hour,
		botPerms:      DefaultBotPermissions,
		replayBufSize: 1000,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		t:            t,
		cfg:          cfg,
		secret:       randomBytes(32),
		changed:      make(chan struct{}),
		users:        map[string]User{},
		guilds:       map[string]*guild{},
		channels:     map[string]*channel{},
		dms:          map[string]string{},
		messages:     map[string]*message{},
		attachments:  map[string]*attachment{},
		interactions: map[string]*interaction{},
		byToken:      map[string]*interaction{},
		commands:     map[string][]*Command{},
		creates:      map[string][]time.Time{},
	}
	s.gw.sessions = map[string]*gwSession{}
	s.gw.conns = map[*gwConn]struct{}{}
	if s.cfg.start.IsZero() {
		s.cfg.start = time.Now()
	}
	s.AppID = cfg.appID
	if s.AppID == "" {
		s.AppID = s.newIDLocked()
	}
	s.BotUserID = cfg.botUserID
	if s.BotUserID == "" {
		s.BotUserID = s.AppID
	}
	s.BotUsername = cfg.botName
	s.Token = cfg.token
	if s.Token == "" {
		s.Token = base64.RawURLEncoding.EncodeToString([]byte(s.BotUserID)) + "." +
			randomToken(6) + "." + randomToken(27)
	}
	s.users[s.BotUserID] = s.botUser()
	s.GuildID = s.AddGuild("Fake Guild")
	s.ChannelID = s.AddChannel(s.GuildID, "general")
	s.User = s.AddUser("alice")

	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.closed.Store(true)
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.gw.conns))
	for c := range s.gw.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
	s.srv.Close()
	s.wg.Wait()
}

func (s *Server) botUser() User {
	return User{ID: s.BotUserID, Username: s.BotUsername, Bot: true}
}

// logf logs through the test unless quiet or the test is over.
func (s *Server) logf(format string, args ...any) {
	if s.cfg.quiet || s.closed.Load() {
		return
	}
	s.t.Logf("fakediscord: "+format, args...)
}

// Now returns the fake clock's time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time {
	if s.cfg.frozen {
		return s.cfg.start.Add(s.offset).UTC()
	}
	return time.Now().Add(s.offset).UTC()
}

// Advance moves the fake clock forward by d (negative d is ignored).
func (s *Server) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	s.offset += d
	s.notifyLocked()
	s.mu.Unlock()
}

// notifyLocked wakes Wait callers.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond returns true or ctx ends. cond is evaluated now and
// after every change of the fake's state; it may call the Server's methods.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fakediscord: wait: %w", ctx.Err())
		case <-ch:
		}
	}
}

// newIDLocked returns a snowflake for the fake clock's current millisecond.
func (s *Server) newIDLocked() string {
	var now time.Time
	if s.cfg.start.IsZero() {
		now = time.Now()
	} else {
		now = s.nowLocked()
	}
	ms := now.UnixMilli() - discordEpochMS
	switch {
	case ms > s.idMS:
		s.idMS, s.idInc = ms, 0
	default:
		s.idInc++
		if s.idInc > 0xFFF {
			s.idMS++
			s.idInc = 0
		}
	}
	return strconv.FormatInt(s.idMS<<22|1<<17|s.idInc, 10)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randomToken(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// isSnowflake reports whether id looks like a snowflake.
func isSnowflake(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

// timestamp formats t like Discord (ISO 8601 with microseconds).
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000+00:00") }
