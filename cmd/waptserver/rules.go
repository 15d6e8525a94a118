package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/spf13/cobra"
)

// newRulesCmd groups the commands that make and check signed rules packages (.wapt,
// section wsus): the packages that tell agents which updates they may install.
func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Build, sign and verify Windows Update rules packages (.wapt)",
		Long: `A rules package is a signed WAPT package (section wsus) carrying a waptwua_rules.json.
Agents install only packages signed by a certificate they trust; PREPROD packages reach
only hosts configured for PREPROD, PROD packages every host.`,
	}
	cmd.AddCommand(newRulesBuildCmd(), newRulesSignCmd(), newRulesVerifyCmd(), newRulesPublishCmd())
	return cmd
}

// signerFlags are the flags naming the signing key and certificate.
type signerFlags struct {
	key, cert, passwordFile string
}

func (f *signerFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.key, "key", "", "signer's private key, PEM (PKCS#8, PKCS#1, or encrypted PKCS#8)")
	cmd.Flags().StringVar(&f.cert, "cert", "", "signer's certificate, PEM; may be followed by its intermediate CAs")
	cmd.Flags().StringVar(&f.passwordFile, "key-password-file", "", "file holding the password of an encrypted --key (first line)")
}

// load reads the signing key and the certificate chain.
func (f *signerFlags) load(what string) (crypto.Signer, []*x509.Certificate, error) {
	if f.key == "" || f.cert == "" {
		return nil, nil, fmt.Errorf("%s: --key and --cert are required (the signer's private key and certificate, PEM)", what)
	}
	keyPEM, err := rulesReadFile(f.key, 1<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: --key: %w", what, err)
	}
	var password []byte
	if f.passwordFile != "" {
		b, err := rulesReadFile(f.passwordFile, 4096)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: --key-password-file: %w", what, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		password = []byte(strings.TrimSuffix(line, "\r"))
		if len(password) == 0 {
			return nil, nil, fmt.Errorf("%s: --key-password-file %s: the first line is empty (write the key's password on it)", what, f.passwordFile)
		}
	}
	key, err := pkg.ParsePrivateKey(keyPEM, password)
	if errors.Is(err, pkg.ErrKeyPassword) && f.passwordFile == "" {
		return nil, nil, fmt.Errorf("%s: --key %s is encrypted: give its password with --key-password-file FILE", what, f.key)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: --key %s: %w", what, f.key, err)
	}
	certPEM, err := rulesReadFile(f.cert, 1<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: --cert: %w", what, err)
	}
	chain, err := pkg.ParseCertificates(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: --cert %s: %w", what, f.cert, err)
	}
	return key, chain, nil
}

func newRulesBuildCmd() *cobra.Command {
	var (
		spec   pkg.Spec
		out    string
		signer signerFlags
	)
	cmd := &cobra.Command{
		Use:   "build RULES.json --name NAME --version V -o PKG.wapt --key KEY.pem --cert CERT.pem",
		Short: "Build and sign a rules package from a waptwua_rules.json",
		Long: `Build a rules package from RULES.json (checked strictly: an unknown key or an invalid
entry is an error naming it) and sign it with --key and --cert. The package is written
to -o atomically.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("rules build: expected one RULES.json, got %d arguments (usage: waptserver rules build RULES.json --name NAME --version V -o PKG.wapt --key KEY.pem --cert CERT.pem)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesBuild(cmd.OutOrStdout(), args[0], spec, out, signer, time.Now)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "package name, e.g. acme-waptwua-rules (required)")
	f.StringVar(&spec.Version, "version", "", "package version, e.g. 1-0 (required)")
	f.StringVar(&spec.Maturity, "maturity", pkg.MaturityProd, "PROD (every host) or PREPROD (hosts configured for PREPROD only)")
	f.StringVar(&spec.Description, "description", "", "one-line description")
	f.StringVar(&spec.Maintainer, "maintainer", "", "who maintains the package")
	f.StringArrayVar(&spec.TargetGroups, "target-group", nil, "host group the package is meant for (repeat for several)")
	f.IntVar(&spec.PromoteAfterDays, "promote-after-days", 0, "a PREPROD package may be promoted to PROD after this many days (0: never automatically)")
	f.IntVar(&spec.PromoteMinSuccessPct, "promote-min-success-pct", 0, "...if at least this percentage of its PREPROD hosts succeeded (0-100)")
	f.StringVarP(&out, "output", "o", "", "package file to write (required)")
	signer.add(cmd)
	return cmd
}

func runRulesBuild(w io.Writer, rulesPath string, spec pkg.Spec, out string, signer signerFlags, now func() time.Time) error {
	if spec.Name == "" || spec.Version == "" || out == "" {
		return errors.New("rules build: --name, --version and -o are required (e.g. --name acme-waptwua-rules --version 1-0 -o acme-waptwua-rules_1-0.wapt)")
	}
	js, err := rulesReadFile(rulesPath, pkg.DefaultMaxFileSize)
	if err != nil {
		return fmt.Errorf("rules build: %w", err)
	}
	if spec.Rules, err = rules.Parse(js); err != nil {
		return fmt.Errorf("rules build: %s: %w", rulesPath, err)
	}
	key, chain, err := signer.load("rules build")
	if err != nil {
		return err
	}
	p, err := pkg.Build(spec)
	if err != nil {
		return fmt.Errorf("rules build: %w", err)
	}
	z, err := pkg.Sign(p, key, chain, now())
	if err != nil {
		return fmt.Errorf("rules build: %w", err)
	}
	if err := rulesWriteFile(out, z); err != nil {
		return fmt.Errorf("rules build: %w", err)
	}
	fmt.Fprintf(w, "wrote %s: %s %s, maturity %s, signed by %s\n", out, p.Control.Package, p.Control.Version, p.Control.Maturity, chain[0].Subject.CommonName)
	return nil
}

func newRulesSignCmd() *cobra.Command {
	var (
		out    string
		signer signerFlags
	)
	cmd := &cobra.Command{
		Use:   "sign PKG.wapt --key KEY.pem --cert CERT.pem [-o OUT.wapt]",
		Short: "Sign a rules package again (unsigned, edited, or signed by someone else)",
		Long: `Sign PKG.wapt again with --key and --cert: a package built unsigned, a package whose
waptwua_rules.json was edited, or one signed with another key. The control and the rules
are kept as they are (the rules must still parse); the old signature is replaced. The
package is rewritten in place unless -o names another file.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("rules sign: expected one PKG.wapt, got %d arguments (usage: waptserver rules sign PKG.wapt --key KEY.pem --cert CERT.pem)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesSign(cmd.OutOrStdout(), args[0], out, signer, time.Now)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "package file to write (default: PKG.wapt itself)")
	signer.add(cmd)
	return cmd
}

func runRulesSign(w io.Writer, path, out string, signer signerFlags, now func() time.Time) error {
	if out == "" {
		out = path
	}
	z, err := rulesReadFile(path, pkg.DefaultMaxSize)
	if err != nil {
		return fmt.Errorf("rules sign: %w", err)
	}
	p, err := pkg.Open(z, pkg.Limits{})
	if err != nil {
		return fmt.Errorf("rules sign: %s: %w", path, err)
	}
	key, chain, err := signer.load("rules sign")
	if err != nil {
		return err
	}
	signed, err := pkg.Sign(p, key, chain, now())
	if err != nil {
		return fmt.Errorf("rules sign: %w", err)
	}
	if err := rulesWriteFile(out, signed); err != nil {
		return fmt.Errorf("rules sign: %w", err)
	}
	fmt.Fprintf(w, "wrote %s: %s %s, maturity %s, signed by %s\n", out, p.Control.Package, p.Control.Version, p.Control.Maturity, chain[0].Subject.CommonName)
	return nil
}

func newRulesVerifyCmd() *cobra.Command {
	var roots []string
	cmd := &cobra.Command{
		Use:   "verify PKG.wapt --roots CA.pem [--roots CA2.pem...]",
		Short: "Check a rules package's signatures and show what it contains",
		Long: `Check that PKG.wapt is signed by a certificate that chains to one of the --roots
certificates (a CA, or a self-signed signer certificate trusted directly), that no file
was added, removed or changed since signing, and that its control and rules are valid.
Prints the package, its maturity, its signer and a summary of its rules, or the reason
it is refused and exits with status 1.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("rules verify: expected one PKG.wapt, got %d arguments (usage: waptserver rules verify PKG.wapt --roots CA.pem)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesVerify(cmd.OutOrStdout(), args[0], roots, time.Now)
		},
	}
	cmd.Flags().StringArrayVar(&roots, "roots", nil, "trusted certificates, PEM or DER: the CA that issued the signer, or the signer's own certificate (repeat for several)")
	return cmd
}

func runRulesVerify(w io.Writer, path string, rootFiles []string, now func() time.Time) error {
	if len(rootFiles) == 0 {
		return errors.New("rules verify: no trusted certificates (pass --roots CA.pem with the CA that issued the signer, or the signer's own certificate)")
	}
	pool := x509.NewCertPool()
	for _, name := range rootFiles {
		b, err := rulesReadFile(name, 1<<20)
		if err != nil {
			return fmt.Errorf("rules verify: --roots: %w", err)
		}
		certs, err := pkg.ParseCertificates(b)
		if err != nil {
			return fmt.Errorf("rules verify: --roots %s: %w (give a certificate file, PEM or DER)", name, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	z, err := rulesReadFile(path, pkg.DefaultMaxSize)
	if err != nil {
		return fmt.Errorf("rules verify: %w", err)
	}
	v, err := pkg.Verify(z, pkg.VerifyOptions{Roots: pool, Now: now})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c := v.Control
	fmt.Fprintf(w, "package:    %s\n", c.Package)
	fmt.Fprintf(w, "version:    %s\n", c.Version)
	fmt.Fprintf(w, "maturity:   %s\n", c.Maturity)
	if c.Description != "" {
		fmt.Fprintf(w, "about:      %s\n", c.Description)
	}
	fmt.Fprintf(w, "signer:     %s (sha256 %s)\n", c.Signer, c.SignerFingerprint)
	for _, ca := range v.Chain[1:] {
		fmt.Fprintf(w, "issued by:  %s\n", ca.Subject.CommonName)
	}
	fmt.Fprintf(w, "signed at:  %s (signer's claim)\n", c.SignatureDate.UTC().Format(time.RFC3339))
	if len(c.TargetGroups) > 0 {
		fmt.Fprintf(w, "targets:    %s\n", strings.Join(c.TargetGroups, ", "))
	}
	if c.PromoteAfterDays > 0 {
		cond := ""
		if c.PromoteMinSuccessPct > 0 {
			cond = fmt.Sprintf(" if at least %d%% of its hosts succeeded", c.PromoteMinSuccessPct)
		}
		fmt.Fprintf(w, "promotion:  to PROD after %d days%s\n", c.PromoteAfterDays, cond)
	}
	fmt.Fprintln(w, "rules:")
	for _, line := range rulesSummary(v.Rules) {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w, "signature OK")
	return nil
}

// rulesSummary describes each key a rules file sets, lists shortened to their first
// entries.
func rulesSummary(r rules.Rules) []string {
	var out []string
	list := func(key string, l []string) {
		if len(l) == 0 {
			return
		}
		shown := l
		more := ""
		if len(l) > 5 {
			shown, more = l[:5], fmt.Sprintf(", ... (%d more)", len(l)-5)
		}
		out = append(out, fmt.Sprintf("%-39s %d: %s%s", key+":", len(l), strings.Join(shown, ", "), more))
	}
	flag := func(key string, b *bool) {
		if b != nil {
			out = append(out, fmt.Sprintf("%-39s %t", key+":", *b))
		}
	}
	list("forbidden_updates", r.ForbiddenUpdates)
	list("forbidden_kbs", r.ForbiddenKBs)
	list("allowed_updates", r.AllowedUpdates)
	list("allowed_kbs", r.AllowedKBs)
	list("allowed_products", r.AllowedProducts)
	list("allowed_severities", r.AllowedSeverities)
	list("allowed_classifications", r.AllowedClassifications)
	if len(r.AutoApprove) > 0 {
		out = append(out, fmt.Sprintf("%-39s %d", "auto_approve:", len(r.AutoApprove)))
		for _, a := range r.AutoApprove {
			out = append(out, "  "+a.String())
		}
	}
	flag("default_allow", r.DefaultAllow)
	flag("include_potentially_superseded_updates", r.IncludePotentiallySupersededUpdates)
	flag("decline_superseded", r.DeclineSuperseded)
	if len(out) == 0 {
		out = append(out, "(empty: decides nothing; hosts fall back to their other rules)")
	}
	return out
}

// rulesReadFile reads a whole file of at most max bytes.
func rulesReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes (is it the right file?)", path, max)
	}
	return b, nil
}

// rulesWriteFile writes data to path atomically: a temporary file in the same directory,
// synced, then renamed over path, so readers never see half a package.
func rulesWriteFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// passwordEnv holds the console password for rules publish when --password-stdin is
// not given.
const passwordEnv = "WAPTSERVER_PASSWORD"

// publishOptions are the flags of rules publish.
type publishOptions struct {
	server, user  string
	passwordStdin bool
	priority      int
	groups, hosts []string
}

func newRulesPublishCmd() *cobra.Command {
	var o publishOptions
	cmd := &cobra.Command{
		Use:   "publish PKG.wapt --server URL --user NAME [--group G]... [--host UUID]...",
		Short: "Upload a signed rules package to a server and assign it",
		Long: `Upload PKG.wapt to the server's package repository (POST /api/v1/admin/packages) as the
console user --user (an administrator). The password comes from the first line of stdin
with --password-stdin, else from the ` + passwordEnv + ` environment variable.

The server verifies the package against its package_trusted_certs and refuses it with
the reason when it fails; its signed target_groups become assignments. --group and --host
add assignments. Uploading the same file again is harmless; another file under the same
name and version is refused (versions are immutable).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("rules publish: expected one PKG.wapt, got %d arguments (usage: waptserver rules publish PKG.wapt --server https://srv --user admin)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := publishPassword(cmd.InOrStdin(), o.passwordStdin, os.Getenv)
			if err != nil {
				return err
			}
			return runRulesPublish(cmd.Context(), cmd.OutOrStdout(), http.DefaultClient, args[0], o, pw)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "server base URL, e.g. https://wapt.example.org (required)")
	f.StringVar(&o.user, "user", "", "console user, an administrator (required)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin (default: $"+passwordEnv+")")
	f.IntVar(&o.priority, "priority", 0, "install order on hosts: lower first, then by name (a later package wins for default_allow)")
	f.StringArrayVar(&o.groups, "group", nil, "assign the package to this host group (repeatable)")
	f.StringArrayVar(&o.hosts, "host", nil, "assign the package to this host UUID (repeatable)")
	return cmd
}

func publishPassword(stdin io.Reader, fromStdin bool, getenv func(string) string) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("rules publish: read the password from stdin: %w", err)
		}
		if pw := strings.TrimRight(line, "\r\n"); pw != "" {
			return pw, nil
		}
		return "", errors.New("rules publish: --password-stdin: the first line of stdin is empty")
	}
	if pw := getenv(passwordEnv); pw != "" {
		return pw, nil
	}
	return "", fmt.Errorf("rules publish: no password: pipe it in with --password-stdin or set %s", passwordEnv)
}

func runRulesPublish(ctx context.Context, w io.Writer, hc *http.Client, path string, o publishOptions, password string) error {
	if o.server == "" || o.user == "" {
		return errors.New("rules publish: --server and --user are required (e.g. --server https://wapt.example.org --user admin)")
	}
	base, err := url.Parse(strings.TrimRight(o.server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("rules publish: --server %q is not an http(s) URL (e.g. https://wapt.example.org)", o.server)
	}
	data, err := rulesReadFile(path, pkg.DefaultMaxSize)
	if err != nil {
		return fmt.Errorf("rules publish: %w", err)
	}
	call := func(method, p string, body []byte, contentType string, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, base.String()+server.AdminPrefix+p, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(o.user, password)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w (check --server and the network)", method, req.URL.Redacted(), err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			var e api.Error
			msg := strings.TrimSpace(string(b))
			if json.Unmarshal(b, &e) == nil && e.Error != "" {
				msg = e.Error
			}
			return fmt.Errorf("%s %s: HTTP %d: %s", method, req.URL.Redacted(), resp.StatusCode, msg)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, req.URL.Redacted(), err)
			}
		}
		return nil
	}
	var up struct {
		Name            string `json:"name"`
		Version         string `json:"version"`
		Filename        string `json:"filename"`
		Maturity        string `json:"maturity"`
		Verified        bool   `json:"verified"`
		VerifyError     string `json:"verify_error"`
		Signer          string `json:"signer"`
		OfferedMaturity string `json:"offered_maturity"`
		Kind            string `json:"kind"`
		Assignments     []struct {
			Kind   string `json:"kind"`
			Target string `json:"target"`
		} `json:"assignments"`
	}
	q := ""
	if o.priority != 0 {
		q = "?priority=" + strconv.Itoa(o.priority)
	}
	if err := call(http.MethodPost, "/packages"+q, data, "application/octet-stream", &up); err != nil {
		return fmt.Errorf("rules publish: %s: %w", path, err)
	}
	fmt.Fprintf(w, "published %s: %s %s, maturity %s, signed by %s\n", up.Filename, up.Name, up.Version, up.Maturity, up.Signer)
	if !up.Verified {
		fmt.Fprintf(w, "warning: %s\n", up.VerifyError)
	}
	if up.Kind == store.PackageKindUpdate {
		if err := publishPayload(ctx, w, hc, base.String(), o.user, password, path, up.Name, up.Version); err != nil {
			return err
		}
	}
	assign := func(kind, target string) error {
		body, _ := json.Marshal(map[string]string{"kind": kind, "target": target})
		if err := call(http.MethodPost, "/packages/"+url.PathEscape(up.Name)+"/assignments", body, "application/json", nil); err != nil {
			return fmt.Errorf("rules publish: assign %s to %s %s: %w", up.Name, kind, target, err)
		}
		fmt.Fprintf(w, "assigned %s to %s %s\n", up.Name, kind, target)
		return nil
	}
	for _, g := range o.groups {
		if err := assign("group", g); err != nil {
			return err
		}
	}
	for _, h := range o.hosts {
		if err := assign("host", h); err != nil {
			return err
		}
	}
	return nil
}

// publishPayload uploads the payload files of an update package that the server does
// not hold yet, from the folder NAME_VERSION.payload next to the .wapt (as packages
// build-* writes it), each streamed from disk; the server checks each against the
// signed manifest.
func publishPayload(ctx context.Context, w io.Writer, hc *http.Client, base, user, password, waptPath, name, version string) error {
	dir := strings.TrimSuffix(waptPath, filepath.Ext(waptPath)) + ".payload"
	pkgURL := base + server.AdminPrefix + "/packages/" + url.PathEscape(name) + "/" + url.PathEscape(version) + "/payload"
	do := func(method, u string, body io.Reader, size int64, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, password)
		if body != nil {
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, req.URL.Redacted(), err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			var e api.Error
			msg := strings.TrimSpace(string(b))
			if json.Unmarshal(b, &e) == nil && e.Error != "" {
				msg = e.Error
			}
			return fmt.Errorf("%s %s: HTTP %d: %s", method, req.URL.Redacted(), resp.StatusCode, msg)
		}
		return json.Unmarshal(b, out)
	}
	var st struct {
		Complete bool `json:"complete"`
		Files    []struct {
			Path    string `json:"path"`
			Size    int64  `json:"size"`
			Present bool   `json:"present"`
		} `json:"files"`
	}
	if err := do(http.MethodGet, pkgURL, nil, 0, &st); err != nil {
		return fmt.Errorf("rules publish: payload of %s %s: %w", name, version, err)
	}
	for _, f := range st.Files {
		if f.Present {
			continue
		}
		local := filepath.Join(dir, filepath.FromSlash(f.Path))
		fh, err := os.Open(local)
		if err != nil {
			return fmt.Errorf("rules publish: payload file %s of %s %s: %w (publish the .wapt from the folder packages build-* wrote, next to its %s)",
				f.Path, name, version, err, filepath.Base(dir))
		}
		segs := strings.Split(f.Path, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		err = do(http.MethodPut, pkgURL+"/"+strings.Join(segs, "/"), fh, f.Size, &st)
		fh.Close()
		if err != nil {
			return fmt.Errorf("rules publish: payload file %s of %s %s: %w", f.Path, name, version, err)
		}
		fmt.Fprintf(w, "uploaded payload %s (%d bytes)\n", f.Path, f.Size)
	}
	if !st.Complete {
		return fmt.Errorf("rules publish: the payload of %s %s is still incomplete on the server", name, version)
	}
	fmt.Fprintf(w, "payload complete: %d files; the package is offered to its hosts\n", len(st.Files))
	return nil
}
