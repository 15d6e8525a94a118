package pkg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/pkg/pkgtest"
)

func extract(t *testing.T, z []byte, dir string) { pkgtest.Extract(t, z, dir) }

func requireTool(t *testing.T, name string) { pkgtest.RequireTool(t, name) }

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	return pkgtest.Run(t, dir, name, args...)
}

// compatSpec has a description that exercises the JSON escaping of the control's
// signed attributes: quotes, a backslash, HTML characters, non-ASCII and an emoji.
func compatSpec() Spec {
	s := sampleSpec()
	s.Description = `Lyon "été" rules \ <b>&amp; 😀`
	s.Maintainer = "Équipe poste de travail"
	return s
}

// TestOpenSSLCompatibility checks a signed package with the reference tools, from the
// shell: openssl verifies WAPT/signature.sha256 over WAPT/manifest.sha256 with the public
// key of WAPT/certificate.crt, sha256sum agrees with every hash of the manifest, and the
// signer_fingerprint is the SHA-256 fingerprint openssl prints.
func TestOpenSSLCompatibility(t *testing.T) {
	requireTool(t, "openssl")
	requireTool(t, "sha256sum")
	p := pkiOnce()
	z := signedPackage(t, compatSpec(), p.leaf, p.inter.cert)
	dir := t.TempDir()
	extract(t, z, dir)

	pub := run(t, dir, "openssl", "x509", "-pubkey", "-noout", "-in", "WAPT/certificate.crt")
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	b64, _ := os.ReadFile(filepath.Join(dir, "WAPT/signature.sha256"))
	sig, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sig.bin"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, "openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "WAPT/manifest.sha256")
	if strings.TrimSpace(out) != "Verified OK" {
		t.Errorf("openssl dgst -verify: %q", out)
	}

	// A changed manifest must fail the same check (the test can fail).
	m, _ := os.ReadFile(filepath.Join(dir, "WAPT/manifest.sha256"))
	if err := os.WriteFile(filepath.Join(dir, "manifest.bad"), bytes.Replace(m, []byte("WAPT/control"), []byte("WAPT/contrOl"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := exec.Command("openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "manifest.bad")
	bad.Dir = dir
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "Verification failure") {
		t.Errorf("openssl accepted a changed manifest: %v %s", err, b)
	}

	var manifest [][]string
	if err := json.Unmarshal(m, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 3 {
		t.Errorf("manifest has %d entries: %q", len(manifest), manifest)
	}
	for _, e := range manifest {
		sum := run(t, dir, "sha256sum", e[0])
		if got := strings.Fields(sum)[0]; got != e[1] {
			t.Errorf("%s: sha256sum %s, manifest %s", e[0], got, e[1])
		}
	}
	// The whole chain is in certificate.crt: openssl verifies the signer against the CA.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pemCert(p.ca.cert.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inter.pem"), pemCert(p.inter.cert.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(t, dir, "openssl", "verify", "-no_check_time", "-CAfile", "ca.pem", "-untrusted", "inter.pem", "WAPT/certificate.crt")
	if !strings.Contains(out, "OK") {
		t.Errorf("openssl verify: %s", out)
	}

	fp := run(t, dir, "openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", "WAPT/certificate.crt")
	_, hexColons, _ := strings.Cut(strings.TrimSpace(fp), "=")
	want := strings.ToLower(strings.ReplaceAll(hexColons, ":", ""))
	control, _ := os.ReadFile(filepath.Join(dir, "WAPT/control"))
	if !strings.Contains(string(control), "signer_fingerprint: "+want+"\n") {
		t.Errorf("control does not carry openssl's fingerprint %s:\n%s", want, control)
	}
}

func pemCert(der []byte) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + encodeBase64Lines(der) + "-----END CERTIFICATE-----\n")
}

// pythonSignedContent is how the original reads a control file and serialises its
// signed attributes: "key: value" lines split at the first ':' and stripped, the values
// of signed_attributes put in a dict, json.dumps(sort_keys=True, separators=(',', ':')).
const pythonSignedContent = `
import json, sys
attrs = {}
with open(sys.argv[1], encoding='utf8') as f:
    for line in f.read().split('\n'):
        key, _, value = line.partition(':')
        attrs[key.strip()] = value.strip()
signed = attrs['signed_attributes'].split(',')
content = json.dumps({a: attrs.get(a) for a in signed}, sort_keys=True, separators=(',', ':'))
sys.stdout.buffer.write(content.encode('utf8'))
`

// TestPythonSignedAttributes checks the control's signature the way the original does:
// Python serialises the signed attributes, and openssl verifies the control's
// signature over Python's bytes.
func TestPythonSignedAttributes(t *testing.T) {
	requireTool(t, "python3")
	p := pkiOnce()
	z := signedPackage(t, compatSpec(), p.signer)
	dir := t.TempDir()
	extract(t, z, dir)
	py := run(t, dir, "python3", "-c", pythonSignedContent, "WAPT/control")

	control, _ := os.ReadFile(filepath.Join(dir, "WAPT/control"))
	fs, err := parseControl(control)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := signedContent(fs, strings.Split(valueOf(fs, AttrSignedAttributes), ","))
	if err != nil {
		t.Fatal(err)
	}
	if py != string(ours) {
		t.Fatalf("signed attributes serialised differently:\npython %s\nours   %s", py, ours)
	}
	if !strings.Contains(py, `"description":"Lyon \"\u00e9t\u00e9\" rules \\ <b>&amp; \ud83d\ude00"`) {
		t.Errorf("unexpected escaping: %s", py)
	}

	requireTool(t, "openssl")
	sig, err := base64.StdEncoding.DecodeString(valueOf(fs, AttrSignature))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"content.json": []byte(py), "sig.bin": sig, "cert.pem": pemCert(p.signer.cert.Raw)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pub := run(t, dir, "openssl", "x509", "-pubkey", "-noout", "-in", "cert.pem")
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run(t, dir, "openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "content.json"); strings.TrimSpace(out) != "Verified OK" {
		t.Errorf("control signature over Python's serialisation: %q", out)
	}
}
