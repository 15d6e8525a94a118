package catalog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/cab"
)

// Synthesize writes a synthetic wsusscn2.cab to w and returns what it wrote. The file
// has the structure of Microsoft's (REFERENCE §5): an LZX outer cabinet with a 20-byte
// header reserve (where a signed cabinet keeps its Authenticode area), index.xml with
// RANGESTART ranges, package.cab holding a namespaced package.xml (categories, bundles,
// leaves, supersedence chains, payload files and their locations), and detail
// cabinets with c/, e/, l/en/, l/fr/ and x/ fragments. Everything is streamed through
// temporary files: package.xml is never held in memory. One seed gives one file.
func Synthesize(w io.Writer, opts SynthOptions) (*SynthManifest, error) {
	return synthesize(w, opts, newLZXSink)
}

// cabSink is the part of cab.Writer the generator uses; tests substitute a faster
// uncompressed one.
type cabSink interface {
	NewFolder(method cab.Method, windowBits int) error
	Create(name string, modified time.Time) (io.Writer, error)
	Close() error
}

// newLZXSink writes real cabinets: LZX folders, spooled to temporary files by cab.Writer.
func newLZXSink(w io.Writer, headerReserve int, tmp string) cabSink {
	return cab.NewWriter(w, cab.WriterOptions{HeaderReserve: headerReserve, TempDir: tmp})
}

// sinkFactory makes a cabinet writer: headerReserve bytes of header reserve,
// temporary files in tmp.
type sinkFactory func(w io.Writer, headerReserve int, tmp string) cabSink

func synthesize(w io.Writer, opts SynthOptions, newSink sinkFactory) (*SynthManifest, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := buildModel(o)
	if err != nil {
		return nil, err
	}
	m.hashFiles()
	tmp, err := os.MkdirTemp(o.TempDir, "wsusscn2-synth-*")
	if err != nil {
		return nil, fmt.Errorf("synthetic catalog: %w (set a writable temporary directory)", err)
	}
	defer os.RemoveAll(tmp)
	man := m.manifest()

	// Detail cabinets are built in parallel into temporary files while package.cab is
	// written; the outer cabinet then takes them in order.
	done := make([]chan error, len(m.cabRows))
	for k := range done {
		done[k] = make(chan error, 1)
	}
	var wg sync.WaitGroup
	work := make(chan int, len(m.cabRows))
	for k := range m.cabRows {
		work <- k
	}
	close(work)
	stop := make(chan struct{})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for i := 0; i < max(1, o.Workers-1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				select {
				case <-stop:
					done[k] <- errSynthStopped
					continue
				default:
				}
				done[k] <- m.writeDetailCab(filepath.Join(tmp, detailCabName(k)), k, tmp, newSink)
			}
		}()
	}

	pkgPath := filepath.Join(tmp, "package.cab")
	n, err := m.writePackageCab(pkgPath, tmp, newSink)
	if err != nil {
		return nil, err
	}
	man.PackageXMLBytes = n

	ow := newSink(w, 20, tmp)
	if err := ow.NewFolder(cab.MethodLZX, 21); err != nil {
		return nil, fmt.Errorf("synthetic catalog: %w", err)
	}
	iw, err := ow.Create("index.xml", o.Created)
	if err != nil {
		return nil, fmt.Errorf("synthetic catalog: index.xml: %w", err)
	}
	if err := m.writeIndex(iw); err != nil {
		return nil, fmt.Errorf("synthetic catalog: index.xml: %w", err)
	}
	var folderBytes int64
	add := func(name, path string) error {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("synthetic catalog: %w", err)
		}
		// A folder holds at most 65,535 data blocks of 32 KiB: start another one well
		// before that.
		if folderBytes > 0 && folderBytes+fi.Size() > 1<<30 {
			if err := ow.NewFolder(cab.MethodLZX, 21); err != nil {
				return fmt.Errorf("synthetic catalog: %w", err)
			}
			folderBytes = 0
		}
		folderBytes += fi.Size()
		mw, err := ow.Create(name, o.Created)
		if err != nil {
			return fmt.Errorf("synthetic catalog: %s: %w", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("synthetic catalog: %w", err)
		}
		defer f.Close()
		if _, err := io.Copy(mw, f); err != nil {
			return fmt.Errorf("synthetic catalog: copying %s into the outer cabinet: %w", name, err)
		}
		f.Close()
		return os.Remove(path)
	}
	if err := add("package.cab", pkgPath); err != nil {
		return nil, err
	}
	for k := range m.cabRows {
		if err := <-done[k]; err != nil {
			return nil, err
		}
		if err := add(detailCabName(k), filepath.Join(tmp, detailCabName(k))); err != nil {
			return nil, err
		}
	}
	if err := ow.Close(); err != nil {
		return nil, fmt.Errorf("synthetic catalog: writing the outer cabinet: %w", err)
	}
	return man, nil
}

var errSynthStopped = fmt.Errorf("synthetic catalog: stopped")

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writePackageCab writes package.cab (one LZX folder holding package.xml) to path and
// returns the size of package.xml.
func (m *synthModel) writePackageCab(path, tmp string, newSink sinkFactory) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("synthetic catalog: %w", err)
	}
	defer f.Close()
	cw := newSink(f, 0, tmp)
	if err := cw.NewFolder(cab.MethodLZX, 21); err != nil {
		return 0, fmt.Errorf("synthetic catalog: package.cab: %w", err)
	}
	pw, err := cw.Create("package.xml", m.opts.Created)
	if err != nil {
		return 0, fmt.Errorf("synthetic catalog: package.cab: %w", err)
	}
	cnt := &countWriter{w: pw}
	if err := m.writePackageXML(cnt); err != nil {
		return 0, fmt.Errorf("synthetic catalog: package.xml: %w", err)
	}
	if err := cw.Close(); err != nil {
		return 0, fmt.Errorf("synthetic catalog: package.cab: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("synthetic catalog: package.cab: %w", err)
	}
	return cnt.n, nil
}

// writeDetailCab writes detail cabinet k: c/ and e/ members (in their own folder
// unless SingleFolder), then l/en/, l/fr/ and x/ members, each group sorted by
// revision, names with `\` separators as Microsoft writes them.
func (m *synthModel) writeDetailCab(path string, k int, tmp string, newSink sinkFactory) (err error) {
	name := detailCabName(k)
	defer func() {
		if err != nil {
			err = fmt.Errorf("synthetic catalog: %s: %w", name, err)
		}
	}()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := newSink(f, 0, tmp)
	if err := cw.NewFolder(cab.MethodLZX, 21); err != nil {
		return err
	}
	put := func(member, body string) error {
		mw, err := cw.Create(member, m.opts.Created)
		if err != nil {
			return err
		}
		_, err = io.WriteString(mw, body)
		return err
	}
	rows := m.cabRows[k]
	for _, r := range rows {
		if err := put(`c\`+strconv.FormatInt(r.rev(m), 10), m.fragmentC(r)); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if r.kind == 'b' && m.bundles[r.i].eula {
			if err := put(`e\`+strconv.FormatInt(r.rev(m), 10), m.eula(&m.bundles[r.i])); err != nil {
				return err
			}
		}
	}
	if !m.opts.SingleFolder {
		if err := cw.NewFolder(cab.MethodLZX, 21); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := put(`l\en\`+strconv.FormatInt(r.rev(m), 10), m.fragmentL(r, false)); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if r.kind == 'c' || r.kind == 'b' && m.bundles[r.i].french {
			if err := put(`l\fr\`+strconv.FormatInt(r.rev(m), 10), m.fragmentL(r, true)); err != nil {
				return err
			}
		}
	}
	for _, r := range rows {
		if err := put(`x\`+strconv.FormatInt(r.rev(m), 10), m.fragmentX(r)); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return f.Close()
}
