package ratelimit_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/ratelimit"
)

// t0 is noon UTC; tests place events relative to it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func allowed(t *testing.T, l *ratelimit.Limiter, user string, now time.Time) *ratelimit.Ticket {
	t.Helper()
	tk, err := l.Admit(user, "", now)
	if err != nil {
		t.Fatalf("Admit(%q) at %v: %v, want admitted", user, now.Sub(t0), err)
	}
	return tk
}

func denied(t *testing.T, l *ratelimit.Limiter, user string, now time.Time, reason ratelimit.Reason, retry time.Duration) *ratelimit.Refusal {
	t.Helper()
	tk, err := l.Admit(user, "", now)
	if err == nil {
		tk.Done(false, now)
		t.Fatalf("Admit(%q) at %v admitted, want %v refusal", user, now.Sub(t0), reason)
	}
	r, ok := errors.AsType[*ratelimit.Refusal](err)
	if !ok {
		t.Fatalf("Admit(%q) error %T %v, want *Refusal", user, err, err)
	}
	if r.Reason != reason || r.RetryAfter != retry {
		t.Fatalf("Admit(%q) at %v = %v retry %v, want %v retry %v", user, now.Sub(t0), r.Reason, r.RetryAfter, reason, retry)
	}
	return r
}

func TestBucketRefill(t *testing.T) {
	type step struct {
		at    time.Duration // since t0
		user  string
		n     int           // repetitions
		retry time.Duration // 0: admitted; else refused (rate) with this retry-after
	}
	tests := []struct {
		name  string
		burst int
		per   time.Duration
		steps []step
	}{
		{"5 per 10m", 5, 10 * time.Minute, []step{
			{0, "discord:1", 5, 0},
			{0, "discord:1", 1, 2 * time.Minute},
			{0, "slack:T1/U1", 5, 0}, // users are independent
			{time.Minute + 59*time.Second, "discord:1", 1, time.Second},
			{2 * time.Minute, "discord:1", 1, 0},
			{2 * time.Minute, "discord:1", 1, 2 * time.Minute},
			{3 * time.Minute, "discord:1", 1, time.Minute},
			{7 * time.Minute, "discord:1", 2, 0}, // 5m refilled 2.5 tokens
			{7 * time.Minute, "discord:1", 1, time.Minute},
			{1 * time.Hour, "discord:1", 5, 0}, // refilled to the burst, not beyond
			{1 * time.Hour, "discord:1", 1, 2 * time.Minute},
		}},
		{"3 per 10s is exact to the nanosecond", 3, 10 * time.Second, []step{
			{0, "u", 3, 0},
			{0, "u", 1, 3333333334},
			{3333333333, "u", 1, 1},
			{3333333334, "u", 1, 0},
			{3333333334, "u", 1, 3333333333}, // the 1/3 ns carried over counts
			{6666666667, "u", 1, 0},
			{10*time.Second - 1, "u", 1, 1},
			{10 * time.Second, "u", 1, 0}, // the third refilled token, on the dot
			{10 * time.Second, "u", 1, 3333333334},
		}},
		{"1 per hour", 1, time.Hour, []step{
			{0, "u", 1, 0},
			{30 * time.Minute, "u", 1, 30 * time.Minute},
			{time.Hour, "u", 1, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ratelimit.New(ratelimit.Config{Burst: tt.burst, Per: tt.per})
			for _, s := range tt.steps {
				for range s.n {
					if s.retry == 0 {
						allowed(t, l, s.user, t0.Add(s.at)).Done(true, t0.Add(s.at))
					} else {
						r := denied(t, l, s.user, t0.Add(s.at), ratelimit.ReasonRate, s.retry)
						if r.Limit != tt.burst || r.Per != tt.per {
							t.Errorf("refusal Limit, Per = %d, %v, want %d, %v", r.Limit, r.Per, tt.burst, tt.per)
						}
					}
				}
			}
		})
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	for _, rate := range []string{"5/10m", "3/10s", "7/1h", "1/1s", "100/1d", "13/7m13s"} {
		t.Run(rate, func(t *testing.T) {
			t.Parallel()
			burst, per, err := ratelimit.ParseRate(rate)
			if err != nil {
				t.Fatal(err)
			}
			l := ratelimit.New(ratelimit.Config{Burst: burst, Per: per})
			now := t0
			for i := range 3 * burst {
				for {
					tk, err := l.Admit("u", "", now)
					if err == nil {
						tk.Done(true, now)
						break
					}
					r, _ := errors.AsType[*ratelimit.Refusal](err)
					if r.RetryAfter <= 0 {
						t.Fatalf("request %d: RetryAfter %v", i, r.RetryAfter)
					}
					denied(t, l, "u", now.Add(r.RetryAfter-1), ratelimit.ReasonRate, 1)
					now = now.Add(r.RetryAfter)
				}
			}
			// 3*burst jobs took 2*per of refill after the first burst.
			if got, want := now.Sub(t0), 2*per; got < want-time.Duration(burst) || got > want {
				t.Errorf("3×burst took %v, want %v", got, want)
			}
		})
	}
}

func TestConcurrencyRelease(t *testing.T) {
	tests := []struct {
		name    string
		counted bool // how the job ended
	}{
		{"success", true},
		{"vendor failure after acceptance", true},
		{"failure before acceptance", false},
		{"cancelled before submission", false},
		{"cancelled after submission", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ratelimit.New(ratelimit.Config{UserConcurrency: 2})
			a := allowed(t, l, "u", t0)
			allowed(t, l, "u", t0)
			r := denied(t, l, "u", t0, ratelimit.ReasonConcurrency, 0)
			if r.Limit != 2 {
				t.Errorf("Limit = %d, want 2", r.Limit)
			}
			allowed(t, l, "other", t0) // the cap is per user
			a.Done(tt.counted, t0.Add(time.Second))
			allowed(t, l, "u", t0.Add(time.Second))
			denied(t, l, "u", t0.Add(time.Second), ratelimit.ReasonConcurrency, 0)
		})
	}
}

func TestDoneRefunds(t *testing.T) {
	cfg := ratelimit.Config{Burst: 2, Per: time.Hour, UserConcurrency: 5, DailyQuota: 3}
	t.Run("uncounted gives back token and quota", func(t *testing.T) {
		l := ratelimit.New(cfg)
		a := allowed(t, l, "u", t0)
		allowed(t, l, "u", t0).Done(true, t0)
		a.Done(false, t0.Add(time.Minute))
		if got, want := l.Usage("u", t0.Add(time.Minute)), (ratelimit.Usage{UsedToday: 1, Tokens: 1, NextToken: 29 * time.Minute}); got != want {
			t.Errorf("Usage = %+v, want %+v", got, want)
		}
	})
	t.Run("counted keeps them spent", func(t *testing.T) {
		l := ratelimit.New(cfg)
		allowed(t, l, "u", t0).Done(true, t0)
		allowed(t, l, "u", t0).Done(true, t0)
		denied(t, l, "u", t0, ratelimit.ReasonRate, 30*time.Minute)
		allowed(t, l, "u", t0.Add(30*time.Minute)).Done(true, t0)
		denied(t, l, "u", t0.Add(time.Hour), ratelimit.ReasonDaily, 11*time.Hour)
	})
	t.Run("done is idempotent", func(t *testing.T) {
		l := ratelimit.New(ratelimit.Config{Burst: 2, Per: time.Hour, UserConcurrency: 2, DailyQuota: 2})
		a := allowed(t, l, "u", t0)
		b := allowed(t, l, "u", t0)
		a.Done(false, t0)
		a.Done(false, t0)
		a.Done(true, t0)
		c := allowed(t, l, "u", t0)
		// A second refund would have freed a slot, a token and a unit.
		denied(t, l, "u", t0, ratelimit.ReasonDaily, 12*time.Hour)
		if got, want := l.Usage("u", t0), (ratelimit.Usage{InFlight: 2, UsedToday: 2, NextToken: 30 * time.Minute}); got != want {
			t.Errorf("Usage = %+v, want %+v", got, want)
		}
		b.Done(true, t0)
		c.Done(true, t0)
		if got := l.Usage("u", t0).InFlight; got != 0 {
			t.Errorf("InFlight = %d after all done, want 0", got)
		}
		var nilTicket *ratelimit.Ticket
		nilTicket.Done(true, t0) // no panic
	})
	t.Run("concurrent done releases once", func(t *testing.T) {
		l := ratelimit.New(ratelimit.Config{UserConcurrency: 1})
		a := allowed(t, l, "u", t0)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { a.Done(false, t0) })
		}
		wg.Wait()
		allowed(t, l, "u", t0)
		denied(t, l, "u", t0, ratelimit.ReasonConcurrency, 0)
	})
}

func TestDailyReset(t *testing.T) {
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	t.Run("resets at UTC midnight", func(t *testing.T) {
		l := ratelimit.New(ratelimit.Config{DailyQuota: 2})
		allowed(t, l, "u", midnight.Add(-2*time.Minute)).Done(true, midnight)
		allowed(t, l, "u", midnight.Add(-time.Minute)).Done(true, midnight)
		r := denied(t, l, "u", midnight.Add(-30*time.Second), ratelimit.ReasonDaily, 30*time.Second)
		if got, want := r.Message(), "You've used your 2 images for today. Your quota resets in 30s (midnight UTC)."; got != want {
			t.Errorf("Message() = %q, want %q", got, want)
		}
		denied(t, l, "u", midnight.Add(-1), ratelimit.ReasonDaily, 1)
		allowed(t, l, "u", midnight).Done(true, midnight)
		allowed(t, l, "u", midnight.Add(23*time.Hour)).Done(true, midnight)
		denied(t, l, "u", midnight.Add(23*time.Hour), ratelimit.ReasonDaily, time.Hour)
	})
	t.Run("the UTC day, whatever the time zone of now", func(t *testing.T) {
		l := ratelimit.New(ratelimit.Config{DailyQuota: 1})
		// 08:30 in Tokyo on 2 March is 23:30 UTC on 1 March.
		allowed(t, l, "u", time.Date(2026, 3, 2, 8, 30, 0, 0, tokyo))
		denied(t, l, "u", time.Date(2026, 3, 2, 8, 45, 0, 0, tokyo), ratelimit.ReasonDaily, 15*time.Minute)
		allowed(t, l, "u", time.Date(2026, 3, 2, 9, 0, 0, 0, tokyo))
	})
	t.Run("yesterday's unit is not refunded to today", func(t *testing.T) {
		l := ratelimit.New(ratelimit.Config{DailyQuota: 1})
		late := allowed(t, l, "u", midnight.Add(-time.Minute))
		allowed(t, l, "u", midnight.Add(time.Second))
		late.Done(false, midnight.Add(time.Minute))
		denied(t, l, "u", midnight.Add(time.Minute), ratelimit.ReasonDaily, 24*time.Hour-time.Minute)
	})
}

func TestExemptionsAndChannels(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{
		Burst: 1, Per: time.Hour, UserConcurrency: 1, DailyQuota: 1,
		Admins:          []string{"discord:42"},
		AllowedChannels: []string{"discord:c1", "slack:T1/C9"},
	})
	admit := func(user, channel string) error {
		tk, err := l.Admit(user, channel, t0)
		if err == nil {
			_ = tk // left running on purpose: admins have no concurrency cap
		}
		return err
	}
	for i := range 100 {
		if err := admit("discord:42", "discord:c1"); err != nil {
			t.Fatalf("admin request %d: %v", i, err)
		}
	}
	if got := l.Usage("discord:42", t0); !got.Exempt {
		t.Errorf("Usage(admin) = %+v, want Exempt", got)
	}
	tests := []struct {
		name, user, channel string
		want                ratelimit.Reason // 0: admitted
	}{
		{"admin elsewhere", "discord:42", "discord:c2", ratelimit.ReasonChannel},
		{"user allowed channel", "discord:7", "discord:c1", 0},
		{"user out of limits", "discord:7", "discord:c1", ratelimit.ReasonDaily},
		{"channel is checked first", "discord:7", "discord:c2", ratelimit.ReasonChannel},
		{"slack channel", "slack:T1/U1", "slack:T1/C9", 0},
		{"same id other platform", "slack:T1/U2", "discord:C9", ratelimit.ReasonChannel},
	}
	for _, tt := range tests {
		err := admit(tt.user, tt.channel)
		var got ratelimit.Reason
		if r, ok := errors.AsType[*ratelimit.Refusal](err); ok {
			got = r.Reason
		} else if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: Admit(%q, %q) reason %v, want %v", tt.name, tt.user, tt.channel, got, tt.want)
		}
	}
	// No allowlist: everywhere.
	if _, err := ratelimit.New(ratelimit.Config{}).Admit("u", "anywhere", t0); err != nil {
		t.Errorf("zero Config refused: %v", err)
	}
}

func TestCheckOrder(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour, UserConcurrency: 1, DailyQuota: 1})
	allowed(t, l, "u", t0) // every limit is now hit
	denied(t, l, "u", t0, ratelimit.ReasonDaily, 12*time.Hour)

	l = ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour, UserConcurrency: 1})
	allowed(t, l, "u", t0)
	denied(t, l, "u", t0, ratelimit.ReasonConcurrency, 0)
}

func TestRestore(t *testing.T) {
	cfg := ratelimit.Config{Burst: 5, Per: time.Minute, UserConcurrency: 2, DailyQuota: 10, Admins: []string{"admin"}}
	t.Run("in flight and used today survive", func(t *testing.T) {
		l := ratelimit.New(cfg)
		ts := l.Restore("u", 2, 3, t0)
		if len(ts) != 2 {
			t.Fatalf("Restore returned %d tickets, want 2", len(ts))
		}
		if got, want := l.Usage("u", t0), (ratelimit.Usage{InFlight: 2, UsedToday: 5, Tokens: 5}); got != want {
			t.Errorf("Usage = %+v, want %+v", got, want)
		}
		denied(t, l, "u", t0, ratelimit.ReasonConcurrency, 0)
		ts[0].Done(false, t0) // never reached the vendor: refunded
		ts[1].Done(true, t0)
		ts[1].Done(false, t0) // idempotent
		if got, want := l.Usage("u", t0), (ratelimit.Usage{UsedToday: 4, Tokens: 5}); got != want {
			t.Errorf("Usage = %+v, want %+v", got, want)
		}
		for range 2 {
			allowed(t, l, "u", t0)
		}
	})
	t.Run("quota used up before restart", func(t *testing.T) {
		l := ratelimit.New(cfg)
		if ts := l.Restore("u", 0, 10, t0); len(ts) != 0 {
			t.Errorf("Restore returned %d tickets, want 0", len(ts))
		}
		denied(t, l, "u", t0, ratelimit.ReasonDaily, 12*time.Hour)
		allowed(t, l, "u", t0.Add(12*time.Hour))
	})
	t.Run("admin tickets hold nothing", func(t *testing.T) {
		l := ratelimit.New(cfg)
		ts := l.Restore("admin", 3, 50, t0)
		if len(ts) != 3 {
			t.Fatalf("Restore returned %d tickets, want 3", len(ts))
		}
		for _, tk := range ts {
			tk.Done(false, t0)
		}
		allowed(t, l, "admin", t0)
	})
	t.Run("negative counts", func(t *testing.T) {
		l := ratelimit.New(cfg)
		if ts := l.Restore("u", -1, -1, t0); len(ts) != 0 {
			t.Errorf("Restore returned %d tickets, want 0", len(ts))
		}
		allowed(t, l, "u", t0)
	})
}

func TestConcurrentAdmit(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 5, Per: time.Minute, DailyQuota: 100, UserConcurrency: 100})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := l.Admit("u", "", t0); err == nil {
				ok.Add(1)
			}
			_ = l.Usage("u", t0)
		})
	}
	wg.Wait()
	if got := ok.Load(); got != 5 {
		t.Errorf("%d of 50 concurrent requests admitted at 5/1m, want 5", got)
	}
}

func TestUsage(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 5, Per: 10 * time.Minute, UserConcurrency: 3, DailyQuota: 50})
	if got, want := l.Usage("u", t0), (ratelimit.Usage{Tokens: 5}); got != want {
		t.Errorf("fresh Usage = %+v, want %+v", got, want)
	}
	allowed(t, l, "u", t0)
	allowed(t, l, "u", t0).Done(true, t0)
	if got, want := l.Usage("u", t0.Add(time.Minute)), (ratelimit.Usage{InFlight: 1, UsedToday: 2, Tokens: 3, NextToken: time.Minute}); got != want {
		t.Errorf("Usage = %+v, want %+v", got, want)
	}
	// Usage does not move the bucket's clock.
	if got, want := l.Usage("u", t0.Add(4*time.Minute)).Tokens, 5; got != want {
		t.Errorf("Tokens after 4m = %d, want %d", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ratelimit.Config
		ok   bool
	}{
		{"zero", ratelimit.Config{}, true},
		{"full", ratelimit.Config{Burst: 5, Per: time.Minute, UserConcurrency: 2, DailyQuota: 50}, true},
		{"burst without period", ratelimit.Config{Burst: 5}, false},
		{"negative burst", ratelimit.Config{Burst: -1, Per: time.Minute}, false},
		{"negative period", ratelimit.Config{Burst: 1, Per: -time.Minute}, false},
		{"overflow", ratelimit.Config{Burst: 1 << 20, Per: 1 << 50}, false},
		{"negative concurrency", ratelimit.Config{UserConcurrency: -1}, false},
		{"negative quota", ratelimit.Config{DailyQuota: -1}, false},
		{"period without burst", ratelimit.Config{Per: time.Minute}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			defer func() {
				if r := recover(); (r == nil) != tt.ok {
					t.Errorf("New panic = %v, want panic=%v", r, !tt.ok)
				}
			}()
			ratelimit.New(tt.cfg)
		})
	}
	err := ratelimit.Config{Burst: -1, DailyQuota: -1}.Validate()
	if got, want := err.Error(), "ratelimit: burst -1 is negative\nratelimit: daily quota -1 is negative"; got != want {
		t.Errorf("Validate() = %q, want both problems %q", got, want)
	}
}
