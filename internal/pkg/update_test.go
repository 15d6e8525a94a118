package pkg

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testPayload = []byte("MSCF fake msu payload bytes")

func payloadFile(path string, data []byte) PayloadFile {
	sum := sha256.Sum256(data)
	return PayloadFile{Path: path, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func updateSpec() UpdateSpec {
	return UpdateSpec{
		Name: "waptwua-kb5034441-amd64", Version: "1-0", Description: "KB5034441 (amd64)", Maturity: MaturityPreprod,
		TargetGroups: []string{"lyon-desktops"},
		Action: Action{Kind: KindMSU, KB: "5034441", Architecture: "amd64", Target: "kb5034441.msu",
			Files: []PayloadFile{payloadFile("kb5034441.msu", testPayload)}},
	}
}

func signedUpdate(t *testing.T, spec UpdateSpec, id identity) []byte {
	t.Helper()
	p, err := BuildUpdate(spec)
	if err != nil {
		t.Fatal(err)
	}
	z, err := SignUpdate(p, id.key, []*x509.Certificate{id.cert}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestUpdateRoundTrip(t *testing.T) {
	p := pkiOnce()
	z := signedUpdate(t, updateSpec(), p.signer)
	v, err := VerifyUpdate(z, VerifyOptions{Roots: pool(p.ca.cert), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if v.Control.Section != SectionUpdate || v.Control.Package != "waptwua-kb5034441-amd64" || v.Action.Kind != KindMSU || v.Action.Files[0].SHA256 != payloadFile("", testPayload).SHA256 {
		t.Fatalf("verified %+v", v)
	}
	if err := CheckPayloadFile(v.Action.Files[0], bytes.NewReader(testPayload)); err != nil {
		t.Fatal(err)
	}
	// A rules package is not an update package.
	if _, err := VerifyUpdate(signedPackage(t, sampleSpec(), p.signer), VerifyOptions{Roots: pool(p.ca.cert), Now: clock}); !errors.Is(err, ErrMalformed) {
		t.Errorf("VerifyUpdate of a rules package: %v", err)
	}
}

// TestUpdateTampering: a changed payload byte, a changed action kind (with or without a
// new manifest), an unsigned package, an untrusted signer, a file slipped into the zip:
// each is refused with its own error.
func TestUpdateTampering(t *testing.T) {
	p := pkiOnce()
	opts := VerifyOptions{Roots: pool(p.ca.cert), Now: clock}
	z := signedUpdate(t, updateSpec(), p.signer)
	v, err := VerifyUpdate(z, opts)
	if err != nil {
		t.Fatal(err)
	}

	// Payload byte changed.
	bad := bytes.Clone(testPayload)
	bad[3] ^= 1
	if err := CheckPayloadFile(v.Action.Files[0], bytes.NewReader(bad)); !errors.Is(err, ErrTampered) || !errors.Is(err, ErrPayload) {
		t.Errorf("changed payload byte: %v", err)
	}
	if err := CheckPayloadFile(v.Action.Files[0], bytes.NewReader(testPayload[:5])); !errors.Is(err, ErrPayload) {
		t.Errorf("truncated payload: %v", err)
	}
	if err := CheckPayloadFile(v.Action.Files[0], bytes.NewReader(append(bytes.Clone(testPayload), 'x'))); !errors.Is(err, ErrPayload) {
		t.Errorf("longer payload: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kb5034441.msu"), bad, 0o644)
	if err := CheckPayloadDir(dir, v.Action); !errors.Is(err, ErrTampered) {
		t.Errorf("CheckPayloadDir of a changed payload: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "kb5034441.msu"), testPayload, 0o644)
	if err := CheckPayloadDir(dir, v.Action); err != nil {
		t.Errorf("CheckPayloadDir: %v", err)
	}

	kindChanged := func(entries []zipEntry) []zipEntry {
		e := entry(entries, ActionsName)
		e.data = bytes.Replace(e.data, []byte(`"kind": "msu"`), []byte(`"kind": "cab"`), 1)
		if !bytes.Contains(e.data, []byte(`"kind": "cab"`)) {
			t.Fatalf("actions.json: %s", e.data)
		}
		return entries
	}
	cases := []struct {
		name string
		zip  []byte
		want error
		msg  string
	}{
		{"kind changed", rewrite(t, z, kindChanged), ErrTampered, ActionsName},
		{"kind changed, manifest re-signed by another key", rewrite(t, z, func(e []zipEntry) []zipEntry { return remanifest(t, kindChanged(e), p.rogue) }), ErrBadSignature, ""},
		{"kind changed to an unknown kind by a trusted signer", rewrite(t, z, func(e []zipEntry) []zipEntry {
			a := entry(e, ActionsName)
			a.data = bytes.Replace(a.data, []byte(`"kind": "msu"`), []byte(`"kind": "script"`), 1)
			return remanifest(t, e, p.signer)
		}), ErrMalformed, "malformed update package: kind"},
		{"payload dropped from actions.json by a trusted signer", rewrite(t, z, func(e []zipEntry) []zipEntry {
			a := entry(e, ActionsName)
			i := bytes.Index(a.data, []byte(`"files"`))
			a.data = append(a.data[:i:i], []byte(`"files": []}`)...)
			var out []zipEntry
			for _, x := range e {
				out = append(out, x)
			}
			return remanifest(t, out, p.signer)
		}), ErrMalformed, ""},
		{"unsigned: no signature", rewrite(t, z, func(e []zipEntry) []zipEntry {
			var out []zipEntry
			for _, x := range e {
				if x.name != SignatureName {
					out = append(out, x)
				}
			}
			return out
		}), ErrUnsigned, ""},
		{"payload slipped into the zip", rewrite(t, z, func(e []zipEntry) []zipEntry {
			return append(e, zipEntry{"payload/kb5034441.msu", testPayload})
		}), ErrExtraFile, "payload/kb5034441.msu"},
		{"untrusted signer", signedUpdate(t, updateSpec(), p.rogue), ErrUntrusted, ""},
	}
	for _, c := range cases {
		_, err := VerifyUpdate(c.zip, opts)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "rules package") {
			t.Errorf("%s: %v, want %v (naming the update package)", c.name, err, c.want)
		}
	}
	// An unsigned build cannot be signed without a key either.
	up, _ := BuildUpdate(updateSpec())
	if _, err := SignUpdate(up, nil, []*x509.Certificate{p.signer.cert}, testNow); err == nil {
		t.Error("signed without a key")
	}
}

func TestActionCheck(t *testing.T) {
	f := payloadFile("a.msu", []byte("x"))
	ok := map[Kind]Action{
		KindMSU:            {Kind: KindMSU, KB: "5034441", Target: "a.msu", Files: []PayloadFile{f}},
		KindCab:            {Kind: KindCab, Target: "a.cab", Files: []PayloadFile{payloadFile("a.cab", nil)}},
		KindDriver:         {Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("d/x.sys", nil)}},
		KindKBUninstall:    {Kind: KindKBUninstall, KB: "4023057"},
		KindFeatureUpgrade: {Kind: KindFeatureUpgrade, Target: "setup.exe", MinFreeBytes: 1 << 30, Files: []PayloadFile{payloadFile("setup.exe", nil)}},
	}
	for _, k := range Kinds() {
		if err := ok[k].Check(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	bad := []Action{
		{Kind: "script", Target: "a.msu", Files: []PayloadFile{f}},
		{Kind: KindMSU, Target: "a.msu", Files: []PayloadFile{f}},                   // no KB
		{Kind: KindMSU, KB: "KB5034441", Target: "a.msu", Files: []PayloadFile{f}},  // KB with prefix
		{Kind: KindMSU, KB: "5034441", Target: "b.msu", Files: []PayloadFile{f}},    // target not a payload file
		{Kind: KindMSU, KB: "5034441", Target: "a.msu", Files: []PayloadFile{f, f}}, // listed twice
		{Kind: KindMSU, KB: "5034441", Target: "../a.msu", Files: []PayloadFile{{Path: "../a.msu", SHA256: f.SHA256}}},
		{Kind: KindMSU, KB: "5034441", Target: "a.msu", Files: []PayloadFile{{Path: "a.msu", SHA256: "zz"}}},
		{Kind: KindCab, Target: "a.msu", Files: []PayloadFile{f}},                                            // wrong extension
		{Kind: KindKBUninstall, KB: "4023057", Target: "a.msu", Files: []PayloadFile{f}},                     // payload on uninstall
		{Kind: KindFeatureUpgrade, Target: "setup.exe", Files: []PayloadFile{payloadFile("setup.exe", nil)}}, // no free space
		{Kind: KindFeatureUpgrade, Target: "x/setup.exe", MinFreeBytes: 1, Files: []PayloadFile{payloadFile("x/setup.exe", nil)}},
		{Kind: KindMSU, KB: "5034441", Target: "a.msu", TimeoutSeconds: 100000, Files: []PayloadFile{f}},
		{Kind: KindMSU, KB: "5034441", Target: "a.msu", MinFreeBytes: 5, Files: []PayloadFile{f}},
		{Kind: KindMSU, KB: "5034441", Architecture: "mips", Target: "a.msu", Files: []PayloadFile{f}},
		{Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("d/CON.sys", nil)}},
		{Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("lpt1/x.sys", nil)}},
		{Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("d/x.sys.", nil)}},
		{Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("d /x.sys", nil)}},
		{Kind: KindDriver, Target: "d/x.inf", Files: []PayloadFile{payloadFile("d/x.inf", nil), payloadFile("d/x?.sys", nil)}},
	}
	for i, a := range bad {
		if err := a.Check(); err == nil {
			t.Errorf("bad action %d accepted: %+v", i, a)
		}
	}
}
