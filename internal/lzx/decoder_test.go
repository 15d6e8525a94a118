package lzx

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealCabinets decodes the LZX folders of cabinets made by Microsoft's tools and
// checks each member against the digest the reference extractor produced.
func TestRealCabinets(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedCabs, "MEMBERS.txt"))
	if err != nil {
		t.Fatalf("test cabinets not available (they are part of the repository): %v", err)
	}
	defer f.Close()
	want := map[string]string{} // cabinet/member -> sha256
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) == 4 {
			want[fields[0]+"/"+fields[3]] = fields[1]
		}
	}

	checked := 0
	for _, name := range []string{"normal_2files_2folders.cab", "mixed.cab"} {
		c := readCab(t, name)
		for fi, fo := range c.folders {
			if fo.method != 3 {
				continue
			}
			d, err := NewDecoder(fo.windowBits)
			if err != nil {
				t.Fatalf("%s folder %d: %v", name, fi, err)
			}
			data, err := decodeFolder(d, fo)
			if err != nil {
				t.Fatalf("%s folder %d: %v", name, fi, err)
			}
			for _, m := range c.files {
				if m.folder != fi {
					continue
				}
				if m.offset+m.size > len(data) {
					t.Errorf("%s: %s: folder has %d bytes, member ends at %d", name, m.name, len(data), m.offset+m.size)
					continue
				}
				sum := sha256.Sum256(data[m.offset : m.offset+m.size])
				if got, w := hex.EncodeToString(sum[:]), want[name+"/"+m.name]; got != w {
					t.Errorf("%s: %s: sha256 %s, want %s", name, m.name, got, w)
				}
				checked++
			}
		}
	}
	if checked != 3 {
		t.Errorf("checked %d LZX members, want 3", checked)
	}
}
