package config

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openwua/waptwua/internal/pkg"
)

// maxCertFile bounds one certificate file read by LoadCertPool.
const maxCertFile = 4 << 20

// LoadCertPool reads the trusted certificates named by a trusted_certs or
// package_trusted_certs key: one PEM (or DER) file, or a folder whose .pem, .crt and .cer
// files are read (WAPT's public_certs_dir layout). It returns the pool and the
// certificates, and fails when none is found: an empty trust store would refuse every
// package without saying why. key names the setting in errors.
func LoadCertPool(key, path string) (*x509.CertPool, []*x509.Certificate, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w (give a PEM file or a folder of .pem/.crt files)", key, path, err)
	}
	files := []string{path}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", key, path, err)
		}
		files = files[:0]
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.Type().IsRegular() && (ext == ".pem" || ext == ".crt" || ext == ".cer") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
	}
	pool := x509.NewCertPool()
	var certs []*x509.Certificate
	for _, f := range files {
		cs, err := readCertFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		for _, c := range cs {
			pool.AddCert(c)
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%s %s: no certificate found (put the signers' certificates or their CA there, PEM \"-----BEGIN CERTIFICATE-----\" or DER)", key, path)
	}
	return pool, certs, nil
}

func readCertFile(path string) ([]*x509.Certificate, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxCertFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a certificate file", path, maxCertFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(data), "-----BEGIN") && !strings.Contains(string(data), "-----BEGIN CERTIFICATE") {
		return nil, nil // a PEM file without certificates (a key): nothing to trust in it
	}
	certs, err := pkg.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}
