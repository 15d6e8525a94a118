package pkg

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Sign signs p with key, whose certificate is chain[0] (chain[1:] are intermediates to
// embed; the trusted root may be left out), and returns the .wapt zip. now is the
// signing time: it becomes signature_date and the zip entries' time, and the signer
// certificate must be valid then. p is not modified.
//
// The control is signed first (its signed attributes, see the package doc), then the
// manifest of WAPT/control, the rules file and WAPT/certificate.crt.
func Sign(p *Package, key crypto.Signer, chain []*x509.Certificate, now time.Time) ([]byte, error) {
	if p == nil || p.RulesJSON == nil {
		return nil, errors.New("sign: the package has no rules file (make it with pkg.Build or read it with pkg.Open)")
	}
	return signPackage(p.Control, []namedFile{{RulesName, p.RulesJSON}}, nil, key, chain, now)
}

// namedFile is one file of a package zip.
type namedFile struct {
	name string
	data []byte
}

// signPackage signs the control c, then writes the zip of the control, content, the
// certificate chain, the manifest (which also lists external, the [path, sha256hex] of
// files kept outside the zip) and its signature.
func signPackage(c Control, content []namedFile, external [][2]string, key crypto.Signer, chain []*x509.Certificate, now time.Time) ([]byte, error) {
	if len(chain) == 0 {
		return nil, errors.New("sign: no signer certificate (give the certificate of the signing key)")
	}
	signer := chain[0]
	if err := checkSignerKey(key, signer); err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	if now.Before(signer.NotBefore) || now.After(signer.NotAfter) {
		return nil, fmt.Errorf("sign: certificate %q is valid from %s to %s, not at %s (renew it)",
			signer.Subject.CommonName, signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if signer.Subject.CommonName == "" {
		return nil, errors.New("sign: the signer certificate has no common name (CN), which the control's signer attribute records; use a certificate with a CN")
	}

	c.Signer = signer.Subject.CommonName
	c.SignerFingerprint = Fingerprint(signer)
	c.SignatureDate = now
	c.Signature = ""
	c.SignedAttributes = nil
	for _, k := range controlOrder() {
		if k != AttrSignature {
			c.SignedAttributes = append(c.SignedAttributes, k)
		}
	}
	fs := c.fields()
	for _, f := range fs {
		if err := checkValueChars(f.value); err != nil {
			return nil, fmt.Errorf("sign: control attribute %s: %v", f.key, err)
		}
	}
	signed, err := signedContent(fs, c.SignedAttributes)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig, err := signSHA256(key, signed)
	if err != nil {
		return nil, err
	}
	for i := range fs {
		if fs[i].key == AttrSignature {
			fs[i].value = base64.StdEncoding.EncodeToString(sig)
		}
	}
	control := renderControl(fs)

	var certPEM []byte
	for _, cert := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}

	files := append(append([]namedFile{{ControlName, control}}, content...), namedFile{CertificateName, certPEM})
	pairs := make([][2]string, 0, len(files)+len(external))
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		pairs = append(pairs, [2]string{f.name, hex.EncodeToString(sum[:])})
	}
	pairs = append(pairs, external...)
	manifest := pyPairs(pairs)
	msig, err := signSHA256(key, manifest)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: now})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	for _, f := range files {
		if err := add(f.name, f.data); err != nil {
			return nil, fmt.Errorf("sign: writing the zip: %w", err)
		}
	}
	if err := add(ManifestName, manifest); err != nil {
		return nil, fmt.Errorf("sign: writing the zip: %w", err)
	}
	if err := add(SignatureName, []byte(base64.StdEncoding.EncodeToString(msig))); err != nil {
		return nil, fmt.Errorf("sign: writing the zip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("sign: writing the zip: %w", err)
	}
	return buf.Bytes(), nil
}

// checkSignerKey makes sure key is an RSA key of at least MinRSABits and is the key of
// the certificate.
func checkSignerKey(key crypto.Signer, cert *x509.Certificate) error {
	if key == nil {
		return errors.New("sign: no private key")
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("sign: the key is %T; WAPT packages are signed with RSA keys", key.Public())
	}
	if pub.N.BitLen() < MinRSABits {
		return fmt.Errorf("sign: the RSA key has %d bits; use at least %d", pub.N.BitLen(), MinRSABits)
	}
	if !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("sign: the private key does not belong to certificate %q (give the matching --key and --cert)", cert.Subject.CommonName)
	}
	return nil
}

// signSHA256 makes an RSA PKCS#1 v1.5 signature of the SHA-256 of data.
func signSHA256(key crypto.Signer, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: the key refused to sign: %w", err)
	}
	return sig, nil
}

// signedContent is the byte string the control's signature covers: the signed
// attributes and their values as written in the control, as sorted compact JSON.
// Every signed attribute must be present.
func signedContent(fs []field, attrs []string) ([]byte, error) {
	values := make(map[string]string, len(fs))
	for _, f := range fs {
		values[f.key] = f.value
	}
	obj := make(map[string]string, len(attrs))
	for _, a := range attrs {
		v, ok := values[a]
		if !ok {
			return nil, fmt.Errorf("signed attribute %s is missing from the control", quoteForError(a))
		}
		obj[a] = v
	}
	return pyObject(obj), nil
}
