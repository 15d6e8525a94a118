package store

import (
	"context"
	"time"
)

// ScheduleStore keeps what each host's maintenance schedule does (issue 16): the state
// of its last report and its decisions.
type ScheduleStore interface {
	// SetHostSchedule replaces the host's schedule state with s and adds s.Events (an
	// event already stored, same time, kind and text, is not added again, so reports
	// sent twice change nothing); the newest MaxHostScheduleEvents are kept.
	// ErrNotFound when the host is not registered.
	SetHostSchedule(ctx context.Context, hostUUID string, s HostSchedule) error
	// HostSchedule returns the host's schedule state with its newest events (at most
	// events, newest first). A host that never reported one gives the zero value
	// (ReportedAt zero). ErrNotFound when the host is not registered.
	HostSchedule(ctx context.Context, hostUUID string, events int) (HostSchedule, error)
	// CountPastDeadline counts the accepted hosts whose last report has updates past
	// their deadline.
	CountPastDeadline(ctx context.Context) (int, error)
}

// MaxHostScheduleEvents bounds the decisions kept per host.
const MaxHostScheduleEvents = 200

// HostSchedule is the schedule state a host reported (api.ScheduleReport) and when.
type HostSchedule struct {
	ReportedAt      time.Time       `json:"reported_at,omitzero"`
	NextWindowStart time.Time       `json:"next_window_start,omitzero"`
	NextWindowEnd   time.Time       `json:"next_window_end,omitzero"`
	NextDeadline    time.Time       `json:"next_deadline,omitzero"`
	PastDeadline    int             `json:"past_deadline"`
	Reboot          string          `json:"reboot,omitempty"` // "", needed, wait, ask, countdown
	RebootAt        time.Time       `json:"reboot_at,omitzero"`
	RebootSince     time.Time       `json:"reboot_since,omitzero"`
	Postponed       int             `json:"postponed"`
	PolicyError     string          `json:"policy_error,omitempty"`
	Lines           []string        `json:"lines,omitempty"`
	Events          []ScheduleEvent `json:"events,omitempty"`
}

// ScheduleEvent is one decision of a host's schedule.
type ScheduleEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text,omitempty"`
}
