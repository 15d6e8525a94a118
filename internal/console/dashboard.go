package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

const (
	historyDays = 30
	// historyHosts bounds the hosts whose statuses the history charts read (one query
	// each): past it the charts describe the first hosts by name, and say so.
	historyHosts = 2000
	historyTTL   = time.Minute
)

type bucketCard struct {
	Key   string
	Label string
	Count int
	URL   string
}

type dashboardData struct {
	Hosts      int
	Truncated  bool
	Buckets    []bucketCard
	Compliance svgChart
	Compliant  int // % of hosts up to date

	Updates          int   // catalog updates
	Needed           int   // updates at least one host needs (allowed or not)
	MissingFiles     int   // files hosts need and may install, not on the server
	MissingBytes     int64 // their size
	MissingStatuses  int   // host×update statuses MISSING
	MissingHosts     int   // hosts with at least one
	MissingURL       string
	Cache            *repo.Usage
	CabLast          *store.CabSync
	CabPublished     *store.CabSync // the last finished sync: the cab agents use
	TasksQueued      int
	TasksDownloading int
	TasksFailed      int
	PastDeadline     int // hosts with updates past their deadline

	History *history
	Pending svgChart
	Percent svgChart
	Install svgChart
	Jobs    bool
}

func (c *Console) handleDashboard(w http.ResponseWriter, r *http.Request) {
	d := dashboardData{Jobs: c.deps.App.HasJobs()}
	now := c.now()
	// The hosts by state, counted by the store (not read one by one).
	sum, err := c.deps.Store.SummarizeHosts(r.Context(), now.Add(-staleAfter))
	if err != nil {
		c.fail(w, r, fmt.Errorf("count hosts: %w", err))
		return
	}
	d.Hosts = sum.Hosts
	counts := sum.States
	var segs []segment
	for _, b := range bucketOrder {
		if b == bucketNew && counts[b] == 0 {
			continue
		}
		url := Prefix + "hosts?state=" + b
		d.Buckets = append(d.Buckets, bucketCard{Key: b, Label: bucketLabels[b], Count: counts[b], URL: url})
		segs = append(segs, segment{Label: bucketLabels[b], Value: counts[b], Class: "b-" + b})
	}
	d.Compliance = stackedBar(segs, 1000, 28)
	if d.Hosts > 0 {
		d.Compliant = counts[bucketOK] * 100 / d.Hosts
	}

	count := func(f store.UpdateFilter) (int, error) {
		f.Limit = 1
		p, err := c.deps.Store.ListUpdates(r.Context(), f)
		return p.Total, err
	}
	if d.Updates, err = count(store.UpdateFilter{}); err != nil {
		c.fail(w, r, fmt.Errorf("count updates: %w", err))
		return
	}
	if d.Needed, err = count(store.UpdateFilter{Needed: store.Bool(true)}); err != nil {
		c.fail(w, r, fmt.Errorf("count needed updates: %w", err))
		return
	}
	files, err := c.deps.Store.NeededFiles(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("files missing on the server: %w", err))
		return
	}
	d.MissingFiles = len(files)
	for _, f := range files {
		d.MissingBytes += f.Size
	}
	d.MissingStatuses, d.MissingHosts = sum.MissingStatuses, sum.MissingHosts
	d.MissingURL = Prefix + "updates?needed=yes&downloaded=no"
	if d.PastDeadline, err = c.deps.App.HostsPastDeadline(r.Context()); err != nil {
		c.fail(w, r, fmt.Errorf("count hosts past their deadline: %w", err))
		return
	}
	if c.deps.Cache != nil {
		if u, err := c.deps.Cache.Usage(); err == nil {
			d.Cache = &u
		} else {
			c.log.WarnContext(r.Context(), "console: repository usage", "err", err)
		}
	}
	syncs, err := c.deps.Store.LatestCabSyncs(r.Context(), 20)
	if err != nil {
		c.fail(w, r, fmt.Errorf("cab history: %w", err))
		return
	}
	for i := range syncs {
		if d.CabLast == nil {
			d.CabLast = &syncs[i]
		}
		if d.CabPublished == nil && syncs[i].Status == store.CabFinished {
			d.CabPublished = &syncs[i]
		}
	}
	for _, s := range []store.TaskStatus{store.TaskQueued, store.TaskDownloading} {
		ts, err := c.deps.Store.ListTasks(r.Context(), 1000, s)
		if err != nil {
			c.fail(w, r, fmt.Errorf("download tasks: %w", err))
			return
		}
		if s == store.TaskQueued {
			d.TasksQueued = len(ts)
		} else {
			d.TasksDownloading = len(ts)
		}
	}
	if failed, err := c.deps.Store.ListTasks(r.Context(), 1000, store.TaskFailed); err == nil {
		for _, t := range failed {
			if now.Sub(t.FinishedAt) < 24*time.Hour {
				d.TasksFailed++
			}
		}
	}
	h, err := c.fleetHistory(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.History = h
	d.Pending = timeChart(h.points(h.Pending), chartOpts{Kind: chartLine, Class: "s-pending", Label: "updates waiting per day"})
	d.Percent = timeChart(h.pointsF(h.Compliance), chartOpts{Kind: chartLine, Class: "s-ok", Label: "hosts up to date per day", Percent: true})
	d.Install = timeChart(h.points(h.Installs), chartOpts{Kind: chartBars, Class: "s-install", Label: "updates installed per day"})
	c.render(w, r, http.StatusOK, "dashboard", c.newPage(w, r, "dashboard", "Dashboard", d))
}

// history is the fleet over the last days, reconstructed from the current statuses:
// the store keeps no daily snapshot. A pending status counts from the day it last
// changed; an installed update counts as pending from the host's registration to its
// install date.
type history struct {
	Days       []time.Time
	Pending    []int     // host×update statuses waiting (MISSING, PENDING, ERROR) at the end of each day
	Compliance []float64 // % of the hosts registered by then with nothing waiting; noData before any
	Installs   []int     // updates installed that day
	Hosts      int       // hosts read
	Sampled    bool      // more hosts exist than were read
}

func (h *history) points(v []int) []dayValue {
	out := make([]dayValue, len(h.Days))
	for i, d := range h.Days {
		out[i] = dayValue{Day: d, Value: float64(v[i])}
	}
	return out
}

func (h *history) pointsF(v []float64) []dayValue {
	out := make([]dayValue, len(h.Days))
	for i, d := range h.Days {
		out[i] = dayValue{Day: d, Value: v[i]}
	}
	return out
}

func (c *Console) fleetHistory(r *http.Request) (*history, error) {
	now := c.now()
	c.chart.mu.Lock()
	if c.chart.data != nil && now.Sub(c.chart.at) < historyTTL && !now.Before(c.chart.at) {
		h := c.chart.data
		c.chart.mu.Unlock()
		return h, nil
	}
	c.chart.mu.Unlock()
	hosts, sampled, err := c.allHosts(r, historyHosts) // the first ones by name
	if err != nil {
		return nil, err
	}

	local := now.In(c.loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, c.loc)
	h := &history{
		Days:       make([]time.Time, historyDays),
		Pending:    make([]int, historyDays),
		Compliance: make([]float64, historyDays),
		Installs:   make([]int, historyDays),
	}
	for i := range h.Days {
		h.Days[i] = today.AddDate(0, 0, i-historyDays+1)
	}
	registered := make([]int, historyDays)
	compliant := make([]int, historyDays)
	n := len(hosts)
	h.Hosts, h.Sampled = n, sampled
	diff := make([]int, historyDays+1)
	for _, host := range hosts[:n] {
		ups, err := c.deps.Store.HostUpdates(r.Context(), host.UUID)
		if err != nil {
			return nil, fmt.Errorf("history of host %s: %w", host.Name, err)
		}
		clear(diff)
		reg := dayIndex(h.Days, host.RegisteredAt)
		for _, u := range ups {
			switch u.Status {
			case wu.StatusMissing, wu.StatusPending, wu.StatusError:
				diff[max(dayIndex(h.Days, u.ChangedAt), reg)]++
			case wu.StatusOK:
				if u.InstalledAt.IsZero() || !u.InstalledAt.After(host.RegisteredAt) {
					continue
				}
				inst := dayIndex(h.Days, u.InstalledAt)
				if reg < inst {
					diff[reg]++
					diff[inst]--
				}
				if inst < historyDays {
					h.Installs[inst]++
				}
			}
		}
		waiting := 0
		for i := range historyDays {
			waiting += diff[i]
			if i < reg {
				continue
			}
			registered[i]++
			h.Pending[i] += waiting
			if waiting == 0 {
				compliant[i]++
			}
		}
	}
	for i := range historyDays {
		h.Compliance[i] = noData
		if registered[i] > 0 {
			h.Compliance[i] = float64(compliant[i]) * 100 / float64(registered[i])
		}
	}
	c.chart.mu.Lock()
	c.chart.data, c.chart.at = h, now
	c.chart.mu.Unlock()
	return h, nil
}
