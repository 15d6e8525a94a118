package server

import (
	"context"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/store"
)

// storeSchedule records the schedule part of a validated report (issue 16); a report
// without one leaves the stored state as it is.
func (s *Server) storeSchedule(ctx context.Context, hostUUID string, rep *api.ScheduleReport) error {
	if rep == nil {
		return nil
	}
	return s.store.SetHostSchedule(ctx, hostUUID, hostSchedule(rep, s.now()))
}

// hostSchedule is the store's form of a schedule report received at.
func hostSchedule(rep *api.ScheduleReport, at time.Time) store.HostSchedule {
	out := store.HostSchedule{
		ReportedAt: at, NextWindowStart: rep.NextWindowStart, NextWindowEnd: rep.NextWindowEnd,
		NextDeadline: rep.NextDeadline, PastDeadline: rep.PastDeadline, Reboot: rep.Reboot, RebootAt: rep.RebootAt,
		RebootSince: rep.RebootSince, Postponed: rep.Postponed, PolicyError: rep.PolicyError, Lines: rep.Lines,
	}
	for _, e := range rep.Events {
		out.Events = append(out.Events, store.ScheduleEvent{At: e.At, Kind: e.Kind, Text: e.Text})
	}
	return out
}

// wireHostSchedule is a host's schedule on the admin API (nil when it never reported one).
func wireHostSchedule(s store.HostSchedule) *admin.HostSchedule {
	if s.ReportedAt.IsZero() {
		return nil
	}
	out := &admin.HostSchedule{ReportedAt: s.ReportedAt, NextWindowStart: s.NextWindowStart, NextWindowEnd: s.NextWindowEnd,
		NextDeadline: s.NextDeadline, PastDeadline: s.PastDeadline, Reboot: s.Reboot, RebootAt: s.RebootAt,
		RebootSince: s.RebootSince, Postponed: s.Postponed, PolicyError: s.PolicyError,
		Lines: append([]string{}, s.Lines...), Events: make([]admin.ScheduleEvent, 0, len(s.Events))}
	for _, e := range s.Events {
		out.Events = append(out.Events, admin.ScheduleEvent{At: e.At, Kind: e.Kind, Text: e.Text})
	}
	return out
}
