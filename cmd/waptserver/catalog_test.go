package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// catalogCLI runs the command line as a user would and returns the exit code, stdout
// and stderr.
func catalogCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// synthCatalog writes a small synthetic catalog with "catalog synth".
func synthCatalog(t *testing.T) (cabPath, manifestPath string) {
	t.Helper()
	dir := t.TempDir()
	cabPath = filepath.Join(dir, "wsusscn2.cab")
	manifestPath = filepath.Join(dir, "files.jsonl")
	code, out, errOut := catalogCLI("catalog", "synth", "--updates", "300", "--seed", "5", "--max-file-kib", "2",
		"-o", cabPath, "--manifest", manifestPath)
	if code != 0 {
		t.Fatalf("catalog synth: exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "300 rows") {
		t.Errorf("catalog synth output %q does not report 300 rows", out)
	}
	return cabPath, manifestPath
}

func TestCatalogDump(t *testing.T) {
	cabPath, manifestPath := synthCatalog(t)
	code, out, errOut := catalogCLI("catalog", "dump", cabPath)
	if code != 0 {
		t.Fatalf("catalog dump: exit %d: %s", code, errOut)
	}
	want := []string{"classification", "created", "files", "kb", "products", "revision_id", "revision_number",
		"severity", "superseded_by", "supersedes", "title", "update_id"}
	wantFile := []string{"name", "sha1", "sha256", "size", "url"}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 50 {
		t.Fatalf("only %d lines", len(lines))
	}
	files := map[string]bool{}
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if got := sortedKeys(obj); !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d: fields %v, want exactly %v", i+1, got, want)
		}
		for _, k := range []string{"kb", "products", "superseded_by", "supersedes", "files"} {
			if _, ok := obj[k].([]any); !ok {
				t.Fatalf("line %d: %s is %v, want a list (never null)", i+1, k, obj[k])
			}
		}
		for _, kb := range obj["kb"].([]any) {
			if s := kb.(string); strings.Trim(s, "0123456789") != "" || s == "" {
				t.Fatalf("line %d: kb %q is not digits only", i+1, s)
			}
		}
		if _, ok := obj["severity"].(string); !ok {
			t.Fatalf("line %d: severity %v is not a string", i+1, obj["severity"])
		}
		if c := obj["created"].(string); len(c) != len("2006-01-02T15:04:05Z") || !strings.HasSuffix(c, "Z") {
			t.Fatalf("line %d: created %q is not RFC 3339 UTC", i+1, c)
		}
		for _, f := range obj["files"].([]any) {
			fm := f.(map[string]any)
			if got := sortedKeys(fm); !reflect.DeepEqual(got, wantFile) {
				t.Fatalf("line %d: file fields %v, want %v", i+1, got, wantFile)
			}
			files[fm["sha1"].(string)] = true
		}
	}
	// Every file of the manifest appears in the dump.
	man, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(man)), "\n") {
		var f struct{ SHA1 string }
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if !files[f.SHA1] {
			t.Errorf("file %s of the manifest is missing from the dump", f.SHA1)
		}
		n++
	}
	if n != len(files) {
		t.Errorf("dump lists %d files, manifest %d", len(files), n)
	}

	// --lang fr gives some French titles.
	code, out, _ = catalogCLI("catalog", "dump", "--lang", "fr", cabPath)
	if code != 0 || !strings.Contains(out, " pour ") {
		t.Errorf("catalog dump --lang fr: exit %d, no French title", code)
	}
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestCatalogStats(t *testing.T) {
	cabPath, _ := synthCatalog(t)
	code, out, errOut := catalogCLI("catalog", "stats", cabPath)
	if code != 0 {
		t.Fatalf("catalog stats: exit %d: %s", code, errOut)
	}
	for _, w := range []string{"updates (rows of package.xml)", "bundles", "leaves", "categories", "files", "detail cabs",
		"fragments read", "fragments skipped", "bytes decoded", "warnings"} {
		if !strings.Contains(out, w) {
			t.Errorf("stats output lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = catalogCLI("catalog", "stats", "--json", cabPath)
	var st struct {
		Updates  int `json:"updates"`
		Warnings []any
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Updates != 300 || len(st.Warnings) != 0 {
		t.Errorf("catalog stats --json: exit %d, %+v from %s", code, st, out)
	}
}

func TestCatalogErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.cab")
	os.WriteFile(bad, []byte("not a cabinet"), 0o644)
	for _, args := range [][]string{
		{"catalog", "dump", filepath.Join(dir, "missing.cab")},
		{"catalog", "stats", bad},
		{"catalog", "synth", "--updates", "5", "-o", filepath.Join(dir, "x.cab")},
		{"catalog", "synth", "--updates", "100"},
	} {
		code, _, errOut := catalogCLI(args...)
		if code == 0 || !strings.HasPrefix(errOut, "waptserver: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want a one-line error", args, code, errOut)
		}
	}
}
