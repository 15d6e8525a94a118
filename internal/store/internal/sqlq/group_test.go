package sqlq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestGroup: concurrent calls are written in groups of at most Max by at most Leaders
// writers at once; each caller gets its own item's result, and a failed group fails every
// item of it that was not refused alone.
func TestGroup(t *testing.T) {
	const n, maxItems, leaders = 200, 8, 2
	var mu sync.Mutex
	running, peak, groups, biggest := 0, 0, 0, 0
	written := map[int]bool{}
	release := make(chan struct{})
	g := &Group[int]{Max: maxItems, Leaders: leaders}
	g.Write = func(ctx context.Context, group []GroupItem[int], results []error) error {
		mu.Lock()
		running++
		peak, groups, biggest = max(peak, running), groups+1, max(biggest, len(group))
		mu.Unlock()
		<-release // hold the writers until every caller is queued
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		fail := false
		for i, it := range group {
			switch {
			case it.V%7 == 0:
				results[i] = fmt.Errorf("item %d refused", it.V)
			case it.V%50 == 0:
				fail = true // the "commit" of this group fails
			}
		}
		if fail {
			return errors.New("commit failed")
		}
		mu.Lock()
		for i, it := range group {
			if results[i] == nil {
				written[it.V] = true
			}
		}
		mu.Unlock()
		return nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = g.Do(context.Background(), i) })
	}
	for { // wait until the callers that are not leading are all queued
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q == n-leaders {
			break
		}
	}
	close(release)
	wg.Wait()
	failedGroups := map[int]bool{}
	for i, err := range errs {
		switch {
		case i%7 == 0:
			if err == nil || err.Error() != fmt.Sprintf("item %d refused", i) {
				t.Errorf("item %d: %v, want its own refusal", i, err)
			}
		case err != nil && err.Error() == "commit failed":
			failedGroups[i] = true
			if written[i] {
				t.Errorf("item %d: written and failed", i)
			}
		case err != nil:
			t.Errorf("item %d: %v", i, err)
		case !written[i]:
			t.Errorf("item %d: succeeded but not written", i)
		}
	}
	if !failedGroups[50] || !failedGroups[100] {
		t.Errorf("items 50 and 100 did not fail with their group")
	}
	if peak > leaders || biggest > maxItems {
		t.Errorf("%d writers at once (want ≤ %d), biggest group %d (want ≤ %d)", peak, leaders, biggest, maxItems)
	}
	if groups >= n/2 {
		t.Errorf("%d groups for %d concurrent items: not grouped", groups, n)
	}
	if g.leading != 0 || len(g.queue) != 0 {
		t.Errorf("after the calls: %d leading, %d queued", g.leading, len(g.queue))
	}
}

// TestGroupPanic: a writer's panic answers its group with an error and passes the lead
// on, so that the callers queued behind it are still written.
func TestGroupPanic(t *testing.T) {
	g := &Group[int]{Max: 4, Leaders: 1}
	block := make(chan struct{})
	g.Write = func(ctx context.Context, group []GroupItem[int], results []error) error {
		if group[0].V == 0 {
			<-block
			panic("boom")
		}
		return nil
	}
	first := make(chan any, 1)
	go func() {
		defer func() { first <- recover() }()
		_ = g.Do(context.Background(), 0)
	}()
	for { // item 0 leads
		g.mu.Lock()
		l := g.leading
		g.mu.Unlock()
		if l == 1 {
			break
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := 1; i < 6; i++ {
		wg.Go(func() { errs[i] = g.Do(context.Background(), i) })
	}
	for {
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q == 5 {
			break
		}
	}
	close(block)
	if r := <-first; r != "boom" {
		t.Fatalf("leader's panic: %v", r)
	}
	wg.Wait()
	for i := 1; i < 6; i++ {
		if errs[i] != nil {
			t.Errorf("item %d queued behind a panic: %v", i, errs[i])
		}
	}
}
