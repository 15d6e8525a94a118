package sqlq

import (
	"bytes"
	"context"
	"errors"
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
	Old      wu.Status            // the status it replaces, "" for a new one
}

// HostReport is one host's report waiting in a write group.
type HostReport struct {
	Host   string // the host's UUID
	Report store.Report
	Result *store.ReportResult // what recording it did, filled when not nil
}

// ReportPlan is what applying a report changes: only rows that differ are written.
type ReportPlan struct {
	Writes  []Write // sorted by update key, so concurrent reports lock in one order
	Deletes []int64 // update pks whose status the host no longer reports (Full)
	Counts  store.StatusCounts
	// Unchanged: the report's digest is the host's stored one; nothing else is planned.
	Unchanged bool
	// Deltas are the changes of the update counts (complete once Resolve ran).
	Deltas CountDeltas
}

// Resolve has the backend's resolve fill the update pks of the plan's writes and, for a
// lean report, drops the writes of unknown updates (DropUnknown), returning their keys.
func (p *ReportPlan) Resolve(lean bool, resolve func([]Write) error) ([]wu.UpdateKey, error) {
	if len(p.Writes) == 0 {
		return nil, nil
	}
	if err := resolve(p.Writes); err != nil {
		return nil, err
	}
	var unknown []wu.UpdateKey
	if lean {
		unknown = p.DropUnknown()
	}
	for _, w := range p.Writes {
		if w.Old == "" {
			p.Deltas.Change(w.UpdatePK, "", w.Update.Status)
		}
	}
	return unknown, nil
}

// DropUnknown removes from a lean report's plan the writes whose update the backend
// did not find (UpdatePK still 0 after its lookup) and returns their keys: those
// statuses are not recorded, and the host is asked to describe the updates.
func (p *ReportPlan) DropUnknown() []wu.UpdateKey {
	var unknown []wu.UpdateKey
	kept := p.Writes[:0]
	for _, w := range p.Writes {
		if w.UpdatePK != 0 {
			kept = append(kept, w)
			continue
		}
		unknown = append(unknown, w.Update.Key)
		p.Counts.Remove(w.Update.Status)
	}
	p.Writes = kept
	return unknown
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
	p := ReportPlan{Deltas: CountDeltas{}}
	have := make(map[wu.UpdateKey]HostRow, len(existing))
	for _, e := range existing {
		have[e.Key] = e
		if _, ok := reported[e.Key]; !ok {
			if r.Full {
				p.Deletes = append(p.Deletes, e.UpdatePK)
				p.Deltas.Change(e.UpdatePK, e.Status, "")
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
			w.UpdatePK, w.Old = e.UpdatePK, e.Status
			p.Deltas.Change(e.UpdatePK, e.Status, u.Status)
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

// Creates says whether a status of an update the store does not know creates it: always,
// except in a lean report, where only a described status (with a title) does.
func Creates(u store.ReportedUpdate, lean bool) bool { return !lean || u.Title != "" }

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
// are serialised), reads its statuses and plans the report. A report whose digest is
// the host's stored one is planned Unchanged without reading the statuses.
func (c *Common) PlanHostReport(ctx context.Context, tx Conn, hostUUID string, r store.Report) (hostPK int64, p ReportPlan, err error) {
	var digest []byte
	err = tx.QueryRow(ctx, `SELECT id, report_digest FROM hosts WHERE uuid = ?`+c.D.LockRow, hostUUID).Scan(&hostPK, &digest)
	if errors.Is(err, ErrNoRows) {
		return 0, p, NotFound("host " + hostUUID)
	}
	if err != nil {
		return 0, p, fmt.Errorf("look up host %s: %w", hostUUID, err)
	}
	if len(r.Digest) > 0 && bytes.Equal(r.Digest, digest) {
		p.Unchanged = true
		return hostPK, p, nil
	}
	existing, err := c.HostRows(ctx, tx, hostPK)
	if err != nil {
		return 0, p, err
	}
	p, err = PlanReport(existing, r)
	return hostPK, p, err
}

// FinishReport writes the host's reported packages and facts and its status counts,
// after the backend wrote the plan's statuses (and dropped the unknown ones of a lean
// report: then the digest is not stored, so that the same report is applied again).
// An Unchanged plan only records when the host was seen and scanned (and used its
// repository).
func (c *Common) FinishReport(ctx context.Context, tx Conn, hostPK int64, r store.Report, p ReportPlan, unknown []wu.UpdateKey) error {
	if p.Unchanged {
		_, err := tx.Exec(ctx, `UPDATE hosts SET last_seen = `+c.D.Greatest("last_seen", "?")+`, last_scan = coalesce(?, last_scan)
			WHERE id = ?`, c.TimeArg(r.At), c.TimeArg(r.ScanAt), hostPK)
		if err != nil {
			return fmt.Errorf("update host: %w", err)
		}
		return c.writeHostSiteFacts(ctx, tx, hostPK, r) // when the repository was last used
	}
	var digest any // NULL unless the whole report was recorded
	if len(unknown) == 0 && len(r.Digest) > 0 {
		digest = r.Digest
	}
	n := p.Counts
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
		n_ok = ?, n_pending = ?, n_missing = ?, n_discarded = ?, n_error = ?, n_superseded = ?,
		report_digest = ?
		WHERE id = ?`,
		r.Name, r.Name, r.OS, r.OS, r.AgentVersion, r.AgentVersion, r.WUAStatus, r.WUAStatus,
		r.RebootPending, r.LastError, c.TimeArg(r.At), c.TimeArg(r.ScanAt),
		n.OK, n.Pending, n.Missing, n.Discarded, n.Error, n.Superseded, digest, hostPK)
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
