package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// MaxImageBytes bounds a reference image downloaded from Slack.
const MaxImageBytes = 20 << 20

// freshFor is how long a vendor's result URL is reused for an edit instead
// of the image bytes (vendors keep results about 24 h).
const freshFor = 20 * time.Hour

// imageTypes are the reference image types accepted, as detected from the
// bytes (and as declared by Slack before downloading).
var imageTypes = []string{"image/png", "image/jpeg", "image/webp", "image/gif"}

// Action ids of the result card's buttons; their value is the job id.
const (
	actionReroll = "fb_reroll"
	actionEdit   = "fb_edit"
	actionDelete = "fb_delete"
)

// source is an image found in Slack: a file, and the bot's job when the
// file is one of the bot's own results.
type source struct {
	File slackapi.File
	Job  string
}

// isImage reports whether a Slack file object declares an image this bot
// accepts. Slack Connect files may arrive without details
// (file_access check_file_info); those are checked after files.info.
func isImage(f *slackapi.File) bool {
	return slices.Contains(imageTypes, f.Mimetype)
}

// needsInfo reports whether a file object must be completed with files.info.
func needsInfo(f *slackapi.File) bool {
	return f.ID != "" && (f.Mode == "file_access" || (f.URLPrivateDownload == "" && f.URLPrivate == ""))
}

// imagesOf returns the image files of a message, completing sparse file
// objects with files.info.
func (b *Bot) imagesOf(ctx context.Context, files []slackapi.File) []slackapi.File {
	var out []slackapi.File
	for _, f := range files {
		if needsInfo(&f) {
			full, _, _, err := b.api.GetFileInfoContext(ctx, f.ID, 0, 0)
			if err != nil {
				b.log.WarnContext(ctx, "files.info", "file", f.ID, "err", err)
				continue
			}
			f = *full
		}
		if isImage(&f) {
			out = append(out, f)
		}
	}
	return out
}

// jobOfCard returns the job id of one of the bot's result cards, from its
// buttons, or "".
func (b *Bot) jobOfCard(m *slackapi.Msg) string {
	user, bot := b.self()
	if m.User != user && (m.BotID == "" || m.BotID != bot) {
		return ""
	}
	for _, blk := range m.Blocks.BlockSet {
		ab, ok := blk.(*slackapi.ActionBlock)
		if !ok || ab.Elements == nil {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			if btn, ok := el.(*slackapi.ButtonBlockElement); ok && btn.ActionID == actionReroll && btn.Value != "" {
				return btn.Value
			}
		}
	}
	return ""
}

// threadImage finds the image an edit in a thread refers to: the latest
// image posted in the thread before ts (the parent included), whether a
// person's upload or the bot's own result. ok is false when there is none.
func (b *Bot) threadImage(ctx context.Context, channel, threadTS, before string) (src source, ok bool, err error) {
	params := &slackapi.GetConversationRepliesParameters{ChannelID: channel, Timestamp: threadTS, Limit: 200}
	for page := 0; page < 5; page++ {
		msgs, hasMore, cursor, err := b.api.GetConversationRepliesContext(ctx, params)
		if err != nil {
			return source{}, false, fmt.Errorf("conversations.replies: %w", err)
		}
		for i := range msgs {
			m := &msgs[i].Msg
			if before != "" && !tsBefore(m.Timestamp, before) {
				continue
			}
			if imgs := b.imagesOf(ctx, m.Files); len(imgs) > 0 {
				src, ok = source{File: imgs[len(imgs)-1], Job: b.jobOfCard(m)}, true
			}
		}
		if !hasMore || cursor == "" {
			break
		}
		params.Cursor = cursor
	}
	return src, ok, nil
}

// tsBefore compares two Slack timestamps ("<seconds>.<micro>").
func tsBefore(a, b string) bool {
	pa, pb := splitTS(a), splitTS(b)
	if pa[0] != pb[0] {
		return pa[0] < pb[0]
	}
	return pa[1] < pb[1]
}

func splitTS(ts string) [2]string {
	sec, frac, _ := strings.Cut(ts, ".")
	sec = strings.Repeat("0", max(0, 12-len(sec))) + sec
	frac += strings.Repeat("0", max(0, 6-len(frac)))
	return [2]string{sec, frac}
}

// reference turns a source into the reference image for a vendor: the
// vendor's own URL of one of the bot's fresh results (no upload needed),
// else the file's bytes downloaded with the bot token. It also returns the
// source's job, if known.
func (b *Bot) reference(ctx context.Context, src source) (imaging.Image, *jobs.Job, error) {
	var base *jobs.Job
	if src.Job != "" {
		j, err := b.jobs.Get(ctx, src.Job)
		if err == nil {
			base = j
			if j.ResultURL != "" && b.now().Sub(resultTime(j)) < freshFor {
				return imaging.Image{URL: j.ResultURL}, base, nil
			}
		} else if !errors.Is(err, jobs.ErrNotFound) {
			b.log.WarnContext(ctx, "looking up a result's job", "job", src.Job, "err", err)
		}
	}
	f := src.File
	if f.URLPrivateDownload == "" && f.URLPrivate == "" {
		if f.ID == "" {
			return imaging.Image{}, base, userError("I can't find that image any more.")
		}
		full, _, _, err := b.api.GetFileInfoContext(ctx, f.ID, 0, 0)
		if err != nil {
			b.log.WarnContext(ctx, "files.info", "file", f.ID, "err", err)
			return imaging.Image{}, base, userError("I can't read that image any more; it may have been deleted.")
		}
		f = *full
	}
	im, err := b.download(ctx, f)
	return im, base, err
}

func resultTime(j *jobs.Job) time.Time {
	if !j.FinishedAt.IsZero() {
		return j.FinishedAt
	}
	return j.CreatedAt
}

// download fetches a Slack file with the bot token, at most MaxImageBytes,
// and checks from its bytes that it is an image.
func (b *Bot) download(ctx context.Context, f slackapi.File) (imaging.Image, error) {
	if f.Size > MaxImageBytes {
		return imaging.Image{}, userError(fmt.Sprintf("That image is %d MB; I can edit images up to %d MB.", f.Size>>20, MaxImageBytes>>20))
	}
	u := f.URLPrivateDownload
	if u == "" {
		u = f.URLPrivate
	}
	w := &capped{max: MaxImageBytes}
	if err := b.api.GetFileContext(ctx, u, w); err != nil {
		if errors.Is(err, errTooBig) {
			return imaging.Image{}, userError(fmt.Sprintf("That image is larger than %d MB, the most I can edit.", MaxImageBytes>>20))
		}
		b.log.WarnContext(ctx, "downloading a Slack file", "file", f.ID, "err", redact(err))
		return imaging.Image{}, userError("I couldn't download that image from Slack. Please try again.")
	}
	ct := http.DetectContentType(w.buf)
	if !slices.Contains(imageTypes, ct) {
		return imaging.Image{}, userError("That file isn't a PNG, JPEG, WebP or GIF image, so I can't edit it.")
	}
	return imaging.Image{Data: w.buf, ContentType: ct}, nil
}

var errTooBig = errors.New("slack: file over the size limit")

// capped is a writer that keeps at most max bytes and fails past them
// (GetFile itself reads without a limit).
type capped struct {
	buf []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if len(c.buf)+len(p) > c.max {
		return 0, errTooBig
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}
