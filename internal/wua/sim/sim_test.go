package sim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

var testNow = time.Date(2024, 2, 13, 22, 0, 0, 0, time.UTC)

const (
	win10   = "a3c2375d-0c8a-42f9-bce0-28333e198407"
	office  = "25aed893-7c2d-4a31-ae22-28ff8ac150ed"
	secu    = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
	idCU1   = "11111111-0000-4000-8000-000000000001"
	idCU2   = "11111111-0000-4000-8000-000000000002"
	idNet   = "11111111-0000-4000-8000-000000000003"
	idOff   = "11111111-0000-4000-8000-000000000004"
	idOther = "11111111-0000-4000-8000-000000000005"
)

// fixture is a small catalog whose update files exist in dir.
type fixture struct {
	dir     string
	updates []wu.Update
	files   map[string]string // update id → local path of its file
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), files: map[string]string{}}
	add := func(id string, kb string, product, productID string, created time.Time, supersedes ...string) {
		content := []byte("payload of KB" + kb)
		sum := sha1.Sum(content)
		digest := hex.EncodeToString(sum[:])
		name := "windows10.0-kb" + kb + "-x64_" + digest + ".msu"
		path := filepath.Join(f.dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		f.files[id] = path
		f.updates = append(f.updates, wu.Update{
			UpdateID: id, RevisionNumber: 200, Created: created, Title: "Update KB" + kb,
			KBs: []string{kb}, Severity: wu.SeverityImportant,
			Classification: "Security Updates", ClassificationID: secu,
			Products: []string{product}, ProductIDs: []string{productID},
			Supersedes: supersedes,
			Files: []wu.File{{Name: "windows10.0-kb" + kb + "-x64.msu", Size: int64(len(content)), SHA1: digest,
				URL: "http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/" + name}},
		})
	}
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	add(idCU1, "5033372", "Windows 10", win10, day(2))
	add(idCU2, "5034441", "Windows 10", win10, day(9), idCU1)
	add(idNet, "5034466", "Windows 10", win10, day(9))
	add(idOff, "5002537", "Office 2016", office, day(9))
	add(idOther, "5034439", "Windows Server 2022", "fdfe8200-9d98-44ba-a12a-772282bf60ef", day(9))
	for i := range f.updates { // the catalog links both ways
		for _, old := range f.updates[i].Supersedes {
			for j := range f.updates {
				if f.updates[j].UpdateID == old {
					f.updates[j].SupersededBy = append(f.updates[j].SupersededBy, f.updates[i].UpdateID)
				}
			}
		}
	}
	return f
}

func key(id string) wu.UpdateKey { return wu.UpdateKey{UpdateID: id, RevisionNumber: 200} }

func (f *fixture) host(t *testing.T, p Profile) *Host {
	t.Helper()
	h, err := New(f.updates, p, filepath.Join(f.dir, "host.state.json"), WithClock(fixedClock{testNow}),
		WithCategories([]wu.Category{
			{ID: win10, Type: wu.CategoryProduct, Name: "Windows 10", ParentID: "6964aab4-c5b5-43bd-a17d-ffb4346a8e1d"},
			{ID: "6964aab4-c5b5-43bd-a17d-ffb4346a8e1d", Type: wu.CategoryProductFamily, Name: "Windows"},
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func scanKeys(t *testing.T, h *Host, opts wua.ScanOptions) []string {
	t.Helper()
	us, err := h.Scan(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range us {
		out = append(out, u.KBs[0])
	}
	sort.Strings(out)
	return out
}

func TestScanApplicabilityAndSupersedence(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		desc     string
		products []string
		opts     wua.ScanOptions
		want     []string
	}{
		{"by product name, superseded hidden", []string{"windows 10"}, wua.ScanOptions{}, []string{"5034441", "5034466"}},
		{"superseded included on demand", []string{"Windows 10"}, wua.ScanOptions{IncludeSuperseded: true}, []string{"5033372", "5034441", "5034466"}},
		{"by product GUID", []string{office}, wua.ScanOptions{}, []string{"5002537"}},
		{"two products", []string{"Windows 10", "Office 2016"}, wua.ScanOptions{}, []string{"5002537", "5034441", "5034466"}},
		{"criteria: category", []string{"Windows 10", "Office 2016"}, wua.ScanOptions{Criteria: "CategoryIDs contains '" + office + "'"}, []string{"5002537"}},
		{"criteria: family", []string{"Windows 10", "Office 2016"}, wua.ScanOptions{Criteria: "CategoryIDs contains '6964aab4-c5b5-43bd-a17d-ffb4346a8e1d'"}, []string{"5034441", "5034466"}},
		{"criteria: drivers only", []string{"Windows 10"}, wua.ScanOptions{Criteria: "Type='Driver'"}, nil},
		{"criteria: update id", []string{"Windows 10"}, wua.ScanOptions{Criteria: "UpdateID='" + strings.ToUpper(idNet) + "' and RevisionNumber=200"}, []string{"5034466"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			os.Remove(filepath.Join(f.dir, "host.state.json"))
			h := f.host(t, Profile{Products: tt.products})
			if diff := cmp.Diff(tt.want, scanKeys(t, h, tt.opts)); diff != "" {
				t.Errorf("scan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanReportsUpdateAsWUADoes(t *testing.T) {
	f := newFixture(t)
	h := f.host(t, Profile{Products: []string{"Windows 10"}, RebootRequiredAfterInstall: RebootSpec{Match: []string{"KB5034441"}}})
	us, err := h.Scan(context.Background(), wua.ScanOptions{Criteria: "UpdateID='" + idCU2 + "'"})
	if err != nil || len(us) != 1 {
		t.Fatalf("scan = %v, %v", us, err)
	}
	src := f.updates[1]
	want := wua.Update{
		Key: key(idCU2), Title: "Update KB5034441", KBs: []string{"5034441"}, Severity: wu.SeverityImportant,
		Categories: []wua.Category{
			{ID: win10, Type: wu.CategoryProduct, Name: "Windows 10"},
			{ID: "6964aab4-c5b5-43bd-a17d-ffb4346a8e1d", Type: wu.CategoryProductFamily, Name: "Windows"},
			{ID: secu, Type: wu.CategoryClassification, Name: "Security Updates"},
		},
		LastDeploymentChange: time.Date(2024, 1, 9, 0, 0, 0, 0, time.UTC),
		SupersededIDs:        []string{idCU1},
		MaxDownloadSize:      src.Files[0].Size,
		RebootBehavior:       wua.CanRequestReboot,
		Bundled: []wua.BundledUpdate{{Key: key(idCU2), Downloads: []wua.Download{{
			URL: src.Files[0].URL, FileName: filepath.Base(f.files[idCU2]),
		}}}},
	}
	if diff := cmp.Diff(want, us[0]); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}
}

func TestInstallLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := Profile{
		Products:                   []string{"Windows 10"},
		Failures:                   []Failure{{KB: "5034466", HResult: "0x80240022"}},
		RebootRequiredAfterInstall: RebootSpec{Match: []string{"KB5034441"}},
	}
	h := f.host(t, p)
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatal(err)
	}

	// Not downloaded yet: the install fails for that update, in words.
	res, err := h.Install(ctx, []wu.UpdateKey{key(idCU2)})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResultCode != wua.Failed || !strings.Contains(res.Err().Error(), "WU_E_DM_NOTDOWNLOADED") {
		t.Fatalf("install before CopyToCache = %+v, %v", res, res.Err())
	}

	for _, id := range []string{idCU2, idNet} {
		if err := h.CopyToCache(ctx, key(id), []string{f.files[id]}); err != nil {
			t.Fatal(err)
		}
	}
	res, err = h.Install(ctx, []wu.UpdateKey{key(idCU2), key(idNet)})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResultCode != wua.SucceededWithErrors || !res.RebootRequired {
		t.Errorf("batch = %s reboot %t, want SucceededWithErrors reboot true", res.ResultCode, res.RebootRequired)
	}
	if r := res.Updates[0]; r.ResultCode != wua.Succeeded || !r.RebootRequired {
		t.Errorf("KB5034441 = %+v", r)
	}
	r := res.Updates[1]
	wantErr := "install " + key(idNet).String() + ": Failed: 0x80240022 WU_E_ALL_UPDATES_FAILED: Operation failed for all the updates."
	if r.ResultCode != wua.Failed || r.Err() == nil || r.Err().Error() != wantErr {
		t.Errorf("KB5034466 = %+v, error %v\nwant error %s", r, r.Err(), wantErr)
	}
	if pending, _ := h.RebootPending(ctx); !pending {
		t.Error("reboot not pending after an install that requires one")
	}
	if _, err := h.Install(ctx, []wu.UpdateKey{key(idNet)}); !errors.Is(err, wua.ErrRebootPending) {
		t.Errorf("install while a reboot is pending: %v, want ErrRebootPending", err)
	}
	h.Close()

	// A new run of the same host: the state file is the truth.
	h2 := f.host(t, p)
	if pending, _ := h2.RebootPending(ctx); !pending {
		t.Error("pending reboot forgotten across runs")
	}
	if err := h2.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	us, err := h2.Scan(ctx, wua.ScanOptions{IncludeSuperseded: true})
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, u := range us {
		state[u.KBs[0]] = map[bool]string{true: "installed", false: "missing"}[u.Installed]
		if u.KBs[0] == "5034466" && !u.Downloaded {
			t.Error("cached files forgotten across runs")
		}
	}
	want := map[string]string{"5033372": "missing", "5034441": "installed", "5034466": "missing"}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("after reload (-want +got):\n%s", diff)
	}
	notInstalled := scanKeys(t, h2, wua.ScanOptions{Criteria: "IsInstalled=0"})
	if diff := cmp.Diff([]string{"5034466"}, notInstalled); diff != "" {
		t.Errorf("IsInstalled=0 (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(filepath.Join(f.dir, "host.state.json"))
	if err != nil || !strings.Contains(string(data), testNow.Format(time.RFC3339)) || !strings.Contains(string(data), "WU_E_ALL_UPDATES_FAILED") {
		t.Errorf("state file lacks the install date or history: %s", data)
	}
}

func TestInjectedFailureTimes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := f.host(t, Profile{Products: []string{"Windows 10"},
		Failures: []Failure{{Update: idNet, HResult: "-2145124330", Times: 1}}}) // 0x80240016
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.CopyToCache(ctx, key(idNet), []string{f.files[idNet]}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Install(ctx, []wu.UpdateKey{key(idNet)})
	if err != nil || res.Updates[0].HResult != wua.WUEInstallNotAllowed || res.HResult != wua.WUEAllUpdatesFailed {
		t.Fatalf("first attempt = %+v, %v", res, err)
	}
	res, err = h.Install(ctx, []wu.UpdateKey{key(idNet)})
	if err != nil || res.ResultCode != wua.Succeeded || res.RebootRequired {
		t.Fatalf("second attempt = %+v, %v", res, err)
	}
}

func TestRebootPendingAtStartRefusesInstall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := f.host(t, Profile{Products: []string{"Windows 10"}, RebootPending: true})
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := h.Install(ctx, []wu.UpdateKey{key(idNet)})
	if !errors.Is(err, wua.ErrRebootPending) || !strings.Contains(err.Error(), "restart the computer") {
		t.Fatalf("error = %v", err)
	}
}

func TestHiddenPersists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := Profile{Products: []string{"Windows 10"}}
	h := f.host(t, p)
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	err := h.SetHidden(ctx, []wu.UpdateKey{key(idNet), key(idOff)}, true)
	if !errors.Is(err, wua.ErrUnknownUpdate) {
		t.Errorf("hiding an update the scan did not return: %v, want ErrUnknownUpdate", err)
	}
	h.Close()
	h2 := f.host(t, p)
	if got := scanKeys(t, h2, wua.ScanOptions{Criteria: "IsHidden=1"}); !cmp.Equal(got, []string{"5034466"}) {
		t.Errorf("hidden after reload = %v", got)
	}
	if err := h2.SetHidden(ctx, []wu.UpdateKey{key(idNet)}, false); err != nil {
		t.Fatal(err)
	}
	if got := scanKeys(t, h2, wua.ScanOptions{Criteria: "IsHidden=1"}); got != nil {
		t.Errorf("hidden after SetHidden(false) = %v", got)
	}
}

func TestCopyToCacheRefusesWrongFiles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := f.host(t, Profile{Products: []string{"Windows 10"}})
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	path := f.files[idNet]
	if err := os.WriteFile(path, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := h.CopyToCache(ctx, key(idNet), []string{path})
	if err == nil || !strings.Contains(err.Error(), "has SHA-1 ") || !strings.Contains(err.Error(), "download it again") {
		t.Fatalf("tampered file: %v", err)
	}
	if err := h.CopyToCache(ctx, key(idNet), []string{filepath.Join(f.dir, "missing.msu")}); err == nil {
		t.Error("a file of another name accepted")
	}
	os.Remove(path)
	if err := h.CopyToCache(ctx, key(idNet), []string{path}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := h.CopyToCache(ctx, key(idOff), []string{f.files[idOff]}); !errors.Is(err, wua.ErrUnknownUpdate) {
		t.Errorf("update not scanned: %v", err)
	}
	us, _ := h.Scan(ctx, wua.ScanOptions{Criteria: "UpdateID='" + idNet + "'"})
	if len(us) != 1 || us[0].Downloaded {
		t.Errorf("a refused file made the update downloaded: %+v", us)
	}
}

func TestBusy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := f.host(t, Profile{Products: []string{"Windows 10"}, Busy: 2})
	for i := 0; i < 2; i++ {
		_, err := h.Scan(ctx, wua.ScanOptions{})
		if !errors.Is(err, wua.ErrBusy) || !strings.Contains(err.Error(), "WU_E_OPERATIONINPROGRESS") {
			t.Fatalf("scan %d: %v, want ErrBusy in words", i, err)
		}
	}
	if _, err := h.Scan(ctx, wua.ScanOptions{}); err != nil {
		t.Fatalf("third scan: %v", err)
	}
	h.Close()
	if _, err := h.Scan(ctx, wua.ScanOptions{}); !errors.Is(err, wua.ErrClosed) {
		t.Errorf("scan after Close: %v", err)
	}
}

func TestProfileChecks(t *testing.T) {
	tests := []struct {
		json    string
		wantErr string
	}{
		{`{"products": ["Windows 10"], "installed": ["KB5034441", "` + idCU1 + `_200", "` + idNet + `"], "reboot_required_after_install": true}`, ""},
		{`{"products": []}`, "products: empty"},
		{`{"products": ["Windows 10"], "installed": ["five"]}`, `installed: "five" is neither a KB`},
		{`{"products": ["Windows 10"], "failures": [{"kb": "5034441", "hresult": "0x00240005"}]}`, "not an error code"},
		{`{"products": ["Windows 10"], "failures": [{"hresult": "0x80240022"}]}`, "give either kb or update"},
		{`{"products": ["Windows 10"], "failures": [{"kb": "1", "hresult": "E_FAIL"}]}`, "want a hexadecimal code"},
		{`{"products": ["Windows 10"], "reboot_required_after_install": "yes"}`, "want true, false or a list"},
		{`{"products": ["Windows 10"], "colour": "blue"}`, `unknown field "colour"`},
		{`{"products": ["Windows 10"], "busy": -1}`, "busy -1"},
	}
	for _, tt := range tests {
		_, err := ParseProfile([]byte(tt.json), "host.json")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseProfile(%s) = %v, want %q", tt.json, err, tt.wantErr)
		}
	}
}

func TestInstalledAtStartByKBAndKey(t *testing.T) {
	f := newFixture(t)
	h := f.host(t, Profile{Products: []string{"Windows 10", "Office 2016"}, Installed: []string{"KB5034466", idOff + "_200"}})
	got := scanKeys(t, h, wua.ScanOptions{Criteria: "IsInstalled=1"})
	if diff := cmp.Diff([]string{"5002537", "5034466"}, got); diff != "" {
		t.Errorf("installed at start (-want +got):\n%s", diff)
	}
}

func TestStatePathAndCorruptState(t *testing.T) {
	if got := StatePath("/hosts/pc-042.json"); got != "/hosts/pc-042.state.json" {
		t.Errorf("StatePath = %q", got)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "h.state.json")
	os.WriteFile(state, []byte("{"), 0o644)
	if _, err := New(nil, Profile{Products: []string{"x"}}, state); err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Errorf("corrupt state: %v", err)
	}
}
