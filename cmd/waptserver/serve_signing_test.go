package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/config"
)

func TestLoadPackageSigning(t *testing.T) {
	f := newRulesFixture(t)
	s, err := loadPackageSigning(&config.Server{Source: "waptserver.ini"})
	if s != nil || err != nil {
		t.Fatalf("no key: %v, %v", s, err)
	}
	s, err = loadPackageSigning(&config.Server{Source: "waptserver.ini", PackageSigningKey: f.key, PackageSigningCert: f.cert})
	if err != nil || s == nil || s.Key == nil || len(s.Chain) == 0 || s.Source != f.key {
		t.Fatalf("key: %+v, %v", s, err)
	}
	_, err = loadPackageSigning(&config.Server{Source: "waptserver.ini", PackageSigningKey: f.cert, PackageSigningCert: f.cert})
	if err == nil || !strings.Contains(err.Error(), "package_signing_key "+f.cert) {
		t.Errorf("certificate as key: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadPackageSigning(&config.Server{Source: "waptserver.ini", PackageSigningKey: f.key, PackageSigningCert: f.cert,
		PackageSigningKeyPasswordFile: empty})
	if err == nil || !strings.Contains(err.Error(), "the first line is empty") {
		t.Errorf("empty password: %v", err)
	}
	if f.encKey != "" {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadPackageSigning(&config.Server{Source: "waptserver.ini", PackageSigningKey: f.encKey, PackageSigningCert: f.cert,
			PackageSigningKeyPasswordFile: pw}); err != nil {
			t.Errorf("encrypted key: %v", err)
		}
	}
}
