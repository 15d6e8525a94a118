package e2e

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // SHA-1 names Microsoft's files
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// --- a counting (and, on demand, stalling) reverse proxy --------------------------------

// countingProxy stands between two parts of the system and counts, per repository file
// (/waptwua/<name>), the GET requests and the body bytes it passed. It can stall one file
// once: the first GET of it gets its first cut bytes, then nothing until the client goes.
type countingProxy struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	gets     map[string]int
	bytes    map[string]int64
	ranges   map[string][]string
	stallOn  string
	stallCut int64
	stalled  chan struct{}
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{gets: map[string]int{}, bytes: map[string]int64{}, ranges: map[string][]string{}, stalled: make(chan struct{})}
	p.proxy = httputil.NewSingleHostReverseProxy(u)
	p.proxy.FlushInterval = -1
	p.proxy.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingProxy) serve(w http.ResponseWriter, r *http.Request) {
	name, isFile := strings.CutPrefix(r.URL.Path, api.RepoPrefix)
	p.mu.Lock()
	proxy := p.proxy
	stall := false
	if isFile && r.Method == http.MethodGet {
		p.gets[name]++
		p.ranges[name] = append(p.ranges[name], r.Header.Get("Range"))
		stall = name == p.stallOn && p.gets[name] == 1
	}
	p.mu.Unlock()
	if !isFile || r.Method != http.MethodGet {
		proxy.ServeHTTP(w, r)
		return
	}
	cw := &countingWriter{ResponseWriter: w, p: p, name: name, limit: -1, ctx: r.Context()}
	if stall {
		cw.limit = p.stallCut
		cw.stalled = p.stalled
	}
	proxy.ServeHTTP(cw, r)
}

func (p *countingProxy) count(name string) (gets int, n int64, ranges []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[name], p.bytes[name], slices.Clone(p.ranges[name])
}

// totalGets counts the GETs of update files (not of the catalog).
func (p *countingProxy) totalGets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for name, g := range p.gets {
		if !strings.HasPrefix(name, repo.CabName) { // the catalog always comes from the main server
			n += g
		}
	}
	return n
}

type countingWriter struct {
	http.ResponseWriter
	p       *countingProxy
	name    string
	limit   int64 // stall after this many body bytes; -1: never
	sent    int64
	stalled chan struct{}
	ctx     context.Context
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.limit >= 0 && c.sent+int64(len(b)) > c.limit {
		b = b[:c.limit-c.sent]
		n, _ := c.ResponseWriter.Write(b)
		c.add(n)
		http.NewResponseController(c.ResponseWriter).Flush()
		close(c.stalled)
		<-c.ctx.Done() // nothing more until the client goes away
		return n, c.ctx.Err()
	}
	n, err := c.ResponseWriter.Write(b)
	c.add(n)
	return n, err
}

func (c *countingWriter) add(n int) {
	c.sent += int64(n)
	c.p.mu.Lock()
	c.p.bytes[c.name] += int64(n)
	c.p.mu.Unlock()
}

func (c *countingWriter) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

// --- the real mirror binary -------------------------------------------------------------

type mirrorProcess struct {
	t    *testing.T
	bin  string
	args []string
	dir  string
	url  string
	n    int
	p    *serverProcess
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMirror runs "waptserver mirror" enrolled for site, syncing from mainURL.
func startMirror(t *testing.T, bin, dir, name, site, mainURL, addr string) *mirrorProcess {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "..", name+".token")
	if err := os.WriteFile(tok, []byte(enrollmentSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mirrorProcess{t: t, bin: bin, dir: dir, url: "http://" + addr, args: []string{"mirror", "--main-url", mainURL, "--data", dir,
		"--name", name, "--site", site, "--url", "http://" + addr, "--enroll-token-file", tok, "--listen", addr, "--scope", "needed",
		"--interval", "1m", "--log-level", "debug", "--concurrency", "1"}}
	m.start()
	return m
}

func (m *mirrorProcess) start() {
	t := m.t
	t.Helper()
	m.n++
	logPath := filepath.Join(m.dir, "..", fmt.Sprintf("%s.%d.log", filepath.Base(m.dir), m.n))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: exec.Command(m.bin, m.args...), log: logPath, done: make(chan error, 1), url: m.url}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start mirror: %v", err)
	}
	logf.Close()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.stop() })
	m.p = p
	waitFor(t, 60*time.Second, "mirror "+m.dir+" answering", func() (bool, string) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("mirror exited while starting (%v):\n%s", err, p.logText())
		default:
		}
		resp, err := http.Get(m.url + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// get fetches a repository file from the mirror: status and SHA-1 of the body.
func (m *mirrorProcess) get(t *testing.T, name string) (int, string) {
	t.Helper()
	resp, err := http.Get(m.url + api.RepoPrefix + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha1.New() //nolint:gosec
	_, _ = io.Copy(h, resp.Body)
	return resp.StatusCode, hex.EncodeToString(h.Sum(nil))
}

// --- agents in sites ----------------------------------------------------------------------

type siteHost struct {
	name  string
	site  string
	agent *agent.Agent
	dir   string
}

// newSiteHost registers a simulated host (product, networks) through serverURL.
func newSiteHost(t *testing.T, serverURL, name, site, product string, networks []string) *siteHost {
	t.Helper()
	dir := t.TempDir()
	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = %s\n[waptwua]\nenabled = True\n", serverURL, serverURL, name)
	cfg, err := config.ParseAgent([]byte(ini), filepath.Join(dir, "wapt-get.ini"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(sim.Profile{HostName: name, Products: []string{product}})
	profilePath := filepath.Join(dir, "host.json")
	if err := os.WriteFile(profilePath, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := sim.Open(profilePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	repoURL, _ := cfg.WUARepoURL()
	cred, err := agent.Register(context.Background(), agent.NewClient(http.DefaultClient, serverURL, repoURL, nil, "e2e"), serverURL, enrollmentSecret,
		api.RegisterRequest{UUID: name, Name: name, OS: "Windows (simulated)", AgentVersion: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.SaveCredential(cfg.Global.CredentialFile, cred); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, h, agent.NewClient(http.DefaultClient, serverURL, repoURL, cred, "e2e"), filepath.Join(dir, "data"),
		agent.WithLogger(discard), agent.WithDiskSpace(plentyOfSpace{}), agent.WithHostInfo(name, "Windows (simulated)", "e2e"),
		agent.WithNetworks(func() ([]string, error) { return networks, nil }))
	if err != nil {
		t.Fatal(err)
	}
	return &siteHost{name: name, site: site, agent: a, dir: filepath.Join(dir, "data")}
}

func (h *siteHost) clearCache(t *testing.T) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(h.dir, agent.CacheDirName)); err != nil {
		t.Fatal(err)
	}
}

func (h *siteHost) cached(t *testing.T, name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(h.dir, agent.CacheDirName, name))
	if err != nil {
		return "", false
	}
	s := sha1.Sum(b) //nolint:gosec
	return hex.EncodeToString(s[:]), true
}

// --- the test -----------------------------------------------------------------------------

// TestSiteRepositoriesEndToEnd runs the real waptserver binary (serve, and mirror twice),
// a stand-in for Microsoft, and simulated agents in two sites whose reported networks
// differ. Counting proxies stand between the mirrors and the main server and between
// the agents and the repositories (test instrumentation only).
func TestSiteRepositoriesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server and mirror binaries")
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildWaptserver(t, dir)

	// Catalog: files of 256 KiB to 1 MiB; two products with updates, one per site.
	var cabBuf bytes.Buffer
	man, err := catalog.Synthesize(&cabBuf, catalog.SynthOptions{Updates: 120, Seed: 11, MinFileSize: 256 << 10, MaxFileSize: 1 << 20, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	products := map[string][]wu.Update{}
	for _, u := range man.Updates {
		if len(u.Files) == 0 || len(u.KBs) == 0 || len(u.SupersededBy) > 0 {
			continue
		}
		for _, p := range u.Products {
			products[p] = append(products[p], u)
		}
	}
	var names []string
	for p, us := range products {
		if len(us) >= 2 && len(us) <= 8 {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	if len(names) < 2 {
		t.Fatalf("the synthetic catalog has no two products fit for the test: %v", products)
	}
	siteProduct := map[string]string{"Lyon": names[0], "Paris": names[1]}

	// The stand-in for Microsoft, reached by the server as its HTTP proxy.
	signed, pki := signCatalog(t, cabBuf.Bytes())
	files := map[string][]byte{}
	for _, f := range man.Files {
		data, err := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(f.URL)
		files[u.Path] = data
	}
	msft := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if strings.HasSuffix(r.URL.Path, "/wsusscn2.cab") {
			data, ok = signed, true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", standinModTime, bytes.NewReader(data))
	}))
	t.Cleanup(msft.Close)

	// The main server.
	dataDir := filepath.Join(dir, "data")
	ini := filepath.Join(dir, "waptserver.ini")
	conf := fmt.Sprintf("[options]\nlisten = 127.0.0.1:0\ndata = %s\nwsusscn2_url = %s\ncab_trusted_roots = %s\nhttp_proxy = %s\nenrollment_secret = %s\ncleanup_kbs = False\n",
		dataDir, cabURL, pki.CAFile, msft.URL, enrollmentSecret)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addAdmin(t, bin, ini)
	srv := startWaptserver(t, bin, ini, filepath.Join(dir, "server.log"))
	waitFor(t, 90*time.Second, "catalog imported", func() (bool, string) {
		code, body := srv.call(t, "GET", "/api/v1/admin/updates?limit=1", "", nil)
		var page struct {
			Total int `json:"total"`
		}
		_ = json.Unmarshal(body, &page)
		return code == http.StatusOK && page.Total > 0, fmt.Sprintf("HTTP %d %.200s", code, body)
	})
	srv.admin(t, "PUT", "/rules", map[string]any{"default_allow": true}, nil)

	// Counting proxies: main ← mirror k, main ← agents, mirror k ← agents.
	toMain := map[string]*countingProxy{"Lyon": newCountingProxy(t, srv.url), "Paris": newCountingProxy(t, srv.url)}
	agentsToMain := newCountingProxy(t, srv.url)
	mirrorDir := map[string]string{"Lyon": filepath.Join(dir, "mirror-lyon"), "Paris": filepath.Join(dir, "mirror-paris")}
	mirrors := map[string]*mirrorProcess{}
	fronts := map[string]*countingProxy{}
	for i, site := range []string{"Lyon", "Paris"} {
		addr := freeAddr(t)
		fronts[site] = newCountingProxy(t, "http://"+addr)
		srv.admin(t, "POST", "/sites", admin.SiteRequest{Name: site, Repositories: []string{fronts[site].srv.URL},
			Networks: []string{fmt.Sprintf("10.%d.0.0/16", i+1)}}, nil)
		mirrors[site] = startMirror(t, bin, mirrorDir[site], strings.ToLower(site)+"-1", site, toMain[site].srv.URL, addr)
	}

	// Agents: two per site, their networks differ by site.
	var hosts []*siteHost
	for i, site := range []string{"Lyon", "Lyon", "Paris", "Paris"} {
		n := 1
		if site == "Paris" {
			n = 2
		}
		hosts = append(hosts, newSiteHost(t, agentsToMain.srv.URL, fmt.Sprintf("%s-pc-%d", strings.ToLower(site), i%2+1), site,
			siteProduct[site], []string{fmt.Sprintf("10.%d.%d.%d/16", n, i, 10+i)}))
	}
	// 1. First scans: the hosts report their networks and what they miss.
	for _, h := range hosts {
		if _, err := h.agent.Scan(ctx, false); err != nil {
			t.Fatalf("%s scan: %v", h.name, err)
		}
	}
	var sites struct {
		Sites []admin.Site `json:"sites"`
	}
	srv.admin(t, "GET", "/sites", nil, &sites)
	for _, s := range sites.Sites {
		if s.HostsAssigned != 2 {
			t.Errorf("site %s: %d hosts assigned, want 2", s.Name, s.HostsAssigned)
		}
	}
	// The files each site needs, by name.
	needed := map[string]map[string]int64{} // site → name → size
	for site, product := range siteProduct {
		needed[site] = map[string]int64{}
		for _, u := range products[product] {
			for _, f := range u.Files {
				name, err := repo.NameFromURL(f.URL)
				if err != nil {
					t.Fatal(err)
				}
				needed[site][name] = f.Size
			}
		}
	}
	// Mirror Paris will be killed in the middle of its largest file.
	var stallName string
	for name, size := range needed["Paris"] {
		if stallName == "" || size > needed["Paris"][stallName] {
			stallName = name
		}
	}
	paris := toMain["Paris"]
	paris.mu.Lock()
	paris.stallOn, paris.stallCut = stallName, needed["Paris"][stallName]*2/5
	paris.mu.Unlock()

	// 2. The main server fetches the files from the stand-in.
	srv.admin(t, "POST", "/files/download-missing", nil, nil)
	waitFor(t, 90*time.Second, "the main server holds every needed file", func() (bool, string) {
		var page struct {
			Files []store.UpdateFile `json:"files"`
		}
		srv.admin(t, "GET", "/files/needed", nil, &page)
		return len(page.Files) == 0, fmt.Sprintf("%d files still needed", len(page.Files))
	})

	// 3. SIGKILL the Paris mirror in the middle of a download; the partial file is never
	// served; the restarted mirror resumes.
	select {
	case <-paris.stalled:
	case <-time.After(90 * time.Second):
		t.Fatalf("mirror Paris did not fetch %s within 90s:\n%s", stallName, mirrors["Paris"].p.logText())
	}
	if code, _ := mirrors["Paris"].get(t, stallName); code != http.StatusNotFound {
		t.Errorf("mirror Paris serves %s while downloading it: HTTP %d, want 404", stallName, code)
	}
	// The bytes received reach the disk (as a partial file) before the kill, so that the
	// resumed download can be counted to the byte.
	waitFor(t, 30*time.Second, "the partial file of "+stallName+" on mirror Paris's disk", func() (bool, string) {
		entries := repoEntries(t, filepath.Join(mirrorDir["Paris"], "waptwua"))
		return entries[stallName+".part"] == paris.stallCut, fmt.Sprint(entries)
	})
	mirrors["Paris"].p.kill(t)
	entries := repoEntries(t, filepath.Join(mirrorDir["Paris"], "waptwua"))
	if _, ok := entries[stallName]; ok {
		t.Fatalf("%s under its final name on mirror Paris after the kill: %v", stallName, entries)
	}
	t.Logf("mirror Paris after SIGKILL: %v", entries)
	mirrors["Paris"].start()

	mirrorState := func(site string) (store.Mirror, bool) {
		var out struct {
			Mirrors []store.Mirror `json:"mirrors"`
		}
		srv.admin(t, "GET", "/mirrors", nil, &out)
		for _, m := range out.Mirrors {
			if m.Site == site {
				return m, true
			}
		}
		return store.Mirror{}, false
	}
	for _, site := range []string{"Lyon", "Paris"} {
		waitFor(t, 120*time.Second, "mirror "+site+" in sync with its site's files", func() (bool, string) {
			m, ok := mirrorState(site)
			return ok && m.State.Status == "in_sync" && m.State.FilesHeld >= int64(len(needed[site])), fmt.Sprintf("%+v", m.State)
		})
	}
	// Each needed file crossed from the main server to its site's mirror exactly once
	// (its bytes once: the killed download was resumed, not started over), and no file
	// of the other site did (scope = needed).
	for site, want := range needed {
		other := map[string]string{"Lyon": "Paris", "Paris": "Lyon"}[site]
		for name, size := range want {
			gets, n, ranges := toMain[site].count(name)
			if n != size {
				t.Errorf("%s → mirror %s: %d bytes in %d GETs (%v), want %d (once)", name, site, n, gets, ranges, size)
			}
			if name != stallName && gets != 1 {
				t.Errorf("%s → mirror %s: %d GETs, want 1", name, site, gets)
			}
			if _, ok := needed[other][name]; !ok {
				if g, _, _ := toMain[other].count(name); g != 0 {
					t.Errorf("%s (needed by %s only) crossed to mirror %s %d times", name, site, other, g)
				}
			}
		}
	}
	if gets, _, ranges := paris.count(stallName); gets != 2 || !strings.HasPrefix(ranges[1], "bytes=") {
		t.Errorf("%s after the kill: %d GETs with ranges %q, want 2, the second resumed with Range", stallName, gets, ranges)
	} else {
		t.Logf("mirror Paris resumed %s with %s", stallName, ranges[1])
	}
	if code, sum := mirrors["Paris"].get(t, stallName); code != http.StatusOK || sum != wu.SHA1FromFileName(stallName) {
		t.Errorf("mirror Paris serves %s: HTTP %d SHA-1 %s", stallName, code, sum)
	}

	// 4. Every agent downloads its files from its own site's mirror.
	download := func(h *siteHost) (*agent.Summary, error) {
		h.agent.Scan(ctx, false) //nolint:errcheck // the download cycle reports its own errors
		return h.agent.Download(ctx, false)
	}
	for _, h := range hosts {
		sum, err := download(h)
		if err != nil {
			t.Fatalf("%s download: %v", h.name, err)
		}
		if sum.Pending == 0 {
			t.Errorf("%s: nothing pending after the download: %s", h.name, sum.Line())
		}
		for name := range needed[h.site] {
			if sha, ok := h.cached(t, name); !ok || sha != wu.SHA1FromFileName(name) {
				t.Errorf("%s: %s not in its cache with the right SHA-1", h.name, name)
			}
		}
	}
	for site, want := range needed {
		for name := range want {
			if gets, _, _ := fronts[site].count(name); gets != 2 {
				t.Errorf("%s served %d times by mirror %s, want 2 (its two hosts)", name, gets, site)
			}
			if gets, _, _ := agentsToMain.count(name); gets != 0 {
				t.Errorf("%s fetched %d times from the main server by agents, want 0", name, gets)
			}
		}
	}
	hostRepo := func(name string) string {
		var d admin.HostDetail
		srv.admin(t, "GET", "/hosts/"+name, nil, &d)
		return d.Host.Repository
	}
	for _, h := range hosts {
		if got, want := hostRepo(h.name), api.RepoFolder(fronts[h.site].srv.URL); got != want {
			t.Errorf("%s reports repository %q, want its site's mirror %q", h.name, got, want)
		}
	}

	// 5. Stop mirror Lyon: its agents fall back to the main server within one cycle and
	// say so in their reports.
	if err := mirrors["Lyon"].p.stop(); err != nil {
		t.Logf("stop mirror Lyon: %v", err)
	}
	before := agentsToMain.totalGets()
	fromLyon := fronts["Lyon"].totalGets() // what its two hosts took from it
	for _, h := range hosts[:2] {
		h.clearCache(t)
		if _, err := download(h); err != nil {
			t.Fatalf("%s download without its mirror: %v", h.name, err)
		}
		for name := range needed["Lyon"] {
			if sha, ok := h.cached(t, name); !ok || sha != wu.SHA1FromFileName(name) {
				t.Errorf("%s: %s not downloaded from the main server", h.name, name)
			}
		}
		if got, want := hostRepo(h.name), srv.url+"/waptwua/"; !strings.HasSuffix(got, "/waptwua/") || got == api.RepoFolder(fronts["Lyon"].srv.URL) {
			t.Errorf("%s reports repository %q after its mirror stopped, want the main server's (%s through the proxy)", h.name, got, want)
		}
	}
	if got := agentsToMain.totalGets() - before; got != fromLyon {
		t.Errorf("after mirror Lyon stopped, the main server served %d files to its agents, want %d (what the mirror had served them)", got, fromLyon)
	}
	t.Logf("mirror Lyon stopped: its 2 agents took %d files from the main server in one cycle each", fromLyon)

	// 6. Corrupt a file on mirror Paris: the agent detects it, fetches it from the main
	// server, reports it, and never keeps the bad bytes; the mirror's scrub at restart
	// repairs it.
	var bad string
	for name := range needed["Paris"] {
		if name != stallName {
			bad = name
			break
		}
	}
	badPath := filepath.Join(mirrorDir["Paris"], "waptwua", bad)
	data, err := os.ReadFile(badPath)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(badPath, data, 0o644); err != nil { // a disk error, a bad copy
		t.Fatal(err)
	}
	h := hosts[2]
	h.clearCache(t)
	mainBefore, _, _ := agentsToMain.count(bad)
	_, err = download(h)
	if err == nil || !strings.Contains(err.Error(), "damaged copy") {
		t.Errorf("%s download with a corrupt file on its mirror: %v, want the damaged copy reported", h.name, err)
	}
	if sha, ok := h.cached(t, bad); !ok || sha != wu.SHA1FromFileName(bad) {
		t.Errorf("%s: %s in the cache with SHA-1 %s, want %s", h.name, bad, sha, wu.SHA1FromFileName(bad))
	}
	if after, _, _ := agentsToMain.count(bad); after != mainBefore+1 {
		t.Errorf("%s fetched from the main server %d times after the damaged copy, want 1", bad, after-mainBefore)
	}
	var detail admin.HostDetail
	srv.admin(t, "GET", "/hosts/"+h.name, nil, &detail)
	if !strings.Contains(detail.Host.LastError, "damaged copy") {
		t.Errorf("%s last_error = %q, want the damaged copy reported", h.name, detail.Host.LastError)
	}
	sum, err := h.agent.Install(ctx)
	if err != nil {
		t.Logf("%s install: %v", h.name, err)
	}
	if sum.Pending != 0 && sum.Missing != 0 {
		t.Errorf("%s after install: %s", h.name, sum.Line())
	}
	mirrors["Paris"].p.kill(t)
	mirrors["Paris"].start()
	waitFor(t, 60*time.Second, "mirror Paris repairs "+bad, func() (bool, string) {
		code, sha := mirrors["Paris"].get(t, bad)
		return code == http.StatusOK && sha == wu.SHA1FromFileName(bad), fmt.Sprintf("HTTP %d SHA-1 %s", code, sha)
	})
}
