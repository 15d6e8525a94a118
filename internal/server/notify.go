package server

import "sync"

// notifier wakes the long-polls of one host when a command is queued for it in this
// process. Replicas see each other's commands through the periodic store poll.
type notifier struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

func newNotifier() *notifier {
	return &notifier{waiters: map[string]map[chan struct{}]struct{}{}}
}

// subscribe returns a channel that receives when host is notified, and the function
// that stops the subscription.
func (n *notifier) subscribe(host string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	set := n.waiters[host]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		n.waiters[host] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if set := n.waiters[host]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(n.waiters, host)
			}
		}
	}
}

// notify wakes every waiter of host without blocking.
func (n *notifier) notify(host string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.waiters[host] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// waiting counts the subscriptions (the long-polls in progress).
func (n *notifier) waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, set := range n.waiters {
		c += len(set)
	}
	return c
}
