package jobs

import (
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// The runner is what the admin API calls, and the server's metrics are what the jobs
// feed.
var (
	_ server.Jobs = (*Runner)(nil)
	_ Metrics     = (*server.Metrics)(nil)
)

// recordMetrics records what the jobs measure.
type recordMetrics struct {
	mu         sync.Mutex
	bytes      int64
	downloads  map[bool]int
	tasks      map[store.TaskStatus]int
	cabDate    time.Time
	cabSyncs   map[store.CabStatus]int
	deleted    int
	deletedLen int64
}

func (m *recordMetrics) AddDownloadedBytes(n int64) { m.mu.Lock(); m.bytes += n; m.mu.Unlock() }
func (m *recordMetrics) DownloadFinished(ok bool) {
	m.mu.Lock()
	m.downloads[ok]++
	m.mu.Unlock()
}
func (m *recordMetrics) SetTaskCounts(c map[store.TaskStatus]int) {
	m.mu.Lock()
	for k, v := range c {
		m.tasks[k] = v
	}
	m.mu.Unlock()
}
func (m *recordMetrics) SetCabDate(t time.Time) { m.mu.Lock(); m.cabDate = t; m.mu.Unlock() }
func (m *recordMetrics) CabSyncFinished(s store.CabStatus) {
	m.mu.Lock()
	m.cabSyncs[s]++
	m.mu.Unlock()
}
func (m *recordMetrics) UnusedDeleted(n int, b int64) {
	m.mu.Lock()
	m.deleted += n
	m.deletedLen += b
	m.mu.Unlock()
}

func TestMetricsAndMissingFilesButton(t *testing.T) {
	m := &recordMetrics{downloads: map[bool]int{}, tasks: map[store.TaskStatus]int{}, cabSyncs: map[store.CabStatus]int{}}
	e := newEnv(t, envOptions{opts: []Option{WithMetrics(m)}})
	c := e.syncCatalog(0, patchTuesday1)
	if _, err := e.r.SyncCab(e.ctx(), false); err != nil {
		t.Fatal(err)
	}
	u := pickUpdates(t, c.man, 1)[0]
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing})
	// "Download index and missing cabs": ForceDownload with no key runs the job.
	if err := e.r.ForceDownload(e.ctx(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.DownloadMissing(e.ctx()); err != nil { // joins it
		t.Fatal(err)
	}
	for _, f := range u.Files {
		e.checkCached(f)
	}
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusOK})
	n, b, err := e.r.DeleteUnused(e.ctx())
	if err != nil || n != len(u.Files) {
		t.Fatalf("DeleteUnused = %d, %v", n, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	var fileBytes int64
	for _, f := range u.Files {
		fileBytes += f.Size
	}
	if want := int64(len(c.data)) + fileBytes; m.bytes != want {
		t.Errorf("downloaded bytes = %d, want %d (cab + files)", m.bytes, want)
	}
	if m.downloads[true] != len(u.Files) || m.downloads[false] != 0 {
		t.Errorf("downloads = %v", m.downloads)
	}
	if m.cabSyncs[store.CabFinished] != 1 || m.cabSyncs[store.CabSkipped] != 1 || !m.cabDate.Equal(patchTuesday1) {
		t.Errorf("cab syncs %v, date %v", m.cabSyncs, m.cabDate)
	}
	if m.tasks[store.TaskQueued] != 0 || m.tasks[store.TaskDownloading] != 0 {
		t.Errorf("task counts %v, want an empty queue", m.tasks)
	}
	if m.deleted != n || m.deletedLen != b {
		t.Errorf("deleted metrics %d, %d; want %d, %d", m.deleted, m.deletedLen, n, b)
	}
}
