package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

func testHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	h := register(t, s, 1)
	if h.UUID != HostUUID(1) || h.Name != "host-001" || h.Maturity != "PROD" || !slices.Equal(h.Groups, []string{"lab"}) ||
		h.OS != "Windows 11 23H2" || h.AgentVersion != "1.0" || h.CredentialID != "cred-1" || !bytes.Equal(h.CredentialHash, []byte{1, 1, 2}) {
		t.Errorf("RegisterHost = %+v", h)
	}
	sameTime(t, "RegisteredAt", h.RegisteredAt, t0)
	if !h.LastSeen.IsZero() || !h.LastScan.IsZero() {
		t.Errorf("new host seen %v scanned %v, want never", h.LastSeen, h.LastScan)
	}
	got, err := s.GetHost(ctx, HostUUID(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != h.Name || !bytes.Equal(got.CredentialHash, h.CredentialHash) {
		t.Errorf("GetHost = %+v, want %+v", got, h)
	}
	got, err = s.HostByCredential(ctx, "cred-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != HostUUID(1) {
		t.Errorf("HostByCredential gives %s", got.UUID)
	}
	_, err = s.GetHost(ctx, HostUUID(2))
	wantErr(t, "GetHost unknown", err, store.ErrNotFound)
	_, err = s.HostByCredential(ctx, "nope")
	wantErr(t, "HostByCredential unknown", err, store.ErrNotFound)

	// Another host may not take host 1's credential id.
	_, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(2), Name: "intruder", CredentialID: "cred-1", CredentialHash: []byte{9}, At: t0})
	wantErr(t, "RegisterHost with another host's credential id", err, store.ErrConflict)
	_, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(2), Name: "no credential"})
	wantErr(t, "RegisterHost without credential", err, store.ErrInvalid)

	// Registering a UUID that has a credential is refused: the host keeps its own.
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	report(t, s, 1, store.Report{At: at(1), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusOK}}})
	takeover := store.HostRegistration{UUID: HostUUID(1), Name: "renamed", Maturity: "PREPROD",
		CredentialID: "cred-1b", CredentialHash: []byte{7}, At: at(2)}
	_, err = s.RegisterHost(ctx, takeover)
	wantErr(t, "RegisterHost of a registered UUID", err, store.ErrHostExists)
	if errors.Is(err, store.ErrConflict) {
		t.Errorf("ErrHostExists is also ErrConflict: %v", err)
	}
	takeover.Rotate = "cred-other"
	_, err = s.RegisterHost(ctx, takeover)
	wantErr(t, "RegisterHost rotating a credential the host does not hold", err, store.ErrHostExists)
	if got, err := s.HostByCredential(ctx, "cred-1"); err != nil || got.UUID != HostUUID(1) {
		t.Fatalf("the host's credential after refused registrations: %v %v", got.UUID, err)
	}
	// Rotation (the caller proved the current credential) replaces facts and credential,
	// keeps statuses.
	takeover.Rotate = "cred-1"
	h, err = s.RegisterHost(ctx, takeover)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "renamed" || h.Maturity != "PREPROD" || h.CredentialID != "cred-1b" || h.Counts.OK != 1 || h.Pending {
		t.Errorf("re-registered host = %+v", h)
	}
	_, err = s.HostByCredential(ctx, "cred-1")
	wantErr(t, "old credential after re-registration", err, store.ErrNotFound)

	// An administrator's reset clears the credential; the next registration succeeds.
	h, err = s.ResetHost(ctx, HostUUID(1), at(3), "admin")
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "ResetAt", h.ResetAt, at(3))
	if h.ResetBy != "admin" || len(h.CredentialHash) != 0 {
		t.Errorf("reset host = %+v", h)
	}
	_, err = s.HostByCredential(ctx, "cred-1b")
	wantErr(t, "credential after reset", err, store.ErrNotFound)
	_, err = s.HostByCredential(ctx, h.CredentialID)
	wantErr(t, "the placeholder credential id of a reset host", err, store.ErrNotFound)
	wantErr(t, "ResetHost unknown", func() error { _, err := s.ResetHost(ctx, HostUUID(9), at(3), "admin"); return err }(), store.ErrNotFound)
	h, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(1), Name: "reinstalled", Maturity: "PREPROD",
		CredentialID: "cred-1c", CredentialHash: []byte{8}, At: at(4)})
	if err != nil {
		t.Fatalf("RegisterHost after a reset: %v", err)
	}
	if h.CredentialID != "cred-1c" || h.Name != "reinstalled" || h.Pending || h.Counts.OK != 1 {
		t.Errorf("host registered after a reset = %+v", h)
	}
	_, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(1), Name: "again", CredentialID: "cred-1d", CredentialHash: []byte{9}, At: at(5)})
	wantErr(t, "RegisterHost after the reset was used", err, store.ErrHostExists)

	if err := s.TouchHost(ctx, HostUUID(1), at(30)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchHost(ctx, HostUUID(1), at(20)); err != nil { // late: keeps the latest
		t.Fatal(err)
	}
	got, _ = s.GetHost(ctx, HostUUID(1))
	sameTime(t, "LastSeen after TouchHost", got.LastSeen, at(30))
	wantErr(t, "TouchHost unknown", s.TouchHost(ctx, HostUUID(9), at(1)), store.ErrNotFound)

	if err := s.DeleteHost(ctx, HostUUID(1)); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetHost(ctx, HostUUID(1))
	wantErr(t, "GetHost after DeleteHost", err, store.ErrNotFound)
	wantErr(t, "DeleteHost again", s.DeleteHost(ctx, HostUUID(1)), store.ErrNotFound)
	// Its statuses went with it: nobody has update 0 installed.
	u, err := s.GetUpdate(ctx, us[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	if u.HostsInstalled != 0 {
		t.Errorf("update installed on %d hosts after the host was deleted", u.HostsInstalled)
	}
}

func testListHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(5)
	importAll(t, s, us, cats, t0)
	for i := 1; i <= 23; i++ {
		register(t, s, i)
	}
	// Same-name hosts: the order still has to be total.
	for i := 24; i <= 26; i++ {
		_, err := s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(i), Name: "host-010", CredentialID: fmt.Sprint("c", i), CredentialHash: []byte{1}, At: t0})
		if err != nil {
			t.Fatal(err)
		}
	}
	report(t, s, 5, store.Report{At: at(3), ScanAt: at(2), WUAStatus: "PENDING_UPDATES", RebootPending: true, Updates: []store.ReportedUpdate{
		{Key: us[0].Key(), Status: wu.StatusPending}, {Key: us[1].Key(), Status: wu.StatusMissing}, {Key: us[2].Key(), Status: wu.StatusOK},
	}})

	var all []string
	f := store.HostFilter{Limit: 4}
	for i := 0; ; i++ {
		page, err := s.ListHosts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 26 {
			t.Fatalf("total %d, want 26", page.Total)
		}
		for _, h := range page.Hosts {
			all = append(all, h.UUID)
			if h.UUID == HostUUID(5) {
				if h.WUAStatus != "PENDING_UPDATES" || !h.RebootPending || h.Counts != (store.StatusCounts{OK: 1, Pending: 1, Missing: 1}) {
					t.Errorf("host 5 summary = %+v", h)
				}
				sameTime(t, "LastSeen", h.LastSeen, at(3))
				sameTime(t, "LastScan", h.LastScan, at(2))
			}
		}
		if page.Next == "" {
			break
		}
		if i > 20 {
			t.Fatal("host pages do not end")
		}
		f.Cursor = page.Next
	}
	if len(all) != 26 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 26 {
		t.Fatalf("paged through %d hosts (%d distinct), want 26", len(all), len(slices.Compact(slices.Sorted(slices.Values(all)))))
	}
	page, err := s.ListHosts(ctx, store.HostFilter{Offset: 20, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range page.Hosts {
		got = append(got, h.UUID)
	}
	if !slices.Equal(got, all[20:24]) {
		t.Errorf("offset page %v, want %v", got, all[20:24])
	}
	page, err = s.ListHosts(ctx, store.HostFilter{Search: "HOST-01"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 13 { // host-010..host-019 and the three more host-010
		t.Errorf("search host-01: %d hosts, want 13", page.Total)
	}
	page, err = s.ListHosts(ctx, store.HostFilter{WUAStatus: "PENDING_UPDATES"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || page.Hosts[0].UUID != HostUUID(5) {
		t.Errorf("status filter: %+v", page)
	}
	_, err = s.ListHosts(ctx, store.HostFilter{Cursor: "garbage"})
	wantErr(t, "ListHosts bad cursor", err, store.ErrInvalid)
}

func testReportPartialFull(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(10)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	k := func(i int) wu.UpdateKey { return key(i, us) }

	report(t, s, 1, store.Report{At: at(1), ScanAt: at(1), Full: true, Name: "new-name", OS: "Windows 10", AgentVersion: "2.0",
		WUAStatus: "PENDING_UPDATES", Updates: []store.ReportedUpdate{
			{Key: k(0), Status: wu.StatusOK, InstalledAt: at(-100)},
			{Key: k(1), Status: wu.StatusMissing},
			{Key: k(2), Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden},
			{Key: k(3), Status: wu.StatusError, LastError: "0x80240022 install failed"},
		}})
	want := map[wu.UpdateKey]wu.Status{k(0): wu.StatusOK, k(1): wu.StatusMissing, k(2): wu.StatusDiscarded, k(3): wu.StatusError}
	if got := statuses(t, s, 1); !maps.Equal(got, want) {
		t.Fatalf("after a full report: %v, want %v", got, want)
	}
	hus, err := s.HostUpdates(ctx, HostUUID(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hus {
		switch h.Key {
		case k(0):
			sameTime(t, "InstalledAt", h.InstalledAt, at(-100))
			if h.Title != us[0].Title || !slices.Equal(h.KBs, us[0].KBs) || h.Severity != us[0].Severity || h.Classification != us[0].Classification {
				t.Errorf("host update carries %+v", h)
			}
		case k(2):
			if h.Reason != wu.ReasonForbidden {
				t.Errorf("reason %q", h.Reason)
			}
		case k(3):
			if h.LastError != "0x80240022 install failed" {
				t.Errorf("last error %q", h.LastError)
			}
		}
		sameTime(t, "ChangedAt", h.ChangedAt, at(1))
	}
	h, _ := s.GetHost(ctx, HostUUID(1))
	if h.Name != "new-name" || h.OS != "Windows 10" || h.AgentVersion != "2.0" || h.WUAStatus != "PENDING_UPDATES" ||
		h.Counts != (store.StatusCounts{OK: 1, Missing: 1, Discarded: 1, Error: 1}) {
		t.Errorf("host after report = %+v", h)
	}

	// Partial: only the listed updates change, the others stay.
	report(t, s, 1, store.Report{At: at(2), Updates: []store.ReportedUpdate{
		{Key: k(1), Status: wu.StatusPending},
		{Key: k(4), Status: wu.StatusMissing},
	}})
	want[k(1)], want[k(4)] = wu.StatusPending, wu.StatusMissing
	if got := statuses(t, s, 1); !maps.Equal(got, want) {
		t.Fatalf("after a partial report: %v, want %v", got, want)
	}
	h, _ = s.GetHost(ctx, HostUUID(1))
	if h.Name != "new-name" || h.WUAStatus != "PENDING_UPDATES" || h.Counts != (store.StatusCounts{OK: 1, Pending: 1, Missing: 1, Discarded: 1, Error: 1}) {
		t.Errorf("host after partial report (empty facts keep the old ones) = %+v", h)
	}
	sameTime(t, "LastScan kept by a report without ScanAt", h.LastScan, at(1))
	sameTime(t, "LastSeen", h.LastSeen, at(2))
	hus, _ = s.HostUpdates(ctx, HostUUID(1), wu.StatusOK)
	for _, hu := range hus {
		sameTime(t, "ChangedAt of an unchanged status", hu.ChangedAt, at(1))
	}

	// Full: absent updates are deleted.
	report(t, s, 1, store.Report{At: at(3), Full: true, Updates: []store.ReportedUpdate{
		{Key: k(0), Status: wu.StatusOK, InstalledAt: at(-100)},
		{Key: k(4), Status: wu.StatusPending},
	}})
	want = map[wu.UpdateKey]wu.Status{k(0): wu.StatusOK, k(4): wu.StatusPending}
	if got := statuses(t, s, 1); !maps.Equal(got, want) {
		t.Fatalf("after a second full report: %v, want %v", got, want)
	}
	h, _ = s.GetHost(ctx, HostUUID(1))
	if h.Counts != (store.StatusCounts{OK: 1, Pending: 1}) {
		t.Errorf("counts after full report = %+v", h.Counts)
	}
	pending, err := s.HostUpdates(ctx, HostUUID(1), wu.StatusPending, wu.StatusMissing)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Key != k(4) {
		t.Errorf("HostUpdates(PENDING, MISSING) = %v", pending)
	}
	// An empty full report clears the host.
	report(t, s, 1, store.Report{At: at(4), Full: true})
	if got := statuses(t, s, 1); len(got) != 0 {
		t.Errorf("after an empty full report: %v", got)
	}
}

func testReportIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(20)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	var ups []store.ReportedUpdate
	for i := range 20 {
		ups = append(ups, store.ReportedUpdate{Key: us[i].Key(), Status: []wu.Status{wu.StatusOK, wu.StatusMissing, wu.StatusPending}[i%3], InstalledAt: at(i)})
	}
	// Duplicates in one report: the last one wins.
	ups = append(ups, store.ReportedUpdate{Key: us[0].Key(), Status: wu.StatusError, LastError: "failed"})
	r := store.Report{At: at(1), Full: true, Updates: ups}
	report(t, s, 1, r)
	first, _ := s.HostUpdates(ctx, HostUUID(1))
	h1, _ := s.GetHost(ctx, HostUUID(1))
	r.At = at(2)
	report(t, s, 1, r)
	second, _ := s.HostUpdates(ctx, HostUUID(1))
	h2, _ := s.GetHost(ctx, HostUUID(1))
	if !slices.EqualFunc(first, second, func(a, b store.HostUpdate) bool {
		return a.Key == b.Key && a.Status == b.Status && a.InstalledAt.Equal(b.InstalledAt) && a.ChangedAt.Equal(b.ChangedAt) && a.LastError == b.LastError
	}) {
		t.Errorf("the same report twice changed the statuses:\n%v\n%v", first, second)
	}
	if h1.Counts != h2.Counts || h1.Counts.Error != 1 {
		t.Errorf("counts %+v then %+v", h1.Counts, h2.Counts)
	}
	if len(second) != 20 || second[0].Key != us[0].Key() || second[0].Status != wu.StatusError {
		t.Errorf("duplicate key in a report: got %d rows, first %+v", len(second), second[0])
	}
	// Upper-case ids are the same update.
	upper := store.ReportedUpdate{Key: wu.UpdateKey{UpdateID: upperGUID(us[1].UpdateID), RevisionNumber: us[1].RevisionNumber}, Status: wu.StatusOK}
	report(t, s, 1, store.Report{At: at(3), Updates: []store.ReportedUpdate{upper}})
	third, _ := s.HostUpdates(ctx, HostUUID(1))
	if len(third) != 20 {
		t.Errorf("an upper-case id created a new status: %d rows", len(third))
	}
}

func upperGUID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// testReportLeanDigest: a lean report does not record the statuses of updates the store
// does not know (it names them) and then stores no digest; a report whose digest is the
// stored one writes only the times.
func testReportLeanDigest(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	unknown := wu.UpdateKey{UpdateID: GUID(778), RevisionNumber: 2}
	digest := []byte("digest-1")
	r := store.Report{At: at(1), ScanAt: at(1), Full: true, Lean: true, Digest: digest, WUAStatus: "PENDING_UPDATES", Updates: []store.ReportedUpdate{
		{Key: us[0].Key(), Status: wu.StatusMissing}, {Key: unknown, Status: wu.StatusMissing}, {Key: us[1].Key(), Status: wu.StatusOK}}}
	res, err := s.RecordReport(ctx, HostUUID(1), r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Unknown, []wu.UpdateKey{unknown}) || res.Unchanged {
		t.Fatalf("result %+v, want the unknown update named", res)
	}
	want := map[wu.UpdateKey]wu.Status{us[0].Key(): wu.StatusMissing, us[1].Key(): wu.StatusOK}
	if got := statuses(t, s, 1); !maps.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if _, err := s.GetUpdate(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a lean report created the unknown update (%v)", err)
	}
	h, _ := s.GetHost(ctx, HostUUID(1))
	if h.ReportDigest != nil || h.Counts.Missing != 1 || h.Counts.OK != 1 {
		t.Errorf("host after a partly recorded report: digest %q, counts %+v", h.ReportDigest, h.Counts)
	}
	// The same report again is applied again (no digest stored).
	if res, err = s.RecordReport(ctx, HostUUID(1), r); err != nil || res.Unchanged || len(res.Unknown) != 1 {
		t.Fatalf("again: %+v, %v", res, err)
	}
	// Described (still lean), the status is recorded whole and the update created; the
	// digest is stored, and the same report changes nothing.
	r.Updates[1].Title = "Described by the host"
	if res, err = s.RecordReport(ctx, HostUUID(1), r); err != nil || len(res.Unknown) != 0 || res.Unchanged {
		t.Fatalf("described: %+v, %v", res, err)
	}
	if u, err := s.GetUpdate(ctx, unknown); err != nil || u.Title != "Described by the host" || u.Source != store.SourceReport {
		t.Errorf("described update: %+v, %v", u.Update, err)
	}
	h, _ = s.GetHost(ctx, HostUUID(1))
	if string(h.ReportDigest) != string(digest) || h.Counts.Missing != 2 {
		t.Errorf("host: digest %q, counts %+v", h.ReportDigest, h.Counts)
	}
	hb, err := s.HostByCredential(ctx, h.CredentialID)
	if err != nil || string(hb.ReportDigest) != string(digest) {
		t.Errorf("HostByCredential: digest %q, %v", hb.ReportDigest, err)
	}
	before, _ := s.HostUpdates(ctx, HostUUID(1))
	same := r
	same.At, same.ScanAt = at(5), at(4)
	same.Updates = nil // the digest alone decides: nothing is read or written
	if res, err = s.RecordReport(ctx, HostUUID(1), same); err != nil || !res.Unchanged {
		t.Fatalf("same digest: %+v, %v", res, err)
	}
	after, _ := s.HostUpdates(ctx, HostUUID(1))
	if len(after) != len(before) || len(after) != 3 {
		t.Errorf("an unchanged report changed the statuses: %v then %v", before, after)
	}
	h, _ = s.GetHost(ctx, HostUUID(1))
	sameTime(t, "LastSeen", h.LastSeen, at(5))
	sameTime(t, "LastScan", h.LastScan, at(4))
	if h.Counts.Missing != 2 || h.WUAStatus != "PENDING_UPDATES" {
		t.Errorf("host after an unchanged report: %+v", h)
	}
}

func testReportUnknown(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	register(t, s, 2)
	unknown := wu.UpdateKey{UpdateID: GUID(777), RevisionNumber: 1}
	ru := store.ReportedUpdate{Key: unknown, Status: wu.StatusMissing, Title: "Driver update from WUA", KBs: []string{"4000001"},
		Severity: wu.SeverityImportant, Classification: "Drivers", Products: []string{"Windows 11"}}
	report(t, s, 1, store.Report{At: at(1), Updates: []store.ReportedUpdate{ru, {Key: us[0].Key(), Status: wu.StatusOK, Title: "ignored"}}})
	report(t, s, 2, store.Report{At: at(2), Updates: []store.ReportedUpdate{ru}})
	u, err := s.GetUpdate(ctx, unknown)
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != store.SourceReport || u.Title != ru.Title || !slices.Equal(u.KBs, ru.KBs) || u.Severity != ru.Severity ||
		u.Classification != "Drivers" || !slices.Equal(u.Products, ru.Products) || u.HostsNeeding != 2 {
		t.Errorf("update from a report = %+v (needing %d)", u.Update, u.HostsNeeding)
	}
	known, _ := s.GetUpdate(ctx, us[0].Key())
	if known.Title != us[0].Title {
		t.Errorf("a report renamed a catalog update: %q", known.Title)
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Source: store.SourceReport, WithFacets: true})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || facetMap(page.Facets.Product)["Windows 11"] != 1 {
		t.Errorf("report updates: total %d facets %+v", page.Total, page.Facets)
	}
	page, err = s.ListUpdates(ctx, store.UpdateFilter{Search: "kb4000001", Products: []string{"Windows 11"}})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 {
		t.Errorf("search of a reported update: %d", page.Total)
	}
	// The catalog learns it later: it becomes a catalog update with the same statuses.
	cu := wu.Update{UpdateID: unknown.UpdateID, RevisionNumber: 1, Title: "Catalog title", Classification: "Drivers"}
	res, err := s.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf([]wu.Update{cu}), At: at(3), Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 1 {
		t.Errorf("catalog import of a reported update: %+v, want 1 changed", res)
	}
	u, _ = s.GetUpdate(ctx, unknown)
	if u.Source != store.SourceCatalog || u.Title != "Catalog title" || u.HostsNeeding != 2 {
		t.Errorf("after the catalog import: %+v", u)
	}
}

func testReportInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	register(t, s, 1)
	report(t, s, 1, store.Report{At: at(1), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusOK}}})
	err := s.ApplyReport(ctx, HostUUID(1), store.Report{At: at(2), Full: true, Updates: []store.ReportedUpdate{
		{Key: us[1].Key(), Status: wu.StatusMissing}, {Key: us[2].Key(), Status: "INSTALLED"}}})
	wantErr(t, "report with an unknown status", err, store.ErrInvalid)
	err = s.ApplyReport(ctx, HostUUID(1), store.Report{At: at(2), Updates: []store.ReportedUpdate{{Key: wu.UpdateKey{UpdateID: "KB123"}, Status: wu.StatusOK}}})
	wantErr(t, "report with a bad update id", err, store.ErrInvalid)
	if got := statuses(t, s, 1); len(got) != 1 || got[us[0].Key()] != wu.StatusOK {
		t.Errorf("a refused report changed the statuses: %v", got)
	}
	err = s.ApplyReport(ctx, HostUUID(9), store.Report{At: at(2)})
	wantErr(t, "report of an unregistered host", err, store.ErrNotFound)
	_, err = s.HostUpdates(ctx, HostUUID(9))
	wantErr(t, "HostUpdates of an unregistered host", err, store.ErrNotFound)
}

func testReportNeeded(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(6)
	importAll(t, s, us, cats, t0)
	for h := 1; h <= 4; h++ {
		register(t, s, h)
	}
	st := []wu.Status{wu.StatusMissing, wu.StatusPending, wu.StatusOK, wu.StatusSuperseded}
	for h := 1; h <= 4; h++ {
		report(t, s, h, store.Report{At: at(h), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: st[h-1]}, {Key: us[1].Key(), Status: wu.StatusOK}}})
	}
	u, _ := s.GetUpdate(ctx, us[0].Key())
	if u.HostsNeeding != 2 || u.HostsInstalled != 1 {
		t.Errorf("update 0: needing %d installed %d, want 2 and 1", u.HostsNeeding, u.HostsInstalled)
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Needed: store.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(page.Updates); !slices.Equal(got, []wu.UpdateKey{us[0].Key()}) {
		t.Errorf("needed updates %v, want only update 0", got)
	}
}

func testUpdateHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(3)
	importAll(t, s, us, cats, t0)
	st := []wu.Status{wu.StatusOK, wu.StatusMissing, wu.StatusPending, wu.StatusError, wu.StatusOK}
	for h := 1; h <= 12; h++ {
		register(t, s, h)
		report(t, s, h, store.Report{At: at(h), Updates: []store.ReportedUpdate{
			{Key: us[0].Key(), Status: st[h%len(st)], InstalledAt: at(-h), LastError: fmt.Sprint("e", h)},
			{Key: us[1].Key(), Status: wu.StatusOK}}})
	}
	var got []string
	f := store.UpdateHostFilter{Limit: 5}
	for i := 0; ; i++ {
		page, err := s.UpdateHosts(ctx, wu.UpdateKey{UpdateID: us[0].UpdateID}, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Hosts {
			got = append(got, h.HostName)
			if h.HostUUID == HostUUID(3) {
				if h.Status != st[3] || h.LastError != "e3" {
					t.Errorf("host 3 status %+v", h)
				}
				sameTime(t, "InstalledAt", h.InstalledAt, at(-3))
				sameTime(t, "ChangedAt", h.ChangedAt, at(3))
			}
		}
		if page.Next == "" {
			break
		}
		if i > 5 {
			t.Fatal("pages do not end")
		}
		f.Cursor = page.Next
	}
	if len(got) != 12 || !slices.IsSorted(got) {
		t.Errorf("hosts of update 0: %v, want the 12 by name", got)
	}
	page, err := s.UpdateHosts(ctx, us[0].Key(), store.UpdateHostFilter{Statuses: []wu.Status{wu.StatusMissing, wu.StatusPending}})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for h := 1; h <= 12; h++ {
		if x := st[h%len(st)]; x == wu.StatusMissing || x == wu.StatusPending {
			want++
		}
	}
	if len(page.Hosts) != want || page.Next != "" {
		t.Errorf("hosts missing or pending update 0: %d (next %q), want %d", len(page.Hosts), page.Next, want)
	}
	page, err = s.UpdateHosts(ctx, us[2].Key(), store.UpdateHostFilter{})
	if err != nil || len(page.Hosts) != 0 {
		t.Errorf("hosts of an update nobody reports: %v %v", page, err)
	}
	_, err = s.UpdateHosts(ctx, wu.UpdateKey{UpdateID: GUID(999)}, store.UpdateHostFilter{})
	wantErr(t, "UpdateHosts of an unknown update", err, store.ErrNotFound)
	_, err = s.UpdateHosts(ctx, us[0].Key(), store.UpdateHostFilter{Cursor: "x"})
	wantErr(t, "UpdateHosts bad cursor", err, store.ErrInvalid)
}

// Concurrent reports (written together where the backend groups them): a refused one
// (unknown host, invalid status) fails alone, the others are stored.
func testReportConcurrentMixed(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(4)
	importAll(t, s, us, cats, t0)
	const n = 24
	for i := 1; i <= n; i++ {
		if i%3 != 0 { // every third host is not registered
			register(t, s, i)
		}
	}
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			st := wu.StatusMissing
			if i%4 == 0 {
				st = "BOGUS"
			}
			errs[i] = s.ApplyReport(ctx, HostUUID(i), store.Report{At: at(i), Full: true, Updates: []store.ReportedUpdate{
				{Key: us[0].Key(), Status: wu.StatusOK}, {Key: us[i%4].Key(), Status: st}}})
		})
	}
	wg.Wait()
	for i := 1; i <= n; i++ {
		switch {
		case i%3 == 0:
			wantErr(t, fmt.Sprintf("report of unregistered host %d", i), errs[i], store.ErrNotFound)
		case i%4 == 0:
			wantErr(t, fmt.Sprintf("report of host %d with an invalid status", i), errs[i], store.ErrInvalid)
			if got := statuses(t, s, i); len(got) != 0 {
				t.Errorf("host %d: refused report left %v", i, got)
			}
		default:
			if errs[i] != nil {
				t.Errorf("report of host %d: %v", i, errs[i])
			} else if got := statuses(t, s, i); len(got) != 2 {
				t.Errorf("host %d: statuses %v, want 2", i, got)
			}
		}
	}
}

// testReportConcurrentUnknown: many hosts report, at once, overlapping sets of updates
// the catalog lacks (so that reports written together create the same update rows in
// different orders); every report is stored, each update row once.
func testReportConcurrentUnknown(t *testing.T, s store.Store) {
	ctx := context.Background()
	const hosts, pool, per = 48, 40, 12
	for i := 1; i <= hosts; i++ {
		register(t, s, i)
	}
	errs := make([]error, hosts+1)
	var wg sync.WaitGroup
	for i := 1; i <= hosts; i++ {
		wg.Go(func() {
			var ups []store.ReportedUpdate
			for j := range per {
				n := 9000 + (i*7+j*(i%5+1))%pool
				ups = append(ups, store.ReportedUpdate{Key: wu.UpdateKey{UpdateID: GUID(n), RevisionNumber: 1},
					Status: wu.StatusMissing, Title: fmt.Sprintf("Reported update %d", n)})
			}
			errs[i] = s.ApplyReport(ctx, HostUUID(i), store.Report{At: at(i), Full: true, Updates: ups})
		})
	}
	wg.Wait()
	want := map[wu.UpdateKey]bool{}
	for i := 1; i <= hosts; i++ {
		if errs[i] != nil {
			t.Errorf("report of host %d: %v", i, errs[i])
			continue
		}
		got := statuses(t, s, i)
		for j := range per {
			k := wu.UpdateKey{UpdateID: GUID(9000 + (i*7+j*(i%5+1))%pool), RevisionNumber: 1}
			want[k] = true
			if got[k] != wu.StatusMissing {
				t.Errorf("host %d: update %s: status %q, want MISSING", i, k, got[k])
			}
		}
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Source: store.SourceReport, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != len(want) {
		t.Errorf("%d updates of source report, want %d", page.Total, len(want))
	}
}
