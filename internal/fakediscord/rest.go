package fakediscord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Route templates, as recorded in Request.Route and accepted by Calls and
// RateLimit. They follow the docs' <Route> notation.
const (
	RouteGateway             = "GET /gateway"
	RouteGatewayBot          = "GET /gateway/bot"
	RouteGetCurrentUser      = "GET /users/@me"
	RouteCreateDM            = "POST /users/@me/channels"
	RouteGetApplication      = "GET /applications/@me"
	RouteGetGlobalCommands   = "GET /applications/{application.id}/commands"
	RouteBulkOverwriteGlobal = "PUT /applications/{application.id}/commands"
	RouteCreateGlobalCommand = "POST /applications/{application.id}/commands"
	RouteDeleteGlobalCommand = "DELETE /applications/{application.id}/commands/{command.id}"
	RouteGetGuildCommands    = "GET /applications/{application.id}/guilds/{guild.id}/commands"
	RouteBulkOverwriteGuild  = "PUT /applications/{application.id}/guilds/{guild.id}/commands"
	RouteCreateGuildCommand  = "POST /applications/{application.id}/guilds/{guild.id}/commands"
	RouteDeleteGuildCommand  = "DELETE /applications/{application.id}/guilds/{guild.id}/commands/{command.id}"
	RouteInteractionCallback = "POST /interactions/{interaction.id}/{interaction.token}/callback"
	RouteGetOriginal         = "GET /webhooks/{application.id}/{interaction.token}/messages/@original"
	RouteEditOriginal        = "PATCH /webhooks/{application.id}/{interaction.token}/messages/@original"
	RouteDeleteOriginal      = "DELETE /webhooks/{application.id}/{interaction.token}/messages/@original"
	RouteCreateFollowup      = "POST /webhooks/{application.id}/{interaction.token}"
	RouteGetFollowup         = "GET /webhooks/{application.id}/{interaction.token}/messages/{message.id}"
	RouteEditFollowup        = "PATCH /webhooks/{application.id}/{interaction.token}/messages/{message.id}"
	RouteDeleteFollowup      = "DELETE /webhooks/{application.id}/{interaction.token}/messages/{message.id}"
	RouteGetChannel          = "GET /channels/{channel.id}"
	RouteListMessages        = "GET /channels/{channel.id}/messages"
	RouteCreateMessage       = "POST /channels/{channel.id}/messages"
	RouteGetMessage          = "GET /channels/{channel.id}/messages/{message.id}"
	RouteEditMessage         = "PATCH /channels/{channel.id}/messages/{message.id}"
	RouteDeleteMessage       = "DELETE /channels/{channel.id}/messages/{message.id}"
	RouteCreateReaction      = "PUT /channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me"
	RouteDeleteOwnReaction   = "DELETE /channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me"
	RouteTriggerTyping       = "POST /channels/{channel.id}/typing"
	RouteCDNAttachment       = "GET /attachments/{channel.id}/{attachment.id}/{filename}"
	RouteCDNEphemeral        = "GET /ephemeral-attachments/{channel.id}/{attachment.id}/{filename}"
)

type authMode int

const (
	authBot  authMode = iota // Authorization: Bot <token> required
	authNone                 // no auth needed; a wrong one is still refused
)

type route struct {
	name    string
	method  string
	pattern []string
	auth    authMode
	handle  func(*call)
}

func (s *Server) routes() []route {
	r := func(name string, auth authMode, h func(*call)) route {
		method, p, _ := strings.Cut(name, " ")
		return route{name: name, method: method, pattern: strings.Split(strings.Trim(p, "/"), "/"), auth: auth, handle: h}
	}
	return []route{
		r(RouteGateway, authNone, s.handleGateway),
		r(RouteGatewayBot, authBot, s.handleGatewayBot),
		r(RouteGetCurrentUser, authBot, s.handleCurrentUser),
		r(RouteCreateDM, authBot, s.handleCreateDM),
		r(RouteGetApplication, authBot, s.handleApplication),
		r(RouteGetGlobalCommands, authBot, s.handleGetCommands),
		r(RouteBulkOverwriteGlobal, authBot, s.handleBulkOverwrite),
		r(RouteCreateGlobalCommand, authBot, s.handleCreateCommand),
		r(RouteDeleteGlobalCommand, authBot, s.handleDeleteCommand),
		r(RouteGetGuildCommands, authBot, s.handleGetCommands),
		r(RouteBulkOverwriteGuild, authBot, s.handleBulkOverwrite),
		r(RouteCreateGuildCommand, authBot, s.handleCreateCommand),
		r(RouteDeleteGuildCommand, authBot, s.handleDeleteCommand),
		r(RouteInteractionCallback, authNone, s.handleCallback),
		r(RouteGetOriginal, authNone, s.handleGetWebhookMessage),
		r(RouteEditOriginal, authNone, s.handleEditWebhookMessage),
		r(RouteDeleteOriginal, authNone, s.handleDeleteWebhookMessage),
		r(RouteCreateFollowup, authNone, s.handleFollowup),
		r(RouteGetFollowup, authNone, s.handleGetWebhookMessage),
		r(RouteEditFollowup, authNone, s.handleEditWebhookMessage),
		r(RouteDeleteFollowup, authNone, s.handleDeleteWebhookMessage),
		r(RouteGetChannel, authBot, s.handleGetChannel),
		r(RouteListMessages, authBot, s.handleListMessages),
		r(RouteCreateMessage, authBot, s.handleCreateMessage),
		r(RouteGetMessage, authBot, s.handleGetMessage),
		r(RouteEditMessage, authBot, s.handleEditMessage),
		r(RouteDeleteMessage, authBot, s.handleDeleteMessage),
		r(RouteCreateReaction, authBot, s.handleReaction),
		r(RouteDeleteOwnReaction, authBot, s.handleReaction),
		r(RouteTriggerTyping, authBot, s.handleTyping),
	}
}

// call is one REST request being answered.
type call struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	route   string
	p       map[string]string
	version int
	arrival time.Time // fake clock at arrival
	status  int
	code    int
	msg     string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/gw" || r.URL.Path == "/gw/":
		s.serveGateway(w, r)
	case strings.HasPrefix(r.URL.Path, "/attachments/"), strings.HasPrefix(r.URL.Path, "/ephemeral-attachments/"):
		s.serveCDN(w, r)
	default:
		s.serveREST(w, r)
	}
}

var versionPrefix = regexp.MustCompile(`^/api/v(\d+)(/.*)$`)

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, w: w, r: r, p: map[string]string{}, arrival: s.Now()}
	defer c.record()
	m := versionPrefix.FindStringSubmatch(r.URL.Path)
	if m == nil {
		c.fail(http.StatusNotFound, 0, "404: Not Found")
		return
	}
	c.version, _ = strconv.Atoi(m[1])
	if c.version != 9 && c.version != 10 {
		// reference.mdx "API Versioning": v6-v8 deprecated, older
		// discontinued; discordgo v0.29.0 uses v9.
		c.fail(http.StatusBadRequest, 50041, "Invalid API version provided")
		return
	}
	segs := strings.Split(strings.TrimPrefix(m[2], "/"), "/")
	var matched *route
	pathMatched := false
	for _, rt := range s.routes() {
		p := map[string]string{}
		if !matchPattern(rt.pattern, segs, p) {
			continue
		}
		pathMatched = true
		if rt.method != r.Method {
			continue
		}
		matched, c.p = &rt, p
		break
	}
	if matched == nil {
		if pathMatched {
			c.fail(http.StatusMethodNotAllowed, 0, "405: Method Not Allowed")
		} else {
			c.fail(http.StatusNotFound, 0, "404: Not Found")
		}
		return
	}
	c.route = matched.name
	if !c.checkAuth(matched.auth) || !c.checkHeaders() || !c.checkSnowflakes() || c.rateLimited() {
		return
	}
	matched.handle(c)
}

func matchPattern(pattern, segs []string, p map[string]string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, want := range pattern {
		got := segs[i]
		if strings.HasPrefix(want, "{") {
			if got == "" || got == "@original" && want == "{message.id}" {
				return false
			}
			p[strings.Trim(want, "{}")] = got
			continue
		}
		if want != got {
			return false
		}
	}
	return true
}

// checkAuth: reference.mdx "Authentication"; a missing or wrong token is
// 401 {"message": "401: Unauthorized", "code": 0}.
func (c *call) checkAuth(mode authMode) bool {
	got := c.r.Header.Get("Authorization")
	want := "Bot " + c.s.Token
	if got == want || (mode == authNone && got == "") {
		return true
	}
	c.fail(http.StatusUnauthorized, 0, "401: Unauthorized")
	return false
}

// checkHeaders: reference.mdx "User Agent" (must be "DiscordBot ($url,
// $versionNumber)"; Cloudflare blocks others, JSON code 40333) and "Content
// Type" (a body needs application/json, x-www-form-urlencoded or
// multipart/form-data, else 50035).
func (c *call) checkHeaders() bool {
	if !strings.HasPrefix(c.r.Header.Get("User-Agent"), "DiscordBot") {
		c.fail(http.StatusForbidden, 40333, "Cloudflare is blocking your request. This can often be resolved by setting a proper User Agent")
		return false
	}
	if c.r.ContentLength != 0 && c.r.Method != http.MethodGet {
		ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
		switch ct {
		case "application/json", "multipart/form-data", "application/x-www-form-urlencoded":
		default:
			c.failForm(formErrors{}.add("", "CONTENT_TYPE_INVALID", "Expected \"Content-Type\" header to be one of {'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'}."))
			return false
		}
	}
	return true
}

// checkSnowflakes refuses ids in the path that are not snowflakes, with the
// NUMBER_TYPE_COERCE form error Discord gives.
func (c *call) checkSnowflakes() bool {
	fe := formErrors{}
	for k, v := range c.p {
		if strings.HasSuffix(k, ".id") && !(k == "application.id" && v == "@me") && !isSnowflake(v) {
			fe.add(strings.TrimSuffix(k, ".id")+"_id", "NUMBER_TYPE_COERCE", fmt.Sprintf("Value \"%s\" is not snowflake.", v))
		}
	}
	if len(fe) > 0 {
		c.failForm(fe)
		return false
	}
	return true
}

// rateLimited answers an injected 429: rate-limits.mdx headers and body
// {"message","retry_after","global"}; discordgo reads retry_after.
func (c *call) rateLimited() bool {
	s := c.s
	s.mu.Lock()
	var rl *RateLimit
	for i, l := range s.limits {
		if l.Route == c.route {
			rl = l
			l.Count--
			if l.Count == 0 {
				s.limits = append(s.limits[:i], s.limits[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if rl == nil {
		return false
	}
	secs := rl.RetryAfter.Seconds()
	h := c.w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(time.Now().Add(rl.RetryAfter).UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", "fake"+strconv.Itoa(len(c.route)))
	h.Set("X-RateLimit-Scope", rl.Scope)
	if rl.Global {
		h.Set("X-RateLimit-Global", "true")
	}
	c.msg = "You are being rate limited."
	c.writeJSON(http.StatusTooManyRequests, map[string]any{
		"message": c.msg, "retry_after": secs, "global": rl.Global,
	})
	return true
}

func (c *call) record() {
	s := c.s
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: c.r.Method, Path: c.r.URL.RequestURI(), Route: c.route, Status: c.status,
		Code: c.code, Message: c.msg, At: s.nowLocked(), Wall: time.Now(),
	})
	s.notifyLocked()
	s.mu.Unlock()
	if c.status >= 400 {
		s.logf("%s %s -> %d %d %s", c.r.Method, c.r.URL.Path, c.status, c.code, c.msg)
	}
}

func (c *call) writeJSON(status int, v any) {
	if c.status != 0 {
		return
	}
	c.status = status
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(mustJSON(v))
}

func (c *call) noContent() {
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
}

// fail answers a JSON error {"code","message"} (opcodes-and-status-codes.mdx
// §JSON Error Codes).
func (c *call) fail(status, code int, msg string) {
	c.code, c.msg = code, msg
	c.writeJSON(status, map[string]any{"code": code, "message": msg})
}

// apiError is a refusal decided under the lock and written after it.
type apiError struct {
	status, code int
	msg          string
	errors       formErrors
	retryAfter   time.Duration // for 429s
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d %s", e.status, e.code, e.msg) }

func errf(status, code int, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

func formErr(fe formErrors) *apiError {
	return &apiError{status: http.StatusBadRequest, code: 50035, msg: "Invalid Form Body", errors: fe}
}

func (c *call) failWith(e *apiError) {
	if e.status == http.StatusTooManyRequests {
		secs := e.retryAfter.Seconds()
		c.w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
		c.w.Header().Set("X-RateLimit-Scope", "shared")
		c.code, c.msg = e.code, e.msg
		c.writeJSON(e.status, map[string]any{"code": e.code, "message": e.msg, "retry_after": secs, "global": false})
		return
	}
	if e.errors != nil {
		c.code, c.msg = e.code, e.msg+": "+e.errors.String()
		c.writeJSON(e.status, map[string]any{"code": e.code, "message": e.msg, "errors": e.errors})
		return
	}
	c.fail(e.status, e.code, e.msg)
}

func (c *call) failForm(fe formErrors) { c.failWith(formErr(fe)) }

// formErrors is the nested "errors" object of a 50035 (reference.mdx "Error
// Messages").
type formErrors map[string]any

// add records an error at a dotted path ("" is the request itself).
func (fe formErrors) add(path, code, msg string) formErrors {
	node := map[string]any(fe)
	if path != "" {
		for _, k := range strings.Split(path, ".") {
			next, ok := node[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[k] = next
			}
			node = next
		}
	}
	list, _ := node["_errors"].([]any)
	node["_errors"] = append(list, map[string]any{"code": code, "message": msg})
	return fe
}

// String flattens the errors like "content: BASE_TYPE_MAX_LENGTH ...".
func (fe formErrors) String() string {
	var parts []string
	var walk func(prefix string, n map[string]any)
	walk = func(prefix string, n map[string]any) {
		for k, v := range n {
			if k == "_errors" {
				for _, e := range v.([]any) {
					em := e.(map[string]any)
					parts = append(parts, fmt.Sprintf("%s[%s] %s", prefix, em["code"], em["message"]))
				}
				continue
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, v.(map[string]any))
		}
	}
	walk("", fe)
	return strings.Join(parts, "; ")
}

// Common form error helpers (codes seen in real Discord responses).
func maxLen(fe formErrors, path string, n int) {
	fe.add(path, "BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", n))
}

func badLen(fe formErrors, path string, lo, hi int) {
	fe.add(path, "BASE_TYPE_BAD_LENGTH", fmt.Sprintf("Must be between %d and %d in length.", lo, hi))
}

func required(fe formErrors, path string) {
	fe.add(path, "BASE_TYPE_REQUIRED", "This field is required")
}

// upload is a files[n] part.
type upload struct {
	index       int
	filename    string
	contentType string
	data        []byte
}

// body is a parsed request body: a JSON object (plain or payload_json) and
// files.
type body struct {
	fields    map[string]json.RawMessage
	files     []*upload
	multipart bool
}

var filePart = regexp.MustCompile(`^files\[(\d+)\]$`)

// readBody reads a JSON object or multipart body. limit is the per-file
// upload limit; a bigger file is 413 40005 (reference.mdx "Uploading
// Files", code table: "Request entity too large").
func (c *call) readBody(limit int64, allowFiles bool) (*body, *apiError) {
	maxBody := limit*10 + 8<<20
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return nil, errf(http.StatusBadRequest, 0, "could not read body")
	}
	if int64(len(raw)) > maxBody {
		return nil, errf(http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
	}
	b := &body{}
	ct, params, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if len(raw) == 0 {
		if ct != "" {
			return nil, errf(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		}
		return b, nil
	}
	switch ct {
	case "application/json":
		if json.Unmarshal(raw, &b.fields) != nil || b.fields == nil {
			return nil, errf(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		}
		return b, nil
	case "multipart/form-data":
	default:
		return nil, formErr(formErrors{}.add("", "CONTENT_TYPE_INVALID", "Expected \"Content-Type\" header to be one of {'application/json', 'multipart/form-data'}."))
	}
	b.multipart = true
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	form := map[string]json.RawMessage{}
	fe := formErrors{}
	seen := map[int]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errf(http.StatusBadRequest, 50035, "Invalid Form Body")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, errf(http.StatusBadRequest, 50035, "Invalid Form Body")
		}
		name := part.FormName()
		switch {
		case name == "payload_json":
			if json.Unmarshal(data, &b.fields) != nil || b.fields == nil {
				return nil, errf(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
			}
		case filePart.MatchString(name):
			n, _ := strconv.Atoi(filePart.FindStringSubmatch(name)[1])
			switch {
			case !allowFiles:
				fe.add(name, "UNSUPPORTED", "Files are not accepted by this endpoint.")
			case part.FileName() == "":
				fe.add(name, "BASE_TYPE_REQUIRED", "A filename is required.")
			case seen[n]:
				fe.add(name, "DUPLICATE", "Duplicate file index.")
			case int64(len(data)) > limit:
				return nil, errf(http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
			}
			seen[n] = true
			b.files = append(b.files, &upload{index: n, filename: part.FileName(), contentType: part.Header.Get("Content-Type"), data: data})
		case part.FileName() != "":
			// reference.mdx: file parts must be named files[n].
			fe.add(name, "FILE_PART_NAME_INVALID", "File parameters must be named files[n].")
		default:
			form[name] = mustJSON(string(data))
		}
	}
	if len(fe) > 0 {
		return nil, formErr(fe)
	}
	if b.fields == nil {
		// reference.mdx example without payload_json: plain form fields.
		b.fields = form
	}
	return b, nil
}
