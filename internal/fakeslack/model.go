package fakeslack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Fixed identities of the fake workspace. They never change between servers, so tests
// can use them as constants; tokens and the signing secret are random per server.
const (
	TeamID     = "T01FAKETEAM"
	TeamDomain = "fakeworkspace"
	AppID      = "A01FAKEAPP"
	BotUserID  = "U01FAKEBOT"
	BotID      = "B01FAKEBOT"
	BotName    = "fakebot"

	// General is a public channel whose members are Alice, Bob and the bot.
	General = "C01GENERAL"
	// Random is a public channel whose members are Alice and Bob but not the bot:
	// chat.postMessage there fails with not_in_channel.
	Random = "C02RANDOM"
	// AliceDM is the direct-message conversation between Alice and the bot.
	AliceDM = "D01ALICE"

	Alice = "U01ALICE"
	Bob   = "U02BOB"
)

// ChannelType is the kind of a conversation.
type ChannelType string

// Conversation kinds, named as in the Events API channel_type field.
const (
	PublicChannel  ChannelType = "channel"
	PrivateChannel ChannelType = "group"
	DirectMessage  ChannelType = "im"
)

// Channel describes a conversation to add with [Server.AddChannel]. Members lists user
// IDs; include [BotUserID] to make the bot a member.
type Channel struct {
	ID      string
	Name    string
	Type    ChannelType // zero value means PublicChannel
	Members []string
}

// Message is a snapshot of a message as a channel member would see it, plus the
// fake's bookkeeping (edit history, deletion, where it came from).
type Message struct {
	Channel     string
	TS          string
	ThreadTS    string // the parent's ts for replies; "" for top-level messages
	User        string // author; BotUserID for messages the bot posted
	BotID       string // BotID for messages the bot posted, else ""
	Text        string
	Blocks      json.RawMessage // as posted (nil when none)
	Attachments json.RawMessage
	Files       []File
	Broadcast   bool       // reply_broadcast: a reply also shown in the channel
	Edits       []Revision // earlier versions, oldest first
	Deleted     bool
	// Orphaned is set when thread_ts named no message of the channel: Slack accepts
	// the post but no member ever sees it (neither in the channel nor in a thread).
	Orphaned bool
	// Via tells how the message was created: "chat.postMessage",
	// "files.completeUploadExternal", "response_url", "ack", "http_response" or "user".
	Via string
}

// FromBot reports whether the bot posted m.
func (m Message) FromBot() bool { return m.BotID != "" }

// Buttons returns the buttons of m's actions blocks (and section accessories), in order.
func (m Message) Buttons() []Button { return buttonsIn(m.Blocks) }

// Revision is an earlier version of an edited or replaced message.
type Revision struct {
	Text        string
	Blocks      json.RawMessage
	Attachments json.RawMessage
	ReplacedAt  time.Time // fake clock
}

// Button is a Block Kit button found in a message.
type Button struct {
	BlockID  string
	ActionID string
	Text     string
	Value    string
	URL      string
	Style    string
}

// Ephemeral is a message only one user sees ("Only visible to you").
type Ephemeral struct {
	Channel  string
	User     string // the only user who sees it
	TS       string // message_ts
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Via is "chat.postEphemeral", "response_url", "ack" (Socket Mode ack payload)
	// or "http_response" (HTTP-mode response body).
	Via      string
	Edits    []Revision
	Deleted  bool
	Received time.Time // fake clock
}

// Buttons returns the buttons of e, like [Message.Buttons].
func (e Ephemeral) Buttons() []Button { return buttonsIn(e.Blocks) }

// File is a file known to the fake: uploaded by the bot (files.getUploadURLExternal flow)
// or by a user ([Server.PostAsUser]).
type File struct {
	ID                 string
	Name               string
	Title              string
	Mimetype           string
	Filetype           string
	User               string // uploader
	Size               int    // declared length (bot uploads) or len(Data)
	AltText            string
	Data               []byte // the bytes (shared with the fake: do not modify); nil until uploaded
	URLPrivate         string
	URLPrivateDownload string
	Channels           []string // conversations it was shared to
	Uploaded           bool     // bytes received at upload_url
	Completed          bool     // files.completeUploadExternal done (always true for user files)
}

// View is a modal opened with views.open.
type View struct {
	ID              string
	TriggerID       string
	User            string // who sees it
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Title           string
	Submit          string
	JSON            json.RawMessage // the view object as views.open returned it
	OpenedAt        time.Time       // fake clock
	Open            bool
	// Errors holds the last response_action "errors" map the app returned on submit.
	Errors map[string]string
	// Submissions counts view_submission payloads built for this view.
	Submissions int
}

// Call is one Web API request the fake received.
type Call struct {
	Method string
	Args   url.Values // form fields, query, or top-level JSON fields (objects re-encoded as JSON)
	Token  string     // as sent, from the Authorization header or the token field
	Status int        // HTTP status the fake replied with
	Error  string     // "error" of an ok:false reply, or "ratelimited" for 429
	At     time.Time  // fake clock
}

// Ack is a Socket Mode acknowledgement received from the app.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack carried no payload
	Attempt    int             // retry_attempt of the delivery that was acked
	Latency    time.Duration   // wall time since the first delivery
	Late       bool            // acked after Slack's 3 s deadline
}

// ResponsePost is one request the app sent to a response_url.
type ResponsePost struct {
	URL    string
	Body   json.RawMessage
	Status int    // HTTP status the fake replied with
	Reply  string // body the fake replied with ("ok", "used_url", ...)
}

// HTTPResult is the app's answer to a request the fake sent in HTTP mode.
type HTTPResult struct {
	Status   int
	Header   http.Header
	Body     []byte
	Latency  time.Duration
	TimedOut bool // no answer within the delivery timeout (Slack waits 3 s)
}
