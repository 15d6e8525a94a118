package servertest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/wu"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

const (
	hostA = "4C4C4544-0034-3910-8044-B4C04F4A4D32"
	hostB = "4C4C4544-0035-3910-8044-B4C04F4A4D33"
	hostC = "4C4C4544-0036-3910-8044-B4C04F4A4D34"
	hostD = "4C4C4544-0037-3910-8044-B4C04F4A4D35"
)

func testRegistration(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	req := api.RegisterRequest{UUID: hostA, Name: "pc-1", OS: "Windows 11", AgentVersion: "0.1.0"}

	r := e.Do("POST", api.PathRegister, nil, req)
	Want(t, r, http.StatusUnauthorized, "register without secret")
	r = e.Do("POST", api.PathRegister, Bearer("wrong-secret-0123456789"), req)
	Want(t, r, http.StatusUnauthorized, "register with a bad secret")

	cred := e.Register(hostA)
	r = e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil)
	Want(t, r, http.StatusOK, "rules with the new credential")
	r = e.Report(hostA, cred, sampleReport())
	Want(t, r, http.StatusNoContent, "report with the new credential")

	for _, bad := range []string{"", "nope", cred + "x", strings.Repeat("0", 32) + ".AAAAAAAAAAAAAAAAAAAAAAAA", e.Register(hostB)[:33] + "tampered-secret-xxxxxxxx"} {
		r = e.Do("GET", HostPath(api.PathRules, hostA), Bearer(bad), nil)
		Want(t, r, http.StatusUnauthorized, fmt.Sprintf("rules with credential %q", bad))
	}

	// Registering a registered UUID again (a takeover with the enrollment secret) is
	// refused: the host keeps its credential.
	r = e.Do("POST", api.PathRegister, Bearer(EnrollmentSecret), req)
	Want(t, r, http.StatusConflict, "register a registered UUID again")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusOK, "credential after a refused takeover")

	// Registration bodies are checked field by field.
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"uuid":"../etc","name":"x"}`, "uuid"},
		{`{"uuid":"abc","name":""}`, "name"},
		{`{"uuid":"abc","name":"x","maturity":"no spaces"}`, "maturity"},
		{`{"uuid":"abc","name":"x","groups":[1]}`, "groups[0]"},
		{`{"uuid":"abc","name":"x","extra":1}`, "extra"},
	} {
		r := e.Do("POST", api.PathRegister, Bearer(EnrollmentSecret), tc.body)
		Want(t, r, http.StatusBadRequest, tc.body)
		if got := r.Error(t).Field; got != tc.field {
			t.Errorf("%s: field %q, want %q", tc.body, got, tc.field)
		}
	}
}

func testRegistrationClosed(t *testing.T, open Opener) {
	e := NewEnv(t, open, server.WithEnrollmentSecret(""))
	r := e.Do("POST", api.PathRegister, Bearer(EnrollmentSecret), api.RegisterRequest{UUID: hostA, Name: "pc"})
	Want(t, r, http.StatusForbidden, "register while closed")
	if msg := r.Error(t).Error; !strings.Contains(msg, "enrollment_secret") || !strings.Contains(msg, "waptserver.ini") {
		t.Errorf("message %q does not say how to open registration", msg)
	}
}

func testReportRoundTrip(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report")

	got := e.hostUpdates(hostA)
	want := map[string]string{UpdateA + "_201": "MISSING", UpdateB + "_1": "OK", UpdateC + "_3": "DISCARDED"}
	if len(got) != len(want) {
		t.Fatalf("host updates: %v, want %v", got, want)
	}
	for k, st := range want {
		if got[k]["status"] != st {
			t.Errorf("%s: status %v, want %s", k, got[k]["status"], st)
		}
	}
	if got[UpdateC+"_3"]["reason"] != "forbidden" {
		t.Errorf("discard reason %v, want forbidden", got[UpdateC+"_3"]["reason"])
	}

	r := e.Do("GET", server.AdminPrefix+"/hosts/"+hostA, Viewer, nil)
	Want(t, r, http.StatusOK, "host")
	var hd struct {
		Host struct {
			Name      string         `json:"name"`
			WUAStatus string         `json:"wua_status"`
			Counts    map[string]int `json:"counts"`
			LastScan  time.Time      `json:"last_scan"`
		} `json:"host"`
	}
	r.JSON(t, &hd)
	if hd.Host.WUAStatus != "PENDING_UPDATES" || hd.Host.Counts["missing"] != 1 || hd.Host.Counts["ok"] != 1 || hd.Host.Counts["discarded"] != 1 {
		t.Errorf("host summary %+v", hd.Host)
	}
	if !hd.Host.LastScan.Equal(sampleReport().ScanAt) {
		t.Errorf("last scan %v, want %v", hd.Host.LastScan, sampleReport().ScanAt)
	}

	// The updates the catalog did not know are listed from the report.
	r = e.Do("GET", server.AdminPrefix+"/updates?q=KB5034441", Viewer, nil)
	Want(t, r, http.StatusOK, "updates search")
	var page struct {
		Updates []struct {
			UpdateID     string `json:"update_id"`
			HostsNeeding int    `json:"hosts_needing"`
			Source       string `json:"source"`
		} `json:"updates"`
		Total int `json:"total"`
	}
	r.JSON(t, &page)
	if page.Total != 1 || len(page.Updates) != 1 || page.Updates[0].UpdateID != UpdateA || page.Updates[0].HostsNeeding != 1 {
		t.Errorf("updates page %s", r.Body)
	}

	// gzip-compressed reports are accepted.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"full":false,"wua_status":"OK","updates":[{"update_id":%q,"revision_number":201,"status":"OK"}]}`, UpdateA)
	zw.Close()
	r = do(t, e.HTTP.URL, "POST", HostPath(api.PathReport, hostA), Bearer(cred), buf.Bytes(), http.Header{"Content-Encoding": {"gzip"}})
	Want(t, r, http.StatusNoContent, "gzip report")
	if st := e.hostUpdates(hostA)[UpdateA+"_201"]["status"]; st != "OK" {
		t.Errorf("after gzip report: status %v, want OK", st)
	}
}

func testReportIdempotent(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report 1")
	first := e.hostUpdates(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report 2")
	second := e.hostUpdates(hostA)
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("the same report twice changed the state:\n%v\n%v", first, second)
	}
}

// testLeanReport: a lean report records the statuses of the updates the server knows and
// names the others, which the host sends again described; a report identical to the
// host's last one is answered without any write (its last seen stays).
func testLeanReport(t *testing.T, open Opener) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := NewEnv(t, open, server.WithClock(clock))
	cred := e.Register(hostA)
	lean := func(rep api.Report) api.Report {
		rep.Lean = true
		for i := range rep.Updates {
			u := &rep.Updates[i]
			u.Title, u.KBs, u.Severity, u.Classification, u.Products = "", nil, "", "", nil
		}
		return rep
	}
	send := func(what string, rep api.Report) api.ReportAnswer {
		t.Helper()
		advance(time.Second)
		r := e.Report(hostA, cred, rep)
		if !rep.Lean {
			Want(t, r, http.StatusNoContent, what)
			if r.Header.Get(api.LeanReportsHeader) != "1" {
				t.Errorf("%s: no %s header", what, api.LeanReportsHeader)
			}
			return api.ReportAnswer{}
		}
		Want(t, r, http.StatusOK, what)
		var ans api.ReportAnswer
		r.JSON(t, &ans)
		if !ans.Lean {
			t.Errorf("%s: answer %s does not say lean", what, r.Body)
		}
		return ans
	}
	lastSeen := func() time.Time {
		t.Helper()
		h, err := e.Store.GetHost(context.Background(), hostA)
		if err != nil {
			t.Fatal(err)
		}
		return h.LastSeen
	}

	// The catalog knows nothing yet: every status is refused, and named.
	ans := send("lean report of unknown updates", lean(sampleReport()))
	if len(ans.Describe) != 3 || ans.Unchanged {
		t.Fatalf("answer %+v, want the three updates to describe", ans)
	}
	if got := e.hostUpdates(hostA); len(got) != 0 {
		t.Errorf("statuses of unknown updates were recorded: %v", got)
	}
	// Described, they are recorded (and created from the description).
	described := sampleReport()
	described.Full = false
	send("described statuses", described)
	if got := e.hostUpdates(hostA); len(got) != 3 || got[UpdateA+"_201"]["title"] != "2026-11 Cumulative Update" {
		t.Errorf("after describing: %v", got)
	}
	// Now the lean report is recorded whole; sent again, nothing is written.
	if ans := send("lean report of known updates", lean(sampleReport())); len(ans.Describe) != 0 || ans.Unchanged {
		t.Errorf("answer %+v, want nothing to describe", ans)
	}
	seen := lastSeen()
	if !seen.Equal(now) {
		t.Errorf("last seen %v, want %v", seen, now)
	}
	if ans := send("the same lean report", lean(sampleReport())); !ans.Unchanged {
		t.Errorf("answer %+v, want unchanged", ans)
	}
	if got := lastSeen(); !got.Equal(seen) {
		t.Errorf("an unchanged report wrote the host: last seen %v, want %v", got, seen)
	}
	// A minute later the same report records only when the host was seen.
	advance(time.Minute)
	if ans := send("the same lean report a minute later", lean(sampleReport())); !ans.Unchanged {
		t.Errorf("answer %+v, want unchanged", ans)
	}
	if got := lastSeen(); !got.Equal(now) {
		t.Errorf("last seen %v, want %v", got, now)
	}
	// A field outside the statuses counts too (the schedule, stored apart).
	withSchedule := lean(sampleReport())
	withSchedule.Schedule = &api.ScheduleReport{PastDeadline: 2}
	if ans := send("the same lean report with a schedule", withSchedule); ans.Unchanged {
		t.Errorf("answer %+v: a new schedule was taken for an unchanged report", ans)
	}
	// A change is recorded.
	changed := lean(sampleReport())
	changed.Updates[0].Status = wu.StatusOK
	if ans := send("a changed lean report", changed); ans.Unchanged || len(ans.Describe) != 0 {
		t.Errorf("answer %+v, want applied", ans)
	}
	if st := e.hostUpdates(hostA)[UpdateA+"_201"]["status"]; st != "OK" {
		t.Errorf("status %v, want OK", st)
	}
	// Another host's lean report of the same updates: all known.
	credB := e.Register(hostB)
	r := e.Report(hostB, credB, lean(sampleReport()))
	Want(t, r, http.StatusOK, "lean report of host B")
	var ansB api.ReportAnswer
	r.JSON(t, &ansB)
	if len(ansB.Describe) != 0 {
		t.Errorf("host B: answer %s, want nothing to describe", r.Body)
	}
	// The counts of the unchanged path come from the metrics.
	r = e.Do("GET", "/metrics", nil, nil)
	Want(t, r, http.StatusOK, "metrics")
	if !strings.Contains(string(r.Body), `waptserver_reports_total{result="unchanged"} 2`) {
		t.Errorf("metrics do not count 2 unchanged reports")
	}
}

func testPartialReport(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "full report")

	partial := api.Report{WUAStatus: "READY", Updates: []api.UpdateStatus{{UpdateID: UpdateA, RevisionNumber: 201, Status: wu.StatusPending}}}
	Want(t, e.Report(hostA, cred, partial), http.StatusNoContent, "partial report")
	got := e.hostUpdates(hostA)
	if len(got) != 3 || got[UpdateA+"_201"]["status"] != "PENDING" || got[UpdateB+"_1"]["status"] != "OK" {
		t.Errorf("after a partial report: %v", got)
	}

	full := api.Report{Full: true, WUAStatus: "OK", Updates: []api.UpdateStatus{{UpdateID: UpdateB, RevisionNumber: 1, Status: wu.StatusOK}}}
	Want(t, e.Report(hostA, cred, full), http.StatusNoContent, "full report 2")
	got = e.hostUpdates(hostA)
	if len(got) != 1 || got[UpdateB+"_1"]["status"] != "OK" {
		t.Errorf("after a full report of one update: %v", got)
	}
}

func testCrossHost(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	credA := e.Register(hostA)
	e.Register(hostB)
	for _, c := range []struct{ method, path string }{
		{"POST", HostPath(api.PathReport, hostB)},
		{"GET", HostPath(api.PathCommands, hostB)},
		{"POST", HostPath(api.PathCommandResult, hostB, "1")},
		{"GET", HostPath(api.PathRules, hostB)},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]any{}
		}
		r := e.Do(c.method, c.path, Bearer(credA), body)
		Want(t, r, http.StatusForbidden, "host A: "+c.method+" "+c.path)
	}
	if got := e.hostUpdates(hostB); len(got) != 0 {
		t.Errorf("host B has statuses after host A's attempt: %v", got)
	}
}

func testReportTooLarge(t *testing.T, open Opener) {
	e := NewEnv(t, open, server.WithMaxReportBytes(2048))
	cred := e.Register(hostA)
	rep := sampleReport()
	rep.LastError = strings.Repeat("x", 3000)
	r := e.Report(hostA, cred, rep)
	Want(t, r, http.StatusRequestEntityTooLarge, "large report")
	if !strings.Contains(r.Error(t).Error, "max_report_bytes") {
		t.Errorf("413 message %q does not name max_report_bytes", r.Body)
	}
	// A gzip bomb is measured after decompression.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"full":false,"wua_status":"OK","last_error":"%s","updates":[]}`, strings.Repeat("y", 1<<20))
	zw.Close()
	r = do(t, e.HTTP.URL, "POST", HostPath(api.PathReport, hostA), Bearer(cred), buf.Bytes(), http.Header{"Content-Encoding": {"gzip"}})
	Want(t, r, http.StatusRequestEntityTooLarge, "gzip bomb")
	// Within the limit it passes.
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "normal report")
}

func testMalformedReport(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	u := func(extra string) string {
		return fmt.Sprintf(`{"full":true,"wua_status":"OK","updates":[{"update_id":%q,"revision_number":1,"status":"OK"},{"update_id":%q,"revision_number":1,"status":"OK"%s}]}`,
			UpdateA, UpdateB, extra)
	}
	tests := []struct {
		desc, body, field string
	}{
		{"status of the wrong type", fmt.Sprintf(`{"updates":[{"update_id":%q,"status":5}]}`, UpdateA), "updates[0].status"},
		{"unknown status", fmt.Sprintf(`{"updates":[{"update_id":%q,"status":"INSTALLED"}]}`, UpdateA), "updates[0].status"},
		{"second update's revision", strings.Replace(u(""), `"revision_number":1,"status":"OK"}]`, `"revision_number":"1","status":"OK"}]`, 1), "updates[1].revision_number"},
		{"unknown field", u(`,"colour":"blue"`), "updates[1].colour"},
		{"bad time", u(`,"installed_at":"yesterday"`), "updates[1].installed_at"},
		{"not a GUID", `{"updates":[{"update_id":"KB123","status":"OK"}]}`, "updates[0].update_id"},
		{"bad reason", u(`,"reason":"because"`), "updates[1].reason"},
		{"bad KB", u(`,"kb":["KB12x"]`), "updates[1].kb[0]"},
		{"bad severity", u(`,"severity":"Urgent"`), "updates[1].severity"},
		{"syntax error inside an update", fmt.Sprintf(`{"updates":[{"update_id":%q,"status": }]}`, UpdateA), "updates[0].status"},
		{"truncated", `{"full":true,"updates":[{"update_id":"`, "updates[0].update_id"},
		{"top-level type", `{"full":"yes"}`, "full"},
		{"updates not a list", `{"updates":{}}`, "updates"},
		{"duplicate update", fmt.Sprintf(`{"updates":[{"update_id":%q,"status":"OK"},{"update_id":%q,"status":"OK"}]}`, UpdateA, UpdateA), "updates[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := e.Report(hostA, cred, tt.body)
			Want(t, r, http.StatusBadRequest, tt.desc)
			if got := r.Error(t); got.Field != tt.field {
				t.Errorf("field %q (%s), want %q", got.Field, got.Error, tt.field)
			}
		})
	}
	for _, body := range []string{"", "[]", "null x", `{"updates":[]} {}`} {
		r := e.Report(hostA, cred, body)
		Want(t, r, http.StatusBadRequest, fmt.Sprintf("body %q", body))
	}
	if got := e.hostUpdates(hostA); len(got) != 0 {
		t.Errorf("refused reports left statuses: %v", got)
	}
}

// pollResult is what a long-poll gave, and when.
type pollResult struct {
	r  Response
	at time.Time
}

func (e *Env) poll(uuid, cred, wait string) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		r := e.Do("GET", HostPath(api.PathCommands, uuid)+"?wait="+wait, Bearer(cred), nil)
		ch <- pollResult{r, time.Now()}
	}()
	return ch
}

func commandsOf(t *testing.T, r Response) []api.Command {
	t.Helper()
	Want(t, r, http.StatusOK, "commands")
	var c api.Commands
	r.JSON(t, &c)
	if c.Commands == nil {
		t.Fatalf("commands: %s: want a list, never null", r.Body)
	}
	return c.Commands
}

func testLongPollWakes(t *testing.T, open Opener) {
	// The store poll is slow here: only the in-process notification can be quick.
	e := NewEnv(t, open, server.WithCommandPollInterval(time.Hour))
	cred := e.Register(hostA)
	ch := e.poll(hostA, cred, "20s")
	time.Sleep(200 * time.Millisecond) // let the poll start waiting
	trigger := time.Now()
	r := e.Do("POST", server.AdminPrefix+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": "install"})
	Want(t, r, http.StatusAccepted, "trigger install")
	select {
	case res := <-ch:
		latency := res.at.Sub(trigger)
		t.Logf("long-poll answered %v after the trigger request started", latency)
		if latency > 500*time.Millisecond {
			t.Errorf("long-poll answered %v after the trigger, want ~100ms", latency)
		}
		cmds := commandsOf(t, res.r)
		if len(cmds) != 1 || cmds[0].Kind != api.CommandInstall || cmds[0].ID == "" {
			t.Errorf("commands %+v", cmds)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long-poll did not return after the trigger")
	}
	// Fetched commands are not given again.
	if cmds := commandsOf(t, e.Do("GET", HostPath(api.PathCommands, hostA), Bearer(cred), nil)); len(cmds) != 0 {
		t.Errorf("second fetch: %+v", cmds)
	}
}

func testLongPollTimeout(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	start := time.Now()
	res := <-e.poll(hostA, cred, "300ms")
	d := res.at.Sub(start)
	if cmds := commandsOf(t, res.r); len(cmds) != 0 {
		t.Errorf("commands %+v, want none", cmds)
	}
	if d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("empty long-poll took %v, want about 300ms", d)
	}
	// No wait: an immediate answer.
	if cmds := commandsOf(t, e.Do("GET", HostPath(api.PathCommands, hostA), Bearer(cred), nil)); len(cmds) != 0 {
		t.Errorf("commands %+v", cmds)
	}
	for _, bad := range []string{"-1s", "soon"} {
		r := e.Do("GET", HostPath(api.PathCommands, hostA)+"?wait="+bad, Bearer(cred), nil)
		Want(t, r, http.StatusBadRequest, "wait="+bad)
		if f := r.Error(t).Field; f != "wait" {
			t.Errorf("wait=%s: field %q", bad, f)
		}
	}
}

// testLongPollOtherReplica: a command queued through another server on the same store
// reaches a host waiting on this one through the periodic store poll.
func testLongPollOtherReplica(t *testing.T, open Opener) {
	st := open(t)
	a := newEnvOn(t, st, server.WithCommandPollInterval(100*time.Millisecond))
	b := newEnvOn(t, st)
	cred := a.Register(hostA)
	ch := a.poll(hostA, cred, "20s")
	time.Sleep(150 * time.Millisecond)
	Want(t, b.Do("POST", server.AdminPrefix+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": "scan"}), http.StatusAccepted, "trigger on replica b")
	select {
	case res := <-ch:
		if cmds := commandsOf(t, res.r); len(cmds) != 1 || cmds[0].Kind != api.CommandScan {
			t.Errorf("commands %+v", cmds)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command queued on another replica did not reach the long-poll")
	}
}

func testLongPollShutdown(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	ch := e.poll(hostA, cred, "30s")
	time.Sleep(150 * time.Millisecond)
	e.Server.Shutdown()
	select {
	case res := <-ch:
		if cmds := commandsOf(t, res.r); len(cmds) != 0 {
			t.Errorf("commands %+v", cmds)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not release the long-poll")
	}
}

func testCommandResult(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Do("POST", server.AdminPrefix+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": "scan"}), http.StatusAccepted, "queue")
	// Clicking twice queues once.
	Want(t, e.Do("POST", server.AdminPrefix+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": "scan"}), http.StatusAccepted, "queue again")
	cmds := commandsOf(t, e.Do("GET", HostPath(api.PathCommands, hostA), Bearer(cred), nil))
	if len(cmds) != 1 {
		t.Fatalf("commands %+v, want one", cmds)
	}
	Want(t, e.Do("POST", HostPath(api.PathCommandResult, hostA, cmds[0].ID), Bearer(cred), api.CommandResult{OK: false, Message: "0x80240022 WU_E_ALL_UPDATES_FAILED"}),
		http.StatusNoContent, "result")
	Want(t, e.Do("POST", HostPath(api.PathCommandResult, hostA, "999999"), Bearer(cred), api.CommandResult{OK: true}), http.StatusNotFound, "unknown command")
	Want(t, e.Do("POST", HostPath(api.PathCommandResult, hostA, "abc"), Bearer(cred), api.CommandResult{OK: true}), http.StatusNotFound, "non-numeric command")

	r := e.Do("GET", server.AdminPrefix+"/hosts/"+hostA+"/commands", Viewer, nil)
	Want(t, r, http.StatusOK, "host commands")
	var body struct {
		Commands []struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Actor  string `json:"actor"`
		} `json:"commands"`
	}
	r.JSON(t, &body)
	if len(body.Commands) != 1 || body.Commands[0].Status != "failed" || !strings.Contains(body.Commands[0].Error, "0x80240022") || body.Commands[0].Actor != AdminUser {
		t.Errorf("commands %s", r.Body)
	}
}

func testBulkCommands(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	credA, credB := e.Register(hostA), e.Register(hostB)
	r := e.Do("POST", server.AdminPrefix+"/commands", Admin, map[string]any{"kind": "download", "hosts": []string{hostA, "no-such-host"}})
	Want(t, r, http.StatusNotFound, "bulk with an unknown host")
	if f := r.Error(t).Field; f != "hosts[1]" {
		t.Errorf("field %q, want hosts[1]", f)
	}
	if cmds := commandsOf(t, e.Do("GET", HostPath(api.PathCommands, hostA), Bearer(credA), nil)); len(cmds) != 0 {
		t.Errorf("a refused bulk request queued %+v", cmds)
	}
	r = e.Do("POST", server.AdminPrefix+"/commands", Admin, map[string]any{"kind": "reboot", "hosts": []string{hostA}})
	Want(t, r, http.StatusBadRequest, "bulk with a bad kind")
	if f := r.Error(t).Field; f != "kind" {
		t.Errorf("field %q, want kind", f)
	}
	Want(t, e.Do("POST", server.AdminPrefix+"/commands", Admin, map[string]any{"kind": "download", "hosts": []string{hostA, hostB}}), http.StatusAccepted, "bulk")
	for uuid, cred := range map[string]string{hostA: credA, hostB: credB} {
		if cmds := commandsOf(t, e.Do("GET", HostPath(api.PathCommands, uuid), Bearer(cred), nil)); len(cmds) != 1 || cmds[0].Kind != api.CommandDownload {
			t.Errorf("%s: %+v", uuid, cmds)
		}
	}
}
