package fakediscord

import (
	"bytes"
	"crypto/hmac"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveCDN serves attachment bytes at signed URLs (reference.mdx "Signed
// Attachment CDN URLs": ex = hex expiry, is = hex issue time, hm =
// signature). An expired, unsigned or forged URL, or the file of a deleted
// message, is 404 "This content is no longer available." (the text Discord's
// CDN answers with; inferred for the fake's purposes). No Authorization is
// needed, as on the real CDN.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	route := RouteCDNAttachment
	if strings.HasPrefix(r.URL.Path, "/ephemeral-attachments/") {
		route = RouteCDNEphemeral
	}
	status := http.StatusOK
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.RequestURI(), Route: route,
			Status: status, At: s.nowLocked(), Wall: time.Now()})
		s.notifyLocked()
		s.mu.Unlock()
		if status != http.StatusOK {
			s.logf("CDN %s %s -> %d", r.Method, r.URL.Path, status)
		}
	}()
	gone := func() {
		status = http.StatusNotFound
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("This content is no longer available."))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status = http.StatusMethodNotAllowed
		w.WriteHeader(status)
		return
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(segs) != 4 {
		gone()
		return
	}
	q := r.URL.Query()
	ex, is, hm := q.Get("ex"), q.Get("is"), q.Get("hm")
	s.mu.Lock()
	a := s.attachments[segs[2]]
	now := s.nowLocked()
	var data []byte
	var ct string
	ok := a != nil && !a.deleted && a.ChannelID == segs[1] && a.Filename == segs[3] &&
		(route == RouteCDNEphemeral) == a.Ephemeral
	if ok {
		data, ct = a.Data, a.ContentType
		ok = hmac.Equal([]byte(hm), []byte(s.sign(cdnPath(a, false), ex, is)))
	}
	s.mu.Unlock()
	exp, err := strconv.ParseInt(ex, 16, 64)
	if !ok || err != nil || !now.Before(time.Unix(exp, 0)) {
		gone()
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}
