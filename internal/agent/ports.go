package agent

import (
	"context"
	"time"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// WUA is what the agent needs from the Windows Update Agent. wua.Agent (wua/windows on
// Windows, wua/sim elsewhere) satisfies it.
type WUA interface {
	Scan(ctx context.Context, opts wua.ScanOptions) ([]wua.Update, error)
	SetHidden(ctx context.Context, keys []wu.UpdateKey, hidden bool) error
	CopyToCache(ctx context.Context, key wu.UpdateKey, files []string) error
	Install(ctx context.Context, keys []wu.UpdateKey) (wua.InstallResult, error)
	RebootPending(ctx context.Context) (bool, error)
}

// ServiceControl brings the Windows Update service up around one WUA operation and puts
// it back as it was (wua.ServiceControl).
type ServiceControl interface {
	Prepare(ctx context.Context) (restore func(context.Context) error, err error)
}

// Policy applies the [waptwua] enabled key to Windows' own update policies (wua.Policy).
type Policy interface {
	Apply(enabled *bool) error
}

// DiskSpace tells the free bytes of the file system holding path: statfs on Unix,
// GetDiskFreeSpaceEx on Windows (OSDiskSpace).
type DiskSpace interface {
	FreeBytes(path string) (uint64, error)
}

// DirectDownloader fetches an update file straight from Microsoft into dir/name,
// verifying its SHA-1 (hex, from the file name), and returns the local path.
type DirectDownloader interface {
	Download(ctx context.Context, url, name, sha1 string, dir string) (string, error)
}

// Clock is the agent's time source: the system clock in production, a fake one in tests
// so that install_delay and schedules are checked without waiting.
type Clock interface {
	Now() time.Time
	// After sends the time once d has elapsed (at once when d <= 0), like time.After.
	After(d time.Duration) <-chan time.Time
}

// noService is the ServiceControl used when none is given: nothing to prepare.
type noService struct{}

func (noService) Prepare(context.Context) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

// noPolicy is the Policy used when none is given.
type noPolicy struct{}

func (noPolicy) Apply(*bool) error { return nil }
