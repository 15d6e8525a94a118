package wua

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
)

var (
	keyA = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 201}
	keyB = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344446666", RevisionNumber: 1}
	keyC = wu.UpdateKey{UpdateID: "0a1b2c3d-0000-1111-2222-333344447777", RevisionNumber: 3}
)

func TestResultCodeNames(t *testing.T) {
	tests := []struct {
		code ResultCode
		want string
		ok   bool
	}{
		{NotStarted, "NotStarted", false},
		{InProgress, "InProgress", false},
		{Succeeded, "Succeeded", true},
		{SucceededWithErrors, "SucceededWithErrors", true},
		{Failed, "Failed", false},
		{Aborted, "Aborted", false},
		{6, "ResultCode(6)", false},
		{-1, "ResultCode(-1)", false},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("ResultCode(%d).String() = %q, want %q", int(tt.code), got, tt.want)
		}
		if got := tt.code.Succeeded(); got != tt.ok {
			t.Errorf("%s.Succeeded() = %t", tt.code, got)
		}
	}
	if got := CanRequestReboot.String(); got != "CanRequestReboot" {
		t.Errorf("RebootBehavior = %q", got)
	}
}

func TestSummarize(t *testing.T) {
	ok := UpdateResult{Key: keyA, ResultCode: Succeeded, RebootRequired: true}
	bad := UpdateResult{Key: keyB, ResultCode: Failed, HResult: WUEAllUpdatesFailed}
	tests := []struct {
		desc    string
		in      []UpdateResult
		code    ResultCode
		hresult HResult
		reboot  bool
	}{
		{"all succeeded", []UpdateResult{ok}, Succeeded, 0, true},
		{"some failed", []UpdateResult{ok, bad}, SucceededWithErrors, 0, true},
		{"all failed", []UpdateResult{bad}, Failed, WUEAllUpdatesFailed, false},
		{"nothing", nil, Failed, WUENoUpdate, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := Summarize(tt.in)
			if r.ResultCode != tt.code || r.HResult != tt.hresult || r.RebootRequired != tt.reboot {
				t.Errorf("Summarize = %s %s reboot %t, want %s %s reboot %t", r.ResultCode, r.HResult, r.RebootRequired, tt.code, tt.hresult, tt.reboot)
			}
		})
	}
	r := Summarize([]UpdateResult{ok, bad, {Key: keyC, ResultCode: Aborted}})
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil with failed updates")
	}
	want := "install 0a1b2c3d-0000-1111-2222-333344446666_1: Failed: 0x80240022 WU_E_ALL_UPDATES_FAILED: Operation failed for all the updates.\n" +
		"install 0a1b2c3d-0000-1111-2222-333344447777_3: Aborted"
	if err.Error() != want {
		t.Errorf("Err() = %q\nwant    %q", err, want)
	}
	if ok.Err() != nil {
		t.Errorf("succeeded update has an error: %v", ok.Err())
	}
}

func TestParseCriteria(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical form
		wantErr string
	}{
		{in: DefaultFilter, want: "Type='Software' or Type='Driver'"},
		{in: "IsInstalled=0 and Type='Software' or Type='Driver'", want: "IsInstalled=0 and Type='Software' or Type='Driver'"},
		{in: "(isinstalled = 0 AND type='Software') OR (IsHidden=1)", want: "IsInstalled=0 and Type='Software' or IsHidden=1"},
		{in: "((IsInstalled=0))", want: "IsInstalled=0"},
		{in: "Type!='Driver'", want: "Type!='Driver'"},
		{in: "CategoryIDs contains '0fa1201d-4330-4fa8-8ae9-b877473b6441' and RevisionNumber=-1", want: "CategoryIDs contains '0fa1201d-4330-4fa8-8ae9-b877473b6441' and RevisionNumber=-1"},
		{in: "IsInstalled=0 and (Type='Software' or Type='Driver')", wantErr: `"or" is allowed only at the top level`},
		{in: "IsInstalled!=0", wantErr: "!= only with Type"},
		{in: "Color='blue'", wantErr: `unknown property "Color"`},
		{in: "Type=Software", wantErr: "takes a quoted string"},
		{in: "IsInstalled='0'", wantErr: "takes an integer"},
		{in: "Type='Software", wantErr: "unterminated string"},
		{in: "IsInstalled=0 and", wantErr: "missing a condition"},
		{in: "IsInstalled=0 Type='Software'", wantErr: "unexpected \"Type\""},
		{in: "(IsInstalled=0", wantErr: "missing )"},
		{in: "CategoryIDs='x'", wantErr: "CategoryIDs takes contains"},
		{in: "Type contains 'x'", wantErr: "contains goes with CategoryIDs only"},
		{in: "   ", wantErr: "empty"},
		{in: "IsInstalled=0\nor IsHidden=1", wantErr: "one line"},
		{in: "IsInstalled=0;", wantErr: "unexpected character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCriteria(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			again, err := ParseCriteria(c.String())
			if err != nil || again.String() != c.String() {
				t.Errorf("canonical form does not parse back: %v", err)
			}
		})
	}
}

func TestCriteriaFromFilterAndAnd(t *testing.T) {
	got, err := CriteriaFromFilter("")
	if err != nil || got != DefaultFilter {
		t.Fatalf("CriteriaFromFilter(\"\") = %q, %v", got, err)
	}
	if _, err := CriteriaFromFilter("Type='Software' or"); err == nil {
		t.Error("broken filter accepted")
	}
	c, _ := ParseCriteria(DefaultFilter)
	with := c.And(Condition{Property: "IsHidden", Op: "=", Value: "0"})
	if want := "Type='Software' and IsHidden=0 or Type='Driver' and IsHidden=0"; with.String() != want {
		t.Errorf("And = %q, want %q", with, want)
	}
	if c.String() != DefaultFilter {
		t.Error("And modified its receiver")
	}
}

func TestFileNames(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct{ url, name, sha1 string }{
		{"http://download.windowsupdate.com/c/msdownload/update/software/secu/2024/01/windows10.0-kb5034441-x64_" + sha + ".cab",
			"windows10.0-kb5034441-x64_" + sha + ".cab", sha},
		{"http://x/y/ndp48-kb5034466-x64_" + strings.ToUpper(sha) + ".exe?a=b", "ndp48-kb5034466-x64_" + strings.ToUpper(sha) + ".exe", sha},
		{"http://x/y/plain.cab", "plain.cab", ""},
		{"http://x/y/short_0123.cab", "short_0123.cab", ""},
		{`C:\wapt\waptwua\file_` + sha + `.msu`, "file_" + sha + ".msu", sha},
	}
	for _, tt := range tests {
		name := FileNameFromURL(tt.url)
		if name != tt.name {
			t.Errorf("FileNameFromURL(%q) = %q, want %q", tt.url, name, tt.name)
		}
		if got := wu.SHA1FromFileName(name); got != tt.sha1 {
			t.Errorf("SHA1FromFileName(%q) = %q, want %q", name, got, tt.sha1)
		}
	}
}

func TestAssignFiles(t *testing.T) {
	bundle := &Update{
		Key: keyA,
		Bundled: []BundledUpdate{
			{Key: keyB, Downloads: []Download{{URL: "http://h/a/one.cab", FileName: "one.cab"}, {URL: "http://h/a/two.cab"}}},
			{Key: keyC, Downloads: []Download{{URL: "http://h/a/three.cab", FileName: "three.cab"}}},
		},
	}
	single := &Update{Key: keyB, Downloads: []Download{{URL: "http://h/one.msu", FileName: "one.msu"}}}
	tests := []struct {
		desc    string
		u       *Update
		key     wu.UpdateKey
		files   []string
		want    []Assignment
		wantErr string
	}{
		{
			desc:  "bundle, Windows paths, any case",
			u:     bundle,
			key:   keyA,
			files: []string{`C:\wapt\waptwua\THREE.cab`, `C:\wapt\waptwua\one.cab`, `C:\wapt\waptwua\two.cab`},
			want: []Assignment{
				{Key: keyB, Files: []string{`C:\wapt\waptwua\one.cab`, `C:\wapt\waptwua\two.cab`}},
				{Key: keyC, Files: []string{`C:\wapt\waptwua\THREE.cab`}},
			},
		},
		{
			desc:  "one bundled update",
			u:     bundle,
			key:   keyC,
			files: []string{"/var/cache/three.cab"},
			want:  []Assignment{{Key: keyC, Files: []string{"/var/cache/three.cab"}}},
		},
		{
			desc:  "update without bundled updates",
			u:     single,
			key:   keyB,
			files: []string{"/tmp/one.msu"},
			want:  []Assignment{{Key: keyB, Files: []string{"/tmp/one.msu"}}},
		},
		{desc: "missing file", u: bundle, key: keyA, files: []string{"/c/one.cab", "/c/three.cab"}, wantErr: "no local file for two.cab (download it from the repository first)"},
		{desc: "foreign file", u: bundle, key: keyC, files: []string{"/c/three.cab", "/c/one.cab"}, wantErr: "/c/one.cab not a download of this update"},
		{desc: "unrelated key", u: single, key: keyC, wantErr: "nor one of its bundled updates"},
		{desc: "same name twice", u: single, key: keyB, files: []string{"/a/one.msu", "/b/one.msu"}, wantErr: "two files named one.msu"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := AssignFiles(tt.u, tt.key, tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AssignFiles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCandidate(t *testing.T) {
	when := time.Date(2024, 1, 9, 0, 0, 0, 0, time.UTC)
	u := &Update{
		Key: keyA, KBs: []string{"5034441"}, Severity: wu.SeverityCritical, LastDeploymentChange: when,
		Categories: []Category{
			{ID: "p1", Type: wu.CategoryProduct, Name: "Windows 10"},
			{ID: "c1", Type: wu.CategoryClassification, Name: "Security Updates"},
			{ID: "f1", Type: wu.CategoryProductFamily, Name: "Windows"},
		},
	}
	want := rules.Candidate{
		Key: keyA, KBs: []string{"5034441"}, Severity: wu.SeverityCritical, LastDeploymentChangeTime: when,
		Products: []string{"Windows 10"}, ProductIDs: []string{"p1"},
		Classifications: []string{"Security Updates"}, ClassificationIDs: []string{"c1"},
	}
	if diff := cmp.Diff(want, u.Candidate()); diff != "" {
		t.Errorf("Candidate (-want +got):\n%s", diff)
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{ErrBusy, ErrRebootPending, ErrServiceUnavailable, ErrUnknownUpdate, ErrClosed}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}
