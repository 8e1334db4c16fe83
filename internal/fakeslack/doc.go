// Package fakeslack is a strict, in-process fake of Slack for end-to-end tests of a bot
// built on github.com/slack-go/slack v0.35.0 and its socketmode package.
//
// One [Server] (an httptest.Server) plays every part of Slack the bot talks to:
//
//   - the Web API under /api/ (point the client at it with
//     slack.OptionAPIURL(s.APIURL())): auth.test, apps.connections.open, chat.postMessage,
//     chat.postEphemeral, chat.update, chat.delete, views.open,
//     files.getUploadURLExternal, files.completeUploadExternal, files.info,
//     conversations.replies, conversations.history, conversations.info, users.info.
//     Other methods answer ok:false "unknown_method" and are recorded as warnings;
//   - the upload URLs handed out by files.getUploadURLExternal, and url_private downloads
//     (/files-pri/...), which need "Authorization: Bearer <bot token>" and otherwise
//     redirect to a sign-in page as Slack does. Both live on the API host because
//     slack-go only sends the token to slack.com hosts or the OptionAPIURL host;
//   - response_url endpoints (/response/...);
//   - the Socket Mode WebSocket (/link/): hello, server pings, envelopes, acks,
//     redelivery and disconnect requests;
//   - in HTTP mode, the sender of signed requests to the bot's own endpoints.
//
// The fake keeps the state a user would see (messages per channel and thread, edits,
// deletions, ephemeral messages, open modals, files) and every Web API call, so tests
// assert on outcomes rather than on requests. Helpers wait for state to change
// ([Server.WaitForMessage], [Server.Await], [Envelope.WaitAck]).
//
// # Strictness
//
// Errors are Slack's: HTTP 200 with {"ok":false,"error":"..."} (plus
// response_metadata.messages for argument errors), 429 with Retry-After when a test
// injects a rate limit. Where Slack's documentation is silent the fake picks a behaviour,
// documents it on the method ("inference"), and where Slack would accept a request that
// its documentation discourages (a reply's ts used as thread_ts, an ack after 3 s, ...)
// it accepts it and records a warning ([Server.Warnings]); [WithStrictWarnings] turns
// those into test failures.
//
// # Time
//
// The fake clock ([Server.Now], [Server.Advance]) is wall time plus an offset. It decides
// trigger_id expiry (3 s), response_url limits (5 uses in 30 min) and message
// timestamps. Signatures of HTTP-mode requests use wall time without the offset,
// because slack.NewSecretsVerifier checks them against time.Now.
//
// Builders that need a known message or view ([Server.ClickButton], [Server.SubmitView],
// ...) fail the test with t.Fatalf, so call them from the test goroutine.
//
// # Usage
//
//	f := fakeslack.New(t)
//	api := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(f.AppToken()))
//	// start the bot with api (Socket Mode: socketmode.New(api)), then:
//	if err := f.WaitConnected(ctx); err != nil { t.Fatal(err) }
//	cmd := f.SlashCommand(fakeslack.General, fakeslack.Alice, "/imagine", "a red fox")
//	env, err := f.Deliver(ctx, cmd)            // HTTP mode: f.DeliverHTTP(ctx, botURL+"/slack/commands", cmd)
//	ack, err := env.WaitAck(ctx)               // within AckDeadline? ack.Late
//	msg, err := f.WaitForMessage(ctx, fakeslack.General, func(m fakeslack.Message) bool {
//		return m.FromBot() && len(m.Files) == 1
//	})
package fakeslack
