package server

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// keysOf returns the top-level JSON keys of v.
func keysOf(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestWireContract pins the JSON keys of the admin API's answers (fully populated
// values): the wire types of internal/api/admin are the contract, whatever the store's
// types become. A change here is a change of the public API (docs/openapi.yaml).
func TestWireContract(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	one := 1
	s := &Server{now: func() time.Time { return at }}
	pkg := store.RulesPackage{Name: "p", Version: "1", Filename: "p_1.wapt", SHA256: "x", Size: 1, Maturity: store.MaturityPreprod,
		Description: "d", Signer: "s", SignerFingerprint: "f", SignatureDate: at, TargetGroups: []string{"g"}, PromoteAfterDays: 1,
		PromoteMinSuccessPct: 1, Rules: json.RawMessage(`{}`), Verified: true, VerifyError: "e", UploadedAt: at, UploadedBy: "u",
		PackagePolicy: store.PackagePolicy{Priority: 1, Hold: true, PromoteAfterDays: &one, PromoteMinSuccessPct: &one},
		PromotedAt:    at, PromotedBy: "u", LastCheck: store.PromotionCheck{At: at, RingHosts: 1, SuccessHosts: 1, Note: "n"}}
	for _, tt := range []struct {
		name string
		v    any
		want []string
	}{
		{"user", wireUser(store.User{Username: "u", PasswordHash: "secret", Role: store.RoleAdmin, CreatedAt: at, UpdatedAt: at}),
			[]string{"created_at", "role", "updated_at", "username"}},
		{"command", wireCommand(store.Command{ID: 1, HostUUID: "h", Kind: store.CommandScan, Args: "a", Actor: "u", Status: store.CommandSent,
			CreatedAt: at, SentAt: at, FinishedAt: at, Result: "r", Error: "e"}),
			[]string{"actor", "args", "created_at", "error", "finished_at", "host_uuid", "id", "kind", "result", "sent_at", "status"}},
		{"audit", wireAudit(store.AuditEntry{ID: 1, At: at, Actor: "a", Action: "b", Target: "c", Details: "d"}),
			[]string{"action", "actor", "at", "details", "id", "target"}},
		{"host", wireHost(store.Host{UUID: "h", Name: "n", OS: "o", Groups: []string{"g"}, Maturity: "PROD", AgentVersion: "1",
			CredentialID: "id", CredentialHash: []byte("x"), RegisteredAt: at, WUAStatus: "OK", LastSeen: at, LastScan: at,
			RebootPending: true, LastError: "e", Packages: []store.HostPackage{{Name: "p"}}}),
			[]string{"agent_version", "counts", "groups", "last_error", "last_scan", "last_seen", "maturity", "name", "os", "packages",
				"reboot_pending", "registered_at", "uuid", "wua_status"}},
		{"host with its site facts", wireHost(store.Host{UUID: "h", Networks: []string{"10.1.2.3/24"}, Repository: "http://m/waptwua/", RepositoryAt: at}),
			[]string{"agent_version", "counts", "groups", "maturity", "name", "networks", "os",
				"reboot_pending", "registered_at", "repository", "repository_at", "uuid", "wua_status"}},
		{"site", wireSite(app.SiteView{Site: store.Site{Name: "Lyon", Position: 1, Repositories: []string{"https://m"}, Networks: []string{"10.1.0.0/16"},
			Groups: []string{"g"}, Hosts: []string{"h"}, CreatedAt: at, UpdatedAt: at, UpdatedBy: "u"}, HostsAssigned: 2}),
			[]string{"created_at", "groups", "hosts", "hosts_assigned", "name", "networks", "position", "repositories", "updated_at", "updated_by"}},
		{"package", s.wirePackage(pkg, []store.PackageAssignment{{Package: "p", Kind: store.AssignGroup, Target: "g"}}),
			[]string{"assignments", "description", "filename", "hold", "kind", "last_check", "maturity", "name", "offered_maturity",
				"policy_promote_after_days", "policy_promote_min_success_pct", "priority", "promote_after_days",
				"promote_min_success_pct", "promoted_at", "promoted_by", "rollout", "rules", "sha256", "signature_date", "signer",
				"signer_fingerprint", "size", "target_groups", "uploaded_at", "uploaded_by", "verified", "verify_error", "version"}},
		{"task", wireTask(store.DownloadTask{ID: 1, FileSHA1: "s", FileName: "f", URL: "u", Size: 1, Bytes: 1, Status: store.TaskFailed,
			Attempts: 1, Error: "e", Worker: "w", CreatedAt: at, StartedAt: at, FinishedAt: at, UpdatedAt: at}),
			[]string{"attempts", "bytes", "created_at", "error", "file_name", "file_sha1", "finished_at", "id", "size", "started_at",
				"status", "updated_at", "url", "worker"}},
		{"cab sync", wireCabSync(store.CabSync{ID: 1, StartedAt: at, UpdatedAt: at, CabDate: at, Size: 1, SHA1: "s",
			Status: store.CabFinished, Reason: "r", Error: "e"}),
			[]string{"cab_date", "error", "id", "reason", "sha1", "size", "started_at", "status", "updated_at"}},
		{"host schedule", wireHostSchedule(store.HostSchedule{ReportedAt: at, NextWindowStart: at, NextWindowEnd: at, NextDeadline: at,
			PastDeadline: 1, Reboot: "ask", RebootAt: at, RebootSince: at, Postponed: 1, PolicyError: "e", Lines: []string{"l"},
			Events: []store.ScheduleEvent{{At: at, Kind: "held", Text: "t"}}}),
			[]string{"events", "lines", "next_deadline", "next_window_end", "next_window_start", "past_deadline", "policy_error",
				"postponed", "reboot", "reboot_at", "reboot_since", "reported_at"}},
		{"host detail", admin.HostDetail{Schedule: wireHostSchedule(store.HostSchedule{ReportedAt: at})},
			[]string{"commands", "host", "schedule"}},
		{"update", wireUpdate(store.UpdateInfo{Update: wu.Update{UpdateID: "u"}, Source: "catalog", DownloadedOn: at, Superseded: true,
			HostsNeeding: 1, HostsInstalled: 1, ImportedAt: at, ChangedAt: at, FileStates: []store.UpdateFile{{}}}),
			nil}, // checked below: wu.Update's keys plus the server's
	} {
		got := keysOf(t, tt.v)
		if tt.want == nil {
			for _, k := range []string{"update_id", "source", "downloaded_on", "superseded", "hosts_needing", "hosts_installed",
				"imported_at", "changed_at", "file_states"} {
				if !slices.Contains(got, k) {
					t.Errorf("%s: key %q missing from %v", tt.name, k, got)
				}
			}
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: JSON keys\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}
