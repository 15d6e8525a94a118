package cab

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedCabs is the shared test data: real cabinets from libmspack's test suite.
const sharedCabs = "../../testdata/cabs"

// member is one line of MEMBERS.txt.
type member struct {
	sha256 string
	size   int64
	name   string // slash separated
}

// loadMembers reads MEMBERS.txt: cabinet -> members, or nil for a cabinet the
// reference extractor rejects. It skips the test when the shared data is absent.
func loadMembers(t testing.TB) map[string][]member {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedCabs, "MEMBERS.txt"))
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("test cabinets not found at %s (they are part of the repository)", sharedCabs)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]member{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		fields := strings.SplitN(line, " ", 4)
		if len(fields) >= 2 && strings.HasPrefix(fields[1], "ERROR(") {
			want[fields[0]] = nil
			continue
		}
		if len(fields) != 4 {
			t.Fatalf("MEMBERS.txt: bad line %q", line)
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			t.Fatalf("MEMBERS.txt: bad size in %q", line)
		}
		want[fields[0]] = append(want[fields[0]], member{sha256: fields[1], size: size, name: fields[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedCabs, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// walkAll opens data and returns, per member, its digest line or its error.
func walkAll(data []byte, opts ...Option) (got map[string]member, errs map[string]error, err error) {
	c, err := Open(bytes.NewReader(data), int64(len(data)), opts...)
	if err != nil {
		return nil, nil, err
	}
	got, errs = map[string]member{}, map[string]error{}
	err = c.Walk(func(f *File, r io.Reader) error {
		h := sha256.New()
		n, err := io.Copy(h, r)
		name := strings.ReplaceAll(f.Name, `\`, "/")
		if err != nil {
			errs[name] = err
			return nil
		}
		got[name] = member{sha256: hex.EncodeToString(h.Sum(nil)), size: n, name: name}
		return nil
	})
	return got, errs, err
}

func TestSharedCabinets(t *testing.T) {
	want := loadMembers(t)
	for cabName, members := range want {
		t.Run(cabName, func(t *testing.T) {
			data := readShared(t, cabName)
			got, errs, err := walkAll(data, WithName(cabName))
			if members == nil {
				if err == nil {
					t.Fatalf("Open accepted a cabinet the reference extractor rejects")
				}
				if !strings.HasPrefix(err.Error(), "cab: "+cabName+": ") {
					t.Errorf("error %q does not name the cabinet", err)
				}
				t.Logf("rejected as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			for _, m := range members {
				if cabName == "mixed.cab" && m.name == "qtm.txt" {
					var ue *UnsupportedCompressionError
					if !errors.As(errs[m.name], &ue) || ue.Method != "Quantum" || ue.Member != "qtm.txt" {
						t.Errorf("qtm.txt: got error %v, want *UnsupportedCompressionError{Member: qtm.txt, Method: Quantum}", errs[m.name])
					}
					continue
				}
				if e := errs[m.name]; e != nil {
					t.Errorf("%s: %v", m.name, e)
					continue
				}
				if g, ok := got[m.name]; !ok {
					t.Errorf("%s: missing", m.name)
				} else if g != m {
					t.Errorf("%s: got %s %d, want %s %d", m.name, g.sha256, g.size, m.sha256, m.size)
				}
			}
			if len(got)+len(errs) != len(members) {
				t.Errorf("walked %d members, want %d", len(got)+len(errs), len(members))
			}
		})
	}
}

// TestSharedOpen reads every member again with Cabinet.Open, by its slash name in
// another case.
func TestSharedOpen(t *testing.T) {
	want := loadMembers(t)
	for cabName, members := range want {
		if members == nil {
			continue
		}
		data := readShared(t, cabName)
		c, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", cabName, err)
		}
		for _, m := range members {
			r, err := c.Open(strings.ToUpper(m.name))
			if cabName == "mixed.cab" && m.name == "qtm.txt" {
				var ue *UnsupportedCompressionError
				if !errors.As(err, &ue) {
					t.Errorf("%s/%s: Open error %v, want *UnsupportedCompressionError", cabName, m.name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s/%s: %v", cabName, m.name, err)
				continue
			}
			h := sha256.New()
			if _, err := io.Copy(h, r); err != nil {
				t.Errorf("%s/%s: %v", cabName, m.name, err)
			} else if got := hex.EncodeToString(h.Sum(nil)); got != m.sha256 {
				t.Errorf("%s/%s: sha256 %s, want %s", cabName, m.name, got, m.sha256)
			}
		}
	}
}
