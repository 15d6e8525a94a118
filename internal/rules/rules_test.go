package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		desc    string
		in      Rules
		want    Rules
		wantErr string
	}{
		{
			desc: "KB forms, update keys, severities, categories",
			in: Rules{
				AllowedKBs:             []string{"kb5034441", "5034442", " KB5034443 ", "KB5034441"},
				ForbiddenKBs:           []string{"Kb0123"},
				AllowedUpdates:         []string{"0A1B2C3D-0000-1111-2222-333344445555_201", guidB},
				ForbiddenUpdates:       []string{guidA + "_7", guidA + "_7"},
				AllowedProducts:        []string{" Windows 10 ", "windows 10", "A3C2375D-0C8A-42F9-BCE0-28333E198407"},
				AllowedClassifications: []string{"Security Updates"},
				AllowedSeverities:      []string{"critical", "IMPORTANT", "Critical"},
				AutoApprove:            []AutoApprove{{Severities: []string{"low"}}, {Severities: []string{"Low"}}},
				DefaultAllow:           no(),
			},
			want: Rules{
				AllowedKBs:             []string{"KB5034441", "KB5034442", "KB5034443"},
				ForbiddenKBs:           []string{"KB123"},
				AllowedUpdates:         []string{guidA + "_201", guidB},
				ForbiddenUpdates:       []string{guidA + "_7"},
				AllowedProducts:        []string{"Windows 10", win10ID},
				AllowedClassifications: []string{"Security Updates"},
				AllowedSeverities:      []string{"Critical", "Important"},
				AutoApprove:            []AutoApprove{{Severities: []string{"Low"}}},
				DefaultAllow:           no(),
			},
		},
		{desc: "KB with letters", in: Rules{ForbiddenKBs: []string{"KB1", "KB50344x1"}},
			wantErr: `forbidden_kbs[1] = "KB50344x1": not a KB number (want KB followed by digits, e.g. KB5034441)`},
		{desc: "empty KB", in: Rules{AllowedKBs: []string{""}},
			wantErr: `allowed_kbs[0] = "": not a KB number`},
		{desc: "bad update key", in: Rules{AllowedUpdates: []string{"KB5034441"}},
			wantErr: `allowed_updates[0] = "KB5034441": not an update key (want <guid>_<revision>, or a bare <guid> for every revision)`},
		{desc: "bad revision", in: Rules{ForbiddenUpdates: []string{guidA + "_x"}},
			wantErr: `forbidden_updates[0] = "` + guidA + `_x": not an update key`},
		{desc: "bad severity", in: Rules{AllowedSeverities: []string{"Urgent"}},
			wantErr: `allowed_severities[0] = "Urgent": not a severity (want Critical, Important, Moderate or Low)`},
		{desc: "empty product", in: Rules{AllowedProducts: []string{" "}},
			wantErr: `allowed_products[0] = " ": empty name`},
		{desc: "bad auto_approve severity", in: Rules{AutoApprove: []AutoApprove{{Products: []string{"x"}}, {Severities: []string{"Hot"}}}},
			wantErr: `auto_approve[1].severities[0] = "Hot": not a severity`},
		{desc: "empty auto_approve entry", in: Rules{AutoApprove: []AutoApprove{{}}},
			wantErr: `auto_approve[0] = "{}": an auto_approve entry with no classifications, products or severities would approve every update (set default_allow instead)`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Normalize() error = %v, want prefix %q", err, tt.wantErr)
				}
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %T is not a *FieldError", err)
				}
				if tt.in.Validate() == nil {
					t.Error("Validate() = nil, want the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Normalize() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeDoesNotAlias(t *testing.T) {
	in := Rules{DefaultAllow: yes(), AllowedKBs: []string{"KB1"}}
	out, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	*out.DefaultAllow = false
	out.AllowedKBs[0] = "KB2"
	if !*in.DefaultAllow || in.AllowedKBs[0] != "KB1" {
		t.Error("Normalize() result shares memory with its input")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		desc    string
		json    string
		want    Rules
		wantErr string
	}{
		{
			desc: "every key",
			json: `{
  "allowed_updates": ["` + guidA + `_201"],
  "forbidden_updates": ["` + strings.ToUpper(guidB) + `"],
  "allowed_kbs": ["kb5034441"],
  "forbidden_kbs": ["5034442"],
  "allowed_products": ["Windows 10"],
  "allowed_classifications": ["Security Updates", "` + securityID + `"],
  "allowed_severities": ["critical"],
  "default_allow": false,
  "include_potentially_superseded_updates": true,
  "auto_approve": [{"classifications": ["Critical Updates"], "products": [], "severities": ["Important"]}],
  "decline_superseded": true
}`,
			want: Rules{
				AllowedUpdates: []string{guidA + "_201"}, ForbiddenUpdates: []string{guidB},
				AllowedKBs: []string{"KB5034441"}, ForbiddenKBs: []string{"KB5034442"},
				AllowedProducts: []string{"Windows 10"}, AllowedClassifications: []string{"Security Updates", securityID},
				AllowedSeverities: []string{"Critical"}, DefaultAllow: no(), IncludePotentiallySupersededUpdates: yes(),
				AutoApprove:       []AutoApprove{{Classifications: []string{"Critical Updates"}, Severities: []string{"Important"}}},
				DeclineSuperseded: yes(),
			},
		},
		{desc: "empty object", json: ` {} `, want: Rules{}},
		{desc: "nulls are not set", json: `{"default_allow": null, "allowed_kbs": null, "auto_approve": null}`, want: Rules{}},
		{desc: "unknown key", json: `{"allowed_kbs": [], "forbiden_kbs": ["KB1"]}`,
			wantErr: `waptwua_rules.json: unknown key "forbiden_kbs" (known keys: allowed_updates, forbidden_updates,`},
		{desc: "keys are case-sensitive", json: `{"Allowed_KBs": ["KB1"]}`,
			wantErr: `waptwua_rules.json: unknown key "Allowed_KBs"`},
		{desc: "repeated key", json: `{"allowed_kbs": ["KB1"], "allowed_kbs": ["KB2"]}`,
			wantErr: `waptwua_rules.json: allowed_kbs: key repeated (keep one)`},
		{desc: "list of numbers", json: `{"allowed_kbs": [5034441]}`,
			wantErr: `waptwua_rules.json: allowed_kbs: want a list of strings, e.g. ["KB5034441"]`},
		{desc: "string for a list", json: `{"allowed_products": "Windows 10"}`,
			wantErr: `waptwua_rules.json: allowed_products: want a list of strings`},
		{desc: "string for a boolean", json: `{"default_allow": "True"}`,
			wantErr: `waptwua_rules.json: default_allow = "True": want true, false or null`},
		{desc: "invalid entry", json: `{"forbidden_kbs": ["KB5034441", "KBx"]}`,
			wantErr: `waptwua_rules.json: forbidden_kbs[1] = "KBx": not a KB number`},
		{desc: "unknown auto_approve key", json: `{"auto_approve": [{"severity": ["Critical"]}]}`,
			wantErr: `waptwua_rules.json: auto_approve[0]: unknown key "severity" (known keys: classifications, products, severities)`},
		{desc: "auto_approve not a list", json: `{"auto_approve": {"severities": ["Critical"]}}`,
			wantErr: `waptwua_rules.json: auto_approve: want a list of objects`},
		{desc: "auto_approve entry not an object", json: `{"auto_approve": [["Critical"]]}`,
			wantErr: `waptwua_rules.json: auto_approve[0]: want a JSON object, found [`},
		{desc: "empty auto_approve entry", json: `{"auto_approve": [{}]}`,
			wantErr: `waptwua_rules.json: auto_approve[0] = "{}": an auto_approve entry with no classifications`},
		{desc: "a list instead of an object", json: `["KB1"]`,
			wantErr: `waptwua_rules.json: want a JSON object, found [`},
		{desc: "trailing data", json: `{} {}`,
			wantErr: `waptwua_rules.json: data after the JSON object`},
		{desc: "truncated", json: `{"allowed_kbs": ["KB1"`,
			wantErr: `waptwua_rules.json: allowed_kbs: not JSON`},
		{desc: "empty input", json: ``,
			wantErr: `waptwua_rules.json: not JSON: EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := Parse([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUnknownKeyIsErrUnknownKey(t *testing.T) {
	_, err := Parse([]byte(`{"nope": 1}`))
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Parse() error = %v, want errors.Is ErrUnknownKey", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	in := Rules{
		AllowedUpdates: []string{guidA + "_201"}, ForbiddenKBs: []string{"KB5034442"},
		AllowedSeverities: []string{"Critical"}, DefaultAllow: no(),
		AutoApprove: []AutoApprove{{Products: []string{"Windows 10"}}},
	}
	data, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal()) error = %v\n%s", err, data)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(string(data), "include_potentially_superseded_updates") {
		t.Errorf("unset tri-state written:\n%s", data)
	}
}

func TestMerge(t *testing.T) {
	ini := Rules{
		AllowedKBs:        []string{"KB1"},
		AllowedSeverities: []string{"Critical"},
	}
	p1 := Rules{
		AllowedKBs:                          []string{"KB2", "kb1"},
		ForbiddenKBs:                        []string{"KB9"},
		AllowedProducts:                     []string{"Windows 10"},
		IncludePotentiallySupersededUpdates: yes(),
		DeclineSuperseded:                   yes(),
		AutoApprove:                         []AutoApprove{{Severities: []string{"Critical"}}},
	}
	p2 := Rules{
		AllowedKBs:       []string{"3"},
		AllowedProducts:  []string{"windows 10", "Windows 11"},
		ForbiddenUpdates: []string{guidA},
		AutoApprove:      []AutoApprove{{Severities: []string{"critical"}}, {Products: []string{"Office"}}},
	}
	p3 := Rules{
		AllowedKBs:                          []string{"KB2"},
		ForbiddenUpdates:                    []string{strings.ToUpper(guidA), guidB + "_1"},
		AllowedSeverities:                   []string{"Important", "Critical"},
		IncludePotentiallySupersededUpdates: no(),
	}
	got := Merge(ini, p1, p2, p3)
	want := Rules{
		AllowedKBs:                          []string{"KB1", "KB2", "3"},
		ForbiddenKBs:                        []string{"KB9"},
		ForbiddenUpdates:                    []string{guidA, guidB + "_1"},
		AllowedProducts:                     []string{"Windows 10", "Windows 11"},
		AllowedSeverities:                   []string{"Critical", "Important"},
		DefaultAllow:                        no(),
		IncludePotentiallySupersededUpdates: no(),  // p3 overrides p1
		DeclineSuperseded:                   yes(), // p1, nobody later says otherwise
		AutoApprove:                         []AutoApprove{{Severities: []string{"Critical"}}, {Products: []string{"Office"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge() mismatch (-want +got):\n%s", diff)
	}

	// The result shares nothing with the inputs.
	got.AllowedKBs[0] = "changed"
	*got.DeclineSuperseded = false
	got.AutoApprove[0].Severities[0] = "changed"
	if ini.AllowedKBs[0] != "KB1" || !*p1.DeclineSuperseded || p1.AutoApprove[0].Severities[0] != "Critical" {
		t.Error("Merge() result shares memory with its inputs")
	}
}

func TestMergeScalarOverride(t *testing.T) {
	tests := []struct {
		desc     string
		ini      *bool
		packages []*bool
		want     *bool
	}{
		{desc: "nothing set", want: nil},
		{desc: "ini only", ini: yes(), want: yes()},
		{desc: "later package overrides the ini", ini: yes(), packages: []*bool{no()}, want: no()},
		{desc: "last package that sets it wins", packages: []*bool{yes(), no(), nil}, want: no()},
		{desc: "unset package changes nothing", ini: yes(), packages: []*bool{nil, nil}, want: yes()},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var pkgs []Rules
			for _, b := range tt.packages {
				pkgs = append(pkgs, Rules{IncludePotentiallySupersededUpdates: b, DeclineSuperseded: b})
			}
			got := Merge(Rules{IncludePotentiallySupersededUpdates: tt.ini, DeclineSuperseded: tt.ini}, pkgs...)
			if diff := cmp.Diff(tt.want, got.IncludePotentiallySupersededUpdates); diff != "" {
				t.Errorf("include_potentially_superseded_updates mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got.DeclineSuperseded); diff != "" {
				t.Errorf("decline_superseded mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeDefaultAllow(t *testing.T) {
	tests := []struct {
		desc     string
		ini      *bool
		packages []*bool
		want     bool
	}{
		{desc: "ini true beats packages saying false", ini: yes(), packages: []*bool{no(), no(), no()}, want: true},
		{desc: "ini false beats packages saying true", ini: no(), packages: []*bool{yes(), yes(), yes()}, want: false},
		{desc: "ini absent: last package that sets it (true)", packages: []*bool{no(), yes(), nil}, want: true},
		{desc: "ini absent: last package that sets it (false)", packages: []*bool{yes(), nil, no()}, want: false},
		{desc: "ini absent: one package", packages: []*bool{nil, yes(), nil}, want: true},
		{desc: "nothing set: false", packages: []*bool{nil, nil, nil}, want: false},
		{desc: "no package, nothing set: false", want: false},
		{desc: "no package, ini true", ini: yes(), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var pkgs []Rules
			for _, b := range tt.packages {
				pkgs = append(pkgs, Rules{DefaultAllow: b})
			}
			got := Merge(Rules{DefaultAllow: tt.ini}, pkgs...)
			if got.DefaultAllow == nil {
				t.Fatal("Merge() left DefaultAllow unset")
			}
			if *got.DefaultAllow != tt.want {
				t.Errorf("Merge() DefaultAllow = %v, want %v", *got.DefaultAllow, tt.want)
			}
		})
	}
}
