package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

func TestReportValidate(t *testing.T) {
	good := UpdateStatus{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 1, Status: wu.StatusPending}
	tests := []struct {
		desc  string
		mod   func(u *UpdateStatus)
		field string
	}{
		{"valid", func(*UpdateStatus) {}, ""},
		{"bad guid", func(u *UpdateStatus) { u.UpdateID = "x" }, "updates[0].update_id"},
		{"bad status", func(u *UpdateStatus) { u.Status = "INSTALLED" }, "updates[0].status"},
		{"bad reason", func(u *UpdateStatus) { u.Reason = "because" }, "updates[0].reason"},
		{"negative revision", func(u *UpdateStatus) { u.RevisionNumber = -1 }, "updates[0].revision_number"},
		{"long title", func(u *UpdateStatus) { u.Title = strings.Repeat("x", MaxTitleLen+1) }, "updates[0].title"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u := good
			tt.mod(&u)
			r := Report{Updates: []UpdateStatus{u}}
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want field %s", err, tt.field)
			}
		})
	}
}

func TestScheduleReportValidate(t *testing.T) {
	at := time.Date(2026, 12, 8, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		desc  string
		mod   func(s *ScheduleReport)
		field string
	}{
		{"valid", func(*ScheduleReport) {}, ""},
		{"unknown reboot state", func(s *ScheduleReport) { s.Reboot = "later" }, "schedule.reboot"},
		{"negative past deadline", func(s *ScheduleReport) { s.PastDeadline = -1 }, "schedule.past_deadline"},
		{"negative postponed", func(s *ScheduleReport) { s.Postponed = -2 }, "schedule.postponed"},
		{"window ends before it starts", func(s *ScheduleReport) { s.NextWindowEnd = at.Add(-time.Hour) }, "schedule.next_window_end"},
		{"too many lines", func(s *ScheduleReport) { s.Lines = make([]string, MaxScheduleLines+1) }, "schedule.lines"},
		{"long line", func(s *ScheduleReport) { s.Lines = []string{"a", strings.Repeat("x", MaxScheduleText+1)} }, "schedule.lines[1]"},
		{"too many events", func(s *ScheduleReport) { s.Events = make([]ScheduleEventReport, MaxScheduleEvents+1) }, "schedule.events"},
		{"event without time", func(s *ScheduleReport) { s.Events[0].At = time.Time{} }, "schedule.events[0].at"},
		{"event kind with markup", func(s *ScheduleReport) { s.Events[0].Kind = "<b>" }, "schedule.events[0].kind"},
		{"event kind too long", func(s *ScheduleReport) { s.Events[0].Kind = strings.Repeat("a", MaxEventKindLen+1) }, "schedule.events[0].kind"},
		{"long event text", func(s *ScheduleReport) { s.Events[0].Text = strings.Repeat("x", MaxScheduleText+1) }, "schedule.events[0].text"},
		{"long policy error", func(s *ScheduleReport) { s.PolicyError = strings.Repeat("x", MaxErrorLen+1) }, "schedule.policy_error"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := ScheduleReport{NextWindowStart: at, NextWindowEnd: at.Add(2 * time.Hour), Reboot: RebootStateAsk,
				Lines:  []string{"now: outside the maintenance windows"},
				Events: []ScheduleEventReport{{At: at, Kind: "reboot-postponed", Text: "the user postponed"}}}
			tt.mod(&s)
			r := Report{Schedule: &s}
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want field %s", err, tt.field)
			}
		})
	}
}
