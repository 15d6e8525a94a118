package config

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseDuration: never panics; an accepted value is not negative, agrees with a
// floating-point reading of the same text, and survives FormatDuration exactly.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"", "7d", "1.5", "12h", "30s", "10m", "2w", "3x", "-1d", "NaN", "1e9", ".5h", "106752d", "0.000000001s", " 7 d "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "not a duration") {
				t.Fatalf("ParseDuration(%q) error %q does not say what is wrong", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v < 0", s, d)
		}
		num, unit := strings.TrimSpace(s), 24*time.Hour
		if num != "" {
			if u := durationUnit(num[len(num)-1]); u != 0 {
				num, unit = strings.TrimSpace(num[:len(num)-1]), u
			}
			x, perr := strconv.ParseFloat(num, 64)
			if perr != nil {
				t.Fatalf("ParseDuration(%q) accepted a number strconv refuses: %v", s, perr)
			}
			want := x * float64(unit)
			if math.Abs(float64(d)-want) > want*1e-12+1 {
				t.Fatalf("ParseDuration(%q) = %d ns, float reading %f ns", s, d, want)
			}
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, FormatDuration(d), back, err)
		}
	})
}

// FuzzParseAgent: never panics; errors name the file; accepted values keep the
// invariants the agent relies on.
func FuzzParseAgent(f *testing.F) {
	for _, name := range []string{"testdata/seed-en.ini", "testdata/seed-rst.ini"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[global]\nrepo_url = https://srv/wapt\nverify_cert = ca.pem\n[waptwua]\nallowed_kbs = KB1,\n  kb2\ninstall_delay = 1.5\n"))
	f.Add([]byte("[DEFAULT]\nenabled = 1\n[waptwua]\nforbidden_updates = 0a1b2c3d-0000-1111-2222-333344445555_3\n"))
	f.Add([]byte("[waptwua]\ninstall_delay = 3x\nenabled = maybe\n[waptwua]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const source = "fuzz.ini"
		a, err := ParseAgent(data, source)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, source) {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		w := a.WUA
		for _, d := range []time.Duration{w.DownloadScheduling, w.InstallScheduling, w.InstallDelay, w.PostbootDelay} {
			if d < 0 {
				t.Fatalf("negative duration %v", d)
			}
		}
		if w.Filter == "" || w.UserLocale < 1 || w.UserLocale > 0xFFFF || len(a.Global.Maturities) == 0 {
			t.Fatalf("invariant broken: %+v %+v", w, a.Global)
		}
		for _, kb := range append(append([]string(nil), a.Rules.AllowedKBs...), a.Rules.ForbiddenKBs...) {
			if !strings.HasPrefix(kb, "KB") || len(kb) < 3 || strings.Trim(kb[2:], "0123456789") != "" {
				t.Fatalf("KB %q not normalized", kb)
			}
		}
		for _, s := range a.Rules.AllowedSeverities {
			switch s {
			case "Critical", "Important", "Moderate", "Low":
			default:
				t.Fatalf("severity %q not normalized", s)
			}
		}
		for _, l := range [][]string{a.Rules.AllowedUpdates, a.Rules.ForbiddenUpdates, a.Rules.AllowedProducts, a.Rules.AllowedClassifications} {
			for _, v := range l {
				if v == "" || strings.TrimSpace(v) != v || strings.ContainsAny(v, ",\n") {
					t.Fatalf("list item %q not clean", v)
				}
			}
		}
		if a.Global.RepoURL != "" || a.Global.WaptServer != "" {
			u, err := a.WUARepoURL()
			if err != nil || !strings.HasSuffix(u, "wua/") {
				t.Fatalf("WUARepoURL() = %q, %v", u, err)
			}
		}
	})
}
