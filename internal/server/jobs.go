package server

import "github.com/openwua/waptwua/internal/app"

// Jobs is what the admin API asks of the background jobs (app.Jobs: internal/jobs
// implements it; cmd/waptserver passes it with WithJobs).
type Jobs = app.Jobs

// ErrJobRunning may be returned by a Jobs method that refuses to start because the same
// job is running and cannot take more work; the admin API answers 409.
var ErrJobRunning = app.ErrJobRunning
