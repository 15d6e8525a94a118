package app

import (
	"strings"
	"testing"
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
	if ValidatePassword("short") == nil || ValidatePassword(strings.Repeat("x", 73)) == nil || ValidatePassword("long enough") != nil {
		t.Error("password length rules")
	}
	h, err := HashPassword("long enough", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "long enough") || CheckPassword(h, "long enougH") || CheckPassword("", "") {
		t.Error("CheckPassword")
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
