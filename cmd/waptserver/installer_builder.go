package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/msi"
)

// msiBuilder builds the console's agent installers (app.InstallerBuilder) with
// internal/msi from <exeDir>/windows-<arch>/wapt-get.exe.
type msiBuilder struct {
	// exeDir holds windows-<arch>/wapt-get.exe; "": next to this program (defaultAgentExe).
	exeDir string
}

var _ app.InstallerBuilder = msiBuilder{}

func (b msiBuilder) agentExe(arch string) string {
	if b.exeDir == "" {
		return defaultAgentExe(arch)
	}
	return filepath.Join(b.exeDir, "windows-"+arch, "wapt-get.exe")
}

func (b msiBuilder) InstallerAvailable(arch string) error {
	exe := b.agentExe(arch)
	if fi, err := os.Stat(exe); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("no wapt-get.exe for %s at %s: build it with `make build cross` (it lands in bin/windows-%s/) or start waptserver serve with --agent-exe-dir", arch, exe, arch)
	}
	for _, tool := range []string{"wixl", "msibuild", "msiinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install Debian's wixl and msitools packages on the server", tool)
		}
	}
	return nil
}

func (b msiBuilder) BuildInstaller(ctx context.Context, s app.InstallerSpec) ([]byte, error) {
	dir, err := os.MkdirTemp("", "waptagent-*")
	if err != nil {
		return nil, fmt.Errorf("agent installer: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "waptagent-"+s.Arch+".msi")
	if err := msi.Build(ctx, msi.Options{Arch: s.Arch, AgentExe: b.agentExe(s.Arch), ServerURL: s.ServerURL, Token: s.Token}, out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}
