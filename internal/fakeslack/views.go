package fakeslack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
)

// TriggerTTL is how long a trigger_id can be exchanged for a view. Slack's
// interactivity docs give three seconds (as commonly quoted; the page text was not
// retrieved for this package), the same budget as the 3 s ack deadline.
const TriggerTTL = 3 * time.Second

type trigger struct {
	user   string
	issued time.Time // fake clock
	used   bool
}

// issueTriggerLocked returns a trigger_id shaped like Slack's "132456.7890123.abcdef".
func (s *Server) issueTriggerLocked(user string) string {
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", s.nowLocked().Unix(), 1000000000+s.seq, randHex(16))
	s.triggers[id] = &trigger{user: user, issued: s.nowLocked()}
	return id
}

type view struct {
	View
	obj map[string]any // the view object (views.open reply shape)
}

func (v *view) snapshot() View {
	out := v.View
	out.JSON, _ = json.Marshal(v.obj)
	out.Errors = maps.Clone(v.Errors)
	return out
}

// Views returns the modals opened so far, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, id := range s.viewOrder {
		out = append(out, s.views[id].snapshot())
	}
	return out
}

// WaitForView waits for an opened view for which match (nil: any) returns true.
func (s *Server) WaitForView(ctx context.Context, match func(View) bool) (View, error) {
	var found View
	err := s.Await(ctx, func() bool {
		for _, v := range s.Views() {
			if match == nil || match(v) {
				found = v
				return true
			}
		}
		return false
	})
	if err != nil {
		return View{}, fmt.Errorf("waiting for a view: %w", err)
	}
	return found, nil
}

// viewsOpen exchanges a trigger_id for a modal. Errors (views.open reference):
// invalid_trigger_id (not issued by this fake), exchanged_trigger_id (already used),
// expired_trigger_id (older than TriggerTTL on the fake clock), invalid_arguments with
// response_metadata.messages for a malformed view, duplicate_external_id,
// view_too_large (> 250 kB).
func (s *Server) viewsOpen(req *apiRequest) (map[string]any, *apiError) {
	tid := req.args.Get("trigger_id")
	if tid == "" {
		return nil, argError("missing required field: trigger_id")
	}
	tr, ok := s.triggers[tid]
	switch {
	case !ok:
		return nil, errf("invalid_trigger_id")
	case tr.used:
		return nil, errf("exchanged_trigger_id")
	case s.nowLocked().Sub(tr.issued) > TriggerTTL:
		return nil, errf("expired_trigger_id")
	}
	raw := req.args.Get("view")
	if raw == "" {
		return nil, argError("missing required field: view")
	}
	if len(raw) > 250_000 {
		return nil, errf("view_too_large")
	}
	obj, aerr := s.parseModalLocked(raw, "")
	if aerr != nil {
		return nil, aerr
	}
	tr.used = true
	v := s.addViewLocked(obj, tid, tr.user)
	return map[string]any{"view": v.obj}, nil
}

// parseModalLocked validates a modal view and returns it in views.open reply shape
// (without id). Rules from docs.slack.dev/reference/views/modal-views: type modal;
// title plain_text <= 24 chars; submit/close plain_text <= 24, submit required when an
// input block is present; blocks <= 100; private_metadata <= 3000; callback_id and
// external_id <= 255.
func (s *Server) parseModalLocked(raw, replacing string) (map[string]any, *apiError) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		return nil, argError("view must be a JSON object [json-pointer:/view]")
	}
	v := &blockValidator{s: s}
	if t, _ := obj["type"].(string); t != "modal" {
		v.fail("/view/type", "must be modal for views.open")
	}
	v.text(obj["title"], "/view/title", true, 24, true)
	if x, ok := obj["submit"]; ok {
		v.text(x, "/view/submit", true, 24, true)
	}
	if x, ok := obj["close"]; ok {
		v.text(x, "/view/close", true, 24, true)
	}
	blocks, ok := obj["blocks"].([]any)
	if !ok {
		v.fail("/view/blocks", "must provide an array")
	}
	v.blocks(blocks, "/view/blocks", modalSurface)
	hasInput := false
	for _, b := range blocks {
		if m, _ := b.(map[string]any); m != nil && m["type"] == "input" {
			hasInput = true
		}
	}
	if _, ok := obj["submit"]; hasInput && !ok {
		v.fail("/view/submit", "must provide submit when the view has input blocks")
	}
	for field, limit := range map[string]int{"private_metadata": 3000, "callback_id": 255, "external_id": 255} {
		if x, ok := obj[field]; ok {
			if str, isStr := x.(string); !isStr || runes(str) > limit {
				v.fail("/view/"+field, "must be a string of at most %d characters", limit)
			}
		}
	}
	if len(v.errs) > 0 {
		return nil, &apiError{code: "invalid_arguments", messages: v.errs}
	}
	if ext, _ := obj["external_id"].(string); ext != "" {
		for _, other := range s.views {
			if other.ExternalID == ext && other.ID != replacing {
				return nil, errf("duplicate_external_id")
			}
		}
	}
	for i, b := range blocks { // Slack assigns block_ids the app did not set
		if m := b.(map[string]any); m["block_id"] == nil {
			m["block_id"] = fmt.Sprintf("b%d%s", i, randHex(2))
		}
	}
	return obj, nil
}

func (s *Server) addViewLocked(obj map[string]any, triggerID, user string) *view {
	id := s.nextIDLocked("V")
	s.fillViewLocked(obj, id, id)
	v := &view{obj: obj, View: View{ID: id, TriggerID: triggerID, User: user, OpenedAt: s.nowLocked(), Open: true}}
	v.setFields()
	s.views[id] = v
	s.viewOrder = append(s.viewOrder, id)
	s.notifyLocked()
	return v
}

func (s *Server) fillViewLocked(obj map[string]any, id, root string) {
	obj["id"], obj["team_id"], obj["app_id"], obj["bot_id"] = id, TeamID, AppID, BotID
	obj["app_installed_team_id"] = TeamID
	obj["root_view_id"], obj["previous_view_id"] = root, nil
	obj["hash"] = fmt.Sprintf("%d.%s", s.nowLocked().Unix(), randHex(4))
	obj["state"] = map[string]any{"values": map[string]any{}}
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := obj[k]; !ok {
			obj[k] = ""
		}
	}
	for _, k := range []string{"clear_on_close", "notify_on_close"} {
		if _, ok := obj[k]; !ok {
			obj[k] = false
		}
	}
}

func (v *view) setFields() {
	v.CallbackID, _ = v.obj["callback_id"].(string)
	v.PrivateMetadata, _ = v.obj["private_metadata"].(string)
	v.ExternalID, _ = v.obj["external_id"].(string)
	v.Title = plainText(v.obj["title"])
	v.Submit = plainText(v.obj["submit"])
}

func plainText(x any) string {
	m, _ := x.(map[string]any)
	t, _ := m["text"].(string)
	return t
}

// SubmitView builds the view_submission payload of the open view viewID, as if its
// user filled the inputs and pressed the submit button. inputs maps an input's
// action_id (or "block_id/action_id") to what the user typed; for static_select and
// radio_buttons give the option value, for checkboxes comma-separated values.
// It fails the test (t.Fatalf) where the Slack client would not let the user submit:
// view unknown or closed, no submit button, a required input left empty, text outside
// min_length/max_length, an unknown key, an option that does not exist.
func (s *Server) SubmitView(viewID string, inputs map[string]string) *Interaction {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views[viewID]
	if v == nil {
		s.tb.Fatalf("fakeslack: SubmitView: unknown view %q", viewID)
	}
	if !v.Open {
		s.tb.Fatalf("fakeslack: SubmitView: view %s is closed", viewID)
	}
	if v.Submit == "" {
		s.tb.Fatalf("fakeslack: SubmitView: view %s has no submit button", viewID)
	}
	used := map[string]bool{}
	values := map[string]any{}
	blocks, _ := v.obj["blocks"].([]any)
	for _, b := range blocks {
		blk, _ := b.(map[string]any)
		if blk["type"] != "input" {
			continue
		}
		el, _ := blk["element"].(map[string]any)
		blockID, _ := blk["block_id"].(string)
		actionID, _ := el["action_id"].(string)
		if actionID == "" {
			actionID = "a" + blockID // Slack generates one (inference)
		}
		typ, _ := el["type"].(string)
		val, set := inputs[blockID+"/"+actionID]
		key := blockID + "/" + actionID
		if !set {
			val, set = inputs[actionID]
			key = actionID
		}
		if set {
			used[key] = true
		}
		optional, _ := blk["optional"].(bool)
		if !optional && (!set || val == "") {
			s.tb.Fatalf("fakeslack: SubmitView: required input %q (%s) is empty; Slack would not submit", plainText(blk["label"]), actionID)
		}
		st, err := inputState(typ, el, val, set && val != "")
		if err != nil {
			s.tb.Fatalf("fakeslack: SubmitView: input %s: %v", actionID, err)
		}
		values[blockID] = map[string]any{actionID: st}
	}
	for k := range inputs {
		if !used[k] {
			s.tb.Fatalf("fakeslack: SubmitView: view %s has no input %q", viewID, k)
		}
	}
	obj := maps.Clone(v.obj)
	obj["state"] = map[string]any{"values": values}
	v.Submissions++
	user := v.User
	in := &Interaction{
		Type: "view_submission", TriggerID: s.issueTriggerLocked(user), ViewID: viewID,
		body: map[string]any{
			"type": "view_submission", "team": teamJSON(), "user": s.userJSONLocked(user),
			"api_app_id": AppID, "token": verificationToken, "view": obj,
			"response_urls": []any{}, "is_enterprise_install": false, "enterprise": nil,
		},
	}
	in.body["trigger_id"] = in.TriggerID
	s.notifyLocked()
	return in
}

// inputState renders one entry of view.state.values.
func inputState(typ string, el map[string]any, val string, set bool) (map[string]any, error) {
	st := map[string]any{"type": typ}
	switch typ {
	case "plain_text_input", "email_text_input", "url_text_input", "number_input":
		if !set {
			st["value"] = nil
			return st, nil
		}
		if n, ok := el["min_length"].(float64); ok && runes(val) < int(n) {
			return nil, fmt.Errorf("%q is shorter than min_length %d", val, int(n))
		}
		maxLen := 3000
		if n, ok := el["max_length"].(float64); ok {
			maxLen = int(n)
		}
		if runes(val) > maxLen {
			return nil, fmt.Errorf("text is longer than max_length %d", maxLen)
		}
		st["value"] = val
	case "static_select", "radio_buttons":
		if !set {
			st["selected_option"] = nil
			return st, nil
		}
		opt := findOption(el, val)
		if opt == nil {
			return nil, fmt.Errorf("no option with value %q", val)
		}
		st["selected_option"] = opt
	case "checkboxes":
		sel := []any{}
		if set {
			for v := range strings.SplitSeq(val, ",") {
				opt := findOption(el, v)
				if opt == nil {
					return nil, fmt.Errorf("no option with value %q", v)
				}
				sel = append(sel, opt)
			}
		}
		st["selected_options"] = sel
	default:
		return nil, fmt.Errorf("fakeslack cannot fill %s inputs", typ)
	}
	return st, nil
}

func findOption(el map[string]any, value string) map[string]any {
	opts, _ := el["options"].([]any)
	if groups, ok := el["option_groups"].([]any); ok {
		for _, g := range groups {
			gm, _ := g.(map[string]any)
			more, _ := gm["options"].([]any)
			opts = append(opts, more...)
		}
	}
	for _, o := range opts {
		om, _ := o.(map[string]any)
		if om["value"] == value {
			return om
		}
	}
	return nil
}

// applyViewResponseLocked handles the app's answer to a view_submission (ack payload
// or HTTP body): none closes the view; response_action errors keeps it open with the
// errors (keys must be input block_ids, else Slack shows a generic error: warning);
// update replaces it; push opens a new view; clear closes all the user's views.
func (s *Server) applyViewResponseLocked(viewID string, body json.RawMessage, via string) {
	v := s.views[viewID]
	if v == nil {
		return
	}
	var resp struct {
		ResponseAction string            `json:"response_action"`
		View           json.RawMessage   `json:"view"`
		Errors         map[string]string `json:"errors"`
	}
	if len(body) > 0 && string(body) != "null" {
		if err := json.Unmarshal(body, &resp); err != nil {
			s.warnLocked("view_submission %s: %s is not a JSON object: %v", viewID, via, err)
			return
		}
	}
	switch resp.ResponseAction {
	case "":
		v.Open = false
	case "errors":
		inputs := map[string]bool{}
		blocks, _ := v.obj["blocks"].([]any)
		for _, b := range blocks {
			if m, _ := b.(map[string]any); m["type"] == "input" {
				inputs[fmt.Sprint(m["block_id"])] = true
			}
		}
		for k := range resp.Errors {
			if !inputs[k] {
				s.warnLocked("view_submission %s: errors key %q is not an input block_id; Slack shows a generic error instead", viewID, k)
			}
		}
		v.Errors = resp.Errors
	case "update", "push":
		obj, aerr := s.parseModalLocked(string(resp.View), viewID)
		if aerr != nil {
			s.warnLocked("view_submission %s: response_action %s with an invalid view: %s %v", viewID, resp.ResponseAction, aerr.code, aerr.messages)
			return
		}
		if resp.ResponseAction == "update" {
			s.fillViewLocked(obj, viewID, fmt.Sprint(v.obj["root_view_id"]))
			v.obj, v.Errors = obj, nil
			v.setFields()
		} else {
			nv := s.addViewLocked(obj, "", v.User)
			nv.obj["root_view_id"], nv.obj["previous_view_id"] = v.obj["root_view_id"], viewID
		}
	case "clear":
		for _, o := range s.views {
			if o.User == v.User {
				o.Open = false
			}
		}
	default:
		s.warnLocked("view_submission %s: unknown response_action %q", viewID, resp.ResponseAction)
	}
	s.notifyLocked()
}

// CloseView closes an open view as if the user pressed Cancel. It returns the
// view_closed payload when the view asked for notify_on_close, else nil.
func (s *Server) CloseView(viewID string) *Interaction {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views[viewID]
	if v == nil || !v.Open {
		s.tb.Fatalf("fakeslack: CloseView: view %q is not open", viewID)
	}
	v.Open = false
	s.notifyLocked()
	if notify, _ := v.obj["notify_on_close"].(bool); !notify {
		return nil
	}
	return &Interaction{Type: "view_closed", ViewID: viewID, body: map[string]any{
		"type": "view_closed", "team": teamJSON(), "user": s.userJSONLocked(v.User), "api_app_id": AppID,
		"token": verificationToken, "view": maps.Clone(v.obj), "is_cleared": false, "is_enterprise_install": false,
	}}
}
