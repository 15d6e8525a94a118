package pkg

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// testNow is the injected clock of the tests; certificates are valid 2026-01-01..2028-01-01.
var testNow = time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)

func clock() time.Time { return testNow }

type identity struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// testPKI holds the keys and certificates of the tests, made once per test binary
// (RSA key generation is the slow part of these tests).
type testPKI struct {
	ca, signer     identity // CA, and a signer it issued
	inter, leaf    identity // an intermediate CA issued by ca, and a signer it issued
	self           identity // a self-signed signer, trusted directly
	rogueCA, rogue identity // an untrusted CA and its signer
}

var pkiOnce = sync.OnceValue(func() *testPKI {
	keys := make([]*rsa.PrivateKey, 5)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	p := &testPKI{}
	p.ca = newIdentity(keys[0], "Acme Rules CA", true, nil)
	p.signer = newIdentity(keys[1], "Acme Rules Signer", false, &p.ca)
	p.inter = newIdentity(keys[2], "Acme Intermediate CA", true, &p.ca)
	p.leaf = newIdentity(keys[3], "Acme Site Signer", false, &p.inter)
	p.self = newIdentity(keys[4], "admin-selfsigned", true, nil)
	p.rogueCA = newIdentity(keys[2], "Rogue CA", true, nil) // keys may be shared: only names and issuers matter
	p.rogue = newIdentity(keys[3], "Acme Rules Signer", false, &p.rogueCA)
	return p
})

func newIdentity(key *rsa.PrivateKey, cn string, isCA bool, issuer *identity) identity {
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"waptwua tests"}},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	parent, signKey := tmpl, key
	if issuer != nil {
		parent, signKey = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signKey)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return identity{key: key, cert: c}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func boolp(b bool) *bool { return &b }

func sampleRules() rules.Rules {
	return rules.Rules{
		AllowedKBs:             []string{"KB5034441", "kb5034122"},
		ForbiddenUpdates:       []string{"6A0C1B5D-0E5B-4D7A-9E6B-1C6B0F8C2D11_200"},
		AllowedClassifications: []string{"Security Updates", "Critical Updates"},
		AllowedSeverities:      []string{"critical"},
		DefaultAllow:           boolp(false),
	}
}

func sampleSpec() Spec {
	return Spec{
		Name:         "acme-waptwua-rules",
		Version:      "3-0",
		Description:  "Security updates for the Lyon site (été 2026)",
		Maturity:     MaturityPreprod,
		Rules:        sampleRules(),
		TargetGroups: []string{"lyon-desktops", "lyon-laptops"},

		PromoteAfterDays:     7,
		PromoteMinSuccessPct: 95,
	}
}

// signedPackage builds sampleSpec and signs it with id (chain: id, then extra).
func signedPackage(t testing.TB, spec Spec, id identity, extra ...*x509.Certificate) []byte {
	t.Helper()
	p, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	chain := append([]*x509.Certificate{id.cert}, extra...)
	z, err := Sign(p, id.key, chain, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// zipEntry is one entry of a zip rewritten by a test.
type zipEntry struct {
	name string
	data []byte
}

func readEntries(t testing.TB, z []byte) []zipEntry {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var out []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipEntry{f.Name, b})
	}
	return out
}

func writeEntries(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite applies edit to the entries of z and writes a new zip.
func rewrite(t testing.TB, z []byte, edit func([]zipEntry) []zipEntry) []byte {
	t.Helper()
	return writeEntries(t, edit(readEntries(t, z)))
}

func entry(entries []zipEntry, name string) *zipEntry {
	for i := range entries {
		if entries[i].name == name {
			return &entries[i]
		}
	}
	return nil
}

// remanifest recomputes the manifest of entries and signs it with id, as an attacker
// holding a trusted key (or a careless tool) would: it isolates the control checks.
func remanifest(t testing.TB, entries []zipEntry, id identity) []zipEntry {
	t.Helper()
	var pairs [][2]string
	var out []zipEntry
	for _, e := range entries {
		if e.name == ManifestName || e.name == SignatureName {
			continue
		}
		sum := sha256.Sum256(e.data)
		pairs = append(pairs, [2]string{e.name, hex.EncodeToString(sum[:])})
		out = append(out, e)
	}
	m := pyPairs(pairs)
	sig, err := signSHA256(id.key, m)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, zipEntry{ManifestName, m}, zipEntry{SignatureName, []byte(base64.StdEncoding.EncodeToString(sig))})
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// encodeBase64Lines wraps base64 at 64 columns, as PEM does.
func encodeBase64Lines(b []byte) string {
	s := encodeBase64(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString(s + "\n")
	return out.String()
}
