package sqlq

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// HostRow is one stored status of a host, as both backends read it.
type HostRow struct {
	UpdatePK    int64
	Key         wu.UpdateKey
	Status      wu.Status
	Reason      wu.Reason
	InstalledAt int64 // unix microseconds, 0 when unknown
	LastError   string
}

// Write is one status to insert or rewrite. UpdatePK is 0 when the host had no status
// for the update yet: the backend resolves it (creating a SourceReport update if needed).
type Write struct {
	UpdatePK int64
	Update   store.ReportedUpdate // Key lower-cased
}

// HostReport is one host's report waiting in a write group.
type HostReport struct {
	Host   string // the host's UUID
	Report store.Report
}

// ReportPlan is what applying a report changes: only rows that differ are written.
type ReportPlan struct {
	Writes  []Write // sorted by update key, so concurrent reports lock in one order
	Deletes []int64 // update pks whose status the host no longer reports (Full)
	Counts  store.StatusCounts
}

// PlanReport compares a report with the host's stored statuses.
func PlanReport(existing []HostRow, r store.Report) (ReportPlan, error) {
	reported := make(map[wu.UpdateKey]store.ReportedUpdate, len(r.Updates))
	for _, u := range r.Updates {
		u.Key.UpdateID = strings.ToLower(strings.TrimSpace(u.Key.UpdateID))
		if !wu.IsGUID(u.Key.UpdateID) {
			return ReportPlan{}, fmt.Errorf("report: update id %q is not a GUID: %w", u.Key.UpdateID, store.ErrInvalid)
		}
		if !u.Status.Valid() {
			return ReportPlan{}, fmt.Errorf("report: update %s: status %q: %w (want OK, PENDING, MISSING, DISCARDED, ERROR or SUPERSEDED)", u.Key, u.Status, store.ErrInvalid)
		}
		reported[u.Key] = u // the last one of duplicates wins
	}
	var p ReportPlan
	have := make(map[wu.UpdateKey]HostRow, len(existing))
	for _, e := range existing {
		have[e.Key] = e
		if _, ok := reported[e.Key]; !ok {
			if r.Full {
				p.Deletes = append(p.Deletes, e.UpdatePK)
			} else {
				p.Counts.Add(e.Status)
			}
		}
	}
	for k, u := range reported {
		p.Counts.Add(u.Status)
		e, ok := have[k]
		if ok && e.Status == u.Status && e.Reason == u.Reason && e.InstalledAt == Micros(u.InstalledAt) && e.LastError == u.LastError {
			continue
		}
		w := Write{Update: u}
		if ok {
			w.UpdatePK = e.UpdatePK
		}
		p.Writes = append(p.Writes, w)
	}
	sort.Slice(p.Writes, func(i, j int) bool {
		a, b := p.Writes[i].Update.Key, p.Writes[j].Update.Key
		if a.UpdateID != b.UpdateID {
			return a.UpdateID < b.UpdateID
		}
		return a.RevisionNumber < b.RevisionNumber
	})
	sort.Slice(p.Deletes, func(i, j int) bool { return p.Deletes[i] < p.Deletes[j] })
	return p, nil
}

// ReportedUpdateInfo turns what a host knows of an update the catalog lacks into an
// update row of SourceReport.
func ReportedUpdateInfo(u store.ReportedUpdate) wu.Update {
	return wu.Update{
		UpdateID:       u.Key.UpdateID,
		RevisionNumber: u.Key.RevisionNumber,
		Title:          u.Title,
		KBs:            CleanStrings(u.KBs),
		Severity:       u.Severity,
		Classification: u.Classification,
		Products:       CleanStrings(u.Products),
	}
}

// PlanHostReport locks the host (where rows are locked: reports and commands of one host
// are serialised), reads its statuses and plans the report.
func (c *Common) PlanHostReport(ctx context.Context, tx Conn, hostUUID string, r store.Report) (hostPK int64, p ReportPlan, err error) {
	if hostPK, err = c.lockHost(ctx, tx, hostUUID); err != nil {
		return 0, p, err
	}
	existing, err := c.HostRows(ctx, tx, hostPK)
	if err != nil {
		return 0, p, err
	}
	p, err = PlanReport(existing, r)
	return hostPK, p, err
}

// FinishReport writes the host's reported packages and facts and its status counts,
// after the backend wrote the plan's statuses.
func (c *Common) FinishReport(ctx context.Context, tx Conn, hostPK int64, r store.Report, n store.StatusCounts) error {
	if r.Packages != nil {
		if err := c.WriteHostPackages(ctx, tx, hostPK, r.Packages, r.At); err != nil {
			return err
		}
	}
	if r.UpdatePackages != nil {
		if err := c.WriteHostUpdatePackages(ctx, tx, hostPK, r.UpdatePackages, r.At); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE hosts SET
		name = CASE WHEN ? = '' THEN name ELSE ? END,
		os = CASE WHEN ? = '' THEN os ELSE ? END,
		agent_version = CASE WHEN ? = '' THEN agent_version ELSE ? END,
		wua_status = CASE WHEN ? = '' THEN wua_status ELSE ? END,
		reboot_pending = ?, last_error = ?,
		last_seen = `+c.D.Greatest("last_seen", "?")+`, last_scan = coalesce(?, last_scan),
		n_ok = ?, n_pending = ?, n_missing = ?, n_discarded = ?, n_error = ?, n_superseded = ?
		WHERE id = ?`,
		r.Name, r.Name, r.OS, r.OS, r.AgentVersion, r.AgentVersion, r.WUAStatus, r.WUAStatus,
		r.RebootPending, r.LastError, c.TimeArg(r.At), c.TimeArg(r.ScanAt),
		n.OK, n.Pending, n.Missing, n.Discarded, n.Error, n.Superseded, hostPK)
	if err != nil {
		return fmt.Errorf("update host: %w", err)
	}
	return c.writeHostSiteFacts(ctx, tx, hostPK, r)
}

// UpdateUpsertSet is the ON CONFLICT clause rewriting a stored update row with the
// inserted one (catalog imports).
const UpdateUpsertSet = `ON CONFLICT (update_id, revision_number) DO UPDATE SET revision_id = excluded.revision_id,
	source = excluded.source, content_hash = excluded.content_hash, created = excluded.created,
	title = excluded.title, description = excluded.description, kb_ids = excluded.kb_ids,
	kb_num = excluded.kb_num, search_text = excluded.search_text, severity = excluded.severity,
	severity_rank = excluded.severity_rank, classification = excluded.classification,
	classification_id = excluded.classification_id, products = excluded.products,
	product_ids = excluded.product_ids, company = excluded.company,
	product_family = excluded.product_family, superseded_by = excluded.superseded_by,
	supersedes = excluded.supersedes, prerequisites = excluded.prerequisites,
	support_url = excluded.support_url, security_bulletins = excluded.security_bulletins,
	superseded = excluded.superseded, changed_at = excluded.changed_at`
