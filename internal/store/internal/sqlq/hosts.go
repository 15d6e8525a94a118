package sqlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

const hostCols = `h.uuid, h.name, h.os, h.groups, h.maturity, h.agent_version, h.credential_id,
	h.credential_hash, h.registered_at, h.wua_status, h.last_seen, h.last_scan, h.reboot_pending,
	h.last_error, h.n_ok, h.n_pending, h.n_missing, h.n_discarded, h.n_error, h.n_superseded,
	h.approval, h.accepted_at, h.accepted_by, h.reset_at, h.reset_by,
	h.networks, h.repository, h.repository_at, h.report_digest`

func (c *Common) scanHost(r Row, extra ...any) (store.Host, error) {
	var h store.Host
	var approval string
	sc := c.D.ScanTime
	dest := []any{&h.UUID, &h.Name, &h.OS, c.D.ScanList(&h.Groups), &h.Maturity, &h.AgentVersion, &h.CredentialID,
		&h.CredentialHash, sc(&h.RegisteredAt), &h.WUAStatus, sc(&h.LastSeen), sc(&h.LastScan),
		&h.RebootPending, &h.LastError, &h.Counts.OK, &h.Counts.Pending, &h.Counts.Missing,
		&h.Counts.Discarded, &h.Counts.Error, &h.Counts.Superseded,
		&approval, sc(&h.AcceptedAt), &h.AcceptedBy, sc(&h.ResetAt), &h.ResetBy,
		c.D.ScanList(&h.Networks), &h.Repository, sc(&h.RepositoryAt), &h.ReportDigest}
	err := r.Scan(append(dest, extra...)...)
	nilEmpty(&h.Groups)
	nilEmpty(&h.Networks)
	h.Pending = approval == approvalPending
	return h, err
}

// Pager keeps one keyset page: up to limit rows, and the cursor of the next page when
// the query (reading limit+1 rows) had more.
type Pager[T any] struct {
	limit  int
	name   func(*T) string // the sort value of a row (a host name)
	Items  []T
	Next   string
	lastID int64
}

// NewPager returns a pager of limit rows ordered by (name, id).
func NewPager[T any](limit int, name func(*T) string) *Pager[T] {
	return &Pager[T]{limit: limit, name: name}
}

// Add keeps a row read with its id; false once the page is full and the cursor set
// (stop reading).
func (p *Pager[T]) Add(v T, id int64) bool {
	if len(p.Items) == p.limit {
		p.Next = HostCursor(p.name(&p.Items[p.limit-1]), p.lastID)
		return false
	}
	p.Items = append(p.Items, v)
	p.lastID = id
	return true
}

// Read reads rows into the page with scan (which returns the row and its id).
func (p *Pager[T]) Read(rows Rows, scan func(Row) (T, int64, error)) error {
	defer rows.Close()
	for rows.Next() {
		v, id, err := scan(rows)
		if err != nil {
			return err
		}
		if !p.Add(v, id) {
			break
		}
	}
	return rows.Err()
}

// afterCursor appends the keyset condition of a host-name cursor to q.
func afterCursor(q string, args []any, cursor string) (string, []any, error) {
	if cursor == "" {
		return q, args, nil
	}
	name, id, err := DecodeHostCursor(cursor)
	if err != nil {
		return q, args, err
	}
	return q + ` AND (h.name, h.id) > (?, ?)`, append(args, name, id), nil
}

// HostPK returns the row id of a host.
func HostPK(ctx context.Context, q Conn, uuid string) (int64, error) {
	var pk int64
	err := q.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = ?`, uuid).Scan(&pk)
	if errors.Is(err, ErrNoRows) {
		return 0, NotFound("host " + uuid)
	}
	return pk, err
}

// Host approval states (hosts.approval).
const (
	approvalAccepted = "accepted"
	approvalPending  = "pending"
)

// RegisterHost creates a host, rotates its credential, or gives a reset host a new one.
func (c *Common) RegisterHost(ctx context.Context, r store.HostRegistration) (store.Host, error) {
	if err := r.Validate(); err != nil {
		return store.Host{}, c.errf(err, "register host")
	}
	maturity := r.Maturity
	if maturity == "" {
		maturity = store.MaturityProd
	}
	var h store.Host
	err := c.DB.Write(ctx, func(tx Conn) error {
		if r.EnrollmentToken != "" {
			if _, err := c.useToken(ctx, tx, r.EnrollmentToken, r.At); err != nil {
				return err
			}
		}
		var owner string
		err := tx.QueryRow(ctx, `SELECT uuid FROM hosts WHERE credential_id = ?`, r.CredentialID).Scan(&owner)
		if err == nil && owner != r.UUID {
			return fmt.Errorf("credential id %q belongs to another host: %w", r.CredentialID, store.ErrConflict)
		}
		if err != nil && !errors.Is(err, ErrNoRows) {
			return fmt.Errorf("look up credential: %w", err)
		}
		var pk int64
		var credID string
		var hasCred bool
		err = tx.QueryRow(ctx, `SELECT id, credential_id, length(credential_hash) > 0 FROM hosts WHERE uuid = ?`+c.D.LockRow,
			r.UUID).Scan(&pk, &credID, &hasCred)
		switch {
		case errors.Is(err, ErrNoRows):
			approval := approvalAccepted
			if r.Pending {
				approval = approvalPending
			}
			n, err := tx.Exec(ctx, `INSERT INTO hosts (uuid, name, os, groups, maturity, agent_version,
				credential_id, credential_hash, registered_at, approval) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (uuid) DO NOTHING`,
				r.UUID, r.Name, r.OS, c.D.List(r.Groups), maturity, r.AgentVersion, r.CredentialID, r.CredentialHash,
				c.TimeZArg(r.At), approval)
			if c.D.IsUnique(err) {
				return fmt.Errorf("credential id %q belongs to another host: %w", r.CredentialID, store.ErrConflict)
			}
			if err != nil {
				return err
			}
			if n == 0 { // registered by a concurrent request meanwhile
				return fmt.Errorf("host %s: %w", r.UUID, store.ErrHostExists)
			}
		case err != nil:
			return fmt.Errorf("look up host: %w", err)
		case hasCred && (r.Rotate == "" || r.Rotate != credID):
			if r.Rotate != "" {
				return fmt.Errorf("host %s: its credential changed meanwhile: %w", r.UUID, store.ErrHostExists)
			}
			return fmt.Errorf("host %s is registered: %w (an administrator must reset it, or the host must prove its current credential)", r.UUID, store.ErrHostExists)
		default:
			_, err := tx.Exec(ctx, `UPDATE hosts SET name = ?, os = ?, groups = ?, maturity = ?, agent_version = ?,
				credential_id = ?, credential_hash = ?, registered_at = ? WHERE id = ?`,
				r.Name, r.OS, c.D.List(r.Groups), maturity, r.AgentVersion, r.CredentialID, r.CredentialHash, c.TimeZArg(r.At), pk)
			if c.D.IsUnique(err) {
				return fmt.Errorf("credential id %q belongs to another host: %w", r.CredentialID, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		}
		h, err = c.scanHost(tx.QueryRow(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.uuid = ?`, r.UUID))
		return err
	})
	return h, c.errf(err, "register host %s", r.UUID)
}

// hostByUUID reads one host.
func (c *Common) hostByUUID(ctx context.Context, q Conn, uuid string) (store.Host, error) {
	h, err := c.scanHost(q.QueryRow(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.uuid = ?`, uuid))
	if errors.Is(err, ErrNoRows) {
		err = NotFound("host " + uuid)
	}
	return h, err
}

// ResetHost clears the host's credential.
func (c *Common) ResetHost(ctx context.Context, uuid string, at time.Time, actor string) (store.Host, error) {
	var h store.Host
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, "host "+uuid, `UPDATE hosts SET credential_id = 'reset:' || uuid, credential_hash = ?,
			reset_at = ?, reset_by = ? WHERE uuid = ?`, []byte{}, c.TimeArg(at), actor, uuid); err != nil {
			return err
		}
		var err error
		h, err = c.hostByUUID(ctx, tx, uuid)
		return err
	})
	return h, c.errf(err, "reset host")
}

// ListPendingHosts returns the hosts waiting for approval.
func (c *Common) ListPendingHosts(ctx context.Context) ([]store.Host, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (store.Host, error) { return c.scanHost(r) },
		`SELECT `+hostCols+` FROM hosts h WHERE h.approval = 'pending' ORDER BY h.registered_at, h.id`)
	return out, c.errf(err, "list pending hosts")
}

// AcceptHost accepts a pending host.
func (c *Common) AcceptHost(ctx context.Context, uuid string, at time.Time, actor string) (store.Host, error) {
	var h store.Host
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, "pending host "+uuid, `UPDATE hosts SET approval = 'accepted', accepted_at = ?, accepted_by = ?
			WHERE uuid = ? AND approval = 'pending'`, c.TimeArg(at), actor, uuid); err != nil {
			return err
		}
		var err error
		h, err = c.hostByUUID(ctx, tx, uuid)
		return err
	})
	return h, c.errf(err, "accept host")
}

// RejectHost deletes a pending host.
func (c *Common) RejectHost(ctx context.Context, uuid string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, "pending host "+uuid, `DELETE FROM hosts WHERE uuid = ? AND approval = 'pending'`, uuid)
	})
	return c.errf(err, "reject host")
}

// GetHost returns the host with this UUID and the rules packages of its last report.
func (c *Common) GetHost(ctx context.Context, uuid string) (store.Host, error) {
	var h store.Host
	err := c.DB.Read(ctx, func(tx Conn) error {
		var id int64
		var err error
		h, err = c.scanHost(tx.QueryRow(ctx, `SELECT `+hostCols+`, h.id FROM hosts h WHERE h.uuid = ?`, uuid), &id)
		if errors.Is(err, ErrNoRows) {
			return NotFound(fmt.Sprintf("host with uuid %q", uuid))
		}
		if err != nil {
			return err
		}
		if h.Packages, err = c.hostPackages(ctx, tx, id); err != nil {
			return err
		}
		h.UpdatePackages, err = c.hostUpdatePackages(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Host{}, c.errf(err, "get host %q", uuid)
	}
	return h, nil
}

// HostByCredential returns the host owning the credential id.
func (c *Common) HostByCredential(ctx context.Context, credentialID string) (store.Host, error) {
	h, err := c.scanHost(c.DB.Reader().QueryRow(ctx, `SELECT `+hostCols+` FROM hosts h
		WHERE h.credential_id = ? AND length(h.credential_hash) > 0`, credentialID))
	if errors.Is(err, ErrNoRows) {
		err = NotFound(fmt.Sprintf("host with credential id %q", credentialID))
	}
	return h, c.errf(err, "host by credential")
}

// TouchHost records that the host was seen.
func (c *Common) TouchHost(ctx context.Context, uuid string, at time.Time) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, "host "+uuid, `UPDATE hosts SET last_seen = `+c.D.Greatest("last_seen", "?")+` WHERE uuid = ?`, c.TimeArg(at), uuid)
	})
	return c.errf(err, "touch host")
}

// DeleteHost removes the host, its statuses and its commands.
func (c *Common) DeleteHost(ctx context.Context, uuid string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		pk, err := c.lockHost(ctx, tx, uuid) // the host first, then the counts (as reports)
		if err != nil {
			return err
		}
		if err := c.uncountHost(ctx, tx, pk); err != nil {
			return err
		}
		return Exec1(ctx, tx, "host "+uuid, `DELETE FROM hosts WHERE id = ?`, pk)
	})
	return c.errf(err, "delete host")
}

// ListHosts returns one page of hosts ordered by name.
func (c *Common) ListHosts(ctx context.Context, f store.HostFilter) (store.HostPage, error) {
	var page store.HostPage
	where, args := "h.approval = 'accepted'", []any{}
	if q := strings.TrimSpace(f.Search); q != "" {
		where += ` AND (lower(h.name) LIKE ? ESCAPE '\' OR lower(h.uuid) LIKE ? ESCAPE '\')`
		args = append(args, LikePattern(q), LikePattern(q))
	}
	if f.WUAStatus != "" {
		where += ` AND h.wua_status = ?`
		args = append(args, f.WUAStatus)
	}
	if f.PastDeadline {
		where += ` AND EXISTS (SELECT 1 FROM host_schedule s WHERE s.host_pk = h.id AND s.past_deadline > 0)`
	}
	countArgs := append([]any(nil), args...)
	q, args, err := afterCursor(`SELECT `+hostCols+`, h.id FROM hosts h WHERE `+where, args, f.Cursor)
	if err != nil {
		return page, c.errf(err, "list hosts")
	}
	limit := store.PageLimit(f.Limit, 50, 1000)
	q += ` ORDER BY h.name, h.id LIMIT ` + strconv.Itoa(limit+1)
	if f.Cursor == "" && f.Offset > 0 {
		q += ` OFFSET ` + strconv.Itoa(f.Offset)
	}
	pg := NewPager(limit, func(h *store.Host) string { return h.Name })
	err = c.DB.Read(ctx, func(tx Conn) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		if err := pg.Read(rows, func(r Row) (store.Host, int64, error) {
			var id int64
			h, err := c.scanHost(r, &id)
			return h, id, err
		}); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM hosts h WHERE `+where, countArgs...).Scan(&page.Total)
	})
	if err != nil {
		return store.HostPage{}, c.errf(err, "list hosts")
	}
	page.Hosts, page.Next = pg.Items, pg.Next
	return page, nil
}

// HostRows reads a host's stored statuses (for PlanReport).
func (c *Common) HostRows(ctx context.Context, tx Conn, hostPK int64) ([]HostRow, error) {
	out, err := QueryAll(ctx, tx, func(r Row) (HostRow, error) {
		var e HostRow
		var inst time.Time
		err := r.Scan(&e.UpdatePK, &e.Key.UpdateID, &e.Key.RevisionNumber, &e.Status, &e.Reason, c.D.ScanTime(&inst), &e.LastError)
		e.InstalledAt = Micros(inst)
		return e, err
	}, `SELECT h.update_pk, u.update_id, u.revision_number, h.status, h.reason, h.installed_at, h.last_error
		FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = ?`, hostPK)
	if err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	return out, nil
}

// HostUpdates lists a host's per-update statuses.
func (c *Common) HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]store.HostUpdate, error) {
	var out []store.HostUpdate
	err := c.DB.Read(ctx, func(tx Conn) error {
		hostPK, err := HostPK(ctx, tx, hostUUID)
		if err != nil {
			return err
		}
		q := `SELECT u.update_id, u.revision_number, u.title, u.kb_ids, u.severity, u.classification,
			h.status, h.reason, h.installed_at, h.last_error, h.changed_at
			FROM host_updates h JOIN updates u ON u.id = h.update_pk WHERE h.host_pk = ?`
		args := []any{hostPK}
		if len(statuses) > 0 {
			in, sargs := In(statuses)
			q += ` AND h.status IN ` + in
			args = append(args, sargs...)
		}
		out, err = QueryAll(ctx, tx, func(r Row) (store.HostUpdate, error) {
			var h store.HostUpdate
			err := r.Scan(&h.Key.UpdateID, &h.Key.RevisionNumber, &h.Title, c.D.ScanList(&h.KBs), &h.Severity,
				&h.Classification, &h.Status, &h.Reason, c.D.ScanTime(&h.InstalledAt), &h.LastError, c.D.ScanTime(&h.ChangedAt))
			nilEmpty(&h.KBs)
			return h, err
		}, q+` ORDER BY u.update_id, u.revision_number`, args...)
		return err
	})
	return out, c.errf(err, "host %s statuses", hostUUID)
}

// updatePK returns the row id of an update (its newest revision for revision 0).
func updatePK(ctx context.Context, q Conn, key wu.UpdateKey) (int64, error) {
	var pk int64
	err := q.QueryRow(ctx, `SELECT id FROM updates WHERE update_id = ? AND (? = 0 OR revision_number = ?)
		ORDER BY revision_number DESC LIMIT 1`, key.UpdateID, key.RevisionNumber, key.RevisionNumber).Scan(&pk)
	if errors.Is(err, ErrNoRows) {
		return 0, NotFound(fmt.Sprintf("update %s", key))
	}
	return pk, err
}

// UpdateHosts lists one page of the hosts having a status for the update.
func (c *Common) UpdateHosts(ctx context.Context, key wu.UpdateKey, f store.UpdateHostFilter) (store.UpdateHostPage, error) {
	var page store.UpdateHostPage
	limit := store.PageLimit(f.Limit, 100, 1000)
	pg := NewPager(limit, func(h *store.UpdateHostStatus) string { return h.HostName })
	err := c.DB.Read(ctx, func(tx Conn) error {
		pk, err := updatePK(ctx, tx, key)
		if err != nil {
			return err
		}
		q := `SELECT h.uuid, h.name, hu.status, hu.reason, hu.installed_at, hu.last_error, hu.changed_at, h.id
			FROM host_updates hu JOIN hosts h ON h.id = hu.host_pk WHERE hu.update_pk = ?`
		args := []any{pk}
		if len(f.Statuses) > 0 {
			in, sargs := In(f.Statuses)
			q += ` AND hu.status IN ` + in
			args = append(args, sargs...)
		}
		if q, args, err = afterCursor(q, args, f.Cursor); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q+` ORDER BY h.name, h.id LIMIT `+strconv.Itoa(limit+1), args...)
		if err != nil {
			return err
		}
		return pg.Read(rows, func(r Row) (store.UpdateHostStatus, int64, error) {
			var h store.UpdateHostStatus
			var id int64
			err := r.Scan(&h.HostUUID, &h.HostName, &h.Status, &h.Reason, c.D.ScanTime(&h.InstalledAt), &h.LastError,
				c.D.ScanTime(&h.ChangedAt), &id)
			return h, id, err
		})
	})
	if err != nil {
		return page, c.errf(err, "hosts of update %s", key)
	}
	page.Hosts, page.Next = pg.Items, pg.Next
	return page, nil
}
