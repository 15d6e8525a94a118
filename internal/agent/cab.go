package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// CabSHA1Name is the repository file holding the hex SHA-1 of wsusscn2.cab.
const CabSHA1Name = CabFileName + ".sha1"

// ErrCabMismatch: the downloaded wsusscn2.cab does not have the SHA-1 of
// wsusscn2.cab.sha1. The previous catalog is kept.
var ErrCabMismatch = errors.New("wsusscn2.cab SHA-1 differs from wsusscn2.cab.sha1")

// cabPath is the local copy of the catalog the scans read.
func (a *Agent) cabPath() string { return filepath.Join(a.dataDir, CabFileName) }

// syncCab makes the local wsusscn2.cab current with the repository: a conditional GET
// (If-None-Match / If-Modified-Since), resumed when an earlier download was cut, then
// the SHA-1 check against wsusscn2.cab.sha1. The new catalog replaces the local one only
// when complete and verified; on any failure the previous one stays. changed says the
// local catalog is new.
func (a *Agent) syncCab(ctx context.Context, st *State) (changed bool, err error) {
	if repos := a.repositories(st); len(repos) > 1 {
		if changed, done := a.syncCabFromSite(ctx, st, repos[:len(repos)-1]); done {
			return changed, nil
		}
	}
	local := a.cabPath()
	part := local + ".part"
	if _, err := os.Stat(local); err != nil {
		st.Cab = CabState{PartETag: st.Cab.PartETag}
	}
	resume := int64(0)
	if st.Cab.PartETag != "" {
		resume = partSize(part)
	}
	if resume == 0 {
		st.Cab.PartETag = ""
	}
	cond := http.Header{}
	if st.Cab.SHA1 != "" {
		if st.Cab.ETag != "" {
			cond.Set("If-None-Match", st.Cab.ETag)
		}
		if !st.Cab.LastModified.IsZero() {
			cond.Set("If-Modified-Since", st.Cab.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	progress := a.progressFor(CabFileName)
	res, err := fetchResumable(ctx, a.client, CabFileName, part, resume, st.Cab.PartETag, cond, progress)
	if res.ETag != "" && !res.NotModified {
		st.Cab.PartETag = res.ETag // lets the next call resume a cut transfer
	}
	if err != nil {
		if errors.Is(err, errNoResume) {
			st.Cab.PartETag = ""
		}
		return false, fmt.Errorf("wsusscn2.cab: %w", err)
	}
	if res.NotModified {
		st.Cab.Fetched = a.clock.Now()
		return false, nil
	}

	want, err := a.cabSHA1(ctx)
	if err != nil {
		return false, err // keep the partial file: it may well be right
	}
	if res.SHA1 != want {
		_ = os.Remove(part)
		st.Cab.PartETag = ""
		return false, fmt.Errorf("%w: downloaded %s, %s says %s: kept the previous catalog (the server may be publishing a new one; retried next cycle)",
			ErrCabMismatch, res.SHA1, CabSHA1Name, want)
	}
	if err := os.Rename(part, local); err != nil {
		return false, fmt.Errorf("wsusscn2.cab: install the new catalog: %w (is a scan still reading %s?)", err, local)
	}
	changed = res.SHA1 != st.Cab.SHA1
	st.Cab = CabState{SHA1: res.SHA1, Size: res.Size, ETag: res.ETag, LastModified: res.LastModified, Fetched: a.clock.Now()}
	return changed, nil
}

// syncCabFromSite takes the catalog's SHA-1 from the main server and, when it differs
// from the local catalog's, the catalog itself from the first site repository that
// serves it with that SHA-1 (the large download stays on the site's network). done is
// false when no site repository served it: the main server's path (syncCab) runs.
func (a *Agent) syncCabFromSite(ctx context.Context, st *State, sites []*Client) (changed, done bool) {
	local := a.cabPath()
	want, err := a.cabSHA1(ctx)
	if err != nil {
		return false, false // the main server's path says what is wrong
	}
	if _, err := os.Stat(local); err == nil && want == st.Cab.SHA1 {
		st.Cab.Fetched = a.clock.Now()
		return false, true
	}
	part := local + ".part"
	for _, r := range sites {
		if err := r.Health(ctx); err != nil {
			continue
		}
		res, err := fetchResumable(ctx, r, CabFileName, part, 0, "", nil, a.progressFor(CabFileName))
		if err == nil && res.SHA1 != want {
			err = fmt.Errorf("%w: %s serves %s, the main server's %s says %s", ErrCabMismatch, r.repo, res.SHA1, CabSHA1Name, want)
		}
		if err != nil {
			_ = os.Remove(part)
			a.log.Warn("catalog not taken from the site repository", slog.String("repository", r.repo), slog.Any("err", err))
			continue
		}
		if err := os.Rename(part, local); err != nil {
			a.log.Warn("install the new catalog", slog.Any("err", err))
			return false, false
		}
		changed = res.SHA1 != st.Cab.SHA1
		// No validators: they belong to the site repository, not to the main server.
		st.Cab = CabState{SHA1: res.SHA1, Size: res.Size, Fetched: a.clock.Now()}
		return changed, true
	}
	return false, false
}

// cabSHA1 reads wsusscn2.cab.sha1 from the repository: hex SHA-1, possibly followed by
// a file name as sha1sum writes it.
func (a *Agent) cabSHA1(ctx context.Context) (string, error) {
	resp, err := a.client.getFile(ctx, CabSHA1Name, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", CabSHA1Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %w (the server publishes it with the cab: refusing a catalog that cannot be checked)", CabSHA1Name, httpError(resp.Request, resp))
	}
	line, err := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("%s: %w", CabSHA1Name, err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || !isHex(fields[0], 40) {
		return "", fmt.Errorf("%s: %q is not a hex SHA-1 (refusing a catalog that cannot be checked)", CabSHA1Name, truncate(line, 60))
	}
	return strings.ToLower(fields[0]), nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) { // never cut a character in two
		n--
	}
	return s[:n] + "..."
}
