//go:build windows

package action

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"
)

const createNoWindow = 0x08000000 // CREATE_NO_WINDOW

// procTree puts the process in a job object, so that a timeout kills it with every
// process it started (setup.exe runs SetupHost.exe and others).
type procTree struct {
	job windows.Handle
}

// prepare starts console programs (wusa, dism, pnputil, setup) without a window.
func (t *procTree) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: createNoWindow}
}

// attach puts the started process in a new job object. Processes it starts afterwards
// belong to the job too.
func (t *procTree) attach(p *os.Process) error {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return err
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return err
	}
	t.job = job
	return nil
}

// kill ends the job's processes, or the process alone when attach failed.
func (t *procTree) kill(p *os.Process) error {
	if t.job != 0 {
		if err := windows.TerminateJobObject(t.job, 1); err == nil {
			return nil
		}
	}
	return p.Kill()
}

// release closes the job handle; the processes of a finished run are left alone.
func (t *procTree) release() {
	if t.job != 0 {
		windows.CloseHandle(t.job)
		t.job = 0
	}
}
