package action_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/pkg"
)

const sha = "0000000000000000000000000000000000000000000000000000000000000000"

func actions() map[pkg.Kind]pkg.Action {
	f := func(p string) []pkg.PayloadFile { return []pkg.PayloadFile{{Path: p, Size: 1, SHA256: sha}} }
	return map[pkg.Kind]pkg.Action{
		pkg.KindMSU:            {Kind: pkg.KindMSU, KB: "5034441", Target: "windows10.0-kb5034441-x64.msu", Files: f("windows10.0-kb5034441-x64.msu")},
		pkg.KindCab:            {Kind: pkg.KindCab, Target: "ssu.cab", Files: f("ssu.cab")},
		pkg.KindDriver:         {Kind: pkg.KindDriver, Target: "net/e1000.inf", Files: f("net/e1000.inf")},
		pkg.KindKBUninstall:    {Kind: pkg.KindKBUninstall, KB: "4023057"},
		pkg.KindFeatureUpgrade: {Kind: pkg.KindFeatureUpgrade, Target: "setup.exe", MinFreeBytes: 20 << 30, Files: f("setup.exe")},
	}
}

func TestCommandLines(t *testing.T) {
	want := map[pkg.Kind]string{
		pkg.KindMSU:            `C:\Windows\System32\wusa.exe C:\ProgramData\waptwua\updates\p\windows10.0-kb5034441-x64.msu /quiet /norestart`,
		pkg.KindCab:            `C:\Windows\System32\Dism.exe /online /add-package /packagepath:C:\ProgramData\waptwua\updates\p\ssu.cab /quiet /norestart`,
		pkg.KindDriver:         `C:\Windows\System32\pnputil.exe /add-driver C:\ProgramData\waptwua\updates\p\net\e1000.inf /install`,
		pkg.KindKBUninstall:    `C:\Windows\System32\wusa.exe /uninstall /kb:4023057 /quiet /norestart`,
		pkg.KindFeatureUpgrade: `C:\ProgramData\waptwua\updates\p\setup.exe /auto upgrade /quiet /noreboot /dynamicupdate disable`,
	}
	for k, a := range actions() {
		c, err := action.CommandFor(a, `C:\Windows`, `C:\ProgramData\waptwua\updates\p\`)
		if err != nil || c.String() != want[k] {
			t.Errorf("%s: %q %v\nwant %q", k, c.String(), err, want[k])
		}
	}
	if _, err := action.CommandFor(pkg.Action{Kind: "script"}, `C:\Windows`, `C:\p`); err == nil {
		t.Error("unknown kind has a command")
	}
}

// TestExitCodeTable runs every kind through Run with a simulated process answering each
// code of the table.
func TestExitCodeTable(t *testing.T) {
	type row struct {
		code   uint32
		status action.Status
		text   string
	}
	common := []row{
		{0, action.StatusInstalled, "done"},
		{3010, action.StatusRebootNeeded, "reboot is required"},
		{1641, action.StatusRebootNeeded, "started a reboot"},
		{0x240006, action.StatusInstalled, "already installed"},
		{0x80240017, action.StatusNotApplicable, "WU_E_NOT_APPLICABLE"},
		{0x80070005, action.StatusError, "exit code 2147942405 (0x80070005): access denied"},
		{1, action.StatusError, "exit code 1 (0x00000001)"},
		{0x80070643, action.StatusError, "exit code 2147944003 (0x80070643)"},
	}
	for k, a := range actions() {
		rows := append([]row(nil), common...)
		if k == pkg.KindKBUninstall {
			rows = append(rows, row{0x240007, action.StatusInstalled, "already uninstalled"})
		} else {
			rows = append(rows, row{0x240007, action.StatusError, "0x00240007"})
		}
		if k == pkg.KindCab {
			rows = append(rows, row{0x800F081E, action.StatusNotApplicable, "CBS_E_NOT_APPLICABLE"})
		} else {
			rows = append(rows, row{0x800F081E, action.StatusError, "0x800F081E"})
		}
		for _, r := range rows {
			sim := &action.Sim{Answer: func(action.Command) (action.Exit, error) { return action.Exit{Code: r.code, Output: "log"}, nil }}
			h := action.Host{Runner: sim, Disk: freeSpace(30 << 30), SystemRoot: `C:\Windows`, SystemDrive: `C:\`}
			res, err := action.Run(context.Background(), h, a, `C:\p`)
			if err != nil || res.Status != r.status || res.ExitCode != r.code || !strings.Contains(res.Text, r.text) || res.Output != "log" {
				t.Errorf("%s exit %#x: %+v %v, want %s %q", k, r.code, res, err, r.status, r.text)
			}
			if len(sim.Calls()) != 1 {
				t.Errorf("%s: %d calls", k, len(sim.Calls()))
			}
		}
	}
}

func TestTimeouts(t *testing.T) {
	for _, k := range pkg.Kinds() {
		d := action.DefaultTimeout(k)
		if d < 10*time.Minute || d > 4*time.Hour {
			t.Errorf("%s: default timeout %s", k, d)
		}
	}
	a := actions()[pkg.KindMSU]
	a.TimeoutSeconds = 90
	if action.Timeout(a) != 90*time.Second {
		t.Error("own timeout ignored")
	}
}

type freeSpace uint64

func (f freeSpace) FreeBytes(string) (uint64, error) { return uint64(f), nil }

func TestFeatureUpgradeFreeSpace(t *testing.T) {
	sim := &action.Sim{}
	h := action.Host{Runner: sim, Disk: freeSpace(5 << 30), SystemRoot: `C:\Windows`, SystemDrive: `C:\`}
	res, err := action.Run(context.Background(), h, actions()[pkg.KindFeatureUpgrade], `C:\p`)
	if !errors.Is(err, action.ErrNotEnoughSpace) || res.Status != action.StatusError || !strings.Contains(res.Text, "5120 MiB free, the package needs 20480 MiB") {
		t.Fatalf("%+v %v", res, err)
	}
	if len(sim.Calls()) != 0 {
		t.Error("setup ran without the space it needs")
	}
	h.Disk = freeSpace(21 << 30)
	if res, err := action.Run(context.Background(), h, actions()[pkg.KindFeatureUpgrade], `C:\p`); err != nil || res.Status != action.StatusInstalled {
		t.Fatalf("%+v %v", res, err)
	}
}
