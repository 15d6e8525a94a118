package server

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

// Site repositories (issue 14): the mirror API. A mirror enrolls with an enrollment
// token (or the enrollment secret) and gets a repository credential "wmc_<id>.<secret>"
// that only the mirror routes accept (the host routes refuse it, and these refuse a
// host's). It then pulls the manifest of the repository (every file with its size,
// SHA-1, SHA-256 and the time it appeared; ETag and long-poll) and reports its state.

// SiteHosts gives the files the hosts of a site need (scope = needed). The store
// implements it once sites exist (issue 14, "sites"); until then a manifest with scope
// needed is refused (501), never silently widened to every file.
type SiteHosts interface {
	NeededFilesForSite(ctx context.Context, site string) ([]store.UpdateFile, error)
}

// MirrorStore is what the mirror routes need of the store.
type MirrorStore interface {
	store.MirrorStore
	store.EnrollmentTokenStore
}

// repoSource is what the manifest needs of the repository folder (*repo.Repo).
type repoSource interface {
	List() ([]repo.FileInfo, error)
	Sum(name string) (repo.FileInfo, repo.Sums, error)
}

// DefaultManifestPoll is how often a waiting manifest long-poll looks for a change.
const DefaultManifestPoll = 2 * time.Second

// WithManifestPoll sets how often a waiting manifest long-poll looks for a change.
func WithManifestPoll(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.mirrorPoll = d
		}
	}
}

// digestCache remembers the digests of repository files by name, size and time, so
// that a manifest reads a file once.
type digestCache struct {
	mu sync.Mutex
	m  map[string]cachedSums
}

type cachedSums struct {
	size int64
	mod  time.Time
	s    repo.Sums
}

func (c *digestCache) get(key string, size int64, mod time.Time) (repo.Sums, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.size != size || !e.mod.Equal(mod) {
		return repo.Sums{}, false
	}
	return e.s, true
}

func (c *digestCache) put(key string, size int64, mod time.Time, s repo.Sums) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedSums{}
	}
	c.m[key] = cachedSums{size: size, mod: mod, s: s}
}

// keep drops the entries not in live (files gone).
func (c *digestCache) keep(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if !live[k] {
			delete(c.m, k)
		}
	}
}

func (s *Server) mirrorRoutes(mux *http.ServeMux, read func(string, http.HandlerFunc), admin func(string, string, http.HandlerFunc)) {
	mux.HandleFunc("POST "+api.PathMirrorRegister, s.handleMirrorRegister)
	mux.HandleFunc("GET "+api.PathMirrorManifest, s.mirrorAuth(s.handleMirrorManifest))
	mux.HandleFunc("POST "+api.PathMirrorState, s.mirrorAuth(s.handleMirrorState))
	read("/mirrors", s.handleListMirrors)
	admin("DELETE", "/mirrors/{name}", s.handleDeleteMirror)
}

// handleDeleteMirror removes a site repository: its credential stops working and its
// name may enroll again.
func (s *Server) handleDeleteMirror(w http.ResponseWriter, r *http.Request) {
	if err := s.app.DeleteMirror(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) mirrorStore() (MirrorStore, bool) {
	ms, ok := s.store.(MirrorStore)
	return ms, ok
}

// Mirror credentials: "wmc_<id>.<secret>", id 32 hex digits, secret 32 random bytes;
// the store keeps SHA-256 of the whole credential (as for hosts).
func newMirrorCredential() (id, credential string, hash []byte) {
	id, cred, _ := newHostCredential()
	credential = api.MirrorCredentialPrefix + cred
	sum := sha256.Sum256([]byte(credential))
	return id, credential, sum[:]
}

func parseMirrorCredential(credential string) (string, bool) {
	rest, ok := strings.CutPrefix(credential, api.MirrorCredentialPrefix)
	if !ok {
		return "", false
	}
	return parseHostCredential(rest)
}

type mirrorHandler func(w http.ResponseWriter, r *http.Request, m store.Mirror)

// mirrorAuth authenticates a mirror by its repository credential (401 otherwise; a
// host credential is not one).
func (s *Server) mirrorAuth(next mirrorHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ms, ok := s.mirrorStore()
		if !ok {
			writeErrorBody(w, http.StatusNotImplemented, "", "this server keeps no site repositories")
			return
		}
		cred, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-mirror"`)
			writeErrorBody(w, http.StatusUnauthorized, "", "mirror credential required: send Authorization: Bearer <credential from POST "+api.PathMirrorRegister+">")
			return
		}
		id, ok := parseMirrorCredential(cred)
		var m store.Mirror
		err := store.ErrNotFound
		if ok {
			m, err = ms.MirrorByCredential(r.Context(), id)
			if err == nil && !credentialMatches(cred, m.CredentialHash) {
				err = store.ErrNotFound
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-mirror", error="invalid_token"`)
			writeErrorBody(w, http.StatusUnauthorized, "", "mirror credential rejected: enroll the mirror again (waptserver mirror --enroll-token-file) or ask an administrator")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		next(w, r, m)
	}
}

// handleMirrorRegister enrolls a mirror with an enrollment token (or the enrollment
// secret) and answers its credential.
func (s *Server) handleMirrorRegister(w http.ResponseWriter, r *http.Request) {
	ms, ok := s.mirrorStore()
	if !ok {
		writeErrorBody(w, http.StatusNotImplemented, "", "this server keeps no site repositories")
		return
	}
	secret, ok := bearer(r)
	if !ok || len(secret) > 256 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-enrollment"`)
		writeErrorBody(w, http.StatusUnauthorized, "", "enrollment token required: send Authorization: Bearer <enrollment token>")
		return
	}
	viaSecret := s.enrollmentSecret != "" && secretEqual(secret, s.enrollmentSecret)
	var req api.MirrorRegisterRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	reg := store.MirrorRegistration{Name: req.Name, Site: req.Site, URL: req.URL, At: s.now()}
	if !viaSecret {
		reg.EnrollmentToken = secret
	}
	if req.CurrentCredential != "" {
		id, ok := parseMirrorCredential(req.CurrentCredential)
		var m store.Mirror
		err := store.ErrNotFound
		if ok {
			m, err = ms.MirrorByCredential(r.Context(), id)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		if err != nil || m.Name != req.Name || !credentialMatches(req.CurrentCredential, m.CredentialHash) {
			writeErrorBody(w, http.StatusUnauthorized, "current_credential", "not the current credential of this mirror")
			return
		}
		reg.Rotate = id
	}
	var (
		m    store.Mirror
		cred string
		err  error
	)
	for range 3 {
		reg.CredentialID, cred, reg.CredentialHash = newMirrorCredential()
		m, err = ms.RegisterMirror(r.Context(), reg)
		if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrMirrorExists) {
			break
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrUsedUp):
		s.log.InfoContext(r.Context(), "mirror enrollment refused: enrollment token", slog.String("remote", s.edge.ClientIP(r)), slog.Any("err", err))
		w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-enrollment", error="invalid_token"`)
		writeErrorBody(w, http.StatusUnauthorized, "", "enrollment token rejected (unknown, expired, revoked or used up): ask an administrator for a new one")
		return
	case errors.Is(err, store.ErrMirrorExists):
		writeErrorBody(w, http.StatusConflict, "name", fmt.Sprintf("a mirror named %q is enrolled already: choose another name, or present its current credential", req.Name))
		return
	default:
		s.fail(w, r, err)
		return
	}
	action := "mirror.register"
	if reg.Rotate != "" {
		action = "mirror.rotate"
	}
	s.app.Record(r.Context(), "mirror", action, "mirror:"+m.Name, map[string]any{
		"site": m.Site, "url": m.URL, "remote": s.edge.ClientIP(r), "via_token": !viaSecret,
	})
	writeJSON(w, http.StatusOK, api.MirrorRegisterResponse{Name: m.Name, Credential: cred})
}

// handleMirrorManifest answers the manifest of the mirror's scope, 304 when the
// If-None-Match ETag is current, waiting up to ?wait= for a change.
func (s *Server) handleMirrorManifest(w http.ResponseWriter, r *http.Request, m store.Mirror) {
	scope := r.URL.Query().Get("scope")
	switch scope {
	case "", api.ScopeAll:
		scope = api.ScopeAll
	case api.ScopeNeeded:
		if _, ok := s.store.(SiteHosts); !ok {
			writeErrorBody(w, http.StatusNotImplemented, "scope", "scope=needed needs the site assignment of hosts, which this server does not have yet: use scope = all")
			return
		}
		if m.Site == "" {
			writeErrorBody(w, http.StatusBadRequest, "scope", fmt.Sprintf("mirror %q has no site: scope=needed lists the files the hosts of its site need; enroll it with a site or use scope = all", m.Name))
			return
		}
	default:
		s.fail(w, r, badRequest("scope", "%q: want all or needed", truncate(scope, 40)))
		return
	}
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	man, err := s.manifest(ctx, scope, m.Site)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inm := r.Header.Get("If-None-Match")
	if inm != "" && wait > 0 && strings.Contains(inm, `"`+man.Version+`"`) {
		man, err = s.waitManifest(ctx, scope, m.Site, man.Version, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.fail(w, r, err)
			return
		}
	}
	etag := `"` + man.Version + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, man)
}

func (s *Server) waitManifest(ctx context.Context, scope, site, version string, wait time.Duration) (api.MirrorManifest, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	ticker := time.NewTicker(s.mirrorPoll)
	defer ticker.Stop()
	var man api.MirrorManifest
	for {
		select {
		case <-ticker.C:
		case <-timer.C:
			return s.manifest(ctx, scope, site)
		case <-s.done:
			return s.manifest(ctx, scope, site)
		case <-ctx.Done():
			return man, ctx.Err()
		}
		man, err := s.manifest(ctx, scope, site)
		if err != nil || man.Version != version {
			return man, err
		}
	}
}

// manifest lists the files of the repository folder (the catalog's .sha1 sidecar
// excepted: a mirror publishes the catalog with its own, identical sidecar) and the
// served rules packages, with their digests.
func (s *Server) manifest(ctx context.Context, scope, site string) (api.MirrorManifest, error) {
	man := api.MirrorManifest{Scope: scope, Generated: s.now().UTC(), Files: []api.MirrorFile{}}
	var needed map[string]bool
	if scope == api.ScopeNeeded {
		files, err := s.store.(SiteHosts).NeededFilesForSite(ctx, site)
		if errors.Is(err, store.ErrNotFound) {
			return man, badRequest("scope", "the mirror's site %q is not defined on this server: create it (console, Repositories) or enroll the mirror with an existing site", site)
		}
		if err != nil {
			return man, fmt.Errorf("files needed by site %q: %w", site, err)
		}
		needed = make(map[string]bool, len(files))
		for _, f := range files {
			needed[strings.ToLower(f.SHA1)] = true
		}
	}
	live := map[string]bool{}
	if s.repo != nil {
		src, ok := s.repo.(repoSource)
		if !ok {
			return man, errStatus(http.StatusNotImplemented, "", "this server's repository cannot list its files")
		}
		list, err := src.List()
		if err != nil {
			return man, err
		}
		for _, fi := range list {
			if strings.EqualFold(fi.Name, repo.CabSHA1Name) {
				continue
			}
			key := api.MirrorFolderUpdates + "/" + fi.Name
			sums, ok := s.mirrorSums.get(key, fi.Size, fi.ModTime)
			if !ok {
				var info repo.FileInfo
				info, sums, err = src.Sum(fi.Name)
				if err != nil {
					continue // removed or replaced meanwhile: the next manifest has it
				}
				fi = info
				s.mirrorSums.put(key, fi.Size, fi.ModTime, sums)
			}
			live[key] = true
			if needed != nil && !strings.EqualFold(fi.Name, repo.CabName) && !needed[sums.SHA1] {
				continue
			}
			man.Files = append(man.Files, api.MirrorFile{Path: key, Size: sums.Size, SHA1: sums.SHA1, SHA256: sums.SHA256,
				Appeared: fi.ModTime.UTC()})
		}
	}
	pkgs, _, err := s.servedPackages(ctx)
	if err != nil {
		return man, err
	}
	for _, p := range pkgs {
		key := api.MirrorFolderPackages + "/" + p.Filename
		if repo.CheckFileName(p.Filename) != nil {
			continue
		}
		sums, ok := s.mirrorSums.get(key, p.Size, p.UploadedAt)
		if !ok {
			full, err := s.store.PackageFile(ctx, p.Filename)
			if err != nil {
				continue // deleted meanwhile
			}
			h1 := sha1.Sum(full.Data)
			h256 := sha256.Sum256(full.Data)
			sums = repo.Sums{Size: int64(len(full.Data)), SHA1: hex.EncodeToString(h1[:]), SHA256: hex.EncodeToString(h256[:])}
			s.mirrorSums.put(key, p.Size, p.UploadedAt, sums)
		}
		live[key] = true
		man.Files = append(man.Files, api.MirrorFile{Path: key, Size: sums.Size, SHA1: sums.SHA1, SHA256: sums.SHA256,
			Appeared: p.UploadedAt.UTC()})
	}
	s.mirrorSums.keep(live)
	sort.Slice(man.Files, func(i, j int) bool { return man.Files[i].Path < man.Files[j].Path })
	var buf bytes.Buffer
	buf.WriteString(scope + "\n")
	for _, f := range man.Files {
		fmt.Fprintf(&buf, "%s %d %s %s %d\n", f.Path, f.Size, f.SHA1, f.SHA256, f.Appeared.UnixMicro())
	}
	sum := sha256.Sum256(buf.Bytes())
	man.Version = hex.EncodeToString(sum[:16])
	return man, nil
}

// handleMirrorState records the state a mirror reports and exports it as metrics.
func (s *Server) handleMirrorState(w http.ResponseWriter, r *http.Request, m store.Mirror) {
	var st api.MirrorState
	if err := decodeBody(w, r, maxRegisterBytes, &st); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := st.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	ms, _ := s.mirrorStore()
	rec := store.MirrorState{Status: st.Status, Version: st.Version, LastSync: st.LastSync, FilesHeld: st.FilesHeld,
		BytesHeld: st.BytesHeld, FilesMissing: st.FilesMissing, BytesMissing: st.BytesMissing,
		Lag: time.Duration(st.LagSeconds * float64(time.Second)), LastError: st.LastError, RequestsServed: st.RequestsServed,
		BytesServed: st.BytesServed, BytesSynced: st.BytesSynced, SyncDuration: time.Duration(st.SyncSeconds * float64(time.Second))}
	if err := ms.SetMirrorState(r.Context(), m.ID, rec, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.mirrorState(m.Name, st)
	w.WriteHeader(http.StatusNoContent)
}

// handleListMirrors lists the site repositories and their last reported state.
func (s *Server) handleListMirrors(w http.ResponseWriter, r *http.Request) {
	ms, ok := s.mirrorStore()
	if !ok {
		writeErrorBody(w, http.StatusNotImplemented, "", "this server keeps no site repositories")
		return
	}
	list, err := ms.ListMirrors(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []store.Mirror{}
	}
	writeJSON(w, http.StatusOK, struct {
		Mirrors []store.Mirror `json:"mirrors"`
	}{list})
}

// mirrorGauges are the metrics of each site repository, as it last reported them
// (its counters count since the mirror started).
var mirrorGauges = []struct{ name, help string }{
	{"bytes_synced", "Bytes the site repository downloaded from this server since it started."},
	{"bytes_served", "Bytes the site repository served to hosts since it started."},
	{"requests_served", "Requests the site repository answered since it started."},
	{"sync_duration_seconds", "Duration of the site repository's last sync."},
	{"files_missing", "Files of its manifest the site repository lacks."},
	{"bytes_missing", "Bytes of its manifest the site repository lacks."},
	{"lag_seconds", "Time since the oldest file the site repository lacks appeared on this server."},
	{"files_held", "Files of its manifest the site repository holds."},
	{"bytes_held", "Bytes of its manifest the site repository holds."},
}

// mirrorState exports the state a mirror reported.
func (m *Metrics) mirrorState(name string, st api.MirrorState) {
	if m == nil {
		return
	}
	for k, v := range map[string]float64{
		"bytes_synced": float64(st.BytesSynced), "bytes_served": float64(st.BytesServed), "requests_served": float64(st.RequestsServed),
		"sync_duration_seconds": st.SyncSeconds, "files_missing": float64(st.FilesMissing), "bytes_missing": float64(st.BytesMissing),
		"lag_seconds": st.LagSeconds, "files_held": float64(st.FilesHeld), "bytes_held": float64(st.BytesHeld),
	} {
		m.mirrors[k].WithLabelValues(name).Set(v)
	}
}
