package fakediscord

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Message flags (developers/resources/message.mdx §Message Flags).
const (
	flagSuppressEmbeds        int64 = 1 << 2
	flagEphemeral             int64 = 1 << 6
	flagLoading               int64 = 1 << 7
	flagSuppressNotifications int64 = 1 << 12
	flagVoiceMessage          int64 = 1 << 13
	flagComponentsV2          int64 = 1 << 15
)

// Message types (message.mdx §Message Types).
const (
	typeDefault     = 0
	typeReply       = 19
	typeChatInput   = 20
	typeContextMenu = 23
)

type message struct {
	id, channelID, guildID string
	author                 User
	typ                    int
	content                string
	embeds                 []json.RawMessage
	components             json.RawMessage
	attachments            []*attachment
	flags                  int64
	ref                    *msgRef
	mentions               []string
	webhookID              string
	interaction            *interaction // response or followup of this interaction
	followupOf             *message     // original response, for followups
	ephemeralFor           string
	created, edited        time.Time
	deleted                bool
	history                []MessageVersion
	reactions              []string
}

type msgRef struct {
	messageID, channelID, guildID string
}

func (m *message) ephemeral() bool { return m.flags&flagEphemeral != 0 }

func (m *message) snapshot() Message {
	out := Message{
		ID: m.id, ChannelID: m.channelID, GuildID: m.guildID, Author: m.author,
		Type: m.typ, Content: m.content, Embeds: decodeEmbeds(m.embeds),
		Components: slices.Clone(m.components), Attachments: attachmentValues(m.attachments),
		Flags: int(m.flags), EphemeralFor: m.ephemeralFor, Mentions: slices.Clone(m.mentions),
		Reactions: slices.Clone(m.reactions), Created: m.created, Edited: m.edited,
		Deleted: m.deleted, Versions: slices.Clone(m.history),
	}
	if m.ref != nil {
		out.ReferenceID = m.ref.messageID
	}
	if m.interaction != nil {
		out.InteractionID = m.interaction.id
	}
	return out
}

// version captures the current state before an edit.
func (m *message) version(at time.Time) MessageVersion {
	return MessageVersion{
		Content: m.content, Embeds: decodeEmbeds(m.embeds), Components: slices.Clone(m.components),
		Attachments: attachmentValues(m.attachments), Flags: int(m.flags), At: at,
	}
}

func attachmentValues(as []*attachment) []Attachment {
	out := make([]Attachment, 0, len(as))
	for _, a := range as {
		out = append(out, a.Attachment)
	}
	return out
}

func decodeEmbeds(raw []json.RawMessage) []*discordgo.MessageEmbed {
	if len(raw) == 0 {
		return nil
	}
	out := make([]*discordgo.MessageEmbed, 0, len(raw))
	for _, r := range raw {
		var e discordgo.MessageEmbed
		_ = json.Unmarshal(r, &e)
		out = append(out, &e)
	}
	return out
}

// empty reports whether a message would show nothing (50006).
func (m *message) empty() bool {
	return strings.TrimSpace(m.content) == "" && len(m.embeds) == 0 &&
		len(m.attachments) == 0 && componentCount(m.components) == 0
}

func componentCount(raw json.RawMessage) int {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return 0
	}
	return len(list)
}

// view says who a message is rendered for.
type view struct {
	// contentOK: the viewer may see content without an exemption (the
	// gateway session asked for MESSAGE_CONTENT, or REST with the portal
	// switch on, or no filtering at all).
	contentOK bool
	// gateway adds guild_id and member, as MESSAGE_CREATE does.
	gateway bool
}

var fullView = view{contentOK: true}

// contentVisibleLocked applies the MESSAGE_CONTENT rules (gateway.mdx
// "Message Content Intent"): the bot always sees its own messages, DMs and
// messages that mention it.
func (s *Server) contentVisibleLocked(m *message, v view) bool {
	if v.contentOK || m.author.ID == s.BotUserID {
		return true
	}
	if c := s.channels[m.channelID]; c != nil && c.dm() {
		return true
	}
	return slices.Contains(m.mentions, s.BotUserID)
}

func (s *Server) restView() view {
	return view{contentOK: s.cfg.privileged&IntentMessageContent != 0}
}

func userJSON(u User) map[string]any {
	out := map[string]any{
		"id": u.ID, "username": u.Username, "discriminator": "0",
		"global_name": nil, "avatar": nil, "public_flags": 0,
	}
	if u.GlobalName != "" {
		out["global_name"] = u.GlobalName
	}
	if u.Bot {
		out["bot"] = true
		out["discriminator"] = "0000"
	}
	return out
}

func (s *Server) memberJSONLocked(guildID string, u User, withUser bool) map[string]any {
	joined := s.cfg.start
	if g := s.guilds[guildID]; g != nil {
		joined = g.joinedAt
	}
	out := map[string]any{
		"roles": []string{}, "joined_at": timestamp(joined), "deaf": false, "mute": false,
		"flags": 0, "pending": false, "nick": nil, "avatar": nil, "premium_since": nil,
		"communication_disabled_until": nil,
	}
	if withUser {
		out["user"] = userJSON(u)
		out["permissions"] = memberPermissions
	}
	return out
}

// renderMessageLocked builds the message object as Discord serializes it.
func (s *Server) renderMessageLocked(m *message, v view) map[string]any {
	return s.renderMessageDepthLocked(m, v, 0)
}

func (s *Server) renderMessageDepthLocked(m *message, v view, depth int) map[string]any {
	visible := s.contentVisibleLocked(m, v)
	var edited any
	if !m.edited.IsZero() {
		edited = timestamp(m.edited)
	}
	mentions := []any{}
	for _, id := range m.mentions {
		if u, ok := s.users[id]; ok {
			mentions = append(mentions, userJSON(u))
		}
	}
	out := map[string]any{
		"id": m.id, "channel_id": m.channelID, "author": userJSON(m.author),
		"content": "", "timestamp": timestamp(m.created), "edited_timestamp": edited,
		"tts": false, "mention_everyone": false, "mentions": mentions, "mention_roles": []string{},
		"attachments": []any{}, "embeds": []any{}, "components": []any{},
		"pinned": false, "type": m.typ, "flags": m.flags,
	}
	if visible {
		embeds, inEmbeds := s.renderEmbedsLocked(m)
		out["content"] = m.content
		out["embeds"] = embeds
		atts := []any{}
		for _, a := range m.attachments {
			if !inEmbeds[a.Filename] {
				atts = append(atts, s.attachmentJSONLocked(a))
			}
		}
		out["attachments"] = atts
		if len(m.components) > 0 {
			out["components"] = json.RawMessage(m.components)
		}
	}
	if len(m.reactions) > 0 {
		rs := []any{}
		for _, e := range m.reactions {
			rs = append(rs, map[string]any{
				"count": 1, "count_details": map[string]any{"burst": 0, "normal": 1},
				"me": true, "me_burst": false, "burst_colors": []any{},
				"emoji": map[string]any{"id": nil, "name": e},
			})
		}
		out["reactions"] = rs
	}
	if m.webhookID != "" {
		out["webhook_id"] = m.webhookID
		out["application_id"] = s.AppID
	}
	if m.ref != nil {
		ref := map[string]any{"type": 0, "message_id": m.ref.messageID, "channel_id": m.ref.channelID}
		if m.ref.guildID != "" {
			ref["guild_id"] = m.ref.guildID
		}
		out["message_reference"] = ref
		if depth == 0 && (m.typ == typeReply || m.typ == typeContextMenu) {
			if r := s.messages[m.ref.messageID]; r != nil && !r.deleted {
				out["referenced_message"] = s.renderMessageDepthLocked(r, view{contentOK: v.contentOK}, depth+1)
			} else {
				out["referenced_message"] = nil
			}
		}
	}
	if in := m.interaction; in != nil {
		meta := map[string]any{
			"id": in.id, "type": in.typ, "user": userJSON(in.user),
			"authorizing_integration_owners": in.owners(),
		}
		if m.followupOf != nil {
			meta["original_response_message_id"] = m.followupOf.id
		}
		if in.typ == interactionComponent && in.source != nil {
			meta["interacted_message_id"] = in.source.id
		}
		out["interaction_metadata"] = meta
		if in.typ == interactionCommand {
			legacy := map[string]any{"id": in.id, "type": in.typ, "name": in.name, "user": userJSON(in.user)}
			if in.guildID != "" {
				legacy["member"] = s.memberJSONLocked(in.guildID, in.user, false)
			}
			out["interaction"] = legacy
		}
	}
	if v.gateway {
		if c := s.channels[m.channelID]; c != nil {
			out["channel_type"] = c.typ
		}
		if m.guildID != "" {
			out["guild_id"] = m.guildID
			out["member"] = s.memberJSONLocked(m.guildID, m.author, false)
		}
	}
	return out
}

// renderEmbedsLocked resolves attachment:// URLs to CDN URLs, as Discord
// does, and returns which filenames embeds use (those are left out of the
// message's attachments: message.mdx "any attached files that are not
// referenced in embeds").
func (s *Server) renderEmbedsLocked(m *message) ([]any, map[string]bool) {
	used := map[string]bool{}
	out := []any{}
	if m.flags&flagSuppressEmbeds != 0 {
		return out, used
	}
	byName := map[string]*attachment{}
	for _, a := range m.attachments {
		byName[a.Filename] = a
	}
	for _, raw := range m.embeds {
		var e map[string]any
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		e["type"] = "rich"
		delete(e, "provider")
		delete(e, "video")
		for _, key := range []string{"image", "thumbnail"} {
			obj, ok := e[key].(map[string]any)
			if !ok {
				continue
			}
			delete(obj, "proxy_url")
			delete(obj, "width")
			delete(obj, "height")
			u, _ := obj["url"].(string)
			if name, ok := strings.CutPrefix(u, "attachment://"); ok {
				if a := byName[name]; a != nil {
					used[name] = true
					obj["url"] = s.cdnURLLocked(a)
					obj["proxy_url"] = obj["url"]
					if a.Width > 0 {
						obj["width"], obj["height"] = a.Width, a.Height
					}
				}
			}
		}
		for _, key := range []string{"author", "footer"} {
			obj, ok := e[key].(map[string]any)
			if !ok {
				continue
			}
			u, _ := obj["icon_url"].(string)
			if name, ok := strings.CutPrefix(u, "attachment://"); ok {
				if a := byName[name]; a != nil {
					used[name] = true
					obj["icon_url"] = s.cdnURLLocked(a)
				}
			}
		}
		out = append(out, e)
	}
	return out, used
}

func (s *Server) attachmentJSONLocked(a *attachment) map[string]any {
	u := s.cdnURLLocked(a)
	out := map[string]any{
		"id": a.ID, "filename": a.Filename, "size": a.Size, "url": u, "proxy_url": u,
		"content_type": a.ContentType,
	}
	if a.Width > 0 {
		out["width"], out["height"] = a.Width, a.Height
	}
	if a.Description != "" {
		out["description"] = a.Description
	}
	if a.Ephemeral {
		out["ephemeral"] = true
	}
	return out
}

// cdnPath is the CDN path of an attachment (reference.mdx "Signed Attachment
// CDN URLs").
func cdnPath(a *attachment, escape bool) string {
	prefix := "/attachments/"
	if a.Ephemeral {
		prefix = "/ephemeral-attachments/"
	}
	name := a.Filename
	if escape {
		name = url.PathEscape(name)
	}
	return prefix + a.ChannelID + "/" + a.ID + "/" + name
}

// cdnURLLocked signs a URL valid from now for the configured lifetime.
func (s *Server) cdnURLLocked(a *attachment) string {
	base := s.cfg.cdnBase
	if base == "" {
		base = s.URL
	}
	now := s.nowLocked()
	is := fmt.Sprintf("%x", now.Unix())
	ex := fmt.Sprintf("%x", now.Add(s.cfg.urlLifetime).Unix())
	return base + cdnPath(a, true) + "?ex=" + ex + "&is=" + is + "&hm=" + s.sign(cdnPath(a, false), ex, is) + "&"
}

// AttachmentURL returns a freshly signed CDN URL for an attachment id, or "".
func (s *Server) AttachmentURL(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attachments[id]
	if a == nil || a.ChannelID == "" {
		return ""
	}
	return s.cdnURLLocked(a)
}

func (s *Server) sign(p, ex, is string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(p + "\x00" + ex + "\x00" + is))
	return hex.EncodeToString(mac.Sum(nil))
}
