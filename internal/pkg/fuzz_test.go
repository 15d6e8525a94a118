package pkg

import (
	"errors"
	"testing"
)

// FuzzVerify feeds Verify and Open arbitrary bytes, seeded with a signed package and
// damaged copies of it: they must never panic, and every refusal must carry one of the
// sentinel errors.
func FuzzVerify(f *testing.F) {
	p := pkiOnce()
	good := signedPackage(f, sampleSpec(), p.signer)
	f.Add(good)
	f.Add(signedPackage(f, Spec{Name: "r", Version: "1", Rules: sampleRules()}, p.self))
	f.Add(rewrite(f, good, func(e []zipEntry) []zipEntry { return removeEntry(e, SignatureName) }))
	f.Add(rewrite(f, good, func(e []zipEntry) []zipEntry {
		return append([]zipEntry{{"WAPT/", nil}}, append(e, zipEntry{"../x", []byte("x")})...)
	}))
	f.Add(good[:len(good)-30])
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	sentinels := []error{ErrMalformed, ErrUnsigned, ErrUntrusted, ErrBadSignature, ErrTampered, ErrExtraFile, ErrMissingFile}
	roots := pool(p.ca.cert, p.self.cert)
	lim := Limits{MaxFileSize: 256 << 10, MaxTotalSize: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Verify(data, VerifyOptions{Roots: roots, Now: clock, Limits: lim})
		if err == nil {
			if v == nil || v.Signer == nil || v.Control.Section != SectionRules {
				t.Fatalf("accepted without a result: %+v", v)
			}
		} else if !isOneOf(err, sentinels) {
			t.Fatalf("Verify error without a sentinel: %v", err)
		}
		if _, err := Open(data, lim); err != nil && !isOneOf(err, sentinels) {
			t.Fatalf("Open error without a sentinel: %v", err)
		}
	})
}

func isOneOf(err error, targets []error) bool {
	for _, s := range targets {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
