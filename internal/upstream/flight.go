package upstream

import (
	"context"
	"fmt"
	"sync"
)

// flightGroup makes concurrent downloads of one file share a single download. Unlike
// golang.org/x/sync/singleflight, the shared download is not tied to the first caller's
// context: it runs until it ends or until every waiting caller has gone, so one caller
// giving up does not fail the others. A new download of a file whose abandoned download
// is still winding down waits for it, so two downloads never write one .part file.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done     chan struct{}
	res      Result
	err      error
	waiters  int
	canceled bool
	cancel   context.CancelFunc
}

func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (Result, error)) (Result, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	fl, joined := g.m[key]
	if !joined || fl.canceled {
		var prev <-chan struct{}
		if joined {
			prev = fl.done
		}
		joined = false
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		g.m[key] = fl
		go g.run(fctx, key, fl, prev, fn)
	}
	fl.waiters++
	g.mu.Unlock()

	select {
	case <-fl.done:
		res := fl.res
		res.Shared = joined
		return res, fl.err
	case <-ctx.Done():
		g.mu.Lock()
		fl.waiters--
		if fl.waiters == 0 {
			fl.canceled = true
			fl.cancel()
		}
		g.mu.Unlock()
		return Result{}, fmt.Errorf("download abandoned: %w", context.Cause(ctx))
	}
}

func (g *flightGroup) run(ctx context.Context, key string, fl *flight, prev <-chan struct{}, fn func(context.Context) (Result, error)) {
	defer fl.cancel()
	if prev != nil {
		<-prev // abandoned, hence canceled: it ends promptly and releases the .part
	}
	var res Result
	err := ctx.Err()
	if err == nil {
		res, err = fn(ctx)
	}
	g.mu.Lock()
	if g.m[key] == fl {
		delete(g.m, key)
	}
	fl.res, fl.err = res, err
	g.mu.Unlock()
	close(fl.done)
}

// waiters returns how many callers wait for key (tests).
func (g *flightGroup) waiters(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fl, ok := g.m[key]; ok {
		return fl.waiters
	}
	return 0
}
