package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

func testCabHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []int64
	for i := range 3 {
		c, err := s.AddCabSync(ctx, store.CabSync{StartedAt: at(i * 1440), Status: store.CabDownloading, Reason: store.CabReasonNewerAvailable})
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == 0 {
			t.Fatal("AddCabSync returned no id")
		}
		ids = append(ids, c.ID)
	}
	upd := store.CabSync{ID: ids[2], UpdatedAt: at(2900), CabDate: at(-60), Size: 650_000_000, SHA1: SHA1('c', 1),
		Status: store.CabError, Reason: store.CabReasonForced, Error: "signature check failed"}
	if err := s.UpdateCabSync(ctx, upd); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UpdateCabSync unknown", s.UpdateCabSync(ctx, store.CabSync{ID: 9999, Status: store.CabFinished}), store.ErrNotFound)
	list, err := s.LatestCabSyncs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Fatalf("LatestCabSyncs(2) = %+v", list)
	}
	got := list[0]
	if got.Status != store.CabError || got.Reason != store.CabReasonForced || got.Size != upd.Size || got.SHA1 != upd.SHA1 || got.Error != upd.Error {
		t.Errorf("updated cab sync = %+v", got)
	}
	sameTime(t, "StartedAt", got.StartedAt, at(2880))
	sameTime(t, "UpdatedAt", got.UpdatedAt, at(2900))
	sameTime(t, "CabDate", got.CabDate, at(-60))
	sameTime(t, "UpdatedAt of a new row", list[1].UpdatedAt, at(1440))
	for _, st := range []store.CabStatus{store.CabChecking, store.CabImporting, store.CabFinished, store.CabSkipped} {
		c := list[1]
		c.Status, c.Reason = st, store.CabReasonFileMissing
		if err := s.UpdateCabSync(ctx, c); err != nil {
			t.Errorf("status %s: %v", st, err)
		}
	}
}

func testCommands(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, 1)
	register(t, s, 2)
	scan, err := s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(1), Kind: store.CommandScan, Actor: "admin", CreatedAt: at(1)})
	if err != nil {
		t.Fatal(err)
	}
	if scan.ID == 0 || scan.Status != store.CommandPending || scan.HostUUID != HostUUID(1) || scan.Actor != "admin" {
		t.Errorf("queued %+v", scan)
	}
	sameTime(t, "CreatedAt", scan.CreatedAt, at(1))
	dup, err := s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(1), Kind: store.CommandScan, CreatedAt: at(2)})
	if err != nil || dup.ID != scan.ID {
		t.Errorf("second scan: %v id %d, want the pending %d", err, dup.ID, scan.ID)
	}
	inst, err := s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(1), Kind: store.CommandInstall, Args: `{"force":true}`, CreatedAt: at(3)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(2), Kind: store.CommandDownload, CreatedAt: at(3)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(9), Kind: store.CommandScan})
	wantErr(t, "QueueCommand unknown host", err, store.ErrNotFound)
	_, err = s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(1), Kind: "reboot"})
	wantErr(t, "QueueCommand unknown kind", err, store.ErrInvalid)

	got, err := s.FetchCommands(ctx, HostUUID(1), at(4), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != scan.ID || got[1].ID != inst.ID || got[1].Args != `{"force":true}` || got[0].Status != store.CommandSent {
		t.Fatalf("FetchCommands = %+v", got)
	}
	sameTime(t, "SentAt", got[0].SentAt, at(4))
	if got[0].Deliveries != 1 || !got[0].AckedAt.IsZero() {
		t.Errorf("first delivery: %+v", got[0])
	}
	got, err = s.FetchCommands(ctx, HostUUID(1), at(5), time.Hour)
	if err != nil || len(got) != 0 {
		t.Fatalf("second FetchCommands = %v %v, want none", got, err)
	}
	// At least once: the scan is acknowledged, the install is not and comes again once
	// the delay has passed (not before).
	if err := s.AckCommand(ctx, HostUUID(1), scan.ID, at(5)); err != nil {
		t.Fatal(err)
	}
	if err := s.AckCommand(ctx, HostUUID(1), scan.ID, at(6)); err != nil { // idempotent
		t.Fatal(err)
	}
	wantErr(t, "AckCommand of another host's command", s.AckCommand(ctx, HostUUID(2), scan.ID, at(6)), store.ErrNotFound)
	got, err = s.FetchCommands(ctx, HostUUID(1), at(63), time.Hour)
	if err != nil || len(got) != 0 {
		t.Fatalf("FetchCommands before the redelivery delay = %v %v, want none", got, err)
	}
	got, err = s.FetchCommands(ctx, HostUUID(1), at(64), time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != inst.ID || got[0].Deliveries != 2 {
		t.Fatalf("redelivery = %+v %v, want the install command, delivered twice", got, err)
	}
	sameTime(t, "SentAt of the redelivery", got[0].SentAt, at(64))
	if !got[0].Due(at(64+60), time.Hour) || got[0].Due(at(64+59), time.Hour) {
		t.Errorf("Due of a sent command: wrong around the redelivery delay")
	}
	again, err := s.QueueCommand(ctx, store.Command{HostUUID: HostUUID(1), Kind: store.CommandScan, CreatedAt: at(6)})
	if err != nil || again.ID == scan.ID {
		t.Errorf("scan after the first was sent: %v id %d", err, again.ID)
	}
	if err := s.CompleteCommand(ctx, HostUUID(1), scan.ID, at(7), "42 updates", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteCommand(ctx, HostUUID(1), inst.ID, at(8), "", "0x80070005 access denied"); err != nil {
		t.Fatal(err)
	}
	// A repeated result (the agent's answer was lost) changes nothing.
	if err := s.CompleteCommand(ctx, HostUUID(1), scan.ID, at(9), "other", ""); err != nil {
		t.Fatalf("CompleteCommand again: %v", err)
	}
	got, err = s.FetchCommands(ctx, HostUUID(1), at(300), time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != again.ID {
		t.Fatalf("FetchCommands after the results = %+v %v, want only the new scan", got, err)
	}
	wantErr(t, "CompleteCommand of another host's command", s.CompleteCommand(ctx, HostUUID(2), scan.ID, at(9), "", ""), store.ErrNotFound)
	list, err := s.ListCommands(ctx, HostUUID(1), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != again.ID || list[1].ID != inst.ID || list[2].ID != scan.ID {
		t.Fatalf("ListCommands = %+v", list)
	}
	if list[2].Status != store.CommandDone || list[2].Result != "42 updates" || list[1].Status != store.CommandFailed ||
		list[1].Error != "0x80070005 access denied" || list[0].Status != store.CommandSent {
		t.Errorf("command states: %+v", list)
	}
	sameTime(t, "FinishedAt", list[2].FinishedAt, at(7))
	sameTime(t, "AckedAt (explicit ack)", list[2].AckedAt, at(5))
	sameTime(t, "AckedAt (by the result)", list[1].AckedAt, at(8))
	if err := s.DeleteHost(ctx, HostUUID(1)); err != nil {
		t.Fatal(err)
	}
	list, err = s.ListCommands(ctx, HostUUID(1), 10)
	if err != nil || len(list) != 0 {
		t.Errorf("commands of a deleted host: %v %v", list, err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: "$argon2id$v=19$x", Role: store.RoleAdmin, CreatedAt: at(1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{Username: "bob", PasswordHash: "$2a$10$y", Role: store.RoleReadOnly, CreatedAt: at(2)}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateUser taken", s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: "h", Role: store.RoleAdmin}), store.ErrConflict)
	wantErr(t, "CreateUser bad role", s.CreateUser(ctx, store.User{Username: "carol", PasswordHash: "h", Role: "root"}), store.ErrInvalid)
	u, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "$argon2id$v=19$x" || u.Role != store.RoleAdmin {
		t.Errorf("GetUser = %+v", u)
	}
	sameTime(t, "UpdatedAt of a new user", u.UpdatedAt, at(1))
	if err := s.SetPassword(ctx, "alice", "new-hash", at(5)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, "alice", store.RoleReadOnly, at(6)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetRole bad role", s.SetRole(ctx, "alice", "root", at(6)), store.ErrInvalid)
	u, _ = s.GetUser(ctx, "alice")
	if u.PasswordHash != "new-hash" || u.Role != store.RoleReadOnly {
		t.Errorf("after changes: %+v", u)
	}
	sameTime(t, "UpdatedAt", u.UpdatedAt, at(6))
	sameTime(t, "CreatedAt", u.CreatedAt, at(1))
	wantErr(t, "SetPassword unknown", s.SetPassword(ctx, "zed", "h", at(1)), store.ErrNotFound)
	wantErr(t, "SetRole unknown", s.SetRole(ctx, "zed", store.RoleAdmin, at(1)), store.ErrNotFound)
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Username != "alice" || users[1].Username != "bob" {
		t.Errorf("ListUsers = %+v", users)
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "bob"), store.ErrNotFound)
	_, err = s.GetUser(ctx, "bob")
	wantErr(t, "GetUser deleted", err, store.ErrNotFound)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []int64
	for i := range 7 {
		actor := "alice"
		if i%2 == 1 {
			actor = "bob"
		}
		id, err := s.AppendAudit(ctx, store.AuditEntry{At: at(i), Actor: actor, Action: "download", Target: fmt.Sprint("kb", i), Details: `{"n":1}`})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	list, err := s.ListAudit(ctx, store.AuditFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != ids[6] || list[2].ID != ids[4] || list[0].Target != "kb6" || list[0].Details != `{"n":1}` {
		t.Fatalf("ListAudit = %+v", list)
	}
	sameTime(t, "At", list[0].At, at(6))
	list, err = s.ListAudit(ctx, store.AuditFilter{Limit: 3, BeforeID: list[2].ID})
	if err != nil || len(list) != 3 || list[0].ID != ids[3] {
		t.Fatalf("second audit page = %+v %v", list, err)
	}
	list, err = s.ListAudit(ctx, store.AuditFilter{Actor: "bob"})
	if err != nil || len(list) != 3 {
		t.Fatalf("bob's entries = %+v %v", list, err)
	}
	list, err = s.ListAudit(ctx, store.AuditFilter{Target: "kb2", Action: "download"})
	if err != nil || len(list) != 1 || list[0].ID != ids[2] {
		t.Fatalf("entries on kb2 = %+v %v", list, err)
	}
}

func testLocker(t *testing.T, s store.Store) {
	ctx := context.Background()
	release, ok, err := s.TryLock(ctx, "cab-sync")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	if _, ok, err := s.TryLock(ctx, "cab-sync"); err != nil || ok {
		t.Fatalf("TryLock while held: ok %v err %v, want not acquired", ok, err)
	}
	other, ok, err := s.TryLock(ctx, "missing-files")
	if err != nil || !ok {
		t.Fatalf("TryLock of another name: %v %v", ok, err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	again, ok, err := s.TryLock(ctx, "cab-sync")
	if err != nil || !ok {
		t.Fatalf("TryLock after release: %v %v", ok, err)
	}
	for _, r := range []func(context.Context) error{again, other} {
		if err := r(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
