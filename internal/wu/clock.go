package wu

import "time"

// SystemClock is the real clock. Each user of time declares its own small Clock
// interface (Now and After); this is the one implementation they share outside tests.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
