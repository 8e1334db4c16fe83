// Package discord is the Discord front end of the bot: it turns /imagine,
// mentions of the bot, the "Edit image" message command and the buttons on
// results into jobs for the shared pipeline (package jobs), and shows each
// job's progress, result and errors in Discord. It is built on discordgo
// over the gateway.
//
// # What users do
//
//   - /imagine prompt:… with optional image (edit mode), aspect, model,
//     format, seed and, when several vendors are configured, vendor.
//     Inline flags in the prompt (--ar 16:9, --model max, …; see
//     imaging.FlagHelp) work too; when an option and an inline flag say
//     different things, the option wins (it was picked from a list).
//   - "@bot make it snowy" as a reply to a message with an image, or with an
//     image attached, edits that image; a mention without an image makes a
//     new one. In a DM with the bot every message is a request.
//   - Right-click a message with an image → Apps → "Edit image" opens a
//     modal that asks what to change.
//   - Every result has Re-roll, Edit and Delete buttons. Their custom ids
//     carry the job id, and the job is in the durable store, so they keep
//     working after a restart.
//
// Image links typed in chat (--image URL) are refused: the bot only hands
// the vendor attachment URLs that arrive in Discord's own payloads.
//
// # Timing and delivery
//
// Every interaction is acknowledged within Discord's 3 seconds: the job is
// admitted and recorded (jobs.Manager.Submit, no vendor I/O) and then
// acknowledged with a public deferred response, or refused with an
// ephemeral message that says why and when to try again. Progress edits the
// deferred response at most every 2 seconds. The result is uploaded as a
// file (re-encoded as JPEG, and halved until it fits, when it is over the
// guild's attachment_size_limit) into the deferred response while the
// interaction token is valid (15 minutes, with a safety margin), and
// otherwise posted as a new channel message that mentions the requester.
// Mention requests are answered with a reply that is edited as the job
// goes. Repeated deliveries after a crash are recognised (Job.Delivery, a
// scan of recent channel messages for the job's buttons, and Discord's
// message nonce), so each result is posted once.
//
// # Gateway intents and permissions
//
// The bot identifies with GUILD_MESSAGES (1<<9) and DIRECT_MESSAGES
// (1<<12) only, plus the privileged MESSAGE_CONTENT (1<<15) when
// Config.MessageContent is set (DISCORD_MESSAGE_CONTENT=true; it must also
// be switched on in the Developer Portal, or Discord closes the gateway with
// 4014). Without MESSAGE_CONTENT everything works except one thing: slash
// commands, buttons, modals and "Edit image" need no intent; a mention
// carries its own text and attachments; a reply to the bot's own result
// carries that result. Only a reply that mentions the bot under SOMEONE
// ELSE's image needs MESSAGE_CONTENT (Discord blanks the referenced
// message); the bot then suggests right-click → Apps → Edit image instead.
//
// The invite link (logged at start-up, see InviteURL) asks for the scopes
// bot and applications.commands and the permissions in Permissions: View
// Channels, Send Messages, Send Messages in Threads, Embed Links, Attach
// Files and Read Message History.
//
// # Configuration
//
// Config carries what the binary reads from the environment:
// DISCORD_BOT_TOKEN (Token), DISCORD_API_URL (APIURL: replaces the
// https://discord.com origin of every REST call and of gateway discovery,
// for REST proxies and tests), DISCORD_GUILD_IDS (GuildIDs: register the
// commands in these guilds, instantly, instead of globally; the slash
// commands are then not offered in DMs) and DISCORD_MESSAGE_CONTENT
// (MessageContent).
package discord
