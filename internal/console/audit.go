package console

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/openwua/waptwua/internal/store"
)

const auditPageSize = 100

type auditData struct {
	Actor, Action, Target string
	Entries               []store.AuditEntry
	Older                 string // link to the next (older) page
	Newest                string // link back to the first page, when not on it
	CSV                   string
}

func auditFilter(q url.Values) store.AuditFilter {
	return store.AuditFilter{
		Actor:    strParam(q, "actor"),
		Action:   strParam(q, "action"),
		Target:   strParam(q, "target"),
		BeforeID: int64(intParam(q, "before", 0, 0, math.MaxInt32)),
	}
}

func auditURL(path string, f store.AuditFilter, before int64) string {
	v := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if e := v.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

func (c *Console) handleAudit(w http.ResponseWriter, r *http.Request) {
	f := auditFilter(r.URL.Query())
	f.Limit = auditPageSize
	entries, err := c.deps.Store.ListAudit(r.Context(), f)
	if err != nil {
		c.fail(w, r, fmt.Errorf("audit log: %w", err))
		return
	}
	d := auditData{Actor: f.Actor, Action: f.Action, Target: f.Target, Entries: entries, CSV: auditURL(Prefix+"audit.csv", f, 0)}
	if len(entries) == auditPageSize {
		d.Older = auditURL(Prefix+"audit", f, entries[len(entries)-1].ID)
	}
	if f.BeforeID > 0 {
		d.Newest = auditURL(Prefix+"audit", f, 0)
	}
	c.render(w, r, http.StatusOK, "audit", c.newPage(w, r, "audit", "Audit log", d))
}
