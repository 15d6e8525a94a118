package upstream

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// DefaultCabURL is where Microsoft publishes the offline scan catalog (REFERENCE §1).
const DefaultCabURL = "http://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab"

// CabState is what the server remembers of the catalog it last downloaded, sent back as
// If-None-Match / If-Modified-Since. The zero value means "no catalog yet".
type CabState struct {
	ETag         string
	LastModified time.Time
	SHA1         string // informative: compare with CabResult.SHA1 to spot an unchanged body
	Size         int64
}

// CabResult describes a FetchCab call.
type CabResult struct {
	NotModified  bool   // HTTP 304: nothing downloaded, TempPath is empty
	TempPath     string // the downloaded catalog, next to dest, hidden and named *.part
	Size         int64
	SHA1         string // lower-case hex
	LastModified time.Time
	ETag         string
	Bytes        int64 // bytes received from the network
	Attempts     int
	Duration     time.Duration
}

// FetchCab downloads the offline catalog from rawURL when it changed since prev
// (conditional GET). The new catalog goes to a temporary file in dest's folder, returned in
// TempPath: the caller checks the cabinet, then publishes it (repo.PublishCab) or deletes
// it. FetchCab never writes dest. Transient failures are retried and resumed within the
// call (Range + If-Range); on failure the temporary file is removed.
func (c *Client) FetchCab(ctx context.Context, rawURL, dest string, prev CabState) (CabResult, error) {
	begin := c.now()
	u, err := url.Parse(rawURL)
	if err != nil {
		return CabResult{}, fmt.Errorf("offline catalog URL %q: %w (check the cab URL setting)", rawURL, err)
	}
	if err := c.checkURL(u); err != nil {
		return CabResult{}, fmt.Errorf("offline catalog: %w", err)
	}
	base := filepath.Base(dest)
	if dest == "" || base == "." || base == string(filepath.Separator) {
		return CabResult{}, fmt.Errorf("offline catalog: destination %q is not a file path (set waptwua_folder)", dest)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+base+".*.part")
	if err != nil {
		return CabResult{}, fmt.Errorf("offline catalog: creating a temporary file next to %s: %w (check that the repository folder exists and is writable)", dest, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = tmp.Close()
			if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
				c.log.WarnContext(ctx, "cannot delete temporary catalog", slog.String("file", tmp.Name()), slog.Any("err", err))
			}
		}
	}()

	t := &transfer{url: u.String(), name: base, file: tmp, sha1: sha1.New(), sha256: sha256.New(), size: -1}
	cond := http.Header{}
	if prev.ETag != "" {
		cond.Set("If-None-Match", prev.ETag)
	}
	if !prev.LastModified.IsZero() {
		cond.Set("If-Modified-Since", prev.LastModified.UTC().Format(http.TimeFormat))
	}
	if len(cond) > 0 {
		t.conditional = cond
	}
	err = c.run(ctx, t)
	res := CabResult{Bytes: t.bytes, Attempts: t.attempts, Duration: c.now().Sub(begin)}
	if err != nil {
		return res, fmt.Errorf("offline catalog: %w", err)
	}
	if t.notModified {
		res.NotModified, res.ETag, res.LastModified, res.SHA1, res.Size = true, prev.ETag, prev.LastModified, prev.SHA1, prev.Size
		c.log.InfoContext(ctx, "offline catalog not modified", slog.String("url", t.url))
		return res, nil
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600; web servers and replication read it
		return res, fmt.Errorf("offline catalog: %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("offline catalog: syncing %s: %w (check the disk)", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("offline catalog: closing %s: %w (check the disk)", tmp.Name(), err)
	}
	keep = true
	res.TempPath, res.Size, res.SHA1, res.ETag, res.LastModified = tmp.Name(), t.offset, t.sha1Hex(), t.etag, t.lastModified
	c.log.InfoContext(ctx, "offline catalog downloaded", slog.String("url", t.url), slog.String("temp", res.TempPath),
		slog.Int64("size", res.Size), slog.String("sha1", res.SHA1), slog.Int("attempts", res.Attempts))
	return res, nil
}
