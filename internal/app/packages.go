package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/store"
)

// Rules packages: upload, assignment, policy, promotion (docs/adr/0003-rules-packages.md).
//   - An upload is verified against package_trusted_certs and refused when it fails;
//     without package_trusted_certs it is stored marked unverified and never served.
//   - Versions are immutable: the same name and version with other bytes is refused.
//   - Promotion is a server-side offer: a promoted PREPROD package is offered to PROD
//     hosts; agents accept it only when the signed control allows promotion
//     (promote_after_days) and that delay has passed since the signature date.

// PackageStore is what the package operations read and write (store.PackageStore and
// the host lookup of an assignment).
type PackageStore interface {
	PutPackage(ctx context.Context, p store.RulesPackage) (store.RulesPackage, bool, error)
	GetPackage(ctx context.Context, name, version string) (store.RulesPackage, error)
	ListPackages(ctx context.Context) ([]store.RulesPackage, error)
	DeletePackage(ctx context.Context, name, version string) error
	SetPackagePolicy(ctx context.Context, name, version string, p store.PackagePolicy) (store.RulesPackage, error)
	PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (store.RulesPackage, error)
	AssignPackage(ctx context.Context, a store.PackageAssignment) (bool, error)
	UnassignPackage(ctx context.Context, a store.PackageAssignment) error
	ListAssignments(ctx context.Context) ([]store.PackageAssignment, error)
	GetHost(ctx context.Context, uuid string) (store.Host, error)
	PackageFile(ctx context.Context, filename string) (store.RulesPackage, error)
	SetPayloadComplete(ctx context.Context, name, version string, complete bool) error
}

// Limits of package policy values.
const (
	MaxPriority    = 1000
	MaxPromoteDays = 3650
	MaxTargetLen   = 200
)

// adminPackage returns the admin of the context, the package store and the package
// version, or why not.
func (a *App) adminPackage(ctx context.Context, name, version string) (User, PackageStore, store.RulesPackage, error) {
	who, ps, err := a.adminPackages(ctx)
	if err != nil {
		return who, nil, store.RulesPackage{}, err
	}
	p, err := ps.GetPackage(ctx, name, version)
	if err != nil {
		return who, nil, p, notFound(err, "no package %s version %s", Truncate(name, 130), Truncate(version, 70))
	}
	return who, ps, p, nil
}

// adminPackages is the preamble of every package change: an administrator, and a
// server that manages rules packages.
func (a *App) adminPackages(ctx context.Context) (User, PackageStore, error) {
	who, err := admin(ctx)
	if err != nil {
		return who, nil, err
	}
	ps, err := a.packages()
	return who, ps, err
}

func (a *App) packages() (PackageStore, error) {
	if a.d.Packages == nil {
		return nil, errorf(Unavailable, "", "this server does not manage rules packages")
	}
	return a.d.Packages, nil
}

// Rollout statuses of a non-PROD package.
const (
	RolloutPromoted       = "promoted"        // offered to PROD hosts
	RolloutManual         = "manual"          // no promote_after_days: sign a PROD version to release
	RolloutHeld           = "held"            // an administrator stopped the automatic promotion
	RolloutWaiting        = "waiting"         // before the eligible date
	RolloutBelowThreshold = "below_threshold" // eligible, but too few ring hosts succeeded at the last check
	RolloutEligible       = "eligible"        // promoted at the next check if the ring succeeds
	RolloutUnverified     = "unverified"      // not served at all
)

// RolloutState is where a package's ring rollout stands.
type RolloutState struct {
	Status               string
	PromoteAfterDays     int
	PromoteMinSuccessPct int
	EligibleAt           time.Time
	// SuccessPct is the share of ring hosts that succeeded at the last check (nil before
	// any check or when no ring host applied the package).
	SuccessPct   *float64
	RingHosts    int
	SuccessHosts int
	CheckedAt    time.Time
	Note         string
	PromotedAt   time.Time
	PromotedBy   string
	// CanPromote: Promote would accept it now; CanHold: holding it means something.
	CanPromote bool
	CanHold    bool
}

// Rollout describes where a package's rollout stands at now (nil for a PROD package).
func Rollout(p store.RulesPackage, now time.Time) *RolloutState {
	if p.Maturity == store.MaturityProd {
		return nil
	}
	days, pct := p.PromotionRule()
	v := &RolloutState{PromoteAfterDays: days, PromoteMinSuccessPct: pct, EligibleAt: p.EligibleAt(),
		RingHosts: p.LastCheck.RingHosts, SuccessHosts: p.LastCheck.SuccessHosts, CheckedAt: p.LastCheck.At,
		Note: p.LastCheck.Note, PromotedAt: p.PromotedAt, PromotedBy: p.PromotedBy}
	if !p.LastCheck.At.IsZero() && p.LastCheck.RingHosts > 0 {
		sp := 100 * float64(p.LastCheck.SuccessHosts) / float64(p.LastCheck.RingHosts)
		v.SuccessPct = &sp
	}
	switch {
	case !p.PromotedAt.IsZero():
		v.Status = RolloutPromoted
	case !p.Verified:
		v.Status = RolloutUnverified
	case !p.Promotable():
		v.Status = RolloutManual
	case p.Hold:
		v.Status = RolloutHeld
	case now.Before(v.EligibleAt):
		v.Status = RolloutWaiting
	case !p.LastCheck.At.IsZero() && !p.LastCheck.At.Before(v.EligibleAt) && !SuccessEnough(p.LastCheck, pct):
		v.Status = RolloutBelowThreshold
	default:
		v.Status = RolloutEligible
	}
	v.CanPromote = promoteRefusal(p, now) == nil
	v.CanHold = p.PromotedAt.IsZero() && p.Verified && p.Promotable()
	return v
}

// SuccessEnough says whether a check meets the minimum success percentage.
func SuccessEnough(c store.PromotionCheck, minPct int) bool {
	if minPct <= 0 {
		return true
	}
	return c.RingHosts > 0 && c.SuccessHosts*100 >= minPct*c.RingHosts
}

// IngestPackage verifies and stores an uploaded (or server-signed) package with the
// server-side priority (package.upload; package.refused when it does not verify). A
// new package's signed target_groups become assignments (package.assign). created is
// false when the same bytes were stored already.
func (a *App) IngestPackage(ctx context.Context, data []byte, priority int) (stored store.RulesPackage, created bool, err error) {
	who, ps, err := a.adminPackages(ctx)
	if err != nil {
		return stored, false, err
	}
	if priority < -MaxPriority || priority > MaxPriority {
		return stored, false, errorf(Invalid, "priority", "%d: want a whole number between %d and %d", priority, -MaxPriority, MaxPriority)
	}
	now := a.now()
	row := store.RulesPackage{Data: data, UploadedAt: now, UploadedBy: who.Name, PackagePolicy: store.PackagePolicy{Priority: priority}}
	sum := sha256.Sum256(data)
	row.SHA256 = hex.EncodeToString(sum[:])
	var ctl pkg.Control
	update := isUpdatePackage(data)
	switch {
	case update:
		if ctl, err = a.verifyUpdateUpload(ctx, who, &row); err != nil {
			return row, false, err
		}
	case a.d.PackageRoots == nil:
		p, err := pkg.Open(data, pkg.Limits{})
		if err != nil {
			return row, false, &Error{Kind: Unprocessable, Msg: fmt.Sprintf("package refused: %v", err), Err: err}
		}
		ctl, row.Rules = p.Control, p.RulesJSON
		row.VerifyError = "not verified: the server has no package_trusted_certs (set it in [options] of waptserver.ini, " +
			"restart and upload the package again); it is not served to agents until then"
	default:
		v, err := pkg.Verify(data, pkg.VerifyOptions{Roots: a.d.PackageRoots, Now: a.now})
		if err != nil {
			return row, false, a.refusePackage(ctx, who, row, err)
		}
		ctl, row.Rules, row.Verified = v.Control, v.RulesJSON, true
	}
	row.Name, row.Version, row.Maturity = ctl.Package, ctl.Version, ctl.Maturity
	row.Filename = ctl.Package + "_" + ctl.Version + ".wapt"
	row.Description, row.Signer, row.SignerFingerprint, row.SignatureDate = ctl.Description, ctl.Signer, ctl.SignerFingerprint, ctl.SignatureDate
	row.TargetGroups, row.PromoteAfterDays, row.PromoteMinSuccessPct = ctl.TargetGroups, ctl.PromoteAfterDays, ctl.PromoteMinSuccessPct
	if row.Control, err = pkg.ControlText(data); err != nil {
		return row, false, &Error{Kind: Unprocessable, Msg: fmt.Sprintf("package refused: %v", err), Err: err}
	}
	if err := checkKindOfName(ctx, ps, row); err != nil {
		return row, false, err
	}
	stored, created, err = ps.PutPackage(ctx, row)
	if errors.Is(err, store.ErrConflict) {
		return row, false, &Error{Kind: Conflict, Msg: fmt.Sprintf("package %s version %s exists already with other content: choose a higher version", row.Name, row.Version), Err: err}
	}
	if err != nil {
		return row, false, err
	}
	a.audit(ctx, who.Name, "package.upload", "package:"+stored.Name+"="+stored.Version, map[string]any{"filename": stored.Filename,
		"sha256": stored.SHA256, "maturity": stored.Maturity, "verified": stored.Verified, "signer": stored.Signer, "created": created,
		"update_package": stored.IsUpdate()})
	if created {
		// The signed target_groups become assignments (administrators may change them).
		for _, g := range stored.TargetGroups {
			as := store.PackageAssignment{Package: stored.Name, Kind: store.AssignGroup, Target: g, CreatedAt: now, CreatedBy: who.Name}
			if ok, err := ps.AssignPackage(ctx, as); err != nil {
				return stored, created, err
			} else if ok {
				a.audit(ctx, who.Name, "package.assign", "package:"+stored.Name, map[string]string{"group": g, "from": "target_groups"})
			}
		}
	}
	return stored, created, nil
}

// Packages lists every package and every assignment.
func (a *App) Packages(ctx context.Context) ([]store.RulesPackage, []store.PackageAssignment, error) {
	if _, err := reader(ctx); err != nil {
		return nil, nil, err
	}
	ps, err := a.packages()
	if err != nil {
		return nil, nil, err
	}
	pkgs, err := ps.ListPackages(ctx)
	if err != nil {
		return nil, nil, err
	}
	as, err := ps.ListAssignments(ctx)
	return pkgs, as, err
}

// Package returns one package version.
func (a *App) Package(ctx context.Context, name, version string) (store.RulesPackage, error) {
	if _, err := reader(ctx); err != nil {
		return store.RulesPackage{}, err
	}
	ps, err := a.packages()
	if err != nil {
		return store.RulesPackage{}, err
	}
	p, err := ps.GetPackage(ctx, name, version)
	return p, notFound(err, "no package %s version %s", Truncate(name, 130), Truncate(version, 70))
}

// PolicyChange is a change of a package's server-side policy; nil fields stay. A
// promotion value of 0 returns to the signed value.
type PolicyChange struct {
	Priority             *int
	Hold                 *bool
	PromoteAfterDays     *int
	PromoteMinSuccessPct *int
}

// SetPackagePolicy changes the server-side policy of one version (package.policy): the
// server may only wait longer, and ask more success, than the signer did.
func (a *App) SetPackagePolicy(ctx context.Context, name, version string, ch PolicyChange) (store.RulesPackage, error) {
	who, ps, p, err := a.adminPackage(ctx, name, version)
	if err != nil {
		return p, err
	}
	pol := p.PackagePolicy
	if ch.Priority != nil {
		if *ch.Priority < -MaxPriority || *ch.Priority > MaxPriority {
			return p, errorf(Invalid, "priority", "%d: want a whole number between %d and %d", *ch.Priority, -MaxPriority, MaxPriority)
		}
		pol.Priority = *ch.Priority
	}
	if ch.Hold != nil {
		pol.Hold = *ch.Hold
	}
	if ch.PromoteAfterDays != nil {
		d := *ch.PromoteAfterDays
		switch {
		case d == 0:
			pol.PromoteAfterDays = nil
		case !p.Promotable():
			return p, errorf(Invalid, "promote_after_days", "package %s %s cannot be promoted: its signed control has no promote_after_days "+
				"(agents would refuse it on PROD hosts); build and sign it again with --promote-after-days", p.Name, p.Version)
		case d < p.PromoteAfterDays || d > MaxPromoteDays:
			return p, errorf(Invalid, "promote_after_days", "%d: the server may only wait longer than the signer asked: want %d to %d (0: the signed %d)",
				d, p.PromoteAfterDays, MaxPromoteDays, p.PromoteAfterDays)
		default:
			pol.PromoteAfterDays = &d
		}
	}
	if ch.PromoteMinSuccessPct != nil {
		v := *ch.PromoteMinSuccessPct
		switch {
		case v == 0:
			pol.PromoteMinSuccessPct = nil
		case v < p.PromoteMinSuccessPct || v > 100:
			return p, errorf(Invalid, "promote_min_success_pct", "%d: the server may only ask more than the signer: want %d to 100 (0: the signed %d)",
				v, p.PromoteMinSuccessPct, p.PromoteMinSuccessPct)
		default:
			pol.PromoteMinSuccessPct = &v
		}
	}
	p, err = ps.SetPackagePolicy(ctx, p.Name, p.Version, pol)
	if err != nil {
		return p, err
	}
	a.audit(ctx, who.Name, "package.policy", "package:"+p.Name+"="+p.Version, p.PackagePolicy)
	return p, nil
}

// Hold stops (true) or resumes (false) the automatic promotion of one version.
func (a *App) Hold(ctx context.Context, name, version string, hold bool) (store.RulesPackage, error) {
	return a.SetPackagePolicy(ctx, name, version, PolicyChange{Hold: &hold})
}

// DeletePackage removes one version (package.delete).
func (a *App) DeletePackage(ctx context.Context, name, version string) error {
	who, ps, err := a.adminPackages(ctx)
	if err != nil {
		return err
	}
	if err := ps.DeletePackage(ctx, name, version); err != nil {
		return notFound(err, "no package %s version %s", Truncate(name, 130), Truncate(version, 70))
	}
	a.audit(ctx, who.Name, "package.delete", "package:"+name+"="+version, nil)
	return a.removePayload(name, version)
}

// promoteRefusal says why p cannot be offered to PROD hosts at now (nil: it can).
func promoteRefusal(p store.RulesPackage, now time.Time) *Error {
	switch {
	case !p.Verified:
		return errorf(Conflict, "", "package %s %s is not verified: it is not served at all (%s)", p.Name, p.Version, p.VerifyError)
	case p.Maturity == store.MaturityProd:
		return errorf(Conflict, "", "package %s %s is signed PROD already: every host takes it", p.Name, p.Version)
	case !p.PromotedAt.IsZero():
		return errorf(Conflict, "", "package %s %s was promoted on %s already", p.Name, p.Version, p.PromotedAt.UTC().Format(time.RFC3339))
	case !p.Promotable():
		return errorf(Conflict, "", "package %s %s cannot be promoted: its signed control has no promote_after_days, "+
			"so agents on PROD hosts would refuse it (build and sign the same rules with maturity PROD instead)", p.Name, p.Version)
	case now.Before(p.SignedEligibleAt()):
		return errorf(Conflict, "", "package %s %s may be promoted from %s on (signature date + promote_after_days %d); "+
			"agents would refuse it before", p.Name, p.Version, p.SignedEligibleAt().UTC().Format(time.RFC3339), p.PromoteAfterDays)
	}
	return nil
}

// Promotion says why a promotion happens: by hand (Check nil) or by the rollout check
// (the ring's result that allowed it).
type Promotion struct {
	Check   *store.PromotionCheck
	Trigger string // "schedule", "forced"; "" by hand
}

// Promote offers a PREPROD package to PROD hosts now (package.promote). The signed
// conditions must hold (verified, promotable, promote_after_days passed since the
// signature) and the package not promoted already: Conflict otherwise. The manual
// promotion does not wait for the ring; the rollout check (internal/jobs) calls it
// with the ring's result once the ring succeeded.
func (a *App) Promote(ctx context.Context, name, version string, why Promotion) (store.RulesPackage, error) {
	who, ps, p, err := a.adminPackage(ctx, name, version)
	if err != nil {
		return p, err
	}
	now := a.now()
	if e := promoteRefusal(p, now); e != nil {
		return p, e
	}
	p, err = ps.PromotePackage(ctx, p.Name, p.Version, now, who.Name)
	if errors.Is(err, store.ErrConflict) { // another request or replica was quicker
		return p, &Error{Kind: Conflict, Msg: fmt.Sprintf("package %s %s was promoted already", name, version), Err: err}
	}
	if err != nil {
		return p, err
	}
	days, pct := p.PromotionRule()
	details := map[string]any{"manual": why.Check == nil, "from": p.Maturity, "to": store.MaturityProd,
		"ring_hosts": p.LastCheck.RingHosts, "success_hosts": p.LastCheck.SuccessHosts,
		"promote_after_days": days, "promote_min_success_pct": pct, "eligible_at": p.EligibleAt().UTC()}
	if why.Check != nil {
		details["ring_hosts"], details["success_hosts"] = why.Check.RingHosts, why.Check.SuccessHosts
	}
	if why.Trigger != "" {
		details["trigger"] = why.Trigger
	}
	a.audit(ctx, who.Name, "package.promote", "package:"+p.Name+"="+p.Version, details)
	return p, nil
}

// CheckAssignment validates an assignment's kind and target (trimmed).
func CheckAssignment(as store.PackageAssignment) (store.PackageAssignment, error) {
	switch as.Kind {
	case store.AssignGroup, store.AssignHost:
	default:
		return as, errorf(Invalid, "kind", "%q: want group or host", Truncate(string(as.Kind), 40))
	}
	as.Package, as.Target = strings.TrimSpace(as.Package), strings.TrimSpace(as.Target)
	if as.Package == "" || len(as.Package) > MaxTargetLen {
		return as, errorf(Invalid, "name", "name the package (1 to %d bytes)", MaxTargetLen)
	}
	if as.Target == "" || len(as.Target) > MaxTargetLen {
		return as, errorf(Invalid, "target", "want a host group name or a host UUID (1 to %d bytes)", MaxTargetLen)
	}
	return as, nil
}

// AssignPackage assigns a package (every version) to a host group or a host
// (package.assign); created is false when it was assigned already.
func (a *App) AssignPackage(ctx context.Context, as store.PackageAssignment) (store.PackageAssignment, bool, error) {
	who, ps, err := a.adminPackages(ctx)
	if err != nil {
		return as, false, err
	}
	if as, err = CheckAssignment(as); err != nil {
		return as, false, err
	}
	pkgs, err := ps.ListPackages(ctx)
	if err != nil {
		return as, false, err
	}
	if !slices.ContainsFunc(pkgs, func(p store.RulesPackage) bool { return p.Name == as.Package }) {
		return as, false, errorf(NotFound, "", "no package named %s: upload it first", Truncate(as.Package, 130))
	}
	if as.Kind == store.AssignHost {
		if _, err := ps.GetHost(ctx, as.Target); err != nil {
			return as, false, notFound(err, "no host %s (give the host's UUID)", Truncate(as.Target, 100))
		}
	}
	as.CreatedAt, as.CreatedBy = a.now(), who.Name
	created, err := ps.AssignPackage(ctx, as)
	if err != nil {
		return as, false, err
	}
	if created {
		a.audit(ctx, who.Name, "package.assign", "package:"+as.Package, map[string]string{string(as.Kind): as.Target})
	}
	return as, created, nil
}

// UnassignPackage removes an assignment (package.unassign).
func (a *App) UnassignPackage(ctx context.Context, as store.PackageAssignment) error {
	who, ps, err := a.adminPackages(ctx)
	if err != nil {
		return err
	}
	if as, err = CheckAssignment(as); err != nil {
		return err
	}
	if err := ps.UnassignPackage(ctx, as); err != nil {
		return notFound(err, "package %s is not assigned to %s %s", Truncate(as.Package, 130), as.Kind, Truncate(as.Target, 100))
	}
	a.audit(ctx, who.Name, "package.unassign", "package:"+as.Package, map[string]string{string(as.Kind): as.Target})
	return nil
}
