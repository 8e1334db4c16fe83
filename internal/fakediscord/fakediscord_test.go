package fakediscord_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/fluxbot/fluxbot/internal/fakediscord"
)

func TestOpenReadyAndGuilds(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithHeartbeatInterval(100*time.Millisecond))
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	// The state later updates READY's guild structs in place, so copy what
	// the test checks inside the (synchronous) handler.
	type readyInfo struct {
		user, app, session string
		bot                bool
		guilds             []string
		unavailable        bool
	}
	ready := make(chan readyInfo, 1)
	s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		ri := readyInfo{user: r.User.ID, bot: r.User.Bot, app: r.Application.ID, session: r.SessionID, unavailable: true}
		for _, g := range r.Guilds {
			ri.guilds = append(ri.guilds, g.ID)
			ri.unavailable = ri.unavailable && g.Unavailable
		}
		ready <- ri
	})
	type guildInfo struct{ id, channel string }
	guilds := make(chan guildInfo, 1)
	s.AddHandler(func(_ *discordgo.Session, g *discordgo.GuildCreate) {
		gi := guildInfo{id: g.ID}
		if len(g.Channels) == 1 {
			gi.channel = g.Channels[0].ID
		}
		guilds <- gi
	})
	open(t, s)

	r := recv(t, ready)
	if r.user != f.BotUserID || !r.bot || r.app != f.AppID || r.session == "" {
		t.Errorf("READY = %+v", r)
	}
	if !slices.Equal(r.guilds, []string{f.GuildID}) || !r.unavailable {
		t.Errorf("READY guilds = %v (unavailable %v), want [%s] unavailable", r.guilds, r.unavailable, f.GuildID)
	}
	if g := recv(t, guilds); g.id != f.GuildID || g.channel != f.ChannelID {
		t.Errorf("GUILD_CREATE = %+v", g)
	}
	if got, want := f.Intents(), int64(discordgo.IntentsAllWithoutPrivileged); got != want {
		t.Errorf("Intents() = %d, want %d", got, want)
	}
	if err := f.WaitReady(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Heartbeats every 100 ms are ACKed, so the session stays up.
	if err := f.Wait(ctx(t), func() bool { return f.Gateway().Heartbeats >= 3 }); err != nil {
		t.Fatal(err)
	}
	if st := f.Gateway(); st.Identifies != 1 || st.Connections != 1 {
		t.Errorf("Gateway() = %+v", st)
	}
}

func TestPayloadCompression(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithPayloadCompression())
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	ready := collect[*discordgo.Ready](s)
	open(t, s)
	if r := recv(t, ready); r.User.ID != f.BotUserID {
		t.Errorf("READY user = %+v", r.User)
	}
}

func TestIdentifyRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    []fakediscord.Option
		token   string
		intents discordgo.Intent
		want    string
	}{
		// discordgo's first call is GET /gateway, which refuses the token.
		{name: "wrong token", token: "Bot nope", intents: discordgo.IntentsGuilds, want: "401"},
		{name: "message content off in portal", intents: discordgo.IntentsGuilds | discordgo.IntentMessageContent, want: "4014"},
		{name: "unknown intent bit", intents: 1 << 30, want: "4013"},
		{name: "message content on in portal", opts: []fakediscord.Option{fakediscord.WithPrivilegedIntents(fakediscord.IntentMessageContent)},
			intents: discordgo.IntentsGuilds | discordgo.IntentMessageContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fakediscord.New(t, append(tc.opts, fakediscord.WithQuiet())...)
			s := newSession(t, f, tc.intents)
			if tc.token != "" {
				s.Token = tc.token
			}
			err := s.Open()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open() = %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return
			}
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("Open() = %v, want close %s", err, tc.want)
			}
		})
	}
}

func TestBulkOverwrite(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, 0)
	got, err := s.ApplicationCommandBulkOverwrite(f.AppID, "", imagineCommands())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID == "" || got[0].Name != "imagine" || got[1].Type != discordgo.MessageApplicationCommand {
		t.Fatalf("overwrite returned %+v", got)
	}
	again, err := s.ApplicationCommandBulkOverwrite(f.AppID, "", imagineCommands())
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID != got[0].ID {
		t.Errorf("re-registering changed the id: %s -> %s", got[0].ID, again[0].ID)
	}
	if cmds := f.Commands(""); len(cmds) != 2 || len(cmds[0].Options) != 3 || !cmds[0].Options[0].Required {
		t.Errorf("Commands() = %+v", cmds)
	}
	if n := len(f.Registrations()); n != 2 {
		t.Errorf("Registrations() = %d, want 2", n)
	}
	guildCmds, err := s.ApplicationCommandBulkOverwrite(f.AppID, f.GuildID, imagineCommands()[:1])
	if err != nil || len(guildCmds) != 1 || guildCmds[0].GuildID != f.GuildID {
		t.Fatalf("guild overwrite = %+v, %v", guildCmds, err)
	}

	opt := func(o discordgo.ApplicationCommandOption) []*discordgo.ApplicationCommand {
		return []*discordgo.ApplicationCommand{{Name: "x", Description: "d", Options: []*discordgo.ApplicationCommandOption{&o}}}
	}
	for _, tc := range []struct {
		name            string
		app, guild      string
		cmds            []*discordgo.ApplicationCommand
		status, code    int
		wantInErrorBody string
	}{
		{name: "uppercase name", cmds: []*discordgo.ApplicationCommand{{Name: "Imagine", Description: "d"}},
			status: 400, code: 50035, wantInErrorBody: "APPLICATION_COMMAND_INVALID_NAME"},
		{name: "space in chat input name", cmds: []*discordgo.ApplicationCommand{{Name: "make image", Description: "d"}},
			status: 400, code: 50035, wantInErrorBody: "APPLICATION_COMMAND_INVALID_NAME"},
		{name: "missing description", cmds: []*discordgo.ApplicationCommand{{Name: "imagine"}},
			status: 400, code: 50035, wantInErrorBody: "BASE_TYPE_BAD_LENGTH"},
		{name: "description on message command", cmds: []*discordgo.ApplicationCommand{{Name: "Edit", Type: 3, Description: "no"}},
			status: 400, code: 50035, wantInErrorBody: `"description"`},
		{name: "required after optional", cmds: []*discordgo.ApplicationCommand{{Name: "x", Description: "d", Options: []*discordgo.ApplicationCommandOption{
			{Type: 3, Name: "a", Description: "a"}, {Type: 3, Name: "b", Description: "b", Required: true}}}},
			status: 400, code: 50035, wantInErrorBody: "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"},
		{name: "26 choices", cmds: opt(discordgo.ApplicationCommandOption{Type: 3, Name: "c", Description: "c", Choices: func() []*discordgo.ApplicationCommandOptionChoice {
			var cs []*discordgo.ApplicationCommandOptionChoice
			for i := range 26 {
				cs = append(cs, &discordgo.ApplicationCommandOptionChoice{Name: string(rune('a' + i)), Value: string(rune('a' + i))})
			}
			return cs
		}()}), status: 400, code: 50035, wantInErrorBody: "BASE_TYPE_MAX_LENGTH"},
		{name: "option type 12", cmds: opt(discordgo.ApplicationCommandOption{Type: 12, Name: "o", Description: "o"}),
			status: 400, code: 50035, wantInErrorBody: "BASE_TYPE_CHOICES"},
		{name: "duplicate names", cmds: []*discordgo.ApplicationCommand{{Name: "a", Description: "d"}, {Name: "a", Description: "d"}},
			status: 400, code: 50035, wantInErrorBody: "APPLICATION_COMMANDS_DUPLICATE_NAME"},
		{name: "unknown guild", guild: "123456789012345678", cmds: imagineCommands(), status: 404, code: 10004},
		{name: "other application", app: "123456789012345678", cmds: imagineCommands(), status: 403, code: 50001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := f.AppID
			if tc.app != "" {
				app = tc.app
			}
			_, err := s.ApplicationCommandBulkOverwrite(app, tc.guild, tc.cmds)
			re := restErr(t, err, tc.status, tc.code)
			if !contains(string(re.ResponseBody), tc.wantInErrorBody) {
				t.Errorf("body %s lacks %s", re.ResponseBody, tc.wantInErrorBody)
			}
		})
	}
	if cmds := f.Commands(""); len(cmds) != 2 {
		t.Errorf("refused overwrites changed the commands: %+v", cmds)
	}
}

// TestImagineDeferEditWithFile is the bot's main flow: /imagine with an
// attachment, an ephemeral defer, a multipart edit of @original, a followup.
func TestImagineDeferEditWithFile(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t)
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	interactions := collect[*discordgo.InteractionCreate](s)
	open(t, s)
	register(t, f, s)

	in := pngBytes(t, 64, 48)
	att := f.NewAttachment("cat.png", "", in)
	it, err := f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{
		fakediscord.StringArg("prompt", "a cat in a hat"), fakediscord.AttachmentArg("image", att), fakediscord.IntegerArg("steps", 20),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DispatchInteraction(it); err != nil {
		t.Fatal(err)
	}
	ic := recv(t, interactions)
	data := ic.ApplicationCommandData()
	if ic.ID != it.ID || data.Name != "imagine" || ic.Member == nil || ic.Member.User.ID != f.User.ID || ic.GuildID != f.GuildID {
		t.Fatalf("interaction = %+v data %+v", ic.Interaction, data)
	}
	if got := data.Options[0].StringValue(); got != "a cat in a hat" {
		t.Errorf("prompt = %q", got)
	}
	if got := data.Options[2].IntValue(); got != 20 {
		t.Errorf("steps = %d", got)
	}
	ra := data.Resolved.Attachments[data.Options[1].Value.(string)]
	if ra == nil || ra.Width != 64 || ra.Height != 48 || ra.ContentType != "image/png" || !ra.Ephemeral {
		t.Fatalf("resolved attachment = %+v", ra)
	}
	if code, got := download(t, ra.URL); code != http.StatusOK || !bytes.Equal(got, in) {
		t.Errorf("download %s = %d, %d bytes", ra.URL, code, len(got))
	}

	if err := s.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral},
	}); err != nil {
		t.Fatalf("defer: %v", err)
	}
	if got, _ := s.InteractionResponse(ic.Interaction); got == nil || got.Flags&discordgo.MessageFlagsLoading == 0 {
		t.Errorf("@original after defer = %+v, want loading", got)
	}
	if _, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("Generating… 50%")}); err != nil {
		t.Fatalf("progress edit: %v", err)
	}
	out := pngBytes(t, 128, 96)
	msg, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{
		Content: ptr("Done"),
		Files:   []*discordgo.File{{Name: "out.png", ContentType: "image/png", Reader: bytes.NewReader(out)}},
	})
	if err != nil {
		t.Fatalf("final edit: %v", err)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].Width != 128 || msg.Flags&discordgo.MessageFlagsLoading != 0 {
		t.Fatalf("edited message = %+v", msg)
	}
	if code, got := download(t, msg.Attachments[0].URL); code != http.StatusOK || !bytes.Equal(got, out) {
		t.Errorf("download result = %d, %d bytes", code, len(got))
	}

	r, _ := f.Response(it.ID)
	if !r.Acked || r.AckType != 5 || !r.Ephemeral || r.OriginalID != msg.ID || r.AckLatency <= 0 || f.AckLatency(it.ID) != r.AckLatency {
		t.Errorf("Response = %+v", r)
	}
	m, ok := f.Message(msg.ID)
	if !ok || m.Content != "Done" || !m.Ephemeral() || m.Loading() || m.EphemeralFor != f.User.ID ||
		len(m.Attachments) != 1 || !bytes.Equal(m.Attachments[0].Data, out) || m.Type != 20 || m.InteractionID != it.ID {
		t.Errorf("recorded message = %+v", m)
	}
	if len(m.Versions) < 2 || int64(m.Versions[0].Flags)&int64(discordgo.MessageFlagsLoading) == 0 || m.Versions[1].Content != "Generating… 50%" {
		t.Errorf("versions = %+v", m.Versions)
	}

	// Files without an attachments array are appended; with one, only the
	// listed attachments stay (webhook.mdx "Edit Webhook Message").
	appended, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{
		Files: []*discordgo.File{{Name: "v2.png", ContentType: "image/png", Reader: bytes.NewReader(in)}},
	})
	if err != nil || len(appended.Attachments) != 2 || appended.Content != "Done" {
		t.Fatalf("append edit = %+v, %v", appended, err)
	}
	kept, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{
		Attachments: &[]*discordgo.MessageAttachment{{ID: appended.Attachments[1].ID}},
	})
	if err != nil || len(kept.Attachments) != 1 || kept.Attachments[0].Filename != "v2.png" {
		t.Fatalf("keep edit = %+v, %v", kept, err)
	}
	if code, _ := download(t, msg.Attachments[0].URL); code != http.StatusNotFound {
		t.Errorf("removed attachment still served: %d", code)
	}

	fu, err := s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "Want another?"})
	if err != nil || fu.ID == msg.ID {
		t.Fatalf("followup = %+v, %v", fu, err)
	}
	if r, _ := f.Response(it.ID); !slices.Equal(r.FollowupIDs, []string{fu.ID}) {
		t.Errorf("FollowupIDs = %v", r.FollowupIDs)
	}
	if err := s.FollowupMessageDelete(ic.Interaction, fu.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.Message(fu.ID); !m.Deleted {
		t.Errorf("followup not deleted: %+v", m)
	}
}

func TestInteractionTiming(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	interactions := collect[*discordgo.InteractionCreate](s)
	open(t, s)
	register(t, f, s)
	next := func(t *testing.T) *discordgo.InteractionCreate {
		t.Helper()
		it, err := f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.DispatchInteraction(it); err != nil {
			t.Fatal(err)
		}
		return recv(t, interactions)
	}
	deferred := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}

	t.Run("late ack", func(t *testing.T) {
		ic := next(t)
		f.Advance(fakediscord.AckDeadline + time.Millisecond)
		restErr(t, s.InteractionRespond(ic.Interaction, deferred), 404, 10062)
		_, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("x")})
		restErr(t, err, 401, 50027)
		if r, _ := f.Response(ic.ID); r.Acked {
			t.Errorf("late ack recorded: %+v", r)
		}
	})
	t.Run("double ack", func(t *testing.T) {
		ic := next(t)
		if err := s.InteractionRespond(ic.Interaction, deferred); err != nil {
			t.Fatal(err)
		}
		restErr(t, s.InteractionRespond(ic.Interaction, deferred), 400, 40060)
	})
	t.Run("edit before ack", func(t *testing.T) {
		ic := next(t)
		_, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("x")})
		restErr(t, err, 404, 10015)
	})
	t.Run("token expires after 15 minutes", func(t *testing.T) {
		ic := next(t)
		if err := s.InteractionRespond(ic.Interaction, deferred); err != nil {
			t.Fatal(err)
		}
		f.Advance(14 * time.Minute)
		if _, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("still here")}); err != nil {
			t.Fatalf("edit at 14 min: %v", err)
		}
		f.Advance(time.Minute + time.Millisecond)
		_, err := s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("too late")})
		restErr(t, err, 401, 50027)
		_, err = s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "too late"})
		restErr(t, err, 401, 50027)
	})
	t.Run("invalid callbacks", func(t *testing.T) {
		ic := next(t)
		long := make([]byte, 2001)
		for i := range long {
			long[i] = 'a'
		}
		for _, tc := range []struct {
			name string
			resp *discordgo.InteractionResponse
			code int
		}{
			{"content over 2000", &discordgo.InteractionResponse{Type: 4, Data: &discordgo.InteractionResponseData{Content: string(long)}}, 50035},
			{"empty message", &discordgo.InteractionResponse{Type: 4, Data: &discordgo.InteractionResponseData{}}, 50006},
			{"defer with SUPPRESS_EMBEDS", &discordgo.InteractionResponse{Type: 5, Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsSuppressEmbeds}}, 50035},
			{"update for a slash command", &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}, 50035},
			{"modal without title", &discordgo.InteractionResponse{Type: 9, Data: &discordgo.InteractionResponseData{CustomID: "m",
				Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
					discordgo.TextInput{CustomID: "t", Label: "T", Style: discordgo.TextInputShort}}}}}}, 50035},
		} {
			t.Run(tc.name, func(t *testing.T) {
				restErr(t, s.InteractionRespond(ic.Interaction, tc.resp), 400, tc.code)
			})
		}
		// None of the refusals acknowledged it.
		if err := s.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{Type: 4,
			Data: &discordgo.InteractionResponseData{Content: "Sorry, busy", Flags: discordgo.MessageFlagsEphemeral}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("followup right after defer edits the loading message", func(t *testing.T) {
		ic := next(t)
		if err := s.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{Type: 5,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}); err != nil {
			t.Fatal(err)
		}
		fu, err := s.FollowupMessageCreate(ic.Interaction, true, &discordgo.WebhookParams{Content: "done"})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := f.Response(ic.ID)
		if fu.ID != r.OriginalID || len(r.FollowupIDs) != 0 || fu.Flags&discordgo.MessageFlagsEphemeral == 0 || fu.Flags&discordgo.MessageFlagsLoading != 0 {
			t.Errorf("followup = %+v, response %+v", fu, r)
		}
	})
	t.Run("with_response", func(t *testing.T) {
		ic := next(t)
		body, err := s.RequestWithBucketID(http.MethodPost, discordgo.EndpointInteractionResponse(ic.ID, ic.Token)+"?with_response=true",
			&discordgo.InteractionResponse{Type: 4, Data: &discordgo.InteractionResponseData{Content: "hi"}}, "cb")
		if err != nil || !contains(string(body), `"response_message_id"`) || !contains(string(body), `"content":"hi"`) {
			t.Errorf("with_response body = %s, %v", body, err)
		}
	})
	t.Run("duplicate delivery", func(t *testing.T) {
		ic := next(t)
		if err := f.DuplicateLastDispatch(); err != nil {
			t.Fatal(err)
		}
		dup := recv(t, interactions)
		if dup.ID != ic.ID || dup.Token != ic.Token {
			t.Fatalf("duplicate = %s, want %s", dup.ID, ic.ID)
		}
		if err := s.InteractionRespond(ic.Interaction, deferred); err != nil {
			t.Fatal(err)
		}
		restErr(t, s.InteractionRespond(dup.Interaction, deferred), 400, 40060)
	})
}

func TestModalAndButtons(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	interactions := collect[*discordgo.InteractionCreate](s)
	open(t, s)
	register(t, f, s)

	it, err := f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DispatchInteraction(it); err != nil {
		t.Fatal(err)
	}
	ic := recv(t, interactions)
	if err := s.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: "refine", Title: "Refine the prompt",
			Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
				discordgo.TextInput{CustomID: "prompt", Label: "Prompt", Style: discordgo.TextInputParagraph, Required: true, MaxLength: 500},
			}}}},
	}); err != nil {
		t.Fatalf("modal: %v", err)
	}
	r, _ := f.Response(it.ID)
	if r.Modal == nil || r.Modal.Title != "Refine the prompt" || len(r.Modal.Inputs) != 1 || !r.Modal.Inputs[0].Required {
		t.Fatalf("Modal = %+v", r.Modal)
	}
	if _, err := f.SubmitModal(fakediscord.ModalSubmit{Interaction: it}); !errors.Is(err, fakediscord.ErrNotPossible) {
		t.Errorf("submitting an empty required input: %v", err)
	}
	sub, err := f.SubmitModal(fakediscord.ModalSubmit{Interaction: it, Values: map[string]string{"prompt": "a dog"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DispatchInteraction(sub); err != nil {
		t.Fatal(err)
	}
	mc := recv(t, interactions)
	md := mc.ModalSubmitData()
	if md.CustomID != "refine" {
		t.Errorf("modal custom_id = %q", md.CustomID)
	}
	if v := md.Components[0].(*discordgo.ActionsRow).Components[0].(*discordgo.TextInput).Value; v != "a dog" {
		t.Errorf("text input value = %q", v)
	}
	restErr(t, s.InteractionRespond(mc.Interaction, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{CustomID: "again", Title: "Again", Components: []discordgo.MessageComponent{
			discordgo.ActionsRow{Components: []discordgo.MessageComponent{discordgo.TextInput{CustomID: "x", Label: "X", Style: 1}}}}}}), 400, 50035)
	if err := s.InteractionRespond(mc.Interaction, &discordgo.InteractionResponse{Type: 4,
		Data: &discordgo.InteractionResponseData{Content: "Queued", Flags: discordgo.MessageFlagsEphemeral}}); err != nil {
		t.Fatal(err)
	}

	// A message with buttons, clicked and updated in place.
	posted, err := s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{
		Content: "Result",
		Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Upscale", CustomID: "upscale:1", Style: discordgo.PrimaryButton},
			discordgo.Button{Label: "Vary", CustomID: "vary:1", Style: discordgo.SecondaryButton, Disabled: true},
			discordgo.Button{Label: "Docs", URL: "https://example.com", Style: discordgo.LinkButton},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.Message(posted.ID)
	if b := m.Buttons(); len(b) != 3 || b[0].CustomID != "upscale:1" || !b[1].Disabled {
		t.Fatalf("Buttons() = %+v", b)
	}
	for _, id := range []string{"nope", "vary:1"} {
		if _, err := f.ClickButton(fakediscord.ButtonClick{MessageID: posted.ID, CustomID: id}); !errors.Is(err, fakediscord.ErrNotPossible) {
			t.Errorf("click %q: %v, want ErrNotPossible", id, err)
		}
	}
	click, err := f.ClickButton(fakediscord.ButtonClick{MessageID: posted.ID, CustomID: "upscale:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DispatchInteraction(click); err != nil {
		t.Fatal(err)
	}
	bc := recv(t, interactions)
	if bc.MessageComponentData().CustomID != "upscale:1" || bc.Message == nil || bc.Message.ID != posted.ID {
		t.Fatalf("component interaction = %+v", bc.Interaction)
	}
	if err := s.InteractionRespond(bc.Interaction, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{Content: "Upscaling…", Components: []discordgo.MessageComponent{}}}); err != nil {
		t.Fatal(err)
	}
	m, _ = f.Message(posted.ID)
	if m.Content != "Upscaling…" || len(m.Buttons()) != 0 || len(m.Versions) != 1 || m.Edited.IsZero() {
		t.Errorf("updated message = %+v", m)
	}
}

// TestMessageCommandReplyAndContent covers the reply/context-menu flows, the
// MESSAGE_CONTENT blanking and the channel REST rules.
func TestMessageCommandReplyAndContent(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	interactions := collect[*discordgo.InteractionCreate](s)
	messages := collect[*discordgo.MessageCreate](s)
	open(t, s)
	register(t, f, s)

	img := pngBytes(t, 10, 10)
	plain, err := f.PostMessage(fakediscord.UserMessage{Content: "look at this", Attachments: []fakediscord.Attachment{f.NewAttachment("a.png", "", img)}})
	if err != nil {
		t.Fatal(err)
	}
	if mc := recv(t, messages); mc.ID != plain.ID || mc.Content != "" || len(mc.Attachments) != 0 {
		t.Errorf("without MESSAGE_CONTENT the bot saw %q with %d attachments", mc.Content, len(mc.Attachments))
	}
	mention, err := f.PostMessage(fakediscord.UserMessage{Content: "<@" + f.BotUserID + "> make it blue", ReplyTo: plain.ID})
	if err != nil {
		t.Fatal(err)
	}
	mc := recv(t, messages)
	if mc.Content != mention.Content || mc.Type != discordgo.MessageTypeReply || mc.ReferencedMessage == nil ||
		mc.ReferencedMessage.ID != plain.ID || len(mc.Mentions) != 1 || mc.Mentions[0].ID != f.BotUserID {
		t.Errorf("mention reply = %+v", mc.Message)
	}
	// The referenced message itself does not mention the bot: blank for an
	// app without the portal switch, over REST too.
	if mc.ReferencedMessage != nil && (mc.ReferencedMessage.Content != "" || len(mc.ReferencedMessage.Attachments) != 0) {
		t.Errorf("referenced_message not blanked: %+v", mc.ReferencedMessage)
	}
	fetched, err := s.ChannelMessage(f.ChannelID, plain.ID)
	if err != nil || fetched.Content != "" || len(fetched.Attachments) != 0 {
		t.Errorf("GET message = %+v, %v; want blank content", fetched, err)
	}
	_, err = s.ChannelMessage(f.ChannelID, "123456789012345678")
	restErr(t, err, 404, 10008)

	// "Edit image" on the plain message: context-menu targets are exempt.
	it, err := f.MessageCommand(fakediscord.MessageCommand{Name: "Edit image", TargetID: plain.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DispatchInteraction(it); err != nil {
		t.Fatal(err)
	}
	ic := recv(t, interactions)
	data := ic.ApplicationCommandData()
	target := data.Resolved.Messages[data.TargetID]
	if data.TargetID != plain.ID || target == nil || len(target.Attachments) != 1 || target.Content != "look at this" {
		t.Fatalf("message command data = %+v target %+v", data, target)
	}
	if code, got := download(t, target.Attachments[0].URL); code != 200 || !bytes.Equal(got, img) {
		t.Errorf("download target = %d", code)
	}
	if err := s.InteractionRespond(ic.Interaction, &discordgo.InteractionResponse{Type: 5}); err != nil {
		t.Fatal(err)
	}
	recv(t, messages) // the non-ephemeral "thinking" message is a MESSAGE_CREATE too

	// After 15 minutes the bot falls back to a channel reply with the file.
	f.Advance(16 * time.Minute)
	_, err = s.InteractionResponseEdit(ic.Interaction, &discordgo.WebhookEdit{Content: ptr("late")})
	restErr(t, err, 401, 50027)
	out := pngBytes(t, 20, 20)
	reply, err := s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{
		Content:   "Here is your edit",
		Reference: &discordgo.MessageReference{MessageID: plain.ID},
		Files:     []*discordgo.File{{Name: "edit.png", ContentType: "image/png", Reader: bytes.NewReader(out)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Type != discordgo.MessageTypeReply || reply.MessageReference == nil || reply.ReferencedMessage == nil || len(reply.Attachments) != 1 {
		t.Errorf("reply = %+v", reply)
	}
	rec, _ := f.Message(reply.ID)
	if rec.ReferenceID != plain.ID || !bytes.Equal(rec.Attachments[0].Data, out) || !slices.Contains(rec.Mentions, f.User.ID) {
		t.Errorf("recorded reply = %+v", rec)
	}
	if own := recv(t, messages); own.ID != reply.ID || own.Author.ID != f.BotUserID || own.Content == "" {
		t.Errorf("bot's own MESSAGE_CREATE = %+v", own.Message)
	}

	_, err = s.ChannelMessageSendReply(f.ChannelID, "x", &discordgo.MessageReference{MessageID: "123456789012345678"})
	re := restErr(t, err, 400, 50035)
	if !contains(string(re.ResponseBody), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE") {
		t.Errorf("body = %s", re.ResponseBody)
	}
	if _, err := s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{Content: "x",
		Reference: &discordgo.MessageReference{MessageID: "123456789012345678", FailIfNotExists: ptr(false)}}); err != nil {
		t.Errorf("fail_if_not_exists false: %v", err)
	}
	_, err = s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{})
	restErr(t, err, 400, 50006)
	_, err = s.ChannelMessageSend("123456789012345678", "x")
	restErr(t, err, 404, 10003)
	_, err = s.ChannelMessageEdit(f.ChannelID, plain.ID, "hijack")
	restErr(t, err, 403, 50005)
	restErr(t, s.ChannelMessageDelete(f.ChannelID, plain.ID), 403, 50013)
	if err := s.ChannelMessageDelete(f.ChannelID, reply.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.Message(reply.ID); !m.Deleted {
		t.Error("reply not marked deleted")
	}
	_, err = s.ChannelMessage(f.ChannelID, reply.ID)
	restErr(t, err, 404, 10008)
}

func TestMessageIntents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		opts        []fakediscord.Option
		intents     discordgo.Intent
		wantContent bool
		wantGuild   bool
	}{
		{name: "no message content", intents: discordgo.IntentsAllWithoutPrivileged, wantGuild: true},
		{name: "message content", opts: []fakediscord.Option{fakediscord.WithPrivilegedIntents(fakediscord.IntentMessageContent)},
			intents: discordgo.IntentsAllWithoutPrivileged | discordgo.IntentMessageContent, wantContent: true, wantGuild: true},
		{name: "DMs only", intents: discordgo.IntentsDirectMessages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fakediscord.New(t, tc.opts...)
			s := newSession(t, f, tc.intents)
			messages := collect[*discordgo.MessageCreate](s)
			open(t, s)
			if _, err := f.PostMessage(fakediscord.UserMessage{Content: "guild hello"}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.PostMessage(fakediscord.UserMessage{ChannelID: f.DMChannel(f.User), Content: "dm hello"}); err != nil {
				t.Fatal(err)
			}
			first := recv(t, messages)
			if !tc.wantGuild {
				if first.GuildID != "" || first.Content != "dm hello" {
					t.Fatalf("without GUILD_MESSAGES got %+v", first.Message)
				}
				return
			}
			if got := first.Content == "guild hello"; got != tc.wantContent || first.GuildID != f.GuildID {
				t.Errorf("guild message content = %q, want visible=%v", first.Content, tc.wantContent)
			}
			if dm := recv(t, messages); dm.Content != "dm hello" || dm.GuildID != "" {
				t.Errorf("DM = %+v (DM content is always visible)", dm.Message)
			}
		})
	}
}

func TestRateLimitIsRetried(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, 0)
	limited := collect[*discordgo.RateLimit](s)
	f.InjectRateLimit(fakediscord.RateLimit{Route: fakediscord.RouteCreateMessage, RetryAfter: 150 * time.Millisecond})
	start := time.Now()
	m, err := s.ChannelMessageSend(f.ChannelID, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if rl := recv(t, limited); rl.RetryAfter != 150*time.Millisecond {
		t.Errorf("RateLimit event = %+v", rl.TooManyRequests)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("retried after %v, before retry_after", el)
	}
	if n := f.Calls(fakediscord.RouteCreateMessage); n != 2 {
		t.Errorf("Calls = %d, want 2 (429 + retry)", n)
	}
	if msgs := f.Messages(f.ChannelID); len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestResumeAfterDrop(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t)
	s := newSession(t, f, discordgo.IntentsAllWithoutPrivileged)
	messages := collect[*discordgo.MessageCreate](s)
	resumed := collect[*discordgo.Resumed](s)
	ready := collect[*discordgo.Ready](s)
	open(t, s)
	recv(t, ready)

	f.DropConnection()
	// Sent while the bot is away: replayed on RESUME.
	missed, err := f.PostMessage(fakediscord.UserMessage{Content: "<@" + f.BotUserID + "> while you were out"})
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(t, messages); got.ID != missed.ID || got.Content != missed.Content {
		t.Errorf("replayed = %+v", got.Message)
	}
	recv(t, resumed)
	if st := f.Gateway(); st.Identifies != 1 || st.Resumes != 1 {
		t.Errorf("Gateway() = %+v, want 1 identify, 1 resume", st)
	}
	after, _ := f.PostMessage(fakediscord.UserMessage{Content: "<@" + f.BotUserID + "> back?"})
	if got := recv(t, messages); got.ID != after.ID {
		t.Errorf("after resume got %s", got.ID)
	}

	// An invalidated session makes discordgo identify again.
	f.InvalidateSessions()
	recv(t, ready)
	if st := f.Gateway(); st.Identifies != 2 {
		t.Errorf("Identifies = %d, want 2", st.Identifies)
	}
	// Op 7 RECONNECT: discordgo closes with 1012 and resumes.
	f.RequestReconnect()
	recv(t, resumed)
	if st := f.Gateway(); st.Resumes != 2 {
		t.Errorf("Resumes = %d, want 2", st.Resumes)
	}
	none(t, ready, 50*time.Millisecond)
}

func TestAttachmentURLsExpire(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet(), fakediscord.WithFrozenClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	data := []byte("GIF89a....")
	m, err := f.PostMessage(fakediscord.UserMessage{Content: "gif", Attachments: []fakediscord.Attachment{f.NewAttachment("x.gif", "", data)}})
	if err != nil {
		t.Fatal(err)
	}
	u := f.AttachmentURL(m.Attachments[0].ID)
	if code, got := download(t, u); code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("fresh URL = %d", code)
	}
	forged, _ := url.Parse(u)
	q := forged.Query()
	q.Set("hm", strings.Repeat("0", 64))
	forged.RawQuery = q.Encode()
	if code, _ := download(t, forged.String()); code != 404 {
		t.Errorf("forged signature = %d, want 404", code)
	}
	f.Advance(24*time.Hour + time.Second)
	if code, _ := download(t, u); code != 404 {
		t.Errorf("expired URL = %d, want 404", code)
	}
	if code, _ := download(t, f.AttachmentURL(m.Attachments[0].ID)); code != 200 {
		t.Errorf("re-signed URL = %d, want 200", code)
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	f.SetUploadLimit(f.GuildID, 1000)
	s := newSession(t, f, 0)
	big := make([]byte, 1001)
	_, err := s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{Files: []*discordgo.File{{Name: "big.bin", Reader: bytes.NewReader(big)}}})
	restErr(t, err, 413, 40005)
	var files []*discordgo.File
	for range 11 {
		files = append(files, &discordgo.File{Name: "f.txt", Reader: bytes.NewReader([]byte("x"))})
	}
	_, err = s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{Files: files})
	restErr(t, err, 400, 50035)
	if _, err := s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{Files: files[:10]}); err != nil {
		t.Errorf("10 files: %v", err)
	}
	f.SetBotPermissions(f.ChannelID, fakediscord.DefaultBotPermissions&^fakediscord.PermAttachFiles)
	_, err = s.ChannelMessageSendComplex(f.ChannelID, &discordgo.MessageSend{Files: files[:1]})
	restErr(t, err, 403, 50013)
	f.SetBotPermissions(f.ChannelID, 0)
	_, err = s.ChannelMessageSend(f.ChannelID, "x")
	restErr(t, err, 403, 50001)
}

func TestUserActionsRefused(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, 0)
	register(t, f, s)
	att := f.NewAttachment("a.png", "", pngBytes(t, 2, 2))
	if _, err := f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{
		fakediscord.StringArg("prompt", "p"), fakediscord.AttachmentArg("image", att)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  fakediscord.SlashCommand
	}{
		{"unregistered", fakediscord.SlashCommand{Name: "nope"}},
		{"missing required", fakediscord.SlashCommand{Name: "imagine"}},
		{"wrong type", fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.IntegerArg("prompt", 1)}}},
		{"unknown option", fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p"), fakediscord.StringArg("style", "x")}}},
		{"below min_value", fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p"), fakediscord.IntegerArg("steps", 0)}}},
		{"attachment reused", fakediscord.SlashCommand{Name: "imagine", Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p"), fakediscord.AttachmentArg("image", att)}}},
		{"message command as slash", fakediscord.SlashCommand{Name: "Edit image"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.SlashCommand(tc.cmd); !errors.Is(err, fakediscord.ErrNotPossible) {
				t.Errorf("SlashCommand(%+v) = %v, want ErrNotPossible", tc.cmd, err)
			}
		})
	}
	if _, err := f.MessageCommand(fakediscord.MessageCommand{Name: "Edit image", TargetID: "123"}); !errors.Is(err, fakediscord.ErrNotPossible) {
		t.Errorf("message command on a missing message: %v", err)
	}
	if _, err := f.PostMessage(fakediscord.UserMessage{}); !errors.Is(err, fakediscord.ErrNotPossible) {
		t.Errorf("empty message: %v", err)
	}
	// Global commands work in the bot's DMs; the payload carries user, not
	// member.
	dm, err := f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", ChannelID: f.DMChannel(f.User),
		Args: []fakediscord.Arg{fakediscord.StringArg("prompt", "p")}})
	if err != nil {
		t.Fatal(err)
	}
	var in discordgo.Interaction
	if err := in.UnmarshalJSON(dm.Payload); err != nil || in.User == nil || in.Member != nil || in.GuildID != "" {
		t.Errorf("DM interaction = %+v, %v", in, err)
	}
	if err := f.DispatchInteraction(dm); !errors.Is(err, fakediscord.ErrNoSession) {
		t.Errorf("dispatch without a gateway session = %v, want ErrNoSession", err)
	}
}

func TestAuthAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := fakediscord.New(t, fakediscord.WithQuiet())
	s := newSession(t, f, 0)
	s.Token = "Bot wrong"
	_, err := s.User("@me")
	restErr(t, err, 401, 0)
	s.Token = "Bot " + f.Token
	if u, err := s.User("@me"); err != nil || u.ID != f.BotUserID || !u.Bot {
		t.Errorf("GET /users/@me = %+v, %v", u, err)
	}
	_, err = s.Request(http.MethodGet, discordgo.EndpointAPI+"nowhere", nil)
	restErr(t, err, 404, 0)
	dm, err := s.UserChannelCreate(f.User.ID)
	if err != nil || dm.ID != f.DMChannel(f.User) || dm.Type != discordgo.ChannelTypeDM {
		t.Errorf("create DM = %+v, %v", dm, err)
	}
	if ch, err := s.Channel(f.ChannelID); err != nil || ch.GuildID != f.GuildID || ch.Type != discordgo.ChannelTypeGuildText {
		t.Errorf("GET channel = %+v, %v", ch, err)
	}
	if n := len(f.Refusals()); n != 2 {
		t.Errorf("Refusals() = %d, want 2", n)
	}
}
