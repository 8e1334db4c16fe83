package ratelimit_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/ratelimit"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		burst   int
		per     time.Duration
		wantErr string // substring; "" means no error
	}{
		{"5/10m", 5, 10 * time.Minute, ""},
		{"20/1h", 20, time.Hour, ""},
		{"3/30s", 3, 30 * time.Second, ""},
		{" 5 / 10m ", 5, 10 * time.Minute, ""},
		{"1/1h30m", 1, 90 * time.Minute, ""},
		{"100/1d", 100, 24 * time.Hour, ""},
		{"100/2d", 100, 48 * time.Hour, ""},
		{"5/m", 5, time.Minute, ""},
		{"5/h", 5, time.Hour, ""},
		{"50/d", 50, 24 * time.Hour, ""},
		{"", 0, 0, ""},
		{"0", 0, 0, ""},
		{"0/10m", 0, 0, ""},
		{"5", 0, 0, "want N/DURATION"},
		{"5/", 0, 0, "positive duration"},
		{"/10m", 0, 0, "not a whole number"},
		{"-1/10m", 0, 0, "not a whole number"},
		{"1.5/10m", 0, 0, "not a whole number"},
		{"five/10m", 0, 0, "not a whole number"},
		{"5/10", 0, 0, "positive duration"},
		{"5/0s", 0, 0, "not positive"},
		{"5/-1m", 0, 0, "not positive"},
		{"5/1x", 0, 0, "positive duration"},
		{"5/0d", 0, 0, "positive duration"},
		{"5/10m/2", 0, 0, "positive duration"},
		{"1000000/1000h", 0, 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			burst, per, err := ratelimit.ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q does not quote the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tt.in, err)
			}
			if burst != tt.burst || per != tt.per {
				t.Errorf("ParseRate(%q) = %d, %v, want %d, %v", tt.in, burst, per, tt.burst, tt.per)
			}
		})
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"5/10m", "20/1h", "3/30s", "", "0", "5/d", "1/1h30m", "100/2d", "x/y", "9999999999/1h", "5/-1s", "1/0.5ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		burst, per, err := ratelimit.ParseRate(s)
		if err != nil {
			if burst != 0 || per != 0 {
				t.Fatalf("ParseRate(%q) = %d, %v with error %v", s, burst, per, err)
			}
			return
		}
		if burst < 0 || (burst == 0) != (per == 0) || per < 0 {
			t.Fatalf("ParseRate(%q) = %d, %v", s, burst, per)
		}
		cfg := ratelimit.Config{Burst: burst, Per: per}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseRate(%q) = %d, %v, which Validate rejects: %v", s, burst, per, err)
		}
		b2, p2, err := ratelimit.ParseRate(ratelimit.FormatRate(burst, per))
		if err != nil || b2 != burst || p2 != per {
			t.Fatalf("round trip of %q via %q = %d, %v, %v", s, ratelimit.FormatRate(burst, per), b2, p2, err)
		}
		l := ratelimit.New(cfg)
		if burst > 0 {
			for range min(burst, 100) {
				if _, err := l.Admit("u", "", t0); err != nil {
					t.Fatalf("rate %q: refused within the burst: %v", s, err)
				}
			}
		}
	})
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  , ,", nil},
		{"discord:1", []string{"discord:1"}},
		{"discord:1,slack:T1/U2", []string{"discord:1", "slack:T1/U2"}},
		{" discord:1 , slack:T1/U2 ,, discord:3\n", []string{"discord:1", "slack:T1/U2", "discord:3"}},
		{"discord:1 discord:2\tdiscord:3", []string{"discord:1", "discord:2", "discord:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ratelimit.ParseList(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("ParseList(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	tests := []struct {
		name     string
		r        ratelimit.Refusal
		message  string
		errorStr string
	}{
		{
			"rate",
			ratelimit.Refusal{Reason: ratelimit.ReasonRate, Limit: 5, Per: 10 * time.Minute, RetryAfter: 3*time.Minute + 11*time.Second + 200*time.Millisecond},
			"You can make 5 images every 10 minutes. Your next one is free in 3m12s.",
			"ratelimit: rate limit reached, retry after 3m12s",
		},
		{
			"rate one per hour",
			ratelimit.Refusal{Reason: ratelimit.ReasonRate, Limit: 1, Per: time.Hour, RetryAfter: 59*time.Minute + 59*time.Second + 1},
			"You can make 1 image every hour. Your next one is free in 1h.",
			"ratelimit: rate limit reached, retry after 1h",
		},
		{
			"rate odd period",
			ratelimit.Refusal{Reason: ratelimit.ReasonRate, Limit: 3, Per: 90 * time.Second, RetryAfter: 30 * time.Second},
			"You can make 3 images every 90 seconds. Your next one is free in 30s.",
			"ratelimit: rate limit reached, retry after 30s",
		},
		{
			"rate sub-second wait",
			ratelimit.Refusal{Reason: ratelimit.ReasonRate, Limit: 20, Per: 2 * time.Hour, RetryAfter: time.Millisecond},
			"You can make 20 images every 2 hours. Your next one is free in 1s.",
			"ratelimit: rate limit reached, retry after 1s",
		},
		{
			"rate whole minutes",
			ratelimit.Refusal{Reason: ratelimit.ReasonRate, Limit: 2, Per: 24 * time.Hour, RetryAfter: 3 * time.Minute},
			"You can make 2 images every day. Your next one is free in 3m.",
			"ratelimit: rate limit reached, retry after 3m",
		},
		{
			"concurrency",
			ratelimit.Refusal{Reason: ratelimit.ReasonConcurrency, Limit: 2},
			"You already have 2 images in progress. Wait for one to finish.",
			"ratelimit: concurrency limit reached",
		},
		{
			"concurrency one",
			ratelimit.Refusal{Reason: ratelimit.ReasonConcurrency, Limit: 1},
			"You already have an image in progress. Wait for it to finish.",
			"ratelimit: concurrency limit reached",
		},
		{
			"daily",
			ratelimit.Refusal{Reason: ratelimit.ReasonDaily, Limit: 50, RetryAfter: 4*time.Hour + 11*time.Minute + 5*time.Second},
			"You've used your 50 images for today. Your quota resets in 4h12m (midnight UTC).",
			"ratelimit: daily limit reached, retry after 4h12m",
		},
		{
			"daily one",
			ratelimit.Refusal{Reason: ratelimit.ReasonDaily, Limit: 1, RetryAfter: 5 * time.Hour},
			"You've used your 1 image for today. Your quota resets in 5h (midnight UTC).",
			"ratelimit: daily limit reached, retry after 5h",
		},
		{
			"channel",
			ratelimit.Refusal{Reason: ratelimit.ReasonChannel},
			"Image generation isn't enabled in this channel.",
			"ratelimit: not enabled in this channel",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Message(); got != tt.message {
				t.Errorf("Message() = %q, want %q", got, tt.message)
			}
			if got := tt.r.Error(); got != tt.errorStr {
				t.Errorf("Error() = %q, want %q", got, tt.errorStr)
			}
		})
	}
}

func TestRefusalFromAdmit(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 5, Per: 10 * time.Minute})
	for range 5 {
		allowed(t, l, "discord:1", t0)
	}
	_, err := l.Admit("discord:1", "", t0.Add(48*time.Second))
	r, ok := errors.AsType[*ratelimit.Refusal](err)
	if !ok {
		t.Fatalf("Admit error = %v, want *Refusal", err)
	}
	if got, want := r.Message(), "You can make 5 images every 10 minutes. Your next one is free in 1m12s."; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

func TestReasonString(t *testing.T) {
	for r, want := range map[ratelimit.Reason]string{
		ratelimit.ReasonRate:        "rate",
		ratelimit.ReasonConcurrency: "concurrency",
		ratelimit.ReasonDaily:       "daily",
		ratelimit.ReasonChannel:     "channel",
		0:                           "unknown",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}
