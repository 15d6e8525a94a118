package console

import (
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CSV exports stream every row matching the page's filters, up to these bounds.
const (
	maxCSVUpdates = 250_000
	maxCSVAudit   = 100_000
	maxCSVTasks   = 1000
)

// csvWriter writes a CSV attachment. Cells that a spreadsheet would take for a formula
// are prefixed with a quote (CSV injection).
type csvWriter struct {
	w  *csv.Writer
	rw http.ResponseWriter
	n  int
}

func (c *Console) newCSV(w http.ResponseWriter, name string, header ...string) *csvWriter {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, c.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	cw := &csvWriter{w: csv.NewWriter(w), rw: w}
	cw.row(header...)
	return cw
}

func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (cw *csvWriter) row(cells ...string) {
	for i, s := range cells {
		cells[i] = csvCell(s)
	}
	_ = cw.w.Write(cells)
	cw.n++
	if cw.n%1000 == 0 {
		cw.w.Flush()
		if f, ok := cw.rw.(http.Flusher); ok {
			f.Flush()
		}
	}
}

func (cw *csvWriter) close() { cw.w.Flush() }

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func itoa(n int) string { return strconv.Itoa(n) }

// csvFailed logs an export that broke after its first bytes (the status is sent).
func (c *Console) csvFailed(r *http.Request, what string, err error) {
	if r.Context().Err() == nil {
		c.log.ErrorContext(r.Context(), "console: CSV export interrupted", slog.String("export", what), slog.Any("err", err))
	}
}

func (c *Console) handleUpdatesCSV(w http.ResponseWriter, r *http.Request) {
	uq := parseUpdateQuery(r.URL.Query())
	f := uq.filter()
	f.Limit = 1000
	page, err := c.deps.Store.ListUpdates(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cw := c.newCSV(w, "windows-updates", "update", "kb", "title", "severity", "classification", "products", "published",
		"superseded", "hosts_needing", "hosts_installed", "downloaded_on", "source")
	defer cw.close()
	for rows := 0; ; {
		for i := range page.Updates {
			u := &page.Updates[i]
			cw.row(u.Key().String(), formatKBs(u.KBs), u.Title, string(u.Severity), u.Classification, strings.Join(u.Products, "; "),
				csvTime(u.Created), strconv.FormatBool(u.Superseded), itoa(u.HostsNeeding), itoa(u.HostsInstalled),
				csvTime(u.DownloadedOn), string(u.Source))
			rows++
		}
		if page.Next == "" || rows >= maxCSVUpdates {
			return
		}
		f.Cursor = page.Next
		if page, err = c.deps.Store.ListUpdates(r.Context(), f); err != nil {
			c.csvFailed(r, "updates", err)
			return
		}
	}
}

func (c *Console) handleHostsCSV(w http.ResponseWriter, r *http.Request) {
	hq := parseHostsQuery(r.URL.Query())
	hq.Page = 1
	rows, _, _, err := c.hostPage(r, &hq, maxFleetHosts)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cw := c.newCSV(w, "hosts", "uuid", "name", "os", "groups", "maturity", "agent_version", "wua_status", "compliance",
		"last_seen", "last_scan", "reboot_pending", "ok", "pending", "missing", "discarded", "error", "superseded", "last_error")
	defer cw.close()
	for _, h := range rows {
		cw.row(h.UUID, h.Name, h.OS, strings.Join(h.Groups, "; "), h.Maturity, h.AgentVersion, h.WUAStatus, h.Label,
			csvTime(h.LastSeen), csvTime(h.LastScan), strconv.FormatBool(h.RebootPending), itoa(h.Counts.OK), itoa(h.Counts.Pending),
			itoa(h.Counts.Missing), itoa(h.Counts.Discarded), itoa(h.Counts.Error), itoa(h.Counts.Superseded), h.LastError)
	}
}

func (c *Console) handleHostUpdatesCSV(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	h, err := c.deps.Store.GetHost(r.Context(), uuid)
	if err != nil {
		c.fail(w, r, lookupErr(err, "No host %q.", clean(uuid)))
		return
	}
	ups, err := c.deps.Store.HostUpdates(r.Context(), h.UUID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cw := c.newCSV(w, "host-updates-"+safeFileName(h.Name), "host", "update", "kb", "title", "severity", "classification",
		"status", "reason", "installed_at", "changed_at", "last_error")
	defer cw.close()
	for _, u := range ups {
		cw.row(h.Name, u.Key.String(), formatKBs(u.KBs), u.Title, string(u.Severity), u.Classification, string(u.Status),
			string(u.Reason), csvTime(u.InstalledAt), csvTime(u.ChangedAt), u.LastError)
	}
}

// safeFileName keeps letters, digits, '-', '_' and '.' of a name for a download name.
func safeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "host"
	}
	return b.String()
}

func (c *Console) handleTasksCSV(w http.ResponseWriter, r *http.Request) {
	tasks, err := c.deps.Store.ListTasks(r.Context(), maxCSVTasks)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cw := c.newCSV(w, "download-tasks", "id", "file", "sha1", "url", "status", "size", "bytes", "attempts", "error", "worker",
		"created_at", "started_at", "finished_at")
	defer cw.close()
	for _, t := range tasks {
		cw.row(strconv.FormatInt(t.ID, 10), t.FileName, t.FileSHA1, t.URL, string(t.Status), strconv.FormatInt(t.Size, 10),
			strconv.FormatInt(t.Bytes, 10), itoa(t.Attempts), t.Error, t.Worker, csvTime(t.CreatedAt), csvTime(t.StartedAt), csvTime(t.FinishedAt))
	}
}

func (c *Console) handleAuditCSV(w http.ResponseWriter, r *http.Request) {
	f := auditFilter(r.URL.Query())
	f.Limit = 1000
	entries, err := c.deps.Store.ListAudit(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	cw := c.newCSV(w, "audit-log", "id", "at", "actor", "action", "target", "details")
	defer cw.close()
	for rows := 0; ; {
		for _, e := range entries {
			cw.row(strconv.FormatInt(e.ID, 10), csvTime(e.At), e.Actor, e.Action, e.Target, e.Details)
			rows++
		}
		if len(entries) < f.Limit || rows >= maxCSVAudit {
			return
		}
		f.BeforeID = entries[len(entries)-1].ID
		if entries, err = c.deps.Store.ListAudit(r.Context(), f); err != nil {
			c.csvFailed(r, "audit", err)
			return
		}
	}
}
