package cab

import (
	"errors"
	"testing"
)

func TestSafePath(t *testing.T) {
	tests := []struct {
		desc string
		name string
		want string // "" = refused
	}{
		{"plain", "hello.c", "hello.c"},
		{"backslashes", `dir\sub\file.txt`, "dir/sub/file.txt"},
		{"mixed separators", `dir/sub\file.txt`, "dir/sub/file.txt"},
		{"dot segments dropped", `.\dir\.\file`, "dir/file"},
		{"doubled separators", `dir\\file`, "dir/file"},
		{"unicode", "greek/lower/αβγ", "greek/lower/αβγ"},
		{"dots inside a name", "a..b/c...d", "a..b/c...d"},
		{"hidden file", ".profile", ".profile"},
		{"empty", "", ""},
		{"only dots and separators", `.\.`, ""},
		{"parent", `..\evil`, ""},
		{"parent inside", `dir\..\..\evil`, ""},
		{"parent at the end", "dir/..", ""},
		{"parent with trailing space", "dir/.. /x", ""},
		{"three dots", ".../x", ""},
		{"absolute slash", "/etc/passwd", ""},
		{"absolute backslash", `\Windows\System32\x.dll`, ""},
		{"UNC", `\\server\share\x`, ""},
		{"drive letter", `C:\Windows\x`, ""},
		{"drive-relative", `C:x`, ""},
		{"stream name", "file.txt:stream", ""},
		{"NUL", "a\x00b", ""},
		{"control character", "a\nb", ""},
		{"device name", "CON", ""},
		{"device name with extension", `dir\nul.txt`, ""},
		{"device name lower case", "com1", ""},
		{"not a device name", "console.txt", "console.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := SafePath(tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("SafePath(%q) = %q, want an error", tt.name, got)
				}
				if !errors.Is(err, ErrUnsafePath) {
					t.Errorf("error %v does not wrap ErrUnsafePath", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("SafePath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}
