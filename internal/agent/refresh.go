package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// refresh brings the catalog and the rules up to date, scans when something changed,
// and decides every update.
func (a *Agent) refresh(ctx context.Context, c *cycle, force bool) {
	st := c.st
	if _, err := a.syncCab(ctx, st); err != nil {
		a.log.Warn("wsusscn2.cab not refreshed", slog.Any("err", err))
		c.failWith(StatusErrorDownloadingScan, err)
	}
	merged := a.effectiveRules(ctx, c)
	c.rules = merged
	st.RulesHash = hashRules(merged)

	if rp, err := a.wua.RebootPending(ctx); err == nil {
		st.RebootRequired = rp
	} else {
		a.log.Warn("reboot pending unknown", slog.Any("err", err))
	}

	if st.Cab.SHA1 == "" {
		c.noScan = true
		if c.fail == "" {
			c.failWith(StatusErrorDownloadingScan, fmt.Errorf("no wsusscn2.cab yet: nothing to scan (the server publishes it in %s)", a.client.RepoURL()))
		}
		return
	}
	key := a.scanKey(st, merged)
	if force || !st.Scanned || key != st.ScanKey {
		if !a.scan(ctx, c, merged, key) {
			// Keep deciding on the previous scan, if any.
			if !st.Scanned {
				return
			}
		}
	}
	a.decide(ctx, c, merged)

	// Hide what is not allowed, show again what became allowed.
	if a.cfg.WUA.Enabled != nil && !*a.cfg.WUA.Enabled {
		return // enabled = False: Windows manages its updates; leave them visible
	}
	hide, show := hiddenChanges(st)
	if len(hide)+len(show) == 0 || ctx.Err() != nil {
		return
	}
	if a.liveScanKey != st.ScanKey {
		if c.scanFailed || !a.scan(ctx, c, merged, key) {
			return
		}
		a.decide(ctx, c, merged)
		hide, show = hiddenChanges(st)
	}
	a.setHidden(ctx, c, hide, true)
	a.setHidden(ctx, c, show, false)
}

// decide classifies the stored scan with the rules on the injected clock and settles
// which allowed updates have their files available.
func (a *Agent) decide(ctx context.Context, c *cycle, merged rules.Rules) {
	st := c.st
	states := classify(st.Scan, merged, a.clock.Now(), a.cfg.WUA.InstallDelay, st.InstallErrors, st.InstalledAt)
	a.settleAvailability(ctx, c, states)
	st.Updates = states
}

// scan runs the WUA offline scan and stores its result; false when it failed.
func (a *Agent) scan(ctx context.Context, c *cycle, merged rules.Rules, key string) bool {
	st := c.st
	if err := a.prepare(ctx, c); err != nil {
		c.scanFailed = true
		c.failWith(StatusErrorScanning, err)
		return false
	}
	criteria, _ := wua.CriteriaFromFilter(a.cfg.WUA.Filter) // checked by New
	opts := wua.ScanOptions{
		CabPath:           a.cabPath(),
		Criteria:          criteria,
		IncludeSuperseded: merged.IncludePotentiallySupersededUpdates != nil && *merged.IncludePotentiallySupersededUpdates,
		Locale:            uint32(a.cfg.WUA.UserLocale),
	}
	// Readers of the state (wapt-get waptwua-status) see the scan running.
	prev := st.Status
	st.Status = StatusScanning
	if err := saveState(a.dataDir, st); err != nil {
		a.log.Warn("record the scan start", slog.Any("err", err))
	}
	st.Status = prev
	start := a.clock.Now()
	updates, err := a.wua.Scan(ctx, opts)
	if err != nil {
		if errors.Is(err, wua.ErrBusy) {
			err = fmt.Errorf("scan: %w (%w); retried later", wua.ErrBusy, err)
		} else {
			err = fmt.Errorf("scan with %s: %w", opts.CabPath, err)
		}
		a.log.Warn("scan failed", slog.Any("err", err))
		c.scanFailed = true
		c.failWith(StatusErrorScanning, err)
		return false
	}
	st.Scan, st.ScanKey, st.LastScan, st.Scanned = updates, key, start, true
	a.liveScanKey = key
	c.scanned = true
	a.log.Info("scan done", slog.Int("updates", len(updates)), slog.Duration("took", a.clock.Now().Sub(start)))
	return true
}

// scanKey identifies what a scan depends on: the catalog, the rules, the install history
// and the scan options.
func (a *Agent) scanKey(st *State, merged rules.Rules) string {
	include := merged.IncludePotentiallySupersededUpdates != nil && *merged.IncludePotentiallySupersededUpdates
	parts := []string{
		st.Cab.SHA1, st.RulesHash, strconv.FormatInt(st.LastInstall.UnixNano(), 10),
		a.cfg.WUA.Filter, strconv.FormatBool(include), strconv.Itoa(a.cfg.WUA.UserLocale),
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// effectiveRules merges the [waptwua] rules keys with the server's rules for the host,
// in this order: the ini section, the server-wide rules (an unsigned layer, used only
// when the agent trusts no package certificate), then the signed rules packages the
// server assigns, each verified (see syncPackages). The server's answer is cached: when
// the server is unreachable the last one is used. Invalid server-wide rules allow
// nothing (fail closed) until fixed.
func (a *Agent) effectiveRules(ctx context.Context, c *cycle) rules.Rules {
	st := c.st
	ini := iniRules(a.cfg.Rules)
	if a.client.Registered() {
		r, etag, notModified, err := a.client.Rules(ctx, st.RulesETag)
		switch {
		case err != nil:
			a.log.Warn("server rules not refreshed: using the last ones", slog.Any("err", err))
			c.errs = append(c.errs, fmt.Errorf("rules: %w", err))
		case !notModified:
			st.ServerRules, st.RulesETag = &r, etag
		}
	}
	packages := a.syncPackages(ctx, c)
	var layers []rules.Rules
	if st.ServerRules != nil && !a.signedMode() {
		raw := bytes.TrimSpace(st.ServerRules.Rules)
		if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
			server, err := rules.Parse(raw)
			if err != nil {
				c.failWith(StatusError, fmt.Errorf("server rules refused, nothing is allowed until they are fixed on the server: %w", err))
				no := false
				return rules.Rules{DefaultAllow: &no, ForbiddenUpdates: ini.ForbiddenUpdates, ForbiddenKBs: ini.ForbiddenKBs}
			}
			layers = append(layers, server)
		}
	} else if st.ServerRules != nil {
		if raw := bytes.TrimSpace(st.ServerRules.Rules); len(raw) > 0 && !bytes.Equal(raw, []byte("{}")) && !bytes.Equal(raw, []byte("null")) {
			a.log.Debug("server-wide rules ignored: [waptwua] trusted_certs is set, only signed rules packages count")
		}
	}
	return rules.Merge(ini, append(layers, packages...)...)
}

// iniRules turns the rules keys of [waptwua] into rules.
func iniRules(s config.RulesSection) rules.Rules {
	return rules.Rules{
		AllowedUpdates:                      s.AllowedUpdates,
		ForbiddenUpdates:                    s.ForbiddenUpdates,
		AllowedKBs:                          s.AllowedKBs,
		ForbiddenKBs:                        s.ForbiddenKBs,
		AllowedProducts:                     s.AllowedProducts,
		AllowedClassifications:              s.AllowedClassifications,
		AllowedSeverities:                   s.AllowedSeverities,
		DefaultAllow:                        s.DefaultAllow,
		IncludePotentiallySupersededUpdates: s.IncludePotentiallySupersededUpdates,
	}
}

func hashRules(r rules.Rules) string {
	b, err := rules.Marshal(r)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// settleAvailability turns PENDING into MISSING for updates whose files are neither
// local, nor on the repository, nor downloadable from Microsoft, and marks which updates
// have all their files local.
func (a *Agent) settleAvailability(ctx context.Context, c *cycle, states []UpdateState) {
	prev := map[string]UpdateState{}
	for _, s := range c.st.Updates {
		prev[s.key()] = s
	}
	onServer := map[string]bool{} // per cycle: one HEAD per file
	unreachable := false
	for i := range states {
		s := &states[i]
		if !needsInstall(s.Status) {
			continue
		}
		// An update without files to fetch (WUA already has them) is as good as local.
		s.Local = len(s.Files) == 0 || a.allLocal(s.Files)
		if s.Local || a.cfg.WUA.DirectDownload || s.Status == wu.StatusError {
			continue
		}
		available := true
		for _, name := range s.Files {
			if a.isLocal(name) {
				continue
			}
			ok, seen := onServer[name]
			if !seen && !unreachable && ctx.Err() == nil {
				var err error
				ok, err = a.client.HeadFile(ctx, name)
				if err != nil {
					if errors.Is(err, ErrUnreachable) {
						unreachable = true
					} else {
						a.log.Warn("repository check failed", slog.String("file", name), slog.Any("err", err))
					}
				} else {
					onServer[name] = ok
					seen = true
				}
			}
			if !seen {
				// Unknown: downloadable from Microsoft, or as it was.
				if a.cfg.WUA.AllowDirectDownload && unreachable {
					continue
				}
				if p, had := prev[s.key()]; had && p.Status == wu.StatusPending {
					continue
				}
				available = false
				break
			}
			if !ok {
				available = false
				break
			}
		}
		if !available {
			s.Status = wu.StatusMissing
		}
	}
	if unreachable {
		c.errs = append(c.errs, fmt.Errorf("repository %s: %w", a.client.RepoURL(), ErrUnreachable))
	}
}

func (s *UpdateState) key() string {
	return wu.UpdateKey{UpdateID: s.UpdateID, RevisionNumber: s.RevisionNumber}.String()
}

func scanIndex(scan []wua.Update) map[string]*wua.Update {
	m := make(map[string]*wua.Update, len(scan))
	for i := range scan {
		m[scan[i].Key.String()] = &scan[i]
	}
	return m
}

// cacheDir holds the downloaded update files.
func (a *Agent) cacheDir() string { return filepath.Join(a.dataDir, CacheDirName) }

func (a *Agent) isLocal(name string) bool {
	if !safeName(name) {
		return false
	}
	fi, err := os.Stat(filepath.Join(a.cacheDir(), name))
	return err == nil && fi.Mode().IsRegular()
}

func (a *Agent) allLocal(names []string) bool {
	if len(names) == 0 {
		return false
	}
	for _, n := range names {
		if !a.isLocal(n) {
			return false
		}
	}
	return true
}

// safeName accepts a plain file name: no folder, no "..", nothing Windows would read as
// a device or a stream.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 &&
		!strings.ContainsAny(name, `/\:*?"<>|`+"\x00") && !strings.HasPrefix(name, ".")
}

// hiddenChanges lists the updates to hide (DISCARDED and visible) and to show again
// (allowed and hidden).
func hiddenChanges(st *State) (hide, show []wu.UpdateKey) {
	scanned := scanIndex(st.Scan)
	for i := range st.Updates {
		s := &st.Updates[i]
		u := scanned[s.key()]
		if u == nil || u.Installed {
			continue
		}
		switch {
		case s.Status == wu.StatusDiscarded && !u.Hidden:
			hide = append(hide, u.Key)
		case needsInstall(s.Status) && u.Hidden:
			show = append(show, u.Key)
		}
	}
	return hide, show
}

func (a *Agent) setHidden(ctx context.Context, c *cycle, keys []wu.UpdateKey, hidden bool) {
	if len(keys) == 0 {
		return
	}
	if err := a.prepare(ctx, c); err != nil {
		c.errs = append(c.errs, err)
		return
	}
	verb := map[bool]string{true: "hide", false: "show"}[hidden]
	if err := a.wua.SetHidden(ctx, keys, hidden); err != nil {
		a.log.Warn(verb+" updates", slog.Int("count", len(keys)), slog.Any("err", err))
		c.errs = append(c.errs, fmt.Errorf("%s %d updates in Windows Update: %w", verb, len(keys), err))
		return
	}
	set := map[wu.UpdateKey]bool{}
	for _, k := range keys {
		set[k] = true
	}
	for i := range c.st.Scan {
		if set[c.st.Scan[i].Key] {
			c.st.Scan[i].Hidden = hidden
		}
	}
}
