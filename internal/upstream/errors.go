package upstream

import (
	"errors"
	"fmt"
	"time"
)

// ErrHostNotAllowed is matched (errors.Is) by every *HostError.
var ErrHostNotAllowed = errors.New("upstream host not allowed")

// HostError says a URL (or a redirect target) is outside the allow-list. Nothing was
// requested from that host.
type HostError struct {
	URL    string
	Host   string
	Reason string
}

func (e *HostError) Error() string {
	return fmt.Sprintf("%s: host %q refused: %s (Microsoft update files come only from the hosts of the allow-list; add the host to the allowed upstream hosts if Microsoft really moved them)", e.URL, e.Host, e.Reason)
}

// Is makes errors.Is(err, ErrHostNotAllowed) true.
func (e *HostError) Is(target error) bool { return target == ErrHostNotAllowed }

// SizeError says the server's file is not the one the catalog describes: it announced
// or sent another size. The destination was emptied; the error is not retried within
// the call.
type SizeError struct {
	File string // file name
	Want int64
	Got  string
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s: size mismatch: want %d, got %s (corrupt download or stale catalog; the partial file was dropped, a later run downloads it again; refresh the catalog if it keeps failing)", e.File, e.Want, e.Got)
}

// StatusError is an HTTP status the client did not expect.
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string {
	hint := "the server refused the request"
	switch {
	case e.Code == 404 || e.Code == 410:
		hint = "Microsoft no longer serves this file; refresh the catalog"
	case e.Code == 407:
		hint = "the proxy wants credentials; put them in http_proxy"
	case e.Code == 403:
		hint = "access denied; check the proxy or firewall rules for Microsoft's hosts"
	case e.Code >= 500 || e.Code == 408 || e.Code == 429:
		hint = "the server is failing or overloaded; retried with backoff"
	}
	return fmt.Sprintf("%s: HTTP %s (%s)", e.URL, e.Status, hint)
}

// retryable marks a transient failure; after is a server-requested wait (Retry-After), or 0.
type retryable struct {
	err   error
	after time.Duration
	now   bool // retry without waiting (416: restart from zero)
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

func retry(err error) error { return &retryable{err: err} }

// errStalled and errAttemptTimeout are the causes set on an attempt's context by its timers.
var (
	errStalled        = errors.New("no data received within the idle timeout")
	errHeaderTimeout  = errors.New("no response headers within the header timeout")
	errAttemptTimeout = errors.New("request took longer than the request timeout")
)
