package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
)

// Environment variables that may carry the enrollment token, to keep it off the command
// line (where every user of the machine can read it). The second is the older name.
const (
	tokenEnv  = "WAPTWUA_ENROLLMENT_TOKEN"
	secretEnv = "WAPTWUA_ENROLLMENT_SECRET"
)

// maxTokenFile bounds a token file.
const maxTokenFile = 4 << 10

// readTokenFile reads an enrollment token from a file: the first line, trimmed.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("enrollment token file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, maxTokenFile+1)
	n, _ := f.Read(buf)
	if n > maxTokenFile {
		return "", fmt.Errorf("enrollment token file %s: larger than %d bytes, not a token", path, maxTokenFile)
	}
	tok, _, _ := strings.Cut(string(buf[:n]), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("enrollment token file %s: empty", path)
	}
	return tok, nil
}

// registration is what one registration needs.
type registration struct {
	server, token, uuid, name string
	groups                    []string
}

// register enrolls the host (r is completed with the defaults it used).
func (g *globals) register(ctx context.Context, r *registration) (*agent.Credential, error) {
	if r.server == "" {
		r.server = g.cfg.Global.WaptServer
	}
	if r.server == "" {
		return nil, fmt.Errorf("no server: give --server https://<server> or set [global] wapt_server in %s", g.cfg.Source)
	}
	if !strings.HasPrefix(r.server, "http://") && !strings.HasPrefix(r.server, "https://") {
		return nil, fmt.Errorf("--server %q: not an http(s) URL (e.g. https://wapt.example.org)", r.server)
	}
	if err := g.cfg.CheckTransport("server", r.server); err != nil {
		return nil, err
	}
	if r.uuid == "" {
		r.uuid = g.cfg.Global.UUID
	}
	if r.uuid == "" {
		if old, err := agent.LoadCredential(g.cfg.Global.CredentialFile); err == nil {
			r.uuid = old.UUID
		}
	}
	if r.uuid == "" {
		r.uuid = machineUUID()
	}
	if r.name == "" {
		r.name = g.cfg.Global.HostName
	}
	osName := runtime.GOOS
	if g.backend() == "sim" && g.profile != "" {
		if h, err := g.openHost(); err == nil {
			if r.name == "" {
				r.name = h.name
			}
			osName = h.osName
		}
	}
	if r.name == "" {
		r.name, _ = os.Hostname()
	}
	hc, err := agent.NewHTTPClient(g.cfg)
	if err != nil {
		return nil, err
	}
	client := agent.NewClient(hc, r.server, "", nil, "wapt-get/"+version())
	maturity := ""
	if len(g.cfg.Global.Maturities) > 0 {
		maturity = g.cfg.Global.Maturities[0]
	}
	cred, err := agent.Register(ctx, client, r.server, r.token, api.RegisterRequest{
		UUID: r.uuid, Name: r.name, OS: osName, AgentVersion: version(), Groups: r.groups, Maturity: maturity,
	})
	if err != nil {
		return nil, err
	}
	if err := agent.SaveCredential(g.cfg.Global.CredentialFile, cred); err != nil {
		return nil, err
	}
	return cred, nil
}

// registerFromTokenFile registers at the first start after an installation: the
// installer left the token in enrollment_token_file. The file is removed once the
// credential is written. nil, nil when there is no token file.
func (g *globals) registerFromTokenFile(ctx context.Context) (*agent.Credential, error) {
	path := g.cfg.Global.EnrollmentTokenFile
	token, err := readTokenFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cred, err := g.register(ctx, &registration{token: token})
	if err != nil {
		return nil, fmt.Errorf("first registration with the token of %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		g.log.Warn("enrollment token file not removed", slog.String("file", path), slog.Any("err", err))
	}
	g.log.Info("registered at first start", slog.String("server", cred.Server), slog.String("uuid", cred.UUID))
	return cred, nil
}

func newRegisterCmd(g *globals) *cobra.Command {
	var r registration
	var secret, tokenFile string
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register this host with the server and write its credential file (readable by administrators only)",
		Long: "register presents an enrollment token of the server and writes the host credential\n" +
			"it receives to the credential_file of wapt-get.ini (mode 0600; on Windows an ACL for\n" +
			"SYSTEM and Administrators). The token comes from --token-file, or the " + tokenEnv + "\n" +
			"environment variable (" + secretEnv + " also works): a token on the command\n" +
			"line (--secret) is visible to every user of the machine.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case tokenFile != "":
				tok, err := readTokenFile(tokenFile)
				if err != nil {
					return err
				}
				r.token = tok
			case os.Getenv(tokenEnv) != "":
				r.token = os.Getenv(tokenEnv)
			case os.Getenv(secretEnv) != "":
				r.token = os.Getenv(secretEnv)
			case secret != "":
				g.log.Warn("the enrollment token on the command line is visible to other users: prefer --token-file or " + tokenEnv)
				r.token = secret
			default:
				return fmt.Errorf("no enrollment token: give --token-file FILE or set %s", tokenEnv)
			}
			cred, err := g.register(signalContext(cmd), &r)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "registered %s (%s) with %s; credential written to %s\n", r.name, cred.UUID, cred.Server, g.cfg.Global.CredentialFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&r.server, "server", "", "server base URL, e.g. https://wapt.example.org (default: [global] wapt_server)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the enrollment token (first line)")
	cmd.Flags().StringVar(&secret, "secret", "", "enrollment token (visible to other users: prefer --token-file or "+tokenEnv+")")
	cmd.Flags().StringVar(&r.uuid, "uuid", "", "host UUID (default: [global] uuid, the previous registration's, or the machine's)")
	cmd.Flags().StringVar(&r.name, "name", "", "host name (default: [global] host_name, the profile's, or the system's)")
	cmd.Flags().StringSliceVar(&r.groups, "group", nil, "host group (repeatable)")
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
