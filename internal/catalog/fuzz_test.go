package catalog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// addFixtureSeeds adds every file under testdata/basic whose path matches keep.
func addFixtureSeeds(f *testing.F, keep func(path string) bool) {
	filepath.Walk(filepath.Join("testdata", "basic"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && keep(filepath.ToSlash(path)) {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
}

// FuzzFragment feeds x/ and l/ fragments to their parsers: no panic, bounded work, and
// the scanner agrees with encoding/xml on every fragment encoding/xml accepts.
func FuzzFragment(f *testing.F) {
	addFixtureSeeds(f, func(p string) bool {
		return bytes.Contains([]byte(p), []byte("/x/")) || bytes.Contains([]byte(p), []byte("/l/"))
	})
	f.Add([]byte(`<ExtendedProperties MsrcSeverity="Critical"/><KBArticleID>KB123</KBArticleID>`))
	f.Add([]byte("\xff\xfe<\x00a\x00/\x00>\x00"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s := newScanner(nil, 0, XMLLimits{})
		w := newWarnings()
		x, err := parseX(s, doc, 1, w)
		if err == nil && x == nil {
			t.Fatal("parseX returned neither properties nor an error")
		}
		if _, err := parseL(s, doc); err != nil {
			if _, ok := err.(*xmlSyntaxError); !ok {
				t.Fatalf("parseL error %T %v is not a syntax error", err, err)
			}
		}
		compareWithStd(t, doc)
	})
}

// FuzzPackageXML feeds package.xml documents to the package parser and the model's
// assembly: no panic, and errors carry a byte offset.
func FuzzPackageXML(f *testing.F) {
	addFixtureSeeds(f, func(p string) bool { return filepath.Base(p) == "package.xml" })
	f.Add([]byte(`<OfflineSyncPackage><Updates><Update UpdateId="a" RevisionId="1" IsBundle="true"><SupersededBy><Revision Id="1"/></SupersededBy></Update><Update UpdateId="b" RevisionId="2"><PayloadFiles><File Id="AAAAAAAAAAAAAAAAAAAAAAAAAAA="/></PayloadFiles><BundledBy><Revision Id="1"/></BundledBy></Update></Updates><FileLocations><FileLocation Id="AAAAAAAAAAAAAAAAAAAAAAAAAAA=" Url="u"/></FileLocations></OfflineSyncPackage>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m := newModel(10000, newWarnings())
		err := m.parsePackage(bytes.NewReader(doc), XMLLimits{MaxTokenBytes: 1 << 16})
		if err != nil {
			if _, ok := err.(*xmlSyntaxError); !ok {
				t.Fatalf("parsePackage error %T %v is not a syntax error", err, err)
			}
			return
		}
		// Assemble with no details at all: every link must resolve or be counted.
		rd := &reader{opts: Options{}.withDefaults(), warn: newWarnings(), model: m,
			index: &catalogIndex{details: []cabEntry{{member: "package2.cab", key: "package2.cab"}}, byKey: map[string]int{"package2.cab": 0}}}
		rd.prepare()
		if _, err := rd.assemble(); err != nil {
			t.Fatal(err)
		}
	})
}
