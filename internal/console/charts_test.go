package console

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/storetest"
	"github.com/openwua/waptwua/internal/wu"
)

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 1: 1, 3: 5, 7: 10, 12: 20, 180: 200, 501: 1000, 1000: 1000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestDayIndex(t *testing.T) {
	day0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	days := []time.Time{day0, day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 2)}
	for _, tt := range []struct {
		at   time.Time
		want int
	}{
		{day0.Add(-time.Hour), 0},
		{day0.Add(time.Hour), 0},
		{day0.AddDate(0, 0, 1), 0}, // the end of day 0
		{day0.AddDate(0, 0, 1).Add(time.Second), 1},
		{day0.AddDate(0, 0, 2).Add(23 * time.Hour), 2},
		{day0.AddDate(0, 0, 5), 3},
	} {
		if got := dayIndex(days, tt.at); got != tt.want {
			t.Errorf("dayIndex(%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

func TestCharts(t *testing.T) {
	day0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var pts []dayValue
	for i := range 10 {
		v := float64(i * 3)
		if i < 3 {
			v = noData
		}
		pts = append(pts, dayValue{Day: day0.AddDate(0, 0, i), Value: v})
	}
	line := string(timeChart(pts, chartOpts{Kind: chartLine, Class: "s-ok", Label: `a "label" <x>`}).html)
	if strings.Count(line, `<path class="line`) != 1 || strings.Count(line, "<circle") != 7 || strings.Contains(line, "<x>") {
		t.Errorf("line chart: %s", line)
	}
	bars := string(timeChart(pts, chartOpts{Kind: chartBars, Class: "s-install"}).html)
	if n := strings.Count(bars, "<rect"); n != 7 { // days 3 to 9
		t.Errorf("bar chart: %d bars, want 7", n)
	}
	empty := string(timeChart(nil, chartOpts{}).html)
	if !strings.HasPrefix(empty, "<svg") || !strings.HasSuffix(empty, "</svg>") {
		t.Errorf("empty chart: %s", empty)
	}
	stack := string(stackedBar([]segment{{Label: "<ok>", Value: 3, Class: "b-ok"}, {Label: "zero", Value: 0}, {Label: "err", Value: 1, Class: "b-error"}}, 100, 10).html)
	if strings.Count(stack, "<rect") != 3 || !strings.Contains(stack, "&lt;ok&gt;: 3 (75%)") || strings.Contains(stack, "zero") {
		t.Errorf("stacked bar: %s", stack)
	}
}

// TestFleetHistory checks the reconstruction of the dashboard's history from one host's
// statuses.
func TestFleetHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	us, cats := storetest.Catalog(4)
	_, err := e.st.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf(us), Categories: cats, At: testNow})
	must(t, err)
	day := 24 * time.Hour
	_, err = e.st.RegisterHost(ctx, store.HostRegistration{UUID: "h1", Name: "h1", CredentialID: "c1", CredentialHash: []byte("x"), At: testNow.Add(-10 * day)})
	must(t, err)
	must(t, e.st.ApplyReport(ctx, "h1", store.Report{At: testNow.Add(-3 * day), ScanAt: testNow.Add(-3 * day), Full: true, Updates: []store.ReportedUpdate{
		{Key: us[0].Key(), Status: wu.StatusOK, InstalledAt: testNow.Add(-3 * day)},
	}}))
	must(t, e.st.ApplyReport(ctx, "h1", store.Report{At: testNow.Add(-1 * day), Updates: []store.ReportedUpdate{
		{Key: us[1].Key(), Status: wu.StatusMissing},
	}}))
	c, err := newConsole(Deps{Store: e.st, App: testApp(t, e.st, nil, nil)}, WithClock(func() time.Time { return testNow }), WithLocation(time.UTC), WithLogger(quiet))
	must(t, err)
	h, err := c.fleetHistory(httptest.NewRequest("GET", "/", nil))
	must(t, err)
	last := historyDays - 1 // today
	want := map[int]struct {
		pending   int
		compliant float64
		installs  int
	}{
		last - 11: {0, noData, 0}, // not registered yet
		last - 10: {1, 0, 0},      // registered: the update installed later waits
		last - 4:  {1, 0, 0},
		last - 3:  {0, 100, 1}, // installed that day
		last - 2:  {0, 100, 0},
		last - 1:  {1, 0, 0}, // MISSING since yesterday
		last:      {1, 0, 0},
	}
	for i, w := range want {
		if h.Pending[i] != w.pending || h.Compliance[i] != w.compliant || h.Installs[i] != w.installs {
			t.Errorf("day %d (%s): pending %d, compliance %v, installs %d; want %+v", i, h.Days[i].Format("01-02"),
				h.Pending[i], h.Compliance[i], h.Installs[i], w)
		}
	}
}
