package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/patrickmn/go-cache"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

var _ jobs.Reporter = (*Bot)(nil)

// Progress implements jobs.Reporter: it edits the job's message with its
// place in line or the vendor's progress, at most every minEditGap per
// message, and not after the interaction token's end.
func (b *Bot) Progress(ctx context.Context, j *jobs.Job, u jobs.Update) {
	t, err := parseTarget(j.Target)
	if err != nil {
		return
	}
	b.waitAck(ctx, j.ID)
	now := b.now()
	if last, ok := b.lastEdit.Get(j.ID); ok && now.Sub(last.(time.Time)) < minEditGap {
		return
	}
	if t.Kind == kindInteraction && !t.usable(now, progressMargin) {
		return
	}
	b.lastEdit.Set(j.ID, now, cache.DefaultExpiration)
	text := headline(j, t) + "\n" + progressLine(u)
	// Progress is best effort: a slow Discord must not hold the job up.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch t.Kind {
	case kindInteraction:
		_, err = b.s.InteractionResponseEdit(t.interaction(), &discordgo.WebhookEdit{Content: &text, AllowedMentions: noMentions}, discordgo.WithContext(ctx))
	case kindMessage:
		_, err = b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{Channel: t.ChannelID, ID: t.MessageID, Content: &text, AllowedMentions: noMentions}, discordgo.WithContext(ctx))
	}
	if err != nil {
		b.log.DebugContext(ctx, "progress edit failed", "job", j.ID, "err", redact(err))
	}
}

// progressLine words an update: "⏳ Queued — you're #2 in line · 0:12",
// "🎨 Generating… 45% · 0:31".
func progressLine(u jobs.Update) string {
	el := clock(u.Elapsed)
	switch u.Phase {
	case jobs.Queued:
		if u.Position > 0 {
			return fmt.Sprintf("⏳ Queued — you're #%d in line · %s", u.Position, el)
		}
		return "⏳ Queued · " + el
	case jobs.Starting:
		return "🚀 Starting… · " + el
	}
	if u.Percent >= 0 {
		return fmt.Sprintf("🎨 Generating… %d%% · %s", u.Percent, el)
	}
	return "🎨 Generating… · " + el
}

// clock renders d as m:ss (h:mm:ss past an hour).
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// headline is the first line of every message about a job: the prompt and
// who asked.
func headline(j *jobs.Job, t *target) string {
	prefix := ""
	if j.Request.IsEdit() {
		prefix = "✏️ "
	}
	return prefix + "**" + escapeMarkdown(truncate(j.Request.Prompt, 1500)) + "** — <@" + t.UserID + ">"
}

// caption describes a result: "**a lighthouse at dawn** — <@123> · Flux
// Kontext Pro · PoYo · seed 42 · 31s · 2 credits".
func (b *Bot) caption(j *jobs.Job, t *target, r *imaging.Result) string {
	parts := []string{headline(j, t)}
	model := r.Model
	if model == "" {
		model = j.Request.ModelOrDefault()
	}
	parts = append(parts, "Flux Kontext "+titleCase(string(model)))
	vendor := r.Vendor
	if vendor == "" {
		vendor = j.Vendor
	}
	if vendor != "" {
		parts = append(parts, b.vendorName(vendor))
	}
	seed := r.Seed
	if seed == nil {
		seed = j.Seed
	}
	if seed != nil {
		parts = append(parts, "seed "+strconv.FormatInt(*seed, 10))
	}
	if j.Elapsed > 0 {
		parts = append(parts, imaging.HumanDuration(j.Elapsed))
	}
	cost := r.Cost
	if cost == nil {
		cost = j.Cost
	}
	if cost != nil {
		parts = append(parts, cost.String())
	}
	return strings.Join(parts, " · ")
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var markdownEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, `~`, `\~`, "`", "\\`", `|`, `\|`, `>`, `\>`, `#`, `\#`)

func escapeMarkdown(s string) string {
	return markdownEscaper.Replace(strings.ReplaceAll(s, "\n", " "))
}

// buttons are the Re-roll, Edit and Delete buttons of job id's result.
func buttons(id string) []discordgo.MessageComponent {
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Re-roll", Style: discordgo.SecondaryButton, CustomID: idReroll + id, Emoji: &discordgo.ComponentEmoji{Name: "🔄"}},
		discordgo.Button{Label: "Edit", Style: discordgo.PrimaryButton, CustomID: idEdit + id, Emoji: &discordgo.ComponentEmoji{Name: "✏️"}},
		discordgo.Button{Label: "Delete", Style: discordgo.DangerButton, CustomID: idDelete + id, Emoji: &discordgo.ComponentEmoji{Name: "🗑️"}},
	}}}
}

// outgoing is a message the bot is about to post or edit into place.
type outgoing struct {
	content    string
	components []discordgo.MessageComponent
	file       *upload // nil for text only
	mention    string  // the user id the message may ping
}

type upload struct {
	name, contentType string
	data              []byte
}

func (o *outgoing) files() []*discordgo.File {
	if o.file == nil {
		return nil
	}
	return []*discordgo.File{{Name: o.file.name, ContentType: o.file.contentType, Reader: bytes.NewReader(o.file.data)}}
}

// attachments lists the new file as the message's only attachment, so an
// edit replaces what the message had (a repeated delivery does not add a
// second copy).
func (o *outgoing) attachments() *[]*discordgo.MessageAttachment {
	list := []*discordgo.MessageAttachment{}
	if o.file != nil {
		list = append(list, &discordgo.MessageAttachment{ID: "0", Filename: o.file.name})
	}
	return &list
}

func (o *outgoing) allowed() *discordgo.MessageAllowedMentions {
	if o.mention == "" {
		return noMentions
	}
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}, Users: []string{o.mention}}
}

// Deliver implements jobs.Reporter: it uploads the result with its
// caption and buttons into the deferred response while the interaction
// token is good, into the reply of a mention request, or otherwise as a
// new channel message that mentions the requester. A result over the
// upload limit is re-encoded to fit. A repeated call (a retry, or after a
// crash) posts no second copy.
func (b *Bot) Deliver(ctx context.Context, j *jobs.Job, r *imaging.Result) error {
	t, err := parseTarget(j.Target)
	if err != nil {
		b.log.ErrorContext(ctx, "job has no usable Discord reply target; dropping its result", "job", j.ID, "err", err)
		return nil
	}
	n := parseNote(j.Delivery)
	if n.Delivered != "" {
		return nil
	}
	b.waitAck(ctx, j.ID)
	defer b.lastEdit.Delete(j.ID)

	limit := t.limit()
	if t.Kind == kindMessage && t.GuildID != "" {
		limit = min(limit, b.guildLimit(t.GuildID))
	}
	caption := b.caption(j, t, r)
	for range 4 {
		o := &outgoing{content: caption, components: buttons(j.ID), mention: t.UserID}
		o.file, err = fitResult(j.ID, r, limit)
		if err != nil { // undecodable and too large: say so, with the vendor's link
			b.log.WarnContext(ctx, "result over the upload limit could not be re-encoded", "job", j.ID, "bytes", len(r.Image), "limit", limit, "err", err)
			o.content = truncate(caption+"\nThe image is too large to upload here ("+humanSize(int64(len(r.Image)))+"); it stays available for a day at "+r.SourceURL, 2000)
		}
		err = b.deliverOnce(ctx, j, t, o)
		if !tooLarge(err) || o.file == nil {
			return err
		}
		// Discord's limit is lower than we knew (a mention carries none).
		limit = int64(len(o.file.data)) / 2
		b.log.InfoContext(ctx, "result too large for Discord; shrinking", "job", j.ID, "limit", limit)
	}
	return err
}

func (b *Bot) deliverOnce(ctx context.Context, j *jobs.Job, t *target, o *outgoing) error {
	switch t.Kind {
	case kindInteraction:
		if t.usable(b.now(), deliverMargin) {
			_, err := b.s.InteractionResponseEdit(t.interaction(), &discordgo.WebhookEdit{
				Content: &o.content, Components: &o.components, Files: o.files(), Attachments: o.attachments(), AllowedMentions: o.allowed(),
			}, discordgo.WithContext(ctx))
			if err == nil {
				b.saveNote(ctx, j, note{Delivered: "original"})
				b.log.InfoContext(ctx, "result delivered", "job", j.ID, "user", j.User, "to", "interaction response")
				return nil
			}
			if !tokenGone(err) {
				return redact(err)
			}
			b.log.InfoContext(ctx, "interaction response can no longer be edited; posting to the channel", "job", j.ID, "err", redact(err))
		}
	case kindMessage:
		_, err := b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
			Channel: t.ChannelID, ID: t.MessageID, Content: &o.content, Components: &o.components,
			Files: o.files(), Attachments: o.attachments(), AllowedMentions: o.allowed(),
		}, discordgo.WithContext(ctx))
		if err == nil {
			b.saveNote(ctx, j, note{Delivered: "reply"})
			b.log.InfoContext(ctx, "result delivered", "job", j.ID, "user", j.User, "to", "reply")
			return nil
		}
		if !unknownMessage(err) {
			return redact(err)
		}
		// The status reply was deleted: post a new message instead.
	}
	return b.postOnce(ctx, j, t, o, "d")
}

// postOnce posts o as a new channel message, once per job: a repeated
// call finds the message it posted before in Job.Delivery, or, after a
// crash that lost the note, among the channel's recent messages; Discord's
// enforce_nonce catches a retry within minutes as well.
func (b *Bot) postOnce(ctx context.Context, j *jobs.Job, t *target, o *outgoing, kind string) error {
	if kind == "d" && j.Attempts > 1 {
		if id := b.findResult(ctx, t.ChannelID, j.ID); id != "" {
			b.saveNote(ctx, j, note{Delivered: "channel", MessageID: id})
			return nil
		}
	}
	body := channelPost{
		Content: o.content, Components: o.components, AllowedMentions: o.allowed(),
		Nonce: nonce(kind, j.ID), EnforceNonce: true,
	}
	if o.file != nil {
		body.Attachments = []attachmentRef{{ID: "0", Filename: o.file.name}}
	}
	ct, data := "application/json", []byte(nil)
	var err error
	if files := o.files(); len(files) > 0 {
		ct, data, err = discordgo.MultipartBodyWithJSON(body, files)
	} else {
		data, err = json.Marshal(body)
	}
	if err != nil {
		return err
	}
	post := func(channelID string) (*discordgo.Message, error) {
		endpoint := discordgo.EndpointChannelMessages(channelID)
		resp, err := b.s.RequestRaw("POST", endpoint, ct, data, endpoint, 0, discordgo.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		var m discordgo.Message
		_ = json.Unmarshal(resp, &m)
		return &m, nil
	}
	where := "channel"
	m, err := post(t.ChannelID)
	if forbidden(err) {
		// The command worked where the bot may not post (interactions need
		// no channel permissions): send it to the requester privately.
		b.log.InfoContext(ctx, "no permission to post in the channel; sending to the requester's DMs", "job", j.ID, "err", redact(err))
		dm, derr := b.s.UserChannelCreate(t.UserID, discordgo.WithContext(ctx))
		if derr == nil {
			where = "dm"
			m, err = post(dm.ID)
		}
	}
	if err != nil {
		return redact(err)
	}
	if kind == "d" {
		b.saveNote(ctx, j, note{Delivered: where, MessageID: m.ID})
		b.log.InfoContext(ctx, "result delivered", "job", j.ID, "user", j.User, "to", where+" message")
	}
	return nil
}

// forbidden reports a channel the bot may not see or post in.
func forbidden(err error) bool {
	status, code := restCode(err)
	return status == 403 && (code == 50001 || code == 50013)
}

// channelPost is Create Message with the nonce fields discordgo's
// MessageSend lacks (message.mdx "Create Message": enforce_nonce).
type channelPost struct {
	Content         string                            `json:"content"`
	Components      []discordgo.MessageComponent      `json:"components,omitempty"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions,omitempty"`
	Attachments     []attachmentRef                   `json:"attachments,omitempty"`
	Nonce           string                            `json:"nonce,omitempty"`
	EnforceNonce    bool                              `json:"enforce_nonce,omitempty"`
}

type attachmentRef struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
}

// nonce is a message nonce (at most 25 characters) unique to the job and
// the kind of post.
func nonce(kind, id string) string {
	return truncateBytes(kind+id, 25)
}

func truncateBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// findResult looks among the channel's recent messages for the bot's
// result of job id (by its Delete button) and returns its id.
func (b *Bot) findResult(ctx context.Context, channelID, id string) string {
	_, botID := b.ids()
	msgs, err := b.s.ChannelMessages(channelID, 50, "", "", "", discordgo.WithContext(ctx))
	if err != nil {
		b.log.WarnContext(ctx, "looking for an earlier delivery failed", "job", id, "err", redact(err))
		return ""
	}
	for _, m := range msgs {
		if botID != "" && (m.Author == nil || m.Author.ID != botID) {
			continue
		}
		if hasButton(m.Components, idDelete+id) {
			return m.ID
		}
	}
	return ""
}

func hasButton(cs []discordgo.MessageComponent, customID string) bool {
	for _, c := range cs {
		switch c := c.(type) {
		case *discordgo.ActionsRow:
			if hasButton(c.Components, customID) {
				return true
			}
		case *discordgo.Button:
			if c.CustomID == customID {
				return true
			}
		}
	}
	return false
}

// saveNote persists a delivery note; the delivery itself already
// happened, so a failure is only logged.
func (b *Bot) saveNote(ctx context.Context, j *jobs.Job, n note) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := b.p.SaveDelivery(sctx, j, n.encode()); err != nil {
		b.log.WarnContext(ctx, "saving the delivery note failed", "job", j.ID, "err", err)
	}
}

// Fail implements jobs.Reporter: the job's message (or, past the
// interaction token's life, a new channel message that mentions the
// requester) says what went wrong, with no buttons.
func (b *Bot) Fail(ctx context.Context, j *jobs.Job, cause error) error {
	t, err := parseTarget(j.Target)
	if err != nil {
		b.log.ErrorContext(ctx, "job has no usable Discord reply target; its failure is not shown", "job", j.ID, "err", err)
		return nil
	}
	n := parseNote(j.Delivery)
	if n.Failed {
		return nil
	}
	b.waitAck(ctx, j.ID)
	defer b.lastEdit.Delete(j.ID)
	msg := jobs.UserMessage(cause)
	o := &outgoing{content: truncate(headline(j, t)+"\n⚠️ "+msg, 2000), components: []discordgo.MessageComponent{}}
	err = nil
	switch t.Kind {
	case kindInteraction:
		if t.usable(b.now(), progressMargin) {
			_, err = b.s.InteractionResponseEdit(t.interaction(), &discordgo.WebhookEdit{
				Content: &o.content, Components: &o.components, Attachments: o.attachments(), AllowedMentions: o.allowed(),
			}, discordgo.WithContext(ctx))
			if err == nil || !tokenGone(err) {
				break
			}
		}
		o.mention = t.UserID
		err = b.postOnce(ctx, j, t, o, "f")
	case kindMessage:
		_, err = b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
			Channel: t.ChannelID, ID: t.MessageID, Content: &o.content, Components: &o.components,
			Attachments: o.attachments(), AllowedMentions: o.allowed(),
		}, discordgo.WithContext(ctx))
		if unknownMessage(err) {
			o.mention = t.UserID
			err = b.postOnce(ctx, j, t, o, "f")
		}
	}
	if err != nil {
		return redact(err)
	}
	n.Failed = true
	b.saveNote(ctx, j, n)
	return nil
}

func humanSize(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	}
	return strconv.FormatInt(n>>10, 10) + " KB"
}
