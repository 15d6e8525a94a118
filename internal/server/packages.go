package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/app"
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

// Promotions runs the rollout check on demand (POST /api/v1/admin/promotions/check);
// a Jobs hook that also implements it enables the endpoint.
type Promotions = app.Promotions

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
)

// packageRoutes mounts the repository and the admin endpoints of rules packages.
func (s *Server) packageRoutes(mux *http.ServeMux, read func(string, http.HandlerFunc), admin func(string, string, http.HandlerFunc)) {
	mux.HandleFunc("GET "+api.PackagePrefix+packagesIndex, s.handlePackagesIndex)
	mux.HandleFunc("GET "+api.PackagePrefix+packagesIndexJSON, s.handlePackagesIndexJSON)
	mux.HandleFunc("GET "+api.PackagePrefix+"{file}", s.handlePackageFile)
	mux.HandleFunc("GET "+api.PackagePrefix+"{dir}/{path...}", s.handlePayloadFile)

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
	read("/packages/{name}/{version}/payload", s.handleGetPayload)
	admin("PUT", "/packages/{name}/{version}/payload/{path...}", s.handlePutPayload)
}

// --- the host's list ------------------------------------------------------------------

// PackagesFor returns the rules packages a host gets, in install order
// (store.PackagesFor).
func PackagesFor(h store.Host, pkgs []store.RulesPackage, assigns []store.PackageAssignment) []api.Package {
	sel := store.PackagesFor(h, pkgs, assigns)
	out := make([]api.Package, 0, len(sel))
	for _, p := range sel {
		out = append(out, apiPackage(p))
	}
	return out
}

func apiPackage(p store.RulesPackage) api.Package {
	return api.Package{Name: p.Name, Version: p.Version, Filename: p.Filename, SHA256: p.SHA256, Size: p.Size,
		Maturity: p.Maturity, OfferedMaturity: p.OfferedMaturity(), Priority: p.Priority}
}

// hostPackages is the rules package list of the host's rules answer.
func (s *Server) hostPackages(ctx context.Context, h store.Host) ([]api.Package, error) {
	rules, _, err := s.hostPackageLists(ctx, h)
	return rules, err
}

// hostPackageLists are the rules packages and the update packages of the host's rules
// answer, apart: an agent that knows no update packages would refuse them as rules.
func (s *Server) hostPackageLists(ctx context.Context, h store.Host) (rules, updates []api.Package, err error) {
	pkgs, err := s.store.ListPackages(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(pkgs) == 0 {
		return nil, nil, nil
	}
	assigns, err := s.store.ListAssignments(ctx)
	if err != nil {
		return nil, nil, err
	}
	var rp, up []store.RulesPackage
	for _, p := range pkgs {
		if p.IsUpdate() {
			up = append(up, p)
		} else {
			rp = append(rp, p)
		}
	}
	rules = PackagesFor(h, rp, assigns)
	if len(up) > 0 {
		updates = PackagesFor(h, up, assigns)
	}
	return rules, updates, nil
}

// --- repository -----------------------------------------------------------------------

// servedPackages lists the servable packages, in the index order.
func (s *Server) servedPackages(ctx context.Context) ([]store.RulesPackage, time.Time, error) {
	pkgs, err := s.store.ListPackages(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []store.RulesPackage
	var mod time.Time
	for _, p := range pkgs {
		if !p.Servable() {
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
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Servable() {
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
	priority, err := queryInt(r, "priority", 0, -app.MaxPriority, app.MaxPriority)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, created, err := s.app.IngestPackage(r.Context(), data, priority)
	s.writePackage(w, r, createdStatus(created), stored, err)
}

// wirePackages converts packages with their assignments (read once).
func (s *Server) wirePackages(ctx context.Context, pkgs ...store.RulesPackage) ([]admin.Package, error) {
	assigns, err := s.store.ListAssignments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.Package, len(pkgs))
	for i, p := range pkgs {
		out[i] = s.wirePackage(p, assigns)
	}
	return out, nil
}

// writePackage answers err or else one package with its assignments.
func (s *Server) writePackage(w http.ResponseWriter, r *http.Request, status int, p store.RulesPackage, err error) {
	var ws []admin.Package
	if err == nil {
		ws, err = s.wirePackages(r.Context(), p)
	}
	reply(s, w, r, status, ws, err, func(ws []admin.Package) admin.Package { return ws[0] })
}

// --- admin: list, get, policy, delete, promote --------------------------------------------

func (s *Server) handleListPackages(w http.ResponseWriter, r *http.Request) {
	pkgs, err := s.store.ListPackages(r.Context())
	var ws []admin.Package
	if err == nil {
		ws, err = s.wirePackages(r.Context(), pkgs...)
	}
	replyList(s, w, r, "packages", ws, err, same)
}

func (s *Server) getPackage(r *http.Request) (store.RulesPackage, error) {
	return s.app.Package(r.Context(), r.PathValue("name"), r.PathValue("version"))
}

func (s *Server) handleGetPackage(w http.ResponseWriter, r *http.Request) {
	p, err := s.getPackage(r)
	var ws []admin.Package
	if err == nil {
		ws, err = s.wirePackages(r.Context(), p)
	}
	ring := []store.Host{}
	if err == nil && p.Maturity != store.MaturityProd {
		ring, err = s.store.PackageHosts(r.Context(), p.Name, p.Version, p.Maturity)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type ringHost struct {
		UUID string `json:"uuid"`
		Name string `json:"name"`
	}
	out := struct {
		admin.Package
		RingHosts []ringHost `json:"ring_hosts"`
	}{Package: ws[0], RingHosts: []ringHost{}}
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
	var req policyRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.app.SetPackagePolicy(r.Context(), r.PathValue("name"), r.PathValue("version"), app.PolicyChange(req))
	s.writePackage(w, r, http.StatusOK, p, err)
}

func (s *Server) handleDeletePackage(w http.ResponseWriter, r *http.Request) {
	s.replyDone(w, r, s.app.DeletePackage(r.Context(), r.PathValue("name"), r.PathValue("version")))
}

// handlePromotePackage offers a PREPROD package to PROD hosts now (app.Promote).
func (s *Server) handlePromotePackage(w http.ResponseWriter, r *http.Request) {
	p, err := s.app.Promote(r.Context(), r.PathValue("name"), r.PathValue("version"), app.Promotion{})
	s.writePackage(w, r, http.StatusOK, p, err)
}

func (s *Server) handleCheckPromotions(w http.ResponseWriter, r *http.Request) {
	promoted, err := s.app.CheckPromotions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"promoted": promoted})
}

// --- admin: assignments ----------------------------------------------------------------

type assignRequest struct {
	Kind   store.AssignmentKind `json:"kind"`
	Target string               `json:"target"`
}

func (s *Server) handleAssignPackage(w http.ResponseWriter, r *http.Request) {
	var req assignRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	a, created, err := s.app.AssignPackage(r.Context(), store.PackageAssignment{Package: r.PathValue("name"), Kind: req.Kind, Target: req.Target})
	reply(s, w, r, createdStatus(created), a, err, wireAssignment)
}

func (s *Server) handleUnassignPackage(w http.ResponseWriter, r *http.Request) {
	a := store.PackageAssignment{Package: r.PathValue("name"), Kind: store.AssignmentKind(r.PathValue("kind")), Target: r.PathValue("target")}
	s.replyDone(w, r, s.app.UnassignPackage(r.Context(), a))
}

func (s *Server) handleListAssignments(w http.ResponseWriter, r *http.Request) {
	as, err := s.store.ListAssignments(r.Context())
	replyList(s, w, r, "assignments", as, err, wireAssignment)
}

// handleHostPackages shows what the server offers a host and what the host reported.
func (s *Server) handleHostPackages(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	h, err := s.store.GetHost(r.Context(), uuid)
	if err != nil {
		s.fail(w, r, notFound(err, "no host %s", truncate(uuid, 100)))
		return
	}
	offered, offeredUpdates, err := s.hostPackageLists(r.Context(), h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if offered == nil {
		offered = []api.Package{}
	}
	if offeredUpdates == nil {
		offeredUpdates = []api.Package{}
	}
	reported := wireList(h.Packages, wireHostPackage)
	writeJSON(w, http.StatusOK, map[string]any{"host": h.UUID, "maturity": h.Maturity, "groups": h.Groups,
		"offered": offered, "reported": reported,
		"offered_update_packages": offeredUpdates, "reported_update_packages": wireList(h.UpdatePackages, wireHostPackage)})
}

// logPackageErrors logs the packages a host refused (the report stores them too).
func (s *Server) logPackageErrors(ctx context.Context, host string, ps []api.PackageStatus) {
	s.logRefused(ctx, host, "host refused a rules package", ps)
}

// logUpdatePackageErrors logs the update packages a host refused or failed to install.
func (s *Server) logUpdatePackageErrors(ctx context.Context, host string, ps []api.PackageStatus) {
	s.logRefused(ctx, host, "host refused an update package", ps)
	for _, p := range ps {
		if p.Status == api.UpdatePackageError {
			s.log.WarnContext(ctx, "update package failed on a host", slog.String("host", host), slog.String("package", p.Name),
				slog.String("version", p.Version), slog.String("error", p.Error))
		}
	}
}

func (s *Server) logRefused(ctx context.Context, host, msg string, ps []api.PackageStatus) {
	for _, p := range ps {
		if p.Status == api.PackageRefused {
			s.log.WarnContext(ctx, msg, slog.String("host", host), slog.String("package", p.Name),
				slog.String("version", p.Version), slog.String("error", p.Error))
		}
	}
}
