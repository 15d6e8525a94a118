// Package servertest is the backend-agnostic HTTP suite of internal/server: real
// handlers behind httptest.NewServer, on a real store that the caller opens. Each
// backend's test calls Run with its opener (cmd/waptserver runs it on SQLite and, when
// installed, PostgreSQL), the way store/storetest serves the store backends.
package servertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/app/apptest"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Opener returns a fresh, migrated, empty store, closed by the test's cleanup.
type Opener func(t *testing.T) server.Store

// EnrollmentSecret is the secret the suite's servers accept.
const EnrollmentSecret = "enroll-0123456789abcdef"

// Console users the suite creates.
const (
	AdminUser      = "admin"
	AdminPassword  = "admin-password"
	ViewerUser     = "viewer"
	ViewerPassword = "viewer-password"
)

// Update ids the reports use.
const (
	UpdateA = "0a1b2c3d-0000-4000-8000-00000000000a"
	UpdateB = "0a1b2c3d-0000-4000-8000-00000000000b"
	UpdateC = "0a1b2c3d-0000-4000-8000-00000000000c"
)

// Run runs every test of the suite on stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Registration", testRegistration},
		{"RegistrationClosed", testRegistrationClosed},
		{"ReportRoundTrip", testReportRoundTrip},
		{"ReportIdempotent", testReportIdempotent},
		{"LeanReport", testLeanReport},
		{"PartialReport", testPartialReport},
		{"HostCannotActForAnother", testCrossHost},
		{"ReportTooLarge", testReportTooLarge},
		{"MalformedReport", testMalformedReport},
		{"ReportSchedule", testReportSchedule},
		{"AdminRequiresCredentials", testAdminRequiresCredentials},
		{"ReadOnlyCannotChange", testReadOnlyCannotChange},
		{"SessionLogin", testSessionLogin},
		{"LongPollWakesOnTrigger", testLongPollWakes},
		{"LongPollTimesOutEmpty", testLongPollTimeout},
		{"LongPollSeesOtherReplica", testLongPollOtherReplica},
		{"LongPollReleasedOnShutdown", testLongPollShutdown},
		{"CommandResult", testCommandResult},
		{"BulkCommands", testBulkCommands},
		{"RepositoryStaysInFolder", testRepositoryTraversal},
		{"Operations", testOperations},
		{"ReadyzReportsStoreDown", testReadyzStoreDown},
		{"ReadyzCatalogAndJobs", testReadyzCatalogAndJobs},
		{"SecurityHostileBodies", testHostileBodies},
		{"SecurityAdminRequestsChecked", testAdminRequestsChecked},
		{"SecurityLoginThrottle", testLoginThrottle},
		{"SecuritySessionsEnd", testSessionsEnd},
		{"SecurityHostTakeover", testHostTakeover},
		{"SecurityEnrollmentTokens", testEnrollmentTokens},
		{"SecurityApproval", testApproval},
		{"SecurityCommandsAtLeastOnce", testCommandsAtLeastOnce},
		{"SecurityDownloadWriteDeadline", testDownloadWriteDeadline},
		{"SecurityTransportBehindProxy", testTransportBehindProxy},
		{"JobsHooks", testJobs},
		{"Users", testUsers},
		{"AuditLog", testAudit},
		{"Rules", testRules},
		{"UpdatesAndHosts", testUpdatesAndHosts},
		{"UnknownEndpoint", testUnknownEndpoint},
		{"RulesPackages", testPackages},
		{"RulesPackagesUnverified", testPackagesUnverified},
		{"MirrorEnrollment", testMirrorEnrollment},
		{"MirrorManifest", testMirrorManifest},
		{"MirrorState", testMirrorState},
		{"Sites", testSites},
		{"UpdatePackages", testUpdatePackages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// Env is one server under test.
type Env struct {
	T       *testing.T
	Store   server.Store
	Server  *server.Server
	HTTP    *httptest.Server
	DataDir string
	RepoDir string
	Jobs    *FakeJobs
}

// NewEnv starts a server on a fresh store with the two console users, a repository
// folder under a temporary data folder and fake jobs. opts come after the defaults.
func NewEnv(t *testing.T, open Opener, opts ...server.Option) *Env {
	t.Helper()
	return newEnvOn(t, open(t), opts...)
}

func newEnvOn(t *testing.T, st server.Store, opts ...server.Option) *Env {
	t.Helper()
	data := t.TempDir()
	rp, err := repo.Open(filepath.Join(data, "waptwua"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	e := &Env{T: t, Store: st, DataDir: data, RepoDir: rp.Dir(), Jobs: &FakeJobs{DeletedFiles: 2, DeletedBytes: 300}}
	ctx := context.Background()
	for _, u := range []struct {
		name, pw string
		role     store.Role
	}{{AdminUser, AdminPassword, store.RoleAdmin}, {ViewerUser, ViewerPassword, store.RoleReadOnly}} {
		if _, err := st.GetUser(ctx, u.name); err == nil {
			continue // a second replica on the same store
		}
		h, err := app.HashPassword(u.pw, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := st.CreateUser(ctx, store.User{Username: u.name, PasswordHash: h, Role: u.role, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]server.Option{
		server.WithLogger(testLogger(t)),
		server.WithRepo(rp),
		server.WithJobs(e.Jobs),
		server.WithEnrollmentSecret(EnrollmentSecret),
		server.WithPasswordCost(bcrypt.MinCost),
		server.WithRules(&server.FileRules{Path: filepath.Join(data, "waptwua_rules.json")}),
	}, opts...)
	e.Server = server.New(st, all...)
	e.HTTP = httptest.NewServer(e.Server.Handler())
	t.Cleanup(func() {
		e.Server.Shutdown()
		e.HTTP.Close()
	})
	return e
}

// Auth sets a request's credentials.
type Auth func(*http.Request)

// Basic authenticates as a console user.
func Basic(user, password string) Auth {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// Bearer sends a bearer token (host credential, enrollment secret or session token).
func Bearer(tok string) Auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// Admin and Viewer authenticate as the suite's users.
var (
	Admin  = Basic(AdminUser, AdminPassword)
	Viewer = Basic(ViewerUser, ViewerPassword)
)

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Error decodes an error body.
func (r Response) Error(t *testing.T) api.Error {
	t.Helper()
	var e api.Error
	r.JSON(t, &e)
	return e
}

// Do sends a request; body is sent as is when it is []byte or a string, as JSON
// otherwise (nil: no body).
func (e *Env) Do(method, path string, auth Auth, body any) Response {
	e.T.Helper()
	return do(e.T, e.HTTP.URL, method, path, auth, body, nil)
}

func do(t *testing.T, base, method, path string, auth Auth, body any, hdr http.Header) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// Want fails the test unless the response has the status.
func Want(t *testing.T, r Response, status int, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
}

// Register registers a host and returns its credential.
func (e *Env) Register(uuid string) string {
	e.T.Helper()
	r := e.Do("POST", api.PathRegister, Bearer(EnrollmentSecret), api.RegisterRequest{
		UUID: uuid, Name: "host-" + strings.ToLower(uuid[:min(8, len(uuid))]), OS: "Windows 11 Pro", AgentVersion: "0.1.0",
	})
	Want(e.T, r, http.StatusOK, "register "+uuid)
	var reg api.RegisterResponse
	r.JSON(e.T, &reg)
	if reg.UUID != uuid || reg.Credential == "" {
		e.T.Fatalf("register: got %+v", reg)
	}
	return reg.Credential
}

// HostPath fills {uuid} (and {id}) of an agent API path.
func HostPath(p, uuid string, id ...string) string {
	p = strings.Replace(p, "{uuid}", url.PathEscape(uuid), 1)
	if len(id) > 0 {
		p = strings.Replace(p, "{id}", id[0], 1)
	}
	return p
}

// Report sends a report as the host.
func (e *Env) Report(uuid, cred string, rep any) Response {
	e.T.Helper()
	return e.Do("POST", HostPath(api.PathReport, uuid), Bearer(cred), rep)
}

// sampleReport is a full report with three updates.
func sampleReport() api.Report {
	return api.Report{
		Full: true, ScanAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), WUAStatus: "PENDING_UPDATES",
		Name: "pc-1", OS: "Windows 11 Pro", AgentVersion: "0.1.0",
		Updates: []api.UpdateStatus{
			{UpdateID: UpdateA, RevisionNumber: 201, Status: wu.StatusMissing, Title: "2026-11 Cumulative Update", KBs: []string{"KB5034441"},
				Severity: wu.SeverityCritical, Classification: "Security Updates", Products: []string{"Windows 11"}},
			{UpdateID: UpdateB, RevisionNumber: 1, Status: wu.StatusOK, Title: "Servicing stack update", KBs: []string{"5000001"},
				Classification: "Updates", Products: []string{"Windows 11"}, InstalledAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
			{UpdateID: UpdateC, RevisionNumber: 3, Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Title: "Feature update",
				KBs: []string{"KB5000002"}, Severity: wu.SeverityImportant, Classification: "Upgrades", Products: []string{"Windows 11"}},
		},
	}
}

// hostUpdates lists a host's statuses through the admin API.
func (e *Env) hostUpdates(uuid string) map[string]map[string]any {
	e.T.Helper()
	r := e.Do("GET", server.AdminPrefix+"/hosts/"+url.PathEscape(uuid)+"/updates", Admin, nil)
	Want(e.T, r, http.StatusOK, "host updates")
	var body struct {
		Updates []map[string]any `json:"updates"`
	}
	r.JSON(e.T, &body)
	out := map[string]map[string]any{}
	for _, u := range body.Updates {
		out[u["key"].(string)] = u
	}
	return out
}

// FakeJobs records what the admin API asks of the jobs.
type FakeJobs = apptest.FakeJobs

// rawGet sends a request line exactly as given (no client-side cleaning) and follows
// redirects the same way, up to 3 times.
func rawGet(t *testing.T, base, target string) (int, []byte) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("GET %s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc := resp.Header.Get("Location")
			if loc == "" {
				return resp.StatusCode, body
			}
			if lu, err := url.Parse(loc); err == nil && lu.Host != "" {
				loc = lu.RequestURI()
			}
			target = loc
			continue
		}
		return resp.StatusCode, body
	}
	t.Fatalf("GET %s: too many redirects", target)
	return 0, nil
}

// writeFile writes a test file.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
