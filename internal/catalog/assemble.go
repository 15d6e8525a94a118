package catalog

import (
	"encoding/hex"
	"strings"
	"sync"

	"github.com/openwua/waptwua/internal/wu"
)

var catTypeNames = [...]wu.CategoryType{
	catCompany:        wu.CategoryCompany,
	catProductFamily:  wu.CategoryProductFamily,
	catProduct:        wu.CategoryProduct,
	catClassification: wu.CategoryClassification,
	catOther:          "",
}

// links is what the records need from package.xml alone: the reverse links, the
// category types and parents, the counts and the warnings about dangling references.
// Read computes it (prelink) while the detail cabinets are decoded, so that only the
// records themselves are left for the end.
type links struct {
	// Rows superseded by row i: supList[supOff[i]:supOff[i+1]], in row order; the
	// leaves of bundle row i: kidList[kidOff[i]:kidOff[i+1]].
	supOff, supList []int32
	kidOff, kidList []int32
	ctype           map[int32]uint8 // id → category type
	parent          []int32         // category row → its parent category row, -1 for none
	bundles, leaves int
	files           int // distinct payload files of the records
	warn            *warnings
}

func (l *links) supersedes(i int32) []int32 { return l.supList[l.supOff[i]:l.supOff[i+1]] }
func (l *links) children(i int32) []int32   { return l.kidList[l.kidOff[i]:l.kidOff[i+1]] }

// linked returns the links, computing them unless another goroutine is (then it
// waits for them).
func (rd *reader) linked() *links {
	rd.linksOnce.Do(func() { rd.lk = rd.prelink() })
	return rd.lk
}

// reverse turns (to, from) pairs, in from order, into a compressed adjacency list.
func reverse(n int, pairs [][2]int32) (off, list []int32) {
	off = make([]int32, n+1)
	for _, p := range pairs {
		off[p[0]+1]++
	}
	for i := 1; i <= n; i++ {
		off[i] += off[i-1]
	}
	list = make([]int32, len(pairs))
	fill := make([]int32, n)
	for _, p := range pairs {
		list[off[p[0]]+fill[p[0]]] = p[1]
		fill[p[0]]++
	}
	return off, list
}

// appendEdges appends to edges the pair (row of rev, i) for each revision rev in revs,
// the references named what of row i; it warns of the revisions not in package.xml.
func (m *model) appendEdges(edges [][2]int32, w *warnings, i int32, what string, revs []int64) [][2]int32 {
	for _, rev := range revs {
		j, ok := m.byRev.get(rev)
		if !ok {
			w.add("dangling reference", "update %s: %s revision %d is not in package.xml", m.idStr[m.rows[i].id], what, rev)
			continue
		}
		edges = append(edges, [2]int32{j, i})
	}
	return edges
}

// prelink computes the links; it reads only the model and rd.need.
func (rd *reader) prelink() *links {
	m := rd.model
	rows := m.rows
	lk := &links{warn: newWarnings()}
	w := lk.warn
	nsup, nkid := 0, 0
	for i := range rows {
		nsup += int(rows[i].supBy.n)
		nkid += int(rows[i].bundledBy.n)
	}
	sups, kids := make([][2]int32, 0, nsup), make([][2]int32, 0, nkid)
	for i := range rows {
		r := &rows[i]
		if r.flags&flagBundle != 0 {
			lk.bundles++
		}
		if len(m.bundledByOf(r)) > 0 {
			lk.leaves++
		}
		sups = m.appendEdges(sups, w, int32(i), "SupersededBy", m.supByOf(r))
		kids = m.appendEdges(kids, w, int32(i), "BundledBy", m.bundledByOf(r))
		for _, p := range m.prereqsOf(r) {
			if _, ok := m.rowOfID(p); !ok {
				w.add("dangling reference", "update %s: prerequisite %s is not in package.xml", m.idStr[r.id], m.idStr[p])
			}
		}
		for _, c := range m.catsOf(r) {
			if _, ok := m.rowOfID(c.id); !ok {
				w.add("dangling reference", "update %s: category %s is not in package.xml", m.idStr[r.id], m.idStr[c.id])
			}
		}
	}
	lk.supOff, lk.supList = reverse(len(rows), sups)
	lk.kidOff, lk.kidList = reverse(len(rows), kids)

	// Categories: their types come from the references (<Category Type=..>), or from
	// their place in the hierarchy; their parent is the first prerequisite that is a
	// category.
	ctype := map[int32]uint8{}
	for i := range rows {
		for _, c := range m.catsOf(&rows[i]) {
			if t, ok := ctype[c.id]; !ok || t == catUnknown || t == catOther {
				ctype[c.id] = c.typ
			}
		}
	}
	lk.ctype = ctype
	lk.parent = make([]int32, len(rows))
	for i := range rows {
		lk.parent[i] = -1
		if rd.need[i]&isCategory != 0 {
			lk.parent[i] = rd.categoryParent(int32(i))
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range rows {
			if rd.need[i]&isCategory == 0 {
				continue
			}
			p := lk.parent[i]
			if p < 0 {
				continue
			}
			pid := rows[p].id
			if t := ctype[pid]; t != catUnknown && t != catOther {
				continue
			}
			switch ctype[rows[i].id] {
			case catProduct:
				ctype[pid], changed = catProductFamily, true
			case catProductFamily:
				ctype[pid], changed = catCompany, true
			}
		}
	}

	// The payload files of the records: their own and their leaves'.
	seen := newSHA1Table(len(m.keyArena))
	for i := range rows {
		if rd.need[i]&isRecord == 0 {
			continue
		}
		for _, k := range m.payloadOf(&rows[i]) {
			seen.add(&k, 0)
		}
		for _, c := range lk.children(int32(i)) {
			for _, k := range m.payloadOf(&rows[c]) {
				seen.add(&k, 0)
			}
		}
	}
	lk.files = seen.len()
	return lk
}

// categoryParent returns the first prerequisite of row ri that is a category, or -1.
func (rd *reader) categoryParent(ri int32) int32 {
	m := rd.model
	for _, p := range m.prereqsOf(&m.rows[ri]) {
		if pi, ok := m.rowOfID(p); ok && rd.need[pi]&isCategory != 0 {
			return pi
		}
	}
	return -1
}

// parentOf is categoryParent, precomputed for the category rows.
func (rd *reader) parentOf(lk *links, ri int32) int32 {
	if rd.need[ri]&isCategory != 0 {
		return lk.parent[ri]
	}
	return rd.categoryParent(ri)
}

// recordChunk is how many rows one assembly task covers.
const recordChunk = 2048

// assemble turns the model and the details into records, once every cabinet is read.
// The records are built by rd.opts.Workers goroutines, a chunk of rows each, and
// emitted (or collected) in package.xml order; each chunk has its own warnings,
// merged in order, so that the examples do not depend on the scheduling.
func (rd *reader) assemble() (*Catalog, error) {
	m := rd.model
	rows := m.rows
	st := &rd.stats
	lk := rd.linked()
	out := &Catalog{PackageID: m.packageID, Created: m.created}

	st.Updates = len(rows)
	st.FileLocations = m.locs.len()
	st.Bundles, st.Leaves, st.Files = lk.bundles, lk.leaves, lk.files
	rd.warn.merge(lk.warn)

	for i := range rows {
		if rd.need[i]&isCategory == 0 {
			continue
		}
		c := wu.Category{ID: m.idStr[rows[i].id], Type: catTypeNames[clampCat(lk.ctype[rows[i].id])], Name: rd.details[i].l.title}
		if p := lk.parent[i]; p >= 0 {
			c.ParentID = m.idStr[rows[p].id]
		}
		out.Categories = append(out.Categories, c)
	}
	st.Categories = len(out.Categories)

	type chunk struct {
		recs      []wu.Update
		warn      *warnings
		fallbacks int
		done      chan struct{}
	}
	n := (len(rows) + recordChunk - 1) / recordChunk
	chunks := make([]chunk, n)
	for k := range chunks {
		chunks[k].done = make(chan struct{})
	}
	workers := max(1, min(rd.opts.Workers, n))
	// Workers run at most window chunks ahead of the emitter. Records handed to Emit
	// are its to read until it returns: their chunk's array then serves again.
	window := make(chan struct{}, 2*workers)
	free := make(chan []wu.Update, 2*workers)
	todo := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range todo {
				c := &chunks[k]
				c.warn = newWarnings()
				lo, hi := k*recordChunk, min(len(rows), (k+1)*recordChunk)
				c.fallbacks = rd.checkFragments(lo, hi, c.warn)
				nrec := 0
				for i := lo; i < hi; i++ {
					if rd.need[i]&isRecord != 0 {
						nrec++
					}
				}
				select {
				case c.recs = <-free:
				default:
				}
				if cap(c.recs) < nrec {
					c.recs = make([]wu.Update, 0, nrec)
				}
				for i := lo; i < hi; i++ {
					if rd.need[i]&isRecord != 0 {
						c.recs = append(c.recs, rd.record(lk, int32(i), c.warn))
					}
				}
				close(c.done)
			}
		}()
	}
	go func() {
		defer close(todo)
		for k := range chunks {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case todo <- k:
			case <-stop:
				return
			}
		}
	}()
	var err error
	for k := range chunks {
		c := &chunks[k]
		<-c.done
		rd.warn.merge(c.warn)
		st.LanguageFallbacks += c.fallbacks
		for j := range c.recs {
			st.Records++
			if rd.opts.Emit != nil {
				if err = rd.opts.Emit(&c.recs[j]); err != nil {
					break
				}
				continue
			}
			out.Updates = append(out.Updates, c.recs[j])
		}
		if rd.opts.Emit != nil {
			clear(c.recs)
			select {
			case free <- c.recs[:0]:
			default:
			}
		}
		c.recs, c.warn = nil, nil
		if err != nil {
			break
		}
		<-window
	}
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	st.Warnings = rd.warn.list()
	out.Stats = *st
	return out, nil
}

// checkFragments counts the fragments rows lo..hi-1 should have had and did not, and
// returns how many of them fell back to another language.
func (rd *reader) checkFragments(lo, hi int, w *warnings) (fallbacks int) {
	m := rd.model
	rows := m.rows
	for i := lo; i < hi; i++ {
		n := rd.need[i]
		if n&(needX|needL|needCat) == 0 {
			continue
		}
		d := &rd.details[i]
		if rd.index.route(rows[i].revID) < 0 {
			w.add("no detail cabinet", "revision %d (update %s) is below the first RANGESTART of index.xml: no details", rows[i].revID, m.idStr[rows[i].id])
			continue
		}
		if n&needX != 0 && d.x == nil {
			w.add("missing x/ fragment", "revision %d (update %s): no x/%d fragment", rows[i].revID, m.idStr[rows[i].id], rows[i].revID)
		}
		if n&(needL|needCat) != 0 {
			switch {
			case d.rank == 0:
				w.add("missing l/ fragment", "revision %d (update %s): no l/ fragment in %s", rows[i].revID, m.idStr[rows[i].id], rd.wantedLangs(int32(i)))
			case d.rank < 3:
				fallbacks++
			}
		}
	}
	return fallbacks
}

// wantedLangs lists the languages a row's l/ fragment was looked for in.
func (rd *reader) wantedLangs(ri int32) string {
	var langs []string
	if rd.need[ri]&needCat == 0 {
		langs = append(langs, rd.opts.Language)
	}
	for _, l := range []string{"en", rd.model.langOf(&rd.model.rows[ri])} {
		if l != "" && !containsString(langs, l) {
			langs = append(langs, l)
		}
	}
	return strings.Join(langs, ", ")
}

func clampCat(t uint8) uint8 {
	if t == catUnknown || int(t) >= len(catTypeNames) {
		return catOther
	}
	return t
}

// categoryName is the name of the category with UpdateId id: its English title.
func (rd *reader) categoryName(id int32) string {
	if ri, ok := rd.model.rowOfID(id); ok {
		return rd.details[ri].l.title
	}
	return ""
}

// record builds the software update of row ri; w receives its warnings.
func (rd *reader) record(lk *links, ri int32, w *warnings) wu.Update {
	m := rd.model
	r := &m.rows[ri]
	d := &rd.details[ri]
	u := wu.Update{
		UpdateID:         m.idStr[r.id],
		RevisionNumber:   int(r.revNum),
		RevisionID:       r.revID,
		Created:          r.createdTime(),
		Title:            d.l.title,
		Description:      d.l.description,
		KBs:              []string{},
		Products:         []string{},
		ProductIDs:       []string{},
		SupersededBy:     []string{},
		Supersedes:       []string{},
		Prerequisites:    []string{},
		SecurityBulletin: []string{},
		Files:            []wu.File{},
	}
	if x := d.x; x != nil {
		u.KBs = append(u.KBs, x.kbs...)
		u.Severity = x.severity
		u.SupportURL = x.supportURL
		u.SecurityBulletin = append(u.SecurityBulletin, x.bulletins...)
	}
	ctype := lk.ctype
	firstProduct := int32(-1)
	for _, c := range m.catsOf(r) {
		t := c.typ
		if t == catUnknown || t == catOther {
			t = ctype[c.id]
		}
		switch t {
		case catClassification:
			if u.ClassificationID == "" {
				u.ClassificationID, u.Classification = m.idStr[c.id], rd.categoryName(c.id)
			}
		case catProduct:
			u.ProductIDs = append(u.ProductIDs, m.idStr[c.id])
			u.Products = append(u.Products, rd.categoryName(c.id))
			if firstProduct < 0 {
				firstProduct = c.id
			}
		case catCompany:
			if u.Company == "" {
				u.Company = rd.categoryName(c.id)
			}
		case catProductFamily:
			if u.ProductFamily == "" {
				u.ProductFamily = rd.categoryName(c.id)
			}
		}
	}
	// Company and family not listed: climb from the product.
	if firstProduct >= 0 && (u.Company == "" || u.ProductFamily == "") {
		if pi, ok := m.rowOfID(firstProduct); ok {
			for p, hops := rd.parentOf(lk, pi), 0; p >= 0 && hops < 16; p, hops = rd.parentOf(lk, p), hops+1 {
				id := m.rows[p].id
				switch ctype[id] {
				case catProductFamily:
					if u.ProductFamily == "" {
						u.ProductFamily = rd.categoryName(id)
					}
				case catCompany:
					if u.Company == "" {
						u.Company = rd.categoryName(id)
					}
				}
			}
		}
	}
	for _, rev := range m.supByOf(r) {
		if j, ok := m.byRev.get(rev); ok {
			u.SupersededBy = appendUnique(u.SupersededBy, m.idStr[m.rows[j].id])
		}
	}
	for _, j := range lk.supersedes(ri) {
		u.Supersedes = appendUnique(u.Supersedes, m.idStr[m.rows[j].id])
	}
	for _, p := range m.prereqsOf(r) {
		u.Prerequisites = append(u.Prerequisites, m.idStr[p])
	}
	nfiles := len(m.payloadOf(r))
	for _, c := range lk.children(ri) {
		nfiles += len(m.payloadOf(&m.rows[c]))
	}
	u.Files = make([]wu.File, 0, nfiles)
	seen := make([]sha1Key, 0, nfiles)
	addFiles := func(li int32) {
		lr := &m.rows[li]
		ld := &rd.details[li]
		for _, k := range m.payloadOf(lr) {
			if containsKey(seen, k) {
				continue
			}
			seen = append(seen, k)
			f := wu.File{SHA1: hex.EncodeToString(k[:])}
			if url, ok := m.location(&k); ok {
				f.URL = url
			} else {
				w.add("file without location", "update %s: payload file %s has no <FileLocation>", u.UpdateID, f.SHA1)
			}
			if ld.x != nil {
				if fi := findFile(ld.x.files, k); fi != nil {
					f.Name, f.Size = fi.name, fi.size
					if fi.has256 {
						f.SHA256 = hex.EncodeToString(fi.sha256[:])
					}
				} else {
					w.add("file not described", "revision %d: payload file %s is missing from its x/ fragment's <Files>", lr.revID, f.SHA1)
				}
			}
			u.Files = append(u.Files, f)
		}
	}
	addFiles(ri)
	for _, c := range lk.children(ri) {
		addFiles(c)
	}
	return u
}

func containsKey(list []sha1Key, k sha1Key) bool {
	for _, v := range list {
		if v == k {
			return true
		}
	}
	return false
}

func findFile(files []fileInfo, k sha1Key) *fileInfo {
	for i := range files {
		if files[i].sha1 == k {
			return &files[i]
		}
	}
	return nil
}
