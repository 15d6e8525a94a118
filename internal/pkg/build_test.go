package pkg

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/rules"
)

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		desc    string
		edit    func(*Spec)
		wantMsg string
	}{
		{"empty name", func(s *Spec) { s.Name = "" }, `package name "": want 1 to 128 letters`},
		{"name with a space", func(s *Spec) { s.Name = "acme rules" }, `package name "acme rules"`},
		{"name starting with a dash", func(s *Spec) { s.Name = "-rf" }, `package name "-rf"`},
		{"bad version", func(s *Spec) { s.Version = "v1" }, `package version "v1": want a WAPT package version such as 1-0`},
		{"unknown maturity", func(s *Spec) { s.Maturity = "BETA" }, `maturity "BETA": want PROD or PREPROD`},
		{"multi-line description", func(s *Spec) { s.Description = "a\nb" }, "description spans several lines"},
		{"description with spaces around", func(s *Spec) { s.Description = " a" }, "description starts or ends with spaces"},
		{"description with a control character", func(s *Spec) { s.Description = "a\x00b" }, "control character U+0000"},
		{"group with a comma", func(s *Spec) { s.TargetGroups = []string{"a,b"} }, `target group "a,b": a target group is 1 to 128 characters without a comma`},
		{"negative promotion delay", func(s *Spec) { s.PromoteAfterDays = -1 }, "promote after -1 days"},
		{"threshold above 100", func(s *Spec) { s.PromoteMinSuccessPct = 101 }, "promotion success threshold 101%"},
		{"invalid rules", func(s *Spec) { s.Rules.AllowedKBs = []string{"KBxyz"} }, `rules: allowed_kbs[0] = "KBxyz": not a KB number`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := sampleSpec()
			tt.edit(&s)
			_, err := Build(s)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestBuildNormalizes(t *testing.T) {
	s := sampleSpec()
	s.Maturity = "preprod"
	s.TargetGroups = []string{"Lyon", "lyon", "Paris"}
	p, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Control.Maturity != "PREPROD" || strings.Join(p.Control.TargetGroups, ",") != "Lyon,Paris" {
		t.Errorf("control: %+v", p.Control)
	}
	r, err := rules.Parse(p.RulesJSON)
	if err != nil {
		t.Fatalf("the rules file does not parse: %v", err)
	}
	if r.AllowedKBs[1] != "KB5034122" {
		t.Errorf("rules not normalized: %v", r.AllowedKBs)
	}
}

// TestOpenAndResign: a package whose rules were edited, or that was signed by someone
// else, is opened and signed again; the new package verifies with the new rules.
func TestOpenAndResign(t *testing.T) {
	p := pkiOnce()
	original := signedPackage(t, sampleSpec(), p.signer)
	edited := rewrite(t, original, func(e []zipEntry) []zipEntry {
		r := entry(e, RulesName)
		r.data = bytes.Replace(r.data, []byte(`"KB5034441"`), []byte(`"KB5034441", "KB5035000"`), 1)
		return e
	})
	if _, err := Verify(edited, VerifyOptions{Roots: pool(p.ca.cert), Now: clock}); !errors.Is(err, ErrTampered) {
		t.Fatalf("edited package: err = %v, want ErrTampered", err)
	}
	pk, err := Open(edited, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if pk.Control.Signer != "" || pk.Control.Signature != "" || !pk.Control.SignatureDate.IsZero() {
		t.Errorf("Open kept signer fields: %+v", pk.Control)
	}
	z, err := Sign(pk, p.self.key, []*x509.Certificate{p.self.cert}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(z, VerifyOptions{Roots: pool(p.self.cert), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Rules.AllowedKBs, ",") != "KB5034441,KB5035000,KB5034122" {
		t.Errorf("rules = %v", v.Rules.AllowedKBs)
	}
	if v.Control.Maturity != "PREPROD" || v.Control.Signer != "admin-selfsigned" || v.Control.PromoteAfterDays != 7 {
		t.Errorf("control = %+v", v.Control)
	}

	// An unsigned package (control and rules only) is signed too.
	unsigned := rewrite(t, original, func(e []zipEntry) []zipEntry {
		return removeEntry(removeEntry(removeEntry(e, SignatureName), ManifestName), CertificateName)
	})
	if _, err := Verify(unsigned, VerifyOptions{Roots: pool(p.ca.cert), Now: clock}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned package: err = %v, want ErrUnsigned", err)
	}
	if _, err := Open(unsigned, Limits{}); err != nil {
		t.Errorf("Open unsigned: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	good := signedPackage(t, sampleSpec(), pkiOnce().signer)
	tests := []struct {
		desc    string
		edit    func([]zipEntry) []zipEntry
		want    error
		wantMsg string
	}{
		{"extra file", func(e []zipEntry) []zipEntry { return append(e, zipEntry{"setup.py", []byte("x")}) }, ErrMalformed,
			"setup.py: malformed rules package: unexpected file; a rules package holds only WAPT/control and WAPT/persistent/waptwua_rules.json"},
		{"no control", func(e []zipEntry) []zipEntry { return removeEntry(e, ControlName) }, ErrMalformed, "WAPT/control: malformed rules package: missing"},
		{"no rules", func(e []zipEntry) []zipEntry { return removeEntry(e, RulesName) }, ErrMalformed, "waptwua_rules.json: malformed rules package: missing"},
		{"rules that do not parse", func(e []zipEntry) []zipEntry {
			entry(e, RulesName).data = []byte(`{"allowed_kbs": ["KBxyz"]}`)
			return e
		}, ErrMalformed, `allowed_kbs[0] = "KBxyz"`},
		{"unknown control attribute", func(e []zipEntry) []zipEntry {
			c := entry(e, ControlName)
			c.data = append(c.data, "\ndepends           : tis-evil"...)
			return e
		}, ErrMalformed, "attribute depends is not one this tool writes"},
		{"continuation line", func(e []zipEntry) []zipEntry {
			c := entry(e, ControlName)
			c.data = append(c.data, "\n more description"...)
			return e
		}, ErrMalformed, "multi-line values are not supported"},
		{"repeated attribute", func(e []zipEntry) []zipEntry {
			c := entry(e, ControlName)
			c.data = append(c.data, "\nmaturity: PROD"...)
			return e
		}, ErrMalformed, "attribute maturity appears twice"},
		{"not UTF-8", func(e []zipEntry) []zipEntry {
			c := entry(e, ControlName)
			c.data = append(c.data, "\nmaintainer2: \xff"...)
			return e
		}, ErrMalformed, "not UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Open(rewrite(t, good, tt.edit), Limits{})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v\nwant %v containing %q", err, tt.want, tt.wantMsg)
			}
		})
	}
}
