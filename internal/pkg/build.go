package pkg

import (
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// Spec describes a rules package to build.
type Spec struct {
	Name        string // package name, e.g. "acme-waptwua-rules"
	Version     string // WAPT package version, e.g. "1-0"
	Description string // one line
	Maintainer  string // optional, one line
	Maturity    string // MaturityProd (default when empty) or MaturityPreprod
	Rules       rules.Rules

	// Targeting and rollout (ours; signed like every attribute). Zero values: not set.
	TargetGroups         []string // host groups the package is meant for
	PromoteAfterDays     int      // a PREPROD package may be promoted to PROD after this many days...
	PromoteMinSuccessPct int      // ...if at least this % of its PREPROD hosts succeeded (0-100)
}

// Package is a built, unsigned rules package: Sign turns it into a signed .wapt zip.
type Package struct {
	Control Control // signer fields are empty; Sign fills them
	Rules   rules.Rules
	// RulesJSON is the exact content of WAPT/persistent/waptwua_rules.json.
	RulesJSON []byte
}

// Build checks spec and makes the unsigned package: the control attributes and the
// normalized rules as waptwua_rules.json. It does no I/O.
func Build(spec Spec) (*Package, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, fmt.Errorf("package name %s: %v", quoteForError(spec.Name), err)
	}
	if err := checkVersion(spec.Version); err != nil {
		return nil, fmt.Errorf("package version %s: %v", quoteForError(spec.Version), err)
	}
	maturity, err := normMaturity(spec.Maturity)
	if err != nil {
		return nil, fmt.Errorf("maturity %s: %v", quoteForError(spec.Maturity), err)
	}
	if err := checkText(AttrDescription, spec.Description, 1000); err != nil {
		return nil, fmt.Errorf("package description: %v", err)
	}
	if err := checkText(AttrMaintainer, spec.Maintainer, 200); err != nil {
		return nil, fmt.Errorf("package maintainer: %v", err)
	}
	seen := map[string]bool{}
	var groups []string
	for _, g := range spec.TargetGroups {
		if err := checkGroup(g); err != nil {
			return nil, fmt.Errorf("target group %s: %v", quoteForError(g), err)
		}
		if k := strings.ToLower(g); !seen[k] {
			seen[k] = true
			groups = append(groups, g)
		}
	}
	if spec.PromoteAfterDays < 0 || spec.PromoteAfterDays > maxPromoteDays {
		return nil, fmt.Errorf("promote after %d days: want 0 (never) to %d", spec.PromoteAfterDays, maxPromoteDays)
	}
	if spec.PromoteMinSuccessPct < 0 || spec.PromoteMinSuccessPct > 100 {
		return nil, fmt.Errorf("promotion success threshold %d%%: want 0 to 100", spec.PromoteMinSuccessPct)
	}
	norm, err := spec.Rules.Normalize()
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	// A package that brings its own windows and asks for reboots in them must give one
	// that allows reboots (the agents refuse the merged policy otherwise); keys another
	// package may complete (reboot in_window without windows) are left to the merge.
	if norm.Reboot == rules.RebootInWindow && len(norm.MaintenanceWindows) > 0 {
		if err := norm.CheckPolicy(0); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}
	js, err := rules.Marshal(norm)
	if err != nil {
		return nil, err
	}
	return &Package{
		Control: Control{
			Package:              spec.Name,
			Version:              spec.Version,
			Architecture:         "all",
			Section:              SectionRules,
			Priority:             "optional",
			Maintainer:           spec.Maintainer,
			Description:          spec.Description,
			Maturity:             maturity,
			TargetGroups:         groups,
			PromoteAfterDays:     spec.PromoteAfterDays,
			PromoteMinSuccessPct: spec.PromoteMinSuccessPct,
		},
		Rules:     norm,
		RulesJSON: js,
	}, nil
}

// Open reads a rules package zip without checking its signature, to sign it again:
// after its rules were edited, to sign with another key, or to sign a package built
// unsigned. The control's attributes and the rules file are kept as they are (the rules
// must still parse); the old signature, manifest and certificate are dropped. Any file
// other than those of a rules package is refused.
func Open(zipBytes []byte, lim Limits) (*Package, error) {
	a, err := readZip(zipBytes, lim)
	if err != nil {
		return nil, err
	}
	for _, name := range a.names {
		switch name {
		case ControlName, RulesName, CertificateName, ManifestName, SignatureName:
		default:
			return nil, fmt.Errorf("%s: %w: unexpected file; a rules package holds only %s and %s (remove the file, or build the package again with waptserver rules build)", name, ErrMalformed, ControlName, RulesName)
		}
	}
	raw, ok := a.files[ControlName]
	if !ok {
		return nil, fmt.Errorf("%s: %w: missing; this is not a WAPT package (build one with waptserver rules build)", ControlName, ErrMalformed)
	}
	fs, err := parseControl(raw)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if !isKnownAttr(f.key) {
			return nil, fmt.Errorf("%s: %w: attribute %s is not one this tool writes; signing would vouch for it unread (remove it)", ControlName, ErrMalformed, f.key)
		}
	}
	c, err := controlFromFields(fs, SectionRules)
	if err != nil {
		return nil, err
	}
	c.Signer, c.SignerFingerprint, c.Signature, c.SignedAttributes = "", "", "", nil
	c.SignatureDate = time.Time{}
	if err := checkText(AttrDescription, c.Description, 1000); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", ControlName, ErrMalformed, err)
	}
	if err := checkText(AttrMaintainer, c.Maintainer, 200); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", ControlName, ErrMalformed, err)
	}
	if c.Architecture != "all" || c.Priority != "optional" {
		return nil, fmt.Errorf("%s: %w: architecture %s and priority %s: a rules package has architecture all and priority optional", ControlName, ErrMalformed, quoteForError(c.Architecture), quoteForError(c.Priority))
	}
	js, ok := a.files[RulesName]
	if !ok {
		return nil, fmt.Errorf("%s: %w: missing; a rules package carries its rules there", RulesName, ErrMalformed)
	}
	r, err := rules.Parse(js)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", RulesName, ErrMalformed, err)
	}
	return &Package{Control: c, Rules: r, RulesJSON: js}, nil
}

func isKnownAttr(k string) bool {
	for _, a := range controlOrder() {
		if a == k {
			return true
		}
	}
	return false
}
