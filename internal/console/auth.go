package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
)

// Cookie names. The session and flash cookies are scoped to the console's pages.
const (
	sessionCookie = "waptwua_session"
	loginCookie   = "waptwua_login" // nonce binding the login form's CSRF token
	flashCookie   = "waptwua_flash"
	maxCookieLen  = 2048
	maxFormBytes  = 2 << 20
)

func (c *Console) mac(parts ...string) string {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifySession checks a session cookie value (an internal/app session token, the same
// sessions as the admin API's) and returns its user with the role the store has now;
// app.ErrBadCredentials when it is not valid.
func (c *Console) verifySession(r *http.Request, token string) (app.User, error) {
	if len(token) > maxCookieLen {
		return app.User{}, app.ErrBadCredentials
	}
	return c.deps.App.VerifySession(r.Context(), token)
}

// csrfToken is the CSRF token of a session: an HMAC of the session cookie, which a
// page of another site can neither read nor compute.
func (c *Console) csrfToken(session string) string { return c.mac("csrf", session) }

func (c *Console) isSecure(r *http.Request) bool { return c.secure || c.edge.HTTPS(r) }

// setCookie sets a console cookie for maxAge (relative, so that the browser's clock
// does not matter); maxAge 0 deletes it.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     Prefix,
		HttpOnly: true,
		Secure:   c.isSecure(r),
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge <= 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, ck)
}

type ctxKey int

const (
	userKey ctxKey = iota
	csrfKey
)

// requireUser lets requests with a valid session through, with the user and the CSRF
// token in the context (app.ContextWithUser: the operations check and audit that user). Without a session a page redirects to the login form; a POST must
// carry the session's CSRF token.
func (c *Console) requireUser(next http.Handler) http.Handler { return c.requireUserWith(next, true) }

// requireUserStreamed is requireUser for a route that reads its own (large, streamed)
// POST body: the body is neither capped nor parsed here, and the handler must check
// the CSRF token itself (checkStreamedCSRF).
func (c *Console) requireUserStreamed(next http.Handler) http.Handler {
	return c.requireUserWith(next, false)
}

func (c *Console) requireUserWith(next http.Handler, parseForm bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		var u app.User
		if err == nil {
			u, err = c.verifySession(r, ck.Value)
		}
		if err != nil {
			if !errors.Is(err, app.ErrBadCredentials) && !errors.Is(err, http.ErrNoCookie) {
				c.fail(w, r, err)
				return
			}
			c.toLogin(w, r)
			return
		}
		token := c.csrfToken(ck.Value)
		if r.Method == http.MethodPost && parseForm {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.errorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read (larger than 2 MiB, or malformed).")
				return
			}
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				c.errorPage(w, r, http.StatusForbidden, "Form expired",
					"The form's security token is missing or stale (the session changed). Reload the page and try again.")
				return
			}
		}
		ctx := app.ContextWithSession(contextWith(r.Context(), u, token), ck.Value)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requireAdmin refuses changes to read-only users (403), whatever the page showed.
func (c *Console) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		if !u.CanChange() {
			c.log.InfoContext(r.Context(), "console: change refused to read-only user", slog.String("user", u.Name),
				slog.String("path", r.URL.Path))
			c.errorPage(w, r, http.StatusForbidden, "Not allowed",
				fmt.Sprintf("User %q has the role %s: only admin users may change anything.", u.Name, u.Role))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// toLogin sends an unauthenticated request to the login form, remembering the page.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	target := Prefix + "login"
	if r.Method == http.MethodGet && r.URL.Path != Prefix {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.errorPage(w, r, http.StatusUnauthorized, "Session expired", "Log in again, then repeat the action.")
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext keeps a post-login target only when it is a console page of this server.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, Prefix+"login") {
		return Prefix
	}
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || strings.Contains(u.Path, "//") {
		return Prefix
	}
	return next
}

type loginData struct {
	Next     string
	Username string
	Error    string
}

func (c *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, err := c.verifySession(r, ck.Value); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	c.renderLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// renderLogin shows the login form with a fresh nonce cookie and its CSRF token.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	c.setCookie(w, r, loginCookie, nonce, time.Hour)
	c.render(w, r, status, "login", &pageData{Title: "Log in", CSRF: c.mac("login", nonce), Data: d})
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", "The login form could not be read.")
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next")), Username: strings.TrimSpace(r.PostFormValue("username"))}
	ck, err := r.Cookie(loginCookie)
	if err != nil || len(ck.Value) > 64 ||
		subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.mac("login", ck.Value))) != 1 {
		d.Error = "The login form expired (or cookies are disabled). Try again."
		c.renderLogin(w, r, http.StatusForbidden, d)
		return
	}
	password := r.PostFormValue("password")
	if d.Username == "" || password == "" || len(d.Username) > 64 || len(password) > 128 {
		d.Error = "Enter your user name and password."
		c.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	ses, err := c.deps.App.Login(r.Context(), d.Username, password, "console", c.edge.ClientIP(r))
	var ae *app.Error
	if errors.As(err, &ae) && ae.Kind == app.TooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
		d.Error = capitalize(ae.Msg) + "."
		c.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	if errors.Is(err, app.ErrBadCredentials) {
		c.log.InfoContext(r.Context(), "console: login failed", slog.String("user", d.Username), slog.String("remote", r.RemoteAddr))
		d.Error = "Wrong user name or password."
		c.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	if err != nil {
		c.fail(w, r, fmt.Errorf("login: %w", err))
		return
	}
	c.setCookie(w, r, sessionCookie, ses.Token, ses.Expires.Sub(c.now()))
	c.setCookie(w, r, loginCookie, "", 0)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request) {
	c.setCookie(w, r, sessionCookie, "", 0)
	if err := c.deps.App.Logout(r.Context(), "console"); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
