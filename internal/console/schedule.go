package console

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/schedule"
)

// calendarDays is how far the maintenance calendar looks ahead.
const calendarDays = 30

// calDay is one day of a group's calendar: the windows that start that day.
type calDay struct {
	Date  time.Time
	Items []calItem
}

type calItem struct {
	Text   string // "22:00–04:00"
	Reboot bool
	Title  string // the window's rule
}

type groupCalendar struct {
	app.GroupSchedule
	Days  []calDay
	Count int
}

type scheduleData struct {
	Days        []time.Time // the calendar's columns
	Groups      []groupCalendar
	Unavailable string
	Zone        string
	// The policy preview (GET ?policy=...).
	PolicyJSON string
	Preview    *groupCalendar
}

// handleSchedule shows, per group, the maintenance policy its rules packages give and
// a calendar of its windows over the next 30 days; ?policy= checks a rules JSON as the
// package builder and the agents do and shows its calendar.
func (c *Console) handleSchedule(w http.ResponseWriter, r *http.Request) {
	now := c.now().In(c.loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, c.loc)
	d := scheduleData{Zone: from.Format("MST") + " (" + c.loc.String() + ")"}
	for i := range calendarDays {
		d.Days = append(d.Days, from.AddDate(0, 0, i))
	}
	groups, err := c.deps.App.GroupSchedules(r.Context(), from, calendarDays, c.loc)
	var ae *app.Error
	switch {
	case errors.As(err, &ae) && ae.Kind == app.Unavailable:
		d.Unavailable = ae.Msg
	case err != nil:
		c.fail(w, r, fmt.Errorf("group schedules: %w", err))
		return
	}
	for _, g := range groups {
		d.Groups = append(d.Groups, calendarOf(g, d.Days))
	}
	if js := r.URL.Query().Get("policy"); js != "" {
		if len(js) > maxRulesBytes {
			c.fail(w, r, &app.Error{Kind: app.Invalid, Msg: fmt.Sprintf("the policy is %d bytes, at most %d", len(js), maxRulesBytes)})
			return
		}
		gs, err := c.deps.App.PreviewPolicy(r.Context(), []byte(js), from, calendarDays, c.loc)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		gc := calendarOf(gs, d.Days)
		d.PolicyJSON, d.Preview = js, &gc
	}
	c.render(w, r, http.StatusOK, "schedule", c.newPage(w, r, "packages", "Maintenance calendar", d))
}

// calendarOf places a group's window occurrences on the calendar's days (by the day
// they start; one that started before the first day is on the first).
func calendarOf(g app.GroupSchedule, days []time.Time) groupCalendar {
	gc := groupCalendar{GroupSchedule: g, Days: make([]calDay, len(days))}
	for i, day := range days {
		gc.Days[i].Date = day
	}
	for _, o := range g.Windows {
		i := dayIndex(days, o.Start.Add(time.Nanosecond)) // a window starting at midnight is that day's
		if i >= len(days) {
			continue
		}
		gc.Days[i].Items = append(gc.Days[i].Items, calItem{Text: o.Start.Format("15:04") + "–" + o.End.Format("15:04"),
			Reboot: o.Window.Reboot, Title: occurrenceTitle(o)})
		gc.Count++
	}
	return gc
}

func occurrenceTitle(o schedule.Occurrence) string {
	return o.Start.Format("Mon 2006-01-02 15:04") + " to " + o.End.Format("Mon 2006-01-02 15:04 MST") + ": " + o.Window.String()
}
