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
