package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of the [mirror] section of a site repository's mirror.ini.
const (
	DefaultMirrorListen        = "127.0.0.1:8081"
	DefaultMirrorData          = "./mirror"
	DefaultMirrorInterval      = 15 * time.Minute
	DefaultMirrorConcurrency   = 4
	DefaultMirrorDeleteGrace   = 24 * time.Hour
	DefaultMirrorScrubInterval = 7 * 24 * time.Hour
)

// Mirror is the configuration of a site repository ("waptserver mirror"), [mirror] of
// its ini file. Command-line flags override it afterwards. Secrets are never values of
// the file nor of the command line: credential_file and enrollment_token_file name
// files that hold them.
type Mirror struct {
	Source string
	// MainURL is the main server, e.g. https://wapt.example.com.
	MainURL string
	// MainCA is a PEM file of the certificates the main server's TLS chains to (empty:
	// the system's roots).
	MainCA string
	// Name and Site identify the mirror when it enrolls; URL is where hosts reach it.
	Name, Site, URL string
	// Scope is "all" or "needed".
	Scope string
	// SyncWindow, when set, limits downloads to a daily window.
	SyncWindow *Window
	// BandwidthLimit is the download limit in bytes per second (0: none).
	BandwidthLimit int64
	// Listen is the HTTP(S) address; Data the folder holding waptwua/ and wapt/.
	Listen, Data string
	TLSCert      string
	TLSKey       string
	// CredentialFile holds the mirror's credential (written at enrollment, 0600);
	// EnrollmentTokenFile an enrollment token, read once when there is no credential.
	CredentialFile      string
	EnrollmentTokenFile string
	Interval            time.Duration
	Concurrency         int
	DeleteGrace         time.Duration
	ScrubInterval       time.Duration
	Warnings            []string
}

var mirrorKeys = []string{"main_url", "main_ca", "name", "site", "url", "scope", "sync_window", "bandwidth_limit", "listen", "data",
	"tls_cert", "tls_key", "credential_file", "enrollment_token_file", "interval", "concurrency", "delete_grace", "scrub_interval"}

// LoadMirror reads a mirror.ini.
func LoadMirror(path string) (*Mirror, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("mirror configuration: %w", err)
	}
	return ParseMirror(data, path)
}

// ParseMirror reads the text of a mirror.ini; source names it in errors. Every invalid
// value is reported. An empty text gives the defaults (flags then set main_url).
func ParseMirror(data []byte, source string) (*Mirror, error) {
	f, err := parseIni(data, source)
	if err != nil {
		return nil, err
	}
	r := &reader{f: f, section: "mirror"}
	m := &Mirror{
		Source:              source,
		MainURL:             strings.TrimRight(r.str("main_url", ""), "/"),
		MainCA:              r.str("main_ca", ""),
		Name:                r.str("name", ""),
		Site:                r.str("site", ""),
		URL:                 r.str("url", ""),
		Scope:               strings.ToLower(r.str("scope", "all")),
		Data:                r.str("data", DefaultMirrorData),
		TLSCert:             r.str("tls_cert", ""),
		TLSKey:              r.str("tls_key", ""),
		CredentialFile:      r.str("credential_file", ""),
		EnrollmentTokenFile: r.str("enrollment_token_file", ""),
		Interval:            r.duration("interval", DefaultMirrorInterval),
		Concurrency:         r.integer("concurrency", DefaultMirrorConcurrency, 1, 64, "parallel downloads from the main server, e.g. 4"),
		DeleteGrace:         r.duration("delete_grace", DefaultMirrorDeleteGrace),
		ScrubInterval:       r.duration("scrub_interval", DefaultMirrorScrubInterval),
	}
	m.Listen = DefaultMirrorListen
	if _, ok := r.raw("listen"); ok {
		m.Listen = r.listen("listen")
	}
	if v, ok := r.raw("sync_window"); ok {
		if w, err := ParseWindow(v); err != nil {
			r.fail("sync_window", v, err)
		} else {
			m.SyncWindow = &w
		}
	}
	if v, ok := r.raw("bandwidth_limit"); ok {
		if n, err := ParseBandwidth(v); err != nil {
			r.fail("bandwidth_limit", v, err)
		} else {
			m.BandwidthLimit = n
		}
	}
	r.errs = append(r.errs, m.Check()...)
	m.Warnings = r.unknownKeys(mirrorKeys)
	if err := errors.Join(r.errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseBandwidth reads a rate in bytes per second: a size ("10M", "512KiB") with an
// optional "/s"; "0" means no limit.
func ParseBandwidth(v string) (int64, error) {
	n, err := parseSize(strings.TrimSuffix(strings.TrimSpace(v), "/s"))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a rate (use bytes per second with a unit, e.g. 10M for 10 MiB/s, or 0 for no limit)")
	}
	if n > 0 && n < 16<<10 {
		return 0, fmt.Errorf("below 16KiB/s (a limit that low never finishes a cumulative update)")
	}
	return n, nil
}

// Check validates the values that flags may have changed (main_url, scope, TLS pair,
// durations); each error names the key and the fix.
func (m *Mirror) Check() []error {
	var errs []error
	bad := func(key, value string, err error) {
		errs = append(errs, &ValueError{File: m.Source, Section: "mirror", Key: key, Value: value, Err: err})
	}
	if m.MainURL != "" {
		u, err := url.Parse(m.MainURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			bad("main_url", redactURL(m.MainURL), fmt.Errorf("not the main server's URL (use https://wapt.example.com, without credentials)"))
		}
	}
	if m.URL != "" && checkHTTPURL(m.URL) != nil {
		bad("url", m.URL, fmt.Errorf("not an http(s) URL (where hosts reach this mirror, e.g. http://mirror.lyon.example:8081)"))
	}
	if m.Scope != "all" && m.Scope != "needed" {
		bad("scope", m.Scope, fmt.Errorf("want all or needed"))
	}
	if (m.TLSCert == "") != (m.TLSKey == "") {
		bad("tls_cert", m.TLSCert, fmt.Errorf("tls_cert and tls_key go together (set both to serve HTTPS, or neither)"))
	}
	if m.Interval < time.Second {
		bad("interval", m.Interval.String(), fmt.Errorf("at least 1s (e.g. 15m; the mirror also waits for changes)"))
	}
	if m.DeleteGrace < 0 {
		bad("delete_grace", m.DeleteGrace.String(), fmt.Errorf("not negative (e.g. 1d)"))
	}
	if m.ScrubInterval < time.Minute {
		bad("scrub_interval", m.ScrubInterval.String(), fmt.Errorf("at least 1m (e.g. 7d)"))
	}
	if m.Concurrency < 1 || m.Concurrency > 64 {
		bad("concurrency", fmt.Sprint(m.Concurrency), fmt.Errorf("1 to 64"))
	}
	return errs
}
