package discord

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/patrickmn/go-cache"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// mentionHelp answers a mention that asks for nothing.
func mentionHelp(botID string, edit bool) string {
	me := "<@" + botID + ">"
	if edit {
		return "Say what to change, like " + me + " make it snowy. Options: " + chatFlags + "."
	}
	return "Tell me what to make, like " + me + " a lighthouse at dawn --ar 16:9. " +
		"To edit an image, reply to it (or attach it) and say what to change; or use /imagine. Options: " + chatFlags + "."
}

// chatFlags are the inline flags that work in chat (imaging.FlagHelp
// without --image, which chat refuses).
const chatFlags = "--ar W:H, --model pro|max, --format png|jpeg, --seed N, --upsample, --safety N, --vendor NAME"

// cannotSee answers a reply to someone else's image when Discord hid it
// (no MESSAGE_CONTENT intent).
const cannotSee = "I can't see the image in that message (Discord only shows me messages that mention me). " +
	"Right-click the image's message → Apps → Edit image instead, or attach the image to your message."

// onMessage handles a message that mentions the bot (any message in a DM):
// its own image, or the image of the message it replies to, is edited;
// with no image it is a text-to-image request. The bot's reply is the
// acknowledgement and becomes the progress and result message.
func (b *Bot) onMessage(ctx context.Context, m *discordgo.Message) {
	if m.Author == nil || m.Author.Bot || m.WebhookID != "" {
		return
	}
	_, botID := b.ids()
	if botID == "" || m.Author.ID == botID {
		return
	}
	dm := m.GuildID == ""
	if !dm && !mentions(m, botID) {
		return
	}
	if b.seen.Add("m:"+m.ID, struct{}{}, cache.DefaultExpiration) != nil {
		return // a repeated MESSAGE_CREATE
	}
	text := stripMention(m.Content, botID)
	images := imageURLs(m.Attachments)
	if len(images) == 0 && m.MessageReference != nil && m.MessageReference.MessageID != "" {
		ref := m.ReferencedMessage
		if ref == nil { // not sent with the event: fetch it
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			ref, _ = b.s.ChannelMessage(m.ChannelID, m.MessageReference.MessageID, discordgo.WithContext(gctx))
			cancel()
		}
		if ref != nil {
			images = imageURLs(ref.Attachments)
			if len(images) == 0 && hidden(ref, botID) && !b.cfg.MessageContent {
				b.reply(ctx, m, cannotSee)
				return
			}
		}
	}
	if strings.TrimSpace(text) == "" {
		b.reply(ctx, m, mentionHelp(botID, len(images) > 0))
		return
	}
	req, vendor, err := parsePrompt(text)
	if err != nil {
		b.log.InfoContext(ctx, "request refused", "user", Platform+":"+m.Author.ID, "reason", err)
		b.reply(ctx, m, "⚠️ "+jobs.UserMessage(err))
		return
	}
	if len(images) > 0 {
		req.Images = []imaging.Image{{URL: images[0]}}
	}
	status := b.reply(ctx, m, "⏳ On it…")
	if status == nil {
		return
	}
	limit := defaultUploadLimit
	if !dm {
		limit = b.guildLimit(m.GuildID)
	}
	j := &jobs.Job{
		ID: jobs.NewID(), Platform: Platform, User: Platform + ":" + m.Author.ID, UserName: displayName(m.Author),
		Channel: Platform + ":" + m.ChannelID, Vendor: vendor, Request: req, DedupeKey: "discord:m:" + m.ID,
		Target: (&target{Kind: kindMessage, ChannelID: m.ChannelID, GuildID: m.GuildID, UserID: m.Author.ID,
			MessageID: status.ID, SourceID: m.ID, SizeLimit: limit}).encode(),
	}
	id, user, edit := j.ID, j.User, req.IsEdit()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	a, err := b.p.Submit(sctx, j)
	cancel()
	switch {
	case errors.Is(err, jobs.ErrDuplicate):
		b.deleteMessage(ctx, m.ChannelID, status.ID)
	case err != nil:
		b.logRefusal(ctx, user, err)
		b.editText(ctx, m.ChannelID, status.ID, "⚠️ "+jobs.UserMessage(err))
	default:
		b.log.InfoContext(ctx, "job accepted", "job", id, "user", user, "position", a.Position, "edit", edit, "via", "mention")
	}
}

// mentions reports whether m mentions the user id.
func mentions(m *discordgo.Message, id string) bool {
	for _, u := range m.Mentions {
		if u != nil && u.ID == id {
			return true
		}
	}
	return false
}

// stripMention removes the bot's mentions from content.
func stripMention(content, botID string) string {
	content = strings.ReplaceAll(content, "<@"+botID+">", " ")
	content = strings.ReplaceAll(content, "<@!"+botID+">", " ")
	return strings.Join(strings.Fields(content), " ")
}

// hidden reports whether Discord blanked ref for lack of MESSAGE_CONTENT:
// someone else's message with no content, embeds or attachments.
func hidden(ref *discordgo.Message, botID string) bool {
	if ref.Author != nil && ref.Author.ID == botID {
		return false
	}
	return ref.Content == "" && len(ref.Attachments) == 0 && len(ref.Embeds) == 0
}

// reply answers m with a reply that pings no one; it returns the message,
// or nil when it could not be posted.
func (b *Bot) reply(ctx context.Context, m *discordgo.Message, text string) *discordgo.Message {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	no := false
	msg, err := b.s.ChannelMessageSendComplex(m.ChannelID, &discordgo.MessageSend{
		Content:         truncate(text, 2000),
		Reference:       &discordgo.MessageReference{MessageID: m.ID, ChannelID: m.ChannelID, GuildID: m.GuildID, FailIfNotExists: &no},
		AllowedMentions: noMentions,
	}, discordgo.WithContext(rctx))
	if err != nil {
		b.log.WarnContext(ctx, "replying to a mention failed", "channel", m.ChannelID, "user", m.Author.ID, "err", redact(err))
		return nil
	}
	return msg
}

func (b *Bot) editText(ctx context.Context, channelID, messageID, text string) {
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{Channel: channelID, ID: messageID, Content: &text, AllowedMentions: noMentions},
		discordgo.WithContext(ectx)); err != nil {
		b.log.WarnContext(ctx, "editing a reply failed", "channel", channelID, "err", redact(err))
	}
}

func (b *Bot) deleteMessage(ctx context.Context, channelID, messageID string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.s.ChannelMessageDelete(channelID, messageID, discordgo.WithContext(dctx)); err != nil {
		b.log.WarnContext(ctx, "deleting a message failed", "channel", channelID, "err", redact(err))
	}
}
