package server

import (
	"context"
	"net/http"

	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// Sites (issue 14): every user reads them, admins change them (internal/app).

// siteRoutes mounts the admin endpoints of sites.
func (s *Server) siteRoutes(read func(string, http.HandlerFunc), adm func(string, string, http.HandlerFunc)) {
	read("/sites", s.handleListSites)
	read("/sites/{name}", s.handleGetSite)
	adm("POST", "/sites", s.handleCreateSite)
	adm("PUT", "/sites/{name}", s.handleUpdateSite)
	adm("DELETE", "/sites/{name}", s.handleDeleteSite)
}

func wireSite(v app.SiteView) admin.Site {
	return admin.Site{Name: v.Name, Position: v.Position, Repositories: v.Repositories, Networks: v.Networks, Groups: v.Groups,
		Hosts: v.Hosts, HostsAssigned: v.HostsAssigned, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, UpdatedBy: v.UpdatedBy}
}

func (s *Server) handleListSites(w http.ResponseWriter, r *http.Request) {
	list, err := s.app.Sites(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Sites []admin.Site `json:"sites"`
	}{mapSlice(list, wireSite)})
}

func (s *Server) handleGetSite(w http.ResponseWriter, r *http.Request) {
	v, err := s.app.Site(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wireSite(v))
}

func decodeSite(w http.ResponseWriter, r *http.Request) (store.Site, error) {
	var req admin.SiteRequest
	if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
		return store.Site{}, err
	}
	return store.Site{Name: req.Name, Position: req.Position, Repositories: req.Repositories, Networks: req.Networks,
		Groups: req.Groups, Hosts: req.Hosts}, nil
}

func (s *Server) handleCreateSite(w http.ResponseWriter, r *http.Request) {
	site, err := decodeSite(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.app.CreateSite(r.Context(), site)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wireSite(app.SiteView{Site: out}))
}

func (s *Server) handleUpdateSite(w http.ResponseWriter, r *http.Request) {
	site, err := decodeSite(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.app.UpdateSite(r.Context(), r.PathValue("name"), site)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.app.Site(r.Context(), out.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wireSite(v))
}

func (s *Server) handleDeleteSite(w http.ResponseWriter, r *http.Request) {
	if err := s.app.DeleteSite(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// hostRepositories are the repositories of the host's site, in order (none: the main
// server only).
func (s *Server) hostRepositories(ctx context.Context, h store.Host) ([]string, error) {
	site, ok, err := s.store.HostSite(ctx, h.UUID)
	if err != nil || !ok {
		return nil, err
	}
	return site.Repositories, nil
}
