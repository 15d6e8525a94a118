package rules

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse: Parse never panics; what it accepts is normalized (Normalize changes
// nothing), survives Marshal and Parse unchanged, and can be decided.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"allowed_kbs": ["kb1"], "default_allow": true}`))
	f.Add([]byte(`{"forbidden_updates": ["` + guidA + `_2", "` + guidB + `"], "allowed_severities": ["low"]}`))
	f.Add([]byte(`{"auto_approve": [{"classifications": ["Security Updates"], "severities": ["Critical"]}], "decline_superseded": false}`))
	f.Add([]byte(`{"allowed_products": ["Windows 10", null]}`))
	f.Add([]byte(`{"a": {"b": [1, 2, {"c": null}]}}`))
	f.Add([]byte(`{"maintenance_windows": ["mon-fri 22:00-4:00", {"when": "patch_tuesday+3d 20:00-23:59", "reboot": true}], "reboot": "ask", "max_postpone": 2}`))
	f.Add([]byte(`{"pause_until": {"Feature Packs": "2027-01-15", "*": "2026-12-31T08:00"}, "pause_days": 3, "deadline_days": 7, "install_delay_days": 2, "active_hours": "08:00-18:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		n, err := r.Normalize()
		if err != nil {
			t.Fatalf("Normalize() of parsed rules: %v", err)
		}
		if diff := cmp.Diff(r, n); diff != "" {
			t.Fatalf("Normalize() is not idempotent (-parsed +normalized):\n%s", diff)
		}
		out, err := Marshal(r)
		if err != nil {
			t.Fatalf("Marshal() error = %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal()) error = %v\n%s", err, out)
		}
		if diff := cmp.Diff(r, back); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
		_ = Decide(Merge(r, r), candidate(), time.Unix(0, 0), time.Hour)
	})
}
