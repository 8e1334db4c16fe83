package imaging

import (
	"context"
	"time"
)

// SetClock replaces the Service's clock and its sleep, for tests that run the
// wait loop and download retries on a virtual clock. A nil func leaves the
// current one in place. Call it before the Service is used.
func SetClock(s *Service, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) {
	if now != nil {
		s.now = now
	}
	if sleep != nil {
		s.sleep = sleep
	}
}
