package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/cab"
	"github.com/openwua/waptwua/internal/wu"
)

// Options tunes Read. The zero value reads titles in English with sensible limits.
type Options struct {
	// Language is the language of titles and descriptions ("fr", "de", "zh-tw" ...);
	// an update without it falls back to English, then to its default language.
	// Category names are always the English titles. Empty means "en".
	Language string
	// Workers is how many detail cabinets are decoded at once; 0 = GOMAXPROCS.
	Workers int
	// TempDir receives inner cabinets that do not fit MemoryBudget; "" = os.TempDir().
	TempDir string
	// MemoryBudget bounds the bytes of inner cabinets held in memory at once while
	// they wait to be decoded; the others are spooled to temporary files. Of a
	// detail cabinet only its tables and its folders with x/ and l/ members are
	// held (but the budget must admit the most that can take: from its first such
	// folder to its end); the package cabinet is read straight from the outer one
	// when it comes right after index.xml, as in Microsoft's catalogs. 0 = 64 MiB.
	MemoryBudget int64
	// MaxUpdates bounds the <Update> rows of package.xml; 0 = 1,000,000.
	MaxUpdates int
	// MaxPackageXML bounds the decoded size of package.xml; 0 = 1 GiB.
	MaxPackageXML int64
	// MaxFragment bounds one x/ or l/ fragment; larger ones are skipped with a
	// warning. 0 = 1 MiB.
	MaxFragment int64
	// MaxIndexXML bounds index.xml; 0 = 16 MiB.
	MaxIndexXML int64
	// MaxInnerCab bounds the size of one inner cabinet (package.cab, packageN.cab);
	// 0 = 1 GiB (Microsoft's are about 10 MB).
	MaxInnerCab int64
	// MaxInnerDecoded bounds the bytes decoded from one inner cabinet, skipped
	// members included; 0 = 8 GiB.
	MaxInnerDecoded int64
	// XML bounds element depth, attribute and text sizes of every XML document.
	XML XMLLimits
	// NoDescriptions leaves Update.Description empty: descriptions are the bulk of
	// the text a catalog holds, and listings do not need them.
	NoDescriptions bool
	// Verify tests the whole outer cabinet in the same pass: the bytes of every member
	// are decoded and checked (checksums, sizes), the ones the catalog does not need
	// too, so that a read that succeeds has tested the cabinet as "cab test" does and
	// the catalog sync decompresses wsusscn2.cab once. Without it, members and tails
	// the catalog does not need may be skipped undecoded.
	Verify bool
	// Emit, when set, receives each software update in package.xml order instead of
	// Catalog.Updates collecting them (the record is reused: copy what you keep).
	Emit func(*wu.Update) error
}

// positiveOr returns v, or def when v is not positive: a limit's "0 = default".
func positiveOr[T ~int | ~int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (o Options) withDefaults() Options {
	o.Language = strings.ToLower(strings.TrimSpace(o.Language))
	if o.Language == "" {
		o.Language = "en"
	}
	o.Workers = positiveOr(o.Workers, runtime.GOMAXPROCS(0))
	o.MemoryBudget = positiveOr(o.MemoryBudget, 64<<20)
	o.MaxUpdates = positiveOr(o.MaxUpdates, 1_000_000)
	o.MaxPackageXML = positiveOr(o.MaxPackageXML, 1<<30)
	o.MaxFragment = positiveOr(o.MaxFragment, 1<<20)
	o.MaxIndexXML = positiveOr(o.MaxIndexXML, 16<<20)
	o.MaxInnerCab = positiveOr(o.MaxInnerCab, 1<<30)
	o.MaxInnerDecoded = positiveOr(o.MaxInnerDecoded, 8<<30)
	o.XML = o.XML.withDefaults()
	return o
}

// Catalog is what Read found in a wsusscn2.cab.
type Catalog struct {
	PackageID  string
	Created    time.Time // the package's CreationDate
	Updates    []wu.Update
	Categories []wu.Category
	Stats      Stats
}

// Stats counts what Read saw and tolerated.
type Stats struct {
	Updates           int   `json:"updates"`    // <Update> rows in package.xml
	Bundles           int   `json:"bundles"`    // rows with IsBundle="true"
	Leaves            int   `json:"leaves"`     // rows bundled by another (BundledBy)
	Categories        int   `json:"categories"` // category records
	Records           int   `json:"records"`    // software updates delivered
	Files             int   `json:"files"`      // distinct payload files of the records
	FileLocations     int   `json:"file_locations"`
	DetailCabs        int   `json:"detail_cabs"` // detail cabinets decoded
	FragmentsRead     int64 `json:"fragments_read"`
	FragmentsSkipped  int64 `json:"fragments_skipped"`
	BytesDecoded      int64 `json:"bytes_decoded"` // outer members plus inner members
	LanguageFallbacks int   `json:"language_fallbacks"`
	// Warnings are the tolerated defects by kind (missing fragments, dangling links ...).
	Warnings []Warning `json:"warnings"`
}

// WarningCount sums the warnings of every kind.
func (s *Stats) WarningCount() int {
	n := 0
	for _, w := range s.Warnings {
		n += w.Count
	}
	return n
}

// ReadFile reads the wsusscn2.cab at path.
func ReadFile(ctx context.Context, path string, opts Options) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return Read(ctx, f, fi.Size(), opts)
}

// outerName names the outer cabinet in errors.
const outerName = "wsusscn2.cab"

// Read reads a wsusscn2.cab of size bytes from r in one pass over the outer cabinet:
// index.xml, package.xml from package.cab, then every detail cabinet once, keeping
// the x/ and l/ fragments of the revisions it needs. A fatal error names the member
// and the byte offset; tolerated defects are counted in Stats.Warnings.
func Read(ctx context.Context, r io.ReaderAt, size int64, opts Options) (*Catalog, error) {
	opts = opts.withDefaults()
	outer, err := cab.Open(r, size, cab.WithName(outerName))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w (is this a wsusscn2.cab?)", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rd := &reader{
		opts:     opts,
		ctx:      ctx,
		cancel:   cancel,
		warn:     newWarnings(),
		pkgReady: make(chan struct{}),
		mem:      memGate{freed: make(chan struct{}, 1)},
		queue:    make(chan *spooled, len(outer.Files)+1),
		decoders: cab.NewDecoderPool(),
	}
	defer rd.releasePending()
	rd.outer = outer

	var wg sync.WaitGroup
	workerStats := make([]*workerState, opts.Workers)
	for i := range workerStats {
		ws := &workerState{scan: newScanner(nil, 0, opts.XML)}
		workerStats[i] = ws
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd.worker(ws)
		}()
	}
	walk := rd.outerMember
	if opts.Verify {
		walk = rd.verifiedMember
	}
	walkErr := outer.Walk(walk)
	if walkErr == nil {
		walkErr = rd.finishWalk()
	}
	if walkErr != nil {
		cancel(walkErr)
	}
	close(rd.queue)
	wg.Wait()
	rd.pkgWG.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if walkErr != nil {
		return nil, walkErr
	}
	rd.warn.merge(rd.model.warn)
	for _, w := range rd.cabWarn {
		if w != nil {
			rd.warn.merge(w)
		}
	}
	for _, ws := range workerStats {
		rd.stats.FragmentsRead += ws.read
		rd.stats.FragmentsSkipped += ws.skipped
		rd.stats.BytesDecoded += ws.decoded
		rd.stats.DetailCabs += ws.cabs
	}
	rd.stats.BytesDecoded += rd.outerDecoded + rd.pkgDecoded
	return rd.assemble()
}

// reader is the state of one Read.
type reader struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelCauseFunc
	warn   *warnings // used by the outer walk, then by assembly
	stats  Stats

	index   *catalogIndex
	pending []*spooled // cabinets met before index.xml
	pkgSeen bool
	present map[string]bool // detail cabinets found in the outer cabinet

	pkgWG     sync.WaitGroup
	pkgReady  chan struct{} // closed when model, need and details are ready
	model     *model
	need      []uint8 // per row: needX, needL, needCat
	lk        *links  // set by linked
	linksOnce sync.Once
	details   []detail
	cabWarn   []*warnings // per detail cabinet, written by the worker that reads it
	queue     chan *spooled

	outer   *cab.Cabinet
	pkgFile *cab.File // the package cabinet, read by streamPackage

	mem          memGate
	decoders     *cab.DecoderPool // LZX windows shared by the detail workers' walks
	outerDecoded int64            // by the outer walk
	pkgDecoded   int64            // by the package parser
}

// spooled is an inner cabinet copied out of the outer one: whole in memory or in a
// temporary file, or (detail cabinets) its tables and x/ and l/ folders in memory.
type spooled struct {
	member string
	key    string
	cabIdx int // index into index.details; -1 for the package cabinet
	data   []byte
	sparse *sparseCab
	file   *os.File
	size   int64
	mem    int64
	rd     *reader
}

// readerAt returns the cabinet's bytes. A spooled file of at most maxLoad bytes is
// first read back whole into *buf (reused from cabinet to cabinet): the cabinet
// reader makes one small read per directory entry, thousands per detail cabinet,
// which cost a system call each on a file.
func (sp *spooled) readerAt(buf *[]byte, maxLoad int64) (io.ReaderAt, error) {
	if sp.sparse != nil {
		return sp.sparse, nil
	}
	if sp.file == nil {
		return bytesReaderAt(sp.data), nil
	}
	if sp.size > maxLoad {
		return sp.file, nil
	}
	if int64(cap(*buf)) < sp.size {
		*buf = make([]byte, sp.size)
	}
	b := (*buf)[:sp.size]
	if _, err := sp.file.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("%s: reading back %s from %s: %w", outerName, sp.member, sp.file.Name(), err)
	}
	return bytesReaderAt(b), nil
}

func (sp *spooled) release() {
	if sp.file != nil {
		name := sp.file.Name()
		sp.file.Close()
		os.Remove(name)
		sp.file = nil
	}
	sp.data, sp.sparse = nil, nil
	if sp.mem > 0 {
		sp.rd.mem.release(sp.mem)
		sp.mem = 0
	}
}

// bytesReaderAt is an io.ReaderAt over a byte slice.
type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (rd *reader) releasePending() {
	for _, sp := range rd.pending {
		sp.release()
	}
	rd.pending = nil
}

// outerMember is the Walk callback of the outer cabinet.
func (rd *reader) outerMember(f *cab.File, r io.Reader) error {
	if err := rd.ctx.Err(); err != nil {
		return context.Cause(rd.ctx)
	}
	key := memberKey(f.Name)
	switch {
	case key == "index.xml":
		if rd.index != nil {
			rd.warn.add("unexpected member", "%s: a second index.xml is ignored", outerName)
			return nil
		}
		if f.Size > rd.opts.MaxIndexXML {
			return fmt.Errorf("%s: index.xml is %d bytes, more than the %d-byte limit (Options.MaxIndexXML): %w", outerName, f.Size, rd.opts.MaxIndexXML, ErrCorrupt)
		}
		doc := make([]byte, f.Size)
		if _, err := io.ReadFull(r, doc); err != nil {
			return fmt.Errorf("%s: reading index.xml: %w", outerName, err)
		}
		rd.outerDecoded += f.Size
		ix, err := parseIndex(doc, rd.opts.XML, rd.warn)
		if err != nil {
			return fmt.Errorf("%s: index.xml: %w", outerName, err)
		}
		rd.index = ix
		rd.present = map[string]bool{}
		rd.cabWarn = make([]*warnings, len(ix.details))
		pending := rd.pending
		rd.pending = nil
		for _, sp := range pending {
			rd.dispatch(sp)
		}
		if !rd.pkgSeen {
			if pf := rd.packageMember(f); pf != nil {
				if err := rd.checkInnerSize(pf); err != nil {
					return err
				}
				rd.pkgSeen, rd.pkgFile = true, pf
				rd.startPackage(func() error { return rd.streamPackage(rd.outer, pf) })
			}
		}
		return nil
	case strings.HasSuffix(key, ".cab"):
		if f == rd.pkgFile {
			rd.outerDecoded += f.Size // by streamPackage's reader; this one skips it
			return nil
		}
		if rd.index != nil && key == rd.index.packageKey && rd.pkgSeen {
			rd.warn.add("unexpected member", "%s: a second %s is ignored", outerName, f.Name)
			return nil
		}
		if rd.index != nil && key != rd.index.packageKey {
			if _, listed := rd.index.byKey[key]; !listed {
				rd.warn.add("unexpected member", "%s: %s is not listed in index.xml; skipped", outerName, f.Name)
				return nil
			}
		}
		var sp *spooled
		var err error
		if rd.index != nil && key != rd.index.packageKey {
			sp, err = rd.captureDetail(f, r)
		} else {
			sp, err = rd.spool(f, r, true)
		}
		if err != nil {
			return err
		}
		rd.outerDecoded += f.Size
		if rd.index == nil {
			rd.pending = append(rd.pending, sp)
			return nil
		}
		rd.dispatch(sp)
		return nil
	default:
		rd.warn.add("unexpected member", "%s: member %s is neither index.xml nor a cabinet; skipped", outerName, f.Name)
		return nil
	}
}

// verifiedMember is outerMember, then decodes what it left of the member (Options.Verify).
func (rd *reader) verifiedMember(f *cab.File, r io.Reader) error {
	if err := rd.outerMember(f, r); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%s: member %s: %w", outerName, f.Name, err)
	}
	return nil
}

// checkInnerSize enforces Options.MaxInnerCab.
func (rd *reader) checkInnerSize(f *cab.File) error {
	if f.Size > rd.opts.MaxInnerCab {
		return fmt.Errorf("%s: member %s is %d bytes, more than the %d-byte limit on inner cabinets (Options.MaxInnerCab): %w", outerName, f.Name, f.Size, rd.opts.MaxInnerCab, ErrCorrupt)
	}
	return nil
}

// captureDetail copies a detail cabinet out of the outer one: its tables and the
// data of its folders that hold x/ or l/ members into memory (see sparseCab) when its
// layout allows and the memory budget admits the most that can take; else the whole
// cabinet, as spool does.
func (rd *reader) captureDetail(f *cab.File, r io.Reader) (*spooled, error) {
	if err := rd.checkInnerSize(f); err != nil {
		return nil, err
	}
	plan, head, err := planSparse(r, f.Size, wantedMember)
	if err != nil {
		return nil, fmt.Errorf("%s: reading member %s: %w", outerName, f.Name, err)
	}
	if plan == nil {
		return rd.spool(f, io.MultiReader(bytes.NewReader(head), r), true)
	}
	inMemory, err := rd.reserveMemory(plan.bound)
	if err != nil {
		return nil, err
	}
	if !inMemory {
		return rd.spool(f, io.MultiReader(bytes.NewReader(head), r), false)
	}
	sc, err := plan.capture(r)
	if err != nil {
		rd.mem.release(plan.bound)
		return nil, fmt.Errorf("%s: reading member %s: %w", outerName, f.Name, err)
	}
	held := sc.held()
	rd.mem.release(plan.bound - held)
	return &spooled{member: f.Name, key: memberKey(f.Name), size: f.Size, rd: rd, cabIdx: -1, sparse: sc, mem: held}, nil
}

// spool copies an inner cabinet (member f, read from r) out of the outer one, into
// memory when tryMemory is set and the budget allows, else into a temporary file.
func (rd *reader) spool(f *cab.File, r io.Reader, tryMemory bool) (*spooled, error) {
	if err := rd.checkInnerSize(f); err != nil {
		return nil, err
	}
	sp := &spooled{member: f.Name, key: memberKey(f.Name), size: f.Size, rd: rd, cabIdx: -1}
	inMemory := false
	if tryMemory {
		var err error
		if inMemory, err = rd.reserveMemory(f.Size); err != nil {
			return nil, err
		}
	}
	if inMemory {
		sp.mem = f.Size
		sp.data = make([]byte, f.Size)
		if _, err := io.ReadFull(r, sp.data); err != nil {
			sp.release()
			return nil, fmt.Errorf("%s: reading member %s: %w", outerName, f.Name, err)
		}
	} else {
		tf, err := os.CreateTemp(rd.opts.TempDir, "wsusscn2-*.cab")
		if err != nil {
			return nil, fmt.Errorf("%s: spooling %s to a temporary file: %w (set a writable temporary directory)", outerName, f.Name, err)
		}
		sp.file = tf
		n, err := io.Copy(tf, r)
		if err == nil && n != f.Size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			sp.release()
			return nil, fmt.Errorf("%s: copying member %s to %s: %w", outerName, f.Name, tf.Name(), err)
		}
	}
	return sp, nil
}

// reserveMemory decides where an inner cabinet of n bytes waits for its decoding:
// in memory when the budget allows; else, while package.xml is being parsed (the
// workers cannot free anything yet), in a temporary file; afterwards the outer walk
// waits for the workers to free memory, which costs less than a round trip to disk.
func (rd *reader) reserveMemory(n int64) (bool, error) {
	if n > rd.opts.MemoryBudget {
		return false, nil
	}
	for {
		if rd.mem.tryAcquire(n, rd.opts.MemoryBudget) {
			return true, nil
		}
		select {
		case <-rd.pkgReady:
		default:
			return false, nil
		}
		select {
		case <-rd.mem.freed:
		case <-rd.ctx.Done():
			return false, context.Cause(rd.ctx)
		}
	}
}

// memGate counts the bytes of inner cabinets held in memory.
type memGate struct {
	mu    sync.Mutex
	used  int64
	freed chan struct{} // signalled (without blocking) on each release
}

func (g *memGate) tryAcquire(n, budget int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used+n > budget {
		return false
	}
	g.used += n
	return true
}

func (g *memGate) release(n int64) {
	g.mu.Lock()
	g.used -= n
	g.mu.Unlock()
	select {
	case g.freed <- struct{}{}:
	default:
	}
}

// dispatch sends a spooled cabinet to the package parser or to the detail workers.
func (rd *reader) dispatch(sp *spooled) {
	ix := rd.index
	if sp.key == ix.packageKey {
		if rd.pkgSeen {
			rd.warn.add("unexpected member", "%s: a second %s is ignored", outerName, sp.member)
			sp.release()
			return
		}
		rd.pkgSeen = true
		rd.startPackage(func() error {
			err := rd.readPackage(sp)
			sp.release()
			return err
		})
		return
	}
	i, listed := ix.byKey[sp.key]
	if !listed {
		rd.warn.add("unexpected member", "%s: %s is not listed in index.xml; skipped", outerName, sp.member)
		sp.release()
		return
	}
	if rd.present[sp.key] {
		rd.warn.add("unexpected member", "%s: a second %s is ignored", outerName, sp.member)
		sp.release()
		return
	}
	rd.present[sp.key] = true
	sp.cabIdx = i
	rd.queue <- sp
}

// startPackage runs read (which parses package.xml and prepares the model) in the
// background; the detail workers start when it succeeds.
func (rd *reader) startPackage(read func() error) {
	rd.pkgWG.Add(1)
	go func() {
		defer rd.pkgWG.Done()
		if err := read(); err != nil {
			rd.cancel(err)
			return
		}
		close(rd.pkgReady)
		// What the records need from package.xml alone, while the workers read the
		// detail cabinets.
		if rd.ctx.Err() == nil {
			rd.linked()
		}
	}()
}

// maxPackageSkip bounds how far into its folder the package cabinet may start for
// streamPackage to read it with a reader of its own, which decodes the folder from
// its start (Microsoft's package.cab comes second, right after index.xml).
const maxPackageSkip = 64 << 20

// packageMember returns the member of the outer cabinet that index.xml names as the
// package cabinet, if the walk, now at member at, has yet to meet it (the first one
// it will meet, when several have that name) and it starts near enough to the start
// of its folder to be read apart.
func (rd *reader) packageMember(at *cab.File) *cab.File {
	var pf *cab.File
	for _, f := range rd.outer.Files {
		if memberKey(f.Name) != rd.index.packageKey {
			continue
		}
		// Walk order: folder, then offset, then size (empty members first).
		if pf == nil || f.Folder < pf.Folder || f.Folder == pf.Folder && (f.Offset < pf.Offset || f.Offset == pf.Offset && f.Size < pf.Size) {
			pf = f
		}
	}
	if pf == nil || pf.Offset > maxPackageSkip || !strings.HasSuffix(rd.index.packageKey, ".cab") {
		return nil // the walk deals with it, as with any cabinet
	}
	// The walk meets pf after at: in a later folder, or further in at's folder.
	if pf.Folder < at.Folder || pf.Folder == at.Folder && (pf.Offset < at.Offset || pf.Offset == at.Offset && pf.Size <= at.Size) {
		return nil
	}
	return pf
}

// finishWalk checks that the outer cabinet held what a catalog must hold.
func (rd *reader) finishWalk() error {
	if rd.index == nil {
		return fmt.Errorf("%s: no index.xml member: %w (not a Windows Update offline catalog, or a truncated one)", outerName, ErrCorrupt)
	}
	if !rd.pkgSeen {
		return fmt.Errorf("%s: index.xml names %s as the package cabinet but the cabinet has no such member: %w", outerName, rd.index.packageMember, ErrCorrupt)
	}
	for _, d := range rd.index.details {
		if !rd.present[d.key] {
			rd.warn.add("missing detail cabinet", "%s: %s (RANGESTART %d) is listed in index.xml but absent; its revisions have no details", outerName, d.member, d.rangeStart)
		}
	}
	return nil
}

// ErrCorrupt is matched (errors.Is) by fatal errors about the catalog's structure:
// a catalog that cannot be read at all.
var ErrCorrupt = errors.New("corrupt or unsupported catalog")

// readPackage parses package.xml out of the package cabinet, then prepares what the
// detail workers need.
func (rd *reader) readPackage(sp *spooled) error {
	var buf []byte
	ra, err := sp.readerAt(&buf, rd.opts.MemoryBudget)
	if err != nil {
		return err
	}
	return rd.parsePackageCab(ra, sp.size, sp.member)
}

// streamPackage reads the package cabinet, member f of the outer cabinet, straight
// from the outer cabinet with a reader of its own, while the outer walk goes on with
// the detail cabinets: package.xml is parsed from the start of Read, and the package
// cabinet is never held whole. A cabinet whose layout needs random access is read
// again, into memory.
func (rd *reader) streamPackage(outer *cab.Cabinet, f *cab.File) error {
	r, err := outer.OpenFile(f)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	err = rd.parsePackageCab(newSeqReaderAt(r, f.Size, f.Name), f.Size, f.Name)
	if !errors.Is(err, errNotSequential) || rd.model != nil {
		return err
	}
	if r, err = outer.OpenFile(f); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	sp, err := rd.spool(f, r, true)
	if err != nil {
		return err
	}
	defer sp.release()
	return rd.readPackage(sp)
}

// parsePackageCab parses package.xml out of the package cabinet (member of the outer
// cabinet, size bytes at ra), then prepares what the detail workers need.
func (rd *reader) parsePackageCab(ra io.ReaderAt, size int64, member string) error {
	name := outerName + "/" + member
	c, err := cab.Open(ra, size, cab.WithName(name), rd.innerLimits())
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	var pf *cab.File
	for _, f := range c.Files {
		if memberKey(f.Name) == "package.xml" {
			pf = f
			break
		}
	}
	if pf == nil {
		return fmt.Errorf("%s: no package.xml member: %w", name, ErrCorrupt)
	}
	if pf.Size > rd.opts.MaxPackageXML {
		return fmt.Errorf("%s: package.xml is %d bytes, more than the %d-byte limit (Options.MaxPackageXML): %w", name, pf.Size, rd.opts.MaxPackageXML, ErrCorrupt)
	}
	r, err := c.OpenFile(pf)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	m := newModel(rd.opts.MaxUpdates, newWarnings())
	m.grow(pf.Size)
	pipe := newReadAhead(rd.ctx, r, 256<<10, 4)
	err = m.parsePackage(pipe, rd.opts.XML)
	pipe.Close()
	if err != nil {
		return fmt.Errorf("%s: package.xml: %w", name, err)
	}
	rd.model = m
	rd.pkgDecoded = pf.Size
	rd.prepare()
	return nil
}

// innerLimits bounds what one inner cabinet may decode.
func (rd *reader) innerLimits() cab.Option {
	return cab.WithLimits(cab.Limits{MaxMemberSize: max(rd.opts.MaxPackageXML, rd.opts.MaxFragment), MaxTotalSize: rd.opts.MaxInnerDecoded})
}
