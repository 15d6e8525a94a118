package agent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// mirrorStandIn is a site repository standing in for `waptserver mirror`: a plain file
// server of a folder under /waptwua/, counting the GETs of each file.
type mirrorStandIn struct {
	srv *httptest.Server
	dir string

	mu   sync.Mutex
	gets map[string]int
}

func newMirrorStandIn(t *testing.T) *mirrorStandIn {
	t.Helper()
	m := &mirrorStandIn{dir: t.TempDir(), gets: map[string]int{}}
	files := http.StripPrefix("/waptwua/", http.FileServer(http.Dir(m.dir)))
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			m.mu.Lock()
			m.gets[strings.TrimPrefix(r.URL.Path, "/waptwua/")]++
			m.mu.Unlock()
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mirrorStandIn) put(t *testing.T, name string, content []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, name), content, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (m *mirrorStandIn) getCount(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets[name]
}

// downloadedNames are the update files in the agent's cache.
func downloadedNames(t *testing.T, h *harness) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(h.agent.DataDir(), CacheDirName))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), ".part") {
			out = append(out, e.Name())
		}
	}
	return out
}

// siteFleet is the fleet agent reporting its networks, with the rules answer listing
// repos as its site's repositories.
func siteFleet(t *testing.T, repos ...string) *harness {
	t.Helper()
	h := newFleet(t)
	h.rebuild(WithNetworks(func() ([]string, error) { return []string{"10.1.2.3/24", "2001:db8::5/64"}, nil }))
	h.srv.mu.Lock()
	h.srv.repositories = repos
	h.srv.mu.Unlock()
	return h
}

func TestSiteRepositoryFirstThatAnswers(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // a site repository that does not answer at all
	m := newMirrorStandIn(t)
	for _, kb := range []string{"5000004", "5000006", "5000007"} {
		name, content := payload(kb)
		m.put(t, name, content)
	}
	h := siteFleet(t, downURL, m.srv.URL+"/wapt")
	if _, err := h.agent.Download(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := downloadedNames(t, h)
	if len(got) == 0 {
		t.Fatal("nothing downloaded")
	}
	for _, name := range got {
		if n := m.getCount(name); n != 1 {
			t.Errorf("%s fetched %d times from the site repository, want 1", name, n)
		}
		if n := h.srv.countRequests("GET /waptwua/" + name); n != 0 {
			t.Errorf("%s fetched %d times from the main server, want 0", name, n)
		}
		_, want := payload(strings.TrimPrefix(strings.SplitN(name, "-", 3)[1], "kb"))
		if b, _ := os.ReadFile(filepath.Join(h.agent.DataDir(), CacheDirName, name)); !bytes.Equal(b, want) {
			t.Errorf("%s: wrong content in the cache", name)
		}
	}
	rep := h.srv.lastReport(t)
	if rep.Repository != m.srv.URL+"/waptwua/" {
		t.Errorf("report repository = %q, want the answering site repository %s/waptwua/", rep.Repository, m.srv.URL)
	}
	if !slices.Equal(rep.Networks, []string{"10.1.2.3/24", "2001:db8::5/64"}) {
		t.Errorf("report networks = %v", rep.Networks)
	}

	// The site repository stops: the next cycle falls back to the main server and says so.
	m.srv.Close()
	if err := os.RemoveAll(filepath.Join(h.agent.DataDir(), CacheDirName)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.agent.Download(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range got {
		if n := h.srv.countRequests("GET /waptwua/" + name); n != 1 {
			t.Errorf("after the mirror stopped, %s fetched %d times from the main server, want 1", name, n)
		}
	}
	if rep := h.srv.lastReport(t); rep.Repository != h.srv.URL()+"/waptwua/" {
		t.Errorf("report repository after the fallback = %q, want the main server's", rep.Repository)
	}
}

func TestSiteRepositoryMissingOrDamagedFile(t *testing.T) {
	name, content := payload("5000004") // the one file the fleet downloads
	for _, damaged := range []bool{false, true} {
		m := newMirrorStandIn(t)
		if damaged {
			m.put(t, name, []byte("damaged bytes"))
		} // else the site repository lacks it
		h := siteFleet(t, m.srv.URL)
		_, err := h.agent.Download(ctx, false)
		if damaged && (err == nil || !strings.Contains(err.Error(), "served a damaged copy") || !strings.Contains(err.Error(), name)) {
			t.Fatalf("Download error = %v, want the damaged copy reported", err)
		}
		if !damaged && err != nil {
			t.Fatal(err)
		}
		if got := downloadedNames(t, h); !slices.Equal(got, []string{name}) {
			t.Fatalf("downloaded %v, want %s", got, name)
		}
		if b, _ := os.ReadFile(filepath.Join(h.agent.DataDir(), CacheDirName, name)); !bytes.Equal(b, content) {
			t.Errorf("damaged=%v: wrong content in the cache", damaged)
		}
		if fromMain, fromSite := h.srv.countRequests("GET /waptwua/"+name), m.getCount(name); fromMain != 1 || fromSite != 1 {
			t.Errorf("damaged=%v: %d GETs on the main server and %d on the site repository, want 1 and 1", damaged, fromMain, fromSite)
		}
		rep := h.srv.lastReport(t)
		if damaged != strings.Contains(rep.LastError, "damaged copy") {
			t.Errorf("damaged=%v: report last_error = %q", damaged, rep.LastError)
		}
		if rep.Repository != h.srv.URL()+"/waptwua/" {
			t.Errorf("damaged=%v: report repository = %q, want the main server's (it served the file)", damaged, rep.Repository)
		}
	}
}

// TestSiteRepositoryCatalog: once the host knows its site, a new catalog comes from the
// site repository, checked against the main server's wsusscn2.cab.sha1; a site copy
// that does not match is refused and the main server's catalog taken.
func TestSiteRepositoryCatalog(t *testing.T) {
	m := newMirrorStandIn(t)
	h := siteFleet(t, m.srv.URL)
	if _, err := h.agent.Scan(ctx, false); err != nil { // learns its site
		t.Fatal(err)
	}
	mainCabGets := func() int { // the catalog itself, not its .sha1
		return h.srv.countRequests("GET /waptwua/"+CabFileName) - h.srv.countRequests("GET /waptwua/"+CabSHA1Name)
	}
	before := mainCabGets()

	// The main server publishes a new catalog; the site repository has it.
	v2 := []byte("MSCF fake catalog v2")
	h.srv.setCab(v2, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	m.put(t, CabFileName, v2)
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(h.agent.cabPath()); !bytes.Equal(got, v2) {
		t.Fatalf("local catalog = %q, want v2", got)
	}
	if n := m.getCount(CabFileName); n != 1 {
		t.Errorf("catalog fetched %d times from the site repository, want 1", n)
	}
	if n := mainCabGets() - before; n != 0 {
		t.Errorf("catalog fetched %d times from the main server, want 0 (only its .sha1)", n)
	}
	// Unchanged: no download at all.
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := m.getCount(CabFileName); n != 1 || mainCabGets() != before {
		t.Errorf("an unchanged catalog was downloaded again: %d from the site, %d from the main server", n, mainCabGets()-before)
	}

	// v3 on the main server, a stale copy on the site: refused, the main server's taken.
	v3 := []byte("MSCF fake catalog v3")
	h.srv.setCab(v3, time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC))
	if _, err := h.agent.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(h.agent.cabPath()); !bytes.Equal(got, v3) {
		t.Fatalf("local catalog = %q, want v3 from the main server", got)
	}
	if n := mainCabGets() - before; n != 1 {
		t.Errorf("catalog fetched %d times from the main server after a stale site copy, want 1", n)
	}
}
