package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/openwua/waptwua/internal/wu"
)

// Defaults of the [waptwua] section (REFERENCE §3).
const (
	DefaultFilter        = "Type='Software' or Type='Driver'"
	DefaultPostbootDelay = 10 * time.Minute
	DefaultUserLocale    = 1033
	// DefaultCredentialFile is where registration writes the agent's credential, relative
	// to the folder of wapt-get.ini. The server secret is never stored in the ini.
	DefaultCredentialFile = "private/waptwua-credential.json"
	// DefaultEnrollmentTokenFile is where an installer leaves the enrollment token for
	// the first start (registration reads it, then deletes it), relative to the folder
	// of wapt-get.ini.
	DefaultEnrollmentTokenFile = "private/enrollment-token"
)

// DefaultAgentPath returns where wapt-get.ini lives on goos (runtime.GOOS).
func DefaultAgentPath(goos string) string {
	if goos == "windows" {
		return `C:\Program Files (x86)\wapt\wapt-get.ini`
	}
	return "/opt/wapt/wapt-get.ini"
}

// Agent is the agent's configuration, wapt-get.ini.
type Agent struct {
	// Source is the file it was read from, as given to LoadAgent or ParseAgent.
	Source string
	Global Global
	WUA    WUA
	// Rules holds the rules keys of [waptwua]; the agent turns them into rules.Rules
	// and merges them with the rules packages.
	Rules RulesSection
	// Warnings lists what was ignored: unknown [waptwua] keys (installers write extra
	// ones), obsolete keys. Log them; they do not stop the agent.
	Warnings []string
}

// Global holds the [global] keys WAPTWUA uses. Relative paths are made relative to the
// folder of wapt-get.ini.
type Global struct {
	// RepoURL is the repository, "https://srv/wapt"; update files come from RepoURL+"wua".
	RepoURL string
	// WaptServer is the server's base URL, "https://srv".
	WaptServer string
	// UUID and HostName override the host's identity (simulation, cloned machines).
	UUID     string
	HostName string
	// VerifyCert says whether HTTPS certificates are checked (default true); CABundle is
	// the PEM file of trusted roots when verify_cert names a file instead of a boolean.
	VerifyCert bool
	CABundle   string
	// ClientCertificate and ClientPrivateKey: PEM files for TLS client authentication.
	ClientCertificate string
	ClientPrivateKey  string
	// CredentialFile is written by registration and holds the agent's secret.
	CredentialFile string
	// HTTPProxy is used for direct downloads from Microsoft; empty: none.
	HTTPProxy string
	// Maturities of the rules packages the host takes (default PROD).
	Maturities []string
	// AllowInsecureHTTP lets the agent talk to an http:// server or repository
	// (allow_insecure_http, default False: refused, the credential would travel in clear).
	AllowInsecureHTTP bool
	// EnrollmentTokenFile holds the enrollment token an installer left for the first
	// start (enrollment_token_file).
	EnrollmentTokenFile string
	// DataDir is the agent's data folder (data_dir, written by the installer); empty:
	// "waptwua" next to wapt-get.ini. --data-dir overrides it.
	DataDir string
}

// CheckTransport refuses a plain-HTTP URL unless allow_insecure_http is set; what
// names the URL's use in the error ("server", "repository").
func (a *Agent) CheckTransport(what, u string) error {
	if u == "" || a.Global.AllowInsecureHTTP || !strings.HasPrefix(strings.ToLower(u), "http://") {
		return nil
	}
	return fmt.Errorf("%s %s is plain HTTP: the host's credential, commands and rules would travel unprotected; "+
		"use https://, or set allow_insecure_http = True in [global] of %s (tests and labs only)", what, u, a.Source)
}

// WUA holds the [waptwua] keys that are not rules (REFERENCE §3). Durations are 0 when
// not set ("none"). default_allow, allowed_severities and
// include_potentially_superseded_updates are rules keys: see RulesSection.
type WUA struct {
	// Enabled: nil (absent) changes nothing and only scans; true manages updates and
	// turns Windows' own automatic updates off; false gives them back to Windows.
	Enabled *bool
	// DirectDownload: always download update files straight from Microsoft.
	DirectDownload bool
	// AllowDirectDownload: download from Microsoft when the server is unreachable
	// (the documented key, which the original never read).
	AllowDirectDownload bool
	// Filter is the WUA search criteria.
	Filter string
	// DownloadScheduling is the scan+download recurrence; InstallScheduling the install
	// recurrence.
	DownloadScheduling time.Duration
	InstallScheduling  time.Duration
	InstallAtShutdown  bool
	// InstallDelay defers each update until LastDeploymentChangeTime + InstallDelay.
	InstallDelay                      time.Duration
	WaptexitDisableSkipWindowsUpdates bool
	// PostbootDelay is the wait after boot before a scheduled scan or install.
	PostbootDelay time.Duration
	// UserLocale is the LCID of titles and category names asked from WUA.
	UserLocale int
	// TrustedCerts is the PEM file, or the folder of .pem/.crt/.cer files, of the
	// certificates rules packages must be signed with (directly or through a CA):
	// [waptwua] trusted_certs, else WAPT's [global] public_certs_dir. Empty: no package
	// is trusted (each is refused) and the server's unsigned rules are used.
	TrustedCerts string
}

// RulesSection holds the rules keys of [waptwua], validated and normalized like
// rules.Normalize does (KBs as "KB5034441", update keys in lower case, severities
// capitalised). Lists are comma-separated in the file.
type RulesSection struct {
	AllowedUpdates         []string
	ForbiddenUpdates       []string
	AllowedKBs             []string
	ForbiddenKBs           []string
	AllowedProducts        []string
	AllowedClassifications []string
	AllowedSeverities      []string
	// DefaultAllow is nil when the ini does not set it, so that the rules packages decide.
	DefaultAllow                        *bool
	IncludePotentiallySupersededUpdates *bool
}

// WUARepoURL returns the folder the agent downloads wsusscn2.cab and update files from:
// repo_url with "wua" appended and a final slash ("https://srv/wapt" gives
// "https://srv/waptwua/"). Without repo_url it uses wapt_server + "/wapt", as WAPT does.
func (a *Agent) WUARepoURL() (string, error) {
	base := strings.TrimRight(a.Global.RepoURL, "/")
	if base == "" {
		if a.Global.WaptServer == "" {
			return "", fmt.Errorf("%s: [global] repo_url and wapt_server are both empty: set repo_url = https://<server>/wapt", a.Source)
		}
		base = strings.TrimRight(a.Global.WaptServer, "/") + "/wapt"
	}
	return base + "wua/", nil
}

// Keys of [waptwua] (REFERENCE §3 and §4), in the order of the documentation.
var waptwuaKeys = []string{
	"enabled", "direct_download", "allow_direct_download", "default_allow", "filter",
	"download_scheduling", "install_scheduling", "install_at_shutdown", "install_delay",
	"allowed_severities", "include_potentially_superseded_updates",
	"waptexit_disable_skip_windows_updates", "postboot_delay", "user_locale", "offline",
	"allowed_updates", "forbidden_updates", "allowed_kbs", "forbidden_kbs",
	"allowed_products", "allowed_classifications", "trusted_certs",
}

// LoadAgent reads and validates wapt-get.ini.
func LoadAgent(path string) (*Agent, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent configuration: %w", err)
	}
	return ParseAgent(data, path)
}

// ParseAgent reads the text of a wapt-get.ini; source names it in errors and anchors
// relative paths. Every invalid value is reported (errors.Join of *ValueError and
// syntax errors); unknown [waptwua] keys only add warnings.
func ParseAgent(data []byte, source string) (*Agent, error) {
	f, err := parseIni(data, source)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(source)
	a := &Agent{Source: source}

	g := &reader{f: f, section: "global"}
	a.Global = Global{
		RepoURL:             g.url("repo_url"),
		WaptServer:          g.url("wapt_server"),
		UUID:                g.identity("uuid"),
		HostName:            g.identity("host_name"),
		VerifyCert:          true,
		ClientCertificate:   resolvePath(dir, g.str("client_certificate", "")),
		ClientPrivateKey:    resolvePath(dir, g.str("client_private_key", "")),
		CredentialFile:      resolvePath(dir, g.str("credential_file", DefaultCredentialFile)),
		HTTPProxy:           g.proxy("http_proxy"),
		Maturities:          g.maturities("maturities"),
		AllowInsecureHTTP:   g.boolean("allow_insecure_http", false),
		EnrollmentTokenFile: resolvePath(dir, g.str("enrollment_token_file", DefaultEnrollmentTokenFile)),
		DataDir:             resolvePath(dir, g.str("data_dir", "")),
	}
	if v, ok := g.raw("verify_cert"); ok {
		if b, err := ParseBool(v); err == nil {
			a.Global.VerifyCert = b
		} else if looksLikePath(v) {
			a.Global.CABundle = resolvePath(dir, v)
		} else {
			g.fail("verify_cert", v, fmt.Errorf("not a boolean or a CA bundle path (use True, False or the path of a PEM file)"))
		}
	}
	if (a.Global.ClientCertificate == "") != (a.Global.ClientPrivateKey == "") {
		g.fail("client_certificate", a.Global.ClientCertificate,
			fmt.Errorf("client_certificate and client_private_key go together (set both or neither)"))
	}
	if _, ok := f.lookup("global", "wapt_server_secret"); ok {
		a.Warnings = append(a.Warnings, fmt.Sprintf("%s: [global] wapt_server_secret ignored: "+
			"secrets are not kept in wapt-get.ini (register the agent; it writes credential_file)", source))
	}

	w := &reader{f: f, section: "waptwua"}
	a.WUA = WUA{
		Enabled:                           w.triBool("enabled"),
		DirectDownload:                    w.boolean("direct_download", false),
		AllowDirectDownload:               w.boolean("allow_direct_download", false),
		Filter:                            w.filter("filter"),
		DownloadScheduling:                w.duration("download_scheduling", 0),
		InstallScheduling:                 w.duration("install_scheduling", 0),
		InstallAtShutdown:                 w.boolean("install_at_shutdown", false),
		InstallDelay:                      w.duration("install_delay", 0),
		WaptexitDisableSkipWindowsUpdates: w.boolean("waptexit_disable_skip_windows_updates", false),
		PostbootDelay:                     w.duration("postboot_delay", DefaultPostbootDelay),
		UserLocale: w.integer("user_locale", DefaultUserLocale, 1, 0xFFFF,
			"a Windows locale id, e.g. 1033 for en-US or 1036 for fr-FR"),
	}
	if v, ok := w.raw("trusted_certs"); ok && v != "" {
		a.WUA.TrustedCerts = resolvePath(dir, v)
	} else if v, ok := g.raw("public_certs_dir"); ok && v != "" {
		a.WUA.TrustedCerts = resolvePath(dir, v)
	}
	// offline: legacy key written by installers, accepted and ignored.
	a.Rules = RulesSection{
		AllowedUpdates:                      w.list("allowed_updates", normUpdateKey),
		ForbiddenUpdates:                    w.list("forbidden_updates", normUpdateKey),
		AllowedKBs:                          w.list("allowed_kbs", normKB),
		ForbiddenKBs:                        w.list("forbidden_kbs", normKB),
		AllowedProducts:                     w.list("allowed_products", normName),
		AllowedClassifications:              w.list("allowed_classifications", normName),
		AllowedSeverities:                   w.list("allowed_severities", normSeverity),
		DefaultAllow:                        w.triBool("default_allow"),
		IncludePotentiallySupersededUpdates: w.triBool("include_potentially_superseded_updates"),
	}
	a.Warnings = append(a.Warnings, w.unknownKeys(waptwuaKeys)...)

	if err := errors.Join(append(g.errs, w.errs...)...); err != nil {
		return nil, err
	}
	return a, nil
}

// url reads an http(s) URL without query or fragment; empty stays empty.
func (r *reader) url(key string) string {
	v, ok := r.raw(key)
	if !ok {
		return ""
	}
	if err := checkHTTPURL(v); err != nil {
		r.fail(key, v, err)
		return ""
	}
	return v
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(v, " \t") {
		return fmt.Errorf("not an http(s) URL (use e.g. https://wapt.example.org/wapt, without query or user)")
	}
	return nil
}

func (r *reader) proxy(key string) string {
	v, ok := r.raw(key)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		r.fail(key, redactURL(v), fmt.Errorf("not a proxy URL (use e.g. http://proxy.example.org:3128)"))
		return ""
	}
	return v
}

// redactURL hides a password in a URL quoted in an error.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	return v
}

// identity reads a host identity: printable, no spaces, at most 255 bytes.
func (r *reader) identity(key string) string {
	v, ok := r.raw(key)
	if !ok {
		return ""
	}
	if len(v) > 255 || strings.IndexFunc(v, func(c rune) bool { return unicode.IsSpace(c) || !unicode.IsPrint(c) }) >= 0 {
		r.fail(key, v, fmt.Errorf("not an identifier (printable, without spaces, at most 255 bytes)"))
		return ""
	}
	return v
}

func (r *reader) maturities(key string) []string {
	v, ok := r.raw(key)
	if !ok {
		return []string{"PROD"}
	}
	var out []string
	for _, m := range splitList(v) {
		m = strings.ToUpper(m)
		if strings.IndexFunc(m, func(c rune) bool { return !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') }) >= 0 {
			r.fail(key, v, fmt.Errorf("%q is not a maturity (use names like PROD, PREPROD, separated by commas)", m))
			return []string{"PROD"}
		}
		if !contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return []string{"PROD"}
	}
	return out
}

func (r *reader) filter(key string) string {
	v, ok := r.raw(key)
	if !ok {
		return DefaultFilter
	}
	if strings.ContainsAny(v, "\n\x00") {
		r.fail(key, v, fmt.Errorf("a WUA search filter is one line (e.g. %s)", DefaultFilter))
		return DefaultFilter
	}
	return v
}

// list reads a comma-separated list, normalizing each item; a bad item fails the key.
func (r *reader) list(key string, norm func(string) (string, error)) []string {
	v, ok := r.raw(key)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range splitList(v) {
		n, err := norm(item)
		if err != nil {
			r.fail(key, v, fmt.Errorf("%q: %w", item, err))
			return nil
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, n) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}

func normUpdateKey(s string) (string, error) {
	if wu.IsGUID(s) {
		return strings.ToLower(s), nil // every revision
	}
	if strings.Contains(s, "_") {
		if k, err := wu.ParseUpdateKey(s); err == nil {
			return k.String(), nil
		}
	}
	return "", fmt.Errorf("not an update key (use <guid>_<revision>, or a bare <guid> for every revision)")
}

func normKB(s string) (string, error) {
	d, err := wu.ParseKB(s)
	if err != nil {
		return "", fmt.Errorf("not a KB number (use KB followed by digits, e.g. KB5034441)")
	}
	return wu.FormatKB(d), nil
}

func normName(s string) (string, error) {
	if wu.IsGUID(s) {
		return strings.ToLower(s), nil
	}
	return s, nil
}

func normSeverity(s string) (string, error) {
	v, err := wu.ParseSeverity(s)
	if err != nil {
		return "", fmt.Errorf("not a severity (use Critical, Important, Moderate or Low)")
	}
	return string(v), nil
}

// looksLikePath tells a CA bundle path from a mistyped boolean in verify_cert.
func looksLikePath(v string) bool {
	if strings.ContainsAny(v, `/\`) {
		return true
	}
	ext := strings.ToLower(filepath.Ext(v))
	return ext == ".pem" || ext == ".crt" || ext == ".cer"
}
