package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// Progress implements jobs.Reporter: the first report posts the status
// message where the answer goes (its ts is saved with the job), later ones
// edit it, at most once every ProgressEvery.
func (b *Bot) Progress(ctx context.Context, j *jobs.Job, u jobs.Update) {
	t, err := targetOf(j)
	if err != nil {
		return
	}
	n := noteOf(j)
	text := statusText(t, j.Request.Prompt, u)
	if n.StatusTS == "" {
		ts, err := b.post(ctx, b.fast, t, text)
		if err != nil {
			b.log.WarnContext(ctx, "posting the status message", "job", j.ID, "channel", t.Channel, "err", err)
			return
		}
		n.StatusTS = ts
		b.edited(j.ID, b.now())
		if err := b.saveNote(ctx, j, n); err != nil {
			b.log.WarnContext(ctx, "saving the status message", "job", j.ID, "err", err)
		}
		return
	}
	if !b.mayEdit(j.ID) {
		return
	}
	if _, _, _, err := b.fast.UpdateMessageContext(ctx, t.Channel, n.StatusTS, slackapi.MsgOptionText(text, false)); err != nil {
		if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
			b.edited(j.ID, b.now().Add(rl.RetryAfter))
		}
		b.log.DebugContext(ctx, "updating the status message", "job", j.ID, "err", err)
	}
}

// post posts text with api where t's answers go and returns its ts.
func (b *Bot) post(ctx context.Context, api *slackapi.Client, t *target, text string) (string, error) {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false), slackapi.MsgOptionDisableLinkUnfurl()}
	if t.ThreadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(t.ThreadTS))
	}
	_, ts, err := api.PostMessageContext(ctx, t.Channel, opts...)
	return ts, err
}

// mayEdit reports whether the job's status message may be edited now (the
// message's last edit is ProgressEvery old, and the workspace's budget of
// edits allows one), and records the edit if so. A skipped edit is simply
// left out: the next report carries newer news.
func (b *Bot) mayEdit(id string) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.edits[id]; ok && now.Sub(last) < b.every {
		return false
	}
	if !b.updates.AllowN(now, 1) {
		return false
	}
	b.edits[id] = now
	return true
}

func (b *Bot) edited(id string, at time.Time) {
	b.mu.Lock()
	b.edits[id] = at
	b.mu.Unlock()
}

func (b *Bot) forget(id string) {
	b.mu.Lock()
	delete(b.edits, id)
	b.mu.Unlock()
}

// Deliver implements jobs.Reporter. It uploads the image where the answer
// goes as the result card (the file with a caption and the Re-roll, Edit
// and Delete buttons as its blocks) and removes the status message. The
// file id is saved right after files.getUploadURLExternal; a repeated
// delivery (Attempts > 1) first asks files.info whether that file already
// reached the channel, and then only finishes the bookkeeping.
func (b *Bot) Deliver(ctx context.Context, j *jobs.Job, r *imaging.Result) error {
	t, err := targetOf(j)
	if err != nil {
		return err
	}
	n := noteOf(j)
	if j.Attempts > 1 && n.FileID != "" {
		shared, err := b.shared(ctx, n.FileID, t.Channel)
		if err != nil {
			return err
		}
		if shared {
			b.log.InfoContext(ctx, "result was already posted", "job", j.ID, "file", n.FileID)
			b.finish(ctx, j, t, n)
			return nil
		}
	}
	name := "flux-" + jobs.ShortID(j.ID) + fileExt(r.ContentType)
	up, err := b.api.GetUploadURLExternalContext(ctx, slackapi.GetUploadURLExternalParameters{
		FileName: name, FileSize: len(r.Image), AltTxt: clip(j.Request.Prompt, 1000),
	})
	if err != nil {
		return fmt.Errorf("slack: files.getUploadURLExternal: %w", err)
	}
	n.FileID = up.FileID
	if err := b.saveNote(ctx, j, n); err != nil {
		return fmt.Errorf("slack: saving the upload: %w", err)
	}
	if err := b.api.UploadToURL(ctx, slackapi.UploadToURLParameters{
		UploadURL: up.UploadURL, Reader: bytes.NewReader(r.Image), Filename: name,
	}); err != nil {
		return fmt.Errorf("slack: uploading the result: %w", redact(err))
	}
	if _, err := b.api.CompleteUploadExternalContext(ctx, slackapi.CompleteUploadExternalParameters{
		Files:           []slackapi.FileSummary{{ID: up.FileID, Title: clip(j.Request.Prompt, 250)}},
		Channel:         t.Channel,
		ThreadTimestamp: t.ThreadTS,
		Blocks:          slackapi.Blocks{BlockSet: card(j, t, r)},
	}); err != nil {
		return fmt.Errorf("slack: files.completeUploadExternal: %w", err)
	}
	b.log.InfoContext(ctx, "result posted", "job", j.ID, "channel", t.Channel, "file", up.FileID, "bytes", len(r.Image))
	b.finish(ctx, j, t, n)
	return nil
}

// shared reports whether file id was shared to channel.
func (b *Bot) shared(ctx context.Context, id, channel string) (bool, error) {
	f, _, _, err := b.api.GetFileInfoContext(ctx, id, 0, 0)
	if err != nil {
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "file_not_found" {
			return false, nil
		}
		return false, fmt.Errorf("slack: files.info: %w", err)
	}
	return len(f.Shares.Public[channel]) > 0 || len(f.Shares.Private[channel]) > 0, nil
}

// finish removes the status message once the result card is up.
func (b *Bot) finish(ctx context.Context, j *jobs.Job, t *target, n note) {
	b.forget(j.ID)
	if n.StatusTS == "" {
		return
	}
	if _, _, err := b.api.DeleteMessageContext(ctx, t.Channel, n.StatusTS); err != nil {
		var se slackapi.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != "message_not_found" {
			b.log.WarnContext(ctx, "removing the status message", "job", j.ID, "err", err)
		}
	}
}

// card is the result card's blocks: who asked for what, the details, and
// the buttons.
func card(j *jobs.Job, t *target, r *imaging.Result) []slackapi.Block {
	verb := ""
	if t.Edit {
		verb = " edited an image:"
	}
	head := fmt.Sprintf("<@%s>%s %s", t.User, verb, quoted(j.Request.Prompt, 2500))
	btn := func(action, label string) *slackapi.ButtonBlockElement {
		return slackapi.NewButtonBlockElement(action, j.ID, slackapi.NewTextBlockObject(slackapi.PlainTextType, label, true, false))
	}
	return []slackapi.Block{
		slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, head, false, false), nil, nil),
		slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, details(j, r), false, false)),
		slackapi.NewActionBlock("fb_actions",
			btn(actionReroll, "🎲 Re-roll"),
			btn(actionEdit, "✏️ Edit"),
			btn(actionDelete, "🗑️ Delete").WithStyle(slackapi.StyleDanger)),
	}
}

// Fail implements jobs.Reporter: the status message (or, without one, a
// new message where the answer goes) says what went wrong; when Slack
// refuses both, the requester is told through the response_url.
func (b *Bot) Fail(ctx context.Context, j *jobs.Job, cause error) error {
	t, err := targetOf(j)
	if err != nil {
		return err
	}
	b.forget(j.ID)
	n := noteOf(j)
	msg := jobs.UserMessage(cause)
	text := failText(t, j.Request.Prompt, msg)
	if n.StatusTS != "" {
		if _, _, _, err = b.api.UpdateMessageContext(ctx, t.Channel, n.StatusTS, slackapi.MsgOptionText(text, false)); err == nil {
			return nil
		}
	}
	if _, err = b.post(ctx, b.api, t, text); err == nil {
		return nil
	}
	if t.ResponseURL != "" {
		_, _, rerr := b.api.PostMessageContext(ctx, "", slackapi.MsgOptionResponseURL(t.ResponseURL, slackapi.ResponseTypeEphemeral),
			slackapi.MsgOptionText(text, false))
		if rerr == nil {
			return nil
		}
	}
	return fmt.Errorf("slack: reporting a failure: %w", redact(err))
}
