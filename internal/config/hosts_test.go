package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHostAllowedDefaults(t *testing.T) {
	patterns := DefaultAllowedUpstreamHosts()
	tests := []struct {
		host string
		want bool
	}{
		// exact names
		{"download.windowsupdate.com", true},
		{"download.microsoft.com", true},
		{"DOWNLOAD.Microsoft.COM", true},
		{"download.microsoft.com.", true}, // fully qualified
		{"windowsupdate.com", true},
		{"go.microsoft.com", true},
		{"dl.delivery.mp.microsoft.com", true},
		{"microsoft.com", false},
		{"www.microsoft.com", false},
		{"sub.download.microsoft.com", false}, // exact pattern: no subdomains
		// wildcards
		{"fe2.update.microsoft.com", true},
		{"a.b.update.microsoft.com", true},
		{"update.microsoft.com", false}, // *.x does not match x
		{"evilupdate.microsoft.com", false},
		{"au.download.windowsupdate.com", true},
		{"windowsupdate.microsoft.com", true},
		{"www.windowsupdate.microsoft.com", true},
		// subdomain and parsing tricks
		{"download.microsoft.com.evil.com", false},
		{"download.microsoft.com.", true},
		{"download.microsoft.com..", false},
		{"evil.com/download.microsoft.com", false},
		{"download.microsoft.com@evil.com", false},
		{"evil.com#download.microsoft.com", false},
		{"download.microsoft.com%2eevil.com", false},
		{"download.microsoft.com\x00.evil.com", false},
		{"download..microsoft.com", false},
		{".download.microsoft.com", false},
		{"*.update.microsoft.com", false}, // a pattern is not a host
		{"x.*.update.microsoft.com", false},
		{"dоwnload.microsoft.com", false}, // Cyrillic о
		{"-x.update.microsoft.com", false},
		{"", false},
		// ports
		{"download.microsoft.com:80", true},
		{"download.microsoft.com:443", true},
		{"download.microsoft.com:8080", false},
		{"download.microsoft.com:", false},
		{"download.microsoft.com:0", false},
		{"download.microsoft.com:99999", false},
		{"download.microsoft.com:443:443", false},
		{"fe2.update.microsoft.com:443", true},
		// IP literals are not names
		{"127.0.0.1", false},
		{"[::1]:443", false},
		{"13.107.4.50", false},
	}
	for _, tt := range tests {
		if got := HostAllowed(tt.host, patterns); got != tt.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHostAllowedCustom(t *testing.T) {
	patterns := []string{"127.0.0.1:8081", "[::1]:8081", "10.0.0.5", "*.mirror.example.org:8443", "mirror.example.org"}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8081", true},
		{"127.0.0.1", false},
		{"127.0.0.1:8082", false},
		{"127.0.0.01:8081", false},
		{"[::1]:8081", true},
		{"[0:0:0:0:0:0:0:1]:8081", true},
		{"[::1]", false},
		{"::1", false},
		{"[::1%eth0]:8081", false},
		{"10.0.0.5", true},
		{"10.0.0.5:443", true},
		{"10.0.0.5:8081", false},
		{"[::ffff:10.0.0.5]:443", true},
		{"a.mirror.example.org:8443", true},
		{"a.mirror.example.org", false},
		{"mirror.example.org", true},
		{"mirror.example.org:8443", false},
		{"0x7f.0.0.1:8081", false},
		{"2130706433:8081", false},
	}
	for _, tt := range tests {
		if got := HostAllowed(tt.host, patterns); got != tt.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if HostAllowed("download.microsoft.com", nil) {
		t.Error("no pattern allows nothing")
	}
}

func TestNormalizeHostPattern(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "Download.Microsoft.com", want: "download.microsoft.com"},
		{in: "*.Update.Microsoft.com", want: "*.update.microsoft.com"},
		{in: "download.microsoft.com.", want: "download.microsoft.com"},
		{in: "127.0.0.1:8081", want: "127.0.0.1:8081"},
		{in: "[0::1]:8081", want: "[::1]:8081"},
		{in: "::1", want: "::1"},
		{in: "*.mirror.example.org:8443", want: "*.mirror.example.org:8443"},
		{in: "*.com", wantErr: true},
		{in: "*", wantErr: true},
		{in: "*.*.example.org", wantErr: true},
		{in: "a*.example.org", wantErr: true},
		{in: "http://x.org", wantErr: true},
		{in: "x.org/path", wantErr: true},
		{in: "u@x.org", wantErr: true},
		{in: "x.org:0", wantErr: true},
		{in: "*.10.0.0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := normalizeHostPattern(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalizeHostPattern(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	// Every default pattern is valid and already normalized.
	for _, p := range DefaultAllowedUpstreamHosts() {
		got, err := normalizeHostPattern(p)
		if diff := cmp.Diff(p, got); err != nil || diff != "" {
			t.Errorf("default pattern %q: %v (-want +got):\n%s", p, err, diff)
		}
	}
}
