package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/upstream"
)

// historyDepth is how many cab history rows are searched for the last good sync.
const historyDepth = 100

// SyncCab runs the catalog sync now and waits for it. A sync already running in this
// process is joined instead of starting another. force downloads the cab even when
// Microsoft says it did not change (history reason "forced"). It returns the history
// row of the sync; its Status is finished, skipped or error. ErrBusy when another
// replica is syncing.
func (r *Runner) SyncCab(ctx context.Context, force bool) (store.CabSync, error) {
	trig := "manual"
	if force {
		trig = "forced"
	}
	return r.cab.do(ctx, runArg{forced: force, triggered: trig})
}

// ForceCabSync starts a forced catalog sync ("Download WSUSScan cab from Microsoft") and
// returns without waiting for it: the cab history shows its progress. A sync already
// running, here or on another replica, is not an error: that sync stands for this one.
// ErrClosed when the server is stopping.
func (r *Runner) ForceCabSync(ctx context.Context) error {
	_, err := r.cab.start(ctx, runArg{forced: true, triggered: "forced"})
	if isBusy(err) {
		r.log.Info("forced cab sync: a sync is running on another replica", "job", JobCabSync)
		return nil
	}
	return err
}

// lastGood returns the newest history row of a sync that ended well (finished, or
// skipped because nothing changed): what the published cab is.
func (r *Runner) lastGood(ctx context.Context) (store.CabSync, bool, error) {
	rows, err := r.st.LatestCabSyncs(ctx, historyDepth)
	if err != nil {
		return store.CabSync{}, false, fmt.Errorf("reading the cab history: %w", err)
	}
	for _, c := range rows {
		if c.Status == store.CabFinished || c.Status == store.CabSkipped {
			return c, true, nil
		}
	}
	return store.CabSync{}, false, nil
}

// syncCab is one run of the cab-sync job (see SyncCab).
//
// Steps: history row "downloading": conditional GET into the repository's staged
// catalog (304: "skipped"); "checking": cabinet shape and SHA-1, the Authenticode
// signature, then the catalog read, which decodes and tests the whole cabinet in the
// same pass; then the cab is published (atomic rename and .sha1); "importing": the
// catalog goes into the store in one transaction; "finished".
//
// Any failure leaves the previous cab and catalog in place: everything that reads the
// new file is done before it is published, and when the import fails after the
// publication the previous cab (kept as a hard link) is published again.
func (r *Runner) syncCab(ctx context.Context, arg runArg) (store.CabSync, error) {
	log := r.log.With("job", JobCabSync, "trigger", arg.triggered)
	prev, havePrev, err := r.lastGood(ctx)
	if err != nil {
		return store.CabSync{}, fmt.Errorf("wsusscn2.cab sync: %w", err)
	}
	// Several replicas each wake up once a day: the first one syncs, the others see
	// today's row and do not ask Microsoft again.
	if !arg.forced && !arg.slot.IsZero() && havePrev && !prev.StartedAt.Before(arg.slot) {
		log.Info("wsusscn2.cab already synced since today's sync time", "sync_id", prev.ID, "status", prev.Status)
		return prev, nil
	}
	_, statErr := r.repo.Stat(repo.CabName)
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return store.CabSync{}, fmt.Errorf("wsusscn2.cab sync: looking for the published cab: %w (check the repository folder %s)", statErr, r.repo.Dir())
	}
	reason := store.CabReasonNewerAvailable
	var cond upstream.CabState
	switch {
	case arg.forced:
		reason = store.CabReasonForced
	case statErr != nil || !havePrev:
		reason = store.CabReasonFileMissing
	default:
		cond = upstream.CabState{LastModified: prev.CabDate}
	}

	now := r.clock.Now()
	row, err := r.st.AddCabSync(ctx, store.CabSync{StartedAt: now, UpdatedAt: now, Status: store.CabDownloading, Reason: reason})
	if err != nil {
		return store.CabSync{}, fmt.Errorf("wsusscn2.cab sync: recording the sync in the cab history: %w", err)
	}
	log = log.With("sync_id", row.ID, "reason", string(reason))
	log.Info("wsusscn2.cab sync started", "url", r.set.CabURL)

	fail := func(err error) (store.CabSync, error) {
		row.Status, row.Error, row.UpdatedAt = store.CabError, err.Error(), r.clock.Now()
		if ctx.Err() != nil {
			row.Error = "interrupted: the server stopped during the sync (the next sync starts over): " + err.Error()
		}
		wctx, cancel := r.releaseCtx()
		defer cancel()
		if uerr := r.st.UpdateCabSync(wctx, row); uerr != nil {
			log.Error("recording the failed sync failed", "err", uerr)
		}
		log.Error("wsusscn2.cab sync failed; the previous cab and catalog stay in use", "err", err)
		r.metrics.CabSyncFinished(store.CabError)
		return row, err
	}
	setStatus := func(s store.CabStatus) error {
		row.Status, row.UpdatedAt = s, r.clock.Now()
		if err := r.st.UpdateCabSync(ctx, row); err != nil {
			return fmt.Errorf("wsusscn2.cab sync: recording status %s: %w", s, err)
		}
		return nil
	}

	staged, err := r.repo.StageCab()
	if err != nil {
		return fail(fmt.Errorf("wsusscn2.cab: %w", err))
	}
	defer func() {
		if err := staged.Abort(); err != nil { // nothing after Commit
			log.Warn("removing the downloaded cab failed", "err", err)
		}
	}()
	res, err := r.up.FetchCab(ctx, r.set.CabURL, cond, staged)
	r.metrics.AddDownloadedBytes(res.Bytes)
	if err != nil {
		return fail(fmt.Errorf("wsusscn2.cab: download from %s: %w", r.set.CabURL, err))
	}
	var sums repo.Sums
	if !res.NotModified {
		if sums, err = staged.Seal(); err != nil {
			return fail(fmt.Errorf("cabinet test failed: %w (the download is damaged or not a cabinet; the previous cab stays in use)", err))
		}
	}
	if res.NotModified || (!arg.forced && havePrev && statErr == nil && sums.SHA1 == prev.SHA1) {
		// Nothing changed: keep the state of the published cab on the row, so the next
		// conditional GET can use it.
		row.Status, row.Reason, row.UpdatedAt = store.CabSkipped, store.CabReasonNone, r.clock.Now()
		row.CabDate, row.Size, row.SHA1 = prev.CabDate, prev.Size, prev.SHA1
		if !res.NotModified && !res.LastModified.IsZero() {
			row.CabDate = res.LastModified
		}
		if err := r.st.UpdateCabSync(ctx, row); err != nil {
			return fail(fmt.Errorf("wsusscn2.cab sync: recording the skipped sync: %w", err))
		}
		log.Info("wsusscn2.cab unchanged: nothing to do", "last_modified", row.CabDate)
		r.metrics.CabSyncFinished(store.CabSkipped)
		r.metrics.SetCabDate(row.CabDate)
		return row, nil
	}
	row.CabDate, row.Size, row.SHA1 = res.LastModified, sums.Size, sums.SHA1
	if err := setStatus(store.CabChecking); err != nil {
		return fail(err)
	}
	if err := r.checkSignature(staged, sums.Size); err != nil {
		return fail(err)
	}
	// One pass decodes the whole cabinet: the catalog read tests every member too.
	cat, err := catalog.Read(ctx, staged, sums.Size, catalog.Options{Language: r.set.CatalogLanguage, Verify: true})
	if err != nil {
		return fail(fmt.Errorf("wsusscn2.cab: reading the catalog: %w (the file is not a usable offline catalog; the previous one stays in use)", err))
	}
	if n := cat.Stats.WarningCount(); n > 0 {
		log.Warn("wsusscn2.cab: tolerated catalog defects", "count", n, "warnings", cat.Stats.Warnings)
	}
	previous, err := r.repo.SnapshotCab()
	if err != nil {
		log.Warn("cannot keep the previous cab to restore it should the import fail", "err", err)
	}
	defer previous.Release()
	if _, err := staged.Commit(); err != nil {
		return fail(fmt.Errorf("wsusscn2.cab: publishing in %s: %w (agents keep the previous cab)", r.repo.Dir(), err))
	}
	if err := r.importCatalog(ctx, cat, setStatus); err != nil {
		if previous != nil {
			if rerr := previous.Restore(); rerr != nil {
				err = fmt.Errorf("%w; putting the previous cab back failed too: %v (agents get the new cab until the next sync)", err, rerr)
			}
		}
		return fail(err)
	}
	row.Status, row.UpdatedAt = store.CabFinished, r.clock.Now()
	if err := r.st.UpdateCabSync(ctx, row); err != nil {
		// The cab is published and imported: only the history row is behind.
		log.Error("recording the finished sync failed", "err", err)
	}
	r.metrics.CabSyncFinished(store.CabFinished)
	r.metrics.SetCabDate(row.CabDate)
	log.Info("wsusscn2.cab sync finished", "size", sums.Size, "sha1", sums.SHA1, "last_modified", res.LastModified,
		"bytes_received", res.Bytes, "download_duration", res.Duration)
	return row, nil
}

// importCatalog writes the catalog into the store (status "importing").
func (r *Runner) importCatalog(ctx context.Context, cat *catalog.Catalog, setStatus func(store.CabStatus) error) error {
	if err := setStatus(store.CabImporting); err != nil {
		return err
	}
	imp, err := r.st.ImportCatalog(ctx, store.CatalogImport{
		Updates:    store.UpdatesOf(cat.Updates),
		Categories: cat.Categories,
		At:         r.clock.Now(),
	})
	if err != nil {
		return fmt.Errorf("wsusscn2.cab: importing the catalog into the database: %w (nothing was changed; the next sync retries)", err)
	}
	r.log.Info("catalog imported", "job", JobCabSync, "updates", imp.Seen, "inserted", imp.Inserted, "changed", imp.Changed,
		"removed", imp.Removed, "demoted", imp.Demoted, "categories", imp.Categories)
	return nil
}

// checkSignature checks that the cab's Authenticode signature chains to the trusted
// roots: cab_trusted_roots, else Microsoft's built-in ones. cab_signature_check =
// False skips it, with a warning at every sync.
func (r *Runner) checkSignature(ra io.ReaderAt, size int64) error {
	if r.set.NoCabSignatureCheck {
		r.log.Warn("wsusscn2.cab: signature NOT checked (cab_signature_check = False): the catalog is imported as downloaded; remove that setting to check it against Microsoft's roots",
			"url", r.set.CabURL)
		return nil
	}
	roots, which := r.set.CabRoots, "cab_trusted_roots"
	if roots == nil {
		roots, which = authenticode.MicrosoftRoots(), "Microsoft's built-in roots"
	}
	sig, err := authenticode.Verify(ra, size, authenticode.Options{Roots: roots, Now: r.clock.Now})
	if err != nil {
		return fmt.Errorf("wsusscn2.cab downloaded from %s refused: %w (checked against %s; the file is not as Microsoft signed it: check wsusscn2_url, or, for a catalog you sign yourself, set cab_trusted_roots to the PEM file of its root; cab_signature_check = False imports it unchecked)",
			r.set.CabURL, err, which)
	}
	r.log.Info("wsusscn2.cab signature verified", "signer", sig.SignerSubject, "signed_at", sig.SigningTime, "roots", which)
	return nil
}
