package pkg

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	p := pkiOnce()
	tests := []struct {
		desc      string
		signer    identity
		extra     []*x509.Certificate
		roots     *x509.CertPool
		wantChain []string
	}{
		{desc: "signer issued by a trusted CA", signer: p.signer, roots: pool(p.ca.cert),
			wantChain: []string{"Acme Rules Signer", "Acme Rules CA"}},
		{desc: "self-signed signer trusted directly", signer: p.self, roots: pool(p.self.cert),
			wantChain: []string{"admin-selfsigned"}},
		{desc: "intermediate CA embedded in the package", signer: p.leaf, extra: []*x509.Certificate{p.inter.cert}, roots: pool(p.ca.cert),
			wantChain: []string{"Acme Site Signer", "Acme Intermediate CA", "Acme Rules CA"}},
		{desc: "several trusted certificates", signer: p.signer, roots: pool(p.self.cert, p.ca.cert),
			wantChain: []string{"Acme Rules Signer", "Acme Rules CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			z := signedPackage(t, sampleSpec(), tt.signer, tt.extra...)
			v, err := Verify(z, VerifyOptions{Roots: tt.roots, Now: clock})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var chain []string
			for _, c := range v.Chain {
				chain = append(chain, c.Subject.CommonName)
			}
			if !reflect.DeepEqual(chain, tt.wantChain) {
				t.Errorf("chain = %q, want %q", chain, tt.wantChain)
			}
			want := Control{
				Package: "acme-waptwua-rules", Version: "3-0", Architecture: "all", Section: "wsus",
				Priority: "optional", Description: "Security updates for the Lyon site (été 2026)",
				Maturity: "PREPROD", TargetGroups: []string{"lyon-desktops", "lyon-laptops"},
				PromoteAfterDays: 7, PromoteMinSuccessPct: 95,
				Signer: tt.signer.cert.Subject.CommonName, SignerFingerprint: Fingerprint(tt.signer.cert),
				Signature: v.Control.Signature, SignatureDate: testNow,
				SignedAttributes: []string{"package", "version", "architecture", "section", "priority", "maintainer",
					"description", "maturity", "target_groups", "promote_after_days", "promote_min_success_pct",
					"signer", "signer_fingerprint", "signature_date", "signed_attributes"},
			}
			if !reflect.DeepEqual(v.Control, want) {
				t.Errorf("control:\n got %+v\nwant %+v", v.Control, want)
			}
			wantRules, _ := sampleRules().Normalize()
			if !reflect.DeepEqual(v.Rules, wantRules) {
				t.Errorf("rules:\n got %+v\nwant %+v", v.Rules, wantRules)
			}
			if v.Signer.Subject.CommonName != tt.signer.cert.Subject.CommonName {
				t.Errorf("signer = %q", v.Signer.Subject.CommonName)
			}
			if want := []string{ControlName, RulesName, CertificateName}; !reflect.DeepEqual(v.Files, want) {
				t.Errorf("files = %q, want %q", v.Files, want)
			}
		})
	}
}

func TestDefaultsAndDeterminism(t *testing.T) {
	p := pkiOnce()
	spec := Spec{Name: "r", Version: "1", Rules: sampleRules()}
	a := signedPackage(t, spec, p.self)
	v, err := Verify(a, VerifyOptions{Roots: pool(p.self.cert), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if v.Control.Maturity != MaturityProd || v.Control.TargetGroups != nil || v.Control.PromoteAfterDays != 0 {
		t.Errorf("defaults: %+v", v.Control)
	}
	// RSA PKCS#1 v1.5 is deterministic and the zip times come from the clock.
	if b := signedPackage(t, spec, p.self); !bytes.Equal(a, b) {
		t.Error("two signatures of the same package at the same time differ")
	}
}

// TestControlLayout pins the control file the original product reads.
func TestControlLayout(t *testing.T) {
	p := pkiOnce()
	z := signedPackage(t, sampleSpec(), p.signer)
	control := string(entry(readEntries(t, z), ControlName).data)
	sum := sha256.Sum256(p.signer.cert.Raw)
	wantLines := []string{
		"package           : acme-waptwua-rules",
		"version           : 3-0",
		"architecture      : all",
		"section           : wsus",
		"priority          : optional",
		"maintainer        : ",
		"description       : Security updates for the Lyon site (été 2026)",
		"maturity          : PREPROD",
		"target_groups     : lyon-desktops,lyon-laptops",
		"promote_after_days: 7",
		"promote_min_success_pct: 95",
		"signer            : Acme Rules Signer",
		"signer_fingerprint: " + hex.EncodeToString(sum[:]),
		"signature         : ", // value checked below
		"signature_date    : 2026-03-01T14:05:09",
		"signed_attributes : package,version,architecture,section,priority,maintainer,description,maturity,target_groups,promote_after_days,promote_min_success_pct,signer,signer_fingerprint,signature_date,signed_attributes",
	}
	lines := strings.Split(control, "\n")
	if len(lines) != len(wantLines) {
		t.Fatalf("control has %d lines, want %d:\n%s", len(lines), len(wantLines), control)
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(lines[i], w) || (!strings.HasPrefix(w, "signature ") && lines[i] != w) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if strings.HasSuffix(control, "\n") {
		t.Error("the control ends with a newline; the original joins lines without one")
	}
	manifest := string(entry(readEntries(t, z), ManifestName).data)
	if !strings.HasPrefix(manifest, `[["WAPT/control","`) || strings.Contains(manifest, " ") {
		t.Errorf("manifest is not compact JSON pairs: %s", manifest)
	}
}

func TestPythonJSON(t *testing.T) {
	tests := []struct {
		desc string
		in   map[string]string
		want string
	}{
		{"empty", map[string]string{}, `{}`},
		{"sorted keys, compact", map[string]string{"version": "1-0", "package": "a", "architecture": "all"},
			`{"architecture":"all","package":"a","version":"1-0"}`},
		{"ASCII escapes and HTML characters kept", map[string]string{"d": "a\"b\\c\n\r\t\b\f<>&/'"},
			`{"d":"a\"b\\c\n\r\t\b\f<>&/'"}`},
		{"non-ASCII as lower-case \\u, DEL and controls too", map[string]string{"d": "été\x7f\x01\u2028"},
			`{"d":"\u00e9t\u00e9\u007f\u0001\u2028"}`},
		{"astral plane as a surrogate pair", map[string]string{"d": "😀"}, `{"d":"\ud83d\ude00"}`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := string(pyObject(tt.in)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if got := string(pyPairs([][2]string{{"WAPT/control", "ab"}, {"x", "cd"}})); got != `[["WAPT/control","ab"],["x","cd"]]` {
		t.Errorf("pairs: %s", got)
	}
}

func TestVerifyRequiresRoots(t *testing.T) {
	z := signedPackage(t, sampleSpec(), pkiOnce().signer)
	_, err := Verify(z, VerifyOptions{Now: clock})
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "no trusted certificates given") {
		t.Fatalf("err = %v", err)
	}
}

// TestTampering: each attack is refused with its own sentinel and its own message.
func TestTampering(t *testing.T) {
	p := pkiOnce()
	good := signedPackage(t, sampleSpec(), p.signer)
	roots := pool(p.ca.cert, p.self.cert)

	editControl := func(e []zipEntry, from, to string) {
		c := entry(e, ControlName)
		if !bytes.Contains(c.data, []byte(from)) {
			t.Fatalf("control has no %q", from)
		}
		c.data = bytes.Replace(c.data, []byte(from), []byte(to), 1)
	}
	selfSignedPEM := func() []byte {
		var b bytes.Buffer
		b.WriteString("-----BEGIN CERTIFICATE-----\n")
		b.WriteString(encodeBase64Lines(p.self.cert.Raw))
		b.WriteString("-----END CERTIFICATE-----\n")
		return b.Bytes()
	}

	tests := []struct {
		desc    string
		pkg     func() []byte
		now     time.Time
		want    error
		wantMsg string
	}{
		{desc: "one byte of the rules changed", want: ErrTampered,
			wantMsg: "WAPT/persistent/waptwua_rules.json: package tampered: its SHA-256 is",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					r := entry(e, RulesName)
					r.data = bytes.Replace(r.data, []byte("KB5034441"), []byte("KB5034442"), 1)
					return e
				})
			}},
		{desc: "signature dropped", want: ErrUnsigned,
			wantMsg: "WAPT/signature.sha256: package is not signed: the file is missing (sign the package: waptserver rules sign",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					return removeEntry(e, SignatureName)
				})
			}},
		{desc: "signed with an untrusted key", want: ErrUntrusted,
			wantMsg: `WAPT/certificate.crt: signer is not trusted: certificate "Acme Rules Signer" (issued by "Rogue CA") does not chain to a trusted certificate`,
			pkg:     func() []byte { return signedPackage(t, sampleSpec(), p.rogue, p.rogueCA.cert) }},
		{desc: "file added", want: ErrExtraFile,
			wantMsg: "setup.py: file not covered by the signed manifest: it was added after signing",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					return append(e, zipEntry{"setup.py", []byte("import os\n")})
				})
			}},
		{desc: "file removed", want: ErrMissingFile,
			wantMsg: "WAPT/persistent/waptwua_rules.json: file listed in the signed manifest is missing: it was removed after signing",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry { return removeEntry(e, RulesName) })
			}},
		{desc: "control changed: maturity PREPROD to PROD", want: ErrTampered,
			wantMsg: "WAPT/control: package tampered: its SHA-256 is",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					editControl(e, "maturity          : PREPROD", "maturity          : PROD")
					return e
				})
			}},
		{desc: "certificate swapped for another trusted one", want: ErrBadSignature,
			wantMsg: `WAPT/signature.sha256: bad signature: the signature of WAPT/manifest.sha256 does not verify with the key of WAPT/certificate.crt "admin-selfsigned"`,
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					entry(e, CertificateName).data = selfSignedPEM()
					return e
				})
			}},
		{desc: "manifest edited to match a changed file", want: ErrBadSignature,
			wantMsg: `WAPT/signature.sha256: bad signature: the signature of WAPT/manifest.sha256 does not verify with the key of WAPT/certificate.crt "Acme Rules Signer"`,
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					r := entry(e, RulesName)
					old := sha256.Sum256(r.data)
					r.data = append(r.data, ' ')
					sum := sha256.Sum256(r.data)
					m := entry(e, ManifestName)
					m.data = bytes.Replace(m.data, []byte(hex.EncodeToString(old[:])), []byte(hex.EncodeToString(sum[:])), 1)
					return e
				})
			}},
		{desc: "certificate expired", now: time.Date(2028, 6, 1, 0, 0, 0, 0, time.UTC), want: ErrUntrusted,
			wantMsg: `WAPT/certificate.crt: signer is not trusted: certificate "Acme Rules Signer" is not valid at 2028-06-01T00:00:00Z`,
			pkg:     func() []byte { return good }},
		// The control's own signature, behind a manifest re-signed with a trusted key.
		{desc: "control changed behind a valid manifest", want: ErrBadSignature,
			wantMsg: `WAPT/control: bad signature: the control's signature does not verify with the key of WAPT/certificate.crt "Acme Rules Signer"`,
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					editControl(e, "maturity          : PREPROD", "maturity          : PROD")
					return remanifest(t, e, p.signer)
				})
			}},
		{desc: "unsigned attribute added to the control", want: ErrBadSignature,
			wantMsg: "WAPT/control: bad signature: attribute valid_until is not covered by the control's signature",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					c := entry(e, ControlName)
					c.data = append(c.data, "\nvalid_until       : 2026-03-02T00:00:00"...)
					return remanifest(t, e, p.signer)
				})
			}},
		{desc: "control without its signature", want: ErrUnsigned,
			wantMsg: "WAPT/control: package is not signed: the control has no signature attribute",
			pkg: func() []byte {
				return rewrite(t, good, func(e []zipEntry) []zipEntry {
					c := entry(e, ControlName)
					lines := strings.Split(string(c.data), "\n")
					for i, l := range lines {
						if strings.HasPrefix(l, "signature ") {
							lines[i] = "signature         : "
						}
					}
					c.data = []byte(strings.Join(lines, "\n"))
					return remanifest(t, e, p.signer)
				})
			}},
		{desc: "signer fingerprint of another certificate", want: ErrBadSignature,
			wantMsg: "WAPT/control: bad signature: signer_fingerprint",
			pkg: func() []byte {
				// A trusted signer signs a control naming someone else's fingerprint.
				pk, _ := Build(sampleSpec())
				z, err := Sign(pk, p.signer.key, []*x509.Certificate{p.signer.cert}, testNow)
				if err != nil {
					t.Fatal(err)
				}
				return rewrite(t, z, func(e []zipEntry) []zipEntry {
					c := entry(e, ControlName)
					fs, _ := parseControl(c.data)
					for i := range fs {
						if fs[i].key == AttrSignerFingerprint {
							fs[i].value = Fingerprint(p.self.cert)
						}
					}
					attrs := strings.Split(valueOf(fs, AttrSignedAttributes), ",")
					content, _ := signedContent(fs, attrs)
					sig, _ := signSHA256(p.signer.key, content)
					for i := range fs {
						if fs[i].key == AttrSignature {
							fs[i].value = encodeBase64(sig)
						}
					}
					c.data = renderControl(fs)
					return remanifest(t, e, p.signer)
				})
			}},
		{desc: "not a rules package", want: ErrMalformed,
			wantMsg: `WAPT/control: malformed rules package: section = "base": not a rules package (want section wsus`,
			pkg: func() []byte {
				pk, _ := Build(sampleSpec())
				pk.Control.Section = "base"
				z, err := Sign(pk, p.signer.key, []*x509.Certificate{p.signer.cert}, testNow)
				if err != nil {
					t.Fatal(err)
				}
				return z
			}},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			now := testNow
			if !tt.now.IsZero() {
				now = tt.now
			}
			v, err := Verify(tt.pkg(), VerifyOptions{Roots: roots, Now: func() time.Time { return now }})
			if err == nil {
				t.Fatalf("accepted: %+v", v.Control)
			}
			t.Log(err)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message:\n got %s\nwant it to contain %s", err, tt.wantMsg)
			}
			if prev, dup := seen[err.Error()]; dup {
				t.Errorf("same message as %q: %s", prev, err)
			}
			seen[err.Error()] = tt.desc
		})
	}
}

func removeEntry(e []zipEntry, name string) []zipEntry {
	out := e[:0:0]
	for _, x := range e {
		if x.name != name {
			out = append(out, x)
		}
	}
	return out
}

func valueOf(fs []field, key string) string {
	for _, f := range fs {
		if f.key == key {
			return f.value
		}
	}
	return ""
}
