package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"
)

// response_url limits: "You can use a response_url to respond to a user's command up
// to 5 times within 30 minutes of the user's invocation" (slash-command docs, quoted by
// third parties; see shared/peers.md §0 and protocols.md B11).
const (
	ResponseURLUses = 5
	ResponseURLTTL  = 30 * time.Minute
)

type responseURL struct {
	id, kind      string // kind: "command", "block_actions", "message_action"
	channel, user string
	issued        time.Time
	uses          int
	origTS        string     // channel message the interaction came from
	origEph       *Ephemeral // ephemeral message the interaction came from
	lastEph       *Ephemeral // last ephemeral reply through this URL (commands)
}

func (s *Server) issueResponseURLLocked(kind, channel, user string) *responseURL {
	s.seq++
	ru := &responseURL{
		id:   fmt.Sprintf("%s-%d-%s", TeamID, 1000000+s.seq, randHex(12)),
		kind: kind, channel: channel, user: user, issued: s.nowLocked(),
	}
	s.responseURLs[ru.id] = ru
	return ru
}

func (s *Server) responseURLString(ru *responseURL) string {
	return s.srv.URL + "/response/" + ru.id
}

// ResponsePosts returns every request the app sent to a response_url, oldest first.
func (s *Server) ResponsePosts() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.respPosts)
	for i := range out {
		out[i].Body = slices.Clone(out[i].Body)
	}
	return out
}

// serveResponseURL handles POSTs to a response_url. Replies: 200 "ok" (what slack-go's
// text parser expects); 404 "used_url" after ResponseURLUses uses and 404 "expired_url"
// after ResponseURLTTL on the fake clock (error names and status are inferences: the
// docs state the limits, not the failure); 400 "invalid_payload" for a body that is not
// a JSON object; 400 "no_text" for a new message without text, blocks or attachments;
// 400 "invalid_blocks" for bad blocks (inferences).
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	status, reply := s.handleResponseURL(r, body)
	s.mu.Lock()
	s.respPosts = append(s.respPosts, ResponsePost{
		URL: s.srv.URL + r.URL.Path, Body: body, Status: status, Reply: reply,
	})
	s.notifyLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

func (s *Server) handleResponseURL(r *http.Request, body []byte) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method_not_allowed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ru := s.responseURLs[r.PathValue("id")]
	switch {
	case ru == nil:
		return http.StatusNotFound, "invalid_url"
	case s.nowLocked().Sub(ru.issued) > ResponseURLTTL:
		return http.StatusNotFound, "expired_url"
	case ru.uses >= ResponseURLUses:
		return http.StatusNotFound, "used_url"
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		s.warnLocked("response_url POST with Content-Type %q; Slack expects application/json", r.Header.Get("Content-Type"))
	}
	var msg respMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return http.StatusBadRequest, "invalid_payload"
	}
	ru.uses++
	if code := s.applyResponseLocked(ru, msg, "response_url"); code != "" {
		return http.StatusBadRequest, code
	}
	return http.StatusOK, "ok"
}

// respMessage is a message sent to a response_url, in a slash-command ack payload or
// in an HTTP-mode command response body.
type respMessage struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	Attachments     json.RawMessage `json:"attachments"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// applyResponseLocked shows a response the way Slack does and returns an error code
// ("" on success):
//   - delete_original deletes the message the interaction came from (a channel message
//     or an ephemeral one; for slash commands the last ephemeral reply of this URL);
//   - replace_original replaces it (text and blocks); a channel message not posted by
//     the app cannot be replaced: "cant_update_message" (inference);
//   - otherwise a new message: response_type "in_channel" posts to the channel as the
//     app (membership not needed, as for slash commands), anything else is ephemeral to
//     the user (default, slash-command docs).
func (s *Server) applyResponseLocked(ru *responseURL, msg respMessage, via string) string {
	var blocks json.RawMessage
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
		b, aerr := s.parseBlocksLocked(string(msg.Blocks), messageSurface)
		if aerr != nil {
			s.warnLocked("%s: %s %v", via, aerr.code, aerr.messages)
			return aerr.code
		}
		if nonEmptyJSONArray(b) {
			blocks = b
		}
	}
	var attach json.RawMessage
	if nonEmptyJSONArray(msg.Attachments) {
		attach = msg.Attachments
	}
	origMsg, origEph := s.originalLocked(ru)
	switch {
	case msg.DeleteOriginal:
		switch {
		case origMsg != nil:
			origMsg.deleted = true
		case origEph != nil:
			origEph.Deleted = true
		default:
			s.warnLocked("%s: delete_original but there is no original message", via)
		}
		s.notifyLocked()
		return ""
	case msg.ReplaceOriginal && (origMsg != nil || origEph != nil):
		if msg.Text == "" && blocks == nil && attach == nil {
			return "no_text"
		}
		if origEph != nil {
			s.editEphemeralLocked(origEph, msg.Text, blocks)
			return ""
		}
		if origMsg.botID != BotID {
			return "cant_update_message"
		}
		s.editLocked(origMsg, msg.Text, blocks, attach, true, true)
		return ""
	case msg.ReplaceOriginal:
		s.warnLocked("%s: replace_original but there is no original message; posted a new one", via)
	}
	if msg.Text == "" && blocks == nil && attach == nil {
		return "no_text"
	}
	if msg.ResponseType == "in_channel" {
		m := &message{
			channel: ru.channel, user: BotUserID, botID: BotID, text: msg.Text, blocks: blocks,
			attachments: attach, threadTS: msg.ThreadTS, via: via,
		}
		s.postLocked(m)
		return ""
	}
	e := &Ephemeral{Channel: ru.channel, User: ru.user, ThreadTS: msg.ThreadTS, Text: msg.Text, Blocks: blocks, Via: via}
	s.addEphemeralLocked(e)
	if ru.kind == "command" {
		ru.lastEph = e
	}
	return ""
}

func (s *Server) originalLocked(ru *responseURL) (*message, *Ephemeral) {
	switch {
	case ru.origEph != nil:
		return nil, ru.origEph
	case ru.origTS != "":
		if m := s.findLocked(ru.channel, ru.origTS); m != nil && !m.deleted {
			return m, nil
		}
		return nil, nil
	case ru.lastEph != nil:
		return nil, ru.lastEph
	}
	return nil, nil
}

// applyCommandReplyLocked shows a slash command's immediate answer: a Socket Mode ack
// payload or an HTTP response body. Plain text becomes an ephemeral message; JSON is a
// message like a response_url body. It does not count as a response_url use
// (inference).
func (s *Server) applyCommandReplyLocked(ru *responseURL, body []byte, contentType, via string) {
	if len(body) == 0 || string(body) == "null" {
		return
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct != "application/json" {
		s.addEphemeralLocked(&Ephemeral{Channel: ru.channel, User: ru.user, Text: string(body), Via: via})
		return
	}
	var msg respMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		s.warnLocked("slash command %s is not a JSON object: %v", via, err)
		return
	}
	if code := s.applyResponseLocked(ru, msg, via); code != "" {
		s.warnLocked("slash command %s rejected: %s", via, code)
	}
}
