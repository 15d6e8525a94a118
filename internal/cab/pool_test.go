package cab

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/openwua/waptwua/internal/lzx"
)

// poolCabs are cabinets of every method and several LZX windows, plus a corrupt one
// that leaves its decoder in an error state halfway through a folder.
func poolCabs(t *testing.T) map[string][]byte {
	content := append(bytes.Repeat(pattern(3000, 8), 30), pattern(50000, 9)...)
	other := bytes.Repeat(pattern(700, 3), 200)
	cabs := map[string][]byte{}
	for _, bits := range []int{15, 21} {
		tc := tCab{
			folders: []tFolder{lzxFolder(t, content, bits, lzx.Mixed), lzxFolder(t, other, bits, lzx.Verbatim)},
			files: []tFile{
				{name: "first", size: 70000},
				{name: "second", size: uint32(len(content)) - 70000, offset: 70000},
				{name: "other", size: uint32(len(other)), folder: 1},
			},
		}
		cabs["lzx"+string(rune('0'+bits/10))+string(rune('0'+bits%10))] = tc.bytes()
	}
	cabs["mszip"] = tCab{folders: []tFolder{mszipFolder(t, content)}, files: []tFile{{name: "m", size: uint32(len(content))}}}.bytes()
	cabs["none"], _ = storedCab([][]byte{content[:1000], other}, [][]byte{content})
	bad := lzxFolder(t, content, 21, lzx.Verbatim)
	bad.blocks[2].payload = bytes.Repeat([]byte{0xff}, len(bad.blocks[2].payload))
	bad.blocks[2].checksum = false
	cabs["corrupt"] = tCab{folders: []tFolder{bad, lzxFolder(t, other, 21, lzx.Verbatim)},
		files: []tFile{{name: "broken", size: uint32(len(content))}, {name: "after", size: uint32(len(other)), folder: 1}}}.bytes()
	return cabs
}

// walkResult reads every member of data (the first limit bytes of each when limit is
// positive) and returns their bytes and errors.
func walkResult(t *testing.T, data []byte, limit int64, opts ...Option) (map[string][]byte, map[string]string) {
	c, err := Open(bytes.NewReader(data), int64(len(data)), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, errs := map[string][]byte{}, map[string]string{}
	err = c.Walk(func(f *File, r io.Reader) error {
		if limit > 0 {
			r = io.LimitReader(r, limit)
		}
		b, err := io.ReadAll(r)
		got[f.Name] = b
		if err != nil {
			errs[f.Name] = err.Error()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got, errs
}

func TestDecoderPool(t *testing.T) {
	cabs := poolCabs(t)
	names := []string{"lzx21", "corrupt", "lzx15", "mszip", "none", "lzx21", "corrupt", "lzx21"}
	type result struct {
		got  map[string][]byte
		errs map[string]string
	}
	want := map[string][2]result{}
	for name, data := range cabs {
		var r [2]result
		r[0].got, r[0].errs = walkResult(t, data, 0)
		r[1].got, r[1].errs = walkResult(t, data, 5000)
		want[name] = r
	}
	if len(want["corrupt"][0].errs) != 1 || want["corrupt"][0].errs["after"] != "" {
		t.Fatalf("the corrupt cabinet should fail its first folder only: %v", want["corrupt"][0].errs)
	}
	check := func(t *testing.T, pool *DecoderPool, round int) {
		for i, name := range names {
			// Half the walks stop reading early, leaving decoders inside a folder.
			partial := (i+round)%2 == 1
			limit := int64(0)
			if partial {
				limit = 5000
			}
			got, errs := walkResult(t, cabs[name], limit, WithDecoderPool(pool))
			w := want[name][0]
			if partial {
				w = want[name][1]
			}
			for m, b := range w.got {
				if !bytes.Equal(got[m], b) {
					t.Errorf("round %d, %s (partial %v), %s: %d bytes differ from a walk without pool", round, name, partial, m, len(b))
				}
			}
			if len(got) != len(w.got) || len(errs) != len(w.errs) {
				t.Errorf("round %d, %s: %d members, errors %v; want %d, %v", round, name, len(got), errs, len(w.got), w.errs)
			}
			for m, e := range w.errs {
				if errs[m] != e {
					t.Errorf("round %d, %s, %s: error %q, want %q", round, name, m, errs[m], e)
				}
			}
		}
	}
	t.Run("sequential", func(t *testing.T) {
		pool := NewDecoderPool()
		for round := range 3 {
			check(t, pool, round)
		}
		if n := len(pool.free); n != 1 {
			t.Errorf("sequential walks left %d decoder sets in the pool, want 1", n)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var pool DecoderPool // the zero value works too
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 3 {
					check(t, &pool, g+round)
				}
			}()
		}
		wg.Wait()
		if n := len(pool.free); n < 1 || n > 4 {
			t.Errorf("4 concurrent walkers left %d decoder sets in the pool", n)
		}
	})
}

// TestDecoderPoolReuses checks that a pooled walk does not allocate a new LZX window.
func TestDecoderPoolReuses(t *testing.T) {
	data := poolCabs(t)["lzx21"]
	pool := NewDecoderPool()
	walk := func() {
		c, err := Open(bytes.NewReader(data), int64(len(data)), WithDecoderPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Walk(func(f *File, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	walk()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		walk()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 256<<10 {
		t.Errorf("a pooled walk allocates %d bytes, as if it made a new 2 MiB window", per)
	}
}

// TestDecoderPoolNil checks that a nil pool means no pool.
func TestDecoderPoolNil(t *testing.T) {
	data := poolCabs(t)["lzx15"]
	got, errs := walkResult(t, data, 0, WithDecoderPool(nil))
	want, _ := walkResult(t, data, 0)
	if len(errs) > 0 || !bytes.Equal(got["second"], want["second"]) {
		t.Fatalf("nil pool: errors %v", errs)
	}
	var p *DecoderPool
	p.put(p.get()) // no panic
}
