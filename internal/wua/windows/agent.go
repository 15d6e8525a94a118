package windows

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// Options configure New.
type Options struct {
	// ClientApplicationID names us in WindowsUpdate.log; "" = "waptwua".
	ClientApplicationID string
}

// runner runs f where the COM objects live (the worker's OS thread on Windows). ctx is
// checked before f starts; f checks it between COM calls.
type runner func(ctx context.Context, f func() error) error

// Agent implements wua.Agent over the Windows Update Agent's automation objects. Its
// objects live where run runs them; every field below close is touched only there.
type Agent struct {
	com   comAPI
	run   runner
	stop  func() // ends the COM thread, after the objects are released
	appID string
	// markers reports which reboot-pending registry keys exist (rebootMarkers).
	markers func() map[string]bool
	close   sync.Once

	session        obj
	serviceManager obj
	serviceID      string // the offline scan service of the last Scan
	updates        map[wu.UpdateKey]obj
	scanned        map[wu.UpdateKey]wua.Update
}

var _ wua.Agent = (*Agent)(nil)

// newAgent opens an update session through com. stop runs after Close released
// everything; markers reads the registry's reboot markers.
func newAgent(com comAPI, run runner, stop func(), markers func() map[string]bool, opts Options) (*Agent, error) {
	a := &Agent{com: com, run: run, stop: stop, markers: markers, appID: opts.ClientApplicationID}
	if a.appID == "" {
		a.appID = "waptwua"
	}
	err := run(context.Background(), func() error {
		s, err := a.create(progSession)
		if err != nil {
			return err
		}
		a.session = s
		return s.put("ClientApplicationID", a.appID)
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// create makes an automation object.
func (a *Agent) create(progID string) (obj, error) {
	d, err := a.com.Create(progID)
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) {
			return obj{}, comFailure("create "+progID, ce.HResult, ce.SCode, err)
		}
		return obj{}, fmt.Errorf("create %s: %w", progID, err)
	}
	return obj{d: d, iface: progIfaces[progID]}, nil
}

// releaseScan drops the objects of the previous scan and unregisters its scan service.
func (a *Agent) releaseScan() error {
	for _, d := range a.updates {
		d.release()
	}
	a.updates, a.scanned = nil, nil
	var err error
	if a.serviceID != "" && a.serviceManager.d != nil {
		if _, e := a.serviceManager.call("RemoveService", a.serviceID); e != nil {
			err = fmt.Errorf("remove the offline scan service %s: %w", a.serviceID, e)
		}
	}
	a.serviceID = ""
	a.serviceManager.release()
	a.serviceManager = obj{}
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
	err = a.run(ctx, func() error {
		if a.session.d == nil {
			return wua.ErrClosed
		}
		_ = a.releaseScan() // a stale service registration does not stop a new scan
		if opts.Locale != 0 {
			if err := a.session.put("UserLocale", int32(opts.Locale)); err != nil {
				return err
			}
		}
		sm, err := a.create(progServiceManager)
		if err != nil {
			return err
		}
		a.serviceManager = sm
		svc, ok, err := sm.callObject("AddScanPackageService", "Offline Sync Service", opts.CabPath, int32(1))
		if err != nil {
			return fmt.Errorf("register %s: %w", opts.CabPath, err)
		}
		if !ok {
			return fmt.Errorf("register %s: WUA returned no service", opts.CabPath)
		}
		id, err := svc.get("ServiceID")
		svc.release()
		if err != nil {
			return err
		}
		if a.serviceID, err = asString(id); err != nil {
			return fmt.Errorf("IUpdateService.ServiceID: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}

		searcher, ok, err := a.session.callObject("CreateUpdateSearcher")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("IUpdateSession.CreateUpdateSearcher returned nothing")
		}
		defer searcher.release()
		for _, p := range []struct {
			name  string
			value any
		}{
			{"ServerSelection", int32(3)}, // ssOthers
			{"ServiceID", a.serviceID},
			{"IncludePotentiallySupersededUpdates", opts.IncludeSuperseded},
			{"Online", false},
		} {
			if err := searcher.put(p.name, p.value); err != nil {
				return err
			}
		}
		res, ok, err := searcher.callObject("Search", criteria)
		if err != nil {
			return fmt.Errorf("search %q: %w", criteria, err)
		}
		if !ok {
			return fmt.Errorf("search %q: WUA returned no result", criteria)
		}
		defer res.release()
		rel := &releaser{}
		defer rel.release()
		top := objProps{o: res, rel: rel}
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
		a.updates = map[wu.UpdateKey]obj{}
		a.scanned = map[wu.UpdateKey]wua.Update{}
		for i := 0; i < n && coll.d != nil; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			item, ok, err := coll.getObject("Item", int32(i))
			if err == nil && !ok {
				err = errors.New("empty item")
			}
			if err != nil {
				return fmt.Errorf("update %d of %d: %w", i+1, n, err)
			}
			urel := &releaser{}
			u, err := readUpdate(objProps{o: item, rel: urel})
			urel.release()
			if err != nil {
				item.release()
				return err
			}
			if prev, dup := a.updates[u.Key]; dup {
				prev.release()
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
func (a *Agent) lookup(key wu.UpdateKey) (obj, error) {
	d, ok := a.updates[key]
	if !ok {
		return obj{}, fmt.Errorf("%s: %w", key, wua.ErrUnknownUpdate)
	}
	return d, nil
}

// SetHidden implements wua.Agent.
func (a *Agent) SetHidden(ctx context.Context, keys []wu.UpdateKey, hidden bool) error {
	return a.run(ctx, func() error {
		var errs []error
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, err)...)
			}
			d, err := a.lookup(k)
			if err == nil {
				err = d.put("IsHidden", hidden)
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
	return a.run(ctx, func() error {
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
			return a.copyToCache(d, parent.Key, want[parent.Key])
		}
		rel := &releaser{}
		defer rel.release()
		bundled, err := objProps{o: d, rel: rel}.items("BundledUpdates")
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
			bd, ok := b.(objProps)
			if !ok {
				return fmt.Errorf("copy to cache %s: unexpected %T", key, b)
			}
			if err := a.copyToCache(bd.o, bk, files); err != nil {
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

func (a *Agent) copyToCache(d obj, key wu.UpdateKey, files []string) error {
	if len(files) == 0 {
		return nil
	}
	coll, err := a.create(progStringColl)
	if err != nil {
		return err
	}
	defer coll.release()
	for _, f := range files {
		if _, err := coll.call("Add", f); err != nil {
			return fmt.Errorf("copy to cache %s: %w", key, err)
		}
	}
	if _, err := d.call("CopyToCache", coll); err != nil {
		return fmt.Errorf("copy to cache %s (%d files): %w", key, len(files), err)
	}
	return nil
}

// Install implements wua.Agent.
func (a *Agent) Install(ctx context.Context, keys []wu.UpdateKey) (wua.InstallResult, error) {
	var result wua.InstallResult
	err := a.run(ctx, func() error {
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
		coll, err := a.create(progUpdateColl)
		if err != nil {
			return err
		}
		defer coll.release()
		for _, k := range keys {
			d, err := a.lookup(k)
			if err != nil {
				return fmt.Errorf("install: %w", err)
			}
			accepted, err := d.get("EulaAccepted")
			if err != nil {
				return fmt.Errorf("install %s: %w", k, err)
			}
			if ok, _ := asBool(accepted); !ok {
				if _, err := d.call("AcceptEula"); err != nil {
					return fmt.Errorf("install %s: accept the license: %w", k, err)
				}
			}
			if _, err := coll.call("Add", d); err != nil {
				return fmt.Errorf("install %s: %w", k, err)
			}
		}
		installer, ok, err := a.session.callObject("CreateUpdateInstaller")
		if err == nil && !ok {
			err = errors.New("IUpdateSession.CreateUpdateInstaller returned nothing")
		}
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		defer installer.release()
		if err := installer.put("ClientApplicationID", a.appID); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if err := installer.put("AllowSourcePrompts", false); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		_ = installer.put("ForceQuiet", true) // IUpdateInstaller2; older agents lack it
		if err := installer.put("Updates", coll); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if busy, err := installer.get("IsBusy"); err == nil {
			if b, _ := asBool(busy); b {
				return &wua.Error{Op: "install", Code: wua.WUEOperationInProgress}
			}
		}
		if before, err := installer.get("RebootRequiredBeforeInstallation"); err == nil {
			if b, _ := asBool(before); b {
				return fmt.Errorf("install: %w (WUA: RebootRequiredBeforeInstallation): restart the computer, then install again", wua.ErrRebootPending)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, ok, err := installer.callObject("Install")
		if err != nil {
			return fmt.Errorf("install %d updates: %w", len(keys), err)
		}
		if !ok {
			return fmt.Errorf("install %d updates: WUA returned no result", len(keys))
		}
		defer res.release()
		rel := &releaser{}
		defer rel.release()
		batch, err := readOutcome(objProps{o: res, rel: rel})
		if err != nil {
			return fmt.Errorf("install: result: %w", err)
		}
		per := make([]installOutcome, 0, len(keys))
		for i := range keys {
			ur, ok, err := res.callObject("GetUpdateResult", int32(i))
			if err != nil || !ok {
				break // the rest stay NotStarted
			}
			o, err := readOutcome(objProps{o: rel.add(ur), rel: rel})
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

// rebootPending runs where the COM objects live.
func (a *Agent) rebootPending() (bool, error) {
	si, err := a.create(progSystemInfo)
	if err != nil {
		return false, err
	}
	defer si.release()
	v, err := si.get("RebootRequired")
	if err != nil {
		return false, err
	}
	required, err := asBool(v)
	if err != nil {
		return false, fmt.Errorf("ISystemInformation.RebootRequired: %w", err)
	}
	var markers map[string]bool
	if a.markers != nil {
		markers = a.markers()
	}
	return rebootPending(required, markers), nil
}

// RebootPending implements wua.Agent.
func (a *Agent) RebootPending(ctx context.Context) (bool, error) {
	var pending bool
	err := a.run(ctx, func() error {
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
		err = a.run(context.Background(), func() error {
			e := a.releaseScan()
			a.session.release()
			a.session = obj{}
			return e
		})
		if errors.Is(err, wua.ErrClosed) {
			err = nil
		}
		if a.stop != nil {
			a.stop()
		}
	})
	return err
}
