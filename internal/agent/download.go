package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// ErrDiskSpace: less free space than the agent needs to download or install.
var ErrDiskSpace = errors.New("not enough free disk space")

// ErrUnverifiable: an update file name carries no SHA-1, so its content cannot be checked.
var ErrUnverifiable = errors.New("update file cannot be verified")

// checkSpace refuses to go on with less than minFree bytes free on path's volume.
func (a *Agent) checkSpace(path, what string) error {
	free, err := a.disk.FreeBytes(path)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrDiskSpace, err)
	}
	if free < a.minFree {
		return fmt.Errorf("%s: %w: %s free on the volume of %s, %s needed (free some space; the next cycle retries)",
			what, ErrDiskSpace, formatBytes(int64(free)), path, formatBytes(int64(a.minFree)))
	}
	return nil
}

// download fetches the files of the allowed needed updates into the cache: from the
// repository (resumed, SHA-1 checked against the name), or from Microsoft with
// direct_download (always) or allow_direct_download (when the repository is
// unreachable). MISSING updates are fetched only from Microsoft.
func (a *Agent) download(ctx context.Context, c *cycle) {
	st := c.st
	var todo []int
	for i := range st.Updates {
		s := &st.Updates[i]
		if needsInstall(s.Status) && !s.Local && len(s.Files) > 0 {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	if err := a.checkSpace(a.dataDir, "download"); err != nil {
		a.log.Warn("download refused", slog.Any("err", err))
		c.failWith(StatusDiskSpaceError, err)
		return
	}
	urls := downloadURLs(st.Scan)
	a.pickRepositories(ctx, c)
	for _, i := range todo {
		s := &st.Updates[i]
		if s.Status == wu.StatusMissing && a.direct == nil {
			continue // the server fetches it; a later cycle finds it on the repository
		}
		ok := true
		for _, name := range s.Files {
			if ctx.Err() != nil {
				return
			}
			if _, err := a.fetchUpdateFile(ctx, c, name, urls[strings.ToLower(name)], s.Status == wu.StatusMissing); err != nil {
				a.log.Warn("download failed", slog.String("file", name), slog.String("update", s.key()), slog.Any("err", err))
				c.errs = append(c.errs, fmt.Errorf("download %s for %s: %w", name, describe(s), err))
				ok = false
				break
			}
		}
		if ok {
			s.Local = true
			if s.Status == wu.StatusMissing {
				s.Status = wu.StatusPending
			}
		}
	}
}

// describe names an update for messages: "KB5034441 (<guid>_<rev>)".
func describe(s *UpdateState) string {
	if len(s.KBs) > 0 {
		return s.KBs[0] + " (" + s.key() + ")"
	}
	return s.key()
}

// downloadURLs maps lower-case file names to their Microsoft URLs.
func downloadURLs(scan []wua.Update) map[string]string {
	m := map[string]string{}
	add := func(ds []wua.Download) {
		for _, d := range ds {
			name := d.FileName
			if name == "" {
				name = wua.FileNameFromURL(d.URL)
			}
			m[strings.ToLower(name)] = d.URL
		}
	}
	for i := range scan {
		add(scan[i].Downloads)
		for _, b := range scan[i].Bundled {
			add(b.Downloads)
		}
	}
	return m
}

// fetchUpdateFile makes cache/<name> hold the verified file and returns its path.
// onlyDirect skips the repository (the file is known to be missing there).
func (a *Agent) fetchUpdateFile(ctx context.Context, c *cycle, name, msURL string, onlyDirect bool) (string, error) {
	if !safeName(name) {
		return "", fmt.Errorf("%q is not a plain file name (refused)", name)
	}
	dir := a.cacheDir()
	final := filepath.Join(dir, name)
	if a.isLocal(name) {
		return final, nil
	}
	sha := wu.SHA1FromFileName(name)
	if sha == "" {
		return "", fmt.Errorf("%s: %w: its name does not end with _<sha1> like Microsoft's files", name, ErrUnverifiable)
	}
	direct := func(cause error) (string, error) {
		if a.direct == nil || msURL == "" {
			if cause != nil {
				return "", cause
			}
			return "", fmt.Errorf("%s: no Microsoft URL known (scan again)", name)
		}
		p, err := a.direct.Download(ctx, msURL, name, sha, dir)
		if err != nil {
			if cause != nil {
				return "", fmt.Errorf("%w; then from Microsoft: %w", cause, err)
			}
			return "", fmt.Errorf("from Microsoft: %w", err)
		}
		return p, nil
	}
	if a.cfg.WUA.DirectDownload || onlyDirect {
		return direct(nil)
	}
	part := final + ".part"
	if err := a.fetchFromRepositories(ctx, c, name, sha, part); err != nil {
		if a.cfg.WUA.AllowDirectDownload && errors.Is(err, ErrUnreachable) {
			return direct(err)
		}
		if errors.Is(err, errWrongContent) {
			return "", fmt.Errorf("%w (the repository copy is damaged; the next cycle retries)", err)
		}
		return "", err
	}
	if err := os.Rename(part, final); err != nil {
		return "", fmt.Errorf("%s: %w", final, err)
	}
	return final, nil
}

func (a *Agent) progressFor(name string) func(done, total int64) {
	if a.progress == nil {
		return nil
	}
	return func(done, total int64) { a.progress(name, done, total) }
}

// upstreamDownloader fetches from Microsoft with internal/upstream (allow-list, retries,
// resume, digest check).
type upstreamDownloader struct {
	c   *upstream.Client
	log *slog.Logger
}

func newUpstreamDownloader(proxy string, log *slog.Logger, progress Progress) (*upstreamDownloader, error) {
	opts := []upstream.Option{upstream.WithLogger(log), upstream.WithUserAgent("waptwua-agent (+https://github.com/openwua/waptwua)")}
	if proxy != "" {
		opts = append(opts, upstream.WithProxy(proxy))
	}
	if progress != nil {
		opts = append(opts, upstream.WithProgress(upstream.Progress(progress)))
	}
	c, err := upstream.New(opts...)
	if err != nil {
		return nil, err
	}
	return &upstreamDownloader{c: c, log: log}, nil
}

func (d *upstreamDownloader) Download(ctx context.Context, url, name, sha1 string, dir string) (string, error) {
	rp, err := repo.Open(dir, repo.WithLogger(d.log))
	if err != nil {
		return "", err
	}
	defer rp.Close()
	f := wu.File{Name: name, URL: url, SHA1: sha1}
	name, want, err := repo.FileOf(f)
	if err != nil {
		return "", err
	}
	if _, _, err := rp.Write(name, want, func(w *repo.Writer) error {
		_, err := d.c.Fetch(ctx, f, w)
		return err
	}); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// formatBytes writes a size for people: "1.0 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
