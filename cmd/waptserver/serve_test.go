package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCmd runs one waptserver command line with stdin.
func runCmd(t *testing.T, ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	root := newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url, user, password string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestUserAndMigrateCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if out, _, err := runCmd(t, ctx, "", "migrate", "--data", data); err != nil || !strings.Contains(out, "schema up to date") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if _, _, err := runCmd(t, ctx, "", "user", "add", "alice", "--role", "admin", "--data", data); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("add without a terminal: %v", err)
	}
	if _, _, err := runCmd(t, ctx, "short\n", "user", "add", "alice", "--role", "admin", "--password-stdin", "--data", data); err == nil {
		t.Error("short password accepted")
	}
	if _, _, err := runCmd(t, ctx, "alice-password\n", "user", "add", "alice", "--role", "root", "--password-stdin", "--data", data); err == nil {
		t.Error("bad role accepted")
	}
	out, _, err := runCmd(t, ctx, "alice-password\n", "user", "add", "alice", "--role", "admin", "--password-stdin", "--data", data)
	if err != nil || !strings.Contains(out, `"alice" created with role admin`) {
		t.Fatalf("add: %q %v", out, err)
	}
	if _, _, err := runCmd(t, ctx, "alice-password\n", "user", "add", "alice", "--role", "admin", "--password-stdin", "--data", data); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("add twice: %v", err)
	}
	if _, _, err := runCmd(t, ctx, "", "user", "role", "alice", "read-only", "--data", data); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("demote the last admin: %v", err)
	}
	if _, _, err := runCmd(t, ctx, "", "user", "delete", "alice", "--data", data); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("delete the last admin: %v", err)
	}
	if _, _, err := runCmd(t, ctx, "bob-password\n", "user", "add", "bob", "--role", "read-only", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, ctx, "bob-password-2\n", "user", "passwd", "bob", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, ctx, "", "user", "list", "--data", data)
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "read-only") || strings.Contains(out, "$2a$") {
		t.Errorf("list: %q %v", out, err)
	}
	if _, _, err := runCmd(t, ctx, "", "user", "delete", "bob", "--data", data); err != nil {
		t.Fatal(err)
	}
}

// startServe runs "serve" with args (plus --listen on a free port and --no-jobs) until
// the test ends, and returns its address once /healthz answers through client.
func startServe(t *testing.T, client *http.Client, scheme string, args ...string) (base string, stderr *syncBuffer, stop func()) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		root := newRootCmd(io.Discard, stderr)
		root.SetArgs(append([]string{"serve", "--listen", addr, "--no-jobs"}, args...))
		done <- root.ExecuteContext(ctx)
	}()
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop after cancel")
		}
	}
	base = scheme + "://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, stderr, stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not answer /healthz in time\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe starts "serve" as an administrator would (config file, flags), checks the
// operations endpoints, an agent registration and an admin request, then stops it.
func TestServe(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data") // serve creates it
	ini := filepath.Join(t.TempDir(), "waptserver.ini")
	const secret = "5f1c0e9a7b3d4e2f8a6c1b0d9e7f3a2c"
	if err := os.WriteFile(ini, []byte("[options]\nlisten = 127.0.0.1:1\nenrollment_secret = "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WAPTSERVER_DB_URL", "")
	base, stderr, stop := startServe(t, http.DefaultClient, "http", "--config", ini, "--data", data)

	if code, body := get(t, base+"/readyz", "", ""); code != http.StatusOK {
		t.Errorf("readyz: %d %s", code, body)
	}
	if !strings.Contains(stderr.String(), "waptserver user add admin --role admin") {
		t.Errorf("no first-start notice:\n%s", stderr.String())
	}
	if fi, err := os.Stat(filepath.Join(data, sessionKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("session key: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(data, "waptserver.sqlite")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database not under --data, or not 0600: %v %v", fi, err)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder not 0700: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(data, "waptwua")); err != nil {
		t.Errorf("repository folder not under --data: %v", err)
	}
	if code, _ := get(t, base+"/api/v1/admin/me", "", ""); code != http.StatusUnauthorized {
		t.Errorf("admin API without credentials: %d", code)
	}

	// An agent registers with the secret of the config file.
	resp := registerHost(t, base, "HOST-1", "pc-1", secret)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("register: %d", resp.StatusCode)
	}

	// A user created while the server runs can use the admin API at once.
	if _, _, err := runCmd(t, context.Background(), "carol-password\n", "user", "add", "carol", "--role", "read-only", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/api/v1/admin/me", "carol", "carol-password"); code != http.StatusOK || !strings.Contains(string(body), "read-only") {
		t.Errorf("admin me: %d %s", code, body)
	}

	stop()
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
}

// TestServeTLS: with tls_cert and tls_key the server speaks HTTPS.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "waptserver.ini")
	if err := os.WriteFile(ini, []byte("[options]\ntls_cert = "+cert+"\ntls_key = "+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base, _, stop := startServe(t, client, "https", "--config", ini, "--data", filepath.Join(dir, "data"))
	defer stop()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("readyz over TLS: %d %v", resp.StatusCode, resp.TLS)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestServeRefusesBadListen(t *testing.T) {
	_, _, err := runCmd(t, context.Background(), "", "serve", "--data", t.TempDir(), "--listen", "256.0.0.1:99999", "--no-jobs")
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("bad listen: %v", err)
	}
}
