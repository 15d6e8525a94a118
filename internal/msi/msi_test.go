package msi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// msiinfo runs msiinfo; the test fails (never skips) without msitools.
func msiinfo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("msiinfo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func requireTools(t *testing.T) {
	for _, tool := range []string{"wixl", "msibuild", "msiinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's wixl and msitools (scripts/wine-smoke.sh does when root)", tool)
		}
	}
}

const testPreset = `[waptwua]
enabled = True
install_delay = 7d
filter = Type='Software'
allowed_severities = Critical, Important
`

// TestBuildShowsFilesIniAndService builds both architectures and reads them back with
// msiinfo: the program, the token, the ini values of the server and the preset, the
// service and its arguments, the platform.
func TestBuildShowsFilesIniAndService(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "wapt-get.exe")
	if err := os.WriteFile(exe, []byte("MZ not really a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range Archs {
		t.Run(arch, func(t *testing.T) {
			out := filepath.Join(dir, "waptagent-"+arch+".msi")
			err := Build(context.Background(), Options{Arch: arch, AgentExe: exe, ServerURL: "https://wapt.example.org/",
				Token: "tok-0123456789abcdef0123456789abcdef", Preset: []byte(testPreset), Version: "1.2.3"}, out)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			tables := msiinfo(t, "tables", out)
			for _, tb := range []string{"File", "IniFile", "ServiceInstall", "ServiceControl", "CustomAction", "RemoveFile", "MsiLockPermissionsEx"} {
				if !strings.Contains(tables, tb+"\n") {
					t.Errorf("table %s missing from %q", tb, tables)
				}
			}
			files := msiinfo(t, "export", out, "File")
			for _, f := range []string{"wapt-get.exe", "enrollment-token"} {
				if !strings.Contains(files, f) {
					t.Errorf("File table without %s:\n%s", f, files)
				}
			}
			ini := msiinfo(t, "export", out, "IniFile")
			for _, want := range []string{
				"wapt-get.ini\tINSTALLDIR\tglobal\twapt_server\thttps://wapt.example.org\t0\tAgent",
				"global\tcredential_file\t[DATADIR]private\\waptwua-credential.json",
				"global\tenrollment_token_file\t[PRIVATEDIR]enrollment-token",
				"global\tdata_dir\t[CommonAppDataFolder]waptwua",
				"waptwua\tenabled\tTrue", "waptwua\tinstall_delay\t7d", "waptwua\tfilter\tType='Software'",
				"waptwua\tallowed_severities\tCritical, Important",
			} {
				if !strings.Contains(ini, want) {
					t.Errorf("IniFile without %q:\n%s", want, ini)
				}
			}
			if strings.Contains(ini, "allow_insecure_http") {
				t.Errorf("allow_insecure_http written for an https server:\n%s", ini)
			}
			svc := msiinfo(t, "export", out, "ServiceInstall")
			if !strings.Contains(svc, "waptwua\tWAPT Windows Update Agent") || !strings.Contains(svc, `service run --as-service --config "[INSTALLDIR]wapt-get.ini" --data-dir "[CommonAppDataFolder]waptwua"`) {
				t.Errorf("ServiceInstall:\n%s", svc)
			}
			seq := msiinfo(t, "export", out, "InstallExecuteSequence")
			for _, a := range []string{"WriteIniValues", "RemoveIniValues", "InstallServices", "StartServices", "PurgeData"} {
				if !strings.Contains(seq, a) {
					t.Errorf("InstallExecuteSequence without %s", a)
				}
			}
			if ca := msiinfo(t, "export", out, "CustomAction"); !strings.Contains(ca, `PurgeData	3170	TARGETDIR	"[System64Folder]cmd.exe" /c rmdir /s /q "[CommonAppDataFolder]waptwua"`) {
				t.Errorf("CustomAction:\n%s", ca)
			}
			if lock := msiinfo(t, "export", out, "MsiLockPermissionsEx"); !strings.Contains(lock, "LockToken\tTokenFile\tFile\tD:P(A;;FA;;;SY)(A;;FA;;;BA)") {
				t.Errorf("MsiLockPermissionsEx:\n%s", lock)
			}
			want := map[string]string{"amd64": "Template: x64;1033", "arm64": "Template: Arm64;1033"}[arch]
			if sum := msiinfo(t, "suminfo", out); !strings.Contains(sum, want) {
				t.Errorf("summary information without %q:\n%s", want, sum)
			}
		})
	}
}

// TestBuildRefusesBadInput: each bad input named, nothing written.
func TestBuildRefusesBadInput(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "wapt-get.exe")
	if err := os.WriteFile(exe, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := Options{Arch: "amd64", AgentExe: exe, ServerURL: "https://srv", Token: "tok"}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"arch", func(o *Options) { o.Arch = "386" }, `architecture "386"`},
		{"server", func(o *Options) { o.ServerURL = "ftp://srv" }, `server URL "ftp://srv"`},
		{"token", func(o *Options) { o.Token = " " }, "enrollment token is empty"},
		{"exe", func(o *Options) { o.AgentExe = filepath.Join(dir, "none.exe") }, "wapt-get.exe for amd64"},
		{"version", func(o *Options) { o.Version = "1.2" }, `version "1.2"`},
		{"preset value", func(o *Options) { o.Preset = []byte("[waptwua]\ninstall_delay = 3x\n") }, "install_delay"},
		{"preset key", func(o *Options) { o.Preset = []byte("[waptwua]\ninstal_delay = 3d\n") }, `unknown key "instal_delay"`},
		{"preset section", func(o *Options) { o.Preset = []byte("[global]\nwapt_server = https://x\n") }, "only [waptwua]"},
	}
	for _, tt := range tests {
		o := good
		tt.change(&o)
		out := filepath.Join(dir, tt.name+".msi")
		err := Build(context.Background(), o, out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: the installer was written", tt.name)
		}
	}
}

// TestIniValuesEscapeAndHTTP: installer properties are escaped; an http:// server gets
// allow_insecure_http.
func TestIniValuesEscapeAndHTTP(t *testing.T) {
	vals := IniValues(Options{ServerURL: "http://[::1]:8080"}, nil)
	var got []string
	for _, v := range vals {
		got = append(got, v.Key+"="+v.Value)
	}
	s := strings.Join(got, "\n")
	if !strings.Contains(s, `wapt_server=http://[\[]::1[\]]:8080`) || !strings.Contains(s, "allow_insecure_http=True") {
		t.Errorf("IniValues:\n%s", s)
	}
}
