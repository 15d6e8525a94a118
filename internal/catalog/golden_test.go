package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// fixture is a hand-written catalog: testdata/<name>/index.xml, package.xml, and one
// directory per detail cabinet (package2.cab/x/2000 ...).
type fixture struct {
	index, pkg []byte
	cabs       map[string][]cabMember // detail cabinet -> members sorted by name
}

func loadFixture(t testing.TB, name string) *fixture {
	t.Helper()
	dir := filepath.Join("testdata", name)
	fx := &fixture{cabs: map[string][]cabMember{}}
	var err error
	if fx.index, err = os.ReadFile(filepath.Join(dir, "index.xml")); err != nil {
		t.Fatal(err)
	}
	if fx.pkg, err = os.ReadFile(filepath.Join(dir, "package.xml")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		root := filepath.Join(dir, e.Name())
		var members []cabMember
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			// Microsoft's cabinets use `\` separators.
			members = append(members, cabMember{name: strings.ReplaceAll(filepath.ToSlash(rel), "/", `\`), data: data})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(members, func(i, j int) bool { return members[i].name < members[j].name })
		fx.cabs[e.Name()] = members
	}
	return fx
}

// build packs the fixture into a wsusscn2-shaped cabinet. indexLast puts index.xml
// after the cabinets, to exercise spooling before the index is known.
func (fx *fixture) build(t testing.TB, indexLast bool) []byte {
	t.Helper()
	names := make([]string, 0, len(fx.cabs))
	for n := range fx.cabs {
		names = append(names, n)
	}
	sort.Strings(names)
	outer := []cabMember{{"package.cab", packCab(t, 0, []cabMember{{"package.xml", fx.pkg}})}}
	for _, n := range names {
		outer = append(outer, cabMember{n, packCab(t, 0, fx.cabs[n])})
	}
	idx := cabMember{"index.xml", fx.index}
	if indexLast {
		outer = append(outer, idx)
	} else {
		outer = append([]cabMember{idx}, outer...)
	}
	return packCab(t, 20, outer)
}

// jsonLines renders values one JSON object per line.
func jsonLines[T any](t testing.TB, vs []T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for i := range vs {
		if err := enc.Encode(&vs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// checkGolden compares got with testdata/<name>, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it, then review it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d (-want +got):\n-%s\n+%s\n(run with -update after checking the change)", path, i+1, w, g)
			}
		}
	}
}

func readBytes(t *testing.T, data []byte, opts Options) *Catalog {
	t.Helper()
	c, err := Read(context.Background(), bytesReaderAt(data), int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGoldenBasic(t *testing.T) {
	fx := loadFixture(t, "basic")
	data := fx.build(t, false)
	for _, lang := range []string{"en", "fr"} {
		c := readBytes(t, data, Options{Language: lang})
		checkGolden(t, "basic."+lang+".golden.jsonl", jsonLines(t, c.Updates))
		// Decoded bytes count the compressed inner cabinets: they change with the
		// LZX encoder, so the golden file does not pin them.
		if c.Stats.BytesDecoded <= int64(len(fx.pkg)) {
			t.Errorf("bytes decoded: %d, less than package.xml alone", c.Stats.BytesDecoded)
		}
		c.Stats.BytesDecoded = 0
		var st bytes.Buffer
		enc := json.NewEncoder(&st)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c.Stats); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "basic."+lang+".stats.golden.json", st.Bytes())
		if lang == "en" {
			checkGolden(t, "basic.categories.golden.jsonl", jsonLines(t, c.Categories))
		}
	}
}

// TestGoldenVariants reads the same catalog in other shapes and settings: the
// result must not change.
func TestGoldenVariants(t *testing.T) {
	if *update {
		t.Skip("-update rewrites the golden files of TestGoldenBasic only")
	}
	fx := loadFixture(t, "basic")
	want := readBytes(t, fx.build(t, false), Options{})
	wantJSON := jsonLines(t, want.Updates)
	variants := []struct {
		desc      string
		indexLast bool
		opts      Options
	}{
		{"index.xml last", true, Options{}},
		{"one worker", false, Options{Workers: 1}},
		{"four workers", false, Options{Workers: 4}},
		{"spooled to temporary files", true, Options{MemoryBudget: 1, TempDir: t.TempDir()}},
	}
	for _, v := range variants {
		t.Run(v.desc, func(t *testing.T) {
			c := readBytes(t, fx.build(t, v.indexLast), v.opts)
			if v.opts.TempDir != "" {
				if left, _ := os.ReadDir(v.opts.TempDir); len(left) > 0 {
					t.Errorf("%d temporary files left in %s", len(left), v.opts.TempDir)
				}
			}
			if got := jsonLines(t, c.Updates); !bytes.Equal(got, wantJSON) {
				t.Fatalf("records differ from the plain read:\n%s\nwant\n%s", got, wantJSON)
			}
			if got, want := c.Stats.WarningCount(), want.Stats.WarningCount(); got != want {
				t.Fatalf("%d warnings, want %d", got, want)
			}
		})
	}
}

func TestFatalErrors(t *testing.T) {
	fx := loadFixture(t, "basic")
	tests := []struct {
		desc   string
		mutate func(fx *fixture)
		raw    []byte
		want   []string
	}{
		{desc: "truncated package.xml", mutate: func(fx *fixture) { fx.pkg = fx.pkg[:len(fx.pkg)/2] },
			want: []string{"wsusscn2.cab/package.cab: package.xml: byte offset", "unexpected end"}},
		{desc: "malformed package.xml", mutate: func(fx *fixture) {
			fx.pkg = bytes.Replace(fx.pkg, []byte("</o:Updates>"), []byte("</o:Update>"), 1)
		}, want: []string{"package.xml: byte offset", "closed by </o:Update>"}},
		{desc: "index.xml without the package cabinet", mutate: func(fx *fixture) {
			fx.index = []byte(`<INDEX><CABLIST><CAB NAME="package2.cab" RANGESTART="0"/></CABLIST></INDEX>`)
		}, want: []string{"index.xml", "package cabinet"}},
		{desc: "index.xml names an absent package cabinet", mutate: func(fx *fixture) {
			fx.index = bytes.Replace(fx.index, []byte(`"package.cab"`), []byte(`"other.cab"`), 1)
		}, want: []string{"other.cab", "no such member"}},
		{desc: "not a cabinet", raw: []byte("<html>not a cab</html>"), want: []string{"wsusscn2.cab", "MSCF"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			data := tt.raw
			if data == nil {
				c := *fx
				tt.mutate(&c)
				data = c.build(t, false)
			}
			_, err := Read(context.Background(), bytesReaderAt(data), int64(len(data)), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingIndex(t *testing.T) {
	fx := loadFixture(t, "basic")
	outer := packCab(t, 20, []cabMember{{"package.cab", packCab(t, 0, []cabMember{{"package.xml", fx.pkg}})}})
	_, err := Read(context.Background(), bytesReaderAt(outer), int64(len(outer)), Options{})
	if err == nil || !strings.Contains(err.Error(), "no index.xml") {
		t.Fatalf("got %v, want an error about index.xml", err)
	}
}
