package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

const packageCols = `name, version, filename, sha256, size, control, rules_json, maturity, description,
	signer, signer_fingerprint, signature_date, target_groups, promote_after_days, promote_min_success_pct,
	verified, verify_error, uploaded_at, uploaded_by, priority, hold, policy_after_days, policy_min_success_pct,
	promoted_at, promoted_by, checked_at, ring_hosts, success_hosts, check_note`

func scanPackage(sc scanner, extra ...any) (store.RulesPackage, error) {
	var p store.RulesPackage
	var rulesJSON string
	var after, pct sql.NullInt64
	dest := []any{&p.Name, &p.Version, &p.Filename, &p.SHA256, &p.Size, &p.Control, &rulesJSON, &p.Maturity,
		&p.Description, &p.Signer, &p.SignerFingerprint, nt{&p.SignatureDate}, sl{&p.TargetGroups},
		&p.PromoteAfterDays, &p.PromoteMinSuccessPct, &p.Verified, &p.VerifyError, nt{&p.UploadedAt},
		&p.UploadedBy, &p.Priority, &p.Hold, &after, &pct, nt{&p.PromotedAt}, &p.PromotedBy,
		nt{&p.LastCheck.At}, &p.LastCheck.RingHosts, &p.LastCheck.SuccessHosts, &p.LastCheck.Note}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return p, err
	}
	if rulesJSON != "" {
		p.Rules = json.RawMessage(rulesJSON)
	}
	p.PackagePolicy.PromoteAfterDays = nullInt(after)
	p.PackagePolicy.PromoteMinSuccessPct = nullInt(pct)
	return p, nil
}

func nullInt(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

func intArg(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func (s *Store) packageBy(ctx context.Context, q querier, where string, args ...any) (store.RulesPackage, error) {
	return scanPackage(q.QueryRowContext(ctx, `SELECT `+packageCols+` FROM rules_packages WHERE `+where, args...))
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// PutPackage stores an uploaded package, or refreshes the verification of the same bytes.
func (s *Store) PutPackage(ctx context.Context, p store.RulesPackage) (store.RulesPackage, bool, error) {
	if p.Name == "" || p.Version == "" || p.Filename == "" || p.SHA256 == "" || len(p.Data) == 0 {
		return store.RulesPackage{}, false, fmt.Errorf("sqlite: put package: name, version, filename, sha256 and data are required: %w", store.ErrInvalid)
	}
	var out store.RulesPackage
	created := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := s.packageBy(ctx, tx, `name = ? AND version = ?`, p.Name, p.Version)
		switch {
		case err == nil:
			if old.SHA256 != p.SHA256 {
				return fmt.Errorf("package %s %s exists with other content (sha256 %s): %w (versions are immutable: build the package with a new version)", p.Name, p.Version, old.SHA256, store.ErrConflict)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE rules_packages SET verified = ?, verify_error = ? WHERE name = ? AND version = ?`,
				p.Verified, p.VerifyError, p.Name, p.Version); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			created = true
			_, err := tx.ExecContext(ctx, `INSERT INTO rules_packages (name, version, filename, sha256, size, data, control,
				rules_json, maturity, description, signer, signer_fingerprint, signature_date, target_groups,
				promote_after_days, promote_min_success_pct, verified, verify_error, uploaded_at, uploaded_by,
				priority, hold, policy_after_days, policy_min_success_pct)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.Name, p.Version, p.Filename, p.SHA256, int64(len(p.Data)), p.Data, p.Control, string(p.Rules),
				p.Maturity, p.Description, p.Signer, p.SignerFingerprint, tv(p.SignatureDate), jl(p.TargetGroups),
				p.PromoteAfterDays, p.PromoteMinSuccessPct, p.Verified, p.VerifyError, tz(p.UploadedAt), p.UploadedBy,
				p.Priority, p.Hold, intArg(p.PackagePolicy.PromoteAfterDays), intArg(p.PackagePolicy.PromoteMinSuccessPct))
			if isUnique(err) {
				return fmt.Errorf("package file name %s is taken: %w", p.Filename, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		default:
			return err
		}
		out, err = s.packageBy(ctx, tx, `name = ? AND version = ?`, p.Name, p.Version)
		return err
	})
	if err != nil {
		return store.RulesPackage{}, false, fmt.Errorf("sqlite: put package %s %s: %w", p.Name, p.Version, err)
	}
	return out, created, nil
}

// GetPackage returns one package without its bytes.
func (s *Store) GetPackage(ctx context.Context, name, version string) (store.RulesPackage, error) {
	p, err := s.packageBy(ctx, s.r, `name = ? AND version = ?`, name, version)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound(fmt.Sprintf("sqlite: package %s %s", name, version))
	}
	if err != nil {
		return p, fmt.Errorf("sqlite: get package %s %s: %w", name, version, err)
	}
	return p, nil
}

// PackageFile returns the package stored under filename, with its bytes.
func (s *Store) PackageFile(ctx context.Context, filename string) (store.RulesPackage, error) {
	var data []byte
	p, err := scanPackage(s.r.QueryRowContext(ctx, `SELECT `+packageCols+`, data FROM rules_packages WHERE filename = ?`, filename), &data)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("sqlite: package file " + filename)
	}
	if err != nil {
		return p, fmt.Errorf("sqlite: package file %s: %w", filename, err)
	}
	p.Data = data
	return p, nil
}

// ListPackages returns every package without its bytes.
func (s *Store) ListPackages(ctx context.Context) ([]store.RulesPackage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+packageCols+` FROM rules_packages ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list packages: %w", err)
	}
	defer rows.Close()
	var out []store.RulesPackage
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list packages: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list packages: %w", err)
	}
	return out, nil
}

// DeletePackage removes one version.
func (s *Store) DeletePackage(ctx context.Context, name, version string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `DELETE FROM rules_packages WHERE name = ? AND version = ?`, name, version)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete package: %w", err)
	}
	return nil
}

// SetPackagePolicy replaces the server-side policy of one version.
func (s *Store) SetPackagePolicy(ctx context.Context, name, version string, pol store.PackagePolicy) (store.RulesPackage, error) {
	var out store.RulesPackage
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `UPDATE rules_packages SET priority = ?, hold = ?,
			policy_after_days = ?, policy_min_success_pct = ? WHERE name = ? AND version = ?`,
			pol.Priority, pol.Hold, intArg(pol.PromoteAfterDays), intArg(pol.PromoteMinSuccessPct), name, version); err != nil {
			return err
		}
		var err error
		out, err = s.packageBy(ctx, tx, `name = ? AND version = ?`, name, version)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("sqlite: set package policy: %w", err)
	}
	return out, nil
}

// PromotePackage records the promotion of one version to PROD.
func (s *Store) PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (store.RulesPackage, error) {
	var out store.RulesPackage
	err := s.write(ctx, func(tx *sql.Tx) error {
		p, err := s.packageBy(ctx, tx, `name = ? AND version = ?`, name, version)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(fmt.Sprintf("package %s %s", name, version))
		}
		if err != nil {
			return err
		}
		if !p.PromotedAt.IsZero() {
			return fmt.Errorf("package %s %s was promoted already on %s by %s: %w", name, version,
				p.PromotedAt.UTC().Format(time.RFC3339), p.PromotedBy, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rules_packages SET promoted_at = ?, promoted_by = ? WHERE name = ? AND version = ?`,
			tz(at), actor, name, version); err != nil {
			return err
		}
		out, err = s.packageBy(ctx, tx, `name = ? AND version = ?`, name, version)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("sqlite: promote package: %w", err)
	}
	return out, nil
}

// RecordPromotionCheck stores the result of the last rollout evaluation.
func (s *Store) RecordPromotionCheck(ctx context.Context, name, version string, c store.PromotionCheck) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `UPDATE rules_packages SET checked_at = ?,
			ring_hosts = ?, success_hosts = ?, check_note = ? WHERE name = ? AND version = ?`,
			tv(c.At), c.RingHosts, c.SuccessHosts, c.Note, name, version)
	})
	if err != nil {
		return fmt.Errorf("sqlite: record promotion check: %w", err)
	}
	return nil
}

func checkAssignment(a store.PackageAssignment) error {
	if a.Package == "" || a.Target == "" || (a.Kind != store.AssignGroup && a.Kind != store.AssignHost) {
		return fmt.Errorf("assignment %+v: want a package, a kind (group or host) and a target: %w", a, store.ErrInvalid)
	}
	return nil
}

// AssignPackage assigns a package name to a host group or a host.
func (s *Store) AssignPackage(ctx context.Context, a store.PackageAssignment) (bool, error) {
	if err := checkAssignment(a); err != nil {
		return false, fmt.Errorf("sqlite: assign package: %w", err)
	}
	created := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO package_assignments (package, kind, target, created_at, created_by)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, a.Package, string(a.Kind), a.Target, tz(a.CreatedAt), a.CreatedBy)
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		created = n > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: assign package: %w", err)
	}
	return created, nil
}

// UnassignPackage removes an assignment.
func (s *Store) UnassignPackage(ctx context.Context, a store.PackageAssignment) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return exec1(ctx, tx, fmt.Sprintf("assignment of %s to %s %s", a.Package, a.Kind, a.Target),
			`DELETE FROM package_assignments WHERE package = ? AND kind = ? AND target = ?`, a.Package, string(a.Kind), a.Target)
	})
	if err != nil {
		return fmt.Errorf("sqlite: unassign package: %w", err)
	}
	return nil
}

// ListAssignments returns every assignment.
func (s *Store) ListAssignments(ctx context.Context) ([]store.PackageAssignment, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT package, kind, target, created_at, created_by FROM package_assignments
		ORDER BY package, kind, target`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list assignments: %w", err)
	}
	defer rows.Close()
	var out []store.PackageAssignment
	for rows.Next() {
		var a store.PackageAssignment
		if err := rows.Scan(&a.Package, &a.Kind, &a.Target, nt{&a.CreatedAt}, &a.CreatedBy); err != nil {
			return nil, fmt.Errorf("sqlite: list assignments: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list assignments: %w", err)
	}
	return out, nil
}

// PackageHosts lists the hosts that reported this version applied.
func (s *Store) PackageHosts(ctx context.Context, name, version, maturity string) ([]store.Host, error) {
	q := `SELECT ` + hostCols + ` FROM hosts h WHERE EXISTS (SELECT 1 FROM host_packages p WHERE p.host_pk = h.id
		AND p.name = ? AND p.version = ? AND p.status = 'applied')`
	args := []any{name, version}
	if maturity != "" {
		q += ` AND h.maturity = ?`
		args = append(args, maturity)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY h.name, h.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: hosts of package %s %s: %w", name, version, err)
	}
	defer rows.Close()
	var out []store.Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: hosts of package %s %s: %w", name, version, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: hosts of package %s %s: %w", name, version, err)
	}
	return out, nil
}

// hostPackages reads a host's reported packages in order.
func hostPackages(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, hostPK int64) ([]store.HostPackage, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, version, status, error, changed_at FROM host_packages
		WHERE host_pk = ? ORDER BY position`, hostPK)
	if err != nil {
		return nil, fmt.Errorf("read host packages: %w", err)
	}
	defer rows.Close()
	var out []store.HostPackage
	for rows.Next() {
		var p store.HostPackage
		if err := rows.Scan(&p.Name, &p.Version, &p.Status, &p.Error, nt{&p.ChangedAt}); err != nil {
			return nil, fmt.Errorf("read host packages: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read host packages: %w", err)
	}
	return out, nil
}

// writeHostPackages replaces a host's reported packages when they changed.
func writeHostPackages(ctx context.Context, tx *sql.Tx, hostPK int64, reported []store.HostPackage, at time.Time) error {
	existing, err := hostPackages(ctx, tx, hostPK)
	if err != nil {
		return err
	}
	list, changed, err := sqlq.PlanHostPackages(existing, reported, at)
	if err != nil || !changed {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM host_packages WHERE host_pk = ?`, hostPK); err != nil {
		return fmt.Errorf("write host packages: %w", err)
	}
	for i, p := range list {
		if _, err := tx.ExecContext(ctx, `INSERT INTO host_packages (host_pk, position, name, version, status, error, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, hostPK, i, p.Name, p.Version, p.Status, p.Error, tz(p.ChangedAt)); err != nil {
			return fmt.Errorf("write host packages: %w", err)
		}
	}
	return nil
}

// exec1 runs a statement that must touch a row.
func exec1(ctx context.Context, tx *sql.Tx, missing, q string, args ...any) error {
	r, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return notFound(missing)
	}
	return nil
}
