package catalog

import (
	"cmp"
	"encoding/binary"
	"io"
	"slices"
)

// A detail cabinet holds its c/ and e/ members (the bulk of its bytes, which a catalog
// never reads) and its x/ and l/ members (which it reads). When their folders differ,
// as in Microsoft's cabinets, there is no need to keep the data of the c/ and e/
// folders at all: the outer walk keeps the cabinet's header and tables plus the data
// blocks of the folders that hold an x/ or l/ member, a few hundred KB instead of
// several MB, so that every detail cabinet fits in memory while package.xml is parsed
// and none goes through a temporary file.

// sparseCab is such a partial copy of an inner cabinet, read through cab.Open as if
// it were whole: kept bytes read as themselves, the others as zeros. The zeros are
// never decoded: readDetail reads only members of kept folders.
type sparseCab struct {
	size   int64
	prefix []byte      // bytes [0, len(prefix)): the header, folder table and file table
	segs   []sparseSeg // kept data blocks, by increasing offset, disjoint
	keep   []bool      // per folder: its data blocks are kept
	// dropped counts the members of the folders not kept: the copy's file table
	// leaves them out (so that cab.Open does not spend time and memory on them).
	dropped int
}

type sparseSeg struct {
	off int64
	b   []byte
}

// held is the memory the copy takes.
func (sc *sparseCab) held() int64 {
	n := int64(len(sc.prefix))
	for _, s := range sc.segs {
		n += int64(len(s.b))
	}
	return n
}

// kept reports whether folder fi's data blocks were kept.
func (sc *sparseCab) kept(fi int) bool { return fi >= 0 && fi < len(sc.keep) && sc.keep[fi] }

// ReadAt implements io.ReaderAt over the whole cabinet.
func (sc *sparseCab) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= sc.size {
		return 0, io.EOF
	}
	var err error
	if rest := sc.size - off; int64(len(p)) > rest {
		p, err = p[:rest], io.EOF
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos < int64(len(sc.prefix)) {
			n += copy(p[n:], sc.prefix[pos:])
			continue
		}
		// The first segment ending after pos: either it holds pos, or zeros run up
		// to its start.
		next := sc.size
		for _, s := range sc.segs {
			if pos < s.off+int64(len(s.b)) {
				if pos >= s.off {
					next = -1
					n += copy(p[n:], s.b[pos-s.off:])
				} else {
					next = s.off
				}
				break
			}
		}
		if next >= 0 {
			k := int(min(int64(len(p)-n), next-pos))
			clear(p[n : n+k])
			n += k
		}
	}
	return n, err
}

// Cabinet format offsets (MS-CAB), as far as planning a sparse copy needs them.
const (
	cabHeaderSize = 36
	cabFolderSize = 8
	cabFileSize   = 16
	cabMaxName    = 256 // name bytes, NUL included
	cabDataHeader = 8
	cabReserve    = 0x0004
	cabSpanned    = 0x0003 // previous or next cabinet
)

// sparsePlan is what the tables of an inner cabinet say about the copy to keep.
type sparsePlan struct {
	size      int64
	dataStart int64  // the first data block
	prefix    []byte // the header and tables, without the members of the folders not kept
	dropped   int    // members left out of prefix
	keep      []bool
	chains    []dataChain // the kept folders' block chains, by increasing start
	dataHdr   int64       // bytes of a CFDATA header, reserve included
	bound     int64       // the most memory the copy can take
}

// dataChain is one kept folder's CFDATA blocks, which follow one another from start.
type dataChain struct {
	start  int64
	blocks int   // blocks not walked yet
	next   int64 // offset of the next block header to walk
	done   bool
	end    int64 // offset just past the last block, once done
}

// planSparse reads the header and tables of an inner cabinet of size bytes from r and
// decides which folders to keep (those with a member that wanted accepts). It returns
// nil and the bytes it read when the cabinet does not have the usual layout (header,
// folder table, file table, then the data blocks) or a defect that cab.Open reports;
// the caller then keeps the whole cabinet, whose reading reports any defect.
func planSparse(r io.Reader, size int64, wanted func(name []byte) bool) (*sparsePlan, []byte, error) {
	le := binary.LittleEndian
	var head []byte
	readTo := func(n int64) error {
		if n <= int64(len(head)) {
			return nil
		}
		m := len(head)
		head = slices.Grow(head, int(n)-m)[:n]
		k, err := io.ReadFull(r, head[m:])
		head = head[:m+k]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if size < cabHeaderSize+4 {
		return nil, head, nil
	}
	if err := readTo(cabHeaderSize + 4); err != nil {
		return nil, head, err
	}
	if string(head[:4]) != "MSCF" {
		return nil, head, nil
	}
	filesOff := int64(le.Uint32(head[16:]))
	nFolders := int64(le.Uint16(head[26:]))
	nFiles := int64(le.Uint16(head[28:]))
	flags := le.Uint16(head[30:])
	if flags&cabSpanned != 0 || nFolders == 0 {
		return nil, head, nil
	}
	off := int64(cabHeaderSize)
	folderRes, dataRes := int64(0), int64(0)
	if flags&cabReserve != 0 {
		off += 4 + int64(le.Uint16(head[36:]))
		folderRes, dataRes = int64(head[38]), int64(head[39])
	}
	foldersEnd := off + nFolders*(cabFolderSize+folderRes)
	if foldersEnd > size || filesOff < foldersEnd {
		return nil, head, nil
	}
	if err := readTo(foldersEnd); err != nil {
		return nil, head, err
	}
	firstData := size
	for i := range nFolders {
		e := head[off+i*(cabFolderSize+folderRes):]
		if d := int64(le.Uint32(e)); d < firstData {
			firstData = d
		}
	}
	// The file table must lie between the folder table and the first data block.
	if filesOff+nFiles*(cabFileSize+2) > firstData {
		return nil, head, nil
	}
	if err := readTo(firstData); err != nil {
		return nil, head, err
	}
	keep := make([]bool, nFolders)
	type entry struct {
		pos    int64
		n      int64
		folder int64
	}
	entries := make([]entry, 0, nFiles)
	pos := filesOff
	for range nFiles {
		if pos+cabFileSize >= firstData {
			return nil, head, nil
		}
		e := head[pos:min(firstData, pos+cabFileSize+cabMaxName)]
		name := e[cabFileSize:]
		end := -1
		for j, c := range name {
			if c == 0 {
				end = j
				break
			}
		}
		if end < 0 {
			return nil, head, nil
		}
		fi := int64(le.Uint16(e[8:]))
		if fi >= nFolders {
			return nil, head, nil // cab.Open refuses the cabinet: let it say why
		}
		if wanted(name[:end]) {
			keep[fi] = true
		}
		entries = append(entries, entry{pos, cabFileSize + int64(end) + 1, fi})
		pos += cabFileSize + int64(end) + 1
	}
	p := &sparsePlan{size: size, dataStart: firstData, prefix: head, keep: keep, dataHdr: cabDataHeader + dataRes}
	// The file table of the copy keeps the members of the kept folders, in order.
	kept, keptLen := 0, int64(0)
	for _, e := range entries {
		if keep[e.folder] {
			kept++
			keptLen += e.n
		}
	}
	if kept < len(entries) {
		prefix := make([]byte, filesOff, filesOff+keptLen)
		copy(prefix, head[:filesOff])
		for _, e := range entries {
			if keep[e.folder] {
				prefix = append(prefix, head[e.pos:e.pos+e.n]...)
			}
		}
		le.PutUint16(prefix[28:], uint16(kept))
		p.prefix, p.dropped = prefix, len(entries)-kept
	}
	minStart := size
	for i := range nFolders {
		if !keep[i] {
			continue
		}
		e := head[off+i*(cabFolderSize+folderRes):]
		c := dataChain{start: int64(le.Uint32(e)), blocks: int(le.Uint16(e[4:]))}
		c.next = c.start
		if c.blocks == 0 || c.start >= size {
			continue // nothing to keep; reading the folder fails or yields nothing as in a whole copy
		}
		p.chains = append(p.chains, c)
		minStart = min(minStart, c.start)
	}
	slices.SortFunc(p.chains, func(a, b dataChain) int { return cmp.Compare(a.start, b.start) })
	p.bound = firstData + (size - minStart)
	return p, head, nil
}

// capture streams the rest of the cabinet (after the prefix) from r, keeping the
// bytes of the planned chains. It reads r to its end.
func (p *sparsePlan) capture(r io.Reader) (*sparseCab, error) {
	w := &chainWriter{p: p, pos: p.dataStart}
	n, err := io.Copy(w, r)
	if err != nil {
		return nil, err
	}
	if p.dataStart+n != p.size {
		return nil, io.ErrUnexpectedEOF
	}
	w.closeSeg()
	return &sparseCab{size: p.size, prefix: p.prefix, segs: w.segs, keep: p.keep, dropped: p.dropped}, nil
}

// chainWriter keeps the bytes of the plan's chains out of the stream it is given,
// walking each chain's block headers to find where it ends. Chains that overlap or
// touch share one segment.
type chainWriter struct {
	p    *sparsePlan
	pos  int64 // stream offset of the next byte written
	ci   int   // next chain not started
	segs []sparseSeg
	cur  *sparseSeg   // the segment being filled, or nil
	act  []*dataChain // the chains of cur still under way
	// segMax is the end of the chains of cur that are complete.
	segMax int64
}

func (w *chainWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		if w.cur == nil {
			if w.ci == len(w.p.chains) {
				break // nothing more to keep
			}
			start := w.p.chains[w.ci].start
			if start >= w.pos+int64(len(b)) {
				break
			}
			if start > w.pos {
				b = b[start-w.pos:]
				w.pos = start
			}
			// Size the segment for the usual case: the chain runs up to the next
			// folder's data, or to the end of the cabinet.
			limit := w.p.size
			if w.ci+1 < len(w.p.chains) {
				limit = w.p.chains[w.ci+1].start
			}
			w.cur = &sparseSeg{off: w.pos, b: make([]byte, 0, limit-w.pos)}
		}
		w.cur.b = append(w.cur.b, b...)
		w.pos += int64(len(b))
		b = nil
		if end, ok := w.walk(); ok {
			// Every chain of the segment is complete: hand back what lies past its end.
			keep := end - w.cur.off
			rest := w.cur.b[keep:]
			w.cur.b = w.cur.b[:keep]
			w.pos = end
			w.closeSeg()
			b = rest
		}
	}
	w.pos += int64(len(b))
	return total, nil
}

// walk starts the chains that begin inside the current segment and walks their block
// headers; it reports the end of the segment once all of its chains are complete.
// The chains still under way stay in act, so that each call costs what they cost.
func (w *chainWriter) walk() (int64, bool) {
	segEnd := w.cur.off + int64(len(w.cur.b))
	for {
		for w.ci < len(w.p.chains) && w.p.chains[w.ci].start < segEnd {
			w.act = append(w.act, &w.p.chains[w.ci])
			w.ci++
		}
		act := w.act[:0]
		for _, c := range w.act {
			for !c.done && c.next+w.p.dataHdr <= segEnd {
				h := w.cur.b[c.next-w.cur.off:]
				c.next += w.p.dataHdr + int64(binary.LittleEndian.Uint16(h[4:]))
				if c.blocks--; c.blocks == 0 {
					c.done, c.end = true, c.next
				}
			}
			if c.done && c.end <= segEnd {
				w.segMax = max(w.segMax, c.end)
				continue
			}
			act = append(act, c)
		}
		w.act = act
		if len(act) > 0 {
			return 0, false
		}
		// A chain starting before the end found so far joins this segment.
		if w.ci < len(w.p.chains) && w.p.chains[w.ci].start < w.segMax {
			continue
		}
		return w.segMax, true
	}
}

func (w *chainWriter) closeSeg() {
	if w.cur == nil {
		return
	}
	if len(w.cur.b) > 0 {
		b := w.cur.b
		if cap(b) > len(b)+len(b)/8+4096 {
			b = append([]byte(nil), b...)
		}
		w.segs = append(w.segs, sparseSeg{off: w.cur.off, b: b})
	}
	w.cur, w.act, w.segMax = nil, w.act[:0], 0
}

// wantedMember reports whether a detail cabinet member may be an x/ or l/ fragment:
// a superset of what fragmentName accepts, on the name's stored bytes.
func wantedMember(name []byte) bool {
	return len(name) >= 2 && (name[1] == '/' || name[1] == '\\') &&
		(name[0] == 'x' || name[0] == 'X' || name[0] == 'l' || name[0] == 'L')
}
