package windows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

const testCab = `C:\wapt\waptwua\wsusscn2.cab`

var (
	fkBundle = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 201}
	fkInner  = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344446666", RevisionNumber: 1}
	fkOther  = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344447777", RevisionNumber: 3}
	fkInner2 = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344448888", RevisionNumber: 2}
)

const innerURL = "http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/windows10.0-kb5034441-x64_0123456789abcdef0123456789abcdef01234567.cab"
const otherURL = "http://download.windowsupdate.com/c/msdownload/update/software/defu/2024/01/am_delta_fedcba9876543210fedcba9876543210fedcba98.exe"

// fakeHost is a host with a cumulative bundle (one bundled update with one file) and
// a definition update whose bundle also carries one file.
func fakeHost() *fakeWUA {
	return newFakeWUA(
		&fakeUpdate{key: fkBundle, title: "2024-01 Cumulative Update (KB5034441)", kbs: []string{"5034441"}, reboot: 1,
			bundled:    []*fakeUpdate{{key: fkInner, files: []string{innerURL}, resultCode: 2, eula: true}},
			resultCode: 2, rebootReq: true},
		&fakeUpdate{key: fkOther, title: "Security Intelligence Update (KB2267602)", kbs: []string{"2267602"}, eula: true,
			bundled:    []*fakeUpdate{{key: fkInner2, files: []string{otherURL}, resultCode: 2, eula: true}},
			resultCode: 4, hresult: int32(-2145124318)}, // 0x80240022
	)
}

func openFake(t *testing.T, w *fakeWUA) *Agent {
	t.Helper()
	a, err := newAgent(w, runDirect, nil, func() map[string]bool { return nil }, Options{})
	if err != nil {
		t.Fatalf("newAgent: %v", err)
	}
	return a
}

// TestFakeFullCycle runs scan, hide, copy to cache, install and the reboot check
// through the fake WUA, and checks what the fake saw: the documented calls, the search
// on the registered offline service, the files handed to the bundled update, the
// installed batch and that every reference was released.
func TestFakeFullCycle(t *testing.T) {
	ctx := context.Background()
	w := fakeHost()
	a := openFake(t, w)

	ups, err := a.Scan(ctx, wua.ScanOptions{CabPath: testCab, Locale: 1036, IncludeSuperseded: true})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(ups) != 2 || ups[0].Key != fkBundle || ups[1].Key != fkOther {
		t.Fatalf("Scan: %+v", ups)
	}
	if got := ups[0]; got.Title == "" || !slices.Equal(got.KBs, []string{"5034441"}) || got.RebootBehavior != wua.AlwaysRequiresReboot ||
		len(got.Bundled) != 1 || got.Bundled[0].Key != fkInner || got.Bundled[0].Downloads[0].URL != innerURL || got.MaxDownloadSize != 1<<20 {
		t.Errorf("update read: %+v", got)
	}
	if len(w.services) != 1 {
		t.Errorf("scan services registered: %v", w.services)
	}
	for _, p := range w.services {
		if p != testCab {
			t.Errorf("AddScanPackageService got %q, want %q", p, testCab)
		}
	}
	if len(w.criteria) != 1 || w.criteria[0] != "IsInstalled=0 and Type='Software' or IsInstalled=0 and Type='Driver'" && !strings.Contains(w.criteria[0], "Type='Software'") {
		t.Errorf("criteria: %q", w.criteria)
	}

	if err := a.SetHidden(ctx, []wu.UpdateKey{fkOther}, true); err != nil {
		t.Fatalf("SetHidden: %v", err)
	}
	if !w.updates[1].hidden {
		t.Error("IsHidden not set on the update")
	}
	if err := a.SetHidden(ctx, []wu.UpdateKey{fkOther}, false); err != nil || w.updates[1].hidden {
		t.Errorf("SetHidden(false): %v, hidden %t", err, w.updates[1].hidden)
	}

	local := `C:\wapt\waptwua\cache\windows10.0-kb5034441-x64_0123456789abcdef0123456789abcdef01234567.cab`
	if err := a.CopyToCache(ctx, fkBundle, []string{local}); err != nil {
		t.Fatalf("CopyToCache: %v", err)
	}
	if got := w.updates[0].bundled[0].cached; !slices.Equal(got, []string{local}) {
		t.Errorf("bundled update cached %q, want %q", got, local)
	}
	if err := a.CopyToCache(ctx, fkInner2, []string{`C:\x\am_delta_fedcba9876543210fedcba9876543210fedcba98.exe`}); err != nil {
		t.Fatalf("CopyToCache by bundled key: %v", err)
	}

	pending, err := a.RebootPending(ctx)
	if err != nil || pending {
		t.Fatalf("RebootPending before install: %t, %v", pending, err)
	}
	res, err := a.Install(ctx, []wu.UpdateKey{fkBundle, fkOther})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !w.updates[0].eula {
		t.Error("the license was not accepted before installing")
	}
	if len(w.installLog) != 1 || !slices.Equal(w.installLog[0], []wu.UpdateKey{fkBundle, fkOther}) {
		t.Errorf("installed batches: %v", w.installLog)
	}
	if res.ResultCode != wua.SucceededWithErrors || !res.RebootRequired || len(res.Updates) != 2 ||
		res.Updates[0].ResultCode != wua.Succeeded || res.Updates[1].ResultCode != wua.Failed || res.Updates[1].HResult != wua.WUEAllUpdatesFailed {
		t.Errorf("install result: %+v", res)
	}
	if pending, err := a.RebootPending(ctx); err != nil || !pending {
		t.Errorf("RebootPending after a reboot-requiring install: %t, %v", pending, err)
	}
	if _, err := a.Install(ctx, []wu.UpdateKey{fkOther}); !errors.Is(err, wua.ErrRebootPending) {
		t.Errorf("Install with a restart pending: %v, want ErrRebootPending", err)
	}

	// A second scan replaces the first scan's service registration.
	if _, err := a.Scan(ctx, wua.ScanOptions{CabPath: testCab}); err != nil {
		t.Fatalf("second Scan: %v", err)
	}
	if len(w.services) != 1 {
		t.Errorf("after the second scan, services %v, want only the new one", w.services)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(w.services) != 0 {
		t.Errorf("Close left the scan service registered: %v", w.services)
	}
	if w.live != 0 {
		t.Errorf("%d COM references not released", w.live)
	}
	if _, err := a.Scan(ctx, wua.ScanOptions{CabPath: testCab}); !errors.Is(err, wua.ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}

	// Every member the backend reaches was exercised here (so the error-path test below
	// covers them all).
	want := backendMembers()
	var missing []string
	for _, m := range want {
		if w.calls[m] == 0 {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("members never called by the full cycle: %v", missing)
	}
	for _, m := range w.usedMembers() {
		if !slices.Contains(want, m) {
			t.Errorf("the backend called %s, missing from backendMembers", m)
		}
	}
}

// backendMembers is every creation and member call of the backend.
func backendMembers() []string {
	return []string{
		"create Microsoft.Update.Session", "create Microsoft.Update.ServiceManager", "create Microsoft.Update.StringColl",
		"create Microsoft.Update.UpdateColl", "create Microsoft.Update.SystemInfo",
		"IUpdateSession.ClientApplicationID", "IUpdateSession.UserLocale", "IUpdateSession.CreateUpdateSearcher", "IUpdateSession.CreateUpdateInstaller",
		"IUpdateServiceManager.AddScanPackageService", "IUpdateServiceManager.RemoveService", "IUpdateService.ServiceID",
		"IUpdateSearcher.ServerSelection", "IUpdateSearcher.ServiceID", "IUpdateSearcher.IncludePotentiallySupersededUpdates",
		"IUpdateSearcher.Online", "IUpdateSearcher.Search",
		"ISearchResult.ResultCode", "ISearchResult.Updates", "IUpdateCollection.Count", "IUpdateCollection.Item", "IUpdateCollection.Add",
		"IUpdate.Identity", "IUpdateIdentity.UpdateID", "IUpdateIdentity.RevisionNumber",
		"IUpdate.Title", "IUpdate.IsInstalled", "IUpdate.IsHidden", "IUpdate.IsDownloaded", "IUpdate.LastDeploymentChangeTime",
		"IUpdate.MaxDownloadSize", "IUpdate.SupersededUpdateIDs", "IUpdate.KBArticleIDs", "IUpdate.MsrcSeverity", "IUpdate.Categories",
		"IUpdate.InstallationBehavior", "IUpdate.DownloadContents", "IUpdate.BundledUpdates", "IUpdate.EulaAccepted", "IUpdate.AcceptEula",
		"IUpdate.CopyToCache",
		"IStringCollection.Count", "IStringCollection.Item", "IStringCollection.Add",
		"ICategoryCollection.Count", "ICategoryCollection.Item", "ICategory.CategoryID", "ICategory.Type", "ICategory.Name",
		"IInstallationBehavior.RebootBehavior", "IUpdateDownloadContentCollection.Count", "IUpdateDownloadContentCollection.Item",
		"IUpdateDownloadContent.DownloadUrl",
		"IUpdateInstaller.ClientApplicationID", "IUpdateInstaller.AllowSourcePrompts", "IUpdateInstaller.ForceQuiet",
		"IUpdateInstaller.Updates", "IUpdateInstaller.IsBusy", "IUpdateInstaller.RebootRequiredBeforeInstallation", "IUpdateInstaller.Install",
		"IInstallationResult.ResultCode", "IInstallationResult.HResult", "IInstallationResult.RebootRequired", "IInstallationResult.GetUpdateResult",
		"IUpdateInstallationResult.ResultCode", "IUpdateInstallationResult.HResult", "IUpdateInstallationResult.RebootRequired",
		"ISystemInformation.RebootRequired",
	}
}

// fullCycle runs what the agent does, stopping at the first error.
func fullCycle(a *Agent) error {
	ctx := context.Background()
	if _, err := a.Scan(ctx, wua.ScanOptions{CabPath: testCab, Locale: 1036}); err != nil {
		return err
	}
	if err := a.SetHidden(ctx, []wu.UpdateKey{fkOther}, true); err != nil {
		return err
	}
	if err := a.CopyToCache(ctx, fkBundle, []string{`C:\c\windows10.0-kb5034441-x64_0123456789abcdef0123456789abcdef01234567.cab`}); err != nil {
		return err
	}
	if _, err := a.RebootPending(ctx); err != nil {
		return err
	}
	if _, err := a.Install(ctx, []wu.UpdateKey{fkBundle}); err != nil {
		return err
	}
	return a.Close()
}

// TestFakeErrorPaths makes each member the backend calls fail in turn, with an HRESULT
// reported directly and through DISP_E_EXCEPTION, and checks that the error names the
// COM call and the code in words, on one line, and that nothing is left referenced.
func TestFakeErrorPaths(t *testing.T) {
	// Failures the backend tolerates by design.
	tolerated := map[string]bool{
		"IUpdateInstaller.ForceQuiet":                       true, // IUpdateInstaller2: older agents lack it
		"IUpdateInstaller.IsBusy":                           true, // then Install itself reports the conflict
		"IUpdateInstaller.RebootRequiredBeforeInstallation": true,
		"IInstallationResult.GetUpdateResult":               true, // the rest stay NotStarted
		"IUpdateServiceManager.RemoveService":               true, // reported by Close only
	}
	const code = 0x8024001E // WU_E_SERVICE_STOP
	for _, m := range backendMembers() {
		for _, exception := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/exception=%t", m, exception), func(t *testing.T) {
				w := fakeHost()
				w.fail[m] = code
				w.exception = exception && !strings.HasPrefix(m, "create ")
				a, err := newAgent(w, runDirect, nil, nil, Options{})
				if err == nil {
					err = fullCycle(a)
					if err == nil && tolerated[m] {
						return
					}
					a.Close()
				}
				if err == nil {
					t.Fatalf("a failing %s went unnoticed", m)
				}
				msg := err.Error()
				name := strings.TrimPrefix(m, "create ")
				if !strings.Contains(msg, name) || !strings.Contains(msg, "0x8024001E WU_E_SERVICE_STOP") {
					t.Errorf("error %q does not name %s and its HRESULT", msg, name)
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error on several lines: %q", msg)
				}
				if !errors.Is(err, wua.ErrServiceUnavailable) {
					t.Errorf("error %q: errors.Is(ErrServiceUnavailable) false", msg)
				}
				if w.live != 0 {
					t.Errorf("%d COM references not released after the failure", w.live)
				}
			})
		}
	}
}

// TestFakeRefusesMisspeltMembers proves that the fake checks names, kinds and argument
// types as IDispatch does: a misspelt member, a read-only property written, a wrong
// argument type or count fail, with the call named.
func TestFakeRefusesMisspeltMembers(t *testing.T) {
	w := fakeHost()
	sm, err := w.Create(progServiceManager)
	if err != nil {
		t.Fatal(err)
	}
	o := obj{d: sm, iface: "IUpdateServiceManager"}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"misspelt method", func() error { _, err := o.call("AddScanPackageSevice", "x", testCab, int32(1)); return err },
			"IUpdateServiceManager.AddScanPackageSevice: 0x80020006 DISP_E_UNKNOWNNAME"},
		{"wrong argument type", func() error { _, err := o.call("AddScanPackageService", "x", testCab, 1); return err },
			"IUpdateServiceManager.AddScanPackageService: 0x80020005"},
		{"missing argument", func() error { _, err := o.call("AddScanPackageService", "x", testCab); return err },
			"IUpdateServiceManager.AddScanPackageService: 0x8002000E"},
		{"method read as a property", func() error { _, err := o.get("RemoveService", "x"); return err },
			"IUpdateServiceManager.RemoveService: 0x80020003"},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}

	// Through the backend's own path: an update whose property name is misspelt.
	a := openFake(t, w)
	defer a.Close()
	if _, err := a.Scan(context.Background(), wua.ScanOptions{CabPath: testCab}); err != nil {
		t.Fatal(err)
	}
	u := a.updates[fkBundle]
	if err := u.put("IsHiden", true); err == nil || !strings.Contains(err.Error(), "set IUpdate.IsHiden: 0x80020006 DISP_E_UNKNOWNNAME") {
		t.Errorf("put IsHiden: %v", err)
	}
	if err := u.put("IsInstalled", true); err == nil || !strings.Contains(err.Error(), "set IUpdate.IsInstalled: 0x80020003") {
		t.Errorf("put read-only IsInstalled: %v", err)
	}
	if err := u.put("IsHidden", "yes"); err == nil || !strings.Contains(err.Error(), "0x80020005") {
		t.Errorf("put IsHidden with a string: %v", err)
	}
	if _, err := w.Create("Microsoft.Update.Sesion"); err == nil {
		t.Error("a misspelt ProgID was created")
	}
}

// TestFakeTableAgreesWithBackend checks the interface names the backend gives to the
// objects it receives against the documented table, so that error messages name real
// COM calls.
func TestFakeTableAgreesWithBackend(t *testing.T) {
	for call, iface := range returnsIface {
		i := strings.IndexByte(call, '.')
		m, ok := docMembers[call[:i]][call[i+1:]]
		if !ok {
			t.Errorf("returnsIface: %s is not a documented member", call)
			continue
		}
		if m.ret != iface {
			t.Errorf("returnsIface[%s] = %s, documented %s", call, iface, m.ret)
		}
	}
	for prog, iface := range progIfaces {
		if docProgIDs[prog] != iface {
			t.Errorf("progIfaces[%s] = %s, documented %s", prog, iface, docProgIDs[prog])
		}
	}
}

// TestNewUnderWine: Wine's wuapi creates the session but implements no name lookup.
// The error is one line naming the COM call and the HRESULT, with the right hint, and
// no doubled prefix.
func TestNewUnderWine(t *testing.T) {
	w := fakeHost()
	w.notImplemented = []string{"IUpdateSession.ClientApplicationID"}
	_, err := newAgent(w, runDirect, nil, nil, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	want := "set IUpdateSession.ClientApplicationID: 0x80004001 E_NOTIMPL: Not implemented. (this Windows Update Agent lacks the call (e.g. Wine's): run on Windows, or use the simulated host with --wua sim)"
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
	if w.live != 0 {
		t.Errorf("%d references left", w.live)
	}
}

// TestFakeInstallRefusals: busy installer, restart needed before installing, restart
// markers in the registry, unknown keys, nothing to install.
func TestFakeInstallRefusals(t *testing.T) {
	ctx := context.Background()
	scan := func(w *fakeWUA, markers map[string]bool) *Agent {
		a, err := newAgent(w, runDirect, nil, func() map[string]bool { return markers }, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Scan(ctx, wua.ScanOptions{CabPath: testCab}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	w := fakeHost()
	w.busy = true
	a := scan(w, nil)
	if _, err := a.Install(ctx, []wu.UpdateKey{fkBundle}); !errors.Is(err, wua.ErrBusy) {
		t.Errorf("busy: %v", err)
	}
	a.Close()

	w = fakeHost()
	w.rebootBefore = true
	a = scan(w, nil)
	if _, err := a.Install(ctx, []wu.UpdateKey{fkBundle}); !errors.Is(err, wua.ErrRebootPending) {
		t.Errorf("reboot before installation: %v", err)
	}
	a.Close()

	w = fakeHost()
	a = scan(w, map[string]bool{rebootMarkers()[1]: true})
	if p, err := a.RebootPending(ctx); err != nil || !p {
		t.Errorf("registry marker: pending %t, %v", p, err)
	}
	if _, err := a.Install(ctx, []wu.UpdateKey{fkBundle}); !errors.Is(err, wua.ErrRebootPending) {
		t.Errorf("registry marker: %v", err)
	}
	a.Close()

	w = fakeHost()
	a = scan(w, nil)
	if _, err := a.Install(ctx, []wu.UpdateKey{{UpdateID: "0a1b2c3d-0000-1111-2222-999999999999", RevisionNumber: 1}}); !errors.Is(err, wua.ErrUnknownUpdate) {
		t.Errorf("unknown key: %v", err)
	}
	if err := a.CopyToCache(ctx, wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-999999999999", RevisionNumber: 1}, []string{`C:\x.cab`}); !errors.Is(err, wua.ErrUnknownUpdate) {
		t.Errorf("copy to cache of an unknown key: %v", err)
	}
	if err := a.SetHidden(ctx, []wu.UpdateKey{{UpdateID: "0a1b2c3d-0000-1111-2222-999999999999", RevisionNumber: 1}, fkOther}, true); !errors.Is(err, wua.ErrUnknownUpdate) || !w.updates[1].hidden {
		t.Errorf("hide with one unknown key: %v (the known one hidden: %t)", err, w.updates[1].hidden)
	}
	var we *wua.Error
	if _, err := a.Install(ctx, nil); !errors.As(err, &we) || we.Code != wua.WUENoUpdate {
		t.Errorf("empty install: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Scan(cctx, wua.ScanOptions{CabPath: testCab}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
	if err := a.Close(); err != nil || w.live != 0 {
		t.Errorf("Close: %v, %d references left", err, w.live)
	}
}
