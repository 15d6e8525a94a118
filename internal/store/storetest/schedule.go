package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/openwua/waptwua/internal/store"
)

// testHostSchedule: the schedule state of a host's last report replaces the previous
// one; events are added once (a report sent twice adds nothing), the newest
// MaxHostScheduleEvents are kept, newest first; hosts past their deadline are counted
// and listed; deleting the host deletes them.
func testHostSchedule(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, 1)
	register(t, s, 2)
	register(t, s, 3)

	_, err := s.HostSchedule(ctx, HostUUID(9), 10)
	wantErr(t, "HostSchedule of an unknown host", err, store.ErrNotFound)
	err = s.SetHostSchedule(ctx, HostUUID(9), store.HostSchedule{ReportedAt: at(1)})
	wantErr(t, "SetHostSchedule of an unknown host", err, store.ErrNotFound)
	never, err := s.HostSchedule(ctx, HostUUID(1), 10)
	if err != nil || !never.ReportedAt.IsZero() || never.Events != nil || never.Lines != nil {
		t.Fatalf("HostSchedule of a host that never reported = %+v, %v", never, err)
	}

	first := store.HostSchedule{ReportedAt: at(10), NextWindowStart: at(60), NextWindowEnd: at(180), NextDeadline: at(600),
		PastDeadline: 2, Reboot: "ask", RebootAt: at(70), RebootSince: at(5), Postponed: 1,
		PolicyError: "maintenance_windows[1]: unknown day \"Mo\"", Lines: []string{"now: outside the maintenance windows", "next window: …"},
		Events: []store.ScheduleEvent{{At: at(2), Kind: "held", Text: "nothing installs now"}, {At: at(3), Kind: "reboot-postponed", Text: "the user postponed (1 of 3)"}}}
	for range 2 { // the same report twice
		if err := s.SetHostSchedule(ctx, HostUUID(1), first); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.HostSchedule(ctx, HostUUID(1), 10)
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "ReportedAt", got.ReportedAt, at(10))
	sameTime(t, "NextWindowStart", got.NextWindowStart, at(60))
	sameTime(t, "NextWindowEnd", got.NextWindowEnd, at(180))
	sameTime(t, "NextDeadline", got.NextDeadline, at(600))
	sameTime(t, "RebootAt", got.RebootAt, at(70))
	sameTime(t, "RebootSince", got.RebootSince, at(5))
	if got.PastDeadline != 2 || got.Reboot != "ask" || got.Postponed != 1 || got.PolicyError != first.PolicyError ||
		!slices.Equal(got.Lines, first.Lines) {
		t.Errorf("HostSchedule = %+v", got)
	}
	if len(got.Events) != 2 || got.Events[0].Kind != "reboot-postponed" || got.Events[1].Text != "nothing installs now" {
		t.Errorf("events after the same report twice = %+v, want the 2 events newest first", got.Events)
	}
	sameTime(t, "newest event", got.Events[0].At, at(3))

	// Host 2 is past its deadline too; host 3 is not.
	if err := s.SetHostSchedule(ctx, HostUUID(2), store.HostSchedule{ReportedAt: at(11), PastDeadline: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostSchedule(ctx, HostUUID(3), store.HostSchedule{ReportedAt: at(11)}); err != nil {
		t.Fatal(err)
	}
	countPast := func(want int, uuids ...string) {
		t.Helper()
		n, err := s.CountPastDeadline(ctx)
		if err != nil || n != want {
			t.Errorf("CountPastDeadline = %d, %v, want %d", n, err, want)
		}
		page, err := s.ListHosts(ctx, store.HostFilter{PastDeadline: true})
		if err != nil {
			t.Fatal(err)
		}
		var gotUUIDs []string
		for _, h := range page.Hosts {
			gotUUIDs = append(gotUUIDs, h.UUID)
		}
		if !slices.Equal(gotUUIDs, uuids) || page.Total != len(uuids) {
			t.Errorf("ListHosts(PastDeadline) = %v (total %d), want %v", gotUUIDs, page.Total, uuids)
		}
	}
	countPast(2, HostUUID(1), HostUUID(2))

	// A later report replaces the state: host 1 installed them, its reboot is done.
	second := store.HostSchedule{ReportedAt: at(20), NextWindowStart: at(1500), NextWindowEnd: at(1620),
		Events: []store.ScheduleEvent{{At: at(3), Kind: "reboot-postponed", Text: "the user postponed (1 of 3)"}, {At: at(15), Kind: "install", Text: "2 updates: past the deadline"}}}
	if err := s.SetHostSchedule(ctx, HostUUID(1), second); err != nil {
		t.Fatal(err)
	}
	got, err = s.HostSchedule(ctx, HostUUID(1), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.PastDeadline != 0 || got.Reboot != "" || !got.RebootAt.IsZero() || !got.NextDeadline.IsZero() || got.PolicyError != "" || got.Lines != nil {
		t.Errorf("replaced state = %+v", got)
	}
	if len(got.Events) != 2 || got.Events[0].Kind != "install" || got.Events[1].Kind != "reboot-postponed" {
		t.Errorf("events limited to 2 = %+v", got.Events)
	}
	countPast(1, HostUUID(2))

	// The newest MaxHostScheduleEvents are kept.
	var many []store.ScheduleEvent
	for i := range store.MaxHostScheduleEvents + 30 {
		many = append(many, store.ScheduleEvent{At: at(100 + i), Kind: "held", Text: fmt.Sprintf("decision %d", i)})
	}
	for i := 0; i < len(many); i += 50 {
		if err := s.SetHostSchedule(ctx, HostUUID(1), store.HostSchedule{ReportedAt: at(400 + i), Events: many[i:min(i+50, len(many))]}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.HostSchedule(ctx, HostUUID(1), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != store.MaxHostScheduleEvents || got.Events[0].Text != fmt.Sprintf("decision %d", len(many)-1) ||
		got.Events[len(got.Events)-1].Text != fmt.Sprintf("decision %d", len(many)-store.MaxHostScheduleEvents) {
		t.Errorf("kept %d events, newest %+v, oldest %+v", len(got.Events), got.Events[0], got.Events[len(got.Events)-1])
	}

	// A deleted host takes its schedule with it.
	if err := s.DeleteHost(ctx, HostUUID(2)); err != nil {
		t.Fatal(err)
	}
	countPast(0)
	_, err = s.HostSchedule(ctx, HostUUID(2), 10)
	wantErr(t, "HostSchedule of a deleted host", err, store.ErrNotFound)
}
