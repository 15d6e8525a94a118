package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openwua/waptwua/internal/store"
)

// Metrics are the server's Prometheus metrics, on a registry of their own (no global
// state). The handlers update the HTTP and report metrics; the jobs update the download,
// task and cab metrics through the methods below. Every method is safe on a nil
// *Metrics (it does nothing), so a job may hold an optional one.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	reports         *prometheus.CounterVec
	reportDuration  prometheus.Histogram
	reportUpdates   prometheus.Histogram
	registrations   prometheus.Counter
	commandsQueued  *prometheus.CounterVec
	longPolls       prometheus.Gauge
	downloadedBytes prometheus.Counter
	downloads       *prometheus.CounterVec
	tasks           *prometheus.GaugeVec
	queueDepth      prometheus.Gauge
	cabSyncs        *prometheus.CounterVec
	unusedDeleted   prometheus.Counter
	unusedBytes     prometheus.Counter

	mirrors map[string]*prometheus.GaugeVec // by mirrorGauges name

	mu      sync.Mutex
	cabDate time.Time
}

// NewMetrics creates the metrics; now is the clock for the cab age.
func NewMetrics(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: now}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waptserver_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "waptserver_http_request_duration_seconds", Help: "HTTP request latency by route pattern (long-polls included).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"})
	m.reports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waptserver_reports_total", Help: "Agent scan reports received, by result (applied; unchanged: the same as the host's last one, not written; rejected; failed).",
	}, []string{"result"})
	m.reportDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "waptserver_report_duration_seconds", Help: "Time to read, check and store one agent report.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.reportUpdates = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "waptserver_report_updates", Help: "Update statuses per applied report.",
		Buckets: []float64{0, 1, 10, 50, 100, 250, 500, 1000, 5000, 20000},
	})
	m.registrations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "waptserver_host_registrations_total", Help: "Successful agent registrations.",
	})
	m.commandsQueued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waptserver_commands_queued_total", Help: "Commands queued for hosts, by kind.",
	}, []string{"kind"})
	m.longPolls = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "waptserver_command_longpolls", Help: "Agents waiting in a command long-poll now.",
	})
	m.downloadedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "waptserver_upstream_downloaded_bytes_total", Help: "Bytes downloaded from Microsoft (catalog and update files).",
	})
	m.downloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waptserver_upstream_downloads_total", Help: "Update file downloads finished, by result (ok, failed).",
	}, []string{"result"})
	m.tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "waptserver_download_tasks", Help: "Download tasks by state (queued, downloading, done, failed), as last counted by the jobs.",
	}, []string{"state"})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "waptserver_download_queue_depth", Help: "Download tasks waiting for a worker.",
	})
	m.cabSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waptserver_cab_syncs_total", Help: "wsusscn2.cab synchronisations finished, by status (finished, skipped, error).",
	}, []string{"status"})
	m.unusedDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "waptserver_unused_files_deleted_total", Help: "Unused update files removed from the repository.",
	})
	m.unusedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "waptserver_unused_bytes_deleted_total", Help: "Bytes of unused update files removed from the repository.",
	})
	f(m.httpRequests)
	f(m.httpDuration)
	f(m.reports)
	f(m.reportDuration)
	f(m.reportUpdates)
	f(m.registrations)
	f(m.commandsQueued)
	f(m.longPolls)
	f(m.downloadedBytes)
	f(m.downloads)
	f(m.tasks)
	f(m.queueDepth)
	f(m.cabSyncs)
	f(m.unusedDeleted)
	f(m.unusedBytes)
	m.mirrors = map[string]*prometheus.GaugeVec{}
	for _, g := range mirrorGauges {
		m.mirrors[g.name] = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "waptserver_mirror_" + g.name, Help: g.help}, []string{"mirror"})
		f(m.mirrors[g.name])
	}
	f(cabAgeCollector{m})
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CommandQueued counts a command queued for a host (app.Metrics).
func (m *Metrics) CommandQueued(kind store.CommandKind) {
	if m != nil {
		m.commandsQueued.WithLabelValues(string(kind)).Inc()
	}
}

// Registry is where extra collectors go (the jobs may register their own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// AddDownloadedBytes counts n bytes received from Microsoft.
func (m *Metrics) AddDownloadedBytes(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.downloadedBytes.Add(float64(n))
}

// DownloadFinished counts one update file download, successful or not.
func (m *Metrics) DownloadFinished(ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.downloads.WithLabelValues(result).Inc()
}

// SetTaskCounts publishes how many download tasks are in each state given; states
// absent from counts keep their last value. The queued count is also the queue depth.
func (m *Metrics) SetTaskCounts(counts map[store.TaskStatus]int) {
	if m == nil {
		return
	}
	for s, n := range counts {
		m.tasks.WithLabelValues(string(s)).Set(float64(n))
		if s == store.TaskQueued {
			m.queueDepth.Set(float64(n))
		}
	}
}

// SetCabDate records the Last-Modified date of the published wsusscn2.cab:
// waptserver_cab_age_seconds is now minus this date.
func (m *Metrics) SetCabDate(t time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.cabDate = t
	m.mu.Unlock()
}

// CabSyncFinished counts one catalog synchronisation that ended with status.
func (m *Metrics) CabSyncFinished(status store.CabStatus) {
	if m == nil {
		return
	}
	m.cabSyncs.WithLabelValues(string(status)).Inc()
}

// UnusedDeleted counts files removed by the cleanup.
func (m *Metrics) UnusedDeleted(n int, bytes int64) {
	if m == nil {
		return
	}
	m.unusedDeleted.Add(float64(max(n, 0)))
	m.unusedBytes.Add(float64(max(bytes, 0)))
}

func (m *Metrics) observeRequest(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) reportDone(result string, d time.Duration, updates int) {
	if m == nil {
		return
	}
	m.reports.WithLabelValues(result).Inc()
	m.reportDuration.Observe(d.Seconds())
	if result == "applied" {
		m.reportUpdates.Observe(float64(updates))
	}
}

// cabAgeCollector reports the age of the published catalog, only once it is known.
type cabAgeCollector struct{ m *Metrics }

var cabAgeDesc = prometheus.NewDesc("waptserver_cab_age_seconds",
	"Age of the published wsusscn2.cab (now minus its Last-Modified date).", nil, nil)

func (c cabAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cabAgeDesc }

func (c cabAgeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	d := c.m.cabDate
	c.m.mu.Unlock()
	if d.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(cabAgeDesc, prometheus.GaugeValue, c.m.now().Sub(d).Seconds())
}
