package sqlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openwua/waptwua/internal/store"
)

// Sites (issue 14). The assignment rule (store.SiteFor) runs in Go over the sites and
// the hosts' groups and networks: sites are few, and one rule in one place answers the
// agent, the console and the site repositories alike.

const siteCols = `name, sort_order, repositories, networks, groups, hosts, created_at, updated_at, updated_by`

func (c *Common) scanSite(r Row) (store.Site, error) {
	var s store.Site
	sc := c.D.ScanTime
	err := r.Scan(&s.Name, &s.Position, c.D.ScanList(&s.Repositories), c.D.ScanList(&s.Networks),
		c.D.ScanList(&s.Groups), c.D.ScanList(&s.Hosts), sc(&s.CreatedAt), sc(&s.UpdatedAt), &s.UpdatedBy)
	for _, p := range []*[]string{&s.Repositories, &s.Networks, &s.Groups, &s.Hosts} {
		if *p == nil {
			*p = []string{}
		}
	}
	return s, err
}

func (c *Common) listSites(ctx context.Context, q Conn) ([]store.Site, error) {
	return QueryAll(ctx, q, c.scanSite, `SELECT `+siteCols+` FROM sites ORDER BY sort_order, id`)
}

// ListSites returns every site in order.
func (c *Common) ListSites(ctx context.Context) ([]store.Site, error) {
	out, err := c.listSites(ctx, c.DB.Reader())
	if out == nil {
		out = []store.Site{}
	}
	return out, c.errf(err, "list sites")
}

// GetSite returns one site.
func (c *Common) GetSite(ctx context.Context, name string) (store.Site, error) {
	s, err := c.scanSite(c.DB.Reader().QueryRow(ctx, `SELECT `+siteCols+` FROM sites WHERE name = ?`, name))
	if errors.Is(err, ErrNoRows) {
		err = NotFound("site " + name)
	}
	return s, c.errf(err, "get site")
}

// CreateSite stores a new site.
func (c *Common) CreateSite(ctx context.Context, s store.Site) (store.Site, error) {
	if err := s.Normalize(); err != nil {
		return s, c.errf(err, "create site")
	}
	var out store.Site
	err := c.DB.Write(ctx, func(tx Conn) error {
		pos := s.Position
		if pos == 0 {
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(sort_order), 0) + 1 FROM sites`).Scan(&pos); err != nil {
				return err
			}
		}
		var err error
		out, err = c.scanSite(tx.QueryRow(ctx, `INSERT INTO sites (name, sort_order, repositories, networks, groups, hosts,
			created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+siteCols,
			s.Name, pos, c.D.List(s.Repositories), c.D.List(s.Networks), c.D.List(s.Groups), c.D.List(s.Hosts),
			c.TimeZArg(s.UpdatedAt), c.TimeZArg(s.UpdatedAt), s.UpdatedBy))
		if c.D.IsUnique(err) {
			return fmt.Errorf("a site named %q exists already: %w", s.Name, store.ErrConflict)
		}
		return err
	})
	return out, c.errf(err, "create site %q", s.Name)
}

// UpdateSite replaces a site.
func (c *Common) UpdateSite(ctx context.Context, name string, s store.Site) (store.Site, error) {
	if err := s.Normalize(); err != nil {
		return s, c.errf(err, "update site %q", name)
	}
	var out store.Site
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		out, err = c.scanSite(tx.QueryRow(ctx, `UPDATE sites SET name = ?,
			sort_order = CASE WHEN ? = 0 THEN sort_order ELSE ? END,
			repositories = ?, networks = ?, groups = ?, hosts = ?, updated_at = ?, updated_by = ?
			WHERE name = ? RETURNING `+siteCols,
			s.Name, s.Position, s.Position, c.D.List(s.Repositories), c.D.List(s.Networks), c.D.List(s.Groups),
			c.D.List(s.Hosts), c.TimeZArg(s.UpdatedAt), s.UpdatedBy, name))
		switch {
		case errors.Is(err, ErrNoRows):
			return NotFound("site " + name)
		case c.D.IsUnique(err):
			return fmt.Errorf("a site named %q exists already: %w", s.Name, store.ErrConflict)
		}
		return err
	})
	return out, c.errf(err, "update site %q", name)
}

// DeleteSite removes a site.
func (c *Common) DeleteSite(ctx context.Context, name string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, "site "+name, `DELETE FROM sites WHERE name = ?`, name)
	})
	return c.errf(err, "delete site")
}

// siteHost is what the assignment rule reads of a host.
type siteHost struct {
	pk       int64
	uuid     string
	groups   []string
	networks []string
}

func (c *Common) siteHosts(ctx context.Context, q Conn, where string, args ...any) ([]siteHost, error) {
	return QueryAll(ctx, q, func(r Row) (siteHost, error) {
		var h siteHost
		err := r.Scan(&h.pk, &h.uuid, c.D.ScanList(&h.groups), c.D.ScanList(&h.networks))
		return h, err
	}, `SELECT id, uuid, groups, networks FROM hosts WHERE `+where, args...)
}

// HostSite returns the site of one host.
func (c *Common) HostSite(ctx context.Context, uuid string) (store.Site, bool, error) {
	var site store.Site
	var ok bool
	err := c.DB.Read(ctx, func(q Conn) error {
		hs, err := c.siteHosts(ctx, q, `uuid = ?`, uuid)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return NotFound("host " + uuid)
		}
		sites, err := c.listSites(ctx, q)
		if err != nil {
			return err
		}
		if i := store.SiteFor(sites, hs[0].uuid, hs[0].groups, hs[0].networks); i >= 0 {
			site, ok = sites[i], true
		}
		return nil
	})
	return site, ok, c.errf(err, "site of host %s", uuid)
}

// SiteHostCounts counts the accepted hosts of each site.
func (c *Common) SiteHostCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := c.DB.Read(ctx, func(q Conn) error {
		sites, err := c.listSites(ctx, q)
		if err != nil || len(sites) == 0 {
			return err
		}
		hs, err := c.siteHosts(ctx, q, `approval = 'accepted'`)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if i := store.SiteFor(sites, h.uuid, h.groups, h.networks); i >= 0 {
				out[sites[i].Name]++
			}
		}
		return nil
	})
	return out, c.errf(err, "count the hosts of each site")
}

// siteFileChunk bounds the host ids of one statement of NeededFilesForSite.
const siteFileChunk = 500

// NeededFilesForSite lists the files the site's hosts need.
func (c *Common) NeededFilesForSite(ctx context.Context, site string) ([]store.UpdateFile, error) {
	var out []store.UpdateFile
	err := c.DB.Read(ctx, func(q Conn) error {
		sites, err := c.listSites(ctx, q)
		if err != nil {
			return err
		}
		idx := slices.IndexFunc(sites, func(s store.Site) bool { return s.Name == site })
		if idx < 0 {
			return NotFound("site " + site)
		}
		hs, err := c.siteHosts(ctx, q, `approval = 'accepted'`)
		if err != nil {
			return err
		}
		var pks []any
		for _, h := range hs {
			if store.SiteFor(sites, h.uuid, h.groups, h.networks) == idx {
				pks = append(pks, h.pk)
			}
		}
		seen := map[string]bool{}
		for chunk := range slices.Chunk(pks, siteFileChunk) {
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
			fs, err := QueryAll(ctx, q, c.ScanFile, `SELECT `+FileCols+` FROM update_files f WHERE f.sha1 IN (
				SELECT l.file_sha1 FROM host_updates h JOIN update_file_links l ON l.update_pk = h.update_pk
				WHERE h.status IN (`+WantedStatusSQL+`) AND h.host_pk IN (`+marks+`))`, chunk...)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if !seen[f.SHA1] {
					seen[f.SHA1] = true
					out = append(out, f)
				}
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b store.UpdateFile) int { return strings.Compare(a.SHA1, b.SHA1) })
	if out == nil {
		out = []store.UpdateFile{}
	}
	return out, c.errf(err, "needed files of site %q", site)
}

// writeHostSiteFacts records the networks and the repository a report carries (in the
// report's transaction); nothing when it carries neither.
func (c *Common) writeHostSiteFacts(ctx context.Context, tx Conn, hostPK int64, r store.Report) error {
	if r.Networks == nil && r.Repository == "" {
		return nil
	}
	var nets any
	if r.Networks != nil {
		nets = c.D.List(r.Networks)
	}
	_, err := tx.Exec(ctx, `UPDATE hosts SET networks = coalesce(?, networks),
		repository = CASE WHEN ? = '' THEN repository ELSE ? END,
		repository_at = CASE WHEN ? = '' THEN repository_at ELSE ? END WHERE id = ?`,
		nets, r.Repository, r.Repository, r.Repository, c.TimeArg(r.At), hostPK)
	if err != nil {
		return fmt.Errorf("update host networks and repository: %w", err)
	}
	return nil
}
