// Package authenticode verifies the Authenticode signature of a signed Microsoft cabinet
// file (such as wsusscn2.cab) against a set of trusted roots, without trusting anything
// the file says about itself.
//
// A signed cabinet carries a 20-byte header reserve that records where the PKCS#7
// SignedData blob appended after the cabinet data starts and how long it is. The signed
// digest covers the whole file up to that blob except the few header bytes that the
// signer rewrites when it adds the reserve; see digestCabinet for the exact rule.
package authenticode

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Options say what Verify trusts.
type Options struct {
	// Roots are the trusted root certificates. Required: Verify never falls back to the
	// system pool, because Microsoft's code-signing roots are not web roots.
	Roots *x509.CertPool
	// Now is the clock used to check certificate validity; nil means time.Now.
	Now func() time.Time
}

// Result describes a signature that verified.
type Result struct {
	// Signer is the certificate that made the signature; SignerSubject is its subject.
	Signer        *x509.Certificate
	SignerSubject string
	// Chain runs from Signer to the trusted root that anchors it.
	Chain []*x509.Certificate
	// DigestAlgorithm hashed the cabinet (named in the SpcIndirectDataContent); Digest is
	// the value that matched.
	DigestAlgorithm crypto.Hash
	Digest          []byte
	// SigningTime is the signer's authenticated signingTime attribute, zero if absent.
	// It is the signer's own claim, not a timestamp from a time-stamping authority.
	SigningTime time.Time
	// SignatureOffset and SignatureLength locate the PKCS#7 blob (with its padding).
	SignatureOffset, SignatureLength int64
}

// Failure kinds. Every error Verify returns about the file is an *Error whose Kind is one
// of these, so callers test them with errors.Is.
var (
	// ErrNotSigned: the cabinet has no Authenticode signature area at all.
	ErrNotSigned = errors.New("cabinet is not signed")
	// ErrMalformed: the file or its signature blob is not well formed.
	ErrMalformed = errors.New("malformed cabinet signature")
	// ErrUnsupported: the signature uses an algorithm this package does not accept.
	ErrUnsupported = errors.New("unsupported signature algorithm")
	// ErrDigestMismatch: the signed digest does not match the cabinet's content.
	ErrDigestMismatch = errors.New("cabinet digest mismatch")
	// ErrBadSignature: the signer's signature over its attributes does not verify.
	ErrBadSignature = errors.New("invalid signer signature")
	// ErrUntrusted: the signer certificate does not chain to a trusted root, is outside
	// its validity period or may not sign code.
	ErrUntrusted = errors.New("untrusted signer")
)

// Error is a verification failure: Detail names the cause and the fix, Kind is one of
// the Err* values above, Err the underlying cause if any.
type Error struct {
	Kind   error
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "signature check failed: " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is and errors.As see both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func fail(kind error, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// Verify checks the Authenticode signature of the cabinet held in r (size bytes): the
// cabinet digest against the signed SpcIndirectDataContent, the signer's signature over
// its authenticated attributes, and the signer's chain to opts.Roots for code signing at
// opts.Now. It reads the file once, streaming, and never allocates more than the
// signature blob, whatever lengths the file declares.
func Verify(r io.ReaderAt, size int64, opts Options) (*Result, error) {
	if opts.Roots == nil {
		return nil, fail(ErrUntrusted, nil, "no trusted roots configured (pass --roots FILE.pem / set cab_trusted_roots)")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	loc, err := locateSignature(r, size)
	if err != nil {
		return nil, err
	}
	blob := make([]byte, loc.length)
	// A ReaderAt may report io.EOF along with a full read that ends at the end of input.
	if n, err := r.ReadAt(blob, loc.offset); err != nil && !(err == io.EOF && n == len(blob)) {
		return nil, fmt.Errorf("signature check: reading the %d-byte signature at offset %d: %w", loc.length, loc.offset, err)
	}
	sig, err := parseSignature(blob)
	if err != nil {
		return nil, err
	}

	digest, err := digestCabinet(r, loc, sig.fileHash)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(digest, sig.fileDigest) {
		return nil, fail(ErrDigestMismatch, nil,
			"cabinet content does not match its signature: %s digest %s computed, %s signed (the file was modified or damaged; download it again)",
			sig.fileHash, hex.EncodeToString(digest), hex.EncodeToString(sig.fileDigest))
	}

	signer, err := sig.findSigner()
	if err != nil {
		return nil, err
	}
	if err := sig.checkSignerSignature(signer); err != nil {
		return nil, err
	}
	chain, err := verifyChain(signer, sig.certs, opts.Roots, now())
	if err != nil {
		return nil, err
	}
	return &Result{
		Signer:          signer,
		SignerSubject:   signer.Subject.String(),
		Chain:           chain,
		DigestAlgorithm: sig.fileHash,
		Digest:          digest,
		SigningTime:     sig.signingTime,
		SignatureOffset: loc.offset,
		SignatureLength: loc.length,
	}, nil
}

// checkSignerSignature verifies the SignerInfo's signature over the DER SET encoding of
// its authenticated attributes with the signer certificate's key.
func (s *signature) checkSignerSignature(signer *x509.Certificate) error {
	h := s.signerHash.New()
	h.Write(s.signedAttrs)
	sum := h.Sum(nil)
	subject := signer.Subject.String()
	switch pub := signer.PublicKey.(type) {
	case *rsa.PublicKey:
		if !isRSASignatureOID(s.sigAlg) {
			return fail(ErrUnsupported, nil, "signer %q has an RSA key but the signature algorithm is %s (only RSA PKCS#1 v1.5 is accepted)", subject, s.sigAlg)
		}
		if err := rsa.VerifyPKCS1v15(pub, s.signerHash, sum, s.sigValue); err != nil {
			return fail(ErrBadSignature, err, "signer %q did not sign these attributes (the signature blob was altered; download the file again)", subject)
		}
	case *ecdsa.PublicKey:
		if !isECDSASignatureOID(s.sigAlg) {
			return fail(ErrUnsupported, nil, "signer %q has an ECDSA key but the signature algorithm is %s", subject, s.sigAlg)
		}
		if !ecdsa.VerifyASN1(pub, sum, s.sigValue) {
			return fail(ErrBadSignature, nil, "signer %q did not sign these attributes (the signature blob was altered; download the file again)", subject)
		}
	default:
		return fail(ErrUnsupported, nil, "signer %q has a %T key (only RSA and ECDSA are accepted)", subject, signer.PublicKey)
	}
	return nil
}

// verifyChain builds a chain from signer through the embedded certificates to roots,
// requiring the code-signing extended key usage (or any, or none, as x509 allows).
func verifyChain(signer *x509.Certificate, embedded []*x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	subject := signer.Subject.String()
	if signer.KeyUsage != 0 && signer.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fail(ErrUntrusted, nil, "signer certificate %q does not allow digital signatures (key usage); it cannot sign code", subject)
	}
	inter := x509.NewCertPool()
	for _, c := range embedded {
		if c != signer {
			inter.AddCert(c)
		}
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) {
			switch inv.Reason {
			case x509.Expired:
				return nil, fail(ErrUntrusted, err, "signer certificate %q chain is not valid at %s (check the clock, or download a freshly signed file)", subject, now.UTC().Format(time.RFC3339))
			case x509.IncompatibleUsage:
				return nil, fail(ErrUntrusted, err, "signer certificate %q is not allowed to sign code (extended key usage)", subject)
			}
		}
		return nil, fail(ErrUntrusted, err, "signer certificate %q does not chain to a trusted root (add its root to --roots / cab_trusted_roots)", subject)
	}
	return chains[0], nil
}
