package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

// Update packages (issue 15, docs/adr/0003-rules-packages.md): the rules packages'
// signed layout with WAPT/actions.json, kept in the same rows (kind update) so that
// upload, versions, assignments, rings and promotion are the rules packages' own. They
// differ in three ways:
//   - they are stored only verified (they run commands as SYSTEM on hosts): without
//     package_trusted_certs the upload is refused;
//   - their payload files travel outside the .wapt: each is uploaded apart
//     (PutPayloadFile), streamed into the repository folder and checked against the
//     signed manifest (pkg.CheckPayloadFile) before it is in place; never in the database;
//   - a package is offered to agents only once its whole payload is in place
//     (store.RulesPackage.Servable).

// PayloadFiles is where payload files live: the repository folder (*repo.Repo).
type PayloadFiles interface {
	CreatePayload(dir, file string, want repo.Want) (*repo.Writer, error)
	StatPayload(dir, file string) (repo.FileInfo, error)
	RemovePayload(dir string) error
}

// WithPayloads keeps update packages' payload files in p (without it their upload
// answers Unavailable).
func WithPayloads(p PayloadFiles) Option {
	return func(a *App) {
		if p != nil {
			a.d.Payloads = p
		}
	}
}

// PayloadDir is the payload folder of a package version: NAME_VERSION.payload, the
// name the agent asks for under the repository's /wapt/.
func PayloadDir(name, version string) string { return name + "_" + version + repo.PayloadSuffix }

// isUpdatePackage tells an update package from a rules package by its control's
// section (not trusted: the verification checks the section again).
func isUpdatePackage(data []byte) bool {
	text, err := pkg.ControlText(data)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == pkg.AttrSection {
			return strings.TrimSpace(v) == pkg.SectionUpdate
		}
	}
	return false
}

// refusePackage audits and words the refusal of a package that does not verify.
func (a *App) refusePackage(ctx context.Context, who User, row store.RulesPackage, err error) error {
	msg := fmt.Sprintf("package refused: %v", err)
	if errors.Is(err, pkg.ErrUntrusted) {
		msg += fmt.Sprintf(" (the server trusts the certificates of package_trusted_certs %s: sign with one of them or add the signer's CA there)", a.d.PackageRootsSource)
	}
	a.audit(ctx, who.Name, "package.refused", "package:"+row.SHA256[:16], map[string]string{"error": err.Error()})
	return &Error{Kind: Unprocessable, Msg: msg, Err: err}
}

// verifyUpdateUpload verifies an uploaded update package and fills row's kind and
// actions; it returns the signed control.
func (a *App) verifyUpdateUpload(ctx context.Context, who User, row *store.RulesPackage) (pkg.Control, error) {
	if a.d.PackageRoots == nil {
		return pkg.Control{}, errorf(Unprocessable, "", "update packages run commands as SYSTEM on hosts, so this server stores them only verified: "+
			"set package_trusted_certs in [options] of waptserver.ini, restart and upload the package again")
	}
	if a.d.Payloads == nil {
		return pkg.Control{}, errorf(Unavailable, "", "this server keeps no payload files (it runs without a repository folder): update packages cannot be uploaded")
	}
	v, err := a.verifyUpdate(row.Data)
	if err != nil {
		return pkg.Control{}, a.refusePackage(ctx, who, *row, err)
	}
	actions, err := json.Marshal(v.Action)
	if err != nil {
		return pkg.Control{}, err
	}
	row.Kind, row.Actions, row.Verified = store.PackageKindUpdate, actions, true
	row.PayloadComplete = len(v.Action.Files) == 0 // a KB uninstall has no payload
	return v.Control, nil
}

func (a *App) verifyUpdate(data []byte) (*pkg.VerifiedUpdate, error) {
	return pkg.VerifyUpdate(data, pkg.VerifyOptions{Roots: a.d.PackageRoots, Now: a.now})
}

// checkKindOfName refuses a package whose name is taken by a package of the other
// kind: assignments name a package, and one name is either rules or an update.
func checkKindOfName(ctx context.Context, ps PackageStore, row store.RulesPackage) error {
	pkgs, err := ps.ListPackages(ctx)
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		if p.Name == row.Name && p.IsUpdate() != row.IsUpdate() {
			what := map[bool]string{false: "a rules package", true: "an update package"}
			return errorf(Conflict, "", "package name %s is %s already (version %s) and this is %s: choose another name",
				Truncate(row.Name, 130), what[p.IsUpdate()], Truncate(p.Version, 70), what[row.IsUpdate()])
		}
	}
	return nil
}

// PayloadFileState is one payload file of an update package on the server.
type PayloadFileState struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Present bool   `json:"present"` // received, checked and in place
}

// PayloadState is where an update package's payload stands.
type PayloadState struct {
	Name     string             `json:"name"`
	Version  string             `json:"version"`
	Complete bool               `json:"complete"` // every file in place: the package is offered to agents
	Files    []PayloadFileState `json:"files"`
}

// updatePackage returns an update package version and its verified content, for an
// administrator (change) or any console user.
func (a *App) updatePackage(ctx context.Context, name, version string, change bool) (User, PackageStore, store.RulesPackage, *pkg.VerifiedUpdate, error) {
	var who User
	var ps PackageStore
	var p store.RulesPackage
	var err error
	if change {
		who, ps, p, err = a.adminPackage(ctx, name, version)
	} else if p, err = a.Package(ctx, name, version); err == nil {
		ps, err = a.packages()
	}
	if err != nil {
		return who, nil, p, nil, err
	}
	if !p.IsUpdate() {
		return who, nil, p, nil, errorf(Conflict, "", "package %s %s is a rules package: it has no payload", p.Name, p.Version)
	}
	if a.d.Payloads == nil || a.d.PackageRoots == nil {
		return who, nil, p, nil, errorf(Unavailable, "", "this server keeps no payload files (no repository folder or no package_trusted_certs)")
	}
	f, err := ps.PackageFile(ctx, p.Filename)
	if err != nil {
		return who, nil, p, nil, err
	}
	// The stored bytes are verified again: the payload is checked against the manifest
	// signed now trusted, not against a copy in the database.
	v, err := a.verifyUpdate(f.Data)
	if err != nil {
		return who, nil, p, nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("package %s %s no longer verifies: %v (delete it and upload it again)", p.Name, p.Version, err), Err: err}
	}
	return who, ps, p, v, nil
}

// payloadState stats every payload file of v.
func (a *App) payloadState(p store.RulesPackage, v *pkg.VerifiedUpdate) PayloadState {
	st := PayloadState{Name: p.Name, Version: p.Version, Complete: true, Files: []PayloadFileState{}}
	dir := PayloadDir(p.Name, p.Version)
	for _, f := range v.Action.Files {
		fi, err := a.d.Payloads.StatPayload(dir, f.Path)
		present := err == nil && fi.Size == f.Size
		st.Files = append(st.Files, PayloadFileState{Path: f.Path, Size: f.Size, Present: present})
		st.Complete = st.Complete && present
	}
	return st
}

// Payload says which payload files of an update package the server holds.
func (a *App) Payload(ctx context.Context, name, version string) (PayloadState, error) {
	_, _, p, v, err := a.updatePackage(ctx, name, version, false)
	if err != nil {
		return PayloadState{}, err
	}
	return a.payloadState(p, v), nil
}

// PutPayloadFile receives one payload file of an update package (package.payload):
// body is streamed into the repository folder and checked against the signed manifest
// with pkg.CheckPayloadFile; only bytes that match are put in place (a file in place
// is replaced only by matching bytes). Once every file is in place the package is
// marked complete and offered to agents.
func (a *App) PutPayloadFile(ctx context.Context, name, version, file string, body io.Reader) (PayloadState, error) {
	who, ps, p, v, err := a.updatePackage(ctx, name, version, true)
	if err != nil {
		return PayloadState{}, err
	}
	var want *pkg.PayloadFile
	var paths []string
	for i, f := range v.Action.Files {
		paths = append(paths, f.Path)
		if f.Path == file {
			want = &v.Action.Files[i]
		}
	}
	if want == nil {
		return PayloadState{}, errorf(NotFound, "", "package %s %s has no payload file %q (its files: %s)", p.Name, p.Version,
			Truncate(file, 200), Truncate(strings.Join(paths, ", "), 1000))
	}
	dir := PayloadDir(p.Name, p.Version)
	w, err := a.d.Payloads.CreatePayload(dir, want.Path, repo.Want{SHA256: want.SHA256})
	if errors.Is(err, repo.ErrBusy) {
		return PayloadState{}, &Error{Kind: Conflict, Msg: fmt.Sprintf("payload file %s of %s %s is being uploaded by another request", want.Path, p.Name, p.Version), Err: err}
	}
	if err != nil {
		return PayloadState{}, err
	}
	if err := pkg.CheckPayloadFile(*want, io.TeeReader(body, w)); err != nil {
		_ = w.Abort()
		a.audit(ctx, who.Name, "package.payload_refused", "package:"+p.Name+"="+p.Version, map[string]string{"file": want.Path, "error": err.Error()})
		return PayloadState{}, &Error{Kind: Unprocessable, Msg: fmt.Sprintf("payload refused: %v", err), Err: err}
	}
	if _, err := w.Commit(); err != nil {
		_ = w.Abort()
		return PayloadState{}, err
	}
	st := a.payloadState(p, v)
	if st.Complete != p.PayloadComplete {
		if err := ps.SetPayloadComplete(ctx, p.Name, p.Version, st.Complete); err != nil {
			return st, err
		}
	}
	a.audit(ctx, who.Name, "package.payload", "package:"+p.Name+"="+p.Version, map[string]any{"file": want.Path, "size": want.Size, "complete": st.Complete})
	return st, nil
}

// removePayload deletes the payload folder of a deleted package version (nothing
// when there is none).
func (a *App) removePayload(name, version string) error {
	if a.d.Payloads == nil {
		return nil
	}
	err := a.d.Payloads.RemovePayload(PayloadDir(name, version))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, repo.ErrInvalidName) {
		return fmt.Errorf("package %s %s deleted, but not its payload files: %w", name, version, err)
	}
	return nil
}
