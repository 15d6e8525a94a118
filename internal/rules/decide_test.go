package rules

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/wu"
)

const (
	guidA       = "0a1b2c3d-0000-1111-2222-333344445555"
	guidB       = "99999999-8888-7777-6666-555544443333"
	win10ID     = "a3c2375d-0c8a-42f9-bce0-28333e198407"
	securityID  = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
	criticalUID = "e6cf1350-c01b-414d-a61f-263d14d133b4"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// candidate is an update that every step of the decision could name.
func candidate() Candidate {
	return Candidate{
		Key:               wu.UpdateKey{UpdateID: guidA, RevisionNumber: 201},
		KBs:               []string{"5034441"},
		Products:          []string{"Windows 10"},
		ProductIDs:        []string{win10ID},
		Classifications:   []string{"Security Updates"},
		ClassificationIDs: []string{securityID},
		Severity:          wu.SeverityCritical,
	}
}

var now = time.Date(2024, 1, 16, 10, 0, 0, 0, time.UTC)

// TestDecidePrecedence: each row sets the rule of one step and of the next one (which
// would decide otherwise or with another rule) and proves the earlier step wins.
func TestDecidePrecedence(t *testing.T) {
	key := guidA + "_201"
	tests := []struct {
		desc  string
		rules Rules
		want  Decision
	}{
		{
			desc:  "1 forbidden_updates beats 2 forbidden_kbs",
			rules: Rules{ForbiddenUpdates: []string{key}, ForbiddenKBs: []string{"KB5034441"}},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: "forbidden_updates: " + key},
		},
		{
			desc:  "2 forbidden_kbs beats 3 allowed_updates",
			rules: Rules{ForbiddenKBs: []string{"KB5034441"}, AllowedUpdates: []string{key}},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: "forbidden_kbs: KB5034441"},
		},
		{
			desc:  "3 allowed_updates beats 4 allowed_kbs",
			rules: Rules{AllowedUpdates: []string{key}, AllowedKBs: []string{"KB5034441"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_updates: " + key},
		},
		{
			desc:  "4 allowed_kbs beats 5 allowed_products",
			rules: Rules{AllowedKBs: []string{"KB5034441"}, AllowedProducts: []string{"Windows 10"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_kbs: KB5034441"},
		},
		{
			desc:  "5 allowed_products beats 6 allowed_severities",
			rules: Rules{AllowedProducts: []string{"Windows 10"}, AllowedSeverities: []string{"Critical"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_products: Windows 10"},
		},
		{
			desc:  "6 allowed_severities beats 7 allowed_classifications",
			rules: Rules{AllowedSeverities: []string{"Critical"}, AllowedClassifications: []string{"Security Updates"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_severities: Critical"},
		},
		{
			desc:  "7 allowed_classifications beats 8 auto_approve",
			rules: Rules{AllowedClassifications: []string{"Security Updates"}, AutoApprove: []AutoApprove{{Severities: []string{"Critical"}}}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_classifications: Security Updates"},
		},
		{
			desc:  "8 auto_approve beats 9 default_allow false",
			rules: Rules{AutoApprove: []AutoApprove{{Severities: []string{"Critical"}}}, DefaultAllow: no()},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "auto_approve[0]: severities=Critical"},
		},
		{
			desc:  "9 default_allow true",
			rules: Rules{DefaultAllow: yes()},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "default_allow: true"},
		},
		{
			desc:  "9 default_allow false",
			rules: Rules{DefaultAllow: no()},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: false"},
		},
		{
			desc:  "9 default_allow not set is false",
			rules: Rules{},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"},
		},
		{
			desc: "forbidden beats every allow and default_allow",
			rules: Rules{ForbiddenKBs: []string{"kb5034441"}, AllowedUpdates: []string{key}, AllowedKBs: []string{"KB5034441"},
				AllowedProducts: []string{"Windows 10"}, AllowedSeverities: []string{"Critical"},
				AllowedClassifications: []string{"Security Updates"}, AutoApprove: []AutoApprove{{Products: []string{"Windows 10"}}},
				DefaultAllow: yes()},
			want: Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: "forbidden_kbs: KB5034441"},
		},
		{
			desc:  "bare GUID in forbidden_updates names every revision",
			rules: Rules{ForbiddenUpdates: []string{guidA}, DefaultAllow: yes()},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: "forbidden_updates: " + guidA},
		},
		{
			desc:  "another revision is not named",
			rules: Rules{ForbiddenUpdates: []string{guidA + "_202"}, AllowedUpdates: []string{guidA + "_200"}},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"},
		},
		{
			desc:  "update keys compare case-insensitively",
			rules: Rules{AllowedUpdates: []string{"0A1B2C3D-0000-1111-2222-333344445555_201"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_updates: 0A1B2C3D-0000-1111-2222-333344445555_201"},
		},
		{
			desc:  "products by GUID",
			rules: Rules{AllowedProducts: []string{"A3C2375D-0C8A-42F9-BCE0-28333E198407"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_products: A3C2375D-0C8A-42F9-BCE0-28333E198407"},
		},
		{
			desc:  "classifications by name in any case",
			rules: Rules{AllowedClassifications: []string{"security updates"}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_classifications: security updates"},
		},
		{
			desc:  "classifications by GUID",
			rules: Rules{AllowedClassifications: []string{securityID}},
			want:  Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_classifications: " + securityID},
		},
		{
			desc:  "other product, severity and classification do not allow",
			rules: Rules{AllowedProducts: []string{"Windows 11"}, AllowedSeverities: []string{"Low"}, AllowedClassifications: []string{criticalUID, "Drivers"}},
			want:  Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := Decide(tt.rules, candidate(), now, 0)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideNoSeverity(t *testing.T) {
	c := candidate()
	c.Severity = wu.SeverityNone
	got := Decide(Rules{AllowedSeverities: []string{"Critical", "Important", "Moderate", "Low"}}, c, now, 0)
	if got.Allowed {
		t.Errorf("an update without severity was allowed by allowed_severities: %+v", got)
	}
}

func TestDecideInstallDelay(t *testing.T) {
	changed := time.Date(2024, 1, 9, 10, 0, 0, 0, time.UTC)
	const week = 7 * 24 * time.Hour
	deadline := changed.Add(week)
	allow := Rules{AllowedKBs: []string{"KB5034441"}}
	allowed := Decision{Allowed: true, Status: wu.StatusPending, Rule: "allowed_kbs: KB5034441"}
	delayed := Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonDelayed,
		Rule: "install_delay: 7d, until 2024-01-16T10:00:00Z (allowed by allowed_kbs: KB5034441)"}
	tests := []struct {
		desc    string
		rules   Rules
		changed time.Time
		now     time.Time
		delay   time.Duration
		want    Decision
	}{
		{desc: "one second before the deadline", rules: allow, changed: changed, now: deadline.Add(-time.Second), delay: week, want: delayed},
		{desc: "one nanosecond before the deadline", rules: allow, changed: changed, now: deadline.Add(-1), delay: week, want: delayed},
		{desc: "exactly at the deadline", rules: allow, changed: changed, now: deadline, delay: week, want: allowed},
		{desc: "one second after the deadline", rules: allow, changed: changed, now: deadline.Add(time.Second), delay: week, want: allowed},
		{desc: "deadline in another time zone", rules: allow, changed: changed, now: deadline.In(time.FixedZone("CET", 3600)), delay: week, want: allowed},
		{desc: "no delay", rules: allow, changed: changed, now: changed, delay: 0, want: allowed},
		{desc: "negative delay is no delay", rules: allow, changed: changed, now: changed, delay: -week, want: allowed},
		{desc: "unknown change time: no delay", rules: allow, now: changed, delay: week, want: allowed},
		{
			desc: "delay of hours is written as a duration", rules: allow, changed: changed, now: changed, delay: 36 * time.Hour,
			want: Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonDelayed,
				Rule: "install_delay: 36h0m0s, until 2024-01-10T22:00:00Z (allowed by allowed_kbs: KB5034441)"},
		},
		{
			desc: "forbidden stays forbidden inside the delay", rules: Rules{ForbiddenKBs: []string{"KB5034441"}}, changed: changed, now: changed, delay: week,
			want: Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: "forbidden_kbs: KB5034441"},
		},
		{
			desc: "not allowed stays not allowed inside the delay", rules: Rules{}, changed: changed, now: changed, delay: week,
			want: Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := candidate()
			c.LastDeploymentChangeTime = tt.changed
			got := Decide(tt.rules, c, tt.now, tt.delay)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideDeclineSuperseded(t *testing.T) {
	changed := now.Add(-time.Hour)
	tests := []struct {
		desc       string
		rules      Rules
		superseded bool
		delay      time.Duration
		want       Decision
	}{
		{
			desc: "allowed and superseded by an approved update", rules: Rules{DefaultAllow: yes(), DeclineSuperseded: yes()}, superseded: true,
			want: Decision{Status: wu.StatusSuperseded, Rule: "decline_superseded: superseded by an approved update (allowed by default_allow: true)"},
		},
		{
			desc: "superseded beats delayed", rules: Rules{DefaultAllow: yes(), DeclineSuperseded: yes()}, superseded: true, delay: 24 * time.Hour,
			want: Decision{Status: wu.StatusSuperseded, Rule: "decline_superseded: superseded by an approved update (allowed by default_allow: true)"},
		},
		{
			desc: "decline_superseded off", rules: Rules{DefaultAllow: yes(), DeclineSuperseded: no()}, superseded: true,
			want: Decision{Allowed: true, Status: wu.StatusPending, Rule: "default_allow: true"},
		},
		{
			desc: "decline_superseded not set", rules: Rules{DefaultAllow: yes()}, superseded: true,
			want: Decision{Allowed: true, Status: wu.StatusPending, Rule: "default_allow: true"},
		},
		{
			desc: "not superseded", rules: Rules{DefaultAllow: yes(), DeclineSuperseded: yes()},
			want: Decision{Allowed: true, Status: wu.StatusPending, Rule: "default_allow: true"},
		},
		{
			desc: "not allowed stays DISCARDED", rules: Rules{DeclineSuperseded: yes()}, superseded: true,
			want: Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := candidate()
			c.SupersededByApproved = tt.superseded
			c.LastDeploymentChangeTime = changed
			got := Decide(tt.rules, c, now, tt.delay)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideAutoApprove(t *testing.T) {
	secCritical := AutoApprove{Classifications: []string{"Security Updates"}, Severities: []string{"Critical"}}
	win11 := AutoApprove{Products: []string{"Windows 11"}}
	tests := []struct {
		desc    string
		entries []AutoApprove
		mod     func(*Candidate)
		want    string // the rule, "" when not allowed
	}{
		{desc: "all lists of the entry match", entries: []AutoApprove{secCritical},
			want: "auto_approve[0]: classifications=Security Updates; severities=Critical"},
		{desc: "severity differs (AND)", entries: []AutoApprove{secCritical},
			mod: func(c *Candidate) { c.Severity = wu.SeverityImportant }},
		{desc: "classification differs (AND)", entries: []AutoApprove{secCritical},
			mod: func(c *Candidate) { c.Classifications, c.ClassificationIDs = []string{"Updates"}, nil }},
		{desc: "no severity never matches a severity list", entries: []AutoApprove{secCritical},
			mod: func(c *Candidate) { c.Severity = wu.SeverityNone }},
		{desc: "second entry matches (OR)", entries: []AutoApprove{secCritical, win11},
			mod:  func(c *Candidate) { c.Severity, c.Products, c.ProductIDs = wu.SeverityLow, []string{"Windows 11"}, nil },
			want: "auto_approve[1]: products=Windows 11"},
		{desc: "first matching entry is named", entries: []AutoApprove{win11, secCritical, {Products: []string{"windows 10"}}},
			want: "auto_approve[1]: classifications=Security Updates; severities=Critical"},
		{desc: "all three lists", entries: []AutoApprove{{Classifications: []string{securityID}, Products: []string{"Windows 10"}, Severities: []string{"Important", "Critical"}}},
			want: "auto_approve[0]: classifications=" + securityID + "; products=Windows 10; severities=Important, Critical"},
		{desc: "one of several products is enough", entries: []AutoApprove{{Products: []string{"Office 2016", "Windows 10"}}},
			mod:  func(c *Candidate) { c.Products = []string{"Windows Server 2019", "Windows 10"} },
			want: "auto_approve[0]: products=Office 2016, Windows 10"},
		{desc: "an entry with no lists never matches", entries: []AutoApprove{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := candidate()
			if tt.mod != nil {
				tt.mod(&c)
			}
			got := Decide(Rules{AutoApprove: tt.entries}, c, now, 0)
			want := Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: "default_allow: not set (false)"}
			if tt.want != "" {
				want = Decision{Allowed: true, Status: wu.StatusPending, Rule: tt.want}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideKBForms(t *testing.T) {
	tests := []struct {
		rule, have string
		match      bool
	}{
		{"KB5034441", "5034441", true},
		{"kb5034441", "5034441", true},
		{"5034441", "KB5034441", true},
		{" KB5034441 ", "kb5034441", true},
		{"KB5034441", "50344410", false},
		{"KB503444", "5034441", false},
		{"KB5034441x", "5034441", false}, // an invalid entry names nothing
	}
	for _, tt := range tests {
		c := candidate()
		c.KBs = []string{"1234", tt.have}
		got := Decide(Rules{AllowedKBs: []string{tt.rule}}, c, now, 0)
		if got.Allowed != tt.match {
			t.Errorf("allowed_kbs %q vs update KB %q: allowed = %v, want %v (%s)", tt.rule, tt.have, got.Allowed, tt.match, got.Rule)
		}
	}
}

func TestCandidateOf(t *testing.T) {
	u := &wu.Update{UpdateID: guidA, RevisionNumber: 3, KBs: []string{"5034441"}, Severity: wu.SeverityLow,
		Classification: "Security Updates", ClassificationID: securityID, Products: []string{"Windows 10"}, ProductIDs: []string{win10ID}}
	want := Candidate{Key: wu.UpdateKey{UpdateID: guidA, RevisionNumber: 3}, KBs: []string{"5034441"}, Severity: wu.SeverityLow,
		Classifications: []string{"Security Updates"}, ClassificationIDs: []string{securityID}, Products: []string{"Windows 10"}, ProductIDs: []string{win10ID}}
	if diff := cmp.Diff(want, CandidateOf(u)); diff != "" {
		t.Errorf("CandidateOf() mismatch (-want +got):\n%s", diff)
	}
}
