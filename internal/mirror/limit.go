package mirror

import (
	"context"
	"io"
	"sync"
	"time"
)

// limiter shares a download rate between the downloads: each read reserves its bytes
// on one timeline and waits until its turn, so the total stays at the rate. A burst of
// up to a quarter second of traffic is allowed.
type limiter struct {
	rate float64 // bytes per second
	now  func() time.Time

	mu   sync.Mutex
	next time.Time // when the bytes reserved so far have been "sent"
}

func newLimiter(rate int64, now func() time.Time) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: float64(rate), now: now}
}

// wait blocks until n more bytes fit in the rate.
func (l *limiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := l.now()
	if l.next.Before(now.Add(-250 * time.Millisecond)) {
		l.next = now.Add(-250 * time.Millisecond)
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	delay := l.next.Sub(now)
	l.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limitedReader reads at most 64 KiB at a time, each read waiting for the limiter.
type limitedReader struct {
	r   io.Reader
	l   *limiter
	ctx context.Context
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.wait(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
