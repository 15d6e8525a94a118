package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func defaultServer(source string) *Server {
	return &Server{
		Source:               source,
		Listen:               "127.0.0.1:8080",
		Data:                 "./var",
		WaptwuaFolder:        "./var" + string(filepath.Separator) + "waptwua",
		Wsusscn2URL:          "https://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab",
		AllowedUpstreamHosts: DefaultAllowedUpstreamHosts(),
		CabSignatureCheck:    true,
		CabSyncTime:          TimeOfDay{Hour: 3},
		CabSyncJitter:        30 * time.Minute,
		MissingFilesInterval: 30 * time.Minute,
		CleanupKBs:           true,
		CleanupWindow:        Window{Start: TimeOfDay{2, 30}, End: TimeOfDay{3, 30}},
		MaxReportBytes:       4 << 20,
		MaxCatalogAge:        8 * 24 * time.Hour,
		DownloadConcurrency:  4,
	}
}

func TestMaxCatalogAge(t *testing.T) {
	s, err := ParseServer([]byte("[options]\nmax_catalog_age = 3d\n"), "waptserver.ini")
	if err != nil || s.MaxCatalogAge != 72*time.Hour {
		t.Fatalf("max_catalog_age = 3d: %v %v", s, err)
	}
	if _, err := ParseServer([]byte("[options]\nmax_catalog_age = 10m\n"), "waptserver.ini"); err == nil || !strings.Contains(err.Error(), "max_catalog_age") {
		t.Errorf("max_catalog_age = 10m accepted: %v", err)
	}
}

func TestParseServerDefaults(t *testing.T) {
	for _, in := range []string{"", "[options]\n", "[options]\ncleanup_kbs =\n"} {
		s, err := ParseServer([]byte(in), "waptserver.ini")
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if diff := cmp.Diff(defaultServer("waptserver.ini"), s); diff != "" {
			t.Errorf("%q: ParseServer() mismatch (-want +got):\n%s", in, diff)
		}
		kind, dsn := s.Database()
		if kind != DBSQLite || dsn != filepath.Join("var", "waptserver.sqlite") {
			t.Errorf("Database() = %s, %q", kind, dsn)
		}
	}
}

func TestParseServerFull(t *testing.T) {
	ini := `[options]
listen = 0.0.0.0:443
data = /var/lib/waptserver
waptwua_folder = /var/www/waptwua
db_url = postgres://wapt:pw@db.example.org:5432/waptserver?sslmode=require
http_proxy = http://proxy.example.org:3128
wsusscn2_url = http://mirror.example.org/wsusscn2.cab
allowed_upstream_hosts = download.windowsupdate.com, *.Update.Microsoft.com, 127.0.0.1:8081, [::1]:8081
cab_sync_time = 1:15
cab_sync_jitter = 2h
missing_files_interval = 10m
cleanup_kbs = False
cleanup_window = 23:00-01:00
tls_cert = /etc/waptserver/tls.crt
tls_key = /etc/waptserver/tls.key
cab_trusted_roots = /etc/waptserver/ms-roots.pem
cab_signature_check = False
enrollment_secret = 0123456789abcdef0123
max_report_bytes = 16MiB
download_concurrency = 8
secret_key = kept by the original, unknown here
`
	s, err := ParseServer([]byte(ini), "/etc/waptserver/waptserver.ini")
	if err != nil {
		t.Fatal(err)
	}
	want := &Server{
		Source:               "/etc/waptserver/waptserver.ini",
		Listen:               "0.0.0.0:443",
		Data:                 "/var/lib/waptserver",
		WaptwuaFolder:        "/var/www/waptwua",
		DBURL:                "postgres://wapt:pw@db.example.org:5432/waptserver?sslmode=require",
		HTTPProxy:            "http://proxy.example.org:3128",
		Wsusscn2URL:          "http://mirror.example.org/wsusscn2.cab",
		AllowedUpstreamHosts: []string{"download.windowsupdate.com", "*.update.microsoft.com", "127.0.0.1:8081", "[::1]:8081"},
		CabSyncTime:          TimeOfDay{1, 15},
		CabSyncJitter:        2 * time.Hour,
		MissingFilesInterval: 10 * time.Minute,
		CleanupWindow:        Window{Start: TimeOfDay{23, 0}, End: TimeOfDay{1, 0}},
		TLSCert:              "/etc/waptserver/tls.crt",
		TLSKey:               "/etc/waptserver/tls.key",
		CabTrustedRoots:      "/etc/waptserver/ms-roots.pem",
		EnrollmentSecret:     "0123456789abcdef0123",
		MaxReportBytes:       16 << 20,
		MaxCatalogAge:        8 * 24 * time.Hour,
		DownloadConcurrency:  8,
		Warnings:             []string{`/etc/waptserver/waptserver.ini:21: [options] unknown key "secret_key" ignored`},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("ParseServer() mismatch (-want +got):\n%s", diff)
	}
	if kind, dsn := s.Database(); kind != DBPostgres || dsn != want.DBURL {
		t.Errorf("Database() = %s, %q", kind, dsn)
	}
	if !s.HostAllowed("127.0.0.1:8081") || s.HostAllowed("download.microsoft.com") {
		t.Error("HostAllowed does not use allowed_upstream_hosts")
	}
}

func TestParseServerDataMovesWaptwuaFolder(t *testing.T) {
	s, err := ParseServer([]byte("[options]\ndata = /srv/wapt/\n"), "waptserver.ini")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/srv/wapt" + string(filepath.Separator) + "waptwua"; s.WaptwuaFolder != want {
		t.Errorf("WaptwuaFolder = %q, want %q", s.WaptwuaFolder, want)
	}
}

func TestParseServerErrors(t *testing.T) {
	tests := []struct {
		desc string
		line string
		want string
	}{
		{"listen without port", "listen = 127.0.0.1",
			`waptserver.ini [options] listen = "127.0.0.1": not a listen address (use host:port, e.g. 127.0.0.1:8080 or :443)`},
		{"listen port out of range", "listen = :70000",
			`waptserver.ini [options] listen = ":70000": not a listen address`},
		{"unknown database", "db_url = mysql://u:pw@h/db",
			`waptserver.ini [options] db_url = "mysql://u:xxxxx@h/db": unknown database (use postgres://user:password@host/db for PostgreSQL, or leave empty for SQLite under data)`},
		{"postgres without host", "db_url = postgres://",
			`waptserver.ini [options] db_url = "postgres://": not a PostgreSQL URL`},
		{"cab URL", "wsusscn2_url = download.windowsupdate.com/wsusscn2.cab",
			`waptserver.ini [options] wsusscn2_url = "download.windowsupdate.com/wsusscn2.cab": not an http(s) URL (default https://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab)`},
		{"host pattern with scheme", "allowed_upstream_hosts = https://download.microsoft.com",
			`waptserver.ini [options] allowed_upstream_hosts = "https://download.microsoft.com": "https://download.microsoft.com": not a host pattern: write the host only`},
		{"wildcard in the middle", "allowed_upstream_hosts = download.*.com",
			`waptserver.ini [options] allowed_upstream_hosts = "download.*.com": "download.*.com": not a host pattern`},
		{"wildcard too wide", "allowed_upstream_hosts = *.com",
			`waptserver.ini [options] allowed_upstream_hosts = "*.com": "*.com": wildcard too wide`},
		{"cab_sync_time", "cab_sync_time = 3am",
			`waptserver.ini [options] cab_sync_time = "3am": not a time of day (use HH:MM on a 24-hour clock, e.g. 03:00)`},
		{"jitter without unit is days", "cab_sync_jitter = 30",
			`waptserver.ini [options] cab_sync_jitter = "30": must be less than a day (a number without unit means days: write 30m for 30 minutes)`},
		{"missing files interval", "missing_files_interval = 10s",
			`waptserver.ini [options] missing_files_interval = "10s": must be at least 1m (e.g. 30m)`},
		{"cleanup_kbs", "cleanup_kbs = nein",
			`waptserver.ini [options] cleanup_kbs = "nein": not a boolean (use True or False)`},
		{"cleanup_window", "cleanup_window = 02:30",
			`waptserver.ini [options] cleanup_window = "02:30": not a time window (use HH:MM-HH:MM, e.g. 02:30-03:30)`},
		{"tls half", "tls_cert = /x.crt",
			`waptserver.ini [options] tls_cert = "/x.crt": tls_cert and tls_key go together (set both to serve HTTPS, or neither)`},
		{"secret is not echoed", "enrollment_secret = short",
			`waptserver.ini [options] enrollment_secret = (hidden): too short (use at least 16 random characters, e.g. from ` + "`openssl rand -hex 24`)"},
		{"report size", "max_report_bytes = lots",
			`waptserver.ini [options] max_report_bytes = "lots": not a size (use a number of bytes, or with KiB, MiB or GiB, e.g. 4MiB)`},
		{"report size too small", "max_report_bytes = 100",
			`waptserver.ini [options] max_report_bytes = "100": too small (at least 1KiB; default 4MiB)`},
		{"concurrency", "download_concurrency = 0",
			`waptserver.ini [options] download_concurrency = "0": not a number from 1 to 64 (parallel downloads from Microsoft, e.g. 4)`},
		{"proxy", "http_proxy = proxy:3128",
			`waptserver.ini [options] http_proxy = "proxy:3128": not a proxy URL (use e.g. http://proxy.example.org:3128)`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, err := ParseServer([]byte("[options]\n"+tt.line+"\n"), "waptserver.ini")
			if err == nil {
				t.Fatalf("ParseServer() = %+v, want error", s)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant prefix %q", err, tt.want)
			}
		})
	}
}

func TestServerApplyEnv(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		desc     string
		ini      string
		env      map[string]string
		wantKind DBKind
		wantDSN  string
		wantErr  string
	}{
		{desc: "no env: sqlite under data", wantKind: DBSQLite, wantDSN: filepath.Join("var", "waptserver.sqlite")},
		{desc: "env overrides the file", ini: "db_url = sqlite:/tmp/a.sqlite",
			env: map[string]string{EnvDBURL: "postgres://u@db/w"}, wantKind: DBPostgres, wantDSN: "postgres://u@db/w"},
		{desc: "empty env changes nothing", ini: "db_url = sqlite:/tmp/a.sqlite",
			env: map[string]string{EnvDBURL: " "}, wantKind: DBSQLite, wantDSN: "/tmp/a.sqlite"},
		{desc: "sqlite with slashes", env: map[string]string{EnvDBURL: "sqlite:///srv/w.sqlite"}, wantKind: DBSQLite, wantDSN: "/srv/w.sqlite"},
		{desc: "bad env names the variable, hides the password", env: map[string]string{EnvDBURL: "mongodb://u:pw@h"},
			wantErr: `environment WAPTSERVER_DB_URL = "mongodb://u:xxxxx@h": unknown database`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, err := ParseServer([]byte("[options]\n"+tt.ini+"\n"), "waptserver.ini")
			if err != nil {
				t.Fatal(err)
			}
			err = s.ApplyEnv(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ApplyEnv() error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kind, dsn := s.Database(); kind != tt.wantKind || dsn != tt.wantDSN {
				t.Errorf("Database() = %s, %q; want %s, %q", kind, dsn, tt.wantKind, tt.wantDSN)
			}
		})
	}
}

func TestLoadServer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "waptserver.ini")
	if err := os.WriteFile(path, []byte("[options]\ncleanup_kbs = False\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDBURL, "postgres://u@db/w")
	s, err := LoadServer(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.CleanupKBs || s.DBURL != "postgres://u@db/w" {
		t.Errorf("LoadServer() = %+v", s)
	}
	if _, err := LoadServer(filepath.Join(dir, "nope.ini")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadServer(missing) error = %v", err)
	}
}
