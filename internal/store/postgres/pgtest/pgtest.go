// Package pgtest starts a private PostgreSQL cluster for tests, from the installed
// initdb and postgres binaries: in a temporary directory, listening only on a Unix
// socket, with fsync off, as an unprivileged user when the tests run as root (postgres
// refuses to run as root).
//
// One cluster serves a whole test binary: the package's TestMain calls Main, which starts
// it, runs the tests and stops it; each test calls Start for a fresh, empty schema.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Start(t)
//		...
//	}
//
// Environment:
//   - WAPTWUA_TEST_POSTGRES_URL: use this server instead of starting one (Main also sets
//     it for its cluster, which is how Start finds it).
//   - WAPTWUA_REQUIRE_POSTGRES=1: fail, instead of skipping, when no PostgreSQL
//     binaries are installed (CI sets it so the PostgreSQL run cannot silently vanish).
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read (and, for EnvURL and the two internal ones, set by Main).
const (
	EnvURL     = "WAPTWUA_TEST_POSTGRES_URL"
	EnvRequire = "WAPTWUA_REQUIRE_POSTGRES"
	envSkip    = "WAPTWUA_PGTEST_SKIP"  // why no cluster: no binaries
	envError   = "WAPTWUA_PGTEST_ERROR" // why no cluster: it failed to start
)

// ErrNoPostgres: initdb or postgres is not installed.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin: install the Debian package postgresql")

// Main starts a cluster unless EnvURL is set, runs the tests, stops the cluster and exits.
// Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv(EnvURL) == "" {
		c, err := StartCluster(context.Background())
		switch {
		case errors.Is(err, ErrNoPostgres):
			os.Setenv(envSkip, err.Error())
		case err != nil:
			os.Setenv(envError, err.Error())
		default:
			defer func() {
				if err := c.Stop(); err != nil {
					fmt.Fprintln(os.Stderr, "pgtest:", err)
				}
			}()
			os.Setenv(EnvURL, c.URL)
		}
	}
	return m.Run()
}

// Start returns the URL of a new empty schema on the test binary's cluster (or on the
// server named by EnvURL), dropped at the end of t. Without a Main, it starts a cluster
// for t alone. It skips t when PostgreSQL is not installed, unless EnvRequire is 1.
func Start(t testing.TB) string {
	t.Helper()
	if msg := os.Getenv(envError); msg != "" {
		t.Fatalf("pgtest: the test cluster did not start: %s", msg)
	}
	if msg := os.Getenv(envSkip); msg != "" {
		skipOrFail(t, msg)
	}
	base := os.Getenv(EnvURL)
	if base == "" {
		c, err := StartCluster(context.Background())
		if errors.Is(err, ErrNoPostgres) {
			skipOrFail(t, err.Error())
		}
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
		base = c.URL
	}
	u, err := NewSchema(context.Background(), base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DropSchema(ctx, u); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("pgtest: %s (%s=1 makes this a failure)", msg, EnvRequire)
	}
	t.Skipf("pgtest: %s (skipping; set %s=1 to fail instead)", msg, EnvRequire)
}

// NewSchema creates a schema with a random name on the server at base and returns base
// with search_path set to it.
func NewSchema(ctx context.Context, base string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("schema name: %w", err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("test server URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// DropSchema drops the schema a NewSchema URL points to.
func DropSchema(ctx context.Context, schemaURL string) error {
	u, err := url.Parse(schemaURL)
	if err != nil {
		return fmt.Errorf("schema URL: %w", err)
	}
	name := u.Query().Get("search_path")
	if !strings.HasPrefix(name, "t_") {
		return fmt.Errorf("drop schema: %q is not a test schema", name)
	}
	conn, err := pgx.Connect(ctx, schemaURL)
	if err != nil {
		return fmt.Errorf("connect to drop schema %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return nil
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	URL  string // superuser "postgres", database "postgres", over the Unix socket
	dir  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// FindBinaries returns the paths of initdb and postgres: from PATH, else from the newest
// /usr/lib/postgresql/*/bin. ErrNoPostgres when there are none.
func FindBinaries() (initdb, postgres string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if q := filepath.Join(filepath.Dir(real), "postgres"); isFile(q) {
				return real, q, nil
			}
		}
		if q, err := exec.LookPath("postgres"); err == nil {
			return p, q, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isFile(i) && isFile(p) {
			return i, p, nil
		}
	}
	return "", "", ErrNoPostgres
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// versionOf reads the major version of /usr/lib/postgresql/<v>/bin.
func versionOf(dir string) int {
	n := 0
	for _, c := range filepath.Base(filepath.Dir(dir)) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// StartCluster runs initdb in a new temporary directory and starts postgres on a Unix
// socket there, as an unprivileged user when running as root.
func StartCluster(ctx context.Context) (*Cluster, error) {
	initdb, postgres, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(), "waptwua-pg-")
	if err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	c := &Cluster{dir: dir, log: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	cred, err := unprivileged(dir)
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	cred(cmd)
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("initdb %s: %w\n%s", data, err, out.String()))
	}
	logf, err := os.Create(c.log)
	if err != nil {
		return fail(fmt.Errorf("postgres log: %w", err))
	}
	c.cmd = exec.Command(postgres, "-D", data, "-k", dir, "-p", "5432",
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=128MB",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning")
	c.cmd.Dir, c.cmd.Stdout, c.cmd.Stderr = dir, logf, logf
	cred(c.cmd)
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return fail(fmt.Errorf("start %s: %w", postgres, err))
	}
	logf.Close()
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait() }()
	c.URL = "postgres://postgres@/postgres?host=" + url.QueryEscape(dir) + "&port=5432&sslmode=disable"

	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, c.URL)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return c, nil
		}
		select {
		case werr := <-c.done:
			logText, _ := os.ReadFile(c.log)
			return fail(fmt.Errorf("postgres exited while starting: %v\n%s", werr, logText))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.kill()
			logText, _ := os.ReadFile(c.log)
			return fail(fmt.Errorf("postgres did not accept connections within 60s: %w\n%s", err, logText))
		}
	}
}

// Stop shuts the server down (fast mode) and removes its directory.
func (c *Cluster) Stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		if serr := c.cmd.Process.Signal(os.Interrupt); serr != nil {
			c.kill()
		} else {
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				c.kill()
				err = errors.New("postgres did not stop within 30s: killed")
			}
		}
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove cluster directory: %w", rerr))
	}
	return err
}

// tempBase is where the cluster directory goes: the system temporary directory, unless
// its path is too long for a Unix socket name or other users cannot enter it (the
// server may run as nobody).
func tempBase() string {
	base := os.TempDir()
	st, err := os.Stat(base)
	if len(base) > 60 || err != nil || st.Mode().Perm()&0o001 == 0 {
		return "/tmp"
	}
	return base
}

func (c *Cluster) kill() {
	if c.cmd.Process.Kill() == nil {
		<-c.done
	}
}
