package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/msi"
)

// agentTokenEnv may carry the enrollment token of agent-installer, to keep it off the
// command line.
const agentTokenEnv = "WAPTWUA_ENROLLMENT_TOKEN"

// defaultAgentExe is where `make build` and `make cross` put wapt-get.exe for arch,
// next to this program: bin/waptserver and bin/windows-<arch>/wapt-get.exe.
func defaultAgentExe(arch string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), "windows-"+arch, "wapt-get.exe")
}

func newAgentInstallerCmd() *cobra.Command {
	var o msi.Options
	var tokenFile, presetPath, out string
	cmd := &cobra.Command{
		Use:   "agent-installer --server URL --token-file FILE [--preset preset.ini] -o waptagent.msi",
		Short: "Build the Windows agent's MSI installer (wapt-get.exe, wapt-get.ini, the waptwua service)",
		Long: `Build the Windows agent's installer, an MSI package, with msitools (Debian: wixl,
msitools). It installs wapt-get.exe under Program Files\waptwua, writes wapt-get.ini with
the server URL and the [waptwua] options of the preset, installs and starts the waptwua
service, which registers with the enrollment token at its first start. Uninstalling
removes the service and the files and keeps C:\ProgramData\waptwua (state, credential)
unless REMOVEDATA=1 is given (msiexec /x waptagent.msi /qn REMOVEDATA=1).

The enrollment token comes from --token-file or the ` + agentTokenEnv + ` environment
variable (--token works but is visible to every user of this machine). The package
holds the token: hand it only to the hosts to enroll.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case tokenFile != "":
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				o.Token, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			case o.Token != "":
				slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).Warn("the enrollment token on the command line is visible to other users: prefer --token-file or " + agentTokenEnv)
			default:
				o.Token = os.Getenv(agentTokenEnv)
			}
			if o.Token == "" {
				return fmt.Errorf("no enrollment token: give --token-file FILE or set %s", agentTokenEnv)
			}
			if presetPath != "" {
				b, err := os.ReadFile(presetPath)
				if err != nil {
					return fmt.Errorf("--preset: %w", err)
				}
				o.Preset, o.PresetName = b, presetPath
			}
			if o.AgentExe == "" {
				o.AgentExe = defaultAgentExe(o.Arch)
			}
			if out == "" {
				return fmt.Errorf("no output: give -o waptagent.msi")
			}
			if err := msi.Build(cmd.Context(), o, out); err != nil {
				if _, serr := os.Stat(o.AgentExe); serr != nil {
					err = fmt.Errorf("%w (build it: GOOS=windows GOARCH=%s go build -o %s ./cmd/wapt-get, or give --agent-exe)", err, o.Arch, o.AgentExe)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: agent installer for %s (%s), server %s\n", out, o.Arch, o.Version, o.ServerURL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ServerURL, "server", "", "the server's URL the agents report to, e.g. https://wapt.example.org")
	f.StringVar(&tokenFile, "token-file", "", "file holding the enrollment token (or set "+agentTokenEnv+")")
	f.StringVar(&o.Token, "token", "", "enrollment token (visible to other users: prefer --token-file)")
	f.StringVar(&presetPath, "preset", "", "preset.ini: the [waptwua] options written into wapt-get.ini")
	f.StringVar(&o.Arch, "arch", "amd64", "Windows architecture: amd64 or arm64")
	f.StringVar(&o.AgentExe, "agent-exe", "", "wapt-get.exe built for --arch (default: windows-<arch>/wapt-get.exe next to waptserver, as make cross puts it)")
	f.StringVar(&o.Version, "version", "1.0.0", "product version (major.minor.build)")
	f.StringVarP(&out, "output", "o", "", "the MSI file to write")
	_ = cmd.MarkFlagRequired("server")
	return cmd
}
