package windows

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// fakeProps is a WUA object made of maps: what the COM layer would have extracted.
type fakeProps struct {
	vals  map[string]any
	objs  map[string]*fakeProps
	lists map[string][]*fakeProps
	strs  map[string][]string
	errs  map[string]error
}

func (f *fakeProps) value(name string) (any, error) {
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	return f.vals[name], nil
}

func (f *fakeProps) object(name string) (properties, error) {
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	if o, ok := f.objs[name]; ok && o != nil {
		return o, nil
	}
	return nil, nil
}

func (f *fakeProps) items(name string) ([]properties, error) {
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	var out []properties
	for _, it := range f.lists[name] {
		out = append(out, it)
	}
	return out, nil
}

func (f *fakeProps) strings(name string) ([]string, error) {
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	return f.strs[name], nil
}

func identity(id string, rev any) *fakeProps {
	return &fakeProps{vals: map[string]any{"UpdateID": id, "RevisionNumber": rev}}
}

func download(url string) *fakeProps {
	return &fakeProps{vals: map[string]any{"DownloadUrl": url, "IsDeltaCompressedContent": false}}
}

func decimalOf(v uint64, scale byte, negative bool) decimal {
	var d decimal
	binary.LittleEndian.PutUint16(d[0:2], 14) // VT_DECIMAL overlays wReserved
	d[2] = scale
	if negative {
		d[3] = 0x80
	}
	binary.LittleEndian.PutUint64(d[8:16], v)
	return d
}

const sha = "0123456789abcdef0123456789abcdef01234567"

// cumulative is an IUpdate as WUA gives it for a monthly cumulative update bundle.
func cumulative() *fakeProps {
	return &fakeProps{
		objs: map[string]*fakeProps{
			"Identity":             identity("{0A1B2C3D-0000-1111-2222-333344445555}", int32(201)),
			"InstallationBehavior": {vals: map[string]any{"RebootBehavior": int32(1)}},
		},
		vals: map[string]any{
			"Title":                    "2024-01 Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB5034441)",
			"MsrcSeverity":             "Important",
			"IsInstalled":              false,
			"IsHidden":                 true,
			"IsDownloaded":             nil,            // VT_EMPTY
			"LastDeploymentChangeTime": oleDate(45300), // 2024-01-09
			"MaxDownloadSize":          decimalOf(123456789, 0, false),
		},
		strs: map[string][]string{
			"KBArticleIDs":        {"5034441", "not a kb"},
			"SupersededUpdateIDs": {"{AAAAAAAA-0000-1111-2222-333344445555}", " "},
		},
		lists: map[string][]*fakeProps{
			"Categories": {
				{vals: map[string]any{"CategoryID": "A3C2375D-0C8A-42F9-BCE0-28333E198407", "Type": "Product", "Name": "Windows 10"}},
				{vals: map[string]any{"CategoryID": "0fa1201d-4330-4fa8-8ae9-b877473b6441", "Type": "UpdateClassification", "Name": "Security Updates"}},
			},
			"BundledUpdates": {
				{
					objs:  map[string]*fakeProps{"Identity": identity("0a1b2c3d-0000-1111-2222-333344446666", int32(1))},
					lists: map[string][]*fakeProps{"DownloadContents": {download("http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/windows10.0-kb5034441-x64_" + sha + ".cab")}},
				},
			},
		},
	}
}

func TestReadUpdate(t *testing.T) {
	got, err := readUpdate(cumulative())
	if err != nil {
		t.Fatal(err)
	}
	want := wua.Update{
		Key:      wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 201},
		Title:    "2024-01 Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB5034441)",
		KBs:      []string{"5034441"},
		Severity: wu.SeverityImportant,
		Categories: []wua.Category{
			{ID: "a3c2375d-0c8a-42f9-bce0-28333e198407", Type: wu.CategoryProduct, Name: "Windows 10"},
			{ID: "0fa1201d-4330-4fa8-8ae9-b877473b6441", Type: wu.CategoryClassification, Name: "Security Updates"},
		},
		Hidden:               true,
		LastDeploymentChange: time.Date(2024, 1, 9, 0, 0, 0, 0, time.UTC),
		SupersededIDs:        []string{"aaaaaaaa-0000-1111-2222-333344445555"},
		MaxDownloadSize:      123456789,
		RebootBehavior:       wua.AlwaysRequiresReboot,
		Bundled: []wua.BundledUpdate{{
			Key: wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344446666", RevisionNumber: 1},
			Downloads: []wua.Download{{
				URL:      "http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/windows10.0-kb5034441-x64_" + sha + ".cab",
				FileName: "windows10.0-kb5034441-x64_" + sha + ".cab",
			}},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readUpdate (-want +got):\n%s", diff)
	}
}

func TestReadUpdateErrors(t *testing.T) {
	comErr := errors.New("0x80240007")
	tests := []struct {
		desc    string
		edit    func(*fakeProps)
		wantErr string
	}{
		{"no identity", func(f *fakeProps) { delete(f.objs, "Identity") }, "Identity: missing"},
		{"bad guid", func(f *fakeProps) { f.objs["Identity"] = identity("KB5034441", int32(1)) }, `Identity.UpdateID "kb5034441" is not a GUID`},
		{"revision as text", func(f *fakeProps) { f.objs["Identity"] = identity(sha[:8]+"-0000-1111-2222-333344445555", "201") }, "Identity.RevisionNumber: got string, want a number"},
		{"title is a number", func(f *fakeProps) { f.vals["Title"] = int32(3) }, "update 0a1b2c3d-0000-1111-2222-333344445555_201: Title: got int32, want a string"},
		{"installed is text", func(f *fakeProps) { f.vals["IsInstalled"] = "yes" }, "IsInstalled: got string, want a boolean"},
		{"categories fail", func(f *fakeProps) { f.errs = map[string]error{"Categories": comErr} }, "Categories: 0x80240007"},
		{"bad date", func(f *fakeProps) { f.vals["LastDeploymentChangeTime"] = "yesterday" }, "LastDeploymentChangeTime: got string, want a date"},
		{"huge size", func(f *fakeProps) {
			d := decimalOf(1, 0, false)
			binary.LittleEndian.PutUint32(d[4:8], 1)
			f.vals["MaxDownloadSize"] = d
		}, "does not fit 64 bits"},
		{"bundled without identity", func(f *fakeProps) { delete(f.lists["BundledUpdates"][0].objs, "Identity") }, "BundledUpdates[0].Identity: missing"},
		{"download url fails", func(f *fakeProps) {
			f.lists["BundledUpdates"][0].lists["DownloadContents"][0].errs = map[string]error{"DownloadUrl": comErr}
		}, "DownloadContents[0].DownloadUrl: 0x80240007"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := cumulative()
			tt.edit(f)
			_, err := readUpdate(f)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValueConversions(t *testing.T) {
	if got, err := asInt64(decimalOf(1234567, 3, true)); err != nil || got != -1234 {
		t.Errorf("decimal -1234.567 = %d, %v", got, err)
	}
	if _, err := asInt64(decimalOf(1, 29, false)); err == nil {
		t.Error("scale 29 accepted")
	}
	for _, v := range []any{int8(-3), int16(-3), int32(-3), int64(-3), int(-3), float64(-3)} {
		if got, err := asInt64(v); err != nil || got != -3 {
			t.Errorf("asInt64(%T) = %d, %v", v, got, err)
		}
	}
	if _, err := asInt64(uint64(math.MaxUint64)); err == nil {
		t.Error("uint64 overflow accepted")
	}
	dates := []struct {
		d    oleDate
		want time.Time
	}{
		{0, time.Time{}},
		{2, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{45300.75, time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC)},
		{-1.25, time.Date(1899, 12, 29, 6, 0, 0, 0, time.UTC)},
		{oleDate(math.NaN()), time.Time{}},
	}
	for _, tt := range dates {
		if got := tt.d.Time(); !got.Equal(tt.want) {
			t.Errorf("oleDate(%v) = %v, want %v", float64(tt.d), got, tt.want)
		}
	}
	now := time.Date(2024, 2, 13, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	if got, _ := asTime(now); !got.Equal(now) || got.Location() != time.UTC {
		t.Errorf("asTime(time.Time) = %v", got)
	}
}

func TestInstallResultAndComFailure(t *testing.T) {
	keys := []wu.UpdateKey{
		{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 201},
		{UpdateID: "0a1b2c3d-0000-1111-2222-333344446666", RevisionNumber: 1},
		{UpdateID: "0a1b2c3d-0000-1111-2222-333344447777", RevisionNumber: 2},
	}
	batchProps := &fakeProps{vals: map[string]any{"ResultCode": int32(3), "HResult": int32(0), "RebootRequired": false}}
	batch, err := readOutcome(batchProps)
	if err != nil {
		t.Fatal(err)
	}
	per := []installOutcome{
		{resultCode: 2, rebootRequired: true},
		{resultCode: 4, hresult: -2145124318}, // 0x80240022 as a signed LONG
	}
	r := installResult(keys, batch, per)
	if r.ResultCode != wua.SucceededWithErrors || !r.RebootRequired || len(r.Updates) != 3 {
		t.Fatalf("result = %+v", r)
	}
	if r.Updates[1].HResult != wua.WUEAllUpdatesFailed || r.Updates[2].ResultCode != wua.NotStarted {
		t.Errorf("per-update results = %+v", r.Updates)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "WU_E_ALL_UPDATES_FAILED") {
		t.Errorf("Err() = %v", err)
	}

	err = comFailure("install", uint32(wua.DispEException), uint32(wua.WUEInstallNotAllowed), errors.New("exception"))
	if !errors.Is(err, wua.ErrBusy) || !strings.Contains(err.Error(), "install: 0x80240016 WU_E_INSTALL_NOT_ALLOWED") {
		t.Errorf("comFailure = %v", err)
	}
	err = comFailure("scan", uint32(wua.DispEException), 0, nil)
	if !strings.Contains(err.Error(), "DISP_E_EXCEPTION") {
		t.Errorf("comFailure without scode = %v", err)
	}
}

func TestCheckCabPath(t *testing.T) {
	tests := []struct {
		path    string
		wantErr string
	}{
		{path: `C:\wapt\waptwua\wsusscn2.cab`},
		{path: `d:/cache/wsusscn2.cab`},
		{path: `\\srv\wapt\waptwua\wsusscn2.cab`, wantErr: "network path"},
		{path: `wsusscn2.cab`, wantErr: "not an absolute local path"},
		{path: `C:wsusscn2.cab`, wantErr: "not an absolute local path"},
		{path: "", wantErr: "no wsusscn2.cab path"},
	}
	for _, tt := range tests {
		err := checkCabPath(tt.path)
		if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("checkCabPath(%q) = %v, want %q", tt.path, err, tt.wantErr)
		}
	}
}
