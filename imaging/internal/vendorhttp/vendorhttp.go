// Package vendorhttp is the HTTP layer the vendor clients share: bearer
// auth, bounded bodies, no redirects, and one retry policy.
//
// The policy: idempotent calls (status polls, uploads of the same bytes,
// downloads) are retried on 429, 5xx and network errors with exponential
// backoff and jitter that honours Retry-After. A paid submit is retried only
// when the vendor certainly created nothing: a 429, or a connection on which
// no request was written. Never after a 5xx or a read timeout, because that
// job may exist and be billed.
package vendorhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
)

// MaxBody bounds every API response body read.
const MaxBody = 1 << 20

// NewHTTPClient returns the client vendor APIs use by default: a 30 s
// overall timeout and no redirects (so the API key never follows one).
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 20 * time.Second
	tr.TLSHandshakeTimeout = 10 * time.Second
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Classifier turns a non-2xx response into a classified error. It is given
// the status, the (bounded) body and the headers; RetryAfter is filled in by
// the caller when the vendor sent the header.
type Classifier func(status int, body []byte, h http.Header) *imaging.Error

// Client is one vendor's API endpoint. Fields are set once before use; the
// zero value is not usable (BaseURL, HTTP and Classify are required).
type Client struct {
	// Vendor is the display name used in errors ("PoYo").
	Vendor  string
	BaseURL string
	APIKey  string
	HTTP    *http.Client
	// Classify maps non-2xx responses onto typed errors.
	Classify Classifier
	// MaxAttempts bounds tries per call (default 5).
	MaxAttempts int
	// MaxWait bounds one wait between tries, including Retry-After
	// (default 30 s).
	MaxWait time.Duration
	// BaseBackoff is the first backoff (default 500 ms).
	BaseBackoff time.Duration
}

// Call describes one request.
type Call struct {
	Method string
	// Path is appended to BaseURL; it may carry a query.
	Path string
	// JSON, when non-nil, is marshalled as the body.
	JSON any
	// Body and ContentType give a raw body instead (e.g. multipart).
	Body        []byte
	ContentType string
	// Idempotent marks calls that may be retried after the vendor may have
	// seen them (status polls, uploads). Submits leave it false.
	Idempotent bool
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// Decode unmarshals the body into v, reporting malformed JSON as a vendor
// error.
func (r *Response) Decode(vendor string, v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return &imaging.Error{Kind: imaging.KindUnavailable, Vendor: vendor, HTTPStatus: r.Status,
			Message: "malformed response", Err: err}
	}
	return nil
}

// Do sends the call under the retry policy and returns the 2xx response, or
// a *imaging.Error.
func (c *Client) Do(ctx context.Context, call Call) (*Response, error) {
	var body []byte
	ctype := call.ContentType
	if call.JSON != nil {
		b, err := json.Marshal(call.JSON)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", strings.ToLower(c.Vendor), err)
		}
		body, ctype = b, "application/json"
	} else if call.Body != nil {
		body = call.Body
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			wait := c.backoff(attempt, imaging.RetryAfterOf(lastErr))
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return nil, lastErr
			}
			if err := Sleep(ctx, wait); err != nil {
				return nil, lastErr
			}
		}
		resp, retry, err := c.once(ctx, call, body, ctype)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (c *Client) once(ctx context.Context, call Call, body []byte, ctype string) (resp *Response, retry bool, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, strings.TrimRight(c.BaseURL, "/")+call.Path, rd)
	if err != nil {
		return nil, false, &imaging.Error{Kind: imaging.KindUnknown, Vendor: c.Vendor, Err: err}
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	wrote := false
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote = true },
	}))
	hr, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		e := &imaging.Error{Kind: imaging.KindUnavailable, Vendor: c.Vendor, Message: "network error", Err: redact(err)}
		// A call the vendor never saw is safe to repeat; otherwise only an
		// idempotent one.
		return nil, call.Idempotent || !wrote || isDialError(err), e
	}
	defer hr.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(hr.Body, MaxBody+1))
	if rerr != nil {
		e := &imaging.Error{Kind: imaging.KindUnavailable, Vendor: c.Vendor, HTTPStatus: hr.StatusCode, Message: "reading response", Err: rerr}
		return nil, call.Idempotent, e
	}
	if len(b) > MaxBody {
		return nil, false, &imaging.Error{Kind: imaging.KindUnavailable, Vendor: c.Vendor, HTTPStatus: hr.StatusCode, Message: "response too large"}
	}
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		return &Response{Status: hr.StatusCode, Body: b, Header: hr.Header}, false, nil
	}
	e := c.Classify(hr.StatusCode, b, hr.Header)
	if e == nil {
		e = ClassifyStatus(hr.StatusCode)
	}
	e.Vendor = c.Vendor
	if e.HTTPStatus == 0 {
		e.HTTPStatus = hr.StatusCode
	}
	if d, ok := ParseRetryAfter(hr.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	switch {
	case hr.StatusCode == http.StatusTooManyRequests:
		return nil, true, e
	case hr.StatusCode >= 500 && hr.StatusCode != http.StatusNotImplemented:
		return nil, call.Idempotent, e
	}
	return nil, false, e
}

func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	maxWait := c.MaxWait
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	if retryAfter > 0 {
		return min(retryAfter, maxWait)
	}
	base := c.BaseBackoff
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	d := base << (attempt - 1)
	d = d/2 + rand.N(d/2+1) // jitter in [d/2, d]
	return min(d, maxWait)
}

// Sleep waits for d or until ctx ends, returning ctx.Err() in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// redact drops the URL from *url.Error so no query string (signed URLs,
// keys) reaches logs.
func redact(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// ParseRetryAfter reads a Retry-After header; see imaging.ParseRetryAfter.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return imaging.ParseRetryAfter(v, now)
}

// ClassifyStatus maps an HTTP status alone onto a kind, for vendors whose
// body says nothing more.
func ClassifyStatus(status int) *imaging.Error {
	k := imaging.KindUnknown
	switch {
	case status == 400 || status == 413 || status == 422:
		k = imaging.KindInvalid
	case status == 401 || status == 403:
		k = imaging.KindUnauthorized
	case status == 402:
		k = imaging.KindCredits
	case status == 404:
		k = imaging.KindNotFound
	case status == 408 || status == 504:
		k = imaging.KindTimeout
	case status == 429:
		k = imaging.KindRateLimited
	case status >= 500:
		k = imaging.KindUnavailable
	}
	return &imaging.Error{Kind: k, HTTPStatus: status}
}

// Multipart builds a multipart/form-data body with one file part and plain
// fields, returning the body and its content type.
func Multipart(field, filename, contentType string, data []byte, fields map[string]string) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			return nil, "", err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	h.Set("Content-Type", contentType)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// Extension returns a file extension for an image content type.
func Extension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ".png"
}
