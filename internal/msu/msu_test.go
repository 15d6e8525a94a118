package msu_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/msu"
	"github.com/openwua/waptwua/internal/msu/msutest"
)

func read(t *testing.T, b []byte) (*msu.Info, error) {
	t.Helper()
	return msu.Read(bytes.NewReader(b), int64(len(b)), "x.msu")
}

func TestReadMSU(t *testing.T) {
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB5034441-x64", Properties: msutest.KB("5034441"), Payload: []byte("payload"), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := read(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if info.KB != "5034441" || info.Architecture != "amd64" || info.AppliesTo != "Windows 10, version 22H2" {
		t.Errorf("info = %+v", info)
	}
	if info.PropertiesFile != "Windows10.0-KB5034441-x64-pkgProperties.txt" {
		t.Errorf("properties file %q", info.PropertiesFile)
	}
	if len(info.Payload) != 1 || info.Payload[0] != "Windows10.0-KB5034441-x64.cab" {
		t.Errorf("payload %q", info.Payload)
	}
	if len(info.Members) != 3 || info.Properties["Installer Engine"] != "Component Based Servicing" {
		t.Errorf("members %+v props %v", info.Members, info.Properties)
	}
}

func TestReadNotUpdate(t *testing.T) {
	tmp := t.TempDir()
	randomCab, err := msutest.Cabinet(tmp, [2][]byte{[]byte("readme.txt"), []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("a.msu")
	w.Write([]byte("x"))
	zw.Close()
	noPayload, _ := msutest.Make(msutest.Spec{Name: "K", Properties: msutest.KB("5034441"), TempDir: tmp})
	noKB := msutest.KB("5034441")
	noKB[msu.PropKB] = "none"
	badKB, _ := msutest.Make(msutest.Spec{Name: "K", Properties: noKB, Payload: []byte("p"), TempDir: tmp})
	armless := msutest.KB("5034441")
	armless[msu.PropArchitecture] = "mips"
	badArch, _ := msutest.Make(msutest.Spec{Name: "K", Properties: armless, Payload: []byte("p"), TempDir: tmp})
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"random cabinet", randomCab, "no <name>-pkgProperties.txt member"},
		{"zip", zbuf.Bytes(), "it is a zip archive"},
		{"text", []byte("hello, not an update at all"), "it is not a cabinet"},
		{"empty", nil, "the file is 0 bytes"},
		{"no payload", noPayload, "no update payload"},
		{"bad KB", badKB, `not a KB number`},
		{"bad arch", badArch, `"mips" is not amd64`},
	} {
		_, err := read(t, c.data)
		if err == nil || !errors.Is(err, msu.ErrNotUpdate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrNotUpdate and %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "x.msu") {
			t.Errorf("%s: not one line naming the file: %q", c.name, err)
		}
	}
}

func TestParseProperties(t *testing.T) {
	enc := msu.EncodeProperties(map[string]string{"KB Article Number": "5034441", "Applies to": "Windows 11 é"})
	if enc[0] != 0xFF || enc[1] != 0xFE {
		t.Fatalf("no BOM: % x", enc[:4])
	}
	p, err := msu.ParseProperties(enc)
	if err != nil || p["Applies to"] != "Windows 11 é" || p["KB Article Number"] != "5034441" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"", "Key=value", "=\"x\"", "K=\"a\"\nK=\"b\"", "K=\"a\x01\""} {
		if _, err := msu.ParseProperties([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := msu.ParseProperties([]byte{0xFF, 0xFE, 'K'}); err == nil {
		t.Error("odd UTF-16 accepted")
	}
}
