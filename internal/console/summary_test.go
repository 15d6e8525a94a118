package console

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/storetest"
	"github.com/openwua/waptwua/internal/wu"
)

// TestSummaryMatchesBuckets: the dashboard's counts by state (store.SummarizeHosts, one
// query) are what bucketOf gives host by host.
func TestSummaryMatchesBuckets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	us, cats := storetest.Catalog(3)
	_, err := e.st.ImportCatalog(ctx, store.CatalogImport{Updates: store.UpdatesOf(us), Categories: cats, At: testNow})
	must(t, err)
	statuses := []wu.Status{wu.StatusOK, wu.StatusMissing, wu.StatusPending, wu.StatusError}
	for i := range 40 {
		uuid := fmt.Sprintf("host-%02d", i)
		_, err := e.st.RegisterHost(ctx, store.HostRegistration{UUID: uuid, Name: uuid, CredentialID: "c" + uuid, CredentialHash: []byte("x"), At: testNow.Add(-30 * 24 * time.Hour)})
		must(t, err)
		if i%7 == 0 {
			continue // never reported
		}
		r := store.Report{At: testNow.Add(-time.Duration(i%9) * 24 * time.Hour), RebootPending: i%5 == 0, WUAStatus: "OK"}
		if i%11 == 0 {
			r.WUAStatus = "DISK_SPACE_ERROR"
		}
		if i%6 != 0 {
			r.ScanAt = r.At
		}
		for j := range us {
			st := wu.StatusOK
			if j == 0 {
				st = statuses[i%4]
			}
			r.Updates = append(r.Updates, store.ReportedUpdate{Key: us[j].Key(), Status: st})
		}
		must(t, e.st.ApplyReport(ctx, uuid, r))
	}
	c, err := newConsole(Deps{Store: e.st, App: testApp(t, e.st, nil, nil)}, WithClock(func() time.Time { return testNow }), WithLocation(time.UTC), WithLogger(quiet))
	must(t, err)
	hosts, _, err := c.allHosts(httptest.NewRequest("GET", "/", nil), 1000)
	must(t, err)
	want := map[string]int{}
	missing := 0
	for i := range hosts {
		want[bucketOf(&hosts[i], testNow)]++
		missing += hosts[i].Counts.Missing
	}
	got, err := e.st.SummarizeHosts(ctx, testNow.Add(-staleAfter))
	must(t, err)
	if !maps.Equal(got.States, want) || got.Hosts != len(hosts) || got.MissingStatuses != missing || len(want) < 6 {
		t.Errorf("summary %+v, want states %v (%d hosts, %d missing)", got, want, len(hosts), missing)
	}
}
