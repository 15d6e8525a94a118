package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// Defaults of the [options] section of waptserver.ini.
const (
	DefaultListen               = "127.0.0.1:8080"
	DefaultData                 = "./var"
	DefaultWsusscn2URL          = "https://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab"
	DefaultCabSyncJitter        = 30 * time.Minute
	DefaultMissingFilesInterval = 30 * time.Minute
	// DefaultMaxCatalogAge: /readyz says not ready when the last successful catalog
	// sync is older than this (a daily sync that failed a week long).
	DefaultMaxCatalogAge       = 8 * 24 * time.Hour
	DefaultMaxReportBytes      = 4 << 20
	DefaultDownloadConcurrency = 4
	// EnvDBURL overrides db_url (ApplyEnv).
	EnvDBURL = "WAPTSERVER_DB_URL"
	// minEnrollmentSecret is the shortest enrollment_secret accepted.
	minEnrollmentSecret = 16
)

// DefaultAllowedUpstreamHosts are the hosts the server may download from (REFERENCE §1).
// A "*." pattern matches any subdomain, not the domain itself.
func DefaultAllowedUpstreamHosts() []string { return wu.UpdateHosts() }

// DBKind says which database backend db_url selects.
type DBKind string

// Database backends.
const (
	DBSQLite   DBKind = "sqlite"
	DBPostgres DBKind = "postgres"
)

// Server is the server's configuration, [options] of waptserver.ini. Command-line flags
// override it afterwards (the server applies them).
type Server struct {
	Source string
	// Listen is the HTTP(S) address, host:port.
	Listen string
	// Data is the folder of the embedded database and server state.
	Data string
	// WaptwuaFolder is the repository folder waptwua/ (cab, sidecars, update files).
	// Default: Data + "/waptwua" (./var/waptwua for development); installs set
	// /var/www/waptwua on Linux, C:\wapt\waptserver\repository\waptwua on Windows.
	WaptwuaFolder string
	// DBURL: empty for SQLite under Data, postgres://… for PostgreSQL, sqlite:<path>
	// for a SQLite file elsewhere. See Database.
	DBURL string
	// HTTPProxy for every download from Microsoft; empty: none.
	HTTPProxy string
	// Wsusscn2URL is where the offline catalog comes from.
	Wsusscn2URL string
	// AllowedUpstreamHosts are host patterns (see HostAllowed).
	AllowedUpstreamHosts []string
	// CabSyncTime is when the daily catalog sync starts, plus a random delay of up to
	// CabSyncJitter.
	CabSyncTime   TimeOfDay
	CabSyncJitter time.Duration
	// MissingFilesInterval is the period of the job fetching files hosts need.
	MissingFilesInterval time.Duration
	// CleanupKBs turns the nightly removal of unused update files on; CleanupWindow is
	// when it runs.
	CleanupKBs    bool
	CleanupWindow Window
	// TLSCert and TLSKey: PEM files to serve HTTPS; both or neither.
	TLSCert string
	TLSKey  string
	// CabTrustedRoots: PEM file of the roots accepted for the catalog's Authenticode
	// signature, replacing the built-in ones. Empty: Microsoft's two code-signing roots,
	// which the project embeds.
	CabTrustedRoots string
	// CabSignatureCheck (cab_signature_check, default True): False imports wsusscn2.cab
	// without checking its signature, with a warning at every sync.
	CabSignatureCheck bool
	// PackageTrustedCerts: PEM file, or folder of .pem/.crt files, of the certificates
	// that signed rules packages must chain to (package_trusted_certs). Empty: uploaded
	// packages are stored but marked unverified and never served to agents.
	PackageTrustedCerts string
	// PackageSigningKey and PackageSigningCert (package_signing_key, package_signing_cert):
	// PEM files of a private key and its certificate chain (signer first) that let the
	// web console build and sign rules packages itself; both or neither.
	// PackageSigningKeyPasswordFile (package_signing_key_password_file) holds the key's
	// password on its first line when the key is encrypted.
	//
	// Trade-off: with a server-held key, whoever controls the server (its files, its
	// admin accounts) can sign rules for every host that trusts this certificate; the
	// agents' signature check then no longer protects against a compromised server.
	// Without them (the default) signing stays on the administrator's workstation
	// (waptserver rules build) and the console only prepares the rules and shows the
	// command (docs/adr/0003-rules-packages.md).
	PackageSigningKey             string
	PackageSigningCert            string
	PackageSigningKeyPasswordFile string
	// EnrollmentSecret lets agents register; empty: registration is closed.
	EnrollmentSecret string
	// MaxReportBytes bounds an agent report's body.
	MaxReportBytes int64
	// PublicURL (public_url): the server's address as browsers and agents use it; https://
	// makes cookies Secure and sends HSTS even when a proxy terminates TLS.
	// TrustedProxies (trusted_proxies): addresses or CIDR prefixes of reverse proxies whose
	// X-Forwarded-For / X-Forwarded-Proto are believed.
	PublicURL      string
	TrustedProxies []string
	// ApproveHosts (registration = approve): new hosts wait for an administrator's
	// approval; registration = open (the default) lets them in at once.
	ApproveHosts bool
	// MaxCatalogAge (max_catalog_age): /readyz answers 503 when the last successful
	// catalog sync is older than this.
	MaxCatalogAge time.Duration
	// DownloadConcurrency is how many update files are fetched from Microsoft at once.
	DownloadConcurrency int
	// Warnings lists unknown [options] keys (ignored).
	Warnings []string
}

var optionsKeys = []string{
	"listen", "data", "waptwua_folder", "db_url", "http_proxy", "wsusscn2_url",
	"allowed_upstream_hosts", "cab_sync_time", "cab_sync_jitter", "missing_files_interval",
	"cleanup_kbs", "cleanup_window", "tls_cert", "tls_key", "cab_trusted_roots", "cab_signature_check", "package_trusted_certs",
	"package_signing_key", "package_signing_cert", "package_signing_key_password_file",
	"enrollment_secret", "max_report_bytes", "download_concurrency", "max_catalog_age",
	"public_url", "trusted_proxies", "registration",
}

// LoadServer reads and validates waptserver.ini, then applies the environment
// (WAPTSERVER_DB_URL). A missing file is an error: pass no path to run on defaults.
func LoadServer(path string) (*Server, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("server configuration: %w", err)
	}
	s, err := ParseServer(data, path)
	if err != nil {
		return nil, err
	}
	if err := s.ApplyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseServer reads the text of a waptserver.ini (without looking at the environment);
// source names it in errors. Every invalid value is reported.
func ParseServer(data []byte, source string) (*Server, error) {
	f, err := parseIni(data, source)
	if err != nil {
		return nil, err
	}
	r := &reader{f: f, section: "options"}
	s := &Server{
		Source:               source,
		Listen:               r.listen("listen"),
		Data:                 r.str("data", DefaultData),
		HTTPProxy:            r.proxy("http_proxy"),
		Wsusscn2URL:          r.str("wsusscn2_url", DefaultWsusscn2URL),
		AllowedUpstreamHosts: r.hostPatterns("allowed_upstream_hosts"),
		CabSyncJitter:        r.duration("cab_sync_jitter", DefaultCabSyncJitter),
		MissingFilesInterval: r.duration("missing_files_interval", DefaultMissingFilesInterval),
		MaxCatalogAge:        r.duration("max_catalog_age", DefaultMaxCatalogAge),
		PublicURL:            r.str("public_url", ""),
		TrustedProxies:       r.list("trusted_proxies", func(v string) (string, error) { return v, nil }),
		CleanupKBs:           r.boolean("cleanup_kbs", true),
		TLSCert:              r.str("tls_cert", ""),
		TLSKey:               r.str("tls_key", ""),
		CabTrustedRoots:      r.str("cab_trusted_roots", ""),
		CabSignatureCheck:    r.boolean("cab_signature_check", true),
		PackageTrustedCerts:  r.str("package_trusted_certs", ""),

		PackageSigningKey:             r.str("package_signing_key", ""),
		PackageSigningCert:            r.str("package_signing_cert", ""),
		PackageSigningKeyPasswordFile: r.str("package_signing_key_password_file", ""),

		MaxReportBytes:      DefaultMaxReportBytes,
		DownloadConcurrency: r.integer("download_concurrency", DefaultDownloadConcurrency, 1, 64, "parallel downloads from Microsoft, e.g. 4"),
	}
	s.WaptwuaFolder = r.str("waptwua_folder", joinKeep(s.Data, "waptwua"))
	if v, ok := r.raw("wsusscn2_url"); ok {
		if err := checkHTTPURL(v); err != nil {
			r.fail("wsusscn2_url", v, fmt.Errorf("not an http(s) URL (default %s)", DefaultWsusscn2URL))
		}
	}
	if v, ok := r.raw("db_url"); ok {
		if _, _, err := parseDBURL(v); err != nil {
			r.fail("db_url", redactURL(v), err)
		} else {
			s.DBURL = v
		}
	}
	s.CabSyncTime = TimeOfDay{Hour: 3}
	if v, ok := r.raw("cab_sync_time"); ok {
		if t, err := ParseTimeOfDay(v); err != nil {
			r.fail("cab_sync_time", v, err)
		} else {
			s.CabSyncTime = t
		}
	}
	if s.CabSyncJitter >= 24*time.Hour {
		v, _ := r.raw("cab_sync_jitter")
		r.fail("cab_sync_jitter", v, fmt.Errorf("must be less than a day (a number without unit means days: write 30m for 30 minutes)"))
		s.CabSyncJitter = DefaultCabSyncJitter
	}
	switch v := strings.ToLower(r.str("registration", "open")); v {
	case "open":
	case "approve":
		s.ApproveHosts = true
	default:
		r.fail("registration", v, fmt.Errorf("want open or approve"))
	}
	if s.MaxCatalogAge < time.Hour {
		v, _ := r.raw("max_catalog_age")
		r.fail("max_catalog_age", v, fmt.Errorf("must be at least 1h (e.g. 8d; the catalog syncs daily)"))
		s.MaxCatalogAge = DefaultMaxCatalogAge
	}
	if s.MissingFilesInterval < time.Minute {
		v, _ := r.raw("missing_files_interval")
		r.fail("missing_files_interval", v, fmt.Errorf("must be at least 1m (e.g. 30m)"))
		s.MissingFilesInterval = DefaultMissingFilesInterval
	}
	s.CleanupWindow = Window{Start: TimeOfDay{2, 30}, End: TimeOfDay{3, 30}}
	if v, ok := r.raw("cleanup_window"); ok {
		if w, err := ParseWindow(v); err != nil {
			r.fail("cleanup_window", v, err)
		} else {
			s.CleanupWindow = w
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		r.fail("tls_cert", s.TLSCert, fmt.Errorf("tls_cert and tls_key go together (set both to serve HTTPS, or neither)"))
	}
	if (s.PackageSigningKey == "") != (s.PackageSigningCert == "") {
		key, v := "package_signing_key", s.PackageSigningKey
		if v == "" {
			key, v = "package_signing_cert", s.PackageSigningCert
		}
		r.fail(key, v, fmt.Errorf("package_signing_key and package_signing_cert go together (set both to let the console sign rules packages, or neither)"))
	}
	if s.PackageSigningKeyPasswordFile != "" && s.PackageSigningKey == "" {
		r.fail("package_signing_key_password_file", s.PackageSigningKeyPasswordFile,
			fmt.Errorf("set only with package_signing_key (the password of that key)"))
	}
	if v, ok := r.raw("enrollment_secret"); ok {
		if len(v) < minEnrollmentSecret {
			r.failSecret("enrollment_secret", fmt.Errorf("too short (use at least %d random characters, e.g. from `openssl rand -hex 24`)", minEnrollmentSecret))
		} else {
			s.EnrollmentSecret = v
		}
	}
	if v, ok := r.raw("max_report_bytes"); ok {
		if n, err := parseSize(v); err != nil {
			r.fail("max_report_bytes", v, err)
		} else if n < 1<<10 {
			r.fail("max_report_bytes", v, fmt.Errorf("too small (at least 1KiB; default 4MiB)"))
		} else {
			s.MaxReportBytes = n
		}
	}
	s.Warnings = r.unknownKeys(optionsKeys)
	if err := errors.Join(r.errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// ApplyEnv applies the environment: WAPTSERVER_DB_URL, when set and not empty, replaces
// db_url. lookup is os.LookupEnv in production.
func (s *Server) ApplyEnv(lookup func(string) (string, bool)) error {
	v, ok := lookup(EnvDBURL)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	v = strings.TrimSpace(v)
	if _, _, err := parseDBURL(v); err != nil {
		return fmt.Errorf("environment %s = %q: %w", EnvDBURL, redactURL(v), err)
	}
	s.DBURL = v
	return nil
}

// Database says which backend to open and with what: the PostgreSQL URL as given, or the
// SQLite file (Data/waptserver.sqlite when db_url is empty).
func (s *Server) Database() (DBKind, string) {
	kind, dsn, err := parseDBURL(s.DBURL)
	if err != nil { // validated at load; a caller who set DBURL by hand gets SQLite by default
		return DBSQLite, filepath.Join(s.Data, "waptserver.sqlite")
	}
	if kind == DBSQLite && dsn == "" {
		dsn = filepath.Join(s.Data, "waptserver.sqlite")
	}
	return kind, dsn
}

// HostAllowed reports whether the server may download from host (a URL's Host: name or
// IP literal, with an optional port) under AllowedUpstreamHosts.
func (s *Server) HostAllowed(host string) bool {
	return HostAllowed(host, s.AllowedUpstreamHosts)
}

func parseDBURL(v string) (DBKind, string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return DBSQLite, "", nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		u, err := url.Parse(v)
		if err != nil || u.Host == "" && u.Query().Get("host") == "" {
			return "", "", fmt.Errorf("not a PostgreSQL URL (use postgres://user:password@host:5432/waptserver)")
		}
		return DBPostgres, v, nil
	case strings.HasPrefix(v, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(v, "sqlite:"), "//")
		if p == "" {
			return "", "", fmt.Errorf("no file after sqlite: (use sqlite:/var/lib/waptserver/waptserver.sqlite, or leave db_url empty)")
		}
		return DBSQLite, p, nil
	}
	return "", "", fmt.Errorf("unknown database (use postgres://user:password@host/db for PostgreSQL, or leave empty for SQLite under data)")
}

func (r *reader) listen(key string) string {
	v, ok := r.raw(key)
	if !ok {
		return DefaultListen
	}
	host, port, err := net.SplitHostPort(v)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
		r.fail(key, v, fmt.Errorf("not a listen address (use host:port, e.g. 127.0.0.1:8080 or :443)"))
		return DefaultListen
	}
	return v
}

func (r *reader) hostPatterns(key string) []string {
	v, ok := r.raw(key)
	if !ok {
		return DefaultAllowedUpstreamHosts()
	}
	var out []string
	for _, p := range splitList(v) {
		n, err := normalizeHostPattern(p)
		if err != nil {
			r.fail(key, v, fmt.Errorf("%q: %w", p, err))
			return DefaultAllowedUpstreamHosts()
		}
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// joinKeep joins a folder and a name without cleaning ("./var" stays "./var").
func joinKeep(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimRight(dir, `/\`) + string(filepath.Separator) + name
}
