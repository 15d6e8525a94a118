package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// synthCab writes a small synthetic wsusscn2.cab and returns its path and manifest.
func synthCab(t *testing.T, dir string) (string, *catalog.SynthManifest) {
	t.Helper()
	path := filepath.Join(dir, "wsusscn2.cab")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	man, err := catalog.Synthesize(f, catalog.SynthOptions{Updates: 400, Seed: 7, DetailCabs: 2,
		MinFileSize: 16, MaxFileSize: 256, Workers: 1, TempDir: dir})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, man
}

// TestSimOverSynthesizedCatalog drives a profile-file host through a real cab: the
// scan result is the catalog's updates of the host's products minus the superseded
// ones, and an update installs once its files, made as the stand-in for Microsoft
// makes them, are in the cache.
func TestSimOverSynthesizedCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a synthetic catalog")
	}
	dir := t.TempDir()
	cabPath, man := synthCab(t, dir)

	// The host's product: the one with the most updates in the catalog.
	count := map[string]int{}
	for _, u := range man.Updates {
		for _, p := range u.Products {
			count[p]++
		}
	}
	product := ""
	for p, n := range count {
		if n > count[product] || n == count[product] && p < product {
			product = p
		}
	}
	var mine []wu.Update
	for _, u := range man.Updates {
		for _, p := range u.Products {
			if p == product {
				mine = append(mine, u)
			}
		}
	}
	applicable := map[string]bool{}
	for _, u := range mine {
		applicable[u.UpdateID] = true
	}
	var want, wantAll []string
	for _, u := range mine {
		wantAll = append(wantAll, u.Key().String())
		superseded := false
		for _, by := range u.SupersededBy {
			superseded = superseded || applicable[by]
		}
		if !superseded {
			want = append(want, u.Key().String())
		}
	}
	sort.Strings(want)
	sort.Strings(wantAll)
	if len(want) == len(wantAll) {
		t.Logf("no supersedence among the %d updates of %s", len(mine), product)
	}

	profilePath := filepath.Join(dir, "pc-001.json")
	profile, _ := json.Marshal(Profile{HostName: "pc-001", Products: []string{strings.ToUpper(product)}})
	if err := os.WriteFile(profilePath, profile, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Open(profilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	keys := func(us []wua.Update) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Key.String())
		}
		sort.Strings(out)
		return out
	}
	all, err := h.Scan(ctx, wua.ScanOptions{CabPath: cabPath, IncludeSuperseded: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAll, keys(all)); diff != "" {
		t.Errorf("scan with superseded (-want +got):\n%s", diff)
	}
	latest, err := h.Scan(ctx, wua.ScanOptions{CabPath: cabPath})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, keys(latest)); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}

	// Download the files of one update with files, as the repository names them.
	var target *wua.Update
	for i := range latest {
		if len(latest[i].Bundled[0].Downloads) > 0 {
			target = &latest[i]
			break
		}
	}
	if target == nil {
		t.Fatal("no update with files")
	}
	sizes := map[string]catalog.SynthFile{}
	for _, f := range man.Files {
		sizes[f.URL] = f
	}
	var paths []string
	for _, d := range target.Bundled[0].Downloads {
		sf, ok := sizes[d.URL]
		if !ok {
			t.Fatalf("%s not in the manifest's files", d.URL)
		}
		p := filepath.Join(dir, d.FileName)
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, catalog.SynthFileContent(sf.Name, sf.Size))
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := wu.SHA1FromFileName(d.FileName); got != "" && got != sf.SHA1 {
			t.Errorf("%s: name digest %s, file digest %s", d.FileName, got, sf.SHA1)
		}
		paths = append(paths, p)
	}
	if err := h.CopyToCache(ctx, target.Key, paths); err != nil {
		t.Fatal(err)
	}
	res, err := h.Install(ctx, []wu.UpdateKey{target.Key})
	if err != nil || res.ResultCode != wua.Succeeded {
		t.Fatalf("install = %+v, %v", res, err)
	}
	h.Close()

	// The next run of the same host sees it installed.
	h2, err := Open(profilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	again, err := h2.Scan(ctx, wua.ScanOptions{CabPath: cabPath, Criteria: "IsInstalled=1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(again); !cmp.Equal(got, []string{target.Key.String()}) {
		t.Errorf("installed after reload = %v, want %s", got, target.Key)
	}
	if _, err := h2.Scan(ctx, wua.ScanOptions{CabPath: filepath.Join(dir, "nope.cab")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing cab: %v", err)
	}
}
