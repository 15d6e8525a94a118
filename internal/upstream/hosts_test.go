package upstream

import (
	"testing"
	"time"
)

func TestAllowedHosts(t *testing.T) {
	c, _ := newTestClient(t, nil)
	tests := []struct {
		url  string
		want bool
	}{
		{"http://download.windowsupdate.com/x.cab", true},
		{"https://download.windowsupdate.com:443/x.cab", true},
		{"http://DOWNLOAD.WindowsUpdate.COM/x.cab", true},
		{"http://download.windowsupdate.com./x.cab", true},
		{"http://au.download.windowsupdate.com/x.cab", true},
		{"http://a.b.download.windowsupdate.com/x.cab", true},
		{"http://fe2.update.microsoft.com/x.cab", true},
		{"http://update.microsoft.com/x.cab", false}, // *.domain: subdomains only
		{"http://evilupdate.microsoft.com/x.cab", false},
		{"http://windowsupdate.microsoft.com/x", true},
		{"http://www.windowsupdate.microsoft.com/x", true},
		{"http://dl.delivery.mp.microsoft.com:8080/x", true},
		{"http://download.microsoft.com/x", true},
		{"http://download.microsoft.com.evil.com/x", false},
		{"http://evil.com/download.microsoft.com", false},
		{"http://download.microsoft.com@evil.com/x", false},
		{"http://evil.com#@download.microsoft.com/x", false},
		{"http://microsoft.com/x", false},
		{"http://x.download.microsoft.com/x", false}, // exact pattern: no subdomain
		{"http://127.0.0.1/x", false},
		{"http://[::1]/x", false},
		{"http:///x", false},
		{"http://..download.windowsupdate.com/x", false},
		{"file:///etc/passwd", false},
		{"ftp://download.microsoft.com/x", false},
		{"//download.microsoft.com/x", false},
	}
	for _, tt := range tests {
		if got := c.CheckURL(tt.url) == nil; got != tt.want {
			t.Errorf("CheckURL(%q) allowed = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestAllowedHostPatternsValidated(t *testing.T) {
	for _, p := range []string{"", "*", "*.", "a.*.com", "*x.com", "http://a.com", "a.com:80", "a.com/x", ".a.com", "a..com"} {
		if _, err := New(WithAllowedHosts(p)); err == nil {
			t.Errorf("New accepted host pattern %q", p)
		}
	}
	c, err := New(WithAllowedHosts("mirror.example.org", "*.cdn.example.org"), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckURL("http://mirror.example.org/x") != nil || c.CheckURL("http://a.cdn.example.org/x") != nil {
		t.Error("configured hosts refused")
	}
	if c.CheckURL("http://download.microsoft.com/x") == nil {
		t.Error("WithAllowedHosts should replace the default list")
	}
}

func TestRetryDelay(t *testing.T) {
	p := RetryPolicy{Attempts: 10, BaseDelay: time.Second, MaxDelay: 10 * time.Second, Jitter: 0.5}
	var got []time.Duration
	for a := 1; a <= 6; a++ {
		got = append(got, p.delay(a, func() float64 { return 0 }))
	}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays without jitter = %v, want %v s", got, want)
		}
	}
	if d := p.delay(3, func() float64 { return 0.999999 }); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("jittered delay = %v, want within [2s,4s]", d)
	}
	if _, err := New(WithRetry(RetryPolicy{Attempts: 0})); err == nil {
		t.Error("New accepted 0 attempts")
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		first, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 5-9/9", 0, 0, false},
		{"bytes 9-5/20", 0, 0, false},
		{"bytes */20", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes -1-5/9", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		first, total, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || first != tt.first || total != tt.total {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, ok=%v", tt.in, first, total, err, tt.first, tt.total, tt.ok)
		}
	}
}
