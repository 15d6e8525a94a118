package catalog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// startTagResult is what a start tag leaves in the scanner.
func startTagResult(s *scanner) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s r=%d self=%v depth=%d stack=%q", s.local, s.r, s.selfEnd, len(s.stackEnd), s.stack)
	for _, a := range s.attrs {
		fmt.Fprintf(&b, " %s=%q", a.local, a.value)
	}
	return b.String()
}

// checkFastStart checks that whenever scanStartFast accepts doc (a start tag at the
// beginning of the buffer), scanStartSlow reads the same token from it.
func checkFastStart(t *testing.T, doc []byte, eof bool, lim XMLLimits) bool {
	t.Helper()
	newS := func() *scanner {
		s := newScanner(nil, 0, lim)
		s.resetBytes(doc)
		s.eof = eof
		s.started = true
		return s
	}
	fast := newS()
	if !fast.scanStartFast() {
		return false
	}
	slow := newS()
	k, err := slow.scanStartSlow()
	if err != nil || k != tokStart {
		t.Fatalf("%q (eof %v): the fast path accepts a tag the slow path refuses: %v", doc, eof, err)
	}
	if got, want := startTagResult(fast), startTagResult(slow); got != want {
		t.Fatalf("%q (eof %v):\nfast %s\nslow %s", doc, eof, got, want)
	}
	return true
}

func TestScanStartFastMatchesSlow(t *testing.T) {
	tags := []string{
		`<a>`, `<a/>`, `<a />`, `<a / >`, `<a b="1">`, `<a b='1'/>`, `<a b = "1" c='x"y'>`, `<a b="1"c="2">`,
		`<a b=">">`, `<a b="<">`, `<a b="&amp;">`, "<a b=\"x\ry\">", `<a xmlns="u" b="1">`, `<a xmlns:o="u">`,
		`<o:a b="1">`, `<a o:b="1">`, `<a b="1"`, `<a b="1`, `<a b`, `<a b=1>`, `<a b>`, `<1a>`, `<-a>`, `<a 1b="2">`,
		`<é b="1">`, `<a bé="1">`, `<a b="é">`, `<a/`, `<a b="1"/`, `<a b="1"/ >`, `<a	b="1"
c="2">`, `<a b="1">tail`, `<Update UpdateId="b20c96ab-52fc-48ae-8e08-37c3f5f2b026" RevisionNumber="275" RevisionId="20411528" DeploymentAction="Evaluate" IsSoftware="false" />`,
	}
	lims := []XMLLimits{{}, {MaxAttrs: 1}, {MaxAttrBytes: 2}, {MaxNameBytes: 2}, {MaxDepth: 1}}
	accepted := 0
	for _, tag := range tags {
		for _, lim := range lims {
			for _, eof := range []bool{true, false} {
				if checkFastStart(t, []byte(tag), eof, lim.withDefaults()) {
					accepted++
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("the fast path accepted nothing")
	}
	// Random tags from an alphabet of the bytes that matter.
	alphabet := []string{"a", "b", "x", "1", "-", ".", "_", ":", "=", `"`, "'", " ", "\t", "\n", "\r", "/", ">", "<", "&", "&amp;", "é", "xmlns", "\x00"}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted = 0
	for range 200000 {
		var b bytes.Buffer
		b.WriteByte('<')
		for n := rng.IntN(14); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		if rng.IntN(2) == 0 {
			b.WriteString(`="v">`)
		}
		lim := lims[rng.IntN(len(lims))].withDefaults()
		if checkFastStart(t, b.Bytes(), rng.IntN(2) == 0, lim) {
			accepted++
		}
	}
	if accepted < 1000 {
		t.Fatalf("the fast path accepted only %d random tags", accepted)
	}
}

// decodeRef is the scanner's former decode, kept as a reference for the current one.
func decodeRef(s *scanner, dst, raw []byte, at int, limit int, attr []byte) ([]byte, error) {
	start := len(dst)
	what := func() string {
		if attr == nil {
			return "character data"
		}
		return "attribute " + string(attr)
	}
	for len(raw) > 0 {
		j := bytes.IndexAny(raw, "&\r")
		if j < 0 {
			dst = append(dst, raw...)
			break
		}
		dst = append(dst, raw[:j]...)
		if raw[j] == '\r' {
			dst = append(dst, '\n')
			raw = raw[j+1:]
			at += j + 1
			if len(raw) > 0 && raw[0] == '\n' {
				raw = raw[1:]
				at++
			}
			continue
		}
		raw = raw[j:]
		at += j
		end := bytes.IndexByte(raw, ';')
		if end < 0 || end > 16 {
			return dst, s.syntaxErr(at, "%s: '&' does not start a reference (write &amp;)", what())
		}
		ref := raw[1:end]
		switch string(ref) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "apos":
			dst = append(dst, '\'')
		case "quot":
			dst = append(dst, '"')
		default:
			r, ok := charRef(ref)
			if !ok {
				return dst, s.syntaxErr(at, "%s: unknown or invalid reference &%s;", what(), ref)
			}
			dst = utf8.AppendRune(dst, r)
		}
		raw = raw[end+1:]
		at += end + 1
		if len(dst) > limit {
			break
		}
	}
	if len(dst) > limit {
		return dst, s.syntaxErr(at, "%s longer than %d bytes", what(), limit-start)
	}
	return dst, nil
}

func TestDecodeMatchesReference(t *testing.T) {
	pieces := []string{"a", "bc", " ", "\r", "\n", "\r\n", "&", ";", "&amp;", "&lt;", "&#13;", "&#x41;", "&bogus;", "&#0;", "é", "&quot;&apos;&gt;", "&amp", "#x", "0123456789abcdef"}
	rng := rand.New(rand.NewPCG(3, 4))
	s := newScanner(nil, 0, XMLLimits{})
	for i := range 100000 {
		var b bytes.Buffer
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		raw := b.Bytes()
		limit := 1 << 20
		if i%3 == 0 {
			limit = rng.IntN(20)
		}
		var attr []byte
		if i%2 == 0 {
			attr = []byte("v")
		}
		got, gerr := s.decode([]byte("p"), raw, 7, limit, attr)
		want, werr := decodeRef(s, []byte("p"), raw, 7, limit, attr)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gerr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decode(%q, limit %d): %q, %v; want %q, %v", raw, limit, got, gerr, want, werr)
		}
	}
}

func TestPlainValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte("ab<&\r\n=\"' \x00\xff;")
	for range 100000 {
		v := make([]byte, rng.IntN(40))
		for i := range v {
			v[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(4) > 0 {
				v[i] = 'a' + byte(rng.IntN(26))
			}
		}
		want := bytes.IndexByte(v, '<') < 0 && bytes.IndexByte(v, '&') < 0 && bytes.IndexByte(v, '\r') < 0
		if got := plainValue(v); got != want {
			t.Fatalf("plainValue(%q) = %v", v, got)
		}
	}
}
