// Package storetest is the conformance suite of package store: every backend's tests
// call Run with a constructor of empty stores, and Bulk for the report throughput.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// NewStore returns an empty, migrated store that lives until the end of t.
type NewStore func(t *testing.T) store.Store

// Run runs the whole suite. Each subtest gets a new store from newStore and runs in
// parallel with the others.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Migrate", testMigrate},
		{"CatalogImportIncremental", testImportIncremental},
		{"CatalogImportPrune", testImportPrune},
		{"CatalogImportError", testImportError},
		{"GetUpdate", testGetUpdate},
		{"ListUpdatesFilters", testListFilters},
		{"ListUpdatesFacets", testFacets},
		{"ListUpdatesPagination", testPagination},
		{"ListUpdatesPaginationStable", testPaginationStable},
		{"ListUpdatesInvalid", testListInvalid},
		{"Hosts", testHosts},
		{"ListHosts", testListHosts},
		{"ReportPartialAndFull", testReportPartialFull},
		{"ReportIdempotent", testReportIdempotent},
		{"ReportUnknownUpdates", testReportUnknown},
		{"ReportLeanAndDigest", testReportLeanDigest},
		{"CountsMatchRecount", testCountsMatchRecount},
		{"SummarizeHosts", testSummarizeHosts},
		{"ReportInvalid", testReportInvalid},
		{"ReportNeededCounts", testReportNeeded},
		{"ReportConcurrentMixed", testReportConcurrentMixed},
		{"ReportConcurrentUnknown", testReportConcurrentUnknown},
		{"UpdateHosts", testUpdateHosts},
		{"NeededAndUnusedFiles", testFiles},
		{"Tasks", testTasks},
		{"ClaimConcurrency", testClaimConcurrency},
		{"CabHistory", testCabHistory},
		{"Commands", testCommands},
		{"Users", testUsers},
		{"Audit", testAudit},
		{"Locker", testLocker},
		{"Packages", testPackages},
		{"PackageAssignments", testPackageAssignments},
		{"HostPackages", testHostPackages},
		{"UpdatePackages", testUpdatePackages},
		{"HostApproval", testHostApproval},
		{"EnrollmentTokens", testEnrollmentTokens},
		{"Sessions", testSessions},
		{"Mirrors", testMirrors},
		{"HostSchedule", testHostSchedule},
		{"Sites", testSites},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each subtest has its own store
			tt.fn(t, newStore(t))
		})
	}
}

// t0 is the suite's reference time (microsecond precision, as both backends store).
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// GUID returns a deterministic lower-case GUID for n.
func GUID(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

// SHA1 returns a deterministic 40-hex file digest for a kind letter and n.
func SHA1(kind byte, n int) string { return fmt.Sprintf("%c%039x", kind, n) }

// The products, classifications and severities Catalog spreads over its updates.
var (
	products        = []string{"Windows 10", "Windows 11", "Office 2016"}
	classifications = []string{"Security Updates", "Critical Updates", "Updates", "Drivers"}
	severities      = []wu.Severity{wu.SeverityCritical, wu.SeverityImportant, wu.SeverityModerate, wu.SeverityLow, wu.SeverityNone}
)

// Catalog returns n synthetic updates and their categories. Update i has its own file
// "a" i; updates 2k and 2k+1 share file "b" k; every 6th update is superseded; titles,
// dates and classifications repeat so sorts have ties.
func Catalog(n int) ([]wu.Update, []wu.Category) {
	var cats []wu.Category
	for i, p := range products {
		cats = append(cats, wu.Category{ID: GUID(900000 + i), Type: wu.CategoryProduct, Name: p})
	}
	for i, c := range classifications {
		cats = append(cats, wu.Category{ID: GUID(910000 + i), Type: wu.CategoryClassification, Name: c})
	}
	us := make([]wu.Update, n)
	for i := range us {
		u := wu.Update{
			UpdateID:         GUID(i),
			RevisionNumber:   200 + i%3,
			RevisionID:       int64(1_000_000 + i),
			Created:          t0.Add(-time.Duration(i/3) * time.Hour),
			Title:            fmt.Sprintf("Cumulative Update %02d for %s", i%17, products[i%3]),
			Description:      fmt.Sprintf("Description of update %d", i),
			KBs:              []string{fmt.Sprint(5_000_000 + i)},
			Severity:         severities[i%5],
			Classification:   classifications[i%4],
			ClassificationID: GUID(910000 + i%4),
			Products:         []string{products[i%3]},
			ProductIDs:       []string{GUID(900000 + i%3)},
			Company:          "Microsoft",
			ProductFamily:    "Windows",
			SupportURL:       "https://support.example/" + fmt.Sprint(i),
			Files: []wu.File{{
				Name: fmt.Sprintf("update%d.cab", i), Size: int64(1000 + i), SHA1: SHA1('a', i),
				URL: fmt.Sprintf("http://download.windowsupdate.com/d/update%d_%s.cab", i, SHA1('a', i)),
			}},
		}
		if i%10 == 0 {
			u.KBs = append(u.KBs, fmt.Sprint(6_000_000+i))
		}
		if i%4 == 0 {
			u.Products = append(u.Products, products[(i+1)%3])
			u.ProductIDs = append(u.ProductIDs, GUID(900000+(i+1)%3))
		}
		if i%6 == 0 {
			u.SupersededBy = []string{GUID(i + 1)}
		}
		u.Files = append(u.Files, wu.File{
			Name: fmt.Sprintf("shared%d.msu", i/2), Size: int64(5000 + i/2), SHA1: SHA1('b', i/2), SHA256: fmt.Sprintf("%064x", i/2),
			URL: fmt.Sprintf("http://download.windowsupdate.com/d/shared%d_%s.msu", i/2, SHA1('b', i/2)),
		})
		us[i] = u
	}
	return us, cats
}

func importAll(t *testing.T, s store.Store, us []wu.Update, cats []wu.Category, when time.Time) store.ImportResult {
	t.Helper()
	res, err := s.ImportCatalog(context.Background(), store.CatalogImport{Updates: store.UpdatesOf(us), Categories: cats, At: when})
	if err != nil {
		t.Fatalf("ImportCatalog: %v", err)
	}
	return res
}

func register(t *testing.T, s store.Store, n int) store.Host {
	t.Helper()
	h, err := s.RegisterHost(context.Background(), store.HostRegistration{
		UUID: HostUUID(n), Name: fmt.Sprintf("host-%03d", n), OS: "Windows 11 23H2", Groups: []string{"lab"},
		AgentVersion: "1.0", CredentialID: fmt.Sprintf("cred-%d", n), CredentialHash: []byte{byte(n), 1, 2}, At: t0,
	})
	if err != nil {
		t.Fatalf("RegisterHost %d: %v", n, err)
	}
	return h
}

// HostUUID returns a deterministic host UUID for n.
func HostUUID(n int) string { return fmt.Sprintf("%08x-1111-4000-8000-%012x", n, n) }

func key(i int, us []wu.Update) wu.UpdateKey { return us[i].Key() }

func report(t *testing.T, s store.Store, host int, r store.Report) {
	t.Helper()
	if err := s.ApplyReport(context.Background(), HostUUID(host), r); err != nil {
		t.Fatalf("ApplyReport host %d: %v", host, err)
	}
}

func statuses(t *testing.T, s store.Store, host int) map[wu.UpdateKey]wu.Status {
	t.Helper()
	hus, err := s.HostUpdates(context.Background(), HostUUID(host))
	if err != nil {
		t.Fatalf("HostUpdates: %v", err)
	}
	m := map[wu.UpdateKey]wu.Status{}
	for _, h := range hus {
		m[h.Key] = h.Status
	}
	return m
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// keys returns the update keys of a page, in order.
func keys(us []store.UpdateInfo) []wu.UpdateKey {
	out := make([]wu.UpdateKey, len(us))
	for i, u := range us {
		out[i] = u.Key()
	}
	return out
}

func sortedKeys(ks []wu.UpdateKey) []wu.UpdateKey {
	out := slices.Clone(ks)
	slices.SortFunc(out, func(a, b wu.UpdateKey) int {
		if a.UpdateID != b.UpdateID {
			if a.UpdateID < b.UpdateID {
				return -1
			}
			return 1
		}
		return a.RevisionNumber - b.RevisionNumber
	})
	return out
}

func testMigrate(t *testing.T, s store.Store) {
	m, ok := s.(store.Migrator)
	if !ok {
		t.Skip("store does not expose Migrate")
	}
	for i := 0; i < 2; i++ {
		if err := m.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate again (%d): %v", i, err)
		}
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
