package fakeslack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Slack. Create it with [New]; it stops when the test ends.
// All methods are safe for concurrent use.
type Server struct {
	tb   testing.TB
	srv  *httptest.Server
	cfg  config
	http *http.Client // for HTTP-mode deliveries

	botToken      string
	appToken      string
	signingSecret string

	wg   sync.WaitGroup
	done chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	offset  time.Duration
	lastTS  int64 // micro-seconds of the last ts handed out
	seq     int
	closed  bool

	users        map[string]string // id -> name
	channels     map[string]*channel
	messages     map[string][]*message // channel -> messages in ts order (replies included)
	ephemerals   []*ephemeral
	files        map[string]*file
	uploads      map[string]*file // upload ticket -> file
	triggers     map[string]*trigger
	views        map[string]*view
	viewOrder    []string
	responseURLs map[string]*responseURL
	respPosts    []ResponsePost
	calls        []Call
	rateLimits   map[string]*rateLimit
	failures     map[string][]string
	warnings     []string

	tickets      map[string]bool // apps.connections.open tickets not yet used
	conns        map[int]*wsConn
	connSeq      int
	pinging      bool
	envelopes    map[string]*envelope
	acks         []Ack
	connectCount int
}

type config struct {
	pingInterval    time.Duration
	redeliverAfter  time.Duration
	redeliverMax    int
	clock           func() time.Time
	strictWarnings  bool
	deliveryTimeout time.Duration
	retryDelays     []time.Duration
}

// An Option configures a Server.
type Option func(*config)

// WithPingInterval sets how often the fake sends WebSocket PING frames on Socket Mode
// connections (default 2 s). slack-go drops a connection that is not pinged within its
// socketmode.OptionPingInterval (default 30 s), so keep this well below that.
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithRedelivery makes the fake redeliver an events_api envelope that is not acked
// within after, up to maxRetries times, with retry_attempt 1..maxRetries and retry_reason "timeout",
// as Slack retries unacknowledged events. The envelope_id stays the same (inference).
// Slash commands and interactive envelopes are never redelivered.
func WithRedelivery(after time.Duration, maxRetries int) Option {
	return func(c *config) { c.redeliverAfter, c.redeliverMax = after, maxRetries }
}

// WithClock sets the base of the fake clock (default time.Now). [Server.Advance] adds
// to it. Signatures of HTTP-mode requests use the base clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithStrictWarnings makes every recorded warning fail the test when it ends.
func WithStrictWarnings() Option { return func(c *config) { c.strictWarnings = true } }

// WithDeliveryTimeout sets how long an HTTP-mode delivery waits for the app's answer
// (default 3 s, Slack's limit for commands, events and interactions).
func WithDeliveryTimeout(d time.Duration) Option { return func(c *config) { c.deliveryTimeout = d } }

// WithRetryDelays sets the waits before the Events API retries of
// [Server.DeliverEventHTTP] (default: no wait; Slack waits ~0, 1 min and 5 min).
func WithRetryDelays(d ...time.Duration) Option {
	return func(c *config) { c.retryDelays = slices.Clone(d) }
}

// New starts a fake Slack for the test and stops it in t.Cleanup. The workspace has
// the users Alice and Bob, the channels General (bot is a member), Random (bot is not)
// and AliceDM; see the package constants.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		pingInterval:    2 * time.Second,
		clock:           time.Now,
		deliveryTimeout: 3 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		tb:            t,
		cfg:           cfg,
		http:          &http.Client{Timeout: cfg.deliveryTimeout},
		botToken:      "xoxb-1001-2002-" + randHex(12),
		appToken:      "xapp-1-" + AppID + "-3003-" + randHex(32),
		signingSecret: randHex(16),
		done:          make(chan struct{}),
		changed:       make(chan struct{}),
		users:         map[string]string{Alice: "alice", Bob: "bob", BotUserID: BotName},
		channels:      map[string]*channel{},
		messages:      map[string][]*message{},
		files:         map[string]*file{},
		uploads:       map[string]*file{},
		triggers:      map[string]*trigger{},
		views:         map[string]*view{},
		responseURLs:  map[string]*responseURL{},
		rateLimits:    map[string]*rateLimit{},
		failures:      map[string][]string{},
		tickets:       map[string]bool{},
		conns:         map[int]*wsConn{},
		envelopes:     map[string]*envelope{},
		pinging:       true,
	}
	s.AddChannel(Channel{ID: General, Name: "general", Members: []string{Alice, Bob, BotUserID}})
	s.AddChannel(Channel{ID: Random, Name: "random", Members: []string{Alice, Bob}})
	s.AddChannel(Channel{ID: AliceDM, Name: Alice, Type: DirectMessage, Members: []string{Alice, BotUserID}})
	s.srv = httptest.NewServer(s.routes())
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	warnings := slices.Clone(s.warnings)
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	s.srv.Close()
	for _, w := range warnings {
		if s.cfg.strictWarnings {
			s.tb.Errorf("fakeslack warning: %s", w)
		} else {
			s.tb.Logf("fakeslack warning: %s", w)
		}
	}
}

// URL is the base URL of the fake, e.g. http://127.0.0.1:PORT (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base for slack.OptionAPIURL, e.g. http://127.0.0.1:PORT/api/.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// BotToken is the bot token (xoxb-...) the Web API accepts.
func (s *Server) BotToken() string { return s.botToken }

// AppToken is the app-level token (xapp-...) apps.connections.open accepts.
func (s *Server) AppToken() string { return s.appToken }

// SigningSecret is the secret HTTP-mode requests are signed with.
func (s *Server) SigningSecret() string { return s.signingSecret }

// Now returns the fake clock: the base clock plus everything passed to Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return s.cfg.clock().Add(s.offset) }

// Advance moves the fake clock forward by d (expiring trigger_ids and response_urls).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.notifyLocked()
	s.mu.Unlock()
}

// notifyLocked wakes everyone waiting in Await.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Await blocks until cond returns true or ctx ends. cond is evaluated now and after
// every change of the fake's state; it may call the Server's methods.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fakeslack: condition not met: %w", ctx.Err())
		case <-s.done:
			return fmt.Errorf("fakeslack: server closed")
		case <-ch:
		}
	}
}

// warnLocked records behaviour Slack accepts but its documentation discourages.
func (s *Server) warnLocked(format string, args ...any) {
	s.warnings = append(s.warnings, fmt.Sprintf(format, args...))
	s.notifyLocked()
}

// Warnings returns what the app did that Slack accepts but its documentation warns
// against, or that the fake does not implement. See [WithStrictWarnings].
func (s *Server) Warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.warnings)
}

// nextIDLocked returns prefix followed by a fresh upper-case code.
func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%07X", prefix, s.seq)
}

// newTSLocked returns a fresh, strictly increasing message timestamp "<unix>.<6 digits>".
func (s *Server) newTSLocked() string {
	us := s.nowLocked().UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return formatTS(us)
}

func formatTS(us int64) string { return fmt.Sprintf("%d.%06d", us/1e6, us%1e6) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type channel struct {
	Channel
	members map[string]bool
}

// AddChannel adds (or replaces) a conversation. Include BotUserID in Members to make
// the bot a member.
func (s *Server) AddChannel(c Channel) {
	if c.Type == "" {
		c.Type = PublicChannel
	}
	ch := &channel{Channel: c, members: map[string]bool{}}
	for _, m := range c.Members {
		ch.members[m] = true
	}
	s.mu.Lock()
	s.channels[c.ID] = ch
	s.notifyLocked()
	s.mu.Unlock()
}

// AddUser adds a workspace member.
func (s *Server) AddUser(id, name string) {
	s.mu.Lock()
	s.users[id] = name
	s.notifyLocked()
	s.mu.Unlock()
}

// Join makes user (BotUserID for the bot) a member of channel.
func (s *Server) Join(channelID, user string) { s.setMember(channelID, user, true) }

// Leave removes user (BotUserID for the bot) from channel.
func (s *Server) Leave(channelID, user string) { s.setMember(channelID, user, false) }

func (s *Server) setMember(channelID, user string, in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		s.tb.Fatalf("fakeslack: unknown channel %q", channelID)
	}
	ch.members[user] = in
	s.notifyLocked()
}

func (s *Server) userName(id string) string {
	if n, ok := s.users[id]; ok {
		return n
	}
	return strings.ToLower(id)
}
