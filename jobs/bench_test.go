package jobs_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// counter is a jobs.Observer that counts submissions.
type counter struct{ submitted, finished atomic.Int64 }

func (c *counter) Submitted(string)                                           { c.submitted.Add(1) }
func (c *counter) Finished(string, string, time.Duration, int, *imaging.Cost) { c.finished.Add(1) }
func (c *counter) Refused(string)                                             {}

// BenchmarkSubmit measures Submit: admission by the limiter, the durable
// record and the start of the job's goroutine. Jobs finish quickly on the
// in-memory vendor meanwhile; every 1000 submits the timer stops until they
// have all finished, so in-flight work stays bounded.
func BenchmarkSubmit(b *testing.B) {
	for _, k := range storeKinds {
		b.Run(k.name, func(b *testing.B) {
			v := imagingtest.NewVendor("fake")
			v.Caps.PollDelay, v.Caps.PollInterval = time.Millisecond, time.Millisecond
			v.PollsToFinish = 1
			m := &jobs.Manager{
				Service:           newService(b, v),
				Store:             k.open(b),
				Limiter:           ratelimit.New(ratelimit.Config{Burst: 1_000_000, Per: time.Minute, DailyQuota: 1_000_000}),
				VendorConcurrency: 64,
				Log:               testLogger(b),
			}
			start(b, m)
			users := make([]string, 100)
			for i := range users {
				users[i] = fmt.Sprint("u", i)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := newJob(users[i%len(users)], "benchmark")
				if _, err := m.Submit(ctx, j); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					b.StopTimer()
					waitIdle(b, m)
					b.StartTimer()
				}
			}
			b.StopTimer()
			eventually(b, time.Minute, func() bool { return m.InFlight() == 0 }, "jobs to finish")
		})
	}
}

// BenchmarkManyInFlight measures how many jobs one bot holds at once: 10,000
// jobs wait on a vendor that never finishes, polled every second. It runs
// once whatever b.N is and reports the goroutines, live heap and stack the
// waiting jobs hold (MemStore, so the stored records are in the heap too).
func BenchmarkManyInFlight(b *testing.B) {
	const n = 10_000
	v := imagingtest.NewVendor("fake")
	v.Caps.PollDelay, v.Caps.PollInterval = time.Second, time.Second
	v.Outcome = imagingtest.Never
	obs := new(counter)
	m := &jobs.Manager{
		Service:           newService(b, v),
		Store:             jobs.NewMemStore(),
		VendorConcurrency: n,
		Metrics:           obs,
		Log:               testLogger(b),
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	t0 := time.Now()
	start(b, m)
	ctx := context.Background()
	for i := range n {
		if _, err := m.Submit(ctx, newJob(fmt.Sprint("u", i%500), "waits forever")); err != nil {
			b.Fatal(err)
		}
	}
	submitted := time.Since(t0)
	eventually(b, time.Minute, func() bool { return obs.submitted.Load() == n }, "all jobs submitted to the vendor")
	// Steady state: every job has polled at least once and waits for its
	// next poll.
	eventually(b, time.Minute, func() bool { return v.Polls() >= 2*n }, "two polls per job")
	b.StopTimer()

	// CPU while all of them wait: process time over a 5 s window of steady
	// polling (one poll per job per second).
	cpu0, wall0, polls0 := cpuTime(), time.Now(), v.Polls()
	time.Sleep(5 * time.Second)
	cpuPct := 100 * (cpuTime() - cpu0).Seconds() / time.Since(wall0).Seconds()
	pollRate := float64(v.Polls()-polls0) / time.Since(wall0).Seconds()

	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutines := runtime.NumGoroutine() - g0
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	if got := m.InFlight(); got != n {
		b.Errorf("InFlight = %d, want %d", got, n)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(n), "jobs")
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(heap/1e6, "heap-MB")
	b.ReportMetric(stack/1e6, "stack-MB")
	b.ReportMetric((heap+stack)/n, "bytes/job")
	b.ReportMetric(submitted.Seconds()*1e6/n, "us/submit")
	b.ReportMetric(cpuPct, "cpu-%")
	b.ReportMetric(pollRate, "polls/s")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
