package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// rulesPackage returns a package row as the server stores an upload.
func rulesPackage(name, version, maturity string, data string) store.RulesPackage {
	return store.RulesPackage{
		Name: name, Version: version, Filename: name + "_" + version + ".wapt",
		SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(data))), Data: []byte(data),
		Maturity: maturity, Description: "rules for " + name, Signer: "Acme Admin", SignerFingerprint: "ab12",
		SignatureDate: at(-60), TargetGroups: []string{"lab", "ring0"}, PromoteAfterDays: 7, PromoteMinSuccessPct: 90,
		Control: "package: " + name + "\nversion: " + version + "\n", Rules: json.RawMessage(`{"default_allow":true}`),
		Verified: true, UploadedAt: at(1), UploadedBy: "admin",
	}
}

func testPackages(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := rulesPackage("acme-rules", "1", store.MaturityPreprod, "zip-bytes-1")
	got, created, err := s.PutPackage(ctx, p)
	if err != nil || !created {
		t.Fatalf("PutPackage: created=%v %v", created, err)
	}
	if got.Name != p.Name || got.Filename != "acme-rules_1.wapt" || got.Size != int64(len(p.Data)) || got.Maturity != store.MaturityPreprod ||
		!slices.Equal(got.TargetGroups, p.TargetGroups) || got.PromoteAfterDays != 7 || got.PromoteMinSuccessPct != 90 ||
		!got.Verified || got.Control != p.Control || string(got.Rules) != string(p.Rules) || got.UploadedBy != "admin" ||
		got.Signer != "Acme Admin" || got.Description != p.Description || got.Data != nil {
		t.Errorf("PutPackage = %+v", got)
	}
	sameTime(t, "SignatureDate", got.SignatureDate, p.SignatureDate)
	sameTime(t, "UploadedAt", got.UploadedAt, p.UploadedAt)
	if !got.PromotedAt.IsZero() || got.PackagePolicy.PromoteAfterDays != nil || got.Hold || got.Priority != 0 {
		t.Errorf("new package has a policy or a promotion: %+v", got)
	}

	// The same bytes again: the verification is refreshed, nothing else.
	again := p
	again.Verified, again.VerifyError, again.UploadedAt = false, "no trusted certificate", at(50)
	got, created, err = s.PutPackage(ctx, again)
	if err != nil || created || got.Verified || got.VerifyError != "no trusted certificate" {
		t.Errorf("PutPackage same bytes: created=%v %+v %v", created, got, err)
	}
	sameTime(t, "UploadedAt after a re-upload", got.UploadedAt, p.UploadedAt)
	// Other bytes under the same version: conflict.
	other := rulesPackage("acme-rules", "1", store.MaturityPreprod, "other-bytes")
	_, _, err = s.PutPackage(ctx, other)
	wantErr(t, "PutPackage other bytes", err, store.ErrConflict)
	_, _, err = s.PutPackage(ctx, store.RulesPackage{Name: "x"})
	wantErr(t, "PutPackage incomplete", err, store.ErrInvalid)

	if _, _, err := s.PutPackage(ctx, rulesPackage("acme-rules", "2", store.MaturityProd, "zip-bytes-two")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutPackage(ctx, rulesPackage("base-rules", "3", store.MaturityProd, "b")); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListPackages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Name+"="+l.Version)
		if l.Data != nil {
			t.Errorf("ListPackages gives the bytes of %s", l.Filename)
		}
	}
	if want := []string{"acme-rules=1", "acme-rules=2", "base-rules=3"}; !slices.Equal(names, want) {
		t.Errorf("ListPackages = %v, want %v", names, want)
	}

	f, err := s.PackageFile(ctx, "acme-rules_2.wapt")
	if err != nil || !bytes.Equal(f.Data, []byte("zip-bytes-two")) || f.Version != "2" {
		t.Errorf("PackageFile = %+v %v", f, err)
	}
	_, err = s.PackageFile(ctx, "nope_1.wapt")
	wantErr(t, "PackageFile unknown", err, store.ErrNotFound)
	_, err = s.GetPackage(ctx, "acme-rules", "9")
	wantErr(t, "GetPackage unknown", err, store.ErrNotFound)

	// Policy: set and clear the overrides.
	days, pct := 10, 95
	got, err = s.SetPackagePolicy(ctx, "acme-rules", "1", store.PackagePolicy{Priority: -5, Hold: true, PromoteAfterDays: &days, PromoteMinSuccessPct: &pct})
	if err != nil || got.Priority != -5 || !got.Hold || got.PackagePolicy.PromoteAfterDays == nil || *got.PackagePolicy.PromoteAfterDays != 10 ||
		got.PackagePolicy.PromoteMinSuccessPct == nil || *got.PackagePolicy.PromoteMinSuccessPct != 95 {
		t.Errorf("SetPackagePolicy = %+v %v", got.PackagePolicy, err)
	}
	got, err = s.GetPackage(ctx, "acme-rules", "1")
	if err != nil || got.Priority != -5 || got.PackagePolicy.PromoteAfterDays == nil {
		t.Errorf("GetPackage after policy = %+v %v", got.PackagePolicy, err)
	}
	got, err = s.SetPackagePolicy(ctx, "acme-rules", "1", store.PackagePolicy{Priority: 3})
	if err != nil || got.Priority != 3 || got.Hold || got.PackagePolicy.PromoteAfterDays != nil || got.PackagePolicy.PromoteMinSuccessPct != nil {
		t.Errorf("SetPackagePolicy clearing = %+v %v", got.PackagePolicy, err)
	}
	_, err = s.SetPackagePolicy(ctx, "acme-rules", "9", store.PackagePolicy{})
	wantErr(t, "SetPackagePolicy unknown", err, store.ErrNotFound)

	// Rollout: check results, then one promotion.
	chk := store.PromotionCheck{At: at(100), RingHosts: 4, SuccessHosts: 3, Note: "75% < 90%"}
	if err := s.RecordPromotionCheck(ctx, "acme-rules", "1", chk); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetPackage(ctx, "acme-rules", "1")
	if got.LastCheck.RingHosts != 4 || got.LastCheck.SuccessHosts != 3 || got.LastCheck.Note != chk.Note {
		t.Errorf("LastCheck = %+v", got.LastCheck)
	}
	sameTime(t, "LastCheck.At", got.LastCheck.At, chk.At)
	wantErr(t, "RecordPromotionCheck unknown", s.RecordPromotionCheck(ctx, "x", "1", chk), store.ErrNotFound)
	got, err = s.PromotePackage(ctx, "acme-rules", "1", at(200), "system")
	if err != nil || got.PromotedBy != "system" {
		t.Fatalf("PromotePackage = %+v %v", got, err)
	}
	sameTime(t, "PromotedAt", got.PromotedAt, at(200))
	_, err = s.PromotePackage(ctx, "acme-rules", "1", at(300), "admin")
	wantErr(t, "PromotePackage twice", err, store.ErrConflict)
	got, _ = s.GetPackage(ctx, "acme-rules", "1")
	sameTime(t, "PromotedAt after a second promotion", got.PromotedAt, at(200))
	_, err = s.PromotePackage(ctx, "nope", "1", at(300), "admin")
	wantErr(t, "PromotePackage unknown", err, store.ErrNotFound)

	if err := s.DeletePackage(ctx, "base-rules", "3"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeletePackage again", s.DeletePackage(ctx, "base-rules", "3"), store.ErrNotFound)
	_, err = s.PackageFile(ctx, "base-rules_3.wapt")
	wantErr(t, "PackageFile after delete", err, store.ErrNotFound)
}

func testPackageAssignments(t *testing.T, s store.Store) {
	ctx := context.Background()
	as := []store.PackageAssignment{
		{Package: "acme-rules", Kind: store.AssignGroup, Target: "lab", CreatedAt: at(1), CreatedBy: "admin"},
		{Package: "acme-rules", Kind: store.AssignHost, Target: HostUUID(3), CreatedAt: at(2), CreatedBy: "admin"},
		{Package: "base-rules", Kind: store.AssignGroup, Target: "all", CreatedAt: at(3)},
	}
	for _, a := range as {
		created, err := s.AssignPackage(ctx, a)
		if err != nil || !created {
			t.Fatalf("AssignPackage %+v: %v %v", a, created, err)
		}
	}
	created, err := s.AssignPackage(ctx, as[0])
	if err != nil || created {
		t.Errorf("AssignPackage twice: created=%v %v", created, err)
	}
	_, err = s.AssignPackage(ctx, store.PackageAssignment{Package: "x", Kind: "cluster", Target: "y"})
	wantErr(t, "AssignPackage bad kind", err, store.ErrInvalid)
	got, err := s.ListAssignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Target != "lab" || got[1].Kind != store.AssignHost || got[2].Package != "base-rules" || got[0].CreatedBy != "admin" {
		t.Errorf("ListAssignments = %+v", got)
	}
	sameTime(t, "CreatedAt", got[1].CreatedAt, at(2))
	if err := s.UnassignPackage(ctx, as[1]); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UnassignPackage again", s.UnassignPackage(ctx, as[1]), store.ErrNotFound)
	got, _ = s.ListAssignments(ctx)
	if len(got) != 2 {
		t.Errorf("ListAssignments after unassign = %+v", got)
	}
}

func testHostPackages(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(2)
	importAll(t, s, us, cats, t0)
	for i := 1; i <= 3; i++ {
		register(t, s, i)
	}
	// Host 2 is in the PREPROD ring.
	if _, err := s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(2), Name: "host-002", Maturity: store.MaturityPreprod,
		CredentialID: "cred-2b", CredentialHash: []byte{2}, At: t0, Rotate: "cred-2"}); err != nil {
		t.Fatal(err)
	}
	applied := []store.HostPackage{
		{Name: "base-rules", Version: "3", Status: store.HostPackageApplied},
		{Name: "acme-rules", Version: "2", Status: store.HostPackageApplied},
		{Name: "acme-rules", Version: "3", Status: store.HostPackageRefused, Error: "package tampered"},
	}
	for _, h := range []int{1, 2} {
		report(t, s, h, store.Report{At: at(10), Packages: applied,
			Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusOK}}})
	}
	h, err := s.GetHost(ctx, HostUUID(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Packages) != 3 || h.Packages[0].Name != "base-rules" || h.Packages[2].Status != store.HostPackageRefused ||
		h.Packages[2].Error != "package tampered" {
		t.Fatalf("GetHost packages = %+v", h.Packages)
	}
	sameTime(t, "package ChangedAt", h.Packages[1].ChangedAt, at(10))

	// A report without packages keeps them; a changed list keeps the ChangedAt of the
	// unchanged entries.
	report(t, s, 1, store.Report{At: at(20), Updates: []store.ReportedUpdate{{Key: us[1].Key(), Status: wu.StatusOK}}})
	h, _ = s.GetHost(ctx, HostUUID(1))
	if len(h.Packages) != 3 {
		t.Errorf("packages after a report without them: %+v", h.Packages)
	}
	report(t, s, 1, store.Report{At: at(30), Packages: applied[:2]})
	h, _ = s.GetHost(ctx, HostUUID(1))
	if len(h.Packages) != 2 {
		t.Fatalf("packages after the refused one left: %+v", h.Packages)
	}
	sameTime(t, "unchanged package ChangedAt", h.Packages[0].ChangedAt, at(10))
	report(t, s, 1, store.Report{At: at(40), Packages: []store.HostPackage{applied[0], {Name: "acme-rules", Version: "3", Status: store.HostPackageApplied}}})
	h, _ = s.GetHost(ctx, HostUUID(1))
	sameTime(t, "new package ChangedAt", h.Packages[1].ChangedAt, at(40))

	// The ring of a version.
	ring, err := s.PackageHosts(ctx, "acme-rules", "2", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != 1 || ring[0].UUID != HostUUID(2) {
		t.Errorf("PackageHosts acme-rules 2 = %v", hostUUIDs(ring))
	}
	ring, _ = s.PackageHosts(ctx, "acme-rules", "3", "")
	if len(ring) != 1 || ring[0].UUID != HostUUID(1) { // host 2 refused it
		t.Errorf("PackageHosts acme-rules 3 = %v", hostUUIDs(ring))
	}
	ring, _ = s.PackageHosts(ctx, "base-rules", "3", store.MaturityPreprod)
	if len(ring) != 1 || ring[0].UUID != HostUUID(2) || ring[0].Maturity != store.MaturityPreprod {
		t.Errorf("PackageHosts base-rules 3 PREPROD = %v", hostUUIDs(ring))
	}
	ring, _ = s.PackageHosts(ctx, "base-rules", "3", store.MaturityProd)
	if len(ring) != 1 || ring[0].UUID != HostUUID(1) {
		t.Errorf("PackageHosts base-rules 3 PROD = %v", hostUUIDs(ring))
	}

	// An empty list clears; a bad status is refused and changes nothing.
	err = s.ApplyReport(ctx, HostUUID(1), store.Report{At: at(50), Packages: []store.HostPackage{{Name: "x", Version: "1", Status: "maybe"}}})
	wantErr(t, "ApplyReport bad package status", err, store.ErrInvalid)
	report(t, s, 1, store.Report{At: at(60), Packages: []store.HostPackage{}})
	h, _ = s.GetHost(ctx, HostUUID(1))
	if len(h.Packages) != 0 {
		t.Errorf("packages after an empty list: %+v", h.Packages)
	}
	// Deleting a host forgets its packages.
	if err := s.DeleteHost(ctx, HostUUID(2)); err != nil {
		t.Fatal(err)
	}
	ring, _ = s.PackageHosts(ctx, "acme-rules", "2", "")
	if len(ring) != 0 {
		t.Errorf("PackageHosts after the host was deleted = %v", hostUUIDs(ring))
	}
}

func hostUUIDs(hs []store.Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.UUID)
	}
	return out
}
