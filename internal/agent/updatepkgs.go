package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/pkg"
)

// UpdatesDirName holds the update packages (internal/pkg update packages: .msu, .cab,
// drivers, KB uninstalls, feature upgrades): each verified .wapt, its payload folder
// NAME_VERSION.payload/, and updates.json, what was done with each.
const UpdatesDirName = "updates"

// Statuses of update packages in reports, beside api.PackageApplied and
// api.PackageRefused of rules packages.
const (
	UpdatePackageInstalled     = string(action.StatusInstalled)
	UpdatePackageRebootNeeded  = string(action.StatusRebootNeeded)
	UpdatePackageNotApplicable = string(action.StatusNotApplicable)
	UpdatePackageError         = string(action.StatusError)
)

// ErrUpdatePackageRefused marks an update package the agent did not run because it could
// not trust it (wrapping the reason: pkg.ErrTampered, pkg.ErrUntrusted, pkg.ErrPayload, a
// maturity or index mismatch).
var ErrUpdatePackageRefused = errors.New("update package refused")

// KBNotifier is told about KBs an update package installed or removed, so that the next
// scan agrees. The simulated WUA needs it; the real WUA sees the change itself.
type KBNotifier interface {
	NoteKB(ctx context.Context, kb string, installed bool) error
}

// WithActionRunner sets the port that runs update packages' actions: action.Process on
// Windows, the simulated host's runner elsewhere. Without it no update package runs.
func WithActionRunner(r action.Runner, systemRoot string) Option {
	return func(a *Agent) { a.actions, a.systemRoot = r, systemRoot }
}

// updateRecord is what the agent did with one update package.
type updateRecord struct {
	Version  string    `json:"version"`
	SHA256   string    `json:"sha256"`
	Kind     pkg.Kind  `json:"kind"`
	KB       string    `json:"kb,omitempty"`
	Status   string    `json:"status"`
	ExitCode uint32    `json:"exit_code"`
	Text     string    `json:"text,omitempty"`
	At       time.Time `json:"at"`
}

// done says the package needs no new run: it succeeded or does not apply.
func (r updateRecord) done() bool {
	return r.Status == UpdatePackageInstalled || r.Status == UpdatePackageRebootNeeded || r.Status == UpdatePackageNotApplicable
}

func (a *Agent) updatesDir() string { return filepath.Join(a.dataDir, UpdatesDirName) }

func (a *Agent) loadUpdateRecords() map[string]updateRecord {
	recs := map[string]updateRecord{}
	b, err := os.ReadFile(filepath.Join(a.updatesDir(), "updates.json"))
	if err == nil {
		if err := json.Unmarshal(b, &recs); err != nil {
			a.log.Warn("update packages: unreadable updates.json, starting afresh", slog.Any("err", err))
			recs = map[string]updateRecord{}
		}
	}
	return recs
}

// InstallUpdatePackages brings the host's update packages up to date: for each package
// of offered (the server's list, in install order) not already done in the same
// version, it downloads the package, verifies it (pkg.VerifyUpdate: signature, trusted
// signer, manifest; then the server's name, version and SHA-256, and the maturity),
// downloads its payload files with resume and checks their SHA-256, runs its action,
// tells the WUA port about the KB, and records the outcome. A package that was done
// (installed, reboot needed, not applicable) is not run again; one that failed runs
// again at the next call. Nothing unsigned or tampered is ever run. It returns the status
// of every offered package.
func (a *Agent) InstallUpdatePackages(ctx context.Context, offered []api.Package) []api.PackageStatus {
	recs := a.loadUpdateRecords()
	var out []api.PackageStatus
	changed := false
	for _, ref := range offered {
		if r, ok := recs[ref.Name]; ok && r.Version == ref.Version && strings.EqualFold(r.SHA256, ref.SHA256) && r.done() {
			st := api.PackageStatus{Name: ref.Name, Version: ref.Version, Status: r.Status}
			if r.Status != UpdatePackageInstalled {
				st.Error = r.Text
			}
			out = append(out, st)
			continue
		}
		rec, err := a.installUpdatePackage(ctx, ref)
		if ctx.Err() != nil {
			break
		}
		st := api.PackageStatus{Name: ref.Name, Version: ref.Version}
		switch {
		case errors.Is(err, ErrUpdatePackageRefused):
			st.Status, st.Error = api.PackageRefused, err.Error()
			a.log.Error("update package refused", slog.String("package", ref.Name), slog.String("version", ref.Version), slog.Any("err", err))
		case err != nil:
			st.Status, st.Error = UpdatePackageError, err.Error()
			a.log.Error("update package failed", slog.String("package", ref.Name), slog.String("version", ref.Version), slog.Any("err", err))
		default:
			st.Status = rec.Status
			if rec.Status != UpdatePackageInstalled {
				st.Error = rec.Text
			}
			recs[ref.Name] = rec
			changed = true
			a.log.Info("update package run", slog.String("package", ref.Name), slog.String("version", ref.Version),
				slog.String("status", rec.Status), slog.String("result", rec.Text))
		}
		out = append(out, st)
	}
	if changed {
		b, err := json.MarshalIndent(recs, "", "  ")
		if err == nil {
			err = writeFileAtomic(filepath.Join(a.updatesDir(), "updates.json"), b, 0o600)
		}
		if err != nil {
			a.log.Error("update packages: cannot record the outcomes (they will run again)", slog.Any("err", err))
		}
	}
	return out
}

// updatePackagesOfCycle runs the update packages the server lists (the last rules
// answer) in an install cycle, after the Windows updates, and keeps their outcomes
// for the cycle's report. Nothing runs while a restart is pending: an installer run
// then may fail or be undone, and the next cycle after the restart runs them.
func (a *Agent) updatePackagesOfCycle(ctx context.Context, c *cycle) {
	st := c.st
	if st.ServerRules == nil || len(st.ServerRules.UpdatePackages) == 0 {
		return
	}
	if st.RebootRequired {
		a.log.Info("update packages postponed: a restart is pending", slog.Int("packages", len(st.ServerRules.UpdatePackages)))
		return
	}
	c.updatePackages = a.InstallUpdatePackages(ctx, st.ServerRules.UpdatePackages)
	for _, p := range c.updatePackages {
		if p.Status == UpdatePackageRebootNeeded {
			st.RebootRequired = true
		}
		if p.Status == UpdatePackageError || p.Status == api.PackageRefused {
			c.errs = append(c.errs, fmt.Errorf("update package %s %s: %s: %s", p.Name, p.Version, p.Status, p.Error))
		}
	}
}

// installUpdatePackage fetches, verifies and runs one package. A verification failure
// wraps ErrPackageRefused; other errors (network, disk, the action not starting) are
// retried at the next call.
func (a *Agent) installUpdatePackage(ctx context.Context, ref api.Package) (updateRecord, error) {
	if !safeName(ref.Filename) || !strings.HasSuffix(ref.Filename, ".wapt") {
		return updateRecord{}, fmt.Errorf("%w: file name %q is not a plain .wapt name", ErrUpdatePackageRefused, ref.Filename)
	}
	if !a.signedMode() {
		return updateRecord{}, fmt.Errorf("%w: %w: set [waptwua] trusted_certs in %s to the certificate (or CA) that signs the packages",
			ErrUpdatePackageRefused, ErrNoTrustedCerts, a.cfg.Source)
	}
	data, err := a.client.GetPackage(ctx, ref.Filename)
	if err != nil {
		return updateRecord{}, fmt.Errorf("download: %w", err)
	}
	v, err := a.verifyUpdatePackage(data, ref)
	if err != nil {
		return updateRecord{}, err
	}
	if err := os.MkdirAll(a.updatesDir(), 0o700); err != nil {
		return updateRecord{}, err
	}
	base := strings.TrimSuffix(ref.Filename, ".wapt")
	payloadDir := filepath.Join(a.updatesDir(), base+".payload")
	if err := a.checkPayloadSpace(payloadDir, v.Action); err != nil {
		return updateRecord{}, err
	}
	for _, f := range v.Action.Files {
		if err := a.fetchPayload(ctx, base+".payload", payloadDir, f); err != nil {
			if errors.Is(err, pkg.ErrPayload) {
				return updateRecord{}, fmt.Errorf("%w: %w", ErrUpdatePackageRefused, err)
			}
			return updateRecord{}, err
		}
	}
	// Check every file again just before the run: nothing changed since it was fetched.
	if err := pkg.CheckPayloadDir(payloadDir, v.Action); err != nil {
		return updateRecord{}, fmt.Errorf("%w: %w", ErrUpdatePackageRefused, err)
	}
	if a.actions == nil {
		return updateRecord{}, errors.New("no action runner: update packages run on Windows (or with the simulated host)")
	}
	host := action.Host{Runner: a.actions, Disk: a.disk, SystemRoot: a.systemRoot, SystemDrive: a.systemDrive, Now: a.clock.Now}
	winPayload := payloadDir
	if a.systemRoot != "" && !strings.Contains(payloadDir, `\`) {
		// A simulated Windows host: show the command lines with Windows separators.
		winPayload = strings.ReplaceAll(payloadDir, "/", `\`)
	}
	res, err := action.Run(ctx, host, v.Action, winPayload)
	if err != nil && res.Command == "" {
		return updateRecord{}, err
	}
	rec := updateRecord{Version: ref.Version, SHA256: strings.ToLower(ref.SHA256), Kind: v.Action.Kind, KB: v.Action.KB,
		Status: string(res.Status), ExitCode: res.ExitCode, Text: res.Text, At: a.clock.Now()}
	done := res.Status == action.StatusInstalled || res.Status == action.StatusRebootNeeded
	if n, ok := a.wua.(KBNotifier); ok && done && v.Action.KB != "" {
		if err := n.NoteKB(ctx, v.Action.KB, v.Action.Kind != pkg.KindKBUninstall); err != nil {
			a.log.Warn("update package: tell the WUA port about the KB", slog.String("kb", v.Action.KB), slog.Any("err", err))
		}
	}
	return rec, nil
}

// checkPayloadSpace refuses to download payload files that would leave less than the
// agent's minimum free space (WithMinFreeBytes) on the data folder's volume.
func (a *Agent) checkPayloadSpace(dir string, act pkg.Action) error {
	var need uint64
	for _, f := range act.Files {
		final := filepath.Join(dir, filepath.FromSlash(f.Path))
		if st, err := os.Stat(final); err == nil && st.Size() == f.Size {
			continue
		}
		rem := f.Size - partSize(final+".part")
		if rem < 0 {
			rem = f.Size
		}
		need += uint64(rem)
	}
	if need == 0 || a.disk == nil {
		return nil
	}
	free, err := a.disk.FreeBytes(a.updatesDir())
	if err != nil {
		return fmt.Errorf("payload: %w: %w", ErrDiskSpace, err)
	}
	if free < need+a.minFree {
		return fmt.Errorf("payload: %w: %s free on the volume of %s, the package needs %s more plus %s kept free (free some space; the next cycle retries)",
			ErrDiskSpace, formatBytes(int64(free)), a.updatesDir(), formatBytes(int64(need)), formatBytes(int64(a.minFree)))
	}
	return nil
}

// verifyUpdatePackage checks an update package as verifyPackage checks a rules package.
func (a *Agent) verifyUpdatePackage(data []byte, ref api.Package) (*pkg.VerifiedUpdate, error) {
	now := a.clock.Now()
	v, err := pkg.VerifyUpdate(data, pkg.VerifyOptions{Roots: a.trust, Now: func() time.Time { return now }})
	if errors.Is(err, pkg.ErrUntrusted) {
		return nil, fmt.Errorf("%w: %w (this agent trusts [waptwua] trusted_certs = %s)", ErrUpdatePackageRefused, err, a.cfg.WUA.TrustedCerts)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpdatePackageRefused, err)
	}
	ctl := v.Control
	if ctl.Package != ref.Name || ctl.Version != ref.Version {
		return nil, fmt.Errorf("%w: %w: the server lists %s %s but the signed control says %s %s",
			ErrUpdatePackageRefused, errIndex, ref.Name, ref.Version, ctl.Package, ctl.Version)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, ref.SHA256) {
		return nil, fmt.Errorf("%w: %w: sha256 %s, the server lists %s (an older or substituted copy)", ErrUpdatePackageRefused, errIndex, got, ref.SHA256)
	}
	if _, err := a.acceptMaturity(ctl, ref, now); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpdatePackageRefused, err)
	}
	return v, nil
}

// fetchPayload makes dir/<f.Path> the verified payload file f, downloading it from the
// package repository (repo_url/<remoteDir>/<f.Path>) into a .part file, resumed with a
// Range request when an earlier attempt left one, and checked against its signed size
// and SHA-256 before it is renamed into place.
func (a *Agent) fetchPayload(ctx context.Context, remoteDir, dir string, f pkg.PayloadFile) error {
	final := filepath.Join(dir, filepath.FromSlash(f.Path))
	if fh, err := os.Open(final); err == nil {
		err = pkg.CheckPayloadFile(f, fh)
		fh.Close()
		if err == nil {
			return nil
		}
		os.Remove(final)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	part := final + ".part"
	resume := partSize(part)
	if resume >= f.Size {
		os.Remove(part)
		resume = 0
	}
	if a.client.pkgRepo == "" {
		return errors.New("no package repository URL: set [global] repo_url in wapt-get.ini")
	}
	segs := strings.Split(remoteDir+"/"+f.Path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := a.client.pkgRepo + strings.Join(segs, "/")
	req, err := a.client.newRequest(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return err
	}
	req.Header.Del("Accept")
	if resume > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", resume))
	}
	resp, err := a.client.hc.Do(req)
	if err != nil {
		return unreachable(req, err)
	}
	defer drain(resp)
	offset := int64(0)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != resume {
			os.Remove(part)
			return fmt.Errorf("%s: %w: asked from byte %d, got %q (the next attempt starts over)", f.Path, errNoResume, resume, resp.Header.Get("Content-Range"))
		}
		offset = resume
	default:
		return httpError(req, resp)
	}
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	out, err := os.OpenFile(part, flags, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w (check the free space and permissions of the data folder)", part, err)
	}
	if _, err := out.Seek(offset, io.SeekStart); err != nil {
		out.Close()
		return err
	}
	w := &progressWriter{w: out, done: offset, total: f.Size, report: a.progressFor(f.Path)}
	// Never more than the signed size (+1 to notice a longer file).
	n, err := io.Copy(w, io.LimitReader(resp.Body, f.Size-offset+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("GET %s: transfer cut after %d bytes: %w (resumed next time)", f.Path, offset+n, err)
	}
	fh, err := os.Open(part)
	if err != nil {
		return err
	}
	err = pkg.CheckPayloadFile(f, fh)
	fh.Close()
	if err != nil {
		os.Remove(part)
		return err
	}
	if err := os.Rename(part, final); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
