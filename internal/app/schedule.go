package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/schedule"
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

// GroupSchedule is the maintenance policy the hosts of a group get from the rules
// packages assigned to it (PROD hosts; the ini of each host may add to it), and the
// occurrences of its windows over the days asked.
type GroupSchedule struct {
	Group string
	// Packages are the packages merged, "name version", in install order.
	Packages []string
	// Policy describes the merged schedule keys, one a line.
	Policy []string
	// Error is the refusal of the merged policy, naming the key: the hosts keep their
	// previous valid policy.
	Error   string
	Windows []schedule.Occurrence
}

// GroupSchedules computes, for every group a rules package is assigned to (or
// targets), its merged maintenance policy and its windows over days days from from,
// in loc (the hosts' local time as the console shows it).
func (a *App) GroupSchedules(ctx context.Context, from time.Time, days int, loc *time.Location) ([]GroupSchedule, error) {
	pkgs, as, err := a.Packages(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var groups []string
	add := func(g string) {
		if k := strings.ToLower(g); g != "" && !seen[k] {
			seen[k] = true
			groups = append(groups, g)
		}
	}
	for _, x := range as {
		if x.Kind == store.AssignGroup {
			add(x.Target)
		}
	}
	for _, p := range pkgs {
		for _, g := range p.TargetGroups {
			add(g)
		}
	}
	slices.SortFunc(groups, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	out := make([]GroupSchedule, 0, len(groups))
	for _, g := range groups {
		gs := GroupSchedule{Group: g}
		var layers []rules.Rules
		for _, p := range store.PackagesFor(store.Host{Groups: []string{g}, Maturity: store.MaturityProd}, pkgs, as) {
			gs.Packages = append(gs.Packages, p.Name+" "+p.Version)
			r, err := rules.Parse(p.Rules)
			if err != nil {
				gs.Error = fmt.Sprintf("package %s %s: %v", p.Name, p.Version, err)
				break
			}
			layers = append(layers, r)
		}
		if gs.Error == "" {
			gs.fill(rules.Merge(rules.Rules{}, layers...), from, days, loc)
		}
		out = append(out, gs)
	}
	return out, nil
}

// PreviewPolicy checks the schedule keys of a rules JSON as the package builder and the
// agent do (unknown day, window of zero length, deadline before delay... refused naming
// the key) and computes its windows over days days from from, in loc.
func (a *App) PreviewPolicy(ctx context.Context, rulesJSON []byte, from time.Time, days int, loc *time.Location) (GroupSchedule, error) {
	if _, err := reader(ctx); err != nil {
		return GroupSchedule{}, err
	}
	var gs GroupSchedule
	r, err := rules.Parse(rulesJSON)
	if err != nil {
		gs.Error = err.Error()
		return gs, nil
	}
	gs.fill(rules.Merge(rules.Rules{}, r), from, days, loc)
	return gs, nil
}

// fill compiles merged rules into gs: the policy lines, the refusal or the windows.
func (gs *GroupSchedule) fill(merged rules.Rules, from time.Time, days int, loc *time.Location) {
	p, err := schedule.Compile(merged, 0)
	if err != nil {
		gs.Error = err.Error()
		return
	}
	gs.Policy = policyLines(p)
	gs.Windows = schedule.Calendar(p, from, days, loc)
}

// policyLines describes a compiled policy.
func policyLines(p schedule.Policy) []string {
	var out []string
	if len(p.Windows) == 0 {
		out = append(out, "maintenance windows: none (updates install at every scheduled install run)")
	}
	for _, w := range p.Windows {
		out = append(out, "window: "+w.String())
	}
	if p.InstallDelay > 0 {
		out = append(out, fmt.Sprintf("install delay: %d days after approval", int(p.InstallDelay/(24*time.Hour))))
	}
	for _, k := range slices.Sorted(maps.Keys(p.PauseUntil)) {
		out = append(out, fmt.Sprintf("pause_until %s: %s", k, p.PauseUntil[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(p.PauseDays)) {
		out = append(out, fmt.Sprintf("pause_days %s: %d", k, p.PauseDays[k]))
	}
	if p.HasDeadline {
		out = append(out, fmt.Sprintf("deadline: %d days after approval, grace %d days", int(p.Deadline/(24*time.Hour)), int(p.Grace/(24*time.Hour))))
	}
	r := "reboot: " + p.Reboot
	if p.Reboot == rules.RebootAsk {
		r += fmt.Sprintf(" (postponed at most %d times)", p.MaxPostpone)
	}
	out = append(out, r)
	if p.ActiveHours != nil {
		out = append(out, "active hours (no forced reboot): "+p.ActiveHours.String())
	}
	if p.CatchUp {
		out = append(out, "missed windows are caught up")
	}
	if p.InstallAtShutdown {
		out = append(out, "installs at shutdown")
	}
	return out
}
