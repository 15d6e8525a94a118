package catalog

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// The model's indexes (UpdateId → id, RevisionId → row, file digest → location) hold
// 100,000 to 300,000 keys each and are filled one key at a time while package.xml is
// parsed, which is the one step of Read that no other work can overlap. These open
// addressing tables do an insert-if-absent in one probe sequence, where a Go map
// needs a lookup and then an insert, and keep keys and values side by side. Keys are
// hashed with a per-process random seed, so that a hostile catalog cannot choose
// keys that collide.

var hashSeed0, hashSeed1 = rand.Uint64() | 1, rand.Uint64() | 1

// mix is a 64×64→128-bit multiply folded to 64 bits (as in wyhash).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func hashRev(k *int64) uint64 { return mix(uint64(*k)^hashSeed0, hashSeed1) }

func hashGUID(k *[16]byte) uint64 {
	return mix(binary.LittleEndian.Uint64(k[:8])^hashSeed0, binary.LittleEndian.Uint64(k[8:])^hashSeed1)
}

func hashSHA1(k *sha1Key) uint64 {
	h := mix(binary.LittleEndian.Uint64(k[:8])^hashSeed0, binary.LittleEndian.Uint64(k[8:16])^hashSeed1)
	return mix(h^uint64(binary.LittleEndian.Uint32(k[16:])), hashSeed0)
}

// tableSize is the slot count for n keys: a power of two, at most three quarters
// full (linear probing then takes about 1.5 probes to find a key, 4 to miss one;
// the tables' memory matters more: fresh memory is slow to fault in).
func tableSize(n int) int {
	size := 16
	for 3*size < 4*n {
		size *= 2
	}
	return size
}

// full reports whether a table of size slots holding n keys must grow before it
// takes one more.
func full(n, size int) bool { return 4*(n+1) > 3*size }

// slot is one slot of a table; val is the value plus one, 0 for an empty slot.
type slot[K comparable] struct {
	key K
	val int32
}

// table maps keys to int32 values (rows, ids, indexes); its zero value is an empty
// table. The typed tables below hash the keys and call it: it takes the hash h of k,
// and add takes the hash function too, for growing (a call through a type parameter's
// method on every probe made the tables twice as slow).
type table[K comparable] struct {
	slots []slot[K]
	n     int
}

func newTable[K comparable](n int) table[K] { return table[K]{slots: make([]slot[K], tableSize(n))} }

func (t *table[K]) len() int { return t.n }

// get returns the value of k, whose hash is h.
func (t *table[K]) get(k *K, h uint64) (int32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.val == 0 {
			return 0, false
		}
		if s.key == *k {
			return s.val - 1, true
		}
	}
}

// add maps k, whose hash is h, to v unless k is already mapped; it returns the value k
// maps to and whether that is v.
func (t *table[K]) add(k *K, h uint64, v int32, hash func(*K) uint64) (int32, bool) {
	if full(t.n, len(t.slots)) {
		t.grow(hash)
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.val == 0 {
			s.key, s.val = *k, v+1
			t.n++
			return v, true
		}
		if s.key == *k {
			return s.val - 1, false
		}
	}
}

func (t *table[K]) grow(hash func(*K) uint64) {
	old := t.slots
	t.slots = make([]slot[K], tableSize(2*t.n+2))
	t.n = 0
	for i := range old {
		if old[i].val != 0 {
			t.add(&old[i].key, hash(&old[i].key), old[i].val-1, hash)
		}
	}
}

// revTable maps RevisionIds to rows.
type revTable struct{ table[int64] }

func newRevTable(n int) revTable { return revTable{newTable[int64](n)} }

func (t *revTable) get(k int64) (int32, bool) { return t.table.get(&k, hashRev(&k)) }

func (t *revTable) add(k int64, v int32) (int32, bool) {
	return t.table.add(&k, hashRev(&k), v, hashRev)
}

// guidTable maps UpdateIds written as GUIDs to ids.
type guidTable struct{ table[[16]byte] }

func newGUIDTable(n int) guidTable { return guidTable{newTable[[16]byte](n)} }

func (t *guidTable) add(k *[16]byte, v int32) (int32, bool) {
	return t.table.add(k, hashGUID(k), v, hashGUID)
}

// sha1Table maps payload file digests to indexes.
type sha1Table struct{ table[sha1Key] }

func newSHA1Table(n int) sha1Table { return sha1Table{newTable[sha1Key](n)} }

func (t *sha1Table) get(k *sha1Key) (int32, bool) { return t.table.get(k, hashSHA1(k)) }

func (t *sha1Table) add(k *sha1Key, v int32) (int32, bool) {
	return t.table.add(k, hashSHA1(k), v, hashSHA1)
}
