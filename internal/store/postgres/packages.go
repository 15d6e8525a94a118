package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

const packageCols = `name, version, filename, sha256, size, control, rules_json, maturity, description,
	signer, signer_fingerprint, signature_date, target_groups, promote_after_days, promote_min_success_pct,
	verified, verify_error, uploaded_at, uploaded_by, priority, hold, policy_after_days, policy_min_success_pct,
	promoted_at, promoted_by, checked_at, ring_hosts, success_hosts, check_note`

func scanPackage(row pgx.Row, extra ...any) (store.RulesPackage, error) {
	var p store.RulesPackage
	var rulesJSON string
	var after, pct *int32
	dest := []any{&p.Name, &p.Version, &p.Filename, &p.SHA256, &p.Size, &p.Control, &rulesJSON, &p.Maturity,
		&p.Description, &p.Signer, &p.SignerFingerprint, nt{&p.SignatureDate}, &p.TargetGroups,
		&p.PromoteAfterDays, &p.PromoteMinSuccessPct, &p.Verified, &p.VerifyError, nt{&p.UploadedAt},
		&p.UploadedBy, &p.Priority, &p.Hold, &after, &pct, nt{&p.PromotedAt}, &p.PromotedBy,
		nt{&p.LastCheck.At}, &p.LastCheck.RingHosts, &p.LastCheck.SuccessHosts, &p.LastCheck.Note}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return p, err
	}
	nilEmpty(&p.TargetGroups)
	if rulesJSON != "" {
		p.Rules = json.RawMessage(rulesJSON)
	}
	p.PackagePolicy.PromoteAfterDays = intPtr(after)
	p.PackagePolicy.PromoteMinSuccessPct = intPtr(pct)
	return p, nil
}

func intPtr(n *int32) *int {
	if n == nil {
		return nil
	}
	v := int(*n)
	return &v
}

func intArg(p *int) any {
	if p == nil {
		return nil
	}
	return int32(*p)
}

func packageBy(ctx context.Context, q querier, where string, args ...any) (store.RulesPackage, error) {
	return scanPackage(q.QueryRow(ctx, `SELECT `+packageCols+` FROM rules_packages WHERE `+where, args...))
}

// PutPackage stores an uploaded package, or refreshes the verification of the same bytes.
func (s *Store) PutPackage(ctx context.Context, p store.RulesPackage) (store.RulesPackage, bool, error) {
	if p.Name == "" || p.Version == "" || p.Filename == "" || p.SHA256 == "" || len(p.Data) == 0 {
		return store.RulesPackage{}, false, fmt.Errorf("postgres: put package: name, version, filename, sha256 and data are required: %w", store.ErrInvalid)
	}
	var out store.RulesPackage
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Serialise uploads of one name and version.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, "package:"+p.Name+"_"+p.Version); err != nil {
			return err
		}
		old, err := packageBy(ctx, tx, `name = $1 AND version = $2`, p.Name, p.Version)
		switch {
		case err == nil:
			if old.SHA256 != p.SHA256 {
				return fmt.Errorf("package %s %s exists with other content (sha256 %s): %w (versions are immutable: build the package with a new version)", p.Name, p.Version, old.SHA256, store.ErrConflict)
			}
			if _, err := tx.Exec(ctx, `UPDATE rules_packages SET verified = $1, verify_error = $2 WHERE name = $3 AND version = $4`,
				p.Verified, p.VerifyError, p.Name, p.Version); err != nil {
				return err
			}
		case errors.Is(err, pgx.ErrNoRows):
			created = true
			_, err := tx.Exec(ctx, `INSERT INTO rules_packages (name, version, filename, sha256, size, data, control,
				rules_json, maturity, description, signer, signer_fingerprint, signature_date, target_groups,
				promote_after_days, promote_min_success_pct, verified, verify_error, uploaded_at, uploaded_by,
				priority, hold, policy_after_days, policy_min_success_pct)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
				p.Name, p.Version, p.Filename, p.SHA256, int64(len(p.Data)), p.Data, p.Control, string(p.Rules),
				p.Maturity, p.Description, p.Signer, p.SignerFingerprint, tv(p.SignatureDate), list(p.TargetGroups),
				p.PromoteAfterDays, p.PromoteMinSuccessPct, p.Verified, p.VerifyError, tz(p.UploadedAt), p.UploadedBy,
				p.Priority, p.Hold, intArg(p.PackagePolicy.PromoteAfterDays), intArg(p.PackagePolicy.PromoteMinSuccessPct))
			if pgCode(err) == uniqueViolation {
				return fmt.Errorf("package file name %s is taken: %w", p.Filename, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		default:
			return err
		}
		out, err = packageBy(ctx, tx, `name = $1 AND version = $2`, p.Name, p.Version)
		return err
	})
	if err != nil {
		return store.RulesPackage{}, false, fmt.Errorf("postgres: put package %s %s: %w", p.Name, p.Version, err)
	}
	return out, created, nil
}

// GetPackage returns one package without its bytes.
func (s *Store) GetPackage(ctx context.Context, name, version string) (store.RulesPackage, error) {
	p, err := packageBy(ctx, s.pool, `name = $1 AND version = $2`, name, version)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound(fmt.Sprintf("postgres: package %s %s", name, version))
	}
	if err != nil {
		return p, fmt.Errorf("postgres: get package %s %s: %w", name, version, err)
	}
	return p, nil
}

// PackageFile returns the package stored under filename, with its bytes.
func (s *Store) PackageFile(ctx context.Context, filename string) (store.RulesPackage, error) {
	var data []byte
	p, err := scanPackage(s.pool.QueryRow(ctx, `SELECT `+packageCols+`, data FROM rules_packages WHERE filename = $1`, filename), &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound("postgres: package file " + filename)
	}
	if err != nil {
		return p, fmt.Errorf("postgres: package file %s: %w", filename, err)
	}
	p.Data = data
	return p, nil
}

// ListPackages returns every package without its bytes.
func (s *Store) ListPackages(ctx context.Context) ([]store.RulesPackage, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+packageCols+` FROM rules_packages ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list packages: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.RulesPackage, error) { return scanPackage(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list packages: %w", err)
	}
	return out, nil
}

// DeletePackage removes one version.
func (s *Store) DeletePackage(ctx context.Context, name, version string) error {
	if err := exec1(ctx, s.pool, fmt.Sprintf("package %s %s", name, version), `DELETE FROM rules_packages WHERE name = $1 AND version = $2`, name, version); err != nil {
		return fmt.Errorf("postgres: delete package: %w", err)
	}
	return nil
}

// SetPackagePolicy replaces the server-side policy of one version.
func (s *Store) SetPackagePolicy(ctx context.Context, name, version string, pol store.PackagePolicy) (store.RulesPackage, error) {
	p, err := scanPackage(s.pool.QueryRow(ctx, `UPDATE rules_packages SET priority = $1, hold = $2,
		policy_after_days = $3, policy_min_success_pct = $4 WHERE name = $5 AND version = $6 RETURNING `+packageCols,
		pol.Priority, pol.Hold, intArg(pol.PromoteAfterDays), intArg(pol.PromoteMinSuccessPct), name, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, notFound(fmt.Sprintf("postgres: package %s %s", name, version))
	}
	if err != nil {
		return p, fmt.Errorf("postgres: set package policy: %w", err)
	}
	return p, nil
}

// PromotePackage records the promotion of one version to PROD.
func (s *Store) PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (store.RulesPackage, error) {
	var out store.RulesPackage
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var promotedAt time.Time
		var by string
		err := tx.QueryRow(ctx, `SELECT promoted_at, promoted_by FROM rules_packages WHERE name = $1 AND version = $2 FOR UPDATE`,
			name, version).Scan(nt{&promotedAt}, &by)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(fmt.Sprintf("package %s %s", name, version))
		}
		if err != nil {
			return err
		}
		if !promotedAt.IsZero() {
			return fmt.Errorf("package %s %s was promoted already on %s by %s: %w", name, version,
				promotedAt.UTC().Format(time.RFC3339), by, store.ErrConflict)
		}
		out, err = scanPackage(tx.QueryRow(ctx, `UPDATE rules_packages SET promoted_at = $1, promoted_by = $2
			WHERE name = $3 AND version = $4 RETURNING `+packageCols, tz(at), actor, name, version))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("postgres: promote package: %w", err)
	}
	return out, nil
}

// RecordPromotionCheck stores the result of the last rollout evaluation.
func (s *Store) RecordPromotionCheck(ctx context.Context, name, version string, c store.PromotionCheck) error {
	err := exec1(ctx, s.pool, fmt.Sprintf("package %s %s", name, version), `UPDATE rules_packages SET checked_at = $1,
		ring_hosts = $2, success_hosts = $3, check_note = $4 WHERE name = $5 AND version = $6`,
		tv(c.At), c.RingHosts, c.SuccessHosts, c.Note, name, version)
	if err != nil {
		return fmt.Errorf("postgres: record promotion check: %w", err)
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
		return false, fmt.Errorf("postgres: assign package: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO package_assignments (package, kind, target, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, a.Package, string(a.Kind), a.Target, tz(a.CreatedAt), a.CreatedBy)
	if err != nil {
		return false, fmt.Errorf("postgres: assign package: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// UnassignPackage removes an assignment.
func (s *Store) UnassignPackage(ctx context.Context, a store.PackageAssignment) error {
	err := exec1(ctx, s.pool, fmt.Sprintf("assignment of %s to %s %s", a.Package, a.Kind, a.Target),
		`DELETE FROM package_assignments WHERE package = $1 AND kind = $2 AND target = $3`, a.Package, string(a.Kind), a.Target)
	if err != nil {
		return fmt.Errorf("postgres: unassign package: %w", err)
	}
	return nil
}

// ListAssignments returns every assignment.
func (s *Store) ListAssignments(ctx context.Context) ([]store.PackageAssignment, error) {
	rows, err := s.pool.Query(ctx, `SELECT package, kind, target, created_at, created_by FROM package_assignments
		ORDER BY package, kind, target`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list assignments: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.PackageAssignment, error) {
		var a store.PackageAssignment
		err := r.Scan(&a.Package, &a.Kind, &a.Target, nt{&a.CreatedAt}, &a.CreatedBy)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list assignments: %w", err)
	}
	return out, nil
}

// PackageHosts lists the hosts that reported this version applied.
func (s *Store) PackageHosts(ctx context.Context, name, version, maturity string) ([]store.Host, error) {
	q := `SELECT ` + hostCols + ` FROM hosts h WHERE EXISTS (SELECT 1 FROM host_packages p WHERE p.host_pk = h.id
		AND p.name = $1 AND p.version = $2 AND p.status = 'applied')`
	args := []any{name, version}
	if maturity != "" {
		q += ` AND h.maturity = $3`
		args = append(args, maturity)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY h.name, h.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: hosts of package %s %s: %w", name, version, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Host, error) { return scanHost(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: hosts of package %s %s: %w", name, version, err)
	}
	return out, nil
}

// hostPackages reads a host's reported packages in order.
func hostPackages(ctx context.Context, q querier, hostPK int64) ([]store.HostPackage, error) {
	rows, err := q.Query(ctx, `SELECT name, version, status, error, changed_at FROM host_packages
		WHERE host_pk = $1 ORDER BY position`, hostPK)
	if err != nil {
		return nil, fmt.Errorf("read host packages: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.HostPackage, error) {
		var p store.HostPackage
		err := r.Scan(&p.Name, &p.Version, &p.Status, &p.Error, nt{&p.ChangedAt})
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read host packages: %w", err)
	}
	return out, nil
}

// writeHostPackages replaces a host's reported packages when they changed.
func writeHostPackages(ctx context.Context, tx pgx.Tx, hostPK int64, reported []store.HostPackage, at time.Time) error {
	existing, err := hostPackages(ctx, tx, hostPK)
	if err != nil {
		return err
	}
	ps, changed, err := sqlq.PlanHostPackages(existing, reported, at)
	if err != nil || !changed {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM host_packages WHERE host_pk = $1`, hostPK); err != nil {
		return fmt.Errorf("write host packages: %w", err)
	}
	for i, p := range ps {
		if _, err := tx.Exec(ctx, `INSERT INTO host_packages (host_pk, position, name, version, status, error, changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, hostPK, i, p.Name, p.Version, p.Status, p.Error, tz(p.ChangedAt)); err != nil {
			return fmt.Errorf("write host packages: %w", err)
		}
	}
	return nil
}
