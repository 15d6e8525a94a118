package catalog

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// TestFullSize generates a catalog of CATALOG_FULL rows (136000 for the real size) and
// reads it back, reporting times and memory. It is skipped unless CATALOG_FULL is set;
// CATALOG_STORED=1 writes uncompressed cabinets (to measure the reader without LZX).
func TestFullSize(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CATALOG_FULL"))
	if n == 0 {
		t.Skip("set CATALOG_FULL=136000 to run")
	}
	path := filepath.Join(t.TempDir(), "wsusscn2.cab")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	sink := newLZXSink
	if os.Getenv("CATALOG_STORED") == "1" {
		sink = newStoredSink
	}
	start := time.Now()
	man, err := synthesize(bw, SynthOptions{Updates: n, Seed: 1, MinFileSize: 1 << 10, MaxFileSize: 8 << 10}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	t.Logf("synthesized %d rows, %d bundles, %d files, package.xml %d bytes, cab %d bytes in %v", man.Rows, man.Bundles, len(man.Files), man.PackageXMLBytes, fi.Size(), time.Since(start))
	runtime.GC()
	start = time.Now()
	records := 0
	c, err := ReadFile(context.Background(), path, Options{Emit: func(*wu.Update) error { records++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("read in %v: %+v; heap sys %d MiB", time.Since(start), c.Stats, ms.HeapSys>>20)
	if records != man.Bundles || c.Stats.WarningCount() != 0 {
		t.Fatalf("%d records (want %d), %d warnings", records, man.Bundles, c.Stats.WarningCount())
	}
}

// TestReadCatalogFile reads the catalog named by CATALOG_FILE (skipped without it):
// with -cpuprofile / -memprofile it is the way to profile the reader.
func TestReadCatalogFile(t *testing.T) {
	path := os.Getenv("CATALOG_FILE")
	if path == "" {
		t.Skip("set CATALOG_FILE=path/to/wsusscn2.cab to run")
	}
	start := time.Now()
	c, err := ReadFile(context.Background(), path, Options{Emit: func(*wu.Update) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("read in %v: %+v; heap sys %d MiB, total alloc %d MiB", time.Since(start), c.Stats, ms.HeapSys>>20, ms.TotalAlloc>>20)
}
