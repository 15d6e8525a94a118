package sqlq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

func statusList(ss []wu.Status) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + string(s) + "'"
	}
	return strings.Join(q, ", ")
}

func TestStatusSQL(t *testing.T) {
	if got := statusList(store.NeededStatuses()); got != NeededStatusSQL {
		t.Errorf("NeededStatusSQL = %s, want %s", NeededStatusSQL, got)
	}
	if got := statusList(store.WantedStatuses()); got != WantedStatusSQL {
		t.Errorf("WantedStatusSQL = %s, want %s", WantedStatusSQL, got)
	}
}

func TestHelpers(t *testing.T) {
	if got := KBNumber([]string{"", "kb5034441", "12"}); got != 5034441 {
		t.Errorf("KBNumber = %d", got)
	}
	if got := SearchText("Cumulative Update", []string{"KB5", "6"}); got != "kb5 kb6 cumulative update" {
		t.Errorf("SearchText = %q", got)
	}
	if got := LikePattern(` 100%_a\ `); got != `%100\%\_a\\%` {
		t.Errorf("LikePattern = %q", got)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if !FromMicros(Micros(ts)).Equal(ts) || !FromMicros(Micros(time.Time{})).IsZero() {
		t.Errorf("Micros round trip")
	}
}

func TestCursor(t *testing.T) {
	name, id, err := DecodeHostCursor(HostCursor("host-1", 42))
	if err != nil || name != "host-1" || id != 42 {
		t.Fatalf("host cursor: %q %d %v", name, id, err)
	}
	for _, c := range []string{"", "!!", encodeCursor(cursor{Sort: "title"})} {
		if _, _, err := DecodeHostCursor(c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DecodeHostCursor(%q) error %v", c, err)
		}
	}
}

func TestPlanReport(t *testing.T) {
	k := func(n int) wu.UpdateKey {
		return wu.UpdateKey{UpdateID: "0000000" + string(rune('0'+n)) + "-0000-0000-0000-000000000000", RevisionNumber: 1}
	}
	existing := []HostRow{
		{UpdatePK: 1, Key: k(1), Status: wu.StatusOK},
		{UpdatePK: 2, Key: k(2), Status: wu.StatusMissing},
		{UpdatePK: 3, Key: k(3), Status: wu.StatusPending},
	}
	r := store.Report{Updates: []store.ReportedUpdate{
		{Key: k(1), Status: wu.StatusOK},      // unchanged
		{Key: k(2), Status: wu.StatusPending}, // changed
		{Key: k(4), Status: wu.StatusMissing}, // new
	}}
	p, err := PlanReport(existing, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Writes) != 2 || p.Writes[0].UpdatePK != 2 || p.Writes[1].UpdatePK != 0 || len(p.Deletes) != 0 {
		t.Errorf("partial plan = %+v", p)
	}
	if p.Counts != (store.StatusCounts{OK: 1, Pending: 2, Missing: 1}) {
		t.Errorf("partial counts = %+v", p.Counts)
	}
	r.Full = true
	p, _ = PlanReport(existing, r)
	if len(p.Deletes) != 1 || p.Deletes[0] != 3 || p.Counts != (store.StatusCounts{OK: 1, Pending: 1, Missing: 1}) {
		t.Errorf("full plan = %+v", p)
	}
}

func TestKBRange(t *testing.T) {
	for _, tt := range []struct {
		in, lo, hi string
		ok         bool
	}{
		{"KB5034441", "5034441", "5034442", true},
		{" kb 5034 ", "5034", "5035", true},
		{"kb5039", "5039", "503:", true},
		{"5034441", "5034441", "5034442", true},
		{"890830", "890830", "890831", true},
		{"2024", "", "", false},  // a year in titles
		{"07", "", "", false},    // "Update 07"
		{"KB", "", "", false},    // no digits
		{"kb12a", "", "", false}, // not a number
		{"cumulative", "", "", false},
	} {
		lo, hi, ok := KBRange(tt.in)
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("KBRange(%q) = %q, %q, %v; want %q, %q, %v", tt.in, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
}
