package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// consoleInstallers builds amd64 "installers" (the spec as bytes); arm64 lacks its exe.
type consoleInstallers struct{ built []app.InstallerSpec }

func (f *consoleInstallers) InstallerAvailable(arch string) error {
	if arch == "arm64" {
		return errors.New("no wapt-get.exe for arm64 at /opt/bin/windows-arm64/wapt-get.exe: build it with `make build cross`")
	}
	return nil
}

func (f *consoleInstallers) BuildInstaller(_ context.Context, s app.InstallerSpec) ([]byte, error) {
	f.built = append(f.built, s)
	return []byte("MSI\x00" + s.ServerURL + "\x00" + s.Token), nil
}

// TestAgentInstallerDownload: the enrollment page offers "Download agent installer" to
// admins only (with the fix for an architecture that cannot be built); anonymous and
// read-only posts are refused and build nothing; an admin gets the MSI as an attachment
// holding a valid fresh token and the console's URL; the download is audited.
func TestAgentInstallerDownload(t *testing.T) {
	f := &consoleInstallers{}
	e := newEnvWith(t, app.WithInstallers(f))
	ctx := context.Background()

	anon := e.client()
	anon.get("/ui/login")
	if r := anon.post("/ui/enrollment/installer", url.Values{"arch": {"amd64"}}); r.status == http.StatusOK || r.header.Get("Content-Disposition") != "" {
		t.Errorf("anonymous: %d %q", r.status, r.header.Get("Content-Disposition"))
	}
	v := e.client()
	v.login("viewer", viewerPass)
	if r := v.get("/ui/enrollment"); strings.Contains(r.body, "agent-installer") {
		t.Error("read-only page offers the agent installer")
	}
	if r := v.post("/ui/enrollment/installer", url.Values{"arch": {"amd64"}}); r.status != http.StatusForbidden || r.header.Get("Content-Disposition") != "" {
		t.Errorf("read-only: %d %q", r.status, r.header.Get("Content-Disposition"))
	}
	if ts, _ := e.st.ListEnrollmentTokens(ctx); len(f.built) != 0 || len(ts) != 0 {
		t.Fatalf("refused posts built %d installers, made %d tokens", len(f.built), len(ts))
	}

	c := e.client()
	c.login("admin", adminPass)
	page := c.get("/ui/enrollment")
	if !strings.Contains(page.body, `id="installer-amd64"`) || !strings.Contains(page.body, e.srv.URL) || !strings.Contains(page.body, "Download agent installer (amd64)") {
		t.Errorf("admin page without the amd64 download:\n%s", page.body)
	}
	if !strings.Contains(page.body, `id="installer-arm64-unavailable"`) || !strings.Contains(page.body, "make build cross") ||
		strings.Contains(page.body, `id="installer-arm64"`) {
		t.Error("arm64: no explanation with `make build cross`, or a download button")
	}
	if r := c.post("/ui/enrollment/installer", nil); r.status != http.StatusBadRequest {
		t.Errorf("no arch: %d", r.status)
	}
	if r := c.post("/ui/enrollment/installer", url.Values{"arch": {"arm64"}}); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "make build cross") {
		t.Errorf("arm64: %d\n%s", r.status, r.body)
	}
	c.get("/ui/enrollment")
	r := c.post("/ui/enrollment/installer", url.Values{"arch": {"amd64"}})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-msi" ||
		r.header.Get("Content-Disposition") != `attachment; filename="waptagent-amd64.msi"` || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("admin download: %d %v", r.status, r.header)
	}
	if len(f.built) != 1 || r.body != "MSI\x00"+e.srv.URL+"\x00"+f.built[0].Token {
		t.Fatalf("served %q, built %+v (server %s)", r.body, f.built, e.srv.URL)
	}
	if _, err := e.st.UseEnrollmentToken(ctx, f.built[0].Token, testNow); err != nil {
		t.Errorf("the installer's token does not enroll: %v", err)
	}
	if es, err := e.st.ListAudit(ctx, store.AuditFilter{Action: "agent_installer.download"}); err != nil || len(es) != 1 || es[0].Actor != "admin" {
		t.Errorf("audit: %+v %v", es, err)
	}
	if page := c.get("/ui/enrollment"); !strings.Contains(page.body, "agent installer amd64") {
		t.Error("the installer's token is not listed")
	}
}

// TestInstallerServerURL: public_url wins over the address the browser reached.
func TestInstallerServerURL(t *testing.T) {
	r := httptest.NewRequest("POST", "http://10.0.0.5:8080/ui/enrollment/installer", nil)
	if got := (&Console{}).installerServerURL(r); got != "http://10.0.0.5:8080" {
		t.Errorf("no public_url: %q", got)
	}
	c := &Console{}
	WithPublicURL("https://wapt.example.org/")(c)
	if got := c.installerServerURL(r); got != "https://wapt.example.org" {
		t.Errorf("public_url: %q", got)
	}
}
