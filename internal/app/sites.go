package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/openwua/waptwua/internal/store"
)

// Sites (issue 14): groups of hosts that download update files from their own
// repositories (site mirrors) before the main server. Every user reads them; admins
// change them.

// SiteStore is what the site operations need of the store.
type SiteStore interface {
	ListSites(ctx context.Context) ([]store.Site, error)
	GetSite(ctx context.Context, name string) (store.Site, error)
	CreateSite(ctx context.Context, s store.Site) (store.Site, error)
	UpdateSite(ctx context.Context, name string, s store.Site) (store.Site, error)
	DeleteSite(ctx context.Context, name string) error
	SiteHostCounts(ctx context.Context) (map[string]int, error)
}

// SiteView is a site and the number of accepted hosts it holds now.
type SiteView struct {
	store.Site
	HostsAssigned int `json:"hosts_assigned"`
}

func (a *App) sites() (SiteStore, error) {
	if a.d.Sites == nil {
		return nil, errorf(Unavailable, "", "this server keeps no sites")
	}
	return a.d.Sites, nil
}

// Sites lists the sites in order with their host counts.
func (a *App) Sites(ctx context.Context) ([]SiteView, error) {
	if _, err := reader(ctx); err != nil {
		return nil, err
	}
	ss, err := a.sites()
	if err != nil {
		return nil, err
	}
	list, err := ss.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := ss.SiteHostCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SiteView, len(list))
	for i, s := range list {
		out[i] = SiteView{Site: s, HostsAssigned: counts[s.Name]}
	}
	return out, nil
}

// Site returns one site with its host count.
func (a *App) Site(ctx context.Context, name string) (SiteView, error) {
	all, err := a.Sites(ctx)
	if err != nil {
		return SiteView{}, err
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return SiteView{}, errorf(NotFound, "", "no site %q", Truncate(name, 100))
}

// siteInvalid turns the store's *InvalidField into an Invalid error naming the field.
func siteInvalid(err error) error {
	var fe *store.InvalidField
	if errors.As(err, &fe) {
		return &Error{Kind: Invalid, Field: fe.Field, Msg: fe.Reason, Err: err}
	}
	return err
}

// siteChange starts a change of site s: an admin, the store, s checked and stamped.
func (a *App) siteChange(ctx context.Context, s *store.Site) (User, SiteStore, error) {
	who, err := admin(ctx)
	if err != nil {
		return who, nil, err
	}
	ss, err := a.sites()
	if err != nil {
		return who, nil, err
	}
	if err := s.Normalize(); err != nil {
		return who, nil, siteInvalid(err)
	}
	s.UpdatedAt, s.UpdatedBy = a.now(), who.Name
	return who, ss, nil
}

// siteConflict is the answer to a name taken by another site.
func siteConflict(name string, err error) error {
	return &Error{Kind: Conflict, Field: "name", Msg: fmt.Sprintf("a site named %q exists already: choose another name", Truncate(name, 100)), Err: err}
}

// CreateSite adds a site (site.create).
func (a *App) CreateSite(ctx context.Context, s store.Site) (store.Site, error) {
	who, ss, err := a.siteChange(ctx, &s)
	if err != nil {
		return s, err
	}
	out, err := ss.CreateSite(ctx, s)
	if errors.Is(err, store.ErrConflict) {
		return s, siteConflict(s.Name, err)
	}
	if err != nil {
		return s, siteInvalid(err)
	}
	a.audit(ctx, who.Name, "site.create", "site:"+out.Name, out)
	return out, nil
}

// UpdateSite replaces the site named name with s, which may rename it (site.update).
func (a *App) UpdateSite(ctx context.Context, name string, s store.Site) (store.Site, error) {
	who, ss, err := a.siteChange(ctx, &s)
	if err != nil {
		return s, err
	}
	out, err := ss.UpdateSite(ctx, name, s)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s, notFound(err, "no site %q", Truncate(name, 100))
	case errors.Is(err, store.ErrConflict):
		return s, siteConflict(s.Name, err)
	case err != nil:
		return s, siteInvalid(err)
	}
	a.audit(ctx, who.Name, "site.update", "site:"+name, out)
	return out, nil
}

// DeleteSite removes a site (site.delete): its hosts fall to the next matching site, or
// to the main server.
func (a *App) DeleteSite(ctx context.Context, name string) error {
	who, err := admin(ctx)
	if err != nil {
		return err
	}
	ss, err := a.sites()
	if err != nil {
		return err
	}
	if err := ss.DeleteSite(ctx, name); err != nil {
		return notFound(err, "no site %q", Truncate(name, 100))
	}
	a.audit(ctx, who.Name, "site.delete", "site:"+name, nil)
	return nil
}
