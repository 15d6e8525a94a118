package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
)

// PackagesDirName holds the last good verified copy of each rules package in force,
// named as in the repository.
const PackagesDirName = "packages"

// PackageState is a rules package in force on the host: verified when it was taken, and
// verified again from its local copy at every cycle.
type PackageState struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Filename string `json:"filename"`
	SHA256   string `json:"sha256"`
	// Maturity is the signed maturity; Promoted says it was taken as promoted to PROD.
	Maturity   string    `json:"maturity"`
	Promoted   bool      `json:"promoted,omitempty"`
	VerifiedAt time.Time `json:"verified_at"`
}

// ErrPackageRefused marks a rules package the agent did not apply (wrapping the reason:
// pkg.ErrTampered, pkg.ErrUntrusted, ... or a maturity or index mismatch).
var ErrPackageRefused = errors.New("rules package refused")

// ErrNoTrustedCerts: the agent has no trusted package certificate, so it trusts no
// package.
var ErrNoTrustedCerts = errors.New("no trusted package certificate configured")

// errMaturity: the package's signed maturity is not one the host takes.
var errMaturity = errors.New("maturity not accepted by this host")

// errIndex: the file is not the one the server's list names.
var errIndex = errors.New("file does not match the server's package list")

// signedMode says whether the agent trusts package certificates: it then takes its rules
// from signed packages only and ignores the server's unsigned rules.
func (a *Agent) signedMode() bool { return a.trust != nil }

func (a *Agent) packagesDir() string { return filepath.Join(a.dataDir, PackagesDirName) }

// syncPackages brings the signed rules packages the server assigns to the host up to
// date and returns their rules in install order. For each package of the server's list
// it uses the local copy when it is the same file, else downloads it; every copy is
// verified (signature, trusted signer, manifest, maturity) before its rules count. A
// package that fails is refused, logged and reported, and the last good version of the
// same package stays in force. Packages the server no longer lists are dropped.
func (a *Agent) syncPackages(ctx context.Context, c *cycle) []rules.Rules {
	st := c.st
	var offered []api.Package
	if st.ServerRules != nil {
		offered = st.ServerRules.Packages
	}
	kept := map[string]PackageState{}
	for _, p := range st.Packages {
		kept[p.Name] = p
	}
	var (
		inForce []PackageState
		layers  []rules.Rules
		applied []api.PackageStatus
		refused []api.PackageStatus
	)
	take := func(p PackageState, r rules.Rules) {
		inForce = append(inForce, p)
		layers = append(layers, r)
		applied = append(applied, api.PackageStatus{Name: p.Name, Version: p.Version, Status: api.PackageApplied})
	}
	for _, ref := range offered {
		if slices.ContainsFunc(inForce, func(p PackageState) bool { return p.Name == ref.Name }) {
			continue // listed twice: the first wins
		}
		prev, hadPrev := kept[ref.Name]
		ps, r, err := a.loadPackage(ctx, ref, hadPrev && prev.SHA256 == ref.SHA256)
		if err == nil {
			take(ps, r)
			continue
		}
		if !errors.Is(err, ErrPackageRefused) {
			// Not a verdict on the package (the repository is unreachable, the
			// transfer was cut): the version in force stays, nothing is refused.
			c.errs = append(c.errs, fmt.Errorf("rules package %s %s: %w", ref.Name, ref.Version, err))
			if hadPrev {
				if r, perr := a.verifyKept(prev); perr == nil {
					take(prev, r)
				}
			}
			continue
		}
		keep := ""
		if hadPrev && prev.SHA256 != ref.SHA256 {
			if r, perr := a.verifyKept(prev); perr == nil {
				take(prev, r)
				keep = fmt.Sprintf("; version %s stays in force", prev.Version)
			} else {
				keep = fmt.Sprintf("; its previous version %s no longer verifies either: %v", prev.Version, perr)
			}
		} else if !hadPrev {
			keep = "; not applied"
		}
		err = fmt.Errorf("rules package %s %s (%s): %w%s", ref.Name, ref.Version, ref.Filename, err, keep)
		a.log.Warn("rules package refused", slog.String("package", ref.Name), slog.String("version", ref.Version), slog.Any("err", err))
		c.failWith(StatusError, err)
		refused = append(refused, api.PackageStatus{Name: ref.Name, Version: ref.Version, Status: api.PackageRefused,
			Error: truncate(err.Error(), api.MaxErrorLen-3)})
	}
	st.Packages = inForce
	c.packages = append(applied, refused...)
	st.PackageStatuses = c.packages
	a.cleanPackages(inForce)
	return layers
}

// loadPackage gets a package (its local copy when local is true and it is there, else
// from the repository), verifies it and keeps the verified copy.
func (a *Agent) loadPackage(ctx context.Context, ref api.Package, local bool) (PackageState, rules.Rules, error) {
	if !safeName(ref.Filename) || !strings.HasSuffix(ref.Filename, ".wapt") {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: file name %q is not a plain .wapt name", ErrPackageRefused, ref.Filename)
	}
	path := filepath.Join(a.packagesDir(), ref.Filename)
	var data []byte
	if local {
		if b, err := os.ReadFile(path); err == nil {
			data = b
		}
	}
	fetched := false
	if data == nil {
		if !a.signedMode() {
			// Nothing could verify it: do not even download.
			return PackageState{}, rules.Rules{}, a.untrusted()
		}
		b, err := a.client.GetPackage(ctx, ref.Filename)
		if err != nil {
			return PackageState{}, rules.Rules{}, fmt.Errorf("download: %w", err)
		}
		data, fetched = b, true
	}
	ps, r, err := a.verifyPackage(data, ref)
	if err != nil {
		if !fetched && local {
			// The local copy went bad (disk, trust store): try the repository once.
			return a.loadPackage(ctx, ref, false)
		}
		return PackageState{}, rules.Rules{}, err
	}
	if fetched {
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			return PackageState{}, rules.Rules{}, fmt.Errorf("keep the verified copy: %w", err)
		}
		a.log.Info("rules package verified", slog.String("package", ps.Name), slog.String("version", ps.Version),
			slog.String("maturity", ps.Maturity), slog.Bool("promoted", ps.Promoted))
	}
	return ps, r, nil
}

// verifyKept verifies again the local copy of a package in force.
func (a *Agent) verifyKept(p PackageState) (rules.Rules, error) {
	data, err := os.ReadFile(filepath.Join(a.packagesDir(), p.Filename))
	if err != nil {
		return rules.Rules{}, fmt.Errorf("local copy: %w", err)
	}
	offered := p.Maturity
	if p.Promoted {
		offered = "PROD"
	}
	_, r, err := a.verifyPackage(data, api.Package{Name: p.Name, Version: p.Version, Filename: p.Filename, SHA256: p.SHA256,
		Maturity: p.Maturity, OfferedMaturity: offered})
	return r, err
}

func (a *Agent) untrusted() error {
	return fmt.Errorf("%w: %w: set [waptwua] trusted_certs in %s to the certificate (or CA) that signs the rules packages",
		ErrPackageRefused, ErrNoTrustedCerts, a.cfg.Source)
}

// verifyPackage checks a package's bytes: signature and trust (pkg.Verify, each failure
// with its own message), that it is the package and file the server's list names, and
// that the host takes its maturity.
func (a *Agent) verifyPackage(data []byte, ref api.Package) (PackageState, rules.Rules, error) {
	if !a.signedMode() {
		return PackageState{}, rules.Rules{}, a.untrusted()
	}
	now := a.clock.Now()
	v, err := pkg.Verify(data, pkg.VerifyOptions{Roots: a.trust, Now: func() time.Time { return now }})
	if errors.Is(err, pkg.ErrUntrusted) {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: %w (this agent trusts [waptwua] trusted_certs = %s)", ErrPackageRefused, err, a.cfg.WUA.TrustedCerts)
	}
	if err != nil {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: %w", ErrPackageRefused, err)
	}
	ctl := v.Control
	if ctl.Package != ref.Name || ctl.Version != ref.Version {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: %w: the server lists %s %s but the signed control says %s %s",
			ErrPackageRefused, errIndex, ref.Name, ref.Version, ctl.Package, ctl.Version)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, ref.SHA256) {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: %w: sha256 %s, the server lists %s (an older or substituted copy)",
			ErrPackageRefused, errIndex, got, ref.SHA256)
	}
	promoted, err := a.acceptMaturity(ctl, ref, now)
	if err != nil {
		return PackageState{}, rules.Rules{}, fmt.Errorf("%w: %w", ErrPackageRefused, err)
	}
	return PackageState{Name: ctl.Package, Version: ctl.Version, Filename: ref.Filename, SHA256: strings.ToLower(ref.SHA256),
		Maturity: ctl.Maturity, Promoted: promoted, VerifiedAt: now}, v.Rules, nil
}

// acceptMaturity says whether the host takes a package of this signed maturity: PROD
// always, the maturities of [global] maturities, and a package the server offers as
// promoted to PROD when its signed control allows promotion (promote_after_days) and that
// many days passed since its signature date. promoted reports the last case.
func (a *Agent) acceptMaturity(ctl pkg.Control, ref api.Package, now time.Time) (promoted bool, err error) {
	m := strings.ToUpper(ctl.Maturity)
	if m == pkg.MaturityProd || m == "" {
		return false, nil
	}
	for _, ok := range a.cfg.Global.Maturities {
		if strings.EqualFold(ok, m) {
			return false, nil
		}
	}
	takes := strings.Join(a.cfg.Global.Maturities, ", ")
	if ref.OfferedMaturity != pkg.MaturityProd {
		return false, fmt.Errorf("%w: signed %s, this host takes %s ([global] maturities of %s)", errMaturity, m, takes, a.cfg.Source)
	}
	if ctl.PromoteAfterDays <= 0 {
		return false, fmt.Errorf("%w: signed %s without promote_after_days, offered as PROD: the signer allowed no promotion "+
			"(this host takes %s; sign a PROD version to release it)", errMaturity, m, takes)
	}
	from := ctl.SignatureDate.Add(time.Duration(ctl.PromoteAfterDays) * 24 * time.Hour)
	if now.Before(from) {
		return false, fmt.Errorf("%w: signed %s, offered as PROD before %s (signed %s + promote_after_days %d)",
			errMaturity, m, from.UTC().Format(time.RFC3339), ctl.SignatureDate.UTC().Format(time.RFC3339), ctl.PromoteAfterDays)
	}
	return true, nil
}

// cleanPackages removes the local copies of packages no longer in force.
func (a *Agent) cleanPackages(inForce []PackageState) {
	entries, err := os.ReadDir(a.packagesDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".wapt") {
			continue
		}
		if !slices.ContainsFunc(inForce, func(p PackageState) bool { return p.Filename == e.Name() }) {
			if err := os.Remove(filepath.Join(a.packagesDir(), e.Name())); err != nil {
				a.log.Warn("remove an old rules package", slog.String("file", e.Name()), slog.Any("err", err))
			}
		}
	}
}

// loadTrust reads the trusted package certificates of [waptwua] trusted_certs.
func loadTrust(path, source string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pool, _, err := config.LoadCertPool("[waptwua] trusted_certs", path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return pool, nil
}

// GetPackage downloads a rules package from the package repository (repo_url: WAPT's
// layout, https://srv/wapt/<filename>).
func (c *Client) GetPackage(ctx context.Context, filename string) ([]byte, error) {
	if c.pkgRepo == "" {
		return nil, fmt.Errorf("no package repository URL: set [global] repo_url in wapt-get.ini")
	}
	u := c.pkgRepo + filename
	req, err := c.newRequest(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, unreachable(req, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(req, resp)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, pkg.DefaultMaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: transfer cut after %d bytes: %w", u, n, err)
	}
	if n > pkg.DefaultMaxSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes: not a rules package", u, pkg.DefaultMaxSize)
	}
	return buf.Bytes(), nil
}
