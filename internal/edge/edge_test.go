package edge

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestClientIPAndHTTPS(t *testing.T) {
	c, err := Parse("", []string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote, xff, proto string
		ip                 string
		https              bool
	}{
		{"203.0.113.9:1234", "1.2.3.4", "https", "203.0.113.9", false}, // not a proxy: headers ignored
		{"10.1.2.3:1234", "198.51.100.7", "https", "198.51.100.7", true},
		{"10.1.2.3:1234", "6.6.6.6, 198.51.100.7, 10.9.9.9", "http", "198.51.100.7", false}, // spoofed left-most ignored
		{"192.0.2.1:80", "", "", "192.0.2.1", false},
		{"10.1.2.3:1234", "garbage", "", "10.1.2.3", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if got := c.ClientIP(r); got != tt.ip {
			t.Errorf("%s %q: client %s, want %s", tt.remote, tt.xff, got, tt.ip)
		}
		if got := c.HTTPS(r); got != tt.https {
			t.Errorf("%s proto %q: https %v", tt.remote, tt.proto, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	if !(Config{}).HTTPS(r) {
		t.Error("TLS connection not HTTPS")
	}
	pub, err := Parse("https://wapt.example.org", nil)
	if err != nil || !pub.HTTPS(httptest.NewRequest("GET", "/", nil)) {
		t.Errorf("public_url https: %v", err)
	}
	for _, bad := range [][2]string{{"ftp://x", ""}, {"wapt.example.org", ""}, {"", "not-an-ip"}} {
		if _, err := Parse(bad[0], []string{bad[1]}); err == nil {
			t.Errorf("Parse(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
