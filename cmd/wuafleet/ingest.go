package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
)

type ingestOptions struct {
	server      string
	secret      string
	hosts       int
	updates     int
	pool        int
	concurrency int
	catalog     string
	synthetic   bool
	csv         string
	seed        uint64
	timeout     time.Duration
	progress    time.Duration
	lean        bool // send lean reports (api.Report.Lean), describing what the server asks for
	gzip        bool // gzip the report bodies
	again       bool // after the ingest, every host sends its report again (unchanged)
}

func newIngestCmd(stdout, stderr io.Writer) *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest --server URL --secret S [--hosts N] [--updates M] [--catalog FILE | --synthetic]",
		Short: "Register N hosts, have each post one full report of M update statuses, and measure the ingest",
		Long: `ingest measures how fast a waptserver takes agent reports. It registers --hosts hosts
through the agent API (POST ` + api.PathRegister + ` with the enrollment secret), then each
host posts one full report of --updates update statuses (POST ` + api.PathReport + `), from
--concurrency workers over keep-alive HTTP connections. Reports are lean and gzipped, as
the agent sends them (--lean, --gzip): when the server answers that it does not know some
updates, the host sends the report again with their description at once (counted in
that report's latency). With --again every host then sends the same report once more,
timed apart: the unchanged-report path.

Each host reports --updates distinct updates drawn from a pool of --pool updates shared
by the fleet: synthetic ones (random GUIDs, Windows 10 titles and KBs) with --synthetic,
the default, or ones read from a "waptserver catalog dump" with --catalog. Statuses follow
a fixed mix: 70% OK, 8% PENDING, 10% MISSING, 9% DISCARDED (forbidden, not_allowed,
delayed), 3% ERROR. Everything is a function of --seed: two runs send the same bytes.

It prints the registration time, then the ingest figures (registration excluded):
wall time, reports/s, statuses/s, and the per-report latency (request sent to answer
read) p50/p95/p99/max; the last line is the same as one JSON object, for scripts.
With --csv it then writes every status it sent, one row each, for a PostgreSQL COPY:
host_uuid,update_id,revision_number,status,reason,installed_at,last_error,changed_at
(changed_at is the report's scan_at). The first error stops the run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("synthetic") && o.synthetic == (o.catalog != "") {
				return errors.New("--synthetic and --catalog exclude each other: give exactly one source of update ids")
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			sum, err := runIngest(cmd.Context(), o, log)
			if err != nil {
				return err
			}
			return sum.print(stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "base URL of the waptserver, e.g. http://127.0.0.1:8080 (required)")
	f.StringVar(&o.secret, "secret", "", "enrollment_secret of the server's waptserver.ini (required)")
	f.IntVar(&o.hosts, "hosts", 10000, "number of hosts to register, each posting one report")
	f.IntVar(&o.updates, "updates", 150, "update statuses per report")
	f.IntVar(&o.pool, "pool", 0, "distinct updates in the fleet, each host reporting --updates of them (0: 2 x --updates when synthetic, the whole catalog with --catalog)")
	f.IntVar(&o.concurrency, "concurrency", 32, "parallel HTTP requests (and keep-alive connections)")
	f.StringVar(&o.catalog, "catalog", "", "update ids from this \"waptserver catalog dump\" file (JSON lines) instead of synthetic ones")
	f.BoolVar(&o.synthetic, "synthetic", true, "synthetic update ids (the default; excludes --catalog)")
	f.StringVar(&o.csv, "csv", "", "after the run, write every status sent to this CSV file")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the fleet: host UUIDs, update choice and statuses")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "timeout of one HTTP request")
	f.DurationVar(&o.progress, "progress", 10*time.Second, "log progress this often (0: never)")
	f.BoolVar(&o.lean, "lean", true, "send lean reports (statuses without titles, KBs, ...), then describe the updates the server names as unknown; --lean=false sends full descriptions (older servers)")
	f.BoolVar(&o.gzip, "gzip", true, "gzip the report bodies (Content-Encoding: gzip)")
	f.BoolVar(&o.again, "again", false, "after the ingest, every host sends the same report again, timed apart (the unchanged-report path)")
	return cmd
}

// summary is the outcome of an ingest run; its JSON is the last line printed.
type summary struct {
	Hosts             int     `json:"hosts"`
	UpdatesPerHost    int     `json:"updates_per_host"`
	Pool              int     `json:"pool"`
	Source            string  `json:"source"`
	Concurrency       int     `json:"concurrency"`
	Statuses          int64   `json:"statuses"`
	RegisterSeconds   float64 `json:"register_s"`
	IngestSeconds     float64 `json:"ingest_s"`
	ReportsPerSecond  float64 `json:"reports_per_s"`
	StatusesPerSecond float64 `json:"statuses_per_s"`
	P50ms             float64 `json:"p50_ms"`
	P95ms             float64 `json:"p95_ms"`
	P99ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	MeanMs            float64 `json:"mean_ms"`
	BytesSent         int64   `json:"bytes_sent"`
	Lean              bool    `json:"lean"`
	Gzip              bool    `json:"gzip"`
	Described         int64   `json:"described"` // statuses sent again described, at the server's request
	// The unchanged reports of --again.
	AgainSeconds   float64 `json:"again_s,omitempty"`
	AgainPerSecond float64 `json:"again_reports_per_s,omitempty"`
	AgainP99ms     float64 `json:"again_p99_ms,omitempty"`
	AgainUnchanged int64   `json:"again_unchanged,omitempty"` // answered unchanged (lean answers say so)
	CSV            string  `json:"csv,omitempty"`
	CSVRows        int64   `json:"csv_rows,omitempty"`
}

func (s *summary) print(w io.Writer) error {
	mib := float64(s.BytesSent) / (1 << 20)
	_, err := fmt.Fprintf(w, `registration: %d hosts in %.2f s (%.0f hosts/s)
ingest: %d reports x %d updates = %d statuses (pool %d, %s) in %.2f s with %d connections, %.1f MiB sent
  %.1f reports/s, %.0f statuses/s
  latency per report: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms, mean %.1f ms
`, s.Hosts, s.RegisterSeconds, float64(s.Hosts)/max(s.RegisterSeconds, 1e-9),
		s.Hosts, s.UpdatesPerHost, s.Statuses, s.Pool, s.Source, s.IngestSeconds, s.Concurrency, mib,
		s.ReportsPerSecond, s.StatusesPerSecond, s.P50ms, s.P95ms, s.P99ms, s.MaxMs, s.MeanMs)
	if err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	if _, err := fmt.Fprintf(w, "  lean %v, gzip %v, %d statuses described at the server's request\n", s.Lean, s.Gzip, s.Described); err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	if s.AgainSeconds > 0 {
		if _, err := fmt.Fprintf(w, "again (same reports): %.2f s, %.1f reports/s, p99 %.1f ms, %d answered unchanged\n",
			s.AgainSeconds, s.AgainPerSecond, s.AgainP99ms, s.AgainUnchanged); err != nil {
			return fmt.Errorf("write the summary: %w", err)
		}
	}
	if s.CSV != "" {
		if _, err := fmt.Fprintf(w, "csv: %d rows written to %s\n", s.CSVRows, s.CSV); err != nil {
			return fmt.Errorf("write the summary: %w", err)
		}
	}
	line, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("summary as JSON: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	return nil
}

func (o *ingestOptions) check() error {
	u, err := url.Parse(o.server)
	switch {
	case o.server == "":
		return errors.New("--server is required: the waptserver's base URL, e.g. http://127.0.0.1:8080")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--server %q: want an http(s) URL such as http://127.0.0.1:8080", o.server)
	case o.secret == "":
		return errors.New("--secret is required: the enrollment_secret of the server's waptserver.ini")
	case o.hosts < 1:
		return fmt.Errorf("--hosts %d: want at least 1", o.hosts)
	case o.concurrency < 1 || o.concurrency > 4096:
		return fmt.Errorf("--concurrency %d: want 1 to 4096", o.concurrency)
	case o.pool < 0:
		return fmt.Errorf("--pool %d: want 0 (default) or more", o.pool)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	}
	return nil
}

// runIngest registers the fleet, posts its reports and measures them.
func runIngest(ctx context.Context, o ingestOptions, log *slog.Logger) (*summary, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	source := "synthetic"
	var pool []updateRef
	if o.catalog != "" {
		var err error
		source = "catalog " + o.catalog
		if pool, err = readCatalogDump(o.catalog, o.seed, o.pool); err != nil {
			return nil, err
		}
	} else {
		n := o.pool
		if n == 0 {
			n = 2 * o.updates
		}
		pool = synthPool(o.seed, n)
	}
	fl, err := newFleet(o.seed, pool, o.updates)
	if err != nil {
		return nil, err
	}
	c := newClient(o.server, o.concurrency, o.timeout)
	defer c.hc.CloseIdleConnections()

	// Registration, timed apart.
	creds := make([]string, o.hosts)
	uuids := make([]string, o.hosts)
	log.Info("registering hosts", "hosts", o.hosts, "server", o.server, "concurrency", o.concurrency)
	start := time.Now()
	err = parallel(ctx, o.hosts, o.concurrency, o.progress, log, "registered", func(ctx context.Context, i int, _ *worker) error {
		resp, err := c.register(ctx, o.secret, fl.registration(i))
		if err != nil {
			return err
		}
		uuids[i], creds[i] = resp.UUID, resp.Credential
		return nil
	})
	regTime := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("registration: %w", err)
	}

	// Ingest: one full report per host.
	latencies := make([]time.Duration, o.hosts)
	var sent, described, unchanged atomic.Int64
	post := func(ctx context.Context, i int, w *worker) (time.Duration, error) {
		rep := fl.report(i)
		full := rep
		if o.lean {
			rep = agent.LeanReport(rep)
		}
		start := time.Now()
		ans, err := c.report(ctx, uuids[i], creds[i], &rep, o.gzip, w, &sent)
		if err != nil {
			return 0, err
		}
		if ans.Unchanged {
			unchanged.Add(1)
		}
		if len(ans.Describe) > 0 {
			again := agent.DescribeUnknown(rep, full.Updates, ans.Describe)
			if _, err := c.report(ctx, uuids[i], creds[i], &again, o.gzip, w, &sent); err != nil {
				return 0, err
			}
			described.Add(int64(len(ans.Describe)))
		}
		return time.Since(start), nil
	}
	// postAll posts every host's report, timing each into latencies and the whole.
	postAll := func(verb string) (time.Duration, error) {
		start := time.Now()
		err := parallel(ctx, o.hosts, o.concurrency, o.progress, log, verb, func(ctx context.Context, i int, w *worker) error {
			d, err := post(ctx, i, w)
			latencies[i] = d
			return err
		})
		return time.Since(start), err
	}
	log.Info("posting reports", "hosts", o.hosts, "updates", o.updates, "pool", len(pool), "source", source, "lean", o.lean, "gzip", o.gzip)
	ingestTime, err := postAll("reported")
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}

	sum := &summary{
		Hosts: o.hosts, UpdatesPerHost: o.updates, Pool: len(pool), Source: source, Concurrency: o.concurrency,
		Statuses:        int64(o.hosts) * int64(o.updates),
		RegisterSeconds: regTime.Seconds(), IngestSeconds: ingestTime.Seconds(), BytesSent: sent.Load(),
		Lean: o.lean, Gzip: o.gzip, Described: described.Load(),
	}
	sum.ReportsPerSecond = float64(o.hosts) / ingestTime.Seconds()
	sum.StatusesPerSecond = float64(sum.Statuses) / ingestTime.Seconds()
	st := latencyStats(latencies)
	sum.P50ms, sum.P95ms, sum.P99ms, sum.MaxMs, sum.MeanMs = ms(st.p50), ms(st.p95), ms(st.p99), ms(st.max), ms(st.mean)

	if o.again {
		log.Info("posting the same reports again", "hosts", o.hosts)
		unchanged.Store(0)
		again, err := postAll("reported again")
		if err != nil {
			return nil, fmt.Errorf("ingest again: %w", err)
		}
		sum.AgainSeconds, sum.AgainPerSecond = again.Seconds(), float64(o.hosts)/again.Seconds()
		sum.AgainP99ms, sum.AgainUnchanged = ms(latencyStats(latencies).p99), unchanged.Load()
	}

	if o.csv != "" {
		n, err := writeCSV(o.csv, fl, uuids)
		if err != nil {
			return nil, err
		}
		sum.CSV, sum.CSVRows = o.csv, n
	}
	return sum, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// worker holds one goroutine's reusable buffer and gzip writer.
type worker struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

// parallel calls fn for i in [0, n) from workers goroutines; the first error cancels the
// rest and is returned. Every progress interval it logs how many calls are done.
func parallel(ctx context.Context, n, workers int, progress time.Duration, log *slog.Logger, verb string,
	fn func(ctx context.Context, i int, w *worker) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			w := &worker{}
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i, w); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	if progress > 0 {
		go func() {
			t := time.NewTicker(progress)
			defer t.Stop()
			start := time.Now()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					d := done.Load()
					log.Info("progress", verb, d, "of", n, "per_s", fmt.Sprintf("%.1f", float64(d)/time.Since(start).Seconds()))
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// client speaks the agent API over keep-alive connections.
type client struct {
	hc   *http.Client
	base string
}

func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		Proxy:               nil, // straight to the server under test
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{hc: &http.Client{Transport: tr, Timeout: timeout}, base: strings.TrimRight(base, "/")}
}

// post sends body and reads the whole answer, so that the connection is reused.
func (c *client) post(ctx context.Context, path, token string, body []byte, hdr http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "wuafleet")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w (is the server running at %s?)", path, err, c.base)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("POST %s: reading the answer: %w", path, err)
	}
	return resp.StatusCode, data, nil
}

func answerError(path string, code int, body []byte) error {
	var e api.Error
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return fmt.Errorf("POST %s: HTTP %d %s: %s", path, code, http.StatusText(code), msg)
}

func (c *client) register(ctx context.Context, secret string, req api.RegisterRequest) (api.RegisterResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return api.RegisterResponse{}, fmt.Errorf("register %s: %w", req.UUID, err)
	}
	code, data, err := c.post(ctx, api.PathRegister, secret, body, nil)
	if err != nil {
		return api.RegisterResponse{}, err
	}
	if code == http.StatusUnauthorized {
		return api.RegisterResponse{}, fmt.Errorf("%w (give --secret the enrollment_secret of the server's waptserver.ini)", answerError(api.PathRegister, code, data))
	}
	if code != http.StatusOK {
		return api.RegisterResponse{}, answerError(api.PathRegister, code, data)
	}
	var resp api.RegisterResponse
	if err := json.Unmarshal(data, &resp); err != nil || resp.Credential == "" || resp.UUID == "" {
		return api.RegisterResponse{}, fmt.Errorf("register %s: the answer holds no credential (is %s a waptserver?)", req.UUID, c.base)
	}
	return resp, nil
}

// report posts one report (gzipped when zip) and returns the server's answer to a lean
// one; sent counts the bytes sent.
func (c *client) report(ctx context.Context, uuid, cred string, rep *api.Report, zip bool, w *worker, sent *atomic.Int64) (api.ReportAnswer, error) {
	path := strings.ReplaceAll(api.PathReport, "{uuid}", url.PathEscape(uuid))
	w.buf.Reset()
	var ans api.ReportAnswer
	if zip {
		if w.zw == nil {
			w.zw = gzip.NewWriter(&w.buf)
		} else {
			w.zw.Reset(&w.buf)
		}
		if err := json.NewEncoder(w.zw).Encode(rep); err != nil {
			return ans, fmt.Errorf("host %s: encode the report: %w", uuid, err)
		}
		if err := w.zw.Close(); err != nil {
			return ans, fmt.Errorf("host %s: compress the report: %w", uuid, err)
		}
	} else if err := json.NewEncoder(&w.buf).Encode(rep); err != nil {
		return ans, fmt.Errorf("host %s: encode the report: %w", uuid, err)
	}
	sent.Add(int64(w.buf.Len()))
	var hdr http.Header
	if zip {
		hdr = http.Header{"Content-Encoding": {"gzip"}}
	}
	code, data, err := c.post(ctx, path, cred, w.buf.Bytes(), hdr)
	if err != nil {
		return ans, err
	}
	if code/100 != 2 {
		return ans, answerError(path, code, data)
	}
	if code == http.StatusOK && rep.Lean {
		if err := json.Unmarshal(data, &ans); err != nil {
			return ans, fmt.Errorf("POST %s: the answer to a lean report is not JSON: %w", path, err)
		}
	}
	return ans, nil
}

type stats struct{ p50, p95, p99, max, mean time.Duration }

// latencyStats computes nearest-rank percentiles.
func latencyStats(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var total time.Duration
	for _, d := range s {
		total += d
	}
	return stats{p50: rank(0.50), p95: rank(0.95), p99: rank(0.99), max: s[len(s)-1], mean: total / time.Duration(len(s))}
}

// csvHeader names the columns of --csv, those of the reference table of bench/ingest.sh.
var csvHeader = []string{"host_uuid", "update_id", "revision_number", "status", "reason", "installed_at", "last_error", "changed_at"}

// writeCSV writes every status the fleet sent: the reports are regenerated from the seed.
func writeCSV(path string, fl *fleet, uuids []string) (int64, error) {
	fh, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("--csv: %w", err)
	}
	bw := bufio.NewWriterSize(fh, 1<<20)
	n, err := writeRows(bw, fl, uuids)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := fh.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("--csv %s: %w", path, err)
	}
	return n, nil
}

func writeRows(w io.Writer, fl *fleet, uuids []string) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return 0, err
	}
	var n int64
	row := make([]string, len(csvHeader))
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for i, uuid := range uuids {
		rep := fl.report(i)
		for _, u := range rep.Updates {
			row[0], row[1], row[2] = uuid, u.UpdateID, strconv.Itoa(u.RevisionNumber)
			row[3], row[4], row[5] = string(u.Status), string(u.Reason), stamp(u.InstalledAt)
			row[6], row[7] = u.Error, stamp(rep.ScanAt)
			if err := cw.Write(row); err != nil {
				return n, err
			}
			n++
		}
	}
	cw.Flush()
	return n, cw.Error()
}
