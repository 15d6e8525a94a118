package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

const (
	// staleAfter: a host not seen for this long counts as "not seen for 7 days".
	staleAfter = 7 * 24 * time.Hour
	// maxFleetHosts bounds the hosts the dashboard and the compliance filter read.
	maxFleetHosts = 50_000
	hostPageSize  = 50
)

// Compliance buckets of a host, each host in exactly one, first match wins.
// They are the store's host states (store.SummarizeHosts counts them for the dashboard;
// bucketOf decides them for one host, the same way).
const (
	bucketStale   = store.HostStateStale   // not seen for 7 days (or never)
	bucketError   = store.HostStateError   // an install failed or the agent is in an error state
	bucketReboot  = store.HostStateReboot  // a restart is pending
	bucketPending = store.HostStatePending // updates wait for install (or for their files)
	bucketNew     = store.HostStateNew     // registered, never scanned
	bucketOK      = store.HostStateOK
)

var bucketOrder = []string{bucketOK, bucketPending, bucketReboot, bucketError, bucketStale, bucketNew}

var bucketLabels = map[string]string{
	bucketOK:      "Up to date",
	bucketPending: "Updates pending",
	bucketReboot:  "Reboot needed",
	bucketError:   "Error",
	bucketStale:   "Not seen for 7 days",
	bucketNew:     "Never scanned",
}

func bucketOf(h *store.Host, now time.Time) string {
	switch {
	case h.LastSeen.IsZero() || now.Sub(h.LastSeen) > staleAfter:
		return bucketStale
	case h.Counts.Error > 0 || strings.Contains(h.WUAStatus, "ERROR"):
		return bucketError
	case h.RebootPending:
		return bucketReboot
	case h.Counts.Pending+h.Counts.Missing > 0:
		return bucketPending
	case h.LastScan.IsZero():
		return bucketNew
	}
	return bucketOK
}

// allHosts reads up to limit hosts, ordered by name; truncated says there are more.
func (c *Console) allHosts(r *http.Request, limit int) ([]store.Host, bool, error) {
	var out []store.Host
	f := store.HostFilter{Limit: 1000}
	for {
		page, err := c.deps.Store.ListHosts(r.Context(), f)
		if err != nil {
			return nil, false, fmt.Errorf("list hosts: %w", err)
		}
		out = append(out, page.Hosts...)
		if len(out) >= limit {
			return out[:limit], true, nil
		}
		if page.Next == "" || len(page.Hosts) == 0 {
			return out, false, nil
		}
		f.Cursor = page.Next
	}
}

type hostRow struct {
	store.Host
	Pending int
	Bucket  string
	Label   string
	Stale   bool
}

func (c *Console) rowOfHost(h store.Host) hostRow {
	b := bucketOf(&h, c.now())
	return hostRow{Host: h, Pending: h.Counts.Pending + h.Counts.Missing, Bucket: b, Label: bucketLabels[b], Stale: b == bucketStale}
}

type hostsQuery struct {
	Search string
	Status string // agent-level WUA status, exact
	State  string // compliance bucket
	// Deadline keeps the hosts with updates past their deadline (deadline=past).
	Deadline bool
	Page     int
	After    string
}

func (hq hostsQuery) values() url.Values {
	v := url.Values{}
	if hq.Search != "" {
		v.Set("q", hq.Search)
	}
	if hq.Status != "" {
		v.Set("status", hq.Status)
	}
	if hq.State != "" {
		v.Set("state", hq.State)
	}
	if hq.Deadline {
		v.Set("deadline", "past")
	}
	return v
}

func (hq hostsQuery) pageURL(path string, n int) string {
	v := hq.values()
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if e := v.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

type choice struct {
	Value, Label string
	Selected     bool
}

type hostsData struct {
	Query    hostsQuery
	Rows     []hostRow
	Total    int
	Page     int
	Pages    int
	Prev     string
	Next     string
	First    string
	Last     string
	Statuses []choice
	States   []choice
	CSV      string
	Here     string
}

// wuaStatuses are the agent-level statuses (REFERENCE §2) the filter offers.
var wuaStatuses = []string{"OK", "PENDING_UPDATES", "READY", "SCANNING", "INSTALL", "ERROR", "DISK_SPACE_ERROR",
	"ERROR SCANNING UPDATES", "ERROR DOWNLOADING WSUSSCAN"}

func parseHostsQuery(q url.Values) hostsQuery {
	hq := hostsQuery{Search: strParam(q, "q"), Page: intParam(q, "page", 1, 1, maxPage), After: strParam(q, "after")}
	if s := strParam(q, "status"); slices.Contains(wuaStatuses, s) {
		hq.Status = s
	}
	if s := strParam(q, "state"); bucketLabels[s] != "" {
		hq.State = s
	}
	hq.Deadline = strParam(q, "deadline") == "past"
	return hq
}

func (c *Console) handleHosts(w http.ResponseWriter, r *http.Request) {
	hq := parseHostsQuery(r.URL.Query())
	rows, total, next, err := c.hostPage(r, &hq, hostPageSize)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := hostsData{Query: hq, Rows: rows, Total: total, Page: hq.Page, CSV: hq.pageURL(Prefix+"hosts.csv", 1), Here: hq.pageURL(Prefix+"hosts", hq.Page)}
	d.Pages = max(1, (total+hostPageSize-1)/hostPageSize)
	base := Prefix + "hosts"
	if hq.Page > 1 {
		d.First, d.Prev = hq.pageURL(base, 1), hq.pageURL(base, hq.Page-1)
	}
	if hq.Page < d.Pages {
		d.Next, d.Last = hq.pageURL(base, hq.Page+1), hq.pageURL(base, d.Pages)
		if next != "" {
			d.Next += sep(d.Next) + "after=" + url.QueryEscape(next)
		}
	}
	d.Statuses = append(d.Statuses, choice{Value: "", Label: "any status", Selected: hq.Status == ""})
	for _, s := range wuaStatuses {
		d.Statuses = append(d.Statuses, choice{Value: s, Label: s, Selected: hq.Status == s})
	}
	d.States = append(d.States, choice{Value: "", Label: "any compliance", Selected: hq.State == ""})
	for _, b := range bucketOrder {
		d.States = append(d.States, choice{Value: b, Label: bucketLabels[b], Selected: hq.State == b})
	}
	c.render(w, r, http.StatusOK, "hosts", c.newPage(w, r, "hosts", "Hosts", d))
}

// hostPage reads one page of hosts: from the store, or, with a compliance filter that
// the store cannot apply, from the whole fleet filtered here.
func (c *Console) hostPage(r *http.Request, hq *hostsQuery, size int) (rows []hostRow, total int, next string, err error) {
	if hq.State != "" {
		hosts, _, err := c.allHosts(r, maxFleetHosts)
		if err != nil {
			return nil, 0, "", err
		}
		var late map[string]bool // hosts past their deadline, when filtered on it
		if hq.Deadline {
			p, err := c.deps.Store.ListHosts(r.Context(), store.HostFilter{PastDeadline: true, Limit: maxFleetHosts})
			if err != nil {
				return nil, 0, "", fmt.Errorf("list hosts past their deadline: %w", err)
			}
			late = map[string]bool{}
			for _, h := range p.Hosts {
				late[h.UUID] = true
			}
		}
		var sel []hostRow
		for _, h := range hosts {
			row := c.rowOfHost(h)
			if row.Bucket != hq.State || (late != nil && !late[h.UUID]) || (hq.Status != "" && h.WUAStatus != hq.Status) ||
				(hq.Search != "" && !strings.Contains(strings.ToLower(h.Name+" "+h.UUID), strings.ToLower(hq.Search))) {
				continue
			}
			sel = append(sel, row)
		}
		pages := max(1, (len(sel)+size-1)/size)
		hq.Page = min(hq.Page, pages)
		from := (hq.Page - 1) * size
		return sel[from:min(from+size, len(sel))], len(sel), "", nil
	}
	f := store.HostFilter{Search: hq.Search, WUAStatus: hq.Status, PastDeadline: hq.Deadline, Limit: size}
	var page store.HostPage
	if hq.After != "" && hq.Page > 1 {
		f.Cursor = hq.After
		page, err = c.deps.Store.ListHosts(r.Context(), f)
		if errors.Is(err, store.ErrInvalid) {
			f.Cursor, err = "", nil
		}
	}
	if f.Cursor == "" {
		f.Offset = (hq.Page - 1) * size
		page, err = c.deps.Store.ListHosts(r.Context(), f)
		if err == nil && len(page.Hosts) == 0 && page.Total > 0 && f.Offset >= page.Total {
			hq.Page = (page.Total + size - 1) / size
			f.Offset = (hq.Page - 1) * size
			page, err = c.deps.Store.ListHosts(r.Context(), f)
		}
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("list hosts: %w", err)
	}
	for _, h := range page.Hosts {
		rows = append(rows, c.rowOfHost(h))
	}
	return rows, page.Total, page.Next, nil
}

// --- one host ------------------------------------------------------------------------

type hostUpdateRow struct {
	store.HostUpdate
	KeyStr string
	KBStr  string
}

type hostDetail struct {
	Host      hostRow
	Updates   []hostUpdateRow
	Counts    []statusCount
	StatusSel string
	History   []hostUpdateRow
	Commands  []store.Command
	Active    bool // a command is pending or sent: the live part polls
	CSV       string
	// Schedule is the maintenance schedule of the host's last report (ReportedAt zero:
	// none reported).
	Schedule store.HostSchedule
}

type statusCount struct {
	Status   wu.Status
	Count    int
	Selected bool
}

func (c *Console) hostDetail(r *http.Request) (*hostDetail, error) {
	uuid := r.PathValue("uuid")
	h, err := c.deps.Store.GetHost(r.Context(), uuid)
	if err != nil {
		return nil, lookupErr(err, "No host %q.", clean(uuid))
	}
	d := &hostDetail{Host: c.rowOfHost(h), CSV: Prefix + "hosts/" + url.PathEscape(h.UUID) + "/updates.csv"}
	all, err := c.deps.Store.HostUpdates(r.Context(), h.UUID)
	if err != nil {
		return nil, fmt.Errorf("host %s updates: %w", h.Name, err)
	}
	sel := wu.Status(strings.ToUpper(strParam(r.URL.Query(), "status")))
	if !sel.Valid() {
		sel = ""
	}
	d.StatusSel = string(sel)
	counts := map[wu.Status]int{}
	for _, u := range all {
		counts[u.Status]++
		row := hostUpdateRow{HostUpdate: u, KeyStr: u.Key.String(), KBStr: formatKBs(u.KBs)}
		if sel == "" || u.Status == sel {
			d.Updates = append(d.Updates, row)
		}
		if u.Status == wu.StatusOK && !u.InstalledAt.IsZero() {
			d.History = append(d.History, row)
		}
	}
	for _, s := range []wu.Status{wu.StatusMissing, wu.StatusPending, wu.StatusError, wu.StatusDiscarded, wu.StatusSuperseded, wu.StatusOK} {
		d.Counts = append(d.Counts, statusCount{Status: s, Count: counts[s], Selected: s == sel})
	}
	// Needing attention first: errors, then what is missing or pending, then the rest.
	rank := map[wu.Status]int{wu.StatusError: 0, wu.StatusMissing: 1, wu.StatusPending: 2, wu.StatusDiscarded: 3, wu.StatusSuperseded: 4, wu.StatusOK: 5}
	slices.SortStableFunc(d.Updates, func(a, b hostUpdateRow) int {
		return cmp.Or(cmp.Compare(rank[a.Status], rank[b.Status]), -cmp.Compare(store.SeverityRank(a.Severity), store.SeverityRank(b.Severity)),
			strings.Compare(a.KBStr, b.KBStr))
	})
	slices.SortStableFunc(d.History, func(a, b hostUpdateRow) int { return b.InstalledAt.Compare(a.InstalledAt) })
	if d.Commands, err = c.deps.Store.ListCommands(r.Context(), h.UUID, 20); err != nil {
		return nil, fmt.Errorf("host %s commands: %w", h.Name, err)
	}
	for _, cmd := range d.Commands {
		if cmd.Status == store.CommandPending || cmd.Status == store.CommandSent {
			d.Active = true
		}
	}
	if d.Schedule, err = c.deps.App.HostSchedule(r.Context(), h.UUID); err != nil {
		return nil, fmt.Errorf("host %s schedule: %w", h.Name, err)
	}
	return d, nil
}

func (c *Console) handleHost(w http.ResponseWriter, r *http.Request) {
	d, err := c.hostDetail(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "host", c.newPage(w, r, "hosts", d.Host.Name, d))
}

// handleHostLive renders the host's status, counts, commands and updates alone: htmx
// polls it while a command is under way.
func (c *Console) handleHostLive(w http.ResponseWriter, r *http.Request) {
	d, err := c.hostDetail(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderFragment(w, r, "host", "live", c.fragmentPage(r, "hosts", d.Host.Name, d))
}

func commandKind(v string) (store.CommandKind, error) {
	k, err := app.ParseCommandKind(v)
	if err != nil {
		return "", badRequest("Unknown command %q: scan, download or install.", clean(v))
	}
	return k, nil
}

func (c *Console) handleHostCommand(w http.ResponseWriter, r *http.Request) {
	kind, err := commandKind(r.PostFormValue("kind"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	uuid := r.PathValue("uuid")
	h, err := c.deps.Store.GetHost(r.Context(), uuid)
	if err != nil {
		c.fail(w, r, lookupErr(err, "No host %q.", clean(uuid)))
		return
	}
	if _, err := c.deps.App.QueueCommands(r.Context(), kind, []string{h.UUID}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"hosts/"+url.PathEscape(h.UUID), "ok",
		fmt.Sprintf("Trigger the %s: sent to %s. The status below follows it.", app.CommandLabels[kind], h.Name))
}

// handleBulkCommand queues a command for the ticked hosts: all or nothing, as the
// admin API (a host deleted meanwhile refuses the action, naming it).
func (c *Console) handleBulkCommand(w http.ResponseWriter, r *http.Request) {
	kind, err := commandKind(r.PostFormValue("kind"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	hosts := listParam(r.PostForm, "uuid")
	if len(hosts) == 0 {
		c.fail(w, r, badRequest("Select at least one host (tick its box in the list) first."))
		return
	}
	if len(r.PostForm["uuid"]) > app.MaxBulkHosts {
		c.fail(w, r, badRequest("%d hosts selected, at most %d per action.", len(r.PostForm["uuid"]), app.MaxBulkHosts))
		return
	}
	cmds, err := c.deps.App.QueueCommands(r.Context(), kind, hosts)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, backTo(r, Prefix+"hosts"), "ok", fmt.Sprintf("Trigger the %s: sent to %d host(s).", app.CommandLabels[kind], len(cmds)))
}

// handleResetHost clears the host's credential (app.ResetHost, audited host.reset): the
// host gets 401 until it registers again, and its next registration is accepted.
func (c *Console) handleResetHost(w http.ResponseWriter, r *http.Request) {
	h, err := c.deps.App.ResetHost(r.Context(), r.PathValue("uuid"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"hosts/"+url.PathEscape(h.UUID), "ok",
		fmt.Sprintf("Registration of %s reset: its credential no longer works; the machine may register again.", h.Name))
}
