package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiError is an ok:false reply.
type apiError struct {
	code     string
	messages []string // response_metadata.messages
}

func errf(code string) *apiError { return &apiError{code: code} }

func argError(format string, args ...any) *apiError {
	return &apiError{code: "invalid_arguments", messages: []string{"[ERROR] " + fmt.Sprintf(format, args...)}}
}

// apiRequest is a parsed Web API call.
type apiRequest struct {
	method string
	args   url.Values
	token  string
}

type tokenKind int

const (
	botTokenOnly tokenKind = iota
	appTokenOnly
)

type apiMethod struct {
	token tokenKind
	fn    func(*Server, *apiRequest) (map[string]any, *apiError)
}

var apiMethods = map[string]apiMethod{
	"auth.test":                    {botTokenOnly, (*Server).authTest},
	"apps.connections.open":        {appTokenOnly, (*Server).appsConnectionsOpen},
	"chat.postMessage":             {botTokenOnly, (*Server).chatPostMessage},
	"chat.postEphemeral":           {botTokenOnly, (*Server).chatPostEphemeral},
	"chat.update":                  {botTokenOnly, (*Server).chatUpdate},
	"chat.delete":                  {botTokenOnly, (*Server).chatDelete},
	"views.open":                   {botTokenOnly, (*Server).viewsOpen},
	"files.getUploadURLExternal":   {botTokenOnly, (*Server).filesGetUploadURLExternal},
	"files.completeUploadExternal": {botTokenOnly, (*Server).filesCompleteUploadExternal},
	"files.info":                   {botTokenOnly, (*Server).filesInfo},
	"conversations.replies":        {botTokenOnly, (*Server).conversationsReplies},
	"conversations.history":        {botTokenOnly, (*Server).conversationsHistory},
	"conversations.info":           {botTokenOnly, (*Server).conversationsInfo},
	"users.info":                   {botTokenOnly, (*Server).usersInfo},
}

type rateLimit struct {
	remaining  int
	retryAfter time.Duration
}

// RateLimit makes the next n calls of method answer HTTP 429 with
// "Retry-After: <seconds>" (rounded up, at least 1) and {"ok":false,"error":"ratelimited"},
// as Slack does (api.slack.com/apis/rate-limits). slack-go turns that into
// *slack.RateLimitedError.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = &rateLimit{remaining: n, retryAfter: retryAfter}
}

// FailNext makes the next call of method answer {"ok":false,"error":code} (HTTP 200)
// without side effects. Calls queue up: FailNext twice fails the next two calls.
func (s *Server) FailNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], code)
}

// Calls returns the Web API calls received, oldest first; with methods, only those.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || slices.Contains(methods, c.Method) {
			c.Args = cloneValues(c.Args)
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns how many times method was called (successful or not).
func (s *Server) CallCount(method string) int { return len(s.Calls(method)) }

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("POST /upload/v1/{ticket}", s.serveUpload)
	mux.HandleFunc("GET /files-pri/{key}/{name}", s.serveFile)
	mux.HandleFunc("GET /files-pri/{key}/download/{name}", s.serveFile)
	mux.HandleFunc("GET /files-tmb/{key}/{name}", s.serveFile)
	mux.HandleFunc("/response/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /link/", s.serveSocket)
	mux.HandleFunc("/", s.serveRoot)
	return mux
}

// serveRoot serves the sign-in page url_private redirects to, and 404 otherwise.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" && r.URL.Query().Get("redir") != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body>Sign in to "+TeamDomain+"</body></html>")
		return
	}
	http.NotFound(w, r)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	req, perr := parseAPIRequest(r)
	s.mu.Lock()
	call := Call{Method: req.method, Args: req.args, Token: req.token, Status: http.StatusOK, At: s.nowLocked()}
	reply, status, header := s.handleAPILocked(req, perr)
	call.Status = status
	if e, ok := reply["error"].(string); ok {
		call.Error = e
	}
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()

	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(reply)
}

func (s *Server) handleAPILocked(req *apiRequest, perr *apiError) (reply map[string]any, status int, header map[string]string) {
	if rl := s.rateLimits[req.method]; rl != nil && rl.remaining > 0 {
		rl.remaining--
		secs := int((rl.retryAfter + time.Second - 1) / time.Second)
		secs = max(secs, 1)
		return map[string]any{"ok": false, "error": "ratelimited"}, http.StatusTooManyRequests,
			map[string]string{"Retry-After": strconv.Itoa(secs)}
	}
	m, known := apiMethods[req.method]
	if !known {
		s.warnLocked("Web API method %s is not implemented by fakeslack (answered unknown_method)", req.method)
		return errorReply(errf("unknown_method")), http.StatusOK, map[string]string{"X-Fakeslack-Unimplemented": "1"}
	}
	if aerr := s.authLocked(req.token, m.token); aerr != nil {
		return errorReply(aerr), http.StatusOK, nil
	}
	if perr != nil {
		return errorReply(perr), http.StatusOK, nil
	}
	if q := s.failures[req.method]; len(q) > 0 {
		s.failures[req.method] = q[1:]
		return errorReply(errf(q[0])), http.StatusOK, nil
	}
	out, aerr := m.fn(s, req)
	if aerr != nil {
		return errorReply(aerr), http.StatusOK, nil
	}
	res := map[string]any{"ok": true}
	for k, v := range out {
		res[k] = v
	}
	return res, http.StatusOK, nil
}

func errorReply(e *apiError) map[string]any {
	out := map[string]any{"ok": false, "error": e.code}
	if len(e.messages) > 0 {
		out["response_metadata"] = map[string]any{"messages": e.messages}
	}
	return out
}

// authLocked checks the token: none -> not_authed; unknown -> invalid_auth; the other
// known kind -> not_allowed_token_type (errors listed for apps.connections.open,
// chat.update, views.open on docs.slack.dev).
func (s *Server) authLocked(token string, kind tokenKind) *apiError {
	switch {
	case token == "":
		return errf("not_authed")
	case token == s.botToken && kind == botTokenOnly, token == s.appToken && kind == appTokenOnly:
		return nil
	case token == s.botToken, token == s.appToken:
		return errf("not_allowed_token_type")
	default:
		return errf("invalid_auth")
	}
}

// parseAPIRequest reads the token (Authorization: Bearer wins over the token field) and
// the arguments of a form, multipart, JSON or query request.
func parseAPIRequest(r *http.Request) (*apiRequest, *apiError) {
	req := &apiRequest{method: r.PathValue("method"), args: url.Values{}}
	var perr *apiError
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Method == http.MethodPost && ct == "application/json":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if len(strings.TrimSpace(string(body))) > 0 && strings.TrimSpace(string(body)) != "null" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil {
				perr = errf("invalid_json")
			}
			for k, v := range obj {
				var str string
				if json.Unmarshal(v, &str) == nil {
					req.args.Set(k, str)
				} else {
					req.args.Set(k, string(v))
				}
			}
		}
		for k, v := range r.URL.Query() {
			req.args[k] = v
		}
	case ct == "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			perr = errf("invalid_form_data")
		}
		req.args = cloneValues(r.Form)
	default:
		if err := r.ParseForm(); err != nil {
			perr = errf("invalid_form_data")
		}
		req.args = cloneValues(r.Form)
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		req.token = strings.TrimPrefix(h, "Bearer ")
	} else {
		req.token = req.args.Get("token")
	}
	req.args.Del("token")
	return req, perr
}

func (s *Server) authTest(*apiRequest) (map[string]any, *apiError) {
	return map[string]any{
		"url": "https://" + TeamDomain + ".slack.com/", "team": "Fake Workspace", "user": BotName,
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false,
	}, nil
}

// channelForPostLocked finds a conversation the bot may post to, by ID or by name
// (chat.postMessage docs: "Can be an encoded ID, or a name"): channel_not_found when
// unknown, not_in_channel when the bot is not a member (docs: "Cannot post user
// messages to a channel they are not in"; this bot has no chat:write.public).
func (s *Server) channelForPostLocked(id string) (*channel, *apiError) {
	ch, ok := s.channels[id]
	if !ok && id != "" {
		for _, c := range s.channels {
			if c.Type != DirectMessage && c.Name == strings.TrimPrefix(id, "#") {
				ch, ok = c, true
			}
		}
	}
	if !ok {
		return nil, errf("channel_not_found")
	}
	if !ch.members[BotUserID] {
		return nil, errf("not_in_channel")
	}
	return ch, nil
}

// content parses text/blocks/attachments; present reports which were given.
type content struct {
	text                 string
	blocks, attachments  json.RawMessage
	hasBlocks, hasAttach bool
	nonEmpty             bool
}

func (s *Server) parseContentLocked(args url.Values) (content, *apiError) {
	c := content{text: args.Get("text")}
	if raw, ok := args["blocks"]; ok {
		c.hasBlocks = true
		b, aerr := s.parseBlocksLocked(raw[0], messageSurface)
		if aerr != nil {
			return c, aerr
		}
		if nonEmptyJSONArray(b) {
			c.blocks = b
		}
	}
	if raw, ok := args["attachments"]; ok {
		c.hasAttach = true
		var list []map[string]any
		if err := json.Unmarshal([]byte(raw[0]), &list); err != nil {
			return c, errf("invalid_attachments")
		}
		if len(list) > 100 {
			return c, errf("too_many_attachments")
		}
		if len(list) > 0 {
			c.attachments = json.RawMessage(raw[0])
		}
	}
	c.nonEmpty = c.text != "" || c.blocks != nil || c.attachments != nil
	return c, nil
}

// chatPostMessage: channel (channel_not_found / not_in_channel), one of text, blocks,
// attachments (no_text), blocks validated (invalid_blocks), optional thread_ts
// (resolved by resolveThreadLocked), reply_broadcast, metadata.
func (s *Server) chatPostMessage(req *apiRequest) (map[string]any, *apiError) {
	ch, aerr := s.channelForPostLocked(req.args.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	c, aerr := s.parseContentLocked(req.args)
	if aerr != nil {
		return nil, aerr
	}
	if !c.nonEmpty {
		return nil, errf("no_text")
	}
	if c.blocks != nil && c.text == "" {
		s.warnLocked("chat.postMessage in %s: blocks without top-level text; docs: text is the fallback shown in notifications", ch.ID)
	}
	m := &message{
		channel: ch.ID, user: BotUserID, botID: BotID, text: c.text, blocks: c.blocks,
		attachments: c.attachments, threadTS: req.args.Get("thread_ts"), via: "chat.postMessage",
		broadcast: req.args.Get("reply_broadcast") == "true",
	}
	if md := req.args.Get("metadata"); md != "" {
		m.metadata = json.RawMessage(md)
	}
	s.postLocked(m)
	return map[string]any{"channel": ch.ID, "ts": m.ts, "message": s.messageJSONLocked(m)}, nil
}

// chatPostEphemeral: channel (channel_not_found / not_in_channel), user who must be a
// member (user_not_in_channel), content as chat.postMessage. Replies message_ts.
func (s *Server) chatPostEphemeral(req *apiRequest) (map[string]any, *apiError) {
	ch, aerr := s.channelForPostLocked(req.args.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	user := req.args.Get("user")
	if user == "" {
		return nil, argError("missing required field: user")
	}
	if !ch.members[user] {
		return nil, errf("user_not_in_channel")
	}
	c, aerr := s.parseContentLocked(req.args)
	if aerr != nil {
		return nil, aerr
	}
	if !c.nonEmpty {
		return nil, errf("no_text")
	}
	e := &Ephemeral{Channel: ch.ID, User: user, ThreadTS: req.args.Get("thread_ts"), Text: c.text, Blocks: c.blocks, Via: "chat.postEphemeral"}
	s.addEphemeralLocked(e)
	return map[string]any{"message_ts": e.TS}, nil
}

// chatUpdate: channel, ts; message_not_found for an unknown or deleted message,
// cant_update_message for one the bot did not post. Omitted blocks/attachments keep
// their previous value — an update with text only answers ok but users still see the
// old blocks (slack-go/slack#1214, python-slack-sdk#523), which the fake records as a
// warning; pass an empty array to remove them. Ephemeral messages cannot be
// updated (docs: modifying-messages) — their ts is not a channel message, so
// message_not_found.
func (s *Server) chatUpdate(req *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.channels[req.args.Get("channel")]
	if !ok {
		return nil, errf("channel_not_found")
	}
	m := s.findLocked(ch.ID, req.args.Get("ts"))
	if m == nil || m.deleted || m.orphaned {
		return nil, errf("message_not_found")
	}
	if m.botID != BotID {
		return nil, errf("cant_update_message")
	}
	c, aerr := s.parseContentLocked(req.args)
	if aerr != nil {
		return nil, aerr
	}
	text := m.text
	if _, ok := req.args["text"]; ok {
		text = c.text
	}
	blocks, attach := m.blocks, m.attachments
	if c.hasBlocks {
		blocks = c.blocks
	}
	if c.hasAttach {
		attach = c.attachments
	}
	if text == "" && blocks == nil && attach == nil && len(m.files) == 0 {
		return nil, errf("no_text")
	}
	if !c.hasBlocks && m.blocks != nil && text != m.text {
		s.warnLocked("chat.update of %s/%s changed only the text; the message keeps its blocks, so users see no change (send blocks, or blocks=[] to remove them)", ch.ID, m.ts)
	}
	s.editLocked(m, text, blocks, attach, true, true)
	return map[string]any{"channel": ch.ID, "ts": m.ts, "text": m.text, "message": s.messageJSONLocked(m)}, nil
}

// chatDelete: message_not_found, cant_delete_message for messages not posted by the bot.
func (s *Server) chatDelete(req *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.channels[req.args.Get("channel")]
	if !ok {
		return nil, errf("channel_not_found")
	}
	m := s.findLocked(ch.ID, req.args.Get("ts"))
	if m == nil || m.deleted || m.orphaned {
		return nil, errf("message_not_found")
	}
	if m.botID != BotID {
		return nil, errf("cant_delete_message")
	}
	m.deleted = true
	s.notifyLocked()
	return map[string]any{"channel": ch.ID, "ts": m.ts}, nil
}

// channelForReadLocked: channel_not_found when unknown, not_in_channel when the bot is
// not a member (bot tokens only read conversations they joined: maintainer answer in
// slackapi/deno-slack-sdk#128).
func (s *Server) channelForReadLocked(id string) (*channel, *apiError) {
	ch, ok := s.channels[id]
	if !ok {
		return nil, errf("channel_not_found")
	}
	if !ch.members[BotUserID] {
		return nil, errf("not_in_channel")
	}
	return ch, nil
}

// conversationsReplies returns the thread of ts (a parent or any reply; docs), parent
// first; thread_not_found for unknown ts. oldest/latest/inclusive/limit filter the
// replies (the parent is always first, inference); no cursors (has_more only).
func (s *Server) conversationsReplies(req *apiRequest) (map[string]any, *apiError) {
	ch, aerr := s.channelForReadLocked(req.args.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	p := s.findLocked(ch.ID, req.args.Get("ts"))
	if p != nil && p.threadTS != "" {
		p = s.findLocked(ch.ID, p.threadTS)
	}
	if p == nil || p.orphaned || (p.deleted && len(s.repliesLocked(p)) == 0) {
		return nil, errf("thread_not_found")
	}
	f, aerr := parseRange(req.args, 1000)
	if aerr != nil {
		return nil, aerr
	}
	msgs := []any{s.messageJSONLocked(p)}
	hasMore := false
	for _, r := range s.repliesLocked(p) {
		if !f.in(r.ts) {
			continue
		}
		if len(msgs) >= f.limit {
			hasMore = true
			break
		}
		msgs = append(msgs, s.messageJSONLocked(r))
	}
	return map[string]any{"messages": msgs, "has_more": hasMore, "response_metadata": map[string]any{"next_cursor": ""}}, nil
}

// conversationsHistory returns the channel's visible top-level messages (and
// broadcast replies), newest first, filtered by latest/oldest/inclusive and cut at
// limit (default 100) with has_more.
func (s *Server) conversationsHistory(req *apiRequest) (map[string]any, *apiError) {
	ch, aerr := s.channelForReadLocked(req.args.Get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	f, aerr := parseRange(req.args, 100)
	if aerr != nil {
		return nil, aerr
	}
	var msgs []any
	hasMore := false
	list := s.messages[ch.ID]
	for i := len(list) - 1; i >= 0; i-- {
		m := list[i]
		visible := !m.orphaned && (m.threadTS == "" || m.broadcast) && (!m.deleted || (m.threadTS == "" && len(s.repliesLocked(m)) > 0))
		if !visible || !f.in(m.ts) {
			continue
		}
		if len(msgs) == f.limit {
			hasMore = true
			break
		}
		msgs = append(msgs, s.messageJSONLocked(m))
	}
	if msgs == nil {
		msgs = []any{}
	}
	return map[string]any{"messages": msgs, "has_more": hasMore, "pin_count": 0, "response_metadata": map[string]any{"next_cursor": ""}}, nil
}

type tsRange struct {
	oldest, latest int64 // micro-seconds; latest 0 = now/unbounded
	inclusive      bool
	limit          int
}

func (r tsRange) in(ts string) bool {
	v, _ := parseTS(ts)
	if r.oldest > 0 && (v < r.oldest || (!r.inclusive && v == r.oldest)) {
		return false
	}
	if r.latest > 0 && (v > r.latest || (!r.inclusive && v == r.latest)) {
		return false
	}
	return true
}

func parseRange(args url.Values, defLimit int) (tsRange, *apiError) {
	r := tsRange{limit: defLimit, inclusive: args.Get("inclusive") == "1" || args.Get("inclusive") == "true"}
	var ok bool
	if v := args.Get("oldest"); v != "" && v != "0" {
		if r.oldest, ok = parseTS(v); !ok {
			return r, errf("invalid_ts_oldest")
		}
	}
	if v := args.Get("latest"); v != "" && v != "now" {
		if r.latest, ok = parseTS(v); !ok {
			return r, errf("invalid_ts_latest")
		}
	}
	if v := args.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, argError("limit must be a non-negative integer")
		}
		if n > 0 {
			r.limit = min(n, 999)
		}
	}
	return r, nil
}

// parseTS parses "<sec>[.<frac>]" into micro-seconds.
func parseTS(ts string) (int64, bool) {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, false
	}
	if len(frac) > 6 {
		return 0, false
	}
	frac += strings.Repeat("0", 6-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	return s*1e6 + f, true
}

func (s *Server) conversationsInfo(req *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.channels[req.args.Get("channel")]
	if !ok || (ch.Type != PublicChannel && !ch.members[BotUserID]) {
		return nil, errf("channel_not_found")
	}
	return map[string]any{"channel": map[string]any{
		"id": ch.ID, "name": ch.Name, "is_channel": ch.Type == PublicChannel, "is_group": ch.Type == PrivateChannel,
		"is_im": ch.Type == DirectMessage, "is_private": ch.Type != PublicChannel, "is_member": ch.members[BotUserID],
		"is_archived": false, "context_team_id": TeamID,
	}}, nil
}

func (s *Server) usersInfo(req *apiRequest) (map[string]any, *apiError) {
	id := req.args.Get("user")
	name, ok := s.users[id]
	if !ok {
		return nil, errf("user_not_found")
	}
	return map[string]any{"user": map[string]any{
		"id": id, "team_id": TeamID, "name": name, "real_name": name, "is_bot": id == BotUserID,
		"deleted": false, "profile": map[string]any{"display_name": name, "real_name": name},
	}}, nil
}
