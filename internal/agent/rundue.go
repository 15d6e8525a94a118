package agent

import (
	"context"
	"time"
)

// RunDue does, once, what the service does at the clock's time: it records that the
// service is alive (a gap since the last heartbeat is a period the host was off), then
// runs the scheduled download and install jobs that are due. Simulations drive agents
// on an injected clock with it, where Serve would wait for those times; not calling it
// for a while is the host being off.
func (a *Agent) RunDue(ctx context.Context) error {
	a.noteAlive()
	st, err := LoadState(a.dataDir)
	if err != nil {
		return err
	}
	now := a.clock.Now()
	dl, in := a.due(a.Schedule(time.Time{}), st, now)
	if !dl.IsZero() && !now.Before(dl) { // zero: the job is not scheduled
		a.scheduledDownload(ctx, retries{}, ServeOptions{})
	}
	if !in.IsZero() && !now.Before(in) {
		a.scheduledInstall(ctx, retries{}, ServeOptions{})
	}
	return nil
}
