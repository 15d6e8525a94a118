package msu_test

import (
	"bytes"
	"testing"

	"github.com/openwua/waptwua/internal/msu"
	"github.com/openwua/waptwua/internal/msu/msutest"
)

// FuzzRead: any bytes give an Info or an error, never a panic or a hang.
func FuzzRead(f *testing.F) {
	good, err := msutest.Make(msutest.Spec{Name: "K", Properties: msutest.KB("5034441"), Payload: []byte("p"), TempDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("MSCF"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := msu.Read(bytes.NewReader(b), int64(len(b)), "f.msu")
		if err == nil && (info.KB == "" || info.Architecture == "" || len(info.Payload) == 0) {
			t.Fatalf("accepted without KB, architecture or payload: %+v", info)
		}
	})
}

// FuzzParseProperties: any bytes parse or fail, and a parsed file encodes back the same.
func FuzzParseProperties(f *testing.F) {
	f.Add(msu.EncodeProperties(msutest.KB("5034441")))
	f.Add([]byte("A=\"b\"\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := msu.ParseProperties(b)
		if err != nil {
			return
		}
		q, err := msu.ParseProperties(msu.EncodeProperties(p))
		if err != nil || len(q) != len(p) {
			t.Fatalf("round trip: %v %v %v", p, q, err)
		}
		for k, v := range p {
			if q[k] != v {
				t.Fatalf("round trip of %q: %q != %q", k, q[k], v)
			}
		}
	})
}
