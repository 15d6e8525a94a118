package catalog

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
)

// sha1Key is a payload file's SHA-1, the key that links PayloadFiles, FileLocations
// and the leaves' x/ fragments (all three write it in base64).
type sha1Key [20]byte

// decodeDigest decodes a base64 digest of want bytes.
func decodeDigest(b []byte, out []byte) bool {
	b = trimSpaceBytes(b)
	if base64.StdEncoding.DecodedLen(len(b)) < len(out) || len(b) > 4*((len(out)+2)/3)+4 {
		return false
	}
	var tmp [48]byte
	n, err := base64.StdEncoding.Decode(tmp[:], b)
	if err != nil || n != len(out) {
		return false
	}
	copy(out, tmp[:n])
	return true
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Row flags.
const (
	flagBundle = 1 << iota
	flagLeaf
	flagNotSoftware // IsSoftware="false"
	flagEvaluate    // DeploymentAction="Evaluate"
	flagCreated     // row.created is set
)

// catRef is one <Category Type=".." Id=".."/> of an update.
type catRef struct {
	id  int32 // index into model.ids
	typ uint8 // catCompany ... catOther
}

const (
	catUnknown uint8 = iota
	catCompany
	catProductFamily
	catProduct
	catClassification
	catOther
)

func parseCatType(b []byte) uint8 {
	switch {
	case strings.EqualFold(string(b), "Company"):
		return catCompany
	case strings.EqualFold(string(b), "ProductFamily"):
		return catProductFamily
	case strings.EqualFold(string(b), "Product"):
		return catProduct
	case strings.EqualFold(string(b), "UpdateClassification"):
		return catClassification
	}
	return catOther
}

// row is one <Update> of package.xml, kept compact (136,000 of them in a real
// catalog): its lists live in the model's arenas.
type row struct {
	revID     int64
	created   int64 // Unix nanoseconds, valid when flagCreated is set
	id        int32 // index into model.ids
	revNum    int32
	cats      span  // into model.catArena
	prereqs   span  // into model.idArena (UpdateIds)
	supBy     span  // into model.revArena
	bundledBy span  // into model.revArena
	payload   span  // into model.keyArena
	lang      uint8 // DefaultLanguage: index into model.langList
	flags     uint8
}

// span locates one list of a row in an arena.
type span struct {
	off uint32
	n   uint16
}

// rowLists are the lists of the row being parsed.
type rowLists struct {
	cats      []catRef
	prereqs   []int32
	supBy     []int64
	bundledBy []int64
	payload   []sha1Key
}

func (l *rowLists) reset() {
	l.cats, l.prereqs, l.supBy, l.bundledBy, l.payload = l.cats[:0], l.prereqs[:0], l.supBy[:0], l.bundledBy[:0], l.payload[:0]
}

func (r *row) createdTime() time.Time {
	if r.flags&flagCreated == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.created).UTC()
}

// model is everything package.xml says.
type model struct {
	packageID string
	created   time.Time
	guids     guidTable        // UpdateIds that are GUIDs (all of them, normally)
	ids       map[string]int32 // other UpdateIds, lower case
	// idStr is the text of each id (lower case), set when parsePackage returns;
	// while it runs, the texts accumulate in idText, id i's ending at idEnd[i].
	idStr  []string
	idText []byte
	idEnd  []int
	rows   []row
	byRev  revTable // revision id → row
	byID   []int32  // id → row (the first row of that UpdateId), -1 for none
	locs   sha1Table
	// locURL are the URLs locs indexes, set when parsePackage returns; while it
	// runs, they accumulate in urlText, URL i ending at urlEnd[i].
	locURL   []string
	urlText  []byte
	urlEnd   []int
	langs    map[string]uint8 // language code → index into langList
	langList []string
	maxRows  int
	warn     *warnings

	catArena []catRef
	idArena  []int32
	revArena []int64
	keyArena []sha1Key
}

func newModel(maxRows int, w *warnings) *model {
	return &model{
		ids:      map[string]int32{},
		langs:    map[string]uint8{"": 0},
		langList: []string{""},
		maxRows:  maxRows,
		warn:     w,
	}
}

// rowOfID returns the first row of UpdateId id.
func (m *model) rowOfID(id int32) (int32, bool) {
	if id < 0 || int(id) >= len(m.byID) || m.byID[id] < 0 {
		return 0, false
	}
	return m.byID[id], true
}

// location returns the URL of a payload file.
func (m *model) location(k *sha1Key) (string, bool) {
	i, ok := m.locs.get(k)
	if !ok {
		return "", false
	}
	return m.locURL[i], true
}

// idString returns the text of id while package.xml is parsed (idStr afterwards).
func (m *model) idString(id int32) string {
	if m.idEnd == nil {
		return m.idStr[id]
	}
	start := 0
	if id > 0 {
		start = m.idEnd[id-1]
	}
	return string(m.idText[start:m.idEnd[id]])
}

// substrings cuts text at ends into strings: substrings of one string, rather than
// one allocation each (package.xml has about 136,000 ids and 97,000 URLs).
func substrings(text []byte, ends []int) []string {
	all := string(text)
	out := make([]string, len(ends))
	start := 0
	for i, end := range ends {
		out[i] = all[start:end]
		start = end
	}
	return out
}

func (m *model) catsOf(r *row) []catRef { return m.catArena[r.cats.off : r.cats.off+uint32(r.cats.n)] }
func (m *model) prereqsOf(r *row) []int32 {
	return m.idArena[r.prereqs.off : r.prereqs.off+uint32(r.prereqs.n)]
}
func (m *model) supByOf(r *row) []int64 {
	return m.revArena[r.supBy.off : r.supBy.off+uint32(r.supBy.n)]
}
func (m *model) bundledByOf(r *row) []int64 {
	return m.revArena[r.bundledBy.off : r.bundledBy.off+uint32(r.bundledBy.n)]
}
func (m *model) payloadOf(r *row) []sha1Key {
	return m.keyArena[r.payload.off : r.payload.off+uint32(r.payload.n)]
}
func (m *model) langOf(r *row) string { return m.langList[r.lang] }

// grow reserves room for about n rows, from package.xml's size.
func (m *model) grow(xmlSize int64) {
	n := int(min(xmlSize/600, int64(m.maxRows))) + 16
	m.rows = make([]row, 0, n)
	m.guids = newGUIDTable(n + n/16)
	m.byRev = newRevTable(n)
	m.byID = make([]int32, 0, n+n/16)
	m.idEnd = make([]int, 0, n+n/16)
	m.idText = make([]byte, 0, 36*(n+n/16))
	m.locs = newSHA1Table(n * 3 / 4)
	m.urlEnd = make([]int, 0, n*3/4)
	m.urlText = make([]byte, 0, 120*n*3/4)
	m.catArena = make([]catRef, 0, 2*n)
	m.idArena = make([]int32, 0, 2*n)
	m.revArena = make([]int64, 0, 2*n)
	m.keyArena = make([]sha1Key, 0, n)
}

// internID returns the index of an UpdateId, normalised to lower case.
func (m *model) internID(b []byte) int32 {
	b = trimSpaceBytes(b)
	if g, ok := parseGUID(b); ok {
		i, added := m.guids.add(&g, int32(len(m.idEnd)))
		if added {
			m.newID(b)
		}
		return i
	}
	s := strings.ToLower(string(b))
	if i, ok := m.ids[s]; ok {
		return i
	}
	i := int32(len(m.idEnd))
	m.ids[s] = i
	m.newID([]byte(s))
	return i
}

// newID appends the text of a new id, in lower case.
func (m *model) newID(b []byte) {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		m.idText = append(m.idText, c)
	}
	m.idEnd = append(m.idEnd, len(m.idText))
	m.byID = append(m.byID, -1)
}

// hexVal maps hexadecimal digits to their value, everything else to 0xFF.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = unhex(byte(i))
	}
	return t
}()

// guidPairs are the offsets of the 16 digit pairs of the 8-4-4-4-12 form.
var guidPairs = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// parseGUID decodes the 8-4-4-4-12 hexadecimal form, any letter case.
func parseGUID(b []byte) (g [16]byte, ok bool) {
	if len(b) != 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return g, false
	}
	bad := byte(0)
	for j, i := range guidPairs {
		hi, lo := hexVal[b[i]], hexVal[b[i+1]]
		bad |= hi | lo
		g[j] = hi<<4 | lo&0x0F
	}
	return g, bad&0xF0 == 0
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// internLang returns the index of a language code (lower case); past 255 distinct
// codes, the rest count as none.
func (m *model) internLang(b []byte) uint8 {
	b = trimSpaceBytes(b)
	if i, ok := m.langs[string(b)]; ok {
		return i
	}
	s := strings.ToLower(string(b))
	if i, ok := m.langs[s]; ok {
		return i
	}
	if len(m.langList) > 255 {
		return 0
	}
	i := uint8(len(m.langList))
	m.langList = append(m.langList, s)
	m.langs[s] = i
	return i
}

// Element codes of package.xml.
const (
	pxOther = iota
	pxRoot
	pxUpdates
	pxUpdate
	pxCategories
	pxCategory
	pxPrerequisites
	pxUpdateID
	pxSupersededBy
	pxBundledBy
	pxRevision
	pxPayloadFiles
	pxFile
	pxFileLocations
	pxFileLocation
)

func packageElement(local []byte) int {
	switch string(local) {
	case "OfflineSyncPackage":
		return pxRoot
	case "Updates":
		return pxUpdates
	case "Update":
		return pxUpdate
	case "Categories":
		return pxCategories
	case "Category":
		return pxCategory
	case "Prerequisites":
		return pxPrerequisites
	case "UpdateId":
		return pxUpdateID
	case "SupersededBy":
		return pxSupersededBy
	case "BundledBy":
		return pxBundledBy
	case "Revision":
		return pxRevision
	case "PayloadFiles":
		return pxPayloadFiles
	case "File":
		return pxFile
	case "FileLocations":
		return pxFileLocations
	case "FileLocation":
		return pxFileLocation
	}
	return pxOther
}

func parseBool(b []byte) bool {
	s := string(trimSpaceBytes(b))
	return strings.EqualFold(s, "true") || s == "1"
}

func parseInt(b []byte) (int64, bool) {
	b = trimSpaceBytes(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseTime accepts the date forms seen in catalogs: RFC 3339 with or without a zone
// and fractional seconds, or a bare date.
func parseTime(b []byte) (time.Time, bool) {
	s := string(trimSpaceBytes(b))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parsePackage reads package.xml into m. Errors carry the byte offset in package.xml.
func (m *model) parsePackage(r io.Reader, lim XMLLimits) error {
	s := newScanner(r, 256<<10, lim)
	var stack []int // element codes of the open elements
	var cur *row
	var curRow row
	var lists rowLists
	rowDepth := 0    // depth of the open <Update>, 0 = none
	leafRow := false // the open <Update> is a leaf (DeploymentAction="Bundle")
	prereqDepth := 0 // depth of the open <Prerequisites> of the current row, 0 = none
	for {
		k, err := s.next()
		if err != nil {
			return err
		}
		switch k {
		case tokEOF:
			if len(m.rows) == 0 && m.packageID == "" {
				return &xmlSyntaxError{Offset: s.base + int64(s.r), Msg: "no <OfflineSyncPackage> or <Update> element (is this package.xml?)"}
			}
			m.idStr = substrings(m.idText, m.idEnd)
			m.locURL = substrings(m.urlText, m.urlEnd)
			m.idText, m.idEnd, m.urlText, m.urlEnd = nil, nil, nil, nil
			return nil
		case tokEnd:
			stack = stack[:len(stack)-1]
			if len(stack)+1 == prereqDepth {
				prereqDepth = 0
			}
			if cur != nil && len(stack)+1 == rowDepth {
				if err := m.addRow(cur, &lists, s.offset()); err != nil {
					return err
				}
				cur, rowDepth = nil, 0
			}
			continue
		case tokStart:
		default:
			continue
		}
		code := packageElement(s.local)
		parent := pxOther
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		stack = append(stack, code)
		switch {
		case code == pxRoot && len(stack) == 1:
			m.packageID = string(trimSpaceBytes(s.attr("PackageId")))
			if t, ok := parseTime(s.attr("CreationDate")); ok {
				m.created = t
			}
		case code == pxUpdate && parent == pxUpdates && cur == nil:
			curRow = row{}
			cur = &curRow
			lists.reset()
			m.startRow(s, cur)
			leafRow = strings.EqualFold(string(trimSpaceBytes(s.attr("DeploymentAction"))), "Bundle")
			rowDepth = len(stack)
		case cur != nil && code == pxPrerequisites && prereqDepth == 0 && !leafRow:
			// A leaf's prerequisites are not part of any record: not even interned.
			prereqDepth = len(stack)
		case cur != nil && code == pxUpdateID && prereqDepth > 0:
			if id := trimSpaceBytes(s.attr("Id")); len(id) > 0 {
				lists.prereqs = appendUnique(lists.prereqs, m.internID(id))
			}
		case cur != nil && code == pxCategory && parent == pxCategories:
			if id := trimSpaceBytes(s.attr("Id")); len(id) > 0 {
				lists.cats = appendUnique(lists.cats, catRef{id: m.internID(id), typ: parseCatType(s.attr("Type"))})
			}
		case cur != nil && code == pxRevision && (parent == pxSupersededBy || parent == pxBundledBy):
			rev, ok := parseInt(s.attr("Id"))
			if !ok {
				m.warn.add("invalid revision id", "update %s: <Revision Id=%q> is not a number", m.label(cur), s.attr("Id"))
				break
			}
			if parent == pxSupersededBy {
				lists.supBy = appendUnique(lists.supBy, rev)
			} else {
				lists.bundledBy = appendUnique(lists.bundledBy, rev)
			}
		case cur != nil && code == pxFile && parent == pxPayloadFiles:
			var k sha1Key
			if !decodeDigest(s.attr("Id"), k[:]) {
				m.warn.add("invalid file digest", "update %s: payload <File Id=%q> is not a base64 SHA-1", m.label(cur), s.attr("Id"))
				break
			}
			lists.payload = appendUnique(lists.payload, k)
		case code == pxFileLocation && parent == pxFileLocations:
			var k sha1Key
			if !decodeDigest(s.attr("Id"), k[:]) {
				m.warn.add("invalid file digest", "<FileLocation Id=%q> is not a base64 SHA-1", s.attr("Id"))
				break
			}
			url := trimSpaceBytes(s.attr("Url"))
			if len(url) == 0 {
				m.warn.add("file location without URL", "<FileLocation Id=%q> has no Url", s.attr("Id"))
				break
			}
			if _, added := m.locs.add(&k, int32(len(m.urlEnd))); added {
				m.urlText = append(m.urlText, url...)
				m.urlEnd = append(m.urlEnd, len(m.urlText))
			}
		}
	}
}

// label names a row in warnings, even one without an UpdateId.
func (m *model) label(r *row) string {
	if r.id >= 0 && (int(r.id) < len(m.idEnd) || int(r.id) < len(m.idStr)) {
		return m.idString(r.id)
	}
	return fmt.Sprintf("(revision %d, no UpdateId)", r.revID)
}

// startRow reads the attributes of an <Update>.
func (m *model) startRow(s *scanner, r *row) {
	r.id = -1
	if id := trimSpaceBytes(s.attr("UpdateId")); len(id) > 0 {
		r.id = m.internID(id)
	}
	r.revID = -1
	if v, ok := parseInt(s.attr("RevisionId")); ok {
		r.revID = v
	}
	if v, ok := parseInt(s.attr("RevisionNumber")); ok && v <= 1<<31-1 {
		r.revNum = int32(v)
	}
	if v := s.attr("CreationDate"); v != nil {
		if t, ok := parseTime(v); ok && t.Year() > 1678 && t.Year() < 2262 {
			r.created = t.UnixNano()
			r.flags |= flagCreated
		} else {
			m.warn.add("invalid date", "update revision %s: CreationDate %q is not an RFC 3339 date", s.attr("RevisionId"), v)
		}
	}
	r.lang = m.internLang(s.attr("DefaultLanguage"))
	if parseBool(s.attr("IsBundle")) {
		r.flags |= flagBundle
	}
	if parseBool(s.attr("IsLeaf")) {
		r.flags |= flagLeaf
	}
	if v := s.attr("IsSoftware"); v != nil && !parseBool(v) {
		r.flags |= flagNotSoftware
	}
	if strings.EqualFold(string(trimSpaceBytes(s.attr("DeploymentAction"))), "Evaluate") {
		r.flags |= flagEvaluate
	}
}

// addRow stores a finished <Update>. Rows without an UpdateId or a RevisionId cannot
// be linked to anything: they are counted and dropped.
func (m *model) addRow(r *row, l *rowLists, off int64) error {
	if r.id < 0 || r.revID < 0 {
		m.warn.add("update without identity", "byte offset %d: <Update> without a valid UpdateId or RevisionId ignored", off)
		return nil
	}
	if len(m.rows) >= m.maxRows {
		return &xmlSyntaxError{Offset: off, Msg: fmt.Sprintf("more than %d <Update> rows (raise Options.MaxUpdates if this catalog is genuine)", m.maxRows)}
	}
	i := int32(len(m.rows))
	if _, added := m.byRev.add(r.revID, i); !added {
		m.warn.add("duplicate revision", "revision %d appears twice in package.xml; the second row is ignored", r.revID)
		return nil
	}
	if m.byID[r.id] < 0 {
		m.byID[r.id] = i
	}
	r.cats, m.catArena = spanOf(m.catArena, l.cats)
	r.prereqs, m.idArena = spanOf(m.idArena, l.prereqs)
	r.supBy, m.revArena = spanOf(m.revArena, l.supBy)
	r.bundledBy, m.revArena = spanOf(m.revArena, l.bundledBy)
	r.payload, m.keyArena = spanOf(m.keyArena, l.payload)
	m.rows = append(m.rows, *r)
	return nil
}

// spanOf appends list to arena and returns where it went.
func spanOf[T any](arena, list []T) (span, []T) {
	sp := span{off: uint32(len(arena)), n: uint16(len(list))}
	return sp, append(arena, list...)
}

// maxLinks bounds each list of one row (categories, prerequisites, revisions, files)
// so that a hostile row cannot make the duplicate checks quadratic without end.
const maxLinks = 1024

func appendUniqueID(s []int32, v int32) []int32        { return appendUnique(s, v) }
func appendUniqueRev(s []int64, v int64) []int64       { return appendUnique(s, v) }
func appendUniqueKey(s []sha1Key, v sha1Key) []sha1Key { return appendUnique(s, v) }

func appendUnique[T comparable](s []T, v T) []T {
	if len(s) >= maxLinks {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
