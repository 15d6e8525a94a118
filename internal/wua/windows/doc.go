// Package windows implements the wua port over the real Windows Update Agent: COM
// automation (Microsoft.Update.Session and friends) through go-ole, the wuauserv
// service through the service control manager, the Windows Update policies and the
// reboot-pending markers through the registry.
//
// The COM layer (the _windows.go files) only moves values: every COM call runs on one
// OS-locked goroutine, and what it reads goes through small interfaces (properties,
// registry, serviceAPI) into portable code (convert.go, policy.go, service.go) that
// translates values, orders the steps and is tested on any system. No decision about
// updates is taken here.
//
// Not covered: asynchronous search with progress (BeginSearch: Search blocks and is not
// interrupted by ctx, which is honoured between calls), uninstalling, and WUA's own
// downloads (files come from our repository and enter the cache by CopyToCache).
package windows
