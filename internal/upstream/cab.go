package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// CabState is what the server remembers of the catalog it last downloaded, sent back as
// If-None-Match / If-Modified-Since. The zero value means "no catalog yet".
type CabState struct {
	ETag         string
	LastModified time.Time
}

// CabResult describes a FetchCab call.
type CabResult struct {
	NotModified  bool // HTTP 304: nothing downloaded
	Size         int64
	LastModified time.Time
	ETag         string
	Bytes        int64 // bytes received from the network
	Attempts     int
	Duration     time.Duration
}

// FetchCab downloads the offline catalog from rawURL into dst (repo.StageCab) when it
// changed since prev (conditional GET). The caller checks the catalog, then publishes
// it or drops it. Transient failures are retried and resumed within the call (Range +
// If-Range).
func (c *Client) FetchCab(ctx context.Context, rawURL string, prev CabState, dst Destination) (CabResult, error) {
	begin := c.now()
	u, err := url.Parse(rawURL)
	if err != nil {
		return CabResult{}, fmt.Errorf("offline catalog URL %q: %w (check wsusscn2_url)", rawURL, err)
	}
	if err := c.checkURL(u); err != nil {
		return CabResult{}, fmt.Errorf("offline catalog: %w", err)
	}
	t := &transfer{url: u.String(), name: "wsusscn2.cab", dst: dst, size: -1}
	if t.offset = dst.Offset(); t.offset > 0 {
		if err := t.restart(); err != nil {
			return CabResult{}, err
		}
	}
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
		res.NotModified, res.ETag, res.LastModified = true, prev.ETag, prev.LastModified
		c.log.InfoContext(ctx, "offline catalog not modified", slog.String("url", t.url))
		return res, nil
	}
	res.Size, res.ETag, res.LastModified = t.offset, t.etag, t.lastModified
	c.log.InfoContext(ctx, "offline catalog downloaded", slog.String("url", t.url),
		slog.Int64("size", res.Size), slog.Int("attempts", res.Attempts), slog.Duration("took", res.Duration))
	return res, nil
}
