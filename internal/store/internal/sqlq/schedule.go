package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openwua/waptwua/internal/store"
)

// SetHostSchedule replaces the host's schedule state and adds its new events.
func (c *Common) SetHostSchedule(ctx context.Context, hostUUID string, s store.HostSchedule) error {
	lines, err := json.Marshal(nonNil(s.Lines))
	if err != nil {
		return c.errf(err, "set host schedule")
	}
	err = c.DB.Write(ctx, func(tx Conn) error {
		pk, err := c.lockHost(ctx, tx, hostUUID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO host_schedule (host_pk, reported_at, next_window_start, next_window_end,
			next_deadline, past_deadline, reboot, reboot_at, reboot_since, postponed, policy_error, lines)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (host_pk) DO UPDATE SET reported_at = excluded.reported_at,
			next_window_start = excluded.next_window_start, next_window_end = excluded.next_window_end,
			next_deadline = excluded.next_deadline, past_deadline = excluded.past_deadline, reboot = excluded.reboot,
			reboot_at = excluded.reboot_at, reboot_since = excluded.reboot_since, postponed = excluded.postponed,
			policy_error = excluded.policy_error, lines = excluded.lines`,
			pk, c.TimeZArg(s.ReportedAt), c.TimeArg(s.NextWindowStart), c.TimeArg(s.NextWindowEnd),
			c.TimeArg(s.NextDeadline), s.PastDeadline, s.Reboot, c.TimeArg(s.RebootAt), c.TimeArg(s.RebootSince),
			s.Postponed, s.PolicyError, string(lines)); err != nil {
			return err
		}
		if len(s.Events) == 0 {
			return nil
		}
		for _, e := range s.Events {
			if _, err := tx.Exec(ctx, `INSERT INTO host_schedule_events (host_pk, at, kind, text) VALUES (?, ?, ?, ?)
				ON CONFLICT (host_pk, at, kind, text) DO NOTHING`, pk, c.TimeZArg(e.At), e.Kind, e.Text); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM host_schedule_events WHERE host_pk = ? AND id NOT IN
			(SELECT id FROM host_schedule_events WHERE host_pk = ? ORDER BY at DESC, id DESC LIMIT ?)`,
			pk, pk, store.MaxHostScheduleEvents)
		return err
	})
	return c.errf(err, "set host schedule %s", hostUUID)
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// HostSchedule returns the host's schedule state and its newest events.
func (c *Common) HostSchedule(ctx context.Context, hostUUID string, events int) (store.HostSchedule, error) {
	var s store.HostSchedule
	err := c.DB.Read(ctx, func(tx Conn) error {
		pk, err := HostPK(ctx, tx, hostUUID)
		if err != nil {
			return err
		}
		sc := c.D.ScanTime
		var lines string
		err = tx.QueryRow(ctx, `SELECT reported_at, next_window_start, next_window_end, next_deadline, past_deadline,
			reboot, reboot_at, reboot_since, postponed, policy_error, lines FROM host_schedule WHERE host_pk = ?`, pk).Scan(
			sc(&s.ReportedAt), sc(&s.NextWindowStart), sc(&s.NextWindowEnd), sc(&s.NextDeadline), &s.PastDeadline,
			&s.Reboot, sc(&s.RebootAt), sc(&s.RebootSince), &s.Postponed, &s.PolicyError, &lines)
		switch {
		case errors.Is(err, ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		if err := json.Unmarshal([]byte(lines), &s.Lines); err != nil {
			return fmt.Errorf("lines of host %s: %w", hostUUID, err)
		}
		if len(s.Lines) == 0 {
			s.Lines = nil
		}
		if events <= 0 {
			return nil
		}
		s.Events, err = QueryAll(ctx, tx, func(r Row) (store.ScheduleEvent, error) {
			var e store.ScheduleEvent
			err := r.Scan(sc(&e.At), &e.Kind, &e.Text)
			return e, err
		}, `SELECT at, kind, text FROM host_schedule_events WHERE host_pk = ? ORDER BY at DESC, id DESC LIMIT ?`,
			pk, min(events, store.MaxHostScheduleEvents))
		return err
	})
	return s, c.errf(err, "host schedule %s", hostUUID)
}

// CountPastDeadline counts the accepted hosts with updates past their deadline.
func (c *Common) CountPastDeadline(ctx context.Context) (int, error) {
	var n int
	err := c.DB.Reader().QueryRow(ctx, `SELECT count(*) FROM host_schedule s JOIN hosts h ON h.id = s.host_pk
		WHERE s.past_deadline > 0 AND h.approval = 'accepted'`).Scan(&n)
	return n, c.errf(err, "count hosts past their deadline")
}
