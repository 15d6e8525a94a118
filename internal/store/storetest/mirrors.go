package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

func testMirrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateEnrollmentToken(ctx, "mirror-token", store.EnrollmentToken{Label: "sites", CreatedAt: at(0), MaxUses: 2}); err != nil {
		t.Fatal(err)
	}
	reg := func(name, cred, token, rotate string, min int) (store.Mirror, error) {
		return s.RegisterMirror(ctx, store.MirrorRegistration{Name: name, Site: "lyon", URL: "http://m/" + name, CredentialID: cred,
			CredentialHash: []byte(cred + "-hash"), EnrollmentToken: token, Rotate: rotate, At: at(min)})
	}
	m, err := reg("lyon-1", "c1", "mirror-token", "", 1)
	if err != nil || m.ID == 0 || m.Name != "lyon-1" || m.Site != "lyon" || m.URL != "http://m/lyon-1" || !m.UpdatedAt.IsZero() {
		t.Fatalf("RegisterMirror = %+v %v", m, err)
	}
	sameTime(t, "RegisteredAt", m.RegisteredAt, at(1))
	// The token is counted in the registration.
	_, err = reg("lyon-2", "c2", "wrong-token", "", 2)
	wantErr(t, "an unknown token", err, store.ErrNotFound)
	if _, err := reg("lyon-2", "c2", "mirror-token", "", 2); err != nil {
		t.Fatal(err)
	}
	_, err = reg("lyon-3", "c3", "mirror-token", "", 3)
	wantErr(t, "a used-up token", err, store.ErrUsedUp)
	// A name is taken unless the current credential is proven; a credential id is unique.
	_, err = reg("lyon-1", "c9", "", "", 4)
	wantErr(t, "the same name again", err, store.ErrMirrorExists)
	_, err = reg("lyon-1", "c9", "", "c2", 4)
	wantErr(t, "rotation with another mirror's credential", err, store.ErrMirrorExists)
	_, err = reg("lyon-4", "c1", "", "", 4)
	wantErr(t, "another mirror's credential id", err, store.ErrConflict)
	_, err = reg("", "c5", "", "", 4)
	wantErr(t, "no name", err, store.ErrInvalid)
	if m, err = reg("lyon-1", "c1b", "", "c1", 5); err != nil || m.CredentialID != "c1b" {
		t.Fatalf("rotation = %+v %v", m, err)
	}
	_, err = s.MirrorByCredential(ctx, "c1")
	wantErr(t, "the rotated credential", err, store.ErrNotFound)
	got, err := s.MirrorByCredential(ctx, "c1b")
	if err != nil || got.ID != m.ID || string(got.CredentialHash) != "c1b-hash" {
		t.Fatalf("MirrorByCredential = %+v %v", got, err)
	}
	// A mirror credential is not a host credential.
	_, err = s.HostByCredential(ctx, "c1b")
	wantErr(t, "HostByCredential of a mirror credential", err, store.ErrNotFound)

	st := store.MirrorState{Status: "lagging", Version: "v1", LastSync: at(6), FilesHeld: 3, BytesHeld: 3000, FilesMissing: 1,
		BytesMissing: 100, Lag: 90 * time.Second, LastError: "boom", RequestsServed: 7, BytesServed: 70000, BytesSynced: 3100,
		SyncDuration: 1500 * time.Millisecond}
	if err := s.SetMirrorState(ctx, m.ID, st, at(7)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetMirrorState of an unknown mirror", s.SetMirrorState(ctx, 99999, st, at(7)), store.ErrNotFound)
	ms, err := s.ListMirrors(ctx)
	if err != nil || len(ms) != 2 || ms[0].Name != "lyon-1" || ms[1].Name != "lyon-2" {
		t.Fatalf("ListMirrors = %+v %v", ms, err)
	}
	sameTime(t, "UpdatedAt", ms[0].UpdatedAt, at(7))
	sameTime(t, "LastSync", ms[0].State.LastSync, at(6))
	gotSt := ms[0].State
	gotSt.LastSync = st.LastSync
	if gotSt != st {
		t.Errorf("state = %+v, want %+v", gotSt, st)
	}
	if err := s.DeleteMirror(ctx, "lyon-2"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteMirror again", s.DeleteMirror(ctx, "lyon-2"), store.ErrNotFound)
	_, err = s.MirrorByCredential(ctx, "c2")
	wantErr(t, "credential of a deleted mirror", err, store.ErrNotFound)
}
