// Package ratelimit decides whether a chat user may start an image job and
// shares each vendor's capacity fairly between the users who wait for it.
//
// Two types do the work:
//
//   - [Limiter] admits or refuses one job per call. It applies, in order, the
//     channel allowlist, the per-user daily quota, the per-user cap on jobs
//     in flight and a per-user token bucket. A refusal is a [*Refusal] that
//     says which limit was hit and when to try again, in a sentence for the
//     user. Admins are exempt from the user limits, not from the channel
//     allowlist.
//   - [Queue] caps a vendor's jobs in flight. Requests beyond the cap wait
//     and are served round-robin by user, so one user's burst cannot starve
//     the others; each waiter is told its place in line as it changes.
//
// Users and channels are opaque, platform-qualified strings ("discord:123",
// "slack:T1/U123"); the package imports no chat SDK and no project package.
//
// Time is always passed in (the now argument), as in golang.org/x/time/rate,
// so tests script timelines without a fake clock or sleeps. Days are UTC
// days.
//
// State and restarts: token buckets and daily counts live in memory (a
// github.com/patrickmn/go-cache whose entries expire once they hold nothing a
// fresh entry would not), so an idle user costs nothing. A restart refills
// every bucket, which is harmless. Jobs in flight and today's usage must
// survive a restart: the job store derives them from its durable records and
// hands them to [Limiter.Restore] at start-up.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxScaled bounds Burst*Per (in nanoseconds): the bucket keeps its state in
// integer units of token·nanosecond/Per, which must not overflow int64.
const maxScaled = math.MaxInt64 / 4

// Config sets a [Limiter]'s limits. The zero value limits nothing: no rate
// limit, no concurrency cap, no daily quota, no admins, every channel
// allowed.
type Config struct {
	// Burst and Per set the token bucket: up to Burst jobs at once, with
	// tokens refilled at Burst per Per (a full refill takes Per). Burst 0
	// means no rate limit; Per must then be 0 too or is ignored.
	Burst int
	Per   time.Duration
	// UserConcurrency caps a user's jobs in flight; 0 means no cap.
	UserConcurrency int
	// DailyQuota caps a user's counted jobs per UTC day; 0 means no quota.
	DailyQuota int
	// Admins are platform-qualified user ids exempt from the rate limit,
	// the concurrency cap and the quota. They are still subject to
	// AllowedChannels: that setting says where the bot works at all, and
	// an admin who wants it elsewhere changes the setting.
	Admins []string
	// AllowedChannels are the platform-qualified channel ids where jobs may
	// start; empty means everywhere.
	AllowedChannels []string
}

// Validate reports every problem with c at once (joined with errors.Join),
// or nil. [New] panics on a Config that Validate rejects.
func (c Config) Validate() error {
	var errs []error
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: burst %d is negative", c.Burst))
	}
	if c.Burst > 0 {
		if c.Per <= 0 {
			errs = append(errs, fmt.Errorf("ratelimit: burst %d needs a positive period, got %v", c.Burst, c.Per))
		} else if int64(c.Per) > maxScaled/int64(c.Burst) {
			errs = append(errs, fmt.Errorf("ratelimit: rate %d/%v is too large", c.Burst, c.Per))
		}
	}
	if c.UserConcurrency < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: user concurrency %d is negative", c.UserConcurrency))
	}
	if c.DailyQuota < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: daily quota %d is negative", c.DailyQuota))
	} else if c.DailyQuota > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("ratelimit: daily quota %d is too large", c.DailyQuota))
	}
	return errors.Join(errs...)
}

// ParseRate parses a RATE_LIMIT value of the form N/DURATION: bursts of up to
// N jobs, refilled over DURATION ("5/10m", "20/1h", "3/30s"). DURATION is a
// Go duration ("1h30m"), a whole number of days ("1d"), or a bare unit
// meaning one of it ("5/m", "100/d"). An empty string, "0" or a zero N means
// unlimited and returns 0, 0. The result is valid for [Config].
func ParseRate(s string) (burst int, per time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("ratelimit: rate %q: want N/DURATION, such as 5/10m", s)
	}
	burst, err = strconv.Atoi(strings.TrimSpace(n))
	if err != nil || burst < 0 {
		return 0, 0, fmt.Errorf("ratelimit: rate %q: %q is not a whole number of images", s, n)
	}
	per, err = parsePeriod(strings.TrimSpace(d))
	if err != nil {
		return 0, 0, fmt.Errorf("ratelimit: rate %q: %w", s, err)
	}
	if burst == 0 {
		return 0, 0, nil
	}
	if int64(per) > maxScaled/int64(burst) {
		return 0, 0, fmt.Errorf("ratelimit: rate %q is too large", s)
	}
	return burst, per, nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch s {
	case "s", "m", "h":
		s = "1" + s
	case "d":
		s = "1d"
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("period %q: want a positive duration such as 10m, 1h or 1d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("period %q: want a positive duration such as 10m, 1h or 1d", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q is not positive", s)
	}
	return d, nil
}

// FormatRate is the inverse of [ParseRate]: "5/10m0s", or "0" for no limit.
func FormatRate(burst int, per time.Duration) string {
	if burst <= 0 {
		return "0"
	}
	return strconv.Itoa(burst) + "/" + per.String()
}

// ParseList splits an ADMIN_USERS or ALLOWED_CHANNELS value on commas and
// white space, dropping empty items. It returns nil for a blank string.
func ParseList(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	})
	if len(f) == 0 {
		return nil
	}
	return f
}
