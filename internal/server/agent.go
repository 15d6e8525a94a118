package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Limits of the host facts a registration or report carries.
const (
	maxNameLen    = 255
	maxOSLen      = 255
	maxVersionLen = 64
	maxGroups     = 100
	maxListItem   = 255
	maxListLen    = 100
	// touchEvery is how often a polling host's last seen time is written.
	touchEvery = time.Minute
	// peekCommands is how many of a host's newest commands a poll looks at.
	peekCommands = 10
)

// hostUUIDRE is what the server accepts as a host UUID: WAPT uses the BIOS UUID, but
// any short token of safe characters will do.
var hostUUIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:{}-]{0,99}$`)

var maturityRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,31}$`)

// hostHandler is an agent API handler for the authenticated host.
type hostHandler func(w http.ResponseWriter, r *http.Request, h store.Host)

// hostAuth authenticates a host by its bearer credential and lets it act on its own UUID
// only: no or wrong credential 401, another host's UUID 403.
func (s *Server) hostAuth(next hostHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver"`)
			writeErrorBody(w, http.StatusUnauthorized, "", "host credential required: send Authorization: Bearer <credential from registration>")
			return
		}
		id, ok := parseHostCredential(cred)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver", error="invalid_token"`)
			writeErrorBody(w, http.StatusUnauthorized, "", "host credential rejected: not a credential from POST "+api.PathRegister)
			return
		}
		h, err := s.store.HostByCredential(r.Context(), id)
		if err == nil && !credentialMatches(cred, h.CredentialHash) {
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver", error="invalid_token"`)
			writeErrorBody(w, http.StatusUnauthorized, "", "host credential rejected: register the host again (POST "+api.PathRegister+")")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if h.Pending {
			writeErrorBody(w, http.StatusForbidden, "", "this host waits for an administrator's approval (registration = approve): ask an administrator to accept it")
			return
		}
		if uuid := r.PathValue("uuid"); uuid != h.UUID {
			writeErrorBody(w, http.StatusForbidden, "uuid", fmt.Sprintf("this credential belongs to host %s: a host may only act on its own UUID", h.UUID))
			return
		}
		next(w, r, h)
	}
}

// handleRegister registers a host that presents the enrollment secret or an enrollment
// token and gives it its own credential. A UUID registered already is refused (409)
// unless the request proves the host's current credential (rotation) or an
// administrator reset the host; with registration = approve a new host waits for an
// administrator.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	secret, ok := bearer(r)
	viaSecret := ok && s.enrollmentSecret != "" && secretEqual(secret, s.enrollmentSecret)
	if !ok || len(secret) > 256 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-enrollment"`)
		writeErrorBody(w, http.StatusUnauthorized, "", "enrollment token required: send Authorization: Bearer <enrollment token or enrollment_secret>")
		return
	}
	var req api.RegisterRequest
	if err := decodeBody(w, r, maxRegisterBytes, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validateRegistration(&req); err != nil {
		s.fail(w, r, err)
		return
	}
	reg := store.HostRegistration{UUID: req.UUID, Name: req.Name, OS: req.OS, Groups: req.Groups, Maturity: req.Maturity,
		AgentVersion: req.AgentVersion, At: s.now(), Pending: s.approve}
	if !viaSecret {
		reg.EnrollmentToken = secret // checked and counted by the store, in the registration's transaction
	}
	if req.CurrentCredential != "" {
		id, ok := parseHostCredential(req.CurrentCredential)
		var h store.Host
		var err error
		if ok {
			h, err = s.store.HostByCredential(r.Context(), id)
		}
		if !ok || err != nil || h.UUID != req.UUID || !credentialMatches(req.CurrentCredential, h.CredentialHash) {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
			writeErrorBody(w, http.StatusUnauthorized, "current_credential", "not the current credential of this host: "+
				"a host rotates its credential with the one it holds; an administrator can reset the host instead")
			return
		}
		reg.Rotate = id
	}
	var (
		h    store.Host
		cred string
		err  error
	)
	for range 3 { // a credential id collision is astronomically unlikely; retry anyway
		var hash []byte
		reg.CredentialID, cred, hash = newHostCredential()
		reg.CredentialHash = hash
		h, err = s.store.RegisterHost(r.Context(), reg)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrUsedUp):
		s.log.InfoContext(r.Context(), "registration refused: enrollment token", slog.String("remote", s.edge.ClientIP(r)), slog.Any("err", err))
		if s.enrollmentSecret == "" && errors.Is(err, store.ErrNotFound) {
			writeErrorBody(w, http.StatusForbidden, "", "registration is closed: create an enrollment token (console or admin API) or set "+
				"enrollment_secret in the [options] section of waptserver.ini (`openssl rand -hex 32`), and give it to the agents")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="waptserver-enrollment"`)
		writeErrorBody(w, http.StatusUnauthorized, "", "enrollment token rejected (unknown, expired, revoked or used up)")
		return
	case errors.Is(err, store.ErrHostExists):
		s.app.Record(r.Context(), "agent", "host.register_refused", "host:"+req.UUID, map[string]any{"remote": s.edge.ClientIP(r)})
		writeErrorBody(w, http.StatusConflict, "uuid", "host "+truncate(req.UUID, 100)+" is registered already: the real host keeps "+
			"its credential; to register this machine again, an administrator resets the host (console or POST "+AdminPrefix+
			"/hosts/{uuid}/reset), or the agent proves its current credential (current_credential)")
		return
	default:
		s.fail(w, r, err)
		return
	}
	s.metrics.registrations.Inc()
	action := "host.register"
	if reg.Rotate != "" {
		action = "host.rotate"
	}
	s.app.Record(r.Context(), "agent", action, "host:"+h.UUID, map[string]any{
		"name": h.Name, "os": h.OS, "agent_version": h.AgentVersion, "remote": s.edge.ClientIP(r), "pending": h.Pending,
		"via_token": !viaSecret,
	})
	writeJSON(w, http.StatusOK, api.RegisterResponse{UUID: h.UUID, Credential: cred})
}

func validateRegistration(req *api.RegisterRequest) error {
	if !hostUUIDRE.MatchString(req.UUID) {
		return badRequest("uuid", "%q is not a host UUID (1 to 100 letters, digits and . _ : { } -)", truncate(req.UUID, 120))
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		return badRequest("name", "required: the host's name")
	}
	if err := checkLen("name", req.Name, maxNameLen); err != nil {
		return err
	}
	if err := checkLen("os", req.OS, maxOSLen); err != nil {
		return err
	}
	if err := checkLen("agent_version", req.AgentVersion, maxVersionLen); err != nil {
		return err
	}
	if len(req.Groups) > maxGroups {
		return badRequest("groups", "%d groups, at most %d", len(req.Groups), maxGroups)
	}
	for i, g := range req.Groups {
		if err := checkLen(fmt.Sprintf("groups[%d]", i), g, maxListItem); err != nil {
			return err
		}
	}
	req.Maturity = strings.ToUpper(strings.TrimSpace(req.Maturity))
	if req.Maturity == "" {
		req.Maturity = "PROD"
	}
	if !maturityRE.MatchString(req.Maturity) {
		return badRequest("maturity", "%q is not a maturity (PROD, PREPROD, ...)", truncate(req.Maturity, 40))
	}
	return nil
}

func checkLen(field, v string, n int) error {
	if len(v) > n {
		return badRequest(field, "too long (at most %d bytes)", n)
	}
	return nil
}

// handleReport records a scan report of the host. A report identical to the host's
// last one (the same digest, see reportDigest) costs no write when the host was seen
// less than touchEvery ago and the scan time did not move; otherwise the store compares
// the digest again under the host's lock and, when it matches, writes only the times.
// A lean report (api.Report.Lean) is answered with the updates the server does not know.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request, h store.Host) {
	start := time.Now()
	result, n := "applied", 0
	defer func() { s.metrics.reportDone(result, time.Since(start), n) }()
	var rep api.Report
	var res store.ReportResult
	err := func() error {
		if err := checkJSONContentType(r); err != nil {
			return err
		}
		data, err := readBody(w, r, s.maxReportBytes, fmt.Sprintf(
			"report larger than max_report_bytes (%d bytes): send only the updates that changed (\"full\": false), or raise max_report_bytes in waptserver.ini",
			s.maxReportBytes))
		if err != nil {
			return err
		}
		if err := decodeStrict(data, &rep, reportLimits(s.maxReportBytes)); err != nil {
			return err
		}
		if err := rep.Validate(); err != nil {
			return err
		}
		now := s.now()
		sr, err := storeReport(&rep, now)
		if err != nil {
			return err
		}
		n = len(sr.Updates)
		if sr.Digest, err = reportDigest(rep); err != nil {
			return err
		}
		if bytes.Equal(sr.Digest, h.ReportDigest) && now.Sub(h.LastSeen) < touchEvery &&
			(sr.ScanAt.IsZero() || sr.ScanAt.UnixMicro() == h.LastScan.UnixMicro()) {
			res.Unchanged = true
			return nil
		}
		s.logPackageErrors(r.Context(), h.UUID, rep.Packages)
		s.logUpdatePackageErrors(r.Context(), h.UUID, rep.UpdatePackages)
		if res, err = s.store.RecordReport(r.Context(), h.UUID, sr); err != nil {
			return err
		}
		return s.storeSchedule(r.Context(), h.UUID, rep.Schedule)
	}()
	if err != nil {
		result = "failed"
		var he *httpError
		var fe *api.FieldError
		if errors.As(err, &fe) || errors.As(err, &he) && he.status < 500 || errors.Is(err, store.ErrInvalid) {
			result = "rejected"
			s.log.InfoContext(r.Context(), "report refused", slog.String("host", h.UUID), slog.Any("err", err))
		}
		s.fail(w, r, err)
		return
	}
	if res.Unchanged {
		result = "unchanged"
	}
	w.Header().Set(api.LeanReportsHeader, "1")
	if !rep.Lean {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ans := api.ReportAnswer{Lean: true, Unchanged: res.Unchanged}
	for _, k := range res.Unknown {
		ans.Describe = append(ans.Describe, api.UpdateRef{UpdateID: k.UpdateID, RevisionNumber: k.RevisionNumber})
	}
	writeJSON(w, http.StatusOK, ans)
}

// reportDigest identifies what a report says: the SHA-256 of the JSON encoding of the
// report as received (every field counts, so a field added to api.Report is covered
// without a change here), except its scan time and what only matters for updates the
// store does not know (the description in the statuses, Lean): a digest is stored only
// when every status was recorded, so that a lean report and the same report sent again
// with some updates described have one digest.
func reportDigest(rep api.Report) ([]byte, error) {
	rep.ScanAt, rep.Lean = time.Time{}, false
	ups := make([]api.UpdateStatus, len(rep.Updates))
	for i, u := range rep.Updates {
		u.Title, u.KBs, u.Severity, u.Classification, u.Products = "", nil, "", "", nil
		ups[i] = u
	}
	rep.Updates = ups
	b, err := json.Marshal(&rep)
	if err != nil {
		return nil, fmt.Errorf("digest of the report: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// storeReport turns a validated report into the store's, normalising update ids, KBs
// and severities.
func storeReport(rep *api.Report, at time.Time) (store.Report, error) {
	if err := checkLen("name", rep.Name, maxNameLen); err != nil {
		return store.Report{}, err
	}
	if err := checkLen("os", rep.OS, maxOSLen); err != nil {
		return store.Report{}, err
	}
	if err := checkLen("agent_version", rep.AgentVersion, maxVersionLen); err != nil {
		return store.Report{}, err
	}
	if err := checkLen("wua_status", rep.WUAStatus, maxVersionLen); err != nil {
		return store.Report{}, err
	}
	out := store.Report{
		At: at, ScanAt: rep.ScanAt, Name: strings.TrimSpace(rep.Name), OS: rep.OS, AgentVersion: rep.AgentVersion,
		WUAStatus: rep.WUAStatus, RebootPending: rep.RebootPending, LastError: rep.LastError, Full: rep.Full, Lean: rep.Lean,
		Updates:  make([]store.ReportedUpdate, 0, len(rep.Updates)),
		Packages: make([]store.HostPackage, 0, len(rep.Packages)),
	}
	for _, p := range rep.Packages {
		out.Packages = append(out.Packages, store.HostPackage{Name: p.Name, Version: p.Version, Status: p.Status, Error: p.Error})
	}
	out.Networks, out.Repository = rep.Networks, rep.Repository
	if rep.UpdatePackages != nil {
		out.UpdatePackages = make([]store.HostPackage, 0, len(rep.UpdatePackages))
		for _, p := range rep.UpdatePackages {
			out.UpdatePackages = append(out.UpdatePackages, store.HostPackage{Name: p.Name, Version: p.Version, Status: p.Status, Error: p.Error})
		}
	}
	seen := make(map[wu.UpdateKey]int, len(rep.Updates))
	for i, u := range rep.Updates {
		field := func(name string) string { return fmt.Sprintf("updates[%d].%s", i, name) }
		key := wu.UpdateKey{UpdateID: strings.ToLower(u.UpdateID), RevisionNumber: u.RevisionNumber}
		if j, dup := seen[key]; dup {
			return store.Report{}, badRequest(fmt.Sprintf("updates[%d]", i), "update %s is listed twice (also updates[%d])", key, j)
		}
		seen[key] = i
		if len(u.KBs) > maxListLen {
			return store.Report{}, badRequest(field("kb"), "%d KBs, at most %d", len(u.KBs), maxListLen)
		}
		kbs := make([]string, 0, len(u.KBs))
		for k, kb := range u.KBs {
			d, err := wu.ParseKB(kb)
			if err != nil {
				return store.Report{}, badRequest(fmt.Sprintf("updates[%d].kb[%d]", i, k), "%q is not a KB number (KB5034441 or 5034441)", truncate(kb, 40))
			}
			kbs = append(kbs, d)
		}
		sev := u.Severity
		if sev != wu.SeverityNone {
			p, err := wu.ParseSeverity(string(sev))
			if err != nil {
				return store.Report{}, badRequest(field("severity"), "%q is not one of Critical, Important, Moderate, Low (or empty)", truncate(string(sev), 40))
			}
			sev = p
		}
		if err := checkLen(field("classification"), u.Classification, maxListItem); err != nil {
			return store.Report{}, err
		}
		if len(u.Products) > maxListLen {
			return store.Report{}, badRequest(field("products"), "%d products, at most %d", len(u.Products), maxListLen)
		}
		for k, p := range u.Products {
			if err := checkLen(fmt.Sprintf("updates[%d].products[%d]", i, k), p, maxListItem); err != nil {
				return store.Report{}, err
			}
		}
		out.Updates = append(out.Updates, store.ReportedUpdate{
			Key: key, Status: u.Status, Reason: u.Reason, InstalledAt: u.InstalledAt, LastError: u.Error,
			Title: u.Title, KBs: kbs, Severity: sev, Classification: u.Classification, Products: u.Products,
		})
	}
	return out, nil
}

// parseWait reads the long-poll wait: a Go duration ("25s") or seconds ("25"), capped
// at api.MaxWait.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseFloat(v, 64)
		if nerr != nil || n != n { // NaN
			return 0, badRequest("wait", "%q is not a duration (e.g. 25s)", truncate(v, 40))
		}
		d = time.Duration(min(n, api.MaxWait.Seconds()+1) * float64(time.Second))
	}
	if d < 0 {
		return 0, badRequest("wait", "%q is negative", truncate(v, 40))
	}
	return min(d, api.MaxWait), nil
}

// handleCommands answers the host's pending commands, waiting up to ?wait= for one to be
// queued: an in-process notification wakes it at once; a periodic look at the store
// catches commands queued by another replica.
func (s *Server) handleCommands(w http.ResponseWriter, r *http.Request, h store.Host) {
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	// Last seen is recorded at most once a minute per host: polls are frequent, and
	// every write counts on SQLite.
	if now := s.now(); now.Sub(h.LastSeen) >= touchEvery {
		if err := s.store.TouchHost(ctx, h.UUID, now); err != nil {
			s.log.WarnContext(ctx, "record host seen", slog.String("host", h.UUID), slog.Any("err", err))
		}
	}
	wake, cancel := s.app.Notifier().Subscribe(h.UUID)
	defer cancel()
	cmds, err := s.takeCommands(ctx, h.UUID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(cmds) == 0 && wait > 0 {
		cmds, err = s.waitCommands(ctx, h.UUID, wake, wait)
		if err != nil {
			if ctx.Err() != nil {
				return // the agent left; nothing was taken from the queue
			}
			s.fail(w, r, err)
			return
		}
	}
	out := api.Commands{Commands: make([]api.Command, 0, len(cmds))}
	for _, c := range cmds {
		out.Commands = append(out.Commands, api.Command{ID: strconv.FormatInt(c.ID, 10), Kind: api.CommandKind(c.Kind), Created: c.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) waitCommands(ctx context.Context, host string, wake <-chan struct{}, wait time.Duration) ([]store.Command, error) {
	s.metrics.longPolls.Inc()
	defer s.metrics.longPolls.Dec()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	ticker := time.NewTicker(s.pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-wake:
		case <-ticker.C:
		case <-timer.C:
			return nil, nil
		case <-s.done:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		cmds, err := s.takeCommands(ctx, host)
		if err != nil || len(cmds) > 0 {
			return cmds, err
		}
	}
}

// takeCommands returns the host's pending commands and marks them sent. It looks first
// (a read) so that an idle host costs no write. Fetching marks every pending command
// sent, so a pending one is among the newest few: only commands queued concurrently
// with a fetch (their ids allocated before it, committed after it) can sit below a sent
// one, and peekCommands covers that many.
func (s *Server) takeCommands(ctx context.Context, host string) ([]store.Command, error) {
	recent, err := s.store.ListCommands(ctx, host, peekCommands)
	if err != nil {
		return nil, err
	}
	pending, now := false, s.now()
	for _, c := range recent {
		if c.Due(now, store.DefaultRedeliverAfter) {
			pending = true
			break
		}
	}
	if !pending {
		return nil, nil
	}
	return s.store.FetchCommands(ctx, host, now, store.DefaultRedeliverAfter)
}

// handleCommandResult records how a command ended.
func (s *Server) handleCommandResult(w http.ResponseWriter, r *http.Request, h store.Host) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeErrorBody(w, http.StatusNotFound, "id", fmt.Sprintf("host %s has no command %q", h.UUID, truncate(r.PathValue("id"), 40)))
		return
	}
	var res api.CommandResult
	if err := decodeBody(w, r, maxRegisterBytes, &res); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkLen("message", res.Message, api.MaxErrorLen); err != nil {
		s.fail(w, r, err)
		return
	}
	if res.Ack {
		if err := s.store.AckCommand(r.Context(), h.UUID, id, s.now()); err != nil {
			s.fail(w, r, notFoundCommand(err, h.UUID, id))
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	result, errText := res.Message, ""
	if !res.OK {
		result, errText = "", res.Message
		if errText == "" {
			errText = "failed (the agent gave no message)"
		}
	}
	if err := s.store.CompleteCommand(r.Context(), h.UUID, id, s.now(), result, errText); err != nil {
		s.fail(w, r, notFoundCommand(err, h.UUID, id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func notFoundCommand(err error, host string, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "id", "host %s has no command %d", host, id)
	}
	return err
}

// handleRules answers the host's effective server-side rules, with an ETag so that an
// agent polling them gets 304 while they do not change.
func (s *Server) handleRules(w http.ResponseWriter, r *http.Request, h store.Host) {
	rs, err := s.rules.HostRules(r.Context(), h)
	if err != nil {
		s.fail(w, r, &httpError{status: http.StatusServiceUnavailable, msg: "server rules unavailable (see the server log)", err: err})
		return
	}
	if len(bytes.TrimSpace(rs.Rules)) == 0 {
		rs.Rules = api.RawJSON("{}")
	}
	if rs.Packages, rs.UpdatePackages, err = s.hostPackageLists(r.Context(), h); err != nil {
		s.fail(w, r, err)
		return
	}
	if rs.Repositories, err = s.hostRepositories(r.Context(), h); err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := jsonEncode(&buf, rs); err != nil {
		s.fail(w, r, err)
		return
	}
	sum := sha256.Sum256(buf.Bytes())
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}
