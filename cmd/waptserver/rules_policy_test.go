package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRulesBuildRefusesInvalidPolicy: waptserver rules build refuses a maintenance
// policy the agents would refuse (issue 16), naming the key, and writes no package.
func TestRulesBuildRefusesInvalidPolicy(t *testing.T) {
	f := newRulesFixture(t)
	out := filepath.Join(f.dir, "policy.wapt")
	for _, tt := range []struct{ desc, rules, want string }{
		{"unknown day", `{"maintenance_windows": ["Mo 22:00-23:00"]}`, `maintenance_windows[0].when = "Mo 22:00-23:00": unknown day "mo"`},
		{"window of zero length", `{"maintenance_windows": [{"when": "Tue 22:00-22:00", "reboot": true}]}`,
			`maintenance_windows[0].when = "Tue 22:00-22:00": window of zero length`},
		{"deadline before delay", `{"install_delay_days": 10, "deadline_days": 5}`,
			`deadline_days = "5": the deadline comes before the end of install_delay_days (10)`},
		{"reboot in its own windows, none allows it", `{"maintenance_windows": ["Sat 09:00-12:00"], "reboot": "in_window"}`,
			`reboot = "in_window": no maintenance window allows reboots`},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			in := filepath.Join(f.dir, "policy.json")
			if err := os.WriteFile(in, []byte(tt.rules), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := rulesCLI("rules", "build", in, "--name", "policy", "--version", "1", "-o", out, "--key", f.key, "--cert", f.cert)
			wantFailureLine(t, code, stderr, tt.want)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a package was written: %v", err)
			}
		})
	}
	// A policy whose reboot windows come from another package builds.
	in := filepath.Join(f.dir, "split.json")
	os.WriteFile(in, []byte(`{"reboot": "in_window", "deadline_days": 7}`), 0o600)
	if code, _, stderr := rulesCLI("rules", "build", in, "--name", "policy", "--version", "1", "-o", out, "--key", f.key, "--cert", f.cert); code != 0 {
		t.Fatalf("split policy: exit %d: %s", code, stderr)
	}
}
