package fakediscord

import "net/http"

// webhookInteractionLocked resolves /webhooks/{application.id}/{token}. The
// application id must be the app's (else 404 10015 Unknown Webhook). The
// token must belong to an interaction that was acknowledged: 15 minutes
// after the interaction, or once its 3-second deadline passed without an
// ack, the token is invalid (401 50027 Invalid Webhook Token;
// receiving-and-responding.mdx "If the 3 second deadline is exceeded, the
// token will be invalidated", peers.md 3a). Before the ack there is no
// webhook yet (404 10015; inferred).
func (s *Server) webhookInteractionLocked(c *call) (*interaction, *apiError) {
	if c.p["application.id"] != s.AppID {
		return nil, errf(http.StatusNotFound, 10015, "Unknown Webhook")
	}
	in := s.byToken[c.p["interaction.token"]]
	invalid := errf(http.StatusUnauthorized, 50027, "Invalid Webhook Token")
	switch {
	case in == nil || !in.dispatched:
		return nil, invalid
	case c.arrival.After(in.dispatchedAt.Add(TokenLifetime)):
		return nil, invalid
	case !in.acked && c.arrival.After(in.dispatchedAt.Add(AckDeadline)):
		return nil, invalid
	case !in.acked:
		return nil, errf(http.StatusNotFound, 10015, "Unknown Webhook")
	}
	return in, nil
}

// webhookMessageLocked finds @original or a followup of this token (Get
// Webhook Message: "a previously-sent webhook message from the same token").
func (s *Server) webhookMessageLocked(c *call, in *interaction) (*message, *apiError) {
	unknown := errf(http.StatusNotFound, 10008, "Unknown Message")
	id, isOriginal := c.p["message.id"], c.p["message.id"] == ""
	var m *message
	if isOriginal {
		m = in.original
	} else {
		if in.original != nil && in.original.id == id && in.original.interaction == in {
			m = in.original
		}
		for _, f := range in.followups {
			if f.id == id {
				m = f
			}
		}
	}
	if m == nil || m.deleted {
		return nil, unknown
	}
	return m, nil
}

func (s *Server) handleGetWebhookMessage(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, e := s.webhookInteractionLocked(c)
	if e == nil {
		var m *message
		if m, e = s.webhookMessageLocked(c, in); e == nil {
			c.writeJSON(http.StatusOK, s.renderMessageLocked(m, fullView))
			return
		}
	}
	c.failWith(e)
}

// handleEditWebhookMessage is PATCH .../messages/@original|{id}
// (webhook.mdx "Edit Webhook Message").
func (s *Server) handleEditWebhookMessage(c *call) {
	s.mu.Lock()
	in, e := s.webhookInteractionLocked(c)
	var m *message
	var limit int64
	if e == nil {
		m, e = s.webhookMessageLocked(c, in)
		limit = s.uploadLimitLocked(in.guildID)
	}
	s.finishEditLocked(c, m, limit, e)
}

func (s *Server) handleDeleteWebhookMessage(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, e := s.webhookInteractionLocked(c)
	var m *message
	if e == nil {
		m, e = s.webhookMessageLocked(c, in)
	}
	if e != nil {
		c.failWith(e)
		return
	}
	s.deleteMessageLocked(m)
	c.noContent()
}

// handleFollowup is POST /webhooks/{app}/{token} (receiving-and-responding.mdx
// "Create Followup Message": wait is always true; EPHEMERAL allowed; right
// after a DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE it edits the loading message
// instead, keeping its ephemeral state).
func (s *Server) handleFollowup(c *call) {
	s.mu.Lock()
	in, e := s.webhookInteractionLocked(c)
	var limit int64
	if e == nil {
		limit = s.uploadLimitLocked(in.guildID)
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
	for _, k := range []string{"username", "avatar_url", "thread_id"} {
		if _, ok := b.fields[k]; ok {
			c.failForm(formErrors{}.add(k, "INTERACTION_FOLLOWUP_FIELD_UNSUPPORTED", "Not supported for interaction followups."))
			return
		}
	}
	if c.r.URL.Query().Get("thread_id") != "" {
		c.failForm(formErrors{}.add("thread_id", "INTERACTION_FOLLOWUP_FIELD_UNSUPPORTED", "Not supported for interaction followups."))
		return
	}
	input, e := parseMessage(b, kindFollowup, 0, c.version)
	if e != nil {
		c.failWith(e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := in.original; in.ackType == 5 && o != nil && !o.deleted && o.flags&flagLoading != 0 {
		if e := s.editMessageLocked(o, input); e != nil {
			c.failWith(e)
			return
		}
		c.writeJSON(http.StatusOK, s.renderMessageLocked(o, fullView))
		return
	}
	m := s.newResponseLocked(in, input, input.flags)
	if in.original != nil {
		m.followupOf = in.original
	}
	in.followups = append(in.followups, m)
	s.addMessageLocked(s.channels[in.channelID], m)
	c.writeJSON(http.StatusOK, s.renderMessageLocked(m, fullView))
}
