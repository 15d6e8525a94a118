package upstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// Destination receives a download: a *repo.Writer, which verifies the bytes and puts
// the file in place. The client only appends to it, or empties it when the server
// sends the whole file again.
type Destination interface {
	io.Writer
	// Offset is the number of bytes the destination holds already: the download asks
	// the server for the rest (Range), and checks that the server still has that file
	// (If-Range).
	Offset() int64
	// Reset drops the bytes held: the server sends the whole file again.
	Reset() error
}

// Result describes a Fetch call. It is filled as far as the call went, also on error.
type Result struct {
	Size     int64         // bytes the destination holds at the end
	Bytes    int64         // bytes received from the network by this call
	Attempts int           // requests made (0 when the destination held the whole file)
	Resumed  bool          // the download continued after bytes held (HTTP 206)
	Duration time.Duration // time taken
}

// Fetch downloads the update file f (its URL; its Size when the catalog gives one)
// into dst, after the bytes dst holds already. Transient failures are retried per the
// retry policy, resuming where the previous attempt stopped (Range + If-Range); a URL
// outside the allow-list returns a *HostError before any request; a server that
// announces or sends another size than the catalog's returns a *SizeError, dst
// emptied. Checking the digests and putting the file in place are the destination's
// business.
func (c *Client) Fetch(ctx context.Context, f wu.File, dst Destination) (Result, error) {
	label := f.Name
	if label == "" {
		label = f.URL
	}
	u, err := url.Parse(f.URL)
	if err != nil {
		return Result{}, fmt.Errorf("update file %q: URL %q: %w (malformed catalog entry)", label, f.URL, err)
	}
	if err := c.checkURL(u); err != nil {
		return Result{}, fmt.Errorf("update file %q: %w", label, err)
	}
	if f.Name == "" {
		label = path.Base(u.Path)
	}
	begin := c.now()
	t := &transfer{url: u.String(), name: label, dst: dst, offset: dst.Offset(), size: -1}
	if f.Size > 0 {
		t.size, t.sizeFromCatalog = f.Size, true
	}
	if t.size >= 0 && t.offset > t.size {
		if err := t.restart(); err != nil {
			return Result{}, err
		}
	}
	if t.offset > 0 {
		c.log.InfoContext(ctx, "resuming upstream download", slog.String("file", label), slog.Int64("have", t.offset), slog.Int64("size", t.size))
	}
	if t.size < 0 || t.offset < t.size { // a whole file held needs no request
		err = c.run(ctx, t)
	}
	res := Result{Size: t.offset, Bytes: t.bytes, Attempts: t.attempts, Resumed: t.resumed, Duration: c.now().Sub(begin)}
	if err != nil {
		return res, err
	}
	c.log.InfoContext(ctx, "upstream file downloaded", slog.String("file", label), slog.Int64("size", t.offset),
		slog.Int64("received", t.bytes), slog.Int("attempts", t.attempts), slog.Bool("resumed", t.resumed),
		slog.Duration("took", res.Duration))
	return res, nil
}
