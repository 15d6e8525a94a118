package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
)

// secretEnv may carry the enrollment secret, to keep it off the command line.
const secretEnv = "WAPTWUA_ENROLLMENT_SECRET"

func newRegisterCmd(g *globals) *cobra.Command {
	var server, secret, uuid, name string
	var groups []string
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register this host with the server and write its credential file (mode 0600)",
		Long: "register presents the server's enrollment secret (enrollment_secret of waptserver.ini)\n" +
			"and writes the host credential it receives to the credential_file of wapt-get.ini.\n" +
			"The secret may also come from the " + secretEnv + " environment variable.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = g.cfg.Global.WaptServer
			}
			if server == "" {
				return fmt.Errorf("no server: give --server https://<server> or set [global] wapt_server in %s", g.cfg.Source)
			}
			if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
				return fmt.Errorf("--server %q: not an http(s) URL (e.g. https://wapt.example.org)", server)
			}
			if secret == "" {
				secret = os.Getenv(secretEnv)
			}
			if secret == "" {
				return fmt.Errorf("no enrollment secret: give --secret or set %s", secretEnv)
			}
			if uuid == "" {
				uuid = g.cfg.Global.UUID
			}
			if uuid == "" {
				if old, err := agent.LoadCredential(g.cfg.Global.CredentialFile); err == nil {
					uuid = old.UUID
				}
			}
			if uuid == "" {
				uuid = machineUUID()
			}
			if name == "" {
				name = g.cfg.Global.HostName
			}
			osName := runtime.GOOS
			if g.backend() == "sim" && g.profile != "" {
				if h, err := g.openHost(); err == nil {
					if name == "" {
						name = h.name
					}
					osName = h.osName
				}
			}
			if name == "" {
				name, _ = os.Hostname()
			}
			hc, err := agent.NewHTTPClient(g.cfg)
			if err != nil {
				return err
			}
			client := agent.NewClient(hc, server, "", nil, "wapt-get/"+version())
			maturity := ""
			if len(g.cfg.Global.Maturities) > 0 {
				maturity = g.cfg.Global.Maturities[0]
			}
			cred, err := agent.Register(signalContext(cmd), client, server, secret, api.RegisterRequest{
				UUID: uuid, Name: name, OS: osName, AgentVersion: version(), Groups: groups, Maturity: maturity,
			})
			if err != nil {
				return err
			}
			if err := agent.SaveCredential(g.cfg.Global.CredentialFile, cred); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "registered %s (%s) with %s; credential written to %s\n", name, cred.UUID, cred.Server, g.cfg.Global.CredentialFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "server base URL, e.g. https://wapt.example.org (default: [global] wapt_server)")
	cmd.Flags().StringVar(&secret, "secret", "", "enrollment secret (or set "+secretEnv+")")
	cmd.Flags().StringVar(&uuid, "uuid", "", "host UUID (default: [global] uuid, the previous registration's, or the machine's)")
	cmd.Flags().StringVar(&name, "name", "", "host name (default: [global] host_name, the profile's, or the system's)")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "host group (repeatable)")
	return cmd
}

// machineUUID returns the machine's stable identifier, or a random UUID when the system
// has none.
func machineUUID() string {
	if id := systemMachineID(); id != "" {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
