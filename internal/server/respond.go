package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// httpError is an error with the status and the field to answer with.
type httpError struct {
	status int
	field  string
	msg    string
	err    error // cause, logged, never shown
}

func (e *httpError) Error() string {
	if e.field != "" {
		return e.field + ": " + e.msg
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

func errStatus(status int, field, format string, args ...any) *httpError {
	return &httpError{status: status, field: field, msg: fmt.Sprintf(format, args...)}
}

func badRequest(field, format string, args ...any) *httpError {
	return errStatus(http.StatusBadRequest, field, format, args...)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away: nothing to do
}

// maxErrorMessage caps an error answer's message (and field): a hostile body never
// makes a long answer.
const maxErrorMessage = 300

func writeErrorBody(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, api.Error{Error: truncate(msg, maxErrorMessage), Field: truncate(field, 120)})
}

// fail answers err: an *httpError or *api.FieldError as given, store sentinels as 404,
// 409 or 400, anything else as a logged 500 whose cause is not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var fe *api.FieldError
	var ae *app.Error
	switch {
	case errors.As(err, &ae):
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
		}
		writeErrorBody(w, ae.Kind.HTTPStatus(), ae.Field, ae.Msg)
	case app.KindOf(err) == app.Busy:
		writeErrorBody(w, http.StatusConflict, "", err.Error())
	case errors.As(err, &he):
		if he.err != nil {
			s.log.WarnContext(r.Context(), "request refused", slog.String("path", r.URL.Path), slog.Int("status", he.status), slog.Any("err", he.err))
		}
		writeErrorBody(w, he.status, he.field, he.msg)
	case errors.As(err, &fe):
		writeErrorBody(w, http.StatusBadRequest, fe.Field, fe.Reason)
	case errors.Is(err, store.ErrNotFound):
		writeErrorBody(w, http.StatusNotFound, "", err.Error())
	case errors.Is(err, store.ErrHostExists):
		writeErrorBody(w, http.StatusConflict, "uuid", "this host UUID is registered already: an administrator must reset the host before it registers again")
	case errors.Is(err, store.ErrConflict):
		writeErrorBody(w, http.StatusConflict, "", err.Error())
	case errors.Is(err, store.ErrInvalid):
		writeErrorBody(w, http.StatusBadRequest, "", err.Error())
	case r.Context().Err() != nil:
		// The client left: the answer goes nowhere.
		writeErrorBody(w, 499, "", "request cancelled")
	default:
		s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		writeErrorBody(w, http.StatusInternalServerError, "", "internal error (see the server log)")
	}
}

// decodeBody reads a JSON request body of at most limit bytes strictly into v.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	data, err := readBody(w, r, limit, fmt.Sprintf("request body larger than %d bytes", limit))
	if err != nil {
		return err
	}
	return decodeStrict(data, v, bodyLimits(limit))
}

func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	return errStatus(http.StatusUnsupportedMediaType, "", "content type %q: send application/json", ct)
}

// queryInt parses an optional integer query parameter in [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(name, "%q is not a whole number between %d and %d", v, lo, hi)
	}
	return n, nil
}

// queryBool parses an optional yes/no query parameter; nil when absent.
func queryBool(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, badRequest(name, "%q is not a boolean (use true or false)", v)
	}
	return &b, nil
}

// reply answers err (through fail) or else wire(v) as JSON with status: the tail of
// every handler that calls one operation and returns what it gives.
func reply[S, T any](s *Server, w http.ResponseWriter, r *http.Request, status int, v S, err error, wire func(S) T) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, wire(v))
}

// replyList answers err or else {key: [wire(x)...]} (an empty list, never null).
func replyList[S, T any](s *Server, w http.ResponseWriter, r *http.Request, key string, in []S, err error, wire func(S) T) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{key: wireList(in, wire)})
}

// replyDone answers err or else 204 No Content.
func (s *Server) replyDone(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// same is the identity, for reply with a value already in its wire form.
func same[T any](v T) T { return v }

// replyScheduled answers err or else 202 {"status": "scheduled"} for a job started in
// the background.
func (s *Server) replyScheduled(w http.ResponseWriter, r *http.Request, err error) {
	reply(s, w, r, http.StatusAccepted, map[string]string{"status": "scheduled"}, err, same)
}

// createdStatus is 201 Created for a new resource, 200 OK for one that existed already.
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// cursorErr names the cursor when a list refused it (it expired, or was made up).
func cursorErr(err error, cursor string) error {
	if errors.Is(err, store.ErrInvalid) && cursor != "" {
		return badRequest("cursor", "invalid or expired cursor: start again without it")
	}
	return err
}
