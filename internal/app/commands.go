package app

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/openwua/waptwua/internal/store"
)

// CommandStore is what queueing commands needs: the hosts (to name a missing one) and
// the command queue.
type CommandStore interface {
	GetHost(ctx context.Context, uuid string) (store.Host, error)
	QueueCommand(ctx context.Context, c store.Command) (store.Command, error)
	ListCommands(ctx context.Context, hostUUID string, limit int) ([]store.Command, error)
}

// MaxBulkHosts bounds the hosts of one QueueCommands call.
const MaxBulkHosts = 1000

// CommandLabels describe the command kinds (the seeds' three "Trigger ..." buttons).
var CommandLabels = map[store.CommandKind]string{
	store.CommandScan:     "scan of pending Windows Updates",
	store.CommandDownload: "download of pending Windows Updates",
	store.CommandInstall:  "install of pending Windows Updates",
}

// ParseCommandKind accepts scan, download or install (any case, spaces around).
func ParseCommandKind(v string) (store.CommandKind, error) {
	k := store.CommandKind(strings.ToLower(strings.TrimSpace(v)))
	if _, ok := CommandLabels[k]; !ok {
		return "", errorf(Invalid, "kind", "%q is not one of scan, download, install", Truncate(v, 40))
	}
	return k, nil
}

// QueueCommands queues kind for every host (1 to MaxBulkHosts UUIDs, duplicates
// ignored), wakes each host's waiting long-poll, counts the commands in the metrics and
// audits each (host.command). All or nothing: every host is checked first, and an
// unknown one refuses the whole call (NotFound, field hosts[i]) before anything is
// queued. The console and the admin API both use it, for one host and for many.
func (a *App) QueueCommands(ctx context.Context, kind store.CommandKind, hosts []string) ([]store.Command, error) {
	who, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if a.d.Commands == nil {
		return nil, errorf(Unavailable, "", "this server does not queue commands")
	}
	if _, ok := CommandLabels[kind]; !ok {
		return nil, errorf(Invalid, "kind", "%q is not one of scan, download, install", Truncate(string(kind), 40))
	}
	if len(hosts) == 0 || len(hosts) > MaxBulkHosts {
		return nil, errorf(Invalid, "hosts", "name 1 to %d host UUIDs", MaxBulkHosts)
	}
	seen := make(map[string]bool, len(hosts))
	uniq := hosts[:0:0]
	for i, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if _, err := a.d.Commands.GetHost(ctx, h); err != nil {
			if e := notFound(err, "no host %q", Truncate(h, 120)); e != err {
				e.(*Error).Field = fmt.Sprintf("hosts[%d]", i)
				return nil, e
			}
			return nil, err
		}
		uniq = append(uniq, h)
	}
	out := make([]store.Command, 0, len(uniq))
	for _, h := range uniq {
		c, err := a.d.Commands.QueueCommand(ctx, store.Command{HostUUID: h, Kind: kind, Actor: who.Name, CreatedAt: a.now()})
		if err != nil {
			return out, notFound(err, "no host %q", Truncate(h, 120))
		}
		a.notify.Notify(h)
		if a.d.Metrics != nil {
			a.d.Metrics.CommandQueued(kind)
		}
		a.audit(ctx, who.Name, "host.command", "host:"+h, map[string]any{"kind": kind, "command_id": c.ID})
		out = append(out, c)
	}
	return out, nil
}

// HostCommands lists a host's most recent commands, newest first.
func (a *App) HostCommands(ctx context.Context, host string, limit int) ([]store.Command, error) {
	if _, err := reader(ctx); err != nil {
		return nil, err
	}
	if a.d.Commands == nil {
		return nil, errorf(Unavailable, "", "this server does not queue commands")
	}
	if _, err := a.d.Commands.GetHost(ctx, host); err != nil {
		return nil, notFound(err, "no host %q", Truncate(host, 120))
	}
	return a.d.Commands.ListCommands(ctx, host, limit)
}

// Notifier wakes the long-polls of one host when a command is queued for it in this
// process. Replicas see each other's commands through the long-poll's periodic store
// poll.
type Notifier struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

// NewNotifier returns a notifier with no waiter.
func NewNotifier() *Notifier {
	return &Notifier{waiters: map[string]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives when host is notified, and the function
// that ends the subscription.
func (n *Notifier) Subscribe(host string) (<-chan struct{}, func()) {
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

// Notify wakes every waiter of host without blocking.
func (n *Notifier) Notify(host string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.waiters[host] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Waiting counts the subscriptions (the long-polls in progress).
func (n *Notifier) Waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, set := range n.waiters {
		c += len(set)
	}
	return c
}
