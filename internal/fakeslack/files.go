package fakeslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif"  // register decoders for original_w/original_h
	_ "image/jpeg" // of uploaded images
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File handling follows docs.slack.dev/messaging/working-with-files (verbatim in
// shared/platforms/payloads/slack-files-upload-flow.docs.txt) and the method reference
// of files.getUploadURLExternal / files.completeUploadExternal / files.info.

type share struct{ channel, ts, threadTS string }

type file struct {
	base                          string // server URL
	id, name, title, mimetype     string
	filetype, user, altText, hash string
	size                          int
	data                          []byte
	uploaded, completed           bool
	channels                      []string
	shares                        []share
	created                       time.Time
	width, height                 int
}

func (s *Server) newFileLocked(name string, size int, user string) *file {
	f := &file{
		base: s.srv.URL, id: s.nextIDLocked("F"), name: name, title: name, user: user,
		size: size, created: s.nowLocked(), hash: randHex(5),
	}
	s.files[f.id] = f
	return f
}

var extTypes = map[string][2]string{ // extension -> filetype, pretty_type
	".png": {"png", "PNG"}, ".jpg": {"jpg", "JPEG"}, ".jpeg": {"jpg", "JPEG"}, ".gif": {"gif", "GIF"},
	".webp": {"webp", "WebP"}, ".txt": {"text", "Plain Text"}, ".pdf": {"pdf", "PDF"},
	".json": {"json", "JSON"}, ".mp4": {"mp4", "MPEG 4 Video"},
}

// detectType sets mimetype, filetype and image dimensions from the name and bytes.
func (f *file) detectType() {
	ext := strings.ToLower(path.Ext(f.name))
	if f.mimetype == "" {
		if t := mime.TypeByExtension(ext); t != "" {
			f.mimetype, _, _ = strings.Cut(t, ";")
		} else if len(f.data) > 0 {
			f.mimetype, _, _ = strings.Cut(http.DetectContentType(f.data), ";")
		} else {
			f.mimetype = "application/octet-stream"
		}
	}
	f.filetype = "binary"
	if t, ok := extTypes[ext]; ok {
		f.filetype = t[0]
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(f.data)); err == nil {
		f.width, f.height = cfg.Width, cfg.Height
	}
}

func prettyType(filetype string) string {
	for _, t := range extTypes {
		if t[0] == filetype {
			return t[1]
		}
	}
	return "Binary"
}

func (f *file) urlPrivate() string {
	return f.base + "/files-pri/" + TeamID + "-" + f.id + "/" + url.PathEscape(f.name)
}

func (f *file) urlPrivateDownload() string {
	return f.base + "/files-pri/" + TeamID + "-" + f.id + "/download/" + url.PathEscape(f.name)
}

func (f *file) snapshot() File {
	return File{
		ID: f.id, Name: f.name, Title: f.title, Mimetype: f.mimetype, Filetype: f.filetype,
		User: f.user, Size: f.size, AltText: f.altText, Data: f.data[:len(f.data):len(f.data)],
		URLPrivate: f.urlPrivate(), URLPrivateDownload: f.urlPrivateDownload(),
		Channels: slices.Clone(f.channels), Uploaded: f.uploaded, Completed: f.completed,
	}
}

// Files returns every file the fake knows, in creation order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fs []*file
	for _, f := range s.files {
		fs = append(fs, f)
	}
	slices.SortFunc(fs, func(a, b *file) int { return strings.Compare(a.id, b.id) })
	out := make([]File, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.snapshot())
	}
	return out
}

// File returns the file with id.
func (s *Server) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.files[id]; ok {
		return f.snapshot(), true
	}
	return File{}, false
}

// botCanReadLocked: the bot reads files it uploaded and files shared in conversations
// it is a member of (docs file-object §Authentication: files:read + access).
func (s *Server) botCanReadLocked(f *file) bool {
	if f.user == BotUserID {
		return true
	}
	for _, c := range f.channels {
		if ch := s.channels[c]; ch != nil && ch.members[BotUserID] {
			return true
		}
	}
	return false
}

// fileJSONLocked renders a file object shaped like the docs' file_share example.
func (s *Server) fileJSONLocked(f *file, withShares bool) map[string]any {
	obj := map[string]any{
		"id": f.id, "created": f.created.Unix(), "timestamp": f.created.Unix(), "name": f.name,
		"title": f.title, "mimetype": f.mimetype, "filetype": f.filetype, "pretty_type": prettyType(f.filetype),
		"user": f.user, "user_team": TeamID, "editable": false, "size": f.size, "mode": "hosted",
		"is_external": false, "external_type": "", "is_public": false, "public_url_shared": false,
		"display_as_bot": false, "username": "",
		"url_private": f.urlPrivate(), "url_private_download": f.urlPrivateDownload(),
		"permalink":        f.base + "/files/" + f.user + "/" + f.id + "/" + url.PathEscape(f.name),
		"permalink_public": "https://slack-files.com/" + TeamID + "-" + f.id + "-" + f.hash,
		"has_rich_preview": false, "file_access": "visible", "comments_count": 0,
	}
	if f.altText != "" {
		obj["alt_txt"] = f.altText
	}
	if f.width > 0 {
		stem := strings.TrimSuffix(f.name, path.Ext(f.name))
		ext := path.Ext(f.name)
		for _, n := range []int{64, 80, 160, 360, 480} {
			obj["thumb_"+strconv.Itoa(n)] = f.base + "/files-tmb/" + TeamID + "-" + f.id + "-" + f.hash + "/" + url.PathEscape(fmt.Sprintf("%s_%d%s", stem, n, ext))
		}
		obj["thumb_360_w"], obj["thumb_360_h"] = min(360, f.width), min(360, f.height)
		obj["thumb_480_w"], obj["thumb_480_h"] = min(480, f.width), min(480, f.height)
		obj["original_w"], obj["original_h"] = f.width, f.height
		obj["image_exif_rotation"] = 1
	}
	chans, groups, ims := []string{}, []string{}, []string{}
	public, private := map[string]any{}, map[string]any{}
	for _, c := range f.channels {
		ch := s.channels[c]
		if ch == nil {
			continue
		}
		var list []any
		for _, sh := range f.shares {
			if sh.channel == c {
				e := map[string]any{"ts": sh.ts, "channel_name": ch.Name, "team_id": TeamID, "reply_users": []string{}, "reply_users_count": 0, "reply_count": 0}
				if sh.threadTS != "" {
					e["thread_ts"] = sh.threadTS
				}
				list = append(list, e)
			}
		}
		switch ch.Type {
		case PublicChannel:
			chans = append(chans, c)
			public[c] = list
			obj["is_public"] = true
		case PrivateChannel:
			groups = append(groups, c)
			private[c] = list
		default:
			ims = append(ims, c)
			private[c] = list
		}
	}
	obj["channels"], obj["groups"], obj["ims"] = chans, groups, ims
	if withShares && len(f.channels) > 0 {
		sh := map[string]any{}
		if len(public) > 0 {
			sh["public"] = public
		}
		if len(private) > 0 {
			sh["private"] = private
		}
		obj["shares"] = sh
	}
	return obj
}

// filesGetUploadURLExternal: filename and length required (invalid_arguments);
// length 0 is missing_argument (docs: "Typically only occurs when the length provided
// is 0"); alt_txt > 1000 chars is alt_txt_too_large. The upload_url is on the fake's
// host, as slack-go requires.
func (s *Server) filesGetUploadURLExternal(req *apiRequest) (map[string]any, *apiError) {
	name := req.args.Get("filename")
	if name == "" {
		return nil, argError("missing required field: filename")
	}
	ls, ok := req.args["length"]
	if !ok {
		return nil, argError("missing required field: length")
	}
	n, err := strconv.Atoi(ls[0])
	if err != nil || n < 0 {
		return nil, argError("invalid value for length: %q", ls[0])
	}
	if n == 0 {
		return nil, errf("missing_argument")
	}
	alt := req.args.Get("alt_txt")
	if runes(alt) > 1000 {
		return nil, errf("alt_txt_too_large")
	}
	f := s.newFileLocked(name, n, BotUserID)
	f.altText = alt
	ticket := randHex(12)
	s.uploads[ticket] = f
	s.notifyLocked()
	return map[string]any{"upload_url": s.srv.URL + "/upload/v1/" + ticket, "file_id": f.id}, nil
}

// serveUpload receives the bytes for an upload_url: a multipart part named "file"
// (what slack-go sends) or the raw body (the docs' curl example). The byte count must
// equal the declared length, else 400 (inference: the docs do not say what Slack
// does). Success: 200 "OK - <n>" (docs).
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f, ok := s.uploads[r.PathValue("ticket")]
	done := ok && f.completed
	s.mu.Unlock()
	if !ok || done {
		http.Error(w, "upload ticket not found", http.StatusNotFound)
		return
	}
	data, err := readUpload(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(data) != f.size {
		http.Error(w, fmt.Sprintf("length mismatch: declared %d bytes, received %d", f.size, len(data)), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f.data, f.uploaded = data, true
	f.detectType()
	s.notifyLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

func readUpload(r *http.Request) ([]byte, error) {
	const maxUpload = 1 << 30
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return io.ReadAll(io.LimitReader(r.Body, maxUpload))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, fmt.Errorf(`multipart body has no part named "file"`)
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return io.ReadAll(io.LimitReader(p, maxUpload))
		}
	}
}

// filesCompleteUploadExternal: files=[{"id","title"}] required; every id must be an
// upload of this app whose bytes arrived and that is not yet completed, else
// file_not_found ("Could not find the file from the upload ticket"). channel_id and/or
// channels (<= 100: channels_limit_exceeded) must exist (channel_not_found) and
// include the bot (not_in_channel); thread_ts needs exactly one channel (docs: "make
// sure to provide only one channel", invalid_arguments here by inference). Each
// channel gets a message from the bot with the files and initial_comment (blocks are
// ignored when initial_comment is set, docs). Replies the file objects.
func (s *Server) filesCompleteUploadExternal(req *apiRequest) (map[string]any, *apiError) {
	raw := req.args.Get("files")
	if raw == "" {
		return nil, argError("missing required field: files")
	}
	var items []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(raw), &items); err != nil || len(items) == 0 {
		return nil, argError("files must be a non-empty JSON array of {\"id\",\"title\"}")
	}
	var fs []*file
	for _, it := range items {
		f := s.files[it.ID]
		if f == nil || f.user != BotUserID || !f.uploaded || f.completed || slices.Contains(fs, f) {
			return nil, errf("file_not_found")
		}
		fs = append(fs, f)
	}
	var chans []string
	if c := req.args.Get("channel_id"); c != "" {
		chans = append(chans, c)
	}
	for c := range strings.SplitSeq(req.args.Get("channels"), ",") {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(chans, c) {
			chans = append(chans, c)
		}
	}
	if len(chans) > 100 {
		return nil, errf("channels_limit_exceeded")
	}
	for i, c := range chans {
		ch, aerr := s.channelForPostLocked(c)
		if aerr != nil {
			return nil, aerr
		}
		chans[i] = ch.ID
	}
	threadTS := req.args.Get("thread_ts")
	if threadTS != "" && len(chans) != 1 {
		return nil, argError("thread_ts requires exactly one channel")
	}
	comment := req.args.Get("initial_comment")
	var blocks json.RawMessage
	if rb, ok := req.args["blocks"]; ok {
		if comment != "" {
			s.warnLocked("files.completeUploadExternal: blocks are ignored because initial_comment is set")
		} else {
			b, aerr := s.parseBlocksLocked(rb[0], messageSurface)
			if aerr != nil {
				return nil, aerr
			}
			if nonEmptyJSONArray(b) {
				blocks = b
			}
		}
	}
	for i, f := range fs {
		f.completed = true
		if items[i].Title != "" {
			f.title = items[i].Title
		}
	}
	for _, c := range chans {
		m := &message{
			channel: c, user: BotUserID, botID: BotID, text: comment, blocks: blocks,
			threadTS: threadTS, files: fs, upload: true, via: "files.completeUploadExternal",
		}
		s.postLocked(m)
		for _, f := range fs {
			f.channels = append(f.channels, c)
			f.shares = append(f.shares, share{channel: c, ts: m.ts, threadTS: m.threadTS})
		}
	}
	s.notifyLocked()
	out := make([]any, 0, len(fs))
	for _, f := range fs {
		out = append(out, s.fileJSONLocked(f, false))
	}
	return map[string]any{"files": out}, nil
}

// filesInfo: file required; file_not_found for unknown files or files the bot cannot
// read (inference). The file object includes shares.
func (s *Server) filesInfo(req *apiRequest) (map[string]any, *apiError) {
	f := s.files[req.args.Get("file")]
	if f == nil || !s.botCanReadLocked(f) {
		return nil, errf("file_not_found")
	}
	return map[string]any{
		"file": s.fileJSONLocked(f, true), "comments": []any{},
		"paging": map[string]any{"count": 100, "total": 1, "page": 1, "pages": 1},
	}, nil
}

// serveFile serves url_private, url_private_download and thumbnails (the original
// bytes). It needs "Authorization: Bearer <bot token>" and a file the bot can read;
// otherwise it redirects to the sign-in page with redir=<path>, as files.slack.com
// does and as slack-go's GetFile detects.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(r.PathValue("key"), "-", 3)
	if len(parts) < 2 || parts[0] != TeamID {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	f := s.files[parts[1]]
	ok := f != nil && f.uploaded && (strings.HasPrefix(r.URL.Path, "/files-tmb/") || r.PathValue("name") == f.name)
	authorized := ok && r.Header.Get("Authorization") == "Bearer "+s.botToken && s.botCanReadLocked(f)
	var data []byte
	var mt string
	if ok {
		data, mt = f.data, f.mimetype
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !authorized {
		http.Redirect(w, r, "/?redir="+url.QueryEscape(r.URL.Path), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}
