package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Page sizes of the Windows Updates list.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxPage         = 10_000_000
	// maxSelected bounds the updates one action names (the admin API's limit too).
	maxSelected = 1000
)

// severityChoices are the severities the filter pane offers; "none" selects updates
// without a severity.
var severityChoices = []string{"Critical", "Important", "Moderate", "Low", "none"}

// updateSorts are the sort keys of the list, as the query string names them.
var updateSorts = []string{"created", "title", "severity", "kb", "classification"}

// updateQuery is the Windows Updates list's state, read from the query string.
type updateQuery struct {
	Severities      []string
	Products        []string
	Classifications []string
	Search          string
	Needed          string // "", yes, no
	Downloaded      string
	Superseded      string
	Sort            string
	Desc            bool
	Page            int
	Size            int
	After           string // cursor of the page before Page (a "next" link)
}

func parseUpdateQuery(q url.Values) updateQuery {
	uq := updateQuery{
		Products:        listParam(q, "product"),
		Classifications: listParam(q, "class"),
		Search:          strParam(q, "q"),
		Needed:          triParam(q, "needed"),
		Downloaded:      triParam(q, "downloaded"),
		Superseded:      triParam(q, "superseded"),
		Sort:            oneOf(strParam(q, "sort"), "created", updateSorts...),
		Page:            intParam(q, "page", 1, 1, maxPage),
		Size:            intParam(q, "size", defaultPageSize, 10, maxPageSize),
		After:           strParam(q, "after"),
	}
	for _, s := range listParam(q, "sev") {
		for _, c := range severityChoices {
			if strings.EqualFold(s, c) && !slices.Contains(uq.Severities, c) {
				uq.Severities = append(uq.Severities, c)
			}
		}
	}
	switch strings.ToLower(strParam(q, "dir")) {
	case "asc":
		uq.Desc = false
	case "desc":
		uq.Desc = true
	default:
		uq.Desc = uq.Sort == "created" // newest first by default
	}
	return uq
}

// filter is the store filter of the query, without paging.
func (uq updateQuery) filter() store.UpdateFilter {
	f := store.UpdateFilter{
		Products:        uq.Products,
		Classifications: uq.Classifications,
		Search:          uq.Search,
		Needed:          triBool(uq.Needed),
		Downloaded:      triBool(uq.Downloaded),
		Superseded:      triBool(uq.Superseded),
		Sort:            store.UpdateSort(uq.Sort),
		Desc:            uq.Desc,
	}
	for _, s := range uq.Severities {
		if s == "none" {
			f.Severities = append(f.Severities, wu.SeverityNone)
		} else {
			f.Severities = append(f.Severities, wu.Severity(s))
		}
	}
	return f
}

// values encodes the query (without page and cursor) for links.
func (uq updateQuery) values() url.Values {
	v := url.Values{}
	for _, s := range uq.Severities {
		v.Add("sev", s)
	}
	for _, p := range uq.Products {
		v.Add("product", p)
	}
	for _, c := range uq.Classifications {
		v.Add("class", c)
	}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", uq.Search)
	set("needed", uq.Needed)
	set("downloaded", uq.Downloaded)
	set("superseded", uq.Superseded)
	if uq.Sort != "created" {
		v.Set("sort", uq.Sort)
	}
	if uq.Desc != (uq.Sort == "created") {
		v.Set("dir", map[bool]string{true: "desc", false: "asc"}[uq.Desc])
	}
	if uq.Size != defaultPageSize {
		v.Set("size", strconv.Itoa(uq.Size))
	}
	return v
}

// facetKey identifies the filter the facets depend on (not the order nor the page).
func (uq updateQuery) facetKey() string {
	v := uq.values()
	v.Del("sort")
	v.Del("dir")
	v.Del("size")
	return v.Encode()
}

func (uq updateQuery) url(path string, mod func(url.Values)) string {
	v := uq.values()
	if mod != nil {
		mod(v)
	}
	if e := v.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

// pageURL links page n of the list.
func (uq updateQuery) pageURL(n int) string {
	return uq.url(Prefix+"updates", func(v url.Values) {
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
	})
}

// sortURL links the list sorted by key: the other direction when it is the current key.
func (uq updateQuery) sortURL(key string) string {
	desc := key == "created" || key == "severity"
	if uq.Sort == key {
		desc = !uq.Desc
	}
	n := uq
	n.Sort, n.Desc = key, desc
	return n.url(Prefix+"updates", nil)
}

// updateRow is one line of the list.
type updateRow struct {
	Key            string
	KBs            string
	KB             string // the first
	MoreKBs        int
	Title          string
	Severity       wu.Severity
	Classification string
	Product        string
	MoreProducts   int
	Products       string
	Published      time.Time
	Superseded     bool
	HostsNeeding   int
	HostsInstalled int
	DownloadedOn   time.Time
	Source         store.Source
}

func rowOf(u *store.UpdateInfo) updateRow {
	r := updateRow{
		Key:            u.Key().String(),
		KBs:            formatKBs(u.KBs),
		Title:          u.Title,
		Severity:       u.Severity,
		Classification: u.Classification,
		Products:       strings.Join(u.Products, ", "),
		Published:      u.Created,
		Superseded:     u.Superseded,
		HostsNeeding:   u.HostsNeeding,
		HostsInstalled: u.HostsInstalled,
		DownloadedOn:   u.DownloadedOn,
		Source:         u.Source,
	}
	if len(u.Products) > 0 {
		r.Product, r.MoreProducts = u.Products[0], len(u.Products)-1
	}
	if len(u.KBs) > 0 {
		r.KB, r.MoreKBs = wu.FormatKB(u.KBs[0]), len(u.KBs)-1
	}
	return r
}

type sortLink struct {
	URL    string
	Active bool
	Desc   bool
}

// facetOption is one choice of the filter pane.
type facetOption struct {
	Value   string
	Label   string
	Count   int
	Counted bool // Count is known
	Checked bool
}

type facetPane struct {
	Query          updateQuery
	Severities     []facetOption
	Products       []facetOption
	Classification []facetOption
	Counted        bool   // the counts are shown
	LoadURL        string // htmx: where the counted pane comes from
}

type updatesData struct {
	Query    updateQuery
	Rows     []updateRow
	Total    int
	Page     int
	Pages    int
	From, To int
	First    string
	Prev     string
	Next     string
	Last     string
	Sorts    map[string]sortLink
	Pane     facetPane
	CSV      string
	Here     string // this page's URL, for the actions to come back to
	Jobs     bool
	Rules    bool
	Elapsed  time.Duration
	Sizes    []int
}

func (c *Console) handleUpdates(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	uq := parseUpdateQuery(r.URL.Query())
	page, err := c.listUpdatePage(r, &uq)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := updatesData{Query: uq, Total: page.Total, Page: uq.Page, Jobs: c.deps.App.HasJobs(), Rules: c.deps.Rules != nil,
		Sizes: []int{25, 50, 100, 200, 500}}
	d.Rows = make([]updateRow, len(page.Updates))
	for i := range page.Updates {
		d.Rows[i] = rowOf(&page.Updates[i])
	}
	d.Pages = max(1, (page.Total+uq.Size-1)/uq.Size)
	d.From = (uq.Page-1)*uq.Size + 1
	d.To = d.From + len(d.Rows) - 1
	if len(d.Rows) == 0 {
		d.From = 0
	}
	if uq.Page > 1 {
		d.First, d.Prev = uq.pageURL(1), uq.pageURL(uq.Page-1)
	}
	if uq.Page < d.Pages {
		d.Next = uq.pageURL(uq.Page + 1)
		if page.Next != "" {
			// Keyset pagination: the next page continues after this one's last row,
			// which costs the same on page 2,000 as on page 2.
			d.Next += sep(d.Next) + "after=" + url.QueryEscape(page.Next)
		}
		d.Last = uq.pageURL(d.Pages)
	}
	d.Sorts = map[string]sortLink{}
	for _, k := range updateSorts {
		d.Sorts[k] = sortLink{URL: uq.sortURL(k), Active: uq.Sort == k, Desc: uq.Desc}
	}
	d.Pane = c.facetPaneFor(r, uq, false)
	d.CSV = uq.url(Prefix+"updates.csv", nil)
	d.Here = uq.pageURL(uq.Page)
	d.Elapsed = time.Since(start)
	c.render(w, r, http.StatusOK, "updates", c.newPage(w, r, "updates", "Windows Updates", d))
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// listUpdatePage reads page uq.Page of the list: after the cursor when the link gave
// one, else by offset; a page past the end shows the last page.
func (c *Console) listUpdatePage(r *http.Request, uq *updateQuery) (store.UpdatePage, error) {
	f := uq.filter()
	f.Limit = uq.Size
	if uq.After != "" && uq.Page > 1 {
		f.Cursor = uq.After
		page, err := c.deps.Store.ListUpdates(r.Context(), f)
		if err == nil {
			return page, nil
		}
		if !errors.Is(err, store.ErrInvalid) {
			return page, err
		}
		f.Cursor = "" // a forged or stale cursor: use the page number
	}
	f.Offset = (uq.Page - 1) * uq.Size
	page, err := c.deps.Store.ListUpdates(r.Context(), f)
	if err != nil {
		return page, err
	}
	if len(page.Updates) == 0 && page.Total > 0 && f.Offset >= page.Total {
		uq.Page = (page.Total + uq.Size - 1) / uq.Size
		f.Offset = (uq.Page - 1) * uq.Size
		page, err = c.deps.Store.ListUpdates(r.Context(), f)
	}
	return page, err
}

// --- filter pane and facets ------------------------------------------------------------

const (
	facetCacheSize = 128
	facetCacheTTL  = 2 * time.Minute
)

// facetCache keeps facet counts by filter: on the real catalog they cost seconds, while
// a page of the list costs milliseconds. Counts may lag the truth by the TTL.
type facetCache struct {
	mu      sync.Mutex
	size    int
	ttl     time.Duration
	entries map[string]facetEntry
}

type facetEntry struct {
	at     time.Time
	facets store.Facets
}

func newFacetCache(size int, ttl time.Duration) *facetCache {
	return &facetCache{size: size, ttl: ttl, entries: map[string]facetEntry{}}
}

func (fc *facetCache) get(key string, now time.Time) (store.Facets, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	e, ok := fc.entries[key]
	if !ok || now.Sub(e.at) > fc.ttl || now.Before(e.at) {
		return store.Facets{}, false
	}
	return e.facets, true
}

func (fc *facetCache) put(key string, f store.Facets, now time.Time) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.entries) >= fc.size {
		oldest, first := "", true
		var at time.Time
		for k, e := range fc.entries {
			if first || e.at.Before(at) {
				oldest, at, first = k, e.at, false
			}
		}
		delete(fc.entries, oldest)
	}
	fc.entries[key] = facetEntry{at: now, facets: f}
}

// facetPaneFor builds the filter pane: with counts when they are cached (or load is
// set: then they are computed now), else with the catalog's categories and a link for
// htmx to fetch the counted pane.
func (c *Console) facetPaneFor(r *http.Request, uq updateQuery, load bool) facetPane {
	p := facetPane{Query: uq}
	facets, ok := c.facets.get(uq.facetKey(), c.now())
	if !ok && load {
		f := uq.filter()
		f.Limit, f.WithFacets = 1, true
		page, err := c.deps.Store.ListUpdates(r.Context(), f)
		if err == nil && page.Facets != nil {
			facets, ok = *page.Facets, true
			c.facets.put(uq.facetKey(), facets, c.now())
		} else if err != nil && r.Context().Err() == nil {
			c.log.WarnContext(r.Context(), "console: update facets", "err", err)
		}
	}
	counts := func(fcs []store.FacetCount) map[string]int {
		m := map[string]int{}
		for _, f := range fcs {
			m[f.Value] = f.Count
		}
		return m
	}
	if ok {
		p.Counted = true
		sev := counts(facets.Severity)
		for _, s := range severityChoices {
			v := s
			if s == "none" {
				v = ""
			}
			p.Severities = append(p.Severities, facetOption{Value: s, Label: sevLabel(s), Count: sev[v], Counted: true,
				Checked: slices.Contains(uq.Severities, s)})
		}
		p.Products = optionsOf(facets.Product, uq.Products)
		p.Classification = optionsOf(facets.Classification, uq.Classifications)
		return p
	}
	for _, s := range severityChoices {
		p.Severities = append(p.Severities, facetOption{Value: s, Label: sevLabel(s), Checked: slices.Contains(uq.Severities, s)})
	}
	products, classes := c.categoryNames(r.Context())
	p.Products = namesOptions(products, uq.Products)
	p.Classification = namesOptions(classes, uq.Classifications)
	p.LoadURL = uq.url(Prefix+"updates/facets", nil)
	return p
}

func sevLabel(s string) string {
	if s == "none" {
		return "(no severity)"
	}
	return s
}

// optionsOf lists the counted values, most frequent first, then the checked values that
// no update has any more.
func optionsOf(fcs []store.FacetCount, checked []string) []facetOption {
	var out []facetOption
	seen := map[string]bool{}
	for _, f := range fcs {
		if f.Value == "" {
			continue
		}
		seen[f.Value] = true
		out = append(out, facetOption{Value: f.Value, Label: f.Value, Count: f.Count, Counted: true, Checked: slices.Contains(checked, f.Value)})
	}
	for _, v := range checked {
		if !seen[v] {
			out = append(out, facetOption{Value: v, Label: v, Counted: true, Checked: true})
		}
	}
	return out
}

func namesOptions(names, checked []string) []facetOption {
	slices.Sort(names)
	names = slices.Compact(names)
	var out []facetOption
	for _, n := range names {
		out = append(out, facetOption{Value: n, Label: n, Checked: slices.Contains(checked, n)})
	}
	for _, v := range checked {
		if !slices.Contains(names, v) {
			out = append(out, facetOption{Value: v, Label: v, Checked: true})
		}
	}
	return out
}

// handleUpdateFacets renders the filter pane with its counts (htmx loads it after the
// page, since the counts are the slow part).
func (c *Console) handleUpdateFacets(w http.ResponseWriter, r *http.Request) {
	uq := parseUpdateQuery(r.URL.Query())
	p := c.fragmentPage(r, "updates", "Filters", updatesData{Query: uq, Pane: c.facetPaneFor(r, uq, true)})
	c.renderFragment(w, r, "updates", "facets", p)
}

// --- one update ------------------------------------------------------------------------

// updateHostsShown bounds the hosts listed on an update's page.
const updateHostsShown = 500

type updateDetail struct {
	Info      store.UpdateInfo
	Key       string
	KBs       string
	Hosts     []store.UpdateHostStatus
	MoreHosts bool
	StatusSel string
	Statuses  []string
	Rule      string // what the server rules say of it
	Jobs      bool
	Rules     bool
}

func (c *Console) handleUpdate(w http.ResponseWriter, r *http.Request) {
	key, err := wu.ParseUpdateKey(r.PathValue("key"))
	if err != nil {
		c.fail(w, r, &userError{status: http.StatusNotFound, msg: fmt.Sprintf("%q is not an update key (\"<guid>_<revision>\").", clean(r.PathValue("key")))})
		return
	}
	var statuses []wu.Status
	status := wu.Status(strings.ToUpper(strParam(r.URL.Query(), "status")))
	if status.Valid() {
		statuses = []wu.Status{status}
	}
	ud, err := c.deps.App.UpdateDetail(r.Context(), key, statuses, updateHostsShown)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	info := ud.Info
	d := updateDetail{Info: info, Key: info.Key().String(), KBs: formatKBs(info.KBs), Jobs: c.deps.App.HasJobs(), Rules: c.deps.Rules != nil,
		Statuses: []string{"OK", "PENDING", "MISSING", "DISCARDED", "ERROR", "SUPERSEDED"}}
	if len(statuses) > 0 {
		d.StatusSel = string(status)
	}
	d.Hosts, d.MoreHosts = ud.Hosts, !ud.Complete
	if c.deps.Rules != nil {
		if rs, err := c.deps.Rules.ServerRules(r.Context()); err == nil {
			dec := rules.Decide(rs, rules.CandidateOf(&info.Update), c.now(), 0)
			d.Rule = dec.Rule
			if dec.Allowed {
				d.Rule = "allowed (" + dec.Rule + ")"
			} else if dec.Status == wu.StatusDiscarded {
				d.Rule = string(dec.Reason) + " (" + dec.Rule + ")"
			}
		}
	}
	title := "Update " + d.KBs
	if d.KBs == "" {
		title = "Update " + d.Key
	}
	c.render(w, r, http.StatusOK, "update", c.newPage(w, r, "updates", title, d))
}

// --- actions on selected updates -------------------------------------------------------

// selectedKeys reads the update keys of the checked rows.
func selectedKeys(r *http.Request) ([]wu.UpdateKey, error) {
	vals := r.PostForm["key"]
	if len(vals) == 0 {
		return nil, badRequest("Select at least one update (tick its box in the list) first.")
	}
	if len(vals) > maxSelected {
		return nil, badRequest("%d updates selected, at most %d per action.", len(vals), maxSelected)
	}
	keys := make([]wu.UpdateKey, 0, len(vals))
	for _, v := range vals {
		k, err := wu.ParseUpdateKey(strings.TrimSpace(v))
		if err != nil || k.RevisionNumber == 0 {
			return nil, badRequest("%q is not an update key (\"<guid>_<revision>\").", clean(v))
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// backTo is where an action returns: the list page it came from, when it is one.
func backTo(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	if b == "" {
		return def
	}
	return safeNext(b)
}

func (c *Console) handleForceDownload(w http.ResponseWriter, r *http.Request) {
	keys, err := selectedKeys(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if keys, err = c.deps.App.ForceDownload(r.Context(), keys); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"tasks", "ok", fmt.Sprintf("Download of %d update(s) scheduled; progress below.", len(keys)))
}

func keyStrings(keys []wu.UpdateKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// handleUpdateRules allows or forbids the selected updates in the server-wide rules.
func (c *Console) handleUpdateRules(w http.ResponseWriter, r *http.Request) {
	if c.deps.Rules == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Rules not editable", "This server has no editable server-wide rules.")
		return
	}
	keys, err := selectedKeys(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	action := r.PostFormValue("action")
	if action != "allow" && action != "forbid" {
		c.fail(w, r, badRequest("Unknown action %q: allow or forbid.", clean(action)))
		return
	}
	rs, err := c.deps.Rules.ServerRules(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("read server rules: %w", err))
		return
	}
	names := keyStrings(keys)
	if action == "allow" {
		rs.AllowedUpdates = unionFold(rs.AllowedUpdates, names)
		rs.ForbiddenUpdates = removeFold(rs.ForbiddenUpdates, names)
	} else {
		rs.ForbiddenUpdates = unionFold(rs.ForbiddenUpdates, names)
		rs.AllowedUpdates = removeFold(rs.AllowedUpdates, names)
	}
	if err := c.saveRules(r, rs); err != nil {
		c.fail(w, r, err)
		return
	}
	verb := map[string]string{"allow": "allowed", "forbid": "forbidden"}[action]
	c.redirectWith(w, r, backTo(r, Prefix+"updates"), "ok",
		fmt.Sprintf("%d update(s) %s in the server rules. Hosts apply it at their next scan (trigger one from the Hosts page).", len(keys), verb))
}

func unionFold(list, add []string) []string {
	out := slices.Clone(list)
	for _, a := range add {
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, a) }) {
			out = append(out, a)
		}
	}
	return out
}

func removeFold(list, del []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool {
		return slices.ContainsFunc(del, func(d string) bool { return strings.EqualFold(s, d) })
	})
}

func (c *Console) handleCabSync(w http.ResponseWriter, r *http.Request) {
	if err := c.deps.App.SyncCab(r.Context()); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"tasks", "ok", "Download of wsusscn2.cab from Microsoft started; the catalog syncs below show its progress.")
}

func (c *Console) handleDownloadMissing(w http.ResponseWriter, r *http.Request) {
	if err := c.deps.App.DownloadMissing(r.Context()); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"tasks", "ok", "Download of the files hosts need started.")
}
