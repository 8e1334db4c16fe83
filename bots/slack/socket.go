package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// ackTimeout bounds queueing one acknowledgement on the socket.
const ackTimeout = 2 * time.Second

// runSocket serves Socket Mode until ctx ends. Each envelope is handled in
// its own goroutine, so one slow handler never delays another's ack.
func (b *Bot) runSocket(ctx context.Context) error {
	client := socketmode.New(b.api, socketmode.OptionLog(debugLogger{b.log}))
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()
	defer b.setReady(false)
	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: socket mode: %w", err)
		case ev := <-client.Events:
			b.dispatch(ctx, client, ev)
		}
	}
}

func (b *Bot) dispatch(ctx context.Context, client *socketmode.Client, ev socketmode.Event) {
	switch ev.Type {
	case socketmode.EventTypeConnecting:
		b.log.DebugContext(ctx, "socket mode connecting")
	case socketmode.EventTypeConnected, socketmode.EventTypeHello:
		if !b.Ready() {
			b.log.InfoContext(ctx, "socket mode connected")
		}
		b.setReady(true)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeDisconnect:
		b.setReady(false)
		b.log.WarnContext(ctx, "socket mode connection lost", "event", ev.Type)
	case socketmode.EventTypeErrorBadMessage:
		// An envelope slack-go cannot parse (an event type the app does not
		// handle) is still acknowledged, so Slack does not send it again.
		if bad, ok := ev.Data.(*socketmode.ErrorBadMessage); ok {
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
				b.ack(ctx, client, env.EnvelopeID, nil)
			}
			b.log.DebugContext(ctx, "socket mode message not understood", "err", bad.Cause)
		}
	case socketmode.EventTypeEventsAPI:
		if ev.Request == nil {
			return
		}
		env := ev.Request.EnvelopeID
		data, ok := ev.Data.(slackevents.EventsAPIEvent)
		b.spawn(ctx, false, func(ctx context.Context) {
			b.ack(ctx, client, env, nil)
			if ok {
				b.event(ctx, data)
			}
		})
	case socketmode.EventTypeSlashCommand:
		sc, ok := ev.Data.(slackapi.SlashCommand)
		if !ok || ev.Request == nil {
			return
		}
		env := ev.Request.EnvelopeID
		b.spawn(ctx, false, func(ctx context.Context) {
			var payload any
			if r := b.command(ctx, sc); r != nil {
				payload = r
			}
			b.ack(ctx, client, env, payload)
		})
	case socketmode.EventTypeInteractive:
		cb, ok := ev.Data.(slackapi.InteractionCallback)
		if !ok || ev.Request == nil {
			return
		}
		env := ev.Request.EnvelopeID
		b.spawn(ctx, false, func(ctx context.Context) {
			b.ack(ctx, client, env, b.interaction(ctx, cb))
		})
	}
}

func (b *Bot) ack(ctx context.Context, client *socketmode.Client, envelopeID string, payload any) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := client.AckCtx(actx, envelopeID, payload); err != nil && !errors.Is(err, context.Canceled) {
		b.log.WarnContext(ctx, "socket mode ack", "err", err)
	}
}
