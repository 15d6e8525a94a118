// Package authenticodetest makes signed cabinets for tests: a throw-away CA and
// code-signing certificate, a minimal uncompressed cabinet written by hand, and a
// signature made by the real osslsigncode tool, so tests never check our verifier against
// our own signer.
package authenticodetest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PKIOptions shape the signer certificate; the zero value gives an RSA code-signing
// certificate "CN=Test Signer" valid from an hour ago for ten years.
type PKIOptions struct {
	SignerCN    string
	ExtKeyUsage []x509.ExtKeyUsage // nil: code signing
	NotBefore   time.Time
	NotAfter    time.Time
	ECDSA       bool // P-256 keys instead of RSA-2048
}

// PKI is a test CA and a signer certificate it issued, written as PEM files in Dir.
type PKI struct {
	CA, Signer                *x509.Certificate
	Dir                       string
	CAFile, CertFile, KeyFile string // CA cert, signer cert, signer key (PEM)
}

// Pool returns a pool holding only the CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

// NewPKI creates a CA and a signer certificate under t.TempDir().
func NewPKI(t testing.TB, opts PKIOptions) *PKI {
	t.Helper()
	if opts.SignerCN == "" {
		opts.SignerCN = "Test Signer"
	}
	if opts.ExtKeyUsage == nil {
		opts.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = opts.NotBefore.AddDate(10, 0, 0)
	}
	newKey := func() crypto.Signer {
		var k crypto.Signer
		var err error
		if opts.ECDSA {
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		} else {
			k, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, signerKey := newKey(), newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Root CA", Organization: []string{"waptwua tests"}},
		NotBefore:             opts.NotBefore.Add(-time.Hour),
		NotAfter:              opts.NotAfter.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x1234567),
		Subject:               pkix.Name{CommonName: opts.SignerCN},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           opts.ExtKeyUsage,
		BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, signerKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &PKI{CA: ca, Signer: leaf, Dir: dir,
		CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)
	writePEM(t, p.CertFile, "CERTIFICATE", leafDER)
	writePEM(t, p.KeyFile, "PRIVATE KEY", keyDER)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// File is one member of a MinimalCab.
type File struct {
	Name string
	Data []byte
}

// MinimalCab writes an uncompressed single-folder cabinet (CFHEADER, one CFFOLDER, the
// CFFILE entries, one CFDATA block without checksum). The members must total at most
// 32768 bytes.
func MinimalCab(t testing.TB, files []File) []byte {
	t.Helper()
	var data []byte
	for _, f := range files {
		data = append(data, f.Data...)
	}
	if len(data) > 32768 {
		t.Fatalf("MinimalCab: %d bytes of members, more than one CFDATA block holds", len(data))
	}
	const headerLen, folderLen = 36, 8
	dirLen := 0
	for _, f := range files {
		dirLen += 16 + len(f.Name) + 1
	}
	coffFiles := headerLen + folderLen
	dataStart := coffFiles + dirLen
	total := dataStart + 8 + len(data)

	le := binary.LittleEndian
	var b []byte
	b = append(b, "MSCF"...)
	b = le.AppendUint32(b, 0)             // reserved1
	b = le.AppendUint32(b, uint32(total)) // cbCabinet
	b = le.AppendUint32(b, 0)             // reserved2
	b = le.AppendUint32(b, uint32(coffFiles))
	b = le.AppendUint32(b, 0) // reserved3
	b = append(b, 3, 1)       // version 1.3
	b = le.AppendUint16(b, 1) // cFolders
	b = le.AppendUint16(b, uint16(len(files)))
	b = le.AppendUint16(b, 0)                 // flags
	b = le.AppendUint16(b, 0x4242)            // setID
	b = le.AppendUint16(b, 0)                 // iCabinet
	b = le.AppendUint32(b, uint32(dataStart)) // CFFOLDER.coffCabStart
	b = le.AppendUint16(b, 1)                 // cCFData
	b = le.AppendUint16(b, 0)                 // typeCompress: none
	off := 0
	for _, f := range files {
		b = le.AppendUint32(b, uint32(len(f.Data)))
		b = le.AppendUint32(b, uint32(off))
		b = le.AppendUint16(b, 0)      // iFolder
		b = le.AppendUint16(b, 0x5b77) // 2025-11-23
		b = le.AppendUint16(b, 0x6000) // 12:00:00
		b = le.AppendUint16(b, 0x20)   // archive
		b = append(b, f.Name...)
		b = append(b, 0)
		off += len(f.Data)
	}
	b = le.AppendUint32(b, 0) // CFDATA.csum: none
	b = le.AppendUint16(b, uint16(len(data)))
	b = le.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// SampleCab is a small cabinet with three members.
func SampleCab(t testing.TB) []byte {
	t.Helper()
	return MinimalCab(t, []File{
		{Name: "index.xml", Data: []byte(`<INDEX VERSION="1"><CABLIST XOR="0"><CAB NAME="package.cab"/></CABLIST></INDEX>` + "\n")},
		{Name: "package.cab", Data: bytes.Repeat([]byte("catalog data "), 100)},
		{Name: `x\43268251`, Data: []byte("<ExtendedProperties/>\n")},
	})
}

// RequireOsslsigncode skips the test when osslsigncode is not installed.
func RequireOsslsigncode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Skip("osslsigncode not installed (apt-get install osslsigncode): signed-cabinet tests skipped")
	}
}

// Sign signs the cabinet with osslsigncode using p's signer and the digest named by hash
// ("sha1", "sha256", ...) and returns the signed bytes.
func Sign(t testing.TB, p *PKI, cab []byte, hash string) []byte {
	t.Helper()
	RequireOsslsigncode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.cab"), filepath.Join(dir, "signed.cab")
	if err := os.WriteFile(in, cab, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("osslsigncode", "sign", "-certs", p.CertFile, "-key", p.KeyFile, "-h", hash, "-in", in, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("osslsigncode sign: %v\n%s", err, b)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// OsslVerify runs osslsigncode verify on cab against the CA file and reports whether it
// accepted the signature, with its output.
func OsslVerify(t testing.TB, caFile string, cab []byte) (bool, string) {
	t.Helper()
	RequireOsslsigncode(t)
	path := filepath.Join(t.TempDir(), "verify.cab")
	if err := os.WriteFile(path, cab, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("osslsigncode", "verify", "-CAfile", caFile, "-in", path).CombinedOutput()
	return err == nil, string(out)
}
