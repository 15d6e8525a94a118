package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// templates holds one parsed set per page: the layout and partials plus the page.
type templates struct {
	pages map[string]*template.Template
}

func parseTemplates(funcs template.FuncMap) (*templates, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		clone, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t.pages[name], err = clone.ParseFS(templateFS, n); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// pageData is what every page template receives; Data is the page's own.
type pageData struct {
	Title string
	Nav   string // the active navigation entry
	User  app.User
	CSRF  string
	Flash *flash
	Now   time.Time
	Data  any
}

// CanChange says whether to show action buttons.
func (p *pageData) CanChange() bool { return p.User.CanChange() }

// facetArg is one checkbox of the filter pane with the query key it sets.
type facetArg struct {
	Name string
	Opt  facetOption
}

type flash struct {
	Kind string // ok, error
	Msg  string
}

func contextWith(ctx context.Context, u app.User, csrf string) context.Context {
	ctx = app.ContextWithUser(ctx, u)
	return context.WithValue(ctx, csrfKey, csrf)
}

func userOf(r *http.Request) app.User {
	u, _ := app.UserFromContext(r.Context())
	return u
}

func csrfOf(r *http.Request) string {
	s, _ := r.Context().Value(csrfKey).(string)
	return s
}

// newPage fills the common fields of a page and takes the pending flash message.
func (c *Console) newPage(w http.ResponseWriter, r *http.Request, nav, title string, data any) *pageData {
	return &pageData{Title: title, Nav: nav, User: userOf(r), CSRF: csrfOf(r), Flash: c.takeFlash(w, r), Now: c.now(), Data: data}
}

// fragmentPage is newPage for an htmx partial: it leaves the flash message for the next
// full page.
func (c *Console) fragmentPage(r *http.Request, nav, title string, data any) *pageData {
	return &pageData{Title: title, Nav: nav, User: userOf(r), CSRF: csrfOf(r), Now: c.now(), Data: data}
}

// render executes template tmpl of page name into a buffer, so that a failing template
// gives a clean error page rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *pageData) {
	c.renderTemplate(w, r, status, name, "layout", p)
}

// renderFragment renders one named template of a page alone (an htmx partial).
func (c *Console) renderFragment(w http.ResponseWriter, r *http.Request, name, fragment string, p *pageData) {
	c.renderTemplate(w, r, http.StatusOK, name, fragment, p)
}

func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, name, tmpl string, p *pageData) {
	t := c.pages.pages[name]
	if t == nil {
		c.fail(w, r, fmt.Errorf("no template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, p); err != nil {
		if r.Context().Err() != nil {
			return
		}
		c.log.ErrorContext(r.Context(), "console: template", slog.String("page", name), slog.Any("err", err))
		if name != "error" {
			c.errorPage(w, r, http.StatusInternalServerError, "Internal error", "The console failed to build this page. The details are in the server log.")
		} else {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// errorPage answers a clear HTML error page (never a stack trace).
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	p := &pageData{Title: heading, User: userOf(r), CSRF: csrfOf(r), Now: c.now(),
		Data: errorData{Status: status, Heading: heading, Message: msg}}
	c.render(w, r, status, "error", p)
}

// userError is an error whose message is meant for the user, with its HTTP status.
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

// lookupErr turns the store's ErrNotFound into a 404 saying what is missing in the
// user's words; other errors are wrapped as they are.
func lookupErr(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, store.ErrNotFound) {
		return &userError{status: http.StatusNotFound, msg: msg}
	}
	return fmt.Errorf("%s: %w", strings.TrimSuffix(msg, "."), err)
}

func badRequest(format string, args ...any) error {
	return &userError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// fail answers err: a userError as given, the store's sentinels as 404/409/400, a
// cancelled request with nothing, anything else as a logged 500 without details.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ue *userError
	var ae *app.Error
	switch {
	case errors.As(err, &ue):
		c.errorPage(w, r, ue.status, http.StatusText(ue.status), ue.msg)
	case errors.As(err, &ae) && ae.Kind == app.Busy, app.KindOf(err) == app.Busy:
		c.errorPage(w, r, http.StatusConflict, "Job already running", capitalize(err.Error())+". Its progress shows in the download tasks.")
	case errors.As(err, &ae):
		status := ae.Kind.HTTPStatus()
		c.errorPage(w, r, status, http.StatusText(status), capitalize(ae.Msg)+".")
	case errors.Is(err, store.ErrNotFound):
		c.errorPage(w, r, http.StatusNotFound, "Not found", capitalize(err.Error())+".")
	case errors.Is(err, store.ErrConflict):
		c.errorPage(w, r, http.StatusConflict, "Conflict", capitalize(err.Error())+".")
	case errors.Is(err, store.ErrInvalid):
		c.errorPage(w, r, http.StatusBadRequest, "Bad request", capitalize(err.Error())+".")
	case r.Context().Err() != nil:
		// The client went away.
	default:
		c.log.ErrorContext(r.Context(), "console: request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		c.errorPage(w, r, http.StatusInternalServerError, "Internal error", "The server could not complete this request. The details are in the server log.")
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// --- flash messages ------------------------------------------------------------------

// setFlash keeps a message for the next page (after a POST's redirect), signed so that
// another site cannot plant text in the console.
func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	if len(msg) > 600 {
		msg = msg[:600] + "…"
	}
	b, _ := json.Marshal(flash{Kind: kind, Msg: msg})
	v := base64.RawURLEncoding.EncodeToString(b)
	c.setCookie(w, r, flashCookie, v+"."+c.mac("flash", v), 5*time.Minute)
}

func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.setCookie(w, r, flashCookie, "", 0)
	v, sig, ok := strings.Cut(ck.Value, ".")
	if !ok || len(ck.Value) > maxCookieLen || sig != c.mac("flash", v) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(raw, &f) != nil || f.Msg == "" {
		return nil
	}
	if f.Kind != "error" {
		f.Kind = "ok"
	}
	return &f
}

// redirectWith answers a POST with a redirect to target and a flash message.
func (c *Console) redirectWith(w http.ResponseWriter, r *http.Request, target, kind, msg string) {
	c.setFlash(w, r, kind, msg)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// --- template functions --------------------------------------------------------------

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(c.loc).Format("2006-01-02 15:04")
		},
		"whenSec": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(c.loc).Format("2006-01-02 15:04:05")
		},
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(c.loc).Format("2006-01-02")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"ago":      func(t time.Time) string { return ago(c.now(), t) },
		"bytes":    humanBytes,
		"kbs":      formatKBs,
		"join":     strings.Join,
		"sevClass": func(v any) string { return sevClass(wu.Severity(fmt.Sprint(v))) },
		"stClass":  func(v any) string { return statusClass(wu.Status(fmt.Sprint(v))) },
		"wuaClass": wuaClass,
		"add":      func(a, b int) int { return a + b },
		"pct": func(part, whole int) int {
			if whole <= 0 {
				return 0
			}
			return part * 100 / whole
		},
		"first": func(s []string) string {
			if len(s) == 0 {
				return ""
			}
			return s[0]
		},
		"more": func(s []string) int { return max(len(s)-1, 0) },
		"severityLabel": func(v any) string {
			if s := fmt.Sprint(v); s != "" {
				return s
			}
			return "—"
		},
		"svg":      func(s svgChart) template.HTML { return s.html },
		"facetArg": func(name string, o facetOption) facetArg { return facetArg{Name: name, Opt: o} },
	}
}

// ago says how long ago t was: "never", "just now", "5 min ago", "3 h ago", "12 days ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// humanBytes writes a size with binary units: "0 B", "12.3 KiB", "4.5 GiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func formatKBs(kbs []string) string {
	out := make([]string, len(kbs))
	for i, k := range kbs {
		out[i] = wu.FormatKB(k)
	}
	return strings.Join(out, ", ")
}

func sevClass(s wu.Severity) string {
	switch s {
	case wu.SeverityCritical:
		return "sev-critical"
	case wu.SeverityImportant:
		return "sev-important"
	case wu.SeverityModerate:
		return "sev-moderate"
	case wu.SeverityLow:
		return "sev-low"
	}
	return "sev-none"
}

func statusClass(s wu.Status) string {
	switch s {
	case wu.StatusOK:
		return "st-ok"
	case wu.StatusPending:
		return "st-pending"
	case wu.StatusMissing:
		return "st-missing"
	case wu.StatusDiscarded:
		return "st-discarded"
	case wu.StatusError:
		return "st-error"
	case wu.StatusSuperseded:
		return "st-superseded"
	}
	return "st-unknown"
}

// wuaClass colours an agent-level status (REFERENCE §2).
func wuaClass(s string) string {
	switch {
	case s == "OK":
		return "st-ok"
	case s == "READY" || s == "PENDING_UPDATES" || s == "INSTALL" || s == "SCANNING":
		return "st-pending"
	case strings.Contains(s, "ERROR"):
		return "st-error"
	case s == "":
		return "st-unknown"
	}
	return "st-discarded"
}
