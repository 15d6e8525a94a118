package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/store"
)

// Rules packages: the package repository under /wapt/, the admin API that uploads,
// assigns and promotes them, and the list each host gets with its rules.
//
// Decisions (docs/adr/0003-rules-packages.md):
//   - The server verifies an upload against package_trusted_certs and refuses a package
//     that fails. Without package_trusted_certs it stores the package marked unverified
//     and never serves it: agents get only what the server could check (and check it
//     again themselves).
//   - Versions are immutable: the same name and version with other bytes is refused.
//   - Assignments name a package, not a version: a host gets the newest verified version
//     of each package assigned to one of its groups or to it, among those offered at a
//     maturity it accepts (PROD for every host; PREPROD for PREPROD hosts too). Install
//     order: priority (lower first), then name.
//   - Promotion is a server-side offer: a promoted PREPROD package is offered to PROD
//     hosts; its signature still says PREPROD, and agents accept it only when the signed
//     control allows promotion (promote_after_days) and that delay has passed since the
//     signature date.

// Promotions runs the rollout check on demand (POST /api/v1/admin/promotions/check).
// The job runner implements it; a Jobs hook that also implements it enables the endpoint.
type Promotions interface {
	// CheckPromotions evaluates every promotable PREPROD package now, promotes those
	// whose conditions hold and returns them as "name version".
	CheckPromotions(ctx context.Context) (promoted []string, err error)
}

// WithPackageRoots sets the certificates uploaded rules packages must chain to
// (package_trusted_certs of waptserver.ini); source names them in messages. Without it
// uploads are stored unverified and not served.
func WithPackageRoots(roots *x509.CertPool, source string) Option {
	return func(s *Server) { s.pkgRoots, s.pkgRootsSource = roots, source }
}

const (
	// packagesIndex is WAPT's repository index: a zip holding a "Packages" text file of
	// control blocks separated by blank lines.
	packagesIndex     = "Packages"
	packagesIndexJSON = "Packages.json"
	maxPriority       = 1000
	maxPromoteDays    = 3650
)

// packageRoutes mounts the repository and the admin endpoints of rules packages.
func (s *Server) packageRoutes(mux *http.ServeMux, read func(string, http.HandlerFunc), admin func(string, string, http.HandlerFunc)) {
	mux.HandleFunc("GET "+api.PackagePrefix+packagesIndex, s.handlePackagesIndex)
	mux.HandleFunc("GET "+api.PackagePrefix+packagesIndexJSON, s.handlePackagesIndexJSON)
	mux.HandleFunc("GET "+api.PackagePrefix+"{file}", s.handlePackageFile)

	read("/packages", s.handleListPackages)
	admin("POST", "/packages", s.handleUploadPackage)
	read("/packages/{name}/{version}", s.handleGetPackage)
	admin("PATCH", "/packages/{name}/{version}", s.handlePackagePolicy)
	admin("DELETE", "/packages/{name}/{version}", s.handleDeletePackage)
	admin("POST", "/packages/{name}/{version}/promote", s.handlePromotePackage)
	admin("POST", "/packages/{name}/assignments", s.handleAssignPackage)
	admin("DELETE", "/packages/{name}/assignments/{kind}/{target}", s.handleUnassignPackage)
	read("/assignments", s.handleListAssignments)
	admin("POST", "/promotions/check", s.handleCheckPromotions)
	read("/hosts/{uuid}/packages", s.handleHostPackages)
}

// --- the host's list ------------------------------------------------------------------

// PackagesFor returns the rules packages a host gets, in install order: for each
// package name assigned to one of its groups (compared ignoring case) or to it, the
// newest verified version offered at a maturity the host accepts.
func PackagesFor(h store.Host, pkgs []store.RulesPackage, assigns []store.PackageAssignment) []api.Package {
	assigned := map[string]bool{}
	for _, a := range assigns {
		switch a.Kind {
		case store.AssignHost:
			if a.Target == h.UUID {
				assigned[a.Package] = true
			}
		case store.AssignGroup:
			for _, g := range h.Groups {
				if strings.EqualFold(g, a.Target) {
					assigned[a.Package] = true
				}
			}
		}
	}
	best := map[string]store.RulesPackage{}
	for _, p := range pkgs {
		if !assigned[p.Name] || !p.Verified || !store.AcceptsMaturity(h.Maturity, p.OfferedMaturity()) {
			continue
		}
		if b, ok := best[p.Name]; !ok || CompareVersions(p.Version, b.Version) > 0 {
			best[p.Name] = p
		}
	}
	out := make([]api.Package, 0, len(best))
	for _, p := range best {
		out = append(out, apiPackage(p))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func apiPackage(p store.RulesPackage) api.Package {
	return api.Package{Name: p.Name, Version: p.Version, Filename: p.Filename, SHA256: p.SHA256, Size: p.Size,
		Maturity: p.Maturity, OfferedMaturity: p.OfferedMaturity(), Priority: p.Priority}
}

// hostPackages is the package list of the host's rules answer.
func (s *Server) hostPackages(ctx context.Context, h store.Host) ([]api.Package, error) {
	pkgs, err := s.store.ListPackages(ctx)
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, nil
	}
	assigns, err := s.store.ListAssignments(ctx)
	if err != nil {
		return nil, err
	}
	return PackagesFor(h, pkgs, assigns), nil
}

// CompareVersions orders WAPT package versions ("1.2.3-4"): dot- and dash-separated
// parts compared numerically when both are numbers, else as text; a version with more
// parts is newer when the common parts are equal.
func CompareVersions(a, b string) int {
	split := func(v string) []string {
		return strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.ParseUint(pa[i], 10, 64)
		nb, eb := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ea == nil: // numbers before text
			return -1
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(pa[i], pb[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return strings.Compare(a, b)
}

// --- repository -----------------------------------------------------------------------

// servedPackages lists the verified packages, in the index order.
func (s *Server) servedPackages(ctx context.Context) ([]store.RulesPackage, time.Time, error) {
	pkgs, err := s.store.ListPackages(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []store.RulesPackage
	var mod time.Time
	for _, p := range pkgs {
		if !p.Verified {
			continue
		}
		out = append(out, p)
		for _, t := range []time.Time{p.UploadedAt, p.PromotedAt} {
			if t.After(mod) {
				mod = t
			}
		}
	}
	return out, mod, nil
}

// handlePackagesIndex serves WAPT's index: a zip holding "Packages", the control of
// every served package followed by filename, size and sha256, blocks separated by a
// blank line.
func (s *Server) handlePackagesIndex(w http.ResponseWriter, r *http.Request) {
	pkgs, mod, err := s.servedPackages(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var text bytes.Buffer
	for i, p := range pkgs {
		if i > 0 {
			text.WriteString("\n")
		}
		text.WriteString(strings.TrimRight(p.Control, "\r\n"))
		fmt.Fprintf(&text, "\nfilename: %s\nsize: %d\nsha256: %s\n", p.Filename, p.Size, p.SHA256)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: packagesIndex, Method: zip.Deflate, Modified: mod.UTC()}
	f, err := zw.CreateHeader(hdr)
	if err == nil {
		_, err = f.Write(text.Bytes())
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("build the Packages index: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, packagesIndex, mod, bytes.NewReader(buf.Bytes()))
}

// indexEntry is one package of /wapt/Packages.json.
type indexEntry struct {
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	Filename        string    `json:"filename"`
	SHA256          string    `json:"sha256"`
	Size            int64     `json:"size"`
	Maturity        string    `json:"maturity"`
	OfferedMaturity string    `json:"offered_maturity"`
	Description     string    `json:"description,omitempty"`
	Signer          string    `json:"signer,omitempty"`
	SignatureDate   time.Time `json:"signature_date,omitzero"`
}

func (s *Server) handlePackagesIndexJSON(w http.ResponseWriter, r *http.Request) {
	pkgs, _, err := s.servedPackages(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Packages []indexEntry `json:"packages"`
	}{Packages: []indexEntry{}}
	for _, p := range pkgs {
		out.Packages = append(out.Packages, indexEntry{Name: p.Name, Version: p.Version, Filename: p.Filename, SHA256: p.SHA256,
			Size: p.Size, Maturity: p.Maturity, OfferedMaturity: p.OfferedMaturity(), Description: p.Description,
			Signer: p.Signer, SignatureDate: p.SignatureDate})
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePackageFile serves one verified package; unverified ones are not found.
func (s *Server) handlePackageFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	p, err := s.store.PackageFile(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Verified {
		writeErrorBody(w, http.StatusNotFound, "", fmt.Sprintf("no package %s in this repository", truncate(name, 200)))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+p.SHA256+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, p.Filename, p.UploadedAt, bytes.NewReader(p.Data))
}

// --- admin: upload ---------------------------------------------------------------------

// packageView is a package as the admin API shows it.
type packageView struct {
	store.RulesPackage
	OfferedMaturity string                    `json:"offered_maturity"`
	Rollout         *RolloutView              `json:"rollout,omitempty"`
	Assignments     []store.PackageAssignment `json:"assignments"`
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

// RolloutView is where a package's ring rollout stands (admin API and console).
type RolloutView struct {
	Status               string    `json:"status"`
	PromoteAfterDays     int       `json:"promote_after_days,omitempty"`
	PromoteMinSuccessPct int       `json:"promote_min_success_pct,omitempty"`
	EligibleAt           time.Time `json:"eligible_at,omitzero"`
	// SuccessPct is the share of ring hosts that succeeded at the last check (absent
	// before any check or when no ring host applied the package).
	SuccessPct   *float64  `json:"success_pct,omitempty"`
	RingHosts    int       `json:"ring_hosts"`
	SuccessHosts int       `json:"success_hosts"`
	CheckedAt    time.Time `json:"checked_at,omitzero"`
	Note         string    `json:"note,omitempty"`
	PromotedAt   time.Time `json:"promoted_at,omitzero"`
	PromotedBy   string    `json:"promoted_by,omitempty"`
}

// Rollout describes where a package's rollout stands at now (nil for a PROD package).
func Rollout(p store.RulesPackage, now time.Time) *RolloutView {
	if p.Maturity == store.MaturityProd {
		return nil
	}
	days, pct := p.PromotionRule()
	v := &RolloutView{PromoteAfterDays: days, PromoteMinSuccessPct: pct, EligibleAt: p.EligibleAt(),
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
	case !p.LastCheck.At.IsZero() && !p.LastCheck.At.Before(v.EligibleAt) && !successEnough(p.LastCheck, pct):
		v.Status = RolloutBelowThreshold
	default:
		v.Status = RolloutEligible
	}
	return v
}

// successEnough says whether a check meets the minimum success percentage.
func successEnough(c store.PromotionCheck, minPct int) bool {
	if minPct <= 0 {
		return true
	}
	return c.RingHosts > 0 && c.SuccessHosts*100 >= minPct*c.RingHosts
}

func (s *Server) packageView(p store.RulesPackage, assigns []store.PackageAssignment) packageView {
	v := packageView{RulesPackage: p, OfferedMaturity: p.OfferedMaturity(), Rollout: Rollout(p, s.now()),
		Assignments: []store.PackageAssignment{}}
	for _, a := range assigns {
		if a.Package == p.Name {
			v.Assignments = append(v.Assignments, a)
		}
	}
	return v
}

// uploadContentTypes are what POST /packages accepts (or no Content-Type at all).
var uploadContentTypes = map[string]bool{
	"application/octet-stream": true, "application/zip": true, "application/x-zip-compressed": true,
	"application/vnd.wapt": true,
}

func (s *Server) handleUploadPackage(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !uploadContentTypes[mt] {
			s.fail(w, r, errStatus(http.StatusUnsupportedMediaType, "", "content type %q: send the .wapt file itself as application/octet-stream", ct))
			return
		}
	}
	data, err := readBody(w, r, pkg.DefaultMaxSize, fmt.Sprintf("package larger than %d bytes: a rules package is a few kilobytes (is it the right file?)", pkg.DefaultMaxSize))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	priority, err := queryInt(r, "priority", 0, -maxPriority, maxPriority)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	who := actor(r)
	row := store.RulesPackage{Data: data, UploadedAt: s.now(), UploadedBy: who, PackagePolicy: store.PackagePolicy{Priority: priority}}
	sum := sha256.Sum256(data)
	row.SHA256 = hex.EncodeToString(sum[:])
	var ctl pkg.Control
	if s.pkgRoots == nil {
		p, err := pkg.Open(data, pkg.Limits{})
		if err != nil {
			s.fail(w, r, errStatus(http.StatusUnprocessableEntity, "", "package refused: %v", err))
			return
		}
		ctl, row.Rules = p.Control, p.RulesJSON
		row.VerifyError = "not verified: the server has no package_trusted_certs (set it in [options] of waptserver.ini, " +
			"restart and upload the package again); it is not served to agents until then"
	} else {
		v, err := pkg.Verify(data, pkg.VerifyOptions{Roots: s.pkgRoots, Now: s.now})
		if err != nil {
			msg := fmt.Sprintf("package refused: %v", err)
			if errors.Is(err, pkg.ErrUntrusted) {
				msg += fmt.Sprintf(" (the server trusts the certificates of package_trusted_certs %s: sign with one of them or add the signer's CA there)", s.pkgRootsSource)
			}
			s.audit(r.Context(), who, "package.refused", "package:"+row.SHA256[:16], map[string]string{"error": err.Error()})
			s.fail(w, r, errStatus(http.StatusUnprocessableEntity, "", "%s", msg))
			return
		}
		ctl, row.Rules, row.Verified = v.Control, v.RulesJSON, true
	}
	row.Name, row.Version, row.Maturity = ctl.Package, ctl.Version, ctl.Maturity
	row.Filename = ctl.Package + "_" + ctl.Version + ".wapt"
	row.Description, row.Signer, row.SignerFingerprint, row.SignatureDate = ctl.Description, ctl.Signer, ctl.SignerFingerprint, ctl.SignatureDate
	row.TargetGroups, row.PromoteAfterDays, row.PromoteMinSuccessPct = ctl.TargetGroups, ctl.PromoteAfterDays, ctl.PromoteMinSuccessPct
	if row.Control, err = pkg.ControlText(data); err != nil {
		s.fail(w, r, errStatus(http.StatusUnprocessableEntity, "", "package refused: %v", err))
		return
	}
	stored, created, err := s.store.PutPackage(r.Context(), row)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := map[string]any{"filename": stored.Filename, "sha256": stored.SHA256, "maturity": stored.Maturity,
		"verified": stored.Verified, "signer": stored.Signer, "created": created}
	s.audit(r.Context(), who, "package.upload", "package:"+stored.Name+"="+stored.Version, details)
	if created {
		// The signed target_groups become assignments (the administrator may add or
		// remove assignments afterwards).
		for _, g := range stored.TargetGroups {
			a := store.PackageAssignment{Package: stored.Name, Kind: store.AssignGroup, Target: g, CreatedAt: s.now(), CreatedBy: who}
			if ok, err := s.store.AssignPackage(r.Context(), a); err != nil {
				s.fail(w, r, err)
				return
			} else if ok {
				s.audit(r.Context(), who, "package.assign", "package:"+stored.Name, map[string]string{"group": g, "from": "target_groups"})
			}
		}
	}
	assigns, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.packageView(stored, assigns))
}

// --- admin: list, get, policy, delete, promote --------------------------------------------

func (s *Server) handleListPackages(w http.ResponseWriter, r *http.Request) {
	pkgs, err := s.store.ListPackages(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	assigns, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Packages []packageView `json:"packages"`
	}{Packages: []packageView{}}
	for _, p := range pkgs {
		out.Packages = append(out.Packages, s.packageView(p, assigns))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getPackage(r *http.Request) (store.RulesPackage, error) {
	name, version := r.PathValue("name"), r.PathValue("version")
	p, err := s.store.GetPackage(r.Context(), name, version)
	return p, notFound(err, "no package %s version %s (GET %s/packages lists them)", truncate(name, 130), truncate(version, 70), AdminPrefix)
}

func (s *Server) handleGetPackage(w http.ResponseWriter, r *http.Request) {
	p, err := s.getPackage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	assigns, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ring := []store.Host{}
	if p.Maturity != store.MaturityProd {
		if ring, err = s.store.PackageHosts(r.Context(), p.Name, p.Version, p.Maturity); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	type ringHost struct {
		UUID string `json:"uuid"`
		Name string `json:"name"`
	}
	out := struct {
		packageView
		RingHosts []ringHost `json:"ring_hosts"`
	}{packageView: s.packageView(p, assigns), RingHosts: []ringHost{}}
	for _, h := range ring {
		out.RingHosts = append(out.RingHosts, ringHost{h.UUID, h.Name})
	}
	writeJSON(w, http.StatusOK, out)
}

type policyRequest struct {
	Priority             *int  `json:"priority"`
	Hold                 *bool `json:"hold"`
	PromoteAfterDays     *int  `json:"promote_after_days"`      // 0: the signed value
	PromoteMinSuccessPct *int  `json:"promote_min_success_pct"` // 0: the signed value
}

func (s *Server) handlePackagePolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.getPackage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req policyRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	pol := p.PackagePolicy
	if req.Priority != nil {
		if *req.Priority < -maxPriority || *req.Priority > maxPriority {
			s.fail(w, r, badRequest("priority", "%d: want a whole number between %d and %d", *req.Priority, -maxPriority, maxPriority))
			return
		}
		pol.Priority = *req.Priority
	}
	if req.Hold != nil {
		pol.Hold = *req.Hold
	}
	if req.PromoteAfterDays != nil {
		d := *req.PromoteAfterDays
		switch {
		case d == 0:
			pol.PromoteAfterDays = nil
		case !p.Promotable():
			s.fail(w, r, badRequest("promote_after_days", "package %s %s cannot be promoted: its signed control has no promote_after_days "+
				"(agents would refuse it on PROD hosts); build and sign it again with --promote-after-days", p.Name, p.Version))
			return
		case d < p.PromoteAfterDays || d > maxPromoteDays:
			s.fail(w, r, badRequest("promote_after_days", "%d: the server may only wait longer than the signer asked: want %d to %d (0: the signed %d)",
				d, p.PromoteAfterDays, maxPromoteDays, p.PromoteAfterDays))
			return
		default:
			pol.PromoteAfterDays = &d
		}
	}
	if req.PromoteMinSuccessPct != nil {
		v := *req.PromoteMinSuccessPct
		switch {
		case v == 0:
			pol.PromoteMinSuccessPct = nil
		case v < p.PromoteMinSuccessPct || v > 100:
			s.fail(w, r, badRequest("promote_min_success_pct", "%d: the server may only ask more than the signer: want %d to 100 (0: the signed %d)",
				v, p.PromoteMinSuccessPct, p.PromoteMinSuccessPct))
			return
		default:
			pol.PromoteMinSuccessPct = &v
		}
	}
	p, err = s.store.SetPackagePolicy(r.Context(), p.Name, p.Version, pol)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r.Context(), actor(r), "package.policy", "package:"+p.Name+"="+p.Version, p.PackagePolicy)
	assigns, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.packageView(p, assigns))
}

func (s *Server) handleDeletePackage(w http.ResponseWriter, r *http.Request) {
	name, version := r.PathValue("name"), r.PathValue("version")
	if err := s.store.DeletePackage(r.Context(), name, version); err != nil {
		s.fail(w, r, notFound(err, "no package %s version %s", truncate(name, 130), truncate(version, 70)))
		return
	}
	s.audit(r.Context(), actor(r), "package.delete", "package:"+name+"="+version, nil)
	w.WriteHeader(http.StatusNoContent)
}

// handlePromotePackage offers a PREPROD package to PROD hosts now, without waiting for
// the ring's success rate. The signed conditions still hold: the control must allow
// promotion and its promote_after_days must have passed since the signature, or agents
// would refuse it.
func (s *Server) handlePromotePackage(w http.ResponseWriter, r *http.Request) {
	p, err := s.getPackage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	switch {
	case !p.Verified:
		err = errStatus(http.StatusConflict, "", "package %s %s is not verified: it is not served at all (%s)", p.Name, p.Version, p.VerifyError)
	case p.Maturity == store.MaturityProd:
		err = errStatus(http.StatusConflict, "", "package %s %s is signed PROD already: every host takes it", p.Name, p.Version)
	case !p.Promotable():
		err = errStatus(http.StatusConflict, "", "package %s %s cannot be promoted: its signed control has no promote_after_days, "+
			"so agents on PROD hosts would refuse it (build and sign the same rules with --maturity PROD instead)", p.Name, p.Version)
	case now.Before(p.SignedEligibleAt()):
		err = errStatus(http.StatusConflict, "", "package %s %s may be promoted from %s on (signature date + promote_after_days %d); "+
			"agents would refuse it before", p.Name, p.Version, p.SignedEligibleAt().UTC().Format(time.RFC3339), p.PromoteAfterDays)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err = s.store.PromotePackage(r.Context(), p.Name, p.Version, now, actor(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r.Context(), actor(r), "package.promote", "package:"+p.Name+"="+p.Version, map[string]any{
		"manual": true, "from": p.Maturity, "to": store.MaturityProd, "ring_hosts": p.LastCheck.RingHosts, "success_hosts": p.LastCheck.SuccessHosts})
	assigns, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.packageView(p, assigns))
}

func (s *Server) handleCheckPromotions(w http.ResponseWriter, r *http.Request) {
	pr, ok := s.jobs.(Promotions)
	if !ok {
		s.fail(w, r, errJobsNotRunning())
		return
	}
	promoted, err := pr.CheckPromotions(r.Context())
	if err != nil {
		s.fail(w, r, jobError(err))
		return
	}
	if promoted == nil {
		promoted = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"promoted": promoted})
}

// --- admin: assignments ----------------------------------------------------------------

type assignRequest struct {
	Kind   store.AssignmentKind `json:"kind"`
	Target string               `json:"target"`
}

func checkAssignTarget(kind store.AssignmentKind, target string) error {
	switch kind {
	case store.AssignGroup, store.AssignHost:
	default:
		return badRequest("kind", "%q: want group or host", truncate(string(kind), 40))
	}
	target = strings.TrimSpace(target)
	if target == "" || len(target) > maxListItem {
		return badRequest("target", "want a host group name or a host UUID (1 to %d bytes)", maxListItem)
	}
	return nil
}

func (s *Server) handleAssignPackage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req assignRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkAssignTarget(req.Kind, req.Target); err != nil {
		s.fail(w, r, err)
		return
	}
	req.Target = strings.TrimSpace(req.Target)
	pkgs, err := s.store.ListPackages(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	known := false
	for _, p := range pkgs {
		known = known || p.Name == name
	}
	if !known {
		s.fail(w, r, errStatus(http.StatusNotFound, "", "no package named %s: upload it first (POST %s/packages)", truncate(name, 130), AdminPrefix))
		return
	}
	if req.Kind == store.AssignHost {
		if _, err := s.store.GetHost(r.Context(), req.Target); err != nil {
			s.fail(w, r, notFound(err, "no host %s", truncate(req.Target, 100)))
			return
		}
	}
	a := store.PackageAssignment{Package: name, Kind: req.Kind, Target: req.Target, CreatedAt: s.now(), CreatedBy: actor(r)}
	created, err := s.store.AssignPackage(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.audit(r.Context(), actor(r), "package.assign", "package:"+name, map[string]string{string(req.Kind): req.Target})
	}
	writeJSON(w, status, a)
}

func (s *Server) handleUnassignPackage(w http.ResponseWriter, r *http.Request) {
	a := store.PackageAssignment{Package: r.PathValue("name"), Kind: store.AssignmentKind(r.PathValue("kind")), Target: r.PathValue("target")}
	if err := checkAssignTarget(a.Kind, a.Target); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.UnassignPackage(r.Context(), a); err != nil {
		s.fail(w, r, notFound(err, "package %s is not assigned to %s %s", truncate(a.Package, 130), a.Kind, truncate(a.Target, 100)))
		return
	}
	s.audit(r.Context(), actor(r), "package.unassign", "package:"+a.Package, map[string]string{string(a.Kind): a.Target})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListAssignments(w http.ResponseWriter, r *http.Request) {
	as, err := s.store.ListAssignments(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if as == nil {
		as = []store.PackageAssignment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"assignments": as})
}

// handleHostPackages shows what the server offers a host and what the host reported.
func (s *Server) handleHostPackages(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	h, err := s.store.GetHost(r.Context(), uuid)
	if err != nil {
		s.fail(w, r, notFound(err, "no host %s", truncate(uuid, 100)))
		return
	}
	offered, err := s.hostPackages(r.Context(), h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if offered == nil {
		offered = []api.Package{}
	}
	reported := h.Packages
	if reported == nil {
		reported = []store.HostPackage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"host": h.UUID, "maturity": h.Maturity, "groups": h.Groups,
		"offered": offered, "reported": reported})
}

// logPackageErrors logs the packages a host refused (the report stores them too).
func (s *Server) logPackageErrors(ctx context.Context, host string, ps []api.PackageStatus) {
	for _, p := range ps {
		if p.Status == api.PackageRefused {
			s.log.WarnContext(ctx, "host refused a rules package", slog.String("host", host), slog.String("package", p.Name),
				slog.String("version", p.Version), slog.String("error", p.Error))
		}
	}
}
