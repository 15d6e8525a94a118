package agent

import (
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// classify passes rules.Decide whether a successor of the scan is approved, so that
// decline_superseded declines an update exactly when its successor is approved.
func TestClassifyDeclineSuperseded(t *testing.T) {
	now := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	yes, no := true, false
	old := mkUpdate(1, "5000001", wu.SeverityImportant)
	successor := mkUpdate(2, "5000002", wu.SeverityImportant, supersedes(guid(1)))
	installedSuccessor := mkUpdate(2, "5000002", wu.SeverityImportant, supersedes(guid(1)), installed)
	tests := []struct {
		desc  string
		rules rules.Rules
		scan  []wua.Update
		want  wu.Status // of KB5000001
		rule  string
	}{
		{desc: "successor allowed, decline_superseded on", scan: []wua.Update{old, successor},
			rules: rules.Rules{DefaultAllow: &yes, DeclineSuperseded: &yes}, want: wu.StatusSuperseded,
			rule: "decline_superseded: superseded by an approved update (allowed by default_allow: true)"},
		{desc: "successor installed, decline_superseded on", scan: []wua.Update{old, installedSuccessor},
			rules: rules.Rules{AllowedKBs: []string{"KB5000001"}, DeclineSuperseded: &yes}, want: wu.StatusSuperseded},
		{desc: "successor forbidden, decline_superseded on: the old one stays installable", scan: []wua.Update{old, successor},
			rules: rules.Rules{DefaultAllow: &yes, DeclineSuperseded: &yes, ForbiddenKBs: []string{"KB5000002"}}, want: wu.StatusPending},
		{desc: "successor not allowed, decline_superseded on", scan: []wua.Update{old, successor},
			rules: rules.Rules{AllowedKBs: []string{"KB5000001"}, DeclineSuperseded: &yes}, want: wu.StatusPending},
		{desc: "successor forbidden, decline_superseded off: WUA's view", scan: []wua.Update{old, successor},
			rules: rules.Rules{DefaultAllow: &yes, DeclineSuperseded: &no, ForbiddenKBs: []string{"KB5000002"}}, want: wu.StatusSuperseded},
		{desc: "no successor", scan: []wua.Update{old},
			rules: rules.Rules{DefaultAllow: &yes, DeclineSuperseded: &yes}, want: wu.StatusPending},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := byKB(classify(tt.scan, tt.rules, now, 0, nil, nil))["KB5000001"]
			if got.Status != tt.want {
				t.Errorf("KB5000001: %s (%s), want %s", got.Status, got.Rule, tt.want)
			}
			if tt.rule != "" && got.Rule != tt.rule {
				t.Errorf("rule %q, want %q", got.Rule, tt.rule)
			}
		})
	}
}
