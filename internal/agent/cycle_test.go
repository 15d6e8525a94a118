package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

var ctx = context.Background()

// fleetUpdates covers every decision path:
//
//	5000001 installed                        → OK
//	5000002 forbidden_kbs                    → DISCARDED forbidden
//	5000003 nothing allows it                → DISCARDED not_allowed
//	5000004 allowed, files on the repository → PENDING
//	5000005 allowed, files not on the server → MISSING
//	5000006 allowed, inside install_delay    → DISCARDED delayed
//	5000007 allowed, superseded by 5000004   → SUPERSEDED
func fleetUpdates(now time.Time) []wua.Update {
	return []wua.Update{
		mkUpdate(1, "5000001", wu.SeverityCritical, installed),
		mkUpdate(2, "5000002", wu.SeverityCritical),
		mkUpdate(3, "5000003", wu.SeverityLow),
		mkUpdate(4, "5000004", wu.SeverityImportant, supersedes(guid(7))),
		mkUpdate(5, "5000005", wu.SeverityImportant),
		mkUpdate(6, "5000006", wu.SeverityImportant, deployed(now.Add(-24*time.Hour))),
		mkUpdate(7, "5000007", wu.SeverityImportant),
	}
}

const fleetRules = `{"forbidden_kbs": ["KB5000002"], "allowed_kbs": ["KB5000004","KB5000005","KB5000006","KB5000007"]}`

func newFleet(t *testing.T) *harness {
	t.Helper()
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, "enabled = True\ninstall_delay = 7d\ninclude_potentially_superseded_updates = True", fleetUpdates(now)...)
	h.srv.setRules(fleetRules)
	h.srv.publish("5000004")
	h.srv.publish("5000006")
	h.srv.publish("5000007")
	return h
}

type want struct {
	status wu.Status
	reason wu.Reason
}

func checkStatuses(t *testing.T, got []UpdateState, wantByKB map[string]want) {
	t.Helper()
	m := byKB(got)
	for kb, w := range wantByKB {
		g, ok := m[kb]
		if !ok {
			t.Errorf("%s: not in the result", kb)
			continue
		}
		if g.Status != w.status || g.Reason != w.reason {
			t.Errorf("%s: status %s/%s, want %s/%s (rule %q, error %q)", kb, g.Status, g.Reason, w.status, w.reason, g.Rule, g.Error)
		}
	}
}

func TestScanStatusesForEachDecisionPath(t *testing.T) {
	h := newFleet(t)
	sum, err := h.agent.Scan(ctx, false)
	if err != nil {
		t.Fatalf("Scan() error = %v", err)
	}
	wantStatuses := map[string]want{
		"KB5000001": {wu.StatusOK, ""},
		"KB5000002": {wu.StatusDiscarded, wu.ReasonForbidden},
		"KB5000003": {wu.StatusDiscarded, wu.ReasonNotAllowed},
		"KB5000004": {wu.StatusPending, ""},
		"KB5000005": {wu.StatusMissing, ""},
		"KB5000006": {wu.StatusDiscarded, wu.ReasonDelayed},
		"KB5000007": {wu.StatusSuperseded, ""},
	}
	checkStatuses(t, sum.Updates, wantStatuses)
	if sum.Status != StatusPendingUpdates {
		t.Errorf("agent status = %s, want %s", sum.Status, StatusPendingUpdates)
	}
	if sum.Installed != 1 || sum.Pending != 1 || sum.Missing != 1 || sum.Discarded != 3 || sum.Superseded != 1 {
		t.Errorf("counts: %s", sum.Line())
	}
	if !strings.Contains(byKB(sum.Updates)["KB5000006"].Rule, "install_delay: 7d") {
		t.Errorf("delayed rule = %q", byKB(sum.Updates)["KB5000006"].Rule)
	}

	// The report is full and says the same.
	rep := h.srv.lastReport(t)
	if !rep.Full || len(rep.Updates) != 7 || rep.WUAStatus != StatusPendingUpdates || rep.CabSHA1 == "" {
		t.Errorf("report: full=%v updates=%d status=%s cab=%q", rep.Full, len(rep.Updates), rep.WUAStatus, rep.CabSHA1)
	}
	for kb, w := range wantStatuses {
		if g := reportByKB(rep)[kb]; g.Status != w.status || g.Reason != w.reason {
			t.Errorf("reported %s: %s/%s, want %s/%s", kb, g.Status, g.Reason, w.status, w.reason)
		}
	}

	// What is not allowed is hidden in WUA; allowed updates stay visible.
	for n, hidden := range map[int]bool{2: true, 3: true, 6: true, 4: false, 5: false, 7: false} {
		k := wu.UpdateKey{UpdateID: guid(n), RevisionNumber: 200 + n}
		if h.wua.hidden[k] != hidden {
			t.Errorf("update %d hidden = %v, want %v", n, h.wua.hidden[k], hidden)
		}
	}
	if h.wua.lastOpts.Criteria != wua.DefaultFilter || !h.wua.lastOpts.IncludeSuperseded || h.wua.lastOpts.Locale != 1033 {
		t.Errorf("scan options = %+v", h.wua.lastOpts)
	}
}

func TestOnlyChangesAreReported(t *testing.T) {
	h := newFleet(t)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.reportCount(); n != 1 {
		t.Fatalf("reports after first cycle = %d, want 1", n)
	}
	// Nothing changed: nothing is sent.
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.reportCount(); n != 1 {
		t.Fatalf("reports after an unchanged cycle = %d, want 1", n)
	}
	// The server fetched KB5000005: MISSING → PENDING, and only that is reported.
	h.srv.publish("5000005")
	sum, err := h.agent.Scan(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	checkStatuses(t, sum.Updates, map[string]want{"KB5000005": {wu.StatusPending, ""}})
	rep := h.srv.lastReport(t)
	if rep.Full || len(rep.Updates) != 1 || rep.Updates[0].KBs[0] != "KB5000005" || rep.Updates[0].Status != wu.StatusPending {
		t.Errorf("partial report = full %v, %+v", rep.Full, rep.Updates)
	}
	// A new process keeps the acknowledgements: still nothing to send.
	h.rebuild()
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.reportCount(); n != 2 {
		t.Errorf("reports = %d, want 2", n)
	}
	// The full report comes back after FullReportInterval.
	h.clock.Advance(25 * time.Hour)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if rep := h.srv.lastReport(t); !rep.Full || len(rep.Updates) != 7 {
		t.Errorf("periodic report full=%v updates=%d, want a full report of 7", rep.Full, len(rep.Updates))
	}
}

func TestFullReportAfterReregistration(t *testing.T) {
	h := newFleet(t)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Register again: a new credential for the same host.
	repo, _ := h.cfg.WUARepoURL()
	client := NewClient(h.srv.srv.Client(), h.srv.URL(), repo, nil, "")
	cred, err := Register(ctx, client, h.srv.URL(), "enroll-secret", apiRegister(testUUID))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(h.cfg, h.wua, NewClient(h.srv.srv.Client(), h.srv.URL(), repo, cred, ""), h.agent.DataDir(), WithClock(h.clock), WithDiskSpace(h.disk), WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if rep := h.srv.lastReport(t); h.srv.reportCount() != 2 || !rep.Full {
		t.Errorf("after re-registration: %d reports, last full=%v; want a second, full report", h.srv.reportCount(), rep.Full)
	}
}

func TestRescanOnlyOnChange(t *testing.T) {
	h := newFleet(t)
	steps := []struct {
		desc      string
		change    func()
		wantScans int
	}{
		{"first cycle scans", func() {}, 1},
		{"nothing changed", func() {}, 1},
		{"a new process, nothing changed", func() { h.rebuild() }, 1},
		{"time passes", func() { h.clock.Advance(48 * time.Hour) }, 1},
		{"rules changed on the server", func() { h.srv.setRules(`{"allowed_kbs": ["KB5000003"]}`) }, 2},
		{"cab changed", func() { h.srv.setCab([]byte("MSCF fake catalog v2"), time.Date(2024, 2, 13, 18, 0, 0, 0, time.UTC)) }, 3},
		{"cab touched, same content", func() { h.srv.setCab([]byte("MSCF fake catalog v2"), time.Date(2024, 2, 14, 18, 0, 0, 0, time.UTC)) }, 3},
	}
	for _, s := range steps {
		s.change()
		if _, err := h.agent.Scan(ctx, false); err != nil {
			t.Fatalf("%s: %v", s.desc, err)
		}
		if got := h.wua.scanCount(); got != s.wantScans {
			t.Fatalf("%s: %d scans, want %d", s.desc, got, s.wantScans)
		}
	}
	// Install history changed: the next cycle scans.
	h.srv.setRules(fleetRules)
	if _, err := h.agent.Install(ctx); err != nil {
		t.Fatal(err)
	}
	before := h.wua.scanCount()
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := h.wua.scanCount(); got != before+1 {
		t.Errorf("after an install: %d scans, want %d", got, before+1)
	}
	// Forced.
	if _, err := h.agent.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := h.wua.scanCount(); got != before+2 {
		t.Errorf("forced: %d scans, want %d", got, before+2)
	}
	// The cab was asked conditionally: unchanged cycles got 304.
	if h.srv.countRequests("GET /waptwua/wsusscn2.cab.sha1") != 2 {
		t.Errorf("the .sha1 was fetched %d times, want 2 (once per new cab)", h.srv.countRequests("GET /waptwua/wsusscn2.cab.sha1"))
	}
}

func TestCabSHA1MismatchKeepsOldCab(t *testing.T) {
	h := newFleet(t)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(h.agent.DataDir(), CabFileName)
	old, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	// The server publishes a cab whose .sha1 does not match.
	h.srv.setCab([]byte("MSCF damaged catalog"), time.Date(2024, 2, 13, 18, 0, 0, 0, time.UTC))
	h.srv.mu.Lock()
	h.srv.cabSHA1 = strings.Repeat("ab", 20)
	h.srv.mu.Unlock()
	sum, err := h.agent.Scan(ctx, false)
	if !errors.Is(err, ErrCabMismatch) {
		t.Fatalf("Scan() error = %v, want ErrCabMismatch", err)
	}
	if sum.Status != StatusErrorDownloadingScan || !strings.Contains(sum.LastError, "kept the previous catalog") {
		t.Errorf("status %q, last error %q", sum.Status, sum.LastError)
	}
	now, _ := os.ReadFile(local)
	if string(now) != string(old) {
		t.Errorf("local cab replaced by %q", now)
	}
	if _, err := os.Stat(local + ".part"); !os.IsNotExist(err) {
		t.Errorf("the refused download is still there: %v", err)
	}
	if h.wua.scanCount() != 1 {
		t.Errorf("scans = %d, want 1 (the old cab did not change)", h.wua.scanCount())
	}
	// The statuses still come from the old catalog's scan, and the server is told.
	checkStatuses(t, sum.Updates, map[string]want{"KB5000004": {wu.StatusPending, ""}})
	if rep := h.srv.lastReport(t); rep.WUAStatus != StatusErrorDownloadingScan || rep.LastError == "" {
		t.Errorf("report status %q error %q", rep.WUAStatus, rep.LastError)
	}
	// Fixed on the server: the new cab is taken and scanned.
	h.srv.mu.Lock()
	h.srv.cabSHA1 = ""
	h.srv.mu.Unlock()
	sum, err = h.agent.Scan(ctx, false)
	if err != nil || sum.Status != StatusPendingUpdates || h.wua.scanCount() != 2 {
		t.Errorf("after the fix: status %s, scans %d, err %v", sum.Status, h.wua.scanCount(), err)
	}
}

func TestNoCabYet(t *testing.T) {
	h := newFleet(t)
	h.srv.mu.Lock()
	h.srv.down = true
	h.srv.mu.Unlock()
	sum, err := h.agent.Scan(ctx, false)
	if err == nil || sum.Status != StatusErrorDownloadingScan || h.wua.scanCount() != 0 {
		t.Errorf("status %s, scans %d, err %v", sum.Status, h.wua.scanCount(), err)
	}
}

func TestDiskSpaceRefusal(t *testing.T) {
	h := newFleet(t)
	h.disk.free = 900 << 20
	sum, err := h.agent.Download(ctx, false)
	if !errors.Is(err, ErrDiskSpace) {
		t.Fatalf("Download() error = %v, want ErrDiskSpace", err)
	}
	if sum.Status != StatusDiskSpaceError || !strings.Contains(sum.LastError, "900.0 MiB free") {
		t.Errorf("status %q, last error %q", sum.Status, sum.LastError)
	}
	if n := h.srv.countRequests("GET /waptwua/windows"); n != 0 {
		t.Errorf("%d update files downloaded despite the refusal", n)
	}
	if rep := h.srv.lastReport(t); rep.WUAStatus != StatusDiskSpaceError {
		t.Errorf("reported status %q", rep.WUAStatus)
	}
	// Install is refused the same way, and nothing reaches WUA.
	if _, err := h.agent.Install(ctx); !errors.Is(err, ErrDiskSpace) {
		t.Errorf("Install() error = %v, want ErrDiskSpace", err)
	}
	if len(h.wua.installs) != 0 {
		t.Errorf("installs = %v", h.wua.installs)
	}
	// Room again: the download goes through.
	h.disk.free = 2 << 30
	h.srv.publish("5000005")
	sum, err = h.agent.Download(ctx, false)
	if err != nil || sum.Status != StatusReady {
		t.Errorf("status %s, err %v", sum.Status, err)
	}
}

func TestDownloadResumesAndVerifies(t *testing.T) {
	h := newFleet(t)
	name, content := payload("5000004")
	cache := filepath.Join(h.agent.DataDir(), CacheDirName)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, name+".part"), content[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := h.agent.Download(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(cache, name))
	if err != nil || string(got) != string(content) {
		t.Fatalf("downloaded file differs (err %v)", err)
	}
	if h.srv.countRequests("GET /waptwua/"+name+" bytes=1000-") != 1 {
		t.Errorf("no resumed request: %q", h.srv.requests)
	}
	if !byKB(sum.Updates)["KB5000004"].Local || sum.Status != StatusPendingUpdates { // KB5000005 is MISSING
		t.Errorf("status %s, KB5000004 local=%v", sum.Status, byKB(sum.Updates)["KB5000004"].Local)
	}

	// A damaged file on the repository is refused and not kept.
	h2 := newFleet(t)
	h2.srv.mu.Lock()
	h2.srv.files[name] = []byte("tampered")
	h2.srv.mu.Unlock()
	_, err = h2.agent.Download(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "SHA-1") {
		t.Fatalf("Download() error = %v, want a SHA-1 mismatch", err)
	}
	if _, err := os.Stat(filepath.Join(h2.agent.DataDir(), CacheDirName, name)); !os.IsNotExist(err) {
		t.Errorf("tampered file kept: %v", err)
	}
}

type fakeDirect struct {
	calls []string
}

func (d *fakeDirect) Download(_ context.Context, url, name, sha string, dir string) (string, error) {
	d.calls = append(d.calls, url)
	kb := strings.TrimPrefix(strings.SplitN(name, "-", 3)[1], "kb")
	_, content := payload(kb)
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, content, 0o600)
}

func TestDirectDownload(t *testing.T) {
	t.Run("direct_download takes everything from Microsoft", func(t *testing.T) {
		now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
		h := newHarness(t, "enabled = True\ndirect_download = True\nallowed_kbs = KB5000004, KB5000005", fleetUpdates(now)...)
		d := &fakeDirect{}
		h.rebuild(WithDirectDownloader(d))
		sum, err := h.agent.Download(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		// Not on the server, but downloadable: PENDING, not MISSING.
		checkStatuses(t, sum.Updates, map[string]want{"KB5000004": {wu.StatusPending, ""}, "KB5000005": {wu.StatusPending, ""}})
		if len(d.calls) != 2 || !strings.HasPrefix(d.calls[0], "http://download.windowsupdate.com/") {
			t.Errorf("direct downloads = %q", d.calls)
		}
		if n := h.srv.countRequests("HEAD /waptwua/") + h.srv.countRequests("GET /waptwua/windows"); n != 0 {
			t.Errorf("%d repository requests for update files", n)
		}
	})
	t.Run("allow_direct_download only when the server is unreachable", func(t *testing.T) {
		now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
		h := newHarness(t, "enabled = True\nallow_direct_download = True\nallowed_kbs = KB5000004", fleetUpdates(now)...)
		d := &fakeDirect{}
		h.rebuild(WithDirectDownloader(d))
		h.srv.publish("5000004")
		if _, err := h.agent.Download(ctx, false); err != nil {
			t.Fatal(err)
		}
		if len(d.calls) != 0 {
			t.Errorf("direct downloads with the server up: %q", d.calls)
		}
		// Server gone: a new update is fetched from Microsoft.
		h.cfg.Rules.AllowedKBs = append(h.cfg.Rules.AllowedKBs, "KB5000005")
		h.srv.srv.Close()
		sum, _ := h.agent.Download(ctx, false)
		checkStatuses(t, sum.Updates, map[string]want{"KB5000005": {wu.StatusPending, ""}})
		if len(d.calls) != 1 {
			t.Errorf("direct downloads with the server down = %q", d.calls)
		}
	})
}

func TestInstallFailureThenRetry(t *testing.T) {
	h := newFleet(t)
	k4 := wu.UpdateKey{UpdateID: guid(4), RevisionNumber: 204}
	h.wua.failures[k4] = failure{code: wua.WUEAllUpdatesFailed, times: 1}
	sum, err := h.agent.Install(ctx)
	if err == nil {
		t.Fatal("Install() error = nil, want the failure")
	}
	u := byKB(sum.Updates)["KB5000004"]
	if u.Status != wu.StatusError || !strings.Contains(u.Error, "0x80240022") || !strings.Contains(u.Error, "WU_E_ALL_UPDATES_FAILED") {
		t.Errorf("KB5000004: %s %q", u.Status, u.Error)
	}
	if sum.Status != StatusError {
		t.Errorf("agent status %s", sum.Status)
	}
	if rep := reportByKB(h.srv.lastReport(t))["KB5000004"]; rep.Status != wu.StatusError || rep.Error == "" {
		t.Errorf("reported %+v", rep)
	}
	// The superseded update was never part of an install.
	for _, batch := range h.wua.installs {
		for _, k := range batch {
			if k.UpdateID == guid(7) {
				t.Errorf("superseded update installed: %v", batch)
			}
		}
	}
	// The next cycle (a new process) retries and succeeds.
	h.rebuild()
	h.wua.forget()
	sum, err = h.agent.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := byKB(sum.Updates)["KB5000004"]; u.Status != wu.StatusOK || u.Error != "" || u.InstalledAt.IsZero() {
		t.Errorf("after retry: %+v", u)
	}
	if len(h.wua.installs) != 2 {
		t.Errorf("install batches = %v", h.wua.installs)
	}
	if sum.Status != StatusPendingUpdates { // KB5000005 is still MISSING
		t.Errorf("agent status %s", sum.Status)
	}
	if rep := h.srv.lastReport(t); reportByKB(rep)["KB5000004"].Status != wu.StatusOK {
		t.Errorf("reported %+v", reportByKB(rep)["KB5000004"])
	}
}

func TestInstallRebootRequiredReported(t *testing.T) {
	h := newFleet(t)
	h.wua.rebootAfter[wu.UpdateKey{UpdateID: guid(4), RevisionNumber: 204}] = true
	sum, err := h.agent.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.RebootRequired || byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Errorf("summary: %s", sum.Line())
	}
	if rep := h.srv.lastReport(t); !rep.RebootPending {
		t.Error("reboot not reported")
	}
	// Until the restart, installs are postponed, never forced.
	h.srv.publish("5000005")
	sum, err = h.agent.Install(ctx)
	if !errors.Is(err, wua.ErrRebootPending) || len(h.wua.installs) != 1 {
		t.Errorf("install with a restart pending: err %v, batches %v", err, h.wua.installs)
	}
	if !strings.Contains(sum.LastError, "restart") {
		t.Errorf("last error %q", sum.LastError)
	}
}

func TestInstallBatchesAndCopiesToCache(t *testing.T) {
	h := newFleet(t)
	h.srv.publish("5000005")
	sum, err := h.agent.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.wua.installs) != 1 || len(h.wua.installs[0]) != 2 {
		t.Fatalf("install batches = %v, want one batch of 2", h.wua.installs)
	}
	if sum.Status != StatusOK || sum.Installed != 3 {
		t.Errorf("summary: %s", sum.Line())
	}
	k4 := wu.UpdateKey{UpdateID: guid(4), RevisionNumber: 204}
	name, _ := payload("5000004")
	if diff := cmp.Diff([]string{filepath.Join(h.agent.DataDir(), CacheDirName, name)}, h.wua.cached[k4]); diff != "" {
		t.Errorf("CopyToCache files (-want +got):\n%s", diff)
	}
	// Statuses before the install were reported as INSTALL.
	found := false
	for _, r := range h.srv.reports {
		found = found || r.WUAStatus == StatusInstall
	}
	if !found {
		t.Error("no report with status INSTALL")
	}
}

func TestInstallDelayReleasedByClock(t *testing.T) {
	h := newFleet(t)
	sum, err := h.agent.Scan(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	checkStatuses(t, sum.Updates, map[string]want{"KB5000006": {wu.StatusDiscarded, wu.ReasonDelayed}})
	h.clock.Advance(5 * 24 * time.Hour) // deployed 6 days ago
	sum, _ = h.agent.Scan(ctx, false)
	checkStatuses(t, sum.Updates, map[string]want{"KB5000006": {wu.StatusDiscarded, wu.ReasonDelayed}})
	h.clock.Advance(24 * time.Hour) // 7 days: released
	sum, err = h.agent.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkStatuses(t, sum.Updates, map[string]want{"KB5000006": {wu.StatusOK, ""}})
	if h.wua.hidden[wu.UpdateKey{UpdateID: guid(6), RevisionNumber: 206}] {
		t.Error("released update still hidden")
	}
	if h.wua.scanCount() != 1 {
		t.Errorf("scans = %d, want 1: the passing of install_delay needs no rescan", h.wua.scanCount())
	}
}

func TestBusyWUAReportedAndRetried(t *testing.T) {
	h := newFleet(t)
	h.wua.busy = 1
	sum, err := h.agent.Scan(ctx, false)
	if !errors.Is(err, wua.ErrBusy) || !sum.Busy {
		t.Fatalf("Scan() error = %v busy=%v, want ErrBusy", err, sum.Busy)
	}
	if sum.Status != StatusErrorScanning || !strings.Contains(sum.LastError, "busy") {
		t.Errorf("status %q, last error %q", sum.Status, sum.LastError)
	}
	if rep := h.srv.lastReport(t); !strings.Contains(rep.LastError, "Microsoft Store") && !strings.Contains(rep.LastError, "busy") {
		t.Errorf("reported error %q", rep.LastError)
	}
	sum, err = h.agent.Scan(ctx, false)
	if err != nil || sum.Status != StatusPendingUpdates {
		t.Errorf("retry: status %s err %v", sum.Status, err)
	}
}

func TestEnabledFalseHidesNothing(t *testing.T) {
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, "enabled = False", fleetUpdates(now)...)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if len(h.wua.hidden) != 0 {
		t.Errorf("hidden = %v", h.wua.hidden)
	}
}

func TestInvalidServerRulesAllowNothing(t *testing.T) {
	h := newFleet(t)
	h.srv.setRules(`{"allowed_kbs": ["not a kb"]}`)
	sum, err := h.agent.Scan(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "allowed_kbs") {
		t.Errorf("error = %v, want one naming allowed_kbs", err)
	}
	for _, u := range sum.Updates {
		if needsInstall(u.Status) {
			t.Errorf("%v is %s with invalid rules", u.KBs, u.Status)
		}
	}
}

func TestNotRegisteredStillScans(t *testing.T) {
	h := newFleet(t)
	repo, _ := h.cfg.WUARepoURL()
	a, err := New(h.cfg, h.wua, NewClient(h.srv.srv.Client(), "", repo, nil, ""), h.agent.DataDir(), WithClock(h.clock), WithDiskSpace(h.disk), WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.Scan(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	// Only the ini rules apply (none): nothing allowed, and no report was sent.
	checkStatuses(t, sum.Updates, map[string]want{"KB5000004": {wu.StatusDiscarded, wu.ReasonNotAllowed}})
	if h.srv.reportCount() != 0 || sum.Reported {
		t.Errorf("%d reports", h.srv.reportCount())
	}
}

func TestStatusReadsStateOnly(t *testing.T) {
	h := newFleet(t)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	n := len(h.srv.requests)
	sum, err := h.agent.Status()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != StatusPendingUpdates || len(sum.Updates) != 7 || len(h.srv.requests) != n {
		t.Errorf("status %s, %d updates, %d new requests", sum.Status, len(sum.Updates), len(h.srv.requests)-n)
	}
	line := sum.Line()
	for _, w := range []string{"status PENDING_UPDATES", "1 installed", "1 pending", "1 missing", "3 discarded", "reboot required: no", "last install: never", "cab date: 2024-01-"} {
		if !strings.Contains(line, w) {
			t.Errorf("Line() = %q, missing %q", line, w)
		}
	}
}

func TestRejectedCredential(t *testing.T) {
	h := newFleet(t)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	h.srv.mu.Lock()
	delete(h.srv.creds, testCred)
	h.srv.mu.Unlock()
	h.srv.publish("5000005") // something to report
	_, err := h.agent.Scan(ctx, false)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "register") {
		t.Fatalf("error = %v, want ErrUnauthorized saying to register", err)
	}
	// The server knows the host again: everything is sent again, in full.
	h.srv.mu.Lock()
	h.srv.creds[testCred] = testUUID
	h.srv.mu.Unlock()
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if rep := h.srv.lastReport(t); !rep.Full || h.srv.reportCount() != 2 {
		t.Errorf("after the credential came back: full=%v, %d reports", rep.Full, h.srv.reportCount())
	}
}
