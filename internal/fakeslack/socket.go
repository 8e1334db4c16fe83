package fakeslack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode per docs.slack.dev/apis/events-api/using-socket-mode (verbatim in
// shared/platforms/payloads/slack-socket-mode-*.json/.txt) and slack-go's
// socketmode client (protocols.md B8).

// AckDeadline is how long Slack waits for an envelope's ack before it tells the user
// the command or action failed (slash commands, interactions) or retries (events).
const AckDeadline = 3 * time.Second

// maxAckSize is Slack's limit for a Socket Mode response; larger ones are dropped
// silently (slack-go socketmode.go maxResponseSize).
const maxAckSize = 20 * 1024

type wsConn struct {
	id        int
	ws        *websocket.Conn
	wmu       sync.Mutex
	closeOnce sync.Once
	done      chan struct{}
}

func (c *wsConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

type envelope struct {
	id        string
	typ       string
	payload   json.RawMessage
	accepts   bool
	d         Deliverable // nil for raw SendSocket payloads
	firstSent time.Time   // wall clock
	attempt   int
	acked     bool
	ack       Ack
}

// Envelope is a Socket Mode envelope the fake sent.
type Envelope struct {
	ID      string
	Type    string
	Payload json.RawMessage
	s       *Server
}

// WaitAck waits until the app acknowledges the envelope and returns the ack.
func (e *Envelope) WaitAck(ctx context.Context) (Ack, error) {
	var ack Ack
	err := e.s.Await(ctx, func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		env := e.s.envelopes[e.ID]
		if env != nil && env.acked {
			ack = env.ack
			return true
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("waiting for the ack of %s envelope %s: %w", e.Type, e.ID, err)
	}
	return ack, nil
}

// Acked reports whether the app acknowledged the envelope.
func (e *Envelope) Acked() bool {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.envelopes[e.ID].acked
}

// appsConnectionsOpen hands out a single-use WebSocket URL
// ws://HOST/link/?ticket=...&app_id=... (docs response: {"ok":true,"url":"wss://..."}).
func (s *Server) appsConnectionsOpen(*apiRequest) (map[string]any, *apiError) {
	ticket := randHex(8)
	s.tickets[ticket] = true
	host := strings.TrimPrefix(s.srv.URL, "http://")
	return map[string]any{"url": "ws://" + host + "/link/?ticket=" + ticket + "&app_id=" + AppID}, nil
}

var upgrader = websocket.Upgrader{
	// slack-go dials with Origin: https://api.slack.com, which gorilla's default
	// same-origin check rejects (protocols.md B8).
	CheckOrigin: func(*http.Request) bool { return true },
}

// serveSocket upgrades /link/ with a ticket from apps.connections.open (unknown or used
// ticket: 401, inference), sends hello, pings every ping interval and reads acks.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.wg.Add(2) // read loop (this goroutine) and ping loop
	s.connSeq++
	c.id = s.connSeq
	n := len(s.conns) + 1
	s.mu.Unlock()
	defer s.wg.Done()

	hello := map[string]any{
		"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "fakeslack-applink-1", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID},
	}
	if err := c.writeJSON(hello); err != nil {
		s.wg.Done()
		c.close()
		return
	}
	s.mu.Lock()
	if s.closed { // close() already ran over the registered connections
		s.mu.Unlock()
		s.wg.Done()
		c.close()
		return
	}
	s.conns[c.id] = c
	s.connectCount++
	s.notifyLocked()
	s.mu.Unlock()

	go s.pingLoop(c)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			break
		}
		s.handleFrame(data)
	}
	c.close()
	s.mu.Lock()
	delete(s.conns, c.id)
	s.notifyLocked()
	s.mu.Unlock()
}

// pingLoop sends a PING right away and then every ping interval; slack-go treats a
// connection without pings as dead (protocols.md B8).
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.pingInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		s.mu.Lock()
		on := s.pinging
		s.mu.Unlock()
		if on {
			if err := c.ws.WriteControl(websocket.PingMessage, []byte(fmt.Sprintf("ping-%d", i)), time.Now().Add(5*time.Second)); err != nil {
				c.close()
				return
			}
		}
		select {
		case <-c.done:
			return
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

// handleFrame records an ack {"envelope_id": ..., "payload": ...}.
func (s *Server) handleFrame(data []byte) {
	var frame struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(data) >= maxAckSize {
		s.warnLocked("Socket Mode response of %d bytes dropped: Slack ignores responses of 20 KiB or more", len(data))
		return
	}
	if err := json.Unmarshal(data, &frame); err != nil || frame.EnvelopeID == "" {
		s.warnLocked("Socket Mode frame from the app is not an ack: %.200s", data)
		return
	}
	env := s.envelopes[frame.EnvelopeID]
	if env == nil {
		s.warnLocked("ack for unknown envelope_id %q", frame.EnvelopeID)
		return
	}
	if env.acked {
		s.warnLocked("envelope %s (%s) acked twice", env.id, env.typ)
		return
	}
	if len(frame.Payload) == 0 || string(frame.Payload) == "null" {
		frame.Payload = nil
	}
	lat := time.Since(env.firstSent)
	env.acked = true
	env.ack = Ack{EnvelopeID: env.id, Payload: frame.Payload, Attempt: env.attempt, Latency: lat, Late: lat > AckDeadline}
	s.acks = append(s.acks, env.ack)
	switch {
	case env.ack.Late && env.typ != "events_api":
		s.warnLocked("%s envelope %s acked after %v; Slack's deadline is %v and the user saw an error, so the ack payload was ignored", env.typ, env.id, lat.Round(time.Millisecond), AckDeadline)
	case frame.Payload != nil && !env.accepts:
		s.warnLocked("%s envelope %s acked with a payload but accepts_response_payload is false", env.typ, env.id)
	case env.d != nil:
		env.d.handleReply(s, frame.Payload, "application/json", "ack")
	}
	s.notifyLocked()
}

// Acks returns every ack received, in arrival order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// Deliver sends d over Socket Mode as an envelope of its type (slash_commands,
// events_api or interactive), waiting for a connection until ctx ends. The app's ack
// payload is applied like Slack does (command replies, view_submission
// response_action). See [WithRedelivery] for un-acked events.
func (s *Server) Deliver(ctx context.Context, d Deliverable) (*Envelope, error) {
	return s.send(ctx, d.envelopeType(), d.socketPayload(), d.acceptsResponsePayload(), d)
}

// SendSocket sends a raw envelope of type typ (e.g. "events_api") with payload (any
// JSON-marshalable value, or json.RawMessage) and accepts_response_payload false.
func (s *Server) SendSocket(ctx context.Context, typ string, payload any) (*Envelope, error) {
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("fakeslack: marshal payload: %w", err)
		}
	}
	return s.send(ctx, typ, raw, false, nil)
}

func (s *Server) send(ctx context.Context, typ string, payload json.RawMessage, accepts bool, d Deliverable) (*Envelope, error) {
	env := &envelope{id: uuid(), typ: typ, payload: payload, accepts: accepts, d: d}
	s.mu.Lock()
	s.envelopes[env.id] = env
	s.mu.Unlock()
	if err := s.write(ctx, env); err != nil {
		return nil, err
	}
	if typ == "events_api" && s.cfg.redeliverMax > 0 {
		s.mu.Lock()
		if !s.closed {
			s.wg.Add(1)
			go s.redeliver(env)
		}
		s.mu.Unlock()
	}
	return &Envelope{ID: env.id, Type: typ, Payload: payload, s: s}, nil
}

func (s *Server) frame(env *envelope) map[string]any {
	f := map[string]any{"envelope_id": env.id, "payload": env.payload, "type": env.typ, "accepts_response_payload": env.accepts}
	if env.typ == "events_api" {
		f["retry_attempt"] = env.attempt
		f["retry_reason"] = ""
		if env.attempt > 0 {
			f["retry_reason"] = "timeout"
		}
	}
	return f
}

// write sends env on a live connection, waiting for one until ctx ends.
func (s *Server) write(ctx context.Context, env *envelope) error {
	for {
		var c *wsConn
		err := s.Await(ctx, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			keys := sortedKeys(s.conns)
			if len(keys) == 0 {
				return false
			}
			c = s.conns[keys[0]]
			return true
		})
		if err != nil {
			return fmt.Errorf("fakeslack: no Socket Mode connection for %s envelope: %w", env.typ, err)
		}
		// The send time is taken before the write: an app on the same machine
		// can ack before writeJSON returns, and the ack's latency is measured
		// from it.
		s.mu.Lock()
		f := s.frame(env)
		first := env.firstSent.IsZero()
		if first {
			env.firstSent = time.Now()
		}
		s.mu.Unlock()
		if err := c.writeJSON(f); err != nil {
			c.close()
			s.mu.Lock()
			delete(s.conns, c.id)
			if first && !env.acked {
				env.firstSent = time.Time{}
			}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	}
}

func sortedKeys(m map[int]*wsConn) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// redeliver resends env with retry_attempt 1..max while it stays un-acked.
func (s *Server) redeliver(env *envelope) {
	defer s.wg.Done()
	for attempt := 1; attempt <= s.cfg.redeliverMax; attempt++ {
		t := time.NewTimer(s.cfg.redeliverAfter)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		acked := env.acked
		if !acked {
			env.attempt = attempt
		}
		s.mu.Unlock()
		if acked {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.redeliverAfter+time.Second)
		err := s.write(ctx, env)
		cancel()
		if err != nil && errors.Is(err, context.Canceled) {
			return
		}
	}
}

// WaitConnected waits until at least one Socket Mode connection received hello.
func (s *Server) WaitConnected(ctx context.Context) error {
	return s.Await(ctx, func() bool { return s.Connections() > 0 })
}

// Connections returns the number of open Socket Mode connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ConnectCount returns how many Socket Mode connections were ever established.
func (s *Server) ConnectCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectCount
}

// Disconnect sends {"type":"disconnect","reason":reason} on every connection (Slack's
// reasons: "warning", "refresh_requested", "link_disabled"); slack-go then reconnects
// through apps.connections.open.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, id := range sortedKeys(s.conns) {
		conns = append(conns, s.conns[id])
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.writeJSON(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fakeslack-applink-1"}})
	}
}

// DropConnections closes every Socket Mode connection abruptly (no close frame).
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// SetPinging turns the server's WebSocket PINGs on or off (on by default); with pings
// off slack-go declares the connection dead after its ping interval and reconnects.
func (s *Server) SetPinging(on bool) {
	s.mu.Lock()
	s.pinging = on
	s.mu.Unlock()
}
