//go:build windows

package main

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sessionNotifier tells the users of the active sessions through the Terminal Services
// API: WTSEnumerateSessions finds them, WTSSendMessageW shows a message box in each
// (Yes/No for a question). It runs in the service (session 0) and holds no policy.
type sessionNotifier struct{}

var procWTSSendMessageW = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSSendMessageW")

// Message box styles and answers (winuser.h).
const (
	mbYesNo          = 0x00000004
	mbIconQuestion   = 0x00000020
	mbIconInfo       = 0x00000040
	mbSetForeground  = 0x00010000
	mbTopMost        = 0x00040000
	idNo             = 7
	idYes            = 6
	wtsCurrentServer = 0
)

// activeSessions are the sessions with a logged-on user at the console or remotely.
func activeSessions() ([]uint32, error) {
	var infos *windows.WTS_SESSION_INFO
	var n uint32
	if err := windows.WTSEnumerateSessions(wtsCurrentServer, 0, 1, &infos, &n); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var out []uint32
	for _, s := range unsafe.Slice(infos, n) {
		if s.State == windows.WTSActive && s.SessionID != 0 {
			out = append(out, s.SessionID)
		}
	}
	return out, nil
}

func (sessionNotifier) LoggedOn(context.Context) (bool, error) {
	s, err := activeSessions()
	return len(s) > 0, err
}

func (sessionNotifier) Notify(ctx context.Context, title, text string, timeout time.Duration, mayDecline bool) (answered, declined bool, err error) {
	sessions, err := activeSessions()
	if err != nil || len(sessions) == 0 {
		return false, false, err
	}
	t, err := windows.UTF16FromString(title)
	if err != nil {
		return false, false, fmt.Errorf("message title: %w", err)
	}
	m, err := windows.UTF16FromString(text)
	if err != nil {
		return false, false, fmt.Errorf("message text: %w", err)
	}
	style := uintptr(mbIconInfo | mbSetForeground | mbTopMost)
	wait, secs := uintptr(0), uintptr(0)
	if mayDecline {
		style = mbYesNo | mbIconQuestion | mbSetForeground | mbTopMost
		wait, secs = 1, uintptr(timeout/time.Second)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, id := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp uint32
			r, _, callErr := procWTSSendMessageW.Call(wtsCurrentServer, uintptr(id),
				uintptr(unsafe.Pointer(&t[0])), uintptr(2*(len(t)-1)), uintptr(unsafe.Pointer(&m[0])), uintptr(2*(len(m)-1)),
				style, secs, uintptr(unsafe.Pointer(&resp)), wait)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r == 0:
				errs = append(errs, fmt.Errorf("WTSSendMessage to session %d: %w", id, callErr))
			case resp == idNo:
				answered, declined = true, true
			case resp == idYes:
				answered = true
			}
		}()
	}
	wg.Wait()
	if len(errs) == len(sessions) {
		return false, false, errs[0]
	}
	return answered, declined, nil
}

// systemRebooter restarts Windows with InitiateSystemShutdownEx (planned, security
// fix), after enabling the shutdown privilege of the service's token.
type systemRebooter struct{}

// restartNotice is the system's own notice before the restart.
const restartNotice = 30 // seconds

func (systemRebooter) Restart(_ context.Context, reason string) error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("restart: open the process token: %w", err)
	}
	defer tok.Close()
	var luid windows.LUID
	if err := windows.LookupPrivilegeValue(nil, windows.StringToUTF16Ptr("SeShutdownPrivilege"), &luid); err != nil {
		return fmt.Errorf("restart: SeShutdownPrivilege: %w", err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil {
		return fmt.Errorf("restart: enable SeShutdownPrivilege (run as the service's account): %w", err)
	}
	msg, err := windows.UTF16PtrFromString(reason)
	if err != nil {
		return fmt.Errorf("restart reason: %w", err)
	}
	const why = windows.SHTDN_REASON_MAJOR_OPERATINGSYSTEM | windows.SHTDN_REASON_MINOR_SECURITYFIX | windows.SHTDN_REASON_FLAG_PLANNED
	if err := windows.InitiateSystemShutdownEx(nil, msg, restartNotice, false, true, why); err != nil {
		return fmt.Errorf("restart: InitiateSystemShutdownEx: %w", err)
	}
	return nil
}
