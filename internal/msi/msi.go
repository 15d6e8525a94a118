// Package msi builds the Windows agent's installer, an MSI package, on Linux with
// msitools (wixl, msibuild): wapt-get.exe under Program Files, wapt-get.ini with the
// server's URL and the [waptwua] options of a preset, the waptwua service installed and
// started, and the enrollment token the service registers with at its first start
// (then deletes). Uninstalling removes the service and the program's files and keeps
// the data folder (C:\ProgramData\waptwua: state, credential, downloads) unless the
// REMOVEDATA=1 property is given (msiexec /x waptagent.msi REMOVEDATA=1).
//
// wixl has no IniFile element: the ini values go into the MSI's IniFile table with
// msibuild, so that `msiinfo export waptagent.msi IniFile` shows them.
package msi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/openwua/waptwua/internal/config"
)

// Names inside the package.
const (
	ServiceName  = "waptwua"
	IniName      = "wapt-get.ini"
	ExeName      = "wapt-get.exe"
	TokenName    = "enrollment-token"
	InstallDir   = "waptwua" // under Program Files
	DataDir      = "waptwua" // under ProgramData
	upgradeCode  = "6E2C0D3A-5B7F-4E8A-9C1D-2F3A4B5C6D7E"
	agentCompID  = "A1B2C3D4-1111-4222-8333-444455556666"
	tokenCompID  = "A1B2C3D4-2222-4222-8333-444455556666"
	manufacturer = "OpenWUA"
	productName  = "WAPT Windows Update Agent"
)

// Archs are the architectures an agent installer is built for.
var Archs = []string{"amd64", "arm64"}

// Options describe one agent installer.
type Options struct {
	// Arch is amd64 or arm64; AgentExe is wapt-get.exe built for it.
	Arch     string
	AgentExe string
	// ServerURL is the server's base URL the agent reports to ("https://wapt.example.org").
	ServerURL string
	// Token is the enrollment token the service registers with at its first start.
	Token string
	// Preset is the content of a preset.ini ([waptwua] options), PresetName its name in
	// errors; nil: none.
	Preset     []byte
	PresetName string
	// Version is the product version, "1.2.3" (at most 255.255.65535); "" = 1.0.0.
	Version string
	// Tools: the programs used; "" = wixl and msibuild from PATH.
	Wixl, Msibuild string
}

var versionRE = regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,5}$`)

func (o *Options) check() ([]config.KeyValue, error) {
	switch o.Arch {
	case "amd64", "arm64":
	default:
		return nil, fmt.Errorf("agent installer: architecture %q: want amd64 or arm64", o.Arch)
	}
	u, err := url.Parse(o.ServerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("agent installer: server URL %q: want https://<server>", o.ServerURL)
	}
	if strings.TrimSpace(o.Token) == "" || strings.ContainsAny(o.Token, "\r\n") {
		return nil, errors.New("agent installer: the enrollment token is empty or not one line")
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("agent installer: version %q: want major.minor.build, e.g. 1.2.3", o.Version)
	}
	if fi, err := os.Stat(o.AgentExe); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("agent installer: wapt-get.exe for %s: %v", o.Arch, err)
	}
	var preset []config.KeyValue
	if o.Preset != nil {
		name := o.PresetName
		if name == "" {
			name = "preset.ini"
		}
		if preset, err = config.AgentPreset(o.Preset, name); err != nil {
			return nil, fmt.Errorf("agent installer: %w", err)
		}
	}
	return preset, nil
}

// IniValue is one value the installer writes into wapt-get.ini.
type IniValue struct {
	Section, Key, Value string
}

// IniValues are the wapt-get.ini values of the installer, in order: [global] (server,
// data and credential paths as installer properties) then the preset's [waptwua].
func IniValues(o Options, preset []config.KeyValue) []IniValue {
	server := strings.TrimRight(o.ServerURL, "/")
	vals := []IniValue{
		{"global", "wapt_server", escape(server)},
		{"global", "repo_url", escape(server + "/wapt")},
		{"global", "credential_file", `[DATADIR]private\waptwua-credential.json`},
		{"global", "enrollment_token_file", `[PRIVATEDIR]` + TokenName},
		{"global", "data_dir", `[CommonAppDataFolder]` + DataDir},
	}
	if strings.HasPrefix(strings.ToLower(server), "http://") {
		vals = append(vals, IniValue{"global", "allow_insecure_http", "True"})
	}
	for _, kv := range preset {
		vals = append(vals, IniValue{"waptwua", kv.Key, escape(kv.Value)})
	}
	return vals
}

// escape protects a literal in a Formatted MSI field: [ ] { } would be read as
// properties or conditional parts.
func escape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '[', ']', '{', '}':
			b.WriteString(`[\` + string(c) + `]`)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Build writes the installer to out.
func Build(ctx context.Context, o Options, out string) error {
	preset, err := o.check()
	if err != nil {
		return err
	}
	wixl, msibuild := o.Wixl, o.Msibuild
	if wixl == "" {
		wixl = "wixl"
	}
	if msibuild == "" {
		msibuild = "msibuild"
	}
	for _, tool := range []string{wixl, msibuild, "msiinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("agent installer: %s not found: install Debian's wixl and msitools packages", tool)
		}
	}
	work, err := os.MkdirTemp("", "waptagent-msi-")
	if err != nil {
		return fmt.Errorf("agent installer: %w", err)
	}
	defer os.RemoveAll(work)
	exe, err := os.ReadFile(o.AgentExe)
	if err != nil {
		return fmt.Errorf("agent installer: %w", err)
	}
	files := map[string][]byte{
		ExeName:   exe,
		TokenName: []byte(o.Token + "\n"),
	}
	var wxs bytes.Buffer
	if err := wxsTemplate.Execute(&wxs, map[string]string{
		"Name": productName, "Manufacturer": manufacturer, "Version": o.Version, "UpgradeCode": upgradeCode,
		"AgentComp": agentCompID, "TokenComp": tokenCompID, "Exe": ExeName, "Token": TokenName, "Ini": IniName,
		"Service": ServiceName, "InstallDir": InstallDir, "DataDir": DataDir,
	}); err != nil {
		return fmt.Errorf("agent installer: %w", err)
	}
	files["agent.wxs"] = wxs.Bytes()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o600); err != nil {
			return fmt.Errorf("agent installer: %w", err)
		}
	}
	msiPath := filepath.Join(work, "waptagent.msi")
	run := func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = work
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("agent installer: %s: %w: %s", name, err, strings.TrimSpace(string(b)))
		}
		return nil
	}
	// wixl knows x64, not Arm64: the package is built as x64, then its platform is set
	// in the summary information (Template); the components are 64-bit on both.
	if err := run(wixl, "-a", "x64", "-o", msiPath, "agent.wxs"); err != nil {
		return err
	}
	tables, err := extraTables(work, msiPath, IniValues(o, preset))
	if err != nil {
		return err
	}
	if err := run(msibuild, append([]string{msiPath, "-i"}, tables...)...); err != nil {
		return err
	}
	template := "x64;1033"
	if o.Arch == "arm64" {
		template = "Arm64;1033"
	}
	if err := run(msibuild, msiPath, "-s", productName, manufacturer, template, "{"+newGUID()+"}"); err != nil {
		return err
	}
	data, err := os.ReadFile(msiPath)
	if err != nil {
		return fmt.Errorf("agent installer: %w", err)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("agent installer: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("agent installer: %w", err)
	}
	return nil
}

// privateSDDL is the token file's DACL: full control for SYSTEM and Administrators,
// nothing inherited (as agent.RestrictPath does for the credential).
const privateSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

// purgeDataType is the custom action that removes the data folder at uninstall when
// REMOVEDATA=1: an executable run in a folder (34), ignoring its exit code (64),
// deferred (1024), as SYSTEM (2048).
const purgeDataType = 34 + 64 + 1024 + 2048

// extraTables writes the .idt files msibuild imports: IniFile (the ini values), the
// install sequence with WriteIniValues/RemoveIniValues and the data purge, the purge's
// CustomAction (wixl drops a custom action run in a folder), and RemoveFile for the ini
// file itself at uninstall.
func extraTables(work, msiPath string, vals []IniValue) ([]string, error) {
	var ini strings.Builder
	ini.WriteString("IniFile\tFileName\tDirProperty\tSection\tKey\tValue\tAction\tComponent_\n")
	ini.WriteString("s72\tl255\tS72\tl96\tl128\tl255\ti2\ts72\nIniFile\tIniFile\n")
	for i, v := range vals {
		for _, f := range []string{v.Section, v.Key, v.Value} {
			if strings.ContainsAny(f, "\t\r\n") {
				return nil, fmt.Errorf("agent installer: ini value %s.%s holds a tab or a line break", v.Section, v.Key)
			}
		}
		fmt.Fprintf(&ini, "Ini%d\t%s\tINSTALLDIR\t%s\t%s\t%s\t0\tAgent\n", i+1, IniName, v.Section, v.Key, v.Value)
	}
	seq, err := exec.Command("msiinfo", "export", msiPath, "InstallExecuteSequence").Output()
	if err != nil {
		return nil, fmt.Errorf("agent installer: msiinfo export InstallExecuteSequence: %w (install Debian's msitools)", err)
	}
	seqText := strings.TrimRight(string(seq), "\n") + "\nRemoveIniValues\t\t3100\nWriteIniValues\t\t5100\n" +
		"PurgeData\tREMOVE=\"ALL\" AND REMOVEDATA=\"1\"\t3510\n"
	ca := "Action\tType\tSource\tTarget\tExtendedType\ns72\ti2\tS72\tS255\tI4\nCustomAction\tAction\n" +
		fmt.Sprintf("PurgeData\t%d\tTARGETDIR\t\"[System64Folder]cmd.exe\" /c rmdir /s /q \"[CommonAppDataFolder]%s\"\t\n", purgeDataType, DataDir)
	rm := "FileKey\tComponent_\tFileName\tDirProperty\tInstallMode\ns72\ts72\tL255\ts72\ti2\nRemoveFile\tFileKey\n" +
		"RemoveIni\tAgent\t" + IniName + "\tINSTALLDIR\t2\n"
	// The token file: SYSTEM and Administrators only, from the moment it is written
	// (Windows Installer 5 applies MsiLockPermissionsEx in InstallFiles).
	lock := "MsiLockPermissionsEx\tLockObject\tTable\tSDDL\tCondition\ns72\ts72\ts32\ts255\tS255\nMsiLockPermissionsEx\tMsiLockPermissionsEx\n" +
		"LockToken\tTokenFile\tFile\t" + privateSDDL + "\t\n"
	out := map[string]string{"IniFile.idt": ini.String(), "InstallExecuteSequence.idt": seqText, "RemoveFile.idt": rm,
		"CustomAction.idt": ca, "MsiLockPermissionsEx.idt": lock}
	var names []string
	for _, name := range []string{"IniFile.idt", "InstallExecuteSequence.idt", "RemoveFile.idt", "CustomAction.idt", "MsiLockPermissionsEx.idt"} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(out[name]), 0o600); err != nil {
			return nil, fmt.Errorf("agent installer: %w", err)
		}
		names = append(names, name)
	}
	return names, nil
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// wxsTemplate is the package: the program and its service, the token in the data
// folder (the purge of the data folder is added by extraTables). A folder
// property ends with a backslash, which would escape the closing quote of a command
// line argument ("C:\x\" is read as C:\x"): quoted folders are written without it.
var wxsTemplate = template.Must(template.New("wxs").Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="{{.Name}}" Language="1033" Version="{{.Version}}" Manufacturer="{{.Manufacturer}}" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="{{.Name}}"/>
    <Media Id="1" Cabinet="agent.cab" EmbedCab="yes"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of the {{.Name}} is installed."/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="{{.InstallDir}}">
          <Component Id="Agent" Guid="{{.AgentComp}}" Win64="yes">
            <File Id="WaptGetExe" Name="{{.Exe}}" Source="{{.Exe}}" KeyPath="yes"/>
            <ServiceInstall Id="Service" Name="{{.Service}}" DisplayName="{{.Name}}" Description="Scans, downloads and installs Windows updates under the WAPTWUA rules (wapt-get)." Type="ownProcess" Start="auto" ErrorControl="normal" Arguments="service run --as-service --config &quot;[INSTALLDIR]{{.Ini}}&quot; --data-dir &quot;[CommonAppDataFolder]{{.DataDir}}&quot;"/>
            <ServiceControl Id="ServiceControl" Name="{{.Service}}" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
        </Directory>
      </Directory>
      <Directory Id="CommonAppDataFolder">
        <Directory Id="DATADIR" Name="{{.DataDir}}">
          <Directory Id="PRIVATEDIR" Name="private">
            <Component Id="Token" Guid="{{.TokenComp}}" Win64="yes">
              <File Id="TokenFile" Name="{{.Token}}" Source="{{.Token}}" KeyPath="yes"/>
            </Component>
          </Directory>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1">
      <ComponentRef Id="Agent"/>
      <ComponentRef Id="Token"/>
    </Feature>
  </Product>
</Wix>
`))
