package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/api"
)

// pagesOptions are the flags of "wuafleet pages".
type pagesOptions struct {
	server       string
	user         string
	passwordFile string
	runs         int
	timeout      time.Duration
}

func newPagesCmd(stdout, stderr io.Writer) *cobra.Command {
	var o pagesOptions
	cmd := &cobra.Command{
		Use:   "pages --server URL --user NAME --password-file FILE [--runs N]",
		Short: "Time every console page and admin list route of a loaded server (p50/p95)",
		Long: `pages measures how fast a waptserver answers its administrators: it logs in through
the admin API (POST /api/v1/admin/login; the console accepts the same session), finds
the most-needed update and a host, then requests every console page and admin API list
route --runs times in a row over one keep-alive connection (dashboard, updates with and
without filters, the most-needed update's detail, hosts with filters, host detail, CSV
exports) and prints, per route, the first (cold) time, p50 and p95 of the others, and
the answer's size; the last line is the same as JSON. Any answer but 200 stops the run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runPages(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printPages(stdout, res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "base URL of the waptserver (required)")
	f.StringVar(&o.user, "user", "", "console user (required)")
	f.StringVar(&o.passwordFile, "password-file", "", "file whose first line is the user's password (required; never on the command line)")
	f.IntVar(&o.runs, "runs", 20, "requests per route (the first is reported apart as cold)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "timeout of one request")
	return cmd
}

// pageResult is one route's timing.
type pageResult struct {
	Name   string  `json:"name"`
	Path   string  `json:"path"`
	ColdMs float64 `json:"cold_ms"`
	P50ms  float64 `json:"p50_ms"`
	P95ms  float64 `json:"p95_ms"`
	Bytes  int     `json:"bytes"`
}

func runPages(ctx context.Context, o pagesOptions) ([]pageResult, error) {
	if o.server == "" || o.user == "" || o.passwordFile == "" {
		return nil, errors.New("--server, --user and --password-file are required")
	}
	if o.runs < 2 {
		return nil, fmt.Errorf("--runs %d: want at least 2 (the first one is cold)", o.runs)
	}
	raw, err := os.ReadFile(o.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	password, _, _ := strings.Cut(string(raw), "\n")
	c := newClient(o.server, 1, o.timeout)
	defer c.hc.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"username": o.user, "password": strings.TrimRight(password, "\r")})
	code, data, err := c.post(ctx, "/api/v1/admin/login", "", body, nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, answerError("/api/v1/admin/login", code, data)
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &login); err != nil || login.Token == "" {
		return nil, fmt.Errorf("login: no session token in the answer")
	}
	get := func(path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return 0, nil, err
		}
		if strings.HasPrefix(path, "/ui/") {
			req.AddCookie(&http.Cookie{Name: "waptwua_session", Value: login.Token})
		} else {
			req.Header.Set("Authorization", "Bearer "+login.Token)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("GET %s: %w", path, err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = io.Copy(&buf, resp.Body)
		return resp.StatusCode, buf.Bytes(), err
	}

	// The most-needed update and a host to look at.
	code, data, err = get("/api/v1/admin/updates?needed=true&limit=1000")
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("list the needed updates: HTTP %d %v", code, err)
	}
	var ups struct {
		Updates []struct {
			UpdateID       string   `json:"update_id"`
			RevisionNumber int      `json:"revision_number"`
			HostsNeeding   int      `json:"hosts_needing"`
			KBs            []string `json:"kb"`
		} `json:"updates"`
	}
	if err := json.Unmarshal(data, &ups); err != nil || len(ups.Updates) == 0 {
		return nil, fmt.Errorf("no needed update on the server: load it first (wuafleet ingest)")
	}
	top := ups.Updates[0]
	for _, u := range ups.Updates {
		if u.HostsNeeding > top.HostsNeeding {
			top = u
		}
	}
	key := fmt.Sprintf("%s_%d", top.UpdateID, top.RevisionNumber)
	code, data, err = get("/api/v1/admin/hosts?limit=1")
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("list the hosts: HTTP %d %v", code, err)
	}
	var hosts struct {
		Hosts []struct {
			UUID string `json:"uuid"`
			Name string `json:"name"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(data, &hosts); err != nil || len(hosts.Hosts) == 0 {
		return nil, fmt.Errorf("no host on the server: load it first (wuafleet ingest)")
	}
	host := hosts.Hosts[0]
	kb := ""
	if len(top.KBs) > 0 {
		kb = top.KBs[0]
	}
	uq := url.QueryEscape
	routes := []struct{ name, path string }{
		{"console dashboard", "/ui/"},
		{"console updates", "/ui/updates"},
		{"console updates needed", "/ui/updates?needed=yes"},
		{"console updates search KB", "/ui/updates?q=" + uq(kb)},
		{"console updates critical, needed", "/ui/updates?needed=yes&sev=Critical"},
		{"console update detail (most needed)", "/ui/updates/" + key},
		{"console hosts", "/ui/hosts"},
		{"console hosts search", "/ui/hosts?q=" + uq(host.Name)},
		{"console hosts status", "/ui/hosts?status=PENDING_UPDATES"},
		{"console hosts page 50", "/ui/hosts?page=50"},
		{"console host detail", "/ui/hosts/" + url.PathEscape(host.UUID)},
		{"console updates.csv", "/ui/updates.csv"},
		{"console hosts.csv", "/ui/hosts.csv"},
		{"console host updates.csv", "/ui/hosts/" + url.PathEscape(host.UUID) + "/updates.csv"},
		{"api updates", "/api/v1/admin/updates"},
		{"api updates needed", "/api/v1/admin/updates?needed=true"},
		{"api update detail (most needed)", "/api/v1/admin/updates/" + key},
		{"api hosts", "/api/v1/admin/hosts"},
		{"api hosts search", "/api/v1/admin/hosts?q=" + uq(host.Name)},
		{"api host", "/api/v1/admin/hosts/" + url.PathEscape(host.UUID)},
		{"api host updates", "/api/v1/admin/hosts/" + url.PathEscape(host.UUID) + "/updates"},
		{"api needed files", "/api/v1/admin/files/needed"},
	}
	var out []pageResult
	for _, rt := range routes {
		res := pageResult{Name: rt.name, Path: rt.path}
		times := make([]time.Duration, 0, o.runs-1)
		for i := range o.runs {
			start := time.Now()
			code, data, err := get(rt.path)
			d := time.Since(start)
			if err != nil {
				return nil, err
			}
			if code != http.StatusOK {
				var e api.Error
				_ = json.Unmarshal(data, &e)
				return nil, fmt.Errorf("GET %s: HTTP %d %s", rt.path, code, e.Error)
			}
			if i == 0 {
				res.ColdMs, res.Bytes = ms(d), len(data)
				continue
			}
			times = append(times, d)
		}
		st := latencyStats(times)
		res.P50ms, res.P95ms = ms(st.p50), ms(st.p95)
		out = append(out, res)
	}
	return out, nil
}

func printPages(w io.Writer, res []pageResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-38s %9s %9s %9s %10s  %s\n", "route", "cold_ms", "p50_ms", "p95_ms", "bytes", "path")
	for _, r := range res {
		fmt.Fprintf(&b, "%-38s %9.1f %9.1f %9.1f %10d  %s\n", r.Name, r.ColdMs, r.P50ms, r.P95ms, r.Bytes, r.Path)
	}
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("pages as JSON: %w", err)
	}
	b.Write(line)
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write the pages: %w", err)
	}
	return nil
}
