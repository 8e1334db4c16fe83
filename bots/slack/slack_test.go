package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/bots/slack"
	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/internal/fakeslack"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

const (
	general = fakeslack.General
	alice   = fakeslack.Alice
	bob     = fakeslack.Bob
)

func TestNewChecksConfig(t *testing.T) {
	m := &jobs.Manager{}
	for _, tc := range []struct {
		name string
		cfg  slack.Config
		p    slack.Pipeline
		want string
	}{
		{"no token", slack.Config{AppToken: "xapp-1"}, m, "bot token"},
		{"no mode", slack.Config{BotToken: "xoxb-1"}, m, "signing secret"},
		{"bad url", slack.Config{BotToken: "xoxb-1", AppToken: "xapp-1", APIURL: "ftp://x"}, m, "API URL"},
		{"no pipeline", slack.Config{BotToken: "xoxb-1", AppToken: "xapp-1"}, nil, "pipeline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := slack.New(tc.cfg, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestImagineSocketMode(t *testing.T) {
	h := newHarness(t, options{})
	cmd := h.f.SlashCommand(general, alice, "/imagine", "a fox in the snow --ar 9:16 --model max --seed 7")
	ack := h.deliver(cmd)
	if ack.Payload != nil {
		t.Errorf("ack payload = %s, want none for an accepted command", ack.Payload)
	}
	card := h.result(general, nil)
	if card.ThreadTS != "" {
		t.Errorf("a slash command's result is in thread %s, want the channel itself", card.ThreadTS)
	}
	if got, want := card.Files[0].Data, h.vendor.ResultImage(); !bytes.Equal(got, want) {
		t.Errorf("uploaded %d bytes, want the vendor's %d bytes", len(got), len(want))
	}
	if f := card.Files[0]; f.Mimetype != "image/png" || !strings.HasSuffix(f.Name, ".png") || f.AltText != "a fox in the snow" {
		t.Errorf("file = %s %s alt %q", f.Name, f.Mimetype, f.AltText)
	}
	text := cardText(t, card)
	for _, want := range []string{"<@" + alice + ">", "a fox in the snow", "Flux Kontext Max", "fake", "9:16", "seed 7", "$0.04"} {
		if !strings.Contains(text, want) {
			t.Errorf("card text %q lacks %q", text, want)
		}
	}
	if ids := buttonIDs(card); !sameStrings(ids, []string{"fb_reroll", "fb_edit", "fb_delete"}) {
		t.Errorf("buttons = %v", ids)
	}
	j := h.jobOf(card)
	for _, b := range card.Buttons() {
		if b.Value != j.ID {
			t.Errorf("button %s value %q, want the job id %q", b.ActionID, b.Value, j.ID)
		}
	}
	if j.User != "slack:"+fakeslack.TeamID+"/"+alice || j.Channel != "slack:"+fakeslack.TeamID+"/"+general || j.Platform != "slack" ||
		j.DedupeKey != "slack:t:"+cmd.TriggerID {
		t.Errorf("job = user %s channel %s platform %s dedupe %s", j.User, j.Channel, j.Platform, j.DedupeKey)
	}
	subs := h.vendor.Submits()
	if len(subs) != 1 {
		t.Fatalf("vendor submits = %d, want 1", len(subs))
	}
	if r := subs[0]; r.Prompt != "a fox in the snow" || r.AspectRatio != "9:16" || r.Model != imaging.ModelMax || r.Seed == nil || *r.Seed != 7 {
		t.Errorf("vendor request = %+v", r)
	}
	// The status message showed progress, edited in place, and made way
	// for the result.
	h.idle()
	status := h.statusMessages(general)
	if len(status) != 1 {
		t.Fatalf("status messages = %+v, want 1", status)
	}
	if s := status[0]; !s.Deleted || len(s.Edits) == 0 || !strings.HasPrefix(s.Edits[0].Text, "⏳ <@"+alice+"> is imagining") {
		t.Errorf("status message = %+v, want one edited at least once, then deleted", s)
	}
	if n := h.f.CallCount("files.getUploadURLExternal"); n != 1 {
		t.Errorf("files.getUploadURLExternal calls = %d, want 1", n)
	}
}

func TestImagineHelpAndBadFlags(t *testing.T) {
	h := newHarness(t, options{})
	for _, tc := range []struct {
		text, want string
	}{
		{"", "--ar W:H"},
		{"a cat --colour blue", "I don't know the option --colour"},
		{"a cat --ar 7:3", "doesn't support the aspect ratio 7:3"},
		{"a cat --vendor nosuch", `There is no vendor called "nosuch"`},
	} {
		ack := h.deliver(h.f.SlashCommand(general, alice, "/imagine", tc.text))
		if !strings.Contains(string(ack.Payload), `"response_type":"ephemeral"`) {
			t.Errorf("%q: ack payload = %s, want an ephemeral reply", tc.text, ack.Payload)
		}
		h.ephemeral(general, alice, tc.want)
	}
	if n := len(h.vendor.Submits()); n != 0 {
		t.Errorf("vendor submits = %d, want 0", n)
	}
	if n := len(h.f.ChannelView(general)); n != 0 {
		t.Errorf("channel has %d messages, want none", n)
	}
}

func TestRefusalsAreEphemeral(t *testing.T) {
	t.Run("rate limit", func(t *testing.T) {
		h := newHarness(t, options{limits: &ratelimit.Config{Burst: 1, Per: time.Hour}})
		h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a red fox"))
		h.result(general, nil)
		ack := h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a blue fox"))
		if !strings.Contains(string(ack.Payload), "ephemeral") {
			t.Errorf("ack payload = %s", ack.Payload)
		}
		e := h.ephemeral(general, alice, "You can make 1 image every hour. Your next one is free in")
		if e.Via != "ack" {
			t.Errorf("refusal via %s, want the ack", e.Via)
		}
		// A mention is refused in its thread.
		ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "a green fox"})
		h.deliver(ev)
		e, err := h.f.WaitForEphemeral(h.ctx(5*time.Second), general, alice, func(e fakeslack.Ephemeral) bool {
			return e.Via == "chat.postEphemeral" && strings.Contains(e.Text, "Your next one is free in")
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.ThreadTS != ev.Message.TS {
			t.Errorf("mention refusal in thread %q, want %q", e.ThreadTS, ev.Message.TS)
		}
		h.idle()
		if n := len(h.vendor.Submits()); n != 1 {
			t.Errorf("vendor submits = %d, want 1", n)
		}
	})
	t.Run("unsupported option", func(t *testing.T) {
		h := newHarness(t, options{vendor: func(v *imagingtest.Vendor) { v.Caps.ImageBytes, v.Caps.Seed = false, false }})
		ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: bob, Text: "make it blue",
			Files: []fakeslack.UserFile{{Name: "cat.png", Data: imagingtest.PNG(1)}}})
		h.deliver(ev)
		h.ephemeral(general, bob, "can only edit images it can download from a public link")
		ack := h.deliver(h.f.SlashCommand(general, bob, "/imagine", "a cat --seed 5"))
		if !strings.Contains(string(ack.Payload), "doesn't support a fixed seed") {
			t.Errorf("ack payload = %s", ack.Payload)
		}
		if n := len(h.vendor.Submits()); n != 0 {
			t.Errorf("vendor submits = %d, want 0", n)
		}
	})
	t.Run("not in channel", func(t *testing.T) {
		h := newHarness(t, options{})
		ack := h.deliver(h.f.SlashCommand(fakeslack.Random, bob, "/imagine", "a cat"))
		if !strings.Contains(string(ack.Payload), "I'm not in this conversation") {
			t.Errorf("ack payload = %s", ack.Payload)
		}
		if n := len(h.vendor.Submits()); n != 0 {
			t.Errorf("vendor submits = %d, want 0", n)
		}
	})
}

func TestMentionWithoutImageIsTextToImage(t *testing.T) {
	h := newHarness(t, options{})
	ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: bob, Text: "a castle on a hill --ar 16:9"})
	h.deliver(ev)
	card := h.result(general, nil)
	if card.ThreadTS != ev.Message.TS {
		t.Errorf("result in thread %q, want a thread on the mention %q", card.ThreadTS, ev.Message.TS)
	}
	subs := h.vendor.Submits()
	if len(subs) != 1 || subs[0].Prompt != "a castle on a hill" || subs[0].IsEdit() || subs[0].AspectRatio != "16:9" {
		t.Fatalf("vendor requests = %+v", subs)
	}
	if j := h.jobOf(card); j.DedupeKey != "slack:e:"+ev.EventID {
		t.Errorf("dedupe key = %q", j.DedupeKey)
	}
}

func TestMentionWithFile(t *testing.T) {
	h := newHarness(t, options{})
	img := imagingtest.JPEG(3)
	ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "make it night",
		Files: []fakeslack.UserFile{{Name: "street.jpg", Data: img}}})
	h.deliver(ev)
	card := h.result(general, nil)
	if card.ThreadTS != ev.Message.TS {
		t.Errorf("result in thread %q, want %q", card.ThreadTS, ev.Message.TS)
	}
	subs := h.vendor.Submits()
	if len(subs) != 1 || len(subs[0].Images) != 1 {
		t.Fatalf("vendor requests = %+v", subs)
	}
	if im := subs[0].Images[0]; !bytes.Equal(im.Data, img) || im.ContentType != "image/jpeg" || subs[0].Prompt != "make it night" {
		t.Errorf("vendor got %d bytes %s prompt %q, want the uploaded %d bytes", len(im.Data), im.ContentType, subs[0].Prompt, len(img))
	}
	if !strings.Contains(cardText(t, card), "edited an image") {
		t.Errorf("card text = %q", cardText(t, card))
	}
}

func TestEditOfUsersUpload(t *testing.T) {
	h := newHarness(t, options{})
	img := imagingtest.PNG(9)
	upload := h.f.PostAsUser(fakeslack.UserPost{Channel: general, User: alice, Text: "my cat",
		Files: []fakeslack.UserFile{{Name: "cat.png", Data: img}}})
	ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: bob, ThreadTS: upload.TS, Text: "give the cat a hat"})
	h.deliver(ev)
	card := h.result(general, nil)
	if card.ThreadTS != upload.TS {
		t.Errorf("result in thread %q, want the upload's thread %q", card.ThreadTS, upload.TS)
	}
	subs := h.vendor.Submits()
	if len(subs) != 1 || len(subs[0].Images) != 1 || !bytes.Equal(subs[0].Images[0].Data, img) {
		t.Fatalf("vendor requests = %+v, want the uploaded bytes", subs)
	}
	// The download used the bot token (the fake redirects anyone else).
	if j := h.jobOf(card); j.User != "slack:"+fakeslack.TeamID+"/"+bob || !j.Request.IsEdit() {
		t.Errorf("job = %+v", j)
	}
}

func TestEditInThreadOfOwnResult(t *testing.T) {
	h := newHarness(t, options{})
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a lighthouse --model max"))
	first := h.result(general, nil)
	firstJob := h.jobOf(first)
	if firstJob.ResultURL == "" {
		t.Fatal("the first job has no result URL")
	}
	ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: bob, ThreadTS: first.TS, Text: "make it stormy"})
	h.deliver(ev)
	second := h.result(general, func(m fakeslack.Message) bool { return m.ThreadTS == first.TS })
	subs := h.vendor.Submits()
	if len(subs) != 2 || len(subs[1].Images) != 1 {
		t.Fatalf("vendor requests = %+v", subs)
	}
	if im := subs[1].Images[0]; im.URL != firstJob.ResultURL {
		t.Errorf("the edit sent %+v, want the vendor's own URL %q", im, firstJob.ResultURL)
	}
	if subs[1].Model != imaging.ModelMax {
		t.Errorf("model = %q, want the edited image's max", subs[1].Model)
	}
	if j := h.jobOf(second); j.Parent != firstJob.ID {
		t.Errorf("parent = %q, want %q", j.Parent, firstJob.ID)
	}
	// A second mention in the thread edits the latest image: the edit.
	h.deliver(h.f.AppMention(fakeslack.UserPost{Channel: general, User: bob, ThreadTS: first.TS, Text: "add a boat"}))
	h.result(general, func(m fakeslack.Message) bool { return m.ThreadTS == first.TS && m.TS != second.TS })
	if subs := h.vendor.Submits(); len(subs) != 3 || subs[2].Images[0].URL != h.jobOf(second).ResultURL {
		t.Errorf("third request = %+v, want the second result's URL", subs[len(subs)-1])
	}
}

func TestEditImageShortcut(t *testing.T) {
	h := newHarness(t, options{})
	img := imagingtest.PNG(4)
	upload := h.f.PostAsUser(fakeslack.UserPost{Channel: general, User: alice, Files: []fakeslack.UserFile{{Name: "dog.png", Data: img}}})
	h.deliver(h.f.MessageShortcut(general, upload.TS, bob, "edit_image"))
	v, err := h.f.WaitForView(h.ctx(5*time.Second), func(v fakeslack.View) bool { return v.CallbackID == "fb_edit_shortcut" })
	if err != nil {
		t.Fatal(err)
	}
	if v.User != bob || v.Title != "Edit image" || v.Submit != "Edit" {
		t.Errorf("view = %+v", v)
	}
	// Flags are checked before the modal closes.
	ack := h.deliver(h.f.SubmitView(v.ID, map[string]string{"prompt": "make it a puppy --model huge"}))
	if !strings.Contains(string(ack.Payload), "errors") {
		t.Errorf("ack of a bad edit = %s, want response_action errors", ack.Payload)
	}
	if v, _ := h.f.WaitForView(h.ctx(time.Second), nil); !v.Open || v.Errors["prompt"] == "" {
		t.Errorf("view after a bad edit = %+v", v)
	}
	h.deliver(h.f.SubmitView(v.ID, map[string]string{"prompt": "make it a puppy"}))
	card := h.result(general, nil)
	if card.ThreadTS != upload.TS {
		t.Errorf("result in thread %q, want %q", card.ThreadTS, upload.TS)
	}
	subs := h.vendor.Submits()
	if len(subs) != 1 || len(subs[0].Images) != 1 || !bytes.Equal(subs[0].Images[0].Data, img) || subs[0].Prompt != "make it a puppy" {
		t.Fatalf("vendor requests = %+v", subs)
	}
	if v := h.f.Views()[0]; v.Open {
		t.Errorf("the modal is still open")
	}

	// A message without an image.
	text := h.f.PostAsUser(fakeslack.UserPost{Channel: general, User: alice, Text: "no picture here"})
	h.deliver(h.f.MessageShortcut(general, text.TS, bob, "edit_image"))
	e := h.ephemeral(general, bob, "That message has no image to edit.")
	if e.Via != "response_url" {
		t.Errorf("via %s, want response_url", e.Via)
	}
}

func TestResultButtons(t *testing.T) {
	h := newHarness(t, options{})
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a red balloon --seed 7"))
	card := h.result(general, nil)
	orig := h.jobOf(card)
	inThread := func(m fakeslack.Message) bool { return m.ThreadTS == card.TS }

	// Re-roll: the same request, a new seed (the original fixed one), in
	// the card's thread.
	h.deliver(h.f.ClickButton(general, card.TS, bob, "fb_reroll"))
	rerolled := h.result(general, inThread)
	rj := h.jobOf(rerolled)
	if rj.Parent != orig.ID || rj.Request.Prompt != "a red balloon" || rj.Request.Seed == nil || *rj.Request.Seed == 7 ||
		rj.User != "slack:"+fakeslack.TeamID+"/"+bob {
		t.Errorf("re-roll job = parent %q prompt %q seed %v user %s", rj.Parent, rj.Request.Prompt, rj.Request.Seed, rj.User)
	}

	// Edit: a modal, then an edit of the card's image in its thread.
	h.deliver(h.f.ClickButton(general, card.TS, bob, "fb_edit"))
	v, err := h.f.WaitForView(h.ctx(5*time.Second), func(v fakeslack.View) bool { return v.CallbackID == "fb_edit_modal" })
	if err != nil {
		t.Fatal(err)
	}
	h.deliver(h.f.SubmitView(v.ID, map[string]string{"prompt": "make it blue"}))
	edited := h.result(general, func(m fakeslack.Message) bool { return inThread(m) && m.TS != rerolled.TS })
	ej := h.jobOf(edited)
	if ej.Parent != orig.ID || len(ej.Request.Images) != 1 || ej.Request.Images[0].URL != orig.ResultURL || ej.Request.Prompt != "make it blue" {
		t.Errorf("edit job = parent %q images %+v prompt %q", ej.Parent, ej.Request.Images, ej.Request.Prompt)
	}

	// Delete: only the requester.
	h.deliver(h.f.ClickButton(general, card.TS, bob, "fb_delete"))
	h.ephemeral(general, bob, "Only <@"+alice+"> can delete this image.")
	if m, _ := h.f.Message(general, card.TS); m.Deleted {
		t.Fatal("Bob deleted Alice's image")
	}
	h.deliver(h.f.ClickButton(general, card.TS, alice, "fb_delete"))
	if err := h.f.Await(h.ctx(5*time.Second), func() bool { m, _ := h.f.Message(general, card.TS); return m.Deleted }); err != nil {
		t.Fatal(err)
	}
	h.idle()
}

func TestVendorFailureShowsInStatusMessage(t *testing.T) {
	h := newHarness(t, options{vendor: func(v *imagingtest.Vendor) { v.Outcome = imagingtest.FailSafety }})
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "something the filter refuses"))
	m, err := h.f.WaitForMessage(h.ctx(10*time.Second), general, func(m fakeslack.Message) bool {
		return m.FromBot() && strings.Contains(m.Text, "safety filter")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Text, "⚠️ <@"+alice+">, I couldn't make") || len(m.Edits) == 0 {
		t.Errorf("status message = %+v, want the failure edited into it", m)
	}
	h.idle()
	if n := len(h.results(general)); n != 0 {
		t.Errorf("%d results posted for a failed job", n)
	}
}

func TestRedeliveredEventsMakeOneJob(t *testing.T) {
	t.Run("socket mode", func(t *testing.T) {
		h := newHarness(t, options{})
		ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "a single kite"})
		h.deliver(ev)
		h.deliver(ev) // Slack redelivers with the same event_id
		h.result(general, nil)
		h.idle()
		// An envelope acknowledged late is redelivered with retry_attempt.
		raw := h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "a second kite"})
		env, err := h.f.SendSocket(h.ctx(5*time.Second), "events_api", rawPayload(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitAck(h.ctx(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		h.deliver(raw)
		h.result(general, func(m fakeslack.Message) bool { return m.ThreadTS == raw.Message.TS })
		h.idle()
		if n := len(h.vendor.Submits()); n != 2 {
			t.Errorf("vendor submits = %d, want 2", n)
		}
		if n := len(h.results(general)); n != 2 {
			t.Errorf("results = %d, want 2", n)
		}
	})
	t.Run("http retry", func(t *testing.T) {
		h := newHarness(t, options{http: true})
		ev := h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "a single kite"})
		for i, opts := range [][]fakeslack.PostOption{nil, {fakeslack.WithRetry(1, "http_timeout")}, {fakeslack.WithRetry(2, "http_timeout")}} {
			res, err := h.f.PostSigned(h.ctx(5*time.Second), h.url+"/slack/events", "application/json", ev.JSON(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || res.TimedOut || res.Latency > time.Second {
				t.Errorf("delivery %d: %+v", i, res)
			}
		}
		h.result(general, nil)
		h.idle()
		if n := len(h.vendor.Submits()); n != 1 {
			t.Errorf("vendor submits = %d, want 1", n)
		}
	})
}

// rawPayload is an event's JSON for SendSocket.
func rawPayload(t *testing.T, ev *fakeslack.Event) any {
	t.Helper()
	return json.RawMessage(ev.JSON())
}

func TestHTTPMode(t *testing.T) {
	h := newHarness(t, options{http: true})
	ctx := h.ctx(20 * time.Second)
	if _, err := h.f.VerifyURL(ctx, h.url+"/slack/events"); err != nil {
		t.Fatal(err)
	}
	cmd := h.f.SlashCommand(general, alice, "/imagine", "a paper boat --ar 4:3")
	res, err := h.f.DeliverHTTP(ctx, h.url+"/slack/commands", cmd)
	if err != nil || res.Status != 200 || res.TimedOut {
		t.Fatalf("command: %+v, %v", res, err)
	}
	card := h.result(general, nil)
	if !bytes.Equal(card.Files[0].Data, h.vendor.ResultImage()) {
		t.Error("uploaded bytes differ from the vendor's image")
	}
	// A refusal is the response body.
	res, err = h.f.DeliverHTTP(ctx, h.url+"/slack/commands", h.f.SlashCommand(general, alice, "/imagine", "a boat --ar 5:1"))
	if err != nil || res.Status != 200 {
		t.Fatalf("command: %+v, %v", res, err)
	}
	if e := h.ephemeral(general, alice, "doesn't support the aspect ratio 5:1"); e.Via != "http_response" {
		t.Errorf("refusal via %s", e.Via)
	}
	// Buttons and modals over HTTP.
	res, err = h.f.DeliverHTTP(ctx, h.url+"/slack/interactivity", h.f.ClickButton(general, card.TS, bob, "fb_edit"))
	if err != nil || res.Status != 200 {
		t.Fatalf("interactivity: %+v, %v", res, err)
	}
	v, err := h.f.WaitForView(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = h.f.DeliverHTTP(ctx, h.url+"/slack/interactivity", h.f.SubmitView(v.ID, map[string]string{"prompt": "--ar"}))
	if err != nil || res.Status != 200 || !strings.Contains(string(res.Body), `"response_action":"errors"`) {
		t.Fatalf("bad submit: %+v %s, %v", res, res.Body, err)
	}
	if _, err := h.f.DeliverHTTP(ctx, h.url+"/slack/interactivity", h.f.SubmitView(v.ID, map[string]string{"prompt": "fold it from newspaper"})); err != nil {
		t.Fatal(err)
	}
	h.result(general, func(m fakeslack.Message) bool { return m.ThreadTS == card.TS })
	h.idle()

	// Unverified requests are refused before anything else.
	body := []byte("token=x&team_id=" + fakeslack.TeamID + "&channel_id=" + general + "&user_id=" + alice + "&command=%2Fimagine&text=sneaky")
	for _, path := range []string{"/slack/commands", "/slack/events", "/slack/interactivity"} {
		for name, opt := range map[string]fakeslack.PostOption{
			"bad signature": fakeslack.WithBadSignature(),
			"stale":         fakeslack.WithStaleTimestamp(6 * time.Minute),
			"unsigned":      fakeslack.WithoutSignature(),
		} {
			res, err := h.f.PostSigned(ctx, h.url+path, "application/x-www-form-urlencoded", body, opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 401 {
				t.Errorf("%s %s: status %d, want 401", path, name, res.Status)
			}
		}
	}
	if n := len(h.vendor.Submits()); n != 2 {
		t.Errorf("vendor submits = %d, want 2", n)
	}
}

func TestAPIURLWithoutSlash(t *testing.T) {
	h := newHarness(t, options{config: func(c *slack.Config) { c.APIURL = strings.TrimSuffix(c.APIURL, "/") }})
	if n := h.f.CallCount("auth.test"); n != 1 {
		t.Errorf("auth.test calls at the fake = %d, want 1", n)
	}
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a kite"))
	h.result(general, nil)
}

func TestDirectMessage(t *testing.T) {
	h := newHarness(t, options{})
	ev := h.f.MessageEvent(fakeslack.UserPost{Channel: fakeslack.AliceDM, User: alice, Text: "a teapot"})
	h.deliver(ev)
	card := h.result(fakeslack.AliceDM, nil)
	if card.ThreadTS != ev.Message.TS {
		t.Errorf("result thread %q, want %q", card.ThreadTS, ev.Message.TS)
	}
	h.idle()
	// The bot's own messages in the DM start nothing.
	if n := len(h.vendor.Submits()); n != 1 {
		t.Errorf("vendor submits = %d", n)
	}
}

var _ = context.Background

func TestSlackRateLimitIsWaitedOut(t *testing.T) {
	h := newHarness(t, options{})
	h.f.RateLimit("files.completeUploadExternal", 1, time.Second)
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "a patient snail"))
	h.result(general, nil)
	h.idle()
	calls := h.f.Calls("files.completeUploadExternal")
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Error != "" {
		t.Errorf("files.completeUploadExternal calls = %+v, want a 429 then a success", calls)
	}
	if n := h.f.CallCount("files.getUploadURLExternal"); n != 1 {
		t.Errorf("files.getUploadURLExternal calls = %d, want 1", n)
	}
	if n := len(h.results(general)); n != 1 {
		t.Errorf("results = %d, want 1", n)
	}
}

func TestOversizedImageIsRefused(t *testing.T) {
	h := newHarness(t, options{})
	big := append(imagingtest.PNG(1), make([]byte, slack.MaxImageBytes)...)
	h.deliver(h.f.AppMention(fakeslack.UserPost{Channel: general, User: alice, Text: "make it small",
		Files: []fakeslack.UserFile{{Name: "huge.png", Data: big}}}))
	h.ephemeral(general, alice, "I can edit images up to 20 MB")
	if n := len(h.vendor.Submits()); n != 0 {
		t.Errorf("vendor submits = %d, want 0", n)
	}
}

// A result older than the vendor keeps its URL is edited from the file the
// bot posted, downloaded with the bot token.
func TestEditOfOldResultDownloadsTheFile(t *testing.T) {
	later := func() time.Time { return time.Now().Add(21 * time.Hour) }
	h := newHarness(t, options{config: func(c *slack.Config) { c.Now = later }})
	h.deliver(h.f.SlashCommand(general, alice, "/imagine", "an old photograph"))
	card := h.result(general, nil)
	h.deliver(h.f.ClickButton(general, card.TS, alice, "fb_edit"))
	v, err := h.f.WaitForView(h.ctx(5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.deliver(h.f.SubmitView(v.ID, map[string]string{"prompt": "restore it"}))
	h.result(general, func(m fakeslack.Message) bool { return m.ThreadTS == card.TS })
	subs := h.vendor.Submits()
	if len(subs) != 2 || len(subs[1].Images) != 1 {
		t.Fatalf("vendor requests = %+v", subs)
	}
	if im := subs[1].Images[0]; im.URL != "" || !bytes.Equal(im.Data, card.Files[0].Data) {
		t.Errorf("the edit sent URL %q / %d bytes, want the posted file's %d bytes", im.URL, len(im.Data), len(card.Files[0].Data))
	}
}
