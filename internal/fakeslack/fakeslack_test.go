package fakeslack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/fluxbot/fluxbot/internal/fakeslack"
)

func newAPI(f *fakeslack.Server) *slack.Client {
	return slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.AppToken()))
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// socketClient runs a real socketmode client against f until the test ends and
// forwards its events.
func socketClient(t *testing.T, f *fakeslack.Server, pingInterval time.Duration) (*socketmode.Client, <-chan socketmode.Event) {
	t.Helper()
	client := socketmode.New(newAPI(f), socketmode.OptionPingInterval(pingInterval))
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan socketmode.Event, 100)
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-client.Events:
				select {
				case events <- ev:
				default:
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return client, events
}

// nextEvent returns the next event of type typ, skipping others.
func nextEvent(t *testing.T, events <-chan socketmode.Event, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 5s", typ)
		}
	}
}

func TestSocketModeStaysConnectedAndAcksCommand(t *testing.T) {
	f := fakeslack.New(t, fakeslack.WithPingInterval(50*time.Millisecond))
	const clientPing = 200 * time.Millisecond
	client, events := socketClient(t, f, clientPing)

	nextEvent(t, events, socketmode.EventTypeHello)
	time.Sleep(4 * clientPing) // slack-go drops a connection that is not pinged within clientPing
	if got := f.ConnectCount(); got != 1 {
		t.Fatalf("ConnectCount() = %d after %v, want 1 (server pings keep the connection)", got, 4*clientPing)
	}

	cmd := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "a red fox")
	env, err := f.Deliver(ctxTimeout(t, 5*time.Second), cmd)
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, socketmode.EventTypeSlashCommand)
	sc := ev.Data.(slack.SlashCommand)
	if sc.Command != "/imagine" || sc.Text != "a red fox" || sc.ResponseURL != cmd.ResponseURL || sc.TriggerID != cmd.TriggerID {
		t.Errorf("slash command = %+v", sc)
	}
	if err := client.Ack(*ev.Request, map[string]any{"text": "Queued: a red fox"}); err != nil {
		t.Fatal(err)
	}
	ack, err := env.WaitAck(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Late || ack.Payload == nil {
		t.Errorf("ack = %+v", ack)
	}
	eph, err := f.WaitForEphemeral(ctxTimeout(t, 2*time.Second), fakeslack.General, fakeslack.Alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eph.Text != "Queued: a red fox" || eph.Via != "ack" {
		t.Errorf("ephemeral = %+v", eph)
	}

	// A disconnect request makes slack-go reconnect through apps.connections.open.
	f.Disconnect("refresh_requested")
	if err := f.Await(ctxTimeout(t, 5*time.Second), func() bool { return f.ConnectCount() == 2 }); err != nil {
		t.Fatal(err)
	}
	// Without server pings slack-go declares the connection dead and reconnects.
	f.SetPinging(false)
	if err := f.Await(ctxTimeout(t, 5*time.Second), func() bool { return f.ConnectCount() >= 3 }); err != nil {
		t.Fatal(err)
	}
	f.SetPinging(true)
	if got := f.CallCount("apps.connections.open"); got < 3 {
		t.Errorf("apps.connections.open calls = %d, want >= 3", got)
	}
}

func TestSocketModeEventsAndInteractionsDecode(t *testing.T) {
	f := fakeslack.New(t, fakeslack.WithPingInterval(100*time.Millisecond))
	api := newAPI(f)
	client, events := socketClient(t, f, time.Second)
	ctx := ctxTimeout(t, 10*time.Second)

	// app_mention in a thread with an image: the parent is the user's upload.
	png := tinyPNG(t)
	parent := f.PostAsUser(fakeslack.UserPost{Channel: fakeslack.General, User: fakeslack.Alice, Text: "look",
		Files: []fakeslack.UserFile{{Name: "cat.png", Data: png}}})
	mention := f.AppMention(fakeslack.UserPost{Channel: fakeslack.General, User: fakeslack.Alice, ThreadTS: parent.TS, Text: "make it blue"})
	if _, err := f.Deliver(ctx, mention); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, socketmode.EventTypeEventsAPI)
	client.Ack(*ev.Request)
	am, ok := ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok {
		t.Fatalf("inner event = %T", ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data)
	}
	if am.ThreadTimeStamp != parent.TS || !strings.HasPrefix(am.Text, "<@"+fakeslack.BotUserID+">") {
		t.Errorf("app_mention = %+v", am)
	}
	// The bot finds the image in the thread parent and downloads it.
	msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: am.Channel, Timestamp: am.ThreadTimeStamp})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || len(msgs[0].Files) != 1 || msgs[0].Files[0].OriginalW != 2 {
		t.Fatalf("replies = %+v", msgs)
	}
	var buf bytes.Buffer
	if err := api.GetFile(msgs[0].Files[0].URLPrivateDownload, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), png) {
		t.Error("downloaded bytes differ")
	}

	// message event with a file.
	me := f.MessageEvent(fakeslack.UserPost{Channel: fakeslack.AliceDM, User: fakeslack.Alice, Text: "edit this",
		Files: []fakeslack.UserFile{{Name: "dog.png", Data: png}}})
	if _, err := f.Deliver(ctx, me); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, socketmode.EventTypeEventsAPI)
	client.Ack(*ev.Request)
	msg := ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent)
	if msg.ChannelType != "im" || msg.Message == nil || len(msg.Message.Files) != 1 || !msg.Message.Upload {
		t.Errorf("message event = %+v", msg)
	}

	// A button on a bot message, then the message shortcut.
	_, ts, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("done", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("acts", slack.NewButtonBlockElement("upscale", "job-1", slack.NewTextBlockObject(slack.PlainTextType, "Upscale", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deliver(ctx, f.ClickButton(fakeslack.General, ts, fakeslack.Bob, "upscale")); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, socketmode.EventTypeInteractive)
	client.Ack(*ev.Request)
	cb := ev.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || cb.ActionCallback.BlockActions[0].Value != "job-1" || cb.Container.MessageTs != ts || cb.User.ID != fakeslack.Bob {
		t.Errorf("block_actions = %+v", cb)
	}

	sc := f.MessageShortcut(fakeslack.General, parent.TS, fakeslack.Bob, "edit_image")
	if _, err := f.Deliver(ctx, sc); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, socketmode.EventTypeInteractive)
	client.Ack(*ev.Request)
	cb = ev.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeMessageAction || cb.CallbackID != "edit_image" || len(cb.Message.Files) != 1 || cb.TriggerID == "" {
		t.Errorf("message_action = %+v", cb)
	}

	// The shortcut's trigger opens a modal; submitting it echoes private_metadata.
	_, err = api.OpenView(cb.TriggerID, editModal("F1|"+parent.TS))
	if err != nil {
		t.Fatal(err)
	}
	v := f.Views()[0]
	sub := f.SubmitView(v.ID, map[string]string{"prompt": "make it blue"})
	env, err := f.Deliver(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, socketmode.EventTypeInteractive)
	cb = ev.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.PrivateMetadata != "F1|"+parent.TS ||
		cb.View.State.Values["prompt_block"]["prompt"].Value != "make it blue" {
		t.Errorf("view_submission = %+v", cb.View)
	}
	client.Ack(*ev.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"prompt_block": "too vague"}))
	if _, err := env.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	if v := f.Views()[0]; !v.Open || v.Errors["prompt_block"] != "too vague" {
		t.Errorf("view after errors response = %+v", v)
	}
}

func editModal(meta string) slack.ModalViewRequest {
	input := slack.NewInputBlock("prompt_block", slack.NewTextBlockObject(slack.PlainTextType, "Prompt", false, false), nil,
		slack.NewPlainTextInputBlockElement(nil, "prompt"))
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: "edit_image", PrivateMetadata: meta,
		Title:  slack.NewTextBlockObject(slack.PlainTextType, "Edit image", false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Edit", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{input}},
	}
}

func TestRedeliveryOfUnackedEvent(t *testing.T) {
	f := fakeslack.New(t, fakeslack.WithPingInterval(100*time.Millisecond), fakeslack.WithRedelivery(150*time.Millisecond, 2))
	client, events := socketClient(t, f, time.Second)
	ev := f.AppMention(fakeslack.UserPost{Channel: fakeslack.General, User: fakeslack.Bob, Text: "hi"})
	env, err := f.Deliver(ctxTimeout(t, 5*time.Second), ev)
	if err != nil {
		t.Fatal(err)
	}
	first := nextEvent(t, events, socketmode.EventTypeEventsAPI) // not acked
	second := nextEvent(t, events, socketmode.EventTypeEventsAPI)
	if first.Request.RetryAttempt != 0 || second.Request.RetryAttempt != 1 || second.Request.RetryReason != "timeout" ||
		second.Request.EnvelopeID != env.ID {
		t.Fatalf("deliveries = %+v, %+v", first.Request, second.Request)
	}
	client.Ack(*second.Request)
	ack, err := env.WaitAck(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Attempt != 1 {
		t.Errorf("ack.Attempt = %d, want 1", ack.Attempt)
	}
}

func TestUploadFileIntoThread(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	ctx := ctxTimeout(t, 5*time.Second)
	_, parentTS, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("Generating...", false))
	if err != nil {
		t.Fatal(err)
	}
	data := tinyPNG(t)
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename: "result.png", Reader: bytes.NewReader(data), FileSize: len(data), Title: "Result",
		Channel: fakeslack.General, ThreadTimestamp: parentTS, InitialComment: "Here you go",
	})
	if err != nil {
		t.Fatal(err)
	}
	thread := f.Thread(fakeslack.General, parentTS)
	if len(thread) != 2 {
		t.Fatalf("thread = %+v", thread)
	}
	reply := thread[1]
	if !reply.FromBot() || reply.Text != "Here you go" || len(reply.Files) != 1 || reply.Files[0].ID != sum.ID ||
		!bytes.Equal(reply.Files[0].Data, data) || reply.Files[0].Mimetype != "image/png" || reply.Files[0].Title != "Result" {
		t.Errorf("reply = %+v", reply)
	}
	info, _, _, err := api.GetFileInfo(sum.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != len(data) || info.Channels[0] != fakeslack.General || info.Shares.Public[fakeslack.General][0].Ts != reply.TS {
		t.Errorf("files.info = %+v", info)
	}
	// The uploaded image can be shown with a slack_file image block; unknown files cannot.
	for _, tc := range []struct {
		id, wantErr string
	}{{sum.ID, ""}, {"F0NOSUCH", "invalid_blocks"}} {
		_, _, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("result", false), slack.MsgOptionBlocks(
			slack.NewImageBlockSlackFile(&slack.SlackFileObject{ID: tc.id}, "result", "", nil)))
		if got := errString(err); got != tc.wantErr {
			t.Errorf("image block with slack_file %s: err = %q, want %q", tc.id, got, tc.wantErr)
		}
	}
	// Channel-level history shows only the parent, with reply metadata.
	h, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: fakeslack.General})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 2 || h.Messages[1].ReplyCount != 1 {
		t.Errorf("history = %+v", h.Messages)
	}

	// Completing an unknown file, or uploading the wrong number of bytes, fails.
	if _, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: "FNOPE"}}}); err == nil || !strings.Contains(err.Error(), "file_not_found") {
		t.Errorf("complete unknown file: err = %v", err)
	}
	u, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "x.txt", FileSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: u.UploadURL, Content: "short", Filename: "x.txt"}); err == nil {
		t.Error("upload of 5 bytes declared as 10: no error")
	}
	resp, err := http.Post(u.UploadURL, "application/octet-stream", strings.NewReader("0123456789")) // raw body, docs' curl form
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK - 10" {
		t.Errorf("raw upload: %d %q", resp.StatusCode, body)
	}
	// Not in the channel: not_in_channel.
	_, err = api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: u.FileID}}, Channel: fakeslack.Random})
	if err == nil || err.Error() != "not_in_channel" {
		t.Errorf("complete into Random: err = %v", err)
	}
}

func TestGetFileNeedsTheBotToken(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	file := f.UploadUserFile(fakeslack.General, fakeslack.Alice, "in.png", tinyPNG(t))

	var buf bytes.Buffer
	if err := api.GetFile(file.URLPrivate, &buf); err != nil || !bytes.Equal(buf.Bytes(), file.Data) {
		t.Fatalf("GetFile with the bot token: err = %v, %d bytes", err, buf.Len())
	}
	other := slack.New("xoxb-wrong", slack.OptionAPIURL(f.APIURL()))
	err := other.GetFile(file.URLPrivate, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sign-in page") {
		t.Errorf("GetFile with a wrong token: err = %v", err)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(file.URLPrivate)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "redir=") {
		t.Errorf("anonymous GET: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A file shared only where the bot is not a member is not readable either.
	hidden := f.UploadUserFile(fakeslack.Random, fakeslack.Bob, "secret.png", tinyPNG(t))
	if err := api.GetFile(hidden.URLPrivate, io.Discard); err == nil {
		t.Error("GetFile of a file outside the bot's channels: no error")
	}
}

var tsRE = regexp.MustCompile(`^\d{10}\.\d{6}$`)

func TestChatMethods(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	ctx := ctxTimeout(t, 5*time.Second)

	if _, err := api.AuthTestContext(ctx); err != nil {
		t.Fatal(err)
	}
	btn := slack.NewButtonBlockElement("vary", "v1", slack.NewTextBlockObject(slack.PlainTextType, "Vary", false, false))
	_, ts, err := api.PostMessageContext(ctx, fakeslack.General, slack.MsgOptionText("image ready", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("", btn)))
	if err != nil {
		t.Fatal(err)
	}
	_, ts2, _ := api.PostMessageContext(ctx, fakeslack.General, slack.MsgOptionText("second", false))
	if !tsRE.MatchString(ts) || ts2 <= ts {
		t.Errorf("ts = %q then %q, want unique increasing <unix>.<6 digits>", ts, ts2)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, fakeslack.General, ts, slack.MsgOptionText("image ready (upscaled)", false)); err != nil {
		t.Fatal(err)
	}
	m, _ := f.Message(fakeslack.General, ts)
	if m.Text != "image ready (upscaled)" || len(m.Edits) != 1 || m.Edits[0].Text != "image ready" || len(m.Buttons()) != 1 {
		t.Errorf("updated message = %+v", m)
	}
	mts, err := api.PostEphemeralContext(ctx, fakeslack.General, fakeslack.Bob, slack.MsgOptionText("only you", false))
	if err != nil || !tsRE.MatchString(mts) {
		t.Fatalf("PostEphemeral = %q, %v", mts, err)
	}
	if e := f.Ephemerals(fakeslack.General, fakeslack.Bob); len(e) != 1 || e[0].Text != "only you" {
		t.Errorf("ephemerals = %+v", e)
	}
	user := f.PostAsUser(fakeslack.UserPost{Channel: fakeslack.General, User: fakeslack.Alice, Text: "hello"})
	if _, _, err := api.DeleteMessageContext(ctx, fakeslack.General, ts2); err != nil {
		t.Fatal(err)
	}
	longText := strings.Repeat("x", 76)

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"post to unknown channel", func() error { _, _, err := api.PostMessage("C404", slack.MsgOptionText("x", false)); return err }, "channel_not_found"},
		{"post where the bot is not", func() error {
			_, _, err := api.PostMessage(fakeslack.Random, slack.MsgOptionText("x", false))
			return err
		}, "not_in_channel"},
		{"post nothing", func() error { _, _, err := api.PostMessage(fakeslack.General); return err }, "no_text"},
		{"button text too long", func() error {
			b := slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.PlainTextType, longText, false, false))
			_, _, err := api.PostMessage(fakeslack.General, slack.MsgOptionBlocks(slack.NewActionBlock("", b)))
			return err
		}, "invalid_blocks"},
		{"mrkdwn button text", func() error {
			b := slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.MarkdownType, "*x*", false, false))
			_, _, err := api.PostMessage(fakeslack.General, slack.MsgOptionBlocks(slack.NewActionBlock("", b)))
			return err
		}, "invalid_blocks"},
		{"ephemeral to non-member", func() error {
			_, err := api.PostEphemeral(fakeslack.AliceDM, fakeslack.Bob, slack.MsgOptionText("x", false))
			return err
		}, "user_not_in_channel"},
		{"update a user's message", func() error {
			_, _, _, err := api.UpdateMessage(fakeslack.General, user.TS, slack.MsgOptionText("x", false))
			return err
		}, "cant_update_message"},
		{"update unknown", func() error {
			_, _, _, err := api.UpdateMessage(fakeslack.General, "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update deleted", func() error {
			_, _, _, err := api.UpdateMessage(fakeslack.General, ts2, slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"delete a user's message", func() error { _, _, err := api.DeleteMessage(fakeslack.General, user.TS); return err }, "cant_delete_message"},
		{"replies of unknown thread", func() error {
			_, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: fakeslack.General, Timestamp: "1.000002"})
			return err
		}, "thread_not_found"},
		{"history where the bot is not", func() error {
			_, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: fakeslack.Random})
			return err
		}, "not_in_channel"},
		{"bot token for apps.connections.open", func() error {
			_, _, err := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.BotToken())).StartSocketModeContext(ctx)
			return err
		}, "not_allowed_token_type"},
		{"wrong token", func() error { _, err := slack.New("xoxb-nope", slack.OptionAPIURL(f.APIURL())).AuthTest(); return err }, "invalid_auth"},
		{"unimplemented method", func() error {
			_, err := api.GetPermalink(&slack.PermalinkParameters{Channel: fakeslack.General, Ts: ts})
			return err
		}, "unknown_method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
	if got := f.Calls("chat.update"); len(got) != 4 || got[0].Args.Get("ts") != ts || got[0].Error != "" || got[1].Error != "cant_update_message" {
		t.Errorf("chat.update calls = %+v", got)
	}
	if w := f.Warnings(); len(w) != 2 || !strings.Contains(w[0], "keeps its blocks") || !strings.Contains(w[1], "chat.getPermalink") {
		t.Errorf("warnings = %q", w)
	}
}

func TestThreadTSRules(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	_, parent, _ := api.PostMessage(fakeslack.General, slack.MsgOptionText("parent", false))
	_, reply, _ := api.PostMessage(fakeslack.General, slack.MsgOptionText("reply", false), slack.MsgOptionTS(parent))
	_, viaReply, _ := api.PostMessage(fakeslack.General, slack.MsgOptionText("reply to reply", false), slack.MsgOptionTS(reply))
	_, lost, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("lost", false), slack.MsgOptionTS("1500000000.000100"))
	if err != nil {
		t.Fatal(err)
	}
	if th := f.Thread(fakeslack.General, parent); len(th) != 3 || th[2].TS != viaReply {
		t.Errorf("thread = %+v", th)
	}
	if m, _ := f.Message(fakeslack.General, lost); !m.Orphaned {
		t.Errorf("message with unknown thread_ts = %+v, want Orphaned", m)
	}
	if got := len(f.Warnings()); got != 2 {
		t.Errorf("warnings = %q, want 2", f.Warnings())
	}
}

func TestViewsOpenTriggers(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	cmd := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "")

	resp, err := api.OpenView(cmd.TriggerID, editModal("meta"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.View.ID == "" || resp.View.CallbackID != "edit_image" || resp.View.PrivateMetadata != "meta" {
		t.Errorf("view = %+v", resp.View)
	}
	if v := f.Views(); len(v) != 1 || v[0].User != fakeslack.Alice || !v[0].Open || v[0].Title != "Edit image" {
		t.Errorf("Views() = %+v", v)
	}
	expired := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "")
	f.Advance(fakeslack.TriggerTTL + time.Second)
	tooLong := editModal("m")
	tooLong.Title = slack.NewTextBlockObject(slack.PlainTextType, "A title longer than 24 chars", false, false)
	fresh := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "")
	for _, tc := range []struct {
		name, trigger string
		view          slack.ModalViewRequest
		want          string
	}{
		{"reused", cmd.TriggerID, editModal("m"), "exchanged_trigger_id"},
		{"expired", expired.TriggerID, editModal("m"), "expired_trigger_id"},
		{"made up", "123.456.abc", editModal("m"), "invalid_trigger_id"},
		{"title too long", fresh.TriggerID, tooLong, "invalid_arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.OpenView(tc.trigger, tc.view)
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestResponseURL(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	cmd := f.SlashCommand(fakeslack.Random, fakeslack.Bob, "/imagine", "a cat") // bot not in Random: response_url still works
	for i := range fakeslack.ResponseURLUses {
		_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral),
			slack.MsgOptionText("progress "+string(rune('1'+i)), false))
		if err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("6th", false))
	var sce slack.StatusCodeError
	if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
		t.Errorf("6th use: err = %v, want 404", err)
	}
	if e := f.Ephemerals(fakeslack.Random, fakeslack.Bob); len(e) != 5 || e[4].Text != "progress 5" || e[0].Via != "response_url" {
		t.Errorf("ephemerals = %+v", e)
	}

	// Buttons: replace_original edits the message the button was on; the URL expires.
	_, ts, _ := api.PostMessage(fakeslack.General, slack.MsgOptionText("pick", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("", slack.NewButtonBlockElement("u1", "1", slack.NewTextBlockObject(slack.PlainTextType, "U1", false, false)))))
	click := f.ClickButton(fakeslack.General, ts, fakeslack.Alice, "u1")
	if _, _, err := api.PostMessage("", slack.MsgOptionReplaceOriginal(click.ResponseURL), slack.MsgOptionText("Upscaling...", false)); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.Message(fakeslack.General, ts); m.Text != "Upscaling..." || len(m.Edits) != 1 {
		t.Errorf("replaced message = %+v", m)
	}
	// An ephemeral message with a button: delete_original removes it.
	if _, err := api.PostEphemeral(fakeslack.General, fakeslack.Alice, slack.MsgOptionText("Cancel?", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("", slack.NewButtonBlockElement("cancel", "job-9", slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))))); err != nil {
		t.Fatal(err)
	}
	eph := f.Ephemerals(fakeslack.General, fakeslack.Alice)[0]
	ec := f.ClickEphemeralButton(eph, "cancel")
	if _, _, err := api.PostMessage("", slack.MsgOptionDeleteOriginal(ec.ResponseURL)); err != nil {
		t.Fatal(err)
	}
	if e := f.Ephemerals(fakeslack.General, fakeslack.Alice)[0]; !e.Deleted {
		t.Errorf("ephemeral after delete_original = %+v", e)
	}

	f.Advance(fakeslack.ResponseURLTTL + time.Minute)
	_, _, err = api.PostMessage("", slack.MsgOptionResponseURL(click.ResponseURL, slack.ResponseTypeInChannel), slack.MsgOptionText("late", false))
	if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
		t.Errorf("expired response_url: err = %v, want 404", err)
	}
	if p := f.ResponsePosts(); len(p) != 9 || p[8].Reply != "expired_url" || p[5].Reply != "used_url" {
		t.Errorf("response posts = %+v", p)
	}
}

func TestRateLimitedPost(t *testing.T) {
	f := fakeslack.New(t)
	api := newAPI(f)
	f.RateLimit("chat.postMessage", 1, 2*time.Second)
	_, _, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("x", false))
	rl, ok := errors.AsType[*slack.RateLimitedError](err)
	if !ok || rl.RetryAfter != 2*time.Second {
		t.Fatalf("err = %v, want *slack.RateLimitedError with 2s", err)
	}
	if _, _, err := api.PostMessage(fakeslack.General, slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("after the limit: %v", err)
	}
	if c := f.Calls("chat.postMessage"); c[0].Status != http.StatusTooManyRequests || len(f.ChannelView(fakeslack.General)) != 1 {
		t.Errorf("calls = %+v", c)
	}
}

// botHTTP is a minimal HTTP-mode app: it verifies signatures like a real handler.
func botHTTP(t *testing.T, secret string, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sv, err := slack.NewSecretsVerifier(r.Header, secret)
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		handle(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPModeSigning(t *testing.T) {
	f := fakeslack.New(t)
	ctx := ctxTimeout(t, 10*time.Second)
	var mu sync.Mutex
	var retryHeaders []string
	attempts := 0
	bot := botHTTP(t, f.SigningSecret(), func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/slack/commands":
			r.Body = io.NopCloser(bytes.NewReader(body))
			sc, err := slack.SlashCommandParse(r)
			if err != nil || sc.Command != "/imagine" {
				http.Error(w, "bad command", 400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"response_type":"ephemeral","text":"Queued `+sc.Text+`"}`)
		case "/slack/events":
			ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if ev.Type == slackevents.URLVerification {
				var c slackevents.ChallengeResponse
				_ = json.Unmarshal(body, &c)
				w.Header().Set("Content-Type", "text/plain")
				_, _ = io.WriteString(w, c.Challenge)
				return
			}
			mu.Lock()
			attempts++
			retryHeaders = append(retryHeaders, r.Header.Get("X-Slack-Retry-Num")+"/"+r.Header.Get("X-Slack-Retry-Reason"))
			n := attempts
			mu.Unlock()
			if n == 1 {
				http.Error(w, "busy", http.StatusInternalServerError)
			}
		case "/slack/interactivity":
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			cb, err := slack.InteractionCallbackParse(r)
			if err != nil || cb.Type != slack.InteractionTypeBlockActions {
				http.Error(w, "bad payload", 400)
			}
		}
	})

	body := []byte("token=x&command=%2Fimagine&text=hi")
	for _, tc := range []struct {
		name string
		opts []fakeslack.PostOption
		want int
	}{
		{"fresh signature", nil, http.StatusOK},
		{"stale timestamp", []fakeslack.PostOption{fakeslack.WithStaleTimestamp(6 * time.Minute)}, http.StatusUnauthorized},
		{"bad signature", []fakeslack.PostOption{fakeslack.WithBadSignature()}, http.StatusUnauthorized},
		{"unsigned", []fakeslack.PostOption{fakeslack.WithoutSignature()}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.PostSigned(ctx, bot.URL+"/slack/commands", "application/x-www-form-urlencoded", body, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Errorf("status = %d (%s), want %d", res.Status, res.Body, tc.want)
			}
		})
	}

	if _, err := f.VerifyURL(ctx, bot.URL+"/slack/events"); err != nil {
		t.Error(err)
	}
	cmd := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "a fox")
	if res, err := f.DeliverHTTP(ctx, bot.URL+"/slack/commands", cmd); err != nil || res.Status != 200 {
		t.Fatalf("DeliverHTTP = %+v, %v", res, err)
	}
	if e := f.Ephemerals(fakeslack.General, fakeslack.Alice); len(e) != 1 || e[0].Text != "Queued a fox" || e[0].Via != "http_response" {
		t.Errorf("ephemerals = %+v", e)
	}
	results, err := f.DeliverEventHTTP(ctx, bot.URL+"/slack/events", f.AppMention(fakeslack.UserPost{Channel: fakeslack.General, User: fakeslack.Alice, Text: "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Status != 500 || results[1].Status != 200 {
		t.Errorf("results = %+v", results)
	}
	if want := []string{"/", "1/http_error"}; strings.Join(retryHeaders, ",") != strings.Join(want, ",") {
		t.Errorf("retry headers = %q, want %q", retryHeaders, want)
	}
	_, ts, _ := newAPI(f).PostMessage(fakeslack.General, slack.MsgOptionText("x", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("", slack.NewButtonBlockElement("go", "1", slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false)))))
	if res, err := f.DeliverHTTP(ctx, bot.URL+"/slack/interactivity", f.ClickButton(fakeslack.General, ts, fakeslack.Alice, "go")); err != nil || res.Status != 200 {
		t.Errorf("interactivity = %+v, %v", res, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// tinyPNG returns a valid 2x2 PNG.
func tinyPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
