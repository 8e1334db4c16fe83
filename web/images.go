package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ImageHost serves reference images the bot holds as bytes (Slack uploads)
// to vendors that accept only URLs (APIXO), at an unguessable URL for a
// limited time, then deletes them. It implements imaging.ImageHost. Images
// live in memory: a job resumed after a restart hosts its bytes again.
type ImageHost struct {
	// PublicURL is the bot's public base URL (no trailing slash).
	PublicURL string
	// TTL is how long an image is served (default 1 hour).
	TTL time.Duration
	// MaxBytes bounds all hosted images together (default 512 MiB).
	MaxBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	items map[string]hosted
	total int64
}

type hosted struct {
	data    []byte
	ctype   string
	expires time.Time
}

// ErrHostFull is returned when hosting an image would exceed MaxBytes.
var ErrHostFull = errors.New("web: image host is full")

func (h *ImageHost) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Host implements imaging.ImageHost.
func (h *ImageHost) Host(_ context.Context, data []byte, contentType string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	ttl, max := h.TTL, h.MaxBytes
	if ttl <= 0 {
		ttl = time.Hour
	}
	if max <= 0 {
		max = 512 << 20
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweepLocked(now)
	if h.total+int64(len(data)) > max {
		return "", ErrHostFull
	}
	if h.items == nil {
		h.items = map[string]hosted{}
	}
	if contentType == "" {
		contentType = http.DetectContentType(data)
	}
	h.items[tok] = hosted{data: data, ctype: contentType, expires: now.Add(ttl)}
	h.total += int64(len(data))
	return h.PublicURL + "/images/" + tok + extFor(contentType), nil
}

func extFor(ct string) string {
	switch ct {
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ".png"
}

// Sweep deletes expired images.
func (h *ImageHost) Sweep() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweepLocked(h.now())
}

func (h *ImageHost) sweepLocked(now time.Time) {
	for k, it := range h.items {
		if !now.Before(it.expires) {
			h.total -= int64(len(it.data))
			delete(h.items, k)
		}
	}
}

// Len is how many images are hosted (expired ones may still count until
// the next sweep).
func (h *ImageHost) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.items)
}

// ServeHTTP serves GET /images/{token}.{ext}.
func (h *ImageHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/images/")
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	now := h.now()
	h.mu.Lock()
	it, ok := h.items[name]
	if ok && !now.Before(it.expires) {
		h.total -= int64(len(it.data))
		delete(h.items, name)
		ok = false
	}
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", it.ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(it.data)))
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodGet {
		_, _ = w.Write(it.data)
	}
}
