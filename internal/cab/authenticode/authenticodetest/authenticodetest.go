// Package authenticodetest makes signed cabinets for tests: a throw-away CA and
// code-signing certificate, a minimal uncompressed cabinet written by hand, and a
// signature made by the real osslsigncode tool, so tests never check our verifier against
// our own signer.
package authenticodetest

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openwua/waptwua/internal/cab/authenticode/pki"
)

// PKIOptions shape the signer certificate (see pki.Options).
type PKIOptions = pki.Options

// PKI is a test CA and a signer certificate it issued, also written as PEM files in Dir.
type PKI struct {
	*pki.PKI
	Dir                       string
	CAFile, CertFile, KeyFile string // CA cert, signer cert, signer key (PEM)
}

// NewPKI creates a CA and a signer certificate, written as PEM files under t.TempDir().
func NewPKI(t testing.TB, opts PKIOptions) *PKI {
	t.Helper()
	pk, err := pki.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(pk.Key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &PKI{PKI: pk, Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	writePEM(t, p.CAFile, "CERTIFICATE", pk.CA.Raw)
	writePEM(t, p.CertFile, "CERTIFICATE", pk.Signer.Raw)
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

// RequireOsslsigncode fails the test when osslsigncode is not installed: the signed
// cabinets of the tests come from the real tool.
func RequireOsslsigncode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Fatal("osslsigncode is not installed (apt-get install osslsigncode): the signed-cabinet tests need it")
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
