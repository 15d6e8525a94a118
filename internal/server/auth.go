package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openwua/waptwua/internal/app"
)

// Admin API authentication: HTTP Basic with a console user, or a bearer session token
// from POST /api/v1/admin/login (the same sessions as the console's, internal/app).

// errNoCredentials: the request carries none.
var errNoCredentials = errors.New("no credentials")

// Authenticate finds the user of an admin request: HTTP Basic, then a bearer session
// token. app.ErrBadCredentials (wrapped) when they are wrong.
func (s *Server) Authenticate(r *http.Request) (app.User, error) {
	if name, password, ok := r.BasicAuth(); ok {
		return s.app.CheckLogin(r.Context(), name, password, s.edge.ClientIP(r))
	}
	if tok, ok := bearer(r); ok {
		return s.app.VerifySession(r.Context(), tok)
	}
	return app.User{}, errNoCredentials
}

// RequireUser lets authenticated users through with their User in the context (401
// otherwise). The operations of internal/app check the role themselves; with change
// set a read-only user is refused here already (403), before the body is read.
func (s *Server) RequireUser(change bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.Authenticate(r)
		switch {
		case err == nil:
		case errors.Is(err, errNoCredentials), errors.Is(err, app.ErrBadCredentials):
			w.Header().Set("WWW-Authenticate", `Basic realm="waptserver", charset="UTF-8"`)
			msg := "authentication required: HTTP Basic with a console user, or a bearer token from POST /api/v1/admin/login"
			if errors.Is(err, app.ErrBadCredentials) {
				msg = "invalid credentials"
				s.log.InfoContext(r.Context(), "admin authentication failed", "remote", r.RemoteAddr, "err", err)
			}
			writeErrorBody(w, http.StatusUnauthorized, "", msg)
			return
		default:
			s.fail(w, r, err)
			return
		}
		if change && !u.CanChange() {
			writeErrorBody(w, http.StatusForbidden, "", fmt.Sprintf("user %q has role %s: only admin users may change anything", u.Name, u.Role))
			return
		}
		ctx := app.ContextWithUser(r.Context(), u)
		if tok, ok := bearer(r); ok {
			ctx = app.ContextWithSession(ctx, tok)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
