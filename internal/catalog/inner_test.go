package catalog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab"
)

// packFolders writes a cabinet with one folder per element of folders, with
// cab.Writer (method and reserves as given).
func packFolders(t *testing.T, method cab.Method, opts cab.WriterOptions, folders ...[]cabMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts.TempDir = t.TempDir()
	w := cab.NewWriter(&buf, opts)
	for _, f := range folders {
		if err := w.NewFolder(method, 21); err != nil {
			t.Fatal(err)
		}
		for _, m := range f {
			mw, err := w.Create(m.name, time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			mw.Write(m.data)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// members makes n members named prefix+number, of varied sizes.
func members(prefix string, n, size int) []cabMember {
	var out []cabMember
	for i := range n {
		body := strings.Repeat(fmt.Sprintf("<%s n=\"%d\"/>", prefix, i), 1+(i*7)%size)
		out = append(out, cabMember{name: fmt.Sprintf("%s%d", prefix, 1000+i), data: []byte(body)})
	}
	return out
}

// walkKept reads, through cab.Open and Walk, the members of data that readDetail
// may read (wantedMember, in a kept folder), and counts the others.
func walkKept(t *testing.T, ra io.ReaderAt, size int64, kept func(folder int) bool) (map[string]string, int) {
	t.Helper()
	c, err := cab.Open(ra, size)
	if err != nil {
		t.Fatalf("cab.Open: %v", err)
	}
	got, others := map[string]string{}, 0
	err = c.Walk(func(f *cab.File, r io.Reader) error {
		if !kept(f.Folder) {
			others++
			return nil
		}
		if !wantedMember([]byte(f.Name)) {
			return nil
		}
		b, err := io.ReadAll(r)
		got[f.Name] = fmt.Sprintf("%q %v", b, err)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, others
}

// checkSparse copies data as captureDetail does and checks that the copy reads the
// same x/ and l/ members as the whole cabinet. It returns the copy (nil when the
// cabinet's layout does not allow one).
func checkSparse(t *testing.T, data []byte) *sparseCab {
	t.Helper()
	r := bytes.NewReader(data)
	plan, head, err := planSparse(r, int64(len(data)), wantedMember)
	if err != nil {
		t.Fatal(err)
	}
	if plan == nil {
		if !bytes.Equal(head, data[:len(head)]) {
			t.Fatal("planSparse returned other bytes than it read")
		}
		return nil
	}
	if plan.bound < plan.dataStart || plan.bound > int64(len(data)) {
		t.Fatalf("bound %d outside %d..%d", plan.bound, plan.dataStart, len(data))
	}
	sc, err := plan.capture(r)
	if err != nil {
		t.Fatal(err)
	}
	if sc.held() > plan.bound {
		t.Fatalf("the copy holds %d bytes, more than the bound %d", sc.held(), plan.bound)
	}
	want, wantOthers := walkKept(t, bytesReaderAt(data), int64(len(data)), sc.kept)
	got, gotOthers := walkKept(t, sc, sc.size, func(int) bool { return true })
	if gotOthers != 0 {
		t.Fatalf("%d members of folders not kept in the copy", gotOthers)
	}
	if wantOthers != sc.dropped {
		t.Fatalf("dropped %d members, the folders not kept have %d", sc.dropped, wantOthers)
	}
	if len(got) != len(want) {
		t.Fatalf("the copy has %d x/ and l/ members, the cabinet %d", len(got), len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Fatalf("%s: the copy reads %.80s, the cabinet %.80s", name, got[name], w)
		}
	}
	return sc
}

func TestSparseCopy(t *testing.T) {
	core := members(`c\`, 300, 40)
	noise := pattern(300 * 500)
	for i := range core {
		core[i].data = append(core[i].data, noise[i*500:(i+1)*500]...) // hard to compress, as c/ fragments are
	}
	x := members(`x\`, 200, 10)
	l := members(`l\en\`, 150, 20)
	lfr := members(`L/FR/`, 20, 5)
	eula := members(`e\`, 10, 200)
	t.Run("catalog layout", func(t *testing.T) {
		data := packFolders(t, cab.MethodLZX, cab.WriterOptions{}, append(core, eula...), append(append(l, lfr...), x...))
		sc := checkSparse(t, data)
		if sc == nil || !sc.keep[1] || sc.keep[0] || sc.held() > int64(len(data))/2 {
			t.Fatalf("copy %v: keeps %v, %d of %d bytes", sc != nil, sc.keep, sc.held(), len(data))
		}
	})
	t.Run("x and l first", func(t *testing.T) {
		sc := checkSparse(t, packFolders(t, cab.MethodLZX, cab.WriterOptions{}, append(x, l...), core, eula))
		if sc == nil || !sc.keep[0] || sc.keep[1] || sc.keep[2] {
			t.Fatalf("keeps %v", sc.keep)
		}
	})
	t.Run("interleaved folders and reserves", func(t *testing.T) {
		sc := checkSparse(t, packFolders(t, cab.MethodMSZIP, cab.WriterOptions{HeaderReserve: 100, FolderReserve: 3, DataReserve: 7, Checksums: true},
			core[:100], x[:50], core[100:], l, eula, lfr))
		if sc == nil || fmt.Sprint(sc.keep) != "[false true false true false true]" {
			t.Fatalf("keeps %v", sc.keep)
		}
	})
	t.Run("one folder", func(t *testing.T) {
		sc := checkSparse(t, packFolders(t, cab.MethodLZX, cab.WriterOptions{}, append(append(core, x...), l...)))
		if sc == nil || sc.dropped != 0 {
			t.Fatalf("copy %v", sc)
		}
	})
	t.Run("nothing to keep", func(t *testing.T) {
		sc := checkSparse(t, packFolders(t, cab.MethodLZX, cab.WriterOptions{}, core, eula))
		if sc == nil || len(sc.segs) != 0 || sc.dropped != len(core)+len(eula) {
			t.Fatalf("copy %+v", sc)
		}
	})
	t.Run("stored, tables last", func(t *testing.T) {
		if sc := checkSparse(t, tablesLast(t, storedCab(0, core, x))); sc != nil {
			t.Fatal("a copy of a cabinet whose file table follows its data")
		}
	})
	t.Run("folders sharing their data", func(t *testing.T) {
		// Folder 1 declares folder 0's blocks: both read the same bytes.
		data := storedCab(0, append(core[:20], x[:20]...), append(core[:20], x[:20]...))
		le := binary.LittleEndian
		le.PutUint32(data[36+8:], le.Uint32(data[36:]))
		checkSparse(t, data)
		// Folder 0 starts inside folder 1's blocks.
		data = storedCab(0, l[:30], x[:30])
		le.PutUint32(data[36:], le.Uint32(data[36+8:])+8+100)
		le.PutUint16(data[36+4:], 1)
		checkSparse(t, data)
	})
	t.Run("truncated and corrupt", func(t *testing.T) {
		data := packFolders(t, cab.MethodLZX, cab.WriterOptions{}, core[:50], x[:50])
		for _, n := range []int{0, 10, 39, 40, 60, 200, len(data) / 2, len(data) - 1} {
			cut := data[:n]
			r := bytes.NewReader(cut)
			// The copy of a truncated stream: the member is shorter than it says.
			plan, head, err := planSparse(r, int64(len(data)), wantedMember)
			if err == nil && plan != nil {
				_, err = plan.capture(r)
			}
			if err == nil && plan != nil {
				t.Fatalf("cut at %d: no error", n)
			}
			_ = head
		}
		bad := bytes.Clone(data)
		copy(bad, "MSCX")
		if sc := checkSparse(t, bad); sc != nil {
			t.Fatal("a copy of a file that is not a cabinet")
		}
	})
}

// FuzzSparseCopy feeds inner cabinets to the sparse copy: no panic, and whenever
// cab.Open accepts the whole cabinet, the copy opens too and reads the same x/ and
// l/ members.
func FuzzSparseCopy(f *testing.F) {
	core, x, l := members(`c\`, 30, 40), members(`x\`, 20, 10), members(`l\en\`, 15, 20)
	f.Add(storedCab(0, core, append(x, l...)))
	f.Add(storedCab(8, append(x, l...), core))
	f.Add(storedCab(0, append(append(core, x...), l...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := cab.Open(bytesReaderAt(data), int64(len(data))); err != nil {
			r := bytes.NewReader(data)
			if plan, _, err := planSparse(r, int64(len(data)), wantedMember); err == nil && plan != nil {
				plan.capture(r)
			}
			return
		}
		checkSparse(t, data)
	})
}
