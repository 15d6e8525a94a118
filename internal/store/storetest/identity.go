package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

func testHostApproval(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, 1) // accepted (approval off when it registered)
	reg := func(n int, cred string) (store.Host, error) {
		return s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(n), Name: "new", CredentialID: cred,
			CredentialHash: []byte{1}, At: at(n), Pending: true})
	}
	h2, err := reg(2, "c2")
	if err != nil || !h2.Pending {
		t.Fatalf("pending registration: %+v %v", h2, err)
	}
	if _, err := reg(3, "c3"); err != nil {
		t.Fatal(err)
	}
	// Pending hosts authenticate (the server tells them to wait) but are not listed.
	if h, err := s.HostByCredential(ctx, "c2"); err != nil || !h.Pending {
		t.Errorf("HostByCredential of a pending host: %+v %v", h, err)
	}
	page, err := s.ListHosts(ctx, store.HostFilter{})
	if err != nil || page.Total != 1 || len(page.Hosts) != 1 || page.Hosts[0].UUID != HostUUID(1) {
		t.Errorf("ListHosts with pending hosts = %+v %v", page, err)
	}
	pending, err := s.ListPendingHosts(ctx)
	if err != nil || len(pending) != 2 || pending[0].UUID != HostUUID(2) || pending[1].UUID != HostUUID(3) {
		t.Fatalf("ListPendingHosts = %+v %v", pending, err)
	}
	// A pending host registering again is refused like any registered host.
	_, err = reg(2, "c2b")
	wantErr(t, "pending host registering again", err, store.ErrHostExists)

	h, err := s.AcceptHost(ctx, HostUUID(2), at(10), "admin")
	if err != nil || h.Pending || h.AcceptedBy != "admin" {
		t.Fatalf("AcceptHost = %+v %v", h, err)
	}
	sameTime(t, "AcceptedAt", h.AcceptedAt, at(10))
	_, err = s.AcceptHost(ctx, HostUUID(2), at(11), "admin")
	wantErr(t, "AcceptHost of an accepted host", err, store.ErrNotFound)
	wantErr(t, "RejectHost of an accepted host", s.RejectHost(ctx, HostUUID(1)), store.ErrNotFound)
	if err := s.RejectHost(ctx, HostUUID(3)); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetHost(ctx, HostUUID(3))
	wantErr(t, "GetHost of a rejected host", err, store.ErrNotFound)
	pending, err = s.ListPendingHosts(ctx)
	if err != nil || len(pending) != 0 {
		t.Errorf("ListPendingHosts after accept and reject = %+v %v", pending, err)
	}
	page, _ = s.ListHosts(ctx, store.HostFilter{})
	if page.Total != 2 {
		t.Errorf("ListHosts after accepting = %d hosts, want 2", page.Total)
	}
	// A reset keeps the approval state: an accepted host stays accepted.
	if _, err := s.ResetHost(ctx, HostUUID(2), at(12), "admin"); err != nil {
		t.Fatal(err)
	}
	if h, err := reg(2, "c2c"); err != nil || h.Pending {
		t.Errorf("accepted host registering after a reset: %+v %v", h, err)
	}
}

func testEnrollmentTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, err := s.CreateEnrollmentToken(ctx, "secret-a", store.EnrollmentToken{Label: "lab", CreatedAt: at(0), CreatedBy: "admin", MaxUses: 2})
	if err != nil || a.ID == 0 || a.Label != "lab" || a.MaxUses != 2 || a.Uses != 0 {
		t.Fatalf("CreateEnrollmentToken = %+v %v", a, err)
	}
	b, err := s.CreateEnrollmentToken(ctx, "secret-b", store.EnrollmentToken{Label: "temp", CreatedAt: at(0), ExpiresAt: at(10)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateEnrollmentToken(ctx, "secret-a", store.EnrollmentToken{Label: "dup", CreatedAt: at(1)})
	wantErr(t, "the same token twice", err, store.ErrConflict)
	_, err = s.CreateEnrollmentToken(ctx, "", store.EnrollmentToken{Label: "empty"})
	wantErr(t, "an empty token", err, store.ErrInvalid)
	_, err = s.CreateEnrollmentToken(ctx, "x", store.EnrollmentToken{MaxUses: -1})
	wantErr(t, "negative max uses", err, store.ErrInvalid)

	// Uses are counted and capped.
	for i := 1; i <= 2; i++ {
		u, err := s.UseEnrollmentToken(ctx, "secret-a", at(i))
		if err != nil || u.ID != a.ID || u.Uses != i {
			t.Fatalf("use %d: %+v %v", i, u, err)
		}
	}
	_, err = s.UseEnrollmentToken(ctx, "secret-a", at(3))
	wantErr(t, "a used-up token", err, store.ErrUsedUp)
	_, err = s.UseEnrollmentToken(ctx, "wrong", at(3))
	wantErr(t, "an unknown token", err, store.ErrNotFound)
	// Expiry.
	if _, err := s.UseEnrollmentToken(ctx, "secret-b", at(9)); err != nil {
		t.Fatal(err)
	}
	_, err = s.UseEnrollmentToken(ctx, "secret-b", at(10))
	wantErr(t, "an expired token", err, store.ErrExpired)
	// Revocation, kept at its first time.
	c, _ := s.CreateEnrollmentToken(ctx, "secret-c", store.EnrollmentToken{Label: "c", CreatedAt: at(0)})
	if err := s.RevokeEnrollmentToken(ctx, c.ID, at(5), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeEnrollmentToken(ctx, c.ID, at(6), "bob"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RevokeEnrollmentToken unknown", s.RevokeEnrollmentToken(ctx, 999, at(6), "bob"), store.ErrNotFound)
	_, err = s.UseEnrollmentToken(ctx, "secret-c", at(7))
	wantErr(t, "a revoked token", err, store.ErrRevoked)
	list, err := s.ListEnrollmentTokens(ctx)
	if err != nil || len(list) != 3 || list[0].ID != c.ID || list[2].ID != a.ID {
		t.Fatalf("ListEnrollmentTokens = %+v %v", list, err)
	}
	if list[0].RevokedBy != "alice" || list[1].ID != b.ID || list[1].Uses != 1 || list[2].Uses != 2 {
		t.Errorf("token states: %+v", list)
	}
	sameTime(t, "RevokedAt", list[0].RevokedAt, at(5))
	sameTime(t, "LastUsedAt", list[2].LastUsedAt, at(2))

	// Concurrent uses never exceed the maximum.
	if _, err := s.CreateEnrollmentToken(ctx, "secret-e", store.EnrollmentToken{Label: "race", CreatedAt: at(0), MaxUses: 3}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, usedUp := 0, 0
	for range 12 {
		wg.Go(func() {
			_, err := s.UseEnrollmentToken(ctx, "secret-e", at(1))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrUsedUp):
				usedUp++
			default:
				t.Errorf("concurrent use: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || usedUp != 9 {
		t.Errorf("12 concurrent uses of a 3-use token: %d accepted, %d used up", ok, usedUp)
	}

	// Registration consumes a use in its own transaction: a refused registration none.
	d, _ := s.CreateEnrollmentToken(ctx, "secret-d", store.EnrollmentToken{Label: "one host", CreatedAt: at(0), MaxUses: 1})
	register(t, s, 1)
	_, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(1), Name: "x", CredentialID: "c1x",
		CredentialHash: []byte{1}, At: at(1), EnrollmentToken: "secret-d"})
	wantErr(t, "takeover with a token", err, store.ErrHostExists)
	h, err := s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(2), Name: "two", CredentialID: "c2",
		CredentialHash: []byte{1}, At: at(1), EnrollmentToken: "secret-d"})
	if err != nil || h.UUID != HostUUID(2) {
		t.Fatalf("registration with the token's only use: %v", err)
	}
	_, err = s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(3), Name: "three", CredentialID: "c3",
		CredentialHash: []byte{1}, At: at(1), EnrollmentToken: "secret-d"})
	wantErr(t, "registration with a used-up token", err, store.ErrUsedUp)
	_, err = s.GetHost(ctx, HostUUID(3))
	wantErr(t, "host refused for its token", err, store.ErrNotFound)
	list, _ = s.ListEnrollmentTokens(ctx)
	if list[0].ID != d.ID || list[0].Uses != 1 {
		t.Errorf("uses of the one-host token = %+v", list[0])
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, store.User{Username: u, PasswordHash: "h", Role: store.RoleAdmin, CreatedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	}
	newSession := func(tok, user string, kind store.SessionKind, m int) store.Session {
		t.Helper()
		ss, err := s.CreateSession(ctx, tok, store.Session{Username: user, Kind: kind, CreatedAt: at(m),
			ExpiresAt: at(m + 12*60), IdleTimeout: 30 * time.Minute, Remote: "192.0.2.1", UserAgent: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	a1 := newSession("tok-a1", "alice", store.SessionConsole, 0)
	if a1.ID == 0 || a1.IdleTimeout != 30*time.Minute || a1.Remote != "192.0.2.1" {
		t.Errorf("CreateSession = %+v", a1)
	}
	sameTime(t, "LastSeen of a new session", a1.LastSeen, at(0))
	newSession("tok-a2", "alice", store.SessionAPI, 1)
	b1 := newSession("tok-b1", "bob", store.SessionConsole, 2)
	_, err := s.CreateSession(ctx, "tok-x", store.Session{Username: "nobody", Kind: store.SessionConsole, CreatedAt: at(0), ExpiresAt: at(9), IdleTimeout: time.Minute})
	wantErr(t, "session of an unknown user", err, store.ErrNotFound)
	_, err = s.CreateSession(ctx, "tok-y", store.Session{Username: "alice", Kind: "cookie", CreatedAt: at(0), ExpiresAt: at(9), IdleTimeout: time.Minute})
	wantErr(t, "session of an unknown kind", err, store.ErrInvalid)

	// Lookup records the use (not more than once a minute) and keeps it alive.
	got, err := s.LookupSession(ctx, "tok-a1", at(20))
	if err != nil || got.ID != a1.ID || got.Username != "alice" || got.Kind != store.SessionConsole {
		t.Fatalf("LookupSession = %+v %v", got, err)
	}
	sameTime(t, "LastSeen after a lookup", got.LastSeen, at(20))
	got, _ = s.LookupSession(ctx, "tok-a1", at(20).Add(30*time.Second))
	sameTime(t, "LastSeen within a minute", got.LastSeen, at(20))
	if _, err := s.LookupSession(ctx, "tok-a1", at(49)); err != nil {
		t.Fatalf("lookup within the idle timeout: %v", err)
	}
	_, err = s.LookupSession(ctx, "nope", at(49))
	wantErr(t, "unknown session token", err, store.ErrNotFound)
	// Idle timeout: 30 minutes without use; the expired session is gone.
	_, err = s.LookupSession(ctx, "tok-b1", at(32))
	wantErr(t, "idle session", err, store.ErrExpired)
	_, err = s.LookupSession(ctx, "tok-b1", at(33))
	wantErr(t, "idle session looked up again", err, store.ErrNotFound)
	// Absolute timeout, however active.
	for m := 49 + 25; m < 12*60; m += 25 {
		if _, err := s.LookupSession(ctx, "tok-a1", at(m)); err != nil {
			t.Fatalf("active session at minute %d: %v", m, err)
		}
	}
	_, err = s.LookupSession(ctx, "tok-a1", at(12*60))
	wantErr(t, "session past its absolute expiry", err, store.ErrExpired)

	// Logout, listing, ending a user's sessions.
	newSession("tok-b2", "bob", store.SessionConsole, 700)
	newSession("tok-b3", "bob", store.SessionAPI, 701)
	all, err := s.ListSessions(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("ListSessions = %+v %v", all, err)
	}
	bobs, _ := s.ListSessions(ctx, "bob")
	if len(bobs) != 2 || bobs[0].Kind != store.SessionAPI {
		t.Errorf("ListSessions(bob) = %+v", bobs)
	}
	if err := s.DeleteSessionToken(ctx, "tok-b2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.LookupSession(ctx, "tok-b2", at(702))
	wantErr(t, "session after logout", err, store.ErrNotFound)
	wantErr(t, "logout twice", s.DeleteSessionToken(ctx, "tok-b2"), store.ErrNotFound)
	if err := s.DeleteSession(ctx, bobs[0].ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteSession unknown", s.DeleteSession(ctx, b1.ID), store.ErrNotFound)

	// A password change or a role change ends every session of the user.
	newSession("tok-a3", "alice", store.SessionConsole, 700)
	newSession("tok-b4", "bob", store.SessionConsole, 700)
	if err := s.SetPassword(ctx, "alice", "h2", at(701)); err != nil {
		t.Fatal(err)
	}
	_, err = s.LookupSession(ctx, "tok-a3", at(702))
	wantErr(t, "session after a password change", err, store.ErrNotFound)
	if _, err := s.LookupSession(ctx, "tok-b4", at(702)); err != nil {
		t.Errorf("another user's session after a password change: %v", err)
	}
	if err := s.SetRole(ctx, "bob", store.RoleReadOnly, at(703)); err != nil {
		t.Fatal(err)
	}
	_, err = s.LookupSession(ctx, "tok-b4", at(704))
	wantErr(t, "session after a role change", err, store.ErrNotFound)
	newSession("tok-b5", "bob", store.SessionConsole, 705)
	newSession("tok-b6", "bob", store.SessionAPI, 705)
	if n, err := s.DeleteUserSessions(ctx, "bob"); err != nil || n != 2 {
		t.Errorf("DeleteUserSessions = %d %v", n, err)
	}
	newSession("tok-b7", "bob", store.SessionConsole, 705)
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = s.LookupSession(ctx, "tok-b7", at(706))
	wantErr(t, "session of a deleted user", err, store.ErrNotFound)
	// Housekeeping.
	newSession("tok-a4", "alice", store.SessionConsole, 800)
	newSession("tok-a5", "alice", store.SessionConsole, 900)
	if n, err := s.DeleteExpiredSessions(ctx, at(800+31)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d %v, want 1", n, err)
	}
	if left, _ := s.ListSessions(ctx, ""); len(left) != 1 {
		t.Errorf("sessions after housekeeping: %+v", left)
	}
	if errors.Is(store.ErrExpired, store.ErrNotFound) {
		t.Error("ErrExpired is ErrNotFound")
	}
}
