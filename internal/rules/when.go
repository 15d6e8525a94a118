package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RecurrenceKind says how a maintenance window repeats.
type RecurrenceKind int

const (
	// Weekly: on the days of Recurrence.Days ("daily" is every day).
	Weekly RecurrenceKind = iota + 1
	// Monthly: the Nth weekday of the month (or the last), plus OffsetDays.
	Monthly
	// Once: on one date.
	Once
)

// Recurrence is the day part of a window: "Tue,Thu", "Mon-Fri", "daily", "2nd Sat",
// "last Fri", "patch_tuesday+3d", "2nd Tue-1d", "2026-12-24".
type Recurrence struct {
	Kind RecurrenceKind
	// Weekly.
	Days [7]bool // indexed by time.Weekday
	// Monthly: Nth 1 to 4, or -1 for the last; PatchTuesday spells Nth 2, Tuesday.
	Nth          int
	Weekday      time.Weekday
	PatchTuesday bool
	OffsetDays   int // -27 to 27
	// Once.
	Year  int
	Month time.Month
	Day   int
}

// When is a window in the host's local time: a recurrence and a time range. Start and
// End are minutes after midnight (End 1440 is "24:00"); End <= Start crosses midnight
// (the window ends the next day).
type When struct {
	Recurrence
	Start, End int
}

// Length is the window's nominal length (wall clock; a DST change shortens or lengthens
// the real one).
func (w When) Length() time.Duration {
	m := w.End - w.Start
	if m <= 0 {
		m += 24 * 60
	}
	return time.Duration(m) * time.Minute
}

// ErrZeroLength is a window whose end is its start.
var ErrZeroLength = errors.New("window of zero length (for 24 hours write 00:00-24:00)")

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday, "mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday, "wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday, "sat": time.Saturday, "saturday": time.Saturday,
}

var dayAbbrev = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

var nthNames = map[string]int{"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4, "last": -1}

// ParseWhen reads a window: "<days> HH:MM-HH:MM". The days are a weekly list
// ("Tue,Thu", "Mon-Fri", "daily"), a monthly weekday ("2nd Sat", "last Fri",
// "patch_tuesday", each optionally "+Nd" or "-Nd"), or a date ("2026-12-24"). Without
// days the window is daily. Day names are English, any letter case, 3 letters or whole.
func ParseWhen(s string) (When, error) {
	t := strings.Join(strings.Fields(s), " ")
	if t == "" {
		return When{}, errors.New(`empty (want e.g. "Tue,Thu 22:00-04:00", "patch_tuesday+3d 20:00-23:59", "2nd Sat 09:00-12:00" or "2026-12-24 08:00-12:00")`)
	}
	i := strings.LastIndexByte(t, ' ')
	days, hours := "", t
	if i >= 0 {
		days, hours = t[:i], t[i+1:]
	}
	var w When
	var err error
	if w.Start, w.End, err = parseRange(hours); err != nil {
		return When{}, err
	}
	if w.Recurrence, err = parseRecurrence(days); err != nil {
		return When{}, err
	}
	return w, nil
}

func parseRange(s string) (start, end int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("time range %q: want HH:MM-HH:MM, e.g. 22:00-04:00", s)
	}
	if start, err = parseClock(a, false); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(b, true); err != nil {
		return 0, 0, err
	}
	if start == end || start == 24*60 {
		return 0, 0, ErrZeroLength
	}
	return start, end, nil
}

func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || len(h) < 1 || len(h) > 2 || hh < 0 || mm < 0 || mm > 59 ||
		hh > 24 || hh == 24 && (mm != 0 || !end) {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 23:59 (24:00 as an end)", s)
	}
	return hh*60 + mm, nil
}

func parseRecurrence(s string) (Recurrence, error) {
	l := strings.ToLower(s)
	switch l {
	case "", "daily", "every day", "*":
		r := Recurrence{Kind: Weekly}
		for d := range r.Days {
			r.Days[d] = true
		}
		return r, nil
	}
	if len(l) == 10 && l[4] == '-' && l[7] == '-' {
		d, err := time.Parse("2006-01-02", l)
		if err != nil {
			return Recurrence{}, fmt.Errorf("date %q: want YYYY-MM-DD, e.g. 2026-12-24", s)
		}
		return Recurrence{Kind: Once, Year: d.Year(), Month: d.Month(), Day: d.Day()}, nil
	}
	// Monthly: base [+-Nd].
	base, off := l, 0
	if i := strings.LastIndexAny(l, "+-"); i > 0 && strings.HasSuffix(l, "d") && isDigits(l[i+1:len(l)-1]) {
		n, err := strconv.Atoi(l[i+1 : len(l)-1])
		if err != nil || n > 27 {
			return Recurrence{}, fmt.Errorf("offset %q: want +Nd or -Nd with N from 0 to 27", l[i:])
		}
		if l[i] == '-' {
			n = -n
		}
		base, off = strings.TrimSpace(l[:i]), n
	}
	if base == "patch_tuesday" {
		return Recurrence{Kind: Monthly, Nth: 2, Weekday: time.Tuesday, PatchTuesday: true, OffsetDays: off}, nil
	}
	if nth, day, ok := strings.Cut(base, " "); ok {
		if n, isNth := nthNames[nth]; isNth {
			wd, ok := dayNames[day]
			if !ok {
				return Recurrence{}, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat or Sun)", day)
			}
			return Recurrence{Kind: Monthly, Nth: n, Weekday: wd, OffsetDays: off}, nil
		}
		return Recurrence{}, errors.New("want 1st, 2nd, 3rd, 4th or last before the day")
	}
	if off != 0 || base != l {
		return Recurrence{}, errors.New("an offset in days applies to a monthly day (patch_tuesday+3d, 2nd Sat-1d)")
	}
	// Weekly list of days and ranges.
	r := Recurrence{Kind: Weekly}
	for _, part := range strings.Split(l, ",") {
		part = strings.TrimSpace(part)
		a, b, isRange := strings.Cut(part, "-")
		da, ok := dayNames[strings.TrimSpace(a)]
		if !ok {
			return Recurrence{}, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat or Sun, a range Mon-Fri, daily, 2nd Sat, patch_tuesday+3d or a date)", a)
		}
		if !isRange {
			r.Days[da] = true
			continue
		}
		db, ok := dayNames[strings.TrimSpace(b)]
		if !ok {
			return Recurrence{}, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat or Sun)", b)
		}
		for d := da; ; d = (d + 1) % 7 {
			r.Days[d] = true
			if d == db {
				break
			}
		}
	}
	return r, nil
}

// String writes w canonically; ParseWhen reads it back.
func (w When) String() string {
	return w.Recurrence.String() + " " + clock(w.Start) + "-" + clock(w.End)
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// String writes the recurrence canonically.
func (r Recurrence) String() string {
	switch r.Kind {
	case Once:
		return fmt.Sprintf("%04d-%02d-%02d", r.Year, int(r.Month), r.Day)
	case Monthly:
		var s string
		if r.PatchTuesday {
			s = "patch_tuesday"
		} else {
			nth := map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"}[r.Nth]
			s = nth + " " + dayAbbrev[r.Weekday]
		}
		switch {
		case r.OffsetDays > 0:
			s += fmt.Sprintf("+%dd", r.OffsetDays)
		case r.OffsetDays < 0:
			s += fmt.Sprintf("%dd", r.OffsetDays)
		}
		return s
	}
	all := true
	for _, on := range r.Days {
		all = all && on
	}
	if all {
		return "daily"
	}
	var days []string
	for d := time.Monday; ; d = (d + 1) % 7 { // Monday first, as administrators write weeks
		if r.Days[d] {
			days = append(days, dayAbbrev[d])
		}
		if d == time.Sunday {
			break
		}
	}
	return strings.Join(days, ",")
}

// OnDate reports whether a window of r starts on the given date.
func (r Recurrence) OnDate(y int, m time.Month, d int) bool {
	date := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	switch r.Kind {
	case Weekly:
		return r.Days[date.Weekday()]
	case Once:
		return r.Year == y && r.Month == m && r.Day == d
	case Monthly:
		base := date.AddDate(0, 0, -r.OffsetDays)
		by, bm, bd := NthWeekday(base.Year(), base.Month(), r.Nth, r.Weekday)
		return by == base.Year() && bm == base.Month() && bd == base.Day()
	}
	return false
}

// NthWeekday returns the date of the nth (1 to 5; -1 the last) weekday wd of a month;
// NthWeekday(y, m, 2, time.Tuesday) is Patch Tuesday.
func NthWeekday(y int, m time.Month, nth int, wd time.Weekday) (int, time.Month, int) {
	if nth < 0 {
		last := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC)
		back := (int(last.Weekday()) - int(wd) + 7) % 7
		d := last.AddDate(0, 0, -back)
		return d.Year(), d.Month(), d.Day()
	}
	first := time.Date(y, m, 1, 12, 0, 0, 0, time.UTC)
	fwd := (int(wd) - int(first.Weekday()) + 7) % 7
	d := first.AddDate(0, 0, fwd+7*(nth-1))
	return d.Year(), d.Month(), d.Day()
}

func isDigits(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
