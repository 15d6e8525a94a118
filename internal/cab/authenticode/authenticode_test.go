package authenticode

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

// fixture is a cabinet signed by osslsigncode and what it takes to verify it.
type fixture struct {
	pki      *authenticodetest.PKI
	unsigned []byte
	signed   []byte
	opts     Options
}

func newFixture(t *testing.T, hash string, po authenticodetest.PKIOptions) *fixture {
	t.Helper()
	authenticodetest.RequireOsslsigncode(t)
	p := authenticodetest.NewPKI(t, po)
	cab := authenticodetest.SampleCab(t)
	now := p.Signer.NotBefore.Add(24 * time.Hour)
	return &fixture{
		pki:      p,
		unsigned: cab,
		signed:   authenticodetest.Sign(t, p, cab, hash),
		opts:     Options{Roots: p.Pool(), Now: func() time.Time { return now }},
	}
}

func verifyBytes(b []byte, opts Options) (*Result, error) {
	return Verify(bytes.NewReader(b), int64(len(b)), opts)
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

func sigOffset(b []byte) int { return int(binary.LittleEndian.Uint32(b[44:])) }

func TestVerifySigned(t *testing.T) {
	tests := []struct {
		desc  string
		hash  string
		ecdsa bool
		want  crypto.Hash
	}{
		{desc: "sha256 rsa", hash: "sha256", want: crypto.SHA256},
		{desc: "sha1 rsa", hash: "sha1", want: crypto.SHA1},
		{desc: "sha512 rsa", hash: "sha512", want: crypto.SHA512},
		{desc: "sha256 ecdsa", hash: "sha256", ecdsa: true, want: crypto.SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			fx := newFixture(t, tt.hash, authenticodetest.PKIOptions{ECDSA: tt.ecdsa})
			res, err := verifyBytes(fx.signed, fx.opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.SignerSubject != "CN=Test Signer" || !res.Signer.Equal(fx.pki.Signer) {
				t.Errorf("signer = %q, want CN=Test Signer", res.SignerSubject)
			}
			if res.DigestAlgorithm != tt.want || len(res.Digest) != tt.want.Size() {
				t.Errorf("digest = %v (%d bytes), want %v", res.DigestAlgorithm, len(res.Digest), tt.want)
			}
			if len(res.Chain) != 2 || !res.Chain[1].Equal(fx.pki.CA) {
				t.Errorf("chain = %d certificates, want signer then test CA", len(res.Chain))
			}
			if d := time.Since(res.SigningTime); res.SigningTime.IsZero() || d < -time.Minute || d > time.Hour {
				t.Errorf("signing time = %v, want about now (osslsigncode adds signingTime)", res.SigningTime)
			}
			if res.SignatureOffset != int64(sigOffset(fx.signed)) || res.SignatureOffset+res.SignatureLength != int64(len(fx.signed)) {
				t.Errorf("signature at %d+%d, file is %d bytes", res.SignatureOffset, res.SignatureLength, len(fx.signed))
			}
			if ok, out := authenticodetest.OsslVerify(t, fx.pki.CAFile, fx.signed); !ok {
				t.Errorf("osslsigncode disagrees: it rejects the file we accept:\n%s", out)
			}
		})
	}
}

func TestVerifyTamperedContent(t *testing.T) {
	for _, hash := range []string{"sha256", "sha1"} {
		t.Run(hash, func(t *testing.T) {
			fx := newFixture(t, hash, authenticodetest.PKIOptions{})
			end := sigOffset(fx.signed)
			name := bytes.Index(fx.signed, []byte("index.xml"))
			data := bytes.Index(fx.signed, []byte("catalog data"))
			positions := []struct {
				desc string
				at   int
			}{
				{"header coffFiles", 16},
				{"header version", 24},
				{"header cFiles", 28},
				{"header setID", 32},
				{"header reserve tail", 56},
				{"CFFOLDER", 60},
				{"CFFILE name", name},
				{"file data", data + 500},
				{"last cabinet byte", end - 1},
			}
			for _, pos := range positions {
				t.Run(pos.desc, func(t *testing.T) {
					bad := flip(fx.signed, pos.at)
					_, err := verifyBytes(bad, fx.opts)
					if !errors.Is(err, ErrDigestMismatch) {
						t.Fatalf("byte %d flipped: err = %v, want ErrDigestMismatch", pos.at, err)
					}
					if !strings.Contains(err.Error(), "does not match its signature") || !strings.Contains(err.Error(), "download it again") {
						t.Errorf("message lacks cause or fix: %v", err)
					}
					if ok, out := authenticodetest.OsslVerify(t, fx.pki.CAFile, bad); ok {
						t.Errorf("osslsigncode disagrees: it accepts the tampered file:\n%s", out)
					}
				})
			}
		})
	}
}

// unhashedHeader are the only bytes before the signature that the Authenticode digest
// for cabinets does not cover and that no check rejects: iCabinet (34-35) and bytes 52-55
// of the reserve. Neither changes what a cabinet reader extracts.
var unhashedHeader = map[int]bool{34: true, 35: true, 52: true, 53: true, 54: true, 55: true}

// TestVerifyEveryByteFlipped flips each byte of a signed cabinet in turn: every change to
// the cabinet part must fail (except the documented unhashed bytes), and no change to
// the signature blob may verify either: the fixture has no unsigned attributes, and
// loose algorithm parameters are refused.
func TestVerifyEveryByteFlipped(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{})
	end := sigOffset(fx.signed)
	for i := range fx.signed {
		res, err := verifyBytes(flip(fx.signed, i), fx.opts)
		switch {
		case i < end && unhashedHeader[i]:
			if err != nil {
				t.Errorf("byte %d (not covered by the digest) flipped: %v, want success", i, err)
			}
		case i < end:
			if err == nil {
				t.Errorf("byte %d of the cabinet flipped: verified, want an error", i)
			}
		case err == nil:
			t.Errorf("byte %d of the signature blob (offset %d in it) flipped: verified with signer %q, want an error", i, i-end, res.SignerSubject)
		}
	}
}

func TestVerifyUntrusted(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{})
	other := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{SignerCN: "Other"})
	notBefore, notAfter := fx.pki.Signer.NotBefore, fx.pki.Signer.NotAfter
	tests := []struct {
		desc    string
		opts    Options
		wantMsg string
	}{
		{desc: "other root", opts: Options{Roots: other.Pool(), Now: fx.opts.Now},
			wantMsg: `signer certificate "CN=Test Signer" does not chain to a trusted root (add its root to --roots / cab_trusted_roots)`},
		{desc: "empty pool", opts: Options{Roots: x509.NewCertPool(), Now: fx.opts.Now},
			wantMsg: `does not chain to a trusted root`},
		{desc: "expired", opts: Options{Roots: fx.opts.Roots, Now: func() time.Time { return notAfter.Add(48 * time.Hour) }},
			wantMsg: `chain is not valid at`},
		{desc: "not yet valid", opts: Options{Roots: fx.opts.Roots, Now: func() time.Time { return notBefore.Add(-48 * time.Hour) }},
			wantMsg: `chain is not valid at`},
		{desc: "no roots", opts: Options{Now: fx.opts.Now}, wantMsg: "no trusted roots configured"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := verifyBytes(fx.signed, tt.opts)
			if !errors.Is(err, ErrUntrusted) {
				t.Fatalf("err = %v, want ErrUntrusted", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
	if ok, out := authenticodetest.OsslVerify(t, other.CAFile, fx.signed); ok {
		t.Errorf("osslsigncode disagrees: it accepts the file against another root:\n%s", out)
	}
}

func TestVerifyNotForCodeSigning(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	_, err := verifyBytes(fx.signed, fx.opts)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "not allowed to sign code") {
		t.Fatalf("err = %v, want ErrUntrusted about code signing", err)
	}
}

func TestVerifyNotSigned(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{})
	put32 := func(b []byte, at int, v uint32) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[at:], v)
		return c
	}
	tests := []struct {
		desc string
		cab  []byte
	}{
		{desc: "no reserve", cab: fx.unsigned},
		{desc: "other reserve size", cab: put32(fx.signed, 36, 16)},
		{desc: "no Authenticode marker", cab: put32(fx.signed, 40, 0)},
		{desc: "empty record", cab: put32(put32(fx.signed, 44, 0), 48, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := verifyBytes(tt.cab, fx.opts)
			if !errors.Is(err, ErrNotSigned) {
				t.Fatalf("err = %v, want ErrNotSigned", err)
			}
			if !strings.Contains(err.Error(), "original file as published by Microsoft") {
				t.Errorf("message lacks the fix: %v", err)
			}
		})
	}
}

func TestVerifyTruncatedOrMalformed(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{})
	s := fx.signed
	sigAt := sigOffset(s)
	// A blob cut short, with the header changed to match, so only the DER is wrong.
	consistent := bytes.Clone(s[:len(s)-200])
	binary.LittleEndian.PutUint32(consistent[48:], uint32(len(consistent)-sigAt))
	garbageBlob := bytes.Clone(s)
	copy(garbageBlob[sigAt:], bytes.Repeat([]byte{0x30}, len(s)-sigAt))
	hugeLength := bytes.Clone(s)
	binary.LittleEndian.PutUint32(hugeLength[48:], 0xffffffff)
	cabOverlaps := bytes.Clone(s)
	binary.LittleEndian.PutUint32(cabOverlaps[8:], uint32(sigAt+8))

	tests := []struct {
		desc    string
		cab     []byte
		wantMsg string
	}{
		{desc: "last byte cut", cab: s[:len(s)-1], wantMsg: "truncated or extended download"},
		{desc: "blob half gone", cab: s[:sigAt+(len(s)-sigAt)/2], wantMsg: "truncated or extended download"},
		{desc: "blob gone", cab: s[:sigAt], wantMsg: "truncated or extended download"},
		{desc: "extra bytes", cab: append(bytes.Clone(s), 0), wantMsg: "truncated or extended download"},
		{desc: "header only", cab: s[:50], wantMsg: "cabinet header is truncated"},
		{desc: "blob truncated consistently", cab: consistent, wantMsg: "signature blob:"},
		{desc: "blob garbage", cab: garbageBlob, wantMsg: "signature blob:"},
		{desc: "huge declared length", cab: hugeLength, wantMsg: "truncated or extended download"},
		{desc: "cabinet overlaps signature", cab: cabOverlaps, wantMsg: "overlaps the signature"},
		{desc: "reserved1 set", cab: flip(s, 5), wantMsg: "non-zero reserved fields"},
		{desc: "folder reserve set", cab: flip(s, 38), wantMsg: "non-zero reserved fields"},
		{desc: "not a cabinet", cab: []byte("PK\x03\x04 this is a zip file, not a cabinet at all"), wantMsg: "not a cabinet file"},
		{desc: "empty", cab: nil, wantMsg: "not a cabinet file"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := verifyBytes(tt.cab, fx.opts)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

type failingReader struct{ b []byte }

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off > 0 {
		return 0, io.ErrClosedPipe
	}
	return copy(p, r.b), nil
}

func TestVerifyReadError(t *testing.T) {
	fx := newFixture(t, "sha256", authenticodetest.PKIOptions{})
	_, err := Verify(failingReader{fx.signed}, int64(len(fx.signed)), fx.opts)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("err = %v, want the read error wrapped", err)
	}
}

func TestVerifyGarbage(t *testing.T) {
	roots := x509.NewCertPool()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		n := rng.IntN(300)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && n >= 60 {
			// Make it look signed so that the parser gets further.
			copy(b, "MSCF\x00\x00\x00\x00")
			b[30] |= flagReservePresent
			binary.LittleEndian.PutUint32(b[36:], authenticodeReserve)
			binary.LittleEndian.PutUint32(b[40:], authenticodeMagic)
			at := 60 + rng.IntN(n-59)
			binary.LittleEndian.PutUint32(b[8:], uint32(at))
			binary.LittleEndian.PutUint32(b[44:], uint32(at))
			binary.LittleEndian.PutUint32(b[48:], uint32(n-at))
		}
		if res, err := verifyBytes(b, Options{Roots: roots}); err == nil {
			t.Fatalf("random input %d verified: %+v", i, res)
		}
	}
}
