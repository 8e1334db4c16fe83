// Package imagingtest holds test doubles for the imaging core: strict fake
// HTTP servers for the four vendors, written from their documents in
// shared/vendors (documented paths, auth, field rules, error shapes, state
// sequences, scripted failures), and Vendor, an in-memory imaging.Vendor for
// the other packages' tests.
//
// The fakes reject what the real vendor would reject, with the documented
// error body, so a client that passes against them follows the documents.
package imagingtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Outcome is how a fake task ends.
type Outcome int

// Outcomes a fake task can be scripted to reach.
const (
	// Succeed finishes with an image.
	Succeed Outcome = iota
	// FailSafety fails with the vendor's content-policy failure.
	FailSafety
	// FailImage fails because the reference image could not be fetched.
	FailImage
	// FailGeneric fails with the vendor's generic failure.
	FailGeneric
	// Never stays running forever.
	Never
)

// Fault is a scripted HTTP failure served instead of the real handler.
type Fault struct {
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Body is sent as is; empty means the vendor's documented error body
	// for Status.
	Body string
	// Drop closes the connection without answering (a network error after
	// the request was sent).
	Drop bool
}

// Config is shared by every fake vendor server.
type Config struct {
	// APIKey is the bearer key the server accepts (default "test-key").
	APIKey string
	// PollsQueued is how many status polls see the task queued (default 1);
	// PollsRunning how many then see it running (default 2) before it ends.
	PollsQueued, PollsRunning int
	Outcome                   Outcome
	// Image is served at the result URL (default PNG(1)).
	Image []byte
	// ImageContentType is the Content-Type served with Image (default
	// sniffed).
	ImageContentType string
	// SubmitFaults, StatusFaults, UploadFaults and DownloadFaults are served,
	// in order, before the real handler answers those requests.
	SubmitFaults, StatusFaults, UploadFaults, DownloadFaults []Fault
}

// Option changes a fake server's Config.
type Option func(*Config)

// WithAPIKey sets the accepted key.
func WithAPIKey(k string) Option { return func(c *Config) { c.APIKey = k } }

// WithPolls sets how many polls see the task queued, then running.
func WithPolls(queued, running int) Option {
	return func(c *Config) { c.PollsQueued, c.PollsRunning = queued, running }
}

// WithOutcome sets how tasks end.
func WithOutcome(o Outcome) Option { return func(c *Config) { c.Outcome = o } }

// WithImage sets the result image bytes.
func WithImage(b []byte) Option { return func(c *Config) { c.Image = b } }

// WithSubmitFaults scripts failures for submits.
func WithSubmitFaults(f ...Fault) Option { return func(c *Config) { c.SubmitFaults = f } }

// WithStatusFaults scripts failures for status polls.
func WithStatusFaults(f ...Fault) Option { return func(c *Config) { c.StatusFaults = f } }

// WithUploadFaults scripts failures for uploads.
func WithUploadFaults(f ...Fault) Option { return func(c *Config) { c.UploadFaults = f } }

// WithDownloadFaults scripts failures for result downloads.
func WithDownloadFaults(f ...Fault) Option { return func(c *Config) { c.DownloadFaults = f } }

// NewConfig applies opts over the defaults.
func NewConfig(opts ...Option) Config {
	c := Config{APIKey: "test-key", PollsQueued: 1, PollsRunning: 2}
	for _, o := range opts {
		o(&c)
	}
	if c.Image == nil {
		c.Image = PNG(1)
	}
	if c.ImageContentType == "" {
		c.ImageContentType = http.DetectContentType(c.Image)
	}
	return c
}

// Faults hands out scripted faults in order; safe for concurrent use.
type Faults struct {
	mu sync.Mutex
	q  []Fault
}

// NewFaults returns a queue of faults.
func NewFaults(f []Fault) *Faults { return &Faults{q: append([]Fault(nil), f...)} }

// Serve answers with the next fault, if any, and reports whether it did.
// body builds the vendor's documented error body for a status.
func (f *Faults) Serve(w http.ResponseWriter, body func(status int) string) bool {
	f.mu.Lock()
	if len(f.q) == 0 {
		f.mu.Unlock()
		return false
	}
	ft := f.q[0]
	f.q = f.q[1:]
	f.mu.Unlock()
	if ft.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if ft.RetryAfter != "" {
		w.Header().Set("Retry-After", ft.RetryAfter)
	}
	b := ft.Body
	if b == "" && body != nil {
		b = body(ft.Status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ft.Status)
	_, _ = w.Write([]byte(b))
	return true
}

// Recorded is one request a fake accepted or refused, for assertions.
type Recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	// Status is what the fake answered.
	Status int
}

// JSON decodes the recorded body into a generic map.
func (r Recorded) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Log records requests; safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	all []Recorded
}

// Add appends a record.
func (l *Log) Add(r Recorded) {
	l.mu.Lock()
	l.all = append(l.all, r)
	l.mu.Unlock()
}

// All returns a copy of the records.
func (l *Log) All() []Recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Recorded(nil), l.all...)
}

// Count returns how many records match method and path prefix, with status
// in [lo, hi].
func (l *Log) Count(method, pathPrefix string, lo, hi int) int {
	n := 0
	for _, r := range l.All() {
		if r.Method == method && len(r.Path) >= len(pathPrefix) && r.Path[:len(pathPrefix)] == pathPrefix && r.Status >= lo && r.Status <= hi {
			n++
		}
	}
	return n
}

// PNG returns a small valid PNG whose colour depends on seed, so tests can
// tell images apart byte for byte.
func PNG(seed int) []byte {
	var buf bytes.Buffer
	_ = png.Encode(&buf, testImage(seed))
	return buf.Bytes()
}

// JPEG returns a small valid JPEG whose colour depends on seed.
func JPEG(seed int) []byte {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, testImage(seed), nil)
	return buf.Bytes()
}

func testImage(seed int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	c := color.RGBA{uint8(seed * 37), uint8(seed * 91), uint8(seed * 53), 255}
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, c)
		}
	}
	return img
}

// TaskID makes a fake task id with a vendor-looking prefix.
func TaskID(prefix string, n int) string { return prefix + strconv.Itoa(n) }

// tracked wraps a fake's ResponseWriter: it remembers the status answered
// and records the request in a Log exactly once — when Record is called,
// before a Drop fault hijacks the connection (the client must not see the
// drop before the log does), or at the latest when the handler returns.
type tracked struct {
	http.ResponseWriter
	status int
	once   sync.Once
	rec    func(status int)
}

// track starts tracking one request; path is what the Log records.
func (l *Log) track(w http.ResponseWriter, r *http.Request, path string, body []byte) *tracked {
	return &tracked{ResponseWriter: w, rec: func(status int) {
		l.Add(Recorded{Method: r.Method, Path: path, Header: r.Header.Clone(), Body: body, Status: status})
	}}
}

// Record logs the request now, if it is not logged yet.
func (t *tracked) Record() { t.once.Do(func() { t.rec(t.status) }) }

func (t *tracked) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *tracked) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	return t.ResponseWriter.Write(b)
}

// Hijack records the request, then hijacks the connection.
func (t *tracked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	t.Record()
	return http.NewResponseController(t.ResponseWriter).Hijack()
}
