package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

const hostCols = `h.uuid, h.name, h.os, h.groups, h.maturity, h.agent_version, h.credential_id,
	h.credential_hash, h.registered_at, h.wua_status, h.last_seen, h.last_scan, h.reboot_pending,
	h.last_error, h.n_ok, h.n_pending, h.n_missing, h.n_discarded, h.n_error, h.n_superseded`

func scanHost(sc scanner, extra ...any) (store.Host, error) {
	var h store.Host
	dest := []any{&h.UUID, &h.Name, &h.OS, sl{&h.Groups}, &h.Maturity, &h.AgentVersion, &h.CredentialID,
		&h.CredentialHash, nt{&h.RegisteredAt}, &h.WUAStatus, nt{&h.LastSeen}, nt{&h.LastScan},
		&h.RebootPending, &h.LastError, &h.Counts.OK, &h.Counts.Pending, &h.Counts.Missing,
		&h.Counts.Discarded, &h.Counts.Error, &h.Counts.Superseded}
	err := sc.Scan(append(dest, extra...)...)
	return h, err
}

// RegisterHost creates or re-registers a host.
func (s *Store) RegisterHost(ctx context.Context, r store.HostRegistration) (store.Host, error) {
	if r.UUID == "" || r.CredentialID == "" {
		return store.Host{}, fmt.Errorf("sqlite: register host: uuid and credential id are required: %w", store.ErrInvalid)
	}
	maturity := r.Maturity
	if maturity == "" {
		maturity = "PROD"
	}
	var h store.Host
	err := s.write(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT uuid FROM hosts WHERE credential_id = ?`, r.CredentialID).Scan(&owner)
		if err == nil && owner != r.UUID {
			return fmt.Errorf("credential id %q belongs to another host: %w", r.CredentialID, store.ErrConflict)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up credential: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO hosts (uuid, name, os, groups, maturity, agent_version,
			credential_id, credential_hash, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, os = excluded.os, groups = excluded.groups,
			maturity = excluded.maturity, agent_version = excluded.agent_version,
			credential_id = excluded.credential_id, credential_hash = excluded.credential_hash,
			registered_at = excluded.registered_at`,
			r.UUID, r.Name, r.OS, jl(r.Groups), maturity, r.AgentVersion, r.CredentialID, r.CredentialHash, tz(r.At))
		if isUnique(err) {
			return fmt.Errorf("credential id %q belongs to another host: %w", r.CredentialID, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		h, err = scanHost(tx.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.uuid = ?`, r.UUID))
		return err
	})
	if err != nil {
		return store.Host{}, fmt.Errorf("sqlite: register host %s: %w", r.UUID, err)
	}
	return h, nil
}

func (s *Store) hostBy(ctx context.Context, col, val string) (store.Host, error) {
	h, err := scanHost(s.r.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.`+col+` = ?`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return h, notFound(fmt.Sprintf("sqlite: host with %s %q", col, val))
	}
	if err != nil {
		return h, fmt.Errorf("sqlite: get host with %s %q: %w", col, val, err)
	}
	return h, nil
}

// GetHost returns the host with this UUID and the rules packages of its last report.
func (s *Store) GetHost(ctx context.Context, uuid string) (store.Host, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.Host{}, fmt.Errorf("sqlite: get host %q: %w", uuid, err)
	}
	defer tx.Rollback()
	var id int64
	h, err := scanHost(tx.QueryRowContext(ctx, `SELECT `+hostCols+`, h.id FROM hosts h WHERE h.uuid = ?`, uuid), &id)
	if errors.Is(err, sql.ErrNoRows) {
		return h, notFound(fmt.Sprintf("sqlite: host with uuid %q", uuid))
	}
	if err != nil {
		return h, fmt.Errorf("sqlite: get host with uuid %q: %w", uuid, err)
	}
	if h.Packages, err = hostPackages(ctx, tx, id); err != nil {
		return h, fmt.Errorf("sqlite: get host %q: %w", uuid, err)
	}
	return h, nil
}

// HostByCredential returns the host owning the credential id.
func (s *Store) HostByCredential(ctx context.Context, credentialID string) (store.Host, error) {
	return s.hostBy(ctx, "credential_id", credentialID)
}

// TouchHost records that the host was seen.
func (s *Store) TouchHost(ctx context.Context, uuid string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE hosts SET last_seen = max(coalesce(last_seen, 0), coalesce(?, 0)) WHERE uuid = ?`, tv(at), uuid)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound("host " + uuid)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch host: %w", err)
	}
	return nil
}

// DeleteHost removes the host, its statuses and its commands.
func (s *Store) DeleteHost(ctx context.Context, uuid string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM hosts WHERE uuid = ?`, uuid)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound("host " + uuid)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete host: %w", err)
	}
	return nil
}

// ListHosts returns one page of hosts ordered by name.
func (s *Store) ListHosts(ctx context.Context, f store.HostFilter) (store.HostPage, error) {
	var page store.HostPage
	limit := store.PageLimit(f.Limit, 50, 1000)
	where, args := "TRUE", []any{}
	if q := strings.TrimSpace(f.Search); q != "" {
		where += ` AND (lower(h.name) LIKE ? ESCAPE '\' OR lower(h.uuid) LIKE ? ESCAPE '\')`
		args = append(args, sqlq.LikePattern(q), sqlq.LikePattern(q))
	}
	if f.WUAStatus != "" {
		where += ` AND h.wua_status = ?`
		args = append(args, f.WUAStatus)
	}
	countArgs := append([]any(nil), args...)
	q := `SELECT ` + hostCols + `, h.id FROM hosts h WHERE ` + where
	if f.Cursor != "" {
		name, id, err := sqlq.DecodeHostCursor(f.Cursor)
		if err != nil {
			return page, fmt.Errorf("sqlite: list hosts: %w", err)
		}
		q += ` AND (h.name, h.id) > (?, ?)`
		args = append(args, name, id)
	}
	q += fmt.Sprintf(` ORDER BY h.name, h.id LIMIT %d`, limit+1)
	if f.Cursor == "" && f.Offset > 0 {
		q += fmt.Sprintf(` OFFSET %d`, f.Offset)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return page, fmt.Errorf("sqlite: list hosts: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("sqlite: list hosts: %w", err)
	}
	var lastID int64
	for rows.Next() {
		var id int64
		h, err := scanHost(rows, &id)
		if err != nil {
			rows.Close()
			return page, fmt.Errorf("sqlite: list hosts: %w", err)
		}
		if len(page.Hosts) == limit {
			page.Next = sqlq.HostCursor(page.Hosts[limit-1].Name, lastID)
			break
		}
		page.Hosts = append(page.Hosts, h)
		lastID = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("sqlite: list hosts: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM hosts h WHERE `+where, countArgs...).Scan(&page.Total); err != nil {
		return page, fmt.Errorf("sqlite: count hosts: %w", err)
	}
	return page, nil
}

// ApplyReport records one report in one transaction, writing only what changed.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var hostPK int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM hosts WHERE uuid = ?`, hostUUID).Scan(&hostPK)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("host " + hostUUID)
		}
		if err != nil {
			return fmt.Errorf("look up host: %w", err)
		}
		existing, err := hostRows(ctx, tx, hostPK)
		if err != nil {
			return err
		}
		plan, err := sqlq.PlanReport(existing, r)
		if err != nil {
			return err
		}
		if len(plan.Writes) > 0 {
			if err := writeStatuses(ctx, tx, hostPK, plan.Writes, r.At); err != nil {
				return err
			}
		}
		if len(plan.Deletes) > 0 {
			st, err := tx.PrepareContext(ctx, `DELETE FROM host_updates WHERE host_pk = ? AND update_pk = ?`)
			if err != nil {
				return fmt.Errorf("prepare status delete: %w", err)
			}
			defer st.Close()
			for _, pk := range plan.Deletes {
				if _, err := st.ExecContext(ctx, hostPK, pk); err != nil {
					return fmt.Errorf("delete status: %w", err)
				}
			}
		}
		if r.Packages != nil {
			if err := writeHostPackages(ctx, tx, hostPK, r.Packages, r.At); err != nil {
				return err
			}
		}
		c := plan.Counts
		_, err = tx.ExecContext(ctx, `UPDATE hosts SET
			name = CASE WHEN ?1 = '' THEN name ELSE ?1 END,
			os = CASE WHEN ?2 = '' THEN os ELSE ?2 END,
			agent_version = CASE WHEN ?3 = '' THEN agent_version ELSE ?3 END,
			wua_status = CASE WHEN ?4 = '' THEN wua_status ELSE ?4 END,
			reboot_pending = ?5, last_error = ?6,
			last_seen = max(coalesce(last_seen, 0), coalesce(?7, 0)),
			last_scan = coalesce(?8, last_scan),
			n_ok = ?9, n_pending = ?10, n_missing = ?11, n_discarded = ?12, n_error = ?13, n_superseded = ?14
			WHERE id = ?15`,
			r.Name, r.OS, r.AgentVersion, r.WUAStatus, r.RebootPending, r.LastError, tv(r.At), tv(r.ScanAt),
			c.OK, c.Pending, c.Missing, c.Discarded, c.Error, c.Superseded, hostPK)
		if err != nil {
			return fmt.Errorf("update host: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: apply report of host %s: %w", hostUUID, err)
	}
	return nil
}

func hostRows(ctx context.Context, tx *sql.Tx, hostPK int64) ([]sqlq.HostRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT h.update_pk, u.update_id, u.revision_number, h.status, h.reason,
		coalesce(h.installed_at, 0), h.last_error
		FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = ?`, hostPK)
	if err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	defer rows.Close()
	var out []sqlq.HostRow
	for rows.Next() {
		var e sqlq.HostRow
		if err := rows.Scan(&e.UpdatePK, &e.Key.UpdateID, &e.Key.RevisionNumber, &e.Status, &e.Reason, &e.InstalledAt, &e.LastError); err != nil {
			return nil, fmt.Errorf("read statuses: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	return out, nil
}

func writeStatuses(ctx context.Context, tx *sql.Tx, hostPK int64, writes []sqlq.Write, at time.Time) error {
	find, err := tx.PrepareContext(ctx, `SELECT id FROM updates WHERE update_id = ? AND revision_number = ?`)
	if err != nil {
		return fmt.Errorf("prepare update lookup: %w", err)
	}
	defer find.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO host_updates (host_pk, update_pk, status, reason, installed_at, last_error, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_pk, update_pk) DO UPDATE SET status = excluded.status, reason = excluded.reason,
		installed_at = excluded.installed_at, last_error = excluded.last_error, changed_at = excluded.changed_at`)
	if err != nil {
		return fmt.Errorf("prepare status upsert: %w", err)
	}
	defer put.Close()
	var uw *updateWriter
	defer func() {
		if uw != nil {
			uw.close()
		}
	}()
	for _, w := range writes {
		u := w.Update
		pk := w.UpdatePK
		if pk == 0 {
			err := find.QueryRowContext(ctx, u.Key.UpdateID, u.Key.RevisionNumber).Scan(&pk)
			if errors.Is(err, sql.ErrNoRows) {
				if uw == nil {
					if uw, err = prepareUpdateWriter(ctx, tx); err != nil {
						return err
					}
				}
				info := sqlq.ReportedUpdateInfo(u)
				if pk, err = uw.write(ctx, &info, store.SourceReport, "", at); err != nil {
					return err
				}
			} else if err != nil {
				return fmt.Errorf("look up update %s: %w", u.Key, err)
			}
		}
		if _, err := put.ExecContext(ctx, hostPK, pk, string(u.Status), string(u.Reason), tv(u.InstalledAt), u.LastError, tz(at)); err != nil {
			return fmt.Errorf("write status of %s: %w", u.Key, err)
		}
	}
	return nil
}

// HostUpdates lists a host's per-update statuses.
func (s *Store) HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]store.HostUpdate, error) {
	var hostPK int64
	err := s.r.QueryRowContext(ctx, `SELECT id FROM hosts WHERE uuid = ?`, hostUUID).Scan(&hostPK)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("sqlite: host " + hostUUID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: host %s statuses: %w", hostUUID, err)
	}
	q := `SELECT u.update_id, u.revision_number, u.title, u.kb_ids, u.severity, u.classification,
		h.status, h.reason, h.installed_at, h.last_error, h.changed_at
		FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = ?`
	args := []any{hostPK}
	if len(statuses) > 0 {
		q += ` AND h.status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	q += ` ORDER BY u.update_id, u.revision_number`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: host %s statuses: %w", hostUUID, err)
	}
	defer rows.Close()
	var out []store.HostUpdate
	for rows.Next() {
		var h store.HostUpdate
		if err := rows.Scan(&h.Key.UpdateID, &h.Key.RevisionNumber, &h.Title, sl{&h.KBs}, &h.Severity,
			&h.Classification, &h.Status, &h.Reason, nt{&h.InstalledAt}, &h.LastError, nt{&h.ChangedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: host %s statuses: %w", hostUUID, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: host %s statuses: %w", hostUUID, err)
	}
	return out, nil
}

// UpdateHosts lists one page of the hosts having a status for the update.
func (s *Store) UpdateHosts(ctx context.Context, key wu.UpdateKey, f store.UpdateHostFilter) (store.UpdateHostPage, error) {
	var page store.UpdateHostPage
	limit := store.PageLimit(f.Limit, 100, 1000)
	q := `SELECT id FROM updates WHERE update_id = ?`
	args := []any{key.UpdateID}
	if key.RevisionNumber != 0 {
		q += ` AND revision_number = ?`
		args = append(args, key.RevisionNumber)
	}
	var pk int64
	err := s.r.QueryRowContext(ctx, q+` ORDER BY revision_number DESC LIMIT 1`, args...).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return page, notFound(fmt.Sprintf("sqlite: update %s", key))
	}
	if err != nil {
		return page, fmt.Errorf("sqlite: hosts of update %s: %w", key, err)
	}
	q = `SELECT h.uuid, h.name, hu.status, hu.reason, hu.installed_at, hu.last_error, hu.changed_at, h.id
		FROM host_updates hu JOIN hosts h ON h.id = hu.host_pk WHERE hu.update_pk = ?`
	args = []any{pk}
	if len(f.Statuses) > 0 {
		q += ` AND hu.status IN (?` + strings.Repeat(", ?", len(f.Statuses)-1) + `)`
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Cursor != "" {
		name, id, err := sqlq.DecodeHostCursor(f.Cursor)
		if err != nil {
			return page, fmt.Errorf("sqlite: hosts of update %s: %w", key, err)
		}
		q += ` AND (h.name, h.id) > (?, ?)`
		args = append(args, name, id)
	}
	q += fmt.Sprintf(` ORDER BY h.name, h.id LIMIT %d`, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("sqlite: hosts of update %s: %w", key, err)
	}
	defer rows.Close()
	var lastID int64
	for rows.Next() {
		var h store.UpdateHostStatus
		var id int64
		if err := rows.Scan(&h.HostUUID, &h.HostName, &h.Status, &h.Reason, nt{&h.InstalledAt}, &h.LastError, nt{&h.ChangedAt}, &id); err != nil {
			return page, fmt.Errorf("sqlite: hosts of update %s: %w", key, err)
		}
		if len(page.Hosts) == limit {
			page.Next = sqlq.HostCursor(page.Hosts[limit-1].HostName, lastID)
			break
		}
		page.Hosts = append(page.Hosts, h)
		lastID = id
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("sqlite: hosts of update %s: %w", key, err)
	}
	return page, nil
}
