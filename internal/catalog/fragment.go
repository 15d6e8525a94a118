package catalog

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/wu"
)

// xProps is what an x/<RevisionId> fragment (extended properties) says.
type xProps struct {
	severity   wu.Severity
	kbs        []string
	bulletins  []string
	supportURL string
	files      []fileInfo
}

// fileInfo is one <File> of a leaf's x/ fragment.
type fileInfo struct {
	sha1   sha1Key
	name   string
	size   int64
	sha256 [32]byte
	has256 bool
}

// lProps is what an l/<lang>/<RevisionId> fragment (localized properties) says.
type lProps struct {
	title, description string
}

// toUTF8 converts a UTF-16 document (with a byte order mark, or starting with '<' and a
// zero byte) to UTF-8; any other document is returned as it is.
func toUTF8(doc []byte) []byte {
	var be bool
	switch {
	case len(doc) >= 2 && doc[0] == 0xFF && doc[1] == 0xFE:
		doc = doc[2:]
	case len(doc) >= 2 && doc[0] == 0xFE && doc[1] == 0xFF:
		doc, be = doc[2:], true
	case len(doc) >= 2 && doc[0] == '<' && doc[1] == 0:
	case len(doc) >= 2 && doc[0] == 0 && doc[1] == '<':
		be = true
	default:
		return doc
	}
	u := make([]uint16, len(doc)/2)
	for i := range u {
		if be {
			u[i] = uint16(doc[2*i])<<8 | uint16(doc[2*i+1])
		} else {
			u[i] = uint16(doc[2*i+1])<<8 | uint16(doc[2*i])
		}
	}
	out := make([]byte, 0, len(doc))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

// cleanText turns decoded character data into a display string: valid UTF-8, outer
// white space trimmed.
func cleanText(b []byte) string {
	b = bytes.TrimSpace(b)
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

// Element codes of x/ fragments.
const (
	xxOther = iota
	xxExtended
	xxKB
	xxBulletin
	xxSupportURL
	xxFiles
	xxFile
	xxAdditionalDigest
)

func xElement(local []byte) int {
	switch string(local) {
	case "ExtendedProperties":
		return xxExtended
	case "KBArticleID":
		return xxKB
	case "SecurityBulletinID":
		return xxBulletin
	case "SupportUrl", "SupportURL":
		return xxSupportURL
	case "Files":
		return xxFiles
	case "File":
		return xxFile
	case "AdditionalDigest":
		return xxAdditionalDigest
	}
	return xxOther
}

// parseX reads an x/ fragment. Unknown elements and attributes are ignored; the
// fragment may have several top-level elements. w receives tolerated defects.
func parseX(s *scanner, doc []byte, rev int64, w *warnings) (*xProps, error) {
	s.resetBytes(toUTF8(doc))
	s.wantText = true
	x := &xProps{}
	stack := s.fragStack[:0]
	text := s.fragText[:0] // character data of the innermost text element
	digestAlg := s.fragAlg[:0]
	defer func() { s.fragStack, s.fragText, s.fragAlg = stack, text, digestAlg }()
	var curFile *fileInfo
	for {
		k, err := s.next()
		if err != nil {
			return nil, err
		}
		switch k {
		case tokEOF:
			return x, nil
		case tokText:
			if len(stack) > 0 {
				switch stack[len(stack)-1] {
				case xxKB, xxBulletin, xxSupportURL, xxAdditionalDigest:
					text = append(text, s.text...)
				}
			}
		case tokStart:
			code := xElement(s.local)
			parent := xxOther
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, code)
			text = text[:0]
			switch {
			case code == xxExtended:
				if v := trimSpaceBytes(s.attr("MsrcSeverity")); len(v) > 0 {
					sev, err := wu.ParseSeverity(string(v))
					if err != nil {
						w.add("unknown severity", "revision %d: MsrcSeverity %q is not Critical, Important, Moderate or Low", rev, v)
					}
					x.severity = sev
				}
			case code == xxFile && parent == xxFiles:
				f := fileInfo{}
				alg := trimSpaceBytes(s.attr("DigestAlgorithm"))
				if len(alg) > 0 && !strings.EqualFold(string(alg), "SHA1") {
					w.add("invalid file digest", "revision %d: <File DigestAlgorithm=%q> is not SHA1", rev, alg)
				} else if !decodeDigest(s.attr("Digest"), f.sha1[:]) {
					w.add("invalid file digest", "revision %d: <File Digest=%q> is not a base64 SHA-1", rev, s.attr("Digest"))
				} else {
					f.name = cleanText(s.attr("FileName"))
					if n, ok := parseInt(s.attr("Size")); ok {
						f.size = n
					} else if v := s.attr("Size"); v != nil {
						w.add("invalid file size", "revision %d: <File Size=%q> is not a number", rev, v)
					}
					x.files = append(x.files, f)
					curFile = &x.files[len(x.files)-1]
				}
			case code == xxAdditionalDigest && parent == xxFile:
				digestAlg = append(digestAlg[:0], trimSpaceBytes(s.attr("Algorithm"))...)
			}
		case tokEnd:
			code := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch code {
			case xxKB:
				if kb := kbDigits(text); kb != "" && !containsString(x.kbs, kb) {
					x.kbs = append(x.kbs, kb)
				}
			case xxBulletin:
				if b := cleanText(text); b != "" && !containsString(x.bulletins, b) {
					x.bulletins = append(x.bulletins, b)
				}
			case xxSupportURL:
				if u := cleanText(text); u != "" {
					x.supportURL = u
				}
			case xxAdditionalDigest:
				if curFile != nil && strings.EqualFold(string(digestAlg), "SHA256") {
					if decodeDigest(text, curFile.sha256[:]) {
						curFile.has256 = true
					} else {
						w.add("invalid file digest", "revision %d: SHA256 <AdditionalDigest> %q is not base64 of 32 bytes", rev, text)
					}
				}
			case xxFile:
				curFile = nil
			}
			text = text[:0]
		}
	}
}

// kbDigits keeps the digits of a KB article id ("KB5034441" and "5034441" alike).
func kbDigits(b []byte) string {
	var out []byte
	for _, c := range b {
		if '0' <= c && c <= '9' {
			out = append(out, c)
		}
	}
	if len(out) > 12 {
		return ""
	}
	return string(out)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseL reads an l/<lang>/ fragment: <Title> and <Description>, wherever they sit.
func parseL(s *scanner, doc []byte) (lProps, error) { return parseLDesc(s, doc, true) }

// parseLDesc is parseL; without wantDesc, the description is checked but not kept.
func parseLDesc(s *scanner, doc []byte, wantDesc bool) (lProps, error) {
	s.resetBytes(toUTF8(doc))
	s.wantText = true
	var l lProps
	stack := s.fragText[:0] // 't' title, 'd' description, 0 other
	text := s.fragAlg[:0]
	defer func() { s.fragText, s.fragAlg = stack, text }()
	for {
		k, err := s.next()
		if err != nil {
			return lProps{}, err
		}
		switch k {
		case tokEOF:
			return l, nil
		case tokText:
			if n := len(stack); n > 0 && stack[n-1] != 0 {
				text = append(text, s.text...)
			}
		case tokStart:
			var c byte
			switch string(s.local) {
			case "Title":
				c = 't'
			case "Description":
				if wantDesc {
					c = 'd'
				}
			}
			stack = append(stack, c)
			text = text[:0]
		case tokEnd:
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch c {
			case 't':
				if l.title == "" {
					l.title = cleanText(text)
				}
			case 'd':
				if l.description == "" {
					l.description = cleanText(text)
				}
			}
			text = text[:0]
		}
	}
}
