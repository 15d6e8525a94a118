package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/wu"
)

// newCycleCmd builds waptwua-scan, waptwua-download and waptwua-install.
func newCycleCmd(g *globals, name, short string) *cobra.Command {
	var asJSON, force, all bool
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var progress agent.Progress
			if !asJSON && isTerminal(g.stdout) {
				progress = newProgressBar(g.stdout).update
			}
			a, err := g.openAgent(signalContext(cmd), progress)
			if err != nil {
				return err
			}
			ctx := signalContext(cmd)
			var sum *agent.Summary
			switch name {
			case "waptwua-scan":
				sum, err = a.Scan(ctx, force)
			case "waptwua-download":
				sum, err = a.Download(ctx, force)
			default:
				sum, err = a.Install(ctx)
			}
			return output(g.stdout, sum, err, asJSON, all)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list every update, installed ones too")
	if name != "waptwua-install" {
		cmd.Flags().BoolVar(&force, "force", false, "scan even when nothing changed")
	}
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "waptwua-status",
		Short: "Show the result of the last cycle (no scan, no network)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := agent.LoadState(g.dataDir)
			if err != nil {
				return err
			}
			return output(g.stdout, agent.SummaryOf(st, g.cfg.Global.HostName), nil, asJSON, all)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list every update, installed ones too")
	return cmd
}

// jsonResult is the --json shape: the summary, with the error of the run when it failed.
type jsonResult struct {
	*agent.Summary
	Error string `json:"error,omitempty"`
}

// output prints a cycle's result and returns the error to exit with.
func output(w io.Writer, sum *agent.Summary, runErr error, asJSON, all bool) error {
	if asJSON {
		res := jsonResult{Summary: sum}
		if res.Summary == nil {
			res.Summary = &agent.Summary{Updates: []agent.UpdateState{}}
		}
		if runErr != nil {
			res.Error = runErr.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write the result: %w", err)
		}
		if runErr != nil {
			return fmt.Errorf("%s", firstLine(runErr.Error()))
		}
		return nil
	}
	if sum != nil {
		printTable(w, sum, all)
		for _, l := range sum.Schedule {
			fmt.Fprintln(w, "schedule: "+l)
		}
		// The last decisions the agent acted on (installs, holds, reboots, shutdown).
		evs := sum.Events
		if len(evs) > 5 {
			evs = evs[len(evs)-5:]
		}
		for _, e := range evs {
			fmt.Fprintf(w, "decision: %s %s %s\n", e.At.Local().Format("2006-01-02 15:04"), e.Kind, e.Text)
		}
		fmt.Fprintln(w, sum.Line())
	}
	return runErr
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (...)"
	}
	return s
}

// printTable lists the updates: KB, title, severity, status, reason.
func printTable(w io.Writer, sum *agent.Summary, all bool) {
	var rows []agent.UpdateState
	for _, u := range sum.Updates {
		if all || u.Status != wu.StatusOK {
			rows = append(rows, u)
		}
	}
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KB\tTITLE\tSEVERITY\tSTATUS\tREASON")
	for _, u := range rows {
		kb := "-"
		if len(u.KBs) > 0 {
			kb = strings.Join(u.KBs, ",")
		}
		sev := string(u.Severity)
		if sev == "" {
			sev = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", kb, clip(u.Title, 60), sev, u.Status, clip(reason(u), 70))
	}
	_ = tw.Flush()
}

// reason explains a status in a few words.
func reason(u agent.UpdateState) string {
	switch u.Status {
	case wu.StatusDiscarded:
		if u.Rule != "" {
			return string(u.Reason) + " (" + u.Rule + ")"
		}
		return string(u.Reason)
	case wu.StatusError:
		return u.Error
	case wu.StatusMissing:
		return "not yet on the server"
	case wu.StatusPending:
		if u.Local {
			return "downloaded"
		}
		return "on the server"
	case wu.StatusSuperseded:
		return u.Rule
	case wu.StatusOK:
		if !u.InstalledAt.IsZero() {
			return "installed " + u.InstalledAt.Local().Format("2006-01-02 15:04")
		}
	}
	return ""
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws one line per download on a terminal, redrawn in place.
type progressBar struct {
	w       io.Writer
	name    string
	percent int
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, percent: -1} }

func (p *progressBar) update(name string, done, total int64) {
	if name != p.name {
		if p.name != "" && p.percent < 100 {
			fmt.Fprintln(p.w)
		}
		p.name, p.percent = name, -1
	}
	pct := 0
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if pct == p.percent {
		return
	}
	p.percent = pct
	const width = 30
	fill := pct * width / 100
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	size := fmt.Sprintf("%.1f MiB", float64(done)/(1<<20))
	if total > 0 {
		size = fmt.Sprintf("%.1f/%.1f MiB", float64(done)/(1<<20), float64(total)/(1<<20))
	}
	fmt.Fprintf(p.w, "\r%-40s [%s] %3d%% %s", clip(name, 40), bar, pct, size)
	if pct >= 100 {
		fmt.Fprintln(p.w)
	}
}
