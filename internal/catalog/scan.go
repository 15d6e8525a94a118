package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The catalog's XML is read by a small hand-rolled tokenizer instead of encoding/xml:
// package.xml alone is about 110 MB and the detail cabinets hold hundreds of thousands
// of fragments, and encoding/xml allocates for every token. The scanner yields start
// tags (local name and attributes), end tags and character data as byte slices into
// its buffer, valid until the next call. It ignores namespaces (callers compare local
// names), skips comments, processing instructions and DOCTYPE declarations, decodes
// the five predefined entities and character references, normalises CR LF to LF as
// XML requires, checks that end tags match start tags, and enforces Limits. Tests
// compare it with encoding/xml on every input encoding/xml accepts.

// XMLLimits bounds what one XML document may ask of the reader.
type XMLLimits struct {
	MaxDepth     int // element nesting; 0 = 256
	MaxAttrs     int // attributes on one element; 0 = 256
	MaxAttrBytes int // one attribute value, decoded; 0 = 64 KiB
	MaxTextBytes int // one run of character data, decoded; 0 = 1 MiB
	MaxNameBytes int // one element or attribute name; 0 = 1 KiB
	// MaxTokenBytes bounds the raw bytes of one tag, text run, comment or
	// declaration, and so the reader's buffer; 0 = 4 MiB.
	MaxTokenBytes int
}

func (l XMLLimits) withDefaults() XMLLimits {
	l.MaxDepth = positiveOr(l.MaxDepth, 256)
	l.MaxAttrs = positiveOr(l.MaxAttrs, 256)
	l.MaxAttrBytes = positiveOr(l.MaxAttrBytes, 64<<10)
	l.MaxTextBytes = positiveOr(l.MaxTextBytes, 1<<20)
	l.MaxNameBytes = positiveOr(l.MaxNameBytes, 1<<10)
	l.MaxTokenBytes = positiveOr(l.MaxTokenBytes, 4<<20)
	return l
}

type tokKind uint8

const (
	tokNone tokKind = iota
	tokStart
	tokEnd
	tokText
	tokEOF
)

type xmlAttr struct {
	local []byte
	value []byte
}

// errNeedMore is internal: the token under the cursor runs past the buffered bytes.
var errNeedMore = errors.New("need more input")

// xmlSyntaxError is a malformed-document error at a byte offset of the document.
type xmlSyntaxError struct {
	Offset int64
	Msg    string
}

func (e *xmlSyntaxError) Error() string {
	return fmt.Sprintf("byte offset %d: malformed XML: %s", e.Offset, e.Msg)
}

type scanner struct {
	src  io.Reader // nil when the whole document is in buf
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	base int64 // document offset of buf[0]
	eof  bool
	err  error // sticky
	lim  XMLLimits

	maxBuf   int  // the buffer never grows past this
	wantText bool // when false, character data is checked for size and skipped

	// The current token.
	kind     tokKind
	local    []byte
	attrs    []xmlAttr
	text     []byte
	selfEnd  bool  // a start tag written <a/>: the next token is its end
	tokStart int64 // document offset of the current token

	stack    []byte // qualified names of the open elements, concatenated
	stackEnd []int  // end of each open element's name in stack
	scratch  []byte // decoded attribute values and text
	started  bool   // BOM check done

	// Scratch space of the fragment parsers, kept from one fragment to the next.
	fragStack []int
	fragText  []byte
	fragAlg   []byte
}

// newScanner reads a document from src through a buffer of bufSize bytes (grown as
// needed up to the limits).
func newScanner(src io.Reader, bufSize int, lim XMLLimits) *scanner {
	lim = lim.withDefaults()
	s := &scanner{src: src, buf: make([]byte, bufSize), lim: lim}
	s.maxBuf = lim.MaxTokenBytes + 16
	if s.maxBuf < bufSize {
		s.maxBuf = bufSize
	}
	return s
}

// resetBytes makes s read the complete document doc, keeping its allocations.
func (s *scanner) resetBytes(doc []byte) {
	s.src = nil
	s.buf = doc
	s.r, s.w = 0, len(doc)
	s.base = 0
	s.eof = true
	s.err = nil
	s.kind = tokNone
	s.selfEnd = false
	s.stack = s.stack[:0]
	s.stackEnd = s.stackEnd[:0]
	s.started = false
}

func (s *scanner) depth() int { return len(s.stackEnd) }

// offset returns the document offset of the current token.
func (s *scanner) offset() int64 { return s.tokStart }

func (s *scanner) syntaxErr(at int, format string, args ...any) error {
	return &xmlSyntaxError{Offset: s.base + int64(at), Msg: fmt.Sprintf(format, args...)}
}

// fill reads more input, keeping buf[s.r:]. It reads until the buffer is full or the
// source ends, so a token that spans many reads is rescanned only a logarithmic
// number of times.
func (s *scanner) fill() error {
	if s.eof {
		return io.EOF
	}
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.base += int64(s.r)
		s.w = n
		s.r = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= s.maxBuf {
			return s.syntaxErr(0, "a tag, text run or comment is longer than %d bytes", s.lim.MaxTokenBytes)
		}
		n := 2 * len(s.buf)
		if n > s.maxBuf {
			n = s.maxBuf
		}
		nb := make([]byte, n)
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	for empty := 0; s.w < len(s.buf); {
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err == io.EOF {
			s.eof = true
			break
		}
		if err != nil {
			return err
		}
		if n == 0 {
			if empty++; empty > 100 {
				return io.ErrNoProgress
			}
		}
	}
	// A read that hit the end with no bytes still changed s.eof: the caller scans again.
	return nil
}

// next advances to the next token. At the end of the document it returns tokEOF;
// an error is sticky.
func (s *scanner) next() (tokKind, error) {
	if s.err != nil {
		return tokNone, s.err
	}
	if s.selfEnd {
		s.selfEnd = false
		s.kind = tokEnd
		s.popName()
		return tokEnd, nil
	}
	for {
		k, err := s.scan()
		if err == errNeedMore {
			if ferr := s.fill(); ferr != nil {
				if ferr == io.EOF {
					s.err = s.syntaxErr(s.r, "unexpected end of document inside a tag, comment or reference")
				} else {
					s.err = fmt.Errorf("byte offset %d: %w", s.base+int64(s.w), ferr)
				}
				return tokNone, s.err
			}
			continue
		}
		if err != nil {
			s.err = err
			return tokNone, err
		}
		if k == tokNone {
			continue // skipped a comment, PI, DOCTYPE or unwanted text
		}
		s.kind = k
		return k, nil
	}
}

// scan reads one construct starting at s.r. It returns errNeedMore without consuming
// anything when the construct is incomplete in the buffer.
func (s *scanner) scan() (tokKind, error) {
	if !s.started {
		if s.w-s.r < 3 && !s.eof {
			return tokNone, errNeedMore
		}
		s.started = true
		if bytes.HasPrefix(s.buf[s.r:s.w], []byte("\xef\xbb\xbf")) {
			s.r += 3
		}
	}
	if s.r >= s.w {
		if !s.eof {
			return tokNone, errNeedMore
		}
		if len(s.stackEnd) > 0 {
			return tokNone, s.syntaxErr(s.r, "unexpected end of document: element <%s> is not closed", s.topName())
		}
		return tokEOF, nil
	}
	s.tokStart = s.base + int64(s.r)
	b := s.buf[s.r:s.w]
	if b[0] != '<' {
		return s.scanText()
	}
	if len(b) < 2 {
		return tokNone, s.needMore()
	}
	switch b[1] {
	case '/':
		return s.scanEnd()
	case '?':
		i := bytes.Index(b[2:], []byte("?>"))
		if i < 0 {
			return tokNone, s.needMore()
		}
		s.r += 2 + i + 2
		return tokNone, nil
	case '!':
		return s.scanBang()
	}
	return s.scanStart()
}

// needMore reports errNeedMore, or a syntax error when the document has ended.
func (s *scanner) needMore() error {
	if s.eof {
		return s.syntaxErr(s.r, "unexpected end of document")
	}
	return errNeedMore
}

func (s *scanner) scanBang() (tokKind, error) {
	b := s.buf[s.r:s.w]
	switch {
	case bytes.HasPrefix(b, []byte("<!--")):
		i := bytes.Index(b[4:], []byte("-->"))
		if i < 0 {
			return tokNone, s.needMore()
		}
		s.r += 4 + i + 3
		return tokNone, nil
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		i := bytes.Index(b[9:], []byte("]]>"))
		if i < 0 {
			return tokNone, s.needMore()
		}
		raw := b[9 : 9+i]
		if len(raw) > s.lim.MaxTextBytes {
			return tokNone, s.syntaxErr(s.r, "CDATA section longer than %d bytes", s.lim.MaxTextBytes)
		}
		s.r += 9 + i + 3
		if len(s.stackEnd) == 0 || !s.wantText {
			return tokNone, nil
		}
		s.scratch = appendNormalisedNewlines(s.scratch[:0], raw)
		s.text = s.scratch
		return tokText, nil
	case len(b) < 9 && !s.eof && bytes.HasPrefix([]byte("<![CDATA["), b):
		return tokNone, errNeedMore
	case len(b) < 4 && !s.eof:
		return tokNone, errNeedMore
	}
	// <!DOCTYPE ...> or another declaration: skip it, brackets and quotes included.
	depth := 0
	var quote byte
	for i := 2; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == '>' && depth <= 0:
			s.r += i + 1
			return tokNone, nil
		}
	}
	return tokNone, s.needMore()
}

func appendNormalisedNewlines(dst, src []byte) []byte {
	for {
		i := bytes.IndexByte(src, '\r')
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, '\n')
		src = src[i+1:]
		if len(src) > 0 && src[0] == '\n' {
			src = src[1:]
		}
	}
}

func (s *scanner) scanText() (tokKind, error) {
	b := s.buf[s.r:s.w]
	i := bytes.IndexByte(b, '<')
	if i < 0 {
		if !s.eof {
			return tokNone, errNeedMore
		}
		i = len(b)
	}
	raw := b[:i]
	if !s.wantText || len(s.stackEnd) == 0 {
		// Outside the root or unwanted: check only the size and that it is well formed
		// enough to skip (entities are not decoded).
		s.r += i
		return tokNone, nil
	}
	out, err := s.decode(s.scratch[:0], raw, s.r, s.lim.MaxTextBytes, nil)
	if err != nil {
		return tokNone, err
	}
	s.scratch = out
	s.text = out
	s.r += i
	return tokText, nil
}

// decode appends raw with references decoded and newlines normalised.
// limit bounds len(dst) at the end; attr names the attribute being decoded (nil for
// character data) in errors.
func (s *scanner) decode(dst, raw []byte, at int, limit int, attr []byte) ([]byte, error) {
	start := len(dst)
	what := func() string {
		if attr == nil {
			return "character data"
		}
		return "attribute " + string(attr)
	}
	// Where the next '&' and '\r' are in raw, -1 for none, -2 for not known.
	amp, cr := -2, -2
	for len(raw) > 0 {
		if amp == -2 {
			amp = bytes.IndexByte(raw, '&')
		}
		if cr == -2 {
			cr = bytes.IndexByte(raw, '\r')
		}
		j := amp
		if j < 0 || cr >= 0 && cr < j {
			j = cr
		}
		if j < 0 {
			dst = append(dst, raw...)
			break
		}
		dst = append(dst, raw[:j]...)
		if raw[j] == '\r' {
			dst = append(dst, '\n')
			skip := j + 1
			if skip < len(raw) && raw[skip] == '\n' {
				skip++
			}
			raw = raw[skip:]
			at += skip
			cr = -2
			if amp >= 0 {
				amp -= skip
			}
			continue
		}
		raw = raw[j:]
		at += j
		if cr >= 0 {
			cr -= j
		}
		amp = -2
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
		if cr >= 0 { // a '\r' cannot be part of a valid reference
			if cr -= end + 1; cr < 0 {
				cr = -2
			}
		}
		if len(dst) > limit {
			break
		}
	}
	if len(dst) > limit {
		return dst, s.syntaxErr(at, "%s longer than %d bytes", what(), limit-start)
	}
	return dst, nil
}

// charRef decodes the body of &#NNN; or &#xHHH;, refusing characters XML forbids.
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	var n rune
	for _, c := range digits {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		n = n*rune(base) + d
	}
	if !isXMLChar(n) {
		return 0, false
	}
	return n, true
}

// isXMLChar reports whether r is allowed in an XML document (XML 1.0 Char production).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// readName returns the length of the name at b[0:], or 0 when there is none.
func readName(b []byte) int {
	i := 0
	for i < len(b) && isNameByte(b[i]) {
		i++
	}
	return i
}

// localName strips a namespace prefix the way encoding/xml does.
func localName(q []byte) (prefix, local []byte) {
	i := bytes.IndexByte(q, ':')
	if i <= 0 || i == len(q)-1 {
		return nil, q
	}
	return q[:i], q[i+1:]
}

func (s *scanner) checkName(q []byte, at int) error {
	if len(q) > s.lim.MaxNameBytes {
		return s.syntaxErr(at, "name longer than %d bytes", s.lim.MaxNameBytes)
	}
	if bytes.Count(q, []byte(":")) > 1 {
		return s.syntaxErr(at, "name %q has more than one colon", q)
	}
	if c := q[0]; c == '-' || c == '.' || '0' <= c && c <= '9' {
		return s.syntaxErr(at, "invalid name %q", q)
	}
	if !utf8.Valid(q) {
		return s.syntaxErr(at, "name is not valid UTF-8")
	}
	return nil
}

// simpleName marks the bytes of the names scanStartFast handles: ASCII letters,
// digits, '_', '.', '-' and ':' (nothing to validate as UTF-8).
var simpleName = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':'
	}
	return t
}()

// scanSimpleName returns the length of the simple name at b[0:], 0 when there is
// none or it is not one scanStartFast handles: it must also pass checkName (at most
// one colon, a valid first byte, the length limit).
func (s *scanner) scanSimpleName(b []byte) int {
	n := 0
	for n < len(b) && simpleName[b[n]] {
		n++
	}
	if n == 0 || n > s.lim.MaxNameBytes {
		return 0
	}
	if c := b[0]; c == '-' || c == '.' || '0' <= c && c <= '9' {
		return 0
	}
	if i := bytes.IndexByte(b[:n], ':'); i >= 0 && bytes.IndexByte(b[i+1:n], ':') >= 0 {
		return 0
	}
	return n
}

// plainValue reports whether an attribute value can be used as it is: no '<' (an
// error), '&' (a reference) or '\r' (a newline to normalise). It looks at eight
// bytes at a time.
func plainValue(v []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasByte := func(x, c uint64) bool {
		x ^= c * ones
		return (x-ones)&^x&highs != 0
	}
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		if hasByte(x, '<') || hasByte(x, '&') || hasByte(x, '\r') {
			return false
		}
		v = v[8:]
	}
	for _, c := range v {
		if c == '<' || c == '&' || c == '\r' {
			return false
		}
	}
	return true
}

// scanStartFast reads the common start tag, whole in the buffer: simple names,
// quoted values without references, carriage returns or '<', within the limits. It
// returns false, having changed nothing that scanStartSlow does not set again, for
// anything else, which scanStartSlow then reads or reports. On the tags it accepts,
// both give the same token.
func (s *scanner) scanStartFast() bool {
	b := s.buf[s.r:s.w]
	if len(s.stackEnd) >= s.lim.MaxDepth {
		return false
	}
	n := s.scanSimpleName(b[1:])
	if n == 0 {
		return false
	}
	attrs := s.attrs[:0]
	count := 0 // attributes, xmlns ones included
	i := 1 + n
	var end int
	selfClose := false
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return false
		}
		if c := b[i]; c == '>' {
			end = i
			break
		} else if c == '/' {
			if i+1 < len(b) && b[i+1] == '>' {
				end, selfClose = i+1, true
				break
			}
			return false
		}
		an := s.scanSimpleName(b[i:])
		if an == 0 {
			return false
		}
		name := b[i : i+an]
		k := i + an
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k >= len(b) || b[k] != '=' {
			return false
		}
		k++
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k >= len(b) || b[k] != '"' && b[k] != '\'' {
			return false
		}
		q := b[k]
		vEnd := bytes.IndexByte(b[k+1:], q)
		if vEnd < 0 || vEnd > s.lim.MaxAttrBytes {
			return false
		}
		v := b[k+1 : k+1+vEnd]
		if !plainValue(v) {
			return false
		}
		if count >= s.lim.MaxAttrs {
			return false
		}
		count++
		if prefix, local := localName(name); string(prefix) != "xmlns" && (prefix != nil || string(local) != "xmlns") {
			attrs = append(attrs, xmlAttr{local: local, value: v})
		}
		i = k + 1 + vEnd + 1
	}
	qname := b[1 : 1+n]
	_, s.local = localName(qname)
	s.attrs = attrs
	s.scratch = s.scratch[:0]
	s.stack = append(s.stack, qname...)
	s.stackEnd = append(s.stackEnd, len(s.stack))
	s.r += end + 1
	s.selfEnd = selfClose
	return true
}

func (s *scanner) scanStart() (tokKind, error) {
	if s.scanStartFast() {
		return tokStart, nil
	}
	return s.scanStartSlow()
}

// scanStartSlow reads any start tag, or reports why it cannot.
func (s *scanner) scanStartSlow() (tokKind, error) {
	b := s.buf[s.r:s.w]
	// Find the end of the tag, honouring quotes.
	end := -1
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		if c == '"' || c == '\'' {
			quote = c
		} else if c == '>' {
			end = i
			break
		} else if c == '<' {
			return tokNone, s.syntaxErr(s.r+i, "'<' inside a tag")
		}
	}
	if end < 0 {
		return tokNone, s.needMore()
	}
	tag := b[:end]
	n := readName(tag[1:])
	if n == 0 {
		return tokNone, s.syntaxErr(s.r, "'<' not followed by a name")
	}
	qname := tag[1 : 1+n]
	if err := s.checkName(qname, s.r+1); err != nil {
		return tokNone, err
	}
	if len(s.stackEnd) >= s.lim.MaxDepth {
		return tokNone, s.syntaxErr(s.r, "elements nested deeper than %d", s.lim.MaxDepth)
	}
	_, s.local = localName(qname)
	s.attrs = s.attrs[:0]
	s.scratch = s.scratch[:0]
	// Attribute values are decoded into scratch; record offsets first because scratch
	// may move while growing.
	// A value without references or carriage returns is used in place (inScratch
	// false, offsets into tag); the others are decoded into scratch.
	type span struct {
		nameStart, nameEnd, valStart, valEnd int
		inScratch                            bool
	}
	var spansArr [16]span
	spans := spansArr[:0]
	i := 1 + n
	selfClose := false
	for {
		j := i
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j == len(tag) {
			break
		}
		if tag[j] == '/' {
			if j != len(tag)-1 {
				return tokNone, s.syntaxErr(s.r+j, "'/' inside a start tag")
			}
			selfClose = true
			break
		}
		an := readName(tag[j:])
		if an == 0 {
			return tokNone, s.syntaxErr(s.r+j, "invalid character %q in a start tag", tag[j])
		}
		aq := tag[j : j+an]
		if err := s.checkName(aq, s.r+j); err != nil {
			return tokNone, err
		}
		k := j + an
		for k < len(tag) && isSpace(tag[k]) {
			k++
		}
		if k == len(tag) || tag[k] != '=' {
			return tokNone, s.syntaxErr(s.r+j, "attribute %s has no value", aq)
		}
		k++
		for k < len(tag) && isSpace(tag[k]) {
			k++
		}
		if k == len(tag) || (tag[k] != '"' && tag[k] != '\'') {
			return tokNone, s.syntaxErr(s.r+k, "value of attribute %s is not quoted", aq)
		}
		q := tag[k]
		vEnd := bytes.IndexByte(tag[k+1:], q)
		if vEnd < 0 {
			return tokNone, s.syntaxErr(s.r+k, "unterminated value of attribute %s", aq)
		}
		raw := tag[k+1 : k+1+vEnd]
		if bytes.IndexByte(raw, '<') >= 0 {
			return tokNone, s.syntaxErr(s.r+k, "'<' in the value of attribute %s", aq)
		}
		if len(spans) >= s.lim.MaxAttrs {
			return tokNone, s.syntaxErr(s.r+j, "more than %d attributes", s.lim.MaxAttrs)
		}
		if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 {
			if len(raw) > s.lim.MaxAttrBytes {
				return tokNone, s.syntaxErr(s.r+k, "attribute %s longer than %d bytes", aq, s.lim.MaxAttrBytes)
			}
			spans = append(spans, span{j, j + an, k + 1, k + 1 + vEnd, false})
		} else {
			vs := len(s.scratch)
			out, err := s.decode(s.scratch, raw, s.r+k+1, vs+s.lim.MaxAttrBytes, aq)
			if err != nil {
				return tokNone, err
			}
			s.scratch = out
			spans = append(spans, span{j, j + an, vs, len(s.scratch), true})
		}
		i = k + 1 + vEnd + 1
	}
	for _, sp := range spans {
		prefix, local := localName(tag[sp.nameStart:sp.nameEnd])
		if string(prefix) == "xmlns" || prefix == nil && string(local) == "xmlns" {
			continue
		}
		v := tag[sp.valStart:sp.valEnd]
		if sp.inScratch {
			v = s.scratch[sp.valStart:sp.valEnd]
		}
		s.attrs = append(s.attrs, xmlAttr{local: local, value: v})
	}
	// Push the qualified name; the token's slices stay valid: stack is separate.
	s.stack = append(s.stack, qname...)
	s.stackEnd = append(s.stackEnd, len(s.stack))
	s.r += end + 1
	s.selfEnd = selfClose
	return tokStart, nil
}

func (s *scanner) topName() []byte {
	n := len(s.stackEnd)
	start := 0
	if n > 1 {
		start = s.stackEnd[n-2]
	}
	return s.stack[start:s.stackEnd[n-1]]
}

func (s *scanner) popName() {
	n := len(s.stackEnd)
	start := 0
	if n > 1 {
		start = s.stackEnd[n-2]
	}
	s.stack = s.stack[:start]
	s.stackEnd = s.stackEnd[:n-1]
}

func (s *scanner) scanEnd() (tokKind, error) {
	b := s.buf[s.r:s.w]
	i := bytes.IndexByte(b, '>')
	if i < 0 {
		return tokNone, s.needMore()
	}
	n := readName(b[2:i])
	if n == 0 {
		return tokNone, s.syntaxErr(s.r, "'</' not followed by a name")
	}
	qname := b[2 : 2+n]
	for _, c := range b[2+n : i] {
		if !isSpace(c) {
			return tokNone, s.syntaxErr(s.r, "invalid characters in end tag </%s>", qname)
		}
	}
	if len(s.stackEnd) == 0 {
		return tokNone, s.syntaxErr(s.r, "end tag </%s> without a start tag", qname)
	}
	if top := s.topName(); !bytes.Equal(top, qname) {
		return tokNone, s.syntaxErr(s.r, "element <%s> closed by </%s>", top, qname)
	}
	_, s.local = localName(qname)
	s.popName()
	s.r += i + 1
	return tokEnd, nil
}

// attr returns the value of the attribute with the given local name, or nil.
func (s *scanner) attr(local string) []byte {
	for i := range s.attrs {
		if string(s.attrs[i].local) == local {
			return s.attrs[i].value
		}
	}
	return nil
}

// skipElement skips the rest of the element whose start tag is the current token.
func (s *scanner) skipElement() error {
	d := s.depth() - 1
	for s.depth() > d {
		k, err := s.next()
		if err != nil {
			return err
		}
		if k == tokEOF {
			return s.syntaxErr(s.r, "unexpected end of document")
		}
	}
	return nil
}
