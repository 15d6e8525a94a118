package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{in: "True", want: true}, {in: "true", want: true}, {in: "TRUE", want: true},
		{in: "1", want: true}, {in: "yes", want: true}, {in: "Yes", want: true}, {in: "on", want: true}, {in: "ON", want: true},
		{in: " true ", want: true},
		{in: "False"}, {in: "false"}, {in: "FALSE"}, {in: "0"}, {in: "no"}, {in: "No"}, {in: "off"}, {in: "Off"},
		{in: "", wantErr: true}, {in: "y", wantErr: true}, {in: "t", wantErr: true}, {in: "2", wantErr: true},
		{in: "enabled", wantErr: true}, {in: "true;", wantErr: true}, {in: "None", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseBool(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseBool(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrNotBool) {
			t.Errorf("ParseBool(%q) error %v is not ErrNotBool", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseBool(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string // suffix of the error, "" for none
	}{
		{in: "", want: 0},
		{in: "   ", want: 0},
		{in: "30s", want: 30 * time.Second},
		{in: "10m", want: 10 * time.Minute},
		{in: "12h", want: 12 * time.Hour},
		{in: "7d", want: 7 * day},
		{in: "2w", want: 14 * day},
		{in: "3", want: 3 * day}, // no unit means days
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "0.5", want: 12 * time.Hour},
		{in: ".5h", want: 30 * time.Minute},
		{in: "1.h", want: time.Hour},
		{in: "1.1d", want: 95040 * time.Second}, // exact, no floating-point error
		{in: "0.000000001s", want: 1},
		{in: "0.0000000009s", want: 0}, // below a nanosecond: truncated
		{in: " 15d ", want: 15 * day},
		{in: "7 d", want: 7 * day},
		{in: "015d", want: 15 * day},
		{in: "15250w", want: 15250 * 7 * day},
		{in: "106751d", want: 106751 * day},
		{in: "3x", wantErr: `"3x": not a duration (use a number with s, m, h, d or w, e.g. 7d)`},
		{in: "d", wantErr: `"d": not a duration (use`},
		{in: ".", wantErr: `not a duration (use`},
		{in: "7D", wantErr: `not a duration (use`}, // units are lower case: M would be ambiguous
		{in: "1M", wantErr: `not a duration (use`},
		{in: "7dd", wantErr: `not a duration (use`},
		{in: "1h30m", wantErr: `not a duration (use`},
		{in: "1e3s", wantErr: `not a duration (use`},
		{in: "+3d", wantErr: `not a duration (use`},
		{in: "1/2d", wantErr: `not a duration (use`},
		{in: "1_000s", wantErr: `not a duration (use`},
		{in: "0x10s", wantErr: `not a duration (use`},
		{in: "NaN", wantErr: `not a duration (use`},
		{in: "nan", wantErr: `not a duration (use`},
		{in: "Inf", wantErr: `not a duration (use`},
		{in: "None", wantErr: `not a duration (use`},
		{in: "1.2.3d", wantErr: `not a duration (use`},
		{in: "٣d", wantErr: `not a duration (use`}, // Arabic-Indic digit
		{in: "-3d", wantErr: `"-3d": not a duration: negative (use a number with s, m, h, d or w, e.g. 7d)`},
		{in: "-0", wantErr: `not a duration: negative`},
		{in: "-x", wantErr: `"-x": not a duration (use`},
		{in: "106752d", wantErr: `"106752d": not a duration: too large (at most about 292 years) (use`},
		{in: "99999999999999999999999999w", wantErr: `not a duration: too large`},
		{in: strings.Repeat("1", 65), wantErr: `not a duration (use`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotDuration) {
				t.Errorf("ParseDuration(%q) error %v is not ErrNotDuration", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, ""}, {14 * 24 * time.Hour, "2w"}, {3 * 24 * time.Hour, "3d"}, {36 * time.Hour, "36h"},
		{90 * time.Minute, "90m"}, {90 * time.Second, "90s"}, {1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		got := FormatDuration(tt.in)
		if got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tt.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestWindow(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2024, 3, 1, h, m, 0, 0, time.UTC) }
	tests := []struct {
		window string
		at     time.Time
		want   bool
	}{
		{"02:30-03:30", at(2, 29), false},
		{"02:30-03:30", at(2, 30), true},
		{"02:30-03:30", at(3, 29), true},
		{"02:30-03:30", at(3, 30), false},
		{"23:00-01:00", at(23, 30), true},
		{"23:00-01:00", at(0, 59), true},
		{"23:00-01:00", at(1, 0), false},
		{"23:00-01:00", at(12, 0), false},
	}
	for _, tt := range tests {
		w, err := ParseWindow(tt.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Contains(tt.at); got != tt.want {
			t.Errorf("%s.Contains(%s) = %v, want %v", w, tt.at.Format("15:04"), got, tt.want)
		}
	}
	for _, bad := range []string{"", "02:30", "02:30-02:30", "2:3-4:00", "24:00-01:00", "02:60-03:00", "a-b", "02:30-03:30-04:00"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
	if got := (TimeOfDay{3, 5}).On(at(17, 0)); !got.Equal(at(3, 5)) {
		t.Errorf("On() = %v", got)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "4194304", want: 4 << 20}, {in: "4MiB", want: 4 << 20}, {in: "4 MB", want: 4 << 20}, {in: "4m", want: 4 << 20},
		{in: "512KiB", want: 512 << 10}, {in: "1G", want: 1 << 30}, {in: "10b", want: 10},
		{in: "", wantErr: true}, {in: "MiB", wantErr: true}, {in: "-1", wantErr: true}, {in: "1.5MiB", wantErr: true},
		{in: "4TB", wantErr: true}, {in: "99999999999999999999", wantErr: true}, {in: "9999999999999G", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
