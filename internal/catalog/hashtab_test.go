package catalog

import (
	"math/rand/v2"
	"testing"
)

func TestHashTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 11, 12, 13, 1000, 50000} {
		// Sized for n/4 keys at first, so that every table grows a few times.
		revs, guids, sha1s := newRevTable(n/4), newGUIDTable(n/4), newSHA1Table(n/4)
		var zr revTable
		var zg guidTable
		var zs sha1Table
		wantRev, wantGUID, wantSHA1 := map[int64]int32{}, map[[16]byte]int32{}, map[sha1Key]int32{}
		for i := range n {
			// Sequential, strided and random keys, with repeats.
			var r int64
			switch i % 3 {
			case 0:
				r = int64(i)
			case 1:
				r = int64(i) << 20
			default:
				r = rng.Int64N(int64(n) + 1)
			}
			var g [16]byte
			var k sha1Key
			g[i%16], g[15-i%7] = byte(i), byte(i>>8)
			k[i%20], k[19-i%5] = byte(i>>3), byte(r)
			v := int32(i)
			for _, tab := range []*revTable{&revs, &zr} {
				got, added := tab.add(r, v)
				if w, seen := wantRev[r]; seen {
					if added || got != w {
						t.Fatalf("rev %d: add = %d, %v; want %d, false", r, got, added, w)
					}
				} else if !added || got != v {
					t.Fatalf("rev %d: add = %d, %v; want %d, true", r, got, added, v)
				}
			}
			if _, seen := wantRev[r]; !seen {
				wantRev[r] = v
			}
			for _, tab := range []*guidTable{&guids, &zg} {
				got, added := tab.add(&g, v)
				if w, seen := wantGUID[g]; seen != !added || got != map[bool]int32{true: w, false: v}[seen] {
					t.Fatalf("guid %x: add = %d, %v", g, got, added)
				}
			}
			if _, seen := wantGUID[g]; !seen {
				wantGUID[g] = v
			}
			for _, tab := range []*sha1Table{&sha1s, &zs} {
				got, added := tab.add(&k, v)
				if w, seen := wantSHA1[k]; seen != !added || got != map[bool]int32{true: w, false: v}[seen] {
					t.Fatalf("sha1 %x: add = %d, %v", k, got, added)
				}
			}
			if _, seen := wantSHA1[k]; !seen {
				wantSHA1[k] = v
			}
		}
		for _, tab := range []*revTable{&revs, &zr} {
			if tab.len() != len(wantRev) {
				t.Fatalf("n=%d: %d revisions, want %d", n, tab.len(), len(wantRev))
			}
			for r, w := range wantRev {
				if got, ok := tab.get(r); !ok || got != w {
					t.Fatalf("get(%d) = %d, %v; want %d", r, got, ok, w)
				}
			}
			if _, ok := tab.get(-1); ok {
				t.Fatal("get(-1) found something")
			}
			if 4*tab.len() > 3*len(tab.slots) {
				t.Fatalf("revision table more than 3/4 full: %d keys, %d slots", tab.len(), len(tab.slots))
			}
		}
		for _, tab := range []*sha1Table{&sha1s, &zs} {
			if tab.len() != len(wantSHA1) {
				t.Fatalf("n=%d: %d digests, want %d", n, tab.len(), len(wantSHA1))
			}
			for k, w := range wantSHA1 {
				if got, ok := tab.get(&k); !ok || got != w {
					t.Fatalf("get(%x) = %d, %v; want %d", k, got, ok, w)
				}
			}
		}
		if guids.n != len(wantGUID) || zg.n != len(wantGUID) {
			t.Fatalf("n=%d: %d GUIDs, want %d", n, guids.n, len(wantGUID))
		}
	}
	var empty sha1Table
	if _, ok := empty.get(&sha1Key{}); ok {
		t.Fatal("empty table found a key")
	}
}

func TestParseGUID(t *testing.T) {
	ref := func(b []byte) ([16]byte, bool) {
		var g [16]byte
		if len(b) != 36 {
			return g, false
		}
		s := string(b)
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return g, false
		}
		h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
		for i := range 16 {
			hi, lo := unhex(h[2*i]), unhex(h[2*i+1])
			if hi > 15 || lo > 15 {
				return g, false
			}
			g[i] = hi<<4 | lo
		}
		return g, true
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789abcdefABCDEFgG-x \x00\xff"
	base := []byte("b20c96ab-52fc-48ae-8E08-37c3f5f2b026")
	for i := range 200000 {
		b := append([]byte(nil), base...)
		for n := i % 4; n > 0; n-- {
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		}
		if i%1000 == 0 {
			b = b[:rng.IntN(len(b))]
		}
		g, ok := parseGUID(b)
		wg, wok := ref(b)
		if ok != wok || ok && g != wg {
			t.Fatalf("parseGUID(%q) = %x, %v; want %x, %v", b, g, ok, wg, wok)
		}
	}
}
