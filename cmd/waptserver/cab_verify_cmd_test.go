package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

func TestCabVerifyCommand(t *testing.T) {
	authenticodetest.RequireOsslsigncode(t)
	p := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{})
	other := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{SignerCN: "Other"})
	cab := authenticodetest.SampleCab(t)
	signed := authenticodetest.Sign(t, p, cab, "sha256")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("wsusscn2.cab", signed)
	tamperedBytes := bytes.Clone(signed)
	tamperedBytes[len(tamperedBytes)/4] ^= 0xff // inside the cabinet data, well before the blob
	tampered := write("tampered.cab", tamperedBytes)
	unsigned := write("unsigned.cab", cab)
	notPEM := write("notpem.pem", []byte("hello"))
	caDER := write("ca.cer", p.CA.Raw)

	tests := []struct {
		desc       string
		args       []string
		wantCode   int
		wantOut    []string
		wantErrMsg string
	}{
		{desc: "valid", args: []string{"cab", "verify", good, "--roots", p.CAFile}, wantCode: 0,
			wantOut: []string{"signer:     CN=Test Signer", "issued by:  CN=Test Root CA,O=waptwua tests", "algorithm:  SHA-256", "signature OK"}},
		{desc: "valid, two roots, DER", args: []string{"cab", "verify", good, "--roots", other.CAFile, "--roots", caDER}, wantCode: 0,
			wantOut: []string{"signature OK"}},
		{desc: "tampered", args: []string{"cab", "verify", tampered, "--roots", p.CAFile}, wantCode: 1,
			wantErrMsg: "waptserver: " + tampered + ": signature check failed: cabinet content does not match its signature"},
		{desc: "other root", args: []string{"cab", "verify", good, "--roots", other.CAFile}, wantCode: 1,
			wantErrMsg: `wsusscn2.cab: signature check failed: signer certificate "CN=Test Signer" does not chain to a trusted root (add its root to --roots / cab_trusted_roots)`},
		{desc: "unsigned", args: []string{"cab", "verify", unsigned, "--roots", p.CAFile}, wantCode: 1,
			wantErrMsg: "carries no Authenticode signature"},
		{desc: "no --roots: Microsoft's built-in roots refuse a test signer", args: []string{"cab", "verify", good}, wantCode: 1,
			wantErrMsg: `signer certificate "CN=Test Signer" does not chain to a trusted root`},
		{desc: "roots not a certificate", args: []string{"cab", "verify", good, "--roots", notPEM}, wantCode: 1,
			wantErrMsg: "holds no PEM certificate"},
		{desc: "missing file", args: []string{"cab", "verify", filepath.Join(dir, "nope.cab"), "--roots", p.CAFile}, wantCode: 1,
			wantErrMsg: "no such file"},
		{desc: "no file argument", args: []string{"cab", "verify", "--roots", p.CAFile}, wantCode: 1,
			wantErrMsg: "expected one FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if tt.wantErrMsg != "" {
				if !strings.Contains(errb.String(), tt.wantErrMsg) {
					t.Errorf("stderr lacks %q:\n%s", tt.wantErrMsg, errb.String())
				}
				if n := strings.Count(errb.String(), "\n"); n != 1 {
					t.Errorf("stderr has %d lines, want one error line:\n%s", n, errb.String())
				}
				if strings.Contains(out.String(), "signature OK") {
					t.Errorf("stdout says OK on failure:\n%s", out.String())
				}
			}
		})
	}
}
