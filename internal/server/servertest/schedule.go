package servertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/server"
)

// testReportSchedule: the schedule part of a report (issue 16) is stored for the host,
// its events once however often the report is sent; a bad schedule is a 400 naming the
// field and stores nothing; a report without schedule keeps the stored one.
func testReportSchedule(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	sched := `"schedule":{"next_window_start":"2026-12-08T21:00:00Z","next_window_end":"2026-12-08T23:00:00Z",
		"next_deadline":"2026-12-15T09:00:00Z","past_deadline":1,"reboot":"ask","reboot_since":"2026-12-07T10:00:00Z",
		"postponed":2,"lines":["now: outside the maintenance windows"],
		"events":[{"at":"2026-12-07T10:00:00Z","kind":"reboot-ask","text":"asked the user"},
		{"at":"2026-12-07T11:00:00Z","kind":"reboot-postponed","text":"the user postponed (2 of 3)"}]}`
	body := `{"full":true,"wua_status":"PENDING_UPDATES","updates":[],` + sched + `}`
	for i := range 2 {
		Want(t, e.Report(hostA, cred, body), http.StatusNoContent, fmt.Sprintf("report %d", i+1))
	}
	got, err := e.Store.HostSchedule(context.Background(), hostA, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reboot != "ask" || got.Postponed != 2 || got.PastDeadline != 1 || len(got.Lines) != 1 ||
		got.NextWindowStart.Format("15:04") != "21:00" || len(got.Events) != 2 || got.Events[0].Kind != "reboot-postponed" {
		t.Errorf("stored schedule %+v", got)
	}
	if n, err := e.Store.CountPastDeadline(context.Background()); err != nil || n != 1 {
		t.Errorf("hosts past their deadline: %d, %v", n, err)
	}
	// The admin API's host detail shows it to a viewer.
	r := e.Do("GET", server.AdminPrefix+"/hosts/"+hostA, Viewer, nil)
	Want(t, r, http.StatusOK, "host detail")
	var hd admin.HostDetail
	r.JSON(t, &hd)
	if hd.Schedule == nil || hd.Schedule.Reboot != "ask" || hd.Schedule.PastDeadline != 1 || len(hd.Schedule.Events) != 2 ||
		hd.Schedule.Events[0].Text != "the user postponed (2 of 3)" || hd.Schedule.ReportedAt.IsZero() {
		t.Errorf("host detail schedule %s", r.Body)
	}
	Want(t, e.Do("GET", server.AdminPrefix+"/hosts/"+hostA, nil, nil), http.StatusUnauthorized, "host detail without credentials")

	tests := []struct{ desc, sched, field string }{
		{"unknown reboot state", `"schedule":{"reboot":"soon"}`, "schedule.reboot"},
		{"event kind", `"schedule":{"events":[{"at":"2026-12-07T10:00:00Z","kind":"<script>"}]}`, "schedule.events[0].kind"},
		{"event time", `"schedule":{"events":[{"at":"tomorrow","kind":"held"}]}`, "schedule.events[0].at"},
		{"unknown field", `"schedule":{"colour":"blue"}`, "schedule.colour"},
		{"too many events", `"schedule":{"events":[` + strings.Repeat(`{"at":"2026-12-07T10:00:00Z","kind":"held"},`, 50) +
			`{"at":"2026-12-07T10:00:00Z","kind":"held"}]}`, "schedule.events"},
		{"too many lines", `"schedule":{"lines":[` + strings.Repeat(`"x",`, 20) + `"x"]}`, "schedule.lines"},
		{"long line", `"schedule":{"lines":["` + strings.Repeat("x", 301) + `"]}`, "schedule.lines[0]"},
	}
	for _, tt := range tests {
		r := e.Report(hostA, cred, `{"full":true,"wua_status":"OK","updates":[],`+tt.sched+`}`)
		Want(t, r, http.StatusBadRequest, tt.desc)
		if f := r.Error(t).Field; f != tt.field {
			t.Errorf("%s: field %q, want %q", tt.desc, f, tt.field)
		}
	}
	Want(t, e.Report(hostA, cred, `{"full":true,"wua_status":"OK","updates":[]}`), http.StatusNoContent, "report without schedule")
	again, err := e.Store.HostSchedule(context.Background(), hostA, 10)
	if err != nil || again.Reboot != "ask" || len(again.Events) != 2 {
		t.Errorf("after refused reports and one without schedule: %+v, %v", again, err)
	}
}
