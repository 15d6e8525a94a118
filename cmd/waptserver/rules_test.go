package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store/sqlite/sqlitetest"
)

func rulesCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// rulesFixture writes a self-signed signer (key, encrypted key, certificate), another
// certificate, and a rules file into a temporary directory.
type rulesFixture struct {
	dir, key, encKey, password, cert, otherCert, rules string
}

func newRulesFixture(t *testing.T) rulesFixture {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	selfSigned := func(cn string) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	f := rulesFixture{
		dir:       dir,
		key:       write("admin.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		cert:      write("admin.crt", selfSigned("Acme Admin")),
		otherCert: write("other.crt", selfSigned("Someone Else")), // same key, other certificate: not the trusted one
		password:  write("password.txt", []byte("s3cret\n")),
		rules: write("waptwua_rules.json", []byte(`{
  "allowed_classifications": ["Security Updates", "Critical Updates"],
  "forbidden_kbs": ["KB5034441"],
  "allowed_kbs": ["KB1", "KB2", "KB3", "KB4", "KB5", "KB6", "KB7"],
  "default_allow": false
}`)),
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		f.encKey = filepath.Join(dir, "admin-enc.pem")
		if b, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", f.key, "-out", f.encKey, "-passout", "pass:s3cret").CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs8: %v %s", err, b)
		}
	}
	return f
}

func TestRulesBuildVerify(t *testing.T) {
	f := newRulesFixture(t)
	out := filepath.Join(f.dir, "acme-rules_3-0.wapt")
	code, stdout, stderr := rulesCLI("rules", "build", f.rules, "--name", "acme-rules", "--version", "3-0",
		"--maturity", "PREPROD", "--description", "Lyon security updates", "--target-group", "lyon",
		"--promote-after-days", "7", "--promote-min-success-pct", "95",
		"-o", out, "--key", f.key, "--cert", f.cert)
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	if want := "wrote " + out + ": acme-rules 3-0, maturity PREPROD, signed by Acme Admin\n"; stdout != want {
		t.Errorf("build output %q, want %q", stdout, want)
	}

	code, stdout, stderr = rulesCLI("rules", "verify", out, "--roots", f.cert)
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"package:    acme-rules\n",
		"version:    3-0\n",
		"maturity:   PREPROD\n",
		"about:      Lyon security updates\n",
		"signer:     Acme Admin (sha256 ",
		"targets:    lyon\n",
		"promotion:  to PROD after 7 days if at least 95% of its hosts succeeded\n",
		"  forbidden_kbs:                          1: KB5034441\n",
		"  allowed_kbs:                            7: KB1, KB2, KB3, KB4, KB5, ... (2 more)\n",
		"  allowed_classifications:                2: Security Updates, Critical Updates\n",
		"  default_allow:                          false\n",
		"signature OK\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, stdout)
		}
	}

	// The same key under another (untrusted) certificate: refused, exit 1, one line.
	code, _, stderr = rulesCLI("rules", "verify", out, "--roots", f.otherCert)
	wantFailureLine(t, code, stderr, "waptserver: "+out+`: WAPT/certificate.crt: signer is not trusted: certificate "Acme Admin"`)

	// A changed byte of the rules: refused, naming the file.
	tampered := filepath.Join(f.dir, "tampered.wapt")
	writeZipEdit(t, out, tampered, "WAPT/persistent/waptwua_rules.json", func(b []byte) []byte {
		return bytes.Replace(b, []byte("KB5034441"), []byte("KB5034442"), 1)
	})
	code, _, stderr = rulesCLI("rules", "verify", tampered, "--roots", f.cert)
	wantFailureLine(t, code, stderr, "WAPT/persistent/waptwua_rules.json: package tampered: its SHA-256 is")

	// Signing it again makes it valid, with the edited rules.
	code, _, stderr = rulesCLI("rules", "sign", tampered, "--key", f.key, "--cert", f.cert)
	if code != 0 {
		t.Fatalf("sign: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = rulesCLI("rules", "verify", tampered, "--roots", f.cert)
	if code != 0 || !strings.Contains(stdout, "forbidden_kbs:                          1: KB5034442") {
		t.Fatalf("verify after sign: exit %d: %s%s", code, stdout, stderr)
	}
}

func TestRulesEncryptedKey(t *testing.T) {
	f := newRulesFixture(t)
	if f.encKey == "" {
		t.Fatal("openssl not installed: cannot make an encrypted key (apt-get install -y openssl; make test installs it)")
	}
	out := filepath.Join(f.dir, "r.wapt")
	args := []string{"rules", "build", f.rules, "--name", "r", "--version", "1", "-o", out, "--key", f.encKey, "--cert", f.cert}
	code, _, stderr := rulesCLI(args...)
	wantFailureLine(t, code, stderr, "rules build: --key "+f.encKey+" is encrypted: give its password with --key-password-file FILE")

	wrong := filepath.Join(f.dir, "wrong.txt")
	os.WriteFile(wrong, []byte("nope\n"), 0o600)
	code, _, stderr = rulesCLI(append(args, "--key-password-file", wrong)...)
	wantFailureLine(t, code, stderr, "private key password missing or wrong")

	if code, _, stderr = rulesCLI(append(args, "--key-password-file", f.password)...); code != 0 {
		t.Fatalf("right password: exit %d: %s", code, stderr)
	}
	if code, _, stderr = rulesCLI("rules", "verify", out, "--roots", f.cert); code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestRulesErrors(t *testing.T) {
	f := newRulesFixture(t)
	bad := filepath.Join(f.dir, "bad.json")
	os.WriteFile(bad, []byte(`{"allowed_kb": ["KB1"]}`), 0o600)
	notZip := filepath.Join(f.dir, "not.wapt")
	os.WriteFile(notZip, []byte("hello"), 0o600)
	out := filepath.Join(f.dir, "x.wapt")
	tests := []struct {
		desc string
		args []string
		want string
	}{
		{"rules with an unknown key", []string{"rules", "build", bad, "--name", "r", "--version", "1", "-o", out, "--key", f.key, "--cert", f.cert},
			`rules build: ` + bad + `: waptwua_rules.json: unknown key "allowed_kb"`},
		{"missing name", []string{"rules", "build", f.rules, "--version", "1", "-o", out, "--key", f.key, "--cert", f.cert},
			"rules build: --name, --version and -o are required"},
		{"missing key", []string{"rules", "build", f.rules, "--name", "r", "--version", "1", "-o", out},
			"rules build: --key and --cert are required"},
		{"bad maturity", []string{"rules", "build", f.rules, "--name", "r", "--version", "1", "--maturity", "DEV", "-o", out, "--key", f.key, "--cert", f.cert},
			`rules build: maturity "DEV": want PROD or PREPROD`},
		{"not a package", []string{"rules", "verify", notZip, "--roots", f.cert},
			notZip + ": malformed rules package: not a zip file"},
		{"verify without roots", []string{"rules", "verify", notZip},
			"rules verify: no trusted certificates (pass --roots CA.pem"},
		{"sign not a package", []string{"rules", "sign", notZip, "--key", f.key, "--cert", f.cert},
			"rules sign: " + notZip + ": malformed rules package: not a zip file"},
		{"no argument", []string{"rules", "verify", "--roots", f.cert}, "rules verify: expected one PKG.wapt"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, _, stderr := rulesCLI(tt.args...)
			wantFailureLine(t, code, stderr, tt.want)
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s behind", out)
	}
}

// wantFailureLine checks exit status 1 and a one-line message containing substr.
func wantFailureLine(t *testing.T, code int, stderr, substr string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit %d, want 1 (stderr %q)", code, stderr)
	}
	if !strings.Contains(stderr, substr) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q\nwant one line containing %q", stderr, substr)
	}
}

// writeZipEdit copies the zip at src to dst, changing one entry with edit.
func writeZipEdit(t *testing.T, src, dst, name string, edit func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == name {
			b = edit(b)
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRulesPublish(t *testing.T) {
	f := newRulesFixture(t)
	out := filepath.Join(f.dir, "acme-rules_3.wapt")
	if code, _, stderr := rulesCLI("rules", "build", f.rules, "--name", "acme-rules", "--version", "3", "-o", out,
		"--key", f.key, "--cert", f.cert, "--target-group", "lab"); code != 0 {
		t.Fatalf("rules build: %s", stderr)
	}
	roots, _, err := config.LoadCertPool("package_trusted_certs", f.cert)
	if err != nil {
		t.Fatal(err)
	}
	env := servertest.NewEnv(t, openSQLite, server.WithPackageRoots(roots, f.cert))
	env.Register("H1")

	var stdout bytes.Buffer
	o := publishOptions{server: env.HTTP.URL, user: servertest.AdminUser, priority: 4, groups: []string{"ring0"}, hosts: []string{"H1"}}
	if err := runRulesPublish(context.Background(), &stdout, http.DefaultClient, out, o, servertest.AdminPassword); err != nil {
		t.Fatalf("publish: %v", err)
	}
	for _, want := range []string{"published acme-rules_3.wapt: acme-rules 3, maturity PROD, signed by Acme Admin",
		"assigned acme-rules to group ring0", "assigned acme-rules to host H1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output %q lacks %q", stdout.String(), want)
		}
	}
	r := env.Do("GET", server.AdminPrefix+"/packages/acme-rules/3", servertest.Admin, nil)
	var p struct {
		Priority    int `json:"priority"`
		Assignments []struct {
			Kind, Target string
		} `json:"assignments"`
	}
	r.JSON(t, &p)
	if p.Priority != 4 || len(p.Assignments) != 3 { // lab (signed target_groups), ring0, H1
		t.Errorf("published package = %s", r.Body)
	}

	// A wrong password, and a package signed by a certificate the server does not trust.
	err = runRulesPublish(context.Background(), io.Discard, http.DefaultClient, out, o, "wrong")
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong password: %v", err)
	}
	other := filepath.Join(f.dir, "other.wapt")
	if code, _, stderr := rulesCLI("rules", "build", f.rules, "--name", "acme-rules", "--version", "4", "-o", other,
		"--key", f.key, "--cert", f.otherCert); code != 0 {
		t.Fatalf("rules build: %s", stderr)
	}
	err = runRulesPublish(context.Background(), io.Discard, http.DefaultClient, other, o, servertest.AdminPassword)
	if err == nil || !strings.Contains(err.Error(), "HTTP 422") || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("untrusted package: %v", err)
	}

	// The password comes from stdin or the environment, never from a flag.
	if pw, err := publishPassword(strings.NewReader("s3cret\n"), true, nil); err != nil || pw != "s3cret" {
		t.Errorf("password from stdin: %q %v", pw, err)
	}
	if pw, err := publishPassword(nil, false, func(k string) string { return map[string]string{passwordEnv: "envpw"}[k] }); err != nil || pw != "envpw" {
		t.Errorf("password from the environment: %q %v", pw, err)
	}
	if _, err := publishPassword(nil, false, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), passwordEnv) {
		t.Errorf("no password: %v", err)
	}
}

// openSQLite opens a fresh, migrated SQLite store for the HTTP suite's environment.
func openSQLite(t *testing.T) server.Store { return sqlitetest.Open(t) }
