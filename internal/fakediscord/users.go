package fakediscord

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// UserMessage is a message a (human) user posts.
type UserMessage struct {
	// ChannelID defaults to Server.ChannelID; use DMChannel for DMs.
	ChannelID string
	// Author defaults to Server.User.
	Author User
	// Content may mention users as <@id>; mentioning Server.BotUserID
	// makes the content visible to a bot without MESSAGE_CONTENT.
	Content string
	// Attachments are files from NewAttachment.
	Attachments []Attachment
	// ReplyTo makes the message a reply (type 19) to a message in the same
	// channel.
	ReplyTo string
	// ReplyPing keeps the Discord client's default "@ON" for replies: the
	// replied-to author is added to mentions.
	ReplyPing bool
}

// PostMessage stores a user's message and sends MESSAGE_CREATE to the bot's
// sessions that have GUILD_MESSAGES (guild) or DIRECT_MESSAGES (DM); without
// MESSAGE_CONTENT the content, embeds, attachments and components are blank
// unless the message is a DM or mentions the bot (gateway.mdx "Message
// Content Intent"). It fails with ErrNotPossible for what a client could not
// send (empty message, over 2000 characters, unknown reply target, reused
// attachment).
func (s *Server) PostMessage(um UserMessage) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _, err := s.actorLocked(um.Author, "")
	if err != nil {
		return Message{}, err
	}
	if um.ChannelID == "" {
		um.ChannelID = s.ChannelID
	}
	ch := s.channels[um.ChannelID]
	if ch == nil || (ch.dm() && ch.recipient != u.ID) {
		return Message{}, notPossible("user %s cannot post in channel %q", u.Username, um.ChannelID)
	}
	if strings.TrimSpace(um.Content) == "" && len(um.Attachments) == 0 {
		return Message{}, notPossible("empty message")
	}
	if utf8.RuneCountInString(um.Content) > 2000 {
		return Message{}, notPossible("content over 2000 characters")
	}
	var atts []*attachment
	for _, a := range um.Attachments {
		att := s.attachments[a.ID]
		if att == nil || att.used {
			return Message{}, notPossible("attachment %q unknown or already used", a.ID)
		}
		atts = append(atts, att)
	}
	var target *message
	if um.ReplyTo != "" {
		target = s.messages[um.ReplyTo]
		if !visibleInChannel(target, ch) {
			return Message{}, notPossible("cannot reply to %q in channel %s", um.ReplyTo, ch.id)
		}
	}
	m := &message{
		id: s.newIDLocked(), channelID: ch.id, guildID: ch.guildID, author: u, typ: typeDefault,
		content: um.Content, created: s.nowLocked(),
	}
	for _, a := range atts {
		a.used, a.ChannelID = true, ch.id
	}
	m.attachments = atts
	m.mentions = s.parseMentionsLocked(m.content, nil)
	if target != nil {
		m.typ = typeReply
		m.ref = &msgRef{messageID: target.id, channelID: ch.id, guildID: ch.guildID}
		if um.ReplyPing && !slices.Contains(m.mentions, target.author.ID) {
			m.mentions = append(m.mentions, target.author.ID)
		}
	}
	s.addMessageLocked(ch, m)
	return m.snapshot(), nil
}
