package fakeslack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP mode: the fake POSTs signed requests to the app's endpoints, per
// docs.slack.dev/authentication/verifying-requests-from-slack (v0 HMAC-SHA256 of
// "v0:<timestamp>:<body>"; the app should reject timestamps older than 5 minutes),
// the slash-command docs (3000 ms to answer) and the Events API docs (retries with
// x-slack-retry-num / x-slack-retry-reason, x-slack-no-retry) — see
// shared/platforms/payloads/slack-events-retry-headers.docs.txt.

// A PostOption changes how [Server.PostSigned] signs or decorates a request.
type PostOption func(*postConfig)

type postConfig struct {
	header   http.Header
	badSig   bool
	noSig    bool
	staleBy  time.Duration
	retryNum int
	reason   string
}

// WithHeader adds a request header.
func WithHeader(key, value string) PostOption {
	return func(c *postConfig) { c.header.Add(key, value) }
}

// WithBadSignature signs the request with a wrong secret.
func WithBadSignature() PostOption { return func(c *postConfig) { c.badSig = true } }

// WithoutSignature sends no X-Slack-Signature / X-Slack-Request-Timestamp headers.
func WithoutSignature() PostOption { return func(c *postConfig) { c.noSig = true } }

// WithStaleTimestamp signs the request with a timestamp d in the past (the body and
// signature are otherwise valid). Use more than 5 minutes to test replay protection.
func WithStaleTimestamp(d time.Duration) PostOption { return func(c *postConfig) { c.staleBy = d } }

// WithRetry marks the request as Slack's retry number num (1..3) with reason
// (http_timeout, too_many_redirects, connection_failed, ssl_error, http_error,
// unknown_error) in X-Slack-Retry-Num / X-Slack-Retry-Reason.
func WithRetry(num int, reason string) PostOption {
	return func(c *postConfig) { c.retryNum, c.reason = num, reason }
}

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature values for body at
// time ts, with the server's signing secret.
func (s *Server) Sign(ts time.Time, body []byte) (timestamp, signature string) {
	return sign(s.signingSecret, ts, body)
}

func sign(secret string, ts time.Time, body []byte) (string, string) {
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// PostSigned POSTs body to the app's endpoint as Slack would: Content-Type contentType,
// a v0 signature over a fresh timestamp (the base clock, not the Advance offset, since
// slack.NewSecretsVerifier compares with time.Now) and Slack's User-Agent. It waits
// for the answer up to the delivery timeout (TimedOut then) and returns it; err is
// only for requests that could not be sent.
func (s *Server) PostSigned(ctx context.Context, endpoint, contentType string, body []byte, opts ...PostOption) (*HTTPResult, error) {
	cfg := postConfig{header: http.Header{}}
	for _, o := range opts {
		o(&cfg)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("fakeslack: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	if !cfg.noSig {
		secret := s.signingSecret
		if cfg.badSig {
			secret = "not-the-signing-secret"
		}
		ts, sig := sign(secret, s.cfg.clock().Add(-cfg.staleBy), body)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
	}
	if cfg.retryNum > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(cfg.retryNum))
		req.Header.Set("X-Slack-Retry-Reason", cfg.reason)
	}
	for k, vs := range cfg.header {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return &HTTPResult{TimedOut: true, Latency: time.Since(start)}, nil
		}
		return nil, fmt.Errorf("fakeslack: post %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res := &HTTPResult{Status: resp.StatusCode, Header: resp.Header, Body: data, Latency: time.Since(start)}
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			res.TimedOut = true
			return res, nil
		}
		return nil, fmt.Errorf("fakeslack: read answer of %s: %w", endpoint, err)
	}
	return res, nil
}

// DeliverHTTP POSTs d to the app's endpoint in Slack's HTTP encoding (commands and
// interactions as forms, events as JSON), signed, and applies the app's 200 answer like
// Slack does (a command's body becomes its reply; a view_submission body is its
// response_action; an empty body closes the view). A timeout or non-200 answer to a
// command or interaction is recorded as a warning (Slack shows the user an error).
func (s *Server) DeliverHTTP(ctx context.Context, endpoint string, d Deliverable, opts ...PostOption) (*HTTPResult, error) {
	ct, body := d.httpBody()
	res, err := s.PostSigned(ctx, endpoint, ct, body, opts...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case res.TimedOut || res.Status != http.StatusOK:
		if d.envelopeType() != "events_api" {
			s.warnLocked("%s to %s failed (status %d, timed out %v); Slack shows the user an error", d.envelopeType(), endpoint, res.Status, res.TimedOut)
		}
	default:
		d.handleReply(s, res.Body, res.Header.Get("Content-Type"), "http_response")
	}
	s.notifyLocked()
	return res, nil
}

// DeliverEventHTTP delivers an Events API event to endpoint with Slack's retry policy: a
// delivery fails on a timeout (http_timeout), a non-2xx status (http_error) or a
// connection error (connection_failed), and is retried up to 3 times with
// X-Slack-Retry-Num 1..3 and X-Slack-Retry-Reason, unless the app answered with
// "X-Slack-No-Retry: 1". Slack waits ~0, 1 min and 5 min between attempts; the fake
// waits [WithRetryDelays] (default none). It returns every attempt's result.
func (s *Server) DeliverEventHTTP(ctx context.Context, endpoint string, e *Event, opts ...PostOption) ([]*HTTPResult, error) {
	_, body := e.httpBody()
	var results []*HTTPResult
	reason := ""
	for attempt := 0; attempt <= 3; attempt++ {
		if attempt > 0 {
			var d time.Duration
			if attempt-1 < len(s.cfg.retryDelays) {
				d = s.cfg.retryDelays[attempt-1]
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return results, ctx.Err()
			case <-t.C:
			}
		}
		o := opts
		if attempt > 0 {
			o = append(append([]PostOption(nil), opts...), WithRetry(attempt, reason))
		}
		res, err := s.PostSigned(ctx, endpoint, "application/json", body, o...)
		switch {
		case err != nil && ctx.Err() != nil:
			return results, err
		case err != nil:
			res, reason = &HTTPResult{}, "connection_failed"
		case res.TimedOut:
			reason = "http_timeout"
		case res.Status < 200 || res.Status > 299:
			reason = "http_error"
		default:
			return append(results, res), nil
		}
		results = append(results, res)
		if res.Header.Get("X-Slack-No-Retry") == "1" {
			break
		}
	}
	return results, nil
}

// VerifyURL sends the url_verification request Slack sends when an Events API Request
// URL is saved, and checks that the app echoed the challenge as text/plain,
// application/x-www-form-urlencoded (challenge=...) or JSON {"challenge": ...}.
func (s *Server) VerifyURL(ctx context.Context, endpoint string) (*HTTPResult, error) {
	challenge := randHex(24)
	body, _ := json.Marshal(map[string]string{"token": verificationToken, "challenge": challenge, "type": "url_verification"})
	res, err := s.PostSigned(ctx, endpoint, "application/json", body)
	if err != nil {
		return nil, err
	}
	if res.TimedOut || res.Status != http.StatusOK {
		return res, fmt.Errorf("fakeslack: url_verification: status %d, timed out %v", res.Status, res.TimedOut)
	}
	if got := echoedChallenge(res); got != challenge {
		return res, fmt.Errorf("fakeslack: url_verification: app answered %q, want the challenge %q", res.Body, challenge)
	}
	return res, nil
}

func echoedChallenge(res *HTTPResult) string {
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var v struct {
			Challenge string `json:"challenge"`
		}
		_ = json.Unmarshal(res.Body, &v)
		return v.Challenge
	case "application/x-www-form-urlencoded":
		v, _ := url.ParseQuery(string(res.Body))
		return v.Get("challenge")
	default:
		return strings.TrimSpace(string(res.Body))
	}
}
