package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
)

// fakeInstallers records what it was asked to build and answers the spec as the "MSI".
type fakeInstallers struct {
	missing string // InstallerAvailable's refusal, "" = available
	fail    error
	built   []app.InstallerSpec
}

func (f *fakeInstallers) InstallerAvailable(string) error {
	if f.missing != "" {
		return errors.New(f.missing)
	}
	return nil
}

func (f *fakeInstallers) BuildInstaller(_ context.Context, s app.InstallerSpec) ([]byte, error) {
	f.built = append(f.built, s)
	if f.fail != nil {
		return nil, f.fail
	}
	return []byte("MSI " + s.Arch + " " + s.ServerURL + " " + s.Token), nil
}

var installerNow = time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)

func installerApp(t *testing.T, b app.InstallerBuilder) (*app.App, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Deps{Audit: st, Users: st, Hosts: st, Tokens: st},
		app.WithClock(func() time.Time { return installerNow }), app.WithInstallers(b))
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

// TestDownloadAgentInstaller: anonymous and read-only callers are refused before any
// token exists; an admin gets the built MSI holding a fresh, valid enrollment token
// (30 days) and the server URL; both the token creation and the download are audited.
func TestDownloadAgentInstaller(t *testing.T) {
	f := &fakeInstallers{}
	a, st := installerApp(t, f)
	ctx := context.Background()
	viewer := app.ContextWithUser(ctx, app.User{Name: "v", Role: store.RoleReadOnly})
	admin := app.ContextWithUser(ctx, app.User{Name: "boss", Role: store.RoleAdmin})

	if _, err := a.DownloadAgentInstaller(ctx, "amd64", "https://wapt.example.org"); app.KindOf(err) != app.Unauthenticated {
		t.Errorf("anonymous: %v", err)
	}
	if _, err := a.DownloadAgentInstaller(viewer, "amd64", "https://wapt.example.org"); app.KindOf(err) != app.Forbidden {
		t.Errorf("read-only: %v", err)
	}
	if ts, _ := st.ListEnrollmentTokens(ctx); len(ts) != 0 || len(f.built) != 0 {
		t.Fatalf("refused callers left %d tokens, %d builds", len(ts), len(f.built))
	}

	inst, err := a.DownloadAgentInstaller(admin, "arm64", "https://wapt.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.built) != 1 || inst.Filename != "waptagent-arm64.msi" || string(inst.MSI) != "MSI arm64 https://wapt.example.org "+f.built[0].Token {
		t.Fatalf("installer %q %q, built %+v", inst.Filename, inst.MSI, f.built)
	}
	tok, err := st.UseEnrollmentToken(ctx, f.built[0].Token, installerNow.Add(time.Hour))
	if err != nil {
		t.Fatalf("the installer's token does not enroll: %v", err)
	}
	if tok.ID != inst.TokenID || tok.Label != "agent installer arm64 2026-12-07 11:00:00Z" || tok.CreatedBy != "boss" ||
		!tok.ExpiresAt.Equal(installerNow.Add(30*24*time.Hour)) {
		t.Errorf("token %+v", tok)
	}
	if _, err := st.UseEnrollmentToken(ctx, f.built[0].Token, installerNow.Add(31*24*time.Hour)); err == nil {
		t.Error("the installer's token enrolls after 31 days")
	}
	for _, action := range []string{"enrollment_token.create", "agent_installer.download"} {
		es, err := st.ListAudit(ctx, store.AuditFilter{Action: action})
		if err != nil || len(es) != 1 || es[0].Actor != "boss" {
			t.Fatalf("audit %s: %+v %v", action, es, err)
		}
		if action == "agent_installer.download" && (!strings.Contains(es[0].Details, `"arch":"arm64"`) || strings.Contains(es[0].Details, f.built[0].Token)) {
			t.Errorf("download audit details (arch, never the token): %s", es[0].Details)
		}
	}

	// A second download gets another token.
	if _, err := a.DownloadAgentInstaller(admin, "amd64", "http://10.0.0.5:8080"); err != nil || f.built[1].Token == f.built[0].Token {
		t.Fatalf("second download: %v (same token: %v)", err, len(f.built) > 1 && f.built[1].Token == f.built[0].Token)
	}

	// Bad input: refused before a token is made.
	n, _ := st.ListEnrollmentTokens(ctx)
	for _, c := range []struct{ arch, url string }{{"386", "https://x"}, {"", "https://x"}, {"amd64", "ftp://x"}, {"amd64", "https://"}} {
		if _, err := a.DownloadAgentInstaller(admin, c.arch, c.url); app.KindOf(err) != app.Invalid {
			t.Errorf("%q %q: %v, want Invalid", c.arch, c.url, err)
		}
	}
	if m, _ := st.ListEnrollmentTokens(ctx); len(m) != len(n) {
		t.Errorf("refused requests made tokens: %d -> %d", len(n), len(m))
	}

	// A failed build revokes its token.
	f.fail = errors.New("wixl crashed")
	if _, err := a.DownloadAgentInstaller(admin, "amd64", "https://wapt.example.org"); err == nil || !strings.Contains(err.Error(), "wixl crashed") {
		t.Errorf("failed build: %v", err)
	}
	if _, err := st.UseEnrollmentToken(ctx, f.built[len(f.built)-1].Token, installerNow); err == nil {
		t.Error("the token of a failed build still enrolls")
	}
}

// TestAgentInstallerUnavailable: without a builder, or when it lacks wapt-get.exe or
// msitools, the download is Unavailable with the builder's explanation, and no token is made.
func TestAgentInstallerUnavailable(t *testing.T) {
	ctx := context.Background()
	admin := app.ContextWithUser(ctx, app.User{Name: "boss", Role: store.RoleAdmin})
	a, st := installerApp(t, &fakeInstallers{missing: "no wapt-get.exe for amd64: build it with `make build cross`"})
	_, err := a.DownloadAgentInstaller(admin, "amd64", "https://wapt.example.org")
	if app.KindOf(err) != app.Unavailable || !strings.Contains(err.Error(), "make build cross") {
		t.Errorf("missing exe: %v", err)
	}
	if ts, _ := st.ListEnrollmentTokens(ctx); len(ts) != 0 {
		t.Errorf("%d tokens made", len(ts))
	}
	a, _ = installerApp(t, nil)
	if err := a.InstallerAvailable("amd64"); app.KindOf(err) != app.Unavailable {
		t.Errorf("no builder: %v", err)
	}
}
