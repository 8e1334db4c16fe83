package fakeslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit validation. Limits come from the Block Kit reference pages on
// docs.slack.dev (blocks/*-block, block-elements/button-element, composition-objects):
// 50 blocks per message and 100 per modal; block_id <= 255 chars and unique; section
// text <= 3000 and fields <= 10 x 2000; actions 1..25 elements; context 1..10 elements;
// header plain_text <= 150; image alt_text <= 2000, image_url <= 3000, title <= 2000;
// input label <= 2000; button text plain_text <= 75, action_id <= 255, value <= 2000,
// url <= 3000, style primary|danger. Slack replies invalid_blocks with messages like
// "[ERROR] ... [json-pointer:/blocks/0/text]"; unparsable JSON gives
// invalid_blocks_format (chat.update / chat.postEphemeral error tables).

type surface int

const (
	messageSurface surface = iota
	modalSurface
)

var (
	actionElements = setOf("button", "checkboxes", "datepicker", "datetimepicker", "overflow",
		"radio_buttons", "static_select", "external_select", "users_select", "conversations_select",
		"channels_select", "multi_static_select", "multi_external_select", "multi_users_select",
		"multi_conversations_select", "multi_channels_select", "timepicker", "workflow_button",
		"rich_text_input")
	accessoryElements = setOf("button", "checkboxes", "datepicker", "image", "overflow",
		"radio_buttons", "static_select", "external_select", "users_select", "conversations_select",
		"channels_select", "multi_static_select", "multi_external_select", "multi_users_select",
		"multi_conversations_select", "multi_channels_select", "timepicker", "workflow_button")
	inputElements = setOf("plain_text_input", "checkboxes", "radio_buttons", "static_select",
		"external_select", "users_select", "conversations_select", "channels_select",
		"multi_static_select", "multi_external_select", "multi_users_select",
		"multi_conversations_select", "multi_channels_select", "datepicker", "timepicker",
		"datetimepicker", "email_text_input", "url_text_input", "number_input", "file_input",
		"rich_text_input")
)

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

type blockValidator struct {
	s    *Server // for slack_file lookups; mu held
	errs []string
}

func (v *blockValidator) fail(ptr, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("[ERROR] %s [json-pointer:%s]", fmt.Sprintf(format, args...), ptr))
}

// parseBlocksLocked validates a blocks argument. It returns the blocks as sent
// (compacted), or an API error (invalid_blocks_format / invalid_blocks).
func (s *Server) parseBlocksLocked(raw string, sf surface) (json.RawMessage, *apiError) {
	var list []any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, &apiError{code: "invalid_blocks_format", messages: []string{"[ERROR] blocks must be a JSON array of block objects"}}
	}
	v := &blockValidator{s: s}
	v.blocks(list, "/blocks", sf)
	if len(v.errs) > 0 {
		return nil, &apiError{code: "invalid_blocks", messages: v.errs}
	}
	var out bytes.Buffer
	_ = json.Compact(&out, []byte(raw))
	return out.Bytes(), nil
}

func (v *blockValidator) blocks(list []any, path string, sf surface) {
	limit := 50
	if sf == modalSurface {
		limit = 100
	}
	if len(list) > limit {
		v.fail(path, "must contain no more than %d items", limit)
	}
	ids := map[string]bool{}
	for i, b := range list {
		p := fmt.Sprintf("%s/%d", path, i)
		obj, ok := b.(map[string]any)
		if !ok {
			v.fail(p, "must be an object")
			continue
		}
		if id, ok := obj["block_id"]; ok {
			sid, isStr := id.(string)
			switch {
			case !isStr:
				v.fail(p+"/block_id", "must be a string")
			case runes(sid) > 255:
				v.fail(p+"/block_id", "must be less than 256 characters")
			case ids[sid]:
				v.fail(p+"/block_id", "duplicate block_id %q", sid)
			}
			ids[sid] = true
		}
		typ, _ := obj["type"].(string)
		switch typ {
		case "section":
			v.section(obj, p)
		case "actions":
			v.actions(obj, p)
		case "context":
			v.context(obj, p)
		case "image":
			v.image(obj, p, true)
		case "divider":
		case "header":
			v.text(obj["text"], p+"/text", true, 150, true)
		case "input":
			v.input(obj, p)
		case "rich_text":
			if _, ok := obj["elements"].([]any); !ok {
				v.fail(p+"/elements", "must provide an array")
			}
		case "markdown":
			if t, ok := obj["text"].(string); !ok || t == "" || runes(t) > 12000 {
				v.fail(p+"/text", "must be a string of 1 to 12000 characters")
			}
		case "":
			v.fail(p+"/type", "must provide a string")
		default:
			v.fail(p+"/type", "unsupported block type %q", typ)
		}
	}
}

func (v *blockValidator) section(obj map[string]any, p string) {
	_, hasText := obj["text"]
	fields, hasFields := obj["fields"]
	if !hasText && !hasFields {
		v.fail(p, "must provide text or fields")
	}
	if hasText {
		v.text(obj["text"], p+"/text", false, 3000, true)
	}
	if hasFields {
		list, ok := fields.([]any)
		if !ok || len(list) == 0 || len(list) > 10 {
			v.fail(p+"/fields", "must be an array of 1 to 10 text objects")
		}
		for i, f := range list {
			v.text(f, fmt.Sprintf("%s/fields/%d", p, i), false, 2000, true)
		}
	}
	if acc, ok := obj["accessory"]; ok {
		v.element(acc, p+"/accessory", accessoryElements, nil)
	}
}

func (v *blockValidator) actions(obj map[string]any, p string) {
	list, ok := obj["elements"].([]any)
	if !ok || len(list) == 0 || len(list) > 25 {
		v.fail(p+"/elements", "must be an array of 1 to 25 elements")
		return
	}
	seen := map[string]bool{}
	for i, e := range list {
		v.element(e, fmt.Sprintf("%s/elements/%d", p, i), actionElements, seen)
	}
}

func (v *blockValidator) context(obj map[string]any, p string) {
	list, ok := obj["elements"].([]any)
	if !ok || len(list) == 0 || len(list) > 10 {
		v.fail(p+"/elements", "must be an array of 1 to 10 elements")
		return
	}
	for i, e := range list {
		ep := fmt.Sprintf("%s/elements/%d", p, i)
		m, _ := e.(map[string]any)
		if t, _ := m["type"].(string); t == "image" {
			v.image(m, ep, false)
		} else {
			v.text(e, ep, false, 3000, true)
		}
	}
}

func (v *blockValidator) input(obj map[string]any, p string) {
	v.text(obj["label"], p+"/label", true, 2000, true)
	if h, ok := obj["hint"]; ok {
		v.text(h, p+"/hint", true, 2000, true)
	}
	if _, ok := obj["element"]; !ok {
		v.fail(p+"/element", "must provide an object")
		return
	}
	v.element(obj["element"], p+"/element", inputElements, nil)
}

// image validates an image block (isBlock) or image element.
func (v *blockValidator) image(obj map[string]any, p string, isBlock bool) {
	alt, ok := obj["alt_text"].(string)
	if !ok || alt == "" || runes(alt) > 2000 {
		v.fail(p+"/alt_text", "must be a string of 1 to 2000 characters")
	}
	u, hasURL := obj["image_url"]
	sf, hasFile := obj["slack_file"]
	switch {
	case hasURL == hasFile:
		v.fail(p, "must provide exactly one of image_url or slack_file")
	case hasURL:
		su, ok := u.(string)
		if !ok || su == "" || runes(su) > 3000 {
			v.fail(p+"/image_url", "must be a string of 1 to 3000 characters")
		}
	default:
		v.slackFile(sf, p+"/slack_file")
	}
	if isBlock {
		if t, ok := obj["title"]; ok {
			v.text(t, p+"/title", true, 2000, true)
		}
	}
}

// slackFile checks a slack_file object: {"id": F...} or {"url": url_private} of a
// png/jpg/jpeg/gif file the bot can read (slack_file docs, shared/peers.md §0). The
// fake also requires a completed upload (files.completeUploadExternal done) and
// rejects anything else with invalid_blocks (inference).
func (v *blockValidator) slackFile(x any, p string) {
	obj, ok := x.(map[string]any)
	if !ok {
		v.fail(p, "must be an object")
		return
	}
	id, _ := obj["id"].(string)
	u, _ := obj["url"].(string)
	if (id == "") == (u == "") {
		v.fail(p, "must provide exactly one of id or url")
		return
	}
	for _, f := range v.s.files {
		if (id != "" && f.id == id) || (u != "" && (f.urlPrivate() == u || f.urlPrivateDownload() == u)) {
			switch {
			case !v.s.botCanReadLocked(f):
				v.fail(p, "the file is not accessible to the app")
			case !f.completed:
				v.fail(p, "the file upload is not completed")
			case f.filetype != "png" && f.filetype != "jpg" && f.filetype != "gif":
				v.fail(p, "slack_file images must be png, jpg, jpeg or gif, not %s", f.filetype)
			}
			return
		}
	}
	v.fail(p, "invalid slack file")
}

func (v *blockValidator) element(x any, p string, allowed map[string]bool, seenActionIDs map[string]bool) {
	obj, ok := x.(map[string]any)
	if !ok {
		v.fail(p, "must be an object")
		return
	}
	typ, _ := obj["type"].(string)
	if !allowed[typ] {
		v.fail(p+"/type", "element type %q is not allowed here", typ)
		return
	}
	if typ == "image" {
		v.image(obj, p, false)
		return
	}
	if a, ok := obj["action_id"]; ok {
		sa, isStr := a.(string)
		switch {
		case !isStr || sa == "":
			v.fail(p+"/action_id", "must be a non-empty string")
		case runes(sa) > 255:
			v.fail(p+"/action_id", "must be less than 256 characters")
		case seenActionIDs != nil && seenActionIDs[sa]:
			v.fail(p+"/action_id", "duplicate action_id %q in block", sa)
		}
		if seenActionIDs != nil {
			seenActionIDs[sa] = true
		}
	}
	if typ == "button" {
		v.text(obj["text"], p+"/text", true, 75, true)
		if val, ok := obj["value"]; ok {
			if sv, ok := val.(string); !ok || runes(sv) > 2000 {
				v.fail(p+"/value", "must be a string of at most 2000 characters")
			}
		}
		if u, ok := obj["url"]; ok {
			if su, ok := u.(string); !ok || su == "" || runes(su) > 3000 {
				v.fail(p+"/url", "must be a string of 1 to 3000 characters")
			}
		}
		if st, ok := obj["style"]; ok && st != "primary" && st != "danger" {
			v.fail(p+"/style", "must be one of primary, danger")
		}
	}
	if typ == "plain_text_input" {
		if n, ok := obj["max_length"].(float64); ok && (n < 1 || n > 3000) {
			v.fail(p+"/max_length", "must be between 1 and 3000")
		}
	}
}

// text validates a text composition object.
func (v *blockValidator) text(x any, p string, plainOnly bool, max int, required bool) {
	if x == nil {
		if required {
			v.fail(p, "must provide an object")
		}
		return
	}
	obj, ok := x.(map[string]any)
	if !ok {
		v.fail(p, "must be a text object")
		return
	}
	typ, _ := obj["type"].(string)
	switch {
	case typ == "plain_text":
	case typ == "mrkdwn" && !plainOnly:
	case typ == "mrkdwn":
		v.fail(p+"/type", "must be plain_text")
	default:
		v.fail(p+"/type", "must be plain_text or mrkdwn")
	}
	t, ok := obj["text"].(string)
	switch {
	case !ok:
		v.fail(p+"/text", "must provide a string")
	case t == "":
		v.fail(p+"/text", "must be more than 0 characters")
	case runes(t) > max:
		v.fail(p+"/text", "must be less than %d characters", max+1)
	}
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// buttonsIn extracts the buttons of Block Kit blocks.
func buttonsIn(raw json.RawMessage) []Button {
	var blocks []struct {
		Type      string            `json:"type"`
		BlockID   string            `json:"block_id"`
		Elements  []json.RawMessage `json:"elements"`
		Accessory json.RawMessage   `json:"accessory"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var out []Button
	add := func(blockID string, el json.RawMessage) {
		var b struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			URL      string `json:"url"`
			Style    string `json:"style"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		}
		if json.Unmarshal(el, &b) == nil && b.Type == "button" {
			out = append(out, Button{BlockID: blockID, ActionID: b.ActionID, Text: b.Text.Text, Value: b.Value, URL: b.URL, Style: b.Style})
		}
	}
	for _, b := range blocks {
		switch b.Type {
		case "actions":
			for _, el := range b.Elements {
				add(b.BlockID, el)
			}
		case "section":
			if len(b.Accessory) > 0 {
				add(b.BlockID, b.Accessory)
			}
		}
	}
	return out
}
