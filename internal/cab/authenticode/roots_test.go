package authenticode

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The embedded roots are Microsoft's, byte for byte: their thumbprints are those of
// Windows' root store.
func TestMicrosoftRootsThumbprints(t *testing.T) {
	want := map[string]string{
		"CN=Microsoft Root Certificate Authority 2010,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US": "3B1EFD3A66EA28B16697394703A72CA340A05BD5",
		"CN=Microsoft Root Certificate Authority 2011,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US": "8F43288AD272F3103B6FB1428485EA3014C0BCFE",
	}
	certs := MicrosoftRootCertificates()
	if len(certs) != len(want) {
		t.Fatalf("%d embedded roots, want %d", len(certs), len(want))
	}
	for _, c := range certs {
		sum := sha1.Sum(c.Raw)
		got := strings.ToUpper(hex.EncodeToString(sum[:]))
		if w, ok := want[c.Subject.String()]; !ok || got != w {
			t.Errorf("root %q: SHA-1 thumbprint %s, want %q", c.Subject, got, w)
		}
		if strings.Contains(c.Subject.String(), "2011") {
			s256 := sha256.Sum256(c.Raw)
			if got := strings.ToUpper(hex.EncodeToString(s256[:])); got != "847DF6A78497943F27FC72EB93F9A637320A02B561D0A91B09E87A7807ED7C61" {
				t.Errorf("2011 root: SHA-256 %s", got)
			}
		}
		if !c.IsCA || c.CheckSignatureFrom(c) != nil {
			t.Errorf("root %q: not a self-signed CA", c.Subject)
		}
		if c.NotAfter.Before(time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("root %q expires %v", c.Subject, c.NotAfter)
		}
	}
	if MicrosoftRoots() == MicrosoftRoots() {
		t.Error("MicrosoftRoots returns a shared pool; callers may add to it")
	}
}
