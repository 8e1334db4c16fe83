package fakeslack

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Payload shapes follow shared/platforms/payloads: slack-slash-command.txt and
// slack-socket-mode-envelope-slash-command.json (commands),
// slack-events-app-mention*.json and slack-message-file-share.docs.json (events),
// slack-block-actions.json (buttons); message_action and view_submission follow the
// docs' interaction payload references with the same common fields.

// verificationToken is the deprecated "token" field Slack still sends in payloads.
const verificationToken = "fakeVerificationToken0000001"

// A Deliverable is a payload the fake can send to the app, over Socket Mode with
// [Server.Deliver] or to an HTTP endpoint with [Server.DeliverHTTP]. It is built by
// the Server's builders: [Command], [Event] and [Interaction].
type Deliverable interface {
	envelopeType() string
	acceptsResponsePayload() bool
	socketPayload() json.RawMessage
	httpBody() (contentType string, body []byte)
	// handleReply applies the app's answer (ack payload or HTTP body); s.mu is held.
	handleReply(s *Server, body []byte, contentType, via string)
}

func teamJSON() map[string]any { return map[string]any{"id": TeamID, "domain": TeamDomain} }

func (s *Server) userJSONLocked(id string) map[string]any {
	n := s.userName(id)
	return map[string]any{"id": id, "username": n, "name": n, "team_id": TeamID}
}

// Command is a slash command invocation (build with [Server.SlashCommand]).
type Command struct {
	Channel, User, Command, Text string
	ResponseURL                  string // on the fake; ResponseURLUses uses within ResponseURLTTL
	TriggerID                    string // exchangeable with views.open for TriggerTTL
	fields                       [][2]string
	ru                           *responseURL
}

// Form returns the command as the application/x-www-form-urlencoded body Slack POSTs.
func (c *Command) Form() url.Values {
	v := url.Values{}
	for _, f := range c.fields {
		v.Add(f[0], f[1])
	}
	return v
}

func (c *Command) envelopeType() string         { return "slash_commands" }
func (c *Command) acceptsResponsePayload() bool { return true }

func (c *Command) socketPayload() json.RawMessage {
	obj := map[string]any{"is_enterprise_install": false}
	for _, f := range c.fields {
		if f[0] != "is_enterprise_install" {
			obj[f[0]] = f[1]
		}
	}
	b, _ := json.Marshal(obj)
	return b
}

func (c *Command) httpBody() (string, []byte) {
	// Keep Slack's field order (slack-slash-command.txt) rather than url.Values' sorting.
	var sb strings.Builder
	for i, f := range c.fields {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(url.QueryEscape(f[0]) + "=" + url.QueryEscape(f[1]))
	}
	return "application/x-www-form-urlencoded", []byte(sb.String())
}

func (c *Command) handleReply(s *Server, body []byte, contentType, via string) {
	s.applyCommandReplyLocked(c.ru, body, contentType, via)
}

// SlashCommand builds the invocation of command (e.g. "/imagine") with text by user
// in channel, with a fresh response_url and trigger_id. The user must be a member of
// the channel (t.Fatalf otherwise); the bot need not be — then its chat.postMessage
// there fails with not_in_channel while the response_url still works, as in Slack.
func (s *Server) SlashCommand(channel, user, command, text string) *Command {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channel]
	if ch == nil || !ch.members[user] {
		s.tb.Fatalf("fakeslack: SlashCommand: %s is not a member of channel %q", user, channel)
	}
	if !strings.HasPrefix(command, "/") {
		s.tb.Fatalf("fakeslack: SlashCommand: command %q must start with /", command)
	}
	ru := s.issueResponseURLLocked("command", channel, user)
	c := &Command{
		Channel: channel, User: user, Command: command, Text: text,
		ResponseURL: s.responseURLString(ru), TriggerID: s.issueTriggerLocked(user), ru: ru,
	}
	c.fields = [][2]string{
		{"token", verificationToken}, {"team_id", TeamID}, {"team_domain", TeamDomain},
		{"channel_id", channel}, {"channel_name", channelName(ch)}, {"user_id", user},
		{"user_name", s.userName(user)}, {"command", command}, {"text", text},
		{"api_app_id", AppID}, {"is_enterprise_install", "false"},
		{"response_url", c.ResponseURL}, {"trigger_id", c.TriggerID},
	}
	s.notifyLocked()
	return c
}

func channelName(ch *channel) string {
	if ch.Type == DirectMessage {
		return "directmessage"
	}
	return ch.Name
}

// Event is an Events API event_callback (build with [Server.AppMention] or
// [Server.MessageEvent]).
type Event struct {
	EventID string
	Type    string  // inner event type: "app_mention" or "message"
	Message Message // the message the event reports
	body    map[string]any
}

// JSON returns the event_callback body.
func (e *Event) JSON() []byte { b, _ := json.Marshal(e.body); return b }

func (e *Event) envelopeType() string                        { return "events_api" }
func (e *Event) acceptsResponsePayload() bool                { return false }
func (e *Event) socketPayload() json.RawMessage              { return e.JSON() }
func (e *Event) httpBody() (string, []byte)                  { return "application/json", e.JSON() }
func (e *Event) handleReply(*Server, []byte, string, string) {}

func (s *Server) eventCallbackLocked(inner map[string]any) map[string]any {
	return map[string]any{
		"token": verificationToken, "team_id": TeamID, "context_team_id": TeamID,
		"context_enterprise_id": nil, "api_app_id": AppID, "event": inner, "type": "event_callback",
		"event_id": s.nextIDLocked("Ev"), "event_time": s.nowLocked().Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false, "event_context": "4-" + randHex(24),
	}
}

// innerMessageLocked renders the message fields shared by app_mention and message events.
func (s *Server) innerMessageLocked(m *message, typ string) map[string]any {
	inner := map[string]any{
		"type": typ, "user": m.user, "text": m.text, "ts": m.ts, "channel": m.channel,
		"event_ts": m.ts, "team": TeamID, "client_msg_id": m.clientMsgID,
	}
	if m.blocks != nil {
		inner["blocks"] = m.blocks
	}
	if m.threadTS != "" {
		inner["thread_ts"] = m.threadTS
		if p := s.findLocked(m.channel, m.threadTS); p != nil {
			inner["parent_user_id"] = p.user
		}
	}
	if len(m.files) > 0 {
		var fs []any
		for _, f := range m.files {
			fs = append(fs, s.fileJSONLocked(f, false))
		}
		inner["files"] = fs
		inner["upload"] = true
		inner["display_as_bot"] = false
	}
	return inner
}

// AppMention posts p as the user (see [Server.PostAsUser]) and returns the app_mention
// event Slack sends for it. "<@BotUserID> " is prepended to the text when it does not
// mention the bot. Slack sends no app_mention for direct messages (docs): the test
// fails for a DirectMessage channel.
func (s *Server) AppMention(p UserPost) *Event {
	s.tb.Helper()
	mention := "<@" + BotUserID + ">"
	if !strings.Contains(p.Text, mention) {
		p.Text = strings.TrimSpace(mention + " " + p.Text)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[p.Channel]; ch != nil && ch.Type == DirectMessage {
		s.tb.Fatalf("fakeslack: AppMention: Slack sends no app_mention in direct messages; use MessageEvent")
	}
	if ch := s.channels[p.Channel]; ch != nil && !ch.members[BotUserID] {
		s.tb.Fatalf("fakeslack: AppMention: the bot is not in %s, so Slack would not deliver app_mention", p.Channel)
	}
	m := s.postAsUserLocked(p)
	body := s.eventCallbackLocked(s.innerMessageLocked(m, "app_mention"))
	return &Event{EventID: body["event_id"].(string), Type: "app_mention", Message: s.snapshotLocked(m), body: body}
}

// MessageEvent posts p as the user and returns the "message" event (message.channels,
// message.groups or message.im) Slack sends for it; with files it has subtype
// file_share and upload true, like the docs' file_share example. The bot must be a
// member of the conversation.
func (s *Server) MessageEvent(p UserPost) *Event {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[p.Channel]
	if ch != nil && !ch.members[BotUserID] {
		s.tb.Fatalf("fakeslack: MessageEvent: the bot is not in %s, so Slack would not deliver the event", p.Channel)
	}
	m := s.postAsUserLocked(p)
	inner := s.innerMessageLocked(m, "message")
	inner["channel_type"] = string(ch.Type)
	if len(m.files) > 0 {
		inner["subtype"] = "file_share"
	}
	body := s.eventCallbackLocked(inner)
	return &Event{EventID: body["event_id"].(string), Type: "message", Message: s.snapshotLocked(m), body: body}
}

// UploadUserFile posts a message from user in channel with one file (no text) and
// returns the file. Its URLPrivate serves data to the bot token.
func (s *Server) UploadUserFile(channel, user, name string, data []byte) File {
	s.tb.Helper()
	m := s.PostAsUser(UserPost{Channel: channel, User: user, Files: []UserFile{{Name: name, Data: data}}})
	return m.Files[0]
}

// Interaction is an interactivity payload: block_actions, message_action,
// view_submission or view_closed.
type Interaction struct {
	Type        string
	TriggerID   string // fresh trigger_id ("" for view_closed)
	ResponseURL string // "" for view payloads
	ViewID      string // view_submission / view_closed
	body        map[string]any
	ru          *responseURL
}

// JSON returns the interaction payload.
func (in *Interaction) JSON() []byte { b, _ := json.Marshal(in.body); return b }

func (in *Interaction) envelopeType() string           { return "interactive" }
func (in *Interaction) acceptsResponsePayload() bool   { return in.Type != "message_action" }
func (in *Interaction) socketPayload() json.RawMessage { return in.JSON() }

func (in *Interaction) httpBody() (string, []byte) {
	return "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(in.JSON())))
}

func (in *Interaction) handleReply(s *Server, body []byte, _, via string) {
	if in.Type == "view_submission" {
		s.applyViewResponseLocked(in.ViewID, body, via)
	}
}

// ClickButton builds the block_actions payload of user pressing the button with
// actionID on the message channel/ts. It fails the test when the message is missing,
// deleted or invisible, the user is not in the channel, or the button does not exist.
func (s *Server) ClickButton(channel, ts, user, actionID string) *Interaction {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channel]
	m := s.findLocked(channel, ts)
	if ch == nil || m == nil || m.deleted || m.orphaned {
		s.tb.Fatalf("fakeslack: ClickButton: no visible message %s in %q", ts, channel)
	}
	if !ch.members[user] {
		s.tb.Fatalf("fakeslack: ClickButton: %s is not in %s", user, channel)
	}
	b := s.buttonLocked(buttonsIn(m.blocks), actionID, "message "+ts)
	ru := s.issueResponseURLLocked("block_actions", channel, user)
	ru.origTS = ts
	container := map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false}
	if m.threadTS != "" {
		container["thread_ts"] = m.threadTS
	}
	return s.blockActionsLocked(ru, user, ch, container, s.messageJSONLocked(m), b)
}

// ClickEphemeralButton builds the block_actions payload of e's recipient pressing the
// button with actionID on the ephemeral message e (container.is_ephemeral true, no
// message field). A response_url reply with replace_original/delete_original acts on e.
func (s *Server) ClickEphemeralButton(e Ephemeral, actionID string) *Interaction {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var orig *Ephemeral
	for _, x := range s.ephemerals {
		if x.TS == e.TS && x.User == e.User {
			orig = x
		}
	}
	if orig == nil || orig.Deleted {
		s.tb.Fatalf("fakeslack: ClickEphemeralButton: no live ephemeral message %s for %s", e.TS, e.User)
	}
	b := s.buttonLocked(buttonsIn(orig.Blocks), actionID, "ephemeral message "+e.TS)
	ru := s.issueResponseURLLocked("block_actions", orig.Channel, orig.User)
	ru.origEph = orig
	container := map[string]any{"type": "message", "message_ts": orig.TS, "channel_id": orig.Channel, "is_ephemeral": true}
	return s.blockActionsLocked(ru, orig.User, s.channels[orig.Channel], container, nil, b)
}

func (s *Server) buttonLocked(buttons []Button, actionID, where string) Button {
	for _, b := range buttons {
		if b.ActionID == actionID {
			return b
		}
	}
	s.tb.Fatalf("fakeslack: no button with action_id %q on %s (buttons: %+v)", actionID, where, buttons)
	return Button{}
}

func (s *Server) blockActionsLocked(ru *responseURL, user string, ch *channel, container map[string]any, msg map[string]any, b Button) *Interaction {
	action := map[string]any{
		"action_id": b.ActionID, "block_id": b.BlockID, "type": "button", "action_ts": formatTS(s.nowLocked().UnixMicro()),
		"text": map[string]any{"type": "plain_text", "text": b.Text, "emoji": true},
	}
	if b.Value != "" {
		action["value"] = b.Value
	}
	if b.Style != "" {
		action["style"] = b.Style
	}
	if b.URL != "" {
		action["url"] = b.URL
	}
	in := &Interaction{Type: "block_actions", TriggerID: s.issueTriggerLocked(user), ResponseURL: s.responseURLString(ru), ru: ru}
	in.body = map[string]any{
		"type": "block_actions", "user": s.userJSONLocked(user), "api_app_id": AppID, "token": verificationToken,
		"container": container, "trigger_id": in.TriggerID, "team": teamJSON(), "enterprise": nil,
		"is_enterprise_install": false, "channel": map[string]any{"id": ch.ID, "name": channelName(ch)},
		"state": map[string]any{"values": map[string]any{}}, "response_url": in.ResponseURL,
		"actions": []any{action},
	}
	if msg != nil {
		in.body["message"] = msg
	}
	s.notifyLocked()
	return in
}

// MessageShortcut builds the message_action payload of user choosing the message
// shortcut callbackID (e.g. "edit_image") on message channel/ts, which includes the
// message with its files. Shortcuts exist only on visible, non-ephemeral messages
// (docs), so the test fails otherwise.
func (s *Server) MessageShortcut(channel, ts, user, callbackID string) *Interaction {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channel]
	m := s.findLocked(channel, ts)
	if ch == nil || m == nil || m.deleted || m.orphaned {
		s.tb.Fatalf("fakeslack: MessageShortcut: no visible message %s in %q", ts, channel)
	}
	if !ch.members[user] {
		s.tb.Fatalf("fakeslack: MessageShortcut: %s is not in %s", user, channel)
	}
	ru := s.issueResponseURLLocked("message_action", channel, user)
	ru.origTS = ts
	in := &Interaction{Type: "message_action", TriggerID: s.issueTriggerLocked(user), ResponseURL: s.responseURLString(ru), ru: ru}
	in.body = map[string]any{
		"type": "message_action", "token": verificationToken, "action_ts": formatTS(s.nowLocked().UnixMicro()),
		"team": teamJSON(), "user": s.userJSONLocked(user), "channel": map[string]any{"id": ch.ID, "name": channelName(ch)},
		"is_enterprise_install": false, "enterprise": nil, "callback_id": callbackID,
		"trigger_id": in.TriggerID, "response_url": in.ResponseURL, "message_ts": ts,
		"message": s.messageJSONLocked(m),
	}
	s.notifyLocked()
	return in
}
