package catalog

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// SynthOptions shapes a synthetic catalog. The zero value gives a small catalog.
type SynthOptions struct {
	// Updates is the number of <Update> rows of package.xml: categories, bundles and
	// their leaves (a real catalog has about 136,000). 0 = 2,000; at least 40.
	Updates int
	// Seed makes the catalog: one seed, one byte-identical file.
	Seed int64
	// DetailCabs is the number of detail cabinets (package2.cab ...); 0 = one per
	// 1,820 rows, at least 2 (75 for the real size).
	DetailCabs int
	// MinFileSize and MaxFileSize bound the payload files' sizes; 0 = 1 KiB and 200 KiB.
	MinFileSize, MaxFileSize int64
	// CoreBytes is the average size of a c/ fragment (applicability rules); 0 = 3,000.
	CoreBytes int
	// PatchBytes is the average size, over all revisions, of the base64 patch
	// metadata that a quarter of the c/ fragments carry (as MSI patches do). It makes
	// the cabinets as large as Microsoft's (about 600 MB for the real size: most of
	// their bytes are such hard-to-compress data). 0 = 4,000; negative = none.
	PatchBytes int
	// Created is the package's CreationDate; zero = 2024-01-09T18:00:00Z.
	Created time.Time
	// SingleFolder puts every member of a detail cabinet in one LZX folder. By default
	// the c/ and e/ members get their own folder, ahead of the l/ and x/ members.
	SingleFolder bool
	// Workers hash files and build detail cabinets in parallel; 0 = GOMAXPROCS.
	Workers int
	// TempDir holds the cabinets while they are built; "" = os.TempDir().
	TempDir string
}

func (o SynthOptions) withDefaults() (SynthOptions, error) {
	if o.Updates == 0 {
		o.Updates = 2000
	}
	if o.Updates < 40 {
		return o, fmt.Errorf("synthetic catalog: %d updates is too few: it needs at least 40 rows (categories, one bundle and its leaf)", o.Updates)
	}
	if o.Updates > 2_000_000 {
		return o, fmt.Errorf("synthetic catalog: %d updates is more than the 2,000,000 supported", o.Updates)
	}
	if o.DetailCabs == 0 {
		o.DetailCabs = max(2, (o.Updates+1819)/1820)
	}
	if o.DetailCabs < 1 || o.DetailCabs > 1000 {
		return o, fmt.Errorf("synthetic catalog: %d detail cabinets: want 1 to 1000", o.DetailCabs)
	}
	if o.MinFileSize == 0 {
		o.MinFileSize = 1 << 10
	}
	if o.MaxFileSize == 0 {
		o.MaxFileSize = 200 << 10
	}
	if o.MinFileSize < 1 || o.MaxFileSize < o.MinFileSize || o.MaxFileSize > 1<<30 {
		return o, fmt.Errorf("synthetic catalog: file sizes %d..%d: want 1 <= min <= max <= 1 GiB", o.MinFileSize, o.MaxFileSize)
	}
	if o.CoreBytes == 0 {
		o.CoreBytes = 3000
	}
	if o.CoreBytes < 200 || o.CoreBytes > 1<<20 {
		return o, fmt.Errorf("synthetic catalog: CoreBytes %d: want 200 to 1 MiB", o.CoreBytes)
	}
	if o.PatchBytes == 0 {
		o.PatchBytes = 4000
	}
	if o.PatchBytes > 1<<20 {
		return o, fmt.Errorf("synthetic catalog: PatchBytes %d: want at most 1 MiB", o.PatchBytes)
	}
	if o.Created.IsZero() {
		o.Created = time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC)
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	o.Workers = positiveOr(o.Workers, runtime.GOMAXPROCS(0))
	return o, nil
}

// SynthManifest is what Synthesize meant to write: reading the catalog back must give
// exactly this.
type SynthManifest struct {
	Rows, Bundles, Leaves, CategoryRows, Detectoids int
	DetailCabs                                      int
	PackageXMLBytes                                 int64
	// Updates are the records Read returns with Language "en", in package.xml order.
	Updates []wu.Update
	// French holds the French title and description of the updates that have an
	// l/fr/ fragment, by update id (Read with Language "fr" returns them).
	French map[string]SynthText
	// Categories are the category records Read returns, in package.xml order.
	Categories []wu.Category
	// Files are the distinct payload files, in FileLocations order.
	Files []SynthFile
}

// SynthText is a localized title and description.
type SynthText struct{ Title, Description string }

// SynthFile is one payload file of a synthetic catalog. Its bytes are
// SynthFileContent(Name, Size).
type SynthFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

// SynthFileContent returns the bytes of the synthetic payload file called name (the
// FileName of the catalog, without the digest the URL adds): size bytes that depend
// only on name and size, so a stand-in for Microsoft's servers can serve files whose
// digests match the catalog.
func SynthFileContent(name string, size int64) io.Reader {
	seed := sha256.Sum256([]byte("waptwua synthetic update file\x00" + name))
	return io.LimitReader(rand.NewChaCha8(seed), max(size, 0))
}

// The generator's model. Texts are derived from the fields when written, not stored.
type synthCat struct {
	id, name, nameFR string
	typ              wu.CategoryType
	parent           int // index into cats, -1 none
	rev              int64
	revNum           int
	created          time.Time
}

type synthBundle struct {
	id        string
	rev       int64
	revNum    int
	created   time.Time
	kb        int
	product   int // index into cats
	class     int // index into cats
	severity  wu.Severity
	bulletin  string
	french    bool
	unicode   bool  // the title carries non-ASCII text and XML entities
	supBy     []int // bundles superseding this one
	prereqs   []string
	orPrereqs []string // written inside <Or>
	leaves    []int
	eula      bool
	siblingsX bool // x/ with properties as top-level siblings of <ExtendedProperties>
	wrapL     bool // l/ wrapped in <LocalizedProperties>
}

// synthDetectoid is an applicability detectoid: an Evaluate row that updates name in
// their prerequisites, neither a category nor a software update.
type synthDetectoid struct {
	id      string
	rev     int64
	revNum  int
	created time.Time
	name    string
}

type synthLeaf struct {
	id      string
	rev     int64
	revNum  int
	created time.Time
	bundle  int
	files   []int
	arch    string
	prereqs []string
}

type synthFile struct {
	name   string
	size   int64
	sha1   [20]byte
	sha256 [32]byte
	url    string
	dir    string // secu, updt, crup
	when   time.Time
}

// synthRow is one <Update> in document order: a category, bundle or leaf.
type synthRow struct {
	kind byte // 'c', 'b', 'l'
	i    int
}

type synthModel struct {
	opts    SynthOptions
	pkgID   string
	cats    []synthCat
	detects []synthDetectoid
	bundles []synthBundle
	leaves  []synthLeaf
	files   []synthFile
	rows    []synthRow
	routes  []int64 // RANGESTART of each detail cabinet
	cabRows [][]synthRow
}

func (r synthRow) rev(m *synthModel) int64 {
	switch r.kind {
	case 'c':
		return m.cats[r.i].rev
	case 'd':
		return m.detects[r.i].rev
	case 'b':
		return m.bundles[r.i].rev
	}
	return m.leaves[r.i].rev
}

// oneToThree draws 3 with a probability of p3 percent, 2 with p2 percent, else 1.
func oneToThree(rng *rand.Rand, p3, p2 int) int {
	switch p := rng.IntN(100); {
	case p < p3:
		return 3
	case p < p3+p2:
		return 2
	}
	return 1
}

func newGUID(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// The category tree of synthetic catalogs. Classification GUIDs are Microsoft's.
var synthClassifications = []struct {
	id, name, nameFR, dir string
	weight                int
}{
	{"0fa1201d-4330-4fa8-8ae9-b877473b6441", "Security Updates", "Mises à jour de la sécurité", "secu", 45},
	{"cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83", "Updates", "Mises à jour", "updt", 20},
	{"e6cf1350-c01b-414d-a61f-263d14d133b4", "Critical Updates", "Mises à jour critiques", "crup", 8},
	{"e0789628-ce08-4437-be74-2495b842f43b", "Definition Updates", "Mises à jour de définitions", "updt", 10},
	{"28bc880e-0592-4cbf-8f95-c79b17911d5f", "Update Rollups", "Correctifs cumulatifs", "updt", 7},
	{"b54e7d24-7add-428f-8b75-90a396fa584f", "Feature Packs", "Feature Packs", "ftpk", 3},
	{"68c5b0a3-d1a6-4553-ae49-01d3a7827828", "Service Packs", "Service Packs", "svpk", 2},
	{"b4832bd8-e735-4761-8daf-37f882276dab", "Tools", "Outils", "tool", 2},
	{"ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0", "Drivers", "Pilotes", "drvs", 3},
}

var synthProducts = []struct {
	family   string
	products []string
	prefix   string // file name prefix
	ext      string
}{
	{"Windows", []string{"Windows 10", "Windows 10, version 1903 and later", "Windows 11", "Windows Server 2016",
		"Windows Server 2019", "Microsoft Server operating system-21H2", "Windows Server 2012 R2", "Windows 8.1", "Windows 7"}, "windows10.0", ".cab"},
	{"Office", []string{"Office 2013", "Office 2016", "Office 2019", "Microsoft 365 Apps/Office 2019/Office LTSC"}, "office", ".cab"},
	{"Developer Tools, Runtimes, and Redistributables", []string{".NET 6.0", ".NET 8.0", "Visual Studio 2022"}, "ndp", ".exe"},
	{"SQL Server", []string{"SQL Server 2019", "SQL Server 2022"}, "sqlserver", ".exe"},
}

var synthArchs = []string{"x64", "x86", "arm64"}

// buildModel draws the whole catalog from the seed.
func buildModel(o SynthOptions) (*synthModel, error) {
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed)^0x9e3779b97f4a7c15))
	m := &synthModel{opts: o, pkgID: newGUID(rng)}
	base := o.Created.AddDate(-9, 0, 0)
	span := int64(o.Created.Sub(base) / time.Second)
	randDate := func() time.Time { return base.Add(time.Duration(rng.Int64N(span)) * time.Second) }

	// Categories: company, families, products, classifications.
	addCat := func(name, nameFR string, typ wu.CategoryType, parent int, id string) int {
		if id == "" {
			id = newGUID(rng)
		}
		m.cats = append(m.cats, synthCat{id: id, name: name, nameFR: nameFR, typ: typ, parent: parent,
			revNum: 1 + rng.IntN(300), created: randDate()})
		m.rows = append(m.rows, synthRow{'c', len(m.cats) - 1})
		return len(m.cats) - 1
	}
	company := addCat("Microsoft Corporation", "Microsoft Corporation", wu.CategoryCompany, -1, "")
	var products []int
	productFamily := map[int]int{} // product cat -> index into synthProducts
	for fi, f := range synthProducts {
		fam := addCat(f.family, f.family, wu.CategoryProductFamily, company, "")
		for _, p := range f.products {
			pi := addCat(p, p, wu.CategoryProduct, fam, "")
			products = append(products, pi)
			productFamily[pi] = fi
		}
	}
	var classes []int
	totalWeight := 0
	for _, c := range synthClassifications {
		classes = append(classes, addCat(c.name, c.nameFR, wu.CategoryClassification, -1, c.id))
		totalWeight += c.weight
	}
	if o.Updates < len(m.cats)+5 {
		return nil, fmt.Errorf("synthetic catalog: %d updates is too few: %d category rows, 3 detectoids, one bundle and one leaf are needed", o.Updates, len(m.cats))
	}
	// Detectoids: about 3% of the rows.
	for i := 0; i < max(3, o.Updates*3/100); i++ {
		m.detects = append(m.detects, synthDetectoid{id: newGUID(rng), revNum: 1 + rng.IntN(300), created: randDate(),
			name: fmt.Sprintf("Detectoid %d for %s", i, synthArchs[i%len(synthArchs)])})
		m.rows = append(m.rows, synthRow{'d', len(m.detects) - 1})
	}
	pickDetectoids := func(n int) []string {
		var out []string
		for j := 0; j < n; j++ {
			if id := m.detects[rng.IntN(len(m.detects))].id; !containsString(out, id) {
				out = append(out, id)
			}
		}
		return out
	}

	// Bundles and leaves, in supersedence series per product and classification.
	type series struct {
		last, left int
	}
	open := map[[2]int]*series{}
	budget := o.Updates - len(m.cats) - len(m.detects)
	kb := 3000000 + rng.IntN(100000)
	for budget >= 2 {
		nLeaves := min(oneToThree(rng, 10, 20), budget-1)
		if budget-1-nLeaves == 1 { // never strand a single row
			if nLeaves < len(synthArchs) {
				nLeaves++
			} else {
				nLeaves--
			}
		}
		budget -= 1 + nLeaves
		kb += 1 + rng.IntN(40)
		b := synthBundle{
			id:        newGUID(rng),
			revNum:    1 + rng.IntN(300),
			created:   randDate(),
			kb:        kb,
			product:   products[rng.IntN(len(products))],
			french:    rng.IntN(100) < 30,
			unicode:   rng.IntN(100) < 3,
			eula:      rng.IntN(100) < 1,
			siblingsX: rng.IntN(2) == 0,
			wrapL:     rng.IntN(2) == 0,
		}
		w := rng.IntN(totalWeight)
		for ci, c := range synthClassifications {
			if w < c.weight {
				b.class = classes[ci]
				break
			}
			w -= c.weight
		}
		if m.cats[b.class].name == "Security Updates" {
			b.severity = []wu.Severity{wu.SeverityCritical, wu.SeverityImportant, wu.SeverityImportant, wu.SeverityModerate, wu.SeverityLow}[rng.IntN(5)]
			if rng.IntN(10) == 0 {
				b.bulletin = fmt.Sprintf("MS%02d-%03d", 10+rng.IntN(8), 1+rng.IntN(120))
			}
		} else if m.cats[b.class].name == "Critical Updates" && rng.IntN(3) == 0 {
			b.severity = wu.SeverityCritical
		}
		b.prereqs = append(append(b.prereqs, m.cats[b.product].id), pickDetectoids(1+rng.IntN(2))...)
		bi := len(m.bundles)
		if bi > 0 && rng.IntN(10) == 0 {
			// An earlier update (a servicing stack) as an alternative prerequisite.
			b.orPrereqs = []string{m.bundles[rng.IntN(bi)].id, m.cats[m.cats[b.product].parent].id}
		}
		key := [2]int{b.product, b.class}
		if s := open[key]; s != nil {
			m.bundles[s.last].supBy = append(m.bundles[s.last].supBy, bi)
			s.last = bi
			if s.left--; s.left <= 0 {
				delete(open, key)
			}
		} else if rng.IntN(3) > 0 {
			open[key] = &series{last: bi, left: 1 + rng.IntN(5)}
		}
		m.bundles = append(m.bundles, b)
		m.rows = append(m.rows, synthRow{'b', bi})
		fam := synthProducts[productFamily[b.product]]
		for li := 0; li < nLeaves; li++ {
			l := synthLeaf{id: newGUID(rng), revNum: 1 + rng.IntN(300), created: b.created, bundle: bi, arch: synthArchs[li], prereqs: pickDetectoids(1 + rng.IntN(3))}
			nFiles := oneToThree(rng, 5, 20)
			for fj := 0; fj < nFiles; fj++ {
				if len(m.files) > 0 && rng.IntN(100) < 4 {
					// A file shared with an earlier update.
					f := rng.IntN(len(m.files))
					if !containsInt(l.files, f) {
						l.files = append(l.files, f)
						continue
					}
				}
				name := fmt.Sprintf("%s-kb%d-%s", fam.prefix, b.kb, l.arch)
				if fj > 0 {
					name += fmt.Sprintf("-%d", fj+1)
				}
				name += fam.ext
				size := o.MinFileSize + rng.Int64N(o.MaxFileSize-o.MinFileSize+1)
				m.files = append(m.files, synthFile{name: name, size: size, dir: synthClassifications[classIndex(m, b.class)].dir, when: b.created})
				l.files = append(l.files, len(m.files)-1)
			}
			m.leaves = append(m.leaves, l)
			m.bundles[bi].leaves = append(m.bundles[bi].leaves, len(m.leaves)-1)
			m.rows = append(m.rows, synthRow{'l', len(m.leaves) - 1})
		}
	}

	// Revision ids: distinct, scattered over the rows (package.xml is not sorted by them).
	revs := make([]int64, len(m.rows))
	next := int64(20_000_000 + rng.IntN(1_000_000))
	for i := range revs {
		next += 1 + rng.Int64N(60)
		revs[i] = next
	}
	rng.Shuffle(len(revs), func(i, j int) { revs[i], revs[j] = revs[j], revs[i] })
	for i, r := range m.rows {
		switch r.kind {
		case 'c':
			m.cats[r.i].rev = revs[i]
		case 'd':
			m.detects[r.i].rev = revs[i]
		case 'b':
			m.bundles[r.i].rev = revs[i]
		case 'l':
			m.leaves[r.i].rev = revs[i]
		}
	}

	// Detail cabinets: contiguous revision ranges. The first starts at 0 (as in
	// Microsoft's index.xml); some others start strictly between two revisions.
	sorted := append([]synthRow(nil), m.rows...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].rev(m) < sorted[j].rev(m) })
	d := min(o.DetailCabs, len(sorted))
	m.opts.DetailCabs = d
	for k := 0; k < d; k++ {
		lo, hi := k*len(sorted)/d, (k+1)*len(sorted)/d
		m.cabRows = append(m.cabRows, sorted[lo:hi])
		start := int64(0)
		if k > 0 {
			first, prev := sorted[lo].rev(m), sorted[lo-1].rev(m)
			start = first
			if k%2 == 1 && first-prev > 1 {
				start = prev + 1 + rng.Int64N(first-prev-1)
			}
		}
		m.routes = append(m.routes, start)
	}
	return m, nil
}

func classIndex(m *synthModel, cat int) int {
	for i, c := range synthClassifications {
		if c.id == m.cats[cat].id {
			return i
		}
	}
	return 0
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// hashFiles computes every file's digests and URL, in parallel.
func (m *synthModel) hashFiles() {
	var wg sync.WaitGroup
	work := make(chan int, 256)
	for w := 0; w < m.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := range work {
				f := &m.files[i]
				h1, h2 := sha1.New(), sha256.New()
				io.CopyBuffer(io.MultiWriter(h1, h2), SynthFileContent(f.name, f.size), buf)
				h1.Sum(f.sha1[:0])
				h2.Sum(f.sha256[:0])
				base, ext := f.name, ""
				if i := strings.LastIndexByte(f.name, '.'); i > 0 {
					base, ext = f.name[:i], f.name[i:]
				}
				f.url = fmt.Sprintf("http://download.windowsupdate.com/c/msdownload/update/software/%s/%04d/%02d/%s_%x%s",
					f.dir, f.when.Year(), int(f.when.Month()), base, f.sha1, ext)
			}
		}()
	}
	for i := range m.files {
		work <- i
	}
	close(work)
	wg.Wait()
}
