package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// TestMSUWizardInBrowser runs "serve" with a server-held signing key and
// package_trusted_certs, and drives the update package wizard in headless Chromium:
// upload an .msu made by msutest, see the KB read from it, build (signed on the
// server, payload put in place), assign the package to a group; then a simulated agent
// of that group (its sim host answers the wusa command with exit code 0) runs an
// install cycle through the real server, and the host page in the browser shows the
// package installed.
func TestMSUWizardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bctx := newBrowser(t)
	ctx := context.Background()
	f := newRulesFixture(t)
	data := t.TempDir()
	ini := filepath.Join(t.TempDir(), "waptserver.ini")
	const secret = "5f1c0e9a7b3d4e2f8a6c1b0d9e7f3a2c"
	if err := os.WriteFile(ini, []byte(fmt.Sprintf("[options]\nenrollment_secret = %s\npackage_trusted_certs = %s\npackage_signing_key = %s\npackage_signing_cert = %s\n",
		secret, f.cert, f.key, f.cert)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WAPTSERVER_DB_URL", "")
	base, stderr, stop := startServe(t, http.DefaultClient, "http", "--config", ini, "--data", data)
	defer stop()
	if _, _, err := runCmd(t, ctx, "admin-password\n", "user", "add", "admin", "--role", "admin", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}

	// The .msu, as downloaded from the Microsoft Update Catalog.
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB5034441-x64", Properties: msutest.KB("5034441"),
		Payload: []byte(strings.Repeat("winre update ", 5000)), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	msuFile := filepath.Join(t.TempDir(), "windows10.0-kb5034441-x64.msu")
	if err := os.WriteFile(msuFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	shots := t.TempDir()
	defer copyShots(t, shots)
	br := &browserSession{t: t, ctx: bctx, base: base + "/ui/", shots: shots}
	br.login("admin", "admin-password")
	br.open("packages", "#package-list")
	br.run("open the wizard", chromedp.Click("#new-msu-package"), chromedp.WaitVisible("#msu-upload-form"))
	br.run("upload the .msu",
		chromedp.SetUploadFiles("#msu-file", []string{msuFile}),
		chromedp.Click("#msu-read"),
		chromedp.WaitVisible("#msu-info"))
	if kb := eval[string](br, `document.querySelector('#msu-kb').innerText`); kb != "KB5034441" {
		t.Fatalf("KB read from the .msu: %q", kb)
	}
	if arch := eval[string](br, `document.querySelector('#msu-arch').innerText`); arch != "amd64" {
		t.Errorf("architecture: %q", arch)
	}
	if w := eval[string](br, `document.querySelector('#msu-warning') ? document.querySelector('#msu-warning').innerText : ''`); w == "" {
		t.Error("the plan's warning is not shown")
	}
	br.shot("40-msu-wizard-read")
	br.noCSPViolation("msu wizard")
	br.run("build", chromedp.Click("#msu-build-button"), chromedp.WaitVisible(".flash.ok"))
	if msg := eval[string](br, `document.querySelector('.flash.ok').innerText`); !strings.Contains(msg, "waptwua-kb5034441-amd64") || !strings.Contains(msg, "stored with its payload") {
		t.Errorf("after build: %q", msg)
	}
	row := `tr.package-row[data-package="waptwua-kb5034441-amd64"] `
	br.run("assign to group fleet",
		chromedp.WaitVisible(row+`form.assign input[name=target]`),
		chromedp.SetValue(row+`form.assign input[name=target]`, "fleet"),
		chromedp.Click(row+`form.assign button[type=submit]`),
		chromedp.WaitVisible(".flash.ok"))
	if a := eval[string](br, `document.querySelector('`+strings.ReplaceAll(row, `"`, `\"`)+`.assignment').innerText`); !strings.Contains(a, "fleet") {
		t.Errorf("assignment shown: %q", a)
	}
	br.shot("41-msu-package-assigned")

	// A simulated agent of group fleet runs an install cycle through the server.
	const uuid = "MSU-HOST-1"
	dir := t.TempDir()
	agentIni := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = %s\n\n[waptwua]\nenabled = True\ntrusted_certs = %s\n",
		base, base, uuid, f.cert)
	cfg, err := config.ParseAgent([]byte(agentIni), filepath.Join(dir, "wapt-get.ini"))
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := json.Marshal(sim.Profile{Products: []string{"Windows 10"}, Actions: []sim.ActionExit{{Match: "kb5034441", ExitCode: "0"}}})
	profPath := filepath.Join(dir, "host.json")
	if err := os.WriteFile(profPath, prof, 0o600); err != nil {
		t.Fatal(err)
	}
	simHost, err := sim.Open(profPath)
	if err != nil {
		t.Fatal(err)
	}
	defer simHost.Close()
	repoURL, err := cfg.WUARepoURL()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := agent.Register(ctx, agent.NewClient(http.DefaultClient, base, repoURL, nil, "waptwua-test"), base, secret,
		api.RegisterRequest{UUID: uuid, Name: "pc-msu", OS: "Windows (simulated)", AgentVersion: "test", Groups: []string{"fleet"}})
	if err != nil {
		t.Fatal(err)
	}
	runner := &action.Sim{Answer: func(c action.Command) (action.Exit, error) {
		code, err := simHost.RunCommand(ctx, c.String())
		return action.Exit{Code: code}, err
	}}
	ag, err := agent.New(cfg, simHost, agent.NewClient(http.DefaultClient, base, repoURL, cred, "waptwua-test"), filepath.Join(dir, "data"),
		agent.WithActionRunner(runner, `C:\Windows`), agent.WithDiskSpace(plentyOfDisk{}))
	if err != nil {
		t.Fatal(err)
	}
	// The server has no catalog (no jobs): the cycle's scan fails, the update packages run.
	_, cycleErr := ag.Install(ctx)
	cmds := simHost.Commands()
	if len(cmds) != 1 || !strings.Contains(cmds[0], "wusa.exe") || !strings.Contains(strings.ToLower(cmds[0]), "windows10.0-kb5034441-x64.msu") {
		t.Fatalf("commands the agent ran: %q (cycle: %v)\n%s", cmds, cycleErr, stderr.String())
	}

	br.open("hosts/"+uuid, "#host-update-packages")
	prow := `#host-update-packages [data-package="waptwua-kb5034441-amd64"]`
	br.waitJS("the package installed on the host page", `document.querySelector('`+strings.ReplaceAll(prow, `"`, `\"`)+`') && document.querySelector('`+
		strings.ReplaceAll(prow, `"`, `\"`)+`').innerText.includes('installed')`, 10*time.Second)
	br.shot("42-msu-package-installed")
	t.Logf("the agent ran %q; the host page shows: %s", cmds, eval[string](br, `document.querySelector('#host-update-packages').innerText`))
}
