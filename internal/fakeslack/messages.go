package fakeslack

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

type message struct {
	channel     string
	ts          string
	threadTS    string
	user        string
	botID       string
	text        string
	blocks      json.RawMessage
	attachments json.RawMessage
	metadata    json.RawMessage
	files       []*file
	upload      bool
	broadcast   bool
	deleted     bool
	orphaned    bool
	edits       []Revision
	editedTS    string
	via         string
	clientMsgID string
}

type ephemeral = Ephemeral

// postLocked stores m (channel, author and content set) with a fresh ts, resolving
// its thread_ts the way Slack does.
func (s *Server) postLocked(m *message) {
	m.ts = s.newTSLocked()
	if m.threadTS != "" {
		s.resolveThreadLocked(m)
	}
	s.messages[m.channel] = append(s.messages[m.channel], m)
	s.notifyLocked()
}

// resolveThreadLocked applies Slack's handling of thread_ts:
//   - a ts of no message: the post succeeds but nobody sees it (python-slack-sdk #840);
//   - a reply's ts: docs say "Avoid using a reply's ts value; use its parent instead";
//     the fake threads it under the parent (inference) and warns;
//   - a deleted parent without replies: posted un-threaded (slack-go
//     PostMessageWithResponse docs: "a threaded reply was posted un-threaded because its
//     parent message was deleted").
func (s *Server) resolveThreadLocked(m *message) {
	p := s.findLocked(m.channel, m.threadTS)
	switch {
	case p == nil || p.orphaned:
		m.orphaned = true
		s.warnLocked("%s in %s: thread_ts %q names no message; Slack accepts it but nobody sees the message", m.via, m.channel, m.threadTS)
	case p.threadTS != "":
		s.warnLocked("%s in %s: thread_ts %q is a reply's ts; use the parent's ts %q", m.via, m.channel, m.threadTS, p.threadTS)
		m.threadTS = p.threadTS
	case p.deleted && len(s.repliesLocked(p)) == 0:
		s.warnLocked("%s in %s: thread parent %q was deleted; the message was posted un-threaded", m.via, m.channel, m.threadTS)
		m.threadTS = ""
	}
}

func (s *Server) findLocked(channel, ts string) *message {
	for _, m := range s.messages[channel] {
		if m.ts == ts {
			return m
		}
	}
	return nil
}

// repliesLocked returns the visible replies of parent p.
func (s *Server) repliesLocked(p *message) []*message {
	var out []*message
	for _, m := range s.messages[p.channel] {
		if m.threadTS == p.ts && m.ts != p.ts && !m.deleted && !m.orphaned {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) snapshotLocked(m *message) Message {
	out := Message{
		Channel:     m.channel,
		TS:          m.ts,
		ThreadTS:    m.threadTS,
		User:        m.user,
		BotID:       m.botID,
		Text:        m.text,
		Blocks:      slices.Clone(m.blocks),
		Attachments: slices.Clone(m.attachments),
		Broadcast:   m.broadcast,
		Edits:       slices.Clone(m.edits),
		Deleted:     m.deleted,
		Orphaned:    m.orphaned,
		Via:         m.via,
	}
	for _, f := range m.files {
		out.Files = append(out.Files, f.snapshot())
	}
	return out
}

// Messages returns every message of channel in ts order, thread replies, deleted and
// orphaned messages included.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		out = append(out, s.snapshotLocked(m))
	}
	return out
}

// ChannelView returns what a member sees in the channel itself: live top-level messages
// and broadcast replies, oldest first.
func (s *Server) ChannelView(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if !m.deleted && !m.orphaned && (m.threadTS == "" || m.broadcast) {
			out = append(out, s.snapshotLocked(m))
		}
	}
	return out
}

// Thread returns the thread whose parent (or any reply) has ts: the parent first, then
// the live replies in order. It returns nil when there is no such message.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findLocked(channel, ts)
	if p == nil || p.orphaned {
		return nil
	}
	if p.threadTS != "" {
		if p = s.findLocked(channel, p.threadTS); p == nil {
			return nil
		}
	}
	out := []Message{s.snapshotLocked(p)}
	for _, r := range s.repliesLocked(p) {
		out = append(out, s.snapshotLocked(r))
	}
	return out
}

// Message returns the message of channel with ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findLocked(channel, ts); m != nil {
		return s.snapshotLocked(m), true
	}
	return Message{}, false
}

// WaitForMessage waits until channel has a message (in any thread, deleted ones
// excluded) for which match returns true, and returns it. A nil match accepts any
// message from the bot.
func (s *Server) WaitForMessage(ctx context.Context, channel string, match func(Message) bool) (Message, error) {
	if match == nil {
		match = Message.FromBot
	}
	var found Message
	err := s.Await(ctx, func() bool {
		for _, m := range s.Messages(channel) {
			if !m.Deleted && match(m) {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		return Message{}, fmt.Errorf("waiting for a message in %s: %w", channel, err)
	}
	return found, nil
}

// Ephemerals returns the ephemeral messages user received in channel, oldest first
// ("" for either matches all).
func (s *Server) Ephemerals(channel, user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if (channel == "" || e.Channel == channel) && (user == "" || e.User == user) {
			c := *e
			c.Blocks = slices.Clone(e.Blocks)
			c.Edits = slices.Clone(e.Edits)
			out = append(out, c)
		}
	}
	return out
}

// WaitForEphemeral waits for a live ephemeral message to user in channel for which
// match (nil: any) returns true.
func (s *Server) WaitForEphemeral(ctx context.Context, channel, user string, match func(Ephemeral) bool) (Ephemeral, error) {
	var found Ephemeral
	err := s.Await(ctx, func() bool {
		for _, e := range s.Ephemerals(channel, user) {
			if !e.Deleted && (match == nil || match(e)) {
				found = e
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ephemeral{}, fmt.Errorf("waiting for an ephemeral message to %s in %s: %w", user, channel, err)
	}
	return found, nil
}

func (s *Server) addEphemeralLocked(e *Ephemeral) {
	e.TS = s.newTSLocked()
	e.Received = s.nowLocked()
	s.ephemerals = append(s.ephemerals, e)
	s.notifyLocked()
}

// messageJSON renders m as the Web API and event payloads do.
func (s *Server) messageJSONLocked(m *message) map[string]any {
	replies := []*message(nil)
	if m.threadTS == "" {
		replies = s.repliesLocked(m)
	}
	if m.deleted {
		// A deleted parent with replies stays as a tombstone (inference from the
		// client's "This message was deleted." placeholder).
		return map[string]any{
			"type": "message", "subtype": "tombstone", "hidden": true, "user": "USLACKBOT",
			"text": "This message was deleted.", "ts": m.ts, "thread_ts": m.ts,
			"reply_count": len(replies),
		}
	}
	obj := map[string]any{"type": "message", "ts": m.ts, "text": m.text, "team": TeamID}
	if m.user != "" {
		obj["user"] = m.user
	}
	if m.botID != "" {
		obj["bot_id"] = m.botID
		obj["app_id"] = AppID
		obj["bot_profile"] = map[string]any{
			"id": BotID, "app_id": AppID, "name": BotName, "team_id": TeamID, "deleted": false,
			"updated": 1700000000, "icons": map[string]any{"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
		}
	} else if m.clientMsgID != "" {
		obj["client_msg_id"] = m.clientMsgID
	}
	if m.blocks != nil {
		obj["blocks"] = m.blocks
	}
	if m.attachments != nil {
		obj["attachments"] = m.attachments
	}
	if m.metadata != nil {
		obj["metadata"] = m.metadata
	}
	if len(m.files) > 0 {
		var fs []any
		for _, f := range m.files {
			fs = append(fs, s.fileJSONLocked(f, false))
		}
		obj["files"] = fs
		obj["upload"] = m.upload
		obj["display_as_bot"] = false
	}
	if m.threadTS != "" {
		obj["thread_ts"] = m.threadTS
		if p := s.findLocked(m.channel, m.threadTS); p != nil {
			obj["parent_user_id"] = p.user
		}
		if m.broadcast {
			obj["subtype"] = "thread_broadcast"
		}
	} else if len(replies) > 0 {
		users := []string{}
		for _, r := range replies {
			if !slices.Contains(users, r.user) {
				users = append(users, r.user)
			}
		}
		obj["thread_ts"] = m.ts
		obj["reply_count"] = len(replies)
		obj["reply_users"] = users
		obj["reply_users_count"] = len(users)
		obj["latest_reply"] = replies[len(replies)-1].ts
		obj["is_locked"] = false
		obj["subscribed"] = false
	}
	if len(m.edits) > 0 {
		obj["edited"] = map[string]any{"user": m.user, "ts": m.editedTS}
	}
	return obj
}

// UserPost is a message a workspace member posts (see [Server.PostAsUser]).
type UserPost struct {
	Channel  string
	User     string
	Text     string
	ThreadTS string     // parent ts to reply in a thread
	Files    []UserFile // uploaded with the message
}

// UserFile is a file a member attaches to a message.
type UserFile struct {
	Name     string
	Data     []byte
	Mimetype string // detected from Name and Data when empty
	Title    string // Name when empty
}

// PostAsUser records a message from a member, as if typed in the Slack client, and
// returns it. Files are stored with url_private on the fake (readable with the bot
// token while shared in a channel the bot is in). The post itself sends nothing to the
// app: deliver an event built with [Server.AppMention] or [Server.MessageEvent], or use
// those builders directly since they post too.
func (s *Server) PostAsUser(p UserPost) Message {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.postAsUserLocked(p)
	return s.snapshotLocked(m)
}

func (s *Server) postAsUserLocked(p UserPost) *message {
	ch, ok := s.channels[p.Channel]
	if !ok {
		s.tb.Fatalf("fakeslack: PostAsUser: unknown channel %q", p.Channel)
	}
	if !ch.members[p.User] {
		s.tb.Fatalf("fakeslack: PostAsUser: %s is not a member of %s", p.User, p.Channel)
	}
	if p.Text == "" && len(p.Files) == 0 {
		s.tb.Fatalf("fakeslack: PostAsUser: a message needs text or files")
	}
	m := &message{
		channel: p.Channel, threadTS: p.ThreadTS, user: p.User, text: p.Text, via: "user",
		clientMsgID: uuid(), blocks: richTextBlocks(p.Text),
	}
	if p.ThreadTS != "" {
		parent := s.findLocked(p.Channel, p.ThreadTS)
		if parent == nil || parent.deleted || parent.orphaned {
			s.tb.Fatalf("fakeslack: PostAsUser: no visible message %s in %s to reply to", p.ThreadTS, p.Channel)
		}
		if parent.threadTS != "" { // the Slack client replies under the thread's parent
			m.threadTS = parent.threadTS
		}
	}
	for _, uf := range p.Files {
		f := s.newFileLocked(uf.Name, len(uf.Data), p.User)
		f.data = slices.Clone(uf.Data)
		f.uploaded, f.completed = true, true
		if uf.Title != "" {
			f.title = uf.Title
		}
		f.mimetype = uf.Mimetype
		f.detectType()
		f.channels = []string{p.Channel}
		m.files = append(m.files, f)
	}
	m.upload = len(m.files) > 0
	s.postLocked(m)
	for _, f := range m.files {
		f.shares = append(f.shares, share{channel: p.Channel, ts: m.ts, threadTS: m.threadTS})
	}
	return m
}

var mentionRE = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)

// richTextBlocks renders text the way the Slack client sends a typed message: one
// rich_text block whose section holds user elements for mentions and text elements.
func richTextBlocks(text string) json.RawMessage {
	if text == "" {
		return nil
	}
	var elems []any
	last := 0
	for _, loc := range mentionRE.FindAllStringSubmatchIndex(text, -1) {
		if loc[0] > last {
			elems = append(elems, map[string]any{"type": "text", "text": text[last:loc[0]]})
		}
		elems = append(elems, map[string]any{"type": "user", "user_id": text[loc[2]:loc[3]]})
		last = loc[1]
	}
	if last < len(text) {
		elems = append(elems, map[string]any{"type": "text", "text": text[last:]})
	}
	b, _ := json.Marshal([]any{map[string]any{
		"type": "rich_text", "block_id": randHex(2),
		"elements": []any{map[string]any{"type": "rich_text_section", "elements": elems}},
	}})
	return b
}

func (s *Server) editLocked(m *message, text string, blocks, attachments json.RawMessage, setBlocks, setAttachments bool) {
	m.edits = append(m.edits, Revision{Text: m.text, Blocks: m.blocks, Attachments: m.attachments, ReplacedAt: s.nowLocked()})
	m.text = text
	if setBlocks {
		m.blocks = blocks
	}
	if setAttachments {
		m.attachments = attachments
	}
	m.editedTS = s.newTSLocked()
	s.notifyLocked()
}

func (s *Server) editEphemeralLocked(e *Ephemeral, text string, blocks json.RawMessage) {
	e.Edits = append(e.Edits, Revision{Text: e.Text, Blocks: e.Blocks, ReplacedAt: s.nowLocked()})
	e.Text, e.Blocks = text, blocks
	s.notifyLocked()
}

// nonEmptyJSONArray reports whether raw is a JSON array with at least one element.
func nonEmptyJSONArray(raw json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(raw, &a) == nil && len(a) > 0
}
