package app

import (
	"context"

	"github.com/openwua/waptwua/internal/store"
)

// ScheduleReader is what the schedule views need of the store (issue 16).
type ScheduleReader interface {
	HostSchedule(ctx context.Context, hostUUID string, events int) (store.HostSchedule, error)
	CountPastDeadline(ctx context.Context) (int, error)
}

// HostScheduleEvents is how many of a host's last decisions the host views show.
const HostScheduleEvents = 20

// HostSchedule is the maintenance schedule of a host's last report with its last
// HostScheduleEvents decisions, newest first (the zero value when it never reported
// one). NotFound for an unknown host.
func (a *App) HostSchedule(ctx context.Context, uuid string) (store.HostSchedule, error) {
	if _, err := reader(ctx); err != nil {
		return store.HostSchedule{}, err
	}
	if a.d.Schedules == nil {
		return store.HostSchedule{}, nil
	}
	s, err := a.d.Schedules.HostSchedule(ctx, uuid, HostScheduleEvents)
	if err != nil {
		return s, notFound(err, "no host %q", Truncate(uuid, 100))
	}
	return s, nil
}

// HostsPastDeadline counts the hosts whose last report has updates past their
// deadline (0 without a schedule store).
func (a *App) HostsPastDeadline(ctx context.Context) (int, error) {
	if _, err := reader(ctx); err != nil {
		return 0, err
	}
	if a.d.Schedules == nil {
		return 0, nil
	}
	return a.d.Schedules.CountPastDeadline(ctx)
}
