package catalog

import (
	"sort"
	"strings"
)

// cabEntry is one <CAB> of index.xml.
type cabEntry struct {
	member     string // name as written in index.xml
	key        string // memberKey(member)
	rangeStart int64
}

// catalogIndex is index.xml: which member is the package cabinet, and which detail
// cabinet holds the fragments of each revision (REFERENCE §5: the cab with the greatest
// RANGESTART not above the RevisionId).
type catalogIndex struct {
	packageKey    string
	packageMember string
	details       []cabEntry // sorted by rangeStart
	byKey         map[string]int
}

// memberKey normalises a cabinet member name for comparisons: slash separators,
// lower case.
func memberKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, `\`, "/"))
}

// route returns the index in details of the cabinet that holds revision rev's
// fragments, or -1 when rev is below every RANGESTART.
func (ix *catalogIndex) route(rev int64) int {
	i := sort.Search(len(ix.details), func(i int) bool { return ix.details[i].rangeStart > rev })
	return i - 1
}

// parseIndex reads index.xml.
func parseIndex(doc []byte, lim XMLLimits, w *warnings) (*catalogIndex, error) {
	s := newScanner(nil, 0, lim)
	s.resetBytes(toUTF8(doc))
	ix := &catalogIndex{byKey: map[string]int{}}
	inList := 0 // depth of the open <CABLIST>, 0 = none
	seen := map[string]bool{}
	for {
		k, err := s.next()
		if err != nil {
			return nil, err
		}
		if k == tokEOF {
			break
		}
		if k == tokEnd {
			if s.depth() < inList {
				inList = 0
			}
			continue
		}
		if k != tokStart {
			continue
		}
		switch string(s.local) {
		case "CABLIST":
			if inList == 0 {
				inList = s.depth()
			}
			if x := trimSpaceBytes(s.attr("XOR")); len(x) > 0 && string(x) != "0" {
				w.add("index.xml", "index.xml: <CABLIST XOR=%q>: only XOR=\"0\" is known; the attribute is ignored", x)
			}
		case "CAB":
			if inList == 0 {
				continue
			}
			name := cleanText(s.attr("NAME"))
			if name == "" {
				w.add("index.xml", "index.xml: <CAB> without NAME ignored")
				continue
			}
			key := memberKey(name)
			if seen[key] {
				w.add("index.xml", "index.xml: cabinet %s listed twice; the second entry is ignored", name)
				continue
			}
			seen[key] = true
			rs := s.attr("RANGESTART")
			if rs == nil {
				if ix.packageKey == "" {
					ix.packageKey, ix.packageMember = key, name
				} else {
					w.add("index.xml", "index.xml: cabinet %s has no RANGESTART and is not the first such (the package cabinet is %s); ignored", name, ix.packageMember)
				}
				continue
			}
			v, ok := parseInt(rs)
			if !ok {
				w.add("index.xml", "index.xml: cabinet %s: RANGESTART=%q is not a number; ignored", name, rs)
				continue
			}
			ix.details = append(ix.details, cabEntry{member: name, key: key, rangeStart: v})
		}
	}
	if ix.packageKey == "" {
		return nil, &xmlSyntaxError{Offset: int64(len(doc)), Msg: "no <CAB> without RANGESTART names the package cabinet (want <CAB NAME=\"package.cab\"/> inside <CABLIST>)"}
	}
	sort.SliceStable(ix.details, func(i, j int) bool { return ix.details[i].rangeStart < ix.details[j].rangeStart })
	// Two cabinets with one RANGESTART: the first listed wins, the other receives nothing.
	out := ix.details[:0]
	for i, d := range ix.details {
		if i > 0 && d.rangeStart == out[len(out)-1].rangeStart {
			w.add("index.xml", "index.xml: cabinets %s and %s share RANGESTART %d; %s is ignored", out[len(out)-1].member, d.member, d.rangeStart, d.member)
			continue
		}
		out = append(out, d)
	}
	ix.details = out
	for i, d := range ix.details {
		ix.byKey[d.key] = i
	}
	return ix, nil
}
