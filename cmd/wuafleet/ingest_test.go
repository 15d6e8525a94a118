package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/wu"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestReportIsDeterministicAndValid(t *testing.T) {
	fl, err := newFleet(7, synthPool(7, 300), 150)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[wu.Status]int{}
	total := 0
	for i := range 200 {
		rep := fl.report(i)
		if err := rep.Validate(); err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if len(rep.Updates) != 150 || !rep.Full {
			t.Fatalf("host %d: %d updates, full %v", i, len(rep.Updates), rep.Full)
		}
		seen := map[string]bool{}
		for _, u := range rep.Updates {
			if seen[u.UpdateID] {
				t.Fatalf("host %d reports %s twice", i, u.UpdateID)
			}
			seen[u.UpdateID] = true
			counts[u.Status]++
			total++
			switch {
			case u.Status == wu.StatusDiscarded && u.Reason == "":
				t.Errorf("host %d: DISCARDED without a reason", i)
			case u.Status == wu.StatusError && u.Error == "":
				t.Errorf("host %d: ERROR without an error", i)
			case u.Status == wu.StatusOK && u.InstalledAt.IsZero():
				t.Errorf("host %d: OK without an install date", i)
			}
		}
		again := fl.report(i)
		if diff := cmp.Diff(rep, again); diff != "" {
			t.Fatalf("host %d: report not deterministic (-first +second):\n%s", i, diff)
		}
	}
	want := map[wu.Status]int{wu.StatusOK: mixOK, wu.StatusPending: mixPending, wu.StatusMissing: mixMissing,
		wu.StatusDiscarded: mixDiscarded, wu.StatusError: mixError}
	for s, pm := range want {
		got := counts[s] * 1000 / total
		if got < pm-10 || got > pm+10 {
			t.Errorf("%s: %d per mille, want about %d", s, got, pm)
		}
	}
	if fl.hostUUID(3) != fl.hostUUID(3) || fl.hostUUID(3) == fl.hostUUID(4) || !wu.IsGUID(fl.hostUUID(3)) {
		t.Errorf("host UUIDs: %q %q", fl.hostUUID(3), fl.hostUUID(4))
	}
}

func TestNewFleetRefusesTooSmallPool(t *testing.T) {
	if _, err := newFleet(1, synthPool(1, 10), 11); err == nil || !strings.Contains(err.Error(), "--pool") {
		t.Errorf("pool of 10 for 11 updates per host: %v", err)
	}
}

func TestParseCatalogDump(t *testing.T) {
	dump := `{"update_id":"0b3c3a5e-6e0c-4d5f-9c36-2b8e3b8c1a01","revision_number":201,"revision_id":1,"title":"2024-03 Cumulative Update (KB5035845)","kb":["5035845"],"severity":"Critical","classification":"Security Updates","products":["Windows 10"],"files":[]}

{"update_id":"0b3c3a5e-6e0c-4d5f-9c36-2b8e3b8c1a02","revision_number":3,"title":"` + strings.Repeat("é", 600) + `","kb":[],"severity":"","classification":"Updates","products":[]}
`
	pool, err := parseCatalogDump(strings.NewReader(dump), "dump.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(pool) != 2 {
		t.Fatalf("%d updates, want 2", len(pool))
	}
	want := updateRef{ID: "0b3c3a5e-6e0c-4d5f-9c36-2b8e3b8c1a01", Revision: 201, Title: "2024-03 Cumulative Update (KB5035845)",
		KBs: []string{"KB5035845"}, Severity: wu.SeverityCritical, Classification: "Security Updates", Products: []string{"Windows 10"}}
	if diff := cmp.Diff(want, pool[0]); diff != "" {
		t.Errorf("first update (-want +got):\n%s", diff)
	}
	if title := pool[1].Title; len(title) > 1024 || !strings.HasSuffix(title, "é...") {
		t.Errorf("long title not cut on a character: %d bytes, ends %q", len(title), title[len(title)-8:])
	}

	_, err = parseCatalogDump(strings.NewReader(`{"update_id":"nope","revision_number":1}`), "bad.jsonl")
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl line 1") {
		t.Errorf("bad update id: %v", err)
	}
}

func TestLatencyStats(t *testing.T) {
	tests := []struct {
		desc string
		in   []time.Duration
		want stats
	}{
		{"empty", nil, stats{}},
		{"one", []time.Duration{5}, stats{5, 5, 5, 5, 5}},
		{"hundred", func() []time.Duration {
			var ds []time.Duration
			for i := 100; i >= 1; i-- {
				ds = append(ds, time.Duration(i))
			}
			return ds
		}(), stats{p50: 50, p95: 95, p99: 99, max: 100, mean: 50}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, latencyStats(tt.in), cmp.AllowUnexported(stats{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestIngestAgainstServer runs a small ingest against the real handlers on SQLite and
// checks that the server holds what the CSV says was sent.
func TestIngestAgainstServer(t *testing.T) {
	const secret = "wuafleet-test-secret-0123456789"
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "waptserver.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.WithEnrollmentSecret(secret), server.WithLogger(discard))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	csvPath := filepath.Join(dir, "statuses.csv")
	o := ingestOptions{server: ts.URL, secret: secret, hosts: 12, updates: 25, pool: 40, concurrency: 4,
		csv: csvPath, seed: 3, timeout: 30 * time.Second, lean: true, gzip: true, again: true}
	sum, err := runIngest(ctx, o, discard)
	if err != nil {
		t.Fatal(err)
	}
	// The server knew none of the pool: every update was described once at least (by
	// the first hosts that reported it), far from all 300 statuses; the reports sent again
	// were all answered unchanged.
	if sum.Described < 40 || sum.Described >= 12*25 || sum.AgainUnchanged != 12 || sum.AgainPerSecond <= 0 {
		t.Errorf("lean ingest: described %d, again unchanged %d (%+v)", sum.Described, sum.AgainUnchanged, sum)
	}
	if sum.Statuses != 12*25 || sum.CSVRows != 12*25 || sum.Pool != 40 || sum.ReportsPerSecond <= 0 || sum.P99ms < sum.P50ms {
		t.Errorf("summary: %+v", sum)
	}
	var out bytes.Buffer
	if err := sum.print(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var back summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil || back.Hosts != 12 {
		t.Errorf("last line is not the JSON summary: %q (%v)", lines[len(lines)-1], err)
	}

	fh, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(csvHeader, rows[0]); diff != "" {
		t.Fatalf("CSV header (-want +got):\n%s", diff)
	}
	type key struct{ host, update string }
	sent := map[key][]string{}
	hosts := map[string]bool{}
	for _, r := range rows[1:] {
		sent[key{r[0], r[1]}] = r
		hosts[r[0]] = true
	}
	if len(hosts) != 12 || len(sent) != 12*25 {
		t.Fatalf("CSV: %d hosts, %d distinct statuses", len(hosts), len(sent))
	}
	for h := range hosts {
		got, err := st.HostUpdates(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 25 {
			t.Errorf("host %s: the server holds %d statuses, want 25", h, len(got))
		}
		for _, u := range got {
			if u.Title == "" {
				t.Errorf("host %s update %s: no title: it was not described", h, u.Key.UpdateID)
			}
			r, ok := sent[key{h, u.Key.UpdateID}]
			if !ok {
				t.Errorf("host %s: the server holds %s, not in the CSV", h, u.Key.UpdateID)
				continue
			}
			inst := ""
			if !u.InstalledAt.IsZero() {
				inst = u.InstalledAt.UTC().Format(time.RFC3339)
			}
			want := []string{r[2], r[3], r[4], r[5], r[6]}
			gotRow := []string{strconv.Itoa(u.Key.RevisionNumber), string(u.Status), string(u.Reason), inst, u.LastError}
			if diff := cmp.Diff(want, gotRow); diff != "" {
				t.Errorf("host %s update %s (-csv +server):\n%s", h, u.Key.UpdateID, diff)
			}
		}
	}
}

func TestIngestNamesAWrongSecret(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "waptserver.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(st, server.WithEnrollmentSecret("the-right-secret-0123456789"), server.WithLogger(discard)).Handler())
	t.Cleanup(ts.Close)
	_, err = runIngest(context.Background(), ingestOptions{server: ts.URL, secret: "a-wrong-secret-0123456789", hosts: 3, updates: 5,
		concurrency: 2, seed: 1, timeout: 10 * time.Second}, discard)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "--secret") {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		desc string
		args []string
		want string
	}{
		{"no server", []string{"ingest", "--secret", "s"}, "--server is required"},
		{"bad server", []string{"ingest", "--server", "localhost:8080", "--secret", "s"}, "want an http(s) URL"},
		{"no secret", []string{"ingest", "--server", "http://127.0.0.1:1"}, "--secret is required"},
		{"both sources", []string{"ingest", "--server", "http://127.0.0.1:1", "--secret", "s", "--synthetic", "--catalog", "x"}, "exclude each other"},
		{"missing catalog", []string{"ingest", "--server", "http://127.0.0.1:1", "--secret", "s", "--catalog", "/nonexistent/dump"}, "--catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q, want 1 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}

func TestReadCatalogDumpKeepsARandomSubset(t *testing.T) {
	var dump strings.Builder
	for i := range 50 {
		dump.WriteString(`{"update_id":"0b3c3a5e-6e0c-4d5f-9c36-2b8e3b8c1a` + strconv.Itoa(10+i) + `","revision_number":1,"title":"u","kb":["5035845"]}` + "\n")
	}
	path := filepath.Join(t.TempDir(), "dump.jsonl")
	if err := os.WriteFile(path, []byte(dump.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := readCatalogDump(path, 9, 20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := readCatalogDump(path, 9, 20)
	all, _ := readCatalogDump(path, 9, 0)
	if len(a) != 20 || len(all) != 50 {
		t.Fatalf("pool of 20: %d updates; whole dump: %d", len(a), len(all))
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different pools (-first +second):\n%s", diff)
	}
	ids := map[string]bool{}
	for _, u := range a {
		ids[u.ID] = true
	}
	if len(ids) != 20 {
		t.Errorf("%d distinct updates in a pool of 20", len(ids))
	}
}
