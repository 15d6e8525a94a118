//go:build !windows

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/agent"
)

// openNativeHost has no real Windows Update Agent to open here.
func openNativeHost(*globals) (*host, error) {
	return nil, fmt.Errorf("the Windows Update Agent exists only on Windows: use the simulated host with --wua sim --profile FILE")
}

// systemMachineID reads the systemd/D-Bus machine id, written as a UUID.
func systemMachineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if len(id) == 32 {
			return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
		}
	}
	return ""
}

// bootTime reads the uptime from /proc/uptime; zero when unknown.
func bootTime(now time.Time) time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil || secs < 0 {
		return time.Time{}
	}
	return now.Add(-time.Duration(secs * float64(time.Second)))
}

// nativePolicy: the Windows Update policies exist only on Windows.
func nativePolicy() (agent.Policy, error) {
	return nil, fmt.Errorf("the Windows Update policies exist only on Windows")
}
