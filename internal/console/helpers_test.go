package console

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/app/apptest"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/wu"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testNow is the console's clock in the handler tests.
var testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

const (
	adminPass  = "admin-password-123"
	viewerPass = "viewer-password-123"
)

// memRules keeps server rules in memory.
type memRules struct {
	mu sync.Mutex
	r  rules.Rules
}

func (m *memRules) ServerRules(context.Context) (rules.Rules, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.r, nil
}

func (m *memRules) SetServerRules(_ context.Context, r rules.Rules) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.r = r
	return nil
}

type fakeUsage struct{}

func (fakeUsage) Usage() (repo.Usage, error) { return repo.Usage{Files: 12, Bytes: 345 << 20}, nil }

type env struct {
	t     *testing.T
	st    *sqlite.Store
	jobs  *apptest.FakeJobs
	rules *memRules
	srv   *httptest.Server
}

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func addUser(t testing.TB, st store.UserStore, name, password string, role store.Role) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), store.User{Username: name, PasswordHash: string(hash), Role: role,
		CreatedAt: testNow, UpdatedAt: testNow}); err != nil {
		t.Fatal(err)
	}
}

// testApp is the application layer over st, with the console's test clock; jobs and
// roots may be nil.
func testApp(t testing.TB, st *sqlite.Store, jobs app.Jobs, roots *x509.CertPool, opts ...app.Option) *app.App {
	t.Helper()
	d := app.Deps{Audit: st, Users: st, Commands: st, Packages: st, Updates: st, Sessions: st, Hosts: st, Tokens: st, Jobs: jobs, PackageRoots: roots, Schedules: st,
		PackageRootsSource: "test CA", Sites: st}
	a, err := app.New(d, append([]app.Option{app.WithClock(func() time.Time { return testNow }), app.WithLogger(quiet),
		app.WithPasswordCost(bcrypt.MinCost)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newEnv starts the console over a fresh SQLite store with an admin and a read-only user.
func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t) }

// newEnvWith is newEnv with more options for the application layer.
func newEnvWith(t *testing.T, opts ...app.Option) *env {
	t.Helper()
	e := &env{t: t, st: openStore(t, filepath.Join(t.TempDir(), "console.db")), jobs: &apptest.FakeJobs{DeletedFiles: 3, DeletedBytes: 12345}, rules: &memRules{}}
	addUser(t, e.st, "admin", adminPass, store.RoleAdmin)
	addUser(t, e.st, "viewer", viewerPass, store.RoleReadOnly)
	h, err := New(Deps{Store: e.st, App: testApp(t, e.st, e.jobs, nil, opts...), Rules: e.rules, Cache: fakeUsage{}, Packages: e.st, Mirrors: e.st},
		WithClock(func() time.Time { return testNow }), WithLogger(quiet), WithLocation(time.UTC),
		WithSessionKey([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser-like HTTP client with cookies that does not follow redirects.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, base: e.srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) get(path string) resp { c.t.Helper(); return c.do("GET", path, nil) }

// post sends a form with the CSRF token of the last page read.
func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, form)
}

func (c *client) login(user, password string) {
	c.t.Helper()
	c.get("/ui/login")
	r := c.post("/ui/login", url.Values{"username": {user}, "password": {password}})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("login %s: HTTP %d\n%s", user, r.status, r.body)
	}
	c.get("/ui/")
}

// seed imports n catalog updates (titles from title(i), when given) and registers hosts
// with reports.
func seed(t testing.TB, st *sqlite.Store, us []wu.Update, cats []wu.Category, hosts int) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf(us), Categories: cats, At: testNow.Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	statuses := []wu.Status{wu.StatusOK, wu.StatusMissing, wu.StatusPending, wu.StatusDiscarded, wu.StatusError, wu.StatusOK}
	for h := range hosts {
		uuid := fmt.Sprintf("host-%03d", h)
		if _, err := st.RegisterHost(ctx, store.HostRegistration{UUID: uuid, Name: fmt.Sprintf("pc-%03d", h), OS: "Windows 11",
			CredentialID: "cred-" + uuid, CredentialHash: []byte("x"), At: testNow.Add(-20 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		at := testNow.Add(-time.Duration(h) * time.Hour)
		if h%5 == 4 {
			at = testNow.Add(-9 * 24 * time.Hour) // not seen for 7 days
		}
		r := store.Report{At: at, ScanAt: at, Full: true, WUAStatus: "PENDING_UPDATES", RebootPending: h%4 == 3}
		for i := h; i < len(us) && len(r.Updates) < 12; i += 3 {
			s := statuses[(h+i)%len(statuses)]
			ru := store.ReportedUpdate{Key: us[i].Key(), Status: s}
			switch s {
			case wu.StatusDiscarded:
				ru.Reason = wu.ReasonNotAllowed
			case wu.StatusError:
				ru.LastError = "0x80240022 WU_E_ALL_UPDATES_FAILED"
			case wu.StatusOK:
				ru.InstalledAt = at.Add(-time.Duration(i%10) * 24 * time.Hour)
			}
			r.Updates = append(r.Updates, ru)
		}
		if err := st.ApplyReport(ctx, uuid, r); err != nil {
			t.Fatal(err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
