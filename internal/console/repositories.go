package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// The Repositories page (/ui/repositories, issue 14): the sites (ordered repositories
// and the rules that assign hosts to them: host UUIDs, then groups, then networks, then
// site order), edited by administrators through the app's site operations, and the site
// repositories (`waptserver mirror`) with the state they last reported.

// MirrorLister lists the site repositories and their last reported state
// (store.MirrorStore).
type MirrorLister interface {
	ListMirrors(ctx context.Context) ([]store.Mirror, error)
}

// MirrorUnreachableAfter is how long without a state report makes a site repository
// "unreachable": an idle mirror reports after every sync, at least every 15 minutes
// (its default interval), so this is two missed reports.
const MirrorUnreachableAfter = 35 * time.Minute

// Display states of a site repository.
const (
	mirrorInSync      = "in sync"
	mirrorSyncing     = "syncing"
	mirrorLagging     = "lagging"
	mirrorUnreachable = "unreachable"
)

type mirrorView struct {
	store.Mirror
	Display       string
	Class         string // the badge colour of Display
	HostsAssigned int
	SiteKnown     bool
}

// siteForm is a site as the form gives it (one value per line).
type siteForm struct {
	Original     string // the name it had (empty: a new site)
	Name         string
	Position     string
	Repositories string
	Networks     string
	Groups       string
	Hosts        string
}

func formOfSite(s app.SiteView) siteForm {
	return siteForm{Original: s.Name, Name: s.Name, Position: strconv.Itoa(s.Position), Repositories: lines(s.Repositories),
		Networks: lines(s.Networks), Groups: lines(s.Groups), Hosts: lines(s.Hosts)}
}

type siteRow struct {
	app.SiteView
	Form siteForm
}

type repositoriesData struct {
	Sites     []siteRow
	Mirrors   []mirrorView
	HasSites  bool // the server keeps sites
	New       siteForm
	FormError string // a refused change, naming the field
	ErrorFor  string // the site the error is about ("" : the new site form)
}

// mirrorDisplay is the state shown for a mirror at now.
func mirrorDisplay(m store.Mirror, now time.Time) string {
	if m.UpdatedAt.IsZero() || now.Sub(m.UpdatedAt) > MirrorUnreachableAfter {
		return mirrorUnreachable
	}
	switch m.State.Status {
	case "in_sync":
		return mirrorInSync
	case "syncing":
		return mirrorSyncing
	}
	return mirrorLagging // lagging, or an error (its last error shows)
}

func (c *Console) repositoriesPage(w http.ResponseWriter, r *http.Request, status int, d repositoriesData) {
	sites, err := c.deps.App.Sites(r.Context())
	if err != nil && app.KindOf(err) != app.Unavailable {
		c.fail(w, r, err)
		return
	}
	d.HasSites = err == nil
	counts := map[string]int{}
	for _, s := range sites {
		row := siteRow{SiteView: s, Form: formOfSite(s)}
		if d.FormError != "" && d.ErrorFor == s.Name {
			row.Form = d.New
			d.New = siteForm{}
		}
		d.Sites = append(d.Sites, row)
		counts[s.Name] = s.HostsAssigned
	}
	if c.deps.Mirrors != nil {
		ms, err := c.deps.Mirrors.ListMirrors(r.Context())
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, m := range ms {
			_, known := counts[m.Site]
			disp := mirrorDisplay(m, c.now())
			class := map[string]string{mirrorInSync: "b-ok", mirrorSyncing: "b-pending", mirrorLagging: "b-reboot", mirrorUnreachable: "b-error"}[disp]
			d.Mirrors = append(d.Mirrors, mirrorView{Mirror: m, Display: disp, Class: class, HostsAssigned: counts[m.Site], SiteKnown: known})
		}
	}
	p := c.newPage(w, r, "repositories", "Repositories", d)
	c.render(w, r, status, "repositories", p)
}

func (c *Console) handleRepositories(w http.ResponseWriter, r *http.Request) {
	c.repositoriesPage(w, r, http.StatusOK, repositoriesData{})
}

func siteFormOf(r *http.Request, original string) siteForm {
	return siteForm{Original: original, Name: r.PostFormValue("name"), Position: strings.TrimSpace(r.PostFormValue("position")),
		Repositories: r.PostFormValue("repositories"), Networks: r.PostFormValue("networks"), Groups: r.PostFormValue("groups"),
		Hosts: r.PostFormValue("hosts")}
}

func (f siteForm) site() (store.Site, error) {
	s := store.Site{Name: f.Name, Repositories: splitLines(f.Repositories), Networks: splitLines(f.Networks), Groups: splitLines(f.Groups),
		Hosts: splitLines(f.Hosts)}
	if f.Position != "" {
		n, err := strconv.Atoi(f.Position)
		if err != nil {
			return s, &app.Error{Kind: app.Invalid, Field: "position", Msg: fmt.Sprintf("%q is not a whole number", clean(f.Position))}
		}
		s.Position = n
	}
	return s, nil
}

// siteRefused re-renders the page with the form as given and the refusal naming the
// field, for the errors the user can fix; other errors go to the error page.
func (c *Console) siteRefused(w http.ResponseWriter, r *http.Request, f siteForm, err error) {
	var ae *app.Error
	if !errors.As(err, &ae) || (ae.Kind != app.Invalid && ae.Kind != app.Conflict) {
		c.fail(w, r, err)
		return
	}
	msg := capitalize(ae.Msg)
	if ae.Field != "" {
		msg = fieldLabel(ae.Field) + ": " + ae.Msg
	}
	c.repositoriesPage(w, r, ae.Kind.HTTPStatus(), repositoriesData{New: f, FormError: msg, ErrorFor: f.Original})
}

// fieldLabel names a site field as the form shows it ("repositories[1]" → "Repositories, line 2").
func fieldLabel(field string) string {
	name, idx, ok := strings.Cut(field, "[")
	label := map[string]string{"name": "Name", "position": "Position", "repositories": "Repositories", "networks": "Networks",
		"groups": "Groups", "hosts": "Hosts"}[name]
	if label == "" {
		label = name
	}
	if ok {
		if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
			return fmt.Sprintf("%s, line %d", label, n+1)
		}
	}
	return label
}

func (c *Console) handleCreateSite(w http.ResponseWriter, r *http.Request) {
	f := siteFormOf(r, "")
	s, err := f.site()
	if err == nil {
		_, err = c.deps.App.CreateSite(r.Context(), s)
	}
	if err != nil {
		c.siteRefused(w, r, f, err)
		return
	}
	c.redirectWith(w, r, Prefix+"repositories", "ok", fmt.Sprintf("Site %s created.", strings.TrimSpace(f.Name)))
}

func (c *Console) handleUpdateSite(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f := siteFormOf(r, name)
	s, err := f.site()
	if err == nil {
		_, err = c.deps.App.UpdateSite(r.Context(), name, s)
	}
	if err != nil {
		c.siteRefused(w, r, f, err)
		return
	}
	c.redirectWith(w, r, Prefix+"repositories", "ok", fmt.Sprintf("Site %s saved.", strings.TrimSpace(f.Name)))
}

func (c *Console) handleDeleteSite(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := c.deps.App.DeleteSite(r.Context(), name); err != nil {
		c.fail(w, r, err)
		return
	}
	c.redirectWith(w, r, Prefix+"repositories", "ok", fmt.Sprintf("Site %s deleted: its hosts use the next matching site or the main server.", name))
}
