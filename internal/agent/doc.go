// Package agent is the WAPTWUA agent core: the cycle that fetches wsusscn2.cab from the
// repository, scans through the Windows Update Agent, decides each update with the
// rules, reports to the server, downloads the allowed files and installs them; and the
// service loop that runs it on schedule (download_scheduling, install_scheduling,
// install_at_shutdown, postboot_delay) and on commands pushed by the server.
//
// Every outside system sits behind a small interface owned here: the WUA port (WUA,
// ServiceControl, Policy; internal/wua and its backends satisfy them), free disk space
// (DiskSpace), direct downloads from Microsoft (DirectDownloader) and the clock (Clock).
// The server and the repository are reached over HTTP with the wire types of
// internal/api (Client). Only cmd/wapt-get wires concrete backends.
//
// # Per-update statuses (REFERENCE §2)
//
//   - OK: installed.
//   - PENDING: needed, allowed, and its files are on the repository (checked with HEAD),
//     already local, or downloadable from Microsoft (direct_download; allow_direct_download
//     while the server is unreachable).
//   - MISSING: needed and allowed, but its files are not yet on the repository.
//   - DISCARDED: needed but not allowed, with the reason forbidden, not_allowed or
//     delayed (install_delay not elapsed on the injected clock).
//   - ERROR: allowed, and the last install attempt failed (the WUA error in words); it is
//     retried by the next install.
//   - SUPERSEDED: replaced by another update of the scan; never pending, never installed.
//     With decline_superseded = true only when a successor is approved (installed or
//     allowed): an update whose successors are all forbidden stays installable.
//
// # Rules
//
// The merged rules are, in order: the [waptwua] ini section, the server-wide rules of the
// server's answer (an unsigned layer, ignored when [waptwua] trusted_certs is set), then
// the signed rules packages the server assigns, in its install order. Each package is
// downloaded from the package repository (repo_url), verified (internal/pkg: signature,
// trusted signer, manifest; then the listed name, version and SHA-256, and the maturity:
// PROD, the host's [global] maturities, or a PREPROD package offered as promoted whose
// signed promote_after_days passed since its signature date) and kept under packages/.
// A refused package is logged and reported, and the last good version of the same
// package stays in force (docs/adr/0003-rules-packages.md).
//
// # Agent-level statuses
//
// SCANNING, READY (every pending update is downloaded), PENDING_UPDATES, OK, INSTALL,
// ERROR (an install failed), DISK_SPACE_ERROR (less than 1 GiB free), ERROR SCANNING
// UPDATES, ERROR DOWNLOADING WSUSSCAN.
//
// # What runs when
//
// A scan runs only when the cab, the merged rules, the install history or the scan
// options changed since the last one (or when forced: a pushed "scan" command,
// wapt-get waptwua-scan --force); otherwise the decisions are taken again on the
// stored scan, so that install_delay and the repository's files are re-evaluated every
// cycle. Reports carry only what changed since the last acknowledged report, with a
// full report the first time, after a new registration, when an update disappeared,
// and every FullReportInterval.
package agent
