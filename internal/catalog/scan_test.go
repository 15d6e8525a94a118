package catalog

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// oursTokens renders the scanner's tokens of doc in a comparable form. Text outside
// elements is dropped and adjacent text runs are joined, as stdTokens does.
func oursTokens(doc []byte, r io.Reader, lim XMLLimits) ([]string, error) {
	s := newScanner(r, 16, lim)
	if r == nil {
		s.resetBytes(doc)
	}
	s.wantText = true
	var out []string
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, "T"+text.String())
			text.Reset()
		}
	}
	for {
		k, err := s.next()
		if err != nil {
			return out, err
		}
		switch k {
		case tokEOF:
			flush()
			return out, nil
		case tokText:
			text.Write(s.text)
		case tokStart:
			flush()
			var b strings.Builder
			b.WriteString("S" + string(s.local))
			for _, a := range s.attrs {
				b.WriteString(" " + string(a.local) + "=" + string(a.value))
			}
			out = append(out, b.String())
		case tokEnd:
			flush()
			out = append(out, "E"+string(s.local))
		}
	}
}

// stdTokens renders encoding/xml's view of doc the same way.
func stdTokens(doc []byte) ([]string, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	var text strings.Builder
	depth := 0
	flush := func() {
		if text.Len() > 0 {
			out = append(out, "T"+text.String())
			text.Reset()
		}
	}
	for {
		t, err := d.Token()
		if err == io.EOF {
			flush()
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			flush()
			depth++
			var b strings.Builder
			b.WriteString("S" + t.Name.Local)
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				b.WriteString(" " + a.Name.Local + "=" + a.Value)
			}
			out = append(out, b.String())
		case xml.EndElement:
			flush()
			depth--
			out = append(out, "E"+t.Name.Local)
		case xml.CharData:
			if depth > 0 {
				text.Write(t)
			}
		}
	}
}

// compareWithStd fails when encoding/xml accepts doc and the scanner disagrees.
func compareWithStd(t *testing.T, doc []byte) {
	t.Helper()
	want, err := stdTokens(doc)
	if err != nil {
		return // the scanner may accept more; it must only not panic
	}
	lim := XMLLimits{MaxDepth: 1 << 20, MaxAttrs: 1 << 20, MaxAttrBytes: 1 << 24, MaxTextBytes: 1 << 24, MaxTokenBytes: 1 << 26}
	for _, src := range []struct {
		name string
		r    io.Reader
	}{{"bytes", nil}, {"one-byte reader", iotest.OneByteReader(bytes.NewReader(doc))}, {"half reader", iotest.HalfReader(bytes.NewReader(doc))}} {
		got, err := oursTokens(doc, src.r, lim)
		if err != nil {
			t.Fatalf("%s: encoding/xml accepts %q but the scanner says: %v", src.name, doc, err)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("%s: tokens of %q differ\n std: %q\nours: %q", src.name, doc, want, got)
		}
	}
}

func TestScannerMatchesEncodingXML(t *testing.T) {
	docs := []string{
		`<a/>`,
		`<a b="1" c='2'>text</a>`,
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<a>\r\nx\ry\r\n</a>",
		`<p:a xmlns:p="urn:x" xmlns="urn:y" p:b="v"><p:c/>t</p:a>`,
		`<a>&lt;&gt;&amp;&apos;&quot;&#233;&#xE9;&#x1F600;</a>`,
		`<a x="&lt;&#x41;&#10;"/>`,
		`<a><![CDATA[<not a tag> & ]]></a>`,
		`<!DOCTYPE a [<!ELEMENT a ANY>]><a>1</a>`,
		`<a><!-- c --><b>x</b><!-- d -->y</a><e/><f>z</f>`,
		`<a b = "1"	c="2"
		/>`,
		`<a b="1"c="2"/>`,
		`<Title>Mise à jour de sécurité — 日本語 &amp; “quotes”</Title>`,
		`text<a>1</a>tail`,
		`<a><b><c><d>deep</d></c></b></a>`,
	}
	for _, d := range docs {
		compareWithStd(t, []byte(d))
	}
}

func TestScannerErrors(t *testing.T) {
	tests := []struct {
		desc string
		doc  string
		lim  XMLLimits
		want string
	}{
		{"mismatched end", `<a></b>`, XMLLimits{}, "closed by"},
		{"unclosed", `<a><b>`, XMLLimits{}, "not closed"},
		{"stray end", `</a>`, XMLLimits{}, "without a start tag"},
		{"unknown entity", `<a>&nbsp;</a>`, XMLLimits{}, "unknown or invalid reference"},
		{"bad char ref", `<a>&#0;</a>`, XMLLimits{}, "unknown or invalid reference"},
		{"bare ampersand", `<a>fish & chips</a>`, XMLLimits{}, "does not start a reference"},
		{"unquoted attribute", `<a b=1/>`, XMLLimits{}, "not quoted"},
		{"attribute without value", `<a b/>`, XMLLimits{}, "has no value"},
		{"truncated tag", `<a b="1"`, XMLLimits{}, "unexpected end"},
		{"depth", `<a><a><a><a></a></a></a></a>`, XMLLimits{MaxDepth: 3}, "nested deeper than 3"},
		{"attribute size", `<a b="0123456789"/>`, XMLLimits{MaxAttrBytes: 5}, "longer than 5"},
		{"text size", `<a>0123456789</a>`, XMLLimits{MaxTextBytes: 5}, "longer than 5"},
		{"attribute count", `<a b="1" c="2" d="3"/>`, XMLLimits{MaxAttrs: 2}, "more than 2 attributes"},
		{"token size", `<a>` + strings.Repeat("x", 5000) + `</a>`, XMLLimits{MaxTokenBytes: 1000}, "longer than 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := oursTokens(nil, strings.NewReader(tt.doc), tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			var se *xmlSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not an *xmlSyntaxError (no byte offset)", err)
			}
		})
	}
}

func TestScannerOffsets(t *testing.T) {
	doc := "<a>\n<b>x</b>\n<c y=\"&bogus;\"/></a>"
	_, err := oursTokens(nil, iotest.OneByteReader(strings.NewReader(doc)), XMLLimits{})
	var se *xmlSyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("want a syntax error, got %v", err)
	}
	if want := int64(strings.Index(doc, "&bogus;")); se.Offset != want {
		t.Fatalf("offset %d, want %d (%v)", se.Offset, want, err)
	}
}
