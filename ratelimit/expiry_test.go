package ratelimit

import (
	"testing"
	"time"
)

// These tests look inside the go-cache: an idle user must cost nothing, and
// an entry must live exactly as long as it differs from a fresh one.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func expiresIn(t *testing.T, l *Limiter, user string) time.Duration {
	t.Helper()
	it, ok := l.states.Items()[user]
	if !ok {
		t.Fatalf("no cache entry for %q", user)
	}
	return time.Until(time.Unix(0, it.Expiration))
}

func near(got, want time.Duration) bool { return got > want-time.Minute && got <= want }

func TestStateExpiry(t *testing.T) {
	t.Run("bucket lives until full", func(t *testing.T) {
		l := New(Config{Burst: 5, Per: 10 * time.Minute})
		a, _ := l.Admit("u", "", t0)
		b, _ := l.Admit("u", "", t0)
		if got := expiresIn(t, l, "u"); !near(got, 4*time.Minute) {
			t.Errorf("entry expires in %v, want 4m (two tokens to refill)", got)
		}
		a.Done(false, t0)
		if got := expiresIn(t, l, "u"); !near(got, 2*time.Minute) {
			t.Errorf("entry expires in %v after a refund, want 2m", got)
		}
		b.Done(false, t0)
		if n := l.states.ItemCount(); n != 0 {
			t.Errorf("%d entries after every token came back, want 0", n)
		}
	})
	t.Run("daily count lives until midnight", func(t *testing.T) {
		l := New(Config{Burst: 5, Per: 10 * time.Minute, DailyQuota: 3})
		tk, _ := l.Admit("u", "", t0)
		tk.Done(true, t0)
		if got := expiresIn(t, l, "u"); !near(got, 12*time.Hour) {
			t.Errorf("entry expires in %v, want 12h (next UTC midnight)", got)
		}
	})
	t.Run("refusals and usage store nothing", func(t *testing.T) {
		l := New(Config{Burst: 1, Per: time.Minute, DailyQuota: 3, AllowedChannels: []string{"c"}})
		_, _ = l.Admit("u", "elsewhere", t0)
		_ = l.Usage("v", t0)
		if n := l.states.ItemCount(); n != 0 {
			t.Errorf("%d entries, want 0", n)
		}
	})
	t.Run("in flight does not expire", func(t *testing.T) {
		l := New(Config{UserConcurrency: 1})
		tk, _ := l.Admit("u", "", t0)
		if l.states != nil || l.inFlight["u"] != 1 {
			t.Fatalf("states %v, inFlight %v", l.states, l.inFlight)
		}
		tk.Done(true, t0)
		if len(l.inFlight) != 0 {
			t.Errorf("inFlight = %v after Done, want empty", l.inFlight)
		}
	})
}
