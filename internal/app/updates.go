package app

import (
	"context"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// UpdateReader finds updates in the catalog and the hosts that report them.
type UpdateReader interface {
	GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error)
	UpdateHosts(ctx context.Context, key wu.UpdateKey, f store.UpdateHostFilter) (store.UpdateHostPage, error)
}

// UpdateDetail is one update with the hosts that report it.
type UpdateDetail struct {
	Info  store.UpdateInfo
	Hosts []store.UpdateHostStatus
	// Complete is false when more than the limit of hosts report it.
	Complete bool
}

// UpdateDetail returns an update of the catalog and up to limit hosts reporting one of
// statuses for it (every status when none), in the store's order, read page by page
// with the store's UpdateHosts (one query per page, not per host).
func (a *App) UpdateDetail(ctx context.Context, key wu.UpdateKey, statuses []wu.Status, limit int) (UpdateDetail, error) {
	var d UpdateDetail
	if _, err := reader(ctx); err != nil {
		return d, err
	}
	if a.d.Updates == nil {
		return d, errorf(Unavailable, "", "this server has no catalog")
	}
	info, err := a.d.Updates.GetUpdate(ctx, key)
	if err != nil {
		return d, notFound(err, "no update %s in the catalog", key)
	}
	d.Info, d.Hosts = info, []store.UpdateHostStatus{}
	f := store.UpdateHostFilter{Statuses: statuses, Limit: min(limit, 1000)}
	for len(d.Hosts) < limit {
		f.Limit = min(f.Limit, limit-len(d.Hosts))
		page, err := a.d.Updates.UpdateHosts(ctx, info.Key(), f)
		if err != nil {
			return d, err
		}
		d.Hosts = append(d.Hosts, page.Hosts...)
		if page.Next == "" || len(page.Hosts) == 0 {
			d.Complete = true
			return d, nil
		}
		f.Cursor = page.Next
	}
	return d, nil
}
