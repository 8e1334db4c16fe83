package slack

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// target is a job's reply target (Job.Target): where its progress, result
// and failure go.
type target struct {
	Team    string `json:"team"`
	Channel string `json:"channel"`
	// User is the requester, for mentions and the Delete check.
	User string `json:"user"`
	// ThreadTS is the thread the answers go to; "" means the channel
	// itself (a slash command's result).
	ThreadTS string `json:"thread_ts,omitempty"`
	// ResponseURL, when set, reaches the requester ephemerally for 30
	// minutes even where posting fails.
	ResponseURL string `json:"response_url,omitempty"`
	// Edit reports an edit of an existing image, for wording.
	Edit bool `json:"edit,omitempty"`
	// Via is what started the job: command, mention, message, reroll, edit
	// or shortcut.
	Via string `json:"via,omitempty"`
}

// note is what a delivery in progress persists (Job.Delivery, through
// Pipeline.SaveDelivery): the status message once posted, and the result
// file once its upload was started, so that a repeated delivery neither
// posts a second status message nor uploads the image twice.
type note struct {
	StatusTS string `json:"status_ts,omitempty"`
	FileID   string `json:"file_id,omitempty"`
}

func targetOf(j *jobs.Job) (*target, error) {
	var t target
	if err := json.Unmarshal(j.Target, &t); err != nil || t.Channel == "" {
		return nil, errors.New("slack: job has no Slack reply target")
	}
	return &t, nil
}

func noteOf(j *jobs.Job) note {
	var n note
	if len(j.Delivery) > 0 {
		_ = json.Unmarshal(j.Delivery, &n)
	}
	return n
}

func (b *Bot) saveNote(ctx context.Context, j *jobs.Job, n note) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return b.jobs.SaveDelivery(ctx, j, raw)
}

// userID and channelID are the pipeline's platform-qualified ids.
func userID(team, user string) string       { return "slack:" + team + "/" + user }
func channelID(team, channel string) string { return "slack:" + team + "/" + channel }

// where says who to tell something ephemerally, and where.
type where struct {
	Channel, User, ThreadTS, ResponseURL string
}

// tell shows text to one person only: chat.postEphemeral in the channel
// (and thread), or the response_url when that fails (a channel the bot is
// not in).
func (b *Bot) tell(ctx context.Context, w where, text string) {
	if ctx.Err() != nil {
		return // shutting down
	}
	var err error
	if w.Channel != "" && w.User != "" {
		opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false)}
		if w.ThreadTS != "" {
			opts = append(opts, slackapi.MsgOptionTS(w.ThreadTS))
		}
		if _, err = b.api.PostEphemeralContext(ctx, w.Channel, w.User, opts...); err == nil {
			return
		}
	}
	if w.ResponseURL != "" {
		opts := []slackapi.MsgOption{slackapi.MsgOptionResponseURL(w.ResponseURL, slackapi.ResponseTypeEphemeral), slackapi.MsgOptionText(text, false)}
		if w.ThreadTS != "" {
			opts = append(opts, slackapi.MsgOptionTS(w.ThreadTS))
		}
		if _, _, rerr := b.api.PostMessageContext(ctx, "", opts...); rerr == nil {
			return
		} else if err == nil {
			err = rerr
		}
	}
	if err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "telling the user failed", "channel", w.Channel, "user", w.User, "err", redact(err))
	}
}

// ask is one request about to become a job.
type ask struct {
	Team, User, UserName string
	Target               target
	Dedupe               string
	Parent               string
}

// parseRequest turns what the person typed into a request: inline flags,
// the prompt and, for an edit, the reference images. base, when set, is
// the job whose image is edited: its vendor and model carry over unless
// the flags say otherwise.
func parseRequest(text string, images []imaging.Image, base *jobs.Job) (imaging.Request, string, error) {
	f, err := imaging.ParseFlags(plain(text))
	if err != nil {
		return imaging.Request{}, "", err
	}
	var req imaging.Request
	vendor := f.Vendor
	if base != nil {
		req.Model = base.Request.Model
		if vendor == "" {
			vendor = base.Vendor
		}
	}
	f.Apply(&req)
	req.Images = append(images, req.Images...)
	return req, vendor, nil
}

// submit builds the job and submits it. The error, when not nil, is for the
// requester (jobs.UserMessage); ErrDuplicate means a redelivery and is
// returned as is for the caller to drop silently.
func (b *Bot) submit(ctx context.Context, a ask, req imaging.Request, vendor string) (*jobs.Admission, error) {
	raw, err := json.Marshal(a.Target)
	if err != nil {
		return nil, err
	}
	user, channel := userID(a.Team, a.User), channelID(a.Team, a.Target.Channel)
	j := &jobs.Job{
		Platform:  Platform,
		User:      user,
		UserName:  a.UserName,
		Channel:   channel,
		Vendor:    vendor,
		Request:   req,
		Target:    raw,
		DedupeKey: a.Dedupe,
		Parent:    a.Parent,
	}
	edit := req.IsEdit()
	// j belongs to the pipeline from here on: only the admission is read.
	adm, err := b.jobs.Submit(ctx, j)
	if err != nil {
		return nil, err
	}
	b.log.InfoContext(ctx, "job accepted", "job", adm.JobID, "user", user, "channel", channel,
		"via", a.Target.Via, "edit", edit, "position", adm.Position)
	return adm, nil
}

// refusal turns a Submit error into the requester's message, or "" when
// nothing should be said (a duplicate delivery). Unexpected errors are
// logged.
func (b *Bot) refusal(ctx context.Context, err error) string {
	if errors.Is(err, jobs.ErrDuplicate) {
		return ""
	}
	_, refused := errors.AsType[*ratelimit.Refusal](err)
	_, isUser := errors.AsType[userError](err)
	if !refused && !isUser && !errors.Is(err, jobs.ErrClosed) && imaging.KindOf(err) == imaging.KindUnknown {
		b.log.ErrorContext(ctx, "submitting a job", "err", err)
	}
	return message(err)
}

// message is the user text for any error of this package or the pipeline.
func message(err error) string {
	if u, ok := errors.AsType[userError](err); ok {
		return string(u)
	}
	return jobs.UserMessage(err)
}

// userError is an error whose text is written for the requester.
type userError string

func (e userError) Error() string { return string(e) }

// reroll is the request of a job run again: the same request with a new
// random seed when the original fixed one (a fixed seed would repeat the
// image).
func reroll(orig *jobs.Job) imaging.Request {
	req := orig.Request
	req.Images = append([]imaging.Image(nil), orig.Request.Images...)
	req.CallbackURL = ""
	if req.Seed != nil {
		s := rand.Int64N(1 << 31)
		req.Seed = &s
	}
	return req
}

// helpText answers /imagine without a prompt.
func (b *Bot) helpText(command string) string {
	if command == "" {
		command = "/imagine"
	}
	var sb strings.Builder
	sb.WriteString("*Make an image:* `" + command + " a fox in the snow --ar 9:16 --model max`\n")
	sb.WriteString("*Options:* " + imaging.FlagHelp + "\n")
	if len(b.cfg.Vendors) > 0 {
		sb.WriteString("*Vendors:* " + b.cfg.Vendors[0] + " (default)")
		for _, v := range b.cfg.Vendors[1:] {
			sb.WriteString(", " + v)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("*Edit an image:* mention me in its thread (or attach the image) and say what to change, or choose *Edit image* in a message's ⋮ menu. Every result has Re-roll, Edit and Delete buttons.")
	return sb.String()
}
