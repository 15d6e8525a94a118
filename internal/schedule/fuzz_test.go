package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// FuzzPlan: for any window text and times, Plan does not panic, installs only pending
// updates that are not held, looks again after now, and always explains itself.
func FuzzPlan(f *testing.F) {
	f.Add("Tue,Thu 22:00-04:00", "Sun 01:00-04:00", int64(0), int64(-3*24*3600), uint8(7), uint8(2), "Europe/Paris", true)
	f.Add("patch_tuesday+3d 20:00-23:59", "2nd Sat 09:00-12:00", int64(86400*200), int64(-86400), uint8(0), uint8(0), "America/New_York", false)
	f.Add("daily 00:00-24:00", "2026-12-24 08:00-12:00", int64(-86400*30), int64(0), uint8(3), uint8(1), "UTC", true)
	paris, _ := time.LoadLocation("Europe/Paris")
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, paris)
	f.Fuzz(func(t *testing.T, w1, w2 string, nowOff, approvedOff int64, deadline, grace uint8, zone string, reboot bool) {
		loc, err := time.LoadLocation(zone)
		if err != nil || len(zone) > 40 {
			return
		}
		dl, gr := int(deadline%30), int(grace%10)
		r := rules.Rules{MaintenanceWindows: []rules.Window{{When: w1, Reboot: reboot}, {When: w2}}, DeadlineDays: &dl, GraceDays: &gr,
			PauseDays: map[string]int{"Drivers": int(grace)}}
		p, err := Compile(r, 0)
		if err != nil {
			if !strings.Contains(err.Error(), "maintenance_windows[") {
				t.Fatalf("error without the key: %v", err)
			}
			return
		}
		now := base.Add(time.Duration(nowOff%(400*86400)) * time.Second)
		u := Update{ID: "KB1", Approved: now.Add(time.Duration(approvedOff%(90*86400)) * time.Second), Classifications: []string{"Drivers"}}
		s := State{Now: now, Location: loc, Pending: []Update{u}, RebootRequired: reboot, RebootSince: now.Add(-time.Hour),
			AwaitingReboot: []Update{u}, Off: []Interval{{Start: now.Add(-72 * time.Hour), End: now.Add(-time.Hour)}}}
		for _, pol := range []string{rules.RebootNever, rules.RebootInWindow, rules.RebootAsk, rules.RebootDeadline} {
			p.Reboot = pol
			d := Plan(p, s)
			if len(d.Lines) == 0 {
				t.Fatal("no explanation")
			}
			if !d.Next.IsZero() && !d.Next.After(now) {
				t.Fatalf("next %v not after now %v", d.Next, now)
			}
			for _, i := range d.Install {
				if i.ID != "KB1" {
					t.Fatalf("installs %v", i)
				}
				if until, _ := heldUntil(p, u, loc); until.After(now) {
					t.Fatalf("installs a held update (until %v)\n%s", until, d)
				}
			}
			if d.Window != nil && (d.Window.Start.After(now) || !d.Window.End.After(now)) {
				t.Fatalf("window %v does not contain now %v", d.Window, now)
			}
			if d.NextWindow != nil && !d.NextWindow.Start.After(now) {
				t.Fatalf("next window %v not after now", d.NextWindow)
			}
		}
	})
}
