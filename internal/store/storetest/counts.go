package storetest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

// counter is what both backends offer to check the maintained update counts.
type counter interface {
	UpdateCounts(ctx context.Context) (map[wu.UpdateKey]sqlq.UpdateCount, error)
	RecountUpdates(ctx context.Context) (map[wu.UpdateKey]sqlq.UpdateCount, error)
}

// testCountsMatchRecount is a property test: after any sequence of full and delta
// reports (lean or not, with updates the catalog lacks), host deletions and catalog
// imports, the maintained update counts equal a recount from the statuses, and the
// update list shows them.
func testCountsMatchRecount(t *testing.T, s store.Store) {
	ctx := context.Background()
	cs, ok := s.(counter)
	if !ok {
		t.Fatalf("%T does not offer UpdateCounts and RecountUpdates", s)
	}
	const (
		hosts = 6
		steps = 60
	)
	us, cats := Catalog(16)
	importAll(t, s, us, cats, t0)
	statuses := []wu.Status{wu.StatusOK, wu.StatusPending, wu.StatusMissing, wu.StatusDiscarded, wu.StatusError, wu.StatusSuperseded}
	registered := map[int]bool{}
	rng := rand.New(rand.NewPCG(13, 7))
	// keys are the catalog's updates and four the catalog never has.
	keys := func() []store.ReportedUpdate {
		var out []store.ReportedUpdate
		for i := range us {
			out = append(out, store.ReportedUpdate{Key: us[i].Key(), Title: us[i].Title})
		}
		for i := range 4 {
			out = append(out, store.ReportedUpdate{Key: wu.UpdateKey{UpdateID: GUID(5000 + i), RevisionNumber: 1}, Title: fmt.Sprintf("driver %d", i)})
		}
		return out
	}()
	pick := func(n int) []store.ReportedUpdate {
		var out []store.ReportedUpdate
		for _, i := range rng.Perm(len(keys))[:n] {
			u := keys[i]
			u.Status = statuses[rng.IntN(len(statuses))]
			out = append(out, u)
		}
		return out
	}
	check := func(step int, what string) {
		t.Helper()
		got, err := cs.UpdateCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cs.RecountUpdates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("step %d (%s): maintained counts\n%v\nrecount\n%v", step, what, got, want)
		}
		page, err := s.ListUpdates(ctx, store.UpdateFilter{Needed: store.Bool(true), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		needing := 0
		for _, n := range want {
			if n.Needing > 0 {
				needing++
			}
		}
		if page.Total != needing {
			t.Fatalf("step %d (%s): %d updates listed as needed, %d by the recount", step, what, page.Total, needing)
		}
		for _, u := range page.Updates {
			if n := want[u.Key()]; u.HostsNeeding != n.Needing || u.HostsInstalled != n.Installed {
				t.Fatalf("step %d (%s): update %s lists %d needing, %d installed; recount %+v", step, what, u.Key(), u.HostsNeeding, u.HostsInstalled, n)
			}
		}
	}
	for step := range steps {
		h := 1 + rng.IntN(hosts)
		var what string
		switch op := rng.IntN(10); {
		case op < 4: // full report
			if !registered[h] {
				register(t, s, h)
				registered[h] = true
			}
			r := store.Report{At: at(step), Full: true, Lean: rng.IntN(2) == 0, Updates: pick(rng.IntN(len(keys)))}
			if r.Lean && rng.IntN(2) == 0 {
				for i := range r.Updates {
					r.Updates[i].Title = "" // undescribed: unknown updates are left out
				}
			}
			if _, err := s.RecordReport(ctx, HostUUID(h), r); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("full report of %d updates, host %d", len(r.Updates), h)
		case op < 7: // delta report
			if !registered[h] {
				register(t, s, h)
				registered[h] = true
			}
			report(t, s, h, store.Report{At: at(step), Updates: pick(1 + rng.IntN(4))})
			what = fmt.Sprintf("delta report, host %d", h)
		case op < 9: // host deletion
			if !registered[h] {
				continue
			}
			if err := s.DeleteHost(ctx, HostUUID(h)); err != nil {
				t.Fatal(err)
			}
			delete(registered, h)
			what = fmt.Sprintf("host %d deleted", h)
		default: // a catalog import keeping a random part of the catalog
			var part []wu.Update
			for i := range us {
				if rng.IntN(3) > 0 {
					part = append(part, us[i])
				}
			}
			importAll(t, s, part, cats, at(step))
			what = fmt.Sprintf("catalog import of %d updates", len(part))
		}
		check(step, what)
	}
}

// testSummarizeHosts: hosts in every state are counted in the right one.
func testSummarizeHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	us, cats := Catalog(4)
	importAll(t, s, us, cats, t0)
	ok := store.ReportedUpdate{Key: us[0].Key(), Status: wu.StatusOK}
	week := 7 * 24 * 60
	reports := map[int]store.Report{
		2: {At: at(0), ScanAt: at(0), WUAStatus: "OK", Updates: []store.ReportedUpdate{ok}},
		3: {At: at(0), ScanAt: at(0), Updates: []store.ReportedUpdate{ok, {Key: us[1].Key(), Status: wu.StatusMissing}, {Key: us[2].Key(), Status: wu.StatusMissing}}},
		4: {At: at(0), ScanAt: at(0), RebootPending: true, Updates: []store.ReportedUpdate{{Key: us[1].Key(), Status: wu.StatusError}}},
		5: {At: at(0), ScanAt: at(0), RebootPending: true, Updates: []store.ReportedUpdate{ok, {Key: us[3].Key(), Status: wu.StatusPending}}},
		6: {At: at(0)},
		7: {At: at(-week - 1), ScanAt: at(-week - 1), Updates: []store.ReportedUpdate{{Key: us[1].Key(), Status: wu.StatusMissing}}},
		8: {At: at(0), ScanAt: at(0), WUAStatus: "DISK_SPACE_ERROR", Updates: []store.ReportedUpdate{ok}},
	}
	for h := 1; h <= 8; h++ {
		register(t, s, h)
		if r, ok := reports[h]; ok {
			report(t, s, h, r)
		}
	}
	got, err := s.SummarizeHosts(ctx, at(-week))
	if err != nil {
		t.Fatal(err)
	}
	want := store.HostSummary{Hosts: 8, MissingStatuses: 3, MissingHosts: 2, States: map[string]int{
		store.HostStateStale: 2, store.HostStateOK: 1, store.HostStatePending: 1, store.HostStateError: 2,
		store.HostStateReboot: 1, store.HostStateNew: 1}}
	if got.Hosts != want.Hosts || got.MissingStatuses != want.MissingStatuses || got.MissingHosts != want.MissingHosts || !maps.Equal(got.States, want.States) {
		t.Errorf("SummarizeHosts = %+v, want %+v", got, want)
	}
}
