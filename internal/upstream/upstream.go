// Package upstream is the HTTP client for Microsoft's update servers: it streams the
// offline catalog wsusscn2.cab (conditional GET) and the update files into a
// Destination, with resume, retry, timeouts and a host allow-list (REFERENCE §1). It
// writes no file: the destination (a *repo.Writer) verifies the bytes and puts them in
// place.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "waptwua-server (+https://github.com/openwua/waptwua)"

// DefaultAllowedHosts returns the host patterns of REFERENCE §1 (wu.UpdateHosts), the
// only hosts the server downloads from unless configured otherwise. Each call returns a
// fresh slice.
func DefaultAllowedHosts() []string { return wu.UpdateHosts() }

// RetryPolicy says how often and how patiently a download is retried after a transient
// failure (5xx, 408, 429, timeouts, cut connections).
type RetryPolicy struct {
	// Attempts is the total number of requests per call, at least 1 (default 5).
	Attempts int
	// BaseDelay is the wait before the second attempt; it doubles each time (default 2s).
	BaseDelay time.Duration
	// MaxDelay caps one wait, including a server's Retry-After (default 2m).
	MaxDelay time.Duration
	// Jitter in [0,1] removes up to that fraction of each wait at random so that many
	// downloads failing together do not retry together (default 0.5).
	Jitter float64
}

// DefaultRetryPolicy is used when no WithRetry option is given.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 5, BaseDelay: 2 * time.Second, MaxDelay: 2 * time.Minute, Jitter: 0.5}
}

// delay returns the wait after the given failed attempt (1-based).
func (p RetryPolicy) delay(attempt int, rnd func() float64) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	if d > p.MaxDelay {
		d = p.MaxDelay
	}
	if p.Jitter > 0 && d > 0 {
		d -= time.Duration(float64(d) * p.Jitter * rnd())
	}
	return d
}

// Timeouts bound each request. A download of several hundred megabytes on a slow link
// may legitimately take hours, so the guard against a dead peer is Idle, not Request.
type Timeouts struct {
	// Connect bounds the TCP connection and TLS handshake (default 30s). It applies to
	// transports this package builds or clones (*http.Transport).
	Connect time.Duration
	// Header bounds the wait for the response headers once the request is sent (default 60s).
	Header time.Duration
	// Idle is the longest time without a single body byte before the attempt is
	// abandoned as stalled and retried (default 60s).
	Idle time.Duration
	// Request bounds one whole attempt; 0 means no limit (the default).
	Request time.Duration
}

// DefaultTimeouts is used when no WithTimeouts option is given.
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: 30 * time.Second, Header: 60 * time.Second, Idle: 60 * time.Second}
}

// Progress is told the bytes of a file present so far and its expected total
// (-1 when unknown). It is called often from the downloading goroutine: keep it cheap.
type Progress func(name string, done, total int64)

// Client downloads from Microsoft's servers. It is safe for concurrent use; build it with New.
type Client struct {
	http  *http.Client
	hosts hostMatcher
	behaviour
}

// behaviour is what the options set that a Client keeps as given.
type behaviour struct {
	retry     RetryPolicy
	timeouts  Timeouts
	userAgent string
	sleep     func(context.Context, time.Duration) error
	now       func() time.Time
	rand      func() float64
	progress  Progress
	log       *slog.Logger
}

// settings is what the options set; New checks it and builds a Client from it.
type settings struct {
	httpClient *http.Client
	transport  http.RoundTripper
	proxy      string
	hosts      []string
	behaviour
}

// Option configures a Client.
type Option func(*settings)

// WithHTTPClient uses hc (copied; its CheckRedirect is wrapped by the host allow-list).
// Leave hc.Timeout at zero: it would cut long downloads; use WithTimeouts instead.
func WithHTTPClient(hc *http.Client) Option { return func(s *settings) { s.httpClient = hc } }

// WithTransport uses rt for the requests (tests map hosts to stand-ins this way).
func WithTransport(rt http.RoundTripper) Option { return func(s *settings) { s.transport = rt } }

// WithProxy sends every request through the HTTP proxy at proxyURL (config http_proxy),
// e.g. "http://proxy.example.org:3128". Empty means: the environment's HTTP_PROXY /
// HTTPS_PROXY / NO_PROXY, as any Go program.
func WithProxy(proxyURL string) Option { return func(s *settings) { s.proxy = proxyURL } }

// WithAllowedHosts replaces the host allow-list. A pattern is a host name
// ("download.microsoft.com") or "*." and a domain ("*.update.microsoft.com"), which
// matches the domain's subdomains only, never the domain itself.
func WithAllowedHosts(patterns ...string) Option {
	return func(s *settings) { s.hosts = append([]string(nil), patterns...) }
}

// WithRetry sets the retry policy.
func WithRetry(p RetryPolicy) Option { return func(s *settings) { s.retry = p } }

// WithTimeouts sets the per-request timeouts; zero fields keep their defaults.
func WithTimeouts(t Timeouts) Option { return func(s *settings) { s.timeouts = t } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(s *settings) { s.userAgent = ua } }

// WithSleep replaces the wait between attempts (tests record the waits instead of waiting).
// sleep must return early with an error when ctx ends.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *settings) { s.sleep = sleep }
}

// WithClock replaces time.Now (durations in results, Retry-After dates).
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithRand replaces the jitter source, a function returning values in [0,1).
func WithRand(rnd func() float64) Option { return func(s *settings) { s.rand = rnd } }

// WithProgress reports download progress (for the task view).
func WithProgress(p Progress) Option { return func(s *settings) { s.progress = p } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.log = l } }

// New builds a Client. It fails on an invalid proxy URL, host pattern or retry policy.
func New(opts ...Option) (*Client, error) {
	s := settings{
		hosts: DefaultAllowedHosts(),
		behaviour: behaviour{
			retry:     DefaultRetryPolicy(),
			timeouts:  DefaultTimeouts(),
			userAgent: DefaultUserAgent,
			sleep:     sleepContext,
			now:       time.Now,
			rand:      rand.Float64,
		},
	}
	for _, o := range opts {
		o(&s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	def := DefaultTimeouts()
	if s.timeouts.Connect <= 0 {
		s.timeouts.Connect = def.Connect
	}
	if s.timeouts.Header <= 0 {
		s.timeouts.Header = def.Header
	}
	if s.timeouts.Idle <= 0 {
		s.timeouts.Idle = def.Idle
	}
	if s.retry.Attempts < 1 {
		return nil, fmt.Errorf("upstream client: retry attempts %d: want at least 1", s.retry.Attempts)
	}
	if s.retry.Jitter < 0 || s.retry.Jitter > 1 || s.retry.BaseDelay < 0 || s.retry.MaxDelay < s.retry.BaseDelay {
		return nil, fmt.Errorf("upstream client: retry policy %+v: want 0 <= jitter <= 1 and 0 <= base delay <= max delay", s.retry)
	}
	hosts, err := newHostMatcher(s.hosts)
	if err != nil {
		return nil, fmt.Errorf("upstream client: %w", err)
	}
	hc, err := buildHTTPClient(s)
	if err != nil {
		return nil, fmt.Errorf("upstream client: %w", err)
	}
	c := &Client{http: hc, hosts: hosts, behaviour: s.behaviour}
	c.http.CheckRedirect = c.checkRedirect(c.http.CheckRedirect)
	return c, nil
}

// buildHTTPClient copies the caller's client or builds one, and applies the proxy and the
// connect timeout to an *http.Transport.
func buildHTTPClient(s settings) (*http.Client, error) {
	hc := &http.Client{}
	if s.httpClient != nil {
		cp := *s.httpClient
		hc = &cp
	}
	if s.transport != nil {
		hc.Transport = s.transport
	}
	var proxy *url.URL
	if s.proxy != "" {
		u, err := url.Parse(s.proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return nil, fmt.Errorf("proxy %q: want a URL such as http://proxy.example.org:3128 (check http_proxy in the server config)", s.proxy)
		}
		proxy = u
	}
	switch rt := hc.Transport.(type) {
	case nil:
		base, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("http.DefaultTransport is not an *http.Transport; pass WithTransport")
		}
		hc.Transport = configureTransport(base.Clone(), s.timeouts.Connect, proxy)
	case *http.Transport:
		hc.Transport = configureTransport(rt.Clone(), 0, proxy)
	default:
		if proxy != nil {
			return nil, fmt.Errorf("proxy %q: the given transport %T is not an *http.Transport, set the proxy on it yourself", s.proxy, rt)
		}
	}
	return hc, nil
}

func configureTransport(t *http.Transport, connect time.Duration, proxy *url.URL) *http.Transport {
	if proxy != nil {
		t.Proxy = http.ProxyURL(proxy)
	}
	if connect > 0 {
		t.DialContext = (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = connect
	}
	// The body must arrive as Microsoft sends it: byte offsets for Range and the
	// digests refer to the unencoded file.
	t.DisableCompression = true
	return t
}

// checkRedirect refuses a redirect to a host outside the allow-list, then defers to the
// caller's own policy or Go's default limit of 10 redirects.
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := c.checkURL(req.URL); err != nil {
			from := ""
			if len(via) > 0 {
				from = via[0].URL.Redacted()
			}
			return fmt.Errorf("redirect from %s refused: %w", from, err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return fmt.Errorf("%s: stopped after 10 redirects", via[0].URL.Redacted())
		}
		return nil
	}
}

// CheckURL reports whether the client would download from rawURL: an http or https URL
// whose host is on the allow-list. Callers may use it to reject catalog entries early.
func (c *Client) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("URL %q: %w (the catalog entry is malformed)", rawURL, err)
	}
	return c.checkURL(u)
}

func (c *Client) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &HostError{URL: u.Redacted(), Host: u.Hostname(), Reason: "scheme " + strconv.Quote(u.Scheme) + " is not http or https"}
	}
	if !c.hosts.allowed(u.Hostname()) {
		return &HostError{URL: u.Redacted(), Host: u.Hostname(), Reason: "not in the allowed upstream hosts"}
	}
	return nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
