package api

import (
	"fmt"
	"strings"
	"time"
)

// The mirror API (issue 14): a site repository ("waptserver mirror") enrolls with an
// enrollment token, then authenticates with its own repository credential (a host's
// credential is refused there, and a mirror's on the host routes).
const (
	// PathMirrorRegister: POST a MirrorRegisterRequest, Authorization: Bearer <enrollment token>.
	PathMirrorRegister = "/api/v1/mirrors/register"
	// PathMirrorManifest: GET the MirrorManifest, mirror credential. ?scope=all|needed;
	// If-None-Match with the last ETag answers 304 when nothing changed; ?wait=25s then
	// holds the request until the manifest changes (long-poll, capped at MaxWait).
	PathMirrorManifest = "/api/v1/mirrors/manifest"
	// PathMirrorState: POST a MirrorState, mirror credential; answers 204.
	PathMirrorState = "/api/v1/mirrors/state"
	// MirrorCredentialPrefix starts every mirror credential.
	MirrorCredentialPrefix = "wmc_"
)

// Scopes of a mirror's manifest.
const (
	ScopeAll    = "all"    // every file of the main server's repository
	ScopeNeeded = "needed" // only the files the hosts of the mirror's site need
)

// MirrorRegisterRequest enrolls a mirror.
type MirrorRegisterRequest struct {
	Name string `json:"name"`           // unique, e.g. "lyon-1"
	Site string `json:"site,omitempty"` // the site it serves (sites assign hosts to it)
	URL  string `json:"url,omitempty"`  // where it serves, for the console
	// CurrentCredential proves a registered mirror (credential rotation); without it a
	// registered name is refused with 409.
	CurrentCredential string `json:"current_credential,omitempty"`
}

// Validate checks the request's fields.
func (r *MirrorRegisterRequest) Validate() error {
	r.Name, r.Site, r.URL = strings.TrimSpace(r.Name), strings.TrimSpace(r.Site), strings.TrimSpace(r.URL)
	switch {
	case r.Name == "" || len(r.Name) > 100 || strings.ContainsFunc(r.Name, badNameRune):
		return &FieldError{Field: "name", Reason: "1 to 100 letters, digits, dots, dashes or underscores (e.g. lyon-1)"}
	case len(r.Site) > 100 || strings.ContainsFunc(r.Site, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return &FieldError{Field: "site", Reason: "at most 100 printable characters"}
	case len(r.URL) > 500 || r.URL != "" && !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://"):
		return &FieldError{Field: "url", Reason: "an http:// or https:// URL of at most 500 bytes"}
	case len(r.CurrentCredential) > 256:
		return &FieldError{Field: "current_credential", Reason: "too long"}
	}
	return nil
}

func badNameRune(c rune) bool {
	return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_')
}

// MirrorRegisterResponse gives the mirror its credential: send it as
// "Authorization: Bearer <Credential>". The server keeps only its digest.
type MirrorRegisterResponse struct {
	Name       string `json:"name"`
	Credential string `json:"credential"`
}

// MirrorManifest is every file a mirror must hold. Its Version is also the answer's
// ETag: it changes exactly when a file of the list changes.
type MirrorManifest struct {
	Version   string       `json:"version"`
	Scope     string       `json:"scope"`
	Generated time.Time    `json:"generated"`
	Files     []MirrorFile `json:"files"`
}

// Folders of a manifest's paths.
const (
	MirrorFolderUpdates  = "waptwua" // served under RepoPrefix
	MirrorFolderPackages = "wapt"    // served under PackagePrefix
)

// MirrorFile is one file: Path is "waptwua/<name>" or "wapt/<name>".
type MirrorFile struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	SHA1     string    `json:"sha1"`
	SHA256   string    `json:"sha256"`
	Appeared time.Time `json:"appeared"` // when the main server got it
}

// Split returns the folder and the name of the file, or an error for a path outside
// the two folders or with a directory in its name (the name itself is checked by the
// repository).
func (f MirrorFile) Split() (folder, name string, err error) {
	folder, name, ok := strings.Cut(f.Path, "/")
	if !ok || folder != MirrorFolderUpdates && folder != MirrorFolderPackages || name == "" || strings.ContainsAny(name, `/\`) {
		return "", "", fmt.Errorf("manifest path %q: want waptwua/<name> or wapt/<name>", f.Path)
	}
	return folder, name, nil
}

// MirrorState is what a mirror reports after each sync (and while syncing).
type MirrorState struct {
	Status         string    `json:"status"` // in_sync, syncing, lagging, error
	Version        string    `json:"version,omitempty"`
	LastSync       time.Time `json:"last_sync,omitzero"`
	FilesHeld      int64     `json:"files_held"`
	BytesHeld      int64     `json:"bytes_held"`
	FilesMissing   int64     `json:"files_missing"`
	BytesMissing   int64     `json:"bytes_missing"`
	LagSeconds     float64   `json:"lag_seconds"`
	LastError      string    `json:"last_error,omitempty"`
	RequestsServed int64     `json:"requests_served"`
	BytesServed    int64     `json:"bytes_served"`
	BytesSynced    int64     `json:"bytes_synced"`
	SyncSeconds    float64   `json:"sync_seconds"`
}

// Mirror statuses.
const (
	MirrorInSync  = "in_sync"
	MirrorSyncing = "syncing"
	MirrorLagging = "lagging"
	MirrorError   = "error"
)

// Validate checks a state report.
func (s *MirrorState) Validate() error {
	switch s.Status {
	case MirrorInSync, MirrorSyncing, MirrorLagging, MirrorError:
	default:
		return &FieldError{Field: "status", Reason: "one of in_sync, syncing, lagging, error"}
	}
	for _, v := range []struct {
		f string
		n int64
	}{{"files_held", s.FilesHeld}, {"bytes_held", s.BytesHeld}, {"files_missing", s.FilesMissing}, {"bytes_missing", s.BytesMissing},
		{"requests_served", s.RequestsServed}, {"bytes_served", s.BytesServed}, {"bytes_synced", s.BytesSynced}} {
		if v.n < 0 {
			return &FieldError{Field: v.f, Reason: "negative"}
		}
	}
	if s.LagSeconds < 0 || s.LagSeconds != s.LagSeconds || s.SyncSeconds < 0 || s.SyncSeconds != s.SyncSeconds || s.LagSeconds > 1e9 || s.SyncSeconds > 1e9 {
		return &FieldError{Field: "lag_seconds", Reason: "lag_seconds and sync_seconds must be 0 to 1e9"}
	}
	if len(s.LastError) > MaxErrorLen {
		s.LastError = s.LastError[:MaxErrorLen]
	}
	if len(s.Version) > 100 {
		return &FieldError{Field: "version", Reason: "too long"}
	}
	return nil
}
