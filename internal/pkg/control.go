package pkg

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Control attribute names, in the order the original writes them (its required
// attributes, then the optional ones, then ours, then the signature attributes).
const (
	AttrPackage              = "package"
	AttrVersion              = "version"
	AttrArchitecture         = "architecture"
	AttrSection              = "section"
	AttrPriority             = "priority"
	AttrMaintainer           = "maintainer"
	AttrDescription          = "description"
	AttrMaturity             = "maturity"
	AttrTargetGroups         = "target_groups"           // ours: comma-separated host groups
	AttrPromoteAfterDays     = "promote_after_days"      // ours: PREPROD → PROD after N days
	AttrPromoteMinSuccessPct = "promote_min_success_pct" // ours: ... if this % of hosts succeeded
	AttrSigner               = "signer"
	AttrSignerFingerprint    = "signer_fingerprint"
	AttrSignature            = "signature"
	AttrSignatureDate        = "signature_date"
	AttrSignedAttributes     = "signed_attributes"
)

// Section, architecture, priority and maturities of rules packages.
const (
	SectionRules = "wsus"
	MaturityProd = "PROD"
	// MaturityPreprod packages reach only hosts configured for PREPROD.
	MaturityPreprod = "PREPROD"
)

// controlOrder is the order of the attributes Sign writes; all but signature are signed.
func controlOrder() []string {
	return []string{
		AttrPackage, AttrVersion, AttrArchitecture, AttrSection, AttrPriority,
		AttrMaintainer, AttrDescription, AttrMaturity,
		AttrTargetGroups, AttrPromoteAfterDays, AttrPromoteMinSuccessPct,
		AttrSigner, AttrSignerFingerprint, AttrSignature, AttrSignatureDate, AttrSignedAttributes,
	}
}

// requiredSigned must be among the signed attributes of any package Verify accepts: they
// decide what the package is, who it reaches and who vouches for it.
func requiredSigned() []string {
	return []string{
		AttrPackage, AttrVersion, AttrArchitecture, AttrSection, AttrPriority, AttrMaturity,
		AttrSigner, AttrSignerFingerprint, AttrSignatureDate, AttrSignedAttributes,
	}
}

// Control is the parsed WAPT/control of a rules package.
type Control struct {
	Package      string
	Version      string
	Architecture string // "all"
	Section      string // "wsus"
	Priority     string // "optional"
	Maintainer   string
	Description  string
	Maturity     string // MaturityProd or MaturityPreprod

	// Targeting and rollout (ours). Zero values mean "not set".
	TargetGroups         []string
	PromoteAfterDays     int
	PromoteMinSuccessPct int

	// Set by Sign.
	Signer            string    // the signer certificate's common name
	SignerFingerprint string    // lower-case hex SHA-256 of its DER
	Signature         string    // base64 signature of the signed attributes
	SignatureDate     time.Time // UTC, whole seconds
	SignedAttributes  []string
}

// field is one "key: value" line of a control file.
type field struct{ key, value string }

// signatureDateLayout is Python's naive datetime.isoformat() without microseconds.
const signatureDateLayout = "2006-01-02T15:04:05"

// formatSignatureDate writes t as the original does (UTC, no zone).
func formatSignatureDate(t time.Time) string { return t.UTC().Format(signatureDateLayout) }

// parseSignatureDate reads isoformat() with or without microseconds, and the
// "20170704-164552" form of older packages.
func parseSignatureDate(s string) (time.Time, error) {
	for _, layout := range []string{signatureDateLayout, "2006-01-02T15:04:05.999999", "20060102-150405"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a UTC date such as 2026-03-01T14:05:09")
}

// fields renders the control in write order. Signer fields are written even when empty
// (an unsigned package), as the original writes every signed attribute.
func (c Control) fields() []field {
	v := map[string]string{
		AttrPackage:              c.Package,
		AttrVersion:              c.Version,
		AttrArchitecture:         c.Architecture,
		AttrSection:              c.Section,
		AttrPriority:             c.Priority,
		AttrMaintainer:           c.Maintainer,
		AttrDescription:          c.Description,
		AttrMaturity:             c.Maturity,
		AttrTargetGroups:         strings.Join(c.TargetGroups, ","),
		AttrPromoteAfterDays:     optionalInt(c.PromoteAfterDays),
		AttrPromoteMinSuccessPct: optionalInt(c.PromoteMinSuccessPct),
		AttrSigner:               c.Signer,
		AttrSignerFingerprint:    c.SignerFingerprint,
		AttrSignature:            c.Signature,
		AttrSignedAttributes:     strings.Join(c.SignedAttributes, ","),
	}
	if !c.SignatureDate.IsZero() {
		v[AttrSignatureDate] = formatSignatureDate(c.SignatureDate)
	}
	order := controlOrder()
	out := make([]field, 0, len(order))
	for _, k := range order {
		out = append(out, field{k, v[k]})
	}
	return out
}

func optionalInt(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// renderControl writes fields as the original does: "%-18s: %s" lines joined by "\n",
// no final newline.
func renderControl(fs []field) []byte {
	var b bytes.Buffer
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-18s: %s", f.key, f.value)
	}
	return b.Bytes()
}

const controlName = "WAPT/control"

var keyPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// parseControl reads a control file strictly: UTF-8, one "key: value" per line, no
// repeated key, no blank line inside, no continuation line (multi-line values of the
// original are not supported in rules packages). Values are trimmed as the original
// trims them.
func parseControl(data []byte) ([]field, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s (rebuild the package with waptserver rules build)", controlName, ErrMalformed, fmt.Sprintf(format, a...))
	}
	if !utf8.Valid(data) {
		return nil, bad("not UTF-8 text")
	}
	text := strings.TrimSuffix(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	if text == "" {
		return nil, bad("empty")
	}
	var out []field
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if strings.TrimSpace(line) == "" {
			return nil, bad("line %d is blank", n)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, bad("line %d continues the previous value: multi-line values are not supported", n)
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, bad("line %d has no ':' (want key: value)", n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !keyPattern.MatchString(key) {
			return nil, bad("line %d: attribute name %s is not lower-case letters, digits and _", n, quoteForError(key))
		}
		if seen[key] {
			return nil, bad("attribute %s appears twice", key)
		}
		if err := checkValueChars(value); err != nil {
			return nil, bad("%s: %v", key, err)
		}
		seen[key] = true
		out = append(out, field{key, value})
	}
	return out, nil
}

// checkValueChars refuses characters a control line cannot carry faithfully.
func checkValueChars(v string) error {
	for _, r := range v {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return fmt.Errorf("control character %U in the value", r)
		}
	}
	return nil
}

// controlFromFields interprets the attributes this package knows; others are kept
// out of Control (Verify has already checked that they are signed).
func controlFromFields(fs []field, section string) (Control, error) {
	get := map[string]string{}
	for _, f := range fs {
		get[f.key] = f.value
	}
	bad := func(key, value, why string) error {
		return fmt.Errorf("%s: %w: %s = %s: %s", controlName, ErrMalformed, key, quoteForError(value), why)
	}
	c := Control{
		Package:           get[AttrPackage],
		Version:           get[AttrVersion],
		Architecture:      get[AttrArchitecture],
		Section:           get[AttrSection],
		Priority:          get[AttrPriority],
		Maintainer:        get[AttrMaintainer],
		Description:       get[AttrDescription],
		Maturity:          get[AttrMaturity],
		Signer:            get[AttrSigner],
		SignerFingerprint: get[AttrSignerFingerprint],
		Signature:         get[AttrSignature],
	}
	if err := checkName(c.Package); err != nil {
		return Control{}, bad(AttrPackage, c.Package, err.Error())
	}
	if err := checkVersion(c.Version); err != nil {
		return Control{}, bad(AttrVersion, c.Version, err.Error())
	}
	if c.Section != section {
		if section == SectionUpdate {
			return Control{}, bad(AttrSection, c.Section, "not an update package (want section "+SectionUpdate+"; build one with waptserver packages build-msu and the like)")
		}
		return Control{}, bad(AttrSection, c.Section, "not a rules package (want section wsus; other WAPT packages are not handled here)")
	}
	m, err := normMaturity(c.Maturity)
	if err != nil {
		return Control{}, bad(AttrMaturity, c.Maturity, err.Error())
	}
	c.Maturity = m
	if s := get[AttrTargetGroups]; s != "" {
		for _, g := range strings.Split(s, ",") {
			g = strings.TrimSpace(g)
			if err := checkGroup(g); err != nil {
				return Control{}, bad(AttrTargetGroups, s, err.Error())
			}
			c.TargetGroups = append(c.TargetGroups, g)
		}
	}
	if c.PromoteAfterDays, err = parseOptionalInt(get[AttrPromoteAfterDays], maxPromoteDays); err != nil {
		return Control{}, bad(AttrPromoteAfterDays, get[AttrPromoteAfterDays], err.Error())
	}
	if c.PromoteMinSuccessPct, err = parseOptionalInt(get[AttrPromoteMinSuccessPct], 100); err != nil {
		return Control{}, bad(AttrPromoteMinSuccessPct, get[AttrPromoteMinSuccessPct], err.Error())
	}
	if s := get[AttrSignatureDate]; s != "" {
		if c.SignatureDate, err = parseSignatureDate(s); err != nil {
			return Control{}, bad(AttrSignatureDate, s, err.Error())
		}
	}
	if s := get[AttrSignedAttributes]; s != "" {
		for _, a := range strings.Split(s, ",") {
			c.SignedAttributes = append(c.SignedAttributes, strings.TrimSpace(a))
		}
	}
	return c, nil
}

const maxPromoteDays = 3650

func parseOptionalInt(s string, max int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("want a whole number from 0 to %d, or nothing", max)
	}
	return n, nil
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// versionPattern is the original's package version syntax: 1 to 4 numbers, then an
	// optional -packaging part ("1.2-3", "2026.3.1-0").
	versionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,3}(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$`)
)

func checkName(s string) error {
	if !namePattern.MatchString(s) {
		return fmt.Errorf("want 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. acme-waptwua-rules)")
	}
	return nil
}

func checkVersion(s string) error {
	if len(s) > 64 || !versionPattern.MatchString(s) {
		return fmt.Errorf("want a WAPT package version such as 1-0 or 2026.3.1-2")
	}
	return nil
}

func normMaturity(s string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", MaturityProd:
		return MaturityProd, nil
	case MaturityPreprod:
		return MaturityPreprod, nil
	}
	return "", fmt.Errorf("want PROD or PREPROD")
}

func checkGroup(g string) error {
	if g == "" || len(g) > 128 || strings.ContainsAny(g, ",") {
		return fmt.Errorf("a target group is 1 to 128 characters without a comma")
	}
	if err := checkValueChars(g); err != nil {
		return err
	}
	if strings.TrimSpace(g) != g {
		return fmt.Errorf("a target group must not start or end with a space")
	}
	return nil
}

// checkText validates a free-text attribute (description, maintainer) for the control
// file: one line, no control characters, no surrounding spaces (the original trims them,
// which would change the signed value).
func checkText(key, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes long (at most %d)", key, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", key)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s spans several lines (write it on one line)", key)
	}
	if err := checkValueChars(v); err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("%s starts or ends with spaces (remove them)", key)
	}
	return nil
}
