package servertest

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
)

// testSigner signs the suite's rules packages.
type testSigner struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newTestSigner(t *testing.T, now time.Time) testSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Suite Signer"},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testSigner{key, cert}
}

func (s testSigner) sign(t *testing.T, spec pkg.Spec, at time.Time) []byte {
	t.Helper()
	spec.Description = "suite package"
	p, err := pkg.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	z, err := pkg.Sign(p, s.key, []*x509.Certificate{s.cert}, at)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// upload posts a .wapt as the admin API expects it.
func (e *Env) upload(data []byte, auth Auth, query string) Response {
	e.T.Helper()
	return do(e.T, e.HTTP.URL, "POST", server.AdminPrefix+"/packages"+query, auth, data,
		http.Header{"Content-Type": {"application/octet-stream"}})
}

// testClock is a settable server clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (e *Env) registerIn(uuid, maturity string, groups ...string) string {
	e.T.Helper()
	r := e.Do("POST", api.PathRegister, Bearer(EnrollmentSecret), api.RegisterRequest{
		UUID: uuid, Name: "host-" + strings.ToLower(uuid), OS: "Windows 11 Pro", AgentVersion: "0.1.0", Groups: groups, Maturity: maturity,
	})
	Want(e.T, r, http.StatusOK, "register "+uuid)
	var reg api.RegisterResponse
	r.JSON(e.T, &reg)
	return reg.Credential
}

func (e *Env) rulesOf(uuid, cred string) []string {
	e.T.Helper()
	r := e.Do("GET", HostPath(api.PathRules, uuid), Bearer(cred), nil)
	Want(e.T, r, http.StatusOK, "rules of "+uuid)
	var rs api.Rules
	r.JSON(e.T, &rs)
	var out []string
	for _, p := range rs.Packages {
		out = append(out, p.Name+"="+p.Version+"@"+p.OfferedMaturity)
	}
	return out
}

type pkgOut struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	Verified        bool   `json:"verified"`
	VerifyError     string `json:"verify_error"`
	OfferedMaturity string `json:"offered_maturity"`
	Priority        int    `json:"priority"`
	Rollout         *struct {
		Status           string    `json:"status"`
		PromoteAfterDays int       `json:"promote_after_days"`
		EligibleAt       time.Time `json:"eligible_at"`
	} `json:"rollout"`
	Assignments []store.PackageAssignment `json:"assignments"`
}

// Without package_trusted_certs an upload is stored unverified and never served.
func testPackagesUnverified(t *testing.T, open Opener) {
	now := time.Now().UTC().Truncate(time.Second)
	sg := newTestSigner(t, now)
	e := NewEnv(t, open)
	z := sg.sign(t, pkg.Spec{Name: "acme", Version: "1", Rules: rules.Rules{AllowedKBs: []string{"KB1"}}}, now.Add(-time.Minute))
	r := e.upload(z, Admin, "")
	Want(t, r, http.StatusCreated, "upload without trusted certificates")
	var p pkgOut
	r.JSON(t, &p)
	if p.Verified || !strings.Contains(p.VerifyError, "package_trusted_certs") {
		t.Errorf("unverified upload = %+v", p)
	}
	Want(t, e.Do("GET", api.PackagePrefix+"acme_1.wapt", nil, nil), http.StatusNotFound, "an unverified package is not served")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/acme/assignments", Admin, map[string]string{"kind": "group", "target": "lab"}),
		http.StatusCreated, "assign")
	cred := e.registerIn("H1", "PROD", "lab")
	if got := e.rulesOf("H1", cred); len(got) != 0 {
		t.Errorf("a host got unverified packages: %v", got)
	}
	// Not a package at all.
	r = e.upload([]byte("PK\x03\x04 not really"), Admin, "")
	Want(t, r, http.StatusUnprocessableEntity, "upload of garbage")
}

func testPackages(t *testing.T, open Opener) {
	clk := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	t0 := clk.Now()
	sg := newTestSigner(t, t0)
	pool := x509.NewCertPool()
	pool.AddCert(sg.cert)
	e := NewEnv(t, open, server.WithPackageRoots(pool, "suite.pem"), server.WithClock(clk.Now))
	signed := t0.Add(-time.Hour)
	base1 := sg.sign(t, pkg.Spec{Name: "base", Version: "1", Rules: rules.Rules{ForbiddenKBs: []string{"KB1"}}}, signed)
	base2 := sg.sign(t, pkg.Spec{Name: "base", Version: "1.10", Rules: rules.Rules{ForbiddenKBs: []string{"KB2"}}}, signed)
	base9 := sg.sign(t, pkg.Spec{Name: "base", Version: "1.9", Rules: rules.Rules{ForbiddenKBs: []string{"KB9"}}}, signed)
	ring := sg.sign(t, pkg.Spec{Name: "ring", Version: "1", Maturity: pkg.MaturityPreprod, TargetGroups: []string{"lab"},
		PromoteAfterDays: 2, PromoteMinSuccessPct: 80, Rules: rules.Rules{AllowedKBs: []string{"KB3"}}}, signed)

	Want(t, e.upload(base1, Viewer, ""), http.StatusForbidden, "a read-only user uploads")
	for _, z := range [][]byte{base1, base2, base9} {
		Want(t, e.upload(z, Admin, "?priority=5"), http.StatusCreated, "upload base")
	}
	r := e.upload(ring, Admin, "")
	Want(t, r, http.StatusCreated, "upload ring")
	var rp pkgOut
	r.JSON(t, &rp)
	if !rp.Verified || rp.OfferedMaturity != "PREPROD" || rp.Rollout == nil || rp.Rollout.Status != "waiting" ||
		!rp.Rollout.EligibleAt.Equal(t0.Add(48*time.Hour)) || len(rp.Assignments) != 1 || rp.Assignments[0].Target != "lab" {
		t.Errorf("uploaded ring package = %+v %+v", rp, rp.Rollout)
	}
	Want(t, e.upload(ring, Admin, ""), http.StatusOK, "the same file again")
	other := sg.sign(t, pkg.Spec{Name: "ring", Version: "1", Rules: rules.Rules{AllowedKBs: []string{"KB4"}}}, signed)
	r = e.upload(other, Admin, "")
	Want(t, r, http.StatusConflict, "other bytes under the same version")
	// A file added after signing is refused with pkg's reason.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zr, _ := zip.NewReader(bytes.NewReader(base1), int64(len(base1)))
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	w, _ := zw.Create("WAPT/extra.txt")
	w.Write([]byte("x"))
	zw.Close()
	r = e.upload(buf.Bytes(), Admin, "")
	Want(t, r, http.StatusUnprocessableEntity, "a package with an extra file")
	if msg := r.Error(t).Error; !strings.Contains(msg, "WAPT/extra.txt") || !strings.Contains(msg, "signed manifest") {
		t.Errorf("refusal message %q", msg)
	}

	Want(t, e.Do("POST", server.AdminPrefix+"/packages/base/assignments", Admin, map[string]string{"kind": "group", "target": "lab"}),
		http.StatusCreated, "assign base to lab")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/base/assignments", Admin, map[string]string{"kind": "group", "target": "lab"}),
		http.StatusOK, "assign again")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/nope/assignments", Admin, map[string]string{"kind": "group", "target": "lab"}),
		http.StatusNotFound, "assign an unknown package")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/base/assignments", Admin, map[string]string{"kind": "site", "target": "x"}),
		http.StatusBadRequest, "assign to an unknown kind")

	credProd := e.registerIn("P1", "PROD", "lab")
	credPre := e.registerIn("Q1", "PREPROD", "LAB")
	credLone := e.registerIn("L1", "PROD")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/base/assignments", Admin, map[string]string{"kind": "host", "target": "L1"}),
		http.StatusCreated, "assign base to host L1")
	Want(t, e.Do("POST", server.AdminPrefix+"/packages/base/assignments", Admin, map[string]string{"kind": "host", "target": "nobody"}),
		http.StatusNotFound, "assign to an unknown host")

	// The newest version (1.10 > 1.9 > 1), the maturity, the install order.
	check := func(uuid, cred string, want ...string) {
		t.Helper()
		got := e.rulesOf(uuid, cred)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("packages of %s = %v, want %v", uuid, got, want)
		}
	}
	check("P1", credProd, "base=1.10@PROD")
	check("Q1", credPre, "ring=1@PREPROD", "base=1.10@PROD") // priority 0 before 5
	check("L1", credLone, "base=1.10@PROD")

	// The repository: the file and both indexes.
	r = e.Do("GET", api.PackagePrefix+"base_1.10.wapt", nil, nil)
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, base2) {
		t.Errorf("GET base_1.10.wapt: %d, %d bytes", r.Status, len(r.Body))
	}
	r = e.Do("GET", api.PackagePrefix+"Packages", nil, nil)
	Want(t, r, http.StatusOK, "Packages index")
	zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "Packages" {
		t.Fatalf("Packages index is not a zip holding Packages: %v", err)
	}
	rc, _ := zr.File[0].Open()
	idx, _ := io.ReadAll(rc)
	rc.Close()
	if blocks := strings.Split(strings.TrimSpace(string(idx)), "\n\n"); len(blocks) != 4 ||
		!strings.Contains(string(idx), ": ring\n") || !strings.Contains(string(idx), "filename: base_1.9.wapt\n") ||
		!strings.Contains(string(idx), "signed_attributes") {
		t.Errorf("Packages index:\n%s", idx)
	}
	var jidx struct {
		Packages []struct {
			Filename string `json:"filename"`
		} `json:"packages"`
	}
	e.Do("GET", api.PackagePrefix+"Packages.json", nil, nil).JSON(t, &jidx)
	if len(jidx.Packages) != 4 {
		t.Errorf("Packages.json = %+v", jidx)
	}

	// Policy: only stricter than the signer.
	pol := func(name, version string, body any, status int) {
		t.Helper()
		Want(t, e.Do("PATCH", server.AdminPrefix+"/packages/"+name+"/"+version, Admin, body), status, "policy "+name)
	}
	pol("ring", "1", map[string]int{"promote_after_days": 1}, http.StatusBadRequest)
	pol("ring", "1", map[string]int{"promote_min_success_pct": 50}, http.StatusBadRequest)
	pol("ring", "1", map[string]int{"promote_min_success_pct": 101}, http.StatusBadRequest)
	pol("base", "1", map[string]int{"promote_after_days": 3}, http.StatusBadRequest)
	pol("ring", "1", map[string]any{"promote_after_days": 3, "hold": true, "priority": 7}, http.StatusOK)
	var got pkgOut
	e.Do("GET", server.AdminPrefix+"/packages/ring/1", Viewer, nil).JSON(t, &got)
	if got.Priority != 7 || got.Rollout == nil || got.Rollout.Status != "held" || got.Rollout.PromoteAfterDays != 3 {
		t.Errorf("ring after the policy = %+v %+v", got, got.Rollout)
	}
	pol("ring", "1", map[string]any{"promote_after_days": 0, "hold": false, "priority": 0}, http.StatusOK)

	// Manual promotion: not before the signed delay; then offered to PROD hosts.
	promote := func(name, version string, status int) Response {
		t.Helper()
		r := e.Do("POST", server.AdminPrefix+"/packages/"+name+"/"+version+"/promote", Admin, nil)
		Want(t, r, status, "promote "+name+" "+version)
		return r
	}
	if msg := promote("ring", "1", http.StatusConflict).Error(t).Error; !strings.Contains(msg, "promote_after_days 2") {
		t.Errorf("early promotion refused with %q", msg)
	}
	promote("base", "1", http.StatusConflict) // PROD already
	clk.advance(49 * time.Hour)
	promote("ring", "1", http.StatusOK)
	promote("ring", "1", http.StatusConflict)
	check("P1", credProd, "ring=1@PROD", "base=1.10@PROD")
	check("L1", credLone, "base=1.10@PROD") // not assigned
	var audit struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	e.Do("GET", server.AdminPrefix+"/audit?action=package.promote", Admin, nil).JSON(t, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Actor != AdminUser || !strings.Contains(audit.Entries[0].Details, `"manual":true`) {
		t.Errorf("audit of the manual promotion: %+v", audit.Entries)
	}
	// The check needs the jobs' Promotions hook.
	Want(t, e.Do("POST", server.AdminPrefix+"/promotions/check", Admin, nil), http.StatusServiceUnavailable, "check without jobs")

	// What hosts report is kept and shown.
	rep := sampleReport()
	rep.Packages = []api.PackageStatus{{Name: "base", Version: "1.10", Status: api.PackageApplied},
		{Name: "ring", Version: "1", Status: api.PackageRefused, Error: "package tampered"}}
	Want(t, e.Report("P1", credProd, rep), http.StatusNoContent, "report with packages")
	var hp struct {
		Offered  []api.Package       `json:"offered"`
		Reported []store.HostPackage `json:"reported"`
	}
	e.Do("GET", server.AdminPrefix+"/hosts/P1/packages", Viewer, nil).JSON(t, &hp)
	if len(hp.Offered) != 2 || len(hp.Reported) != 2 || hp.Reported[1].Error != "package tampered" {
		t.Errorf("host packages = %+v", hp)
	}
	rep.Packages[1].Status = "maybe"
	Want(t, e.Report("P1", credProd, rep), http.StatusBadRequest, "report with a bad package status")

	// Unassign and delete.
	Want(t, e.Do("DELETE", server.AdminPrefix+"/packages/base/assignments/host/L1", Admin, nil), http.StatusNoContent, "unassign")
	Want(t, e.Do("DELETE", server.AdminPrefix+"/packages/base/assignments/host/L1", Admin, nil), http.StatusNotFound, "unassign again")
	check("L1", credLone)
	Want(t, e.Do("DELETE", server.AdminPrefix+"/packages/base/1.10", Admin, nil), http.StatusNoContent, "delete")
	check("P1", credProd, "ring=1@PROD", "base=1.9@PROD")
	Want(t, e.Do("GET", api.PackagePrefix+"base_1.10.wapt", nil, nil), http.StatusNotFound, "a deleted package")
}
