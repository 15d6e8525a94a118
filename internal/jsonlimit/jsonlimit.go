// Package jsonlimit decodes JSON from untrusted peers with limits enforced while reading:
// total bytes, nesting depth, array lengths, string and number lengths, object keys, and no
// duplicate keys. A hostile body is refused after reading at most the bytes that break a
// limit, in time linear in what was read and memory bounded by MaxBytes plus the nesting
// stack, before encoding/json ever builds a Go value from it.
package jsonlimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits bound a JSON document. A zero field takes the package default (Default*); there is
// no "unlimited".
type Limits struct {
	MaxBytes    int64 // whole document, in bytes
	MaxDepth    int   // nested arrays and objects
	MaxArrayLen int   // elements of any one array
	// ArrayLen overrides MaxArrayLen at given paths, written as in error messages with
	// [*] for any array index: {"$.updates": 20000, "$.updates[*].kbs": 50}.
	ArrayLen      map[string]int
	MaxValues     int // values in the whole document (scalars, arrays and objects)
	MaxStringLen  int // bytes of one string (keys included), as written, escapes counted
	MaxNumberLen  int // bytes of one number literal
	MaxObjectKeys int // members of any one object
	// FoldedKeys refuses keys of one object that differ only in case, as encoding/json
	// matches struct fields case-insensitively (the last one would silently win). Keys
	// identical after unescaping are always refused.
	FoldedKeys bool
	// AllowUnknownFields lets Decode ignore members that no struct field takes; by default
	// they are refused.
	AllowUnknownFields bool
}

// Defaults of the zero Limits fields.
const (
	DefaultMaxBytes      = 1 << 20
	DefaultMaxDepth      = 32
	DefaultMaxArrayLen   = 10000
	DefaultMaxValues     = 1 << 20
	DefaultMaxStringLen  = 64 << 10
	DefaultMaxNumberLen  = 64
	DefaultMaxObjectKeys = 1000
)

// MaxErrorLen caps the length of an Error's message.
const MaxErrorLen = 300

// Names of the limits, in Error.Limit.
const (
	LimitBytes     = "bytes"
	LimitDepth     = "depth"
	LimitArray     = "array"
	LimitValues    = "values"
	LimitString    = "string"
	LimitNumber    = "number"
	LimitKeys      = "keys"
	LimitDuplicate = "duplicate"
	LimitSyntax    = "syntax" // not a limit: malformed JSON
	LimitType      = "type"   // not a limit: valid JSON that does not fit the Go value
)

// Error is a refused document: which limit (or LimitSyntax, LimitType), where, and why.
type Error struct {
	Limit  string // one of the Limit* names
	Path   string // JSONPath-like: $.updates[3].title (shortened when long)
	Offset int64  // byte offset in the document where it was refused
	Msg    string // what is wrong, without the path
	Err    error  // the underlying error, if any (read errors, encoding/json)
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s += " at " + e.Path
	}
	return capString(s, MaxErrorLen)
}

func (e *Error) Unwrap() error { return e.Err }

// TooLarge reports whether err is a document over MaxBytes (a 413 rather than a 400).
func TooLarge(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Limit == LimitBytes
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxArrayLen, DefaultMaxArrayLen)
	def(&l.MaxValues, DefaultMaxValues)
	def(&l.MaxStringLen, DefaultMaxStringLen)
	def(&l.MaxNumberLen, DefaultMaxNumberLen)
	def(&l.MaxObjectKeys, DefaultMaxObjectKeys)
	return l
}

// Check validates one JSON document held in data against l: syntax, limits, no duplicate
// keys, nothing but white space after the value.
func Check(data []byte, l Limits) error {
	l = l.withDefaults()
	if int64(len(data)) > l.MaxBytes {
		return &Error{Limit: LimitBytes, Offset: l.MaxBytes, Msg: fmt.Sprintf("document larger than %d bytes", l.MaxBytes)}
	}
	s := &scanner{l: l, data: data}
	return s.document()
}

// Decode reads one JSON document from r, checking it against l while reading (reading
// stops at the first byte that breaks a limit), then decodes it into v (a pointer) with
// encoding/json: unknown fields refused unless l.AllowUnknownFields. Errors are *Error.
func Decode(r io.Reader, v any, l Limits) error {
	data, err := Read(r, l)
	if err != nil {
		return err
	}
	return unmarshal(data, v, l)
}

// Unmarshal is Check then the decoding of Decode, for a body already in memory.
func Unmarshal(data []byte, v any, l Limits) error {
	if err := Check(data, l); err != nil {
		return err
	}
	return unmarshal(data, v, l)
}

// Read reads one JSON document from r, checking it against l while reading, and returns
// its bytes. Nothing after the document's trailing white space may follow. It allocates
// about twice the document's size.
func Read(r io.Reader, l Limits) ([]byte, error) {
	l = l.withDefaults()
	s := &scanner{l: l, r: r, keep: true}
	if err := s.document(); err != nil {
		return nil, err
	}
	return bytes.Join(s.chunks, nil), nil
}

func unmarshal(data []byte, v any, l Limits) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if !l.AllowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		e := &Error{Limit: LimitType, Err: err, Msg: strings.TrimPrefix(err.Error(), "json: ")}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			e.Offset = ute.Offset
			e.Msg = fmt.Sprintf("want %s, got JSON %s", ute.Type, ute.Value)
			if ute.Field != "" {
				e.Path = "$." + ute.Field
			}
		}
		return e
	}
	return nil
}

type frame struct {
	array bool
	n     int               // array: elements started; object: members
	key   string            // object: the current member's key
	keys  map[string]string // object: keys seen (folded when FoldedKeys) -> as written
	limit int               // array: its length limit
}

// The scanner reads from an io.Reader in chunks of growing size, so that small bodies
// cost little.
const (
	firstChunk = 4 << 10
	maxChunk   = 64 << 10
)

type scanner struct {
	l      Limits
	r      io.Reader // nil: data is the whole document
	data   []byte    // bytes not yet scanned are data[pos:]
	pos    int
	keep   bool // keep what r gave in chunks
	chunks [][]byte
	chunk  int   // size of the next read
	read   int64 // bytes read from r
	off    int64 // bytes scanned
	stack  []frame
	vals   int
	tmp    []byte // the current key, as written (escapes included)
	// pending is the byte read just after a number (numbers have no terminator), when
	// hasPending.
	pending    byte
	hasPending bool
}

var errEOF = errors.New("unexpected end of JSON")

func (s *scanner) next() (byte, error) {
	if s.pos >= len(s.data) {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	if s.off >= s.l.MaxBytes {
		return 0, &Error{Limit: LimitBytes, Offset: s.off, Msg: fmt.Sprintf("document larger than %d bytes", s.l.MaxBytes)}
	}
	c := s.data[s.pos]
	s.pos++
	s.off++
	return c, nil
}

// fill reads the next chunk from r (never more than one byte past MaxBytes in all).
func (s *scanner) fill() error {
	if s.r == nil {
		return io.EOF
	}
	for {
		s.chunk = min(max(2*s.chunk, firstChunk), maxChunk)
		want := min(int64(s.chunk), s.l.MaxBytes+1-s.read)
		if want <= 0 {
			return io.EOF // unreachable: next refuses the byte past MaxBytes first
		}
		buf := make([]byte, want)
		n, err := io.ReadAtLeast(s.r, buf, 1)
		if n > 0 {
			s.data, s.pos = buf[:n], 0
			s.read += int64(n)
			if s.keep {
				s.chunks = append(s.chunks, s.data)
			}
			return nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return io.EOF
		}
		if err != nil {
			return s.readErr(err)
		}
	}
}

func (s *scanner) readErr(err error) error {
	return &Error{Limit: LimitSyntax, Offset: s.off, Msg: "could not read the document: " + capString(err.Error(), 120), Err: err}
}

// must reads the next byte; end of input is a syntax error.
func (s *scanner) must() (byte, error) {
	c, err := s.next()
	if errors.Is(err, io.EOF) {
		return 0, s.fail(LimitSyntax, "unexpected end of JSON")
	}
	return c, err
}

func (s *scanner) skipSpace() (byte, error) {
	for {
		// White space in bulk within the current chunk, then one byte through next (which
		// refills and enforces MaxBytes).
		for s.pos < len(s.data) && s.off < s.l.MaxBytes {
			switch s.data[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
				s.off++
				continue
			}
			break
		}
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (s *scanner) document() error {
	c, err := s.skipSpace()
	if errors.Is(err, io.EOF) {
		return s.fail(LimitSyntax, "empty document: send a JSON value")
	}
	if err != nil {
		return err
	}
	if err := s.value(c); err != nil {
		return err
	}
	if s.hasPending {
		return s.fail(LimitSyntax, "data after the JSON value (%s)", quoteByte(s.pending))
	}
	c, err = s.skipSpace()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.fail(LimitSyntax, "data after the JSON value (%s)", quoteByte(c))
}

// value scans one value whose first byte is c, iteratively: arrays and objects push frames.
func (s *scanner) value(c byte) error {
	for {
		// Here c starts a value.
		if err := s.countValue(); err != nil {
			return err
		}
		var err error
		switch c {
		case '{', '[':
			if len(s.stack) >= s.l.MaxDepth {
				return s.fail(LimitDepth, "nested deeper than %d levels", s.l.MaxDepth)
			}
			f := frame{array: c == '['}
			if f.array {
				f.limit = s.arrayLimit()
			}
			s.stack = append(s.stack, f)
			c, err = s.skipSpace()
			if err != nil {
				return s.eof(err)
			}
			if f.array {
				if c == ']' {
					s.stack = s.stack[:len(s.stack)-1]
					break
				}
				if err := s.startElement(); err != nil {
					return err
				}
				continue // c starts the first element
			}
			if c == '}' {
				s.stack = s.stack[:len(s.stack)-1]
				break
			}
			if err := s.member(c); err != nil {
				return err
			}
			c, err = s.skipSpace()
			if err != nil {
				return s.eof(err)
			}
			continue
		case '"':
			if err := s.str(false); err != nil {
				return err
			}
		case 't':
			err = s.literal("rue")
		case 'f':
			err = s.literal("alse")
		case 'n':
			err = s.literal("ull")
		default:
			if c == '-' || c >= '0' && c <= '9' {
				err = s.number(c)
			} else {
				return s.fail(LimitSyntax, "unexpected %s where a value should start", quoteByte(c))
			}
		}
		if err != nil {
			return err
		}
		// A value ended: close containers or move to the next element or member.
		for {
			if len(s.stack) == 0 {
				return nil
			}
			var d byte
			if s.hasPending {
				d, s.hasPending = s.pending, false
			} else if d, err = s.skipSpace(); err != nil {
				return s.eof(err)
			}
			top := &s.stack[len(s.stack)-1]
			if top.array {
				switch d {
				case ',':
					c, err = s.skipSpace()
					if err != nil {
						return s.eof(err)
					}
					if err := s.startElement(); err != nil {
						return err
					}
				case ']':
					s.stack = s.stack[:len(s.stack)-1]
					continue
				default:
					return s.fail(LimitSyntax, "unexpected %s after an array element (want , or ])", quoteByte(d))
				}
			} else {
				switch d {
				case ',':
					c, err = s.skipSpace()
					if err != nil {
						return s.eof(err)
					}
					if err := s.member(c); err != nil {
						return err
					}
					c, err = s.skipSpace()
					if err != nil {
						return s.eof(err)
					}
				case '}':
					top.key = ""
					s.stack = s.stack[:len(s.stack)-1]
					continue
				default:
					return s.fail(LimitSyntax, "unexpected %s after an object member (want , or })", quoteByte(d))
				}
			}
			break // c starts the next value
		}
	}
}

func (s *scanner) eof(err error) error {
	if errors.Is(err, io.EOF) {
		return s.fail(LimitSyntax, "unexpected end of JSON")
	}
	return err
}

func (s *scanner) countValue() error {
	s.vals++
	if s.vals > s.l.MaxValues {
		return s.fail(LimitValues, "more than %d values in the document", s.l.MaxValues)
	}
	return nil
}

// startElement counts an element of the innermost array.
func (s *scanner) startElement() error {
	top := &s.stack[len(s.stack)-1]
	if top.n >= top.limit {
		return &Error{Limit: LimitArray, Path: s.path(true), Offset: s.off, Msg: fmt.Sprintf("array longer than %d elements", top.limit)}
	}
	top.n++
	return nil
}

// member reads `"key":` (c is its first byte) in the innermost object.
func (s *scanner) member(c byte) error {
	top := &s.stack[len(s.stack)-1]
	if c != '"' {
		return s.fail(LimitSyntax, "unexpected %s where an object key should start", quoteByte(c))
	}
	if top.n >= s.l.MaxObjectKeys {
		return s.fail(LimitKeys, "object with more than %d keys", s.l.MaxObjectKeys)
	}
	if err := s.str(true); err != nil {
		return err
	}
	key, err := s.unquote()
	if err != nil {
		return err
	}
	id := key
	if s.l.FoldedKeys {
		id = foldKey(key)
	}
	if top.keys == nil {
		top.keys = make(map[string]string)
	}
	top.n++
	top.key = key
	if first, dup := top.keys[id]; dup {
		if first != key {
			return s.fail(LimitDuplicate, "duplicate key %s (keys differing only in case count as one)", strconv.Quote(capString(key, 40)))
		}
		return s.fail(LimitDuplicate, "duplicate key %s", strconv.Quote(capString(key, 40)))
	}
	top.keys[id] = key
	d, err := s.skipSpace()
	if err != nil {
		return s.eof(err)
	}
	if d != ':' {
		return s.fail(LimitSyntax, "unexpected %s after an object key (want :)", quoteByte(d))
	}
	return nil
}

// str reads a string whose opening quote was read. Keys keep their bytes in s.tmp.
func (s *scanner) str(key bool) error {
	s.tmp = s.tmp[:0]
	n := 0
	for {
		c, err := s.must()
		if err != nil {
			return err
		}
		if c == '"' {
			return nil
		}
		n++
		if n > s.l.MaxStringLen {
			what := "string"
			if key {
				what = "object key"
			}
			return s.fail(LimitString, "%s longer than %d bytes", what, s.l.MaxStringLen)
		}
		if key {
			s.tmp = append(s.tmp, c)
		}
		switch {
		case c < 0x20:
			return s.fail(LimitSyntax, "control character %s in a string (escape it)", quoteByte(c))
		case c == '\\':
			e, err := s.must()
			if err != nil {
				return err
			}
			n++
			if key {
				s.tmp = append(s.tmp, e)
			}
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					h, err := s.must()
					if err != nil {
						return err
					}
					n++
					if key {
						s.tmp = append(s.tmp, h)
					}
					if !isHex(h) {
						return s.fail(LimitSyntax, "bad \\u escape in a string")
					}
				}
			default:
				return s.fail(LimitSyntax, "bad escape \\%c in a string", e)
			}
			if n > s.l.MaxStringLen {
				return s.fail(LimitString, "string longer than %d bytes", s.l.MaxStringLen)
			}
		}
	}
}

// unquote decodes the key in s.tmp as encoding/json does.
func (s *scanner) unquote() (string, error) {
	if bytes.IndexByte(s.tmp, '\\') < 0 && utf8.Valid(s.tmp) {
		return string(s.tmp), nil
	}
	q := make([]byte, 0, len(s.tmp)+2)
	q = append(append(append(q, '"'), s.tmp...), '"')
	var k string
	if err := json.Unmarshal(q, &k); err != nil {
		return "", s.fail(LimitSyntax, "bad object key")
	}
	return k, nil
}

func (s *scanner) literal(rest string) error {
	for i := range len(rest) {
		c, err := s.must()
		if err != nil {
			return err
		}
		if c != rest[i] {
			return s.fail(LimitSyntax, "unexpected %s in a literal (true, false or null)", quoteByte(c))
		}
	}
	return nil
}

// number reads a number whose first byte is c. The byte after it is kept in s.pending
// when it is not white space (numbers have no terminator of their own).
func (s *scanner) number(c byte) error {
	n := 1
	state := 0 // 0 after '-', 1 int digits (leading 0: 2), 3 after '.', 4 frac, 5 after e, 6 after e sign, 7 exp
	switch {
	case c == '-':
		state = 0
	case c == '0':
		state = 2
	default:
		state = 1
	}
	for {
		d, err := s.next()
		end := errors.Is(err, io.EOF)
		if err != nil && !end {
			return err
		}
		if !end {
			next := -1
			switch {
			case d >= '0' && d <= '9':
				switch state {
				case 0:
					next = 1
					if d == '0' {
						next = 2
					}
				case 1, 4, 7:
					next = state
				case 3:
					next = 4
				case 5, 6:
					next = 7
				}
			case d == '.':
				if state == 1 || state == 2 {
					next = 3
				}
			case d == 'e' || d == 'E':
				if state == 1 || state == 2 || state == 4 {
					next = 5
				}
			case d == '+' || d == '-':
				if state == 5 {
					next = 6
				}
			}
			if next >= 0 {
				state = next
				n++
				if n > s.l.MaxNumberLen {
					return s.fail(LimitNumber, "number longer than %d bytes", s.l.MaxNumberLen)
				}
				continue
			}
		}
		if state != 1 && state != 2 && state != 4 && state != 7 {
			if end {
				return s.fail(LimitSyntax, "unexpected end of JSON in a number")
			}
			return s.fail(LimitSyntax, "unexpected %s in a number", quoteByte(d))
		}
		if !end {
			switch d {
			case ' ', '\t', '\n', '\r':
			default:
				s.pending, s.hasPending = d, true
			}
		}
		return nil
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scanner) fail(limit, format string, args ...any) error {
	return &Error{Limit: limit, Path: s.path(false), Offset: s.off, Msg: fmt.Sprintf(format, args...)}
}

// path renders the position in the stack, shortened to about 200 bytes; arrayItself
// leaves out the index in the innermost array.
func (s *scanner) path(arrayItself bool) string {
	const maxPath = 200
	var b strings.Builder
	b.WriteByte('$')
	for i, f := range s.stack {
		if b.Len() > maxPath {
			fmt.Fprintf(&b, "…(%d more levels)", len(s.stack)-i)
			break
		}
		if f.array {
			if f.n > 0 && !(arrayItself && i == len(s.stack)-1) {
				fmt.Fprintf(&b, "[%d]", f.n-1)
			}
			continue
		}
		if f.key == "" {
			continue
		}
		if isIdent(f.key) {
			b.WriteByte('.')
			b.WriteString(capString(f.key, 40))
		} else {
			fmt.Fprintf(&b, "[%s]", strconv.Quote(capString(f.key, 40)))
		}
	}
	return b.String()
}

// arrayLimit is the limit of the array being opened (the top of the stack is its parent).
func (s *scanner) arrayLimit() int {
	if len(s.l.ArrayLen) == 0 {
		return s.l.MaxArrayLen
	}
	var b strings.Builder
	b.WriteByte('$')
	for _, f := range s.stack {
		if f.array {
			b.WriteString("[*]")
		} else if f.key != "" {
			if isIdent(f.key) {
				b.WriteByte('.')
				b.WriteString(f.key)
			} else {
				fmt.Fprintf(&b, "[%s]", strconv.Quote(f.key))
			}
		}
	}
	if n, ok := s.l.ArrayLen[b.String()]; ok && n > 0 {
		return n
	}
	return s.l.MaxArrayLen
}

func isIdent(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// capString shortens s to at most n bytes (on a rune boundary), marking the cut with "…".
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// foldKey maps every rune to the smallest rune of its case-folding orbit, so that keys
// encoding/json would match to the same struct field (it folds "ſ" to "s" and the Kelvin
// sign to "k") compare equal.
func foldKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for _, r := range k {
		f := r
		for g := unicode.SimpleFold(r); g != r; g = unicode.SimpleFold(g) {
			f = min(f, g)
		}
		b.WriteRune(f)
	}
	return b.String()
}
