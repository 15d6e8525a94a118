package console

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"html"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/app/apptest"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
)

type testIdentity struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// testCA is a CA and a signer it issued, made once per test binary.
var testCA = sync.OnceValue(func() [2]testIdentity {
	var keys [2]*rsa.PrivateKey
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	ca := newTestIdentity(keys[0], "Console Test CA", true, nil)
	return [2]testIdentity{ca, newTestIdentity(keys[1], "Console Test Signer", false, &ca)}
})

func newTestIdentity(key *rsa.PrivateKey, cn string, isCA bool, issuer *testIdentity) testIdentity {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	parent, signKey := tmpl, key
	if issuer != nil {
		parent, signKey = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signKey)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return testIdentity{key: key, cert: c}
}

func caPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(testCA()[0].cert)
	return p
}

// newPackagesEnv starts the console like newEnv, with a server-held signing key when
// sign is true, and the test CA as package_trusted_certs.
func newPackagesEnv(t *testing.T, sign bool) *env {
	t.Helper()
	e := &env{t: t, st: openStore(t, filepath.Join(t.TempDir(), "console.db")), jobs: &apptest.FakeJobs{DeletedFiles: 3, DeletedBytes: 12345}, rules: &memRules{}}
	addUser(t, e.st, "admin", adminPass, store.RoleAdmin)
	addUser(t, e.st, "viewer", viewerPass, store.RoleReadOnly)
	deps := Deps{Store: e.st, App: testApp(t, e.st, e.jobs, caPool()), Rules: e.rules, Cache: fakeUsage{}, Packages: e.st}
	if sign {
		s := testCA()[1]
		deps.PackageSigning = &PackageSigning{Key: s.key, Chain: []*x509.Certificate{s.cert}, Source: "signer.pem"}
	}
	h, err := New(deps, WithClock(func() time.Time { return testNow }), WithLogger(quiet), WithLocation(time.UTC),
		WithSessionKey([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// putSigned stores a package signed by the test signer at signedAt, as an upload would.
func putSigned(t *testing.T, st store.PackageStore, spec pkg.Spec, signedAt time.Time) store.RulesPackage {
	t.Helper()
	p, err := pkg.Build(spec)
	must(t, err)
	s := testCA()[1]
	data, err := pkg.Sign(p, s.key, []*x509.Certificate{s.cert}, signedAt)
	must(t, err)
	v, err := pkg.Verify(data, pkg.VerifyOptions{Roots: caPool(), Now: func() time.Time { return testNow }})
	must(t, err)
	text, err := pkg.ControlText(data)
	must(t, err)
	sum := sha256.Sum256(data)
	ctl := v.Control
	row := store.RulesPackage{Name: ctl.Package, Version: ctl.Version, Filename: ctl.Package + "_" + ctl.Version + ".wapt",
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Maturity: ctl.Maturity, Description: ctl.Description,
		Signer: ctl.Signer, SignerFingerprint: ctl.SignerFingerprint, SignatureDate: ctl.SignatureDate,
		TargetGroups: ctl.TargetGroups, PromoteAfterDays: ctl.PromoteAfterDays, PromoteMinSuccessPct: ctl.PromoteMinSuccessPct,
		Control: text, Rules: v.RulesJSON, Verified: true, UploadedAt: signedAt, UploadedBy: "admin", Data: data}
	stored, _, err := st.PutPackage(context.Background(), row)
	must(t, err)
	return stored
}

func auditActions(t *testing.T, st store.AuditStore, action string) []store.AuditEntry {
	t.Helper()
	es, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action})
	must(t, err)
	return es
}

func wantStatus(t *testing.T, r resp, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("HTTP %d, want %d\n%s", r.status, status, r.body)
	}
	body := html.UnescapeString(r.body)
	for _, s := range contains {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q\n%s", s, body)
		}
	}
}

func newPackageForm(name, version, maturity, js string) url.Values {
	return url.Values{"name": {name}, "version": {version}, "maturity": {maturity}, "description": {"Lyon security"}, "rules": {js}}
}

const testRulesJSON = `{"allowed_kbs": ["KB5034441"], "default_allow": false}`

func TestPackagesPageEmpty(t *testing.T) {
	e := newPackagesEnv(t, false)
	admin := e.client()
	admin.login("admin", adminPass)
	r := admin.get("/ui/packages")
	wantStatus(t, r, http.StatusOK, "Rules packages", "No rules package on the server yet", `id="package-form"`,
		"The server holds no signing key", "Prepare package")
	viewer := e.client()
	viewer.login("viewer", viewerPass)
	r = viewer.get("/ui/packages")
	wantStatus(t, r, http.StatusOK, "No rules package on the server yet")
	if strings.Contains(r.body, `id="package-form"`) {
		t.Error("read-only user sees the create form")
	}
	// The rules page links to the packages page.
	wantStatus(t, admin.get("/ui/rules"), http.StatusOK, `href="/ui/packages"`)
}

func TestPackagesPageList(t *testing.T) {
	e := newPackagesEnv(t, false)
	ctx := context.Background()
	putSigned(t, e.st, pkg.Spec{Name: "acme-rules", Version: "2-0", Description: "Lyon security", Maturity: pkg.MaturityPreprod,
		Rules: rules.Rules{AllowedKBs: []string{"KB5034441"}}, PromoteAfterDays: 7, PromoteMinSuccessPct: 90}, testNow.Add(-10*24*time.Hour))
	putSigned(t, e.st, pkg.Spec{Name: "base-rules", Version: "1-0", Maturity: pkg.MaturityProd}, testNow.Add(-24*time.Hour))
	_, err := e.st.AssignPackage(ctx, store.PackageAssignment{Package: "acme-rules", Kind: store.AssignGroup, Target: "lyon", CreatedAt: testNow})
	must(t, err)
	must(t, e.st.RecordPromotionCheck(ctx, "acme-rules", "2-0", store.PromotionCheck{At: testNow.Add(-time.Hour), RingHosts: 4, SuccessHosts: 3}))

	admin := e.client()
	admin.login("admin", adminPass)
	r := admin.get("/ui/packages")
	wantStatus(t, r, http.StatusOK, "acme-rules", "2-0", "base-rules", "Console Test Signer", "verified", "group: <span class=\"mono\">lyon</span>",
		"below_threshold", "success 75% of 4 ring hosts", "≥ 90% success", "PROD: every host", "Promote now", ">Hold<", ">Assign<")

	viewer := e.client()
	viewer.login("viewer", viewerPass)
	r = viewer.get("/ui/packages")
	wantStatus(t, r, http.StatusOK, "acme-rules", "below_threshold")
	for _, s := range []string{"Promote now", ">Hold<", ">Assign<", "/ui/packages/unassign", `id="package-form"`} {
		if strings.Contains(r.body, s) {
			t.Errorf("read-only user sees %q", s)
		}
	}
}

func TestPackagesReadOnlyRefused(t *testing.T) {
	e := newPackagesEnv(t, true)
	putSigned(t, e.st, pkg.Spec{Name: "acme-rules", Version: "2-0", Maturity: pkg.MaturityPreprod, PromoteAfterDays: 7}, testNow.Add(-10*24*time.Hour))
	viewer := e.client()
	viewer.login("viewer", viewerPass)
	viewer.get("/ui/packages")
	for path, form := range map[string]url.Values{
		"/ui/packages":              newPackageForm("x", "1-0", "PROD", "{}"),
		"/ui/packages/from-updates": {"key": {"6a0c1b5d-0e5b-4d7a-9e6b-1c6b0f8c2d11_200"}},
		"/ui/packages/rules.json":   {"rules": {"{}"}},
		"/ui/packages/assign":       {"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}},
		"/ui/packages/unassign":     {"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}},
		"/ui/packages/promote":      {"name": {"acme-rules"}, "version": {"2-0"}},
		"/ui/packages/hold":         {"name": {"acme-rules"}, "version": {"2-0"}, "hold": {"true"}},
	} {
		if r := viewer.post(path, form); r.status != http.StatusForbidden {
			t.Errorf("viewer POST %s: HTTP %d, want 403", path, r.status)
		}
	}
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 1 || !pkgs[0].PromotedAt.IsZero() || pkgs[0].Hold {
		t.Errorf("packages changed: %+v", pkgs)
	}
	as, err := e.st.ListAssignments(context.Background())
	must(t, err)
	if len(as) != 0 {
		t.Errorf("assignments = %+v", as)
	}
}

func TestPackageCreateWithoutKeyShowsCommand(t *testing.T) {
	e := newPackagesEnv(t, false)
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")
	form := newPackageForm("acme-rules", "3-0", "PREPROD", testRulesJSON)
	form.Set("promote_after_days", "7")
	r := admin.post("/ui/packages", form)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	wantStatus(t, r, http.StatusOK,
		"waptserver rules build rules.json --name acme-rules --version 3-0 --maturity PREPROD --description 'Lyon security' --promote-after-days 7 --key KEY.pem --cert CERT.pem -o acme-rules_3-0.wapt",
		"waptserver rules publish acme-rules_3-0.wapt --server http://"+host+" --user admin",
		`"KB5034441"`, "Download rules.json")
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 0 {
		t.Errorf("the console stored a package without a signing key: %+v", pkgs)
	}
	if es := auditActions(t, e.st, "package.upload"); len(es) != 0 {
		t.Errorf("audit = %+v", es)
	}

	// The rules download is the normalized JSON.
	r = admin.post("/ui/packages/rules.json", url.Values{"rules": {testRulesJSON}})
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "rules.json") {
		t.Fatalf("rules.json: HTTP %d %v\n%s", r.status, r.header, r.body)
	}
	if _, err := rules.Parse([]byte(r.body)); err != nil || !strings.Contains(r.body, "KB5034441") {
		t.Errorf("rules.json = %s (%v)", r.body, err)
	}
}

func TestPackageCreateSigned(t *testing.T) {
	e := newPackagesEnv(t, true)
	ctx := context.Background()
	admin := e.client()
	admin.login("admin", adminPass)
	wantStatus(t, admin.get("/ui/packages"), http.StatusOK, "Build, sign and store", "Console Test Signer")
	form := newPackageForm("acme-rules", "3-0", "PREPROD", testRulesJSON)
	form.Set("target_groups", "lyon, paris")
	form.Set("promote_after_days", "7")
	form.Set("promote_min_success_pct", "95")
	r := admin.post("/ui/packages", form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: HTTP %d\n%s", r.status, r.body)
	}
	stored, err := e.st.PackageFile(ctx, "acme-rules_3-0.wapt")
	must(t, err)
	v, err := pkg.Verify(stored.Data, pkg.VerifyOptions{Roots: caPool(), Now: func() time.Time { return testNow }})
	must(t, err)
	if v.Control.Package != "acme-rules" || v.Control.Version != "3-0" || v.Control.Maturity != "PREPROD" ||
		v.Control.Signer != "Console Test Signer" || v.Control.PromoteAfterDays != 7 || len(v.Rules.AllowedKBs) != 1 {
		t.Errorf("control = %+v, rules %+v", v.Control, v.Rules)
	}
	if !stored.Verified || stored.UploadedBy != "admin" || stored.Control == "" || stored.PromoteAfterDays != 7 {
		t.Errorf("stored = %+v", stored)
	}
	r = admin.get("/ui/packages")
	wantStatus(t, r, http.StatusOK, "signed by Console Test Signer and stored", "acme-rules", "3-0", "waiting", "group: <span class=\"mono\">lyon</span>")
	if es := auditActions(t, e.st, "package.upload"); len(es) != 1 || es[0].Actor != "admin" || es[0].Target != "package:acme-rules=3-0" {
		t.Errorf("upload audit = %+v", es)
	}
	if es := auditActions(t, e.st, "package.assign"); len(es) != 2 {
		t.Errorf("assign audit = %+v", es)
	}

	// The same version again: versions are immutable.
	r = admin.post("/ui/packages", form)
	wantStatus(t, r, http.StatusBadRequest, "exists already")
}

func TestPackageCreateUntrustedSigner(t *testing.T) {
	e := newPackagesEnv(t, true)
	// A signer the server does not trust: the package is refused like an upload.
	other := newTestIdentity(testCA()[1].key, "Rogue Signer", true, nil)
	h, err := New(Deps{Store: e.st, App: testApp(t, e.st, nil, caPool()), Rules: e.rules, Packages: e.st,
		PackageSigning: &PackageSigning{Key: other.key, Chain: []*x509.Certificate{other.cert}, Source: "rogue.pem"}},
		WithClock(func() time.Time { return testNow }), WithLogger(quiet), WithSessionKey([]byte("0123456789abcdef0123456789abcdef")))
	must(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	e.srv = srv
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")
	r := admin.post("/ui/packages", newPackageForm("acme-rules", "3-0", "PROD", testRulesJSON))
	wantStatus(t, r, http.StatusBadRequest, "Package refused", "does not chain to a trusted certificate")
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 0 {
		t.Errorf("stored %+v", pkgs)
	}
	if es := auditActions(t, e.st, "package.refused"); len(es) != 1 {
		t.Errorf("refused audit = %+v", es)
	}
}

func TestPackageAssignPromoteHold(t *testing.T) {
	e := newPackagesEnv(t, false)
	ctx := context.Background()
	putSigned(t, e.st, pkg.Spec{Name: "acme-rules", Version: "2-0", Maturity: pkg.MaturityPreprod, PromoteAfterDays: 7}, testNow.Add(-10*24*time.Hour))
	putSigned(t, e.st, pkg.Spec{Name: "fresh-rules", Version: "1-0", Maturity: pkg.MaturityPreprod, PromoteAfterDays: 7}, testNow.Add(-24*time.Hour))
	putSigned(t, e.st, pkg.Spec{Name: "prod-rules", Version: "1-0", Maturity: pkg.MaturityProd}, testNow.Add(-24*time.Hour))
	seed(t, e.st, nil, nil, 1) // host-000
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")

	r := admin.post("/ui/packages/assign", url.Values{"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("assign: HTTP %d\n%s", r.status, r.body)
	}
	r = admin.post("/ui/packages/assign", url.Values{"name": {"acme-rules"}, "kind": {"host"}, "target": {"host-000"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("assign host: HTTP %d\n%s", r.status, r.body)
	}
	as, err := e.st.ListAssignments(ctx)
	must(t, err)
	if len(as) != 2 {
		t.Fatalf("assignments = %+v", as)
	}
	if es := auditActions(t, e.st, "package.assign"); len(es) != 2 || es[0].Actor != "admin" {
		t.Errorf("assign audit = %+v", es)
	}
	r = admin.post("/ui/packages/unassign", url.Values{"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("unassign: HTTP %d\n%s", r.status, r.body)
	}
	if es := auditActions(t, e.st, "package.unassign"); len(es) != 1 {
		t.Errorf("unassign audit = %+v", es)
	}

	r = admin.post("/ui/packages/hold", url.Values{"name": {"acme-rules"}, "version": {"2-0"}, "hold": {"true"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("hold: HTTP %d\n%s", r.status, r.body)
	}
	p, err := e.st.GetPackage(ctx, "acme-rules", "2-0")
	must(t, err)
	if !p.Hold {
		t.Error("not held")
	}
	if es := auditActions(t, e.st, "package.policy"); len(es) != 1 {
		t.Errorf("policy audit = %+v", es)
	}
	wantStatus(t, admin.get("/ui/packages"), http.StatusOK, "held", ">Resume<")

	r = admin.post("/ui/packages/promote", url.Values{"name": {"acme-rules"}, "version": {"2-0"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("promote: HTTP %d\n%s", r.status, r.body)
	}
	p, err = e.st.GetPackage(ctx, "acme-rules", "2-0")
	must(t, err)
	if !p.PromotedAt.Equal(testNow) || p.PromotedBy != "admin" || p.OfferedMaturity() != "PROD" {
		t.Errorf("promoted = %v by %q", p.PromotedAt, p.PromotedBy)
	}
	es := auditActions(t, e.st, "package.promote")
	if len(es) != 1 || es[0].Target != "package:acme-rules=2-0" || !strings.Contains(es[0].Details, `"manual":true`) {
		t.Errorf("promote audit = %+v", es)
	}
	wantStatus(t, admin.get("/ui/packages"), http.StatusOK, "promoted", "by admin")

	// Refusals: a clear page, no change, no audit.
	for _, tt := range []struct {
		path   string
		form   url.Values
		status int
		want   string
	}{
		{"/ui/packages/promote", url.Values{"name": {"acme-rules"}, "version": {"2-0"}}, http.StatusConflict, "promoted on"},
		{"/ui/packages/promote", url.Values{"name": {"fresh-rules"}, "version": {"1-0"}}, http.StatusConflict, "may be promoted from"},
		{"/ui/packages/promote", url.Values{"name": {"prod-rules"}, "version": {"1-0"}}, http.StatusConflict, "signed PROD already"},
		{"/ui/packages/promote", url.Values{"name": {"nope"}, "version": {"1-0"}}, http.StatusNotFound, "no package nope"},
		{"/ui/packages/hold", url.Values{"name": {"acme-rules"}, "version": {"2-0"}, "hold": {"maybe"}}, http.StatusBadRequest, "true or false"},
		{"/ui/packages/assign", url.Values{"name": {"nope"}, "kind": {"group"}, "target": {"lyon"}}, http.StatusNotFound, "no package named nope"},
		{"/ui/packages/assign", url.Values{"name": {"acme-rules"}, "kind": {"host"}, "target": {"no-such-host"}}, http.StatusNotFound, "no host no-such-host"},
		{"/ui/packages/assign", url.Values{"name": {"acme-rules"}, "kind": {"site"}, "target": {"x"}}, http.StatusBadRequest, "want group or host"},
		{"/ui/packages/assign", url.Values{"name": {"acme-rules"}, "kind": {"group"}, "target": {strings.Repeat("g", 300)}}, http.StatusBadRequest, "1 to 200 bytes"},
		{"/ui/packages/unassign", url.Values{"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}}, http.StatusNotFound, "not assigned"},
	} {
		r := admin.post(tt.path, tt.form)
		if r.status != tt.status || !strings.Contains(strings.ToLower(html.UnescapeString(r.body)), strings.ToLower(tt.want)) {
			t.Errorf("POST %s %v: HTTP %d, want %d with %q\n%s", tt.path, tt.form, r.status, tt.status, tt.want, r.body)
		}
	}
	if es := auditActions(t, e.st, "package.promote"); len(es) != 1 {
		t.Errorf("promote audit after refusals = %+v", es)
	}
}

func TestPackagesCSRF(t *testing.T) {
	e := newPackagesEnv(t, true)
	putSigned(t, e.st, pkg.Spec{Name: "acme-rules", Version: "2-0", Maturity: pkg.MaturityPreprod, PromoteAfterDays: 7}, testNow.Add(-10*24*time.Hour))
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")
	for path, form := range map[string]url.Values{
		"/ui/packages":         newPackageForm("x", "1-0", "PROD", "{}"),
		"/ui/packages/assign":  {"name": {"acme-rules"}, "kind": {"group"}, "target": {"lyon"}},
		"/ui/packages/promote": {"name": {"acme-rules"}, "version": {"2-0"}},
	} {
		form.Set("csrf", "forged")
		if r := admin.post(path, form); r.status != http.StatusForbidden || !strings.Contains(r.body, "security token") {
			t.Errorf("POST %s with a bad token: HTTP %d", path, r.status)
		}
	}
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 1 || !pkgs[0].PromotedAt.IsZero() {
		t.Errorf("packages = %+v", pkgs)
	}
}

func TestPackageCreateHostileInputs(t *testing.T) {
	e := newPackagesEnv(t, true)
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")
	huge := `{"allowed_kbs": ["` + strings.Repeat("KB1,", 300_000) + `"]}`
	for _, tt := range []struct {
		desc string
		form url.Values
		want string
	}{
		{"bad version", newPackageForm("acme-rules", "1.0; rm -rf /", "PROD", "{}"), "Package version"},
		{"empty name", newPackageForm("", "1-0", "PROD", "{}"), "Package name"},
		{"bad name", newPackageForm("acme rules\n", "1-0", "PROD", "{}"), "Package name"},
		{"bad maturity", newPackageForm("acme-rules", "1-0", "DEV", "{}"), "choose PREPROD or PROD"},
		{"invalid JSON", newPackageForm("acme-rules", "1-0", "PROD", `{"allowed_kbs": [`), "Rules JSON"},
		{"unknown key", newPackageForm("acme-rules", "1-0", "PROD", `{"allowed_kb": ["KB1"]}`), "Rules JSON"},
		{"not an object", newPackageForm("acme-rules", "1-0", "PROD", `[1,2]`), "Rules JSON"},
		{"huge JSON", newPackageForm("acme-rules", "1-0", "PROD", huge), "a rules package holds at most"},
		{"bad days", func() url.Values {
			f := newPackageForm("acme-rules", "1-0", "PREPROD", "{}")
			f.Set("promote_after_days", "-3")
			return f
		}(), "Promote after days"},
		{"promotion on PROD", func() url.Values {
			f := newPackageForm("acme-rules", "1-0", "PROD", "{}")
			f.Set("promote_after_days", "3")
			return f
		}(), "PREPROD packages only"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			r := admin.post("/ui/packages", tt.form)
			wantStatus(t, r, http.StatusBadRequest, tt.want)
		})
	}
	// Beyond the form limit.
	r := admin.post("/ui/packages", newPackageForm("acme-rules", "1-0", "PROD", strings.Repeat("x", 3<<20)))
	wantStatus(t, r, http.StatusBadRequest, "could not be read")
	r = admin.post("/ui/packages/rules.json", url.Values{"rules": {"{nope"}})
	wantStatus(t, r, http.StatusBadRequest, "Rules JSON")
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 0 {
		t.Errorf("stored %+v", pkgs)
	}
}

func TestPackageFromUpdates(t *testing.T) {
	e := newPackagesEnv(t, false)
	must(t, e.rules.SetServerRules(context.Background(), rules.Rules{AllowedKBs: []string{"KB5034441"},
		ForbiddenUpdates: []string{"6a0c1b5d-0e5b-4d7a-9e6b-1c6b0f8c2d11_200"}}))
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/updates")
	r := admin.post("/ui/packages/from-updates", url.Values{"key": {"6A0C1B5D-0E5B-4D7A-9E6B-1C6B0F8C2D11_200"}})
	wantStatus(t, r, http.StatusOK, `id="new-package" open`, "KB5034441", "allowed_updates")
	body := html.UnescapeString(r.body)
	i := strings.Index(body, `id="package-rules"`)
	if i < 0 || strings.Contains(body[i:], "forbidden_updates") {
		t.Errorf("the selected update is still forbidden in the prefilled rules:\n%s", body[i:])
	}
	r = admin.post("/ui/packages/from-updates", url.Values{"key": {"not-a-key"}})
	wantStatus(t, r, http.StatusBadRequest, "is not an update key")
	wantStatus(t, admin.get("/ui/updates"), http.StatusOK, "/ui/packages/from-updates")
}
