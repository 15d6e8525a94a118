package catalog

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/cab"
	"github.com/openwua/waptwua/internal/wu"
)

func TestIndexRouting(t *testing.T) {
	w := newWarnings()
	ix, err := parseIndex([]byte("\ufeff"+`<INDEX VERSION="1"><CABLIST XOR="0">
		<CAB NAME="package.cab"/>
		<CAB NAME="package3.cab" RANGESTART="187611"/>
		<CAB NAME="package2.cab" RANGESTART="0" FILESDIR="1"/>
		<CAB NAME="Package4.CAB" RANGESTART="300000" Unknown="x"/>
		<CAB NAME="package5.cab" RANGESTART="300000"/>
		<CAB NAME="package6.cab" RANGESTART="many"/>
		<CAB RANGESTART="5"/>
	</CABLIST></INDEX>`), XMLLimits{}, w)
	if err != nil {
		t.Fatal(err)
	}
	if ix.packageKey != "package.cab" {
		t.Errorf("package cabinet %q", ix.packageKey)
	}
	tests := []struct {
		rev  int64
		want string
	}{
		{0, "package2.cab"}, {187610, "package2.cab"}, {187611, "package3.cab"}, {299999, "package3.cab"},
		{300000, "Package4.CAB"}, {1 << 40, "Package4.CAB"},
	}
	for _, tt := range tests {
		if i := ix.route(tt.rev); i < 0 || ix.details[i].member != tt.want {
			t.Errorf("route(%d) = %d, want %s", tt.rev, i, tt.want)
		}
	}
	if w.count("index.xml") != 3 {
		t.Errorf("index warnings: %+v", w.list())
	}
	ix2, _ := parseIndex([]byte(`<INDEX><CABLIST><CAB NAME="package.cab"/><CAB NAME="p2.cab" RANGESTART="100"/></CABLIST></INDEX>`), XMLLimits{}, w)
	if ix2.route(99) != -1 || ix2.route(100) != 0 {
		t.Errorf("below the first RANGESTART: route(99)=%d route(100)=%d", ix2.route(99), ix2.route(100))
	}
}

func TestReadOptions(t *testing.T) {
	fx := loadFixture(t, "basic")
	data := fx.build(t, false)
	read := func(o Options) (*Catalog, error) {
		return Read(context.Background(), bytesReaderAt(data), int64(len(data)), o)
	}
	t.Run("emit error stops the read", func(t *testing.T) {
		stop := errors.New("stop here")
		n := 0
		_, err := read(Options{Emit: func(*wu.Update) error { n++; return stop }})
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("err %v after %d records", err, n)
		}
	})
	t.Run("emit streams the records", func(t *testing.T) {
		n := 0
		c, err := read(Options{Emit: func(*wu.Update) error { n++; return nil }})
		if err != nil || n != 10 || len(c.Updates) != 0 || c.Stats.Records != 10 {
			t.Fatalf("err %v, %d emitted, %d kept", err, n, len(c.Updates))
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Read(ctx, bytesReaderAt(data), int64(len(data)), Options{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
	t.Run("fragment limit", func(t *testing.T) {
		c, err := read(Options{MaxFragment: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, w := range c.Stats.Warnings {
			found = found || w.Kind == "fragment too large"
		}
		if !found {
			t.Fatalf("no fragment too large warning: %+v", c.Stats.Warnings)
		}
	})
	t.Run("depth limit on package.xml", func(t *testing.T) {
		_, err := read(Options{XML: XMLLimits{MaxDepth: 3}})
		if err == nil || !strings.Contains(err.Error(), "package.xml: byte offset") || !strings.Contains(err.Error(), "deeper than 3") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("update limit", func(t *testing.T) {
		_, err := read(Options{MaxUpdates: 5})
		if err == nil || !strings.Contains(err.Error(), "more than 5 <Update> rows") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestReadVerify: a member the catalog does not need is not decoded by a plain read,
// and a damaged one fails a read with Options.Verify, which tests the whole cabinet.
func TestReadVerify(t *testing.T) {
	fx := loadFixture(t, "basic")
	names := make([]string, 0, len(fx.cabs))
	for n := range fx.cabs {
		names = append(names, n)
	}
	sort.Strings(names)
	main := []cabMember{{"index.xml", fx.index}, {"package.cab", packCab(t, 0, []cabMember{{"package.xml", fx.pkg}})}}
	for _, n := range names {
		main = append(main, cabMember{n, packCab(t, 0, fx.cabs[n])})
	}
	extra := []cabMember{{"readme.txt", bytes.Repeat([]byte("not part of the catalog "), 2000)}}
	data := packFolders(t, cab.MethodLZX, cab.WriterOptions{}, main, extra)

	ctx := context.Background()
	read := func(data []byte, verify bool) (*Catalog, error) {
		return Read(ctx, bytesReaderAt(data), int64(len(data)), Options{Verify: verify})
	}
	good, err := read(data, true)
	if err != nil {
		t.Fatalf("verified read of a sound cabinet: %v", err)
	}
	plain, err := read(data, false)
	if err != nil || len(plain.Updates) != len(good.Updates) || len(good.Updates) == 0 {
		t.Fatalf("plain read: %v, %d updates; verified read: %d updates", err, len(plain.Updates), len(good.Updates))
	}

	c, err := cab.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), data...)
	damaged[c.Folders[1].DataOffset+8+100] ^= 0xff // inside the first data block of readme.txt's folder
	if _, err := read(damaged, false); err != nil {
		t.Fatalf("plain read decoded the member it does not need: %v", err)
	}
	_, err = read(damaged, true)
	if err == nil || !strings.Contains(err.Error(), "readme.txt") || !errors.Is(err, cab.ErrCorrupt) {
		t.Fatalf("verified read of a damaged cabinet = %v, want an error naming readme.txt and matching cab.ErrCorrupt", err)
	}
}
