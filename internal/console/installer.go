package console

import (
	"net/http"
	"strconv"

	"github.com/openwua/waptwua/internal/app"
)

// "Download agent installer" on the enrollment page (admins): an MSI of the Windows
// agent holding a fresh enrollment token and this server's URL, built by the app layer.

// installerChoice is one architecture offered, with why it cannot be built ("" when it can).
type installerChoice struct {
	Arch        string
	Unavailable string
}

func (c *Console) installerChoices() []installerChoice {
	var out []installerChoice
	for _, arch := range app.InstallerArchs {
		ch := installerChoice{Arch: arch}
		if err := c.deps.App.InstallerAvailable(arch); err != nil {
			ch.Unavailable = capitalize(err.Error()) + "."
		}
		out = append(out, ch)
	}
	return out
}

// installerServerURL is the URL agents are given: public_url, else the console's own
// with the scheme the browser used (through trusted proxies too).
func (c *Console) installerServerURL(r *http.Request) string {
	if c.publicURL != "" {
		return c.publicURL
	}
	scheme := "http"
	if c.edge.HTTPS(r) || r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (c *Console) handleAgentInstaller(w http.ResponseWriter, r *http.Request) {
	inst, err := c.deps.App.DownloadAgentInstaller(r.Context(), r.PostFormValue("arch"), c.installerServerURL(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sendAttachment(w, "application/x-msi", inst.Filename, inst.MSI)
}

// sendAttachment answers b as a file to save (never shown, never cached).
func sendAttachment(w http.ResponseWriter, contentType, filename string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
