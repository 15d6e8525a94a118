package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

func shas(fs []store.UpdateFile) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.SHA1
	}
	return out
}

func testFiles(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(6)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	register(t, s, 2)
	a := func(i int) string { return SHA1('a', i) }
	b := func(i int) string { return SHA1('b', i) }
	report(t, s, 1, store.Report{At: at(1), Updates: []store.ReportedUpdate{
		{Key: us[0].Key(), Status: wu.StatusMissing}, {Key: us[1].Key(), Status: wu.StatusOK}}})
	report(t, s, 2, store.Report{At: at(1), Updates: []store.ReportedUpdate{
		{Key: us[1].Key(), Status: wu.StatusPending}, {Key: us[2].Key(), Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed},
		{Key: us[3].Key(), Status: wu.StatusError}}})

	needed := func(want ...string) {
		t.Helper()
		fs, err := s.NeededFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		if got := shas(fs); !slices.Equal(got, want) {
			t.Errorf("NeededFiles = %v, want %v", got, want)
		}
	}
	unused := func(want ...string) {
		t.Helper()
		fs, err := s.UnusedFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		if got := shas(fs); !slices.Equal(got, want) {
			t.Errorf("UnusedFiles = %v, want %v", got, want)
		}
	}
	// Update 0 (MISSING on host 1) and update 1 (PENDING on host 2) share file b0.
	needed(a(0), a(1), b(0))
	fs, _ := s.NeededFiles(ctx)
	if i := slices.IndexFunc(fs, func(f store.UpdateFile) bool { return f.SHA1 == b(0) }); i < 0 || fs[i].File != us[0].Files[1] {
		t.Errorf("needed file b0 = %+v, want %+v", fs, us[0].Files[1])
	}
	unused()

	if err := s.MarkDownloaded(ctx, a(0), store.Downloaded{At: at(2), Size: 1000, SHA256: "ABCDEF"}); err != nil {
		t.Fatal(err)
	}
	needed(a(1), b(0))
	u, _ := s.GetUpdate(ctx, us[0].Key())
	if !u.DownloadedOn.IsZero() {
		t.Errorf("update 0 downloaded on %v with file b0 missing", u.DownloadedOn)
	}
	if err := s.MarkDownloaded(ctx, b(0), store.Downloaded{At: at(3), Size: 5000}); err != nil {
		t.Fatal(err)
	}
	needed(a(1))
	u, _ = s.GetUpdate(ctx, us[0].Key())
	sameTime(t, "update 0 DownloadedOn (its last file)", u.DownloadedOn, at(3))
	f, err := s.GetFile(ctx, a(0))
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "file DownloadedOn", f.DownloadedOn, at(2))
	if f.DownloadedSize != 1000 || f.SHA256 != "abcdef" {
		t.Errorf("downloaded file = %+v", f)
	}
	g, _ := s.GetFile(ctx, b(0))
	if g.SHA256 != us[0].Files[1].SHA256 {
		t.Errorf("MarkDownloaded without SHA-256 replaced the catalog's: %q", g.SHA256)
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Downloaded: store.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(page.Updates); !slices.Equal(got, []wu.UpdateKey{us[0].Key()}) {
		t.Errorf("downloaded updates %v, want update 0", got)
	}
	page, _ = s.ListUpdates(ctx, store.UpdateFilter{Downloaded: store.Bool(false)})
	if page.Total != 5 {
		t.Errorf("%d updates not downloaded, want 5", page.Total)
	}

	// A forced download nobody needs is unused; so is a0 once host 1 installed update 0.
	if err := s.MarkDownloaded(ctx, a(2), store.Downloaded{At: at(4), Size: 1002}); err != nil {
		t.Fatal(err)
	}
	unused(a(2))
	report(t, s, 1, store.Report{At: at(5), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusOK}}})
	unused(a(0), a(2)) // b0 is still wanted by host 2 for update 1
	needed(a(1))

	if err := s.MarkDeleted(ctx, a(0), at(6)); err != nil {
		t.Fatal(err)
	}
	unused(a(2))
	f, _ = s.GetFile(ctx, a(0))
	if !f.DownloadedOn.IsZero() || f.DownloadedSize != 0 {
		t.Errorf("deleted file still downloaded: %+v", f)
	}
	sameTime(t, "DeletedOn", f.DeletedOn, at(6))
	u, _ = s.GetUpdate(ctx, us[0].Key())
	if !u.DownloadedOn.IsZero() {
		t.Errorf("update 0 still downloaded after its file was deleted")
	}
	// Asked again: needed again.
	report(t, s, 1, store.Report{At: at(7), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusMissing}}})
	needed(a(0), a(1))

	for i := 1; i <= 2; i++ {
		if err := s.MarkFailed(ctx, a(1), at(7+i), "HTTP 404"); err != nil {
			t.Fatal(err)
		}
	}
	f, _ = s.GetFile(ctx, a(1))
	if f.Attempts != 2 || f.LastError != "HTTP 404" || !f.DownloadedOn.IsZero() {
		t.Errorf("failed file = %+v", f)
	}
	sameTime(t, "LastAttempt", f.LastAttempt, at(9))
	if err := s.MarkDownloaded(ctx, a(1), store.Downloaded{At: at(10), Size: 1001}); err != nil {
		t.Fatal(err)
	}
	f, _ = s.GetFile(ctx, a(1))
	if f.Attempts != 0 || f.LastError != "" {
		t.Errorf("downloaded file keeps its failure: %+v", f)
	}
	_, err = s.GetFile(ctx, SHA1('z', 1))
	wantErr(t, "GetFile unknown", err, store.ErrNotFound)
	wantErr(t, "MarkDownloaded unknown", s.MarkDownloaded(ctx, SHA1('z', 1), store.Downloaded{At: at(1)}), store.ErrNotFound)
	wantErr(t, "MarkDownloaded without a time", s.MarkDownloaded(ctx, a(1), store.Downloaded{}), store.ErrInvalid)
	wantErr(t, "MarkFailed unknown", s.MarkFailed(ctx, SHA1('z', 1), at(1), "x"), store.ErrNotFound)
	wantErr(t, "MarkDeleted unknown", s.MarkDeleted(ctx, SHA1('z', 1), at(1)), store.ErrNotFound)
}

func testTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	a := func(i int) string { return SHA1('a', i) }

	t0, created, err := s.EnqueueDownload(ctx, a(0), at(1))
	if err != nil || !created {
		t.Fatalf("EnqueueDownload: %v created %v", err, created)
	}
	if t0.Status != store.TaskQueued || t0.FileSHA1 != a(0) || t0.URL != us[0].Files[0].URL || t0.Size != us[0].Files[0].Size || t0.FileName != us[0].Files[0].Name {
		t.Errorf("queued task = %+v", t0)
	}
	sameTime(t, "CreatedAt", t0.CreatedAt, at(1))
	again, created, err := s.EnqueueDownload(ctx, a(0), at(2))
	if err != nil || created || again.ID != t0.ID {
		t.Errorf("second EnqueueDownload: %v created %v id %d, want task %d", err, created, again.ID, t0.ID)
	}
	_, _, err = s.EnqueueDownload(ctx, SHA1('z', 0), at(2))
	wantErr(t, "EnqueueDownload unknown file", err, store.ErrNotFound)
	t1, _, err := s.EnqueueDownload(ctx, a(1), at(3))
	if err != nil {
		t.Fatal(err)
	}

	c, err := s.ClaimTask(ctx, "w1", at(4))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != t0.ID || c.Status != store.TaskDownloading || c.Worker != "w1" || c.Attempts != 1 {
		t.Errorf("claimed %+v, want the oldest task downloading by w1", c)
	}
	sameTime(t, "StartedAt", c.StartedAt, at(4))
	again, created, _ = s.EnqueueDownload(ctx, a(0), at(5))
	if created || again.ID != t0.ID {
		t.Errorf("EnqueueDownload while downloading created a task")
	}
	if err := s.TaskProgress(ctx, c.ID, 500, at(5)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishTask(ctx, c.ID, at(6), ""); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "FinishTask twice", s.FinishTask(ctx, c.ID, at(6), ""), store.ErrNotFound)
	wantErr(t, "TaskProgress of a finished task", s.TaskProgress(ctx, c.ID, 1, at(6)), store.ErrNotFound)
	t2, created, _ := s.EnqueueDownload(ctx, a(0), at(7))
	if !created || t2.ID == t0.ID {
		t.Errorf("EnqueueDownload after done: created %v id %d", created, t2.ID)
	}

	c, err = s.ClaimTask(ctx, "w2", at(8))
	if err != nil || c.ID != t1.ID {
		t.Fatalf("second claim: %v %+v, want task %d", err, c, t1.ID)
	}
	if err := s.FinishTask(ctx, c.ID, at(9), "sha1 mismatch"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTasks(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != t2.ID || list[2].ID != t0.ID {
		t.Fatalf("ListTasks = %+v, want 3 newest first", list)
	}
	done := list[2]
	if done.Status != store.TaskDone || done.Bytes != 500 {
		t.Errorf("done task = %+v", done)
	}
	sameTime(t, "FinishedAt", done.FinishedAt, at(6))
	failed, err := s.ListTasks(ctx, 10, store.TaskFailed)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].Error != "sha1 mismatch" || failed[0].ID != t1.ID {
		t.Errorf("failed tasks = %+v", failed)
	}

	// A worker dies: its task goes back to the queue.
	c, err = s.ClaimTask(ctx, "w3", at(10))
	if err != nil || c.ID != t2.ID {
		t.Fatalf("third claim: %v %+v", err, c)
	}
	n, err := s.RequeueStale(ctx, at(10), at(11))
	if err != nil || n != 0 {
		t.Fatalf("RequeueStale of a fresh task: %d %v", n, err)
	}
	n, err = s.RequeueStale(ctx, at(20), at(21))
	if err != nil || n != 1 {
		t.Fatalf("RequeueStale: %d %v, want 1", n, err)
	}
	c, err = s.ClaimTask(ctx, "w4", at(22))
	if err != nil || c.ID != t2.ID || c.Attempts != 2 || c.Worker != "w4" {
		t.Fatalf("claim after requeue: %v %+v", err, c)
	}
	_, err = s.ClaimTask(ctx, "w5", at(23))
	wantErr(t, "ClaimTask on an empty queue", err, store.ErrNotFound)
}

func testClaimConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	const tasks, workers = 40, 8
	us, cats := Catalog(tasks)
	importAll(t, s, us, cats, t0)
	for i := range tasks {
		if _, _, err := s.EnqueueDownload(ctx, SHA1('a', i), at(i)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('A' + w))
			for {
				task, err := s.ClaimTask(ctx, name, at(100))
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, ok := claimed[task.ID]; ok {
					mu.Unlock()
					errs <- errors.New("task " + task.FileSHA1 + " claimed by " + prev + " and " + name)
					return
				}
				claimed[task.ID] = name
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != tasks {
		t.Errorf("%d tasks claimed, want %d", len(claimed), tasks)
	}
	list, err := s.ListTasks(ctx, 100, store.TaskQueued)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d tasks still queued", len(list))
	}
}
