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

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

const day = 24 * time.Hour

// defaultWUA is [waptwua] when the file says nothing.
func defaultWUA() WUA {
	return WUA{Filter: DefaultFilter, PostbootDelay: 10 * time.Minute, UserLocale: 1033}
}

func TestParseAgentDefaults(t *testing.T) {
	a, err := ParseAgent([]byte("[global]\nrepo_url = https://srv/wapt\n"), "/opt/wapt/wapt-get.ini")
	if err != nil {
		t.Fatal(err)
	}
	want := &Agent{
		Source: "/opt/wapt/wapt-get.ini",
		Global: Global{
			RepoURL:             "https://srv/wapt",
			VerifyCert:          true,
			CredentialFile:      filepath.Join("/opt/wapt", "private", "waptwua-credential.json"),
			EnrollmentTokenFile: filepath.Join("/opt/wapt", "private", "enrollment-token"),
			Maturities:          []string{"PROD"},
		},
		WUA: defaultWUA(),
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("ParseAgent() mismatch (-want +got):\n%s", diff)
	}
	if a.WUA.Enabled != nil || a.Rules.DefaultAllow != nil {
		t.Error("absent tri-state keys must stay nil")
	}
}

func TestParseAgentEmptyFile(t *testing.T) {
	a, err := ParseAgent(nil, "wapt-get.ini")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaultWUA(), a.WUA); diff != "" {
		t.Errorf("WUA mismatch (-want +got):\n%s", diff)
	}
}

func TestParseAgentSeedExamples(t *testing.T) {
	tests := []struct {
		file      string
		text      string // when file is ""
		wantWUA   WUA
		wantRules RulesSection
	}{
		{
			// The English and French documentation's example section.
			file: "testdata/seed-en.ini",
			wantWUA: WUA{Enabled: yes(), Filter: DefaultFilter, DownloadScheduling: 7 * day, InstallAtShutdown: true,
				InstallScheduling: 12 * time.Hour, InstallDelay: 3 * day, PostbootDelay: 10 * time.Minute, UserLocale: 1033},
			wantRules: RulesSection{DefaultAllow: no()},
		},
		{
			// The reStructuredText page's example, tab-indented as printed, with offline
			// and the documented allow_direct_download.
			file: "testdata/seed-rst.ini",
			wantWUA: WUA{Enabled: yes(), Filter: DefaultFilter, DownloadScheduling: 12 * time.Hour, InstallAtShutdown: true,
				InstallScheduling: 12 * time.Hour, InstallDelay: 7 * day, PostbootDelay: 10 * time.Minute, UserLocale: 1033},
			wantRules: RulesSection{DefaultAllow: no()},
		},
		{
			// What the reStructuredText page's example package writes with inifile_writestring.
			text: "[waptwua]\nenabled = true\noffline = true\nfilter = Type='Software' or Type='Driver'\n" +
				"install_at_shutdown = true\ndownload_scheduling = 7d\nallowed_severities = Critical,Important\n",
			wantWUA: WUA{Enabled: yes(), Filter: "Type='Software' or Type='Driver'", DownloadScheduling: 7 * day,
				InstallAtShutdown: true, PostbootDelay: 10 * time.Minute, UserLocale: 1033},
			wantRules: RulesSection{AllowedSeverities: []string{"Critical", "Important"}},
		},
		{
			// Every example value of the documentation's options table.
			text: "[waptwua]\nenabled = True\ndirect_download = True\ndefault_allow = True\ndownload_scheduling = 1d\n" +
				"install_scheduling = 2h\ninstall_at_shutdown = True\ninstall_delay = 15d\nallowed_severities = Important\n" +
				"waptexit_disable_skip_windows_updates = True\ninclude_potentially_superseded_updates = True\n",
			wantWUA: WUA{Enabled: yes(), DirectDownload: true, Filter: DefaultFilter, DownloadScheduling: day,
				InstallScheduling: 2 * time.Hour, InstallAtShutdown: true, InstallDelay: 15 * day,
				WaptexitDisableSkipWindowsUpdates: true, PostbootDelay: 10 * time.Minute, UserLocale: 1033},
			wantRules: RulesSection{DefaultAllow: yes(), AllowedSeverities: []string{"Important"}, IncludePotentiallySupersededUpdates: yes()},
		},
	}
	for _, tt := range tests {
		name := tt.file
		if name == "" {
			name = strings.SplitN(tt.text, "\n", 3)[1]
		}
		t.Run(name, func(t *testing.T) {
			data := []byte(tt.text)
			source := "wapt-get.ini"
			if tt.file != "" {
				var err error
				if data, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
				source = tt.file
			}
			a, err := ParseAgent(data, source)
			if err != nil {
				t.Fatalf("ParseAgent() error = %v", err)
			}
			if diff := cmp.Diff(tt.wantWUA, a.WUA); diff != "" {
				t.Errorf("WUA mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRules, a.Rules); diff != "" {
				t.Errorf("Rules mismatch (-want +got):\n%s", diff)
			}
			if len(a.Warnings) != 0 {
				t.Errorf("unexpected warnings: %q", a.Warnings)
			}
		})
	}
}

func TestParseAgentFull(t *testing.T) {
	ini := `[global]
repo_url = https://srv.example.org/wapt/
wapt_server = https://srv.example.org
uuid = 4C4C4544-0044-4810-8036-B4C04F4A4E32
host_name = pc01.example.org
verify_cert = ssl/ca.pem
client_certificate = ssl/client.crt
client_private_key = C:\wapt\private\client.key
credential_file = \\fs\wapt\cred.json
http_proxy = http://proxy.example.org:3128
maturities = prod, preprod
use_hostpackages = 1

[waptwua]
enabled = False
direct_download = no
allow_direct_download = yes
default_allow = off
filter = IsInstalled=0 and Type='Software'
download_scheduling = 0.5
install_scheduling = 90m
install_at_shutdown = 1
install_delay = 2w
allowed_severities = critical, LOW
include_potentially_superseded_updates = false
waptexit_disable_skip_windows_updates = on
postboot_delay = 0
user_locale = 1036
offline = whatever: accepted and ignored
allowed_updates = 0A1B2C3D-0000-1111-2222-333344445555_201,
    99999999-8888-7777-6666-555544443333
forbidden_updates = 0a1b2c3d-0000-1111-2222-333344445555_7
allowed_kbs = kb5034441, 5034442, KB5034441
forbidden_kbs = KB5034443
allowed_products = Windows 10, Office 2016
allowed_classifications = Security Updates, 0FA1201D-4330-4FA8-8AE9-B877473B6441
`
	a, err := ParseAgent([]byte(ini), "/etc/wapt/wapt-get.ini")
	if err != nil {
		t.Fatal(err)
	}
	want := &Agent{
		Source: "/etc/wapt/wapt-get.ini",
		Global: Global{
			RepoURL: "https://srv.example.org/wapt/", WaptServer: "https://srv.example.org",
			UUID: "4C4C4544-0044-4810-8036-B4C04F4A4E32", HostName: "pc01.example.org",
			VerifyCert: true, CABundle: filepath.Join("/etc/wapt", "ssl", "ca.pem"),
			ClientCertificate: filepath.Join("/etc/wapt", "ssl", "client.crt"), ClientPrivateKey: `C:\wapt\private\client.key`,
			CredentialFile: `\\fs\wapt\cred.json`, HTTPProxy: "http://proxy.example.org:3128",
			Maturities:          []string{"PROD", "PREPROD"},
			EnrollmentTokenFile: filepath.Join("/etc/wapt", "private", "enrollment-token"),
		},
		WUA: WUA{
			Enabled: no(), AllowDirectDownload: true, Filter: "IsInstalled=0 and Type='Software'",
			DownloadScheduling: 12 * time.Hour, InstallScheduling: 90 * time.Minute, InstallAtShutdown: true,
			InstallDelay: 14 * day, WaptexitDisableSkipWindowsUpdates: true, PostbootDelay: 0, UserLocale: 1036,
		},
		Rules: RulesSection{
			AllowedUpdates:                      []string{"0a1b2c3d-0000-1111-2222-333344445555_201", "99999999-8888-7777-6666-555544443333"},
			ForbiddenUpdates:                    []string{"0a1b2c3d-0000-1111-2222-333344445555_7"},
			AllowedKBs:                          []string{"KB5034441", "KB5034442"},
			ForbiddenKBs:                        []string{"KB5034443"},
			AllowedProducts:                     []string{"Windows 10", "Office 2016"},
			AllowedClassifications:              []string{"Security Updates", "0fa1201d-4330-4fa8-8ae9-b877473b6441"},
			AllowedSeverities:                   []string{"Critical", "Low"},
			DefaultAllow:                        no(),
			IncludePotentiallySupersededUpdates: no(),
		},
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("ParseAgent() mismatch (-want +got):\n%s", diff)
	}
	got, err := a.WUARepoURL()
	if err != nil || got != "https://srv.example.org/waptwua/" {
		t.Errorf("WUARepoURL() = %q, %v", got, err)
	}
}

func TestParseAgentErrors(t *testing.T) {
	tests := []struct {
		desc string
		ini  string
		want string // the whole message
	}{
		{
			desc: "bad duration",
			ini:  "[waptwua]\ninstall_delay = 3x\n",
			want: `wapt-get.ini [waptwua] install_delay = "3x": not a duration (use a number with s, m, h, d or w, e.g. 7d)`,
		},
		{
			desc: "negative duration",
			ini:  "[waptwua]\ndownload_scheduling = -1d\n",
			want: `wapt-get.ini [waptwua] download_scheduling = "-1d": not a duration: negative (use a number with s, m, h, d or w, e.g. 7d)`,
		},
		{
			desc: "overflowing duration",
			ini:  "[waptwua]\npostboot_delay = 1000000w\n",
			want: `wapt-get.ini [waptwua] postboot_delay = "1000000w": not a duration: too large (at most about 292 years) (use a number with s, m, h, d or w, e.g. 7d)`,
		},
		{
			desc: "bad boolean",
			ini:  "[waptwua]\nenabled = Truee\n",
			want: `wapt-get.ini [waptwua] enabled = "Truee": not a boolean (use True or False)`,
		},
		{
			desc: "inline comment is part of the value, as in Python",
			ini:  "[waptwua]\ninstall_at_shutdown = True ; at night\n",
			want: `wapt-get.ini [waptwua] install_at_shutdown = "True ; at night": not a boolean (use True or False)`,
		},
		{
			desc: "bad severity",
			ini:  "[waptwua]\nallowed_severities = Critical, Urgent\n",
			want: `wapt-get.ini [waptwua] allowed_severities = "Critical, Urgent": "Urgent": not a severity (use Critical, Important, Moderate or Low)`,
		},
		{
			desc: "bad KB",
			ini:  "[waptwua]\nforbidden_kbs = KB12a\n",
			want: `wapt-get.ini [waptwua] forbidden_kbs = "KB12a": "KB12a": not a KB number (use KB followed by digits, e.g. KB5034441)`,
		},
		{
			desc: "bad update key",
			ini:  "[waptwua]\nallowed_updates = KB5034441\n",
			want: `wapt-get.ini [waptwua] allowed_updates = "KB5034441": "KB5034441": not an update key (use <guid>_<revision>, or a bare <guid> for every revision)`,
		},
		{
			desc: "bad locale",
			ini:  "[waptwua]\nuser_locale = en-US\n",
			want: `wapt-get.ini [waptwua] user_locale = "en-US": not a number from 1 to 65535 (a Windows locale id, e.g. 1033 for en-US or 1036 for fr-FR)`,
		},
		{
			desc: "bad repo_url",
			ini:  "[global]\nrepo_url = srv/wapt\n",
			want: `wapt-get.ini [global] repo_url = "srv/wapt": not an http(s) URL (use e.g. https://wapt.example.org/wapt, without query or user)`,
		},
		{
			desc: "bad verify_cert",
			ini:  "[global]\nverify_cert = Tru\n",
			want: `wapt-get.ini [global] verify_cert = "Tru": not a boolean or a CA bundle path (use True, False or the path of a PEM file)`,
		},
		{
			desc: "proxy password is not echoed",
			ini:  "[global]\nhttp_proxy = ftp://user:s3cret@proxy\n",
			want: `wapt-get.ini [global] http_proxy = "ftp://user:xxxxx@proxy": not a proxy URL (use e.g. http://proxy.example.org:3128)`,
		},
		{
			desc: "certificate without key",
			ini:  "[global]\nclient_certificate = /c.pem\n",
			want: `wapt-get.ini [global] client_certificate = "/c.pem": client_certificate and client_private_key go together (set both or neither)`,
		},
		{
			desc: "every error is reported",
			ini:  "[global]\nrepo_url = x\n[waptwua]\nenabled = 2\ninstall_delay = 3x\n",
			want: `wapt-get.ini [global] repo_url = "x": not an http(s) URL (use e.g. https://wapt.example.org/wapt, without query or user)` + "\n" +
				`wapt-get.ini [waptwua] enabled = "2": not a boolean (use True or False)` + "\n" +
				`wapt-get.ini [waptwua] install_delay = "3x": not a duration (use a number with s, m, h, d or w, e.g. 7d)`,
		},
		{
			desc: "syntax error with line",
			ini:  "[waptwua]\nenabled = True\nenabled = False\n",
			want: `wapt-get.ini:3: [waptwua] enabled set twice (first on line 2): keep one`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			a, err := ParseAgent([]byte(tt.ini), "wapt-get.ini")
			if err == nil {
				t.Fatalf("ParseAgent() = %+v, want error", a)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAgentErrorsAreTyped(t *testing.T) {
	_, err := ParseAgent([]byte("[waptwua]\ninstall_delay = 3x\nenabled = maybe\n"), "wapt-get.ini")
	if !errors.Is(err, ErrNotDuration) || !errors.Is(err, ErrNotBool) {
		t.Errorf("error %v does not wrap ErrNotDuration and ErrNotBool", err)
	}
	_, err = ParseAgent([]byte("[waptwua]\ninstall_delay = 3x\n"), "wapt-get.ini")
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Key != "install_delay" || ve.Value != "3x" || ve.Section != "waptwua" {
		t.Errorf("errors.As(*ValueError) = %+v", ve)
	}
}

func TestParseAgentTriState(t *testing.T) {
	tests := []struct {
		line        string
		wantEnabled *bool
	}{
		{"", nil},
		{"enabled =", nil}, // empty means absent
		{"enabled = True", yes()},
		{"enabled = false", no()},
		{"enabled = 0", no()},
		{"ENABLED = on", yes()},
	}
	for _, tt := range tests {
		a, err := ParseAgent([]byte("[waptwua]\n"+tt.line+"\n"), "wapt-get.ini")
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		if diff := cmp.Diff(tt.wantEnabled, a.WUA.Enabled); diff != "" {
			t.Errorf("%q: Enabled mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
}

func TestParseAgentDirectDownloadKeys(t *testing.T) {
	tests := []struct {
		ini              string
		direct, fallback bool
	}{
		{"", false, false},
		{"direct_download = True", true, false},
		{"allow_direct_download = True", false, true},
		{"direct_download = True\nallow_direct_download = True", true, true},
	}
	for _, tt := range tests {
		a, err := ParseAgent([]byte("[waptwua]\n"+tt.ini+"\n"), "wapt-get.ini")
		if err != nil {
			t.Fatal(err)
		}
		if a.WUA.DirectDownload != tt.direct || a.WUA.AllowDirectDownload != tt.fallback {
			t.Errorf("%q: DirectDownload=%v AllowDirectDownload=%v, want %v %v", tt.ini, a.WUA.DirectDownload, a.WUA.AllowDirectDownload, tt.direct, tt.fallback)
		}
	}
}

func TestParseAgentWarnings(t *testing.T) {
	ini := "[global]\nwapt_server_secret = s3cret\nsome_wapt_key = 1\n[waptwua]\ninstal_delay = 7d\nbrand_new_key = 1\noffline = True\n"
	a, err := ParseAgent([]byte(ini), "wapt-get.ini")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"wapt-get.ini: [global] wapt_server_secret ignored: secrets are not kept in wapt-get.ini (register the agent; it writes credential_file)",
		`wapt-get.ini:5: [waptwua] unknown key "instal_delay" ignored (did you mean install_delay?)`,
		`wapt-get.ini:6: [waptwua] unknown key "brand_new_key" ignored`,
	}
	if diff := cmp.Diff(want, a.Warnings); diff != "" {
		t.Errorf("Warnings mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(strings.Join(a.Warnings, "\n"), "s3cret") {
		t.Error("a warning shows the secret")
	}
}

func TestWUARepoURL(t *testing.T) {
	tests := []struct {
		repo, server string
		want         string
		wantErr      bool
	}{
		{repo: "https://srv/wapt", want: "https://srv/waptwua/"},
		{repo: "https://srv/wapt/", want: "https://srv/waptwua/"},
		{repo: "https://srv:8443/sites/lyon/wapt", want: "https://srv:8443/sites/lyon/waptwua/"},
		{server: "https://srv", want: "https://srv/waptwua/"},
		{server: "https://srv/", want: "https://srv/waptwua/"},
		{repo: "https://repo/wapt", server: "https://srv", want: "https://repo/waptwua/"},
		{wantErr: true},
	}
	for _, tt := range tests {
		a := &Agent{Source: "wapt-get.ini", Global: Global{RepoURL: tt.repo, WaptServer: tt.server}}
		got, err := a.WUARepoURL()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("WUARepoURL(repo %q, server %q) = %q, %v; want %q", tt.repo, tt.server, got, err, tt.want)
		}
	}
}

func TestVerifyCert(t *testing.T) {
	tests := []struct {
		value  string
		verify bool
		bundle string
	}{
		{"", true, ""},
		{"0", false, ""},
		{"False", false, ""},
		{"1", true, ""},
		{"ca.pem", true, filepath.Join("/opt/wapt", "ca.pem")},
		{"/etc/ssl/certs/ca-certificates.crt", true, "/etc/ssl/certs/ca-certificates.crt"},
		{`c:\wapt\ssl\server\srvwapt.pem`, true, `c:\wapt\ssl\server\srvwapt.pem`},
	}
	for _, tt := range tests {
		a, err := ParseAgent([]byte("[global]\nverify_cert = "+tt.value+"\n"), "/opt/wapt/wapt-get.ini")
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if a.Global.VerifyCert != tt.verify || a.Global.CABundle != tt.bundle {
			t.Errorf("verify_cert = %q: VerifyCert=%v CABundle=%q; want %v %q", tt.value, a.Global.VerifyCert, a.Global.CABundle, tt.verify, tt.bundle)
		}
	}
}

func TestDefaultAgentPath(t *testing.T) {
	if got := DefaultAgentPath("windows"); got != `C:\Program Files (x86)\wapt\wapt-get.ini` {
		t.Errorf("windows: %q", got)
	}
	for _, goos := range []string{"linux", "darwin"} {
		if got := DefaultAgentPath(goos); got != "/opt/wapt/wapt-get.ini" {
			t.Errorf("%s: %q", goos, got)
		}
	}
}

func TestLoadAgent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wapt-get.ini")
	if err := os.WriteFile(path, []byte("[waptwua]\ninstall_delay = 7d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.WUA.InstallDelay != 7*day || a.Source != path {
		t.Errorf("LoadAgent() = %+v", a)
	}
	if a.Global.CredentialFile != filepath.Join(dir, "private", "waptwua-credential.json") {
		t.Errorf("CredentialFile = %q", a.Global.CredentialFile)
	}
	_, err = LoadAgent(filepath.Join(dir, "missing.ini"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.ini") {
		t.Errorf("LoadAgent(missing) error = %v", err)
	}
}
