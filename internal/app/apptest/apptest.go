// Package apptest holds test doubles of the application layer's collaborators, shared
// by the adapters' tests (internal/server/servertest, internal/console).
package apptest

import (
	"context"
	"sync"

	"github.com/openwua/waptwua/internal/wu"
)

// FakeJobs records what the operations ask of the jobs (app.Jobs). DeleteUnused says it
// removed DeletedFiles files of DeletedBytes bytes; Err is returned by every call.
type FakeJobs struct {
	mu           sync.Mutex
	CabSyncs     int
	Downloads    [][]wu.UpdateKey
	Deletes      int
	DeletedFiles int
	DeletedBytes int64
	Err          error
}

// ForceCabSync records the call.
func (f *FakeJobs) ForceCabSync(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.CabSyncs++
	return f.Err
}

// ForceDownload records the keys (nil: the missing-files job).
func (f *FakeJobs) ForceDownload(_ context.Context, keys []wu.UpdateKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Downloads = append(f.Downloads, keys)
	return f.Err
}

// DeleteUnused records the call.
func (f *FakeJobs) DeleteUnused(context.Context) (int, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Deletes++
	return f.DeletedFiles, f.DeletedBytes, f.Err
}
