// Package mirror is a site repository ("waptserver mirror", issue 14): it keeps a copy
// of the main server's repository (the waptwua/ folder and the wapt/ rules packages) in
// its own data folder and serves it to the hosts of its site with the main server's own
// repository handler (internal/repo: Range, ETag, immutable caching, no traversal).
//
// A sync pulls the manifest (GET /api/v1/mirrors/manifest: every file with size, SHA-1,
// SHA-256, time it appeared; ETag so an idle sync is one 304), verifies what the folder
// holds, downloads what it lacks through repo.Repo.Write (resumed with Range; both
// digests checked before the file becomes visible; the catalog through StageCab), and
// deletes files the main server no longer lists after a grace period. A scrub (at start
// and periodically) re-reads every file and re-fetches one whose digest changed.
package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/repo"
)

// Config is what a mirror needs. cmd/waptserver fills it from mirror.ini and flags.
type Config struct {
	// MainURL is the main server ("https://wapt.example.com").
	MainURL string
	// Credential is the mirror's repository credential (Register gives it).
	Credential string
	// Scope is api.ScopeAll or api.ScopeNeeded.
	Scope string
	// Data holds the two folders waptwua/ and wapt/.
	Data string
	// Client talks to the main server (default: a client with header timeouts).
	Client *http.Client
	// Concurrency bounds parallel downloads (default 4).
	Concurrency int
	// BandwidthLimit caps downloads, in bytes per second over all of them (0: none).
	BandwidthLimit int64
	// InWindow says whether downloads may run at t (nil: always).
	InWindow func(t time.Time) bool
	// DeleteGrace is how long a file the main server no longer lists is kept.
	DeleteGrace time.Duration
	// ScrubInterval is how often every file is read again (default 7 days).
	ScrubInterval time.Duration
	// Interval is how often the service syncs when no change is signalled (default 15m).
	Interval time.Duration
	// StallTimeout ends a download that receives nothing for this long (default 60s).
	StallTimeout time.Duration
	// WriteIdle cuts a host whose download takes nothing for this long (default 1m,
	// as on the main server).
	WriteIdle time.Duration
	Log       *slog.Logger
	Now       func() time.Time
}

// Mirror is one site repository.
type Mirror struct {
	cfg      Config
	updates  *repo.Repo // waptwua/
	packages *repo.Repo // wapt/
	limit    *limiter

	requests    atomic.Int64
	bytesServed atomic.Int64
	bytesSynced atomic.Int64

	mu        sync.Mutex
	manifest  *api.MirrorManifest // last one received
	pending   *api.MirrorManifest // received by the long-poll, for the next sync
	complete  bool                // the folder matched manifest at the end of the last sync
	verified  map[string]stamp    // path → size and time of a file whose digests were checked
	goneSince map[string]time.Time
	lastScrub time.Time
	last      Result
}

type stamp struct {
	size   int64
	mod    time.Time
	sha256 string
}

// Result is what one sync did and left.
type Result struct {
	Version      string
	Start, End   time.Time
	NotModified  bool // the manifest had not changed (one 304)
	Files        int  // files the manifest lists
	FilesHeld    int64
	BytesHeld    int64
	Downloaded   int
	BytesSynced  int64
	Repaired     int // files present but not matching, fetched again
	Deleted      int
	Missing      int // files still missing or wrong
	BytesMissing int64
	Lag          time.Duration // since the oldest missing file appeared on the main server
	Err          error
}

// ErrOutsideWindow is matched by a sync that could not download because the time is
// outside sync_window.
var ErrOutsideWindow = errors.New("outside the sync window")

// New opens (creating) the mirror's folders.
func New(cfg Config) (*Mirror, error) {
	if cfg.MainURL == "" {
		return nil, errors.New("mirror: no main server URL (set main_url in the mirror's ini or --main-url)")
	}
	if cfg.Scope == "" {
		cfg.Scope = api.ScopeAll
	}
	if cfg.Scope != api.ScopeAll && cfg.Scope != api.ScopeNeeded {
		return nil, fmt.Errorf("mirror: scope %q: want all or needed", cfg.Scope)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.ScrubInterval <= 0 {
		cfg.ScrubInterval = 7 * 24 * time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Minute
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 60 * time.Second
	}
	if cfg.WriteIdle <= 0 {
		cfg.WriteIdle = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(nil)
	}
	cfg.MainURL = strings.TrimRight(cfg.MainURL, "/")
	m := &Mirror{cfg: cfg, verified: map[string]stamp{}, goneSince: map[string]time.Time{}, limit: newLimiter(cfg.BandwidthLimit, time.Now)} // a rate is measured on the real clock, which the limiter sleeps on
	var err error
	// A download resumes from its .part file after a restart (kept a week).
	if m.updates, err = repo.Open(filepath.Join(cfg.Data, api.MirrorFolderUpdates), repo.WithLogger(cfg.Log), repo.WithKeepParts(7*24*time.Hour)); err != nil {
		return nil, err
	}
	if m.packages, err = repo.Open(filepath.Join(cfg.Data, api.MirrorFolderPackages), repo.WithLogger(cfg.Log), repo.WithKeepParts(7*24*time.Hour)); err != nil {
		m.updates.Close()
		return nil, err
	}
	for _, r := range []*repo.Repo{m.updates, m.packages} {
		if err := r.CleanTemp(); err != nil {
			cfg.Log.Warn("mirror: cleaning temporary files", slog.Any("err", err))
		}
	}
	return m, nil
}

// Close releases the folders.
func (m *Mirror) Close() error {
	return errors.Join(m.updates.Close(), m.packages.Close())
}

// NewClient returns an HTTP client for the main server: header timeouts, no overall
// timeout (downloads are long; stalls are cut by the mirror), tr's TLS settings.
func NewClient(tr *http.Transport) *http.Client {
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.ResponseHeaderTimeout = api.MaxWait + 30*time.Second // a manifest long-poll answers within MaxWait
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("the main server answered a redirect: set main_url to the final URL")
	}}
}

func (m *Mirror) repoOf(folder string) *repo.Repo {
	if folder == api.MirrorFolderPackages {
		return m.packages
	}
	return m.updates
}

// Register enrolls a mirror on the main server with an enrollment token and returns
// its credential.
func Register(ctx context.Context, client *http.Client, mainURL, token string, req api.MirrorRegisterRequest) (string, error) {
	if client == nil {
		client = NewClient(nil)
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(mainURL, "/")+api.PathMirrorRegister, strings.NewReader(string(body)))
	if err != nil {
		return "", fmt.Errorf("main server %s: %w (check main_url)", redact(mainURL), err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(hr)
	if err != nil {
		return "", unreachable(mainURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", answerError(resp, mainURL, "enrolling the mirror")
	}
	var out api.MirrorRegisterResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Credential == "" {
		return "", fmt.Errorf("main server %s: enrolling the mirror: unreadable answer (is main_url a waptserver?)", redact(mainURL))
	}
	return out.Credential, nil
}

func unreachable(mainURL string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("main server %s unreachable: %v (check main_url and the network)", redact(mainURL), err)
}

// AnswerError is an unexpected answer of the main server, in one line naming the fix.
type AnswerError struct {
	Status int
	msg    string
}

func (e *AnswerError) Error() string { return e.msg }

// Fatal says the answer will not change by retrying: wrong credential, wrong URL, a
// scope the main server does not offer.
func (e *AnswerError) Fatal() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest, http.StatusNotImplemented:
		return true
	}
	return false
}

// answerError turns an unexpected answer into one line naming the fix.
func answerError(resp *http.Response, mainURL, what string) error {
	var e api.Error
	_ = json.NewDecoder(io.LimitReader(resp.Body, 8<<10)).Decode(&e)
	msg := strings.Join(strings.Fields(e.Error), " ")
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if msg == "" {
			msg = "credential refused"
		}
		return &AnswerError{resp.StatusCode, fmt.Sprintf("main server %s refused the mirror (401) %s: %s (enroll again with a new enrollment token, or fix credential_file)", redact(mainURL), what, msg)}
	case http.StatusNotFound:
		return &AnswerError{resp.StatusCode, fmt.Sprintf("main server %s: %s: 404 (is main_url a waptserver with site repositories?)", redact(mainURL), what)}
	}
	if msg == "" {
		msg = resp.Status
	}
	return &AnswerError{resp.StatusCode, fmt.Sprintf("main server %s: %s: %d %s", redact(mainURL), what, resp.StatusCode, msg)}
}

// Probe fetches the manifest once (at start): a fatal answer (AnswerError.Fatal)
// means the configuration is wrong.
func (m *Mirror) Probe(ctx context.Context) error {
	_, err := m.fetchManifest(ctx, "", 0)
	return err
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// ReadSecretFile reads a credential or token from a file: its first line, trimmed.
// Secrets are never given on a command line.
func ReadSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
