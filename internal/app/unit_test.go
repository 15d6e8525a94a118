package app

import (
	"context"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/store"
)

func TestNotifier(t *testing.T) {
	n := NewNotifier()
	a, cancelA := n.Subscribe("a")
	b, cancelB := n.Subscribe("b")
	n.Notify("a")
	n.Notify("a") // never blocks
	select {
	case <-a:
	default:
		t.Error("a not woken")
	}
	select {
	case <-b:
		t.Error("b woken by a's notification")
	default:
	}
	if n.Waiting() != 2 {
		t.Errorf("waiting %d", n.Waiting())
	}
	cancelA()
	cancelB()
	cancelB()
	if n.Waiting() != 0 || len(n.waiters) != 0 {
		t.Errorf("subscriptions left: %v", n.waiters)
	}
}

func TestPasswordRules(t *testing.T) {
	for _, name := range []string{"admin", "jdoe@example.org", "a.b-c_d", "A1"} {
		if err := ValidateUsername(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", "-x", "a b", "a/b", strings.Repeat("a", 65), "é"} {
		if err := ValidateUsername(name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
	for _, bad := range []string{"short", "long enough", strings.Repeat("x", 73), "password1234", "alice-smith1"} {
		if ValidatePassword(bad, "alice-smith") == nil {
			t.Errorf("password %q accepted", bad)
		}
	}
	if err := ValidatePassword("plum-fjord-42-vortex", "alice-smith"); err != nil {
		t.Errorf("good password refused: %v", err)
	}
	for in, want := range map[string]string{"admin": "admin", "Read-Only": "read-only", "readonly": "read-only"} {
		if r, err := ParseRole(in); err != nil || string(r) != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, r, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root) accepted")
	}
}

type nopAudit struct{}

func (nopAudit) AppendAudit(context.Context, store.AuditEntry) (int64, error) { return 0, nil }

type nopUsers struct{ UserStore }

// TestChangesNeedAnAdmin: every changing operation refuses an anonymous caller
// (Unauthenticated) and a read-only user (Forbidden) before touching anything (the
// stores here would panic if called).
func TestChangesNeedAnAdmin(t *testing.T) {
	a, err := New(Deps{Audit: nopAudit{}, Users: nopUsers{}})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(ctx context.Context) error{
		"QueueCommands": func(ctx context.Context) error {
			_, err := a.QueueCommands(ctx, store.CommandScan, []string{"h"})
			return err
		},
		"SyncCab":         a.SyncCab,
		"DownloadMissing": a.DownloadMissing,
		"ForceDownload":   func(ctx context.Context) error { _, err := a.ForceDownload(ctx, nil); return err },
		"DeleteUnused":    func(ctx context.Context) error { _, _, err := a.DeleteUnused(ctx); return err },
		"CheckPromotions": func(ctx context.Context) error { _, err := a.CheckPromotions(ctx); return err },
		"IngestPackage":   func(ctx context.Context) error { _, _, err := a.IngestPackage(ctx, nil, 0); return err },
		"SetPackagePolicy": func(ctx context.Context) error {
			_, err := a.SetPackagePolicy(ctx, "p", "1", PolicyChange{})
			return err
		},
		"Hold":          func(ctx context.Context) error { _, err := a.Hold(ctx, "p", "1", true); return err },
		"DeletePackage": func(ctx context.Context) error { return a.DeletePackage(ctx, "p", "1") },
		"Promote":       func(ctx context.Context) error { _, err := a.Promote(ctx, "p", "1", Promotion{}); return err },
		"AssignPackage": func(ctx context.Context) error {
			_, _, err := a.AssignPackage(ctx, store.PackageAssignment{})
			return err
		},
		"UnassignPackage": func(ctx context.Context) error { return a.UnassignPackage(ctx, store.PackageAssignment{}) },
		"CreateUser":      func(ctx context.Context) error { _, err := a.CreateUser(ctx, NewUser{}); return err },
		"UpdateUser":      func(ctx context.Context) error { _, err := a.UpdateUser(ctx, "u", NewUser{}); return err },
		"DeleteUser":      func(ctx context.Context) error { return a.DeleteUser(ctx, "u") },
	}
	viewer := ContextWithUser(context.Background(), User{Name: "v", Role: store.RoleReadOnly})
	for name, op := range ops {
		if k := KindOf(op(context.Background())); k != Unauthenticated {
			t.Errorf("%s anonymous: kind %v, want Unauthenticated", name, k)
		}
		if k := KindOf(op(viewer)); k != Forbidden {
			t.Errorf("%s read-only: kind %v, want Forbidden", name, k)
		}
	}
}
