package discord_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/bots/discord"
	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/internal/fakediscord"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

func TestInviteURL(t *testing.T) {
	t.Parallel()
	// View Channels, Send Messages, Embed Links, Attach Files, Read
	// Message History, Send Messages in Threads.
	want := "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=274878024704"
	if got := discord.InviteURL("42"); got != want {
		t.Errorf("InviteURL = %s, want %s", got, want)
	}
	if discord.Permissions != 1<<10|1<<11|1<<14|1<<15|1<<16|1<<38 {
		t.Errorf("Permissions = %d", discord.Permissions)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	mgr := &jobs.Manager{}
	for _, cfg := range []discord.Config{{}, {Token: "x", APIURL: "ftp://proxy"}, {Token: "x", APIURL: "proxy.example.com"}} {
		if _, err := discord.New(cfg, mgr); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := discord.New(discord.Config{Token: "Bot x", APIURL: "https://proxy.example.com/discord"}, mgr); err != nil {
		t.Errorf("New: %v", err)
	}
}

func TestRegisterGlobal(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	if got, want := h.f.Intents(), fakediscord.IntentGuildMessages|fakediscord.IntentDirectMessages; got != want {
		t.Errorf("intents = %d, want %d (GUILD_MESSAGES|DIRECT_MESSAGES)", got, want)
	}
	regs := h.f.Registrations()
	if len(regs) != 1 || regs[0].GuildID != "" {
		t.Fatalf("registrations = %+v, want one global bulk overwrite", regs)
	}
	cmds := h.f.Commands("")
	if len(cmds) != 2 {
		t.Fatalf("commands = %+v", cmds)
	}
	im, edit := cmds[0], cmds[1]
	if im.Name != "imagine" || im.Type != 1 || im.Description != "Create or edit an image with Flux Kontext" {
		t.Errorf("imagine = %+v", im)
	}
	var names []string
	for _, o := range im.Options {
		names = append(names, o.Name)
	}
	if want := []string{"prompt", "image", "aspect", "model", "format", "seed"}; !slices.Equal(names, want) {
		t.Errorf("options = %v, want %v (no vendor option with one vendor)", names, want)
	}
	if o := im.Options[0]; !o.Required || o.Type != 3 {
		t.Errorf("prompt option = %+v", o)
	}
	if o := im.Options[1]; o.Type != 11 {
		t.Errorf("image option type = %d, want 11 (ATTACHMENT)", o.Type)
	}
	var aspects []any
	for _, c := range im.Options[2].Choices {
		aspects = append(aspects, c.Value)
	}
	if want := []any{"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"}; !slices.Equal(aspects, want) {
		t.Errorf("aspect choices = %v", aspects)
	}
	if o := im.Options[5]; o.Type != 4 {
		t.Errorf("seed option = %+v", o)
	}
	if edit.Name != "Edit image" || edit.Type != 3 || edit.Description != "" {
		t.Errorf("message command = %+v", edit)
	}
	for _, c := range cmds {
		if !slices.Equal(c.Contexts, []int{0, 1}) || c.DMPermission == nil || !*c.DMPermission {
			t.Errorf("%s: contexts %v dm_permission %v, want guilds and bot DMs", c.Name, c.Contexts, c.DMPermission)
		}
	}
	if !strings.Contains(h.logs.String(), discord.InviteURL(h.f.AppID)) {
		t.Errorf("the invite URL was not logged:\n%s", h.logs)
	}
	h.noRefusals()
}

func TestRegisterPerGuild(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	other := f.AddGuild("Other")
	noSeed := imagingtest.NewVendor("noseed")
	h := start(t, setup{f: f,
		vendors: []*imagingtest.Vendor{imagingtest.NewVendor("fake"), noSeed},
		cfg: func(c *discord.Config) {
			c.GuildIDs = []string{f.GuildID, other}
			c.VendorNames = map[string]string{"noseed": "No Seed Inc"}
		}})
	if cmds := h.f.Commands(""); len(cmds) != 0 {
		t.Errorf("global commands = %+v, want none", cmds)
	}
	for _, g := range []string{f.GuildID, other} {
		cmds := h.f.Commands(g)
		if len(cmds) != 2 || cmds[0].Name != "imagine" || cmds[1].Name != "Edit image" {
			t.Fatalf("guild %s commands = %+v", g, cmds)
		}
		last := cmds[0].Options[len(cmds[0].Options)-1]
		if last.Name != "vendor" || len(last.Choices) != 2 || last.Choices[1].Name != "No Seed Inc" || last.Choices[1].Value != "noseed" {
			t.Errorf("vendor option = %+v", last)
		}
	}
}

func TestImagine(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	alice := h.f.User
	it := h.imagine(alice, fakediscord.StringArg("prompt", "a lighthouse at dawn --ar 16:9 --seed 7"))
	r := h.response(it)
	if r.AckType != 5 || r.Ephemeral {
		t.Fatalf("ack = type %d ephemeral %v, want a public deferred response (5)", r.AckType, r.Ephemeral)
	}
	if r.AckLatency > fakediscord.AckDeadline {
		t.Errorf("ack latency %v", r.AckLatency)
	}
	m := h.result(it)
	if len(m.Attachments) != 1 || !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) {
		t.Fatalf("result attachments = %+v, want the vendor's image byte for byte", m.Attachments)
	}
	id := jobOf(t, m)
	if a := m.Attachments[0]; a.Filename != jobs.ShortID(id)+".png" || a.ContentType != "image/png" {
		t.Errorf("attachment = %s %s", a.Filename, a.ContentType)
	}
	var ids []string
	for _, b := range m.Buttons() {
		ids = append(ids, b.CustomID)
	}
	if want := []string{"fb:reroll:" + id, "fb:edit:" + id, "fb:delete:" + id}; !slices.Equal(ids, want) {
		t.Errorf("buttons = %v, want %v", ids, want)
	}
	for _, want := range []string{"**a lighthouse at dawn**", "<@" + alice.ID + ">", "Flux Kontext Pro", "fake", "seed 7", "$0.04"} {
		if !strings.Contains(m.Content, want) {
			t.Errorf("caption %q lacks %q", m.Content, want)
		}
	}
	if m.Loading() || !slices.Equal(m.Mentions, []string{alice.ID}) {
		t.Errorf("loading %v, mentions %v", m.Loading(), m.Mentions)
	}
	// The deferred response showed progress before the result.
	progressed := false
	for _, v := range m.Versions {
		if strings.Contains(v.Content, "Starting") || strings.Contains(v.Content, "Queued") || strings.Contains(v.Content, "Generating") {
			progressed = true
		}
	}
	if !progressed {
		t.Errorf("no progress edit in %+v", m.Versions)
	}
	reqs := h.submits(h.vendor, 1)
	if got := reqs[0]; got.Prompt != "a lighthouse at dawn" || got.AspectRatio != "16:9" || got.Seed == nil || *got.Seed != 7 || got.IsEdit() {
		t.Errorf("vendor request = %+v", got)
	}
	// The message is visible before the pipeline records the delivery.
	var j *jobs.Job
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if j, err = h.mgr.Get(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if j.State == jobs.Delivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j.User != "discord:"+alice.ID || j.Channel != "discord:"+h.f.ChannelID || j.DedupeKey != "discord:i:"+it.ID || j.State != jobs.Delivered {
		t.Errorf("job = %+v", j)
	}
	h.noRefusals()
	if logs := h.logs.String(); strings.Contains(logs, it.Token) || strings.Contains(logs, h.f.Token) {
		t.Errorf("a token was logged:\n%s", logs)
	}
}

func TestImagineAttachmentAndOptions(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	att := h.f.NewAttachment("cat.png", "", imagingtest.PNG(3))
	it := h.imagine(fakediscord.User{},
		fakediscord.StringArg("prompt", "give it a hat --ar 1:1 --model max"),
		fakediscord.AttachmentArg("image", att),
		fakediscord.StringArg("aspect", "3:4"),
		fakediscord.StringArg("format", "jpeg"))
	h.result(it)
	req := h.submits(h.vendor, 1)[0]
	if len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(att, h.f.ChannelID, true)) || len(req.Images[0].Data) != 0 {
		t.Fatalf("vendor images = %+v, want the attachment's CDN URL %s…", req.Images, h.cdnPrefix(att, h.f.ChannelID, true))
	}
	// The aspect option wins over the inline --ar; other flags apply.
	if req.Prompt != "give it a hat" || req.AspectRatio != "3:4" || req.Model != imaging.ModelMax || req.Format != imaging.FormatJPEG {
		t.Errorf("vendor request = %+v", req)
	}
	h.noRefusals()
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	noSeed := imagingtest.NewVendor("noseed")
	noSeed.Caps.Seed = false
	lim := ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour})
	h := start(t, setup{vendors: []*imagingtest.Vendor{imagingtest.NewVendor("fake"), noSeed}, limiter: lim})
	bob := h.f.AddUser("bob")
	refused := func(it *fakediscord.Interaction, want string) {
		t.Helper()
		r := h.response(it)
		m, _ := h.f.Message(r.OriginalID)
		if r.AckType != 4 || !r.Ephemeral || !strings.Contains(m.Content, want) {
			t.Errorf("response = type %d ephemeral %v %q, want an ephemeral message saying %q", r.AckType, r.Ephemeral, m.Content, want)
		}
	}

	// A vendor that cannot fix a seed.
	refused(h.imagine(bob, fakediscord.StringArg("prompt", "a fox"), fakediscord.StringArg("vendor", "noseed"), fakediscord.IntegerArg("seed", 42)),
		"doesn't support a fixed seed")
	// A typed image link.
	refused(h.imagine(bob, fakediscord.StringArg("prompt", "a fox --image https://example.com/a.png")), "Attach the image instead")
	// A bad inline flag.
	refused(h.imagine(bob, fakediscord.StringArg("prompt", "a fox --ar wide")), "isn't W:H")
	// The rate limit: the first is accepted, the second refused with when
	// to try again.
	first := h.imagine(bob, fakediscord.StringArg("prompt", "a fox"))
	if r := h.response(first); r.AckType != 5 {
		t.Fatalf("first /imagine ack = %d", r.AckType)
	}
	refused(h.imagine(bob, fakediscord.StringArg("prompt", "another fox")), "You can make 1 image every hour. Your next one is free in")
	h.result(first)
	if n := len(h.vendor.Submits()) + len(noSeed.Submits()); n != 1 {
		t.Errorf("vendor submits = %d, want 1", n)
	}
	h.noRefusals()
}

func TestDuplicateInteraction(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	it := h.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "a fox"))
	if err := h.f.DispatchInteraction(it); err != nil { // redelivered at once
		t.Fatal(err)
	}
	h.response(it)
	if err := h.f.DispatchInteraction(it); err != nil { // and again after the ack
		t.Fatal(err)
	}
	h.result(it)
	time.Sleep(100 * time.Millisecond) // give a wrong second job time to show
	if n := len(h.vendor.Submits()); n != 1 {
		t.Errorf("vendor submits = %d, want 1", n)
	}
	if n := h.f.Calls(fakediscord.RouteInteractionCallback); n != 1 {
		t.Errorf("callbacks = %d, want 1", n)
	}
	h.noRefusals()
}

// TestSlowSubmit: when admission stalls past 2 s the bot acknowledges
// first, so Discord's 3 s are kept.
func TestSlowSubmit(t *testing.T) {
	t.Parallel()
	var slow *slowPipeline
	h := start(t, setup{pipeline: func(p discord.Pipeline) discord.Pipeline {
		slow = &slowPipeline{Pipeline: p, delay: 3500 * time.Millisecond}
		return slow
	}})
	it := h.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "a slow fox"))
	if r := h.response(it); r.AckType != 5 || r.AckLatency > fakediscord.AckDeadline {
		t.Errorf("ack = %+v", r)
	}
	m := h.result(it)
	if !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) {
		t.Error("wrong result")
	}
	h.noRefusals()
}

func TestVendorFailure(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.Outcome = imagingtest.FailSafety
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}})
	it := h.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "something rude"))
	m := h.original(it, "the failure", func(m fakediscord.Message) bool { return strings.Contains(m.Content, "⚠️") })
	if !strings.Contains(m.Content, "safety filter refused") || m.Loading() || len(m.Buttons()) != 0 || len(m.Attachments) != 0 {
		t.Errorf("failure message = %+v", m)
	}
	h.noRefusals()
}

func TestBigResultIsReencoded(t *testing.T) {
	t.Parallel()
	const limit = 60 << 10
	v := imagingtest.NewVendor("fake")
	v.Image = noisyPNG(t, 256) // ~190 KiB
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}})
	h.f.SetUploadLimit(h.f.GuildID, limit)
	if len(v.Image) <= limit {
		t.Fatalf("test image is only %d bytes", len(v.Image))
	}
	it := h.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "static"))
	m := h.result(it)
	a := m.Attachments[0]
	if a.Size > limit || a.ContentType != "image/jpeg" || !strings.HasSuffix(a.Filename, ".jpg") {
		t.Fatalf("attachment = %s %s %d bytes, want a JPEG under %d", a.Filename, a.ContentType, a.Size, limit)
	}
	if _, err := jpeg.Decode(bytes.NewReader(a.Data)); err != nil {
		t.Errorf("attachment is not a JPEG: %v", err)
	}
	h.noRefusals()
}

// TestTokenExpiry: a job that outlives the interaction token (a long
// queue) is posted as a channel message that mentions the requester.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.PollsToFinish = -1 // until Finish
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}, progressEvery: time.Hour})
	alice := h.f.User
	it := h.imagine(alice, fakediscord.StringArg("prompt", "a slow sunrise"))
	h.original(it, "a progress edit", func(m fakediscord.Message) bool { return !m.Loading() && m.Content != "" })
	h.submits(v, 1)
	h.f.Advance(16 * time.Minute)
	v.Finish("fake-task-1")
	var posted fakediscord.Message
	waitFor(t, "the result in the channel", func() bool {
		for _, m := range h.f.Messages(h.f.ChannelID) {
			if m.InteractionID == "" && len(m.Attachments) > 0 {
				posted = m
				return true
			}
		}
		return false
	})
	if !bytes.Equal(posted.Attachments[0].Data, v.ResultImage()) || !strings.Contains(posted.Content, "<@"+alice.ID+">") ||
		!slices.Equal(posted.Mentions, []string{alice.ID}) || len(posted.Buttons()) != 3 || posted.ReferenceID != "" {
		t.Errorf("channel post = %+v", posted)
	}
	h.noRefusals()

	// A repeated delivery (after a crash) posts nothing twice: from the
	// saved note, or, with the note lost, by finding the post.
	id := jobOf(t, posted)
	waitFor(t, "the job to be delivered", func() bool {
		j, err := h.mgr.Get(t.Context(), id)
		return err == nil && j.State == jobs.Delivered
	})
	j, err := h.mgr.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	res := &imaging.Result{Image: v.ResultImage(), ContentType: "image/png", Vendor: "fake"}
	count := func() int { return len(h.f.Messages(h.f.ChannelID)) }
	before := count()
	j.Attempts = 2
	if err := h.bot.Deliver(t.Context(), j, res); err != nil {
		t.Fatal(err)
	}
	j.Delivery = nil
	if err := h.bot.Deliver(t.Context(), j, res); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != before {
		t.Errorf("a repeated delivery posted %d more messages", n-before)
	}
	h.noRefusals()
}

func TestMentions(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	bot := "<@" + h.f.BotUserID + ">"
	alice := h.f.User
	post := func(um fakediscord.UserMessage) fakediscord.Message {
		t.Helper()
		m, err := h.f.PostMessage(um)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// The bot's reply to a message: its status, then its result.
	replyTo := func(src fakediscord.Message) fakediscord.Message {
		t.Helper()
		m, err := h.f.WaitMessage(ctxTimeout(t), h.f.ChannelID, func(m fakediscord.Message) bool {
			return m.ReferenceID == src.ID && m.Author.ID == h.f.BotUserID
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	resultOf := func(reply fakediscord.Message) fakediscord.Message {
		t.Helper()
		var m fakediscord.Message
		waitFor(t, "the reply's result", func() bool {
			m, _ = h.f.Message(reply.ID)
			return len(m.Attachments) > 0
		})
		return m
	}

	t.Run("text to image", func(t *testing.T) {
		src := post(fakediscord.UserMessage{Content: bot + " a red fox --ar 16:9"})
		reply := replyTo(src)
		if !strings.Contains(reply.Content, "On it") && len(reply.Versions) > 0 && !strings.Contains(reply.Versions[0].Content, "On it") {
			t.Errorf("first reply = %q", reply.Content)
		}
		m := resultOf(reply)
		if !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) || len(m.Buttons()) != 3 {
			t.Errorf("result = %+v", m)
		}
		req := h.submits(h.vendor, 1)[0]
		if req.Prompt != "a red fox" || req.AspectRatio != "16:9" || req.IsEdit() {
			t.Errorf("vendor request = %+v", req)
		}
	})
	var first fakediscord.Message
	t.Run("attached image", func(t *testing.T) {
		att := h.f.NewAttachment("dog.png", "", imagingtest.PNG(4))
		src := post(fakediscord.UserMessage{Content: bot + " give it a hat", Attachments: []fakediscord.Attachment{att}})
		first = resultOf(replyTo(src))
		req := h.submits(h.vendor, 2)[1]
		if req.Prompt != "give it a hat" || len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(att, h.f.ChannelID, false)) {
			t.Errorf("vendor request = %+v", req)
		}
	})
	t.Run("reply to the bot's result", func(t *testing.T) {
		src := post(fakediscord.UserMessage{Content: bot + " make it snowy", ReplyTo: first.ID})
		resultOf(replyTo(src))
		req := h.submits(h.vendor, 3)[2]
		if req.Prompt != "make it snowy" || len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(first.Attachments[0], h.f.ChannelID, false)) {
			t.Errorf("vendor request = %+v, want the result %s edited", req, first.Attachments[0].ID)
		}
	})
	t.Run("reply to someone else's image without the intent", func(t *testing.T) {
		bob := h.f.AddUser("bob")
		att := h.f.NewAttachment("bob.png", "", imagingtest.PNG(5))
		theirs := post(fakediscord.UserMessage{Author: bob, Content: "look", Attachments: []fakediscord.Attachment{att}})
		src := post(fakediscord.UserMessage{Author: alice, Content: bot + " make it pink", ReplyTo: theirs.ID})
		reply := replyTo(src)
		if !strings.Contains(reply.Content, "Apps → Edit image") {
			t.Errorf("reply = %q", reply.Content)
		}
		if n := len(h.vendor.Submits()); n != 3 {
			t.Errorf("vendor submits = %d, want 3", n)
		}
	})
	t.Run("in a DM without a mention", func(t *testing.T) {
		dm := h.f.DMChannel(alice)
		src := post(fakediscord.UserMessage{ChannelID: dm, Content: "a blue whale"})
		waitFor(t, "the DM result", func() bool {
			for _, m := range h.f.Messages(dm) {
				if m.ReferenceID == src.ID && len(m.Attachments) > 0 {
					return true
				}
			}
			return false
		})
		if req := h.submits(h.vendor, 4)[3]; req.Prompt != "a blue whale" {
			t.Errorf("vendor request = %+v", req)
		}
	})
	t.Run("a repeated MESSAGE_CREATE", func(t *testing.T) {
		src := post(fakediscord.UserMessage{Content: bot + " an owl"})
		// Discord sends the same MESSAGE_CREATE again.
		again := map[string]any{
			"id": src.ID, "channel_id": src.ChannelID, "guild_id": src.GuildID, "type": 0, "content": src.Content,
			"author":    map[string]any{"id": alice.ID, "username": alice.Username},
			"mentions":  []any{map[string]any{"id": h.f.BotUserID, "username": h.f.BotUsername, "bot": true}},
			"timestamp": src.Created.Format(time.RFC3339Nano), "attachments": []any{}, "embeds": []any{},
		}
		if err := h.f.Dispatch("MESSAGE_CREATE", again); err != nil {
			t.Fatal(err)
		}
		resultOf(replyTo(src))
		time.Sleep(100 * time.Millisecond)
		if n := len(h.vendor.Submits()); n != 5 {
			t.Errorf("vendor submits = %d, want 5", n)
		}
		replies := 0
		for _, m := range h.f.Messages(h.f.ChannelID) {
			if m.ReferenceID == src.ID {
				replies++
			}
		}
		if replies != 1 {
			t.Errorf("%d replies to one message", replies)
		}
	})
	h.noRefusals()
}

func TestMentionWithMessageContent(t *testing.T) {
	t.Parallel()
	h := start(t, setup{
		fake: []fakediscord.Option{fakediscord.WithPrivilegedIntents(fakediscord.IntentMessageContent)},
		cfg:  func(c *discord.Config) { c.MessageContent = true },
	})
	if h.f.Intents()&fakediscord.IntentMessageContent == 0 {
		t.Errorf("intents = %d, want MESSAGE_CONTENT", h.f.Intents())
	}
	bob := h.f.AddUser("bob")
	att := h.f.NewAttachment("bob.png", "", imagingtest.PNG(5))
	theirs, err := h.f.PostMessage(fakediscord.UserMessage{Author: bob, Content: "look", Attachments: []fakediscord.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.f.PostMessage(fakediscord.UserMessage{Content: "<@" + h.f.BotUserID + "> make it pink", ReplyTo: theirs.ID}); err != nil {
		t.Fatal(err)
	}
	req := h.submits(h.vendor, 1)[0]
	if len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(att, h.f.ChannelID, false)) {
		t.Errorf("vendor request = %+v", req)
	}
}

func TestEditImageCommand(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	bob := h.f.AddUser("bob")
	att := h.f.NewAttachment("bob.png", "", imagingtest.PNG(6))
	theirs, err := h.f.PostMessage(fakediscord.UserMessage{Author: bob, Content: "my cat", Attachments: []fakediscord.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	it := h.dispatch(h.f.MessageCommand(fakediscord.MessageCommand{Name: "Edit image", TargetID: theirs.ID}))
	r := h.response(it)
	if r.AckType != 9 || r.Modal == nil || r.Modal.Title != "Edit image" || len(r.Modal.Inputs) != 1 || r.Modal.Inputs[0].Label != "What should change?" || !r.Modal.Inputs[0].Required {
		t.Fatalf("response = %+v", r)
	}
	sub := h.dispatch(h.f.SubmitModal(fakediscord.ModalSubmit{Interaction: it, Values: map[string]string{"prompt": "make it a tiger --ar 3:2"}}))
	if r := h.response(sub); r.AckType != 5 {
		t.Fatalf("modal submit ack = %d", r.AckType)
	}
	m := h.result(sub)
	req := h.submits(h.vendor, 1)[0]
	if req.Prompt != "make it a tiger" || req.AspectRatio != "3:2" || len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(att, h.f.ChannelID, false)) {
		t.Errorf("vendor request = %+v", req)
	}
	if !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) {
		t.Error("wrong result")
	}

	// A message without an image.
	plain, err := h.f.PostMessage(fakediscord.UserMessage{Author: bob, Content: "just text"})
	if err != nil {
		t.Fatal(err)
	}
	it = h.dispatch(h.f.MessageCommand(fakediscord.MessageCommand{Name: "Edit image", TargetID: plain.ID}))
	r = h.response(it)
	msg, _ := h.f.Message(r.OriginalID)
	if r.AckType != 4 || !r.Ephemeral || msg.Content != "That message has no image to edit." {
		t.Errorf("response = %+v %q", r, msg.Content)
	}
	h.noRefusals()
}

func TestButtons(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	alice, bob := h.f.User, h.f.AddUser("bob")
	it := h.imagine(alice, fakediscord.StringArg("prompt", "a castle --seed 5"))
	res := h.result(it)
	id := jobOf(t, res)
	click := func(user fakediscord.User, custom string) *fakediscord.Interaction {
		t.Helper()
		return h.dispatch(h.f.ClickButton(fakediscord.ButtonClick{MessageID: res.ID, CustomID: custom, User: user}))
	}

	t.Run("re-roll", func(t *testing.T) {
		c := click(bob, "fb:reroll:"+id)
		if r := h.response(c); r.AckType != 5 || r.Ephemeral {
			t.Fatalf("ack = %+v", r)
		}
		m := h.result(c)
		if m.ID == res.ID || !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) {
			t.Fatalf("re-roll result = %+v", m)
		}
		req := h.submits(h.vendor, 2)[1]
		if req.Prompt != "a castle" || req.Seed == nil || *req.Seed == 5 {
			t.Errorf("re-roll request = %+v, want the same prompt with a new seed", req)
		}
		j, err := h.mgr.Get(t.Context(), jobOf(t, m))
		if err != nil || j.Parent != id || j.User != "discord:"+bob.ID {
			t.Errorf("re-roll job = %+v, %v", j, err)
		}
	})
	t.Run("edit", func(t *testing.T) {
		c := click(alice, "fb:edit:"+id)
		r := h.response(c)
		if r.AckType != 9 || r.Modal == nil || r.Modal.CustomID != "fb:editmodal:"+id {
			t.Fatalf("ack = %+v", r)
		}
		sub := h.dispatch(h.f.SubmitModal(fakediscord.ModalSubmit{Interaction: c, Values: map[string]string{"prompt": "make it night"}}))
		m := h.result(sub)
		req := h.submits(h.vendor, 3)[2]
		if req.Prompt != "make it night" || len(req.Images) != 1 || !strings.HasPrefix(req.Images[0].URL, h.cdnPrefix(res.Attachments[0], h.f.ChannelID, false)) {
			t.Errorf("edit request = %+v", req)
		}
		if j, err := h.mgr.Get(t.Context(), jobOf(t, m)); err != nil || j.Parent != id {
			t.Errorf("edit job = %+v, %v", j, err)
		}
	})
	t.Run("delete by someone else", func(t *testing.T) {
		c := click(bob, "fb:delete:"+id)
		r := h.response(c)
		m, _ := h.f.Message(r.OriginalID)
		if r.AckType != 4 || !r.Ephemeral || m.Content != "Only <@"+alice.ID+"> can delete this image." {
			t.Errorf("response = %+v %q", r, m.Content)
		}
		if m, _ := h.f.Message(res.ID); m.Deleted {
			t.Error("the result was deleted")
		}
	})
	t.Run("delete by the requester", func(t *testing.T) {
		c := click(alice, "fb:delete:"+id)
		if r := h.response(c); r.AckType != 6 {
			t.Errorf("ack = %+v", r)
		}
		waitFor(t, "the deletion", func() bool { m, _ := h.f.Message(res.ID); return m.Deleted })
	})
	h.noRefusals()
}

// TestRestart: buttons work with a new bot and manager over the same
// store, and an event redelivered after the restart starts nothing.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	store, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	h1 := start(t, setup{f: f, store: store})
	it := h1.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "a windmill"))
	res := h1.result(it)
	id := jobOf(t, res)
	waitFor(t, "the job to finish", func() bool { j, err := store.Get(t.Context(), id); return err == nil && j.State.Finished() })
	h1.stop()
	store.Close()

	store2, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store2.Close() })
	h2 := start(t, setup{f: f, store: store2})
	// Discord redelivers the old /imagine: the store knows it.
	if err := f.DispatchInteraction(it); err != nil {
		t.Fatal(err)
	}
	c := h2.dispatch(f.ClickButton(fakediscord.ButtonClick{MessageID: res.ID, CustomID: "fb:reroll:" + id}))
	m := h2.result(c)
	if !bytes.Equal(m.Attachments[0].Data, h2.vendor.ResultImage()) {
		t.Error("wrong re-roll result")
	}
	if req := h2.submits(h2.vendor, 1)[0]; req.Prompt != "a windmill" {
		t.Errorf("re-roll request = %+v", req)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(h2.vendor.Submits()); n != 1 {
		t.Errorf("vendor submits after the restart = %d, want 1", n)
	}
	h2.noRefusals()
}

func TestDM(t *testing.T) {
	t.Parallel()
	h := start(t, setup{})
	dm := h.f.DMChannel(h.f.User)
	it := h.dispatch(h.f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", ChannelID: dm, Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "a moon")}}))
	m := h.result(it)
	if m.ChannelID != dm || !bytes.Equal(m.Attachments[0].Data, h.vendor.ResultImage()) {
		t.Errorf("result = %+v", m)
	}
	var j struct {
		Channel string `json:"channel"`
	}
	got, err := h.mgr.Get(t.Context(), jobOf(t, m))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	mustJSON(t, b, &j)
	if j.Channel != "discord:"+dm {
		t.Errorf("job channel = %s", j.Channel)
	}
	h.noRefusals()
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestQueuedProgress(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.Caps.Concurrency = 1
	v.PollsToFinish = -1
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}})
	first := h.imagine(fakediscord.User{}, fakediscord.StringArg("prompt", "first"))
	h.submits(v, 1)
	second := h.imagine(h.f.AddUser("bob"), fakediscord.StringArg("prompt", "second"))
	h.original(second, "the queue position", func(m fakediscord.Message) bool {
		return strings.Contains(m.Content, "⏳ Queued — you're #1 in line · 0:0")
	})
	v.Finish("fake-task-1")
	h.result(first)
	h.submits(v, 2)
	v.Finish("fake-task-2")
	h.result(second)
	h.noRefusals()
}

// TestTokenExpiryFailure: a failure after the token's end is posted to
// the channel, mentioning the requester.
func TestTokenExpiryFailure(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.PollsToFinish = -1
	v.Outcome = imagingtest.FailSafety
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}, progressEvery: time.Hour})
	alice := h.f.User
	it := h.imagine(alice, fakediscord.StringArg("prompt", "a slow storm"))
	h.original(it, "a progress edit", func(m fakediscord.Message) bool { return !m.Loading() && m.Content != "" })
	h.submits(v, 1)
	h.f.Advance(16 * time.Minute)
	v.Finish("fake-task-1")
	m, err := h.f.WaitMessage(ctxTimeout(t), h.f.ChannelID, func(m fakediscord.Message) bool {
		return m.InteractionID == "" && strings.Contains(m.Content, "safety filter")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Content, "<@"+alice.ID+">") || !slices.Equal(m.Mentions, []string{alice.ID}) || len(m.Buttons()) != 0 {
		t.Errorf("failure post = %+v", m)
	}
	h.noRefusals()
}

// TestBigResultForMention: a mention carries no upload limit; when Discord
// refuses the file as too large the bot shrinks it and tries again.
func TestBigResultForMention(t *testing.T) {
	t.Parallel()
	const limit = 60 << 10
	v := imagingtest.NewVendor("fake")
	v.Image = noisyPNG(t, 256)
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}, fake: []fakediscord.Option{fakediscord.WithQuiet()}})
	h.f.SetUploadLimit(h.f.GuildID, limit)
	src, err := h.f.PostMessage(fakediscord.UserMessage{Content: "<@" + h.f.BotUserID + "> static"})
	if err != nil {
		t.Fatal(err)
	}
	var m fakediscord.Message
	waitFor(t, "the result", func() bool {
		for _, x := range h.f.Messages(h.f.ChannelID) {
			if x.ReferenceID == src.ID && len(x.Attachments) > 0 {
				m = x
				return true
			}
		}
		return false
	})
	if a := m.Attachments[0]; a.Size > limit || a.ContentType != "image/jpeg" {
		t.Errorf("attachment = %s %s %d bytes", a.Filename, a.ContentType, a.Size)
	}
	for _, r := range h.f.Refusals() {
		if r.Code != 40005 {
			t.Errorf("fake refused %s %s -> %d %d", r.Method, r.Route, r.Status, r.Code)
		}
	}
}

// TestTokenExpiryNoChannelPermission: past the token's end, in a channel
// where the bot may not post, the result goes to the requester's DMs.
func TestTokenExpiryNoChannelPermission(t *testing.T) {
	t.Parallel()
	v := imagingtest.NewVendor("fake")
	v.PollsToFinish = -1
	h := start(t, setup{vendors: []*imagingtest.Vendor{v}, progressEvery: time.Hour, fake: []fakediscord.Option{fakediscord.WithQuiet()}})
	h.f.SetBotPermissions(h.f.ChannelID, fakediscord.PermViewChannel|fakediscord.PermUseApplicationCmds)
	alice := h.f.User
	it := h.imagine(alice, fakediscord.StringArg("prompt", "a hidden valley"))
	h.original(it, "a progress edit", func(m fakediscord.Message) bool { return !m.Loading() && m.Content != "" })
	h.submits(v, 1)
	h.f.Advance(16 * time.Minute)
	v.Finish("fake-task-1")
	m, err := h.f.WaitMessage(ctxTimeout(t), h.f.DMChannel(alice), func(m fakediscord.Message) bool { return len(m.Attachments) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Attachments[0].Data, v.ResultImage()) || len(m.Buttons()) != 3 {
		t.Errorf("DM = %+v", m)
	}
}
