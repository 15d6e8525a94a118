package sqlq

import (
	"context"
	"errors"
	"sync"
)

// GroupItem is one call waiting in a Group: its own context and value.
type GroupItem[T any] struct {
	Ctx context.Context
	V   T
}

// Group commits concurrent calls together (group commit): a caller that finds fewer
// than Leaders groups being written becomes a leader and writes its own item with up to
// Max-1 queued ones by one call of Write; the others wait in the queue. When a leader is
// done it answers its group and hands the lead to the first caller still waiting, so every
// caller returns with its own result once the transaction holding its item has committed.
// The zero value is not usable: set Max, Leaders and Write.
type Group[T any] struct {
	Max     int // the most items written by one call of Write
	Leaders int // the most calls of Write running at once
	// Write writes a group in one transaction, setting results[i] for an item refused
	// alone; its error (a failed commit) is the result of every item not refused. It
	// runs with a context not cancelled by any one caller: it checks each item's Ctx.
	Write func(ctx context.Context, group []GroupItem[T], results []error) error

	mu      sync.Mutex
	queue   []*groupReq[T]
	leading int
}

type groupReq[T any] struct {
	item GroupItem[T]
	done chan error    // the result, once committed (or refused)
	lead chan struct{} // this caller leads the next group
}

// errGroupPanic answers callers whose group, or the lead handed to them, was lost to a
// panic while writing.
var errGroupPanic = errors.New("write group aborted by a panic (see the server log)")

// Do queues v and returns its result once it is committed or refused.
func (g *Group[T]) Do(ctx context.Context, v T) error {
	req := &groupReq[T]{item: GroupItem[T]{Ctx: ctx, V: v}, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	if g.leading < max(g.Leaders, 1) {
		g.leading++
		g.mu.Unlock()
		g.lead(req)
	} else {
		g.queue = append(g.queue, req)
		g.mu.Unlock()
	}
	for {
		select {
		case err := <-req.done:
			return err
		case <-req.lead:
			g.lead(req)
		}
	}
}

// lead writes one group, the leader's own item first, answers it and hands the lead on
// (or gives it up when nobody waits).
func (g *Group[T]) lead(self *groupReq[T]) {
	g.mu.Lock()
	n := min(len(g.queue), max(g.Max, 1)-1)
	group := append([]*groupReq[T]{self}, g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	answered := false
	defer func() {
		if answered {
			return
		}
		// A panic while writing: answer the group and free the lead before the panic
		// goes on, so that no caller waits forever.
		for _, req := range group {
			req.done <- errGroupPanic
		}
		g.handOn()
	}()
	items := make([]GroupItem[T], len(group))
	for i, req := range group {
		items[i] = req.item
	}
	results := make([]error, len(group))
	err := g.Write(context.WithoutCancel(self.item.Ctx), items, results)
	for i, req := range group {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		req.done <- results[i]
	}
	answered = true
	g.handOn()
}

// handOn passes this leader's turn to the first waiting caller, or ends it.
func (g *Group[T]) handOn() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading--
		return
	}
	next := g.queue[0]
	g.queue = g.queue[1:]
	next.lead <- struct{}{}
}
