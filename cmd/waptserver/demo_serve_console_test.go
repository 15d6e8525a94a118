package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeMountsConsole checks the console's wiring in "serve": "/" leads to the
// console, its pages need a login, and unknown API paths still get the admin API's JSON.
func TestServeMountsConsole(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WAPTSERVER_DB_URL", "")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base, _, stop := startServe(t, noRedirect, "http", "--data", data)
	defer stop()
	for path, want := range map[string]struct {
		status   int
		location string
		body     string
	}{
		"/":                   {http.StatusFound, "/ui/", ""},
		"/ui/":                {http.StatusSeeOther, "/ui/login", ""},
		"/ui/login":           {http.StatusOK, "", `name="password"`},
		"/ui/static/app.css":  {http.StatusOK, "", ".kpis"},
		"/api/v1/no-such-api": {http.StatusNotFound, "", `"error"`},
		"/healthz":            {http.StatusOK, "", "ok"},
	} {
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != want.status || !strings.HasPrefix(resp.Header.Get("Location"), want.location) ||
			!strings.Contains(string(body), want.body) {
			t.Errorf("GET %s: %d %q, want %d %q containing %q", path, resp.StatusCode, resp.Header.Get("Location"), want.status, want.location, want.body)
		}
	}
}
