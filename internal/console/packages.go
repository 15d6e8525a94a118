package console

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
)

// The rules packages page (/ui/packages): the signed packages on the server, their
// assignments and rollout, and a form that prepares a new package from rules. The
// actions do what the admin API of internal/server/packages.go does, on the store's
// package role, with the same audit actions (package.upload, package.assign,
// package.unassign, package.promote, package.policy).
//
// Signing: by default the console never signs; it prepares the rules JSON and shows
// the command that builds, signs and publishes the package on the administrator's
// workstation. When waptserver.ini sets package_signing_key and package_signing_cert
// (Deps.PackageSigning), the console signs with that key: whoever controls the server
// can then sign rules for every host (docs/adr/0003-rules-packages.md).

// PackageAdmin is the part of store.PackageStore the packages page changes with;
// Deps.Packages enables the page's actions when it implements it (the stores do).
type PackageAdmin interface {
	PackageLister
	GetPackage(ctx context.Context, name, version string) (store.RulesPackage, error)
	PutPackage(ctx context.Context, p store.RulesPackage) (store.RulesPackage, bool, error)
	SetPackagePolicy(ctx context.Context, name, version string, p store.PackagePolicy) (store.RulesPackage, error)
	PromotePackage(ctx context.Context, name, version string, at time.Time, actor string) (store.RulesPackage, error)
	AssignPackage(ctx context.Context, a store.PackageAssignment) (bool, error)
	UnassignPackage(ctx context.Context, a store.PackageAssignment) error
}

// PackageSigning is a signing key held by the server (package_signing_key and
// package_signing_cert of waptserver.ini). With it the console builds and signs rules
// packages itself.
type PackageSigning struct {
	Key   crypto.Signer
	Chain []*x509.Certificate // signer first
	// Source names the key's files in messages.
	Source string
}

const (
	maxTargetLen     = 200
	maxPackageGroups = 50
	maxPromoteDaysUI = 3650
)

// packageView is one package row of the page.
type packageView struct {
	store.RulesPackage
	Offered     string
	Assignments []store.PackageAssignment
	Status      string // rollout status, "" for a PROD package
	EligibleAt  time.Time
	SuccessPct  string // "97%" or ""
	MinPct      int
	Days        int
	CanPromote  bool
	CanHold     bool
}

// packageForm is the "new package" form.
type packageForm struct {
	Name, Version, Maturity, Description string
	TargetGroups                         string
	PromoteAfterDays                     string
	PromoteMinSuccessPct                 string
	JSON                                 string
}

// preparedPackage is what the page shows when the console may not sign: the rules and
// the commands to run on the administrator's workstation.
type preparedPackage struct {
	JSON     string
	Filename string
	Build    string
	Publish  string
}

type packagesData struct {
	Packages   []packageView
	CanAdmin   bool // Deps.Packages implements PackageAdmin
	CanSign    bool
	SignedBy   string
	Verifies   bool // uploads are verified against package_trusted_certs
	Form       packageForm
	FormOpen   bool
	Error      string
	Prepared   *preparedPackage
	Maturities []string
}

func (c *Console) packageAdmin() (PackageAdmin, bool) {
	pa, ok := c.deps.Packages.(PackageAdmin)
	return pa, ok
}

// rollout says where a package's ring rollout stands, as the admin API does.
func (c *Console) rollout(p store.RulesPackage, now time.Time) packageView {
	v := packageView{RulesPackage: p, Offered: p.OfferedMaturity()}
	if p.Maturity == store.MaturityProd {
		return v
	}
	rv := server.Rollout(p, now)
	v.Days, v.MinPct, v.EligibleAt, v.Status = rv.PromoteAfterDays, rv.PromoteMinSuccessPct, rv.EligibleAt, rv.Status
	if rv.SuccessPct != nil {
		v.SuccessPct = fmt.Sprintf("%.0f%%", *rv.SuccessPct)
	}
	v.CanPromote = p.PromotedAt.IsZero() && p.Verified && p.Promotable() && !now.Before(p.SignedEligibleAt())
	v.CanHold = p.PromotedAt.IsZero() && p.Verified && p.Promotable()
	return v
}

func (c *Console) packagesData(r *http.Request) (packagesData, error) {
	_, admin := c.packageAdmin()
	d := packagesData{CanAdmin: admin, CanSign: c.deps.PackageSigning != nil, Verifies: c.deps.PackageRoots != nil,
		Maturities: []string{store.MaturityPreprod, store.MaturityProd}}
	if s := c.deps.PackageSigning; s != nil && len(s.Chain) > 0 {
		d.SignedBy = s.Chain[0].Subject.CommonName
	}
	if c.deps.Packages == nil {
		return d, nil
	}
	pkgs, err := c.deps.Packages.ListPackages(r.Context())
	if err != nil {
		return d, fmt.Errorf("rules packages: %w", err)
	}
	as, err := c.deps.Packages.ListAssignments(r.Context())
	if err != nil {
		return d, fmt.Errorf("rules package assignments: %w", err)
	}
	now := c.now()
	for _, p := range pkgs {
		v := c.rollout(p, now)
		for _, a := range as {
			if a.Package == p.Name {
				v.Assignments = append(v.Assignments, a)
			}
		}
		d.Packages = append(d.Packages, v)
	}
	return d, nil
}

// defaultForm prefills the form with the server-wide rules (plus extra allowed updates).
func (c *Console) defaultForm(r *http.Request, allow []string) (packageForm, error) {
	var rs rules.Rules
	if c.deps.Rules != nil {
		var err error
		if rs, err = c.deps.Rules.ServerRules(r.Context()); err != nil {
			return packageForm{}, fmt.Errorf("read server rules: %w", err)
		}
	}
	if len(allow) > 0 {
		rs.AllowedUpdates = unionFold(rs.AllowedUpdates, allow)
		rs.ForbiddenUpdates = removeFold(rs.ForbiddenUpdates, allow)
	}
	f := packageForm{Maturity: store.MaturityPreprod, Version: "1-0", JSON: "{}"}
	if b, err := rules.Marshal(rs); err == nil {
		f.JSON = string(b)
	}
	return f, nil
}

func (c *Console) renderPackages(w http.ResponseWriter, r *http.Request, status int, d packagesData) {
	c.render(w, r, status, "packages", c.newPage(w, r, "packages", "Rules packages", d))
}

func (c *Console) handlePackages(w http.ResponseWriter, r *http.Request) {
	d, err := c.packagesData(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Form, err = c.defaultForm(r, nil); err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderPackages(w, r, http.StatusOK, d)
}

// handlePackageFromUpdates opens the form with the updates selected on the Windows
// Updates page allowed on top of the server rules.
func (c *Console) handlePackageFromUpdates(w http.ResponseWriter, r *http.Request) {
	keys, err := selectedKeys(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d, err := c.packagesData(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Form, err = c.defaultForm(r, keyStrings(keys)); err != nil {
		c.fail(w, r, err)
		return
	}
	d.FormOpen = true
	c.renderPackages(w, r, http.StatusOK, d)
}

// formError shows the form again with the message (400).
func (c *Console) formError(w http.ResponseWriter, r *http.Request, f packageForm, msg string) {
	d, err := c.packagesData(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Form, d.FormOpen, d.Error = f, true, msg
	c.renderPackages(w, r, http.StatusBadRequest, d)
}

// parsePackageForm reads and checks the form; the error is the user's message.
func parsePackageForm(r *http.Request) (packageForm, *pkg.Package, error) {
	f := packageForm{
		Name:                 strings.TrimSpace(r.PostFormValue("name")),
		Version:              strings.TrimSpace(r.PostFormValue("version")),
		Maturity:             strings.ToUpper(strings.TrimSpace(r.PostFormValue("maturity"))),
		Description:          strings.TrimSpace(r.PostFormValue("description")),
		TargetGroups:         strings.TrimSpace(r.PostFormValue("target_groups")),
		PromoteAfterDays:     strings.TrimSpace(r.PostFormValue("promote_after_days")),
		PromoteMinSuccessPct: strings.TrimSpace(r.PostFormValue("promote_min_success_pct")),
		JSON:                 r.PostFormValue("rules"),
	}
	if len(f.JSON) > maxRulesBytes {
		size := len(f.JSON)
		f.JSON = ""
		return f, nil, fmt.Errorf("The rules JSON is %d bytes; a rules package holds at most %d bytes of rules.", size, maxRulesBytes)
	}
	if !utf8Valid(f.Name, f.Version, f.Description, f.TargetGroups) {
		return f, nil, errors.New("The form holds text that is not valid UTF-8.")
	}
	if f.Maturity != store.MaturityProd && f.Maturity != store.MaturityPreprod {
		return f, nil, fmt.Errorf("Maturity %q: choose PREPROD or PROD.", clean(f.Maturity))
	}
	num := func(label, v string, lo, hi int) (int, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%s %q: want a whole number from %d to %d (empty: not set).", label, clean(v), lo, hi)
		}
		return n, nil
	}
	days, err := num("Promote after days", f.PromoteAfterDays, 0, maxPromoteDaysUI)
	if err != nil {
		return f, nil, err
	}
	pct, err := num("Minimum success %", f.PromoteMinSuccessPct, 0, 100)
	if err != nil {
		return f, nil, err
	}
	if (days > 0 || pct > 0) && f.Maturity == store.MaturityProd {
		return f, nil, errors.New("Promotion settings apply to PREPROD packages only: clear them or choose PREPROD.")
	}
	groups := splitLines(f.TargetGroups)
	if len(groups) > maxPackageGroups {
		return f, nil, fmt.Errorf("%d target groups: at most %d.", len(groups), maxPackageGroups)
	}
	text := f.JSON
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	rs, err := rules.Parse([]byte(text))
	if err != nil {
		return f, nil, fmt.Errorf("Rules JSON: %v", err)
	}
	p, err := pkg.Build(pkg.Spec{Name: f.Name, Version: f.Version, Description: f.Description, Maturity: f.Maturity, Rules: rs,
		TargetGroups: groups, PromoteAfterDays: days, PromoteMinSuccessPct: pct})
	if err != nil {
		return f, nil, fmt.Errorf("%s.", capitalize(strings.TrimSuffix(err.Error(), ".")))
	}
	return f, p, nil
}

func utf8Valid(vals ...string) bool {
	for _, v := range vals {
		if strings.ToValidUTF8(v, "\uFFFD") != v {
			return false
		}
	}
	return true
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// serverURL is the console's own base URL, as the browser reached it.
func serverURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// prepare describes the commands that build and publish the package on a workstation.
func prepare(r *http.Request, f packageForm, p *pkg.Package) *preparedPackage {
	ctl := p.Control
	file := ctl.Package + "_" + ctl.Version + ".wapt"
	b := []string{"waptserver rules build rules.json", "--name", shellQuote(ctl.Package), "--version", shellQuote(ctl.Version),
		"--maturity", ctl.Maturity}
	if ctl.Description != "" {
		b = append(b, "--description", shellQuote(ctl.Description))
	}
	for _, g := range ctl.TargetGroups {
		b = append(b, "--target-group", shellQuote(g))
	}
	if ctl.PromoteAfterDays > 0 {
		b = append(b, "--promote-after-days", strconv.Itoa(ctl.PromoteAfterDays))
	}
	if ctl.PromoteMinSuccessPct > 0 {
		b = append(b, "--promote-min-success-pct", strconv.Itoa(ctl.PromoteMinSuccessPct))
	}
	b = append(b, "--key KEY.pem --cert CERT.pem -o", shellQuote(file))
	return &preparedPackage{
		JSON:     string(p.RulesJSON),
		Filename: file,
		Build:    strings.Join(b, " "),
		Publish:  "waptserver rules publish " + shellQuote(file) + " --server " + shellQuote(serverURL(r)) + " --user " + shellQuote(userOf(r).Name),
	}
}

// handleCreatePackage prepares (no server key) or builds, signs and stores (server key)
// a package from the form.
func (c *Console) handleCreatePackage(w http.ResponseWriter, r *http.Request) {
	f, p, err := parsePackageForm(r)
	if err != nil {
		c.formError(w, r, f, err.Error())
		return
	}
	sig := c.deps.PackageSigning
	pa, ok := c.packageAdmin()
	if sig == nil || !ok {
		d, err := c.packagesData(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.Form, d.FormOpen, d.Prepared = f, true, prepare(r, f, p)
		c.renderPackages(w, r, http.StatusOK, d)
		return
	}
	if _, err := pa.GetPackage(r.Context(), p.Control.Package, p.Control.Version); err == nil {
		c.formError(w, r, f, fmt.Sprintf("Package %s version %s exists already: versions are immutable, choose a higher version.",
			p.Control.Package, p.Control.Version))
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, err)
		return
	}
	data, err := pkg.Sign(p, sig.Key, sig.Chain, c.now())
	if err != nil {
		c.formError(w, r, f, fmt.Sprintf("The server's signing key (%s) could not sign: %v", sig.Source, err))
		return
	}
	stored, err := c.storePackage(r, pa, data)
	if err != nil {
		var ue *userError
		if errors.As(err, &ue) {
			c.formError(w, r, f, ue.msg)
			return
		}
		c.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Package %s version %s signed by %s and stored.", stored.Name, stored.Version, stored.Signer)
	if !stored.Verified {
		msg += " It is NOT verified (" + stored.VerifyError + ")."
	} else {
		msg += " Assign it to a group or a host to deliver it."
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", msg)
}

// storePackage stores a signed package as the admin API's upload does: verified
// against package_trusted_certs when set (refused when it fails), else unverified.
func (c *Console) storePackage(r *http.Request, pa PackageAdmin, data []byte) (store.RulesPackage, error) {
	who := userOf(r).Name
	now := c.now()
	row := store.RulesPackage{Data: data, UploadedAt: now, UploadedBy: who}
	sum := sha256.Sum256(data)
	row.SHA256 = hex.EncodeToString(sum[:])
	var ctl pkg.Control
	if c.deps.PackageRoots == nil {
		p, err := pkg.Open(data, pkg.Limits{})
		if err != nil {
			return row, fmt.Errorf("open the signed package: %w", err)
		}
		ctl, row.Rules = p.Control, p.RulesJSON
		row.VerifyError = "not verified: the server has no package_trusted_certs (set it in [options] of waptserver.ini, " +
			"restart and upload the package again); it is not served to agents until then"
	} else {
		v, err := pkg.Verify(data, pkg.VerifyOptions{Roots: c.deps.PackageRoots, Now: c.now})
		if err != nil {
			c.audit(r, who, "package.refused", "package:"+row.SHA256[:16], map[string]string{"error": err.Error(), "from": "console"})
			return row, badRequest("The package signed with the server's key does not verify against package_trusted_certs: %v "+
				"(add the signer's CA to package_trusted_certs, or sign with a trusted key).", err)
		}
		ctl, row.Rules, row.Verified = v.Control, v.RulesJSON, true
	}
	row.Name, row.Version, row.Maturity = ctl.Package, ctl.Version, ctl.Maturity
	row.Filename = ctl.Package + "_" + ctl.Version + ".wapt"
	row.Description, row.Signer, row.SignerFingerprint, row.SignatureDate = ctl.Description, ctl.Signer, ctl.SignerFingerprint, ctl.SignatureDate
	row.TargetGroups, row.PromoteAfterDays, row.PromoteMinSuccessPct = ctl.TargetGroups, ctl.PromoteAfterDays, ctl.PromoteMinSuccessPct
	text, err := pkg.ControlText(data)
	if err != nil {
		return row, err
	}
	row.Control = text
	stored, created, err := pa.PutPackage(r.Context(), row)
	if errors.Is(err, store.ErrConflict) {
		return row, &userError{status: http.StatusConflict, msg: fmt.Sprintf("Package %s version %s exists already with other content: choose a higher version.", row.Name, row.Version)}
	}
	if err != nil {
		return row, err
	}
	c.audit(r, who, "package.upload", "package:"+stored.Name+"="+stored.Version, map[string]any{"filename": stored.Filename,
		"sha256": stored.SHA256, "maturity": stored.Maturity, "verified": stored.Verified, "signer": stored.Signer,
		"created": created, "signed_by_server": true})
	if created {
		for _, g := range stored.TargetGroups {
			a := store.PackageAssignment{Package: stored.Name, Kind: store.AssignGroup, Target: g, CreatedAt: now, CreatedBy: who}
			if ok, err := pa.AssignPackage(r.Context(), a); err != nil {
				return stored, err
			} else if ok {
				c.audit(r, who, "package.assign", "package:"+stored.Name, map[string]string{"group": g, "from": "target_groups"})
			}
		}
	}
	return stored, nil
}

// handlePackageRulesJSON sends the rules of the form as rules.json (the file the
// command builds the package from), normalized.
func (c *Console) handlePackageRulesJSON(w http.ResponseWriter, r *http.Request) {
	text := r.PostFormValue("rules")
	if len(text) > maxRulesBytes {
		c.fail(w, r, badRequest("The rules JSON is larger than %d bytes.", maxRulesBytes))
		return
	}
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	rs, err := rules.Parse([]byte(text))
	if err == nil {
		rs, err = rs.Normalize()
	}
	if err != nil {
		c.fail(w, r, badRequest("Rules JSON: %v", err))
		return
	}
	b, err := rules.Marshal(rs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="rules.json"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// adminOrUnavailable returns the store's package role, or answers 503.
func (c *Console) adminOrUnavailable(w http.ResponseWriter, r *http.Request) (PackageAdmin, bool) {
	pa, ok := c.packageAdmin()
	if !ok {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Rules packages not available", "This server does not manage rules packages.")
	}
	return pa, ok
}

// formPackage reads name and version and loads that package.
func (c *Console) formPackage(r *http.Request, pa PackageAdmin) (store.RulesPackage, error) {
	name, version := clean(r.PostFormValue("name")), clean(r.PostFormValue("version"))
	if name == "" || version == "" {
		return store.RulesPackage{}, badRequest("Name the package and its version.")
	}
	p, err := pa.GetPackage(r.Context(), name, version)
	if err != nil {
		return p, lookupErr(err, "There is no package %s version %s.", name, version)
	}
	return p, nil
}

func (c *Console) formAssignment(r *http.Request) (store.PackageAssignment, error) {
	a := store.PackageAssignment{Package: strings.TrimSpace(r.PostFormValue("name")), Kind: store.AssignmentKind(r.PostFormValue("kind")),
		Target: strings.TrimSpace(r.PostFormValue("target"))}
	if !utf8Valid(a.Package, a.Target) {
		return a, badRequest("The form holds text that is not valid UTF-8.")
	}
	if len(a.Package) > maxTargetLen {
		return a, badRequest("Package name longer than %d characters.", maxTargetLen)
	}
	switch a.Kind {
	case store.AssignGroup, store.AssignHost:
	default:
		return a, badRequest("Assign to %q: choose a host group or a host.", clean(string(a.Kind)))
	}
	if a.Package == "" {
		return a, badRequest("Name the package to assign.")
	}
	if a.Target == "" || len(a.Target) > maxTargetLen {
		return a, badRequest("Give a host group name or a host UUID (1 to %d characters).", maxTargetLen)
	}
	return a, nil
}

func (c *Console) handleAssignPackage(w http.ResponseWriter, r *http.Request) {
	pa, ok := c.adminOrUnavailable(w, r)
	if !ok {
		return
	}
	a, err := c.formAssignment(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	pkgs, err := pa.ListPackages(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(pkgs, func(p store.RulesPackage) bool { return p.Name == a.Package }) {
		c.fail(w, r, &userError{status: http.StatusNotFound, msg: fmt.Sprintf("There is no package named %s.", a.Package)})
		return
	}
	if a.Kind == store.AssignHost {
		if _, err := c.deps.Store.GetHost(r.Context(), a.Target); err != nil {
			c.fail(w, r, lookupErr(err, "There is no host %s (give the host's UUID, shown on its page).", a.Target))
			return
		}
	}
	who := userOf(r).Name
	a.CreatedAt, a.CreatedBy = c.now(), who
	created, err := pa.AssignPackage(r.Context(), a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Package %s is assigned to %s %s already.", a.Package, a.Kind, a.Target)
	if created {
		c.audit(r, who, "package.assign", "package:"+a.Package, map[string]string{string(a.Kind): a.Target})
		msg = fmt.Sprintf("Package %s assigned to %s %s. Hosts get it with their next rules.", a.Package, a.Kind, a.Target)
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", msg)
}

func (c *Console) handleUnassignPackage(w http.ResponseWriter, r *http.Request) {
	pa, ok := c.adminOrUnavailable(w, r)
	if !ok {
		return
	}
	a, err := c.formAssignment(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := pa.UnassignPackage(r.Context(), a); err != nil {
		c.fail(w, r, lookupErr(err, "Package %s is not assigned to %s %s.", a.Package, a.Kind, a.Target))
		return
	}
	c.audit(r, userOf(r).Name, "package.unassign", "package:"+a.Package, map[string]string{string(a.Kind): a.Target})
	c.redirectWith(w, r, Prefix+"packages", "ok", fmt.Sprintf("Package %s no longer assigned to %s %s.", a.Package, a.Kind, a.Target))
}

// handlePromotePackage offers a PREPROD package to PROD hosts now, with the admin API's
// checks (the signed conditions must hold or agents would refuse it).
func (c *Console) handlePromotePackage(w http.ResponseWriter, r *http.Request) {
	pa, ok := c.adminOrUnavailable(w, r)
	if !ok {
		return
	}
	p, err := c.formPackage(r, pa)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.now()
	conflict := func(format string, args ...any) {
		c.fail(w, r, &userError{status: http.StatusConflict, msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case !p.Verified:
		conflict("Package %s %s is not verified: it is not served at all (%s).", p.Name, p.Version, p.VerifyError)
		return
	case p.Maturity == store.MaturityProd:
		conflict("Package %s %s is signed PROD already: every host takes it.", p.Name, p.Version)
		return
	case !p.PromotedAt.IsZero():
		conflict("Package %s %s was promoted on %s already.", p.Name, p.Version, p.PromotedAt.UTC().Format(time.RFC3339))
		return
	case !p.Promotable():
		conflict("Package %s %s cannot be promoted: its signed control has no promote_after_days, so agents on PROD hosts "+
			"would refuse it (build and sign the same rules with maturity PROD instead).", p.Name, p.Version)
		return
	case now.Before(p.SignedEligibleAt()):
		conflict("Package %s %s may be promoted from %s on (signature date + promote_after_days %d); agents would refuse it before.",
			p.Name, p.Version, p.SignedEligibleAt().UTC().Format(time.RFC3339), p.PromoteAfterDays)
		return
	}
	who := userOf(r).Name
	p, err = pa.PromotePackage(r.Context(), p.Name, p.Version, now, who)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r, who, "package.promote", "package:"+p.Name+"="+p.Version, map[string]any{
		"manual": true, "from": p.Maturity, "to": store.MaturityProd, "ring_hosts": p.LastCheck.RingHosts, "success_hosts": p.LastCheck.SuccessHosts})
	c.redirectWith(w, r, Prefix+"packages", "ok", fmt.Sprintf("Package %s %s promoted: PROD hosts get it with their next rules.", p.Name, p.Version))
}

// handleHoldPackage stops (hold=true) or resumes (hold=false) the automatic promotion.
func (c *Console) handleHoldPackage(w http.ResponseWriter, r *http.Request) {
	pa, ok := c.adminOrUnavailable(w, r)
	if !ok {
		return
	}
	p, err := c.formPackage(r, pa)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var hold bool
	switch r.PostFormValue("hold") {
	case "true":
		hold = true
	case "false":
	default:
		c.fail(w, r, badRequest("Hold %q: true or false.", clean(r.PostFormValue("hold"))))
		return
	}
	pol := p.PackagePolicy
	pol.Hold = hold
	if p, err = pa.SetPackagePolicy(r.Context(), p.Name, p.Version, pol); err != nil {
		c.fail(w, r, err)
		return
	}
	c.audit(r, userOf(r).Name, "package.policy", "package:"+p.Name+"="+p.Version, p.PackagePolicy)
	msg := fmt.Sprintf("Automatic promotion of %s %s held.", p.Name, p.Version)
	if !hold {
		msg = fmt.Sprintf("Automatic promotion of %s %s resumed.", p.Name, p.Version)
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", msg)
}
