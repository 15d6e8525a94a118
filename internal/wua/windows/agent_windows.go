//go:build windows

package windows

import (
	"context"
	"errors"
	"fmt"
	"sync"

	ole "github.com/go-ole/go-ole"
	"golang.org/x/sys/windows/registry"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// Options configure New.
type Options struct {
	// ClientApplicationID names us in WindowsUpdate.log; "" = "waptwua".
	ClientApplicationID string
}

// Agent implements wua.Agent over the Windows Update Agent. Its COM objects live on
// its worker thread; every field below the worker is touched only there.
type Agent struct {
	w     *worker
	appID string
	close sync.Once

	session        *ole.IDispatch
	serviceManager *ole.IDispatch
	serviceID      string // the offline scan service of the last Scan
	updates        map[wu.UpdateKey]*ole.IDispatch
	scanned        map[wu.UpdateKey]wua.Update
}

var _ wua.Agent = (*Agent)(nil)

// New starts the COM thread and opens an update session. Run as SYSTEM or an
// administrator in the console session: WUA refuses remote sessions.
func New(opts Options) (*Agent, error) {
	w, err := startWorker()
	if err != nil {
		return nil, err
	}
	a := &Agent{w: w, appID: opts.ClientApplicationID}
	if a.appID == "" {
		a.appID = "waptwua"
	}
	err = w.do(context.Background(), func() error {
		s, err := create("Microsoft.Update.Session")
		if err != nil {
			return err
		}
		a.session = s
		return put(s, "ClientApplicationID", a.appID)
	})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("Windows Update Agent: %w", err)
	}
	return a, nil
}

// releaseScan drops the objects of the previous scan and unregisters its scan service.
func (a *Agent) releaseScan() error {
	for _, d := range a.updates {
		d.Release()
	}
	a.updates, a.scanned = nil, nil
	var err error
	if a.serviceID != "" && a.serviceManager != nil {
		if _, e := scalar(a.serviceManager, "RemoveService", false, a.serviceID); e != nil {
			err = fmt.Errorf("remove the offline scan service %s: %w", a.serviceID, e)
		}
	}
	a.serviceID = ""
	if a.serviceManager != nil {
		a.serviceManager.Release()
		a.serviceManager = nil
	}
	return err
}

// Scan registers the cab as an offline scan service and searches it. The service and
// the updates found stay registered until the next Scan or Close, so that
// SetHidden, CopyToCache and Install can act on them.
func (a *Agent) Scan(ctx context.Context, opts wua.ScanOptions) ([]wua.Update, error) {
	if err := checkCabPath(opts.CabPath); err != nil {
		return nil, err
	}
	criteria, err := wua.CriteriaFromFilter(opts.Criteria)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	var out []wua.Update
	err = a.w.do(ctx, func() error {
		if a.session == nil {
			return wua.ErrClosed
		}
		_ = a.releaseScan() // a stale service registration does not stop a new scan
		if opts.Locale != 0 {
			if err := put(a.session, "UserLocale", int32(opts.Locale)); err != nil {
				return err
			}
		}
		sm, err := create("Microsoft.Update.ServiceManager")
		if err != nil {
			return err
		}
		a.serviceManager = sm
		svc, err := callObject(sm, "AddScanPackageService", false, "Offline Sync Service", opts.CabPath, int32(1))
		if err != nil {
			return fmt.Errorf("register %s: %w", opts.CabPath, err)
		}
		if svc == nil {
			return fmt.Errorf("register %s: WUA returned no service", opts.CabPath)
		}
		id, err := scalar(svc, "ServiceID", true)
		svc.Release()
		if err != nil {
			return err
		}
		if a.serviceID, err = asString(id); err != nil {
			return fmt.Errorf("ServiceID: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}

		searcher, err := callObject(a.session, "CreateUpdateSearcher", false)
		if err != nil {
			return err
		}
		defer searcher.Release()
		for _, p := range []struct {
			name  string
			value any
		}{
			{"ServerSelection", int32(3)}, // ssOthers
			{"ServiceID", a.serviceID},
			{"IncludePotentiallySupersededUpdates", opts.IncludeSuperseded},
			{"Online", false},
		} {
			if err := put(searcher, p.name, p.value); err != nil {
				return err
			}
		}
		res, err := callObject(searcher, "Search", false, criteria)
		if err != nil {
			return fmt.Errorf("search %q: %w", criteria, err)
		}
		defer res.Release()
		rel := &releaser{}
		defer rel.release()
		top := dispProps{d: res, rel: rel}
		outcome, err := top.value("ResultCode")
		if err != nil {
			return err
		}
		if rc, _ := asInt64(outcome); !wua.ResultCode(rc).Succeeded() {
			return fmt.Errorf("search %q ended %s", criteria, wua.ResultCode(rc))
		}
		coll, n, err := top.collection("Updates")
		if err != nil {
			return err
		}
		a.updates = map[wu.UpdateKey]*ole.IDispatch{}
		a.scanned = map[wu.UpdateKey]wua.Update{}
		for i := 0; i < n && coll != nil; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			item, err := callObject(coll, "Item", true, int32(i))
			if err != nil || item == nil {
				return fmt.Errorf("update %d of %d: %w", i+1, n, err)
			}
			urel := &releaser{}
			u, err := readUpdate(dispProps{d: item, rel: urel})
			urel.release()
			if err != nil {
				item.Release()
				return err
			}
			if prev, dup := a.updates[u.Key]; dup {
				prev.Release()
			}
			a.updates[u.Key] = item
			a.scanned[u.Key] = u
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", opts.CabPath, err)
	}
	return out, nil
}

// lookup returns the IUpdate of a key from the last scan.
func (a *Agent) lookup(key wu.UpdateKey) (*ole.IDispatch, error) {
	d, ok := a.updates[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, wua.ErrUnknownUpdate)
	}
	return d, nil
}

// SetHidden implements wua.Agent.
func (a *Agent) SetHidden(ctx context.Context, keys []wu.UpdateKey, hidden bool) error {
	return a.w.do(ctx, func() error {
		var errs []error
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, err)...)
			}
			d, err := a.lookup(k)
			if err == nil {
				err = put(d, "IsHidden", hidden)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("hide %s (%t): %w", k, hidden, err))
			}
		}
		return errors.Join(errs...)
	})
}

// CopyToCache implements wua.Agent: IUpdate2.CopyToCache on each bundled update with
// its files (wua.AssignFiles decides which).
func (a *Agent) CopyToCache(ctx context.Context, key wu.UpdateKey, files []string) error {
	return a.w.do(ctx, func() error {
		parent, ok := a.findParent(key)
		if !ok {
			return fmt.Errorf("copy to cache %s: %w", key, wua.ErrUnknownUpdate)
		}
		plan, err := wua.AssignFiles(&parent, key, files)
		if err != nil {
			return err
		}
		d, err := a.lookup(parent.Key)
		if err != nil {
			return err
		}
		want := map[wu.UpdateKey][]string{}
		for _, as := range plan {
			want[as.Key] = as.Files
		}
		if len(parent.Bundled) == 0 {
			return copyToCache(d, parent.Key, want[parent.Key])
		}
		rel := &releaser{}
		defer rel.release()
		bundled, err := dispProps{d: d, rel: rel}.items("BundledUpdates")
		if err != nil {
			return fmt.Errorf("copy to cache %s: BundledUpdates: %w", key, err)
		}
		done := 0
		for _, b := range bundled {
			if err := ctx.Err(); err != nil {
				return err
			}
			bk, err := readKey(b)
			if err != nil {
				return fmt.Errorf("copy to cache %s: %w", key, err)
			}
			files, ok := want[bk]
			if !ok {
				continue
			}
			bd, ok := b.(dispProps)
			if !ok {
				return fmt.Errorf("copy to cache %s: unexpected %T", key, b)
			}
			if err := copyToCache(bd.d, bk, files); err != nil {
				return err
			}
			done++
		}
		if done != len(want) {
			return fmt.Errorf("copy to cache %s: WUA lists %d bundled updates, the scan had %d (scan again)", key, done, len(want))
		}
		return nil
	})
}

func (a *Agent) findParent(key wu.UpdateKey) (wua.Update, bool) {
	if u, ok := a.scanned[key]; ok {
		return u, true
	}
	for _, u := range a.scanned {
		for _, b := range u.Bundled {
			if b.Key == key {
				return u, true
			}
		}
	}
	return wua.Update{}, false
}

func copyToCache(d *ole.IDispatch, key wu.UpdateKey, files []string) error {
	if len(files) == 0 {
		return nil
	}
	coll, err := create("Microsoft.Update.StringColl")
	if err != nil {
		return err
	}
	defer coll.Release()
	for _, f := range files {
		if _, err := scalar(coll, "Add", false, f); err != nil {
			return fmt.Errorf("copy to cache %s: %w", key, err)
		}
	}
	if _, err := scalar(d, "CopyToCache", false, coll); err != nil {
		return fmt.Errorf("copy to cache %s (%d files): %w", key, len(files), err)
	}
	return nil
}

// Install implements wua.Agent.
func (a *Agent) Install(ctx context.Context, keys []wu.UpdateKey) (wua.InstallResult, error) {
	var result wua.InstallResult
	err := a.w.do(ctx, func() error {
		if len(keys) == 0 {
			return &wua.Error{Op: "install", Code: wua.WUENoUpdate}
		}
		pending, err := a.rebootPending()
		if err != nil {
			return err
		}
		if pending {
			return fmt.Errorf("install: %w: restart the computer, then install again", wua.ErrRebootPending)
		}
		coll, err := create("Microsoft.Update.UpdateColl")
		if err != nil {
			return err
		}
		defer coll.Release()
		for _, k := range keys {
			d, err := a.lookup(k)
			if err != nil {
				return fmt.Errorf("install: %w", err)
			}
			accepted, err := scalar(d, "EulaAccepted", true)
			if err != nil {
				return fmt.Errorf("install %s: %w", k, err)
			}
			if ok, _ := asBool(accepted); !ok {
				if _, err := scalar(d, "AcceptEula", false); err != nil {
					return fmt.Errorf("install %s: accept the license: %w", k, err)
				}
			}
			if _, err := scalar(coll, "Add", false, d); err != nil {
				return fmt.Errorf("install %s: %w", k, err)
			}
		}
		installer, err := callObject(a.session, "CreateUpdateInstaller", false)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		defer installer.Release()
		if err := put(installer, "ClientApplicationID", a.appID); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if err := put(installer, "AllowSourcePrompts", false); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		_ = put(installer, "ForceQuiet", true) // IUpdateInstaller2; older agents lack it
		if err := put(installer, "Updates", coll); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if busy, err := scalar(installer, "IsBusy", true); err == nil {
			if b, _ := asBool(busy); b {
				return &wua.Error{Op: "install", Code: wua.WUEOperationInProgress}
			}
		}
		if before, err := scalar(installer, "RebootRequiredBeforeInstallation", true); err == nil {
			if b, _ := asBool(before); b {
				return fmt.Errorf("install: %w (WUA: RebootRequiredBeforeInstallation): restart the computer, then install again", wua.ErrRebootPending)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := callObject(installer, "Install", false)
		if err != nil {
			return fmt.Errorf("install %d updates: %w", len(keys), err)
		}
		if res == nil {
			return fmt.Errorf("install %d updates: WUA returned no result", len(keys))
		}
		defer res.Release()
		rel := &releaser{}
		defer rel.release()
		batch, err := readOutcome(dispProps{d: res, rel: rel})
		if err != nil {
			return fmt.Errorf("install: result: %w", err)
		}
		per := make([]installOutcome, 0, len(keys))
		for i := range keys {
			ur, err := callObject(res, "GetUpdateResult", false, int32(i))
			if err != nil || ur == nil {
				break // the rest stay NotStarted
			}
			o, err := readOutcome(dispProps{d: rel.add(ur), rel: rel})
			if err != nil {
				return fmt.Errorf("install %s: result: %w", keys[i], err)
			}
			per = append(per, o)
		}
		result = installResult(keys, batch, per)
		return nil
	})
	return result, err
}

// rebootPending runs on the COM thread.
func (a *Agent) rebootPending() (bool, error) {
	si, err := create("Microsoft.Update.SystemInfo")
	if err != nil {
		return false, err
	}
	defer si.Release()
	v, err := scalar(si, "RebootRequired", true)
	if err != nil {
		return false, fmt.Errorf("SystemInfo.%w", err)
	}
	required, err := asBool(v)
	if err != nil {
		return false, fmt.Errorf("SystemInfo.RebootRequired: %w", err)
	}
	markers := map[string]bool{}
	for _, path := range rebootMarkers() {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
		if err == nil {
			k.Close()
			markers[path] = true
		}
	}
	return rebootPending(required, markers), nil
}

// RebootPending implements wua.Agent.
func (a *Agent) RebootPending(ctx context.Context) (bool, error) {
	var pending bool
	err := a.w.do(ctx, func() error {
		var err error
		pending, err = a.rebootPending()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reboot pending: %w", err)
	}
	return pending, nil
}

// Close unregisters the scan service, releases the COM objects and stops the thread.
func (a *Agent) Close() error {
	var err error
	a.close.Do(func() {
		err = a.w.do(context.Background(), func() error {
			e := a.releaseScan()
			if a.session != nil {
				a.session.Release()
				a.session = nil
			}
			return e
		})
		a.w.shutdown()
	})
	return err
}
