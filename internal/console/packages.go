package console

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
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
	CanAdmin   bool // the application manages packages
	CanSign    bool
	SignedBy   string
	Verifies   bool // uploads are verified against package_trusted_certs
	Form       packageForm
	FormOpen   bool
	Error      string
	Prepared   *preparedPackage
	Maturities []string
}

// rollout says where a package's ring rollout stands (app.Rollout, as the admin API).
func (c *Console) rollout(p store.RulesPackage, now time.Time) packageView {
	v := packageView{RulesPackage: p, Offered: p.OfferedMaturity()}
	rv := app.Rollout(p, now)
	if rv == nil {
		return v
	}
	v.Days, v.MinPct, v.EligibleAt, v.Status = rv.PromoteAfterDays, rv.PromoteMinSuccessPct, rv.EligibleAt, rv.Status
	if rv.SuccessPct != nil {
		v.SuccessPct = fmt.Sprintf("%.0f%%", *rv.SuccessPct)
	}
	v.CanPromote, v.CanHold = rv.CanPromote, rv.CanHold
	return v
}

func (c *Console) packagesData(r *http.Request) (packagesData, error) {
	d := packagesData{CanAdmin: c.deps.App.HasPackages(), CanSign: c.deps.PackageSigning != nil, Verifies: c.deps.App.VerifiesPackages(),
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
	if sig == nil || !c.deps.App.HasPackages() {
		d, err := c.packagesData(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.Form, d.FormOpen, d.Prepared = f, true, prepare(r, f, p)
		c.renderPackages(w, r, http.StatusOK, d)
		return
	}
	if _, err := c.deps.App.Package(r.Context(), p.Control.Package, p.Control.Version); err == nil {
		c.formError(w, r, f, fmt.Sprintf("Package %s version %s exists already: versions are immutable, choose a higher version.",
			p.Control.Package, p.Control.Version))
		return
	} else if app.KindOf(err) != app.NotFound {
		c.fail(w, r, err)
		return
	}
	data, err := pkg.Sign(p, sig.Key, sig.Chain, c.now())
	if err != nil {
		c.formError(w, r, f, fmt.Sprintf("The server's signing key (%s) could not sign: %v", sig.Source, err))
		return
	}
	stored, _, err := c.deps.App.IngestPackage(r.Context(), data, 0)
	if err != nil {
		var ae *app.Error
		if errors.As(err, &ae) && (ae.Kind == app.Unprocessable || ae.Kind == app.Conflict) {
			c.formError(w, r, f, capitalize(ae.Msg)+".")
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
	sendAttachment(w, "application/json", "rules.json", b)
}

// formPackage reads the name and version of the package the form names.
func formPackage(r *http.Request) (name, version string, err error) {
	name, version = clean(r.PostFormValue("name")), clean(r.PostFormValue("version"))
	if name == "" || version == "" {
		return "", "", badRequest("Name the package and its version.")
	}
	return name, version, nil
}

func (c *Console) formAssignment(r *http.Request) (store.PackageAssignment, error) {
	a := store.PackageAssignment{Package: strings.TrimSpace(r.PostFormValue("name")), Kind: store.AssignmentKind(r.PostFormValue("kind")),
		Target: strings.TrimSpace(r.PostFormValue("target"))}
	if !utf8Valid(a.Package, a.Target) {
		return a, badRequest("The form holds text that is not valid UTF-8.")
	}
	return a, nil
}

func (c *Console) handleAssignPackage(w http.ResponseWriter, r *http.Request) {
	a, err := c.formAssignment(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	a, created, err := c.deps.App.AssignPackage(r.Context(), a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Package %s is assigned to %s %s already.", a.Package, a.Kind, a.Target)
	if created {
		msg = fmt.Sprintf("Package %s assigned to %s %s. Hosts get it with their next rules.", a.Package, a.Kind, a.Target)
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", msg)
}

func (c *Console) handleUnassignPackage(w http.ResponseWriter, r *http.Request) {
	a, err := c.formAssignment(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.deps.App.UnassignPackage(r.Context(), a); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", fmt.Sprintf("Package %s no longer assigned to %s %s.", a.Package, a.Kind, a.Target))
}

// handlePromotePackage offers a PREPROD package to PROD hosts now (app.Promote, as the
// admin API).
func (c *Console) handlePromotePackage(w http.ResponseWriter, r *http.Request) {
	name, version, err := formPackage(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p, err := c.deps.App.Promote(r.Context(), name, version, app.Promotion{})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", fmt.Sprintf("Package %s %s promoted: PROD hosts get it with their next rules.", p.Name, p.Version))
}

// handleHoldPackage stops (hold=true) or resumes (hold=false) the automatic promotion.
func (c *Console) handleHoldPackage(w http.ResponseWriter, r *http.Request) {
	name, version, err := formPackage(r)
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
	p, err := c.deps.App.Hold(r.Context(), name, version, hold)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Automatic promotion of %s %s held.", p.Name, p.Version)
	if !hold {
		msg = fmt.Sprintf("Automatic promotion of %s %s resumed.", p.Name, p.Version)
	}
	c.redirectWith(w, r, Prefix+"packages", "ok", msg)
}
