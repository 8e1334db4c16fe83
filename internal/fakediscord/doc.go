// Package fakediscord is a strict, local fake of Discord for end-to-end tests
// of a bot built on github.com/bwmarrin/discordgo v0.29.0.
//
// One httptest server plays three Discord hosts:
//
//   - the REST API under the real paths (/api/v9/... and /api/v10/...). Put
//     an http.RoundTripper on discordgo.Session.Client that rewrites
//     https://discord.com to Server.URL (protocols.md A1) and pass
//     "Bot "+Server.Token to discordgo.New;
//   - the gateway websocket at /gw, which GET /api/v9/gateway points
//     discordgo at: HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeat ACKs,
//     RESUME with replay, op 7, op 9 and close codes;
//   - the attachment CDN (/attachments/... and /ephemeral-attachments/...)
//     with signed, expiring URLs. Attachment URLs in payloads point at
//     Server.URL (or at WithCDNBase).
//
// The fake also plays the users. SlashCommand, MessageCommand, ClickButton,
// SubmitModal build interactions and DispatchInteraction sends them;
// PostMessage posts a user's message (MESSAGE_CREATE). The builders refuse,
// with ErrNotPossible, what a Discord client could not do (an unregistered
// command, a wrong option type, a missing required option, a disabled
// button, a modal never shown), so a passing test means the bot's
// registrations and its handlers agree.
//
// What the bot does is recorded: messages per channel with edit history and
// attachment bytes (Messages, Message, WaitMessage), each interaction's
// response (Response, AckLatency), registrations (Commands, Registrations)
// and every request (Requests, Calls, Refusals). Refusals are also logged
// with t.Logf (WithQuiet turns that off).
//
// # Rules enforced, and their sources
//
// Paths are in discord/discord-api-docs (commit c98d64b unless noted);
// "protocols.md" and "peers.md" are the shared research notes.
//
//   - Auth: "Authorization: Bot <token>" on every REST call, 401
//     {"message":"401: Unauthorized","code":0} (reference.mdx
//     "Authentication"); webhook and callback routes need none but refuse a
//     wrong one. User-Agent must start with "DiscordBot" (reference.mdx "User
//     Agent"; 403 40333). A body needs a JSON or multipart Content-Type
//     (reference.mdx "Content Type", 50035); invalid JSON is 50109.
//   - Gateway (gateway.mdx, gateway-events.mdx, opcodes-and-status-codes.mdx):
//     HELLO first; wrong token 4004; intents missing or unknown bits 4013;
//     privileged intents not switched on with WithPrivilegedIntents 4014;
//     bad shard 4010; second IDENTIFY 4005; ops before IDENTIFY 4003;
//     unknown op 4001; undecodable frame 4002; RESUME of an unknown or
//     invalidated session gets op 9, of a future seq 4007; closing with
//     1000/1001 invalidates the session. Dispatches carry increasing "s"
//     per session and are replayed on RESUME, then RESUMED.
//   - Intents: MESSAGE_CREATE/UPDATE/DELETE only to sessions with
//     GUILD_MESSAGES (guild) or DIRECT_MESSAGES (DM); without MESSAGE_CONTENT
//     the content, embeds, attachments and components are blank unless the
//     message is the bot's, a DM, or mentions the bot (gateway.mdx "Message
//     Content Intent"). REST message objects are blanked the same way unless
//     MESSAGE_CONTENT is switched on in the portal (change log "Message
//     Content is a Privileged Intent": "across Discord's APIs").
//     INTERACTION_CREATE needs no intent; context-menu targets are exempt.
//   - Commands (application-commands.mdx): CHAT_INPUT and option names match
//     ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ in lowercase;
//     descriptions 1-100 for CHAT_INPUT and empty for USER/MESSAGE; option
//     types 1-11; required before optional; unique names; choices <= 25 and
//     typed; autocomplete not with choices; 25 options; 8000 characters;
//     100/15/15 commands (30032); 200 creates per day per scope (429 30034);
//     unknown guild 404 10004. Errors are 50035 with an "errors" object keyed
//     by the command's index, using Discord's codes
//     (APPLICATION_COMMAND_INVALID_NAME, ..._OPTIONS_REQUIRED_INVALID,
//     APPLICATION_COMMANDS_DUPLICATE_NAME, BASE_TYPE_BAD_LENGTH, ...).
//   - Interactions (receiving-and-responding.mdx): the callback must come
//     within AckDeadline (3 s on the fake clock) of the first dispatch, else
//     404 10062; a second one is 400 40060; unknown id/token 404 10062.
//     Types: 4, 5, 9 (not for MODAL_SUBMIT), 6/7 only for component-based
//     interactions; type 5 accepts only the EPHEMERAL flag; type 4 flags
//     SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE,
//     IS_COMPONENTS_V2. Modals: custom_id 1-100, title 1-45, 1-5 rows of one
//     text input (or Label 18), text input limits (components/reference.mdx).
//     JSON nulls as discordgo sends them are accepted.
//   - Webhook routes: token valid TokenLifetime (15 min) after the
//     interaction, and only once acknowledged; afterwards, or if the 3 s
//     passed without an ack, 401 50027 "Invalid Webhook Token" (peers.md 3a).
//     A followup right after a type-5 defer edits the loading message
//     ("Create Followup Message"). Edits append files unless an attachments
//     array lists what to keep (webhook.mdx "Edit Webhook Message"; v10
//     requires new files to be listed too).
//   - Messages (message.mdx "Create Message"/"Edit Message", reference.mdx
//     "Uploading Files"): content <= 2000, <= 10 embeds within the embed
//     limits, components per components/reference.mdx (<= 5 action rows, 5
//     buttons or 1 select, custom_id <= 100 and unique, link buttons need a
//     url), flags per endpoint, at least one of content/embeds/components/
//     files/poll (50006), <= 10 files, files[n] parts with filenames, a file
//     over the guild's upload limit 413 40005, message_reference to a
//     message of that channel unless fail_if_not_exists is false (50035
//     MESSAGE_REFERENCE_UNKNOWN_MESSAGE), unknown channel 10003, unknown
//     message 10008, editing others' messages 50005, deleting them needs
//     MANAGE_MESSAGES (50013; 50003 in DMs), channel permissions
//     VIEW_CHANNEL (50001) / SEND_MESSAGES / ATTACH_FILES /
//     READ_MESSAGE_HISTORY (50013).
//   - CDN (reference.mdx "Signed Attachment CDN URLs"): ex/is/hm checked;
//     expired or forged URLs and files of deleted messages are 404.
//   - Anything else: 404 {"message":"404: Not Found","code":0}, or 405 for
//     a known path with another method.
//
// Inferred, not documented: the HTTP status of 10062/40060/50027; 404 10015
// for webhook calls before the ack; 403 50001 for another application's id;
// error code strings the fake invents for some 50035 cases (marked in the
// code); the 24 h CDN URL lifetime; message types of interaction responses
// (20 slash, 23 context menu, 19 replies to a component's message); a reply
// ping counting as a mention for MESSAGE_CONTENT; RESUMED taking the next
// sequence number. The fake sends no rate-limit headers except on injected
// 429s (InjectRateLimit), so discordgo never waits on its own.
//
// Time: the fake clock is the wall clock plus the offset Advance adds
// (WithFrozenClock stops it), so tests cross the 3 s, 15 min and URL-expiry
// limits without sleeping. AckLatency is measured on the wall clock.
//
// A Server is safe for concurrent use and is closed by the test's cleanup.
// Close discordgo sessions first: register their cleanup after New.
package fakediscord
