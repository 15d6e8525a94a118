package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

// Tests of "cab list", "cab test" and "cab extract", run through run() as a user would.

const sharedCabs = "../../testdata/cabs"

func sharedCab(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(sharedCabs, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test cabinets not found at %s (they are part of the repository)", sharedCabs)
	}
	return p
}

// runCLI runs the command line and returns the exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// wantFailure checks a failed run: exit code 1 and one stderr line with substr.
func wantFailure(t *testing.T, code int, stderr, substr string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, "waptserver: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line starting with \"waptserver: \": %q", stderr)
	}
	if !strings.Contains(stderr, substr) {
		t.Errorf("stderr %q does not contain %q", stderr, substr)
	}
}

func TestCabList(t *testing.T) {
	code, out, errOut := runCLI("cab", "list", sharedCab(t, "normal_2files_2folders.cab"))
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), out)
	}
	for _, want := range []string{"MSZIP", "LZX:18", "mszip1.txt", "lzx2.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if f := strings.Fields(lines[0]); len(f) != 6 || f[0] != "31" || f[3] != "0" || f[4] != "MSZIP" || f[5] != "mszip1.txt" {
		t.Errorf("first line %q, want size, date, time, folder, method, name", lines[0])
	}

	code, out, _ = runCLI("cab", "list", "-v", sharedCab(t, "reserve_HFD.cab"))
	if code != 0 || !strings.Contains(out, "reserve: 26 bytes in the header, 26 per folder, 24 per data block") ||
		!strings.Contains(out, "folder 0: None, 2 data blocks from byte 152") {
		t.Errorf("list -v: exit %d, output:\n%s", code, out)
	}

	code, out, _ = runCLI("cab", "list", sharedCab(t, "case-utf8.cab"))
	if code != 0 || !strings.Contains(out, "greek/lower/αβγδεζηθικλμνξοπρςστυφχψ") {
		t.Errorf("UTF-8 names: exit %d, output:\n%s", code, out)
	}
}

func TestCabRejected(t *testing.T) {
	tests := []struct {
		desc   string
		args   []string
		substr string
	}{
		{"bad signature", []string{"cab", "list", sharedCab(t, "bad_signature.cab")}, `starts with "mscf" instead of the cabinet signature "MSCF": not a cabinet file`},
		{"short header", []string{"cab", "test", sharedCab(t, "partial_shortheader.cab")}, "inside the 36-byte cabinet header: truncated download"},
		{"missing file", []string{"cab", "test", filepath.Join(t.TempDir(), "none.cab")}, "no such file"},
		{"directory", []string{"cab", "extract", t.TempDir()}, "is not a regular file"},
		{"no argument", []string{"cab", "list"}, "accepts 1 arg"},
		{"bad size", []string{"cab", "test", "--max-member-size", "lots", sharedCab(t, "simple.cab")}, `--max-member-size "lots": not a positive size`},
		{"bad pattern", []string{"cab", "extract", "-d", t.TempDir(), sharedCab(t, "simple.cab"), "[x"}, `pattern "[x"`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			wantFailure(t, code, errOut, tt.substr)
		})
	}
}

func TestCabTestSHA256(t *testing.T) {
	members, err := os.ReadFile(sharedCab(t, "MEMBERS.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(members)), "\n") {
		cabName, rest, _ := strings.Cut(line, " ")
		if strings.HasPrefix(rest, "ERROR(") || (cabName == "mixed.cab" && strings.HasSuffix(rest, " qtm.txt")) {
			continue
		}
		want[cabName] = append(want[cabName], rest)
	}
	for cabName, lines := range want {
		code, out, errOut := runCLI("cab", "test", "--sha256", sharedCab(t, cabName))
		var got []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(l, "FAILED ") {
				got = append(got, l)
			}
		}
		sort.Strings(got)
		sort.Strings(lines)
		if strings.Join(got, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", cabName, strings.Join(got, "\n"), strings.Join(lines, "\n"))
		}
		if cabName == "mixed.cab" {
			wantFailure(t, code, errOut, "1 of 3 members failed")
			if !strings.Contains(out, `FAILED cab: `) || !strings.Contains(out, `member "qtm.txt": Quantum compression is not supported`) {
				t.Errorf("mixed.cab: no FAILED line for qtm.txt:\n%s", out)
			}
		} else if code != 0 || errOut != "" {
			t.Errorf("%s: exit %d, stderr %q", cabName, code, errOut)
		}
	}

	code, out, _ := runCLI("cab", "test", sharedCab(t, "simple.cab"))
	if code != 0 || !strings.HasSuffix(out, "simple.cab: OK, 2 members, 151 bytes\n") {
		t.Errorf("cab test: exit %d, output %q", code, out)
	}
}

func TestCabTestLimits(t *testing.T) {
	code, out, errOut := runCLI("cab", "test", "--max-member-size", "75", sharedCab(t, "simple.cab"))
	wantFailure(t, code, errOut, "1 of 2 members failed")
	if !strings.Contains(out, `member "hello.c" is 77 bytes, over the limit of 75 bytes: raise it with --max-member-size`) {
		t.Errorf("output:\n%s", out)
	}
	code, out, errOut = runCLI("cab", "test", "--max-total-size", "100", sharedCab(t, "simple.cab"))
	wantFailure(t, code, errOut, "members failed")
	if !strings.Contains(out, "raise it with --max-total-size") {
		t.Errorf("output:\n%s", out)
	}
	if code, _, _ := runCLI("cab", "test", "--max-member-size", "1K", "--max-total-size", "1m", sharedCab(t, "simple.cab")); code != 0 {
		t.Errorf("limits with suffixes: exit %d", code)
	}
}

func TestCabExtract(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI("cab", "extract", sharedCab(t, "case-utf8.cab"), "-d", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	p := filepath.Join(dir, "greek", "lower", "αβγδεζηθικλμνξοπρςστυφχψ")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(1997, 3, 12, 11, 13, 52, 0, time.UTC); !st.ModTime().Equal(want) {
		t.Errorf("modification time %v, want the cabinet's %v", st.ModTime(), want)
	}

	dir = t.TempDir()
	code, _, errOut = runCLI("cab", "extract", "-d", dir, sharedCab(t, "mixed.cab"), "LZX.*", "m*")
	if code != 0 {
		t.Fatalf("patterns: exit %d, stderr %q", code, errOut)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(got) != 2 || filepath.Base(got[0]) != "lzx.txt" || filepath.Base(got[1]) != "mszip.txt" {
		t.Errorf("extracted %v, want lzx.txt and mszip.txt", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "mszip.txt"))
	if len(b) != 57 {
		t.Errorf("mszip.txt: %d bytes, want 57", len(b))
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// A member that cannot be decoded fails alone and leaves no temporary file.
	dir2 := t.TempDir()
	code, out, errOut = runCLI("cab", "extract", "-d", dir2, sharedCab(t, "mixed.cab"))
	wantFailure(t, code, errOut, "1 of 3 members failed")
	if !strings.Contains(out, `FAILED cab: `) || !strings.Contains(out, `"qtm.txt": Quantum compression is not supported`) {
		t.Errorf("output:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 2 {
		t.Errorf("directory holds %d entries, want lzx.txt and mszip.txt only", len(entries))
	}

	code, _, errOut = runCLI("cab", "extract", "-d", dir, sharedCab(t, "simple.cab"), "*.exe")
	wantFailure(t, code, errOut, "no member matches *.exe")

	// Overwrites an existing file.
	if err := os.WriteFile(filepath.Join(dir, "hello.c"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("cab", "extract", "-d", dir, sharedCab(t, "simple.cab")); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hello.c")); len(b) != 77 {
		t.Errorf("hello.c not replaced: %d bytes", len(b))
	}
}

func TestCabExtractUnsafeName(t *testing.T) {
	data, err := os.ReadFile(sharedCab(t, "simple.cab"))
	if err != nil {
		t.Fatal(err)
	}
	// "hello.c" and "../ev.c" have the same length: patch the name in place.
	i := bytes.Index(data, []byte("hello.c\x00"))
	copy(data[i:], "../ev.c")
	cabPath := filepath.Join(t.TempDir(), "evil.cab")
	if err := os.WriteFile(cabPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runCLI("cab", "extract", "-d", dir, cabPath)
	wantFailure(t, code, errOut, "1 of 2 members failed")
	if !strings.Contains(out, `FAILED member name "../ev.c" has a '..' segment`) {
		t.Errorf("output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "ev.c")); err == nil {
		t.Errorf("../ev.c was written outside the target directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "welcome.c")); err != nil {
		t.Errorf("the safe member was not extracted: %v", err)
	}
}

// A member with an empty name and a cabinet without members are refused, as cabextract
// refuses them.
func TestCabTestRefusesWhatCabextractRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, files []authenticodetest.File) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, authenticodetest.MinimalCab(t, files), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	emptyName := write("empty-name.cab", []authenticodetest.File{{Name: "", Data: []byte("no name")}})
	noMembers := write("no-members.cab", nil)
	good := write("good.cab", []authenticodetest.File{{Name: "a.txt", Data: []byte("a")}})

	code, out, errOut := runCLI("cab", "test", emptyName)
	wantFailure(t, code, errOut, "1 of 1 members failed")
	if !strings.Contains(out, "FAILED member 1 (7 bytes in folder 0): empty name") {
		t.Errorf("no FAILED line for the unnamed member:\n%s", out)
	}
	code, _, errOut = runCLI("cab", "test", noMembers)
	wantFailure(t, code, errOut, "no-members.cab: the cabinet holds no member (cabextract refuses it too)")
	if code, out, errOut := runCLI("cab", "test", good); code != 0 || !strings.Contains(out, "OK, 1 members") {
		t.Errorf("a one-member cabinet: exit %d, %q %q", code, out, errOut)
	}
	if _, err := exec.LookPath("cabextract"); err != nil {
		t.Fatal("cabextract is not installed (apt-get install cabextract): the reference tool of this test")
	}
	for _, p := range []string{emptyName, noMembers} {
		if out, err := exec.Command("cabextract", "-q", "-t", p).CombinedOutput(); err == nil {
			t.Errorf("cabextract accepts %s (%s): the reference changed", filepath.Base(p), out)
		}
	}
}
