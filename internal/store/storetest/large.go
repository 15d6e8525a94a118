package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// LargeCatalog imports n synthetic updates (the real catalog has about 136,000), imports
// them again (nothing written), and logs how long typical list queries take: first and
// deep pages in each order, filters, facets, search. It checks results, not times.
func LargeCatalog(t *testing.T, s store.Store, n int) {
	ctx := context.Background()
	us, cats := Catalog(n)
	start := time.Now()
	res := importAll(t, s, us, cats, t0)
	t.Logf("first import of %d updates: %v (%+v)", n, time.Since(start).Round(time.Millisecond), res)
	if res.Inserted != n {
		t.Fatalf("first import inserted %d, want %d", res.Inserted, n)
	}
	start = time.Now()
	res = importAll(t, s, us, cats, t0)
	t.Logf("second import: %v, %d rows written", time.Since(start).Round(time.Millisecond), res.Written())
	if res.Written() != 0 {
		t.Fatalf("second import wrote %d rows", res.Written())
	}
	// A few hosts, so the needed filter and the host counts have something to read.
	for h := range 20 {
		register(t, s, h)
		r := store.Report{At: at(1), Full: true}
		for i := h; i < n; i += n / 150 {
			r.Updates = append(r.Updates, store.ReportedUpdate{Key: us[i].Key(), Status: wu.StatusMissing})
		}
		report(t, s, h, r)
	}

	timed := func(name string, f store.UpdateFilter) store.UpdatePage {
		t.Helper()
		start := time.Now()
		page, err := s.ListUpdates(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%-40s %4d rows of %6d in %v", name, len(page.Updates), page.Total, time.Since(start).Round(100*time.Microsecond))
		return page
	}
	for _, sort := range []store.UpdateSort{"", store.SortTitle, store.SortSeverity, store.SortKB, store.SortClassification} {
		first := timed("first page by "+string(sort), store.UpdateFilter{Sort: sort})
		if first.Total != n || len(first.Updates) != 50 {
			t.Fatalf("first page: total %d, %d rows", first.Total, len(first.Updates))
		}
		timed("deep offset page by "+string(sort), store.UpdateFilter{Sort: sort, Offset: n - 100})
		f := store.UpdateFilter{Sort: sort, Cursor: first.Next}
		for range 3 {
			p := timed("next cursor page by "+string(sort), f)
			f.Cursor = p.Next
		}
	}
	timed("severity+product filter, by title", store.UpdateFilter{Severities: []wu.Severity{wu.SeverityCritical}, Products: []string{"Windows 11"}, Sort: store.SortTitle})
	timed("all facets", store.UpdateFilter{WithFacets: true})
	timed("filters with facets", store.UpdateFilter{Severities: []wu.Severity{wu.SeverityCritical, wu.SeverityImportant},
		Classifications: []string{"Security Updates"}, WithFacets: true})
	p := timed("search KB", store.UpdateFilter{Search: "KB5000123"})
	if p.Total != 1 {
		t.Errorf("search KB5000123: %d updates", p.Total)
	}
	timed("search title", store.UpdateFilter{Search: "update 07 for office"})
	timed("needed", store.UpdateFilter{Needed: store.Bool(true), WithFacets: true})
	timed("not downloaded, superseded", store.UpdateFilter{Downloaded: store.Bool(false), Superseded: store.Bool(true)})
	percentiles(t, s, n)
	start = time.Now()
	fs, err := s.NeededFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("needed files: %d in %v", len(fs), time.Since(start).Round(100*time.Microsecond))
}

// percentiles logs p50/p95/max of ListUpdates over random pages, unfiltered and with the
// console's three typical filters (severity + product, classification, KB search).
func percentiles(t *testing.T, s store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	sorts := []store.UpdateSort{store.SortCreated, store.SortTitle, store.SortSeverity, store.SortKB, store.SortClassification}
	pages := max(1, n/50)
	cases := []struct {
		name string
		f    func() store.UpdateFilter
	}{
		{"unfiltered, any page, any order", func() store.UpdateFilter {
			return store.UpdateFilter{Sort: sorts[rng.IntN(len(sorts))], Desc: rng.IntN(2) == 0, Offset: 50 * rng.IntN(pages)}
		}},
		{"severity Critical + product", func() store.UpdateFilter {
			return store.UpdateFilter{Severities: []wu.Severity{wu.SeverityCritical}, Products: []string{"Windows 11"},
				Offset: 50 * rng.IntN(max(1, pages/15))}
		}},
		{"classification, not needed", func() store.UpdateFilter {
			return store.UpdateFilter{Classifications: []string{"Security Updates"}, Needed: store.Bool(false),
				Offset: 50 * rng.IntN(max(1, pages/5))}
		}},
		{"KB search", func() store.UpdateFilter {
			return store.UpdateFilter{Search: fmt.Sprintf("KB%d", 5_000_000+rng.IntN(n))}
		}},
	}
	for _, c := range cases {
		var ds []time.Duration
		for range 24 {
			f := c.f()
			start := time.Now()
			if _, err := s.ListUpdates(ctx, f); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration {
			return ds[min(len(ds)-1, int(float64(len(ds))*p))].Round(100 * time.Microsecond)
		}
		t.Logf("%-40s p50 %v, p95 %v, max %v", c.name, q(.5), q(.95), q(1))
	}
}
