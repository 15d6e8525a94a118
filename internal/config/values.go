package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Causes carried by ValueError, for errors.Is.
var (
	ErrNotBool     = errors.New("not a boolean (use True or False)")
	ErrNotDuration = errors.New("not a duration (use a number with s, m, h, d or w, e.g. 7d)")
)

// ValueError reports an invalid value: "wapt-get.ini [waptwua] install_delay = "3x": not a
// duration (use a number with s, m, h, d or w, e.g. 7d)". Err says the cause and the fix.
type ValueError struct {
	File    string
	Section string
	Key     string
	Value   string
	// Secret hides Value in the message (passwords, enrollment secrets).
	Secret bool
	Err    error
}

func (e *ValueError) Error() string {
	v := strconv.Quote(e.Value)
	if e.Secret {
		v = "(hidden)"
	}
	return fmt.Sprintf("%s [%s] %s = %s: %v", e.File, e.Section, e.Key, v, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// ParseBool reads a boolean as Python's configparser does: True/False, yes/no, on/off,
// 1/0, in any letter case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: %w", s, ErrNotBool)
}

// maxDurationText bounds the text ParseDuration looks at (longer is garbage anyway).
const maxDurationText = 64

// durationUnit maps a unit letter to its length; 0 when c is not a unit.
func durationUnit(c byte) time.Duration {
	switch c {
	case 's':
		return time.Second
	case 'm':
		return time.Minute
	case 'h':
		return time.Hour
	case 'd':
		return 24 * time.Hour
	case 'w':
		return 7 * 24 * time.Hour
	}
	return 0
}

// notDuration is ErrNotDuration with a more precise reason ("negative").
type notDuration string

func (e notDuration) Error() string {
	return "not a duration: " + string(e) + " (use a number with s, m, h, d or w, e.g. 7d)"
}

func (e notDuration) Is(target error) bool { return target == ErrNotDuration }

// ParseDuration reads the durations of wapt-get.ini: a number, possibly fractional
// ("1.5"), then an optional unit s, m, h, d or w (lower case; spaces allowed between);
// no unit means days, as in the original. Empty (or only spaces) means none and gives 0.
// The result is exact to the nanosecond, truncated. Negative numbers, NaN, values past
// about 292 years and anything else are errors wrapping ErrNotDuration.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	if len(t) > maxDurationText {
		return 0, ErrNotDuration
	}
	unit := 24 * time.Hour
	if u := durationUnit(t[len(t)-1]); u != 0 {
		unit = u
		t = strings.TrimSpace(t[:len(t)-1])
	}
	if strings.HasPrefix(t, "-") {
		if isDecimal(t[1:]) {
			return 0, notDuration("negative")
		}
		return 0, ErrNotDuration
	}
	if !isDecimal(t) {
		return 0, ErrNotDuration
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return 0, ErrNotDuration
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates; both positive
	if !n.IsInt64() {
		return 0, notDuration("too large (at most about 292 years)")
	}
	return time.Duration(n.Int64()), nil
}

// isDecimal accepts "7", "1.5", "1.", ".5" and nothing else (no sign, exponent or
// underscore, which big.Rat would take).
func isDecimal(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// FormatDuration writes d (not negative) the way ParseDuration reads it back exactly, in
// the largest unit that divides it ("7d", "12h", "90s", "1.5s"); 0 gives "".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	sec, frac := d/time.Second, d%time.Second
	return strconv.FormatInt(int64(sec), 10) + "." + strings.TrimRight(fmt.Sprintf("%09d", int64(frac)), "0") + "s"
}

// splitList splits a comma-separated list (continuation lines count as commas), trimming
// items and dropping empty ones.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if t := strings.TrimSpace(f); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// TimeOfDay is a wall-clock time "HH:MM" in the server's local time zone.
type TimeOfDay struct {
	Hour, Minute int
}

// ParseTimeOfDay reads "HH:MM" (24-hour clock; "3:00" is accepted).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || !isDigits(h) || !isDigits(m) {
		return TimeOfDay{}, fmt.Errorf("not a time of day (use HH:MM on a 24-hour clock, e.g. 03:00)")
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if hh > 23 || mm > 59 {
		return TimeOfDay{}, fmt.Errorf("not a time of day (use HH:MM on a 24-hour clock, e.g. 03:00)")
	}
	return TimeOfDay{Hour: hh, Minute: mm}, nil
}

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// minutes is the number of minutes since midnight.
func (t TimeOfDay) minutes() int { return t.Hour*60 + t.Minute }

// On returns this time of day on the date of day, in day's location.
func (t TimeOfDay) On(day time.Time) time.Time {
	y, mo, d := day.Date()
	return time.Date(y, mo, d, t.Hour, t.Minute, 0, 0, day.Location())
}

// Window is a daily time range "HH:MM-HH:MM"; End before Start wraps past midnight.
type Window struct {
	Start, End TimeOfDay
}

// ParseWindow reads "02:30-03:30".
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Window{}, fmt.Errorf("not a time window (use HH:MM-HH:MM, e.g. 02:30-03:30)")
	}
	start, err1 := ParseTimeOfDay(a)
	end, err2 := ParseTimeOfDay(b)
	if err1 != nil || err2 != nil {
		return Window{}, fmt.Errorf("not a time window (use HH:MM-HH:MM, e.g. 02:30-03:30)")
	}
	if start == end {
		return Window{}, fmt.Errorf("empty time window (start and end are equal; use HH:MM-HH:MM, e.g. 02:30-03:30)")
	}
	return Window{Start: start, End: end}, nil
}

func (w Window) String() string { return w.Start.String() + "-" + w.End.String() }

// Contains reports whether the wall-clock time of t (in t's location) is inside the
// window: Start included, End excluded.
func (w Window) Contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	s, e := w.Start.minutes(), w.End.minutes()
	if s < e {
		return s <= m && m < e
	}
	return m >= s || m < e
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseSize reads a byte count: digits with an optional unit B, K/KB/KiB, M/MB/MiB or
// G/GB/GiB (all binary: 1K = 1024 bytes).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	var mult int64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	}
	if num == "" || mult == 0 {
		return 0, fmt.Errorf("not a size (use a number of bytes, or with KiB, MiB or GiB, e.g. 4MiB)")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large (at most 8 EiB)")
	}
	return n * mult, nil
}
