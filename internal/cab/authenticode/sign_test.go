package authenticode

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab"
	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

// reservedCab writes a small cabinet with the empty 20-byte header reserve a signature needs.
func reservedCab(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cab.NewWriter(&buf, cab.WriterOptions{HeaderReserve: 20, TempDir: t.TempDir()})
	if err := w.NewFolder(cab.MethodMSZIP, 0); err != nil {
		t.Fatal(err)
	}
	mw, err := w.Create("index.xml", time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mw.Write(bytes.Repeat([]byte("<INDEX/>\n"), 500)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The stand-ins' signer: its signatures pass our verifier and osslsigncode's.
func TestSignerSignsWhatVerifiersAccept(t *testing.T) {
	for _, ecdsa := range []bool{false, true} {
		p := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{ECDSA: ecdsa})
		unsigned := reservedCab(t)
		signed, err := Signer{Cert: p.Signer, Key: p.Key}.Sign(unsigned)
		if err != nil {
			t.Fatalf("ecdsa %v: Sign: %v", ecdsa, err)
		}
		res, err := verifyBytes(signed, Options{Roots: p.Pool()})
		if err != nil || res.SignerSubject != "CN=Test Signer" {
			t.Fatalf("ecdsa %v: Verify = %+v, %v", ecdsa, res, err)
		}
		if ok, out := authenticodetest.OsslVerify(t, p.CAFile, signed); !ok && !ecdsa {
			t.Errorf("osslsigncode refuses the signature:\n%s", out)
		}
		if _, err := verifyBytes(flip(signed, 200), Options{Roots: p.Pool()}); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("ecdsa %v: a modified signed cabinet: err = %v, want ErrDigestMismatch", ecdsa, err)
		}
		other := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{})
		if _, err := verifyBytes(signed, Options{Roots: other.Pool()}); !errors.Is(err, ErrUntrusted) {
			t.Errorf("ecdsa %v: signed by an unknown root: err = %v, want ErrUntrusted", ecdsa, err)
		}
		if _, err := (Signer{Cert: p.Signer, Key: p.Key}).Sign(signed); err == nil {
			t.Error("a signed cabinet signed again")
		}
		if _, err := (Signer{Cert: p.Signer, Key: p.Key}).Sign(authenticodetest.SampleCab(t)); err == nil {
			t.Error("a cabinet without a header reserve signed")
		}
	}
}
