package discord_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/internal/fakediscord"
)

// BenchmarkAckLatency dispatches 200 simultaneous /imagine through the
// fake gateway, from 200 users, and measures each interaction's wall-clock
// time from dispatch to its acknowledgement arriving at the fake. It
// reports the median and 99th percentile over all iterations.
func BenchmarkAckLatency(b *testing.B) {
	const users = 200
	h := start(b, setup{fake: []fakediscord.Option{fakediscord.WithQuiet()}})
	var people []fakediscord.User
	for i := range users {
		people = append(people, h.f.AddUser(fmt.Sprintf("user%d", i)))
	}
	var lat []time.Duration
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		its := make([]*fakediscord.Interaction, users)
		for i, u := range people {
			it, err := h.f.SlashCommand(fakediscord.SlashCommand{Name: "imagine", User: u,
				Args: []fakediscord.Arg{fakediscord.StringArg("prompt", fmt.Sprintf("picture %d of round %d", i, n))}})
			if err != nil {
				b.Fatal(err)
			}
			its[i] = it
		}
		b.StartTimer()
		var wg sync.WaitGroup
		startGate := make(chan struct{})
		for _, it := range its {
			wg.Go(func() {
				<-startGate
				if err := h.f.DispatchInteraction(it); err != nil {
					b.Error(err)
				}
			})
		}
		close(startGate)
		wg.Wait()
		waitFor(b, "every acknowledgement", func() bool {
			for _, it := range its {
				if r, _ := h.f.Response(it.ID); !r.Acked {
					return false
				}
			}
			return true
		})
		b.StopTimer()
		for _, it := range its {
			r, _ := h.f.Response(it.ID)
			if r.AckType != 5 {
				b.Errorf("interaction %s acknowledged with type %d", it.ID, r.AckType)
			}
			lat = append(lat, r.AckLatency)
		}
		// Let this round's jobs finish before the next round.
		waitFor(b, "every result", func() bool {
			for _, it := range its {
				r, _ := h.f.Response(it.ID)
				if m, ok := h.f.Message(r.OriginalID); !ok || len(m.Attachments) == 0 {
					return false
				}
			}
			return true
		})
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
	for _, r := range h.f.Refusals() {
		b.Errorf("fake refused %s %s -> %d %d", r.Method, r.Route, r.Status, r.Code)
	}
}
