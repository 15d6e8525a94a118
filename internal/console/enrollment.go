package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// The host enrollment page (/ui/enrollment): enrollment tokens (created, shown once,
// revoked) and the hosts waiting for approval. Every action is an app operation, as in
// the admin API.

type enrollmentData struct {
	Tokens   []store.EnrollmentToken
	Pending  []store.Host
	NewToken string
	NewLabel string
	// Installers: the agent installers offered (admins).
	Installers []installerChoice
	// InstallerURL is the server URL given to the installers.
	InstallerURL string
}

func (c *Console) enrollmentPage(w http.ResponseWriter, r *http.Request, status int, d enrollmentData) {
	var err error
	if userOf(r).CanChange() {
		d.Installers, d.InstallerURL = c.installerChoices(), c.installerServerURL(r)
		if d.Tokens, err = c.deps.App.EnrollmentTokens(r.Context()); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	if d.Pending, err = c.deps.App.PendingHosts(r.Context()); err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.newPage(w, r, "hosts", "Host enrollment", d)
	c.render(w, r, status, "enrollment", p)
}

func (c *Console) handleEnrollment(w http.ResponseWriter, r *http.Request) {
	c.enrollmentPage(w, r, http.StatusOK, enrollmentData{})
}

// handleCreateToken creates a token and shows it once, on the answer itself (never in a
// URL or a cookie).
func (c *Console) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	req := app.NewToken{Label: strings.TrimSpace(r.PostFormValue("label"))}
	if v := strings.TrimSpace(r.PostFormValue("days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			c.fail(w, r, badRequest("Valid for %q days: a whole number from 1 to 3650, or empty.", clean(v)))
			return
		}
		req.ExpiresAt = c.now().Add(time.Duration(n) * 24 * time.Hour)
	}
	if v := strings.TrimSpace(r.PostFormValue("max_uses")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(w, r, badRequest("Maximum uses %q: a whole number from 1, or empty.", clean(v)))
			return
		}
		req.MaxUses = n
	}
	tok, t, err := c.deps.App.CreateEnrollmentToken(r.Context(), req)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	c.enrollmentPage(w, r, http.StatusOK, enrollmentData{NewToken: tok, NewLabel: t.Label})
}

func (c *Console) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.fail(w, r, badRequest("%q is not a token id.", clean(r.PathValue("id"))))
		return
	}
	if err := c.deps.App.RevokeEnrollmentToken(r.Context(), id); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"enrollment", "ok", fmt.Sprintf("Enrollment token %d revoked: hosts can no longer register with it.", id))
}

func (c *Console) handlePendingDecision(w http.ResponseWriter, r *http.Request) {
	uuid := r.PathValue("uuid")
	var err error
	msg := ""
	switch r.PostFormValue("decision") {
	case "accept":
		_, err = c.deps.App.AcceptHost(r.Context(), uuid)
		msg = fmt.Sprintf("Host %s accepted.", uuid)
	case "reject":
		err = c.deps.App.RejectHost(r.Context(), uuid)
		msg = fmt.Sprintf("Host %s rejected.", uuid)
	default:
		err = badRequest("Accept or reject?")
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"enrollment", "ok", msg)
}
