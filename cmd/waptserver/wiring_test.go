package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleClient logs in to the console of base like a browser and returns the client
// and the session's CSRF token.
func consoleClient(t *testing.T, base, user, password string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(path string) string { return pageBody(t, hc, base+path) }
	m := csrfRE.FindStringSubmatch(page("/ui/login"))
	if m == nil {
		t.Fatal("login form without csrf")
	}
	resp, err := hc.PostForm(base+"/ui/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {password}, "next": {"/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: %d", resp.StatusCode)
	}
	m = csrfRE.FindStringSubmatch(page("/ui/"))
	if m == nil {
		t.Fatal("dashboard without csrf")
	}
	return hc, m[1]
}

// pageBody GETs u with hc and returns the body.
func pageBody(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue reads one sample of /metrics ("" when absent).
func metricValue(t *testing.T, base, sample string) string {
	t.Helper()
	_, body := get(t, base+"/metrics", "", "")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestConsoleCommandWakesLongPoll runs "serve" as wired for production and checks that
// a command queued from the console reaches an agent waiting in its long-poll at once
// (well before the store poll of 5 s) and is counted in the metrics.
func TestConsoleCommandWakesLongPoll(t *testing.T) {
	data := t.TempDir()
	ini := filepath.Join(t.TempDir(), "waptserver.ini")
	const secret = "5f1c0e9a7b3d4e2f8a6c1b0d9e7f3a2c"
	if err := os.WriteFile(ini, []byte("[options]\nenrollment_secret = "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WAPTSERVER_DB_URL", "")
	base, _, stop := startServe(t, http.DefaultClient, "http", "--config", ini, "--data", data)
	defer stop()
	if _, _, err := runCmd(t, context.Background(), "admin-password\n", "user", "add", "admin", "--role", "admin", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}

	// An agent registers and waits for commands.
	resp := registerHost(t, base, "HOST-1", "pc-1", secret)
	var reg api.RegisterResponse
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	type answer struct {
		at   time.Time
		cmds api.Commands
		err  error
	}
	polled := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+"/api/v1/hosts/HOST-1/commands?wait=25s", nil)
		req.Header.Set("Authorization", "Bearer "+reg.Credential)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.err = json.NewDecoder(resp.Body).Decode(&a.cmds)
		a.at = time.Now()
		polled <- a
	}()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, base, "waptserver_command_longpolls") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the agent's long-poll never started waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := metricValue(t, base, `waptserver_commands_queued_total{kind="scan"}`); v != "" && v != "0" {
		t.Fatalf("commands counted before any: %s", v)
	}

	// An administrator clicks "Trigger scan" in the console.
	hc, csrf := consoleClient(t, base, "admin", "admin-password")
	queued := time.Now()
	resp, err := hc.PostForm(base+"/ui/hosts/HOST-1/commands", url.Values{"csrf": {csrf}, "kind": {"scan"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console trigger scan: %d", resp.StatusCode)
	}
	select {
	case a := <-polled:
		if a.err != nil || len(a.cmds.Commands) != 1 || a.cmds.Commands[0].Kind != api.CommandScan {
			t.Fatalf("long-poll answer: %+v %v", a.cmds, a.err)
		}
		d := a.at.Sub(queued)
		t.Logf("command queued from the console reached the waiting agent in %v", d)
		if d >= time.Second {
			t.Errorf("the agent got the console's command after %v, want < 1s (the store poll, not the notification)", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting agent never got the console's command")
	}
	if v := metricValue(t, base, `waptserver_commands_queued_total{kind="scan"}`); v != "1" {
		t.Errorf("waptserver_commands_queued_total{kind=\"scan\"} = %q, want 1", v)
	}
}

// TestServeRefusesWeakSecret: a weak enrollment_secret (or the docs' example) stops the
// start, naming the key (issue 11).
func TestServeRefusesWeakSecret(t *testing.T) {
	for _, secret := range []string{"aaaaaaaaaaaaaaaa", "test-enrollment-secret-0123456789"} {
		ini := filepath.Join(t.TempDir(), "waptserver.ini")
		if err := os.WriteFile(ini, []byte("[options]\nenrollment_secret = "+secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := runCmd(t, context.Background(), "", "serve", "--config", ini, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--no-jobs")
		if err == nil || !strings.Contains(err.Error(), "enrollment_secret") {
			t.Errorf("secret %q: serve %v", secret, err)
		}
		if strings.Contains(stderr, secret) || err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the secret is echoed")
		}
	}
}
