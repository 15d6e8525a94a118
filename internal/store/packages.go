package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// PackageStore keeps the signed rules packages uploaded to the server, their
// assignments to host groups and single hosts, and their rollout (promotion) state.
// The package bytes live in the database: rules packages are a few kilobytes, and every
// server replica then serves the same set without a shared folder.
//
// A package is identified by its name and version; versions are immutable (uploading
// the same name and version with other bytes is a conflict: bump the version).
// Assignments name a package, not a version: a host gets the newest assigned version its
// maturity accepts (the server works that out; the store only keeps the rows).
type PackageStore interface {
	// PutPackage stores an uploaded package. When the same name and version exist with
	// the same SHA-256 the stored row's verification fields (Verified, VerifyError) are
	// replaced and created is false; with another SHA-256 it is ErrConflict.
	PutPackage(ctx context.Context, p RulesPackage) (stored RulesPackage, created bool, err error)
	// GetPackage returns one package without its bytes, or ErrNotFound.
	GetPackage(ctx context.Context, name, version string) (RulesPackage, error)
	// PackageFile returns the package stored under filename, with its bytes (Data), or
	// ErrNotFound.
	PackageFile(ctx context.Context, filename string) (RulesPackage, error)
	// ListPackages returns every package without its bytes, ordered by name, then by
	// upload order.
	ListPackages(ctx context.Context) ([]RulesPackage, error)
	// DeletePackage removes one version (its assignments, which name the package, stay).
	// ErrNotFound when it does not exist.
	DeletePackage(ctx context.Context, name, version string) error
	// SetPackagePolicy replaces the server-side policy of one version (priority, hold,
	// promotion overrides). ErrNotFound when it does not exist.
	SetPackagePolicy(ctx context.Context, name, version string, p PackagePolicy) (RulesPackage, error)
	// PromotePackage records that the version is offered to PROD hosts from at on, by
	// actor. Promoting an already promoted version keeps the first promotion and returns
	// ErrConflict. ErrNotFound when it does not exist.
	PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (RulesPackage, error)
	// RecordPromotionCheck stores the result of the last rollout evaluation.
	RecordPromotionCheck(ctx context.Context, name, version string, c PromotionCheck) error
	// AssignPackage assigns a package name to a host group or a host. created is false
	// when the assignment existed already (nothing changes).
	AssignPackage(ctx context.Context, a PackageAssignment) (created bool, err error)
	// UnassignPackage removes an assignment; ErrNotFound when there is none.
	UnassignPackage(ctx context.Context, a PackageAssignment) error
	// ListAssignments returns every assignment ordered by package, kind and target.
	ListAssignments(ctx context.Context) ([]PackageAssignment, error)
	// PackageHosts lists the hosts whose last report says they applied this version
	// (status applied; for an update package, installed or reboot_needed), ordered by
	// host name; maturity filters on the host's maturity when not empty.
	PackageHosts(ctx context.Context, name, version, maturity string) ([]Host, error)
	// SetPayloadComplete records that every payload file of the update package version
	// is in the repository folder, checked (only then is it offered to agents).
	// ErrNotFound when it does not exist.
	SetPayloadComplete(ctx context.Context, name, version string, complete bool) error
}

// Kinds of package (RulesPackage.Kind).
const (
	PackageKindRules  = "rules"  // section wsus: rules merged by the agent
	PackageKindUpdate = "update" // section waptwua-update: an action the agent runs (issue 15)
)

// Package maturities (REFERENCE §4): hosts take PROD by default; PREPROD packages reach
// only hosts configured for PREPROD.
const (
	MaturityProd    = "PROD"
	MaturityPreprod = "PREPROD"
)

// RulesPackage is one uploaded version of a rules package (.wapt, section wsus). The
// signed fields come from its verified control; the policy and rollout fields are the
// server's.
type RulesPackage struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Filename string `json:"filename"` // "<name>_<version>.wapt", unique
	SHA256   string `json:"sha256"`   // lower-case hex of the .wapt bytes
	Size     int64  `json:"size"`

	// From the signed control.
	Maturity             string    `json:"maturity"`
	Description          string    `json:"description,omitempty"`
	Signer               string    `json:"signer,omitempty"`
	SignerFingerprint    string    `json:"signer_fingerprint,omitempty"`
	SignatureDate        time.Time `json:"signature_date,omitzero"`
	TargetGroups         []string  `json:"target_groups,omitempty"`
	PromoteAfterDays     int       `json:"promote_after_days,omitempty"`
	PromoteMinSuccessPct int       `json:"promote_min_success_pct,omitempty"`
	// Control is the text of WAPT/control (for the repository's Packages index).
	Control string `json:"-"`
	// Rules is the package's waptwua_rules.json as stored in it.
	Rules json.RawMessage `json:"rules,omitempty"`

	// Verified says the server checked the signature against its trusted package
	// certificates; only verified packages are served to agents. VerifyError says why
	// not.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`

	UploadedAt time.Time `json:"uploaded_at"`
	UploadedBy string    `json:"uploaded_by,omitempty"`

	PackagePolicy

	// PromotedAt is when the version was first offered to PROD hosts (zero: never).
	PromotedAt time.Time      `json:"promoted_at,omitzero"`
	PromotedBy string         `json:"promoted_by,omitempty"`
	LastCheck  PromotionCheck `json:"last_check,omitzero"`

	// Data is the .wapt file (PackageFile only).
	Data []byte `json:"-"`

	// Kind is PackageKindRules (also when empty) or PackageKindUpdate.
	Kind string `json:"kind,omitempty"`
	// Actions is an update package's WAPT/actions.json as stored in it.
	Actions json.RawMessage `json:"actions,omitempty"`
	// PayloadComplete says every payload file of an update package was received and
	// checked against the signed manifest (set at upload for a package without
	// payload); until then it is not served to agents.
	PayloadComplete bool `json:"payload_complete,omitempty"`
}

// IsUpdate says whether the package is an update package.
func (p RulesPackage) IsUpdate() bool { return p.Kind == PackageKindUpdate }

// Servable says whether agents may get the package: verified and, for an update
// package, with its whole payload in place.
func (p RulesPackage) Servable() bool { return p.Verified && (!p.IsUpdate() || p.PayloadComplete) }

// PackagePolicy is what an administrator sets on a package version, server-side.
type PackagePolicy struct {
	// Priority orders the packages a host applies: lower first, then by name; a later
	// package wins for the scalar keys (default_allow, ...).
	Priority int `json:"priority"`
	// Hold stops the automatic promotion of this version.
	Hold bool `json:"hold,omitempty"`
	// PromoteAfterDays and PromoteMinSuccessPct override the signed values when set
	// (the server only accepts stricter values: more days, a higher percentage).
	PromoteAfterDays     *int `json:"policy_promote_after_days,omitempty"`
	PromoteMinSuccessPct *int `json:"policy_promote_min_success_pct,omitempty"`
}

// PromotionCheck is the result of one evaluation of a PREPROD version's rollout.
type PromotionCheck struct {
	At time.Time `json:"at,omitzero"`
	// RingHosts counts the PREPROD hosts that reported the version applied;
	// SuccessHosts those of them with none of the updates it allows in ERROR.
	RingHosts    int    `json:"ring_hosts"`
	SuccessHosts int    `json:"success_hosts"`
	Note         string `json:"note,omitempty"`
}

// AssignmentKind says what a package is assigned to.
type AssignmentKind string

// Assignment kinds.
const (
	AssignGroup AssignmentKind = "group"
	AssignHost  AssignmentKind = "host"
)

// PackageAssignment gives a package (by name, every version) to a host group or to one
// host (by UUID).
type PackageAssignment struct {
	Package   string         `json:"package"`
	Kind      AssignmentKind `json:"kind"`
	Target    string         `json:"target"`
	CreatedAt time.Time      `json:"created_at,omitzero"`
	CreatedBy string         `json:"created_by,omitempty"`
}

// Statuses of a rules package on a host, as its agent reports them.
const (
	HostPackageApplied = "applied" // verified and merged into the host's rules
	HostPackageRefused = "refused" // downloaded but refused (signature, trust, maturity)
)

// Statuses of an update package on a host, as its agent reports them (the action's
// outcome, or refused: not signed, not trusted, tampered).
const (
	HostUpdatePackageInstalled     = "installed"
	HostUpdatePackageRebootNeeded  = "reboot_needed"
	HostUpdatePackageNotApplicable = "not_applicable"
	HostUpdatePackageError         = "error"
	HostUpdatePackageRefused       = HostPackageRefused
)

// HostPackage is one rules package a host reported, in the order it applies them
// (refused ones after).
type HostPackage struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Status    string    `json:"status"` // HostPackageApplied or HostPackageRefused
	Error     string    `json:"error,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// OfferedMaturity is the maturity the server offers the package at: PROD once promoted,
// else its signed maturity.
func (p RulesPackage) OfferedMaturity() string {
	if !p.PromotedAt.IsZero() {
		return MaturityProd
	}
	return p.Maturity
}

// Promotable says the signed control lets the package be promoted to PROD: a
// non-PROD package with promote_after_days set.
func (p RulesPackage) Promotable() bool {
	return p.Maturity != MaturityProd && p.PromoteAfterDays > 0
}

// PromotionRule returns the days and minimum success percentage in force: the server's
// overrides when set, else the signed values.
func (p RulesPackage) PromotionRule() (days, minSuccessPct int) {
	days, minSuccessPct = p.PromoteAfterDays, p.PromoteMinSuccessPct
	if p.PackagePolicy.PromoteAfterDays != nil {
		days = *p.PackagePolicy.PromoteAfterDays
	}
	if p.PackagePolicy.PromoteMinSuccessPct != nil {
		minSuccessPct = *p.PackagePolicy.PromoteMinSuccessPct
	}
	return days, minSuccessPct
}

// SignedEligibleAt is the earliest time agents accept the package as promoted: its
// signature date plus the signed promote_after_days (zero when not Promotable).
func (p RulesPackage) SignedEligibleAt() time.Time {
	if !p.Promotable() {
		return time.Time{}
	}
	return p.SignatureDate.Add(time.Duration(p.PromoteAfterDays) * 24 * time.Hour)
}

// EligibleAt is the earliest automatic promotion: the days in force counted from the
// later of the upload and the signature date (zero when not Promotable).
func (p RulesPackage) EligibleAt() time.Time {
	if !p.Promotable() {
		return time.Time{}
	}
	days, _ := p.PromotionRule()
	start := p.UploadedAt
	if p.SignatureDate.After(start) {
		start = p.SignatureDate
	}
	return start.Add(time.Duration(days) * 24 * time.Hour)
}

// AcceptsMaturity says whether a host of maturity hostMaturity takes packages offered at
// offered: every host takes PROD; a PREPROD host also takes PREPROD (and so on for any
// other maturity name).
func AcceptsMaturity(hostMaturity, offered string) bool {
	if hostMaturity == "" {
		hostMaturity = MaturityProd
	}
	return offered == MaturityProd || offered == hostMaturity
}

// Validate checks an assignment: a package, a kind (group or host) and a target.
func (a PackageAssignment) Validate() error {
	if a.Package == "" || a.Target == "" || (a.Kind != AssignGroup && a.Kind != AssignHost) {
		return fmt.Errorf("assignment %+v: want a package, a kind (group or host) and a target: %w", a, ErrInvalid)
	}
	return nil
}

// ValidateUpload checks that an uploaded package has what the store requires.
func (p RulesPackage) ValidateUpload() error {
	if p.Name == "" || p.Version == "" || p.Filename == "" || p.SHA256 == "" || len(p.Data) == 0 {
		return fmt.Errorf("package: name, version, filename, sha256 and data are required: %w", ErrInvalid)
	}
	return nil
}
