package pkg

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Roots are the trusted certificates: CA certificates, or self-signed signer
	// certificates trusted directly as WAPT administrators often use. Required: Verify
	// never falls back to the system pool.
	Roots *x509.CertPool
	// Now is the clock used to check certificate validity; nil means time.Now.
	Now func() time.Time
	// Limits bound what is read from the zip (zero fields: defaults).
	Limits
}

// Verified is a rules package that passed every check.
type Verified struct {
	Control   Control
	Rules     rules.Rules // normalized
	RulesJSON []byte      // the exact bytes of WAPT/persistent/waptwua_rules.json
	Signer    *x509.Certificate
	// Chain runs from Signer to the trusted certificate that anchors it (Signer alone
	// when it is trusted directly).
	Chain []*x509.Certificate
	// Files are the files the signed manifest covers, in manifest order: WAPT/control,
	// the rules file and WAPT/certificate.crt, plus any other file the signer included
	// (a package made by the original may carry WAPT/icon.png); such files are accepted
	// because they are signed, and never used.
	Files []string
}

const maxChainCerts = 8

// Verify checks a rules package zip and returns its control and rules. It accepts the
// package only if: the zip is sane (see Limits); WAPT/certificate.crt chains to opts.Roots
// at opts.Now; WAPT/signature.sha256 is the signer's signature of WAPT/manifest.sha256;
// every file but the manifest and the signature is in the manifest with its SHA-256, and
// every file of the manifest is in the zip; the control's signature covers all its
// attributes and verifies with the same key; signer_fingerprint and signer describe the
// certificate; the section is wsus; the rules parse. Each failure wraps its own sentinel
// error.
func Verify(zipBytes []byte, opts VerifyOptions) (*Verified, error) {
	env, err := openSigned(zipBytes, opts, SectionRules, []string{ControlName, RulesName})
	if err != nil {
		return nil, err
	}
	a := env.a
	r, err := rules.Parse(a.files[RulesName])
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", RulesName, ErrMalformed, err)
	}
	return &Verified{
		Control:   env.control,
		Rules:     r,
		RulesJSON: a.files[RulesName],
		Signer:    env.signer,
		Chain:     env.chain,
		Files:     env.files,
	}, nil
}

// envelope is what openSigned checked: the zip, the signer, the control and the files
// the manifest covers.
type envelope struct {
	a       *archive
	control Control
	signer  *x509.Certificate
	chain   []*x509.Certificate
	files   []string        // covered files of the zip, in manifest order
	payload []manifestEntry // update packages: the manifest's payload/ entries, kept outside the zip
}

// openSigned does the checks every signed package passes: the zip is sane, the
// certificate chains to opts.Roots, the manifest is signed by it and covers exactly the
// zip's files (for section SectionUpdate, entries under payload/ are files kept outside
// the zip and returned apart), the required files are there, and the control is signed
// and of the given section.
func openSigned(zipBytes []byte, opts VerifyOptions, section string, required []string) (*envelope, error) {
	if opts.Roots == nil {
		return nil, fmt.Errorf("%w: no trusted certificates given (give the CA or signer certificate, e.g. --roots CA.pem; the system roots are never used)", ErrUntrusted)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	a, err := readZip(zipBytes, opts.Limits)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{SignatureName, ManifestName, CertificateName} {
		if _, ok := a.files[name]; !ok {
			return nil, fmt.Errorf("%s: %w: the file is missing (sign the package: waptserver rules sign PKG.wapt --key KEY.pem --cert CERT.pem)", name, ErrUnsigned)
		}
	}

	// Who signed, and do we trust them?
	certs, err := ParseCertificates(a.files[CertificateName])
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v (sign the package again)", CertificateName, ErrMalformed, err)
	}
	if len(certs) > maxChainCerts {
		return nil, fmt.Errorf("%s: %w: %d certificates, at most %d", CertificateName, ErrMalformed, len(certs), maxChainCerts)
	}
	signer := certs[0]
	pub, ok := signer.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: %w: the signer certificate %q has a %s key; WAPT packages are signed with RSA keys", CertificateName, ErrBadSignature, signer.Subject.CommonName, signer.PublicKeyAlgorithm)
	}
	if pub.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("%s: %w: the signer's RSA key has %d bits, fewer than %d (sign with a stronger key)", CertificateName, ErrBadSignature, pub.N.BitLen(), MinRSABits)
	}
	chain, err := verifyChain(certs, opts.Roots, now())
	if err != nil {
		return nil, err
	}

	// Did they sign this manifest?
	manifest := a.files[ManifestName]
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(a.files[SignatureName])))
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%s: %w: not a base64 signature (sign the package again)", SignatureName, ErrBadSignature)
	}
	if !verifySHA256(pub, manifest, sig) {
		return nil, fmt.Errorf("%s: %w: the signature of %s does not verify with the key of %s %q (the manifest or the certificate was replaced after signing; sign the package again)",
			SignatureName, ErrBadSignature, ManifestName, CertificateName, signer.Subject.CommonName)
	}

	if _, ok := a.files[ActionsName]; ok && section == SectionRules {
		return nil, fmt.Errorf("%s: %w: this is an update package, not a rules package (it is installed by the agent, not merged into its rules)", ActionsName, ErrMalformed)
	}

	// Does the manifest cover exactly the files of the zip, with their hashes?
	maxEntries := DefaultMaxEntries * 4
	if section == SectionUpdate {
		maxEntries += MaxPayloadFiles
	}
	entries, err := parseManifest(manifest, maxEntries)
	if err != nil {
		return nil, err
	}
	var payload []manifestEntry
	if section == SectionUpdate {
		inZip := entries[:0:0]
		for _, e := range entries {
			if strings.HasPrefix(e.name, PayloadPrefix) {
				if e.digest == "" {
					return nil, fmt.Errorf("%s: %w: payload entry %s has no SHA-256 (build the package again)", ManifestName, ErrMalformed, e.name)
				}
				payload = append(payload, e)
				continue
			}
			inZip = append(inZip, e)
		}
		entries = inZip
	}
	files, err := checkCoverage(a, entries)
	if err != nil {
		return nil, err
	}
	for _, name := range required {
		if _, ok := a.files[name]; !ok {
			what := "a rules package (build one with waptserver rules build)"
			if section == SectionUpdate {
				what = "an update package (build one with waptserver packages build-msu and the like)"
			}
			return nil, fmt.Errorf("%s: %w: missing, so this is not %s", name, ErrMalformed, what)
		}
	}

	control, err := verifyControl(a.files[ControlName], signer, pub, section)
	if err != nil {
		return nil, err
	}
	return &envelope{a: a, control: control, signer: signer, chain: chain, files: files, payload: payload}, nil
}

// verifyChain checks that certs[0] chains to roots through certs[1:] at now, for any
// usage (WAPT signing certificates carry code signing or no extended usage at all).
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	signer := certs[0]
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return chains[0], nil
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return nil, fmt.Errorf("%s: %w: certificate %q (issued by %q) does not chain to a trusted certificate (if you trust this signer, add its CA or its own certificate to the trusted certificates)",
			CertificateName, ErrUntrusted, signer.Subject.CommonName, signer.Issuer.CommonName)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return nil, fmt.Errorf("%s: %w: certificate %q is not valid at %s (valid %s to %s; renew it and sign the package again)",
			CertificateName, ErrUntrusted, invalid.Cert.Subject.CommonName, now.UTC().Format(time.RFC3339),
			invalid.Cert.NotBefore.UTC().Format(time.RFC3339), invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil, fmt.Errorf("%s: %w: certificate %q: %v", CertificateName, ErrUntrusted, signer.Subject.CommonName, err)
}

func verifySHA256(pub *rsa.PublicKey, data, sig []byte) bool {
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}

// manifestEntry is one [path, sha256hex] pair; digest is empty for a directory.
type manifestEntry struct{ name, digest string }

func parseManifest(data []byte, maxEntries int) ([]manifestEntry, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s (sign the package again)", ManifestName, ErrMalformed, fmt.Sprintf(format, a...))
	}
	var raw [][]string
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, bad("not a JSON list of [path, sha256] pairs (%v)", err)
	}
	if dec.More() {
		return nil, bad("data after the JSON list")
	}
	if len(raw) > maxEntries {
		return nil, bad("%d entries", len(raw))
	}
	seen := map[string]bool{}
	out := make([]manifestEntry, 0, len(raw))
	for i, p := range raw {
		if len(p) != 2 {
			return nil, bad("entry %d is not a [path, sha256] pair", i)
		}
		name, digest := p[0], p[1]
		if err := checkEntryName(name); err != nil {
			return nil, bad("entry %d, %s: %v", i, quoteForError(name), err)
		}
		name = strings.TrimSuffix(name, "/")
		if name == ManifestName || name == SignatureName {
			return nil, bad("it lists %s, which cannot be in it", name)
		}
		k := strings.ToLower(name)
		if seen[k] {
			return nil, bad("%s is listed twice", name)
		}
		seen[k] = true
		if digest != "" {
			if b, err := hex.DecodeString(digest); err != nil || len(b) != sha256.Size {
				return nil, bad("%s: %s is not a hex SHA-256", name, quoteForError(digest))
			}
		}
		out = append(out, manifestEntry{name, strings.ToLower(digest)})
	}
	return out, nil
}

// checkCoverage matches the zip against the signed manifest and returns the covered
// files in manifest order.
func checkCoverage(a *archive, entries []manifestEntry) ([]string, error) {
	listed := make(map[string]manifestEntry, len(entries))
	for _, e := range entries {
		listed[e.name] = e
	}
	for _, name := range a.names {
		if name == ManifestName || name == SignatureName {
			continue
		}
		e, ok := listed[name]
		if !ok {
			return nil, fmt.Errorf("%s: %w: it was added after signing (remove it; if it belongs in the package, sign the package again)", name, ErrExtraFile)
		}
		if e.digest == "" {
			return nil, fmt.Errorf("%s: %w: the signed manifest lists it as a directory, the zip has a file", name, ErrTampered)
		}
		sum := sha256.Sum256(a.files[name])
		if got := hex.EncodeToString(sum[:]); got != e.digest {
			return nil, fmt.Errorf("%s: %w: its SHA-256 is %s, the signed manifest says %s (the file was changed after signing; rebuild the package, or sign it again if the change is wanted)", name, ErrTampered, got, e.digest)
		}
	}
	dirs := map[string]bool{}
	for _, d := range a.dirs {
		dirs[d] = true
	}
	var files []string
	for _, e := range entries {
		if e.digest == "" {
			if !dirs[e.name] {
				return nil, fmt.Errorf("%s/: %w: the directory was removed after signing", e.name, ErrMissingFile)
			}
			continue
		}
		if _, ok := a.files[e.name]; !ok {
			return nil, fmt.Errorf("%s: %w: it was removed after signing (restore it from the original package)", e.name, ErrMissingFile)
		}
		files = append(files, e.name)
	}
	for _, d := range a.dirs {
		if _, ok := listed[d]; ok {
			continue
		}
		if !parentOfAny(d, files) {
			return nil, fmt.Errorf("%s/: %w: an empty directory was added after signing (remove it)", d, ErrExtraFile)
		}
	}
	return files, nil
}

func parentOfAny(dir string, files []string) bool {
	for _, f := range files {
		if strings.HasPrefix(f, dir+"/") {
			return true
		}
	}
	return false
}

// verifyControl parses the control and checks its own signature with the signer's key.
func verifyControl(data []byte, signer *x509.Certificate, pub *rsa.PublicKey, section string) (Control, error) {
	fs, err := parseControl(data)
	if err != nil {
		return Control{}, err
	}
	values := map[string]string{}
	for _, f := range fs {
		values[f.key] = f.value
	}
	if values[AttrSignature] == "" {
		return Control{}, fmt.Errorf("%s: %w: the control has no signature attribute (sign the package: waptserver rules sign)", ControlName, ErrUnsigned)
	}
	list, ok := values[AttrSignedAttributes]
	if !ok || list == "" {
		return Control{}, fmt.Errorf("%s: %w: the control has no signed_attributes (sign the package again)", ControlName, ErrUnsigned)
	}
	var attrs []string
	signed := map[string]bool{}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		switch {
		case !keyPattern.MatchString(a):
			return Control{}, fmt.Errorf("%s: %w: signed_attributes names %s, not an attribute name", ControlName, ErrMalformed, quoteForError(a))
		case signed[a]:
			return Control{}, fmt.Errorf("%s: %w: signed_attributes names %s twice", ControlName, ErrMalformed, a)
		case a == AttrSignature:
			return Control{}, fmt.Errorf("%s: %w: signed_attributes names signature, which cannot sign itself", ControlName, ErrMalformed)
		}
		signed[a] = true
		attrs = append(attrs, a)
	}
	for _, a := range requiredSigned() {
		if !signed[a] {
			return Control{}, fmt.Errorf("%s: %w: attribute %s is not among the signed attributes (sign the package again with waptserver rules sign)", ControlName, ErrBadSignature, a)
		}
	}
	for _, f := range fs {
		if f.key != AttrSignature && !signed[f.key] {
			return Control{}, fmt.Errorf("%s: %w: attribute %s is not covered by the control's signature; unsigned attributes are not trusted (remove it, or sign the package again)", ControlName, ErrBadSignature, f.key)
		}
	}
	content, err := signedContent(fs, attrs)
	if err != nil {
		return Control{}, fmt.Errorf("%s: %w: %v", ControlName, ErrMalformed, err)
	}
	sig, err := base64.StdEncoding.DecodeString(values[AttrSignature])
	if err != nil {
		return Control{}, fmt.Errorf("%s: %w: the signature attribute is not base64", ControlName, ErrBadSignature)
	}
	if !verifySHA256(pub, content, sig) {
		return Control{}, fmt.Errorf("%s: %w: the control's signature does not verify with the key of %s %q (the control was changed after signing; sign the package again)", ControlName, ErrBadSignature, CertificateName, signer.Subject.CommonName)
	}
	c, err := controlFromFields(fs, section)
	if err != nil {
		return Control{}, err
	}
	if want := Fingerprint(signer); !strings.EqualFold(c.SignerFingerprint, want) {
		return Control{}, fmt.Errorf("%s: %w: signer_fingerprint %s is not the fingerprint of %s (%s): the control was signed for another certificate (sign the package again)", ControlName, ErrBadSignature, quoteForError(c.SignerFingerprint), CertificateName, want)
	}
	if c.Signer != signer.Subject.CommonName {
		return Control{}, fmt.Errorf("%s: %w: signer %s is not the common name of %s (%q) (sign the package again)", ControlName, ErrBadSignature, quoteForError(c.Signer), CertificateName, signer.Subject.CommonName)
	}
	if c.SignatureDate.IsZero() {
		return Control{}, fmt.Errorf("%s: %w: signature_date is empty (sign the package again)", ControlName, ErrMalformed)
	}
	return c, nil
}
