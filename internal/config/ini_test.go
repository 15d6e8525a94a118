package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dump renders a parsed file as "section.key=value" lines in file order of keys,
// sections sorted by their line.
func dump(f *iniFile) []string {
	var secs []*iniSection
	for _, s := range f.sections {
		secs = append(secs, s)
	}
	for i := range secs {
		for j := i + 1; j < len(secs); j++ {
			if secs[j].line < secs[i].line {
				secs[i], secs[j] = secs[j], secs[i]
			}
		}
	}
	var out []string
	for _, s := range secs {
		out = append(out, "["+s.name+"]")
		for _, k := range s.order {
			out = append(out, k+"="+s.keys[k].value)
		}
	}
	return out
}

func TestParseIni(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		want    []string
		wantErr string
	}{
		{
			desc: "both delimiters, folded keys, trimmed values",
			in:   "[global]\nRepo_URL = https://srv/wapt \nwapt_server: https://srv\n",
			want: []string{"[global]", "repo_url=https://srv/wapt", "wapt_server=https://srv"},
		},
		{
			desc: "first delimiter splits",
			in:   "[waptwua]\nfilter = Type='Software' or Type='Driver'\nurl: http://x:80/a=b\n",
			want: []string{"[waptwua]", "filter=Type='Software' or Type='Driver'", "url=http://x:80/a=b"},
		},
		{
			desc: "comments and no inline comments",
			in:   "# top\n; top\n[s]\n  # indented comment\na = b ; c # d\n",
			want: []string{"[s]", "a=b ; c # d"},
		},
		{
			desc: "BOM and CRLF",
			in:   "\ufeff[s]\r\na = 1\r\n",
			want: []string{"[s]", "a=1"},
		},
		{
			desc: "continuation lines",
			in:   "[s]\nlist = a,\n   b,\n\n   c\nnext = 2\n",
			want: []string{"[s]", "list=a,\nb,\nc", "next=2"},
		},
		{
			desc: "continuation of an empty first line",
			in:   "[s]\nlist =\n  a\n  b\n",
			want: []string{"[s]", "list=a\nb"},
		},
		{
			desc: "a comment inside a continued value is skipped",
			in:   "[s]\nlist = a\n# note\n  b\n",
			want: []string{"[s]", "list=a\nb"},
		},
		{
			desc: "whole file indented alike (the reStructuredText example)",
			in:   "\t[waptwua]\n\tenabled =true\n\toffline =true\n",
			want: []string{"[waptwua]", "enabled=true", "offline=true"},
		},
		{
			desc: "empty value, trimmed section name",
			in:   "[ s ]\na =\n",
			want: []string{"[s]", "a="},
		},
		{
			desc: "sections are case-sensitive",
			in:   "[waptwua]\na=1\n[WAPTWUA]\na=2\n",
			want: []string{"[waptwua]", "a=1", "[WAPTWUA]", "a=2"},
		},
		{desc: "empty file", in: "", want: nil},
		{desc: "key before any section", in: "a = 1\n", wantErr: `f.ini:1: "a = 1" comes before any [section] header`},
		{desc: "no delimiter", in: "[s]\nnovalue\n", wantErr: `f.ini:2: "novalue" is not a "key = value" line`},
		{desc: "empty key", in: "[s]\n= 1\n", wantErr: `f.ini:2: "= 1" has no key name before "="`},
		{desc: "repeated key", in: "[s]\na=1\nA = 2\n", wantErr: `f.ini:3: [s] a set twice (first on line 2): keep one`},
		{desc: "repeated section", in: "[s]\na=1\n[t]\n[s]\n", wantErr: `f.ini:4: section [s] repeated (first on line 1): merge the two`},
		{desc: "bad header", in: "[s\n", wantErr: `f.ini:1: "[s" is not a section header (write [section])`},
		{desc: "empty header", in: "[]\n", wantErr: `f.ini:1: "[]" is not a section header`},
		{desc: "text after header", in: "[s] x\n", wantErr: `f.ini:1: "[s] x" is not a section header`},
		{desc: "not UTF-8", in: "[s]\na=\xff\n", wantErr: `f.ini: not UTF-8 text (save the file as UTF-8)`},
		{desc: "too large", in: "[s]\n" + strings.Repeat("#", maxIniBytes), wantErr: `f.ini: file too large`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f, err := parseIni([]byte(tt.in), "f.ini")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("parseIni() error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseIni() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, dump(f)); diff != "" {
				t.Errorf("parseIni() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIniDefaultSection(t *testing.T) {
	f, err := parseIni([]byte("[DEFAULT]\na = 1\nb = 2\n[s]\nb = 3\n"), "f.ini")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": "1", "b": "3"} {
		v, ok := f.lookup("s", key)
		if !ok || v.value != want {
			t.Errorf("lookup(s, %s) = %v, %v; want %q", key, v, ok, want)
		}
	}
	if v, ok := f.lookup("missing", "a"); !ok || v.value != "1" {
		t.Errorf("lookup(missing, a) = %v, %v; want the default", v, ok)
	}
}
