package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
)

// mirrorMain is a main server (the real handlers on SQLite) behind a listener that
// records the repository requests it answers.
type mirrorMain struct {
	env *servertest.Env
	url string

	mu   sync.Mutex
	reqs []string // "path range"
}

func newMirrorMain(t *testing.T) *mirrorMain {
	m := &mirrorMain{env: servertest.NewEnv(t, openSQLite, server.WithManifestPoll(50*time.Millisecond))}
	h := m.env.Server.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/waptwua/") {
			m.mu.Lock()
			m.reqs = append(m.reqs, r.URL.Path+" "+r.Header.Get("Range"))
			m.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL
	return m
}

func (m *mirrorMain) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.reqs...)
}

func sha1Name(prefix string, data []byte) string {
	h := sha1.Sum(data)
	return prefix + "_" + hex.EncodeToString(h[:]) + ".cab"
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// sameFolder fails unless dir holds exactly the visible files of want.
func sameFolder(t *testing.T, want, dir string) {
	t.Helper()
	list := func(d string) map[string][]byte {
		out := map[string][]byte{}
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".part") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
		return out
	}
	a, b := list(want), list(dir)
	if len(a) != len(b) {
		t.Fatalf("%s holds %d files, %s %d", want, len(a), dir, len(b))
	}
	for n, data := range a {
		if !bytes.Equal(b[n], data) {
			t.Errorf("%s differs", n)
		}
	}
}

// TestMirrorOnce: waptserver mirror --once enrolls with a token file, mirrors the
// repository (exit 0, identical folder), repairs a deleted and a changed file, and
// fails with one line for a wrong URL or credential.
func TestMirrorOnce(t *testing.T) {
	m := newMirrorMain(t)
	files := map[string][]byte{}
	for i, size := range []int{1, 4096, 300 << 10} {
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		name := sha1Name(fmt.Sprintf("windows10.0-kb50%d-x64", i), data)
		files[name] = data
		m.env.PutRepoFile(name, data)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokenFile := filepath.Join(dir, "token")
	token := m.env.MirrorToken("lyon", 1)
	writeFile(t, tokenFile, []byte(token+"\n"), 0o600)
	once := func(extra ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"mirror", "--once", "--main-url", m.url, "--data", data, "--name", "lyon-1", "--site", "lyon",
			"--enroll-token-file", tokenFile}, extra...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errOut := once()
	if code != 0 || !strings.Contains(out, "in sync: 3 files") {
		t.Fatalf("first --once: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(out+errOut, token) {
		t.Errorf("the enrollment token shows in the output")
	}
	fi, err := os.Stat(filepath.Join(data, "mirror.credential"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", fi, err)
	}
	sameFolder(t, m.env.RepoDir, filepath.Join(data, "waptwua"))

	// Delete one file, change one byte of another: the next run repairs both.
	var names []string
	for n := range files {
		names = append(names, n)
	}
	if err := os.Remove(filepath.Join(data, "waptwua", names[0])); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(files[names[1]])
	changed[0] ^= 0xff
	writeFile(t, filepath.Join(data, "waptwua", names[1]), changed, 0o644)
	code, out, errOut = once()
	if code != 0 || !strings.Contains(out, "2 downloaded") || !strings.Contains(out, "1 repaired") {
		t.Fatalf("repairing --once: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	sameFolder(t, m.env.RepoDir, filepath.Join(data, "waptwua"))

	// Wrong main URL, wrong credential: exit 1 and one line.
	oneLine := func(what string, code int, out, errOut, want string) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 1 || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "waptserver: ") || !strings.Contains(lines[0], want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want one line with %q)", what, code, out, errOut, want)
		}
	}
	code, out, errOut = once("--main-url", "http://127.0.0.1:1")
	oneLine("wrong URL", code, out, errOut, "unreachable")
	bad := filepath.Join(dir, "bad.credential")
	writeFile(t, bad, []byte("wmc_"+strings.Repeat("0", 32)+".AAAAAAAAAAAAAAAAAAAAAAAA\n"), 0o600)
	code, out, errOut = once("--credential-file", bad)
	oneLine("wrong credential", code, out, errOut, "401")
	code, out, errOut = once("--scope", "needed")
	oneLine("scope needed", code, out, errOut, "scope")
	code, out, errOut = once("--data", filepath.Join(dir, "other"), "--enroll-token-file", filepath.Join(dir, "missing"))
	oneLine("no token file", code, out, errOut, "enrollment_token_file")
}

// TestMirrorKilledMidDownload: the built binary, serving and syncing at a limited rate,
// is killed with SIGKILL mid-download; the partial file was never served; the next run
// resumes it with a Range request and ends with the whole, verified file.
func TestMirrorKilledMidDownload(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Fatal("SIGKILL test runs on Unix")
	}
	m := newMirrorMain(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	name := sha1Name("windows10.0-kb5099999-x64", big)
	m.env.PutRepoFile(name, big)
	dir := t.TempDir()
	bin := filepath.Join(dir, "waptserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, []byte(m.env.MirrorToken("lyon", 0)+"\n"), 0o600)
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "mirror", "--main-url", m.url, "--data", data, "--name", "lyon-1", "--enroll-token-file", tokenFile,
		"--listen", addr, "--bandwidth-limit", "1M")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	part := filepath.Join(data, "waptwua", name+".part")
	deadline := time.Now().Add(20 * time.Second)
	served := 0
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no partial download of 1 MiB within 20s; log:\n%s", logs.String())
		}
		// Never served while partial.
		if resp, err := http.Get("http://" + addr + "/waptwua/" + name); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			served++
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET of a file being downloaded: %d", resp.StatusCode)
			}
		}
		if fi, err := os.Stat(part); err == nil && fi.Size() >= 1<<20 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if served == 0 {
		t.Fatalf("the mirror never answered while downloading; log:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(big)) {
		t.Fatalf("partial file after SIGKILL: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(data, "waptwua", name)); err == nil {
		t.Fatal("the file is visible after a killed download")
	}
	before := len(m.requests())
	out, err := exec.Command(bin, "mirror", "--once", "--main-url", m.url, "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "in sync: 1 files") {
		t.Fatalf("--once after SIGKILL: %v\n%s", err, out)
	}
	reqs := m.requests()[before:]
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "/waptwua/"+name+" bytes=") || strings.HasSuffix(reqs[0], "bytes=0-") {
		t.Errorf("requests after the restart %q, want one resumed Range request", reqs)
	}
	got, err := os.ReadFile(filepath.Join(data, "waptwua", name))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("file after resume: %d bytes, %v", len(got), err)
	}
}
