package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxbot/fluxbot/ratelimit"
)

func Example() {
	burst, per, err := ratelimit.ParseRate("2/10m") // RATE_LIMIT
	if err != nil {
		panic(err)
	}
	l := ratelimit.New(ratelimit.Config{
		Burst: burst, Per: per,
		UserConcurrency: 2,
		DailyQuota:      50,
		Admins:          ratelimit.ParseList("discord:1"),
	})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		t, err := l.Admit("discord:123", "discord:chan", now)
		if r, ok := errors.AsType[*ratelimit.Refusal](err); ok {
			fmt.Println(r.Reason, "-", r.Message())
			continue
		}
		fmt.Println("job", i, "admitted")
		// ... run the job; the vendor accepted it, so it counts.
		t.Done(true, now.Add(time.Minute))
	}
	// Output:
	// job 0 admitted
	// job 1 admitted
	// rate - You can make 2 images every 10 minutes. Your next one is free in 5m.
}

func ExampleQueue_Acquire() {
	q := ratelimit.NewQueue(1) // VENDOR_CONCURRENCY
	release, err := q.Acquire(context.Background(), "slack:T1/U123", func(pos int) {
		if pos > 0 {
			fmt.Println("You are number", pos, "in line.")
		}
	})
	if err != nil {
		return // ctx ended while waiting
	}
	defer release()
	fmt.Println("running; in flight:", q.InFlight())
	// Output:
	// running; in flight: 1
}
