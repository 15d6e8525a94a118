package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// AdminPrefix is where the admin API lives.
const AdminPrefix = "/api/v1/admin"

// Bounds of admin requests.
const (
	maxUpdateHostScan = 2000
	maxAuditDetails   = 8 << 10
)

func (s *Server) routes(mux *http.ServeMux) {
	// Agent API (internal/api).
	mux.HandleFunc("POST /api/v1/hosts/register", s.handleRegister)
	mux.HandleFunc("POST /api/v1/hosts/{uuid}/report", s.hostAuth(s.handleReport))
	mux.HandleFunc("GET /api/v1/hosts/{uuid}/commands", s.hostAuth(s.handleCommands))
	mux.HandleFunc("POST /api/v1/hosts/{uuid}/commands/{id}", s.hostAuth(s.handleCommandResult))
	mux.HandleFunc("GET /api/v1/hosts/{uuid}/rules", s.hostAuth(s.handleRules))

	// Repository folder.
	if s.repo != nil {
		mux.Handle("GET /waptwua/", http.StripPrefix("/waptwua", s.repo.Handler()))
	}

	// Operations.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metrics.Handler())

	// Admin API: read routes for every user, change routes for admins only.
	// Change routes refuse cross-site browser requests (Origin, Sec-Fetch-Site), as the
	// console does, and bodies that are not application/json (415).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, http.StatusForbidden, "", "cross-origin request refused: the admin API accepts changes only from "+
			"non-browser clients or pages of this server (Origin / Sec-Fetch-Site)")
	}))
	read := func(p string, h http.HandlerFunc) { mux.Handle("GET "+AdminPrefix+p, s.RequireUser(false, h)) }
	admin := func(method, p string, h http.HandlerFunc) {
		mux.Handle(method+" "+AdminPrefix+p, cop.Handler(requireJSONBody(s.RequireUser(true, h))))
	}
	mux.Handle("POST "+AdminPrefix+"/login", cop.Handler(requireJSONBody(http.HandlerFunc(s.handleLogin))))
	read("/me", s.handleMe)
	mux.Handle("POST "+AdminPrefix+"/logout", cop.Handler(requireJSONBody(s.RequireUser(false, http.HandlerFunc(s.handleLogout)))))
	read("/sessions", s.handleListSessions)
	admin("DELETE", "/sessions/{id}", s.handleEndSession)
	read("/updates", s.handleListUpdates)
	read("/updates/{key}", s.handleGetUpdate)
	admin("POST", "/updates/download", s.handleForceDownload)
	read("/categories", s.handleCategories)
	read("/hosts", s.handleListHosts)
	read("/hosts/{uuid}", s.handleGetHost)
	admin("DELETE", "/hosts/{uuid}", s.handleDeleteHost)
	admin("POST", "/hosts/{uuid}/reset", s.handleResetHost)
	read("/pending-hosts", s.handlePendingHosts)
	admin("POST", "/pending-hosts/{uuid}/accept", s.handleAcceptHost)
	admin("DELETE", "/pending-hosts/{uuid}", s.handleRejectHost)
	admin("GET", "/enrollment-tokens", s.handleListTokens) // admins only, even to read
	admin("POST", "/enrollment-tokens", s.handleCreateToken)
	admin("DELETE", "/enrollment-tokens/{id}", s.handleRevokeToken)
	read("/hosts/{uuid}/updates", s.handleHostUpdates)
	read("/hosts/{uuid}/commands", s.handleHostCommands)
	admin("POST", "/hosts/{uuid}/commands", s.handleQueueCommand)
	admin("POST", "/commands", s.handleBulkCommands)
	read("/tasks", s.handleTasks)
	read("/cab", s.handleCab)
	admin("POST", "/cab/sync", s.handleCabSync)
	read("/files/needed", s.handleNeededFiles)
	read("/files/unused", s.handleUnusedFiles)
	admin("POST", "/files/download-missing", s.handleDownloadMissing)
	admin("POST", "/files/delete-unused", s.handleDeleteUnused)
	read("/repository", s.handleRepository)
	read("/rules", s.handleGetRules)
	admin("PUT", "/rules", s.handlePutRules)
	admin("GET", "/users", s.handleListUsers) // user accounts: admins only, even to read
	admin("POST", "/users", s.handleCreateUser)
	admin("GET", "/users/{name}", s.handleGetUser)
	admin("PATCH", "/users/{name}", s.handleUpdateUser)
	admin("DELETE", "/users/{name}", s.handleDeleteUser)
	read("/audit", s.handleAudit)
	s.packageRoutes(mux, read, admin)
	s.mirrorRoutes(mux, read, admin)
	s.siteRoutes(read, admin)
}

// requireJSONBody refuses a change request whose body is not application/json (415),
// before authentication reads anything. The package upload takes the .wapt file itself
// (its own content type check).
func requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := r.Method == http.MethodPost && r.URL.Path == AdminPrefix+"/packages" || isPayloadUpload(r)
		hasBody := r.ContentLength > 0 || r.ContentLength < 0 && len(r.TransferEncoding) > 0
		if !upload && hasBody {
			ct := r.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				writeErrorBody(w, http.StatusUnsupportedMediaType, "", fmt.Sprintf("content type %q: the admin API takes JSON bodies: send Content-Type: application/json", truncate(ct, 80)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// notFound turns the store's ErrNotFound into a 404 that names the missing thing.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
	}
	return err
}

// actor is the authenticated user's name (the auth middleware ran).
func actor(r *http.Request) string {
	u, _ := app.UserFromContext(r.Context())
	return u.Name
}

// --- login ---------------------------------------------------------------------------

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	User    app.User  `json:"user"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ses, err := s.app.Login(r.Context(), req.Username, req.Password, "api", s.edge.ClientIP(r))
	if errors.Is(err, app.ErrBadCredentials) {
		s.log.InfoContext(r.Context(), "login failed", slog.String("username", truncate(req.Username, 64)), slog.String("remote", r.RemoteAddr))
		writeErrorBody(w, http.StatusUnauthorized, "", "wrong user name or password")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: ses.Token, Expires: ses.Expires, User: ses.User})
}

// handleLogout ends the bearer session of the request, at once on every replica.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.replyDone(w, r, s.app.Logout(r.Context(), "api"))
}

// handleListSessions lists open sessions (?user=NAME; admins see every user's).
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	ss, err := s.app.ListSessions(r.Context(), r.URL.Query().Get("user"))
	replyList(s, w, r, "sessions", ss, err, wireSession)
}

// handleEndSession ends one session.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, badRequest("id", "%q is not a session id", truncate(r.PathValue("id"), 40)))
		return
	}
	s.replyDone(w, r, s.app.EndSession(r.Context(), id))
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, _ := app.UserFromContext(r.Context())
	writeJSON(w, http.StatusOK, u)
}

// --- updates ---------------------------------------------------------------------------

func (s *Server) handleListUpdates(w http.ResponseWriter, r *http.Request) {
	f, err := updateFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListUpdates(r.Context(), f)
	reply(s, w, r, http.StatusOK, page, cursorErr(err, f.Cursor), wireUpdatePage)
}

// updateFilter reads the updates list's query: severity, product, classification
// (repeatable), q, needed, downloaded, superseded, source, sort, desc, limit, cursor,
// offset, facets.
func updateFilter(r *http.Request) (store.UpdateFilter, error) {
	q := r.URL.Query()
	var f store.UpdateFilter
	for _, v := range q["severity"] {
		for _, one := range strings.Split(v, ",") {
			one = strings.TrimSpace(one)
			if strings.EqualFold(one, "none") {
				f.Severities = append(f.Severities, wu.SeverityNone)
				continue
			}
			sev, err := wu.ParseSeverity(one)
			if err != nil || sev == wu.SeverityNone {
				return f, badRequest("severity", "%q is not one of Critical, Important, Moderate, Low, none", truncate(one, 40))
			}
			f.Severities = append(f.Severities, sev)
		}
	}
	f.Products = q["product"]
	f.Classifications = q["classification"]
	f.Search = strings.TrimSpace(q.Get("q"))
	var err error
	if f.Needed, err = queryBool(r, "needed"); err != nil {
		return f, err
	}
	if f.Downloaded, err = queryBool(r, "downloaded"); err != nil {
		return f, err
	}
	if f.Superseded, err = queryBool(r, "superseded"); err != nil {
		return f, err
	}
	switch src := store.Source(q.Get("source")); src {
	case "", store.SourceCatalog, store.SourceReport:
		f.Source = src
	default:
		return f, badRequest("source", "%q is not one of catalog, report", truncate(string(src), 40))
	}
	switch srt := store.UpdateSort(q.Get("sort")); srt {
	case "", store.SortCreated, store.SortTitle, store.SortSeverity, store.SortKB, store.SortClassification:
		f.Sort = srt
	default:
		return f, badRequest("sort", "%q is not one of created, title, severity, kb, classification", truncate(string(srt), 40))
	}
	desc, err := queryBool(r, "desc")
	if err != nil {
		return f, err
	}
	f.Desc = desc != nil && *desc
	if f.Limit, err = queryInt(r, "limit", 50, 1, 1000); err != nil {
		return f, err
	}
	if f.Offset, err = queryInt(r, "offset", 0, 0, 1<<30); err != nil {
		return f, err
	}
	f.Cursor = q.Get("cursor")
	facets, err := queryBool(r, "facets")
	if err != nil {
		return f, err
	}
	f.WithFacets = facets != nil && *facets
	return f, nil
}

// updateHost is one host's status for the update page.
type updateHost struct {
	UUID        string    `json:"uuid"`
	Name        string    `json:"name"`
	Status      wu.Status `json:"status"`
	Reason      wu.Reason `json:"reason,omitempty"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	ChangedAt   time.Time `json:"changed_at"`
}

type updateDetail struct {
	Update admin.Update `json:"update"`
	Key    string       `json:"key"`
	// Hosts that need the update or have it installed (at most maxUpdateHostScan).
	// HostsComplete is false when more hosts report it.
	Hosts         []updateHost `json:"hosts"`
	HostsComplete bool         `json:"hosts_complete"`
}

func (s *Server) handleGetUpdate(w http.ResponseWriter, r *http.Request) {
	key, err := wu.ParseUpdateKey(r.PathValue("key"))
	if err != nil {
		s.fail(w, r, badRequest("key", "%v", err))
		return
	}
	d, err := s.app.UpdateDetail(r.Context(), key, append(store.NeededStatuses(), wu.StatusOK), maxUpdateHostScan)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hosts := make([]updateHost, len(d.Hosts))
	for i, h := range d.Hosts {
		hosts[i] = updateHost{UUID: h.HostUUID, Name: h.HostName, Status: h.Status, Reason: h.Reason,
			InstalledAt: h.InstalledAt, LastError: h.LastError, ChangedAt: h.ChangedAt}
	}
	writeJSON(w, http.StatusOK, updateDetail{Update: wireUpdate(d.Info), Key: d.Info.Key().String(), Hosts: hosts, HostsComplete: d.Complete})
}

type updateKeysRequest struct {
	Updates []string `json:"updates"`
}

func (s *Server) handleForceDownload(w http.ResponseWriter, r *http.Request) {
	var req updateKeysRequest
	if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Updates) == 0 {
		s.fail(w, r, badRequest("updates", "name at least one update (\"<guid>_<revision>\"); POST %s/files/download-missing fetches every missing file", AdminPrefix))
		return
	}
	if len(req.Updates) > app.MaxForcedUpdates {
		s.fail(w, r, badRequest("updates", "%d updates, at most %d per request", len(req.Updates), app.MaxForcedUpdates))
		return
	}
	keys := make([]wu.UpdateKey, 0, len(req.Updates))
	for i, v := range req.Updates {
		k, err := wu.ParseUpdateKey(v)
		if err != nil {
			s.fail(w, r, badRequest(fmt.Sprintf("updates[%d]", i), "%v", err))
			return
		}
		keys = append(keys, k)
	}
	keys, err := s.app.ForceDownload(r.Context(), keys)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "scheduled", "updates": names})
}

func (s *Server) handleCategories(w http.ResponseWriter, r *http.Request) {
	cats, err := s.store.Categories(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if cats == nil {
		cats = []wu.Category{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"categories": cats})
}

// --- hosts ---------------------------------------------------------------------------

func (s *Server) handleListHosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.HostFilter{Search: strings.TrimSpace(q.Get("q")), WUAStatus: q.Get("wua_status"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = queryInt(r, "limit", 50, 1, 1000); err == nil {
		f.Offset, err = queryInt(r, "offset", 0, 0, 1<<30)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListHosts(r.Context(), f)
	reply(s, w, r, http.StatusOK, page, cursorErr(err, f.Cursor), func(p store.HostPage) admin.HostPage {
		return admin.HostPage{Hosts: wireList(p.Hosts, wireHost), Total: p.Total, Next: p.Next}
	})
}

func (s *Server) handleGetHost(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	h, err := s.store.GetHost(r.Context(), uuid)
	if err != nil {
		s.fail(w, r, notFound(err, "no host %q", uuid))
		return
	}
	cmds, err := s.store.ListCommands(r.Context(), uuid, 20)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sched, err := s.app.HostSchedule(r.Context(), uuid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, admin.HostDetail{Host: wireHost(h), Commands: wireList(cmds, wireCommand), Schedule: wireHostSchedule(sched)})
}

func (s *Server) handleDeleteHost(w http.ResponseWriter, r *http.Request) {
	s.replyDone(w, r, s.app.DeleteHost(r.Context(), r.PathValue("uuid")))
}

// handleResetHost clears a host's credential so that it may register again.
func (s *Server) handleResetHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.app.ResetHost(r.Context(), r.PathValue("uuid"))
	reply(s, w, r, http.StatusOK, h, err, wireHost)
}

func (s *Server) handlePendingHosts(w http.ResponseWriter, r *http.Request) {
	hs, err := s.app.PendingHosts(r.Context())
	replyList(s, w, r, "hosts", hs, err, wireHost)
}

func (s *Server) handleAcceptHost(w http.ResponseWriter, r *http.Request) {
	h, err := s.app.AcceptHost(r.Context(), r.PathValue("uuid"))
	reply(s, w, r, http.StatusOK, h, err, wireHost)
}

func (s *Server) handleRejectHost(w http.ResponseWriter, r *http.Request) {
	s.replyDone(w, r, s.app.RejectHost(r.Context(), r.PathValue("uuid")))
}

type tokenRequest struct {
	Label     string    `json:"label"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses"`
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.app.EnrollmentTokens(r.Context())
	replyList(s, w, r, "tokens", ts, err, wireToken)
}

// handleCreateToken answers the new token once: the server keeps only its digest.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	tok, t, err := s.app.CreateEnrollmentToken(r.Context(), app.NewToken(req))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		admin.EnrollmentToken
		Token string `json:"token"`
	}{wireToken(t), tok})
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, badRequest("id", "%q is not a token id", truncate(r.PathValue("id"), 40)))
		return
	}
	s.replyDone(w, r, s.app.RevokeEnrollmentToken(r.Context(), id))
}

// hostUpdateView is a HostUpdate with its key spelled out.
type hostUpdateView struct {
	Key            string      `json:"key"`
	UpdateID       string      `json:"update_id"`
	RevisionNumber int         `json:"revision_number"`
	Title          string      `json:"title"`
	KBs            []string    `json:"kb"`
	Severity       wu.Severity `json:"severity"`
	Classification string      `json:"classification"`
	Status         wu.Status   `json:"status"`
	Reason         wu.Reason   `json:"reason,omitempty"`
	InstalledAt    time.Time   `json:"installed_at,omitzero"`
	LastError      string      `json:"last_error,omitempty"`
	ChangedAt      time.Time   `json:"changed_at"`
}

func (s *Server) handleHostUpdates(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	var statuses []wu.Status
	for _, v := range r.URL.Query()["status"] {
		for _, one := range strings.Split(v, ",") {
			st := wu.Status(strings.ToUpper(strings.TrimSpace(one)))
			if !st.Valid() {
				s.fail(w, r, badRequest("status", "%q is not one of OK, PENDING, MISSING, DISCARDED, ERROR, SUPERSEDED", truncate(one, 40)))
				return
			}
			statuses = append(statuses, st)
		}
	}
	if _, err := s.store.GetHost(r.Context(), uuid); err != nil {
		s.fail(w, r, notFound(err, "no host %q", uuid))
		return
	}
	hus, err := s.store.HostUpdates(r.Context(), uuid, statuses...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]hostUpdateView, 0, len(hus))
	for _, hu := range hus {
		kbs := hu.KBs
		if kbs == nil {
			kbs = []string{}
		}
		out = append(out, hostUpdateView{Key: hu.Key.String(), UpdateID: hu.Key.UpdateID, RevisionNumber: hu.Key.RevisionNumber,
			Title: hu.Title, KBs: kbs, Severity: hu.Severity, Classification: hu.Classification, Status: hu.Status,
			Reason: hu.Reason, InstalledAt: hu.InstalledAt, LastError: hu.LastError, ChangedAt: hu.ChangedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"updates": out})
}

func (s *Server) handleHostCommands(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 50, 1, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cmds, err := s.app.HostCommands(r.Context(), r.PathValue("uuid"), limit)
	replyList(s, w, r, "commands", cmds, err, wireCommand)
}

type commandRequest struct {
	Kind  string   `json:"kind"`
	Hosts []string `json:"hosts,omitempty"` // bulk only
}

func (s *Server) handleQueueCommand(w http.ResponseWriter, r *http.Request) {
	var req commandRequest
	if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Hosts) > 0 {
		s.fail(w, r, badRequest("hosts", "the host is in the path; POST %s/commands queues for several hosts", AdminPrefix))
		return
	}
	kind, err := app.ParseCommandKind(req.Kind)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cmds, err := s.app.QueueCommands(r.Context(), kind, []string{r.PathValue("uuid")})
	if err != nil {
		var ae *app.Error
		if errors.As(err, &ae) && ae.Kind == app.NotFound {
			ae.Field = "" // the host is in the path
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, wireCommand(cmds[0]))
}

// handleBulkCommands queues a command for several hosts: all or nothing (an unknown
// host refuses the request before anything is queued), as in the console.
func (s *Server) handleBulkCommands(w http.ResponseWriter, r *http.Request) {
	var req commandRequest
	if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	kind, err := app.ParseCommandKind(req.Kind)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cmds, err := s.app.QueueCommands(r.Context(), kind, req.Hosts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"commands": wireList(cmds, wireCommand)})
}

// --- download tasks, cab, files, repository ----------------------------------------------

func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var statuses []store.TaskStatus
	for _, v := range r.URL.Query()["status"] {
		for _, one := range strings.Split(v, ",") {
			switch st := store.TaskStatus(strings.ToLower(strings.TrimSpace(one))); st {
			case store.TaskQueued, store.TaskDownloading, store.TaskDone, store.TaskFailed:
				statuses = append(statuses, st)
			default:
				s.fail(w, r, badRequest("status", "%q is not one of queued, downloading, done, failed", truncate(one, 40)))
				return
			}
		}
	}
	tasks, err := s.store.ListTasks(r.Context(), limit, statuses...)
	replyList(s, w, r, "tasks", tasks, err, wireTask)
}

type cabView struct {
	Published *repo.FileInfo  `json:"published"` // the wsusscn2.cab served now; null when none
	Syncs     []admin.CabSync `json:"syncs"`     // newest first
}

func (s *Server) handleCab(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 20, 1, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	syncs, err := s.store.LatestCabSyncs(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := cabView{Syncs: wireList(syncs, wireCabSync)}
	if s.repo != nil {
		if fi, err := s.repo.Stat(repo.CabName); err == nil {
			v.Published = &fi
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleCabSync(w http.ResponseWriter, r *http.Request) {
	s.replyScheduled(w, r, s.app.SyncCab(r.Context()))
}

func (s *Server) handleDownloadMissing(w http.ResponseWriter, r *http.Request) {
	s.replyScheduled(w, r, s.app.DownloadMissing(r.Context()))
}

func (s *Server) handleDeleteUnused(w http.ResponseWriter, r *http.Request) {
	n, bytes, err := s.app.DeleteUnused(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"deleted": int64(n), "bytes": bytes})
}

func (s *Server) filesList(w http.ResponseWriter, r *http.Request, list func(context.Context) ([]store.UpdateFile, error)) {
	files, err := list(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": wireList(files, wireFile), "count": len(files), "bytes": total})
}

func (s *Server) handleNeededFiles(w http.ResponseWriter, r *http.Request) {
	s.filesList(w, r, s.store.NeededFiles)
}

func (s *Server) handleUnusedFiles(w http.ResponseWriter, r *http.Request) {
	s.filesList(w, r, s.store.UnusedFiles)
}

func (s *Server) handleRepository(w http.ResponseWriter, r *http.Request) {
	if s.repo == nil {
		s.fail(w, r, errStatus(http.StatusServiceUnavailable, "", "no repository folder configured"))
		return
	}
	u, err := s.repo.Usage()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// --- rules ---------------------------------------------------------------------------

func (s *Server) rulesEditor() (RulesEditor, error) {
	ed, ok := s.rules.(RulesEditor)
	if !ok {
		return nil, errStatus(http.StatusNotFound, "", "this server has no editable server-wide rules")
	}
	return ed, nil
}

func (s *Server) handleGetRules(w http.ResponseWriter, r *http.Request) {
	ed, err := s.rulesEditor()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rs, err := ed.ServerRules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *Server) handlePutRules(w http.ResponseWriter, r *http.Request) {
	ed, err := s.rulesEditor()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkJSONContentType(r); err != nil {
		s.fail(w, r, err)
		return
	}
	data, err := readBody(w, r, maxAdminBodyBytes, fmt.Sprintf("rules larger than %d bytes", maxAdminBodyBytes))
	if err == nil {
		err = checkLimits(data, bodyLimits(maxAdminBodyBytes))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rs, err := rules.Parse(data)
	if err != nil {
		var fe *rules.FieldError
		field := ""
		if errors.As(err, &fe) {
			field = fe.Key
		}
		s.fail(w, r, badRequest(field, "%v", err))
		return
	}
	if err := ed.SetServerRules(r.Context(), rs); err != nil {
		s.fail(w, r, err)
		return
	}
	s.app.Audit(r.Context(), "rules.update", "rules:server", string(data))
	writeJSON(w, http.StatusOK, rs)
}

// --- users ---------------------------------------------------------------------------

type userRequest struct {
	Username string  `json:"username"`
	Password *string `json:"password"`
	Role     *string `json:"role"`
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.app.ListUsers(r.Context())
	replyList(s, w, r, "users", us, err, wireUser)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.app.GetUser(r.Context(), r.PathValue("name"))
	reply(s, w, r, http.StatusOK, u, err, wireUser)
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.app.CreateUser(r.Context(), app.NewUser(req))
	reply(s, w, r, http.StatusCreated, u, err, wireUser)
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.app.UpdateUser(r.Context(), r.PathValue("name"), app.NewUser(req))
	reply(s, w, r, http.StatusOK, u, err, wireUser)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	s.replyDone(w, r, s.app.DeleteUser(r.Context(), r.PathValue("name")))
}

// --- audit ---------------------------------------------------------------------------

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	var err error
	if f.Limit, err = queryInt(r, "limit", 100, 1, 1000); err != nil {
		s.fail(w, r, err)
		return
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeID <= 0 {
			s.fail(w, r, badRequest("before", "%q is not an audit entry id", truncate(v, 40)))
			return
		}
	}
	entries, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"entries": wireList(entries, wireAudit)}
	if len(entries) == f.Limit {
		resp["next_before"] = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// jsonEncode writes v as JSON to w.
func jsonEncode(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
