package discord

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Target kinds.
const (
	// kindInteraction: the deferred response of an interaction is the
	// progress and result message while the token lives.
	kindInteraction = "interaction"
	// kindMessage: the bot's reply to a mention is.
	kindMessage = "message"
)

// target is the reply target stored in jobs.Job.Target.
type target struct {
	Kind string `json:"kind"`
	// AppID and Token address the interaction's webhook; At is when the
	// interaction was created, which starts the token's 15 minutes.
	AppID string    `json:"app_id,omitempty"`
	Token string    `json:"token,omitempty"`
	At    time.Time `json:"at,omitzero"`
	// ChannelID, GuildID ("" in DMs) and UserID (the requester).
	ChannelID string `json:"channel_id"`
	GuildID   string `json:"guild_id,omitempty"`
	UserID    string `json:"user_id"`
	// MessageID is the bot's status reply to a mention; SourceID the
	// user's message.
	MessageID string `json:"message_id,omitempty"`
	SourceID  string `json:"source_id,omitempty"`
	// SizeLimit is the per-file upload limit (attachment_size_limit).
	SizeLimit int64 `json:"size_limit,omitempty"`
}

func (t *target) encode() json.RawMessage {
	b, _ := json.Marshal(t)
	return b
}

func parseTarget(raw json.RawMessage) (*target, error) {
	var t target
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.ChannelID == "" || (t.Kind == kindInteraction && t.Token == "") || (t.Kind == kindMessage && t.MessageID == "") {
		return nil, errors.New("discord: incomplete reply target")
	}
	return &t, nil
}

// usable reports whether the interaction token is still good for an edit
// that takes up to margin.
func (t *target) usable(now time.Time, margin time.Duration) bool {
	return t.Kind == kindInteraction && now.Before(t.At.Add(tokenLifetime-margin))
}

// interaction is enough of an Interaction for discordgo's webhook calls.
func (t *target) interaction() *discordgo.Interaction {
	return &discordgo.Interaction{AppID: t.AppID, Token: t.Token}
}

func (t *target) limit() int64 {
	if t.SizeLimit > 0 {
		return t.SizeLimit
	}
	return defaultUploadLimit
}

// note is what the bot persists about a delivery (jobs.Job.Delivery), so
// a repeated Deliver or Fail after a crash posts nothing twice.
type note struct {
	// Delivered says where the result went: "original", "reply",
	// "channel" or "dm"; MessageID is the message posted.
	Delivered string `json:"delivered,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Failed says the failure was shown.
	Failed bool `json:"failed,omitempty"`
}

func parseNote(raw json.RawMessage) note {
	var n note
	_ = json.Unmarshal(raw, &n)
	return n
}

func (n note) encode() []byte {
	b, _ := json.Marshal(n)
	return b
}

// snowflakeTime is when Discord created an id.
func snowflakeTime(id string, fallback time.Time) time.Time {
	t, err := discordgo.SnowflakeTimestamp(id)
	if err != nil || t.Unix() <= 0 {
		return fallback
	}
	return t
}
