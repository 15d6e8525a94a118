package servertest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/edge"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
)

// The security suite of issue 11: each test failed on the server before the fix.

// heapAllocs reads the process's cumulative heap allocations (runtime/metrics).
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// testHostileBodies (item 2): hostile report bodies are refused (400) in well under a
// second, allocating a small multiple of their size, with short error messages.
func testHostileBodies(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	bigArray := "{\"updates\":[" + strings.Repeat("0,", 2_000_000-1) + "0]}"
	deep := strings.Repeat("[", 4_000_000)
	longString := `{"last_error":"` + strings.Repeat("a", 3<<20) + `"}`
	dupKeys := `{"full":true,"full":false,"updates":[]}`
	foldedKeys := `{"full":true,"FULL":false,"updates":[]}`
	for _, tt := range []struct {
		name, body string
	}{
		{"2M-element array", bigArray},
		{"deep nesting", deep},
		{"long string", longString},
		{"duplicate keys", dupKeys},
		{"keys differing in case", foldedKeys},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			before := heapAllocs()
			start := time.Now()
			r := do(t, e.HTTP.URL, "POST", HostPath(api.PathReport, hostA), Bearer(cred), tt.body, nil)
			took := time.Since(start)
			grew := heapAllocs() - before
			t.Logf("%s (%d bytes): HTTP %d in %v, %.1f MiB allocated, error %d bytes", tt.name, len(tt.body), r.Status, took,
				float64(grew)/(1<<20), len(r.Body))
			Want(t, r, http.StatusBadRequest, tt.name)
			if len(r.Body) > 600 {
				t.Errorf("error answer of %d bytes, want a short message", len(r.Body))
			}
			// Generous bounds (the figures above are the real ones): the whole process's
			// allocations during the request, client included.
			if grew > 64<<20 {
				t.Errorf("%.1f MiB allocated for one hostile request, want < 64 MiB", float64(grew)/(1<<20))
			}
			if took > 5*time.Second {
				t.Errorf("refused after %v", took)
			}
		})
	}
	// The host still reports normally.
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "normal report after the hostile ones")
}

// testAdminRequestsChecked (also found): the admin API refuses a cross-site browser
// request on every change route, and bodies that are not application/json.
func testAdminRequestsChecked(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	body := map[string]any{"username": "mallory", "password": "plum-fjord-42-vortex", "role": "admin"}
	crossSite := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	r := do(t, e.HTTP.URL, "POST", server.AdminPrefix+"/users", Admin, body, crossSite)
	Want(t, r, http.StatusForbidden, "cross-site POST /users with cached Basic credentials")
	for _, rt := range changeRoutes() {
		r := do(t, e.HTTP.URL, rt.method, rt.path, Admin, rt.body, crossSite)
		if r.Status != http.StatusForbidden {
			t.Errorf("cross-site %s %s: %d, want 403", rt.method, rt.path, r.Status)
		}
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		r := do(t, e.HTTP.URL, "POST", server.AdminPrefix+"/users", Admin, body, http.Header{"Content-Type": {ct}})
		Want(t, r, http.StatusUnsupportedMediaType, "POST /users with Content-Type "+strconv.Quote(ct))
	}
	if _, err := e.Store.GetUser(t.Context(), "mallory"); err == nil {
		t.Fatal("a refused request created the user")
	}
	// Same-origin and non-browser requests still work.
	r = do(t, e.HTTP.URL, "POST", server.AdminPrefix+"/users", Admin, body, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	Want(t, r, http.StatusCreated, "same-origin POST /users")
}

// testLoginThrottle (item 3): wrong passwords lock the account out with 429 and
// Retry-After, on the admin login and on Basic auth; the right password is refused
// while locked; the lockout and the successful login are audited.
func testLoginThrottle(t *testing.T, open Opener) {
	clock := &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := NewEnv(t, open, server.WithClock(clock.Now))
	login := func(pw string) Response {
		return e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": AdminUser, "password": pw})
	}
	locked := false
	for i := 0; i < 30 && !locked; i++ {
		r := login("wrong-password")
		switch r.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			locked = true
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("wrong password %d: %d", i, r.Status)
		}
	}
	if !locked {
		t.Fatal("30 wrong passwords, never throttled")
	}
	Want(t, login(AdminPassword), http.StatusTooManyRequests, "right password while locked out")
	Want(t, e.Do("GET", server.AdminPrefix+"/me", Admin, nil), http.StatusTooManyRequests, "Basic auth while locked out")
	// An unknown user is throttled the same way (no hint that the name does not exist).
	for i := 0; i < 8; i++ {
		e.Do("GET", server.AdminPrefix+"/me", Basic("nobody-"+strconv.Itoa(i), "x"), nil)
	}
	clock.advance(time.Hour)
	r := login(AdminPassword)
	Want(t, r, http.StatusOK, "right password after the lockout")
	entries, err := e.Store.ListAudit(t.Context(), store.AuditFilter{Action: "session.lockout"})
	if err != nil || len(entries) == 0 {
		t.Errorf("lockout not audited: %v %v", entries, err)
	}
	entries, err = e.Store.ListAudit(t.Context(), store.AuditFilter{Action: "session.login"})
	if err != nil || len(entries) != 1 {
		t.Errorf("successful login audited %d times: %v", len(entries), err)
	}
}

// testTransportBehindProxy (also found): behind a TLS-terminating proxy (public_url
// https, or a trusted proxy's X-Forwarded-Proto) the server sends HSTS; a client that
// is not a trusted proxy cannot claim HTTPS nor another address.
func testTransportBehindProxy(t *testing.T, open Opener) {
	cfg, err := edge.Parse("", []string{"127.0.0.1/32", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEnv(t, open, server.WithEdge(cfg))
	r := do(t, e.HTTP.URL, "GET", "/healthz", nil, nil, http.Header{"X-Forwarded-Proto": {"https"}})
	if r.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS behind a trusted TLS proxy")
	}
	r = do(t, e.HTTP.URL, "GET", "/healthz", nil, nil, nil)
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	untrusted := NewEnv(t, open)
	r = do(t, untrusted.HTTP.URL, "GET", "/healthz", nil, nil, http.Header{"X-Forwarded-Proto": {"https"}})
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Error("an untrusted client made the server claim HTTPS")
	}
	pub, _ := edge.Parse("https://wapt.example.org", nil)
	r = do(t, NewEnv(t, open, server.WithEdge(pub)).HTTP.URL, "GET", "/healthz", nil, nil, nil)
	if !strings.Contains(r.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS with public_url https://")
	}
}

// register posts a registration with bearer (secret or token) and an optional current
// credential, and returns the response.
func (e *Env) register(uuid, bearer, current string) Response {
	e.T.Helper()
	return e.Do("POST", api.PathRegister, Bearer(bearer), api.RegisterRequest{UUID: uuid, Name: "pc-" + uuid[:4], OS: "Windows 11",
		AgentVersion: "0.1.0", CurrentCredential: current})
}

func credentialOf(t *testing.T, r Response) string {
	t.Helper()
	var rr api.RegisterResponse
	r.JSON(t, &rr)
	return rr.Credential
}

// testHostTakeover (item 1): the enrollment secret no longer lets anyone take over a
// registered host; the real host keeps working; rotation proves the current credential;
// an administrator's reset (audited host.reset) lets a reinstalled machine register.
func testHostTakeover(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	r := e.register(hostA, EnrollmentSecret, "")
	Want(t, r, http.StatusConflict, "attacker re-registers an existing UUID with the enrollment secret")
	if !strings.Contains(r.Error(t).Error, "reset") {
		t.Errorf("409 without the way out: %s", r.Body)
	}
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusOK, "the real host after the attempt")
	Want(t, e.register(hostA, EnrollmentSecret, cred[:len(cred)-2]+"xx"), http.StatusUnauthorized, "rotation with a wrong credential")
	credB := e.Register(hostB)
	Want(t, e.register(hostA, EnrollmentSecret, credB), http.StatusUnauthorized, "rotation with another host's credential")

	// Rotation: the host proves its current credential.
	r = e.register(hostA, EnrollmentSecret, cred)
	Want(t, r, http.StatusOK, "rotation")
	cred2 := credentialOf(t, r)
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusUnauthorized, "old credential after rotation")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred2), nil), http.StatusOK, "new credential after rotation")

	// Reset by an administrator: authorisation first.
	reset := server.AdminPrefix + "/hosts/" + hostA + "/reset"
	Want(t, e.Do("POST", reset, nil, nil), http.StatusUnauthorized, "anonymous reset")
	Want(t, e.Do("POST", reset, Viewer, nil), http.StatusForbidden, "read-only reset")
	Want(t, e.Do("POST", server.AdminPrefix+"/hosts/nope/reset", Admin, nil), http.StatusNotFound, "reset an unknown host")
	Want(t, e.Do("POST", reset, Admin, nil), http.StatusOK, "admin reset")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred2), nil), http.StatusUnauthorized, "credential after reset")
	r = e.register(hostA, EnrollmentSecret, "")
	Want(t, r, http.StatusOK, "registration after reset")
	Want(t, e.register(hostA, EnrollmentSecret, ""), http.StatusConflict, "a second registration after the reset")
	if entries, err := e.Store.ListAudit(t.Context(), store.AuditFilter{Action: "host.reset"}); err != nil || len(entries) != 1 || entries[0].Actor != AdminUser {
		t.Errorf("host.reset audit: %+v %v", entries, err)
	}
}

// testEnrollmentTokens (item 1): tokens managed in the admin API, shown once, with a
// label, an expiry, a maximum of uses, revocable; enrollment_secret keeps working.
func testEnrollmentTokens(t *testing.T, open Opener) {
	clock := &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := NewEnv(t, open, server.WithClock(clock.Now))
	path := server.AdminPrefix + "/enrollment-tokens"
	body := map[string]any{"label": "site Lyon", "max_uses": 2, "expires_at": clock.Now().Add(48 * time.Hour)}
	Want(t, e.Do("POST", path, nil, body), http.StatusUnauthorized, "anonymous token creation")
	Want(t, e.Do("POST", path, Viewer, body), http.StatusForbidden, "read-only token creation")
	Want(t, e.Do("GET", path, Viewer, nil), http.StatusForbidden, "read-only token list")
	Want(t, e.Do("POST", path, Admin, map[string]any{"label": ""}), http.StatusBadRequest, "token without a label")
	r := e.Do("POST", path, Admin, body)
	Want(t, r, http.StatusCreated, "create a token")
	var created struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	r.JSON(t, &created)
	if len(created.Token) < 40 {
		t.Fatalf("token %q too short", created.Token)
	}
	r = e.Do("GET", path, Admin, nil)
	Want(t, r, http.StatusOK, "list tokens")
	if strings.Contains(string(r.Body), created.Token) || !strings.Contains(string(r.Body), "site Lyon") {
		t.Errorf("token list shows the token or lacks the label: %s", r.Body)
	}
	Want(t, e.register(hostA, created.Token, ""), http.StatusOK, "register with the token")
	Want(t, e.register(hostB, created.Token, ""), http.StatusOK, "second use")
	Want(t, e.register(hostC, created.Token, ""), http.StatusUnauthorized, "third use of a 2-use token")
	Want(t, e.register(hostC, "wet_"+strings.Repeat("0", 64), ""), http.StatusUnauthorized, "unknown token")
	Want(t, e.register(hostC, EnrollmentSecret, ""), http.StatusOK, "enrollment_secret still works")

	r = e.Do("POST", path, Admin, map[string]any{"label": "short-lived", "expires_at": clock.Now().Add(time.Hour)})
	Want(t, r, http.StatusCreated, "second token")
	var t2 struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	r.JSON(t, &t2)
	clock.advance(2 * time.Hour)
	Want(t, e.register(hostD, t2.Token, ""), http.StatusUnauthorized, "expired token")
	r = e.Do("POST", path, Admin, map[string]any{"label": "revoked"})
	r.JSON(t, &t2)
	Want(t, e.Do("DELETE", path+"/"+strconv.FormatInt(t2.ID, 10), Viewer, nil), http.StatusForbidden, "read-only revoke")
	Want(t, e.Do("DELETE", path+"/"+strconv.FormatInt(t2.ID, 10), Admin, nil), http.StatusNoContent, "revoke")
	Want(t, e.register(hostD, t2.Token, ""), http.StatusUnauthorized, "revoked token")
}

// testApproval (item 1): with registration = approve a new host waits (403 on the agent
// API) until an administrator accepts it.
func testApproval(t *testing.T, open Opener) {
	e := NewEnv(t, open, server.WithApproval(true))
	cred := credentialOf(t, e.register(hostA, EnrollmentSecret, ""))
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusForbidden, "pending host")
	r := e.Do("GET", server.AdminPrefix+"/pending-hosts", Viewer, nil)
	Want(t, r, http.StatusOK, "pending list")
	if !strings.Contains(string(r.Body), hostA) {
		t.Errorf("pending list lacks the host: %s", r.Body)
	}
	accept := server.AdminPrefix + "/pending-hosts/" + hostA + "/accept"
	Want(t, e.Do("POST", accept, Viewer, nil), http.StatusForbidden, "read-only accept")
	Want(t, e.Do("POST", accept, nil, nil), http.StatusUnauthorized, "anonymous accept")
	Want(t, e.Do("POST", accept, Admin, nil), http.StatusOK, "accept")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusOK, "accepted host")
	credB := credentialOf(t, e.register(hostB, EnrollmentSecret, ""))
	Want(t, e.Do("DELETE", server.AdminPrefix+"/pending-hosts/"+hostB, Admin, nil), http.StatusNoContent, "reject")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostB), Bearer(credB), nil), http.StatusUnauthorized, "rejected host")
}

// testCommandsAtLeastOnce (also found): a command delivered but never acknowledged (the
// answer was lost) is delivered again after the timeout; an ack or a result stops it;
// results are idempotent.
func testCommandsAtLeastOnce(t *testing.T, open Opener) {
	clock := &testClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := NewEnv(t, open, server.WithClock(clock.Now))
	cred := e.Register(hostA)
	poll := func() []api.Command {
		r := e.Do("GET", HostPath(api.PathCommands, hostA)+"?wait=0s", Bearer(cred), nil)
		Want(t, r, http.StatusOK, "poll")
		return commandsOf(t, r)
	}
	for _, kind := range []string{"scan", "install"} {
		Want(t, e.Do("POST", server.AdminPrefix+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": kind}), http.StatusAccepted, "queue "+kind)
	}
	first := poll()
	if len(first) != 2 {
		t.Fatalf("first delivery: %+v", first)
	}
	if again := poll(); len(again) != 0 {
		t.Fatalf("redelivered at once: %+v", again)
	}
	// The agent never got the answer: after the timeout both come again.
	clock.advance(store.DefaultRedeliverAfter + time.Second)
	again := poll()
	if len(again) != 2 || again[0].ID != first[0].ID {
		t.Fatalf("redelivery after the timeout: %+v, want the ids of %+v", again, first)
	}
	result := func(id string, body any) Response {
		return e.Do("POST", HostPath(api.PathCommandResult, hostA, id), Bearer(cred), body)
	}
	Want(t, result(first[0].ID, map[string]any{"ack": true}), http.StatusNoContent, "ack the scan")
	Want(t, result(first[1].ID, map[string]any{"ok": true, "message": "done"}), http.StatusNoContent, "install result")
	Want(t, result(first[1].ID, map[string]any{"ok": true, "message": "done"}), http.StatusNoContent, "the same result again")
	clock.advance(store.DefaultRedeliverAfter + time.Second)
	if left := poll(); len(left) != 0 {
		t.Errorf("acknowledged commands delivered again: %+v", left)
	}
	Want(t, result(first[0].ID, map[string]any{"ok": true}), http.StatusNoContent, "the acked scan's result")
	Want(t, result("999999", map[string]any{"ack": true}), http.StatusNotFound, "ack an unknown command")
}

// testDownloadWriteDeadline (also found: no WriteTimeout): a repository download whose
// client stops reading is cut after the per-write deadline, while one that reads gets
// the whole file.
func testDownloadWriteDeadline(t *testing.T, open Opener) {
	e := NewEnv(t, open, server.WithWriteTimeouts(0, time.Second))
	const size = 64 << 20
	f, err := os.Create(filepath.Join(e.RepoDir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	status, body := rawGet(t, e.HTTP.URL, "/waptwua/big.bin")
	if status != http.StatusOK || len(body) != size {
		t.Fatalf("reading client: %d, %d bytes", status, len(body))
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.HTTP.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /waptwua/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(4 * time.Second) // a stalled client
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.Copy(io.Discard, conn)
	t.Logf("stalled client got %d of %d bytes before the server cut it (%v)", got, size, err)
	if got >= size {
		t.Errorf("a stalled client got the whole file: no write deadline")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("the server kept the stalled connection open: %v", err)
	}
}
