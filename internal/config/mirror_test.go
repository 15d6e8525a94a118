package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseMirror(t *testing.T) {
	m, err := ParseMirror([]byte(`[mirror]
main_url = https://wapt.example.com/
scope = needed
sync_window = 20:00-06:00
bandwidth_limit = 10M/s
listen = :8443
data = /srv/mirror
tls_cert = c.pem
tls_key = k.pem
interval = 5m
concurrency = 8
delete_grace = 2d
colour = blue
`), "mirror.ini")
	if err != nil {
		t.Fatal(err)
	}
	if m.MainURL != "https://wapt.example.com" || m.Scope != "needed" || m.SyncWindow.String() != "20:00-06:00" ||
		m.BandwidthLimit != 10<<20 || m.Listen != ":8443" || m.Data != "/srv/mirror" || m.Interval != 5*time.Minute ||
		m.Concurrency != 8 || m.DeleteGrace != 48*time.Hour || m.ScrubInterval != DefaultMirrorScrubInterval {
		t.Errorf("ParseMirror = %+v", m)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "colour") {
		t.Errorf("warnings %q", m.Warnings)
	}
	d, err := ParseMirror(nil, "none")
	if err != nil || d.Scope != "all" || d.Listen != DefaultMirrorListen || d.Data != DefaultMirrorData || d.SyncWindow != nil || d.BandwidthLimit != 0 {
		t.Errorf("defaults = %+v %v", d, err)
	}
	for _, tc := range []struct{ text, key string }{
		{"main_url = ftp://x", "main_url"},
		{"main_url = https://user:pw@x", "main_url"},
		{"scope = some", "scope"},
		{"sync_window = 20-06", "sync_window"},
		{"bandwidth_limit = fast", "bandwidth_limit"},
		{"bandwidth_limit = 1K", "bandwidth_limit"},
		{"tls_cert = c.pem", "tls_cert"},
		{"listen = nope", "listen"},
		{"concurrency = 0", "concurrency"},
	} {
		_, err := ParseMirror([]byte("[mirror]\n"+tc.text+"\n"), "mirror.ini")
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", tc.text, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error shows the password: %v", tc.text, err)
		}
	}
}
