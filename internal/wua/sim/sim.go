// Package sim is a stand-in for the Windows Update Agent: a simulated host that
// implements wua.Agent on any system, for tests, the fleet simulator and development
// away from Windows. It is not a Windows Update emulator.
//
// The host reads the same wsusscn2.cab as the real agent (through package catalog) and
// a host profile (Profile, a JSON file): its products, what is installed at start,
// injected install failures, reboot behaviour, a busy WUA. Its model is deliberately
// simple:
//   - an update applies when one of its products is in the profile (prerequisites and
//     applicability rules of the catalog are ignored);
//   - an update superseded by another applicable (or installed) update is returned
//     only with ScanOptions.IncludeSuperseded;
//   - LastDeploymentChange is the update's catalog creation date;
//   - each update has one bundled update carrying all its files, with the update's key;
//   - CopyToCache checks that each file exists and that its SHA-1 is the catalog's;
//     an update installs only when all its files were copied to the cache;
//   - the search criteria are evaluated on Type, IsInstalled, IsHidden, IsPresent,
//     UpdateID, RevisionNumber, CategoryIDs; IsAssigned, AutoSelectOnWebSites and
//     DeploymentAction='Installation' hold for every update, BrowseOnly and
//     RebootRequired for none.
//
// The host keeps its state (installed, hidden, cached files, reboot pending, busy
// count) in a JSON state file next to the profile, written atomically, so that a
// simulated host behaves the same across runs. One process at a time per state file.
package sim

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// Host is a simulated Windows host. It is safe for concurrent use.
type Host struct {
	mu        sync.Mutex
	profile   Profile
	rules     *compiled
	statePath string
	clock     wua.Clock
	st        *state
	closed    bool

	fixed      []wu.Update // New: the catalog given; nil: read ScanOptions.CabPath
	categories map[string]wu.Category
	cache      *catalogCache

	// The last scan: what Install, SetHidden and CopyToCache may act on.
	last map[wu.UpdateKey]*scanned
}

type scanned struct {
	src *wu.Update
	out wua.Update
}

type catalogCache struct {
	path, lang string
	size       int64
	mod        time.Time
	updates    []wu.Update
	categories map[string]wu.Category
}

var _ wua.Agent = (*Host)(nil)

// Option tunes a Host.
type Option func(*Host)

// WithClock sets the clock that dates installs (default: the system clock).
func WithClock(c wua.Clock) Option { return func(h *Host) { h.clock = c } }

// WithCategories gives the catalog's categories to New, so that scans also report the
// product families and companies of updates.
func WithCategories(cats []wu.Category) Option {
	return func(h *Host) {
		for _, c := range cats {
			h.categories[strings.ToLower(c.ID)] = c
		}
	}
}

// New makes a host over a fixed list of catalog updates (ScanOptions.CabPath is then
// ignored). Its state lives in statePath.
func New(updates []wu.Update, profile Profile, statePath string, opts ...Option) (*Host, error) {
	h, err := newHost(profile, statePath, opts)
	if err != nil {
		return nil, err
	}
	h.fixed = updates
	if h.fixed == nil {
		h.fixed = []wu.Update{}
	}
	return h, nil
}

// Open makes the host described by the profile file at profilePath; its state lives in
// StatePath(profilePath) and each Scan reads the catalog at ScanOptions.CabPath (kept
// in memory while the file does not change).
func Open(profilePath string, opts ...Option) (*Host, error) {
	p, err := LoadProfile(profilePath)
	if err != nil {
		return nil, err
	}
	return newHost(p, StatePath(profilePath), opts)
}

func newHost(p Profile, statePath string, opts []Option) (*Host, error) {
	rules, err := p.compile()
	if err != nil {
		return nil, fmt.Errorf("sim profile: %w", err)
	}
	if statePath == "" {
		return nil, fmt.Errorf("sim host %s: no state file path", p.HostName)
	}
	st, err := loadState(statePath, p)
	if err != nil {
		return nil, err
	}
	h := &Host{profile: p, rules: rules, statePath: statePath, clock: wu.SystemClock{}, st: st,
		categories: map[string]wu.Category{}}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// HostName is the profile's host name.
func (h *Host) HostName() string { return h.profile.HostName }

// check runs at the start of each operation (h.mu held).
func (h *Host) check(ctx context.Context) error {
	if h.closed {
		return wua.ErrClosed
	}
	return context.Cause(ctx)
}

// busy consumes one busy operation (h.mu held).
func (h *Host) busy(op string, code wua.HResult) error {
	if h.st.BusyLeft <= 0 {
		return nil
	}
	h.st.BusyLeft--
	if err := h.st.save(h.statePath); err != nil {
		return err
	}
	return &wua.Error{Op: op, Code: code}
}

// catalog returns the updates to scan and the categories by id (h.mu held).
func (h *Host) catalog(ctx context.Context, opts wua.ScanOptions) ([]wu.Update, map[string]wu.Category, error) {
	if h.fixed != nil {
		return h.fixed, h.categories, nil
	}
	if opts.CabPath == "" {
		return nil, nil, fmt.Errorf("scan: no wsusscn2.cab path given")
	}
	fi, err := os.Stat(opts.CabPath)
	if err != nil {
		return nil, nil, fmt.Errorf("scan: %w", err)
	}
	lang := language(opts.Locale)
	if c := h.cache; c != nil && c.path == opts.CabPath && c.size == fi.Size() && c.mod.Equal(fi.ModTime()) && c.lang == lang {
		return c.updates, c.categories, nil
	}
	cat, err := catalog.ReadFile(ctx, opts.CabPath, catalog.Options{Language: lang})
	if err != nil {
		return nil, nil, fmt.Errorf("scan: %w", err)
	}
	cats := map[string]wu.Category{}
	for id, c := range h.categories {
		cats[id] = c
	}
	for _, c := range cat.Categories {
		cats[strings.ToLower(c.ID)] = c
	}
	h.cache = &catalogCache{path: opts.CabPath, lang: lang, size: fi.Size(), mod: fi.ModTime(), updates: cat.Updates, categories: cats}
	return cat.Updates, cats, nil
}

// language maps a user_locale LCID to a catalog language.
func language(lcid uint32) string {
	switch lcid {
	case 1036, 2060, 3084, 4108:
		return "fr"
	case 1031, 2055, 3079:
		return "de"
	case 1034, 3082, 2058:
		return "es"
	case 1040:
		return "it"
	case 1043:
		return "nl"
	case 1046:
		return "pt-br"
	case 2070:
		return "pt"
	case 1041:
		return "ja"
	case 1042:
		return "ko"
	case 2052:
		return "zh-cn"
	case 1028:
		return "zh-tw"
	case 1049:
		return "ru"
	case 1045:
		return "pl"
	}
	return "en"
}

// applies reports whether one of the update's products is the host's.
func (h *Host) applies(u *wu.Update) bool {
	for _, p := range u.Products {
		if h.rules.products[strings.ToLower(p)] {
			return true
		}
	}
	for _, id := range u.ProductIDs {
		if h.rules.products[strings.ToLower(id)] {
			return true
		}
	}
	return false
}

func (h *Host) installed(u *wu.Update) bool {
	if v, ok := h.outOfBand(u); ok {
		return v
	}
	if _, ok := h.st.Installed[u.Key().String()]; ok {
		return true
	}
	return h.rules.installed.match(u)
}

// Scan implements wua.Agent.
func (h *Host) Scan(ctx context.Context, opts wua.ScanOptions) ([]wua.Update, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	criteria, err := wua.CriteriaFromFilter(opts.Criteria)
	if err != nil {
		return nil, &wua.Error{Op: "scan", Code: wua.WUEInvalidCriteria, Err: err}
	}
	crit, err := wua.ParseCriteria(criteria)
	if err != nil {
		return nil, &wua.Error{Op: "scan", Code: wua.WUEInvalidCriteria, Err: err}
	}
	if err := h.busy("scan", wua.WUEOperationInProgress); err != nil {
		return nil, err
	}
	updates, cats, err := h.catalog(ctx, opts)
	if err != nil {
		return nil, err
	}

	// Applicable updates by id, then the ids superseded by one of them.
	applicable := make([]*wu.Update, 0, len(updates)/4)
	present := map[string]bool{}
	for i := range updates {
		u := &updates[i]
		if h.applies(u) {
			applicable = append(applicable, u)
			present[strings.ToLower(u.UpdateID)] = true
		}
	}
	superseded := map[string]bool{}
	for _, u := range applicable {
		for _, id := range u.Supersedes {
			superseded[strings.ToLower(id)] = true
		}
		for _, id := range u.SupersededBy {
			if present[strings.ToLower(id)] {
				superseded[strings.ToLower(u.UpdateID)] = true
			}
		}
	}

	h.last = map[wu.UpdateKey]*scanned{}
	var out []wua.Update
	for i, u := range applicable {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if superseded[strings.ToLower(u.UpdateID)] && !opts.IncludeSuperseded {
			continue
		}
		w := h.view(u, cats)
		if !matches(crit, &w) {
			continue
		}
		h.last[w.Key] = &scanned{src: u, out: w}
		out = append(out, w)
	}
	return out, nil
}

// view is the update as WUA would report it on this host.
func (h *Host) view(u *wu.Update, cats map[string]wu.Category) wua.Update {
	key := u.Key()
	w := wua.Update{
		Key:                  key,
		Title:                u.Title,
		Severity:             u.Severity,
		Installed:            h.installed(u),
		Hidden:               h.st.hidden(key.String()),
		LastDeploymentChange: u.Created,
		SupersededIDs:        append([]string(nil), u.Supersedes...),
	}
	for _, kb := range u.KBs {
		if d, err := wu.ParseKB(kb); err == nil {
			w.KBs = append(w.KBs, d)
		}
	}
	seen := map[string]bool{}
	addCat := func(id string, typ wu.CategoryType, name string) {
		id = strings.ToLower(id)
		if (id == "" && name == "") || seen[string(typ)+id+name] {
			return
		}
		seen[string(typ)+id+name] = true
		w.Categories = append(w.Categories, wua.Category{ID: id, Type: typ, Name: name})
	}
	for i, name := range u.Products {
		id := ""
		if i < len(u.ProductIDs) {
			id = u.ProductIDs[i]
		}
		addCat(id, wu.CategoryProduct, name)
		// The product's family and company, when the catalog's categories are known.
		visited := map[string]bool{}
		for parent := strings.ToLower(cats[strings.ToLower(id)].ParentID); parent != "" && !visited[parent]; {
			visited[parent] = true
			c, ok := cats[parent]
			if !ok {
				break
			}
			addCat(c.ID, c.Type, c.Name)
			parent = strings.ToLower(c.ParentID)
		}
	}
	addCat(u.ClassificationID, wu.CategoryClassification, u.Classification)

	b := wua.BundledUpdate{Key: key}
	files := map[string]bool{}
	downloaded := true
	for _, f := range u.Files {
		if files[f.SHA1] {
			continue
		}
		files[f.SHA1] = true
		w.MaxDownloadSize += f.Size
		b.Downloads = append(b.Downloads, wua.Download{URL: f.URL, FileName: fileName(f)})
		if _, ok := h.st.Cached[strings.ToLower(f.SHA1)]; !ok {
			downloaded = false
		}
	}
	w.Bundled = []wua.BundledUpdate{b}
	w.Downloaded = downloaded
	if h.rebootAfter(u) {
		w.RebootBehavior = wua.CanRequestReboot
	}
	return w
}

// fileName is the repository name of a catalog file: the basename of its URL.
func fileName(f wu.File) string {
	if f.URL != "" {
		return wua.FileNameFromURL(f.URL)
	}
	return f.Name
}

func (h *Host) rebootAfter(u *wu.Update) bool { return h.rules.rebootAll || h.rules.reboot.match(u) }

// matches evaluates the criteria on the simulated update.
func matches(c wua.Criteria, u *wua.Update) bool {
	for _, group := range c {
		ok := true
		for _, cond := range group {
			if !holds(cond, u) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func holds(c wua.Condition, u *wua.Update) bool {
	flag := func(b bool) bool { return (c.Value != "0") == b }
	switch c.Property {
	case "Type":
		return strings.EqualFold(c.Value, "Software") == (c.Op == "=")
	case "IsInstalled", "IsPresent":
		return flag(u.Installed)
	case "IsHidden":
		return flag(u.Hidden)
	case "IsAssigned", "AutoSelectOnWebSites":
		return flag(true)
	case "BrowseOnly", "RebootRequired":
		return flag(false)
	case "DeploymentAction":
		return strings.EqualFold(c.Value, "Installation")
	case "UpdateID":
		return strings.EqualFold(strings.Trim(c.Value, "{}"), u.Key.UpdateID)
	case "RevisionNumber":
		n, err := strconv.Atoi(c.Value)
		return err == nil && n == u.Key.RevisionNumber
	case "CategoryIDs":
		for _, cat := range u.Categories {
			if strings.EqualFold(cat.ID, strings.Trim(c.Value, "{}")) {
				return true
			}
		}
	}
	return false
}

// lookup finds an update of the last scan (h.mu held).
func (h *Host) lookup(key wu.UpdateKey) (*scanned, error) {
	if s, ok := h.last[key]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%s: %w", key, wua.ErrUnknownUpdate)
}

// SetHidden implements wua.Agent.
func (h *Host) SetHidden(ctx context.Context, keys []wu.UpdateKey, hidden bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		s, err := h.lookup(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("hide %s (%t): %w", k, hidden, err))
			continue
		}
		h.st.setHidden(k.String(), hidden)
		s.out.Hidden = hidden
	}
	if err := h.st.save(h.statePath); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// CopyToCache implements wua.Agent: every file must exist and have the SHA-1 the
// catalog gives.
func (h *Host) CopyToCache(ctx context.Context, key wu.UpdateKey, files []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return err
	}
	s, ok := h.last[key] // the sim's only bundled update has the update's key
	if !ok {
		return fmt.Errorf("copy to cache %s: %w", key, wua.ErrUnknownUpdate)
	}
	plan, err := wua.AssignFiles(&s.out, key, files)
	if err != nil {
		return err
	}
	want := map[string]string{} // lower-case file name → SHA-1
	for _, f := range s.src.Files {
		want[strings.ToLower(fileName(f))] = strings.ToLower(f.SHA1)
	}
	digests := map[string]string{}
	for _, a := range plan {
		for _, path := range a.Files {
			if err := ctx.Err(); err != nil {
				return err
			}
			got, err := sha1File(path)
			if err != nil {
				return fmt.Errorf("copy to cache %s: %w", key, err)
			}
			exp := want[strings.ToLower(baseName(path))]
			if got != exp {
				return fmt.Errorf("copy to cache %s: %s has SHA-1 %s, the catalog says %s: the file is damaged or not this update's (download it again)", key, path, got, exp)
			}
			digests[got] = path
		}
	}
	for d, p := range digests {
		h.st.Cached[d] = p
	}
	if err := h.st.save(h.statePath); err != nil {
		return err
	}
	s.out = h.view(s.src, h.catsForView())
	return nil
}

func (h *Host) catsForView() map[string]wu.Category {
	if h.cache != nil && h.fixed == nil {
		return h.cache.categories
	}
	return h.categories
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func sha1File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hash := sha1.New()
	if _, err := io.Copy(hash, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(hash.Sum(nil)), nil
}

// Install implements wua.Agent.
func (h *Host) Install(ctx context.Context, keys []wu.UpdateKey) (wua.InstallResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return wua.InstallResult{}, err
	}
	if h.st.RebootPending {
		return wua.InstallResult{}, fmt.Errorf("install: %w: restart the computer, then install again", wua.ErrRebootPending)
	}
	if len(keys) == 0 {
		return wua.InstallResult{}, &wua.Error{Op: "install", Code: wua.WUENoUpdate}
	}
	batch := make([]*scanned, len(keys))
	for i, k := range keys {
		s, err := h.lookup(k)
		if err != nil {
			return wua.InstallResult{}, fmt.Errorf("install: %w", err)
		}
		batch[i] = s
	}
	if err := h.busy("install", wua.WUEInstallNotAllowed); err != nil {
		return wua.InstallResult{}, err
	}
	now := h.clock.Now().UTC()
	results := make([]wua.UpdateResult, len(keys))
	for i, s := range batch {
		r := wua.UpdateResult{Key: keys[i], ResultCode: wua.Succeeded}
		switch {
		case h.installed(s.src):
			// Already there: WUA reports success.
		case !s.out.Downloaded:
			r.ResultCode, r.HResult = wua.Failed, wua.WUEDMNotDownloaded
		default:
			if code, failed := h.injectedFailure(s.src); failed {
				r.ResultCode, r.HResult = wua.Failed, code
				break
			}
			h.st.Installed[keys[i].String()] = now
			r.RebootRequired = h.rebootAfter(s.src)
			s.out.Installed = true
		}
		a := attempt{At: now, Update: keys[i].String(), Result: r.ResultCode.String()}
		if r.HResult != wua.SOK {
			a.HResult = r.HResult.String()
		}
		h.st.record(a)
		results[i] = r
	}
	res := wua.Summarize(results)
	if res.RebootRequired {
		h.st.RebootPending = true
	}
	if err := h.st.save(h.statePath); err != nil {
		return res, err
	}
	return res, nil
}

// injectedFailure returns the profile's failure for the update, counting the attempt.
func (h *Host) injectedFailure(u *wu.Update) (wua.HResult, bool) {
	for i, f := range h.rules.failures {
		if !f.sel.match(u) {
			continue
		}
		if f.times > 0 && h.st.FailuresUsed[i] >= f.times {
			continue
		}
		h.st.FailuresUsed[i]++
		return f.code, true
	}
	return 0, false
}

// RebootPending implements wua.Agent.
func (h *Host) RebootPending(ctx context.Context) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return false, err
	}
	return h.st.RebootPending, nil
}

// Reboot simulates the restart of the host: the pending restart is done.
func (h *Host) Reboot(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return err
	}
	h.st.RebootPending = false
	return h.st.save(h.statePath)
}

// Close implements wua.Agent. The state is already on disk.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.last = nil
	return nil
}
