package app

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// Kind classifies an operation's refusal; each adapter maps it to its own answer
// (an HTTP status for both of today's adapters).
type Kind int

// Kinds of refusal. Internal is any failure that is not the caller's fault.
const (
	Internal        Kind = iota
	Invalid              // the request is malformed or out of range (400)
	Unauthenticated      // no or wrong credentials (401)
	Forbidden            // authenticated, not allowed (403)
	NotFound             // the thing named does not exist (404)
	Conflict             // the state forbids it now (409)
	Busy                 // the job runs already and takes no more work (409)
	Unprocessable        // the content is refused (a package that does not verify: 422)
	TooManyRequests      // throttled: try again after Error.RetryAfter (429)
	Unavailable          // the server runs without what this needs (503)
)

// HTTPStatus is the HTTP status the kind answers with (both adapters speak HTTP).
func (k Kind) HTTPStatus() int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict, Busy:
		return http.StatusConflict
	case Unprocessable:
		return http.StatusUnprocessableEntity
	case Unavailable:
		return http.StatusServiceUnavailable
	case TooManyRequests:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// Error is a refusal with a message meant for the user (lower case, no final period),
// the request field it is about, if any, and the cause (logged, never shown).
type Error struct {
	Kind  Kind
	Field string
	Msg   string
	Err   error
	// RetryAfter (TooManyRequests): when the request may be sent again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(k Kind, field, format string, args ...any) *Error {
	return &Error{Kind: k, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// notFound turns the store's ErrNotFound into a NotFound error naming what is missing;
// other errors are returned as they are.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Kind: NotFound, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	return err
}

// ErrJobRunning may be returned by a Jobs method that refuses to start because the same
// job is running and cannot take more work (Busy).
var ErrJobRunning = errors.New("job already running")

// KindOf classifies any error an operation returns: an *Error by its Kind, the store's
// sentinels and ErrJobRunning (or an error with a Busy() method) by their meaning,
// anything else Internal.
func KindOf(err error) Kind {
	var e *Error
	var busy interface{ Busy() bool }
	switch {
	case err == nil:
		return Internal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrJobRunning), errors.As(err, &busy) && busy.Busy():
		return Busy
	case errors.Is(err, store.ErrNotFound):
		return NotFound
	case errors.Is(err, store.ErrConflict):
		return Conflict
	case errors.Is(err, store.ErrInvalid):
		return Invalid
	}
	return Internal
}
