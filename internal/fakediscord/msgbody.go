package fakediscord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// msgKind says which endpoint a message body came to; the docs allow
// different flags and fields per endpoint.
type msgKind int

const (
	kindChannelCreate   msgKind = iota // POST /channels/{id}/messages
	kindFollowup                       // POST /webhooks/{app}/{token}
	kindCallbackMessage                // callback type 4
	kindCallbackUpdate                 // callback type 7
	kindEdit                           // PATCH webhook or channel message
)

func (k msgKind) creates() bool { return k <= kindCallbackMessage }

// allowedFlags per endpoint: message.mdx "Create Message" (SUPPRESS_EMBEDS,
// SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE, IS_COMPONENTS_V2),
// webhook.mdx "Execute Webhook" + receiving-and-responding.mdx "Create
// Followup Message" (adds EPHEMERAL), "Interaction Callback Data Structure"
// (SUPPRESS_EMBEDS, EPHEMERAL, IS_COMPONENTS_V2, IS_VOICE_MESSAGE,
// SUPPRESS_NOTIFICATIONS). Edits may change SUPPRESS_EMBEDS and set
// IS_COMPONENTS_V2; other changes "are currently ignored without error".
func (k msgKind) allowedFlags() int64 {
	switch k {
	case kindChannelCreate:
		return flagSuppressEmbeds | flagSuppressNotifications | flagVoiceMessage | flagComponentsV2
	case kindFollowup:
		return flagSuppressEmbeds | flagEphemeral | flagSuppressNotifications | flagComponentsV2
	case kindCallbackMessage:
		return flagSuppressEmbeds | flagEphemeral | flagSuppressNotifications | flagVoiceMessage | flagComponentsV2
	default:
		return flagSuppressEmbeds | flagComponentsV2
	}
}

type attRef struct {
	existingID  string // keep this attachment
	placeholder int    // new file files[n]
	isNew       bool
	description *string
	filename    string
}

type refInput struct {
	messageID, channelID, guildID string
	failIfNotExists               bool
	typ                           int
}

type allowedMentions struct {
	parse       []string
	users       []string
	repliedUser bool
}

// msgInput is a validated message body.
type msgInput struct {
	content        *string
	embeds         []json.RawMessage
	embedsSet      bool
	components     json.RawMessage
	componentsSet  bool
	attachments    []attRef
	attachmentsSet bool
	flags          int64
	flagsSet       bool
	ref            *refInput
	allowed        *allowedMentions
	poll           bool
	files          []*upload
}

// parseMessage validates a message body for kind. existingFlags are the
// flags of the message being edited (0 when creating).
func parseMessage(b *body, kind msgKind, existingFlags int64, version int) (*msgInput, *apiError) {
	in := &msgInput{files: b.files}
	fe := formErrors{}
	f := b.fields
	isNull := func(k string) bool { return bytes.Equal(f[k], []byte("null")) }
	present := func(k string) bool { _, ok := f[k]; return ok && !isNull(k) }

	if present("content") {
		var c string
		if json.Unmarshal(f["content"], &c) != nil {
			fe.add("content", "BASE_TYPE_STRING", "Must be a string.")
		} else {
			if utf8.RuneCountInString(c) > 2000 {
				maxLen(fe, "content", 2000)
			}
			in.content = &c
		}
	} else if isNull("content") && !kind.creates() {
		empty := ""
		in.content = &empty
	}

	if present("flags") {
		if json.Unmarshal(f["flags"], &in.flags) != nil {
			fe.add("flags", "NUMBER_TYPE_COERCE", "Value is not int.")
		}
		in.flagsSet = true
		if kind.creates() {
			if bad := in.flags &^ kind.allowedFlags(); bad != 0 {
				fe.add("flags", "MESSAGE_FLAGS_INVALID", fmt.Sprintf("Flags %d cannot be set on this endpoint (allowed: %d).", bad, kind.allowedFlags()))
			}
		} else {
			in.flags &= kind.allowedFlags()
		}
	}
	v2 := (in.flags|existingFlags)&flagComponentsV2 != 0

	if present("embeds") {
		var list []json.RawMessage
		if json.Unmarshal(f["embeds"], &list) != nil {
			fe.add("embeds", "BASE_TYPE_ARRAY", "Must be an array.")
		} else {
			validateEmbeds(list, fe)
			in.embeds, in.embedsSet = list, true
		}
	} else if isNull("embeds") && !kind.creates() {
		in.embedsSet = true
	}

	if present("components") {
		norm := validateComponents(f["components"], v2, fe, "components")
		in.components, in.componentsSet = norm, true
	} else if isNull("components") && !kind.creates() {
		in.componentsSet = true
	}

	if present("attachments") {
		var list []map[string]json.RawMessage
		if json.Unmarshal(f["attachments"], &list) != nil {
			fe.add("attachments", "BASE_TYPE_ARRAY", "Must be an array of objects.")
		}
		in.attachmentsSet = true
		for i, a := range list {
			p := fmt.Sprintf("attachments.%d", i)
			var idStr string
			var idNum json.Number
			switch {
			case json.Unmarshal(a["id"], &idStr) == nil:
			case json.Unmarshal(a["id"], &idNum) == nil:
				idStr = idNum.String()
			default:
				required(fe, p+".id")
				continue
			}
			ref := attRef{}
			if n, err := strconv.Atoi(idStr); err == nil && slices.ContainsFunc(b.files, func(u *upload) bool { return u.index == n }) {
				ref.isNew, ref.placeholder = true, n
			} else if isSnowflake(idStr) && (kind == kindEdit || kind == kindCallbackUpdate) {
				ref.existingID = idStr
			} else {
				fe.add(p+".id", "ATTACHMENT_NOT_FOUND", fmt.Sprintf("Attachment %q does not match a files[n] part or an attachment of this message.", idStr))
				continue
			}
			if d, ok := a["description"]; ok && !bytes.Equal(d, []byte("null")) {
				var desc string
				if json.Unmarshal(d, &desc) == nil {
					if utf8.RuneCountInString(desc) > 1024 {
						maxLen(fe, p+".description", 1024)
					}
					ref.description = &desc
				}
			}
			_ = json.Unmarshal(a["filename"], &ref.filename)
			in.attachments = append(in.attachments, ref)
		}
		if version >= 10 && kind == kindEdit {
			// webhook.mdx/message.mdx: since v10 the array must list new
			// files too.
			for _, u := range b.files {
				if !slices.ContainsFunc(in.attachments, func(r attRef) bool { return r.isNew && r.placeholder == u.index }) {
					fe.add("attachments", "ATTACHMENT_NOT_LISTED", fmt.Sprintf("files[%d] is not listed in attachments (required since API v10).", u.index))
				}
			}
		}
	} else if isNull("attachments") && !kind.creates() {
		in.attachmentsSet = true
	}
	if len(b.files) > 10 {
		maxLen(fe, "attachments", 10)
	}

	if present("allowed_mentions") {
		var am struct {
			Parse       []string `json:"parse"`
			Users       []string `json:"users"`
			Roles       []string `json:"roles"`
			RepliedUser bool     `json:"replied_user"`
		}
		if json.Unmarshal(f["allowed_mentions"], &am) != nil {
			fe.add("allowed_mentions", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
		} else {
			for i, p := range am.Parse {
				if p != "users" && p != "roles" && p != "everyone" {
					fe.add(fmt.Sprintf("allowed_mentions.parse.%d", i), "BASE_TYPE_CHOICES", "Value must be one of ('users', 'roles', 'everyone').")
				}
			}
			// message.mdx "Allowed Mentions": parse "users" and a users list
			// are mutually exclusive.
			if slices.Contains(am.Parse, "users") && len(am.Users) > 0 {
				fe.add("allowed_mentions", "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE", "parse:[\"users\"] and users: [ids] are mutually exclusive.")
			}
			in.allowed = &allowedMentions{parse: am.Parse, users: am.Users, repliedUser: am.RepliedUser}
		}
	}

	if present("message_reference") && kind == kindChannelCreate {
		var r struct {
			Type            int    `json:"type"`
			MessageID       string `json:"message_id"`
			ChannelID       string `json:"channel_id"`
			GuildID         string `json:"guild_id"`
			FailIfNotExists *bool  `json:"fail_if_not_exists"`
		}
		if json.Unmarshal(f["message_reference"], &r) != nil {
			fe.add("message_reference", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
		} else {
			in.ref = &refInput{messageID: r.MessageID, channelID: r.ChannelID, guildID: r.GuildID, failIfNotExists: r.FailIfNotExists == nil || *r.FailIfNotExists, typ: r.Type}
			if r.Type == 0 && r.MessageID == "" {
				required(fe, "message_reference.message_id")
			}
			if r.Type != 0 {
				fe.add("message_reference.type", "UNSUPPORTED_BY_FAKE", "fakediscord implements replies (type 0) only, not forwards")
			}
		}
	}

	if present("poll") {
		in.poll = true
	}
	if present("sticker_ids") {
		var ids []string
		if json.Unmarshal(f["sticker_ids"], &ids) == nil && len(ids) > 0 {
			return nil, errf(http.StatusBadRequest, 10060, "Unknown Sticker")
		}
	}
	if present("nonce") {
		var n string
		if json.Unmarshal(f["nonce"], &n) == nil && utf8.RuneCountInString(n) > 25 {
			maxLen(fe, "nonce", 25)
		}
	}

	if v2 {
		// "When the flag IS_COMPONENTS_V2 is set, the message can only
		// contain components."
		if in.content != nil && *in.content != "" {
			fe.add("content", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2")
		}
		if len(in.embeds) > 0 {
			fe.add("embeds", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "The 'embeds' field cannot be used when using MessageFlags.IS_COMPONENTS_V2")
		}
		if in.poll {
			fe.add("poll", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", "The 'poll' field cannot be used when using MessageFlags.IS_COMPONENTS_V2")
		}
	}
	if len(fe) > 0 {
		return nil, formErr(fe)
	}
	if kind.creates() {
		hasContent := in.content != nil && strings.TrimSpace(*in.content) != ""
		if !hasContent && len(in.embeds) == 0 && componentCount(in.components) == 0 && len(in.files) == 0 && !in.poll {
			return nil, errf(http.StatusBadRequest, 50006, "Cannot send an empty message")
		}
	}
	return in, nil
}

// validateEmbeds checks message.mdx "Embed Limits": at most 10 embeds,
// title 256, description 4096, 25 fields (name 256, value 1024), footer
// text 2048, author name 256, 6000 characters in total; URLs http(s) (and
// attachment:// for images).
func validateEmbeds(list []json.RawMessage, fe formErrors) {
	if len(list) > 10 {
		maxLen(fe, "embeds", 10)
		return
	}
	total := 0
	for i, raw := range list {
		p := fmt.Sprintf("embeds.%d", i)
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) != nil {
			fe.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
			continue
		}
		str := func(obj map[string]json.RawMessage, k, path string, limit int, req bool) string {
			raw, ok := obj[k]
			if !ok || bytes.Equal(raw, []byte("null")) {
				if req {
					required(fe, path)
				}
				return ""
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				fe.add(path, "BASE_TYPE_STRING", "Must be a string.")
				return ""
			}
			if req && strings.TrimSpace(v) == "" {
				required(fe, path)
			}
			if limit > 0 && utf8.RuneCountInString(v) > limit {
				maxLen(fe, path, limit)
			}
			return v
		}
		urlField := func(obj map[string]json.RawMessage, k, path string, attachmentOK, req bool) {
			u := str(obj, k, path, 2048, req)
			if u == "" {
				return
			}
			scheme, _, _ := strings.Cut(u, "://")
			if scheme == "attachment" && attachmentOK {
				return
			}
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				fe.add(path, "URL_TYPE_INVALID_SCHEME", fmt.Sprintf("Scheme %q is not supported. Scheme must be one of ('http', 'https').", scheme))
			}
		}
		total += utf8.RuneCountInString(str(e, "title", p+".title", 256, false))
		total += utf8.RuneCountInString(str(e, "description", p+".description", 4096, false))
		urlField(e, "url", p+".url", false, false)
		if ts := str(e, "timestamp", p+".timestamp", 0, false); ts != "" {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				fe.add(p+".timestamp", "DATE_TYPE_PARSE", "Could not parse "+ts+". Should be ISO8601.")
			}
		}
		if c, ok := e["color"]; ok && !bytes.Equal(c, []byte("null")) {
			var n int64
			if json.Unmarshal(c, &n) != nil || n < 0 || n > 0xFFFFFF {
				fe.add(p+".color", "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215.")
			}
		}
		sub := func(k string) map[string]json.RawMessage {
			raw, ok := e[k]
			if !ok || bytes.Equal(raw, []byte("null")) {
				return nil
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) != nil {
				fe.add(p+"."+k, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
				return nil
			}
			return m
		}
		if ft := sub("footer"); ft != nil {
			total += utf8.RuneCountInString(str(ft, "text", p+".footer.text", 2048, true))
			urlField(ft, "icon_url", p+".footer.icon_url", true, false)
		}
		if au := sub("author"); au != nil {
			total += utf8.RuneCountInString(str(au, "name", p+".author.name", 256, true))
			urlField(au, "url", p+".author.url", false, false)
			urlField(au, "icon_url", p+".author.icon_url", true, false)
		}
		for _, k := range []string{"image", "thumbnail"} {
			if im := sub(k); im != nil {
				urlField(im, "url", p+"."+k+".url", true, true)
			}
		}
		if raw, ok := e["fields"]; ok && !bytes.Equal(raw, []byte("null")) {
			var fields []map[string]json.RawMessage
			if json.Unmarshal(raw, &fields) != nil {
				fe.add(p+".fields", "BASE_TYPE_ARRAY", "Must be an array.")
			} else if len(fields) > 25 {
				maxLen(fe, p+".fields", 25)
			} else {
				for j, fl := range fields {
					q := fmt.Sprintf("%s.fields.%d", p, j)
					total += utf8.RuneCountInString(str(fl, "name", q+".name", 256, true))
					total += utf8.RuneCountInString(str(fl, "value", q+".value", 1024, true))
				}
			}
		}
	}
	if total > 6000 {
		fe.add("embeds", "MESSAGE_EMBED_TOTAL_SIZE", "Embed size exceeds maximum size of 6000")
	}
}

// validateComponents checks components/reference.mdx and returns the array
// with the numeric ids Discord fills in ("auto populated through increment
// if not provided").
func validateComponents(raw json.RawMessage, v2 bool, fe formErrors, p string) json.RawMessage {
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&list) != nil {
		fe.add(p, "BASE_TYPE_ARRAY", "Must be an array of objects.")
		return nil
	}
	cv := &componentCheck{fe: fe, ids: map[string]bool{}, v2: v2}
	if !v2 && len(list) > 5 {
		maxLen(fe, p, 5)
	}
	for i, c := range list {
		q := fmt.Sprintf("%s.%d", p, i)
		t := intField(c, "type")
		switch {
		case !v2 && t != 1:
			fe.add(q+".type", "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Top-level components must be action rows (type 1) unless the message has IS_COMPONENTS_V2.")
		case v2 && !slices.Contains([]int{1, 9, 10, 12, 13, 14, 17}, t):
			fe.add(q+".type", "UNION_TYPE_CHOICES", fmt.Sprintf("Component type %d is not allowed at the top level.", t))
		}
		cv.check(c, q)
	}
	if v2 && cv.count > 40 {
		fe.add(p, "COMPONENT_MAX_TOTAL_COMPONENTS_EXCEEDED", "Messages can have at most 40 components.")
	}
	assignComponentIDs(list)
	return mustJSON(list)
}

type componentCheck struct {
	fe    formErrors
	ids   map[string]bool
	v2    bool
	count int
}

func intField(c map[string]any, k string) int {
	switch v := c[k].(type) {
	case json.Number:
		n, _ := strconv.Atoi(v.String())
		return n
	case float64:
		return int(v)
	}
	return -1
}

func strField(c map[string]any, k string) (string, bool) {
	v, ok := c[k].(string)
	return v, ok
}

func (cv *componentCheck) customID(c map[string]any, q string, req bool) {
	id, ok := strField(c, "custom_id")
	switch {
	case !ok || id == "":
		if req {
			required(cv.fe, q+".custom_id")
		}
		return
	case utf8.RuneCountInString(id) > 100:
		maxLen(cv.fe, q+".custom_id", 100)
	case cv.ids[id]:
		cv.fe.add(q+".custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
	}
	cv.ids[id] = true
}

func (cv *componentCheck) check(c map[string]any, q string) {
	cv.count++
	fe := cv.fe
	switch t := intField(c, "type"); t {
	case 1: // Action Row
		kids, _ := c["components"].([]any)
		if len(kids) < 1 || len(kids) > 5 {
			badLen(fe, q+".components", 1, 5)
		}
		buttons, selects := 0, 0
		for j, k := range kids {
			km, ok := k.(map[string]any)
			if !ok {
				fe.add(fmt.Sprintf("%s.components.%d", q, j), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
				continue
			}
			switch intField(km, "type") {
			case 2:
				buttons++
			case 3, 5, 6, 7, 8:
				selects++
			case 4:
				fe.add(fmt.Sprintf("%s.components.%d.type", q, j), "COMPONENT_TYPE_INVALID", "Text inputs are only allowed in modals.")
			default:
				fe.add(fmt.Sprintf("%s.components.%d.type", q, j), "COMPONENT_TYPE_INVALID", "Action rows can only contain buttons and selects.")
			}
			cv.check(km, fmt.Sprintf("%s.components.%d", q, j))
		}
		if selects > 0 && (selects > 1 || buttons > 0) {
			fe.add(q+".components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "An action row holds up to 5 buttons or a single select menu.")
		}
	case 2: // Button
		style := intField(c, "style")
		label, _ := strField(c, "label")
		if utf8.RuneCountInString(label) > 80 {
			maxLen(fe, q+".label", 80)
		}
		u, hasURL := strField(c, "url")
		switch {
		case style >= 1 && style <= 4:
			cv.customID(c, q, true)
			if hasURL && u != "" {
				fe.add(q+".url", "BUTTON_COMPONENT_URL_WITH_CUSTOM_ID", "A button with a custom_id cannot have a url.")
			}
		case style == 5:
			if !hasURL || u == "" {
				required(fe, q+".url")
			} else if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https" && pu.Scheme != "discord") {
				fe.add(q+".url", "URL_TYPE_INVALID_SCHEME", "Scheme must be one of ('http', 'https', 'discord').")
			}
			if id, _ := strField(c, "custom_id"); id != "" {
				fe.add(q+".custom_id", "BUTTON_COMPONENT_CUSTOM_ID_WITH_URL", "A link button cannot have a custom_id.")
			}
		case style == 6:
			if sku, _ := strField(c, "sku_id"); sku == "" {
				required(fe, q+".sku_id")
			}
		default:
			fe.add(q+".style", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")
		}
		if style != 6 && label == "" && c["emoji"] == nil {
			fe.add(q+".label", "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A button needs a label or an emoji.")
		}
	case 3, 5, 6, 7, 8: // selects
		cv.customID(c, q, true)
		if ph, _ := strField(c, "placeholder"); utf8.RuneCountInString(ph) > 150 {
			maxLen(fe, q+".placeholder", 150)
		}
		if t == 3 {
			opts, _ := c["options"].([]any)
			if len(opts) < 1 || len(opts) > 25 {
				badLen(fe, q+".options", 1, 25)
			}
			for j, o := range opts {
				om, _ := o.(map[string]any)
				oq := fmt.Sprintf("%s.options.%d", q, j)
				for _, k := range []string{"label", "value"} {
					v, _ := strField(om, k)
					if v == "" {
						required(fe, oq+"."+k)
					} else if utf8.RuneCountInString(v) > 100 {
						maxLen(fe, oq+"."+k, 100)
					}
				}
			}
		}
	case 9, 10, 11, 12, 13, 14, 17:
		if !cv.v2 {
			fe.add(q+".type", "COMPONENT_TYPE_INVALID", "Layout components need the IS_COMPONENTS_V2 flag.")
		}
		for _, k := range []string{"components", "items"} {
			if kids, ok := c[k].([]any); ok {
				for j, kid := range kids {
					if km, ok := kid.(map[string]any); ok && km["type"] != nil {
						cv.check(km, fmt.Sprintf("%s.%s.%d", q, k, j))
					}
				}
			}
		}
		if acc, ok := c["accessory"].(map[string]any); ok {
			cv.check(acc, q+".accessory")
		}
	default:
		fe.add(q+".type", "UNION_TYPE_CHOICES", fmt.Sprintf("Component type %d is not valid here.", t))
	}
}

// assignComponentIDs fills missing "id"s with increasing numbers not used
// elsewhere in the tree.
func assignComponentIDs(list []map[string]any) {
	used := map[int]bool{}
	var all []map[string]any
	var walk func(c map[string]any)
	walk = func(c map[string]any) {
		all = append(all, c)
		if id := intField(c, "id"); id > 0 {
			used[id] = true
		}
		for _, k := range []string{"components", "items"} {
			if kids, ok := c[k].([]any); ok {
				for _, kid := range kids {
					if km, ok := kid.(map[string]any); ok && km["type"] != nil {
						walk(km)
					}
				}
			}
		}
		for _, k := range []string{"accessory", "component"} {
			if km, ok := c[k].(map[string]any); ok {
				walk(km)
			}
		}
	}
	for _, c := range list {
		walk(c)
	}
	next := 1
	for _, c := range all {
		if intField(c, "id") > 0 {
			continue
		}
		for used[next] {
			next++
		}
		c["id"] = next
		used[next] = true
	}
}

var userMention = regexp.MustCompile(`<@!?(\d+)>`)

// parseMentions returns the known users mentioned in content, filtered by
// allowed_mentions (message.mdx "Allowed Mentions Object").
func (s *Server) parseMentionsLocked(content string, am *allowedMentions) []string {
	var out []string
	for _, m := range userMention.FindAllStringSubmatch(content, -1) {
		id := m[1]
		if _, ok := s.users[id]; !ok || slices.Contains(out, id) {
			continue
		}
		if am != nil && !slices.Contains(am.parse, "users") && !slices.Contains(am.users, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}
