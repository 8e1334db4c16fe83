package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/web"
)

var _ imaging.ImageHost = (*web.ImageHost)(nil)

var hostedURL = regexp.MustCompile(`^https://bot\.example/images/([A-Za-z0-9_-]+)(\.[a-z]+)$`)

type clock struct{ t atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return c
}
func (c *clock) now() time.Time          { return *c.t.Load() }
func (c *clock) set(t time.Time)         { c.t.Store(&t) }
func (c *clock) advance(d time.Duration) { c.set(c.now().Add(d)) }

func newHost(c *clock) *web.ImageHost {
	return &web.ImageHost{PublicURL: publicURL, TTL: time.Hour, Now: c.now}
}

func host(t *testing.T, h *web.ImageHost, data []byte, ct string) (string, string) {
	t.Helper()
	u, err := h.Host(context.Background(), data, ct)
	if err != nil {
		t.Fatalf("Host: %v", err)
	}
	m := hostedURL.FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("hosted URL %q does not look like %s/images/<token>.<ext>", u, publicURL)
	}
	return u, m[1]
}

func get(h *web.ImageHost, method, u string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, strings.TrimPrefix(u, publicURL), nil))
	return rec
}

func TestImageHostURL(t *testing.T) {
	h := newHost(newClock())
	png := imagingtest.PNG(1)
	for ct, ext := range map[string]string{
		"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif", "": ".png",
	} {
		u, tok := host(t, h, png, ct)
		if !strings.HasSuffix(u, ext) {
			t.Errorf("content type %q: URL %q, want extension %s", ct, u, ext)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatalf("token %q is not base64url: %v", tok, err)
		}
		if len(tok) < 32 || len(raw)*8 < 128 {
			t.Errorf("token %q: %d chars, %d bits; want >= 32 chars and >= 128 bits", tok, len(tok), len(raw)*8)
		}
	}
	// Tokens never repeat, even for the same bytes.
	seen := map[string]bool{}
	for range 2000 {
		_, tok := host(t, h, png, "image/png")
		if seen[tok] {
			t.Fatalf("token %q handed out twice", tok)
		}
		seen[tok] = true
	}
}

func TestImageHostServe(t *testing.T) {
	h := newHost(newClock())
	jpg := imagingtest.JPEG(2)
	u, _ := host(t, h, jpg, "image/jpeg")
	rec := get(h, http.MethodGet, u)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", u, rec.Code)
	}
	if !bytes.Equal(rec.Body.Bytes(), jpg) {
		t.Error("served bytes differ from the hosted ones")
	}
	hdr := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":           "image/jpeg",
		"Content-Length":         strconv.Itoa(len(jpg)),
		"X-Content-Type-Options": "nosniff",
	} {
		if got := hdr.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}

	// Bytes with no declared type are served with the sniffed one.
	u2, _ := host(t, h, imagingtest.PNG(3), "")
	if ct := get(h, http.MethodGet, u2).Header().Get("Content-Type"); ct != "image/png" {
		t.Errorf("sniffed Content-Type = %q", ct)
	}

	// HEAD: headers, no body.
	rec = get(h, http.MethodHead, u)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes", rec.Code, rec.Body.Len())
	}
	if rec.Header().Get("Content-Length") != strconv.Itoa(len(jpg)) || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Errorf("HEAD headers: %v", rec.Header())
	}

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if rec := get(h, m, u); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, rec.Code)
		}
	}
	if h.Len() != 2 {
		t.Errorf("Len = %d, want 2 (serving deletes nothing)", h.Len())
	}
}

func TestImageHostUnknown(t *testing.T) {
	h := newHost(newClock())
	u, tok := host(t, h, imagingtest.PNG(1), "image/png")
	other := []byte(tok)
	if other[5] == 'A' {
		other[5] = 'B'
	} else {
		other[5] = 'A'
	}
	for _, p := range []string{
		"/images/" + string(other) + ".png",
		"/images/" + tok[:len(tok)-1] + ".png",
		"/images/",
		"/images/.png",
		"/images/nope",
	} {
		if rec := get(h, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		} else if rec.Body.Len() > 0 && bytes.Contains(rec.Body.Bytes(), []byte{0x89, 'P', 'N', 'G'}) {
			t.Errorf("GET %s leaked image bytes", p)
		}
	}
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusOK {
		t.Errorf("the real URL: %d", rec.Code)
	}
}

func TestImageHostExpiry(t *testing.T) {
	c := newClock()
	h := newHost(c)
	u, _ := host(t, h, imagingtest.PNG(1), "image/png")
	c.advance(time.Hour - time.Nanosecond)
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusOK {
		t.Fatalf("just before the TTL: %d", rec.Code)
	}
	c.advance(time.Nanosecond)
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusNotFound {
		t.Errorf("at the TTL: %d, want 404", rec.Code)
	}
	if rec := get(h, http.MethodHead, u); rec.Code != http.StatusNotFound {
		t.Errorf("HEAD at the TTL: %d, want 404", rec.Code)
	}
	if n := h.Len(); n != 0 {
		t.Errorf("Len after an expired request = %d, want 0 (deleted)", n)
	}
	// Going back in time does not resurrect it.
	c.advance(-2 * time.Hour)
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusNotFound {
		t.Errorf("expired image served again: %d", rec.Code)
	}
}

func TestImageHostSweep(t *testing.T) {
	c := newClock()
	h := newHost(c)
	host(t, h, imagingtest.PNG(1), "image/png")
	host(t, h, imagingtest.PNG(2), "image/png")
	c.advance(30 * time.Minute)
	late, _ := host(t, h, imagingtest.PNG(3), "image/png")
	c.advance(30 * time.Minute)
	if n := h.Len(); n != 3 {
		t.Errorf("Len before sweep = %d, want 3", n)
	}
	h.Sweep()
	if n := h.Len(); n != 1 {
		t.Errorf("Len after sweep = %d, want 1", n)
	}
	if rec := get(h, http.MethodGet, late); rec.Code != http.StatusOK {
		t.Errorf("unexpired image after sweep: %d", rec.Code)
	}
	c.advance(30 * time.Minute)
	h.Sweep()
	if n := h.Len(); n != 0 {
		t.Errorf("Len after the last expiry = %d", n)
	}
}

func TestImageHostDefaultTTL(t *testing.T) {
	c := newClock()
	h := &web.ImageHost{PublicURL: publicURL, Now: c.now}
	u, _ := host(t, h, imagingtest.PNG(1), "image/png")
	c.advance(59 * time.Minute)
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusOK {
		t.Errorf("after 59 min with the default TTL: %d", rec.Code)
	}
	c.advance(time.Minute)
	if rec := get(h, http.MethodGet, u); rec.Code != http.StatusNotFound {
		t.Errorf("after 1 h with the default TTL: %d", rec.Code)
	}
}

func TestImageHostFull(t *testing.T) {
	c := newClock()
	h := newHost(c)
	h.MaxBytes = 100
	a := bytes.Repeat([]byte{1}, 60)
	host(t, h, a, "image/png")
	if _, err := h.Host(context.Background(), bytes.Repeat([]byte{2}, 41), "image/png"); !errors.Is(err, web.ErrHostFull) {
		t.Fatalf("over MaxBytes: err = %v, want ErrHostFull", err)
	}
	if n := h.Len(); n != 1 {
		t.Errorf("Len after a refused Host = %d", n)
	}
	// Exactly filling it is fine.
	host(t, h, bytes.Repeat([]byte{3}, 40), "image/png")
	if _, err := h.Host(context.Background(), []byte{4}, "image/png"); !errors.Is(err, web.ErrHostFull) {
		t.Errorf("full host took one more byte: %v", err)
	}
	// A single image larger than the bound never fits.
	empty := newHost(c)
	empty.MaxBytes = 10
	if _, err := empty.Host(context.Background(), make([]byte, 11), "image/png"); !errors.Is(err, web.ErrHostFull) {
		t.Errorf("oversized image: %v", err)
	}
	// Expired images free their space without an explicit Sweep.
	c.advance(time.Hour)
	host(t, h, bytes.Repeat([]byte{5}, 100), "image/png")
	if n := h.Len(); n != 1 {
		t.Errorf("Len after space was reclaimed = %d, want 1", n)
	}
	// Space freed by an expired GET is reusable too.
	c2 := newClock()
	h2 := newHost(c2)
	h2.MaxBytes = 10
	u, _ := host(t, h2, make([]byte, 10), "image/png")
	c2.advance(2 * time.Hour)
	get(h2, http.MethodGet, u)
	c2.advance(-2 * time.Hour) // so Host's own sweep frees nothing
	host(t, h2, make([]byte, 10), "image/png")
}

// Through a real server, as a vendor would fetch it.
func TestImageHostOverHTTP(t *testing.T) {
	h := &web.ImageHost{}
	mux := http.NewServeMux()
	mux.Handle("/images/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h.PublicURL = srv.URL
	png := imagingtest.PNG(9)
	u, err := h.Host(context.Background(), png, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, srv.URL+"/images/") {
		t.Fatalf("URL %q", u)
	}
	resp, err := srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, png) {
		t.Errorf("GET %s: %d, %d bytes", u, resp.StatusCode, len(body))
	}
}

// Run with -race.
func TestImageHostConcurrent(t *testing.T) {
	c := newClock()
	h := newHost(c)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			data := imagingtest.PNG(i)
			for range 20 {
				u, err := h.Host(context.Background(), data, "image/png")
				if err != nil {
					t.Error(err)
					return
				}
				rec := get(h, http.MethodGet, u)
				if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), data) {
					t.Errorf("GET own image: %d", rec.Code)
				}
				h.Sweep()
				_ = h.Len()
			}
		})
	}
	wg.Wait()
	if n := h.Len(); n != 32*20 {
		t.Errorf("Len = %d, want %d", n, 32*20)
	}
	c.advance(time.Hour)
	h.Sweep()
	if n := h.Len(); n != 0 {
		t.Errorf("Len after expiry = %d", n)
	}
}
