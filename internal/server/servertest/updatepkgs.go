package servertest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
)

// msuPayload is the payload of the suite's update package (its bytes do not matter to
// the server: only the signed SHA-256 and size).
var msuPayload = bytes.Repeat([]byte("MSCF fake msu payload "), 500)

func (s testSigner) signUpdate(t *testing.T, spec pkg.UpdateSpec, at time.Time) []byte {
	t.Helper()
	p, err := pkg.BuildUpdate(spec)
	if err != nil {
		t.Fatal(err)
	}
	z, err := pkg.SignUpdate(p, s.key, []*x509.Certificate{s.cert}, at)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func msuSpec(name, version, maturity string, groups ...string) pkg.UpdateSpec {
	sum := sha256.Sum256(msuPayload)
	return pkg.UpdateSpec{Name: name, Version: version, Description: "KB5034441 (amd64)", Maturity: maturity, TargetGroups: groups,
		Action: pkg.Action{Kind: pkg.KindMSU, KB: "5034441", Architecture: "amd64", Target: "kb5034441.msu",
			Files: []pkg.PayloadFile{{Path: "kb5034441.msu", Size: int64(len(msuPayload)), SHA256: hex.EncodeToString(sum[:])}}}}
}

// rewriteZip copies a package, replacing (or, with nil, dropping) the named files.
func rewriteZip(t *testing.T, z []byte, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if nb, ok := files[f.Name]; ok {
			if nb == nil {
				continue
			}
			b = nb
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes()
}

func (e *Env) rulesAnswer(uuid, cred string) api.Rules {
	e.T.Helper()
	r := e.Do("GET", HostPath(api.PathRules, uuid), Bearer(cred), nil)
	Want(e.T, r, http.StatusOK, "rules of "+uuid)
	var rs api.Rules
	r.JSON(e.T, &rs)
	return rs
}

func (e *Env) putPayload(name, version, file string, data []byte, auth Auth) Response {
	e.T.Helper()
	return do(e.T, e.HTTP.URL, "PUT", server.AdminPrefix+"/packages/"+name+"/"+version+"/payload/"+file, auth, data,
		http.Header{"Content-Type": {"application/octet-stream"}})
}

type payloadOut struct {
	Complete bool `json:"complete"`
	Files    []struct {
		Path    string `json:"path"`
		Size    int64  `json:"size"`
		Present bool   `json:"present"`
	} `json:"files"`
}

// testUpdatePackages: an update package is uploaded like a rules package, its payload
// file apart (streamed to the repository folder, checked against the signed manifest);
// it is offered to agents, apart from the rules packages and with the same targeting,
// only once its payload is complete; its payload is served with Range; hosts report
// its outcome. Tampering (a payload byte, the action kind, no signature) is refused
// with pkg's reason.
func testUpdatePackages(t *testing.T, open Opener) {
	now := time.Now().UTC().Truncate(time.Second)
	sg := newTestSigner(t, now)
	pool := x509.NewCertPool()
	pool.AddCert(sg.cert)
	e := NewEnv(t, open, server.WithPackageRoots(pool, "suite.pem"))
	signed := now.Add(-time.Hour)
	z := sg.signUpdate(t, msuSpec("kb5034441", "1", pkg.MaturityProd, "lab"), signed)
	pre := sg.signUpdate(t, msuSpec("kb-pre", "1", pkg.MaturityPreprod, "lab"), signed)
	const payloadPath = "/packages/kb5034441/1/payload"

	// Tampering, refused with pkg's reason.
	actions := func(z []byte) []byte {
		zr, _ := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		for _, f := range zr.File {
			if f.Name == pkg.ActionsName {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				return b
			}
		}
		t.Fatal("no actions.json")
		return nil
	}
	kindChanged := rewriteZip(t, z, map[string][]byte{pkg.ActionsName: bytes.Replace(actions(z), []byte(`"msu"`), []byte(`"cab"`), 1)})
	for _, c := range []struct {
		what string
		data []byte
		want string
	}{
		{"action kind changed", kindChanged, pkg.ActionsName},
		{"unsigned", rewriteZip(t, z, map[string][]byte{pkg.SignatureName: nil}), "sign the package"},
	} {
		r := e.upload(c.data, Admin, "")
		Want(t, r, http.StatusUnprocessableEntity, c.what)
		if msg := r.Error(t).Error; !strings.HasPrefix(msg, "package refused: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: refusal %q", c.what, msg)
		}
	}

	// Upload: the same authorisation as rules packages.
	Want(t, e.upload(z, nil, ""), http.StatusUnauthorized, "anonymous upload")
	Want(t, e.upload(z, Viewer, ""), http.StatusForbidden, "read-only upload")
	r := e.upload(z, Admin, "")
	Want(t, r, http.StatusCreated, "upload update package")
	var up struct {
		pkgOut
		Kind            string          `json:"kind"`
		Actions         json.RawMessage `json:"actions"`
		PayloadComplete bool            `json:"payload_complete"`
	}
	r.JSON(t, &up)
	if up.Kind != "update" || up.PayloadComplete || !up.Verified || !strings.Contains(string(up.Actions), `"msu"`) ||
		len(up.Assignments) != 1 || up.Assignments[0].Target != "lab" {
		t.Errorf("uploaded update package = %+v", up)
	}
	Want(t, e.upload(pre, Admin, ""), http.StatusCreated, "upload PREPROD update package")
	// One name is one kind.
	rulesSameName := sg.sign(t, pkg.Spec{Name: "kb5034441", Version: "2", Rules: rules.Rules{AllowedKBs: []string{"KB1"}}}, signed)
	r = e.upload(rulesSameName, Admin, "")
	Want(t, r, http.StatusConflict, "a rules package under an update package's name")
	if msg := r.Error(t).Error; !strings.Contains(msg, "an update package already") {
		t.Errorf("name conflict message %q", msg)
	}

	// Not offered, not served while the payload is incomplete.
	credProd := e.registerIn("U1", "PROD", "lab")
	credPre := e.registerIn("U2", "PREPROD", "lab")
	if rs := e.rulesAnswer("U1", credProd); len(rs.UpdatePackages) != 0 || len(rs.Packages) != 0 {
		t.Errorf("incomplete update package offered: %+v", rs)
	}
	Want(t, e.Do("GET", api.PackagePrefix+"kb5034441_1.wapt", nil, nil), http.StatusNotFound, "incomplete package file")

	// The payload routes' authorisation.
	Want(t, e.putPayload("kb5034441", "1", "kb5034441.msu", msuPayload, nil), http.StatusUnauthorized, "anonymous payload upload")
	Want(t, e.putPayload("kb5034441", "1", "kb5034441.msu", msuPayload, Viewer), http.StatusForbidden, "read-only payload upload")
	cred := e.Register(hostA)
	Want(t, e.putPayload("kb5034441", "1", "kb5034441.msu", msuPayload, Bearer(cred)), http.StatusUnauthorized, "a host uploads a payload")
	Want(t, e.Do("GET", server.AdminPrefix+payloadPath, nil, nil), http.StatusUnauthorized, "anonymous payload state")
	Want(t, e.Do("GET", server.AdminPrefix+payloadPath, Bearer(cred), nil), http.StatusUnauthorized, "a host reads a payload state")
	var st payloadOut
	r = e.Do("GET", server.AdminPrefix+payloadPath, Viewer, nil)
	Want(t, r, http.StatusOK, "payload state")
	r.JSON(t, &st)
	if st.Complete || len(st.Files) != 1 || st.Files[0].Present || st.Files[0].Size != int64(len(msuPayload)) {
		t.Errorf("payload state before upload = %+v", st)
	}

	// A changed byte, a short file, an unknown file: refused, nothing in place.
	bad := bytes.Clone(msuPayload)
	bad[100] ^= 1
	r = e.putPayload("kb5034441", "1", "kb5034441.msu", bad, Admin)
	Want(t, r, http.StatusUnprocessableEntity, "payload with a changed byte")
	if msg := r.Error(t).Error; !strings.HasPrefix(msg, "payload refused: ") || !strings.Contains(msg, "the signed manifest says") {
		t.Errorf("payload refusal %q", msg)
	}
	Want(t, e.putPayload("kb5034441", "1", "kb5034441.msu", msuPayload[:10], Admin), http.StatusUnprocessableEntity, "short payload")
	Want(t, e.putPayload("kb5034441", "1", "other.msu", msuPayload, Admin), http.StatusNotFound, "unknown payload file")
	Want(t, e.putPayload("kb5034441", "1", "..%2F..%2Fescape", msuPayload, Admin), http.StatusNotFound, "payload path out of the folder")
	if _, err := os.Stat(filepath.Join(e.RepoDir, "payloads", "kb5034441_1.payload", "kb5034441.msu")); err == nil {
		t.Fatal("a refused payload is in place")
	}
	e.Do("GET", server.AdminPrefix+payloadPath, Admin, nil).JSON(t, &st)
	if st.Complete || st.Files[0].Present {
		t.Errorf("payload state after refusals = %+v", st)
	}

	// The right bytes: complete, offered apart from rules packages, served with Range.
	r = e.putPayload("kb5034441", "1", "kb5034441.msu", msuPayload, Admin)
	Want(t, r, http.StatusOK, "payload upload")
	r.JSON(t, &st)
	if !st.Complete || !st.Files[0].Present {
		t.Errorf("payload state after upload = %+v", st)
	}
	rs := e.rulesAnswer("U1", credProd)
	if len(rs.Packages) != 0 || len(rs.UpdatePackages) != 1 || rs.UpdatePackages[0].Name != "kb5034441" || rs.UpdatePackages[0].Filename != "kb5034441_1.wapt" {
		t.Errorf("rules answer of a PROD host = %+v", rs)
	}
	Want(t, e.putPayload("kb-pre", "1", "kb5034441.msu", msuPayload, Admin), http.StatusOK, "payload of the PREPROD package")
	var names []string
	for _, p := range e.rulesAnswer("U2", credPre).UpdatePackages {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "kb-pre kb5034441" {
		t.Errorf("update packages of a PREPROD host = %v", names)
	}
	if rs := e.rulesAnswer("U1", credProd); len(rs.UpdatePackages) != 1 {
		t.Errorf("a PROD host gets a PREPROD update package: %+v", rs.UpdatePackages)
	}
	r = e.Do("GET", api.PackagePrefix+"kb5034441_1.wapt", nil, nil)
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, z) {
		t.Errorf("GET kb5034441_1.wapt: %d", r.Status)
	}
	r = do(t, e.HTTP.URL, "GET", api.PackagePrefix+"kb5034441_1.payload/kb5034441.msu", nil, nil, http.Header{"Range": {"bytes=22-43"}})
	if r.Status != http.StatusPartialContent || string(r.Body) != string(msuPayload[22:44]) {
		t.Errorf("Range GET of the payload: %d %q", r.Status, r.Body)
	}
	for _, p := range []string{"kb5034441_1.payload/nope.msu", "kb5034441_1.payload/%2e%2e%2fkb5034441_1.wapt", "nope_1.payload/kb5034441.msu",
		"kb5034441_1.payload/kb5034441.msu.part", "kb5034441_1.wapt/x"} {
		Want(t, e.Do("GET", api.PackagePrefix+p, nil, nil), http.StatusNotFound, "GET "+p)
	}

	// Hosts report the outcome; the admin API shows it.
	rep := sampleReport()
	rep.UpdatePackages = []api.PackageStatus{{Name: "kb5034441", Version: "1", Status: api.UpdatePackageRebootNeeded, Error: "exit code 3010: reboot needed"}}
	Want(t, e.Report("U1", credProd, rep), http.StatusNoContent, "report with update packages")
	rep.UpdatePackages = []api.PackageStatus{{Name: "kb5034441", Version: "1", Status: api.PackageApplied}}
	r = e.Report("U1", credProd, rep)
	Want(t, r, http.StatusBadRequest, "report with a rules status for an update package")
	if f := r.Error(t).Field; f != "update_packages[0].status" {
		t.Errorf("field of the refusal: %q", f)
	}
	var host admin.HostDetail
	e.Do("GET", server.AdminPrefix+"/hosts/U1", Viewer, nil).JSON(t, &host)
	if u := host.Host.UpdatePackages; len(u) != 1 || u[0].Status != "reboot_needed" || u[0].Error == "" || u[0].ChangedAt.IsZero() {
		t.Errorf("host detail update packages = %+v", u)
	}
	var hp struct {
		Offered  []api.Package `json:"offered_update_packages"`
		Reported []struct {
			Name, Status string
		} `json:"reported_update_packages"`
	}
	e.Do("GET", server.AdminPrefix+"/hosts/U1/packages", Viewer, nil).JSON(t, &hp)
	if len(hp.Offered) != 1 || len(hp.Reported) != 1 || hp.Reported[0].Status != "reboot_needed" {
		t.Errorf("host packages = %+v", hp)
	}

	// Deleting the version removes its payload.
	Want(t, e.Do("DELETE", server.AdminPrefix+"/packages/kb5034441/1", Admin, nil), http.StatusNoContent, "delete")
	if _, err := os.Stat(filepath.Join(e.RepoDir, "payloads", "kb5034441_1.payload")); !os.IsNotExist(err) {
		t.Errorf("payload folder after delete: %v", err)
	}
	Want(t, e.Do("GET", api.PackagePrefix+"kb5034441_1.payload/kb5034441.msu", nil, nil), http.StatusNotFound, "payload of a deleted package")

	// Without package_trusted_certs an update package is refused, not stored unverified.
	e2 := NewEnv(t, open)
	r = e2.upload(z, Admin, "")
	Want(t, r, http.StatusUnprocessableEntity, "update package without package_trusted_certs")
	if msg := r.Error(t).Error; !strings.Contains(msg, "package_trusted_certs") {
		t.Errorf("refusal without trusted certs: %q", msg)
	}
}
