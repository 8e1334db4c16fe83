package ratelimit

import (
	"strconv"
	"time"
)

// Reason names the limit that refused a job. Its String form is stable and
// meant for metrics labels.
type Reason int

// The reasons, in the order [Limiter.Admit] checks them.
const (
	ReasonChannel     Reason = iota + 1 // "channel": the bot is not enabled in the channel
	ReasonDaily                         // "daily": the user's quota for the UTC day is used up
	ReasonConcurrency                   // "concurrency": the user has too many jobs in flight
	ReasonRate                          // "rate": the user's token bucket is empty
)

// String returns "channel", "daily", "concurrency", "rate", or "unknown".
func (r Reason) String() string {
	switch r {
	case ReasonChannel:
		return "channel"
	case ReasonDaily:
		return "daily"
	case ReasonConcurrency:
		return "concurrency"
	case ReasonRate:
		return "rate"
	}
	return "unknown"
}

// Refusal is the error [Limiter.Admit] returns when a limit is hit. Find it
// with errors.AsType[*ratelimit.Refusal](err); Message is the text for the
// user, Reason the label for metrics.
type Refusal struct {
	Reason Reason
	// RetryAfter is how long until the limit allows a job again: exact for
	// ReasonRate, the time to the next UTC midnight for ReasonDaily, and 0
	// (unknown: it depends on a running job) for ReasonConcurrency and
	// ReasonChannel.
	RetryAfter time.Duration
	// Limit is the number the user ran into: Burst for ReasonRate,
	// UserConcurrency for ReasonConcurrency, DailyQuota for ReasonDaily.
	Limit int
	// Per is the rate period for ReasonRate.
	Per time.Duration
}

// Error describes the refusal for logs, e.g.
// "ratelimit: rate limit reached, retry after 3m12s".
func (r *Refusal) Error() string {
	if r.Reason == ReasonChannel {
		return "ratelimit: not enabled in this channel"
	}
	s := "ratelimit: " + r.Reason.String() + " limit reached"
	if r.RetryAfter > 0 {
		s += ", retry after " + wait(r.RetryAfter)
	}
	return s
}

// Message is the refusal as one or two sentences a person reads at a
// glance, for example:
//
//	You can make 5 images every 10 minutes. Your next one is free in 3m12s.
//	You already have 2 images in progress. Wait for one to finish.
//	You've used your 50 images for today. Your quota resets in 4h12m (midnight UTC).
//	Image generation isn't enabled in this channel.
func (r *Refusal) Message() string {
	switch r.Reason {
	case ReasonChannel:
		return "Image generation isn't enabled in this channel."
	case ReasonDaily:
		return "You've used your " + images(r.Limit) + " for today. Your quota resets in " + wait(r.RetryAfter) + " (midnight UTC)."
	case ReasonConcurrency:
		if r.Limit == 1 {
			return "You already have an image in progress. Wait for it to finish."
		}
		return "You already have " + images(r.Limit) + " in progress. Wait for one to finish."
	case ReasonRate:
		return "You can make " + images(r.Limit) + " every " + period(r.Per) + ". Your next one is free in " + wait(r.RetryAfter) + "."
	}
	return "You can't make an image right now. Try again later."
}

func images(n int) string {
	if n == 1 {
		return "1 image"
	}
	return strconv.Itoa(n) + " images"
}

// period words a rate period: "10 minutes", "hour", "90 seconds", "1.5s".
func period(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d > 0 && d%u.d == 0 {
			if n := int64(d / u.d); n != 1 {
				return strconv.FormatInt(n, 10) + " " + u.name + "s"
			}
			return u.name
		}
	}
	return d.String()
}

// wait words a delay compactly, rounded up so that trying again after it
// succeeds: "45s", "3m12s", "3m", "4h12m", "4h". Under a second is "1s";
// zero or less is "a moment".
func wait(d time.Duration) string {
	if d <= 0 {
		return "a moment"
	}
	d = ceil(d, time.Second)
	if d >= time.Hour {
		d = ceil(d, time.Minute)
		h, m := d/time.Hour, d%time.Hour/time.Minute
		s := strconv.FormatInt(int64(h), 10) + "h"
		if m > 0 {
			s += strconv.FormatInt(int64(m), 10) + "m"
		}
		return s
	}
	m, s := d/time.Minute, d%time.Minute/time.Second
	var out string
	if m > 0 {
		out = strconv.FormatInt(int64(m), 10) + "m"
	}
	if s > 0 || m == 0 {
		out += strconv.FormatInt(int64(s), 10) + "s"
	}
	return out
}

func ceil(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		return d - r + unit
	}
	return d
}
