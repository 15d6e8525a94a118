//go:build windows

package main

import (
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/wu"
	wuawin "github.com/openwua/waptwua/internal/wua/windows"
)

// openNativeHost opens the real Windows Update Agent (COM), the wuauserv control and
// the Windows Update policies.
func openNativeHost(g *globals) (*host, error) {
	w, err := wuawin.New(wuawin.Options{ClientApplicationID: "waptwua"})
	if err != nil {
		// One line: the COM call, its HRESULT in words and, when the code has one, what to do.
		return nil, fmt.Errorf("Windows Update Agent: %w", err)
	}
	g.closers = append(g.closers, w.Close)
	v := windows.RtlGetVersion()
	drive := os.Getenv("SystemDrive")
	if drive == "" {
		drive = "C:"
	}
	winRoot := os.Getenv("SystemRoot")
	if winRoot == "" {
		winRoot = drive + `\Windows`
	}
	return &host{
		wua:      w,
		svc:      wuawin.NewServiceControl(wu.SystemClock{}),
		policy:   wuawin.NewPolicy(""),
		osName:   fmt.Sprintf("Windows %d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber),
		sysRoot:  drive + `\`,
		notifier: sessionNotifier{},
		rebooter: systemRebooter{},
		actions:  action.Process{},
		winRoot:  winRoot,
	}, nil
}

// systemMachineID reads the MachineGuid Windows sets at installation.
func systemMachineID() string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	s, _, err := k.GetStringValue("MachineGuid")
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// bootTime derives the boot time from GetTickCount64 (milliseconds since boot).
func bootTime(now time.Time) time.Time {
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")
	if proc.Find() != nil {
		return time.Time{}
	}
	r1, r2, _ := proc.Call()
	ms := uint64(r1)
	if unsafe.Sizeof(r1) == 4 { // 386: the 64-bit result comes in EDX:EAX
		ms |= uint64(r2) << 32
	}
	return now.Add(-time.Duration(ms) * time.Millisecond)
}

// nativePolicy returns the Windows Update policies switch alone (no COM).
func nativePolicy() (agent.Policy, error) { return wuawin.NewPolicy(""), nil }
