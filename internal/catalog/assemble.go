package catalog

import (
	"encoding/hex"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

var catTypeNames = [...]wu.CategoryType{
	catCompany:        wu.CategoryCompany,
	catProductFamily:  wu.CategoryProductFamily,
	catProduct:        wu.CategoryProduct,
	catClassification: wu.CategoryClassification,
	catOther:          "",
}

// assemble turns the model and the details into records, once every cabinet is read.
func (rd *reader) assemble() (*Catalog, error) {
	m := rd.model
	rows := m.rows
	st := &rd.stats
	w := rd.warn
	out := &Catalog{PackageID: m.packageID, Created: m.created}

	st.Updates = len(rows)
	st.FileLocations = len(m.locs)
	supersedes := make([][]int32, len(rows)) // row -> rows it supersedes
	children := make([][]int32, len(rows))   // bundle row -> its leaves
	for i := range rows {
		r := &rows[i]
		if r.flags&flagBundle != 0 {
			st.Bundles++
		}
		if len(m.bundledByOf(r)) > 0 {
			st.Leaves++
		}
		for _, rev := range m.supByOf(r) {
			j, ok := m.byRev[rev]
			if !ok {
				w.add("dangling reference", "update %s: SupersededBy revision %d is not in package.xml", m.idStr[r.id], rev)
				continue
			}
			supersedes[j] = append(supersedes[j], int32(i))
		}
		for _, rev := range m.bundledByOf(r) {
			j, ok := m.byRev[rev]
			if !ok {
				w.add("dangling reference", "update %s: BundledBy revision %d is not in package.xml", m.idStr[r.id], rev)
				continue
			}
			children[j] = append(children[j], int32(i))
		}
		for _, p := range m.prereqsOf(r) {
			if _, ok := m.byID[p]; !ok {
				w.add("dangling reference", "update %s: prerequisite %s is not in package.xml", m.idStr[r.id], m.idStr[p])
			}
		}
		for _, c := range m.catsOf(r) {
			if _, ok := m.byID[c.id]; !ok {
				w.add("dangling reference", "update %s: category %s is not in package.xml", m.idStr[r.id], m.idStr[c.id])
			}
		}
	}

	// Fragments that should have been found.
	for i := range rows {
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
				st.LanguageFallbacks++
			}
		}
	}

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
	parent := func(ri int32) int32 {
		for _, p := range m.prereqsOf(&rows[ri]) {
			if pi, ok := m.byID[p]; ok && rd.need[pi]&isCategory != 0 {
				return pi
			}
		}
		return -1
	}
	for changed := true; changed; {
		changed = false
		for i := range rows {
			if rd.need[i]&isCategory == 0 {
				continue
			}
			p := parent(int32(i))
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
	name := func(id int32) string {
		if ri, ok := m.byID[id]; ok {
			return rd.details[ri].l.title
		}
		return ""
	}
	for i := range rows {
		if rd.need[i]&isCategory == 0 {
			continue
		}
		c := wu.Category{ID: m.idStr[rows[i].id], Type: catTypeNames[clampCat(ctype[rows[i].id])], Name: rd.details[i].l.title}
		if p := parent(int32(i)); p >= 0 {
			c.ParentID = m.idStr[rows[p].id]
		}
		out.Categories = append(out.Categories, c)
	}
	st.Categories = len(out.Categories)

	// Records.
	seenFiles := map[sha1Key]struct{}{}
	for i := range rows {
		if rd.need[i]&isRecord == 0 {
			continue
		}
		u := rd.record(int32(i), supersedes[i], children[i], name, ctype, parent, seenFiles)
		st.Records++
		if rd.opts.Emit != nil {
			if err := rd.opts.Emit(&u); err != nil {
				return nil, err
			}
			continue
		}
		out.Updates = append(out.Updates, u)
	}
	st.Files = len(seenFiles)
	st.Warnings = w.list()
	out.Stats = *st
	return out, nil
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

// record builds the software update of row ri.
func (rd *reader) record(ri int32, supersedes, children []int32, name func(int32) string,
	ctype map[int32]uint8, parent func(int32) int32, seenFiles map[sha1Key]struct{}) wu.Update {
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
	firstProduct := int32(-1)
	for _, c := range m.catsOf(r) {
		t := c.typ
		if t == catUnknown || t == catOther {
			t = ctype[c.id]
		}
		switch t {
		case catClassification:
			if u.ClassificationID == "" {
				u.ClassificationID, u.Classification = m.idStr[c.id], name(c.id)
			}
		case catProduct:
			u.ProductIDs = append(u.ProductIDs, m.idStr[c.id])
			u.Products = append(u.Products, name(c.id))
			if firstProduct < 0 {
				firstProduct = c.id
			}
		case catCompany:
			if u.Company == "" {
				u.Company = name(c.id)
			}
		case catProductFamily:
			if u.ProductFamily == "" {
				u.ProductFamily = name(c.id)
			}
		}
	}
	// Company and family not listed: climb from the product.
	if firstProduct >= 0 && (u.Company == "" || u.ProductFamily == "") {
		if pi, ok := m.byID[firstProduct]; ok {
			for p, hops := parent(pi), 0; p >= 0 && hops < 16; p, hops = parent(p), hops+1 {
				id := m.rows[p].id
				switch ctype[id] {
				case catProductFamily:
					if u.ProductFamily == "" {
						u.ProductFamily = name(id)
					}
				case catCompany:
					if u.Company == "" {
						u.Company = name(id)
					}
				}
			}
		}
	}
	for _, rev := range m.supByOf(r) {
		if j, ok := m.byRev[rev]; ok {
			u.SupersededBy = appendUnique(u.SupersededBy, m.idStr[m.rows[j].id])
		}
	}
	for _, j := range supersedes {
		u.Supersedes = appendUnique(u.Supersedes, m.idStr[m.rows[j].id])
	}
	for _, p := range m.prereqsOf(r) {
		u.Prerequisites = append(u.Prerequisites, m.idStr[p])
	}
	var seen []sha1Key
	addFiles := func(li int32) {
		lr := &m.rows[li]
		ld := &rd.details[li]
		for _, k := range m.payloadOf(lr) {
			if containsKey(seen, k) {
				continue
			}
			seen = append(seen, k)
			seenFiles[k] = struct{}{}
			f := wu.File{SHA1: hex.EncodeToString(k[:])}
			if url, ok := m.locs[k]; ok {
				f.URL = url
			} else {
				rd.warn.add("file without location", "update %s: payload file %s has no <FileLocation>", u.UpdateID, f.SHA1)
			}
			if ld.x != nil {
				if fi := findFile(ld.x.files, k); fi != nil {
					f.Name, f.Size = fi.name, fi.size
					if fi.has256 {
						f.SHA256 = hex.EncodeToString(fi.sha256[:])
					}
				} else {
					rd.warn.add("file not described", "revision %d: payload file %s is missing from its x/ fragment's <Files>", lr.revID, f.SHA1)
				}
			}
			u.Files = append(u.Files, f)
		}
	}
	addFiles(ri)
	for _, c := range children {
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
