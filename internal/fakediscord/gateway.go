package fakediscord

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway close codes (opcodes-and-status-codes.mdx §Gateway Close Event
// Codes).
const (
	CloseUnknownError         = 4000
	CloseUnknownOpcode        = 4001
	CloseDecodeError          = 4002
	CloseNotAuthenticated     = 4003
	CloseAuthenticationFailed = 4004
	CloseAlreadyAuthenticated = 4005
	CloseInvalidSeq           = 4007
	CloseSessionTimedOut      = 4009
	CloseInvalidShard         = 4010
	CloseInvalidAPIVersion    = 4012
	CloseInvalidIntents       = 4013
	CloseDisallowedIntents    = 4014
)

type gatewayState struct {
	sessions    map[string]*gwSession
	order       []*gwSession
	conns       map[*gwConn]struct{}
	identifies  int
	resumes     int
	heartbeats  int
	lastIntents int64
	last        *lastDispatch
}

type lastDispatch struct {
	t, guildID string
	build      func(*gwSession) (any, bool)
}

type gwSession struct {
	id       string
	intents  int64
	shard    []int // [id, count] or nil
	compress bool
	version  int
	seq      int64
	buffer   []gwFrame
	conn     *gwConn
	invalid  bool
}

type gwFrame struct {
	seq  int64
	data []byte
}

// inShard applies gateway.mdx §Sharding: shard_id = (guild_id >> 22) %
// num_shards; DMs go to shard 0.
func (g *gwSession) inShard(guildID string) bool {
	if len(g.shard) != 2 || g.shard[1] <= 1 {
		return true
	}
	if guildID == "" {
		return g.shard[0] == 0
	}
	id, _ := strconv.ParseUint(guildID, 10, 64)
	return int((id>>22)%uint64(g.shard[1])) == g.shard[0]
}

type outFrame struct {
	data      []byte
	binary    bool
	closeCode int
	closeText string
}

type gwConn struct {
	s        *Server
	ws       *websocket.Conn
	version  int
	mu       sync.Mutex
	queue    []outFrame
	notify   chan struct{}
	done     chan struct{}
	dropOnce sync.Once
	session  *gwSession // guarded by Server.mu
}

func (c *gwConn) send(f outFrame) {
	c.mu.Lock()
	c.queue = append(c.queue, f)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *gwConn) sendJSON(v any) { c.send(outFrame{data: mustJSON(v)}) }

func (c *gwConn) closeWith(code int, text string) {
	c.send(outFrame{closeCode: code, closeText: text})
}

// drop closes the socket without a close frame (a network failure).
func (c *gwConn) drop() {
	c.dropOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

func (c *gwConn) writeLoop() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.notify:
		case <-c.done:
			return
		}
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, f := range q {
			if f.closeCode != 0 {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(f.closeCode, f.closeText), time.Now().Add(time.Second))
				c.s.logf("gateway: closed connection with %d %s", f.closeCode, f.closeText)
				c.drop()
				return
			}
			mt := websocket.TextMessage
			if f.binary {
				mt = websocket.BinaryMessage
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(mt, f.data); err != nil {
				c.drop()
				return
			}
		}
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveGateway speaks gateway.mdx "Connections": HELLO first, then IDENTIFY
// or RESUME, heartbeats answered with op 11.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{s: s, ws: ws, notify: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.gw.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go c.writeLoop()
	defer s.connGone(c)

	q := r.URL.Query()
	c.version, _ = strconv.Atoi(q.Get("v"))
	switch {
	case c.version != 9 && c.version != 10:
		c.closeWith(CloseInvalidAPIVersion, "Invalid API version")
	case q.Get("encoding") != "" && q.Get("encoding") != "json":
		c.closeWith(CloseDecodeError, "fakediscord speaks encoding=json only")
	case q.Get("compress") != "":
		c.closeWith(CloseDecodeError, "fakediscord does not implement transport compression")
	default:
		c.sendJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": s.cfg.heartbeat.Milliseconds()}})
	}
	ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNormalClosure || code == websocket.CloseGoingAway {
			// gateway.mdx "Disconnecting": closing with 1000 or 1001
			// invalidates the session. Done before the close is echoed.
			s.mu.Lock()
			if c.session != nil {
				c.session.invalid = true
			}
			s.mu.Unlock()
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return nil
	})
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var p struct {
			Op *int            `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if mt != websocket.TextMessage || json.Unmarshal(data, &p) != nil || p.Op == nil {
			c.closeWith(CloseDecodeError, "Decode error")
			continue
		}
		s.handleOp(c, *p.Op, p.D)
	}
}

func (s *Server) connGone(c *gwConn) {
	s.mu.Lock()
	delete(s.gw.conns, c)
	if c.session != nil && c.session.conn == c {
		c.session.conn = nil
	}
	s.notifyLocked()
	s.mu.Unlock()
	c.drop()
	s.wg.Done()
}

func (s *Server) handleOp(c *gwConn, op int, d json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case 1: // Heartbeat
		s.gw.heartbeats++
		c.sendJSON(map[string]any{"op": 11})
	case 2:
		s.identifyLocked(c, d)
	case 6:
		s.resumeLocked(c, d)
	case 3, 4, 8, 31, 43: // presence, voice, members, soundboard, channel info
		if c.session == nil {
			c.closeWith(CloseNotAuthenticated, "Not authenticated.")
		}
	default:
		c.closeWith(CloseUnknownOpcode, "Unknown opcode.")
	}
	s.notifyLocked()
}

func (s *Server) tokenOK(tok string) bool { return strings.TrimPrefix(tok, "Bot ") == s.Token }

// identifyLocked checks gateway-events.mdx §Identify: token (4004), intents
// required and known (4013), privileged intents enabled in the portal
// (4014), shard (4010), one IDENTIFY per connection (4005). It answers with
// READY and one GUILD_CREATE per guild (GUILDS intent).
func (s *Server) identifyLocked(c *gwConn, d json.RawMessage) {
	var id struct {
		Token    string `json:"token"`
		Intents  *int64 `json:"intents"`
		Compress bool   `json:"compress"`
		Shard    []int  `json:"shard"`
	}
	if json.Unmarshal(d, &id) != nil {
		c.closeWith(CloseDecodeError, "Decode error")
		return
	}
	switch {
	case c.session != nil:
		c.closeWith(CloseAlreadyAuthenticated, "Already authenticated.")
		return
	case !s.tokenOK(id.Token):
		c.closeWith(CloseAuthenticationFailed, "Authentication failed.")
		return
	case id.Intents == nil || *id.Intents&^knownIntents != 0 || *id.Intents < 0:
		c.closeWith(CloseInvalidIntents, "Invalid intent(s).")
		return
	case *id.Intents&privilegedIntents&^s.cfg.privileged != 0:
		c.closeWith(CloseDisallowedIntents, "Disallowed intent(s).")
		return
	case id.Shard != nil && (len(id.Shard) != 2 || id.Shard[1] < 1 || id.Shard[0] < 0 || id.Shard[0] >= id.Shard[1]):
		c.closeWith(CloseInvalidShard, "Invalid shard.")
		return
	}
	sess := &gwSession{id: randomHex(16), intents: *id.Intents, shard: id.Shard, compress: id.Compress, version: c.version, conn: c}
	s.gw.sessions[sess.id] = sess
	s.gw.order = append(s.gw.order, sess)
	s.gw.identifies++
	s.gw.lastIntents = sess.intents
	c.session = sess
	s.sendDispatchLocked(sess, "READY", s.readyLocked(sess))
	if sess.intents&IntentGuilds != 0 {
		for _, gid := range s.guildOrder {
			if sess.inShard(gid) {
				s.sendDispatchLocked(sess, "GUILD_CREATE", s.guildCreateLocked(s.guilds[gid]))
			}
		}
	}
}

// resumeLocked implements gateway.mdx "Resuming": replay what the session
// missed, then RESUMED; an unknown or invalidated session gets op 9.
func (s *Server) resumeLocked(c *gwConn, d json.RawMessage) {
	var r struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	if json.Unmarshal(d, &r) != nil {
		c.closeWith(CloseDecodeError, "Decode error")
		return
	}
	if c.session != nil {
		c.closeWith(CloseAlreadyAuthenticated, "Already authenticated.")
		return
	}
	if !s.tokenOK(r.Token) {
		c.closeWith(CloseAuthenticationFailed, "Authentication failed.")
		return
	}
	sess := s.gw.sessions[r.SessionID]
	if sess == nil || sess.invalid || (len(sess.buffer) > 0 && sess.buffer[0].seq > r.Seq+1) {
		c.sendJSON(map[string]any{"op": 9, "d": false})
		return
	}
	if r.Seq > sess.seq || r.Seq < 0 {
		c.closeWith(CloseInvalidSeq, "Invalid seq.")
		return
	}
	if old := sess.conn; old != nil && old != c {
		old.session = nil
		old.drop()
	}
	c.session, sess.conn = sess, c
	s.gw.resumes++
	for _, f := range sess.buffer {
		if f.seq > r.Seq {
			c.send(s.frame(sess, f.data))
		}
	}
	s.sendDispatchLocked(sess, "RESUMED", map[string]any{})
}

func (s *Server) readyLocked(sess *gwSession) map[string]any {
	guilds := []any{}
	for _, gid := range s.guildOrder {
		if sess.inShard(gid) {
			guilds = append(guilds, map[string]any{"id": gid, "unavailable": true})
		}
	}
	u := userJSON(s.botUser())
	u["verified"], u["mfa_enabled"], u["flags"], u["email"] = true, false, 0, nil
	d := map[string]any{
		"v": sess.version, "user": u, "guilds": guilds, "session_id": sess.id,
		"resume_gateway_url": s.gatewayURL(), "private_channels": []any{}, "relationships": []any{},
		"presences": []any{}, "guild_join_requests": []any{}, "geo_ordered_rtc_regions": []any{},
		"user_settings": map[string]any{}, "auth": map[string]any{},
		"application": map[string]any{"id": s.AppID, "flags": s.appFlags()},
		"_trace":      []string{`["fakediscord",{"micros":0}]`},
	}
	if sess.shard != nil {
		d["shard"] = sess.shard
	}
	return d
}

func (s *Server) guildCreateLocked(g *guild) map[string]any {
	chans := []any{}
	for _, id := range g.channels {
		chans = append(chans, s.channelJSONLocked(s.channels[id]))
	}
	humans := 0
	for _, u := range s.users {
		if !u.Bot {
			humans++
		}
	}
	bot := s.memberJSONLocked(g.id, s.botUser(), true)
	delete(bot, "permissions")
	tier := 0
	switch limit := s.uploadLimitLocked(g.id); {
	case limit >= 100<<20:
		tier = 3
	case limit >= 50<<20:
		tier = 2
	}
	return map[string]any{
		"id": g.id, "name": g.name, "icon": nil, "splash": nil, "discovery_splash": nil, "banner": nil,
		"owner_id": s.User.ID, "afk_channel_id": nil, "afk_timeout": 300, "verification_level": 0,
		"default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
		"application_id": nil, "system_channel_id": nil, "system_channel_flags": 0,
		"rules_channel_id": nil, "public_updates_channel_id": nil, "vanity_url_code": nil,
		"description": nil, "premium_tier": tier, "premium_subscription_count": 0,
		"preferred_locale": "en-US", "nsfw_level": 0, "max_members": 250000,
		"max_video_channel_users": 25, "features": []string{}, "emojis": []any{}, "stickers": []any{},
		"roles": []any{map[string]any{
			"id": g.id, "name": "@everyone", "color": 0, "hoist": false, "icon": nil,
			"unicode_emoji": nil, "position": 0, "permissions": strconv.FormatInt(s.cfg.botPerms, 10),
			"managed": false, "mentionable": false, "flags": 0,
		}},
		"joined_at": timestamp(g.joinedAt), "large": false, "unavailable": false,
		"member_count": humans + 1, "voice_states": []any{}, "members": []any{bot},
		"channels": chans, "threads": []any{}, "presences": []any{}, "stage_instances": []any{},
		"guild_scheduled_events": []any{}, "soundboard_sounds": []any{},
	}
}

// frame encodes a dispatch for a session (zlib when it asked for payload
// compression and WithPayloadCompression is on).
func (s *Server) frame(sess *gwSession, data []byte) outFrame {
	if !s.cfg.compress || !sess.compress {
		return outFrame{data: data}
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return outFrame{data: buf.Bytes(), binary: true}
}

// sendDispatchLocked gives d the session's next sequence number, keeps it
// for RESUME and sends it if the session is connected.
func (s *Server) sendDispatchLocked(sess *gwSession, t string, d any) {
	sess.seq++
	data := mustJSON(map[string]any{"op": 0, "s": sess.seq, "t": t, "d": d})
	sess.buffer = append(sess.buffer, gwFrame{seq: sess.seq, data: data})
	if n := len(sess.buffer) - s.cfg.replayBufSize; n > 0 {
		sess.buffer = slices.Delete(sess.buffer, 0, n)
	}
	if sess.conn != nil {
		sess.conn.send(s.frame(sess, data))
	}
}

// dispatchLocked sends event t to every live session whose shard holds
// guildID; build renders d per session and may skip it (intents).
func (s *Server) dispatchLocked(t, guildID string, build func(*gwSession) (any, bool)) int {
	n := 0
	for _, sess := range s.gw.order {
		if sess.invalid || !sess.inShard(guildID) {
			continue
		}
		d, ok := build(sess)
		if !ok {
			continue
		}
		s.sendDispatchLocked(sess, t, d)
		n++
	}
	s.gw.last = &lastDispatch{t: t, guildID: guildID, build: build}
	s.notifyLocked()
	return n
}

func (s *Server) liveSessionLocked() bool {
	for _, sess := range s.gw.order {
		if !sess.invalid {
			return true
		}
	}
	return false
}

func messageIntent(ch *channel) int64 {
	if ch != nil && ch.dm() {
		return IntentDirectMessages
	}
	return IntentGuildMessages
}

// dispatchMessageLocked sends MESSAGE_CREATE/MESSAGE_UPDATE for a
// non-ephemeral message to sessions with GUILD_MESSAGES or DIRECT_MESSAGES,
// blanking content for sessions without MESSAGE_CONTENT unless exempt.
func (s *Server) dispatchMessageLocked(t string, m *message) {
	if m.ephemeral() {
		return
	}
	ch := s.channels[m.channelID]
	if ch == nil || s.botPermsLocked(ch)&PermViewChannel == 0 {
		return
	}
	s.dispatchLocked(t, m.guildID, func(sess *gwSession) (any, bool) {
		if sess.intents&messageIntent(ch) == 0 {
			return nil, false
		}
		return s.renderMessageLocked(m, view{contentOK: sess.intents&IntentMessageContent != 0, gateway: true}), true
	})
}

// WaitReady waits until a bot session is identified (READY sent) or resumed
// and connected.
func (s *Server) WaitReady(ctx context.Context) error {
	return s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, sess := range s.gw.order {
			if !sess.invalid && sess.conn != nil {
				return true
			}
		}
		return false
	})
}

// Intents returns the intents of the most recent IDENTIFY (0 if none).
func (s *Server) Intents() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gw.lastIntents
}

// GatewayStats counts gateway activity.
type GatewayStats struct {
	Identifies, Resumes, Heartbeats, Connections int
}

// Gateway returns counts of IDENTIFYs, RESUMEs, heartbeats and open
// connections.
func (s *Server) Gateway() GatewayStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return GatewayStats{Identifies: s.gw.identifies, Resumes: s.gw.resumes, Heartbeats: s.gw.heartbeats, Connections: len(s.gw.conns)}
}

// DropConnection cuts every gateway connection without a close frame, like a
// network failure. Sessions stay resumable; events dispatched meanwhile are
// replayed on RESUME.
func (s *Server) DropConnection() {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.gw.conns))
	for c := range s.gw.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
}

// CloseConnection closes every gateway connection with a close code (see the
// Close constants). 4007 and 4009 also invalidate the session, so the next
// RESUME gets op 9.
func (s *Server) CloseConnection(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.gw.conns {
		if c.session != nil && (code == CloseInvalidSeq || code == CloseSessionTimedOut) {
			c.session.invalid = true
		}
		c.closeWith(code, "closed by test")
	}
}

// RequestReconnect sends op 7 RECONNECT on every connection; discordgo then
// reconnects and resumes.
func (s *Server) RequestReconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.gw.conns {
		if c.session != nil {
			c.sendJSON(map[string]any{"op": 7, "d": nil})
		}
	}
}

// InvalidateSessions invalidates every session and sends op 9 (d false) to
// connected ones; discordgo answers with a new IDENTIFY on the same socket.
func (s *Server) InvalidateSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.gw.order {
		sess.invalid = true
		if c := sess.conn; c != nil {
			c.session, sess.conn = nil, nil
			c.sendJSON(map[string]any{"op": 9, "d": false})
		}
	}
	s.notifyLocked()
}

// Dispatch sends an arbitrary event (op 0, type eventName, payload d) to
// every live session, ignoring intents. Prefer the typed helpers.
func (s *Server) Dispatch(eventName string, d any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.liveSessionLocked() {
		return ErrNoSession
	}
	s.dispatchLocked(eventName, "", func(*gwSession) (any, bool) { return d, true })
	return nil
}

// DuplicateLastDispatch sends the most recent dispatched event again with a
// new sequence number, as Discord may ("Be sent up to N times per client",
// reference.mdx "Consistency").
func (s *Server) DuplicateLastDispatch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.gw.last
	if l == nil {
		return errors.New("fakediscord: nothing dispatched yet")
	}
	if s.dispatchLocked(l.t, l.guildID, l.build) == 0 {
		return ErrNoSession
	}
	return nil
}
