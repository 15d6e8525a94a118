package sqlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

const mirrorCols = `id, name, site, url, credential_id, credential_hash, registered_at, status, version, last_sync,
	files_held, bytes_held, files_missing, bytes_missing, lag_ms, last_error, requests_served, bytes_served,
	bytes_synced, sync_ms, updated_at`

func (c *Common) scanMirror(r Row) (store.Mirror, error) {
	var m store.Mirror
	var lag, dur int64
	sc := c.D.ScanTime
	st := &m.State
	err := r.Scan(&m.ID, &m.Name, &m.Site, &m.URL, &m.CredentialID, &m.CredentialHash, sc(&m.RegisteredAt),
		&st.Status, &st.Version, sc(&st.LastSync), &st.FilesHeld, &st.BytesHeld, &st.FilesMissing, &st.BytesMissing,
		&lag, &st.LastError, &st.RequestsServed, &st.BytesServed, &st.BytesSynced, &dur, sc(&m.UpdatedAt))
	st.Lag = time.Duration(lag) * time.Millisecond
	st.SyncDuration = time.Duration(dur) * time.Millisecond
	return m, err
}

// RegisterMirror creates a mirror or rotates its credential.
func (c *Common) RegisterMirror(ctx context.Context, r store.MirrorRegistration) (store.Mirror, error) {
	if err := r.Validate(); err != nil {
		return store.Mirror{}, c.errf(err, "register mirror")
	}
	var m store.Mirror
	err := c.DB.Write(ctx, func(tx Conn) error {
		if r.EnrollmentToken != "" {
			if _, err := c.useToken(ctx, tx, r.EnrollmentToken, r.At); err != nil {
				return err
			}
		}
		var credID string
		err := tx.QueryRow(ctx, `SELECT credential_id FROM mirrors WHERE name = ?`+c.D.LockRow, r.Name).Scan(&credID)
		switch {
		case errors.Is(err, ErrNoRows):
			n, err := tx.Exec(ctx, `INSERT INTO mirrors (name, site, url, credential_id, credential_hash, registered_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
				r.Name, r.Site, r.URL, r.CredentialID, r.CredentialHash, c.TimeZArg(r.At))
			if c.D.IsUnique(err) {
				return fmt.Errorf("credential id %q belongs to another mirror: %w", r.CredentialID, store.ErrConflict)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("mirror %q: %w", r.Name, store.ErrMirrorExists)
			}
		case err != nil:
			return fmt.Errorf("look up mirror: %w", err)
		case r.Rotate == "" || r.Rotate != credID:
			return fmt.Errorf("mirror %q: %w (an administrator must delete it, or the mirror must prove its current credential)", r.Name, store.ErrMirrorExists)
		default:
			_, err := tx.Exec(ctx, `UPDATE mirrors SET site = ?, url = ?, credential_id = ?, credential_hash = ?, registered_at = ?
				WHERE name = ?`, r.Site, r.URL, r.CredentialID, r.CredentialHash, c.TimeZArg(r.At), r.Name)
			if c.D.IsUnique(err) {
				return fmt.Errorf("credential id %q belongs to another mirror: %w", r.CredentialID, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		}
		m, err = c.scanMirror(tx.QueryRow(ctx, `SELECT `+mirrorCols+` FROM mirrors WHERE name = ?`, r.Name))
		return err
	})
	return m, c.errf(err, "register mirror %q", r.Name)
}

// MirrorByCredential returns the mirror holding the credential id.
func (c *Common) MirrorByCredential(ctx context.Context, credentialID string) (store.Mirror, error) {
	m, err := c.scanMirror(c.DB.Reader().QueryRow(ctx, `SELECT `+mirrorCols+` FROM mirrors WHERE credential_id = ?`, credentialID))
	if errors.Is(err, ErrNoRows) {
		err = NotFound("mirror credential")
	}
	return m, c.errf(err, "mirror by credential")
}

// SetMirrorState records a mirror's reported state.
func (c *Common) SetMirrorState(ctx context.Context, id int64, st store.MirrorState, at time.Time) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("mirror %d", id), `UPDATE mirrors SET status = ?, version = ?, last_sync = ?,
			files_held = ?, bytes_held = ?, files_missing = ?, bytes_missing = ?, lag_ms = ?, last_error = ?,
			requests_served = ?, bytes_served = ?, bytes_synced = ?, sync_ms = ?, updated_at = ? WHERE id = ?`,
			st.Status, st.Version, c.TimeArg(st.LastSync), st.FilesHeld, st.BytesHeld, st.FilesMissing, st.BytesMissing,
			st.Lag.Milliseconds(), st.LastError, st.RequestsServed, st.BytesServed, st.BytesSynced,
			st.SyncDuration.Milliseconds(), c.TimeArg(at), id)
	})
	return c.errf(err, "set mirror state")
}

// ListMirrors returns every mirror, by name.
func (c *Common) ListMirrors(ctx context.Context) ([]store.Mirror, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanMirror, `SELECT `+mirrorCols+` FROM mirrors ORDER BY name`)
	return out, c.errf(err, "list mirrors")
}

// DeleteMirror removes a mirror.
func (c *Common) DeleteMirror(ctx context.Context, name string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("mirror %q", name), `DELETE FROM mirrors WHERE name = ?`, name)
	})
	return c.errf(err, "delete mirror")
}
