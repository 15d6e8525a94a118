package pkg

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Update packages carry what the scan catalog lacks (out-of-band .msu updates, .cab
// packages, drivers, the uninstall of a KB, feature upgrades) to the agents. They use
// the signed layout of rules packages with WAPT/actions.json instead of the rules file:
//
//	WAPT/control          section waptwua-update (signed like a rules package's)
//	WAPT/actions.json     the Action: one kind of a closed set, its target and files
//	WAPT/certificate.crt, WAPT/manifest.sha256, WAPT/signature.sha256 as for rules
//
// The payload files (the .msu, a driver folder, installation media: up to many GB) are
// not in the zip: the signed manifest lists each as payload/<path> with its SHA-256,
// and actions.json gives its size. They are fetched next to the package and checked with
// CheckPayloadFile before use.

// SectionUpdate is the control section of update packages.
const SectionUpdate = "waptwua-update"

// ActionsName is the file of an update package that says what to run.
const ActionsName = "WAPT/actions.json"

// PayloadPrefix starts the manifest names of payload files (kept outside the zip).
const PayloadPrefix = "payload/"

// Bounds of update packages.
const (
	MaxPayloadFiles    = 8192
	MaxPayloadFileSize = 64 << 30 // one file of installation media (install.wim is a few GB)
	MaxTimeout         = 24 * time.Hour
)

// Kind is what an update package does; the set is closed (internal/action maps each
// kind to its fixed command line and exit-code meaning).
type Kind string

// The kinds of update packages.
const (
	KindMSU            Kind = "msu"             // wusa.exe FILE.msu /quiet /norestart
	KindCab            Kind = "cab"             // dism.exe /online /add-package /packagepath:FILE.cab
	KindDriver         Kind = "driver"          // pnputil.exe /add-driver FILE.inf /install
	KindKBUninstall    Kind = "kb-uninstall"    // wusa.exe /uninstall /kb:N /quiet /norestart
	KindFeatureUpgrade Kind = "feature-upgrade" // setup.exe /auto upgrade /quiet /noreboot ...
)

// Kinds lists every kind, in a stable order.
func Kinds() []Kind {
	return []Kind{KindMSU, KindCab, KindDriver, KindKBUninstall, KindFeatureUpgrade}
}

// PayloadFile is one payload file: its path relative to the payload folder (slash
// separated), its size and its lower-case hex SHA-256.
type PayloadFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"-"` // from the signed manifest
}

// Action is the content of WAPT/actions.json.
type Action struct {
	Kind Kind `json:"kind"`
	// KB is the KB number (digits) the action installs or removes: required for msu and
	// kb-uninstall, optional for cab.
	KB string `json:"kb,omitempty"`
	// Architecture (amd64, x86, arm64) the payload is for; empty: any.
	Architecture string `json:"architecture,omitempty"`
	// Target is the payload file the command runs on: the .msu, the .cab, the driver's
	// .inf, or setup.exe of the installation media. Empty for kb-uninstall.
	Target string `json:"target,omitempty"`
	// TimeoutSeconds overrides the kind's default timeout (0: the default).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// MinFreeBytes is the free space a feature upgrade needs on the system drive.
	MinFreeBytes int64 `json:"min_free_bytes,omitempty"`
	// Files are the payload files (every file of a driver folder or of the media).
	Files []PayloadFile `json:"files"`
}

var kbDigits = regexp.MustCompile(`^[0-9]{4,10}$`)

// windowsDevice matches the names Windows opens as devices whatever the extension.
var windowsDevice = regexp.MustCompile(`(?i)^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$`)

// checkWindowsPath refuses what the agent could not write faithfully on Windows: device
// names, segments ending with a dot or a space (Windows drops them), and the characters
// Windows forbids in file names.
func checkWindowsPath(p string) error {
	for _, seg := range strings.Split(p, "/") {
		switch {
		case windowsDevice.MatchString(strings.TrimRight(seg, ". ")):
			return fmt.Errorf("%q is a Windows device name", seg)
		case strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " "):
			return fmt.Errorf("%q ends with a dot or a space, which Windows drops", seg)
		case strings.ContainsAny(seg, `<>"|?*`):
			return fmt.Errorf("%q holds a character Windows forbids in file names", seg)
		}
	}
	return nil
}

// NormKB returns the digits of a KB number written "5034441", "KB5034441" or "kb5034441".
func NormKB(s string) (string, error) {
	d := strings.TrimSpace(s)
	if len(d) > 2 && strings.EqualFold(d[:2], "kb") {
		d = d[2:]
	}
	if !kbDigits.MatchString(d) {
		return "", fmt.Errorf("KB %s: want 4 to 10 digits, e.g. 5034441 or KB5034441", quoteForError(s))
	}
	return d, nil
}

// Check validates a: a known kind with what it needs, safe unique payload paths with
// sizes and SHA-256s, the target among them.
func (a Action) Check() error {
	switch a.Kind {
	case KindMSU, KindCab, KindDriver, KindKBUninstall, KindFeatureUpgrade:
	default:
		return fmt.Errorf("kind %s: want one of msu, cab, driver, kb-uninstall, feature-upgrade", quoteForError(string(a.Kind)))
	}
	if a.KB != "" {
		if _, err := NormKB(a.KB); err != nil || strings.HasPrefix(strings.ToLower(a.KB), "kb") {
			return fmt.Errorf("kb %s: want the KB's digits only", quoteForError(a.KB))
		}
	}
	if (a.Kind == KindMSU || a.Kind == KindKBUninstall) && a.KB == "" {
		return fmt.Errorf("a %s action needs its KB number", a.Kind)
	}
	switch a.Architecture {
	case "", "amd64", "x86", "arm64":
	default:
		return fmt.Errorf("architecture %s: want amd64, x86, arm64 or nothing", quoteForError(a.Architecture))
	}
	if a.TimeoutSeconds < 0 || time.Duration(a.TimeoutSeconds)*time.Second > MaxTimeout {
		return fmt.Errorf("timeout %d s: want 0 (the kind's default) to %d", a.TimeoutSeconds, int(MaxTimeout/time.Second))
	}
	if a.MinFreeBytes < 0 || (a.MinFreeBytes > 0 && a.Kind != KindFeatureUpgrade) {
		return fmt.Errorf("min_free_bytes is for feature-upgrade actions only (and not negative)")
	}
	if len(a.Files) > MaxPayloadFiles {
		return fmt.Errorf("%d payload files, at most %d", len(a.Files), MaxPayloadFiles)
	}
	seen := map[string]bool{}
	for _, f := range a.Files {
		if err := checkEntryName(f.Path); err != nil || strings.HasSuffix(f.Path, "/") {
			return fmt.Errorf("payload file %s: not a plain relative path (%v)", quoteForError(f.Path), err)
		}
		if err := checkWindowsPath(f.Path); err != nil {
			return fmt.Errorf("payload file %s: %v", quoteForError(f.Path), err)
		}
		k := strings.ToLower(f.Path)
		if seen[k] {
			return fmt.Errorf("payload file %s is listed twice (names are compared ignoring case, as Windows does)", f.Path)
		}
		seen[k] = true
		if f.Size < 0 || f.Size > MaxPayloadFileSize {
			return fmt.Errorf("payload file %s: size %d out of range", f.Path, f.Size)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("payload file %s: %s is not a hex SHA-256", f.Path, quoteForError(f.SHA256))
		}
	}
	if a.Kind == KindKBUninstall {
		if a.Target != "" || len(a.Files) > 0 {
			return errors.New("a kb-uninstall action has no payload")
		}
		return nil
	}
	if a.Target == "" || !seen[strings.ToLower(a.Target)] {
		return fmt.Errorf("target %s is not one of the payload files", quoteForError(a.Target))
	}
	ext := strings.ToLower(path.Ext(a.Target))
	want := map[Kind]string{KindMSU: ".msu", KindCab: ".cab", KindDriver: ".inf", KindFeatureUpgrade: ".exe"}[a.Kind]
	if ext != want {
		return fmt.Errorf("target %s of a %s action: want a %s file", a.Target, a.Kind, want)
	}
	if a.Kind == KindFeatureUpgrade {
		if !strings.EqualFold(a.Target, "setup.exe") {
			return fmt.Errorf("target %s: a feature upgrade runs setup.exe at the root of the media", a.Target)
		}
		if a.MinFreeBytes == 0 {
			return errors.New("a feature-upgrade action needs min_free_bytes (the free space setup needs)")
		}
	}
	return nil
}

// UpdateSpec describes an update package to build.
type UpdateSpec struct {
	Name, Version, Description, Maintainer, Maturity string
	TargetGroups                                     []string
	PromoteAfterDays, PromoteMinSuccessPct           int
	Action                                           Action // Files with their SHA256 (HashPayloadDir)
}

// UpdatePackage is a built, unsigned update package: SignUpdate makes the .wapt zip.
type UpdatePackage struct {
	Control     Control
	Action      Action
	ActionsJSON []byte // the exact content of WAPT/actions.json
}

// BuildUpdate checks spec and makes the unsigned package. It does no I/O.
func BuildUpdate(spec UpdateSpec) (*UpdatePackage, error) {
	rp, err := Build(Spec{
		Name: spec.Name, Version: spec.Version, Description: spec.Description,
		Maintainer: spec.Maintainer, Maturity: spec.Maturity, TargetGroups: spec.TargetGroups,
		PromoteAfterDays: spec.PromoteAfterDays, PromoteMinSuccessPct: spec.PromoteMinSuccessPct,
	})
	if err != nil {
		return nil, err
	}
	a := spec.Action
	a.Files = append([]PayloadFile(nil), a.Files...)
	sort.Slice(a.Files, func(i, j int) bool { return a.Files[i].Path < a.Files[j].Path })
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("action: %w", err)
	}
	js, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	c := rp.Control
	c.Section = SectionUpdate
	return &UpdatePackage{Control: c, Action: a, ActionsJSON: append(js, '\n')}, nil
}

// SignUpdate signs p as Sign signs a rules package; the manifest lists the payload files
// as payload/<path> with their SHA-256.
func SignUpdate(p *UpdatePackage, key crypto.Signer, chain []*x509.Certificate, now time.Time) ([]byte, error) {
	if p == nil || p.ActionsJSON == nil {
		return nil, errors.New("sign: the update package has no actions file (make it with pkg.BuildUpdate)")
	}
	ext := make([][2]string, 0, len(p.Action.Files))
	for _, f := range p.Action.Files {
		ext = append(ext, [2]string{PayloadPrefix + f.Path, f.SHA256})
	}
	return signPackage(p.Control, []namedFile{{ActionsName, p.ActionsJSON}}, ext, key, chain, now)
}

// VerifiedUpdate is an update package that passed every check of VerifyUpdate. Its
// payload files are still to be checked (CheckPayloadFile) when they are fetched.
type VerifiedUpdate struct {
	Control Control
	Action  Action // Files carry the SHA-256 of the signed manifest
	Signer  *x509.Certificate
	Chain   []*x509.Certificate
	Files   []string // the covered files of the zip
}

// VerifyUpdate checks an update package zip as Verify checks a rules package (signature,
// trusted chain, manifest coverage, signed control, section waptwua-update), then that
// actions.json is a valid Action whose payload files are exactly the manifest's
// payload/ entries. Each failure wraps its own sentinel error.
func VerifyUpdate(zipBytes []byte, opts VerifyOptions) (*VerifiedUpdate, error) {
	v, err := verifyUpdate(zipBytes, opts)
	if err != nil {
		return nil, updateError{err}
	}
	return v, nil
}

// updateError words an update package's refusal as one (ErrMalformed says "malformed
// rules package"); errors.Is still finds the sentinels.
type updateError struct{ err error }

func (e updateError) Error() string {
	return strings.Replace(e.err.Error(), ErrMalformed.Error(), "malformed update package", 1)
}

func (e updateError) Unwrap() error { return e.err }

func verifyUpdate(zipBytes []byte, opts VerifyOptions) (*VerifiedUpdate, error) {
	env, err := openSigned(zipBytes, opts, SectionUpdate, []string{ControlName, ActionsName})
	if err != nil {
		return nil, err
	}
	a, err := parseActions(env.a.files[ActionsName])
	if err != nil {
		return nil, err
	}
	digests := map[string]string{}
	for _, e := range env.payload {
		digests[strings.TrimPrefix(e.name, PayloadPrefix)] = e.digest
	}
	if len(digests) != len(a.Files) {
		return nil, fmt.Errorf("%s: %w: it lists %d payload files, the signed manifest %d (build the package again)", ActionsName, ErrMalformed, len(a.Files), len(digests))
	}
	for i, f := range a.Files {
		d, ok := digests[f.Path]
		if !ok {
			return nil, fmt.Errorf("%s: %w: payload file %s is not in the signed manifest (build the package again)", ActionsName, ErrMalformed, quoteForError(f.Path))
		}
		a.Files[i].SHA256 = d
	}
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", ActionsName, ErrMalformed, err)
	}
	return &VerifiedUpdate{Control: env.control, Action: a, Signer: env.signer, Chain: env.chain, Files: env.files}, nil
}

func parseActions(b []byte) (Action, error) {
	var a Action
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Action{}, fmt.Errorf("%s: %w: %v", ActionsName, ErrMalformed, err)
	}
	if dec.More() {
		return Action{}, fmt.Errorf("%s: %w: data after the JSON object", ActionsName, ErrMalformed)
	}
	if !slices.Contains(Kinds(), a.Kind) {
		return Action{}, fmt.Errorf("%s: %w: kind %s is not one of msu, cab, driver, kb-uninstall, feature-upgrade (the agent runs nothing else)", ActionsName, ErrMalformed, quoteForError(string(a.Kind)))
	}
	return a, nil
}

// ErrPayload is wrapped by CheckPayloadFile's errors about the content of a payload file
// (it also wraps ErrTampered when the SHA-256 differs).
var ErrPayload = errors.New("payload file does not match the signed package")

// CheckPayloadFile reads r to its end, at most f.Size+1 bytes, and checks its size and
// SHA-256 against f.
func CheckPayloadFile(f PayloadFile, r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, f.Size+1))
	if err != nil {
		return fmt.Errorf("payload %s: %w", f.Path, err)
	}
	if n != f.Size {
		return fmt.Errorf("payload %s: %w: %d bytes, the signed package says %d (fetch it again)", f.Path, ErrPayload, n, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("payload %s: %w: %w: its SHA-256 is %s, the signed manifest says %s (fetch it again; if it persists, the repository's copy was changed)", f.Path, ErrPayload, ErrTampered, got, f.SHA256)
	}
	return nil
}

// CheckPayloadDir checks every payload file of a under dir (no symbolic link out of it is
// followed).
func CheckPayloadDir(dir string, a Action) error {
	if len(a.Files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("payload folder: %w", err)
	}
	defer root.Close()
	for _, f := range a.Files {
		fh, err := root.Open(f.Path)
		if err != nil {
			return fmt.Errorf("payload %s: %w", f.Path, err)
		}
		err = CheckPayloadFile(f, fh)
		fh.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// HashPayloadDir lists every regular file under dir as payload files with their sizes
// and SHA-256s. Symbolic links and other special files are refused.
func HashPayloadDir(dir string) ([]PayloadFile, error) {
	var out []PayloadFile
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (links and devices are not packaged)", p)
		}
		if len(out) == MaxPayloadFiles {
			return fmt.Errorf("more than %d files", MaxPayloadFiles)
		}
		f, err := HashPayloadFile(dir+string(os.PathSeparator)+p, p)
		if err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payload folder %s: %w", dir, err)
	}
	return out, nil
}

// HashPayloadFile makes the PayloadFile of the file at file, packaged as rel.
func HashPayloadFile(file, rel string) (PayloadFile, error) {
	fh, err := os.Open(file)
	if err != nil {
		return PayloadFile{}, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return PayloadFile{}, fmt.Errorf("%s: %w", file, err)
	}
	return PayloadFile{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
