package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// transfer is one resource being downloaded into a destination, across attempts.
type transfer struct {
	url  string
	name string // file name, for messages and progress
	dst  Destination

	offset int64 // bytes the destination holds

	size            int64 // expected total, -1 when unknown
	sizeFromCatalog bool  // a different size means a different file (not retried)

	conditional http.Header // If-None-Match / If-Modified-Since until the first 200
	validator   string      // If-Range value learned from a 200, for resuming within the call

	notModified  bool
	etag         string
	lastModified time.Time

	bytes    int64 // received from the network in this call
	attempts int
	resumed  bool
}

// restart empties the destination: the server sends the whole body again.
func (t *transfer) restart() error {
	if err := t.dst.Reset(); err != nil {
		return fmt.Errorf("%s: starting over: %w", t.name, err)
	}
	t.offset = 0
	t.resumed = false
	return nil
}

// sizeError is a size mismatch that proves the server's file is not the one wanted:
// the destination is emptied, the error is not retried.
func (t *transfer) sizeError(got string) error {
	_ = t.dst.Reset()
	t.offset = 0
	return &SizeError{File: t.name, Want: t.size, Got: got}
}

// run makes attempts until one succeeds, a permanent error occurs, ctx ends or the
// retry policy is exhausted.
func (c *Client) run(ctx context.Context, t *transfer) error {
	for attempt := 1; ; attempt++ {
		t.attempts = attempt
		err := c.attempt(ctx, t)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: download from %s stopped after %d bytes: %w", t.name, t.url, t.offset, context.Cause(ctx))
		}
		var r *retryable
		if !errors.As(err, &r) {
			return err
		}
		if attempt >= c.retry.Attempts {
			return fmt.Errorf("%s: giving up after %d attempts: %w", t.name, attempt, r.err)
		}
		wait := time.Duration(0)
		if !r.now {
			wait = c.retry.delay(attempt, c.rand)
			if r.after > wait {
				wait = min(r.after, c.retry.MaxDelay)
			}
		}
		c.log.WarnContext(ctx, "upstream download failed, retrying",
			slog.String("file", t.name), slog.Int("attempt", attempt), slog.Int64("have", t.offset),
			slog.Duration("wait", wait), slog.Any("err", r.err))
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: download from %s stopped while waiting to retry: %w", t.name, t.url, err)
		}
	}
}

// attempt makes one request and copies its body into the file. Transient failures come
// back as *retryable.
func (c *Client) attempt(ctx context.Context, t *transfer) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if c.timeouts.Request > 0 {
		var stop context.CancelFunc
		actx, stop = context.WithTimeoutCause(actx, c.timeouts.Request, errAttemptTimeout)
		defer stop()
	}
	req, err := http.NewRequestWithContext(actx, http.MethodGet, t.url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w (malformed URL in the catalog)", t.url, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	ranged := t.offset > 0
	if ranged {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(t.offset, 10)+"-")
		if t.validator != "" {
			req.Header.Set("If-Range", t.validator)
		}
	}
	for k, v := range t.conditional {
		req.Header[k] = v
	}

	headerTimer := time.AfterFunc(c.timeouts.Header, func() { cancel(errHeaderTimeout) })
	resp, err := c.http.Do(req)
	headerTimer.Stop()
	if err != nil {
		return transportError(actx, t.url, err)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusNotModified && t.conditional != nil:
		t.notModified = true
		return nil
	case code == http.StatusOK:
		t.conditional = nil
		t.etag = resp.Header.Get("ETag")
		t.lastModified, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
		t.validator = ""
		if t.etag != "" && !strings.HasPrefix(t.etag, "W/") {
			t.validator = t.etag
		} else if lm := resp.Header.Get("Last-Modified"); lm != "" {
			t.validator = lm
		}
		if t.offset > 0 { // the server ignored Range, or If-Range did not match
			if err := t.restart(); err != nil {
				return err
			}
		}
		if err := t.expectTotal(resp.ContentLength); err != nil {
			return err
		}
	case code == http.StatusPartialContent:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != t.offset {
			asked := t.offset
			if rerr := t.restart(); rerr != nil {
				return rerr
			}
			return retry(fmt.Errorf("%s: unusable partial response (Content-Range %q for bytes=%d-); starting over",
				t.url, resp.Header.Get("Content-Range"), asked))
		}
		if err := t.expectTotal(total); err != nil {
			return err
		}
		t.resumed = t.resumed || ranged
	case code == http.StatusRequestedRangeNotSatisfiable && ranged:
		if err := t.restart(); err != nil {
			return err
		}
		return &retryable{err: fmt.Errorf("%s: HTTP 416 for %s: the partial file does not fit the server's file; starting over", t.url, req.Header.Get("Range")), now: true}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return &retryable{err: &StatusError{URL: t.url, Code: code, Status: resp.Status}, after: c.retryAfter(resp)}
	default:
		return &StatusError{URL: t.url, Code: code, Status: resp.Status}
	}
	return c.copyBody(actx, t, resp, cancel)
}

// expectTotal checks the total size the server announces (-1: not announced).
func (t *transfer) expectTotal(total int64) error {
	switch {
	case total < 0:
		if !t.sizeFromCatalog {
			t.size = -1
		}
	case t.sizeFromCatalog && total != t.size:
		return t.sizeError(strconv.FormatInt(total, 10) + " (announced by the server)")
	case !t.sizeFromCatalog:
		t.size = total
	}
	return nil
}

// copyBody appends the response body to the destination. A body that sends nothing for
// the idle timeout is abandoned (cancel with errStalled).
func (c *Client) copyBody(actx context.Context, t *transfer, resp *http.Response, cancel context.CancelCauseFunc) error {
	idle := time.AfterFunc(c.timeouts.Idle, func() { cancel(errStalled) })
	defer idle.Stop()
	var body io.Reader = resp.Body
	if t.size >= 0 {
		body = io.LimitReader(resp.Body, t.size-t.offset+1) // one byte more reveals an oversized body
	}
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			idle.Reset(c.timeouts.Idle)
			if t.size >= 0 && t.offset+int64(n) > t.size {
				return t.sizeError("more (the server sent extra bytes)")
			}
			w, werr := t.dst.Write(buf[:n])
			t.offset += int64(w)
			t.bytes += int64(w)
			got += int64(w)
			if c.progress != nil {
				c.progress(t.name, t.offset, t.size)
			}
			if werr != nil {
				return fmt.Errorf("%s: %w", t.name, werr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cause := context.Cause(actx); errors.Is(cause, errStalled) || errors.Is(cause, errAttemptTimeout) {
				return retry(fmt.Errorf("%s: %w after %d bytes (slow or stalled connection; raise the timeouts if the link is slow)", t.url, cause, t.offset))
			}
			return retry(fmt.Errorf("%s: connection broken after %d bytes: %w", t.url, t.offset, rerr))
		}
	}
	if resp.ContentLength >= 0 && got < resp.ContentLength {
		return retry(fmt.Errorf("%s: body truncated: %d of %d bytes", t.url, got, resp.ContentLength))
	}
	if t.size >= 0 && t.offset < t.size {
		return retry(fmt.Errorf("%s: connection closed after %d of %d bytes", t.url, t.offset, t.size))
	}
	return nil
}

// transportError classifies an error of http.Client.Do.
func transportError(actx context.Context, rawURL string, err error) error {
	var he *HostError
	if errors.As(err, &he) {
		return err // redirect to a host outside the allow-list: permanent
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Errorf("%w (TLS certificate not trusted: check the system CA bundle, or a TLS-intercepting proxy's certificate)", err)
	}
	if cause := context.Cause(actx); errors.Is(cause, errHeaderTimeout) || errors.Is(cause, errAttemptTimeout) {
		return retry(fmt.Errorf("%s: %w (server or proxy not answering)", rawURL, cause))
	}
	return retry(fmt.Errorf("%w (network error: check connectivity, DNS and http_proxy)", err))
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent or invalid.
func (c *Client) retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, 86400)) * time.Second
	}
	if when, err := http.ParseTime(v); err == nil {
		if d := when.Sub(c.now()); d > 0 {
			return d
		}
	}
	return 0
}

// parseContentRange parses "bytes first-last/total" (total may be "*", given as -1).
func parseContentRange(s string) (first, total int64, err error) {
	bad := fmt.Errorf("malformed Content-Range %q", s)
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, bad
	}
	total = -1
	if tot != "*" {
		total, err = strconv.ParseInt(tot, 10, 64)
		if err != nil || total <= last {
			return 0, 0, bad
		}
	}
	return first, total, nil
}
