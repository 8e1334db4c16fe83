package fakediscord_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fluxbot/fluxbot/internal/fakediscord"
)

// rawGateway dials the fake's gateway like a client library would and reads
// HELLO.
func rawGateway(t *testing.T, f *fakediscord.Server) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(f.URL, "http") + "/gw/?v=9&encoding=json"
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if op := readOp(t, c); op["op"] != 10.0 {
		t.Fatalf("first frame = %v, want HELLO", op)
	}
	return c
}

func readOp(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

func TestGatewayProtocolErrors(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	identify := func(token string, intents int64) map[string]any {
		return map[string]any{"op": 2, "d": map[string]any{"token": token, "intents": intents,
			"properties": map[string]string{"os": "linux", "browser": "test", "device": "test"}}}
	}
	for _, tc := range []struct {
		name   string
		frames []any
		want   int
	}{
		{"wrong token", []any{identify("nope", 513)}, fakediscord.CloseAuthenticationFailed},
		{"presence before identify", []any{map[string]any{"op": 3, "d": map[string]any{}}}, fakediscord.CloseNotAuthenticated},
		{"unknown opcode", []any{map[string]any{"op": 42}}, fakediscord.CloseUnknownOpcode},
		{"identify twice", []any{identify(f.Token, 513), identify(f.Token, 513)}, fakediscord.CloseAlreadyAuthenticated},
		{"no intents", []any{map[string]any{"op": 2, "d": map[string]any{"token": f.Token}}}, fakediscord.CloseInvalidIntents},
		{"guild members not enabled", []any{identify(f.Token, 1<<1)}, fakediscord.CloseDisallowedIntents},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawGateway(t, f)
			for _, fr := range tc.frames {
				send(t, c, fr)
			}
			if got := closeCode(t, c); got != tc.want {
				t.Errorf("close code = %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("decode error", func(t *testing.T) {
		c := rawGateway(t, f)
		if err := c.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		if got := closeCode(t, c); got != fakediscord.CloseDecodeError {
			t.Errorf("close code = %d", got)
		}
	})
	t.Run("heartbeat ack and resume of unknown session", func(t *testing.T) {
		c := rawGateway(t, f)
		send(t, c, map[string]any{"op": 1, "d": nil})
		if op := readOp(t, c); op["op"] != 11.0 {
			t.Errorf("heartbeat answer = %v", op)
		}
		send(t, c, map[string]any{"op": 6, "d": map[string]any{"token": f.Token, "session_id": "gone", "seq": 3}})
		if op := readOp(t, c); op["op"] != 9.0 || op["d"] != false {
			t.Errorf("resume answer = %v, want op 9", op)
		}
		// The client may identify on the same socket after op 9.
		send(t, c, identify(f.Token, 1<<0|1<<9))
		ready := readOp(t, c)
		if ready["t"] != "READY" || ready["s"] != 1.0 {
			t.Fatalf("after identify = %v", ready)
		}
		d := ready["d"].(map[string]any)
		if d["session_id"] == "" || d["application"].(map[string]any)["id"] != f.AppID {
			t.Errorf("READY d = %v", d)
		}
		if gc := readOp(t, c); gc["t"] != "GUILD_CREATE" || gc["s"] != 2.0 {
			t.Errorf("after READY = %v", gc["t"])
		}
		// A resume with a sequence from the future is refused.
		c2 := rawGateway(t, f)
		send(t, c2, map[string]any{"op": 6, "d": map[string]any{"token": f.Token, "session_id": d["session_id"], "seq": 99}})
		if got := closeCode(t, c2); got != fakediscord.CloseInvalidSeq {
			t.Errorf("future seq close = %d", got)
		}
		// Closing with 1000 invalidates the session (gateway.mdx).
		if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "")); err != nil {
			t.Fatal(err)
		}
		closeCode(t, c)
		c3 := rawGateway(t, f)
		send(t, c3, map[string]any{"op": 6, "d": map[string]any{"token": f.Token, "session_id": d["session_id"], "seq": 2}})
		if op := readOp(t, c3); op["op"] != 9.0 {
			t.Errorf("resume after close 1000 = %v, want op 9", op)
		}
	})
	t.Run("message content blanked per session", func(t *testing.T) {
		c := rawGateway(t, f)
		send(t, c, identify(f.Token, 1<<9))
		readOp(t, c) // READY (no GUILDS intent: no GUILD_CREATE)
		m, err := f.PostMessage(fakediscord.UserMessage{Content: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		ev := readOp(t, c)
		d, _ := json.Marshal(ev["d"])
		if ev["t"] != "MESSAGE_CREATE" || !strings.Contains(string(d), m.ID) || strings.Contains(string(d), "secret") {
			t.Errorf("MESSAGE_CREATE = %s", d)
		}
	})
}
