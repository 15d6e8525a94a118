package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

const hostCols = `h.uuid, h.name, h.os, h.groups, h.maturity, h.agent_version, h.credential_id,
	h.credential_hash, h.registered_at, h.wua_status, h.last_seen, h.last_scan, h.reboot_pending,
	h.last_error, h.n_ok, h.n_pending, h.n_missing, h.n_discarded, h.n_error, h.n_superseded`

func scanHost(row pgx.Row, extra ...any) (store.Host, error) {
	var h store.Host
	dest := []any{&h.UUID, &h.Name, &h.OS, &h.Groups, &h.Maturity, &h.AgentVersion, &h.CredentialID,
		&h.CredentialHash, nt{&h.RegisteredAt}, &h.WUAStatus, nt{&h.LastSeen}, nt{&h.LastScan},
		&h.RebootPending, &h.LastError, &h.Counts.OK, &h.Counts.Pending, &h.Counts.Missing,
		&h.Counts.Discarded, &h.Counts.Error, &h.Counts.Superseded}
	err := row.Scan(append(dest, extra...)...)
	nilEmpty(&h.Groups)
	return h, err
}

// RegisterHost creates or re-registers a host.
func (s *Store) RegisterHost(ctx context.Context, r store.HostRegistration) (store.Host, error) {
	if r.UUID == "" || r.CredentialID == "" {
		return store.Host{}, fmt.Errorf("postgres: register host: uuid and credential id are required: %w", store.ErrInvalid)
	}
	maturity := r.Maturity
	if maturity == "" {
		maturity = "PROD"
	}
	h, err := scanHost(s.pool.QueryRow(ctx, `INSERT INTO hosts AS h (uuid, name, os, groups, maturity, agent_version,
		credential_id, credential_hash, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, os = excluded.os, groups = excluded.groups,
		maturity = excluded.maturity, agent_version = excluded.agent_version,
		credential_id = excluded.credential_id, credential_hash = excluded.credential_hash,
		registered_at = excluded.registered_at
		RETURNING `+hostCols,
		r.UUID, r.Name, r.OS, list(r.Groups), maturity, r.AgentVersion, r.CredentialID, r.CredentialHash, tz(r.At)))
	if pgCode(err) == uniqueViolation {
		return store.Host{}, fmt.Errorf("postgres: register host %s: credential id %q belongs to another host: %w", r.UUID, r.CredentialID, store.ErrConflict)
	}
	if err != nil {
		return store.Host{}, fmt.Errorf("postgres: register host %s: %w", r.UUID, err)
	}
	return h, nil
}

func (s *Store) hostBy(ctx context.Context, col, val string) (store.Host, error) {
	h, err := scanHost(s.pool.QueryRow(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.`+col+` = $1`, val))
	if errors.Is(err, pgx.ErrNoRows) {
		return h, notFound(fmt.Sprintf("postgres: host with %s %q", col, val))
	}
	if err != nil {
		return h, fmt.Errorf("postgres: get host with %s %q: %w", col, val, err)
	}
	return h, nil
}

// GetHost returns the host with this UUID and the rules packages of its last report.
func (s *Store) GetHost(ctx context.Context, uuid string) (store.Host, error) {
	var h store.Host
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var id int64
		var err error
		h, err = scanHost(tx.QueryRow(ctx, `SELECT `+hostCols+`, h.id FROM hosts h WHERE h.uuid = $1`, uuid), &id)
		if err != nil {
			return err
		}
		h.Packages, err = hostPackages(ctx, tx, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Host{}, notFound(fmt.Sprintf("postgres: host with uuid %q", uuid))
	}
	if err != nil {
		return store.Host{}, fmt.Errorf("postgres: get host with uuid %q: %w", uuid, err)
	}
	return h, nil
}

// HostByCredential returns the host owning the credential id.
func (s *Store) HostByCredential(ctx context.Context, credentialID string) (store.Host, error) {
	return s.hostBy(ctx, "credential_id", credentialID)
}

// TouchHost records that the host was seen.
func (s *Store) TouchHost(ctx context.Context, uuid string, at time.Time) error {
	if err := exec1(ctx, s.pool, "host "+uuid, `UPDATE hosts SET last_seen = GREATEST(last_seen, $1) WHERE uuid = $2`, tv(at), uuid); err != nil {
		return fmt.Errorf("postgres: touch host: %w", err)
	}
	return nil
}

// DeleteHost removes the host, its statuses and its commands.
func (s *Store) DeleteHost(ctx context.Context, uuid string) error {
	if err := exec1(ctx, s.pool, "host "+uuid, `DELETE FROM hosts WHERE uuid = $1`, uuid); err != nil {
		return fmt.Errorf("postgres: delete host: %w", err)
	}
	return nil
}

// ListHosts returns one page of hosts ordered by name.
func (s *Store) ListHosts(ctx context.Context, f store.HostFilter) (store.HostPage, error) {
	var page store.HostPage
	limit := store.PageLimit(f.Limit, 50, 1000)
	where, args := "TRUE", []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if q := strings.TrimSpace(f.Search); q != "" {
		p := arg(sqlq.LikePattern(q))
		where += ` AND (lower(h.name) LIKE ` + p + ` ESCAPE '\' OR lower(h.uuid) LIKE ` + p + ` ESCAPE '\')`
	}
	if f.WUAStatus != "" {
		where += ` AND h.wua_status = ` + arg(f.WUAStatus)
	}
	countSQL, countArgs := `SELECT count(*) FROM hosts h WHERE `+where, append([]any(nil), args...)
	q := `SELECT ` + hostCols + `, h.id FROM hosts h WHERE ` + where
	if f.Cursor != "" {
		name, id, err := sqlq.DecodeHostCursor(f.Cursor)
		if err != nil {
			return page, fmt.Errorf("postgres: list hosts: %w", err)
		}
		q += ` AND (h.name, h.id) > (` + arg(name) + `, ` + arg(id) + `)`
	}
	q += fmt.Sprintf(` ORDER BY h.name, h.id LIMIT %d`, limit+1)
	if f.Cursor == "" && f.Offset > 0 {
		q += fmt.Sprintf(` OFFSET %d`, f.Offset)
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		var lastID int64
		for rows.Next() {
			var id int64
			h, err := scanHost(rows, &id)
			if err != nil {
				rows.Close()
				return err
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
			return err
		}
		return tx.QueryRow(ctx, countSQL, countArgs...).Scan(&page.Total)
	})
	if err != nil {
		return store.HostPage{}, fmt.Errorf("postgres: list hosts: %w", err)
	}
	return page, nil
}

// ApplyReport records one report in one transaction: it reads the host's statuses,
// compares, and writes only the differences with one statement over arrays.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var hostPK int64
		// The row lock serialises reports of one host (and commands queued for it).
		err := tx.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = $1 FOR NO KEY UPDATE`, hostUUID).Scan(&hostPK)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("host " + hostUUID)
		}
		if err != nil {
			return fmt.Errorf("look up host: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT h.update_pk, u.update_id, u.revision_number, h.status, h.reason,
			h.installed_at, h.last_error FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = $1`, hostPK)
		if err != nil {
			return fmt.Errorf("read statuses: %w", err)
		}
		existing, err := collect(rows, func(r pgx.Rows) (sqlq.HostRow, error) {
			var e sqlq.HostRow
			var inst time.Time
			err := r.Scan(&e.UpdatePK, &e.Key.UpdateID, &e.Key.RevisionNumber, &e.Status, &e.Reason, nt{&inst}, &e.LastError)
			e.InstalledAt = sqlq.Micros(inst)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("read statuses: %w", err)
		}
		plan, err := sqlq.PlanReport(existing, r)
		if err != nil {
			return err
		}
		if len(plan.Writes) > 0 {
			if err := resolveUpdates(ctx, tx, plan.Writes, r.At); err != nil {
				return err
			}
			n := len(plan.Writes)
			pks, sts, reasons, errs := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
			inst := make([]pgtype.Timestamptz, n)
			for i, w := range plan.Writes {
				pks[i], sts[i], reasons[i], errs[i] = w.UpdatePK, string(w.Update.Status), string(w.Update.Reason), w.Update.LastError
				inst[i] = tarr(w.Update.InstalledAt)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO host_updates (host_pk, update_pk, status, reason, installed_at, last_error, changed_at)
				SELECT $1, w.pk, w.st, w.re, w.ia, w.le, $7
				FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS w(pk, st, re, ia, le)
				ON CONFLICT (host_pk, update_pk) DO UPDATE SET status = excluded.status, reason = excluded.reason,
				installed_at = excluded.installed_at, last_error = excluded.last_error, changed_at = excluded.changed_at`,
				hostPK, pks, sts, reasons, inst, errs, tz(r.At)); err != nil {
				return fmt.Errorf("write statuses: %w", err)
			}
		}
		if len(plan.Deletes) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM host_updates WHERE host_pk = $1 AND update_pk = ANY($2)`, hostPK, plan.Deletes); err != nil {
				return fmt.Errorf("delete statuses: %w", err)
			}
		}
		if r.Packages != nil {
			if err := writeHostPackages(ctx, tx, hostPK, r.Packages, r.At); err != nil {
				return err
			}
		}
		c := plan.Counts
		_, err = tx.Exec(ctx, `UPDATE hosts SET
			name = CASE WHEN $1::text = '' THEN name ELSE $1::text END,
			os = CASE WHEN $2::text = '' THEN os ELSE $2::text END,
			agent_version = CASE WHEN $3::text = '' THEN agent_version ELSE $3::text END,
			wua_status = CASE WHEN $4::text = '' THEN wua_status ELSE $4::text END,
			reboot_pending = $5, last_error = $6,
			last_seen = GREATEST(last_seen, $7), last_scan = coalesce($8, last_scan),
			n_ok = $9, n_pending = $10, n_missing = $11, n_discarded = $12, n_error = $13, n_superseded = $14
			WHERE id = $15`,
			r.Name, r.OS, r.AgentVersion, r.WUAStatus, r.RebootPending, r.LastError, tv(r.At), tv(r.ScanAt),
			c.OK, c.Pending, c.Missing, c.Discarded, c.Error, c.Superseded, hostPK)
		if err != nil {
			return fmt.Errorf("update host: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: apply report of host %s: %w", hostUUID, err)
	}
	return nil
}

// resolveUpdates fills the UpdatePK of writes for updates the host had no status for,
// creating SourceReport updates for those the catalog lacks.
func resolveUpdates(ctx context.Context, tx pgx.Tx, writes []sqlq.Write, at time.Time) error {
	var idx []int
	var ids []string
	var revs []int32
	for i, w := range writes {
		if w.UpdatePK == 0 {
			idx = append(idx, i)
			ids, revs = append(ids, w.Update.Key.UpdateID), append(revs, int32(w.Update.Key.RevisionNumber))
		}
	}
	if len(idx) == 0 {
		return nil
	}
	lookup := func() error {
		rows, err := tx.Query(ctx, `SELECT k.ord, u.id FROM unnest($1::text[], $2::integer[]) WITH ORDINALITY AS k(update_id, rev, ord)
			JOIN updates u ON u.update_id = k.update_id AND u.revision_number = k.rev`, ids, revs)
		if err != nil {
			return fmt.Errorf("look up updates: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ord, id int64
			if err := rows.Scan(&ord, &id); err != nil {
				return fmt.Errorf("look up updates: %w", err)
			}
			writes[idx[ord-1]].UpdatePK = id
		}
		return rows.Err()
	}
	if err := lookup(); err != nil {
		return err
	}
	var unknown []wu.Update
	for _, i := range idx {
		if writes[i].UpdatePK == 0 {
			unknown = append(unknown, sqlq.ReportedUpdateInfo(writes[i].Update))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	// Another report may create the same update at the same time: insert what is still
	// missing (the writes are sorted, so concurrent reports insert in one order), then
	// look up again.
	if _, err := writeUpdates(ctx, tx, unknown, make([]string, len(unknown)), store.SourceReport, at, true); err != nil {
		return err
	}
	if err := lookup(); err != nil {
		return err
	}
	for _, i := range idx {
		if writes[i].UpdatePK == 0 {
			return fmt.Errorf("update %s: not found after inserting it", writes[i].Update.Key)
		}
	}
	return nil
}

// HostUpdates lists a host's per-update statuses.
func (s *Store) HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]store.HostUpdate, error) {
	var hostPK int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = $1`, hostUUID).Scan(&hostPK)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("postgres: host " + hostUUID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: host %s statuses: %w", hostUUID, err)
	}
	q := `SELECT u.update_id, u.revision_number, u.title, u.kb_ids, u.severity, u.classification,
		h.status, h.reason, h.installed_at, h.last_error, h.changed_at
		FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = $1`
	args := []any{hostPK}
	if len(statuses) > 0 {
		st := make([]string, len(statuses))
		for i, x := range statuses {
			st[i] = string(x)
		}
		q += ` AND h.status = ANY($2)`
		args = append(args, st)
	}
	q += ` ORDER BY u.update_id, u.revision_number`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: host %s statuses: %w", hostUUID, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.HostUpdate, error) {
		var h store.HostUpdate
		err := r.Scan(&h.Key.UpdateID, &h.Key.RevisionNumber, &h.Title, &h.KBs, &h.Severity, &h.Classification,
			&h.Status, &h.Reason, nt{&h.InstalledAt}, &h.LastError, nt{&h.ChangedAt})
		nilEmpty(&h.KBs)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: host %s statuses: %w", hostUUID, err)
	}
	return out, nil
}

// UpdateHosts lists one page of the hosts having a status for the update.
func (s *Store) UpdateHosts(ctx context.Context, key wu.UpdateKey, f store.UpdateHostFilter) (store.UpdateHostPage, error) {
	var page store.UpdateHostPage
	limit := store.PageLimit(f.Limit, 100, 1000)
	var pk int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM updates WHERE update_id = $1 AND ($2 = 0 OR revision_number = $2)
		ORDER BY revision_number DESC LIMIT 1`, key.UpdateID, key.RevisionNumber).Scan(&pk)
	if errors.Is(err, pgx.ErrNoRows) {
		return page, notFound(fmt.Sprintf("postgres: update %s", key))
	}
	if err != nil {
		return page, fmt.Errorf("postgres: hosts of update %s: %w", key, err)
	}
	args := []any{pk}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	q := `SELECT h.uuid, h.name, hu.status, hu.reason, hu.installed_at, hu.last_error, hu.changed_at, h.id
		FROM host_updates hu JOIN hosts h ON h.id = hu.host_pk WHERE hu.update_pk = $1`
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, x := range f.Statuses {
			st[i] = string(x)
		}
		q += ` AND hu.status = ANY(` + arg(st) + `)`
	}
	if f.Cursor != "" {
		name, id, err := sqlq.DecodeHostCursor(f.Cursor)
		if err != nil {
			return page, fmt.Errorf("postgres: hosts of update %s: %w", key, err)
		}
		q += ` AND (h.name, h.id) > (` + arg(name) + `, ` + arg(id) + `)`
	}
	q += fmt.Sprintf(` ORDER BY h.name, h.id LIMIT %d`, limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("postgres: hosts of update %s: %w", key, err)
	}
	defer rows.Close()
	var lastID int64
	for rows.Next() {
		var h store.UpdateHostStatus
		var id int64
		if err := rows.Scan(&h.HostUUID, &h.HostName, &h.Status, &h.Reason, nt{&h.InstalledAt}, &h.LastError, nt{&h.ChangedAt}, &id); err != nil {
			return page, fmt.Errorf("postgres: hosts of update %s: %w", key, err)
		}
		if len(page.Hosts) == limit {
			page.Next = sqlq.HostCursor(page.Hosts[limit-1].HostName, lastID)
			break
		}
		page.Hosts = append(page.Hosts, h)
		lastID = id
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("postgres: hosts of update %s: %w", key, err)
	}
	return page, nil
}
