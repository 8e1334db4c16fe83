package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// Callback ids of the shortcut and the modals, and the modal's input.
const (
	shortcutEdit  = "edit_image"
	modalEdit     = "fb_edit_modal"
	modalShortcut = "fb_edit_shortcut"
	inputBlock    = "prompt"
	inputAction   = "prompt"
)

// modalMeta is a modal's private_metadata: what the edit applies to and
// where its answer goes.
type modalMeta struct {
	Job     string `json:"j,omitempty"` // the bot's job that made the image, if any
	Channel string `json:"c"`
	Thread  string `json:"t,omitempty"` // thread the answer goes to
	Message string `json:"m,omitempty"` // the message with the image
	File    string `json:"f,omitempty"` // the image's file id
}

// interaction takes an interactivity payload and returns the
// acknowledgement's payload (nil: none). Work that may take longer runs
// after the acknowledgement.
func (b *Bot) interaction(ctx context.Context, cb slackapi.InteractionCallback) any {
	switch cb.Type {
	case slackapi.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			return nil
		}
		act := *cb.ActionCallback.BlockActions[0]
		switch act.ActionID {
		case actionReroll, actionEdit, actionDelete:
		default:
			return nil
		}
		if cb.TriggerID != "" && !b.seen.first("t:"+cb.TriggerID, b.now()) {
			return nil
		}
		// Opening a modal must happen within the trigger's 3 s: never queued
		// behind slower work.
		b.spawn(ctx, act.ActionID == actionReroll, func(ctx context.Context) { b.runAction(ctx, cb, act) })
	case slackapi.InteractionTypeMessageAction:
		if cb.CallbackID != shortcutEdit {
			return nil
		}
		if cb.TriggerID != "" && !b.seen.first("t:"+cb.TriggerID, b.now()) {
			return nil
		}
		b.spawn(ctx, false, func(ctx context.Context) { b.runShortcut(ctx, cb) })
	case slackapi.InteractionTypeViewSubmission:
		if cb.View.CallbackID == modalEdit || cb.View.CallbackID == modalShortcut {
			return b.viewSubmission(ctx, cb)
		}
	}
	return nil
}

// runAction handles a result card's button.
func (b *Bot) runAction(ctx context.Context, cb slackapi.InteractionCallback, act slackapi.BlockAction) {
	ch := cb.Container.ChannelID
	if ch == "" {
		ch = cb.Channel.ID
	}
	msgTS := cb.Container.MessageTs
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Message.ThreadTimestamp
	}
	if thread == "" {
		thread = msgTS
	}
	team := cb.Team.ID
	w := where{Channel: ch, User: cb.User.ID, ThreadTS: thread, ResponseURL: cb.ResponseURL}
	switch act.ActionID {
	case actionReroll:
		orig, err := b.jobs.Get(ctx, act.Value)
		if err != nil {
			b.tell(ctx, w, message(err))
			return
		}
		a := ask{
			Team: team, User: cb.User.ID, UserName: cb.User.Name, Parent: orig.ID,
			Target: target{Team: team, Channel: ch, User: cb.User.ID, ThreadTS: thread, ResponseURL: cb.ResponseURL,
				Edit: orig.Request.IsEdit(), Via: "reroll"},
		}
		if cb.TriggerID != "" {
			a.Dedupe = "slack:t:" + cb.TriggerID
		}
		if _, err := b.submit(ctx, a, reroll(orig), orig.Vendor); err != nil {
			if msg := b.refusal(ctx, err); msg != "" {
				b.tell(ctx, w, msg)
			}
		}
	case actionEdit:
		meta := modalMeta{Job: act.Value, Channel: ch, Thread: thread, Message: msgTS}
		if imgs := b.imagesOf(ctx, cb.Message.Files); len(imgs) > 0 {
			meta.File = imgs[0].ID
		}
		b.openModal(ctx, cb.TriggerID, modalEdit, meta, w)
	case actionDelete:
		orig, err := b.jobs.Get(ctx, act.Value)
		if err != nil {
			if !errors.Is(err, jobs.ErrNotFound) {
				b.log.WarnContext(ctx, "looking up a job to delete", "job", act.Value, "err", err)
			}
			b.tell(ctx, w, "I can't find who made this image any more, so I can't delete it.")
			return
		}
		owner := ""
		if t, err := targetOf(orig); err == nil {
			owner = t.User
		}
		if owner != cb.User.ID {
			b.tell(ctx, w, fmt.Sprintf("Only <@%s> can delete this image.", owner))
			return
		}
		if _, _, err := b.api.DeleteMessageContext(ctx, ch, msgTS); err != nil {
			if ctx.Err() != nil {
				return // shutting down
			}
			b.log.WarnContext(ctx, "deleting a result", "job", orig.ID, "err", err)
			b.tell(ctx, w, "I couldn't delete that image. Please try again.")
			return
		}
		b.log.InfoContext(ctx, "result deleted", "job", orig.ID, "user", orig.User)
	}
}

// runShortcut handles the "Edit image" message shortcut: a modal asking
// what to change, for the message's image.
func (b *Bot) runShortcut(ctx context.Context, cb slackapi.InteractionCallback) {
	w := where{ResponseURL: cb.ResponseURL}
	msg := cb.Message
	ts := msg.Timestamp
	if ts == "" {
		ts = cb.MessageTs
	}
	imgs := b.imagesOf(ctx, msg.Files)
	if len(imgs) == 0 {
		b.tell(ctx, w, "That message has no image to edit.")
		return
	}
	if m := b.member(ctx, cb.Channel.ID); m != "" {
		b.tell(ctx, w, m)
		return
	}
	thread := msg.ThreadTimestamp
	if thread == "" {
		thread = ts
	}
	meta := modalMeta{Job: b.jobOfCard(&msg.Msg), Channel: cb.Channel.ID, Thread: thread, Message: ts, File: imgs[0].ID}
	b.openModal(ctx, cb.TriggerID, modalShortcut, meta, w)
}

// openModal opens the edit modal with trigger (valid 3 s).
func (b *Bot) openModal(ctx context.Context, trigger, callbackID string, meta modalMeta, w where) {
	raw, _ := json.Marshal(meta)
	input := slackapi.NewPlainTextInputBlockElement(
		slackapi.NewTextBlockObject(slackapi.PlainTextType, "e.g. make the sky stormy --ar 16:9", false, false), inputAction)
	input.Multiline = true
	input.MaxLength = 3000
	view := slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		CallbackID:      callbackID,
		PrivateMetadata: string(raw),
		Title:           slackapi.NewTextBlockObject(slackapi.PlainTextType, "Edit image", false, false),
		Submit:          slackapi.NewTextBlockObject(slackapi.PlainTextType, "Edit", false, false),
		Close:           slackapi.NewTextBlockObject(slackapi.PlainTextType, "Cancel", false, false),
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{
			slackapi.NewInputBlock(inputBlock,
				slackapi.NewTextBlockObject(slackapi.PlainTextType, "What should change?", false, false),
				slackapi.NewTextBlockObject(slackapi.PlainTextType, "Options: "+imaging.FlagHelp, false, false),
				input),
		}},
	}
	if _, err := b.api.OpenViewContext(ctx, trigger, view); err != nil {
		b.log.WarnContext(ctx, "views.open", "err", err)
		b.tell(ctx, w, "I couldn't open the editor. Please try again.")
	}
}

// viewSubmission checks the modal's text before it closes (errors are
// shown on the input), then submits the edit after the acknowledgement.
func (b *Bot) viewSubmission(ctx context.Context, cb slackapi.InteractionCallback) any {
	var meta modalMeta
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil || meta.Channel == "" {
		return nil
	}
	text := cb.View.State.Values[inputBlock][inputAction].Value
	f, err := imaging.ParseFlags(plain(text))
	if err == nil && strings.TrimSpace(f.Prompt) == "" {
		err = userError("Please say what should change.")
	}
	if err != nil {
		return slackapi.NewErrorsViewSubmissionResponse(map[string]string{inputBlock: clip(message(err), 150)})
	}
	if !b.seen.first("v:"+cb.View.ID, b.now()) {
		return nil
	}
	via := "edit"
	if cb.View.CallbackID == modalShortcut {
		via = "shortcut"
	}
	user := cb.User
	team := cb.Team.ID
	if team == "" {
		team = user.TeamID
	}
	b.background(ctx, func(ctx context.Context) {
		w := where{Channel: meta.Channel, User: user.ID, ThreadTS: meta.Thread}
		im, base, err := b.reference(ctx, source{File: slackapi.File{ID: meta.File}, Job: meta.Job})
		if err != nil {
			b.tell(ctx, w, message(err))
			return
		}
		req, vendor, err := parseRequest(text, []imaging.Image{im}, base)
		if err != nil {
			b.tell(ctx, w, message(err))
			return
		}
		a := ask{
			Team: team, User: user.ID, UserName: user.Name, Dedupe: "slack:v:" + cb.View.ID,
			Target: target{Team: team, Channel: meta.Channel, User: user.ID, ThreadTS: meta.Thread, Edit: true, Via: via},
		}
		if base != nil {
			a.Parent = base.ID
		}
		if _, err := b.submit(ctx, a, req, vendor); err != nil {
			if msg := b.refusal(ctx, err); msg != "" {
				b.tell(ctx, w, msg)
			}
		}
	})
	return nil
}
