package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/openwua/waptwua/internal/store"
)

// testUpdatePackages: update packages share the rules packages' rows with their kind,
// actions and payload state; each host's reported outcomes are kept apart and count in
// the ring of a version (installed, reboot_needed).
func testUpdatePackages(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := rulesPackage("kb5034441", "5034441-1", store.MaturityPreprod, "update-zip-1")
	p.Rules, p.Kind, p.Actions = nil, store.PackageKindUpdate, json.RawMessage(`{"kind":"msu","kb":"5034441","files":[]}`)
	got, created, err := s.PutPackage(ctx, p)
	if err != nil || !created {
		t.Fatalf("PutPackage update: created=%v %v", created, err)
	}
	if !got.IsUpdate() || string(got.Actions) != string(p.Actions) || got.Rules != nil || got.PayloadComplete || got.Servable() {
		t.Fatalf("PutPackage update = %+v", got)
	}
	rules, _, err := s.PutPackage(ctx, rulesPackage("acme-rules", "1", store.MaturityProd, "rules-zip"))
	if err != nil || rules.Kind != store.PackageKindRules || rules.IsUpdate() || !rules.Servable() {
		t.Fatalf("a rules package reads as kind %q (%v)", rules.Kind, err)
	}
	// The same name and version as another kind: conflict.
	asRules := p
	asRules.Kind, asRules.Actions = "", nil
	_, _, err = s.PutPackage(ctx, asRules)
	wantErr(t, "PutPackage same bytes as a rules package", err, store.ErrConflict)

	if err := s.SetPayloadComplete(ctx, p.Name, p.Version, true); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetPackage(ctx, p.Name, p.Version)
	if !got.PayloadComplete || !got.Servable() {
		t.Errorf("after SetPayloadComplete: %+v", got)
	}
	list, _ := s.ListPackages(ctx)
	if len(list) != 2 || !list[1].IsUpdate() || !list[1].PayloadComplete {
		t.Errorf("ListPackages = %+v", list)
	}
	f, err := s.PackageFile(ctx, p.Filename)
	if err != nil || string(f.Data) != "update-zip-1" || !f.IsUpdate() {
		t.Errorf("PackageFile = %+v %v", f, err)
	}
	wantErr(t, "SetPayloadComplete of a missing package", s.SetPayloadComplete(ctx, "nope", "1", true), store.ErrNotFound)
	// A package without payload (a KB uninstall) is complete from its upload on.
	un := rulesPackage("uninstall-kb1", "1", store.MaturityProd, "uninstall-zip")
	un.Rules, un.Kind, un.Actions, un.PayloadComplete = nil, store.PackageKindUpdate, json.RawMessage(`{"kind":"kb-uninstall","kb":"1","files":[]}`), true
	if got, _, err := s.PutPackage(ctx, un); err != nil || !got.PayloadComplete || !got.Servable() {
		t.Errorf("PutPackage of a complete update package = %+v %v", got, err)
	}

	// Reported outcomes.
	register(t, s, 1)
	register(t, s, 2)
	outcomes := []store.HostPackage{
		{Name: "kb5034441", Version: "5034441-1", Status: store.HostUpdatePackageRebootNeeded, Error: "exit code 3010: reboot needed"},
		{Name: "drv", Version: "1", Status: store.HostUpdatePackageError, Error: "failed with exit code 2147942405 (0x80070005): access denied"},
		{Name: "upg", Version: "1", Status: store.HostUpdatePackageRefused, Error: "package tampered"},
	}
	report(t, s, 1, store.Report{At: at(10), UpdatePackages: outcomes,
		Packages: []store.HostPackage{{Name: "acme-rules", Version: "1", Status: store.HostPackageApplied}}})
	report(t, s, 2, store.Report{At: at(10), UpdatePackages: []store.HostPackage{{Name: "kb5034441", Version: "5034441-1", Status: store.HostUpdatePackageNotApplicable}}})
	h, err := s.GetHost(ctx, HostUUID(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.UpdatePackages) != 3 || h.UpdatePackages[1].Error != outcomes[1].Error || h.UpdatePackages[2].Status != store.HostUpdatePackageRefused ||
		len(h.Packages) != 1 {
		t.Fatalf("GetHost update packages = %+v, packages %+v", h.UpdatePackages, h.Packages)
	}
	sameTime(t, "update package ChangedAt", h.UpdatePackages[0].ChangedAt, at(10))
	// The ring: host 1 (reboot needed) installed it, host 2 (not applicable) did not.
	ring, err := s.PackageHosts(ctx, "kb5034441", "5034441-1", "")
	if err != nil || len(ring) != 1 || ring[0].UUID != HostUUID(1) {
		t.Errorf("PackageHosts of an update package = %v %v", hostUUIDs(ring), err)
	}
	// A report without the list keeps it; a changed list keeps unchanged entries' time;
	// a rules status is not an update package status.
	report(t, s, 1, store.Report{At: at(20)})
	report(t, s, 1, store.Report{At: at(30), UpdatePackages: []store.HostPackage{outcomes[0],
		{Name: "drv", Version: "1", Status: store.HostUpdatePackageInstalled}}})
	h, _ = s.GetHost(ctx, HostUUID(1))
	if len(h.UpdatePackages) != 2 || h.UpdatePackages[1].Status != store.HostUpdatePackageInstalled || len(h.Packages) != 1 {
		t.Fatalf("after a changed list: %+v", h.UpdatePackages)
	}
	sameTime(t, "unchanged update package ChangedAt", h.UpdatePackages[0].ChangedAt, at(10))
	sameTime(t, "changed update package ChangedAt", h.UpdatePackages[1].ChangedAt, at(30))
	err = s.ApplyReport(ctx, HostUUID(1), store.Report{At: at(40), UpdatePackages: []store.HostPackage{{Name: "x", Version: "1", Status: store.HostPackageApplied}}})
	wantErr(t, "ApplyReport update package status applied", err, store.ErrInvalid)
	report(t, s, 1, store.Report{At: at(50), UpdatePackages: []store.HostPackage{}})
	h, _ = s.GetHost(ctx, HostUUID(1))
	if len(h.UpdatePackages) != 0 {
		t.Errorf("after an empty list: %+v", h.UpdatePackages)
	}
}
