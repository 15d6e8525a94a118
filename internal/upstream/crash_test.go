package upstream

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFetchFileKilledChild is the child half of TestFetchFileAfterSIGKILL: it downloads from
// the parent's stand-in until the parent kills it.
func TestFetchFileKilledChild(t *testing.T) {
	addr, dir := os.Getenv("UPSTREAM_TEST_ADDR"), os.Getenv("UPSTREAM_TEST_DIR")
	if addr == "" {
		t.Skip("run by TestFetchFileAfterSIGKILL")
	}
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	c, _ := newTestClient(t, tr, WithTimeouts(Timeouts{Idle: time.Minute, Header: time.Minute}))
	tf := newTestFile(t, 256<<10, 99)
	_, err := fetchFile(t.Context(), c, tf.f, dir)
	t.Fatalf("the download should have been killed, it ended with %v", err)
}

// TestFetchFileAfterSIGKILL kills a process in the middle of a download: the folder holds
// only the .part file, never a partial file under the final name, and the next download
// resumes it.
func TestFetchFileAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	tf := newTestFile(t, 256<<10, 99)
	release := make(chan struct{})
	defer close(release)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			serve(w, r, tf.data)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(tf.data)))
		_, _ = w.Write(tf.data[:len(tf.data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchFileKilledChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "UPSTREAM_TEST_ADDR="+ms.srv.Listener.Addr().String(), "UPSTREAM_TEST_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, tf.f.Name+".part")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(part); err == nil && fi.Size() == int64(len(tf.data)/2) {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the child never wrote half of the file")
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()

	if got := dirNames(t, dir); !slices.Equal(got, []string{tf.f.Name + ".part"}) {
		t.Fatalf("after SIGKILL the folder holds %q, want only the .part file", got)
	}
	c, _ := newTestClient(t, ms.tr)
	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile after the crash: %v", err)
	}
	if !res.Resumed || res.Bytes != int64(len(tf.data)/2) {
		t.Errorf("result = %+v, want the second half only", res)
	}
	checkOnly(t, dir, tf)
}
