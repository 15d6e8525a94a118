// Command mklzxcab writes a large LZX cabinet of realistic (not all-zero) content made
// by the project's own LZX encoder, for bench/cab.sh. No Debian tool writes LZX cabinets.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/openwua/waptwua/internal/cab"
	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

func main() {
	out := flag.String("o", "", "output cabinet")
	total := flag.Int64("size", 1<<30, "total uncompressed bytes")
	members := flag.Int("members", 8, "number of members")
	window := flag.Int("window", 21, "LZX window bits (15..21)")
	seed := flag.Int64("seed", 1, "content seed")
	flag.Parse()
	if *out == "" || *members < 1 {
		fmt.Fprintln(os.Stderr, "usage: mklzxcab -o FILE [-size BYTES] [-members N] [-window BITS]")
		os.Exit(2)
	}
	if err := write(*out, *total, *members, *window, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mklzxcab:", err)
		os.Exit(1)
	}
}

func write(path string, total int64, members, window int, seed int64) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := cab.NewWriter(f, cab.WriterOptions{HeaderReserve: 20, Checksums: true, TempDir: filepath.Dir(path)})
	if err := w.NewFolder(cab.MethodLZX, window); err != nil {
		return err
	}
	mod := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	per := total / int64(members)
	for i := range members {
		n := per
		if i == members-1 {
			n = total - per*int64(members-1)
		}
		mw, err := w.Create(fmt.Sprintf("member%02d.bin", i), mod)
		if err != nil {
			return err
		}
		if _, err := io.Copy(mw, io.LimitReader(lzxtest.Realistic(seed+int64(i), n), n)); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
