// Package updatebuild turns what an administrator has (an .msu, a .cab, a driver folder,
// a KB number to remove, installation media) into the spec of a signed update package
// (internal/pkg) and the list of payload files to publish next to it. The command line
// (waptserver packages build-*) and the console's wizard use it alike.
package updatebuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/openwua/waptwua/internal/msu"
	"github.com/openwua/waptwua/internal/pkg"
)

// UninstallWarning is shown when a kb-uninstall package is built (the seeds' warning).
const UninstallWarning = "warning: uninstalling a Windows update can be dangerous for the host; WAPT never forces it, this package will (test it on a PREPROD group first)"

// OOBWarning is shown when an .msu package is built.
const OOBWarning = "note: out-of-band updates may break your system; read the prerequisites of Microsoft's bulletin for this KB and test the package on a PREPROD group first"

// DefaultMinFreeBytes is the free space a feature upgrade requires by default (20 GiB).
const DefaultMinFreeBytes = 20 << 30

// Plan is a package ready to build: its spec (with the payload files hashed) and where
// each payload file comes from.
type Plan struct {
	Spec pkg.UpdateSpec
	// Sources maps each payload path to the local file it is copied from.
	Sources map[string]string
	// MSU is what was read from an .msu (build-msu only).
	MSU *msu.Info
	// Warning is a line to show the administrator, or "".
	Warning string
}

// Meta are the package attributes the administrator may give; empty Name and
// Description get defaults from the payload.
type Meta struct {
	Name, Version, Description, Maintainer, Maturity string
	TargetGroups                                     []string
	PromoteAfterDays, PromoteMinSuccessPct           int
	TimeoutSeconds                                   int
}

func (m Meta) spec(defName, defDesc string, a pkg.Action) pkg.UpdateSpec {
	if m.Name == "" {
		m.Name = defName
	}
	if m.Description == "" {
		m.Description = defDesc
	}
	if m.Version == "" {
		m.Version = "1-0"
	}
	a.TimeoutSeconds = m.TimeoutSeconds
	return pkg.UpdateSpec{
		Name: m.Name, Version: m.Version, Description: m.Description, Maintainer: m.Maintainer,
		Maturity: m.Maturity, TargetGroups: m.TargetGroups,
		PromoteAfterDays: m.PromoteAfterDays, PromoteMinSuccessPct: m.PromoteMinSuccessPct,
		Action: a,
	}
}

// check builds the spec once, so that a bad attribute is reported now.
func (p *Plan) check() (*Plan, error) {
	if _, err := pkg.BuildUpdate(p.Spec); err != nil {
		return nil, err
	}
	return p, nil
}

// FromMSU reads the .msu at file with the project's cabinet reader and plans a package
// that installs it with wusa. A file that is not an update is refused with one line.
func FromMSU(file string, m Meta) (*Plan, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", file)
	}
	info, err := msu.Read(f, st.Size(), filepath.Base(file))
	if err != nil {
		return nil, err
	}
	rel := payloadName(filepath.Base(file), ".msu")
	pf, err := pkg.HashPayloadFile(file, rel)
	if err != nil {
		return nil, err
	}
	desc := "KB" + info.KB + " (" + info.Architecture + ")"
	if info.AppliesTo != "" {
		desc += " for " + oneLine(info.AppliesTo)
	}
	a := pkg.Action{Kind: pkg.KindMSU, KB: info.KB, Architecture: info.Architecture, Target: rel, Files: []pkg.PayloadFile{pf}}
	p := &Plan{
		Spec:    m.spec("waptwua-kb"+info.KB+"-"+info.Architecture, desc, a),
		Sources: map[string]string{rel: file},
		MSU:     info,
		Warning: OOBWarning,
	}
	return p.check()
}

// FromCab plans a package that adds the .cab at file with DISM. kb (optional) is the
// KB it carries, used to tell the scan it is installed.
func FromCab(file, kb string, m Meta) (*Plan, error) {
	if !strings.EqualFold(filepath.Ext(file), ".cab") {
		return nil, fmt.Errorf("%s: not a .cab file (build-cab packages a servicing .cab; for an .msu use build-msu)", file)
	}
	if kb != "" {
		var err error
		if kb, err = pkg.NormKB(kb); err != nil {
			return nil, err
		}
	}
	rel := payloadName(filepath.Base(file), ".cab")
	pf, err := pkg.HashPayloadFile(file, rel)
	if err != nil {
		return nil, err
	}
	name := "waptwua-cab-" + strings.ToLower(strings.TrimSuffix(rel, ".cab"))
	if kb != "" {
		name = "waptwua-kb" + kb + "-cab"
	}
	a := pkg.Action{Kind: pkg.KindCab, KB: kb, Target: rel, Files: []pkg.PayloadFile{pf}}
	p := &Plan{Spec: m.spec(cleanName(name), "Servicing package "+rel, a), Sources: map[string]string{rel: file}}
	return p.check()
}

// FromDriverDir plans a package that adds the driver of dir (its .inf, .sys, .cat and
// other files) with pnputil. inf names the .inf when the folder has several.
func FromDriverDir(dir, inf string, m Meta) (*Plan, error) {
	files, sources, err := hashDir(dir)
	if err != nil {
		return nil, err
	}
	var infs []string
	for _, f := range files {
		if strings.EqualFold(filepath.Ext(f.Path), ".inf") {
			infs = append(infs, f.Path)
		}
	}
	switch {
	case inf != "":
		found := false
		for _, i := range infs {
			if strings.EqualFold(i, filepath.ToSlash(inf)) {
				inf, found = i, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: --inf %s is not an .inf file of the folder (it has: %s)", dir, inf, strings.Join(infs, ", "))
		}
	case len(infs) == 1:
		inf = infs[0]
	case len(infs) == 0:
		return nil, fmt.Errorf("%s: no .inf file: a driver folder holds the driver's .inf, .sys and .cat files", dir)
	default:
		return nil, fmt.Errorf("%s: %d .inf files (%s): name the one to install with --inf", dir, len(infs), strings.Join(infs, ", "))
	}
	base := strings.TrimSuffix(filepath.Base(inf), filepath.Ext(inf))
	a := pkg.Action{Kind: pkg.KindDriver, Target: inf, Files: files}
	p := &Plan{Spec: m.spec(cleanName("waptwua-driver-"+strings.ToLower(base)), "Driver "+inf, a), Sources: sources}
	return p.check()
}

// KBUninstall plans a package that removes KB kb with wusa /uninstall.
func KBUninstall(kb string, m Meta) (*Plan, error) {
	kb, err := pkg.NormKB(kb)
	if err != nil {
		return nil, err
	}
	a := pkg.Action{Kind: pkg.KindKBUninstall, KB: kb}
	p := &Plan{Spec: m.spec("waptwua-uninstall-kb"+kb, "Uninstall KB"+kb, a), Sources: map[string]string{}, Warning: UninstallWarning}
	return p.check()
}

// FromUpgradeDir plans a feature upgrade from the installation media in dir (the content
// of the ISO, setup.exe at its root). minFree is the free space to require (0: 20 GiB).
func FromUpgradeDir(dir string, minFree int64, m Meta) (*Plan, error) {
	if _, err := os.Stat(filepath.Join(dir, "setup.exe")); err != nil {
		return nil, fmt.Errorf("%s: no setup.exe at the root: give the folder holding the content of the Windows installation media", dir)
	}
	files, sources, err := hashDir(dir)
	if err != nil {
		return nil, err
	}
	if minFree == 0 {
		minFree = DefaultMinFreeBytes
	}
	a := pkg.Action{Kind: pkg.KindFeatureUpgrade, Target: "setup.exe", MinFreeBytes: minFree, Files: files}
	for _, f := range files {
		if strings.EqualFold(f.Path, "setup.exe") {
			a.Target = f.Path
		}
	}
	p := &Plan{Spec: m.spec("waptwua-feature-upgrade", "Windows feature upgrade from "+oneLine(filepath.Base(filepath.Clean(dir))), a), Sources: sources}
	return p.check()
}

func hashDir(dir string) ([]pkg.PayloadFile, map[string]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, err
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("%s: not a folder", dir)
	}
	files, err := pkg.HashPayloadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%s: the folder is empty", dir)
	}
	sources := make(map[string]string, len(files))
	for _, f := range files {
		sources[f.Path] = filepath.Join(dir, filepath.FromSlash(f.Path))
	}
	return files, sources, nil
}

// payloadName keeps a file's base name when it is a plain name, else a safe one.
func payloadName(base, ext string) string {
	ok := base != "" && len(base) <= 200
	for _, r := range base {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			ok = false
		}
	}
	if !ok || strings.HasPrefix(base, ".") {
		return "update" + ext
	}
	return base
}

func cleanName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 100 {
		out = out[:100]
	}
	return out
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// CopyPayload copies every payload file of p into dir (created), as
// dir/<payload path>, refusing to overwrite an existing file.
func CopyPayload(p *Plan, dir string) error {
	for _, f := range p.Spec.Action.Files {
		src, ok := p.Sources[f.Path]
		if !ok {
			return fmt.Errorf("payload %s: no source file", f.Path)
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, dst); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists (remove it, or write the package elsewhere)", dst)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := out.ReadFrom(in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
