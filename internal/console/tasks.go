package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/openwua/waptwua/internal/store"
)

const (
	tasksShown = 200
	cabsShown  = 10
	// unusedShown is how many unused files the cleanup confirmation lists by name.
	unusedShown = 50
)

var taskStatuses = []store.TaskStatus{store.TaskQueued, store.TaskDownloading, store.TaskDone, store.TaskFailed}

type taskRow struct {
	store.DownloadTask
	Percent int
}

type tasksData struct {
	Tasks     []taskRow
	Counts    []taskCount
	StatusSel string
	Cabs      []store.CabSync
	Jobs      bool
	Active    bool
}

type taskCount struct {
	Status   store.TaskStatus
	Count    int
	More     bool // at least this many
	Selected bool
}

func (c *Console) tasksData(r *http.Request) (*tasksData, error) {
	d := &tasksData{Jobs: c.deps.App.HasJobs()}
	sel := store.TaskStatus(strParam(r.URL.Query(), "status"))
	if !slices.Contains(taskStatuses, sel) {
		sel = ""
	}
	d.StatusSel = string(sel)
	var filter []store.TaskStatus
	if sel != "" {
		filter = []store.TaskStatus{sel}
	}
	tasks, err := c.deps.Store.ListTasks(r.Context(), tasksShown, filter...)
	if err != nil {
		return nil, fmt.Errorf("list download tasks: %w", err)
	}
	for _, t := range tasks {
		row := taskRow{DownloadTask: t}
		switch {
		case t.Status == store.TaskDone:
			row.Percent = 100
		case t.Size > 0:
			row.Percent = int(min(t.Bytes*100/t.Size, 100))
		}
		d.Tasks = append(d.Tasks, row)
	}
	for _, s := range taskStatuses {
		n, err := c.deps.Store.ListTasks(r.Context(), 1000, s)
		if err != nil {
			return nil, fmt.Errorf("count download tasks: %w", err)
		}
		d.Counts = append(d.Counts, taskCount{Status: s, Count: len(n), More: len(n) == 1000, Selected: s == sel})
		if (s == store.TaskQueued || s == store.TaskDownloading) && len(n) > 0 {
			d.Active = true
		}
	}
	if d.Cabs, err = c.deps.Store.LatestCabSyncs(r.Context(), cabsShown); err != nil {
		return nil, fmt.Errorf("cab history: %w", err)
	}
	for _, cs := range d.Cabs {
		if cs.Status == store.CabDownloading || cs.Status == store.CabChecking || cs.Status == store.CabImporting {
			d.Active = true
		}
	}
	return d, nil
}

// handleTasks shows the download tasks and catalog syncs ("Show download tasks"); with
// ?fragment=1 only the live part, which htmx polls every 2 seconds.
func (c *Console) handleTasks(w http.ResponseWriter, r *http.Request) {
	d, err := c.tasksData(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("fragment") != "" {
		c.renderFragment(w, r, "tasks", "live", c.fragmentPage(r, "tasks", "Download tasks", d))
		return
	}
	c.render(w, r, http.StatusOK, "tasks", c.newPage(w, r, "tasks", "Download tasks", d))
}

// --- Delete unused KBs -----------------------------------------------------------------

type cleanupData struct {
	Files []store.UpdateFile
	Count int
	Bytes int64
	More  int
	Jobs  bool
}

// handleCleanupConfirm shows what "Delete unused KBs" would delete before it does.
func (c *Console) handleCleanupConfirm(w http.ResponseWriter, r *http.Request) {
	files, err := c.deps.Store.UnusedFiles(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("unused files: %w", err))
		return
	}
	d := cleanupData{Count: len(files), Jobs: c.deps.App.HasJobs()}
	for _, f := range files {
		d.Bytes += max(f.DownloadedSize, f.Size)
	}
	slices.SortFunc(files, func(a, b store.UpdateFile) int {
		return cmp.Compare(max(b.DownloadedSize, b.Size), max(a.DownloadedSize, a.Size))
	})
	d.Files = files[:min(len(files), unusedShown)]
	d.More = len(files) - len(d.Files)
	c.render(w, r, http.StatusOK, "cleanup", c.newPage(w, r, "updates", "Delete unused KBs", d))
}

func (c *Console) handleCleanup(w http.ResponseWriter, r *http.Request) {
	n, b, err := c.deps.App.DeleteUnused(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"updates", "ok", fmt.Sprintf("Deleted %d unused file(s), %s freed.", n, humanBytes(b)))
}
