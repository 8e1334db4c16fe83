package fakediscord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif"  // image sizes of uploads
	_ "image/jpeg" // image sizes of uploads
	_ "image/png"  // image sizes of uploads
	"mime"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/bwmarrin/discordgo"
)

// User is a Discord user known to the fake.
type User struct {
	ID         string
	Username   string
	GlobalName string
	Bot        bool
}

type guild struct {
	id, name    string
	uploadLimit int64
	channels    []string
	joinedAt    time.Time
}

type channel struct {
	id, guildID, name string
	typ               int    // 0 GUILD_TEXT, 1 DM
	recipient         string // DM: the human's user id
	botPerms          int64
	hasPerms          bool
	messages          []*message
}

func (c *channel) dm() bool { return c.typ == 1 }

// AddGuild creates a guild the bot is a member of and returns its id. It is
// listed in READY; sessions with the GUILDS intent get its GUILD_CREATE (at
// once if they are already connected, as when a bot joins a guild).
func (s *Server) AddGuild(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newIDLocked()
	g := &guild{id: id, name: name, joinedAt: s.nowLocked()}
	s.guilds[id] = g
	s.guildOrder = append(s.guildOrder, id)
	s.dispatchLocked("GUILD_CREATE", id, func(sess *gwSession) (any, bool) {
		return s.guildCreateLocked(g), sess.intents&IntentGuilds != 0
	})
	return id
}

// AddChannel creates a text channel in guildID and returns its id (sending
// CHANNEL_CREATE to sessions with the GUILDS intent). It panics if the guild
// is unknown (a test bug).
func (s *Server) AddChannel(guildID, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.guilds[guildID]
	if g == nil {
		panic("fakediscord: AddChannel: unknown guild " + guildID)
	}
	id := s.newIDLocked()
	ch := &channel{id: id, guildID: guildID, name: name}
	s.channels[id] = ch
	g.channels = append(g.channels, id)
	s.dispatchLocked("CHANNEL_CREATE", guildID, func(sess *gwSession) (any, bool) {
		return s.channelJSONLocked(ch), sess.intents&IntentGuilds != 0
	})
	return id
}

// AddUser creates a human user who is a member of every guild.
func (s *Server) AddUser(username string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := User{ID: s.newIDLocked(), Username: username, GlobalName: username}
	s.users[u.ID] = u
	return u
}

// DMChannel returns the id of the DM channel between u and the bot,
// creating it if needed.
func (s *Server) DMChannel(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmChannelLocked(u.ID)
}

func (s *Server) dmChannelLocked(userID string) string {
	if id, ok := s.dms[userID]; ok {
		return id
	}
	id := s.newIDLocked()
	s.channels[id] = &channel{id: id, typ: 1, recipient: userID}
	s.dms[userID] = id
	return id
}

// SetUploadLimit sets guildID's per-file upload limit in bytes; it is also
// sent as attachment_size_limit in interactions from that guild.
func (s *Server) SetUploadLimit(guildID string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.guilds[guildID]; g != nil {
		g.uploadLimit = n
	}
}

// SetBotPermissions sets the bot's permissions in a guild channel (see the
// Perm constants); they gate channel REST calls and are sent as
// app_permissions.
func (s *Server) SetBotPermissions(channelID string, perms int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[channelID]; c != nil {
		c.botPerms, c.hasPerms = perms, true
	}
}

func (s *Server) uploadLimitLocked(guildID string) int64 {
	if g := s.guilds[guildID]; g != nil && g.uploadLimit > 0 {
		return g.uploadLimit
	}
	return s.cfg.uploadLimit
}

func (s *Server) botPermsLocked(c *channel) int64 {
	switch {
	case c.dm():
		return dmAppPermissions | PermViewChannel | PermSendMessages | PermReadMessageHistory | PermAddReactions
	case c.hasPerms:
		return c.botPerms
	default:
		return s.cfg.botPerms
	}
}

// Attachment is a file on the fake CDN: uploaded by a test (NewAttachment)
// or by the bot. Data holds the bytes; treat it as read-only.
type Attachment struct {
	ID          string
	Filename    string
	ContentType string
	Description string
	Size        int
	Width       int // 0 when not a decodable image
	Height      int
	Ephemeral   bool
	ChannelID   string // "" until attached to a message or command option
	Data        []byte
}

type attachment struct {
	Attachment
	used    bool
	deleted bool
}

// NewAttachment puts a file on the fake CDN for a user to attach to a message
// (UserMessage.Attachments) or a command option (AttachmentArg). An empty
// contentType is detected from the name and bytes. Each attachment can be
// used once.
func (s *Server) NewAttachment(filename, contentType string, data []byte) Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.newAttachmentLocked(filename, contentType, data)
	return a.Attachment
}

func (s *Server) newAttachmentLocked(filename, contentType string, data []byte) *attachment {
	if contentType == "" || contentType == "application/octet-stream" {
		if ct := mime.TypeByExtension(path.Ext(filename)); ct != "" {
			contentType = ct
		} else {
			contentType = http.DetectContentType(data)
		}
	}
	a := &attachment{Attachment: Attachment{
		ID: s.newIDLocked(), Filename: filename, ContentType: contentType,
		Size: len(data), Data: data,
	}}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		a.Width, a.Height = cfg.Width, cfg.Height
	}
	s.attachments[a.ID] = a
	return a
}

// Message is a snapshot of a message as users see it, with its history.
type Message struct {
	ID        string
	ChannelID string
	GuildID   string // "" in DMs
	Author    User
	// Type is the Discord message type (0 DEFAULT, 19 REPLY, 20
	// CHAT_INPUT_COMMAND, 23 CONTEXT_MENU_COMMAND).
	Type    int
	Content string
	Embeds  []*discordgo.MessageEmbed
	// Components is the components array as stored (with the numeric ids
	// Discord assigns), or nil.
	Components  json.RawMessage
	Attachments []Attachment
	// Flags are the message flags (64 EPHEMERAL, 128 LOADING, 4
	// SUPPRESS_EMBEDS, ...).
	Flags int
	// EphemeralFor is the only user who sees an ephemeral message.
	EphemeralFor string
	// ReferenceID is message_reference.message_id of a reply.
	ReferenceID string
	// InteractionID is set on interaction responses and followups.
	InteractionID string
	// Mentions are the ids of mentioned users.
	Mentions []string
	// Reactions are the emoji the bot reacted with.
	Reactions []string
	Created   time.Time
	Edited    time.Time // zero if never edited
	Deleted   bool
	// Versions holds the earlier states, oldest first.
	Versions []MessageVersion
}

// MessageVersion is an earlier state of an edited message.
type MessageVersion struct {
	Content     string
	Embeds      []*discordgo.MessageEmbed
	Components  json.RawMessage
	Attachments []Attachment
	Flags       int
	At          time.Time // when this version was replaced
}

// Ephemeral reports whether the message is ephemeral (flag 64).
func (m Message) Ephemeral() bool { return int64(m.Flags)&flagEphemeral != 0 }

// Loading reports whether the message is a deferred "is thinking..."
// placeholder (flag 128) that was never edited.
func (m Message) Loading() bool { return int64(m.Flags)&flagLoading != 0 }

// Button is a button found in Message.Components.
type Button struct {
	CustomID string
	Label    string
	Style    int
	URL      string
	Disabled bool
}

// Buttons returns the message's buttons in display order.
func (m Message) Buttons() []Button {
	var out []Button
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var list []map[string]json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return
		}
		for _, c := range list {
			var typ int
			_ = json.Unmarshal(c["type"], &typ)
			if typ == 2 {
				var b struct {
					CustomID string `json:"custom_id"`
					Label    string `json:"label"`
					Style    int    `json:"style"`
					URL      string `json:"url"`
					Disabled bool   `json:"disabled"`
				}
				_ = json.Unmarshal(mustJSON(c), &b)
				out = append(out, Button(b))
			}
			if sub, ok := c["components"]; ok {
				walk(sub)
			}
			if acc, ok := c["accessory"]; ok {
				walk(json.RawMessage("[" + string(acc) + "]"))
			}
		}
	}
	walk(m.Components)
	return out
}

// Messages returns every message in the channel in creation order,
// ephemeral and deleted ones included.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channelID]
	if c == nil {
		return nil
	}
	out := make([]Message, 0, len(c.messages))
	for _, m := range c.messages {
		out = append(out, m.snapshot())
	}
	return out
}

// Message returns one message by id.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[id]
	if m == nil {
		return Message{}, false
	}
	return m.snapshot(), true
}

// WaitMessage waits until a message in channelID satisfies match and returns
// it (the first in channel order).
func (s *Server) WaitMessage(ctx context.Context, channelID string, match func(Message) bool) (Message, error) {
	var found Message
	err := s.Wait(ctx, func() bool {
		for _, m := range s.Messages(channelID) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found, err
}

// Response is the state of an interaction's response.
type Response struct {
	InteractionID string
	Token         string
	Dispatched    bool
	DispatchedAt  time.Time // fake clock
	Acked         bool
	// AckType is the callback type (4 message, 5 deferred message, 6
	// deferred update, 7 update, 9 modal).
	AckType int
	AckedAt time.Time // fake clock
	// AckLatency is the wall-clock time from dispatch to the callback
	// request.
	AckLatency time.Duration
	Ephemeral  bool
	// OriginalID is the @original message (for 6/7 the component's message).
	OriginalID  string
	FollowupIDs []string
	Modal       *Modal // set for AckType 9
	Submitted   bool   // the modal was submitted
}

// Modal is a modal the bot showed.
type Modal struct {
	CustomID string
	Title    string
	Inputs   []TextInput
	// Components is the modal's components as sent.
	Components json.RawMessage
}

// TextInput is a text input of a Modal.
type TextInput struct {
	CustomID    string
	Label       string
	Style       int
	Required    bool
	MinLength   int
	MaxLength   int
	Value       string
	Placeholder string
	inLabel     bool
	rowID       int
	id          int
}

// Response returns the response state of an interaction.
func (s *Server) Response(interactionID string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.interactions[interactionID]
	if in == nil {
		return Response{}, false
	}
	r := Response{
		InteractionID: in.id, Token: in.token, Dispatched: in.dispatched,
		DispatchedAt: in.dispatchedAt, Acked: in.acked, AckType: in.ackType,
		AckedAt: in.ackedAt, Ephemeral: in.ackFlags&flagEphemeral != 0,
		Submitted: in.modalSubmitted,
	}
	if in.acked {
		r.AckLatency = in.ackWall.Sub(in.dispatchedWall)
	}
	if in.original != nil {
		r.OriginalID = in.original.id
	}
	for _, f := range in.followups {
		r.FollowupIDs = append(r.FollowupIDs, f.id)
	}
	if in.modal != nil {
		m := *in.modal
		m.Inputs = slices.Clone(m.Inputs)
		r.Modal = &m
	}
	return r, true
}

// AckLatency is the wall-clock time between the first dispatch of the
// interaction and the arrival of its (accepted) callback, or 0.
func (s *Server) AckLatency(interactionID string) time.Duration {
	r, _ := s.Response(interactionID)
	return r.AckLatency
}

// Command is a registered application command.
type Command struct {
	ID            string
	GuildID       string // "" for global commands
	Type          int    // 1 CHAT_INPUT, 2 USER, 3 MESSAGE
	Name          string
	Description   string
	Options       []CommandOption
	Contexts      []int // nil when not set
	DMPermission  *bool
	DefaultPerms  *string
	Version       string
	Raw           json.RawMessage // the object as the bot sent it
	integrationTy []int
}

// CommandOption is an option of a registered command.
type CommandOption struct {
	Type         int
	Name         string
	Description  string
	Required     bool
	Choices      []Choice
	Options      []CommandOption
	ChannelTypes []int
	MinValue     *float64
	MaxValue     *float64
	MinLength    *int
	MaxLength    *int
	Autocomplete bool
}

// Choice is a predefined option value.
type Choice struct {
	Name  string
	Value any // string, or float64 for numeric options
}

// Registration records one successful bulk overwrite.
type Registration struct {
	GuildID  string // "" for global
	At       time.Time
	Commands []Command
}

// Commands returns the commands registered globally (guildID "") or in a
// guild.
func (s *Server) Commands(guildID string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Command, 0, len(s.commands[guildID]))
	for _, c := range s.commands[guildID] {
		out = append(out, *c)
	}
	return out
}

// Registrations returns every accepted bulk overwrite (PUT) in order.
func (s *Server) Registrations() []Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.regs)
}

// Request is one REST or CDN request the fake answered.
type Request struct {
	Method string
	Path   string // with query
	// Route is the matched route template, like "POST
	// /channels/{channel.id}/messages" (see the Route constants), or "" if
	// nothing matched.
	Route   string
	Status  int
	Code    int    // JSON error code of a refusal
	Message string // error message of a refusal
	At      time.Time
	Wall    time.Time
}

// Requests returns every request in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Calls counts the requests that matched route, whatever the answer.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Route == route {
			n++
		}
	}
	return n
}

// Refusals returns the requests answered with a 4xx status.
func (s *Server) Refusals() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Status >= 400 && r.Status < 500 {
			out = append(out, r)
		}
	}
	return out
}

// RateLimit is an injected 429 (InjectRateLimit). The body and headers follow
// developers/topics/rate-limits.mdx (payloads/discord-rate-limit-429.docs.txt).
type RateLimit struct {
	// Route is the route template to limit, like RouteMessageCreate.
	Route string
	// Count is how many matching requests get the 429 (default 1).
	Count int
	// RetryAfter goes into retry_after and the reset headers (default
	// 100 ms). discordgo sleeps this long on the wall clock.
	RetryAfter time.Duration
	// Global sets "global": true and X-RateLimit-Global.
	Global bool
	// Scope is X-RateLimit-Scope: "user" (default), "global" or "shared".
	Scope string
}

// InjectRateLimit makes the next rl.Count requests on rl.Route answer 429.
func (s *Server) InjectRateLimit(rl RateLimit) {
	if rl.Count <= 0 {
		rl.Count = 1
	}
	if rl.RetryAfter <= 0 {
		rl.RetryAfter = 100 * time.Millisecond
	}
	if rl.Scope == "" {
		rl.Scope = "user"
		if rl.Global {
			rl.Scope = "global"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = append(s.limits, &rl)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakediscord: marshal: %v", err))
	}
	return b
}
