package ratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/ratelimit"
)

// benchConfig has every limit on, loose enough that the benchmarks' users
// stay admitted.
var benchConfig = ratelimit.Config{
	Burst: 1_000_000, Per: time.Minute,
	UserConcurrency: 1 << 20, DailyQuota: 1 << 30,
	Admins:          []string{"discord:1"},
	AllowedChannels: []string{"discord:c1", "slack:T1/C1"},
}

func users(n int) []string {
	us := make([]string, n)
	for i := range us {
		us[i] = fmt.Sprintf("discord:%d", 100_000_000_000_000_000+i)
	}
	return us
}

// BenchmarkAdmit measures one admission decision.
func BenchmarkAdmit(b *testing.B) {
	us := users(1024)
	b.Run("admitted+done", func(b *testing.B) {
		l := ratelimit.New(benchConfig)
		i := 0
		for b.Loop() {
			tk, err := l.Admit(us[i&1023], "discord:c1", t0)
			if err != nil {
				b.Fatal(err)
			}
			tk.Done(true, t0)
			i++
		}
	})
	b.Run("refused", func(b *testing.B) {
		l := ratelimit.New(ratelimit.Config{Burst: 1, Per: time.Hour})
		l.Admit("u", "", t0)
		for b.Loop() {
			if _, err := l.Admit("u", "", t0); err == nil {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := ratelimit.New(benchConfig)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 64
			for pb.Next() {
				tk, err := l.Admit(us[i&1023], "discord:c1", t0)
				if err != nil {
					b.Error(err)
					return
				}
				tk.Done(true, t0)
				i++
			}
		})
	})
}

// BenchmarkMemoryPerUser measures the heap a Limiter keeps per tracked user
// at 100,000 users: "idle" users have finished their jobs (a partly spent
// bucket and today's count), "in_flight" users each hold a ticket too.
func BenchmarkMemoryPerUser(b *testing.B) {
	const n = 100_000
	us := users(n)
	for _, inFlight := range []bool{false, true} {
		name := "idle"
		if inFlight {
			name = "in_flight"
		}
		b.Run(name, func(b *testing.B) {
			var perUser float64
			for b.Loop() {
				var before, after runtime.MemStats
				settle(&before)
				l := ratelimit.New(ratelimit.Config{Burst: 5, Per: 10 * time.Minute, UserConcurrency: 2, DailyQuota: 50})
				tickets := make([]*ratelimit.Ticket, 0, n)
				for _, u := range us {
					tk, err := l.Admit(u, "", t0)
					if err != nil {
						b.Fatal(err)
					}
					if inFlight {
						tickets = append(tickets, tk)
					} else {
						tk.Done(true, t0)
					}
				}
				settle(&after)
				perUser = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				runtime.KeepAlive(l)
				runtime.KeepAlive(tickets)
			}
			b.ReportMetric(perUser, "bytes/user")
		})
	}
}

// settle collects garbage until the heap stops shrinking, then reads it. A
// Limiter dropped by the previous iteration takes several cycles to go: its
// go-cache janitor goroutine keeps the cache alive until a finalizer stops
// it, and only a later GC frees the entries.
func settle(m *runtime.MemStats) {
	runtime.GC()
	runtime.ReadMemStats(m)
	for range 10 {
		prev := m.HeapAlloc
		runtime.Gosched() // let the finalizer and the janitor run
		runtime.GC()
		runtime.ReadMemStats(m)
		if m.HeapAlloc >= prev {
			return
		}
	}
}

// BenchmarkQueue measures one grant: a release handing the slot to the next
// user in the rotation, including repositioning and waking every waiter.
func BenchmarkQueue(b *testing.B) {
	b.Run("free_slot", func(b *testing.B) {
		q := ratelimit.NewQueue(4)
		ctx := b.Context()
		for b.Loop() {
			release, err := q.Acquire(ctx, "u", nil)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
	for _, tc := range []struct {
		waiters, users int
		watch          bool
	}{{1000, 100, true}, {1000, 100, false}, {1000, 1000, true}, {100, 10, true}} {
		name := fmt.Sprintf("waiters=%d/users=%d/positions=%v", tc.waiters, tc.users, tc.watch)
		b.Run(name, func(b *testing.B) {
			q := ratelimit.NewQueue(1)
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			hold, _ := q.Acquire(ctx, "holder", nil)
			var pos func(int)
			if tc.watch {
				pos = func(int) {}
			}
			var grants atomic.Int64
			target := int64(b.N)
			var wg sync.WaitGroup
			for i := range tc.waiters {
				user := fmt.Sprintf("u%d", i%tc.users)
				wg.Go(func() {
					for {
						release, err := q.Acquire(ctx, user, pos)
						if err != nil {
							return
						}
						if grants.Add(1) >= target {
							cancel()
						}
						release()
					}
				})
			}
			for q.Len() < tc.waiters {
				runtime.Gosched()
			}
			b.ResetTimer()
			hold()
			wg.Wait()
			b.StopTimer()
		})
	}
}
