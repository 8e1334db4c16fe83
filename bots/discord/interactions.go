package discord

import (
	"context"
	"errors"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/patrickmn/go-cache"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// Custom id prefixes of buttons and modals. They carry the job id, so
// they work after a restart.
const (
	idReroll    = "fb:reroll:"
	idEdit      = "fb:edit:"
	idDelete    = "fb:delete:"
	idEditModal = "fb:editmodal:"
	idMsgEdit   = "fb:msgedit:"
	inputPrompt = "prompt"
)

// inbound is one interaction being handled.
type inbound struct {
	i     *discordgo.Interaction
	user  *discordgo.User
	limit int64 // attachment_size_limit
}

func userOf(i *discordgo.Interaction) *discordgo.User {
	if i.Member != nil && i.Member.User != nil {
		return i.Member.User
	}
	return i.User
}

func (b *Bot) onInteraction(ctx context.Context, i *discordgo.Interaction, limit int64) {
	b.setGuildLimit(i.GuildID, limit)
	in := &inbound{i: i, user: userOf(i), limit: limit}
	if in.user == nil {
		return
	}
	// Discord may deliver an event twice; a second acknowledgement would be
	// refused (40060). The job store's DedupeKey covers restarts.
	if b.seen.Add("i:"+i.ID, struct{}{}, cache.DefaultExpiration) != nil {
		return
	}
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		d := i.ApplicationCommandData()
		switch {
		case d.CommandType == discordgo.ChatApplicationCommand && d.Name == imagineCommand:
			b.imagine(ctx, in, d)
		case d.CommandType == discordgo.MessageApplicationCommand && d.Name == editCommand:
			b.editMessageCommand(ctx, in, d)
		default:
			b.ephemeral(ctx, in, "I don't know that command any more. Try /imagine.")
		}
	case discordgo.InteractionMessageComponent:
		b.button(ctx, in, i.MessageComponentData())
	case discordgo.InteractionModalSubmit:
		b.modalSubmit(ctx, in, i.ModalSubmitData())
	}
}

// errImageLink refuses --image in chat: the bot never fetches, or hands a
// vendor, a URL a user typed.
var errImageLink = &imaging.Error{Kind: imaging.KindInvalid,
	Message: "I don't use image links typed in chat. Attach the image instead (the image option of /imagine, or attach it to a message that mentions me), or right-click an image → Apps → Edit image."}

// parsePrompt splits inline flags off text.
func parsePrompt(text string) (imaging.Request, string, error) {
	f, err := imaging.ParseFlags(text)
	if err != nil {
		return imaging.Request{}, "", err
	}
	if len(f.Images) > 0 {
		return imaging.Request{}, "", errImageLink
	}
	var r imaging.Request
	f.Apply(&r)
	return r, f.Vendor, nil
}

func (b *Bot) imagine(ctx context.Context, in *inbound, d discordgo.ApplicationCommandInteractionData) {
	opt := func(name string, typ discordgo.ApplicationCommandOptionType) *discordgo.ApplicationCommandInteractionDataOption {
		if o := d.GetOption(name); o != nil && o.Type == typ {
			return o
		}
		return nil
	}
	prompt := ""
	if o := opt("prompt", discordgo.ApplicationCommandOptionString); o != nil {
		prompt = o.StringValue()
	}
	req, vendor, err := parsePrompt(prompt)
	if err != nil {
		b.refuse(ctx, in, err)
		return
	}
	// Options win over inline flags: they were picked from a list.
	if o := opt("aspect", discordgo.ApplicationCommandOptionString); o != nil {
		req.AspectRatio = o.StringValue()
	}
	if o := opt("model", discordgo.ApplicationCommandOptionString); o != nil {
		req.Model = imaging.Model(o.StringValue())
	}
	if o := opt("format", discordgo.ApplicationCommandOptionString); o != nil {
		req.Format = imaging.Format(o.StringValue())
	}
	if o := opt("seed", discordgo.ApplicationCommandOptionInteger); o != nil {
		seed := o.IntValue()
		req.Seed = &seed
	}
	if o := opt("vendor", discordgo.ApplicationCommandOptionString); o != nil {
		vendor = o.StringValue()
	}
	if o := opt("image", discordgo.ApplicationCommandOptionAttachment); o != nil {
		id, _ := o.Value.(string)
		var att *discordgo.MessageAttachment
		if d.Resolved != nil {
			att = d.Resolved.Attachments[id]
		}
		if att == nil || !isImage(att) {
			b.ephemeral(ctx, in, "That attachment isn't an image I can edit. Attach a PNG, JPEG, WebP or GIF.")
			return
		}
		req.Images = []imaging.Image{{URL: att.URL}}
	}
	b.start(ctx, in, &jobs.Job{Vendor: vendor, Request: req})
}

// start submits j for the interaction and acknowledges it: a public
// deferred response when accepted, an ephemeral reason when refused.
func (b *Bot) start(ctx context.Context, in *inbound, j *jobs.Job) {
	i := in.i
	j.ID = jobs.NewID()
	j.Platform = Platform
	j.User = Platform + ":" + in.user.ID
	j.UserName = displayName(in.user)
	j.Channel = Platform + ":" + i.ChannelID
	j.DedupeKey = "discord:i:" + i.ID
	limit := in.limit
	if limit <= 0 {
		limit = defaultUploadLimit
	}
	j.Target = (&target{Kind: kindInteraction, AppID: i.AppID, Token: i.Token, At: snowflakeTime(i.ID, b.now()),
		ChannelID: i.ChannelID, GuildID: i.GuildID, UserID: in.user.ID, SizeLimit: limit}).encode()
	id, user, edit := j.ID, j.User, j.Request.IsEdit()

	acked := b.expectAck(id)
	defer acked()
	type result struct {
		a   *jobs.Admission
		err error
	}
	res := make(chan result, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		a, err := b.p.Submit(sctx, j) // j belongs to the pipeline from here on
		res <- result{a, err}
	}()
	timer := time.NewTimer(submitBudget)
	defer timer.Stop()
	var r result
	deferred := false
	select {
	case r = <-res:
	case <-timer.C:
		// The store is slow: acknowledge before Discord's 3 s run out.
		deferred = b.respond(ctx, in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
		r = <-res
	}
	switch {
	case errors.Is(r.err, jobs.ErrDuplicate):
		if deferred {
			b.deleteOriginal(ctx, in)
		}
		return
	case r.err != nil:
		b.logRefusal(ctx, user, r.err)
		if deferred {
			b.editOriginal(ctx, in, "⚠️ "+jobs.UserMessage(r.err))
			return
		}
		b.ephemeral(ctx, in, jobs.UserMessage(r.err))
		return
	}
	if !deferred {
		b.respond(ctx, in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
	}
	b.log.InfoContext(ctx, "job accepted", "job", id, "user", user, "position", r.a.Position, "edit", edit)
}

func (b *Bot) logRefusal(ctx context.Context, user string, err error) {
	_, refused := errors.AsType[*ratelimit.Refusal](err)
	_, invalid := errors.AsType[*imaging.Error](err)
	switch {
	case refused, invalid, errors.Is(err, jobs.ErrClosed), errors.Is(err, jobs.ErrNotFound):
		b.log.InfoContext(ctx, "request refused", "user", user, "reason", err)
	default:
		b.log.ErrorContext(ctx, "submitting a job failed", "user", user, "err", err)
	}
}

// respond sends the interaction's one acknowledgement; it reports whether
// Discord took it.
func (b *Bot) respond(ctx context.Context, in *inbound, r *discordgo.InteractionResponse) bool {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := b.s.InteractionRespond(in.i, r, discordgo.WithContext(actx)); err != nil {
		b.log.WarnContext(ctx, "acknowledging an interaction failed", "interaction", in.i.ID, "user", in.user.ID, "type", r.Type, "err", redact(err))
		return false
	}
	return true
}

var noMentions = &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}

// ephemeral answers with a message only the user sees.
func (b *Bot) ephemeral(ctx context.Context, in *inbound, text string) {
	b.respond(ctx, in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: truncate(text, 2000), Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions},
	})
}

// refuse answers an invalid request ephemerally.
func (b *Bot) refuse(ctx context.Context, in *inbound, err error) {
	b.logRefusal(ctx, Platform+":"+in.user.ID, err)
	b.ephemeral(ctx, in, jobs.UserMessage(err))
}

func (b *Bot) editOriginal(ctx context.Context, in *inbound, text string) {
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := b.s.InteractionResponseEdit(in.i, &discordgo.WebhookEdit{Content: &text, AllowedMentions: noMentions}, discordgo.WithContext(ectx)); err != nil {
		b.log.WarnContext(ctx, "editing an interaction response failed", "interaction", in.i.ID, "err", redact(err))
	}
}

func (b *Bot) deleteOriginal(ctx context.Context, in *inbound) {
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.s.InteractionResponseDelete(in.i, discordgo.WithContext(ectx)); err != nil {
		b.log.WarnContext(ctx, "deleting an interaction response failed", "interaction", in.i.ID, "err", redact(err))
	}
}

// modal shows the "what should change?" modal.
func (b *Bot) modal(ctx context.Context, in *inbound, customID string) {
	b.respond(ctx, in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{
			CustomID: customID,
			Title:    "Edit image",
			Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
				discordgo.TextInput{CustomID: inputPrompt, Label: "What should change?", Style: discordgo.TextInputParagraph,
					Placeholder: "make it snowy --ar 16:9", Required: true, MaxLength: 1000},
			}}},
		},
	})
}

// editMessageCommand handles Apps → Edit image on a message.
func (b *Bot) editMessageCommand(ctx context.Context, in *inbound, d discordgo.ApplicationCommandInteractionData) {
	var m *discordgo.Message
	if d.Resolved != nil {
		m = d.Resolved.Messages[d.TargetID]
	}
	u := firstImage(m)
	if u == "" {
		b.ephemeral(ctx, in, "That message has no image to edit.")
		return
	}
	id := idMsgEdit + in.i.ChannelID + ":" + d.TargetID
	b.editURLs.Set(id, u, cache.DefaultExpiration)
	b.modal(ctx, in, id)
}

func (b *Bot) button(ctx context.Context, in *inbound, d discordgo.MessageComponentInteractionData) {
	switch id := d.CustomID; {
	case strings.HasPrefix(id, idReroll):
		b.reroll(ctx, in, strings.TrimPrefix(id, idReroll))
	case strings.HasPrefix(id, idEdit):
		b.modal(ctx, in, idEditModal+strings.TrimPrefix(id, idEdit))
	case strings.HasPrefix(id, idDelete):
		b.delete(ctx, in, strings.TrimPrefix(id, idDelete))
	default:
		b.ephemeral(ctx, in, "That button doesn't work any more.")
	}
}

// getJob reads a job within the acknowledgement budget.
func (b *Bot) getJob(ctx context.Context, id string) (*jobs.Job, error) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	return b.p.Get(gctx, id)
}

// reroll runs the same request again; a fixed seed becomes a new one
// (without one the vendor picks a new seed itself).
func (b *Bot) reroll(ctx context.Context, in *inbound, id string) {
	orig, err := b.getJob(ctx, id)
	if err != nil {
		b.refuse(ctx, in, err)
		return
	}
	req := orig.Request
	req.Images = slices.Clone(orig.Request.Images)
	req.CallbackURL = ""
	if orig.Request.Seed != nil {
		seed := rand.Int64N(1 << 31)
		req.Seed = &seed
	}
	b.start(ctx, in, &jobs.Job{Vendor: orig.Vendor, Request: req, Parent: orig.ID})
}

// delete removes a result; only its requester may.
func (b *Bot) delete(ctx context.Context, in *inbound, id string) {
	m := in.i.Message
	if m == nil {
		return
	}
	owner := ""
	if orig, err := b.getJob(ctx, id); err == nil {
		owner = strings.TrimPrefix(orig.User, Platform+":")
	} else if len(m.Mentions) > 0 {
		owner = m.Mentions[0].ID // the caption mentions the requester
	}
	if owner != in.user.ID {
		text := "Only the person who asked for this image can delete it."
		if owner != "" {
			text = "Only <@" + owner + "> can delete this image."
		}
		b.ephemeral(ctx, in, text)
		return
	}
	if !b.respond(ctx, in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}) {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.s.ChannelMessageDelete(m.ChannelID, m.ID, discordgo.WithContext(dctx)); err != nil {
		b.log.WarnContext(ctx, "deleting a result failed", "job", id, "err", redact(err))
		return
	}
	b.log.InfoContext(ctx, "result deleted by its requester", "job", id, "user", in.user.ID)
}

func (b *Bot) modalSubmit(ctx context.Context, in *inbound, d discordgo.ModalSubmitInteractionData) {
	text := modalValue(d, inputPrompt)
	switch id := d.CustomID; {
	case strings.HasPrefix(id, idEditModal):
		jobID := strings.TrimPrefix(id, idEditModal)
		orig, _ := b.getJob(ctx, jobID)
		u := firstImage(in.i.Message) // the result the Edit button was on
		if u == "" && orig != nil {
			u = orig.ResultURL
		}
		if u == "" {
			b.ephemeral(ctx, in, "I can't find that image any more. Reply to it and mention me, or use right-click → Apps → Edit image.")
			return
		}
		b.startEdit(ctx, in, text, u, orig)
	case strings.HasPrefix(id, idMsgEdit):
		u := ""
		if v, ok := b.editURLs.Get(id); ok {
			u, _ = v.(string)
		}
		if u == "" { // the modal outlived the cache (or a restart)
			ch, msg, _ := strings.Cut(strings.TrimPrefix(id, idMsgEdit), ":")
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			m, err := b.s.ChannelMessage(ch, msg, discordgo.WithContext(gctx))
			cancel()
			if err == nil {
				u = firstImage(m)
			}
		}
		if u == "" {
			b.ephemeral(ctx, in, "I can't read that message's image any more. Right-click it → Apps → Edit image again.")
			return
		}
		b.startEdit(ctx, in, text, u, nil)
	default:
		b.ephemeral(ctx, in, "That form doesn't work any more.")
	}
}

// startEdit starts an edit of the image at u with the instructions in
// text; parent, when known, lends its vendor, model and format.
func (b *Bot) startEdit(ctx context.Context, in *inbound, text, u string, parent *jobs.Job) {
	req, vendor, err := parsePrompt(text)
	if err != nil {
		b.refuse(ctx, in, err)
		return
	}
	j := &jobs.Job{Vendor: vendor}
	if parent != nil {
		j.Parent = parent.ID
		if vendor == "" {
			j.Vendor = parent.Vendor
		}
		if req.Model == "" {
			req.Model = parent.Request.Model
		}
		if req.Format == "" {
			req.Format = parent.Request.Format
		}
	}
	req.Images = []imaging.Image{{URL: u}}
	j.Request = req
	b.start(ctx, in, j)
}

func modalValue(d discordgo.ModalSubmitInteractionData, customID string) string {
	for _, c := range d.Components {
		row, ok := c.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, k := range row.Components {
			if t, ok := k.(*discordgo.TextInput); ok && t.CustomID == customID {
				return t.Value
			}
		}
	}
	return ""
}

// firstImage is the URL of a message's first image attachment.
func firstImage(m *discordgo.Message) string {
	if m == nil {
		return ""
	}
	for _, a := range m.Attachments {
		if isImage(a) {
			return a.URL
		}
	}
	return ""
}

func imageURLs(atts []*discordgo.MessageAttachment) []string {
	var out []string
	for _, a := range atts {
		if isImage(a) {
			out = append(out, a.URL)
		}
	}
	return out
}

// isImage reports whether an attachment is an image a vendor can edit:
// by content type, or by extension when Discord gave none.
func isImage(a *discordgo.MessageAttachment) bool {
	if a == nil || a.URL == "" {
		return false
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(a.ContentType, ";")[0]))
	switch ct {
	case "image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif":
		return true
	case "":
		switch strings.ToLower(path.Ext(a.Filename)) {
		case ".png", ".jpg", ".jpeg", ".webp", ".gif":
			return true
		}
	}
	return false
}

func displayName(u *discordgo.User) string {
	if u.GlobalName != "" {
		return u.GlobalName
	}
	return u.Username
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
