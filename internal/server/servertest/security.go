package servertest

import (
	"net/http"
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
