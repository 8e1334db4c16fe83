package slack

import (
	"context"
	"strings"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// mention is a message addressed to the bot: an app_mention in a channel,
// or a message in the bot's direct messages.
type mention struct {
	EventID  string
	Team     string
	User     string
	Channel  string
	Text     string
	TS       string
	ThreadTS string
	Files    []slackapi.File
	Via      string
}

// event takes an Events API event after it was acknowledged. Redeliveries
// (Socket Mode retry_attempt, HTTP X-Slack-Retry-Num) come with the same
// event_id and are dropped here, or by the job's dedupe key.
func (b *Bot) event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok {
		return
	}
	m := mention{EventID: cb.EventID, Team: cb.TeamID}
	switch in := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if in.BotID != "" || in.Edited != nil {
			return // other bots, and edits of an old mention
		}
		m.User, m.Channel, m.Text, m.TS, m.ThreadTS, m.Files, m.Via = in.User, in.Channel, in.Text, in.TimeStamp, in.ThreadTimeStamp, in.Files, "mention"
	case *slackevents.MessageEvent:
		if in.ChannelType != "im" || (in.SubType != "" && in.SubType != "file_share") || in.BotID != "" {
			return
		}
		m.User, m.Channel, m.Text, m.TS, m.ThreadTS, m.Via = in.User, in.Channel, in.Text, in.TimeStamp, in.ThreadTimeStamp, "message"
		if in.Message != nil {
			m.Files = in.Message.Files
			if m.ThreadTS == "" {
				m.ThreadTS = in.Message.ThreadTimestamp
			}
		}
	default:
		return
	}
	if user, _ := b.self(); m.User == "" || m.User == user {
		return
	}
	if m.EventID != "" && !b.seen.first("e:"+m.EventID, b.now()) {
		b.log.DebugContext(ctx, "dropping a redelivered event", "event", m.EventID)
		return
	}
	b.background(ctx, func(ctx context.Context) { b.runMention(ctx, m) })
}

// runMention turns a mention into a job: an edit of the image attached to
// it, or of the latest image in its thread; else text-to-image. Answers go
// to the mention's thread, or start one on the mention.
func (b *Bot) runMention(ctx context.Context, m mention) {
	user, _ := b.self()
	text := stripMention(m.Text, user)
	thread := m.ThreadTS
	if thread == "" {
		thread = m.TS
	}
	w := where{Channel: m.Channel, User: m.User, ThreadTS: thread}
	if strings.TrimSpace(text) == "" && len(m.Files) == 0 && m.ThreadTS == "" {
		b.tell(ctx, w, b.helpText(""))
		return
	}
	var images []imaging.Image
	var base *jobs.Job
	if imgs := b.imagesOf(ctx, m.Files); len(imgs) > 0 {
		for _, f := range imgs[:min(len(imgs), 4)] {
			im, err := b.download(ctx, f)
			if err != nil {
				b.tell(ctx, w, message(err))
				return
			}
			images = append(images, im)
		}
	} else if m.ThreadTS != "" && m.ThreadTS != m.TS {
		src, ok, err := b.threadImage(ctx, m.Channel, m.ThreadTS, m.TS)
		if err != nil {
			b.log.WarnContext(ctx, "reading the thread", "channel", m.Channel, "err", redact(err))
			b.tell(ctx, w, "I couldn't read this thread to find its image. Please try again.")
			return
		}
		if ok {
			im, j, err := b.reference(ctx, src)
			if err != nil {
				b.tell(ctx, w, message(err))
				return
			}
			images, base = append(images, im), j
		}
	}
	req, vendor, err := parseRequest(text, images, base)
	if err != nil {
		b.tell(ctx, w, message(err))
		return
	}
	a := ask{
		Team: m.Team, User: m.User,
		Target: target{Team: m.Team, Channel: m.Channel, User: m.User, ThreadTS: thread, Edit: req.IsEdit(), Via: m.Via},
	}
	if m.EventID != "" {
		a.Dedupe = "slack:e:" + m.EventID
	}
	if base != nil {
		a.Parent = base.ID
	}
	if _, err := b.submit(ctx, a, req, vendor); err != nil {
		if msg := b.refusal(ctx, err); msg != "" {
			b.tell(ctx, w, msg)
		}
	}
}
