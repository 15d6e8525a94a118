package main

import (
	"context"
	"log/slog"
	"strings"
)

// eventSource is the Windows event log source of the service (Application log).
const eventSource = "waptwua"

// Event ids written to the event log.
const (
	eventStart   uint32 = 1
	eventStop    uint32 = 2
	eventInstall uint32 = 3
	eventWarning uint32 = 10
	eventError   uint32 = 20
)

// eventSink is the event log (golang.org/x/sys/windows/svc/eventlog.Log on Windows).
type eventSink interface {
	Info(id uint32, msg string) error
	Warning(id uint32, msg string) error
	Error(id uint32, msg string) error
}

// eventHandler tees the service's log into the event log: starts, stops, install
// results, warnings and errors. Other records go to next only.
type eventHandler struct {
	next  slog.Handler
	sink  eventSink
	attrs []slog.Attr
}

func newEventHandler(next slog.Handler, sink eventSink) slog.Handler {
	return &eventHandler{next: next, sink: sink}
}

// eventOf decides whether a record goes to the event log, and with which id.
func eventOf(r slog.Record, attrs []slog.Attr) (uint32, bool) {
	switch {
	case r.Level >= slog.LevelError:
		return eventError, true
	case r.Level >= slog.LevelWarn:
		return eventWarning, true
	}
	switch r.Message {
	case "service started":
		return eventStart, true
	case "service stopped":
		return eventStop, true
	case "installing", "install at shutdown done", "shutdown: installing pending updates (install_at_shutdown)":
		return eventInstall, true
	case "job done":
		job := ""
		find := func(a slog.Attr) bool {
			if a.Key == "job" {
				job = a.Value.String()
			}
			return true
		}
		for _, a := range attrs {
			find(a)
		}
		r.Attrs(find)
		if job == "install" {
			return eventInstall, true
		}
	}
	return 0, false
}

func (h *eventHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := eventOf(r, h.attrs); ok {
		var b strings.Builder
		b.WriteString(r.Message)
		write := func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		}
		for _, a := range h.attrs {
			write(a)
		}
		r.Attrs(write)
		msg := b.String()
		switch {
		case r.Level >= slog.LevelError:
			_ = h.sink.Error(id, msg)
		case r.Level >= slog.LevelWarn:
			_ = h.sink.Warning(id, msg)
		default:
			_ = h.sink.Info(id, msg)
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *eventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &eventHandler{next: h.next.WithAttrs(attrs), sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	return &eventHandler{next: h.next.WithGroup(name), sink: h.sink, attrs: h.attrs}
}
