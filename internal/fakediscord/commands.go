package fakediscord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// chatInputName is application-commands.mdx "Application Command Naming":
// ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lowercase where a lowercase
// variant exists.
var chatInputName = regexp.MustCompile(`^[-_'\p{L}\p{N}\p{Devanagari}\p{Thai}]{1,32}$`)

// Command limits (application-commands.mdx "Registering a Command").
const (
	maxChatInputCommands = 100
	maxContextCommands   = 15
	maxDailyCreates      = 200
	maxCommandSize       = 8000
)

type wireCommand struct {
	ID                       string            `json:"id"`
	Type                     *int              `json:"type"`
	Name                     string            `json:"name"`
	NameLocalizations        map[string]string `json:"name_localizations"`
	Description              string            `json:"description"`
	DescriptionLocalizations map[string]string `json:"description_localizations"`
	Options                  []wireOption      `json:"options"`
	DefaultMemberPermissions *string           `json:"default_member_permissions"`
	DMPermission             *bool             `json:"dm_permission"`
	NSFW                     *bool             `json:"nsfw"`
	Contexts                 []int             `json:"contexts"`
	IntegrationTypes         []int             `json:"integration_types"`
	Handler                  *int              `json:"handler"`
}

type wireOption struct {
	Type         int               `json:"type"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	Required     bool              `json:"required"`
	Choices      []wireChoice      `json:"choices"`
	Options      []wireOption      `json:"options"`
	ChannelTypes []int             `json:"channel_types"`
	MinValue     *float64          `json:"min_value"`
	MaxValue     *float64          `json:"max_value"`
	MinLength    *int              `json:"min_length"`
	MaxLength    *int              `json:"max_length"`
	Autocomplete bool              `json:"autocomplete"`
	NameLoc      map[string]string `json:"name_localizations"`
}

type wireChoice struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// commandScope checks the path's application and guild; unknown guilds are
// 404 10004, another application's id 403 50001 (inferred: Discord documents
// no dedicated code).
func (s *Server) commandScope(c *call) (string, *apiError) {
	if c.p["application.id"] != s.AppID {
		return "", errf(http.StatusForbidden, 50001, "Missing Access")
	}
	g := c.p["guild.id"]
	if g != "" && s.guilds[g] == nil {
		return "", errf(http.StatusNotFound, 10004, "Unknown Guild")
	}
	return g, nil
}

func (s *Server) handleGetCommands(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scope, e := s.commandScope(c)
	if e != nil {
		c.failWith(e)
		return
	}
	out := []any{}
	for _, cmd := range s.commands[scope] {
		out = append(out, s.commandJSON(cmd))
	}
	c.writeJSON(http.StatusOK, out)
}

// handleBulkOverwrite is PUT .../commands (application-commands.mdx "Bulk
// Overwrite Global/Guild Application Commands"): the whole list is validated
// first and replaces the scope's commands; existing commands keep their ids.
func (s *Server) handleBulkOverwrite(c *call) {
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 4<<20))
	if err != nil {
		c.fail(http.StatusBadRequest, 0, "could not read body")
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || list == nil {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || len(bytes.TrimSpace(raw)) == 0 {
			c.failForm(formErrors{}.add("", "BASE_TYPE_REQUIRED", "This field is required"))
			return
		}
		c.fail(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope, e := s.commandScope(c)
	if e != nil {
		c.failWith(e)
		return
	}
	cmds, e := s.parseCommands(list, scope)
	if e != nil {
		c.failWith(e)
		return
	}
	if e := s.assignCommandIDs(scope, cmds); e != nil {
		c.failWith(e)
		return
	}
	s.commands[scope] = cmds
	reg := Registration{GuildID: scope, At: s.nowLocked()}
	out := []any{}
	for _, cmd := range cmds {
		reg.Commands = append(reg.Commands, *cmd)
		out = append(out, s.commandJSON(cmd))
	}
	s.regs = append(s.regs, reg)
	s.notifyLocked()
	c.writeJSON(http.StatusOK, out)
}

// handleCreateCommand is POST .../commands, an upsert by name and type.
func (s *Server) handleCreateCommand(c *call) {
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		c.fail(http.StatusBadRequest, 0, "could not read body")
		return
	}
	if !json.Valid(raw) {
		c.fail(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope, e := s.commandScope(c)
	if e != nil {
		c.failWith(e)
		return
	}
	cmds, e := s.parseCommands([]json.RawMessage{raw}, scope)
	if e != nil {
		// Errors of a single command are not under an index.
		if m, ok := e.errors["0"].(map[string]any); ok {
			e.errors = m
		}
		c.failWith(e)
		return
	}
	cmd := cmds[0]
	merged := slices.Clone(s.commands[scope])
	status := http.StatusCreated
	if i := slices.IndexFunc(merged, func(o *Command) bool { return o.Type == cmd.Type && o.Name == cmd.Name }); i >= 0 {
		merged[i] = cmd
		status = http.StatusOK
	} else {
		merged = append(merged, cmd)
	}
	if e := checkCommandCounts(merged); e != nil {
		c.failWith(e)
		return
	}
	if e := s.assignCommandIDs(scope, []*Command{cmd}); e != nil {
		c.failWith(e)
		return
	}
	s.commands[scope] = merged
	s.notifyLocked()
	c.writeJSON(status, s.commandJSON(cmd))
}

func (s *Server) handleDeleteCommand(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scope, e := s.commandScope(c)
	if e != nil {
		c.failWith(e)
		return
	}
	cmds := s.commands[scope]
	i := slices.IndexFunc(cmds, func(o *Command) bool { return o.ID == c.p["command.id"] })
	if i < 0 {
		c.fail(http.StatusNotFound, 10063, "Unknown application command")
		return
	}
	s.commands[scope] = slices.Delete(slices.Clone(cmds), i, i+1)
	s.notifyLocked()
	c.noContent()
}

// assignCommandIDs keeps the id of an existing command with the same type
// and name, gives new ones a snowflake, and enforces the daily create limit
// (application-commands.mdx: "200 application command creates per day, per
// guild"; code 30034).
func (s *Server) assignCommandIDs(scope string, cmds []*Command) *apiError {
	now := s.nowLocked()
	existing := s.commands[scope]
	var recent []time.Time
	for _, t := range s.creates[scope] {
		if now.Sub(t) < 24*time.Hour {
			recent = append(recent, t)
		}
	}
	// match finds the command cmd updates: by id when given (a rename), else
	// by type and name.
	match := func(cmd *Command) int {
		if cmd.ID != "" {
			return slices.IndexFunc(existing, func(o *Command) bool { return o.ID == cmd.ID && o.Type == cmd.Type })
		}
		return slices.IndexFunc(existing, func(o *Command) bool { return o.Type == cmd.Type && o.Name == cmd.Name })
	}
	creates := 0
	for _, cmd := range cmds {
		i := match(cmd)
		if cmd.ID != "" && i < 0 {
			fe := formErrors{}
			fe.add("id", "APPLICATION_COMMAND_INVALID_ID", "Invalid application command id provided")
			return formErr(fe)
		}
		if i < 0 {
			creates++
		}
	}
	if len(recent)+creates > maxDailyCreates {
		retry := recent[0].Add(24 * time.Hour).Sub(now)
		return &apiError{status: http.StatusTooManyRequests, code: 30034,
			msg:    fmt.Sprintf("Max number of daily application command creates has been reached (%d)", maxDailyCreates),
			errors: nil, retryAfter: retry}
	}
	for _, cmd := range cmds {
		if i := match(cmd); i >= 0 {
			cmd.ID = existing[i].ID
		} else {
			cmd.ID = s.newIDLocked()
			recent = append(recent, now)
		}
		cmd.Version = s.newIDLocked()
	}
	s.creates[scope] = recent
	return nil
}

func checkCommandCounts(cmds []*Command) *apiError {
	counts := map[int]int{}
	for _, c := range cmds {
		counts[c.Type]++
	}
	switch {
	case counts[1] > maxChatInputCommands:
		return errf(http.StatusBadRequest, 30032, "Maximum number of application commands reached (100)")
	case counts[2] > maxContextCommands, counts[3] > maxContextCommands:
		return errf(http.StatusBadRequest, 30032, "Maximum number of application commands reached (15)")
	}
	return nil
}

// parseCommands validates commands like Discord (application-commands.mdx
// "Application Command Object"): errors are keyed by the command's index.
func (s *Server) parseCommands(list []json.RawMessage, scope string) ([]*Command, *apiError) {
	fe := formErrors{}
	var cmds []*Command
	seen := map[string]int{}
	for i, raw := range list {
		p := strconv.Itoa(i)
		var w wireCommand
		if err := json.Unmarshal(raw, &w); err != nil {
			fe.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
			continue
		}
		cmd := validateCommand(w, fe, p)
		cmd.Raw = slices.Clone(raw)
		cmd.GuildID = scope
		if scope != "" {
			// contexts, integration_types and dm_permission are only for
			// global commands.
			cmd.Contexts, cmd.DMPermission, cmd.integrationTy = nil, nil, nil
		}
		key := strconv.Itoa(cmd.Type) + "\x00" + cmd.Name
		if _, dup := seen[key]; dup {
			fe.add(p, "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
		}
		seen[key] = i
		cmds = append(cmds, cmd)
	}
	if len(fe) > 0 {
		return nil, formErr(fe)
	}
	if e := checkCommandCounts(cmds); e != nil {
		return nil, e
	}
	return cmds, nil
}

func validateCommand(w wireCommand, fe formErrors, p string) *Command {
	typ := 1
	if w.Type != nil {
		typ = *w.Type
	}
	cmd := &Command{Type: typ, Name: w.Name, Description: w.Description, Contexts: w.Contexts,
		DMPermission: w.DMPermission, DefaultPerms: w.DefaultMemberPermissions, ID: w.ID,
		integrationTy: w.IntegrationTypes}
	switch typ {
	case 1, 2, 3:
	case 4:
		fe.add(p+".type", "APPLICATION_COMMAND_PRIMARY_ENTRY_POINT_INVALID", "PRIMARY_ENTRY_POINT commands require an Activity (EMBEDDED flag)")
	default:
		fe.add(p+".type", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
	}
	n := utf8.RuneCountInString(w.Name)
	switch {
	case n < 1 || n > 32:
		badLen(fe, p+".name", 1, 32)
	case typ == 1 && !validChatInputName(w.Name):
		fe.add(p+".name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
	}
	size := n
	if typ == 1 {
		d := utf8.RuneCountInString(w.Description)
		if d < 1 || d > 100 {
			badLen(fe, p+".description", 1, 100)
		}
		size += d
		if len(w.Options) > 25 {
			maxLen(fe, p+".options", 25)
		}
		opts, sz := validateOptions(w.Options, fe, p+".options", 0)
		cmd.Options = opts
		size += sz
	} else {
		// "Empty string for USER and MESSAGE commands"; options only for
		// CHAT_INPUT.
		if w.Description != "" {
			fe.add(p+".description", "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION", "Context menu commands cannot have a description")
		}
		if len(w.Options) > 0 {
			fe.add(p+".options", "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS", "Context menu commands cannot have options")
		}
	}
	for j, ctx := range w.Contexts {
		if ctx < 0 || ctx > 2 {
			fe.add(fmt.Sprintf("%s.contexts.%d", p, j), "BASE_TYPE_CHOICES", "Value must be one of {0, 1, 2}.")
		}
	}
	if w.DefaultMemberPermissions != nil {
		if _, err := strconv.ParseUint(*w.DefaultMemberPermissions, 10, 64); err != nil {
			fe.add(p+".default_member_permissions", "NUMBER_TYPE_COERCE", fmt.Sprintf("Value \"%s\" is not int.", *w.DefaultMemberPermissions))
		}
	}
	if size > maxCommandSize {
		fe.add(p, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)")
	}
	return cmd
}

func validChatInputName(name string) bool {
	if !chatInputName.MatchString(name) {
		return false
	}
	for _, r := range name {
		if unicode.ToLower(r) != r {
			return false
		}
	}
	return true
}

// validateOptions checks application-commands.mdx "Application Command
// Option Structure": types 1-11, names, descriptions 1-100, unique names,
// required before optional, choices (max 25, only STRING/INTEGER/NUMBER,
// typed values), autocomplete not with choices, subcommand nesting.
func validateOptions(ws []wireOption, fe formErrors, p string, depth int) ([]CommandOption, int) {
	var out []CommandOption
	size := 0
	names := map[string]bool{}
	optionalSeen := false
	subs, values := 0, 0
	for i, w := range ws {
		q := fmt.Sprintf("%s.%d", p, i)
		o := CommandOption{Type: w.Type, Name: w.Name, Description: w.Description, Required: w.Required,
			ChannelTypes: w.ChannelTypes, MinValue: w.MinValue, MaxValue: w.MaxValue,
			MinLength: w.MinLength, MaxLength: w.MaxLength, Autocomplete: w.Autocomplete}
		if w.Type < 1 || w.Type > 11 {
			fe.add(q+".type", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.")
		}
		if !validChatInputName(w.Name) {
			fe.add(q+".name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
		}
		if names[w.Name] {
			fe.add(q+".name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
		}
		names[w.Name] = true
		d := utf8.RuneCountInString(w.Description)
		if d < 1 || d > 100 {
			badLen(fe, q+".description", 1, 100)
		}
		size += utf8.RuneCountInString(w.Name) + d
		isSub := w.Type == 1 || w.Type == 2
		if isSub {
			subs++
			if w.Required {
				fe.add(q+".required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Subcommands and groups cannot be required")
			}
			switch {
			case depth >= 2 || (depth == 1 && w.Type == 2):
				fe.add(q+".type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommand groups can only contain subcommands")
			case len(w.Options) > 25:
				maxLen(fe, q+".options", 25)
			}
			if w.Type == 2 {
				for j, sub := range w.Options {
					if sub.Type != 1 {
						fe.add(fmt.Sprintf("%s.options.%d.type", q, j), "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommand groups can only contain subcommands")
					}
				}
			}
			nested, sz := validateOptions(w.Options, fe, q+".options", depth+1)
			o.Options = nested
			size += sz
		} else {
			values++
			if len(w.Options) > 0 {
				fe.add(q+".options", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Only subcommands and groups can have options")
			}
			if w.Required && optionalSeen {
				fe.add(q, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Required options must be placed before non-required options")
			}
			if !w.Required {
				optionalSeen = true
			}
		}
		if len(w.Choices) > 0 {
			switch {
			case w.Type != 3 && w.Type != 4 && w.Type != 10:
				fe.add(q+".choices", "APPLICATION_COMMAND_OPTION_CHOICES_INVALID", "Choices are only allowed for STRING, INTEGER and NUMBER options")
			case len(w.Choices) > 25:
				maxLen(fe, q+".choices", 25)
			case w.Autocomplete:
				fe.add(q+".autocomplete", "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID", "Autocomplete cannot be enabled with choices")
			}
			for j, ch := range w.Choices {
				cq := fmt.Sprintf("%s.choices.%d", q, j)
				if n := utf8.RuneCountInString(ch.Name); n < 1 || n > 100 {
					badLen(fe, cq+".name", 1, 100)
				}
				size += utf8.RuneCountInString(ch.Name)
				v, ok := choiceValue(w.Type, ch.Value)
				if !ok {
					fe.add(cq+".value", "BASE_TYPE_CHOICES", "Choice value does not match the option type")
				}
				if str, isStr := v.(string); isStr {
					if utf8.RuneCountInString(str) > 100 {
						maxLen(fe, cq+".value", 100)
					}
					size += utf8.RuneCountInString(str)
				}
				o.Choices = append(o.Choices, Choice{Name: ch.Name, Value: v})
			}
		}
		if w.Autocomplete && w.Type != 3 && w.Type != 4 && w.Type != 10 {
			fe.add(q+".autocomplete", "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID", "Autocomplete is only for STRING, INTEGER and NUMBER options")
		}
		if (w.MinValue != nil || w.MaxValue != nil) && w.Type != 4 && w.Type != 10 {
			fe.add(q+".min_value", "APPLICATION_COMMAND_OPTION_INVALID", "min_value/max_value are only for INTEGER and NUMBER options")
		}
		if w.MinLength != nil || w.MaxLength != nil {
			switch {
			case w.Type != 3:
				fe.add(q+".min_length", "APPLICATION_COMMAND_OPTION_INVALID", "min_length/max_length are only for STRING options")
			case w.MinLength != nil && (*w.MinLength < 0 || *w.MinLength > 6000):
				fe.add(q+".min_length", "NUMBER_TYPE_MAX", "min_length must be between 0 and 6000")
			case w.MaxLength != nil && (*w.MaxLength < 1 || *w.MaxLength > 6000):
				fe.add(q+".max_length", "NUMBER_TYPE_MAX", "max_length must be between 1 and 6000")
			}
		}
		if len(w.ChannelTypes) > 0 && w.Type != 7 {
			fe.add(q+".channel_types", "APPLICATION_COMMAND_OPTION_INVALID", "channel_types is only for CHANNEL options")
		}
		out = append(out, o)
	}
	if subs > 0 && values > 0 {
		fe.add(p, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommands cannot be mixed with other option types")
	}
	return out, size
}

func choiceValue(optType int, raw json.RawMessage) (any, bool) {
	switch optType {
	case 3:
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	case 4:
		var f float64
		if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) {
			return nil, false
		}
		return f, true
	case 10:
		var f float64
		return f, json.Unmarshal(raw, &f) == nil
	}
	return nil, false
}

// commandJSON is the application command object the API returns.
func (s *Server) commandJSON(c *Command) map[string]any {
	out := map[string]any{
		"id": c.ID, "application_id": s.AppID, "version": c.Version, "type": c.Type,
		"name": c.Name, "name_localizations": nil, "description": c.Description,
		"description_localizations": nil, "default_member_permissions": nil, "nsfw": false,
	}
	if c.DefaultPerms != nil {
		out["default_member_permissions"] = *c.DefaultPerms
	}
	if c.GuildID != "" {
		out["guild_id"] = c.GuildID
	} else {
		out["dm_permission"] = c.DMPermission == nil || *c.DMPermission
		out["contexts"] = c.Contexts
		it := c.integrationTy
		if it == nil {
			it = []int{0}
		}
		out["integration_types"] = it
	}
	if len(c.Options) > 0 {
		out["options"] = optionsJSON(c.Options)
	}
	return out
}

func optionsJSON(opts []CommandOption) []any {
	out := []any{}
	for _, o := range opts {
		m := map[string]any{"type": o.Type, "name": o.Name, "description": o.Description}
		if o.Required {
			m["required"] = true
		}
		if len(o.Choices) > 0 {
			var cs []any
			for _, c := range o.Choices {
				cs = append(cs, map[string]any{"name": c.Name, "value": c.Value})
			}
			m["choices"] = cs
		}
		if len(o.Options) > 0 {
			m["options"] = optionsJSON(o.Options)
		}
		if o.Autocomplete {
			m["autocomplete"] = true
		}
		if len(o.ChannelTypes) > 0 {
			m["channel_types"] = o.ChannelTypes
		}
		for k, v := range map[string]any{"min_value": o.MinValue, "max_value": o.MaxValue, "min_length": o.MinLength, "max_length": o.MaxLength} {
			switch x := v.(type) {
			case *float64:
				if x != nil {
					m[k] = *x
				}
			case *int:
				if x != nil {
					m[k] = *x
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// findCommandLocked finds the command a user can run in a channel: guild
// commands of that guild first, then global ones (global commands in bot
// DMs unless contexts or dm_permission exclude it).
func (s *Server) findCommandLocked(ch *channel, typ int, name string) *Command {
	match := func(c *Command) bool { return c.Type == typ && c.Name == name }
	if !ch.dm() {
		if i := slices.IndexFunc(s.commands[ch.guildID], match); i >= 0 {
			return s.commands[ch.guildID][i]
		}
	}
	i := slices.IndexFunc(s.commands[""], match)
	if i < 0 {
		return nil
	}
	c := s.commands[""][i]
	ctx := 0
	if ch.dm() {
		ctx = 1
	}
	if c.Contexts != nil && !slices.Contains(c.Contexts, ctx) {
		return nil
	}
	if ch.dm() && c.Contexts == nil && c.DMPermission != nil && !*c.DMPermission {
		return nil
	}
	return c
}
