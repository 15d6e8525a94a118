package authenticode

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

// FuzzVerify feeds mutated signed cabinets to Verify: it must return, never panic, and
// report a signer whenever it reports success.
func FuzzVerify(f *testing.F) {
	p := authenticodetest.NewPKI(f, authenticodetest.PKIOptions{})
	cab := authenticodetest.SampleCab(f)
	f.Add(cab)
	if _, err := exec.LookPath("osslsigncode"); err == nil {
		f.Add(authenticodetest.Sign(f, p, cab, "sha256"))
		f.Add(authenticodetest.Sign(f, p, cab, "sha1"))
	} else {
		f.Log("osslsigncode not installed: fuzzing from an unsigned cabinet only")
	}
	f.Add([]byte("MSCF"))
	now := p.Signer.NotBefore.Add(time.Hour)
	opts := Options{Roots: p.Pool(), Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Verify(bytes.NewReader(b), int64(len(b)), opts)
		if err == nil && (res == nil || res.Signer == nil || len(res.Chain) == 0) {
			t.Fatalf("success without a signer: %+v", res)
		}
	})
}
