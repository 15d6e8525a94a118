package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

const packageCols = `name, version, filename, sha256, size, control, rules_json, maturity, description,
	signer, signer_fingerprint, signature_date, target_groups, promote_after_days, promote_min_success_pct,
	verified, verify_error, uploaded_at, uploaded_by, priority, hold, policy_after_days, policy_min_success_pct,
	promoted_at, promoted_by, checked_at, ring_hosts, success_hosts, check_note, kind, actions_json, payload_complete`

func (c *Common) scanPackage(r Row, extra ...any) (store.RulesPackage, error) {
	var p store.RulesPackage
	var rulesJSON, actionsJSON string
	sc := c.D.ScanTime
	dest := []any{&p.Name, &p.Version, &p.Filename, &p.SHA256, &p.Size, &p.Control, &rulesJSON, &p.Maturity,
		&p.Description, &p.Signer, &p.SignerFingerprint, sc(&p.SignatureDate), c.D.ScanList(&p.TargetGroups),
		&p.PromoteAfterDays, &p.PromoteMinSuccessPct, &p.Verified, &p.VerifyError, sc(&p.UploadedAt),
		&p.UploadedBy, &p.Priority, &p.Hold, &p.PackagePolicy.PromoteAfterDays, &p.PackagePolicy.PromoteMinSuccessPct,
		sc(&p.PromotedAt), &p.PromotedBy, sc(&p.LastCheck.At), &p.LastCheck.RingHosts, &p.LastCheck.SuccessHosts,
		&p.LastCheck.Note, &p.Kind, &actionsJSON, &p.PayloadComplete}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return p, err
	}
	nilEmpty(&p.TargetGroups)
	if rulesJSON != "" {
		p.Rules = json.RawMessage(rulesJSON)
	}
	if actionsJSON != "" {
		p.Actions = json.RawMessage(actionsJSON)
	}
	return p, nil
}

// nilEmpty turns empty scanned lists into nil, as both backends return them.
func nilEmpty(ps ...*[]string) {
	for _, p := range ps {
		if len(*p) == 0 {
			*p = nil
		}
	}
}

func intArg(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func (c *Common) packageBy(ctx context.Context, q Conn, name, version string) (store.RulesPackage, error) {
	p, err := c.scanPackage(q.QueryRow(ctx, `SELECT `+packageCols+` FROM rules_packages WHERE name = ? AND version = ?`, name, version))
	if errors.Is(err, ErrNoRows) {
		err = NotFound(fmt.Sprintf("package %s %s", name, version))
	}
	return p, err
}

// PutPackage stores an uploaded package, or refreshes the verification of the same bytes.
func (c *Common) PutPackage(ctx context.Context, p store.RulesPackage) (store.RulesPackage, bool, error) {
	if err := p.ValidateUpload(); err != nil {
		return store.RulesPackage{}, false, c.errf(err, "put package")
	}
	var out store.RulesPackage
	created := false
	err := c.DB.Write(ctx, func(tx Conn) error {
		if c.D.XactLock != "" { // serialise uploads of one name and version
			if _, err := tx.Exec(ctx, c.D.XactLock, "package:"+p.Name+"_"+p.Version); err != nil {
				return err
			}
		}
		old, err := c.packageBy(ctx, tx, p.Name, p.Version)
		switch {
		case err == nil:
			if old.SHA256 != p.SHA256 || packageKind(old.Kind) != packageKind(p.Kind) {
				return fmt.Errorf("package %s %s exists with other content (sha256 %s): %w (versions are immutable: build the package with a new version)", p.Name, p.Version, old.SHA256, store.ErrConflict)
			}
			if _, err := tx.Exec(ctx, `UPDATE rules_packages SET verified = ?, verify_error = ? WHERE name = ? AND version = ?`,
				p.Verified, p.VerifyError, p.Name, p.Version); err != nil {
				return err
			}
		case errors.Is(err, store.ErrNotFound):
			created = true
			_, err := tx.Exec(ctx, `INSERT INTO rules_packages (name, version, filename, sha256, size, data, control,
				rules_json, maturity, description, signer, signer_fingerprint, signature_date, target_groups,
				promote_after_days, promote_min_success_pct, verified, verify_error, uploaded_at, uploaded_by,
				priority, hold, policy_after_days, policy_min_success_pct, kind, actions_json, payload_complete)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.Name, p.Version, p.Filename, p.SHA256, int64(len(p.Data)), p.Data, p.Control, string(p.Rules),
				p.Maturity, p.Description, p.Signer, p.SignerFingerprint, c.TimeArg(p.SignatureDate), c.D.List(p.TargetGroups),
				p.PromoteAfterDays, p.PromoteMinSuccessPct, p.Verified, p.VerifyError, c.TimeZArg(p.UploadedAt), p.UploadedBy,
				p.Priority, p.Hold, intArg(p.PackagePolicy.PromoteAfterDays), intArg(p.PackagePolicy.PromoteMinSuccessPct),
				packageKind(p.Kind), string(p.Actions), p.PayloadComplete)
			if c.D.IsUnique(err) {
				return fmt.Errorf("package file name %s is taken: %w", p.Filename, store.ErrConflict)
			}
			if err != nil {
				return err
			}
		default:
			return err
		}
		out, err = c.packageBy(ctx, tx, p.Name, p.Version)
		return err
	})
	if err != nil {
		return store.RulesPackage{}, false, c.errf(err, "put package %s %s", p.Name, p.Version)
	}
	return out, created, nil
}

// GetPackage returns one package without its bytes.
func (c *Common) GetPackage(ctx context.Context, name, version string) (store.RulesPackage, error) {
	p, err := c.packageBy(ctx, c.DB.Reader(), name, version)
	return p, c.errf(err, "get package %s %s", name, version)
}

// PackageFile returns the package stored under filename, with its bytes.
func (c *Common) PackageFile(ctx context.Context, filename string) (store.RulesPackage, error) {
	var data []byte
	p, err := c.scanPackage(c.DB.Reader().QueryRow(ctx, `SELECT `+packageCols+`, data FROM rules_packages WHERE filename = ?`, filename), &data)
	if errors.Is(err, ErrNoRows) {
		err = NotFound("package file " + filename)
	}
	p.Data = data
	return p, c.errf(err, "package file %s", filename)
}

// ListPackages returns every package without its bytes.
func (c *Common) ListPackages(ctx context.Context) ([]store.RulesPackage, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (store.RulesPackage, error) { return c.scanPackage(r) },
		`SELECT `+packageCols+` FROM rules_packages ORDER BY name, id`)
	return out, c.errf(err, "list packages")
}

// DeletePackage removes one version.
func (c *Common) DeletePackage(ctx context.Context, name, version string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `DELETE FROM rules_packages WHERE name = ? AND version = ?`, name, version)
	})
	return c.errf(err, "delete package")
}

// SetPackagePolicy replaces the server-side policy of one version.
func (c *Common) SetPackagePolicy(ctx context.Context, name, version string, pol store.PackagePolicy) (store.RulesPackage, error) {
	var out store.RulesPackage
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `UPDATE rules_packages SET priority = ?, hold = ?,
			policy_after_days = ?, policy_min_success_pct = ? WHERE name = ? AND version = ?`,
			pol.Priority, pol.Hold, intArg(pol.PromoteAfterDays), intArg(pol.PromoteMinSuccessPct), name, version); err != nil {
			return err
		}
		var err error
		out, err = c.packageBy(ctx, tx, name, version)
		return err
	})
	return out, c.errf(err, "set package policy")
}

// PromotePackage records the promotion of one version to PROD.
func (c *Common) PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (store.RulesPackage, error) {
	var out store.RulesPackage
	err := c.DB.Write(ctx, func(tx Conn) error {
		var promotedAt time.Time
		var by string
		err := tx.QueryRow(ctx, `SELECT promoted_at, promoted_by FROM rules_packages WHERE name = ? AND version = ?`+c.D.LockRow,
			name, version).Scan(c.D.ScanTime(&promotedAt), &by)
		if errors.Is(err, ErrNoRows) {
			return NotFound(fmt.Sprintf("package %s %s", name, version))
		}
		if err != nil {
			return err
		}
		if !promotedAt.IsZero() {
			return fmt.Errorf("package %s %s was promoted already on %s by %s: %w", name, version,
				promotedAt.UTC().Format(time.RFC3339), by, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE rules_packages SET promoted_at = ?, promoted_by = ? WHERE name = ? AND version = ?`,
			c.TimeZArg(at), actor, name, version); err != nil {
			return err
		}
		out, err = c.packageBy(ctx, tx, name, version)
		return err
	})
	return out, c.errf(err, "promote package")
}

// RecordPromotionCheck stores the result of the last rollout evaluation.
func (c *Common) RecordPromotionCheck(ctx context.Context, name, version string, x store.PromotionCheck) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version), `UPDATE rules_packages SET checked_at = ?,
			ring_hosts = ?, success_hosts = ?, check_note = ? WHERE name = ? AND version = ?`,
			c.TimeArg(x.At), x.RingHosts, x.SuccessHosts, x.Note, name, version)
	})
	return c.errf(err, "record promotion check")
}

// AssignPackage assigns a package name to a host group or a host.
func (c *Common) AssignPackage(ctx context.Context, a store.PackageAssignment) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, c.errf(err, "assign package")
	}
	var n int64
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		n, err = tx.Exec(ctx, `INSERT INTO package_assignments (package, kind, target, created_at, created_by)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, a.Package, string(a.Kind), a.Target, c.TimeZArg(a.CreatedAt), a.CreatedBy)
		return err
	})
	return n > 0, c.errf(err, "assign package")
}

// UnassignPackage removes an assignment.
func (c *Common) UnassignPackage(ctx context.Context, a store.PackageAssignment) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("assignment of %s to %s %s", a.Package, a.Kind, a.Target),
			`DELETE FROM package_assignments WHERE package = ? AND kind = ? AND target = ?`, a.Package, string(a.Kind), a.Target)
	})
	return c.errf(err, "unassign package")
}

// ListAssignments returns every assignment.
func (c *Common) ListAssignments(ctx context.Context) ([]store.PackageAssignment, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (store.PackageAssignment, error) {
		var a store.PackageAssignment
		err := r.Scan(&a.Package, &a.Kind, &a.Target, c.D.ScanTime(&a.CreatedAt), &a.CreatedBy)
		return a, err
	}, `SELECT package, kind, target, created_at, created_by FROM package_assignments ORDER BY package, kind, target`)
	return out, c.errf(err, "list assignments")
}

// PackageHosts lists the hosts that reported this version applied.
func (c *Common) PackageHosts(ctx context.Context, name, version, maturity string) ([]store.Host, error) {
	q := `SELECT ` + hostCols + ` FROM hosts h WHERE (EXISTS (SELECT 1 FROM host_packages p WHERE p.host_pk = h.id
		AND p.name = ? AND p.version = ? AND p.status = 'applied') OR EXISTS (SELECT 1 FROM host_update_packages u
		WHERE u.host_pk = h.id AND u.name = ? AND u.version = ? AND u.status IN ('installed', 'reboot_needed')))`
	args := []any{name, version, name, version}
	if maturity != "" {
		q += ` AND h.maturity = ?`
		args = append(args, maturity)
	}
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (store.Host, error) { return c.scanHost(r) }, q+` ORDER BY h.name, h.id`, args...)
	return out, c.errf(err, "hosts of package %s %s", name, version)
}

// The tables of a host's reported packages: rules packages and update packages.
const (
	hostPackagesTable       = "host_packages"
	hostUpdatePackagesTable = "host_update_packages"
)

// hostPackages reads a host's reported rules packages in order.
func (c *Common) hostPackages(ctx context.Context, q Conn, hostPK int64) ([]store.HostPackage, error) {
	return c.hostPackageList(ctx, q, hostPackagesTable, hostPK)
}

// hostUpdatePackages reads a host's reported update packages in order.
func (c *Common) hostUpdatePackages(ctx context.Context, q Conn, hostPK int64) ([]store.HostPackage, error) {
	return c.hostPackageList(ctx, q, hostUpdatePackagesTable, hostPK)
}

func (c *Common) hostPackageList(ctx context.Context, q Conn, table string, hostPK int64) ([]store.HostPackage, error) {
	out, err := QueryAll(ctx, q, func(r Row) (store.HostPackage, error) {
		var p store.HostPackage
		err := r.Scan(&p.Name, &p.Version, &p.Status, &p.Error, c.D.ScanTime(&p.ChangedAt))
		return p, err
	}, `SELECT name, version, status, error, changed_at FROM `+table+` WHERE host_pk = ? ORDER BY position`, hostPK)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return out, nil
}

// WriteHostPackages replaces a host's reported packages when they changed.
func (c *Common) WriteHostPackages(ctx context.Context, tx Conn, hostPK int64, reported []store.HostPackage, at time.Time) error {
	return c.writeHostPackageList(ctx, tx, hostPackagesTable, PlanHostPackages, hostPK, reported, at)
}

// WriteHostUpdatePackages replaces a host's reported update packages when they changed.
func (c *Common) WriteHostUpdatePackages(ctx context.Context, tx Conn, hostPK int64, reported []store.HostPackage, at time.Time) error {
	return c.writeHostPackageList(ctx, tx, hostUpdatePackagesTable, PlanHostUpdatePackages, hostPK, reported, at)
}

func (c *Common) writeHostPackageList(ctx context.Context, tx Conn, table string,
	plan func(existing, reported []store.HostPackage, at time.Time) ([]store.HostPackage, bool, error),
	hostPK int64, reported []store.HostPackage, at time.Time) error {
	existing, err := c.hostPackageList(ctx, tx, table, hostPK)
	if err != nil {
		return err
	}
	list, changed, err := plan(existing, reported, at)
	if err != nil || !changed {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE host_pk = ?`, hostPK); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	for i, p := range list {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (host_pk, position, name, version, status, error, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, hostPK, i, p.Name, p.Version, p.Status, p.Error, c.TimeZArg(p.ChangedAt)); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	return nil
}

// SetPayloadComplete records whether an update package's payload is all in place.
func (c *Common) SetPayloadComplete(ctx context.Context, name, version string, complete bool) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("package %s %s", name, version),
			`UPDATE rules_packages SET payload_complete = ? WHERE name = ? AND version = ?`, complete, name, version)
	})
	return c.errf(err, "set payload complete")
}

// packageKind is the stored kind of a package (rules when not said).
func packageKind(k string) string {
	if k == "" {
		return store.PackageKindRules
	}
	return k
}
