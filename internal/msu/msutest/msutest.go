// Package msutest makes .msu-shaped cabinets for tests, with the project's cabinet
// writer: a properties file (UTF-16LE with a byte-order mark), a WSUSSCAN.cab and the
// payload cabinet(s), each itself a cabinet.
package msutest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openwua/waptwua/internal/cab"
	"github.com/openwua/waptwua/internal/msu"
)

// Spec describes an .msu to make.
type Spec struct {
	Name       string            // base name, e.g. "Windows10.0-KB5034441-x64"
	Properties map[string]string // written to <Name>-pkgProperties.txt; nil: no properties file
	// Payload is the content of the update's inner cabinet <Name>.cab (a member
	// "update.mum" holding these bytes); nil: no payload member.
	Payload []byte
	TempDir string // for the cabinet writer's spool files
}

// KB returns the properties of an amd64 .msu for the KB number kb.
func KB(kb string) map[string]string {
	return map[string]string{
		msu.PropKB:           kb,
		msu.PropArchitecture: "amd64",
		msu.PropAppliesTo:    "Windows 10, version 22H2",
		msu.PropBuildDate:    "2024/01/09",
		msu.PropInstallerEng: "Component Based Servicing",
		"ApplicabilityInfo":  "Windows 10.0 Client SKU",
	}
}

var when = time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC)

// Cabinet writes members (name, bytes) into one MSZIP folder.
func Cabinet(tempDir string, members ...[2][]byte) ([]byte, error) {
	var buf bytes.Buffer
	w := cab.NewWriter(&buf, cab.WriterOptions{TempDir: tempDir, Checksums: true})
	if err := w.NewFolder(cab.MethodMSZIP, 0); err != nil {
		return nil, err
	}
	for _, m := range members {
		mw, err := w.Create(string(m[0]), when)
		if err != nil {
			w.Close()
			return nil, err
		}
		if _, err := mw.Write(m[1]); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Make returns the bytes of the .msu described by s.
func Make(s Spec) ([]byte, error) {
	var members [][2][]byte
	if s.Payload != nil {
		inner, err := Cabinet(s.TempDir, [2][]byte{[]byte("update.mum"), s.Payload})
		if err != nil {
			return nil, fmt.Errorf("msutest: payload cabinet: %w", err)
		}
		members = append(members, [2][]byte{[]byte(s.Name + ".cab"), inner})
	}
	scan, err := Cabinet(s.TempDir, [2][]byte{[]byte("package.xml"), []byte("<Updates/>")})
	if err != nil {
		return nil, fmt.Errorf("msutest: WSUSSCAN.cab: %w", err)
	}
	members = append(members, [2][]byte{[]byte("WSUSSCAN.cab"), scan})
	if s.Properties != nil {
		members = append(members, [2][]byte{[]byte(s.Name + "-pkgProperties.txt"), msu.EncodeProperties(s.Properties)})
	}
	return Cabinet(s.TempDir, members...)
}

// NotUpdates writes into dir two files that are not updates: random.msu (a cabinet
// without a properties file) and download.zip (a zip holding an .msu), and returns
// their paths.
func NotUpdates(dir string) (randomCab, zipFile string, err error) {
	rc, err := Cabinet(dir, [2][]byte{[]byte("readme.txt"), []byte("hi")})
	if err != nil {
		return "", "", err
	}
	randomCab = filepath.Join(dir, "random.msu")
	if err := os.WriteFile(randomCab, rc, 0o644); err != nil {
		return "", "", err
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("x.msu")
	if err == nil {
		_, err = w.Write([]byte("x"))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", "", err
	}
	zipFile = filepath.Join(dir, "download.zip")
	return randomCab, zipFile, os.WriteFile(zipFile, zb.Bytes(), 0o644)
}
