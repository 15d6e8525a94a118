package main

import (
	"io"
	"log/slog"
	"slices"
	"testing"
)

type recordedEvents struct{ got []string }

func (r *recordedEvents) add(kind string, id uint32, msg string) error {
	r.got = append(r.got, kind+" "+string(rune('0'+id/10))+string(rune('0'+id%10))+" "+msg)
	return nil
}
func (r *recordedEvents) Info(id uint32, msg string) error    { return r.add("info", id, msg) }
func (r *recordedEvents) Warning(id uint32, msg string) error { return r.add("warning", id, msg) }
func (r *recordedEvents) Error(id uint32, msg string) error   { return r.add("error", id, msg) }

// TestEventHandler: starts, stops, install results, warnings and errors reach the event
// log; routine records do not.
func TestEventHandler(t *testing.T) {
	sink := &recordedEvents{}
	log := slog.New(newEventHandler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}), sink))
	log.Info("service started", slog.String("install_scheduling", "1d"))
	log.Info("scan done", slog.Int("updates", 3))
	log.Info("job done", slog.String("job", "scan"), slog.String("summary", "3 updates"))
	log.With(slog.String("job", "install")).Info("job done", slog.String("summary", "2 installed"))
	log.Info("installing", slog.Int("updates", 2))
	log.Warn("download failed", slog.String("file", "a.cab"))
	log.Error("Windows Update policies", slog.String("err", "access denied"))
	log.Info("service stopped")
	want := []string{
		"info 01 service started install_scheduling=1d",
		"info 03 job done job=install summary=2 installed",
		"info 03 installing updates=2",
		"warning 10 download failed file=a.cab",
		"error 20 Windows Update policies err=access denied",
		"info 02 service stopped",
	}
	if !slices.Equal(sink.got, want) {
		t.Errorf("event log:\n%q\nwant\n%q", sink.got, want)
	}
}
