package console

import (
	"context"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/store"
)

// TestHostUpdatePackages: the host page shows the update packages of the host's last
// report with their outcome and detail (the exit code and its meaning), escaped; a host
// that reported none shows no section.
func TestHostUpdatePackages(t *testing.T) {
	e, _ := seededEnv(t)
	ctx := context.Background()
	must(t, e.st.ApplyReport(ctx, "host-001", store.Report{At: testNow, UpdatePackages: []store.HostPackage{
		{Name: "waptwua-kb5034441-amd64", Version: "1-0", Status: store.HostUpdatePackageInstalled},
		{Name: "win11-24h2", Version: "1-0", Status: store.HostUpdatePackageRebootNeeded, Error: "exit code 3010: a restart completes it"},
		{Name: "drv", Version: "2", Status: store.HostUpdatePackageError, Error: "failed with exit code 2147942405 (0x80070005): access denied <b>"},
	}}))
	c := e.client()
	c.login("viewer", viewerPass)
	r := c.get("/ui/hosts/host-001")
	if r.status != 200 {
		t.Fatalf("host page: HTTP %d", r.status)
	}
	for _, want := range []string{`id="host-update-packages"`, `data-package="waptwua-kb5034441-amd64"`, ">installed<", ">reboot_needed<",
		"exit code 3010: a restart completes it", "0x80070005): access denied &lt;b&gt;", ">error<"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("host page lacks %q", want)
		}
	}
	if r := c.get("/ui/hosts/host-002"); strings.Contains(r.body, `id="host-update-packages"`) {
		t.Error("a host that reported no update package shows the section")
	}
}
