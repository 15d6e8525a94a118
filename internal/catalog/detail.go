package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openwua/waptwua/internal/cab"
)

// What a row needs from the detail cabinets.
const (
	needX      = 1 << iota // x/: files of a leaf, or KB, severity ... of a record
	needL                  // l/<lang>/: title and description of a record
	needCat                // l/en/: the name of a category
	isRecord               // the row is a software update delivered by Read
	isCategory             // the row is a category (product, classification ...)
)

// detail is what the detail cabinets said about one row. Each row is written only by
// the worker that decodes the cabinet its revision routes to.
type detail struct {
	x    *xProps
	l    lProps
	rank uint8 // language rank of l (0: none yet)
}

// prepare classifies the rows of the parsed model and allocates their details. It runs
// before the detail workers start.
func (rd *reader) prepare() {
	m := rd.model
	need := make([]uint8, len(m.rows))
	// Categories: every row whose UpdateId some update names in <Categories>, and the
	// parents (prerequisites) of those, recursively.
	var queue []int32
	for i := range m.rows {
		for _, c := range m.catsOf(&m.rows[i]) {
			if ri, ok := m.rowOfID(c.id); ok && need[ri]&isCategory == 0 {
				need[ri] |= isCategory | needCat
				queue = append(queue, ri)
			}
		}
	}
	for len(queue) > 0 {
		ri := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, p := range m.prereqsOf(&m.rows[ri]) {
			if pi, ok := m.rowOfID(p); ok && need[pi]&isCategory == 0 && m.rows[pi].flags&(flagEvaluate|flagNotSoftware) != 0 {
				need[pi] |= isCategory | needCat
				queue = append(queue, pi)
			}
		}
	}
	for i := range m.rows {
		r := &m.rows[i]
		if need[i]&isCategory != 0 || r.flags&flagNotSoftware != 0 {
			continue
		}
		if r.flags&flagBundle != 0 || len(m.payloadOf(r)) > 0 && len(m.bundledByOf(r)) == 0 {
			need[i] |= isRecord | needX | needL
		}
	}
	for i := range m.rows {
		r := &m.rows[i]
		if len(m.payloadOf(r)) == 0 {
			continue
		}
		for _, b := range m.bundledByOf(r) {
			if bi, ok := m.byRev.get(b); ok && need[bi]&isRecord != 0 {
				need[i] |= needX
			}
		}
	}
	rd.need = need
	rd.details = make([]detail, len(m.rows))
}

// workerState is one detail worker's scratch space and counters.
type workerState struct {
	cabBuf  []byte // a spooled cabinet read back from its temporary file
	scan    *scanner
	buf     []byte
	read    int64
	skipped int64
	decoded int64
	cabs    int
}

// worker decodes detail cabinets from the queue once package.xml is parsed.
func (rd *reader) worker(ws *workerState) {
	select {
	case <-rd.pkgReady:
	case <-rd.ctx.Done():
		for sp := range rd.queue {
			sp.release()
		}
		return
	}
	for sp := range rd.queue {
		if rd.ctx.Err() == nil {
			if err := rd.readDetail(sp, ws); err != nil {
				rd.cancel(err)
			}
		}
		sp.release()
	}
}

// langRank ranks a fragment's language for row ri: the higher the better, 0 unwanted.
func (rd *reader) langRank(ri int32, lang string) uint8 {
	if rd.need[ri]&needCat != 0 {
		switch {
		case lang == "en":
			return 3
		case lang == rd.model.langOf(&rd.model.rows[ri]):
			return 2
		}
		return 0
	}
	switch {
	case lang == rd.opts.Language:
		return 3
	case lang == "en":
		return 2
	case lang == rd.model.langOf(&rd.model.rows[ri]):
		return 1
	}
	return 0
}

// fragmentName splits a detail member name: x/<rev>, l/<lang>/<rev> (either
// separator, any letter case); kind is 0 for any other member (c/, e/, files/ ...).
// It does not allocate for the common case of a lower-case language.
func fragmentName(name string) (kind byte, lang string, rev int64) {
	if len(name) < 3 || name[1] != '\\' && name[1] != '/' {
		return 0, "", 0
	}
	switch name[0] {
	case 'x', 'X':
		if v, ok := parseInt([]byte(name[2:])); ok {
			return 'x', "", v
		}
	case 'l', 'L':
		rest := name[2:]
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' || rest[i] == '\\' {
				v, ok := parseInt([]byte(rest[i+1:]))
				if !ok || i == 0 {
					break
				}
				lang = rest[:i]
				for j := 0; j < len(lang); j++ {
					if 'A' <= lang[j] && lang[j] <= 'Z' {
						lang = strings.ToLower(lang)
						break
					}
				}
				return 'l', lang, v
			}
		}
	}
	return 0, "", 0
}

// readDetail decodes one detail cabinet, keeping the fragments of the revisions that
// route to it and that the catalog needs. Members it does not read are not copied;
// folders it reads nothing from are not even decoded.
func (rd *reader) readDetail(sp *spooled, ws *workerState) error {
	name := outerName + "/" + sp.member
	// Each cabinet has its own warnings, merged in index order at the end, so that
	// the examples do not depend on which worker took which cabinet.
	warn := newWarnings()
	rd.cabWarn[sp.cabIdx] = warn
	ra, err := sp.readerAt(&ws.cabBuf, rd.opts.MemoryBudget)
	if err != nil {
		return err
	}
	c, err := cab.Open(ra, sp.size, cab.WithName(name), rd.innerLimits(), cab.WithDecoderPool(rd.decoders))
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	ws.cabs++
	if sp.sparse != nil {
		ws.skipped += int64(sp.sparse.dropped) // members of c/ and e/ folders, which are not x/ or l/
	}
	m := rd.model
	// decodedTo[folder] is how far the folder's stream was decoded.
	decodedTo := make([]int64, len(c.Folders))
	err = c.Walk(func(f *cab.File, r io.Reader) error {
		if err := rd.ctx.Err(); err != nil {
			return context.Cause(rd.ctx)
		}
		kind, lang, rev := fragmentName(f.Name)
		if kind == 0 {
			ws.skipped++
			return nil
		}
		if sp.sparse != nil && !sp.sparse.kept(f.Folder) {
			// wantedMember, which chose the folders to keep, accepts every name
			// fragmentName does: this cannot happen.
			return fmt.Errorf("%s: internal error: %s is in folder %d, which was not kept", name, f.Name, f.Folder)
		}
		ri, ok := m.byRev.get(rev)
		if !ok {
			ws.skipped++ // details of a revision package.xml does not list
			return nil
		}
		if route := rd.index.route(rev); route != sp.cabIdx {
			ws.skipped++
			warn.add("misrouted fragment", "%s: %s belongs to revision %d, which index.xml routes to %s; ignored", name, f.Name, rev, rd.cabName(route))
			return nil
		}
		d := &rd.details[ri]
		var rank uint8
		switch kind {
		case 'x':
			if rd.need[ri]&needX == 0 || d.x != nil {
				ws.skipped++
				return nil
			}
		case 'l':
			if rd.need[ri]&(needL|needCat) == 0 {
				ws.skipped++
				return nil
			}
			if rank = rd.langRank(ri, lang); rank == 0 || rank <= d.rank {
				ws.skipped++
				return nil
			}
		}
		if f.Size > rd.opts.MaxFragment {
			ws.skipped++
			warn.add("fragment too large", "%s: %s is %d bytes, more than the %d-byte limit (Options.MaxFragment); ignored", name, f.Name, f.Size, rd.opts.MaxFragment)
			return nil
		}
		if int64(cap(ws.buf)) < f.Size {
			ws.buf = make([]byte, f.Size)
		}
		buf := ws.buf[:f.Size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("%s: reading %s: %w", name, f.Name, err)
		}
		if end := f.Offset + f.Size; end > decodedTo[f.Folder] {
			decodedTo[f.Folder] = end
		}
		ws.read++
		switch kind {
		case 'x':
			x, err := parseX(ws.scan, buf, rev, warn)
			if err != nil {
				warn.add("malformed fragment", "%s: %s: %v; ignored", name, f.Name, err)
				return nil
			}
			d.x = x
		case 'l':
			l, err := parseLDesc(ws.scan, buf, !rd.opts.NoDescriptions && rd.need[ri]&needCat == 0)
			if err != nil {
				warn.add("malformed fragment", "%s: %s: %v; ignored", name, f.Name, err)
				return nil
			}
			d.l, d.rank = l, rank
		}
		return nil
	})
	for _, n := range decodedTo {
		ws.decoded += n
	}
	if err != nil {
		var se *xmlSyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return err
	}
	return nil
}

func (rd *reader) cabName(i int) string {
	if i < 0 {
		return "no cabinet (below the first RANGESTART)"
	}
	return rd.index.details[i].member
}
