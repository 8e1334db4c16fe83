package imaging

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind classifies a failure. A Kind is itself an error, so callers test with
// errors.Is(err, imaging.KindSafety).
type Kind int

// Failure kinds. Every vendor error maps onto one of these.
const (
	// KindUnknown is anything not classified below.
	KindUnknown Kind = iota
	// KindInvalid is a request the vendor would reject (bad option, prompt
	// too long); the message names the problem and the allowed values.
	KindInvalid
	// KindUnsupported is a valid request this deployment cannot serve with
	// the chosen vendor (for example image bytes for a URL-only vendor).
	KindUnsupported
	// KindSafety is a prompt or image refused by the vendor's safety filter.
	KindSafety
	// KindImageUnreachable is a reference image the vendor could not fetch
	// or read.
	KindImageUnreachable
	// KindCredits is an account without balance.
	KindCredits
	// KindUnauthorized is a missing, wrong or forbidden API key.
	KindUnauthorized
	// KindRateLimited is the vendor asking us to slow down.
	KindRateLimited
	// KindUnavailable is a vendor outage or server error.
	KindUnavailable
	// KindTimeout is a job that did not finish in time.
	KindTimeout
	// KindNotFound is a task the vendor does not know.
	KindNotFound
)

var kindNames = [...]string{"unknown", "invalid", "unsupported", "safety", "image_unreachable",
	"credits", "unauthorized", "rate_limited", "unavailable", "timeout", "not_found"}

// String returns a stable snake_case name, suitable as a metric label.
func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

func (k Kind) Error() string { return "imaging: " + strings.ReplaceAll(k.String(), "_", " ") }

// Error is a classified failure from the core or a vendor.
type Error struct {
	Kind Kind
	// Vendor is the display name of the vendor involved, if any.
	Vendor string
	// HTTPStatus and Code are the vendor's status and error code, if any.
	HTTPStatus int
	Code       string
	// Message is detail: for KindInvalid and KindUnsupported it is written
	// for the user; otherwise it is the vendor's text, for logs.
	Message string
	// RetryAfter is how long the vendor asked us to wait, if it said.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Vendor != "" {
		b.WriteString(strings.ToLower(e.Vendor))
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, KindX) true for an *Error of that kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// Errorf returns an *Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// KindTimeout for a deadline, and KindUnknown otherwise.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	if k, ok := errors.AsType[Kind](err); ok {
		return k
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindUnknown
}

// RetryAfterOf returns the wait a vendor asked for somewhere in err's chain.
func RetryAfterOf(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// UserMessage turns any error from the core into one sentence or two for the
// person who asked: what went wrong and what to do. It never includes
// secrets, URLs, stack traces or raw vendor bodies.
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return "The request was cancelled before it finished. Please try again."
	}
	e, _ := errors.AsType[*Error](err)
	who := "The image service"
	if e != nil && e.Vendor != "" {
		who = e.Vendor
	}
	switch KindOf(err) {
	case KindInvalid, KindUnsupported:
		if e != nil && e.Message != "" {
			return e.Message
		}
		return "That request isn't valid. Check the options and try again."
	case KindSafety:
		return "The image service's safety filter refused this prompt or image. Try rewording the prompt or using a different image."
	case KindImageUnreachable:
		return "The reference image couldn't be read. Use a PNG, JPEG or WebP image that is publicly reachable, and try again."
	case KindCredits:
		return who + " is out of credits, so no images can be made right now. Please tell the bot's operator."
	case KindUnauthorized:
		return who + " refused the bot's API key. Please tell the bot's operator to check it."
	case KindRateLimited:
		if d := RetryAfterOf(err); d > 0 {
			return fmt.Sprintf("%s is busy right now. Please try again in %s.", who, HumanDuration(d))
		}
		return who + " is busy right now. Please try again in a minute."
	case KindUnavailable:
		return who + " is having trouble right now. Please try again in a few minutes."
	case KindTimeout:
		return "The image took too long to generate and the request was stopped. Please try again."
	case KindNotFound:
		return who + " lost track of this job. Please try again."
	}
	return "Something went wrong while making the image. Please try again."
}

// HumanDuration renders d for a person: "45s", "3m12s", "2h5m".
func HumanDuration(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0 && s > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", s)
}

// ParseRetryAfter reads a Retry-After header: delta seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 86400 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
