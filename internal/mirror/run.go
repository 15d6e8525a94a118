package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openwua/waptwua/internal/api"
)

// State is the report of the last sync, as sent to the main server.
func (m *Mirror) State(syncing bool) api.MirrorState {
	m.mu.Lock()
	res := m.last
	m.mu.Unlock()
	c := m.Counters()
	st := api.MirrorState{Version: res.Version, FilesHeld: res.FilesHeld, BytesHeld: res.BytesHeld, FilesMissing: int64(res.Missing),
		BytesMissing: res.BytesMissing, LagSeconds: res.Lag.Seconds(), RequestsServed: c.Requests, BytesServed: c.BytesServed,
		BytesSynced: c.BytesSynced, SyncSeconds: res.End.Sub(res.Start).Seconds()}
	if st.SyncSeconds < 0 {
		st.SyncSeconds = 0
	}
	switch {
	case syncing:
		st.Status = api.MirrorSyncing
	case res.Err != nil && res.Missing == 0:
		st.Status = api.MirrorError
	case res.Missing > 0:
		st.Status = api.MirrorLagging
	default:
		st.Status = api.MirrorInSync
	}
	if res.Err != nil {
		st.LastError = res.Err.Error()
		if len(st.LastError) > api.MaxErrorLen {
			st.LastError = st.LastError[:api.MaxErrorLen]
		}
	}
	if res.Err == nil && !res.End.IsZero() {
		st.LastSync = res.End
	}
	return st
}

// Report sends the mirror's state to the main server.
func (m *Mirror) Report(ctx context.Context, syncing bool) error {
	body, _ := json.Marshal(m.State(syncing))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.cfg.MainURL+api.PathMirrorState, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+m.cfg.Credential)
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return unreachable(m.cfg.MainURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return answerError(resp, m.cfg.MainURL, "state report")
	}
	return nil
}

// Run is the service: a sync at start (which reads every file: the start scrub), then
// one whenever the main server signals a change (manifest long-poll) or Interval
// passes, downloads only inside the sync window; the state is reported after each
// sync. It returns when ctx ends.
func (m *Mirror) Run(ctx context.Context) error {
	for {
		if err := m.Report(ctx, true); err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("mirror: state report", slog.Any("err", err))
		}
		res := m.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		m.logResult(res)
		if err := m.Report(ctx, false); err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("mirror: state report", slog.Any("err", err))
		}
		m.waitNext(ctx, res)
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (m *Mirror) logResult(res Result) {
	attrs := []any{slog.Int("files", res.Files), slog.Int("downloaded", res.Downloaded), slog.Int64("bytes", res.BytesSynced),
		slog.Int("repaired", res.Repaired), slog.Int("deleted", res.Deleted), slog.Int("missing", res.Missing),
		slog.Duration("took", res.End.Sub(res.Start))}
	switch {
	case res.Err != nil:
		m.cfg.Log.Warn("mirror: sync incomplete", append(attrs, slog.Any("err", res.Err))...)
	case res.NotModified:
		m.cfg.Log.Debug("mirror: no change")
	default:
		m.cfg.Log.Info("mirror: in sync", attrs...)
	}
}

// waitNext waits until the next sync is due: after a complete sync, a manifest
// long-poll that returns on a change, up to Interval; after a failure, a shorter
// retry; outside the sync window, until it opens (checked every minute).
func (m *Mirror) waitNext(ctx context.Context, res Result) {
	deadline := m.cfg.Now().Add(m.cfg.Interval)
	if res.Err != nil {
		retry := min(m.cfg.Interval, time.Minute)
		if errors.Is(res.Err, ErrOutsideWindow) {
			retry = min(m.cfg.Interval, time.Minute)
		}
		sleep(ctx, retry)
		return
	}
	for ctx.Err() == nil {
		left := deadline.Sub(m.cfg.Now())
		if left <= 0 {
			return
		}
		m.mu.Lock()
		etag := ""
		if m.manifest != nil && m.complete {
			etag = m.manifest.Version
		}
		m.mu.Unlock()
		if etag == "" {
			return
		}
		start := m.cfg.Now()
		man, err := m.fetchManifest(ctx, etag, min(left, api.MaxWait-5*time.Second).Truncate(time.Second)+time.Second)
		if err != nil {
			if ctx.Err() == nil {
				m.cfg.Log.Warn("mirror: waiting for changes", slog.Any("err", err))
				sleep(ctx, min(left, time.Minute))
			}
			return
		}
		if man != nil {
			m.mu.Lock()
			m.pending = man // the next sync uses it: no second request
			m.mu.Unlock()
			return
		}
		if m.cfg.Now().Sub(start) < time.Second { // a server that does not wait
			sleep(ctx, min(left, 10*time.Second))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Once syncs once and reports the state: nil when the folders match the manifest,
// otherwise one line saying why.
func (m *Mirror) Once(ctx context.Context) (Result, error) {
	res := m.Sync(ctx)
	if err := m.Report(ctx, false); err != nil && res.Err == nil {
		m.cfg.Log.Warn("mirror: state report", slog.Any("err", err))
	}
	if res.Err != nil {
		return res, fmt.Errorf("mirror not in sync: %w", res.Err)
	}
	return res, nil
}
