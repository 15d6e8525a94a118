package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Bulk applies full reports of perHost statuses from hosts hosts through ApplyReport,
// with workers concurrent callers, and logs the rate: first reports (every row new),
// repeated reports (nothing changed) and reports where a tenth of the statuses changed.
// It checks the resulting counts, not the time.
func Bulk(t *testing.T, s store.Store, hosts, perHost, workers int) {
	ctx := context.Background()
	us, cats := Catalog(perHost * 2)
	importAll(t, s, us, cats, t0)
	for h := range hosts {
		register(t, s, h)
	}
	statusOf := func(h, i, round int) wu.Status {
		all := []wu.Status{wu.StatusOK, wu.StatusOK, wu.StatusOK, wu.StatusMissing, wu.StatusPending, wu.StatusDiscarded}
		if round == 2 && i%10 == 0 {
			return wu.StatusError
		}
		return all[(h+i)%len(all)]
	}
	build := func(h, round int) store.Report {
		r := store.Report{At: at(round), ScanAt: at(round), Full: true, WUAStatus: "PENDING_UPDATES", Updates: make([]store.ReportedUpdate, perHost)}
		off := h % perHost // hosts see different, overlapping sets of updates
		for i := range perHost {
			r.Updates[i] = store.ReportedUpdate{Key: us[off+i].Key(), Status: statusOf(h, i, round), Reason: wu.ReasonNotAllowed}
		}
		return r
	}
	run := func(name string, round int) {
		reports := make([]store.Report, hosts)
		for h := range hosts {
			reports[h] = build(h, round)
		}
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for h := range next {
					if err := s.ApplyReport(ctx, HostUUID(h), reports[h]); err != nil {
						errs <- fmt.Errorf("host %d: %w", h, err)
						return
					}
				}
			}()
		}
	feed:
		for h := range hosts {
			select {
			case next <- h:
			case err := <-errs:
				t.Error(err)
				break feed
			}
		}
		close(next)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
		d := time.Since(start)
		t.Logf("%s: %d reports × %d statuses in %v: %.0f reports/s, %.0f statuses/s (%d workers)",
			name, hosts, perHost, d.Round(time.Millisecond), float64(hosts)/d.Seconds(), float64(hosts*perHost)/d.Seconds(), workers)
	}
	run("first reports", 1)
	run("same reports again", 1)
	run("a tenth changed", 2)

	for _, h := range []int{0, hosts / 2, hosts - 1} {
		got, err := s.GetHost(ctx, HostUUID(h))
		if err != nil {
			t.Fatal(err)
		}
		var want store.StatusCounts
		for i := range perHost {
			want.Add(statusOf(h, i, 2))
		}
		if got.Counts != want {
			t.Errorf("host %d counts %+v, want %+v", h, got.Counts, want)
		}
	}
	page, err := s.ListHosts(ctx, store.HostFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != hosts {
		t.Errorf("%d hosts listed, want %d", page.Total, hosts)
	}
	start := time.Now()
	up, err := s.ListUpdates(ctx, store.UpdateFilter{Needed: store.Bool(true), WithFacets: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("needed updates with facets over %d statuses: %d updates in %v", hosts*perHost, up.Total, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	fs, err := s.NeededFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("needed files: %d in %v", len(fs), time.Since(start).Round(time.Millisecond))
}
