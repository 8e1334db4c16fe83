package slack_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/internal/fakeslack"
)

// BenchmarkAckLatency sends /imagine from 200 users at once and measures,
// at the fake Slack, the time from sending each command to receiving its
// acknowledgement (which, for an accepted command, comes after the job was
// admitted and recorded). It reports the median and 99th percentile.
func BenchmarkAckLatency(b *testing.B) {
	const users = 200
	for _, mode := range []string{"socket", "http"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, options{http: mode == "http", discard: true, noStrict: true})
			ids := make([]string, users)
			for i := range ids {
				ids[i] = fmt.Sprintf("U9%07d", i)
				h.f.AddUser(ids[i], fmt.Sprintf("user%d", i))
				h.f.Join(general, ids[i])
			}
			var lat []time.Duration
			for b.Loop() {
				cmds := make([]*fakeslack.Command, users)
				for i, id := range ids {
					cmds[i] = h.f.SlashCommand(general, id, "/imagine", fmt.Sprintf("a lantern number %d --ar 16:9", i))
				}
				var mu sync.Mutex
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, c := range cmds {
					wg.Go(func() {
						<-start
						ctx := h.ctx(30 * time.Second)
						var d time.Duration
						if mode == "http" {
							res, err := h.f.DeliverHTTP(ctx, h.url+"/slack/commands", c)
							if err != nil || res.Status != 200 || res.TimedOut {
								b.Errorf("command: %+v, %v", res, err)
								return
							}
							d = res.Latency
						} else {
							env, err := h.f.Deliver(ctx, c)
							if err != nil {
								b.Error(err)
								return
							}
							ack, err := env.WaitAck(ctx)
							if err != nil {
								b.Error(err)
								return
							}
							d = ack.Latency
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					})
				}
				close(start)
				wg.Wait()
			}
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
			if late := lat[len(lat)-1]; late > fakeslack.AckDeadline {
				b.Errorf("slowest ack %v is past Slack's %v", late, fakeslack.AckDeadline)
			}
		})
	}
}
