package agent

import (
	"context"
	"crypto/sha1" //nolint:gosec // SHA-1 names Microsoft's files and the catalog's .sha1; it is not used for security alone
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// fetchResult describes one fetchResumable call.
type fetchResult struct {
	NotModified  bool
	SHA1         string // lower-case hex of the whole file
	Size         int64
	ETag         string
	LastModified time.Time
	Resumed      bool
}

// errNoResume says a Range answer did not fit the partial file.
var errNoResume = errors.New("partial download cannot be resumed")

// fetchResumable downloads the repository file name into part. When part already holds
// resume bytes (the caller passes resume > 0 only when the content cannot have changed,
// or with ifRange set to the ETag it had) it asks for the rest with Range. cond are
// conditional headers for a fresh download (If-None-Match, If-Modified-Since). The file
// is hashed as it is written. A cut transfer keeps part for the next call.
func fetchResumable(ctx context.Context, c *Client, name, part string, resume int64, ifRange string, cond http.Header, progress func(done, total int64)) (fetchResult, error) {
	hdr := http.Header{}
	if resume > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", resume))
		if ifRange != "" {
			hdr.Set("If-Range", ifRange)
		}
	} else {
		for k, v := range cond {
			hdr[k] = v
		}
	}
	resp, err := c.getFile(ctx, name, hdr)
	if err != nil {
		return fetchResult{}, err
	}
	defer resp.Body.Close()
	res := fetchResult{ETag: resp.Header.Get("ETag")}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		res.LastModified = lm.UTC()
	}
	var offset int64
	switch resp.StatusCode {
	case http.StatusNotModified:
		res.NotModified = true
		return res, nil
	case http.StatusOK:
		offset = 0
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != resume {
			_ = os.Remove(part)
			return res, fmt.Errorf("%s: %w: asked from byte %d, got %q (the next attempt starts over)", name, errNoResume, resume, resp.Header.Get("Content-Range"))
		}
		offset, res.Resumed = resume, true
	case http.StatusRequestedRangeNotSatisfiable:
		// The partial file is already complete or longer than the file: start over.
		_ = os.Remove(part)
		return res, fmt.Errorf("%s: %w: range not satisfiable (the next attempt starts over)", name, errNoResume)
	default:
		return res, httpError(resp.Request, resp)
	}

	flags := os.O_RDWR | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return res, fmt.Errorf("%s: %w (check the free space and permissions of the data folder)", part, err)
	}
	defer f.Close()
	h := sha1.New() //nolint:gosec
	if offset > 0 {
		if _, err := io.CopyN(h, f, offset); err != nil {
			_ = os.Remove(part)
			return res, fmt.Errorf("%s: re-read the partial download: %w (the next attempt starts over)", part, err)
		}
		if err := f.Truncate(offset); err != nil {
			return res, fmt.Errorf("%s: %w", part, err)
		}
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	w := &progressWriter{w: io.MultiWriter(f, h), done: offset, total: total, report: progress}
	if progress != nil {
		progress(offset, total)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return res, fmt.Errorf("GET %s: transfer cut after %d bytes: %w (resumed next time)", name, offset+n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return res, fmt.Errorf("GET %s: transfer cut after %d of %d bytes (resumed next time)", name, offset+n, total)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("%s: sync: %w", part, err)
	}
	res.SHA1 = hex.EncodeToString(h.Sum(nil))
	res.Size = offset + n
	return res, nil
}

// contentRangeStart reads the first byte of "bytes 100-199/200".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil && n >= 0
}

type progressWriter struct {
	w      io.Writer
	done   int64
	total  int64
	report func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.report != nil {
		p.report(p.done, p.total)
	}
	return n, err
}

// fileSHA1 hashes a local file.
func fileSHA1(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return hashReader(sha1.New(), f) //nolint:gosec
}

func hashReader(h hash.Hash, r io.Reader) (string, error) {
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// partSize returns the size of a partial download, 0 when there is none.
func partSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}
