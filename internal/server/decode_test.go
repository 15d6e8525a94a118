package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
)

func TestDecodeStrictNamesTheField(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-00000000000a"
	tests := []struct {
		desc, body, field string
	}{
		{"type error in a list", `{"updates":[{"status":"OK"},{"status":5}]}`, "updates[1].status"},
		{"unknown top-level field", `{"fulll":true}`, "fulll"},
		{"unknown nested field", `{"updates":[{"x":1}]}`, "updates[0].x"},
		{"bad time", `{"scan_at":"2026-13-45"}`, "scan_at"},
		{"number too big", `{"updates":[{"revision_number":1e40}]}`, "updates[0].revision_number"},
		{"string list of numbers", `{"updates":[{"kb":["1", 2]}]}`, "updates[0].kb[1]"},
		{"syntax: missing value", `{"updates":[{"update_id":"` + id + `","status":}]}`, "updates[0].status"},
		{"syntax: missing comma", `{"full":true "updates":[]}`, ""},
		{"syntax: after a complete member", `{"full":true,}`, ""},
		{"syntax: second element", `{"updates":[{"status":"OK"},{"status" "OK"}]}`, "updates[1].status"},
		{"syntax: unterminated", `{"packages":["a",`, "packages[0]"},
		{"not an object", `"report"`, ""},
		{"trailing data", `{} {}`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var rep api.Report
			err := decodeStrict([]byte(tt.body), &rep, reportLimits(1<<20))
			var he *httpError
			if !errors.As(err, &he) || he.status != 400 {
				t.Fatalf("error %v, want a 400", err)
			}
			if he.field != tt.field {
				t.Errorf("field %q (%s), want %q", he.field, he.msg, tt.field)
			}
			if strings.Contains(he.msg, "Go struct") || strings.Contains(he.msg, "wu.") {
				t.Errorf("message shows Go internals: %q", he.msg)
			}
		})
	}
}

func TestDecodeStrictAcceptsValid(t *testing.T) {
	body := `{"full":true,"scan_at":"2026-11-20T10:00:00Z","wua_status":"OK","Reboot_Pending":true,
		"updates":[{"update_id":"0a1b2c3d-0000-4000-8000-00000000000a","revision_number":2,"status":"OK","kb":["KB1"]}]}`
	var rep api.Report
	if err := decodeStrict([]byte(body), &rep, reportLimits(1<<20)); err != nil {
		t.Fatal(err)
	}
	if !rep.Full || !rep.RebootPending || len(rep.Updates) != 1 || rep.Updates[0].RevisionNumber != 2 ||
		!rep.ScanAt.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("decoded %+v", rep)
	}
}

func TestParseWait(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"25s", 25 * time.Second, false},
		{"25", 25 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"1h", api.MaxWait, false},
		{"1e300", api.MaxWait, false},
		{"-1s", 0, true},
		{"-3", 0, true},
		{"NaN", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		got, err := parseWait(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseWait(%q) = %v, %v; want %v, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestHostCredential(t *testing.T) {
	id, cred, hash := newHostCredential()
	got, ok := parseHostCredential(cred)
	if !ok || got != id {
		t.Fatalf("parse %q: %q %v", cred, got, ok)
	}
	if !credentialMatches(cred, hash) {
		t.Error("credential does not match its own hash")
	}
	if credentialMatches(cred+"x", hash) || credentialMatches(cred, hash[:8]) {
		t.Error("a wrong credential matches")
	}
	for _, bad := range []string{"", ".", id, id + ".", "zz" + id[2:] + ".abcdefghijklmnopqrstuvwxyz", strings.Repeat("a", 300)} {
		if _, ok := parseHostCredential(bad); ok {
			t.Errorf("parseHostCredential(%q) accepted", bad)
		}
	}
}

// FuzzDecodeReport: no input makes the report decoder panic, and every refusal is a
// 400 or 413.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{
		`{"full":true,"updates":[{"update_id":"0a1b2c3d-0000-4000-8000-00000000000a","status":"OK"}]}`,
		`{"updates":[{"status":5}]}`, `{"updates":[{`, `[[[[[[`, `{"a":{"b":[1,{"c":null}]}}`, `"\u0000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep api.Report
		err := decodeStrict(data, &rep, reportLimits(1<<20))
		if err == nil {
			_ = rep.Validate()
			if _, err := storeReport(&rep, time.Time{}); err != nil {
				var he *httpError
				if !errors.As(err, &he) || he.status != 400 {
					t.Fatalf("storeReport: %v", err)
				}
			}
			return
		}
		var he *httpError
		if !errors.As(err, &he) || he.status != 400 {
			t.Fatalf("error %v is not a 400", err)
		}
		_ = fmt.Sprint(he)
	})
}
