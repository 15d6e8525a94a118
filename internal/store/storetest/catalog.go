package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

func testImportIncremental(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(60)
	res := importAll(t, s, us, cats, at(0))
	if res.Inserted != 60 || res.Changed != 0 || res.Seen != 60 || res.Categories != len(cats) {
		t.Fatalf("first import = %+v, want 60 inserted, %d categories", res, len(cats))
	}

	res = importAll(t, s, us, cats, at(10))
	if res.Written() != 0 || res.Unchanged != 60 || res.Categories != 0 || res.Removed != 0 {
		t.Fatalf("second import of the same catalog = %+v, want 0 rows written, 60 unchanged, 0 categories", res)
	}
	u, err := s.GetUpdate(ctx, us[5].Key())
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "ChangedAt after an unchanged import", u.ChangedAt, at(0))

	// One changed title, one new update, one duplicate in the stream, one changed category.
	us2, _ := Catalog(61)
	us2[7].Title = "Renamed update"
	us2[8].Files = us2[8].Files[:1]
	stream := append(slices.Clone(us2), us2[3])
	cats[0].Name = "Windows 10 renamed"
	res = importAll(t, s, stream, cats, at(20))
	if res.Inserted != 1 || res.Changed != 2 || res.Unchanged != 58 || res.Seen != 62 || res.Categories != 1 {
		t.Fatalf("third import = %+v, want 1 inserted, 2 changed, 58 unchanged, 62 seen, 1 category", res)
	}
	u, err = s.GetUpdate(ctx, us2[7].Key())
	if err != nil {
		t.Fatal(err)
	}
	if u.Title != "Renamed update" || u.Source != store.SourceCatalog {
		t.Errorf("changed update = %q from %q, want the new title from the catalog", u.Title, u.Source)
	}
	sameTime(t, "ChangedAt of the changed update", u.ChangedAt, at(20))
	sameTime(t, "ImportedAt of the changed update", u.ImportedAt, at(0))
	u, err = s.GetUpdate(ctx, us2[8].Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Files) != 1 || len(u.FileStates) != 1 {
		t.Errorf("update with a file removed has files %v", u.Files)
	}
	cs, err := s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(cats) || !slices.ContainsFunc(cs, func(c wu.Category) bool { return c.Name == "Windows 10 renamed" }) {
		t.Errorf("Categories = %v, want %d with the renamed one", cs, len(cats))
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 61 || len(page.Updates) != 61 {
		t.Errorf("ListUpdates total %d, %d rows, want 61", page.Total, len(page.Updates))
	}
}

func testImportPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(20)
	importAll(t, s, us, cats, at(0))
	register(t, s, 1)
	// Host 1 reports update 3; update 4 is reported MISSING too. Both vanish from the catalog.
	report(t, s, 1, store.Report{At: at(1), Updates: []store.ReportedUpdate{
		{Key: us[3].Key(), Status: wu.StatusOK}, {Key: us[4].Key(), Status: wu.StatusMissing},
	}})
	next := append(slices.Clone(us[:3]), us[6:]...)
	res := importAll(t, s, next, cats, at(5))
	if res.Removed != 1 || res.Demoted != 2 || res.Written() != 0 {
		t.Fatalf("import without updates 3, 4, 5 = %+v, want 1 removed (5), 2 demoted (3, 4 reported by a host)", res)
	}
	if _, err := s.GetUpdate(ctx, us[5].Key()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed update: GetUpdate error = %v, want ErrNotFound", err)
	}
	u, err := s.GetUpdate(ctx, us[3].Key())
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != store.SourceReport || u.Title != us[3].Title {
		t.Errorf("demoted update source %q title %q, want report with the old title", u.Source, u.Title)
	}
	// A later catalog that has it again takes it back.
	res = importAll(t, s, us, cats, at(9))
	if res.Inserted != 1 || res.Changed != 2 {
		t.Fatalf("import with 3, 4, 5 back = %+v, want 1 inserted, 2 changed", res)
	}
	u, err = s.GetUpdate(ctx, us[3].Key())
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != store.SourceCatalog {
		t.Errorf("update back in the catalog has source %q", u.Source)
	}
	// A partial import removes nothing.
	res, err = s.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf(us[:2]), At: at(10), Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 0 || res.Demoted != 0 || res.Unchanged != 2 {
		t.Errorf("partial import = %+v, want 2 unchanged and nothing removed", res)
	}
}

func testImportError(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(10)
	importAll(t, s, us[:5], cats, at(0))
	boom := errors.New("truncated cabinet")
	_, err := s.ImportCatalog(ctx, store.CatalogImport{At: at(1), Updates: func(yield func(wu.Update, error) bool) {
		for _, u := range us {
			if u.UpdateID == us[8].UpdateID {
				yield(wu.Update{}, boom)
				return
			}
			u.Title += " (changed)"
			if !yield(u, nil) {
				return
			}
		}
	}})
	if !errors.Is(err, boom) {
		t.Fatalf("import with a failing stream: error = %v, want the stream's error", err)
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 5 {
		t.Fatalf("after a failed import %d updates, want the 5 of before", page.Total)
	}
	for _, u := range page.Updates {
		if strings.Contains(u.Title, "changed") {
			t.Fatalf("a failed import left a change: %q", u.Title)
		}
	}
}

func testGetUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(10)
	importAll(t, s, us, cats, at(0))
	// A second revision of update 4.
	newer := us[4]
	newer.RevisionNumber += 100
	newer.Title = "Newer revision"
	if _, err := s.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf([]wu.Update{newer}), At: at(1), Partial: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUpdate(ctx, us[4].Key())
	if err != nil {
		t.Fatal(err)
	}
	want := us[4]
	if got.UpdateID != want.UpdateID || got.RevisionNumber != want.RevisionNumber || got.RevisionID != want.RevisionID ||
		got.Title != want.Title || got.Description != want.Description || got.Severity != want.Severity ||
		got.Classification != want.Classification || got.ClassificationID != want.ClassificationID ||
		!slices.Equal(got.KBs, want.KBs) || !slices.Equal(got.Products, want.Products) ||
		!slices.Equal(got.ProductIDs, want.ProductIDs) || got.Company != want.Company ||
		got.ProductFamily != want.ProductFamily || got.SupportURL != want.SupportURL ||
		!slices.Equal(got.SupersededBy, want.SupersededBy) || !got.Created.Equal(want.Created) {
		t.Errorf("GetUpdate = %+v\nwant %+v", got.Update, want)
	}
	if got.Source != store.SourceCatalog || got.Superseded {
		t.Errorf("source %q superseded %v", got.Source, got.Superseded)
	}
	if len(got.Files) != 2 || len(got.FileStates) != 2 {
		t.Fatalf("files %v states %v, want 2", got.Files, got.FileStates)
	}
	for _, f := range want.Files {
		i := slices.IndexFunc(got.FileStates, func(g store.UpdateFile) bool { return g.SHA1 == f.SHA1 })
		if i < 0 || got.FileStates[i].File != f || !got.FileStates[i].DownloadedOn.IsZero() {
			t.Errorf("file %s: got %+v, want %+v not downloaded", f.SHA1, got.FileStates, f)
		}
	}
	latest, err := s.GetUpdate(ctx, wu.UpdateKey{UpdateID: us[4].UpdateID})
	if err != nil {
		t.Fatal(err)
	}
	if latest.RevisionNumber != newer.RevisionNumber || latest.Title != "Newer revision" {
		t.Errorf("bare id gives revision %d %q, want the newest %d", latest.RevisionNumber, latest.Title, newer.RevisionNumber)
	}
	sup, err := s.GetUpdate(ctx, us[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	if !sup.Superseded {
		t.Errorf("update 0 has SupersededBy but Superseded is false")
	}
	_, err = s.GetUpdate(ctx, wu.UpdateKey{UpdateID: GUID(999), RevisionNumber: 1})
	wantErr(t, "GetUpdate of an unknown update", err, store.ErrNotFound)
	_, err = s.GetUpdate(ctx, wu.UpdateKey{UpdateID: us[4].UpdateID, RevisionNumber: 1})
	wantErr(t, "GetUpdate of an unknown revision", err, store.ErrNotFound)
}

// match is the reference implementation of the filters on the generated catalog.
func match(u wu.Update, f store.UpdateFilter, needed map[wu.UpdateKey]bool) bool {
	if len(f.Severities) > 0 && !slices.Contains(f.Severities, u.Severity) {
		return false
	}
	if len(f.Classifications) > 0 && !slices.Contains(f.Classifications, u.Classification) {
		return false
	}
	if len(f.Products) > 0 && !slices.ContainsFunc(u.Products, func(p string) bool { return slices.Contains(f.Products, p) }) {
		return false
	}
	if q := strings.ToLower(strings.TrimSpace(f.Search)); q != "" {
		// "KB" then digits, or 6 digits or more: the KBs starting with them; else part
		// of the title or of "kbNNN".
		digits := strings.TrimSpace(strings.TrimPrefix(q, "kb"))
		if digits != "" && strings.Trim(digits, "0123456789") == "" && (strings.HasPrefix(q, "kb") || len(digits) >= 6) {
			if !slices.ContainsFunc(u.KBs, func(kb string) bool { return strings.HasPrefix(kb, digits) }) {
				return false
			}
		} else {
			text := strings.ToLower(u.Title)
			for _, kb := range u.KBs {
				text = "kb" + kb + " " + text
			}
			if !strings.Contains(text, q) {
				return false
			}
		}
	}
	if f.Superseded != nil && *f.Superseded != (len(u.SupersededBy) > 0) {
		return false
	}
	if f.Needed != nil && *f.Needed != needed[u.Key()] {
		return false
	}
	return true
}

func expect(us []wu.Update, f store.UpdateFilter, needed map[wu.UpdateKey]bool) []wu.UpdateKey {
	var out []wu.UpdateKey
	for _, u := range us {
		if match(u, f, needed) {
			out = append(out, u.Key())
		}
	}
	return sortedKeys(out)
}

func testListFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(80)
	importAll(t, s, us, cats, at(0))
	register(t, s, 1)
	needed := map[wu.UpdateKey]bool{}
	var rep []store.ReportedUpdate
	for i, st := range map[int]wu.Status{3: wu.StatusMissing, 4: wu.StatusOK, 5: wu.StatusDiscarded, 9: wu.StatusPending, 10: wu.StatusSuperseded} {
		rep = append(rep, store.ReportedUpdate{Key: us[i].Key(), Status: st, Reason: wu.ReasonDelayed})
		if slices.Contains(store.NeededStatuses(), st) {
			needed[us[i].Key()] = true
		}
	}
	report(t, s, 1, store.Report{At: at(1), Full: true, Updates: rep})

	tests := []struct {
		name string
		f    store.UpdateFilter
	}{
		{"all", store.UpdateFilter{}},
		{"severity", store.UpdateFilter{Severities: []wu.Severity{wu.SeverityCritical, wu.SeverityLow}}},
		{"no severity", store.UpdateFilter{Severities: []wu.Severity{wu.SeverityNone}}},
		{"product", store.UpdateFilter{Products: []string{"Windows 11"}}},
		{"products", store.UpdateFilter{Products: []string{"Windows 11", "Office 2016"}}},
		{"classification", store.UpdateFilter{Classifications: []string{"Drivers"}}},
		{"KB with prefix", store.UpdateFilter{Search: "KB5000007"}},
		{"KB digits", store.UpdateFilter{Search: "6000010"}},
		{"KB prefix", store.UpdateFilter{Search: "kb500001"}},
		{"KB digits prefix", store.UpdateFilter{Search: "500002"}},
		{"short digits in titles", store.UpdateFilter{Search: "03"}},
		{"title words any case", store.UpdateFilter{Search: "update 03 FOR windows"}},
		{"like wildcards are literal", store.UpdateFilter{Search: "100%_"}},
		{"superseded", store.UpdateFilter{Superseded: store.Bool(true)}},
		{"not superseded", store.UpdateFilter{Superseded: store.Bool(false)}},
		{"needed", store.UpdateFilter{Needed: store.Bool(true)}},
		{"not needed", store.UpdateFilter{Needed: store.Bool(false), Severities: []wu.Severity{wu.SeverityModerate}}},
		{"combined", store.UpdateFilter{Severities: []wu.Severity{wu.SeverityImportant, wu.SeverityCritical}, Products: []string{"Windows 10"},
			Classifications: []string{"Security Updates", "Updates"}, Search: "cumulative"}},
		{"source catalog", store.UpdateFilter{Source: store.SourceCatalog}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 1000
			page, err := s.ListUpdates(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			want := expect(us, tt.f, needed)
			got := sortedKeys(keys(page.Updates))
			if !slices.Equal(got, want) || page.Total != len(want) {
				t.Errorf("got %d updates (total %d) %v\nwant %d %v", len(got), page.Total, got, len(want), want)
			}
		})
	}
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Source: store.SourceReport})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 0 {
		t.Errorf("%d updates from reports, want 0", page.Total)
	}
	// Host counts on list rows.
	page, err = s.ListUpdates(ctx, store.UpdateFilter{Search: "kb5000003"})
	if err != nil || len(page.Updates) != 1 {
		t.Fatalf("search kb5000003: %v, %d rows", err, len(page.Updates))
	}
	if u := page.Updates[0]; u.HostsNeeding != 1 || u.HostsInstalled != 0 {
		t.Errorf("update 3 needed by %d installed on %d, want 1 and 0", u.HostsNeeding, u.HostsInstalled)
	}
	// A KB search follows a change of an update's KBs.
	us[3].KBs = []string{"KB7770001", "7770002"}
	importAll(t, s, us, cats, at(2))
	for q, want := range map[string]int{"kb5000003": 0, "KB7770001": 1, "7770002": 1, "kb777": 1} {
		page, err := s.ListUpdates(ctx, store.UpdateFilter{Search: q})
		if err != nil || page.Total != want {
			t.Errorf("search %q after a KB change: %v, %d updates, want %d", q, err, page.Total, want)
		}
	}
}

func facetMap(fs []store.FacetCount) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Value] = f.Count
	}
	return m
}

func testFacets(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(90)
	importAll(t, s, us, cats, at(0))
	f := store.UpdateFilter{
		Severities:      []wu.Severity{wu.SeverityCritical},
		Products:        []string{"Windows 10"},
		Classifications: []string{"Security Updates", "Updates"},
		WithFacets:      true,
	}
	page, err := s.ListUpdates(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if page.Facets == nil {
		t.Fatal("no facets")
	}
	count := func(g store.UpdateFilter) (sev, prod, class map[string]int) {
		sev, prod, class = map[string]int{}, map[string]int{}, map[string]int{}
		for _, u := range us {
			h := g
			h.Severities = nil
			if match(u, h, nil) {
				sev[string(u.Severity)]++
			}
			h = g
			h.Classifications = nil
			if match(u, h, nil) {
				class[u.Classification]++
			}
			h = g
			h.Products = nil
			if match(u, h, nil) {
				for _, p := range u.Products {
					prod[p]++
				}
			}
		}
		return
	}
	sev, prod, class := count(f)
	for _, c := range []struct {
		name      string
		got, want map[string]int
	}{{"severity", facetMap(page.Facets.Severity), sev}, {"product", facetMap(page.Facets.Product), prod}, {"classification", facetMap(page.Facets.Classification), class}} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s facet = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(sev) < 2 {
		t.Errorf("test data too narrow: the severity facet should show other severities, got %v", sev)
	}
	// Facet order: most first.
	for _, fs := range [][]store.FacetCount{page.Facets.Severity, page.Facets.Product, page.Facets.Classification} {
		if !slices.IsSortedFunc(fs, func(a, b store.FacetCount) int { return b.Count - a.Count }) {
			t.Errorf("facet not ordered by count: %v", fs)
		}
	}
	if want := len(expect(us, f, nil)); page.Total != want {
		t.Errorf("total %d, want %d", page.Total, want)
	}
	page, err = s.ListUpdates(ctx, store.UpdateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Facets != nil {
		t.Errorf("facets without WithFacets")
	}
}

// walk pages through the whole list with a cursor, page size n.
func walk(t *testing.T, s store.Store, f store.UpdateFilter, n int, between func(page int)) []wu.UpdateKey {
	t.Helper()
	var out []wu.UpdateKey
	f.Limit = n
	for i := 0; ; i++ {
		page, err := s.ListUpdates(context.Background(), f)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if len(page.Updates) > n {
			t.Fatalf("page %d has %d rows, limit %d", i, len(page.Updates), n)
		}
		out = append(out, keys(page.Updates)...)
		if page.Next == "" {
			return out
		}
		if len(page.Updates) != n {
			t.Fatalf("page %d has %d rows and a next cursor", i, len(page.Updates))
		}
		if i > 1000 {
			t.Fatal("pagination does not end")
		}
		if between != nil {
			between(i)
		}
		f.Cursor = page.Next
	}
}

func testPagination(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(100)
	importAll(t, s, us, cats, at(0))
	byKey := map[wu.UpdateKey]wu.Update{}
	for _, u := range us {
		byKey[u.Key()] = u
	}
	sorts := []store.UpdateSort{"", store.SortCreated, store.SortTitle, store.SortSeverity, store.SortKB, store.SortClassification}
	for _, sort := range sorts {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", sort, desc), func(t *testing.T) {
				f := store.UpdateFilter{Sort: sort, Desc: desc}
				all := f
				all.Limit = 1000
				page, err := s.ListUpdates(ctx, all)
				if err != nil {
					t.Fatal(err)
				}
				want := keys(page.Updates)
				if len(want) != 100 || page.Next != "" {
					t.Fatalf("one big page: %d rows, next %q", len(want), page.Next)
				}
				got := walk(t, s, f, 7, nil)
				if !slices.Equal(got, want) {
					t.Errorf("cursor pages differ from one page:\n got %v\nwant %v", got, want)
				}
				var off []wu.UpdateKey
				for o := 0; o < 100; o += 9 {
					f.Offset, f.Limit = o, 9
					p, err := s.ListUpdates(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					off = append(off, keys(p.Updates)...)
				}
				if !slices.Equal(off, want) {
					t.Errorf("offset pages differ from one page")
				}
				// The order is the one asked for.
				cmp := func(a, b wu.Update) int {
					var c int
					switch sort {
					case "", store.SortCreated:
						c = a.Created.Compare(b.Created)
						if sort == "" {
							c = -c
						}
					case store.SortTitle:
						c = strings.Compare(a.Title, b.Title)
					case store.SortSeverity:
						c = store.SeverityRank(a.Severity) - store.SeverityRank(b.Severity)
					case store.SortKB:
						c = strings.Compare(a.KBs[0], b.KBs[0])
					case store.SortClassification:
						c = strings.Compare(a.Classification, b.Classification)
					}
					if desc && sort != "" {
						c = -c
					}
					return c
				}
				for i := 1; i < len(want); i++ {
					if cmp(byKey[want[i-1]], byKey[want[i]]) > 0 {
						t.Fatalf("rows %d and %d out of order: %v then %v", i-1, i, want[i-1], want[i])
					}
				}
			})
		}
	}
}

func testPaginationStable(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(120)
	importAll(t, s, us[:100], cats, at(0))
	f := store.UpdateFilter{Sort: store.SortKB}
	got := walk(t, s, f, 10, func(page int) {
		if page != 3 {
			return
		}
		// While paging, insert rows that sort before the cursor (lower KBs: never
		// listed) and one that sorts after it (listed once, at the end).
		extra := slices.Clone(us[100:])
		for i := range extra {
			extra[i].KBs = []string{fmt.Sprint(4_000_000 + i)}
		}
		extra[0].KBs = []string{"9000000"}
		if _, err := s.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf(extra), At: at(1), Partial: true}); err != nil {
			t.Fatal(err)
		}
	})
	seen := map[wu.UpdateKey]int{}
	for _, k := range got {
		seen[k]++
	}
	for _, u := range us[:100] {
		if seen[u.Key()] != 1 {
			t.Errorf("update %v seen %d times while rows were inserted during paging", u.Key(), seen[u.Key()])
		}
	}
	if seen[us[100].Key()] != 1 {
		t.Errorf("a row inserted after the cursor position was not listed")
	}
	if len(got) != 101 {
		t.Errorf("listed %d rows, want the 100 old and the one inserted after the cursor", len(got))
	}
}

func testListInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(30)
	importAll(t, s, us, cats, at(0))
	page, err := s.ListUpdates(ctx, store.UpdateFilter{Sort: store.SortTitle, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.UpdateFilter{
		{Sort: "popularity"},
		{Cursor: "not a cursor!"},
		{Cursor: page.Next, Sort: store.SortKB},
		{Severities: []wu.Severity{"Urgent"}},
		{Offset: -1},
	} {
		_, err := s.ListUpdates(ctx, f)
		wantErr(t, fmt.Sprintf("ListUpdates(%+v)", f), err, store.ErrInvalid)
	}
	page, err = s.ListUpdates(ctx, store.UpdateFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Updates) != 30 {
		t.Errorf("huge limit: %d rows", len(page.Updates))
	}
	page, err = s.ListUpdates(ctx, store.UpdateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Updates) != 30 || page.Next != "" {
		t.Errorf("default limit: %d rows next %q", len(page.Updates), page.Next)
	}
}
