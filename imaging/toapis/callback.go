package toapis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
)

// Callback errors. Callers answer ErrTestEvent with a 2xx and otherwise
// ignore it; the others mean the request did not come from ToAPIs (or came
// too late) and should be refused.
var (
	// ErrTestEvent is returned for ToAPIs' endpoint.test event, sent from
	// the console to check the endpoint; it names no task.
	ErrTestEvent = fmt.Errorf("toapis: webhook endpoint test event: %w", imaging.ErrNoTask)
	// ErrBadSignature is a callback with missing or invalid signature
	// headers.
	ErrBadSignature = errors.New("toapis: bad webhook signature")
	// ErrStaleCallback is a callback whose timestamp is more than
	// CallbackTolerance away from the local clock.
	ErrStaleCallback = errors.New("toapis: webhook timestamp outside tolerance")
	// ErrCallbacksDisabled is a callback received by a client built
	// without WithWebhookSecret.
	ErrCallbacksDisabled = errors.New("toapis: webhooks are not enabled (no webhook secret)")
)

// CallbackTolerance is how far a callback's signed timestamp may be from the
// local clock, as ToAPIs' docs advise.
const CallbackTolerance = 5 * time.Minute

// Webhook headers, as documented.
const (
	headerID        = "X-ToAPIs-Webhook-Id"
	headerTimestamp = "X-ToAPIs-Webhook-Timestamp"
	headerSignature = "X-ToAPIs-Webhook-Signature"
)

// callbackEvent is the part of a Task Webhooks event we need:
//
//	{"id":"evt_..","type":"generation.completed","api_version":"v1",
//	 "created_at":..., "data":{"task_id":"..","status":"SUCCESS",...}}
type callbackEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data *struct {
		TaskID string `json:"task_id"`
	} `json:"data"`
}

// CallbackTaskID verifies a Task Webhooks request and returns the task id it
// reports (data.task_id). The signature header holds one or more
// comma-separated "v1=<hex>" values (two during a secret rotation); each is
// hex HMAC-SHA256(secret, event id + "." + timestamp + "." + raw body), and
// one match is enough. Timestamps more than CallbackTolerance from now are
// refused with ErrStaleCallback. The endpoint.test event returns
// ErrTestEvent. The event is only a hint: confirm the task with Status.
//
// See https://toapis.com/docs/en/api-reference/webhooks/task-webhooks.
func (c *Client) CallbackTaskID(h http.Header, body []byte, now time.Time) (string, error) {
	if c.webhookSecret == "" {
		return "", ErrCallbacksDisabled
	}
	id, ts, sig := h.Get(headerID), h.Get(headerTimestamp), h.Get(headerSignature)
	if id == "" || ts == "" || sig == "" {
		return "", fmt.Errorf("%w: missing webhook headers", ErrBadSignature)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: malformed timestamp", ErrBadSignature)
	}
	if !verifySignature(c.webhookSecret, id, ts, body, sig) {
		return "", ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > CallbackTolerance || d < -CallbackTolerance {
		return "", ErrStaleCallback
	}
	taskID, err := parseCallback(body)
	if err != nil {
		return "", err
	}
	return taskID, nil
}

// parseCallback returns data.task_id of a generation event.
func parseCallback(body []byte) (string, error) {
	var ev callbackEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", fmt.Errorf("toapis: callback: malformed body: %w", err)
	}
	if ev.Type == "endpoint.test" {
		return "", ErrTestEvent
	}
	if ev.Data == nil || ev.Data.TaskID == "" {
		return "", fmt.Errorf("toapis: callback: %q event has no task id", ev.Type)
	}
	return ev.Data.TaskID, nil
}

// verifySignature reports whether any v1 value in header signs the event.
func verifySignature(secret, id, ts string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for part := range strings.SplitSeq(header, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(strings.TrimSpace(v))
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}
