package imaging_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
)

// virtualClock is a Service clock whose sleeps return at once, moving the
// clock on by the time slept.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

// pollSchedules mirror each vendor's documented polling advice.
var pollSchedules = []struct {
	vendor          string
	delay, interval time.Duration
}{
	{"apixo", 20 * time.Second, 4 * time.Second},
	{"poyo", 3 * time.Second, 3 * time.Second},
	{"toapis", 5 * time.Second, 5 * time.Second},
	{"vtrix", 3 * time.Second, 3 * time.Second},
}

// virtualService returns a Service on a virtual clock over a fake vendor that
// finishes a job finishAfter after submission on that clock.
func virtualService(tb testing.TB, vendor string, delay, interval, finishAfter time.Duration) *imaging.Service {
	tb.Helper()
	// Start at the real time: Wait's deadline context runs on the real
	// clock, and the virtual clock only moves forward from here.
	clock := &virtualClock{t: time.Now()}
	v := imagingtest.NewVendor(vendor)
	v.Caps.PollDelay, v.Caps.PollInterval = delay, interval
	v.FinishAfter = finishAfter
	v.Now = clock.now
	v.Image = imagingtest.PNG(7) // encoded once, not per download
	s := newService(tb, v)
	imaging.SetClock(s, clock.now, clock.sleep)
	return s
}

// BenchmarkPollSchedule reports, for a job the vendor finishes after T
// seconds, how many status requests each vendor's default schedule makes and
// how long after the vendor finished the image is in hand (virtual time;
// jitter makes both vary, so they are averaged over b.N jobs).
func BenchmarkPollSchedule(b *testing.B) {
	for _, sc := range pollSchedules {
		for _, finish := range []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second} {
			b.Run(fmt.Sprintf("%s/T=%v", sc.vendor, finish), func(b *testing.B) {
				s := virtualService(b, sc.vendor, sc.delay, sc.interval, finish)
				req := &imaging.Request{Prompt: "a lighthouse at dawn"}
				var jobs, polls int
				var lag time.Duration
				for b.Loop() {
					res, err := s.Generate(b.Context(), "", req, imaging.WaitOptions{})
					if err != nil {
						b.Fatalf("Generate() error = %v", err)
					}
					jobs++
					polls += res.Polls
					lag += res.DownloadedAt.Sub(res.SubmittedAt.Add(finish))
				}
				b.ReportMetric(float64(polls)/float64(jobs), "polls/job")
				b.ReportMetric(lag.Seconds()/float64(jobs), "lag-s/job")
			})
		}
	}
}

// TestPollScheduleVirtual pins the schedule the benchmark measures, without
// jitter, so its numbers can be trusted.
func TestPollScheduleVirtual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vendor    string
		finish    time.Duration
		wantPolls int
		wantLag   time.Duration
	}{
		{"apixo", 10 * time.Second, 1, 10 * time.Second}, // first poll at 20s
		{"apixo", 30 * time.Second, 4, 2 * time.Second},  // 20, 24, 28, 32
		{"apixo", 60 * time.Second, 11, 0},               // 20, 24, ..., 60
		{"poyo", 10 * time.Second, 4, 2 * time.Second},   // 3, 6, 9, 12
		{"toapis", 30 * time.Second, 6, 0},               // 5, ..., 30
		{"vtrix", 60 * time.Second, 20, 0},               // 3, ..., 60
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/T=%v", tt.vendor, tt.finish), func(t *testing.T) {
			t.Parallel()
			i := 0
			for pollSchedules[i].vendor != tt.vendor {
				i++
			}
			sc := pollSchedules[i]
			s := virtualService(t, sc.vendor, sc.delay, sc.interval, tt.finish)
			s.Jitter = -1
			res, err := s.Generate(t.Context(), "", &imaging.Request{Prompt: "cat"}, imaging.WaitOptions{})
			if err != nil {
				t.Fatalf("Generate() error = %v", err)
			}
			if got, want := res.Polls, tt.wantPolls; got != want {
				t.Errorf("Polls = %d, want %d", got, want)
			}
			if got, want := res.DownloadedAt.Sub(res.SubmittedAt.Add(tt.finish)), tt.wantLag; got != want {
				t.Errorf("lag = %v, want %v", got, want)
			}
		})
	}
}

// BenchmarkGenerate measures the core's own cost per job on the wall clock:
// an in-memory vendor that finishes on the first, immediate poll.
func BenchmarkGenerate(b *testing.B) {
	v := imagingtest.NewVendor("fake")
	v.Caps.PollDelay, v.Caps.PollInterval = 0, 0
	v.PollsToFinish = 1
	v.Image = imagingtest.PNG(7) // encoded once: measure the core, not the fake's PNG encoder
	s := newService(b, v)
	req := &imaging.Request{Prompt: "a lighthouse at dawn", AspectRatio: "16:9"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Generate(b.Context(), "", req, imaging.WaitOptions{}); err != nil {
			b.Fatalf("Generate() error = %v", err)
		}
	}
}
