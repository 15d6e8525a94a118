package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/wu"
)

// maxManifestBytes bounds a manifest: 200 bytes a file, a million files.
const maxManifestBytes = 256 << 20

// fetchManifest asks the main server for the manifest; with etag set it may answer
// nil (not modified), waiting up to wait for a change.
func (m *Mirror) fetchManifest(ctx context.Context, etag string, wait time.Duration) (*api.MirrorManifest, error) {
	q := url.Values{"scope": {m.cfg.Scope}}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second))+"s")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.cfg.MainURL+api.PathMirrorManifest+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("main server %s: %w (check main_url)", redact(m.cfg.MainURL), err)
	}
	req.Header.Set("Authorization", "Bearer "+m.cfg.Credential)
	if etag != "" {
		req.Header.Set("If-None-Match", `"`+etag+`"`)
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unreachable(m.cfg.MainURL, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, nil
	case http.StatusOK:
	default:
		return nil, answerError(resp, m.cfg.MainURL, "manifest (scope "+m.cfg.Scope+")")
	}
	var man api.MirrorManifest
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxManifestBytes))
	if err := dec.Decode(&man); err != nil {
		return nil, fmt.Errorf("main server %s: manifest unreadable: %v (is main_url a waptserver?)", redact(m.cfg.MainURL), err)
	}
	seen := make(map[string]bool, len(man.Files))
	for i := range man.Files {
		f := &man.Files[i]
		folder, name, err := f.Split()
		if err == nil {
			err = repo.CheckFileName(name)
			if err != nil && folder == api.MirrorFolderUpdates && name == repo.CabName {
				err = nil
			}
		}
		if err == nil && (f.Size < 0 || !wu.IsHex(f.SHA1, 40) || !wu.IsHex(f.SHA256, 64)) {
			err = fmt.Errorf("manifest file %q: size or digests malformed", f.Path)
		}
		key := strings.ToLower(f.Path)
		if err == nil && seen[key] {
			err = fmt.Errorf("manifest file %q listed twice", f.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("main server %s: manifest refused: %w", redact(m.cfg.MainURL), err)
		}
		seen[key] = true
		f.SHA1, f.SHA256 = strings.ToLower(f.SHA1), strings.ToLower(f.SHA256)
	}
	return &man, nil
}

// Sync brings the folders to the main server's manifest once: nil when they match it
// at the end. An idle sync (nothing changed since a complete one) is one request
// answered 304.
func (m *Mirror) Sync(ctx context.Context) Result {
	return m.sync(ctx, nil)
}

func (m *Mirror) sync(ctx context.Context, man *api.MirrorManifest) Result {
	res := Result{Start: m.cfg.Now()}
	res.Err = m.doSync(ctx, man, &res)
	res.End = m.cfg.Now()
	m.mu.Lock()
	m.last = res
	m.mu.Unlock()
	return res
}

func (m *Mirror) doSync(ctx context.Context, man *api.MirrorManifest, res *Result) error {
	m.mu.Lock()
	if man == nil && m.pending != nil {
		man = m.pending
	}
	m.pending = nil
	etag, complete, prev := "", m.complete, m.manifest
	if prev != nil && complete {
		etag = prev.Version
	}
	if m.lastScrub.IsZero() || m.cfg.Now().Sub(m.lastScrub) >= m.cfg.ScrubInterval {
		m.verified = map[string]stamp{} // scrub: every file is read again
		m.lastScrub = m.cfg.Now()
		etag = ""
	}
	m.mu.Unlock()
	if man == nil {
		var err error
		if man, err = m.fetchManifest(ctx, etag, 0); err != nil {
			return err
		}
	}
	if man == nil {
		// 304: the folder matched this manifest at the end of the last sync; the files
		// are only looked at (size and time), not read.
		res.NotModified = true
		man = prev
	} else {
		m.mu.Lock()
		m.manifest, m.complete = man, false
		m.mu.Unlock()
	}
	res.Version, res.Files = man.Version, len(man.Files)

	// Which files are missing or wrong.
	var todo []api.MirrorFile
	for _, f := range man.Files {
		ok, repaired := m.check(f)
		if repaired {
			res.Repaired++
		}
		if !ok {
			todo = append(todo, f)
		}
	}
	// Files the main server no longer lists go after the grace period.
	res.Deleted = m.deleteGone(man)

	inWindow := m.cfg.InWindow == nil || m.cfg.InWindow(m.cfg.Now())
	var errs []error
	if len(todo) > 0 && !inWindow {
		errs = append(errs, fmt.Errorf("%w: %d files not downloaded", ErrOutsideWindow, len(todo)))
	} else if len(todo) > 0 {
		errs = m.download(ctx, todo, res)
	}
	// What the folder holds now.
	now := m.cfg.Now()
	var oldest time.Time
	for _, f := range man.Files {
		if m.isVerified(f) {
			res.FilesHeld++
			res.BytesHeld += f.Size
			continue
		}
		res.Missing++
		res.BytesMissing += f.Size
		if oldest.IsZero() || f.Appeared.Before(oldest) {
			oldest = f.Appeared
		}
	}
	if !oldest.IsZero() && now.After(oldest) {
		res.Lag = now.Sub(oldest)
	}
	if res.Missing == 0 {
		m.mu.Lock()
		m.complete = true
		m.mu.Unlock()
		return nil
	}
	err := errors.Join(errs...)
	if err == nil {
		err = errors.New("files changed during the sync")
	}
	return fmt.Errorf("%d of %d files missing or wrong (%d bytes): %w", res.Missing, len(man.Files), res.BytesMissing, firstErr(err))
}

func firstErr(err error) error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		if es := j.Unwrap(); len(es) > 1 {
			return fmt.Errorf("%w (and %d more errors, see the log)", es[0], len(es)-1)
		}
	}
	return err
}

func (m *Mirror) isVerified(f api.MirrorFile) bool {
	m.mu.Lock()
	st, ok := m.verified[f.Path]
	m.mu.Unlock()
	if !ok || st.sha256 != f.SHA256 {
		return false
	}
	folder, name, _ := f.Split()
	fi, err := m.repoOf(folder).Stat(name)
	return err == nil && fi.Size == st.size && fi.ModTime.Equal(st.mod)
}

// check says whether the folder holds f: a file checked before and unchanged since
// (size and time) counts; otherwise it is read and its digests compared. A file that
// does not match is deleted (repaired then says so).
func (m *Mirror) check(f api.MirrorFile) (ok, repaired bool) {
	if m.isVerified(f) {
		return true, false
	}
	folder, name, _ := f.Split()
	r := m.repoOf(folder)
	fi, s, err := r.Sum(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false
	}
	if err == nil && s.Size == f.Size && s.SHA1 == f.SHA1 && s.SHA256 == f.SHA256 {
		m.markVerified(f.Path, fi, f.SHA256)
		return true, false
	}
	m.cfg.Log.Warn("mirror: file does not match the main server's, fetching it again", slog.String("file", f.Path),
		slog.String("want_sha256", f.SHA256), slog.String("got_sha256", s.SHA256), slog.Any("err", err))
	if name == repo.CabName {
		return false, true // replaced whole by the next publication
	}
	if rerr := r.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		m.cfg.Log.Warn("mirror: cannot delete a wrong file", slog.String("file", f.Path), slog.Any("err", rerr))
	}
	return false, true
}

func (m *Mirror) markVerified(path string, fi repo.FileInfo, sha256 string) {
	m.mu.Lock()
	m.verified[path] = stamp{size: fi.Size, mod: fi.ModTime, sha256: sha256}
	m.mu.Unlock()
}

// deleteGone removes files absent from the manifest for longer than the grace period.
func (m *Mirror) deleteGone(man *api.MirrorManifest) int {
	listed := make(map[string]bool, len(man.Files))
	for _, f := range man.Files {
		listed[f.Path] = true
	}
	now := m.cfg.Now()
	n := 0
	for _, folder := range []string{api.MirrorFolderUpdates, api.MirrorFolderPackages} {
		r := m.repoOf(folder)
		list, err := r.List()
		if err != nil {
			m.cfg.Log.Warn("mirror: listing the folder", slog.String("folder", folder), slog.Any("err", err))
			continue
		}
		for _, fi := range list {
			p := folder + "/" + fi.Name
			if listed[p] || strings.EqualFold(fi.Name, repo.CabName) || strings.EqualFold(fi.Name, repo.CabSHA1Name) {
				m.mu.Lock()
				delete(m.goneSince, p)
				m.mu.Unlock()
				continue
			}
			m.mu.Lock()
			since, ok := m.goneSince[p]
			if !ok {
				since = now
				m.goneSince[p] = now
			}
			m.mu.Unlock()
			if now.Sub(since) < m.cfg.DeleteGrace {
				continue
			}
			if err := r.Remove(fi.Name); err != nil {
				m.cfg.Log.Warn("mirror: deleting a file the main server dropped", slog.String("file", p), slog.Any("err", err))
				continue
			}
			m.mu.Lock()
			delete(m.goneSince, p)
			delete(m.verified, p)
			m.mu.Unlock()
			m.cfg.Log.Info("mirror: deleted a file the main server no longer lists", slog.String("file", p),
				slog.Duration("grace", m.cfg.DeleteGrace))
			n++
		}
	}
	return n
}

// download fetches the files with bounded concurrency, smallest first (many small
// files are served sooner; the catalog, large, comes with the others).
func (m *Mirror) download(ctx context.Context, todo []api.MirrorFile, res *Result) []error {
	sort.Slice(todo, func(i, j int) bool { return todo[i].Size < todo[j].Size })
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, m.cfg.Concurrency)
	for _, f := range todo {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := m.fetch(ctx, f)
			mu.Lock()
			defer mu.Unlock()
			res.BytesSynced += n
			if err != nil {
				m.cfg.Log.Warn("mirror: download failed", slog.String("file", f.Path), slog.Any("err", err))
				errs = append(errs, err)
				return
			}
			res.Downloaded++
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errs
}

// fetch downloads one file into place, verified, and returns the bytes received.
func (m *Mirror) fetch(ctx context.Context, f api.MirrorFile) (int64, error) {
	folder, name, _ := f.Split()
	r := m.repoOf(folder)
	src := m.cfg.MainURL + "/" + folder + "/" + url.PathEscape(name)
	var got int64
	if folder == api.MirrorFolderUpdates && name == repo.CabName {
		w, err := r.StageCab()
		if err != nil {
			return 0, err
		}
		defer w.Abort()
		got, err = m.get(ctx, src, w, f.Size)
		if err != nil {
			return got, err
		}
		s, err := w.Seal()
		if err != nil {
			return got, err
		}
		if s.Size != f.Size || s.SHA1 != f.SHA1 || s.SHA256 != f.SHA256 {
			return got, fmt.Errorf("%s: digests differ from the manifest's (sha256 %s, want %s): not published", f.Path, s.SHA256, f.SHA256)
		}
		if _, err := w.Commit(); err != nil {
			return got, err
		}
	} else {
		want, err := repo.WantFile(name, f.Size, f.SHA1, f.SHA256)
		if err != nil {
			return 0, err
		}
		_, _, err = r.Write(name, want, func(w *repo.Writer) error {
			n, err := m.get(ctx, src, w, f.Size)
			got += n
			return err
		})
		if err != nil {
			return got, err
		}
	}
	m.bytesSynced.Add(got)
	fi, err := r.Stat(name)
	if err != nil {
		return got, err
	}
	m.markVerified(f.Path, fi, f.SHA256)
	return got, nil
}

// sink is where a download goes: a repo.Writer.
type sink interface {
	io.Writer
	Offset() int64
	Reset() error
}

// get downloads src into w from w's offset (Range), at most size bytes.
func (m *Mirror) get(ctx context.Context, src string, w sink, size int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return 0, err
	}
	off := w.Offset()
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return 0, unreachable(m.cfg.MainURL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", off)) {
			return 0, fmt.Errorf("%s: the main server answered another range (%s)", src, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if off > 0 {
			if err := w.Reset(); err != nil {
				return 0, err
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		_ = w.Reset() // the partial file is longer than the file: start over next time
		return 0, fmt.Errorf("%s: partial download longer than the file, starting over", src)
	default:
		return 0, answerError(resp, m.cfg.MainURL, "GET "+src)
	}
	// A stalled transfer is cut after StallTimeout without a byte.
	stall := time.AfterFunc(m.cfg.StallTimeout, cancel)
	defer stall.Stop()
	body := &watchReader{r: io.LimitReader(resp.Body, size-w.Offset()+1), timer: stall, d: m.cfg.StallTimeout}
	var rd io.Reader = body
	if m.limit != nil {
		rd = &limitedReader{r: body, l: m.limit, ctx: ctx}
	}
	n, err := io.CopyBuffer(w, rd, make([]byte, 256<<10))
	if err != nil {
		if ctx.Err() != nil && err == context.Canceled {
			return n, fmt.Errorf("%s: no data for %s, download cut (resumed next time)", src, m.cfg.StallTimeout)
		}
		return n, fmt.Errorf("%s: %w", src, err)
	}
	return n, nil
}

type watchReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.timer.Reset(w.d)
	}
	return n, err
}
