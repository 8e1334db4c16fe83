package fakediscord

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func (s *Server) handleGateway(c *call) {
	c.writeJSON(http.StatusOK, map[string]any{"url": s.gatewayURL()})
}

func (s *Server) gatewayURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/gw"
}

func (s *Server) handleGatewayBot(c *call) {
	s.mu.Lock()
	n := s.gw.identifies
	s.mu.Unlock()
	c.writeJSON(http.StatusOK, map[string]any{
		"url": s.gatewayURL(), "shards": 1,
		"session_start_limit": map[string]any{"total": 1000, "remaining": max(0, 1000-n), "reset_after": 86400000, "max_concurrency": 1},
	})
}

func (s *Server) handleCurrentUser(c *call) {
	u := userJSON(s.botUser())
	u["flags"], u["verified"], u["mfa_enabled"], u["banner"], u["accent_color"], u["locale"], u["email"] =
		0, true, false, nil, nil, "en-US", nil
	c.writeJSON(http.StatusOK, u)
}

// appFlags are the application flags READY and /applications/@me carry:
// the *_LIMITED flags of intents switched on in the portal (application.mdx
// §Application Flags).
func (s *Server) appFlags() int64 {
	var f int64
	if s.cfg.privileged&IntentGuildPresences != 0 {
		f |= 1 << 13
	}
	if s.cfg.privileged&IntentGuildMembers != 0 {
		f |= 1 << 15
	}
	if s.cfg.privileged&IntentMessageContent != 0 {
		f |= 1 << 19
	}
	return f
}

func (s *Server) handleApplication(c *call) {
	s.mu.Lock()
	n := len(s.guilds)
	s.mu.Unlock()
	c.writeJSON(http.StatusOK, map[string]any{
		"id": s.AppID, "name": s.BotUsername, "icon": nil, "description": "", "bot_public": true,
		"bot_require_code_grant": false, "verify_key": randomHex(32), "flags": s.appFlags(),
		"bot": userJSON(s.botUser()), "approximate_guild_count": n, "team": nil,
	})
}

func (s *Server) handleCreateDM(c *call) {
	b, e := c.readBody(0, false)
	if e != nil {
		c.failWith(e)
		return
	}
	var rid string
	if json.Unmarshal(b.fields["recipient_id"], &rid) != nil || rid == "" {
		c.failForm(formErrors{}.add("recipient_id", "BASE_TYPE_REQUIRED", "This field is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[rid]
	if !ok || u.Bot {
		c.fail(http.StatusNotFound, 10013, "Unknown User")
		return
	}
	c.writeJSON(http.StatusOK, s.channelJSONLocked(s.channels[s.dmChannelLocked(rid)]))
}

func (s *Server) channelJSONLocked(ch *channel) map[string]any {
	var last any
	for i := len(ch.messages) - 1; i >= 0; i-- {
		if m := ch.messages[i]; !m.deleted && !m.ephemeral() {
			last = m.id
			break
		}
	}
	if ch.dm() {
		return map[string]any{"id": ch.id, "type": 1, "flags": 0, "last_message_id": last,
			"recipients": []any{userJSON(s.users[ch.recipient])}}
	}
	return map[string]any{"id": ch.id, "type": 0, "guild_id": ch.guildID, "name": ch.name,
		"position": 0, "permission_overwrites": []any{}, "nsfw": false, "parent_id": nil,
		"topic": nil, "last_message_id": last, "rate_limit_per_user": 0, "flags": 0}
}

// channelForBotLocked finds a channel the bot may use: 404 10003 Unknown
// Channel, 403 50001 Missing Access without VIEW_CHANNEL, 403 50013 Missing
// Permissions without need (message.mdx "Create Message" limitations).
func (s *Server) channelForBotLocked(id string, need int64) (*channel, *apiError) {
	ch := s.channels[id]
	if ch == nil {
		return nil, errf(http.StatusNotFound, 10003, "Unknown Channel")
	}
	perms := s.botPermsLocked(ch)
	if perms&PermViewChannel == 0 {
		return nil, errf(http.StatusForbidden, 50001, "Missing Access")
	}
	if need&^perms != 0 {
		return nil, errf(http.StatusForbidden, 50013, "Missing Permissions")
	}
	return ch, nil
}

func (s *Server) handleGetChannel(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], 0)
	if e != nil {
		c.failWith(e)
		return
	}
	c.writeJSON(http.StatusOK, s.channelJSONLocked(ch))
}

// visibleInChannel: what GET/list can return (not deleted, not ephemeral).
func visibleInChannel(m *message, ch *channel) bool {
	return m != nil && !m.deleted && !m.ephemeral() && m.channelID == ch.id
}

func (s *Server) handleListMessages(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], PermReadMessageHistory)
	if e != nil {
		c.failWith(e)
		return
	}
	q := c.r.URL.Query()
	limit := 50
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			c.failForm(formErrors{}.add("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100."))
			return
		}
		limit = n
	}
	before, after := q.Get("before"), q.Get("after")
	out := []any{}
	for i := len(ch.messages) - 1; i >= 0 && len(out) < limit; i-- {
		m := ch.messages[i]
		if !visibleInChannel(m, ch) || (before != "" && !idLess(m.id, before)) || (after != "" && !idLess(after, m.id)) {
			continue
		}
		out = append(out, s.renderMessageLocked(m, s.restView()))
	}
	c.writeJSON(http.StatusOK, out)
}

func idLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}

// handleCreateMessage is POST /channels/{id}/messages (message.mdx "Create
// Message").
func (s *Server) handleCreateMessage(c *call) {
	s.mu.Lock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], PermSendMessages)
	var limit int64
	if e == nil {
		limit = s.uploadLimitLocked(ch.guildID)
	}
	s.mu.Unlock()
	if e != nil {
		c.failWith(e)
		return
	}
	b, e := c.readBody(limit, true)
	if e != nil {
		c.failWith(e)
		return
	}
	in, e := parseMessage(b, kindChannelCreate, 0, c.version)
	if e != nil {
		c.failWith(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	perms := s.botPermsLocked(ch)
	if len(in.files) > 0 && perms&PermAttachFiles == 0 {
		c.failWith(errf(http.StatusForbidden, 50013, "Missing Permissions"))
		return
	}
	var target *message
	if in.ref != nil {
		if perms&PermReadMessageHistory == 0 {
			c.failWith(errf(http.StatusForbidden, 50013, "Missing Permissions"))
			return
		}
		t := s.messages[in.ref.messageID]
		ok := visibleInChannel(t, ch) && (in.ref.channelID == "" || in.ref.channelID == ch.id) &&
			(in.ref.guildID == "" || in.ref.guildID == ch.guildID)
		switch {
		case ok:
			target = t
		case in.ref.failIfNotExists:
			// The shape real Discord answers with for a reply to a missing
			// message.
			c.failForm(formErrors{}.add("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"))
			return
		}
	}
	typ := typeDefault
	if target != nil {
		typ = typeReply
	}
	m := s.newMessageLocked(ch, s.botUser(), in, typ)
	if target != nil {
		m.ref = &msgRef{messageID: target.id, channelID: ch.id, guildID: ch.guildID}
		if (in.allowed == nil || in.allowed.repliedUser) && !slices.Contains(m.mentions, target.author.ID) {
			m.mentions = append(m.mentions, target.author.ID)
		}
	}
	s.addMessageLocked(ch, m)
	c.writeJSON(http.StatusOK, s.renderMessageLocked(m, fullView))
}

// newMessageLocked builds a message from validated input and binds its
// files.
func (s *Server) newMessageLocked(ch *channel, author User, in *msgInput, typ int) *message {
	m := &message{
		id: s.newIDLocked(), channelID: ch.id, guildID: ch.guildID, author: author, typ: typ,
		created: s.nowLocked(), embeds: in.embeds, flags: in.flags,
	}
	if in.content != nil {
		m.content = *in.content
	}
	if in.componentsSet {
		m.components = in.components
	}
	m.attachments = s.bindFilesLocked(in, ch.id, m.ephemeral())
	m.mentions = s.parseMentionsLocked(m.content, in.allowed)
	return m
}

// addMessageLocked stores a message and sends MESSAGE_CREATE.
func (s *Server) addMessageLocked(ch *channel, m *message) {
	ch.messages = append(ch.messages, m)
	s.messages[m.id] = m
	s.dispatchMessageLocked("MESSAGE_CREATE", m)
	s.notifyLocked()
}

// bindFilesLocked turns uploaded files into CDN attachments, in request
// order, with descriptions and names from the attachments array.
func (s *Server) bindFilesLocked(in *msgInput, channelID string, ephemeral bool) []*attachment {
	var out []*attachment
	for _, u := range in.files {
		name, desc := u.filename, ""
		for _, r := range in.attachments {
			if r.isNew && r.placeholder == u.index {
				if r.filename != "" {
					name = r.filename
				}
				if r.description != nil {
					desc = *r.description
				}
			}
		}
		a := s.newAttachmentLocked(name, u.contentType, u.data)
		a.Description, a.ChannelID, a.Ephemeral, a.used = desc, channelID, ephemeral, true
		out = append(out, a)
	}
	return out
}

// editMessageLocked applies an edit (message.mdx "Edit Message", webhook.mdx
// "Edit Webhook Message"): files are appended unless attachments lists what
// to keep; the result must not be empty (50006).
func (s *Server) editMessageLocked(m *message, in *msgInput) *apiError {
	var kept []*attachment
	if in.attachmentsSet {
		fe := formErrors{}
		for i, r := range in.attachments {
			if r.isNew {
				continue
			}
			j := slices.IndexFunc(m.attachments, func(a *attachment) bool { return a.ID == r.existingID })
			if j < 0 {
				fe.add("attachments."+strconv.Itoa(i)+".id", "ATTACHMENT_NOT_FOUND", "Unknown attachment "+r.existingID)
				continue
			}
			kept = append(kept, m.attachments[j])
		}
		if len(fe) > 0 {
			return formErr(fe)
		}
	} else {
		kept = slices.Clone(m.attachments)
	}
	if len(kept)+len(in.files) > 10 {
		fe := formErrors{}
		maxLen(fe, "attachments", 10)
		return formErr(fe)
	}
	content, embeds, comps := m.content, m.embeds, m.components
	if in.content != nil {
		content = *in.content
	}
	if in.embedsSet {
		embeds = in.embeds
	}
	if in.componentsSet {
		comps = in.components
	}
	if strings.TrimSpace(content) == "" && len(embeds) == 0 && len(kept)+len(in.files) == 0 && componentCount(comps) == 0 {
		return errf(http.StatusBadRequest, 50006, "Cannot send an empty message")
	}
	if m.flags&flagComponentsV2 != 0 && in.flagsSet && in.flags&flagComponentsV2 == 0 {
		// message.mdx: "Once a message has been sent with this flag, it
		// can't be removed from that message." Ignored like other flags.
		in.flags |= flagComponentsV2
	}

	now := s.nowLocked()
	m.history = append(m.history, m.version(now))
	for _, a := range m.attachments {
		if !slices.Contains(kept, a) {
			a.deleted = true
		}
	}
	for _, r := range in.attachments {
		if !r.isNew && r.description != nil {
			for _, a := range kept {
				if a.ID == r.existingID {
					a.Description = *r.description
				}
			}
		}
	}
	m.attachments = append(kept, s.bindFilesLocked(in, m.channelID, m.ephemeral())...)
	if in.content != nil {
		m.content = content
		m.mentions = s.parseMentionsLocked(content, in.allowed)
	}
	m.embeds, m.components = embeds, comps
	if in.flagsSet {
		m.flags = m.flags&^flagSuppressEmbeds | in.flags&(flagSuppressEmbeds|flagComponentsV2)
	}
	m.flags &^= flagLoading
	m.edited = now
	s.dispatchMessageLocked("MESSAGE_UPDATE", m)
	s.notifyLocked()
	return nil
}

func (s *Server) handleGetMessage(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], PermReadMessageHistory)
	if e != nil {
		c.failWith(e)
		return
	}
	m := s.messages[c.p["message.id"]]
	if !visibleInChannel(m, ch) {
		c.fail(http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	c.writeJSON(http.StatusOK, s.renderMessageLocked(m, s.restView()))
}

func (s *Server) handleEditMessage(c *call) {
	s.mu.Lock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], 0)
	var m *message
	var limit int64
	if e == nil {
		m = s.messages[c.p["message.id"]]
		switch {
		case !visibleInChannel(m, ch):
			e = errf(http.StatusNotFound, 10008, "Unknown Message")
		case m.author.ID != s.BotUserID:
			e = errf(http.StatusForbidden, 50005, "Cannot edit a message authored by another user")
		}
		limit = s.uploadLimitLocked(ch.guildID)
	}
	s.finishEditLocked(c, m, limit, e)
}

// finishEditLocked is the shared end of both edit routes (channel message
// and webhook message). It is called with s.mu held and the lookup's
// result, releases the lock to read the body, then applies the edit.
func (s *Server) finishEditLocked(c *call, m *message, limit int64, e *apiError) {
	var flags int64
	if m != nil {
		flags = m.flags
	}
	s.mu.Unlock()
	if e != nil {
		c.failWith(e)
		return
	}
	b, e := c.readBody(limit, true)
	if e != nil {
		c.failWith(e)
		return
	}
	in, e := parseMessage(b, kindEdit, flags, c.version)
	if e != nil {
		c.failWith(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.deleted {
		c.fail(http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	if e := s.editMessageLocked(m, in); e != nil {
		c.failWith(e)
		return
	}
	c.writeJSON(http.StatusOK, s.renderMessageLocked(m, fullView))
}

// handleDeleteMessage: the bot may delete its own messages; others' need
// MANAGE_MESSAGES (50013) and are impossible in DMs (50003).
func (s *Server) handleDeleteMessage(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, e := s.channelForBotLocked(c.p["channel.id"], 0)
	if e != nil {
		c.failWith(e)
		return
	}
	m := s.messages[c.p["message.id"]]
	if !visibleInChannel(m, ch) {
		c.fail(http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	if m.author.ID != s.BotUserID {
		if ch.dm() {
			c.fail(http.StatusForbidden, 50003, "Cannot execute action on a DM channel")
			return
		}
		if s.botPermsLocked(ch)&PermManageMessages == 0 {
			c.fail(http.StatusForbidden, 50013, "Missing Permissions")
			return
		}
	}
	s.deleteMessageLocked(m)
	c.noContent()
}

func (s *Server) deleteMessageLocked(m *message) {
	m.deleted = true
	for _, a := range m.attachments {
		a.deleted = true
	}
	if !m.ephemeral() {
		ch := s.channels[m.channelID]
		d := map[string]any{"id": m.id, "channel_id": m.channelID}
		if m.guildID != "" {
			d["guild_id"] = m.guildID
		}
		s.dispatchLocked("MESSAGE_DELETE", m.guildID, func(sess *gwSession) (any, bool) {
			return d, sess.intents&messageIntent(ch) != 0
		})
	}
	s.notifyLocked()
}

// handleReaction is PUT/DELETE .../reactions/{emoji}/@me. Only unicode emoji
// exist in the fake; anything else is 10014 Unknown Emoji.
func (s *Server) handleReaction(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := PermReadMessageHistory
	if c.r.Method == http.MethodPut {
		need |= PermAddReactions
	}
	ch, e := s.channelForBotLocked(c.p["channel.id"], need)
	if e != nil {
		c.failWith(e)
		return
	}
	m := s.messages[c.p["message.id"]]
	if !visibleInChannel(m, ch) {
		c.fail(http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	emoji := c.p["emoji"]
	ascii := true
	for _, r := range emoji {
		if r >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii || strings.Contains(emoji, ":") {
		c.fail(http.StatusBadRequest, 10014, "Unknown Emoji")
		return
	}
	i := slices.Index(m.reactions, emoji)
	switch {
	case c.r.Method == http.MethodPut && i < 0:
		m.reactions = append(m.reactions, emoji)
	case c.r.Method == http.MethodDelete && i >= 0:
		m.reactions = slices.Delete(m.reactions, i, i+1)
	}
	s.notifyLocked()
	c.noContent()
}

func (s *Server) handleTyping(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.channelForBotLocked(c.p["channel.id"], PermSendMessages); e != nil {
		c.failWith(e)
		return
	}
	c.noContent()
}
