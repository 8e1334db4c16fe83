package slack

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"
)

// reply is an immediate ephemeral answer to a slash command (a Socket Mode
// ack payload or an HTTP-mode response body).
type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(text string) *reply {
	return &reply{ResponseType: slackapi.ResponseTypeEphemeral, Text: text}
}

// ackBudget is how long a slash command's work may delay its
// acknowledgement; past it the command is acknowledged empty and its answer
// goes through the response_url. Slack allows 3 s, network included.
const ackBudget = 2 * time.Second

// command handles a slash command and returns its immediate answer (nil:
// acknowledge without one). It submits the job before answering, so a
// refusal is the answer itself.
func (b *Bot) command(ctx context.Context, sc slackapi.SlashCommand) *reply {
	done := make(chan *reply, 1)
	var claimed atomic.Bool // whoever claims first answers: the ack, or the response_url
	b.spawn(ctx, false, func(ctx context.Context) {
		r := b.runCommand(ctx, sc)
		if claimed.CompareAndSwap(false, true) {
			done <- r
			return
		}
		if r != nil {
			b.tell(ctx, where{ResponseURL: sc.ResponseURL}, r.Text)
		}
	})
	t := time.NewTimer(ackBudget)
	defer t.Stop()
	select {
	case r := <-done:
		return r
	case <-t.C:
		if claimed.CompareAndSwap(false, true) {
			return nil
		}
		return <-done
	case <-ctx.Done():
		if claimed.CompareAndSwap(false, true) {
			return nil
		}
		return <-done
	}
}

func (b *Bot) runCommand(ctx context.Context, sc slackapi.SlashCommand) *reply {
	text := strings.TrimSpace(sc.Text)
	if text == "" || strings.EqualFold(text, "help") {
		return ephemeral(b.helpText(sc.Command))
	}
	if sc.TriggerID != "" && !b.seen.first("t:"+sc.TriggerID, b.now()) {
		return nil
	}
	req, vendor, err := parseRequest(text, nil, nil)
	if err != nil {
		return ephemeral(message(err))
	}
	if msg := b.member(ctx, sc.ChannelID); msg != "" {
		return ephemeral(msg)
	}
	a := ask{
		Team: sc.TeamID, User: sc.UserID, UserName: sc.UserName,
		Target: target{Team: sc.TeamID, Channel: sc.ChannelID, User: sc.UserID, ResponseURL: sc.ResponseURL, Via: "command"},
	}
	if sc.TriggerID != "" {
		a.Dedupe = "slack:t:" + sc.TriggerID
	}
	if _, err := b.submit(ctx, a, req, vendor); err != nil {
		if msg := b.refusal(ctx, err); msg != "" {
			return ephemeral(msg)
		}
	}
	return nil
}

// memberFor is how long a channel the bot was found to be in stays known.
const memberFor = 10 * time.Minute

// member returns "" when the bot can post in channel, else what to tell the
// person: slash commands also arrive from channels the bot is not in,
// where it could neither show progress nor post the result. A failed check
// lets the command through (posting would then fail the job visibly).
func (b *Bot) member(ctx context.Context, channel string) string {
	now := b.now()
	b.mu.Lock()
	at, ok := b.members[channel]
	b.mu.Unlock()
	if ok && now.Sub(at) < memberFor {
		return ""
	}
	// Many commands at once in one channel make one conversations.info call.
	v, _, _ := b.lookups.Do(channel, func() (any, error) {
		ch, err := b.fast.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: channel})
		if err != nil {
			var se slackapi.SlackErrorResponse
			if errors.As(err, &se) && (se.Err == "channel_not_found" || se.Err == "not_in_channel") {
				return notMember, nil
			}
			b.log.WarnContext(ctx, "conversations.info", "channel", channel, "err", err)
			return "", nil
		}
		if !ch.IsMember && !ch.IsIM {
			return notMember, nil
		}
		b.mu.Lock()
		b.members[channel] = now
		b.mu.Unlock()
		return "", nil
	})
	return v.(string)
}

const notMember = "I'm not in this conversation, so I couldn't post the image here. Invite me with `/invite @` and my name, or try in a channel I'm in."
