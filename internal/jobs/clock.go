package jobs

import "time"

// Clock is the time source of the scheduler and of the jobs: the system clock in
// production, a fake one in tests so that schedules are checked without waiting.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has elapsed (at once when
	// d <= 0), like time.After.
	After(d time.Duration) <-chan time.Time
}

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
