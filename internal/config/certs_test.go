package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCert(t *testing.T, path string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: filepath.Base(path)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCertPool(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "a.pem"))
	writeCert(t, filepath.Join(dir, "b.crt"))
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, certs, err := LoadCertPool("trusted_certs", dir); err != nil || len(certs) != 2 {
		t.Errorf("folder: %d certificates, %v", len(certs), err)
	}
	if _, certs, err := LoadCertPool("trusted_certs", filepath.Join(dir, "a.pem")); err != nil || len(certs) != 1 {
		t.Errorf("file: %d certificates, %v", len(certs), err)
	}
	empty := t.TempDir()
	if _, _, err := LoadCertPool("trusted_certs", empty); err == nil || !strings.Contains(err.Error(), "no certificate found") {
		t.Errorf("empty folder: %v", err)
	}
	if _, _, err := LoadCertPool("trusted_certs", filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "trusted_certs") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTrustedCertsKeys(t *testing.T) {
	base := filepath.Join(t.TempDir(), "wapt-get.ini")
	tests := []struct {
		desc, ini, want string
	}{
		{"waptwua key", "[global]\npublic_certs_dir = ssl\n[waptwua]\ntrusted_certs = rules-signers.pem\n", filepath.Join(filepath.Dir(base), "rules-signers.pem")},
		{"WAPT's public_certs_dir", "[global]\npublic_certs_dir = /opt/wapt/ssl\n", "/opt/wapt/ssl"},
		{"none", "[global]\nrepo_url = https://srv/wapt\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			a, err := ParseAgent([]byte(tt.ini), base)
			if err != nil {
				t.Fatal(err)
			}
			if a.WUA.TrustedCerts != tt.want {
				t.Errorf("TrustedCerts = %q, want %q", a.WUA.TrustedCerts, tt.want)
			}
			for _, w := range a.Warnings {
				if strings.Contains(w, "trusted_certs") {
					t.Errorf("warning %q", w)
				}
			}
		})
	}
	s, err := ParseServer([]byte("[options]\npackage_trusted_certs = /etc/waptserver/rules-signers.pem\n"), "waptserver.ini")
	if err != nil || s.PackageTrustedCerts != "/etc/waptserver/rules-signers.pem" || len(s.Warnings) != 0 {
		t.Errorf("package_trusted_certs: %+v %v", s, err)
	}
}
