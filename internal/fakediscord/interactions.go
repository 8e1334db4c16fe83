package fakediscord

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Interaction types (receiving-and-responding.mdx §Interaction Type).
const (
	interactionCommand   = 2
	interactionComponent = 3
	interactionModal     = 5
)

type interaction struct {
	id, token          string
	typ                int
	cmdType            int // 1 chat input, 3 message (for typ 2)
	name               string
	channelID, guildID string
	user               User
	payload            json.RawMessage
	source             *message     // component message (typ 3, or modal from a component)
	modalOf            *interaction // typ 5: the interaction answered with the modal

	dispatched     bool
	dispatchedAt   time.Time
	dispatchedWall time.Time
	acked          bool
	ackType        int
	ackedAt        time.Time
	ackWall        time.Time
	ackFlags       int64
	original       *message
	followups      []*message
	modal          *Modal
	modalSubmitted bool
}

func (in *interaction) owners() map[string]string {
	g := in.guildID
	if g == "" {
		g = "0"
	}
	return map[string]string{"0": g}
}

// componentBased: DEFERRED_UPDATE_MESSAGE and UPDATE_MESSAGE are "Only valid
// for component-based interactions" (a component, or a modal opened from
// one).
func (in *interaction) componentBased() bool { return in.source != nil }

// Interaction is an interaction built by SlashCommand, MessageCommand,
// ClickButton or SubmitModal, ready for DispatchInteraction.
type Interaction struct {
	ID        string
	Token     string
	AppID     string
	Type      int // 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT, 5 MODAL_SUBMIT
	ChannelID string
	GuildID   string // "" in DMs
	User      User
	// Payload is the INTERACTION_CREATE "d" object.
	Payload json.RawMessage
}

// Arg is a value a user typed for a command option; build it with
// StringArg, IntegerArg, NumberArg, BoolArg, UserArg, AttachmentArg or
// SubCommand.
type Arg struct {
	Name    string
	Type    int
	Value   any
	Options []Arg
}

// StringArg is a STRING (3) option value.
func StringArg(name, v string) Arg { return Arg{Name: name, Type: 3, Value: v} }

// IntegerArg is an INTEGER (4) option value.
func IntegerArg(name string, v int64) Arg { return Arg{Name: name, Type: 4, Value: v} }

// NumberArg is a NUMBER (10) option value.
func NumberArg(name string, v float64) Arg { return Arg{Name: name, Type: 10, Value: v} }

// BoolArg is a BOOLEAN (5) option value.
func BoolArg(name string, v bool) Arg { return Arg{Name: name, Type: 5, Value: v} }

// UserArg is a USER (6) option value.
func UserArg(name string, u User) Arg { return Arg{Name: name, Type: 6, Value: u.ID} }

// AttachmentArg is an ATTACHMENT (11) option value: a file from
// NewAttachment, sent as an ephemeral attachment in data.resolved.
func AttachmentArg(name string, a Attachment) Arg { return Arg{Name: name, Type: 11, Value: a.ID} }

// SubCommand selects a SUB_COMMAND (1) with its own args.
func SubCommand(name string, args ...Arg) Arg { return Arg{Name: name, Type: 1, Options: args} }

// SubCommandGroup selects a SUB_COMMAND_GROUP (2) holding one SubCommand.
func SubCommandGroup(name string, sub Arg) Arg {
	return Arg{Name: name, Type: 2, Options: []Arg{sub}}
}

// SlashCommand is a user running a CHAT_INPUT command.
type SlashCommand struct {
	Name string
	Args []Arg
	// ChannelID defaults to Server.ChannelID.
	ChannelID string
	// User defaults to Server.User.
	User User
	// Locale defaults to "en-US".
	Locale string
}

// MessageCommand is a user picking a message context-menu command (Apps ->
// Name) on TargetID.
type MessageCommand struct {
	Name     string
	TargetID string
	User     User
	Locale   string
}

// ButtonClick is a user clicking the button with CustomID on a message.
type ButtonClick struct {
	MessageID string
	CustomID  string
	User      User
	Locale    string
}

// ModalSubmit is the user submitting the modal the bot showed in answer to
// Interaction. Values maps text input custom_ids to what the user typed;
// inputs not listed are left empty.
type ModalSubmit struct {
	Interaction *Interaction
	Values      map[string]string
}

func notPossible(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotPossible, fmt.Sprintf(format, args...))
}

func (s *Server) actorLocked(u User, locale string) (User, string, error) {
	if u.ID == "" {
		u = s.User
	}
	known, ok := s.users[u.ID]
	if !ok || known.Bot {
		return User{}, "", notPossible("unknown user %q (create users with AddUser)", u.ID)
	}
	if locale == "" {
		locale = "en-US"
	}
	return known, locale, nil
}

// newInteractionLocked builds the common interaction fields (receiving-and-
// responding.mdx §Interaction Structure).
func (s *Server) newInteractionLocked(typ int, ch *channel, u User, locale string) (*interaction, map[string]any) {
	in := &interaction{id: s.newIDLocked(), typ: typ, channelID: ch.id, guildID: ch.guildID, user: u}
	in.token = "aW50ZXJhY3Rpb246" + base64.RawURLEncoding.EncodeToString([]byte(in.id+":"+randomToken(48)))
	chJSON := s.channelJSONLocked(ch)
	chJSON["permissions"] = memberPermissions
	d := map[string]any{
		"id": in.id, "application_id": s.AppID, "type": typ, "token": in.token, "version": 1,
		"channel_id": ch.id, "channel": chJSON, "locale": locale,
		"app_permissions":                strconv.FormatInt(s.botPermsLocked(ch), 10),
		"entitlements":                   []any{},
		"authorizing_integration_owners": in.owners(),
		"attachment_size_limit":          s.uploadLimitLocked(ch.guildID),
	}
	if ch.dm() {
		d["user"] = userJSON(u)
		d["context"] = 1
	} else {
		d["guild_id"] = ch.guildID
		d["guild"] = map[string]any{"id": ch.guildID, "locale": "en-US", "features": []string{}}
		d["guild_locale"] = "en-US"
		d["member"] = s.memberJSONLocked(ch.guildID, u, true)
		d["context"] = 0
	}
	return in, d
}

func (s *Server) registerInteractionLocked(in *interaction, d map[string]any) *Interaction {
	in.payload = mustJSON(d)
	s.interactions[in.id] = in
	s.byToken[in.token] = in
	return &Interaction{ID: in.id, Token: in.token, AppID: s.AppID, Type: in.typ, ChannelID: in.channelID,
		GuildID: in.guildID, User: in.user, Payload: in.payload}
}

// SlashCommand builds the INTERACTION_CREATE of a user running a registered
// CHAT_INPUT command. It fails with ErrNotPossible if the command is not
// registered where the channel is, or the args do not fit its options
// (names, types, required, choices, ranges).
func (s *Server) SlashCommand(c SlashCommand) (*Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, locale, err := s.actorLocked(c.User, c.Locale)
	if err != nil {
		return nil, err
	}
	if c.ChannelID == "" {
		c.ChannelID = s.ChannelID
	}
	ch := s.channels[c.ChannelID]
	if ch == nil || (ch.dm() && ch.recipient != u.ID) {
		return nil, notPossible("user %s cannot see channel %q", u.Username, c.ChannelID)
	}
	cmd := s.findCommandLocked(ch, 1, c.Name)
	if cmd == nil {
		return nil, notPossible("no CHAT_INPUT command %q is registered for channel %s", c.Name, ch.id)
	}
	in, d := s.newInteractionLocked(interactionCommand, ch, u, locale)
	in.cmdType, in.name = 1, cmd.Name
	resolved := map[string]map[string]any{}
	opts, err := s.buildArgsLocked(c.Args, cmd.Options, ch, resolved, "/"+cmd.Name)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"id": cmd.ID, "name": cmd.Name, "type": 1}
	if len(opts) > 0 {
		data["options"] = opts
	}
	if len(resolved) > 0 {
		data["resolved"] = resolved
	}
	if cmd.GuildID != "" {
		data["guild_id"] = cmd.GuildID
	}
	d["data"] = data
	return s.registerInteractionLocked(in, d), nil
}

// buildArgsLocked matches args to the registered options like the Discord
// client: every arg must name an option of its type, required options must
// be present, choices and limits hold.
func (s *Server) buildArgsLocked(args []Arg, opts []CommandOption, ch *channel, resolved map[string]map[string]any, where string) ([]any, error) {
	var out []any
	seen := map[string]bool{}
	for _, a := range args {
		i := slices.IndexFunc(opts, func(o CommandOption) bool { return o.Name == a.Name })
		if i < 0 {
			return nil, notPossible("%s has no option %q", where, a.Name)
		}
		o := opts[i]
		if o.Type != a.Type {
			return nil, notPossible("%s option %q is type %d, not %d", where, a.Name, o.Type, a.Type)
		}
		if seen[a.Name] {
			return nil, notPossible("%s option %q given twice", where, a.Name)
		}
		seen[a.Name] = true
		item := map[string]any{"name": a.Name, "type": a.Type}
		switch a.Type {
		case 1, 2:
			if len(args) != 1 {
				return nil, notPossible("%s: a subcommand must be the only arg", where)
			}
			if a.Type == 2 && (len(a.Options) != 1 || a.Options[0].Type != 1) {
				return nil, notPossible("%s %s: a group takes exactly one SubCommand", where, a.Name)
			}
			sub, err := s.buildArgsLocked(a.Options, o.Options, ch, resolved, where+" "+a.Name)
			if err != nil {
				return nil, err
			}
			if sub == nil {
				sub = []any{}
			}
			item["options"] = sub
		default:
			v, err := s.argValueLocked(a, o, ch, resolved, where)
			if err != nil {
				return nil, err
			}
			item["value"] = v
		}
		out = append(out, item)
	}
	for _, o := range opts {
		if o.Required && !seen[o.Name] {
			return nil, notPossible("%s: required option %q missing", where, o.Name)
		}
	}
	if len(opts) > 0 && (opts[0].Type == 1 || opts[0].Type == 2) && len(args) == 0 {
		return nil, notPossible("%s: pick a subcommand", where)
	}
	return out, nil
}

func (s *Server) argValueLocked(a Arg, o CommandOption, ch *channel, resolved map[string]map[string]any, where string) (any, error) {
	bad := func(why string) error { return notPossible("%s option %q: %s", where, a.Name, why) }
	var num float64
	switch a.Type {
	case 3:
		v, ok := a.Value.(string)
		if !ok {
			return nil, bad("want a string")
		}
		n := utf8.RuneCountInString(v)
		if n == 0 || (o.MinLength != nil && n < *o.MinLength) || (o.MaxLength != nil && n > *o.MaxLength) || n > 6000 {
			return nil, bad("length out of range")
		}
		if len(o.Choices) > 0 && !slices.ContainsFunc(o.Choices, func(c Choice) bool { return c.Value == v }) {
			return nil, bad("not one of the choices")
		}
		return v, nil
	case 4:
		v, ok := a.Value.(int64)
		if !ok {
			return nil, bad("want an int64")
		}
		if v > 1<<53-1 || v < -(1<<53-1) {
			return nil, bad("out of range")
		}
		num = float64(v)
	case 10:
		v, ok := a.Value.(float64)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, bad("want a float64")
		}
		num = v
	case 5:
		v, ok := a.Value.(bool)
		if !ok {
			return nil, bad("want a bool")
		}
		return v, nil
	case 6:
		id, _ := a.Value.(string)
		u, ok := s.users[id]
		if !ok {
			return nil, bad("unknown user")
		}
		users := resolved["users"]
		if users == nil {
			users = map[string]any{}
			resolved["users"] = users
		}
		users[id] = userJSON(u)
		if !ch.dm() {
			members := resolved["members"]
			if members == nil {
				members = map[string]any{}
				resolved["members"] = members
			}
			m := s.memberJSONLocked(ch.guildID, u, false)
			delete(m, "deaf")
			delete(m, "mute")
			m["permissions"] = memberPermissions
			members[id] = m
		}
		return id, nil
	case 11:
		id, _ := a.Value.(string)
		att := s.attachments[id]
		switch {
		case att == nil:
			return nil, bad("unknown attachment (use NewAttachment)")
		case att.used:
			return nil, bad("attachment already used")
		}
		att.used, att.Ephemeral, att.ChannelID = true, true, ch.id
		atts := resolved["attachments"]
		if atts == nil {
			atts = map[string]any{}
			resolved["attachments"] = atts
		}
		atts[id] = s.attachmentJSONLocked(att)
		return id, nil
	default:
		return nil, bad(fmt.Sprintf("option type %d is not supported by fakediscord", a.Type))
	}
	if (o.MinValue != nil && num < *o.MinValue) || (o.MaxValue != nil && num > *o.MaxValue) {
		return nil, bad("out of min_value/max_value")
	}
	if len(o.Choices) > 0 && !slices.ContainsFunc(o.Choices, func(c Choice) bool { return c.Value == num }) {
		return nil, bad("not one of the choices")
	}
	if a.Type == 4 {
		return int64(num), nil
	}
	return num, nil
}

// MessageCommand builds the INTERACTION_CREATE of a message context-menu
// command (application-commands.mdx §Message Commands): data.type 3,
// target_id and the full target in data.resolved.messages (context-menu
// targets are exempt from the MESSAGE_CONTENT restriction).
func (s *Server) MessageCommand(c MessageCommand) (*Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, locale, err := s.actorLocked(c.User, c.Locale)
	if err != nil {
		return nil, err
	}
	target := s.messages[c.TargetID]
	if target == nil || target.deleted || (target.ephemeral() && target.ephemeralFor != u.ID) {
		return nil, notPossible("no message %q to right-click", c.TargetID)
	}
	ch := s.channels[target.channelID]
	if ch.dm() && ch.recipient != u.ID {
		return nil, notPossible("user %s cannot see channel %s", u.Username, ch.id)
	}
	if target.ephemeral() {
		return nil, notPossible("context menus are not offered on ephemeral messages")
	}
	cmd := s.findCommandLocked(ch, 3, c.Name)
	if cmd == nil {
		return nil, notPossible("no MESSAGE command %q is registered for channel %s", c.Name, ch.id)
	}
	in, d := s.newInteractionLocked(interactionCommand, ch, u, locale)
	in.cmdType, in.name = 3, cmd.Name
	msg := s.renderMessageLocked(target, fullView)
	data := map[string]any{
		"id": cmd.ID, "name": cmd.Name, "type": 3, "target_id": target.id,
		"resolved": map[string]any{"messages": map[string]any{target.id: msg}},
	}
	if cmd.GuildID != "" {
		data["guild_id"] = cmd.GuildID
	}
	d["data"] = data
	return s.registerInteractionLocked(in, d), nil
}

// ClickButton builds the MESSAGE_COMPONENT interaction of a click on an
// enabled, non-link button (components/reference.mdx §Button). Buttons on an
// ephemeral message can only be clicked by its recipient.
func (s *Server) ClickButton(c ButtonClick) (*Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, locale, err := s.actorLocked(c.User, c.Locale)
	if err != nil {
		return nil, err
	}
	m := s.messages[c.MessageID]
	if m == nil || m.deleted || (m.ephemeral() && m.ephemeralFor != u.ID) {
		return nil, notPossible("user %s cannot see message %q", u.Username, c.MessageID)
	}
	ch := s.channels[m.channelID]
	if ch.dm() && ch.recipient != u.ID {
		return nil, notPossible("user %s cannot see channel %s", u.Username, ch.id)
	}
	var btn map[string]any
	findButton(m.components, c.CustomID, &btn)
	switch {
	case btn == nil:
		return nil, notPossible("message %s has no button with custom_id %q", m.id, c.CustomID)
	case btn["disabled"] == true:
		return nil, notPossible("button %q is disabled", c.CustomID)
	case intField(btn, "style") == 5 || intField(btn, "style") == 6:
		return nil, notPossible("link and premium buttons send no interaction")
	}
	in, d := s.newInteractionLocked(interactionComponent, ch, u, locale)
	in.source = m
	d["message"] = s.renderMessageLocked(m, fullView)
	d["data"] = map[string]any{"component_type": 2, "custom_id": c.CustomID, "id": intField(btn, "id")}
	return s.registerInteractionLocked(in, d), nil
}

func findButton(raw json.RawMessage, customID string, out *map[string]any) {
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&list) != nil {
		return
	}
	var walk func(c map[string]any)
	walk = func(c map[string]any) {
		if intField(c, "type") == 2 && c["custom_id"] == customID && *out == nil {
			*out = c
		}
		for _, k := range []string{"components", "items"} {
			if kids, ok := c[k].([]any); ok {
				for _, kid := range kids {
					if km, ok := kid.(map[string]any); ok {
						walk(km)
					}
				}
			}
		}
		if acc, ok := c["accessory"].(map[string]any); ok {
			walk(acc)
		}
	}
	for _, c := range list {
		walk(c)
	}
}

// SubmitModal builds the MODAL_SUBMIT interaction for a modal the bot showed
// (callback type 9). Values must fit the inputs (required, min/max length);
// the layout echoes the modal's: legacy ActionRow->TextInput, or Label.
func (s *Server) SubmitModal(m ModalSubmit) (*Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Interaction == nil {
		return nil, notPossible("no interaction given")
	}
	src := s.interactions[m.Interaction.ID]
	switch {
	case src == nil || !src.acked || src.ackType != 9:
		return nil, notPossible("interaction %s was not answered with a modal", m.Interaction.ID)
	case src.modalSubmitted:
		return nil, notPossible("the modal was already submitted")
	}
	for k := range m.Values {
		if !slices.ContainsFunc(src.modal.Inputs, func(t TextInput) bool { return t.CustomID == k }) {
			return nil, notPossible("the modal has no text input %q", k)
		}
	}
	var comps []any
	for _, t := range src.modal.Inputs {
		v, ok := m.Values[t.CustomID]
		if !ok {
			v = t.Value
		}
		n := utf8.RuneCountInString(v)
		switch {
		case t.Required && n == 0:
			return nil, notPossible("text input %q is required", t.CustomID)
		case n > 0 && t.MinLength > 0 && n < t.MinLength:
			return nil, notPossible("text input %q needs at least %d characters", t.CustomID, t.MinLength)
		case t.MaxLength > 0 && n > t.MaxLength, n > 4000:
			return nil, notPossible("text input %q allows at most %d characters", t.CustomID, t.MaxLength)
		}
		input := map[string]any{"type": 4, "id": t.id, "custom_id": t.CustomID, "value": v}
		if t.inLabel {
			comps = append(comps, map[string]any{"type": 18, "id": t.rowID, "component": input})
		} else {
			comps = append(comps, map[string]any{"type": 1, "id": t.rowID, "components": []any{input}})
		}
	}
	ch := s.channels[src.channelID]
	in, d := s.newInteractionLocked(interactionModal, ch, src.user, localeOf(src))
	in.modalOf = src
	if src.source != nil {
		in.source = src.source
		d["message"] = s.renderMessageLocked(src.source, fullView)
	}
	d["data"] = map[string]any{"custom_id": src.modal.CustomID, "components": comps}
	src.modalSubmitted = true
	return s.registerInteractionLocked(in, d), nil
}

func localeOf(in *interaction) string {
	var d struct {
		Locale string `json:"locale"`
	}
	_ = json.Unmarshal(in.payload, &d)
	return d.Locale
}

// DispatchInteraction sends the INTERACTION_CREATE. The 3-second and
// 15-minute clocks start at the first dispatch; calling it again sends the
// same payload again (a duplicate delivery).
func (s *Server) DispatchInteraction(it *Interaction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.interactions[it.ID]
	if in == nil {
		return fmt.Errorf("fakediscord: unknown interaction %s", it.ID)
	}
	if !s.liveSessionLocked() {
		return ErrNoSession
	}
	if !in.dispatched {
		in.dispatched, in.dispatchedAt, in.dispatchedWall = true, s.nowLocked(), time.Now()
	}
	payload := json.RawMessage(in.payload)
	s.dispatchLocked("INTERACTION_CREATE", in.guildID, func(*gwSession) (any, bool) { return payload, true })
	return nil
}

// responseType is the message type of responses to in (message.mdx
// §Message Types; components: replies to the component's message).
func responseType(in *interaction) int {
	switch {
	case in.source != nil:
		return typeReply
	case in.modalOf != nil:
		return responseType(in.modalOf)
	case in.cmdType == 3:
		return typeContextMenu
	default:
		return typeChatInput
	}
}

// newResponseLocked creates a message answering in (callback 4/5 or
// followup).
func (s *Server) newResponseLocked(in *interaction, input *msgInput, flags int64) *message {
	ch := s.channels[in.channelID]
	if input == nil {
		input = &msgInput{}
	}
	m := s.newMessageLocked(ch, s.botUser(), input, responseType(in))
	m.flags = flags
	m.interaction, m.webhookID = in, s.AppID
	if m.ephemeral() {
		m.ephemeralFor = in.user.ID
		for _, a := range m.attachments {
			a.Ephemeral = true
		}
	}
	if in.source != nil {
		m.ref = &msgRef{messageID: in.source.id, channelID: in.source.channelID, guildID: in.source.guildID}
	} else if in.cmdType == 3 {
		var d struct {
			Data struct {
				TargetID string `json:"target_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(in.payload, &d)
		if in.modalOf != nil {
			_ = json.Unmarshal(in.modalOf.payload, &d)
		}
		m.ref = &msgRef{messageID: d.Data.TargetID, channelID: in.channelID, guildID: in.guildID}
	}
	return m
}

// handleCallback is POST /interactions/{id}/{token}/callback
// (receiving-and-responding.mdx "Create Interaction Response"): once, within
// 3 s of the dispatch (else 404 10062 Unknown interaction), a second one is
// 400 40060. Callback types must fit the interaction type.
func (s *Server) handleCallback(c *call) {
	s.mu.Lock()
	in := s.interactions[c.p["interaction.id"]]
	var limit int64
	ok := in != nil && in.token == c.p["interaction.token"] && in.dispatched
	if ok {
		limit = s.uploadLimitLocked(in.guildID)
	}
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	b, e := c.readBody(limit, true)
	if e != nil {
		c.failWith(e)
		return
	}
	var resp struct {
		Type *int            `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if b.fields == nil {
		c.failForm(formErrors{}.add("type", "BASE_TYPE_REQUIRED", "This field is required"))
		return
	}
	if json.Unmarshal(mustJSON(b.fields), &resp) != nil || resp.Type == nil {
		c.failForm(formErrors{}.add("type", "BASE_TYPE_REQUIRED", "This field is required"))
		return
	}
	data := &body{files: b.files, multipart: b.multipart, fields: map[string]json.RawMessage{}}
	if len(resp.Data) > 0 && string(resp.Data) != "null" {
		if json.Unmarshal(resp.Data, &data.fields) != nil {
			c.failForm(formErrors{}.add("data", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"))
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if in.acked {
		c.fail(http.StatusBadRequest, 40060, "Interaction has already been acknowledged.")
		return
	}
	if c.arrival.After(in.dispatchedAt.Add(AckDeadline)) {
		c.fail(http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	typ := *resp.Type
	badType := func(why string) {
		c.failForm(formErrors{}.add("type", "INTERACTION_CALLBACK_TYPE_INVALID", why))
	}
	var original *message
	var flags int64
	var modal *Modal
	switch typ {
	case 4:
		input, e := parseMessage(data, kindCallbackMessage, 0, c.version)
		if e != nil {
			c.failWith(e)
			return
		}
		flags = input.flags
		original = s.newResponseLocked(in, input, flags)
	case 5:
		if raw, ok := data.fields["flags"]; ok && string(raw) != "null" {
			if json.Unmarshal(raw, &flags) != nil || flags&^flagEphemeral != 0 {
				// "the only valid message flag you may use is EPHEMERAL"
				c.failForm(formErrors{}.add("data.flags", "MESSAGE_FLAGS_INVALID", "Only EPHEMERAL (64) may be set on DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE."))
				return
			}
		}
		original = s.newResponseLocked(in, nil, flags|flagLoading)
	case 6, 7:
		if !in.componentBased() {
			badType("DEFERRED_UPDATE_MESSAGE and UPDATE_MESSAGE are only valid for component-based interactions.")
			return
		}
		if in.source.deleted {
			c.fail(http.StatusNotFound, 10008, "Unknown Message")
			return
		}
		original = in.source
		flags = in.source.flags & flagEphemeral
		if typ == 7 {
			input, e := parseMessage(data, kindCallbackUpdate, in.source.flags, c.version)
			if e != nil {
				c.failWith(e)
				return
			}
			if e := s.editMessageLocked(in.source, input); e != nil {
				c.failWith(e)
				return
			}
		}
	case 9:
		if in.typ == interactionModal {
			badType("MODAL is not available for MODAL_SUBMIT interactions.")
			return
		}
		m, e := validateModal(data.fields)
		if e != nil {
			c.failWith(e)
			return
		}
		modal = m
	case 1:
		badType("PONG is only valid for PING interactions.")
		return
	case 8:
		badType("APPLICATION_COMMAND_AUTOCOMPLETE_RESULT is only valid for autocomplete interactions.")
		return
	case 10, 12:
		badType("This callback type needs monetization or an Activity.")
		return
	default:
		c.failForm(formErrors{}.add("type", "BASE_TYPE_CHOICES", "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}."))
		return
	}
	in.acked, in.ackType, in.ackedAt, in.ackWall, in.ackFlags = true, typ, c.arrival, time.Now(), flags
	in.modal = modal
	if original != nil {
		in.original = original
		if typ == 4 || typ == 5 {
			s.addMessageLocked(s.channels[in.channelID], original)
		}
	}
	s.notifyLocked()
	if q := c.r.URL.Query().Get("with_response"); q == "true" || q == "True" || q == "1" {
		cb := map[string]any{"id": in.id, "type": in.typ}
		res := map[string]any{"type": typ}
		if original != nil {
			cb["response_message_id"] = original.id
			cb["response_message_loading"] = original.flags&flagLoading != 0
			cb["response_message_ephemeral"] = original.ephemeral()
			if typ == 4 || typ == 7 {
				res["message"] = s.renderMessageLocked(original, fullView)
			}
		}
		c.writeJSON(http.StatusOK, map[string]any{"interaction": cb, "resource": res})
		return
	}
	c.noContent()
}

// validateModal checks the modal callback data (receiving-and-responding.mdx
// §Modal; components/reference.mdx §Text Input, §Label): custom_id 1-100,
// title 1-45, 1-5 components, each an Action Row with one Text Input
// (legacy) or a Label wrapping one.
func validateModal(f map[string]json.RawMessage) (*Modal, *apiError) {
	fe := formErrors{}
	var m Modal
	if json.Unmarshal(f["custom_id"], &m.CustomID) != nil || m.CustomID == "" {
		required(fe, "data.custom_id")
	} else if utf8.RuneCountInString(m.CustomID) > 100 {
		maxLen(fe, "data.custom_id", 100)
	}
	if json.Unmarshal(f["title"], &m.Title) != nil || m.Title == "" {
		required(fe, "data.title")
	} else if utf8.RuneCountInString(m.Title) > 45 {
		maxLen(fe, "data.title", 45)
	}
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(f["components"]))
	dec.UseNumber()
	if dec.Decode(&list) != nil || len(list) < 1 || len(list) > 5 {
		badLen(fe, "data.components", 1, 5)
	}
	ids := map[string]bool{}
	for i, c := range list {
		p := fmt.Sprintf("data.components.%d", i)
		var input map[string]any
		inLabel := false
		switch intField(c, "type") {
		case 1:
			kids, _ := c["components"].([]any)
			if len(kids) != 1 {
				fe.add(p+".components", "BASE_TYPE_BAD_LENGTH", "A modal action row holds exactly one text input.")
				continue
			}
			input, _ = kids[0].(map[string]any)
			p += ".components.0"
		case 18:
			inLabel = true
			if l, _ := strField(c, "label"); l == "" {
				required(fe, p+".label")
			} else if utf8.RuneCountInString(l) > 45 {
				maxLen(fe, p+".label", 45)
			}
			input, _ = c["component"].(map[string]any)
			p += ".component"
		case 10:
			continue // Text Display
		default:
			fe.add(p+".type", "UNION_TYPE_CHOICES", "Modal components must be action rows (1), labels (18) or text displays (10).")
			continue
		}
		if input == nil || intField(input, "type") != 4 {
			fe.add(p+".type", "UNION_TYPE_CHOICES", "fakediscord modals support text inputs (type 4) only.")
			continue
		}
		t := TextInput{inLabel: inLabel, Required: true}
		t.CustomID, _ = strField(input, "custom_id")
		switch {
		case t.CustomID == "":
			required(fe, p+".custom_id")
		case utf8.RuneCountInString(t.CustomID) > 100:
			maxLen(fe, p+".custom_id", 100)
		case ids[t.CustomID]:
			fe.add(p+".custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
		}
		ids[t.CustomID] = true
		t.Style = intField(input, "style")
		if t.Style != 1 && t.Style != 2 {
			fe.add(p+".style", "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
		}
		t.Label, _ = strField(input, "label")
		switch {
		case !inLabel && t.Label == "":
			required(fe, p+".label")
		case utf8.RuneCountInString(t.Label) > 45:
			maxLen(fe, p+".label", 45)
		}
		if r, ok := input["required"].(bool); ok {
			t.Required = r
		}
		t.MinLength, t.MaxLength = max(intField(input, "min_length"), 0), max(intField(input, "max_length"), 0)
		if _, ok := input["min_length"]; ok && (t.MinLength < 0 || t.MinLength > 4000) {
			fe.add(p+".min_length", "NUMBER_TYPE_MAX", "min_length must be between 0 and 4000")
		}
		if _, ok := input["max_length"]; ok && (t.MaxLength < 1 || t.MaxLength > 4000) {
			fe.add(p+".max_length", "NUMBER_TYPE_MAX", "max_length must be between 1 and 4000")
		}
		if t.MaxLength > 0 && t.MinLength > t.MaxLength {
			fe.add(p+".min_length", "NUMBER_TYPE_MAX", "min_length cannot exceed max_length")
		}
		t.Value, _ = strField(input, "value")
		if n := utf8.RuneCountInString(t.Value); n > 4000 || (t.MaxLength > 0 && n > t.MaxLength) {
			maxLen(fe, p+".value", max(t.MaxLength, 4000))
		}
		t.Placeholder, _ = strField(input, "placeholder")
		if utf8.RuneCountInString(t.Placeholder) > 100 {
			maxLen(fe, p+".placeholder", 100)
		}
		m.Inputs = append(m.Inputs, t)
	}
	if len(fe) > 0 {
		return nil, formErr(fe)
	}
	assignComponentIDs(list)
	// Read back the ids Discord assigned.
	k := 0
	for _, c := range list {
		var input map[string]any
		switch intField(c, "type") {
		case 1:
			kids, _ := c["components"].([]any)
			input, _ = kids[0].(map[string]any)
		case 18:
			input, _ = c["component"].(map[string]any)
		default:
			continue
		}
		m.Inputs[k].rowID, m.Inputs[k].id = intField(c, "id"), intField(input, "id")
		k++
	}
	m.Components = mustJSON(list)
	return &m, nil
}
