package app

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// The agent installer download (issue 12): an admin asks for an MSI of the Windows
// agent; the application creates a fresh enrollment token for it and has the installer
// built with the token and the server URL. The MSI holds the token (anyone with the
// file can enroll a host), so this is admin only and audited.

// InstallerSpec is what one agent installer is built from.
type InstallerSpec struct {
	Arch      string // amd64 or arm64
	ServerURL string // the server's base URL the agent reports to
	Token     string // a fresh enrollment token
}

// InstallerBuilder builds the agent's MSI (cmd/waptserver wires internal/msi with the
// wapt-get.exe built for each architecture).
type InstallerBuilder interface {
	// InstallerAvailable says why an installer for arch cannot be built here (missing
	// wapt-get.exe or msitools, with the fix), nil when it can.
	InstallerAvailable(arch string) error
	// BuildInstaller returns the MSI's bytes.
	BuildInstaller(ctx context.Context, s InstallerSpec) ([]byte, error)
}

// WithInstallers lets admins download agent installers built by b (without it:
// Unavailable).
func WithInstallers(b InstallerBuilder) Option { return func(a *App) { a.installers = b } }

// InstallerArchs are the architectures an agent installer is offered for.
var InstallerArchs = []string{"amd64", "arm64"}

// InstallerTokenValidity is how long the enrollment token of a downloaded installer
// stays valid.
const InstallerTokenValidity = 30 * 24 * time.Hour

// AgentInstaller is a built installer.
type AgentInstaller struct {
	Filename string // waptagent-<arch>.msi
	MSI      []byte
	TokenID  int64
}

// InstallerAvailable says whether an agent installer for arch can be built, and if not,
// why and how to fix it (an Unavailable error).
func (a *App) InstallerAvailable(arch string) error {
	if !slices.Contains(InstallerArchs, arch) {
		return errorf(Invalid, "arch", "%q: want amd64 or arm64", Truncate(arch, 20))
	}
	if a.installers == nil {
		return errorf(Unavailable, "", "this server builds no agent installer")
	}
	if err := a.installers.InstallerAvailable(arch); err != nil {
		return errorf(Unavailable, "", "%s", err.Error())
	}
	return nil
}

// DownloadAgentInstaller creates an enrollment token labelled "agent installer <arch>
// <time>", valid InstallerTokenValidity (enrollment_token.create), and builds the
// agent's MSI for arch with it and serverURL (agent_installer.download). Admins only.
func (a *App) DownloadAgentInstaller(ctx context.Context, arch, serverURL string) (AgentInstaller, error) {
	who, err := admin(ctx)
	if err != nil {
		return AgentInstaller{}, err
	}
	if err := a.InstallerAvailable(arch); err != nil {
		return AgentInstaller{}, err
	}
	if u, err := url.Parse(serverURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return AgentInstaller{}, errorf(Invalid, "server_url", "%q: want the server's http(s):// base URL", Truncate(serverURL, 100))
	}
	now := a.now()
	tok, t, err := a.CreateEnrollmentToken(ctx, NewToken{
		Label:     fmt.Sprintf("agent installer %s %s", arch, now.UTC().Format("2006-01-02 15:04:05Z")),
		ExpiresAt: now.Add(InstallerTokenValidity),
	})
	if err != nil {
		return AgentInstaller{}, err
	}
	b, err := a.installers.BuildInstaller(ctx, InstallerSpec{Arch: arch, ServerURL: serverURL, Token: tok})
	if err != nil {
		// The token is in no file: revoke it rather than leave an unused live token.
		if rerr := a.d.Tokens.RevokeEnrollmentToken(context.WithoutCancel(ctx), t.ID, a.now(), who.Name); rerr != nil {
			a.log.WarnContext(ctx, "agent installer: revoke the unused token", "token_id", t.ID, "err", rerr)
		}
		return AgentInstaller{}, fmt.Errorf("build the %s agent installer: %w", arch, err)
	}
	name := "waptagent-" + arch + ".msi"
	a.audit(ctx, who.Name, "agent_installer.download", fmt.Sprintf("enrollment_token:%d", t.ID),
		map[string]any{"arch": arch, "server_url": serverURL, "file": name, "bytes": len(b), "expires_at": t.ExpiresAt})
	return AgentInstaller{Filename: name, MSI: b, TokenID: t.ID}, nil
}
