package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/msu"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/updatebuild"
)

// The update package wizard (/ui/packages/msu, issue 15): an administrator uploads an
// .msu, the console reads it with the project's cabinet reader (updatebuild.FromMSU) and
// shows what it read; "Build" then signs the package with the server-held key
// (Deps.PackageSigning, as the rules packages page), stores it through the application
// layer (IngestPackage) and puts its payload in place with PutPayloadFile (the checks of
// the payload upload route). Without a server key the page shows the build-msu command
// to run on the administrator's workstation instead.
//
// The upload is the one console POST the auth middleware neither caps at maxFormBytes
// nor parses: it is streamed to a temporary file, capped at maxMSUBytes, and its CSRF
// token is read from the X-CSRF-Token header or the multipart field "csrf", which must
// come before the file.

const (
	// maxMSUBytes caps an uploaded .msu (cumulative updates are a few GiB).
	maxMSUBytes = 16 << 30
	// msuUploadPrefix names the temporary folders of uploads (os.TempDir()).
	msuUploadPrefix = "waptwua-msu-"
	// msuUploadTTL is how long an upload not built is kept.
	msuUploadTTL = 24 * time.Hour
)

// msuRead is what the wizard read from an uploaded .msu.
type msuRead struct {
	Upload   string // upload id, for the build form
	File     string
	Info     *msu.Info
	Plan     *updatebuild.Plan
	Filename string // NAME_VERSION.wapt
	Command  string // build-msu command, without a server key
	Publish  string
}

type msuData struct {
	CanBuild bool // the application manages packages and keeps payloads
	CanSign  bool
	SignedBy string
	Error    string
	Read     *msuRead
	Form     packageForm
	Maturity []string
}

func (c *Console) msuData() msuData {
	d := msuData{CanBuild: c.deps.App.HasPackages(), CanSign: c.deps.PackageSigning != nil,
		Maturity: []string{store.MaturityProd, store.MaturityPreprod}, Form: packageForm{Version: "1-0", Maturity: store.MaturityProd}}
	if s := c.deps.PackageSigning; s != nil && len(s.Chain) > 0 {
		d.SignedBy = s.Chain[0].Subject.CommonName
	}
	return d
}

func (c *Console) renderMSU(w http.ResponseWriter, r *http.Request, status int, d msuData) {
	c.render(w, r, status, "msu", c.newPage(w, r, "packages", "New update package from an .msu", d))
}

func (c *Console) handleMSUForm(w http.ResponseWriter, r *http.Request) {
	c.renderMSU(w, r, http.StatusOK, c.msuData())
}

// msuError shows the wizard again with a one-line message (400).
func (c *Console) msuError(w http.ResponseWriter, r *http.Request, d msuData, msg string) {
	d.Error = msg
	c.renderMSU(w, r, http.StatusBadRequest, d)
}

// handleMSUUpload streams the uploaded .msu to a temporary folder and shows what it holds.
func (c *Console) handleMSUUpload(w http.ResponseWriter, r *http.Request) {
	d := c.msuData()
	r.Body = http.MaxBytesReader(w, r.Body, c.msuMax+1<<20)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", "Upload the .msu with the form (multipart/form-data).")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", "The upload could not be read.")
		return
	}
	got := r.Header.Get("X-CSRF-Token")
	part, err := mr.NextPart()
	if err == nil && part.FormName() == "csrf" && got == "" {
		b, _ := io.ReadAll(io.LimitReader(part, 256))
		got = string(b)
		part, err = mr.NextPart()
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfOf(r))) != 1 {
		c.errorPage(w, r, http.StatusForbidden, "Form expired",
			"The form's security token is missing or stale (the session changed). Reload the page and try again.")
		return
	}
	if err != nil || part.FormName() != "msu" || part.FileName() == "" {
		c.msuError(w, r, d, "Choose an .msu file to upload.")
		return
	}
	name := filepath.Base(filepath.FromSlash(strings.ReplaceAll(part.FileName(), `\`, "/")))
	if !strings.EqualFold(filepath.Ext(name), ".msu") || name != clean(name) || len(name) > 200 {
		c.msuError(w, r, d, fmt.Sprintf("%s: not an .msu file name (an update from the Microsoft Update Catalog ends in .msu).", clean(app.Truncate(name, 200))))
		return
	}
	c.removeOldUploads()
	id, dir, err := newUploadDir()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	file := filepath.Join(dir, name)
	n, err := saveUpload(file, part, c.msuMax)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || n > c.msuMax {
		_ = os.RemoveAll(dir)
		c.msuError(w, r, d, fmt.Sprintf("%s is larger than %d MiB: build it with waptserver packages build-msu instead.", name, c.msuMax>>20))
		return
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		c.fail(w, r, fmt.Errorf("save upload %s: %w", name, err))
		return
	}
	read, err := c.readMSU(r, id, file, updatebuild.Meta{Version: "1-0", Maturity: store.MaturityProd})
	if err != nil {
		_ = os.RemoveAll(dir)
		c.msuError(w, r, d, err.Error())
		return
	}
	d.Read = read
	d.Form.Name = read.Plan.Spec.Name
	c.renderMSU(w, r, http.StatusOK, d)
}

// readMSU plans the package from the upload; the error is one line for the user.
func (c *Console) readMSU(r *http.Request, id, file string, m updatebuild.Meta) (*msuRead, error) {
	p, err := updatebuild.FromMSU(file, m)
	if errors.Is(err, msu.ErrNotUpdate) {
		return nil, fmt.Errorf("%s", oneLineMsg(err.Error()))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", filepath.Base(file), oneLineMsg(err.Error()))
	}
	s := p.Spec
	fn := s.Name + "_" + s.Version + ".wapt"
	cmd := []string{"waptserver packages build-msu", shellQuote(filepath.Base(file)), "--name", shellQuote(s.Name), "--version", shellQuote(s.Version),
		"--maturity", shellQuote(s.Maturity), "--key KEY.pem --cert CERT.pem -o out"}
	return &msuRead{Upload: id, File: filepath.Base(file), Info: p.MSU, Plan: p, Filename: fn, Command: strings.Join(cmd, " "),
		Publish: "waptserver packages publish " + shellQuote("out/"+fn) + " --server " + shellQuote(serverURL(r)) + " --user " + shellQuote(userOf(r).Name)}, nil
}

// handleMSUBuild builds, signs and stores the package of an upload, and puts its
// payload in place.
func (c *Console) handleMSUBuild(w http.ResponseWriter, r *http.Request) {
	d := c.msuData()
	id := r.PostFormValue("upload")
	dir, file, err := uploadFile(id)
	if err != nil {
		c.msuError(w, r, d, "The upload is gone (built already, or older than a day): upload the .msu again.")
		return
	}
	d.Form = packageForm{Name: strings.TrimSpace(r.PostFormValue("name")), Version: strings.TrimSpace(r.PostFormValue("version")),
		Maturity: strings.ToUpper(strings.TrimSpace(r.PostFormValue("maturity"))), TargetGroups: strings.TrimSpace(r.PostFormValue("target_groups"))}
	if !utf8Valid(d.Form.Name, d.Form.Version, d.Form.TargetGroups) {
		c.msuError(w, r, d, "The form holds text that is not valid UTF-8.")
		return
	}
	read, err := c.readMSU(r, id, file, updatebuild.Meta{Name: d.Form.Name, Version: d.Form.Version, Maturity: d.Form.Maturity,
		TargetGroups: splitLines(d.Form.TargetGroups)})
	if err != nil {
		c.msuError(w, r, d, capitalize(strings.TrimSuffix(err.Error(), "."))+".")
		return
	}
	d.Read = read
	sig := c.deps.PackageSigning
	if sig == nil || !d.CanBuild {
		c.renderMSU(w, r, http.StatusOK, d) // shows the command
		return
	}
	p, err := pkg.BuildUpdate(read.Plan.Spec)
	if err != nil {
		c.msuError(w, r, d, capitalize(strings.TrimSuffix(err.Error(), "."))+".")
		return
	}
	data, err := pkg.SignUpdate(p, sig.Key, sig.Chain, c.now())
	if err != nil {
		c.msuError(w, r, d, fmt.Sprintf("The server's signing key (%s) could not sign: %v", sig.Source, err))
		return
	}
	stored, _, err := c.deps.App.IngestPackage(r.Context(), data, 0)
	if err != nil {
		var ae *app.Error
		if errors.As(err, &ae) && ae.Kind != app.Internal {
			c.msuError(w, r, d, capitalize(ae.Msg)+".")
			return
		}
		c.fail(w, r, err)
		return
	}
	for _, f := range read.Plan.Spec.Action.Files {
		if err := c.putPayload(r, stored, f.Path, read.Plan.Sources[f.Path]); err != nil {
			var ae *app.Error
			if errors.As(err, &ae) && ae.Kind != app.Internal {
				c.msuError(w, r, d, fmt.Sprintf("Package %s %s stored, but its payload was refused: %s.", stored.Name, stored.Version, ae.Msg))
				return
			}
			c.fail(w, r, err)
			return
		}
	}
	_ = os.RemoveAll(dir)
	c.redirectWith(w, r, Prefix+"packages#package-list", "ok", fmt.Sprintf("Update package %s version %s (KB%s) signed by %s and stored with its payload. Assign it to a group or a host to deliver it.",
		stored.Name, stored.Version, read.Info.KB, stored.Signer))
}

func (c *Console) putPayload(r *http.Request, p store.RulesPackage, path, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = c.deps.App.PutPayloadFile(r.Context(), p.Name, p.Version, path, f)
	return err
}

func saveUpload(file string, src io.Reader, limit int64) (int64, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(src, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// newUploadDir makes the private temporary folder of a new upload.
func newUploadDir() (id, dir string, err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	id = hex.EncodeToString(b)
	dir = filepath.Join(os.TempDir(), msuUploadPrefix+id)
	return id, dir, os.Mkdir(dir, 0o700)
}

// uploadFile finds the .msu of upload id.
func uploadFile(id string) (dir, file string, err error) {
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		return "", "", errors.New("bad upload id")
	}
	dir = filepath.Join(os.TempDir(), msuUploadPrefix+id)
	es, err := os.ReadDir(dir)
	if err != nil {
		return "", "", err
	}
	for _, e := range es {
		if e.Type().IsRegular() && strings.EqualFold(filepath.Ext(e.Name()), ".msu") {
			return dir, filepath.Join(dir, e.Name()), nil
		}
	}
	return "", "", errors.New("no .msu in upload")
}

// removeOldUploads deletes uploads never built.
func (c *Console) removeOldUploads() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), msuUploadPrefix+"*"))
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() && c.now().Sub(fi.ModTime()) > msuUploadTTL {
			_ = os.RemoveAll(d)
		}
	}
}

// oneLineMsg keeps the first line of s.
func oneLineMsg(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}
