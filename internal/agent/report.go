package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/wu"
)

// report sends what changed since the last acknowledged report: the updates whose
// status changed, with the host-level fields. A full report (every update) goes the first
// time, after a new registration, when an update left the list, and every
// FullReportInterval. Nothing is sent when nothing changed. Without registration
// nothing is sent at all. Once the server said it accepts lean reports, statuses go
// without the description of their update; the updates the server then says it does not
// know are sent again at once, described.
func (a *Agent) report(ctx context.Context, c *cycle) error {
	if !a.client.Registered() {
		return nil
	}
	st := c.st
	rep := api.Report{
		ScanAt:         st.LastScan,
		Name:           a.hostName,
		OS:             a.osName,
		AgentVersion:   a.version,
		WUAStatus:      st.Status,
		RebootPending:  st.RebootRequired,
		LastError:      truncate(st.LastError, api.MaxErrorLen-3),
		CabSHA1:        st.Cab.SHA1,
		Packages:       c.packages,
		UpdatePackages: c.updatePackages,
	}
	current := make(map[string]string, len(st.Updates))
	all := make([]api.UpdateStatus, 0, len(st.Updates))
	for _, s := range st.Updates {
		u := s.UpdateStatus
		u.Error = truncate(u.Error, api.MaxErrorLen-3)
		current[s.key()] = fingerprint(u)
		all = append(all, u)
	}
	rep.Networks, rep.Repository = a.hostNetworks(), st.Repository
	rep.Schedule = scheduleReport(st)
	agentFP := fingerprint(rep) // the host-level fields: Updates is still empty
	events := unreportedEvents(st, st.Report.EventsAcked)
	if len(events) > 0 {
		if rep.Schedule == nil {
			rep.Schedule = &api.ScheduleReport{}
		}
		rep.Schedule.Events = events
	}

	ack := &st.Report
	cred := a.client.Credential().Fingerprint()
	full := ack.Acked == nil || ack.Credential != cred || a.clock.Now().Sub(ack.LastFull) >= a.fullEvery
	if !full {
		for k := range ack.Acked {
			if _, still := current[k]; !still {
				full = true // a partial report cannot say that an update left
				break
			}
		}
	}
	if full {
		rep.Full, rep.Updates = true, all
	} else {
		rep.Updates = []api.UpdateStatus{}
		for i, s := range st.Updates {
			if ack.Acked[s.key()] != current[s.key()] {
				rep.Updates = append(rep.Updates, all[i])
			}
		}
		if len(rep.Updates) == 0 && ack.Agent == agentFP && len(events) == 0 {
			return nil
		}
	}
	if err := rep.Validate(); err != nil {
		return fmt.Errorf("report not sent: %w", err)
	}
	sent := rep
	if ack.Lean && ack.Credential == cred {
		sent = LeanReport(rep)
	}
	ans, lean, err := a.client.Report(ctx, &sent)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			*ack = ReportState{} // whatever it knew is gone: the next report is full
		}
		return fmt.Errorf("report: %w", err)
	}
	a.log.Info("reported", slog.Bool("full", rep.Full), slog.Bool("lean", sent.Lean), slog.Int("updates", len(rep.Updates)), slog.String("status", rep.WUAStatus))
	c.reported = true
	ack.Acked, ack.Agent, ack.Credential, ack.EventsAcked, ack.Lean = current, agentFP, cred, st.EventSeq, lean
	if rep.Full {
		ack.LastFull = a.clock.Now()
	}
	if len(ans.Describe) > 0 {
		again := DescribeUnknown(sent, rep.Updates, ans.Describe)
		if _, _, err := a.client.Report(ctx, &again); err != nil {
			ack.Acked = nil // not all recorded: the next report is full
			return fmt.Errorf("report the updates the server does not know: %w", err)
		}
		a.log.Info("described updates unknown to the server", slog.Int("updates", len(ans.Describe)))
	}
	return nil
}

// DescribeUnknown returns the lean report sent again with the description of the
// updates the server named as unknown (refs; update ids compared ignoring case), taken
// from the full statuses described: the server records them, and gives the report the
// digest of the lean one, so that the next identical report costs it no write.
func DescribeUnknown(sent api.Report, described []api.UpdateStatus, refs []api.UpdateRef) api.Report {
	want := make(map[wu.UpdateKey]bool, len(refs))
	for _, r := range refs {
		want[wu.UpdateKey{UpdateID: strings.ToLower(r.UpdateID), RevisionNumber: r.RevisionNumber}] = true
	}
	full := make(map[wu.UpdateKey]api.UpdateStatus, len(described))
	for _, u := range described {
		full[wu.UpdateKey{UpdateID: strings.ToLower(u.UpdateID), RevisionNumber: u.RevisionNumber}] = u
	}
	ups := make([]api.UpdateStatus, len(sent.Updates))
	for i, u := range sent.Updates {
		k := wu.UpdateKey{UpdateID: strings.ToLower(u.UpdateID), RevisionNumber: u.RevisionNumber}
		if d, ok := full[k]; ok && want[k] {
			u = d
		}
		ups[i] = u
	}
	sent.Updates = ups
	return sent
}

// LeanReport is rep without the description of its updates (api.Report.Lean).
func LeanReport(rep api.Report) api.Report {
	rep.Lean = true
	ups := make([]api.UpdateStatus, len(rep.Updates))
	for i, u := range rep.Updates {
		u.Title, u.KBs, u.Severity, u.Classification, u.Products = "", nil, "", "", nil
		ups[i] = u
	}
	rep.Updates = ups
	return rep
}

func fingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
