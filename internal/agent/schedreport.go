package agent

import (
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/schedule"
)

// scheduleInfo is the report's view of a decision (d nil: no valid policy): the
// schedule part of the report without lines, postponements and events.
func scheduleInfo(st *State, d *schedule.Decision, polErr error) api.ScheduleReport {
	var s api.ScheduleReport
	if polErr != nil {
		s.PolicyError = truncate(polErr.Error(), api.MaxErrorLen-3)
	}
	if d != nil {
		if d.NextWindow != nil {
			s.NextWindowStart, s.NextWindowEnd = d.NextWindow.Start, d.NextWindow.End
		}
		if d.NextDeadline != nil {
			s.NextDeadline = d.NextDeadline.At
		}
		s.PastDeadline = d.PastDeadline
	}
	switch {
	case !st.RebootRequired:
	case !st.Reboot.At.IsZero():
		s.Reboot, s.RebootAt = api.RebootStateCountdown, st.Reboot.At
	case d == nil:
		s.Reboot = api.RebootStateNeeded
	default:
		switch d.Reboot.Kind {
		case schedule.RebootWait:
			s.Reboot, s.RebootAt = api.RebootStateWait, d.Reboot.At
		case schedule.RebootAsk:
			s.Reboot = api.RebootStateAsk
		case schedule.RebootForced:
			s.Reboot, s.RebootAt = api.RebootStateCountdown, d.Reboot.At
		default:
			s.Reboot = api.RebootStateNeeded
		}
	}
	return s
}

// scheduleReport is the schedule part of the report, without events (nil when the
// host has no schedule to tell).
func scheduleReport(st *State) *api.ScheduleReport {
	r := st.Sched
	if r.NextWindowStart.IsZero() && r.NextDeadline.IsZero() && r.Reboot == "" && r.PolicyError == "" &&
		len(st.Schedule) == 0 && st.Reboot.Postponed == 0 {
		return nil
	}
	r.Lines, r.Events, r.Postponed = nil, nil, st.Reboot.Postponed
	if st.RebootRequired {
		r.RebootSince = st.Reboot.Since
	}
	for i, l := range st.Schedule {
		if i == api.MaxScheduleLines {
			break
		}
		r.Lines = append(r.Lines, truncate(l, api.MaxScheduleText-3))
	}
	return &r
}

// unreportedEvents are the schedule events the server has not acknowledged, the
// newest api.MaxScheduleEvents.
func unreportedEvents(st *State, acked int64) []api.ScheduleEventReport {
	n := min(int64(len(st.Events)), max(st.EventSeq-acked, 0), api.MaxScheduleEvents)
	out := make([]api.ScheduleEventReport, 0, n)
	for _, e := range st.Events[int64(len(st.Events))-n:] {
		out = append(out, api.ScheduleEventReport{At: e.At, Kind: e.Kind, Text: truncate(e.Text, api.MaxScheduleText-3)})
	}
	return out
}
