package imaging_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
)

func TestKindString(t *testing.T) {
	t.Parallel()
	// The names are metric labels: changing one breaks dashboards.
	tests := []struct {
		kind imaging.Kind
		want string
	}{
		{imaging.KindUnknown, "unknown"},
		{imaging.KindInvalid, "invalid"},
		{imaging.KindUnsupported, "unsupported"},
		{imaging.KindSafety, "safety"},
		{imaging.KindImageUnreachable, "image_unreachable"},
		{imaging.KindCredits, "credits"},
		{imaging.KindUnauthorized, "unauthorized"},
		{imaging.KindRateLimited, "rate_limited"},
		{imaging.KindUnavailable, "unavailable"},
		{imaging.KindTimeout, "timeout"},
		{imaging.KindNotFound, "not_found"},
		{imaging.Kind(11), "kind(11)"},
		{imaging.Kind(-1), "kind(-1)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
	if got, want := imaging.KindImageUnreachable.Error(), "imaging: image unreachable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *imaging.Error
		want string
	}{
		{"kind only", &imaging.Error{Kind: imaging.KindSafety}, "safety"},
		{"everything", &imaging.Error{Kind: imaging.KindRateLimited, Vendor: "PoYo", HTTPStatus: 429, Code: "rate_limit_error",
			Message: "slow down", Err: io.ErrUnexpectedEOF}, "poyo: rate_limited (HTTP 429) [rate_limit_error]: slow down: unexpected EOF"},
		{"Errorf", imaging.Errorf(imaging.KindInvalid, "bad ratio %s", "5:4"), "invalid: bad ratio 5:4"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	safety := &imaging.Error{Kind: imaging.KindSafety, Vendor: "PoYo"}
	tests := []struct {
		name string
		err  error
		want imaging.Kind
	}{
		{"nil", nil, imaging.KindUnknown},
		{"plain error", errors.New("boom"), imaging.KindUnknown},
		{"*Error", safety, imaging.KindSafety},
		{"wrapped *Error", fmt.Errorf("poyo: status t1: %w", safety), imaging.KindSafety},
		{"wrapped twice", fmt.Errorf("job: %w", fmt.Errorf("poyo: %w", &imaging.Error{Kind: imaging.KindCredits})), imaging.KindCredits},
		{"bare Kind", imaging.KindNotFound, imaging.KindNotFound},
		{"wrapped Kind", fmt.Errorf("lookup: %w", imaging.KindUnauthorized), imaging.KindUnauthorized},
		{"deadline", context.DeadlineExceeded, imaging.KindTimeout},
		{"wrapped deadline", fmt.Errorf("poll: %w", context.DeadlineExceeded), imaging.KindTimeout},
		{"cancelled is not a timeout", context.Canceled, imaging.KindUnknown},
		{"first *Error wins over a deadline inside", &imaging.Error{Kind: imaging.KindUnavailable, Err: context.DeadlineExceeded}, imaging.KindUnavailable},
		{"joined", errors.Join(errors.New("a"), &imaging.Error{Kind: imaging.KindRateLimited}), imaging.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := imaging.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if tt.err == nil {
				return
			}
			if got := errors.Is(tt.err, tt.want); got != (tt.want != imaging.KindUnknown && tt.want != imaging.KindTimeout) {
				// A deadline is KindTimeout by KindOf only.
				t.Errorf("errors.Is(%v, %v) = %v", tt.err, tt.want, got)
			}
			for k := imaging.KindUnknown; k <= imaging.KindNotFound; k++ {
				if k != tt.want && errors.Is(tt.err, k) {
					t.Errorf("errors.Is(%v, %v) = true, want false", tt.err, k)
				}
			}
		})
	}
}

func TestErrorIsAndUnwrap(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("download: %w", &imaging.Error{Kind: imaging.KindUnavailable, Err: io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = false, want true through Unwrap", err)
	}
	if !errors.Is(err, imaging.KindUnavailable) || errors.Is(err, imaging.KindTimeout) {
		t.Errorf("errors.Is(%v, unavailable/timeout) = %v/%v, want true/false", err,
			errors.Is(err, imaging.KindUnavailable), errors.Is(err, imaging.KindTimeout))
	}
	if errors.Is(err, errors.New("imaging: unavailable")) {
		t.Errorf("errors.Is matched an unrelated error with the same text")
	}
}

func TestRetryAfterOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"plain", errors.New("x"), 0},
		{"set", &imaging.Error{Kind: imaging.KindRateLimited, RetryAfter: 30 * time.Second}, 30 * time.Second},
		{"wrapped", fmt.Errorf("submit: %w", &imaging.Error{Kind: imaging.KindRateLimited, RetryAfter: 2 * time.Minute}), 2 * time.Minute},
		{"unset", &imaging.Error{Kind: imaging.KindRateLimited}, 0},
	}
	for _, tt := range tests {
		if got := imaging.RetryAfterOf(tt.err); got != tt.want {
			t.Errorf("%s: RetryAfterOf() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUserMessage(t *testing.T) {
	t.Parallel()
	// Every kind, with vendor detail that must not reach the user.
	leaky := func(k imaging.Kind) error {
		return fmt.Errorf("poyo: status https://api.poyo.ai/v1/t1?key=abc: %w", &imaging.Error{Kind: k, Vendor: "PoYo", HTTPStatus: 500,
			Code: "E_INTERNAL", Message: "see https://secret.example/debug for the stack", Err: errors.New("POST https://api.poyo.ai key=abc")})
	}
	tests := []struct {
		name string
		err  error
		want string // the whole message
	}{
		{"nil", nil, ""},
		{"unknown", leaky(imaging.KindUnknown), "Something went wrong while making the image. Please try again."},
		{"plain error", errors.New("dial tcp https://api.poyo.ai?key=abc: refused"), "Something went wrong while making the image. Please try again."},
		{"safety", leaky(imaging.KindSafety), "The image service's safety filter refused this prompt or image. Try rewording the prompt or using a different image."},
		{"image unreachable", leaky(imaging.KindImageUnreachable), "The reference image couldn't be read. Use a PNG, JPEG or WebP image that is publicly reachable, and try again."},
		{"credits", leaky(imaging.KindCredits), "PoYo is out of credits, so no images can be made right now. Please tell the bot's operator."},
		{"unauthorized", leaky(imaging.KindUnauthorized), "PoYo refused the bot's API key. Please tell the bot's operator to check it."},
		{"rate limited", leaky(imaging.KindRateLimited), "PoYo is busy right now. Please try again in a minute."},
		{"unavailable", leaky(imaging.KindUnavailable), "PoYo is having trouble right now. Please try again in a few minutes."},
		{"timeout", leaky(imaging.KindTimeout), "The image took too long to generate and the request was stopped. Please try again."},
		{"not found", leaky(imaging.KindNotFound), "PoYo lost track of this job. Please try again."},
		{"out of range kind", leaky(imaging.Kind(42)), "Something went wrong while making the image. Please try again."},

		{"no vendor named", &imaging.Error{Kind: imaging.KindUnavailable}, "The image service is having trouble right now. Please try again in a few minutes."},
		{"bare kind", fmt.Errorf("x: %w", imaging.KindCredits), "The image service is out of credits, so no images can be made right now. Please tell the bot's operator."},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), "The image took too long to generate and the request was stopped. Please try again."},
		{"cancelled", fmt.Errorf("wait: %w", context.Canceled), "The request was cancelled before it finished. Please try again."},
		{"cancelled inside an *Error", &imaging.Error{Kind: imaging.KindUnavailable, Err: context.Canceled}, "The request was cancelled before it finished. Please try again."},

		{"invalid is written for the user", fmt.Errorf("prepare: %w", &imaging.Error{Kind: imaging.KindInvalid, Vendor: "APIXO",
			Message: "APIXO doesn't support the aspect ratio 5:4; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."}),
			"APIXO doesn't support the aspect ratio 5:4; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."},
		{"unsupported is written for the user", &imaging.Error{Kind: imaging.KindUnsupported, Message: "Ask the operator to set PUBLIC_URL."},
			"Ask the operator to set PUBLIC_URL."},
		{"invalid without a message", &imaging.Error{Kind: imaging.KindInvalid}, "That request isn't valid. Check the options and try again."},

		{"retry after 30s", &imaging.Error{Kind: imaging.KindRateLimited, Vendor: "PoYo", RetryAfter: 30 * time.Second},
			"PoYo is busy right now. Please try again in 30s."},
		{"retry after 90s, wrapped", fmt.Errorf("submit: %w", &imaging.Error{Kind: imaging.KindRateLimited, Vendor: "ToAPIs", RetryAfter: 90 * time.Second}),
			"ToAPIs is busy right now. Please try again in 1m30s."},
		{"retry after under a second", &imaging.Error{Kind: imaging.KindRateLimited, RetryAfter: 200 * time.Millisecond},
			"The image service is busy right now. Please try again in 1s."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := imaging.UserMessage(tt.err)
			if got != tt.want {
				t.Errorf("UserMessage() = %q\nwant %q", got, tt.want)
			}
			for _, secret := range []string{"http", "secret", "key=abc", "E_INTERNAL", "500", "stack", "\n"} {
				if strings.Contains(got, secret) {
					t.Errorf("UserMessage() = %q leaks %q", got, secret)
				}
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "1s"},
		{0, "1s"},
		{200 * time.Millisecond, "1s"},
		{time.Second, "1s"},
		{1499 * time.Millisecond, "1s"},
		{1500 * time.Millisecond, "2s"},
		{45 * time.Second, "45s"},
		{59600 * time.Millisecond, "1m"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{3*time.Minute + 12*time.Second, "3m12s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Second, "1h"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h5m"},
		{25 * time.Hour, "25h"},
	}
	for _, tt := range tests {
		if got := imaging.HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
