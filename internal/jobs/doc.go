// Package jobs runs the server's background jobs and their scheduler
// (REFERENCE §1):
//
//   - cab sync: once a day at cab_sync_time (plus up to cab_sync_jitter) and on demand,
//     fetch wsusscn2.cab when it changed, test it, check its signature, read its
//     catalog, publish it and import the catalog;
//   - missing files: every missing_files_interval (30 minutes) and on demand, download
//     from Microsoft the update files that at least one host needs and is allowed to
//     install, each file once;
//   - cleanup: each night inside cleanup_window (02:30-03:30) unless cleanup_kbs = False,
//     and on demand ("Delete unused KBs"), delete the cached files no host needs;
//   - promotion (with WithPackages): at start, daily and on demand (CheckPromotions),
//     promote the PREPROD rules packages whose ring succeeded once promote_after_days
//     passed (see promote and docs/adr/0003-rules-packages.md), each in the audit log.
//
// Every run of a job takes the store's lock named after the job (JobCabSync,
// JobMissingFiles, JobCleanup), so that among server replicas sharing one database only
// one runs it at a time. Download tasks are claimed row by row, so downloads queued by
// the console are taken by whichever replica drains its queue first. Time comes from an
// injected Clock so schedules are testable.
//
// Decisions worth knowing:
//
//   - cleanup_kbs = False disables the nightly deletion only; DeleteUnused (the
//     console's button) always works, as the original documents ("disable the automatic
//     deletion").
//   - A forced cab sync downloads the cab even when Microsoft says it did not change.
//   - The cab is checked in full (cabinet test, signature, catalog read) before it is
//     published, and the previous cab is published again if the import fails: a failed
//     sync leaves the previous cab and catalog in place.
//   - The Force methods return once the work is started (the admin API answers 202);
//     a job already running, here or on another replica, stands for the forced run.
//     SyncCab, DownloadMissing and DeleteUnused wait for the result.
//   - A file whose download failed is left alone by the scheduled job for RetryAfter
//     (doubling per failed attempt, at most a day), so a file Microsoft serves wrong is
//     not fetched every 30 minutes; forcing its update retries it at once.
//   - Settings.Instance names the process in download tasks: at start the runner
//     re-queues the tasks its previous life left downloading; tasks of a replica that
//     died are re-queued once their heartbeat is StaleTaskAge old.
package jobs
