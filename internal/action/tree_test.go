package action_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/action"
)

// childEnv makes the test binary act as an installer that starts a child of its own and
// waits, so that the timeout must kill a process tree.
const childEnv = "WAPTWUA_ACTION_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "installer":
		dir := os.Getenv("WAPTWUA_ACTION_TEST_DIR")
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), childEnv+"=child")
		if err := c.Start(); err != nil {
			fmt.Println("start child:", err)
			os.Exit(2)
		}
		os.WriteFile(filepath.Join(dir, "child"), []byte(strconv.Itoa(c.Process.Pid)), 0o644)
		os.WriteFile(filepath.Join(dir, "installer"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		fmt.Println("installer started")
		time.Sleep(60 * time.Second)
		os.Exit(0)
	case "child":
		time.Sleep(60 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProcessTreeKilled runs the test binary as an installer through Process with a
// five-second timeout: it and the child it started are both gone afterwards (a process
// group on Unix, a job object on Windows; run under Wine by cross-compiling the test).
func TestProcessTreeKilled(t *testing.T) {
	// Not t.TempDir: under Wine, removing the folder right after the kill can fail with
	// "Invalid function", which is no finding of this test.
	dir, err := os.MkdirTemp("", "action-tree-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv(childEnv, "installer")
	t.Setenv("WAPTWUA_ACTION_TEST_DIR", dir)
	start := time.Now()
	// 5 s: a Go program starts slowly under Wine; the installer must have started its child.
	ex, err := action.Process{WaitDelay: 2 * time.Second}.Run(context.Background(), action.Command{Path: os.Args[0]}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.TimedOut || !strings.Contains(ex.Output, "installer started") {
		t.Errorf("%+v", ex)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("took %s", el)
	}
	for _, name := range []string{"installer", "child"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(string(b))
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after the timeout", name, pid)
		}
	}
}
