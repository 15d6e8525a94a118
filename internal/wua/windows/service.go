package windows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/wua"
)

// The Windows Update service.
const wuauserv = "wuauserv"

// Service start types and states (winsvc.h), mirrored so the dance is portable.
const (
	startManual   uint32 = 3
	startDisabled uint32 = 4

	stateStopped      uint32 = 1
	stateStartPending uint32 = 2
	stateStopPending  uint32 = 3
	stateRunning      uint32 = 4
)

func stateName(s uint32) string {
	names := [...]string{"", "STOPPED", "START_PENDING", "STOP_PENDING", "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING", "PAUSED"}
	if s > 0 && int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("state %d", s)
}

func startName(s uint32) string {
	names := [...]string{"boot", "system", "automatic", "manual", "disabled"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("start type %d", s)
}

// serviceAPI is one open service handle.
type serviceAPI interface {
	query() (startType, state uint32, err error)
	setStartType(t uint32) error
	start() error
	stop() error
	close() error
}

// serviceControl implements wua.ServiceControl: note, set manual, start, and put back.
type serviceControl struct {
	name    string
	open    func() (serviceAPI, error)
	clock   wua.Clock
	timeout time.Duration // wua.StartTimeout
	poll    time.Duration
}

// Prepare implements wua.ServiceControl.
func (s *serviceControl) Prepare(ctx context.Context) (func(context.Context) error, error) {
	api, err := s.open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	origStart, origState, err := api.query()
	if err != nil {
		api.close()
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	changedStart, started := false, false
	restore := func(ctx context.Context) error {
		var errs []error
		if started {
			if err := api.stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop: %w", err))
			} else if err := s.wait(ctx, api, stateStopped); err != nil {
				errs = append(errs, err)
			}
		}
		if changedStart {
			if err := api.setStartType(origStart); err != nil {
				errs = append(errs, fmt.Errorf("set start type back to %s: %w", startName(origStart), err))
			}
		}
		if err := api.close(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s: restoring %s, %s: %w", s.name, startName(origStart), stateName(origState), errors.Join(errs...))
		}
		return nil
	}
	fail := func(err error) (func(context.Context) error, error) {
		if rerr := restore(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}

	if origStart == startDisabled {
		if err := api.setStartType(startManual); err != nil {
			return fail(fmt.Errorf("set start type to manual: %w", err))
		}
		changedStart = true
	}
	state := origState
	if state == stateStopPending {
		if err := s.wait(ctx, api, stateStopped); err != nil {
			return fail(err)
		}
		state = stateStopped
	}
	if state == stateRunning {
		return restore, nil
	}
	if state != stateStartPending {
		if err := api.start(); err != nil {
			return fail(fmt.Errorf("start: %w", err))
		}
		started = true
	}
	if err := s.wait(ctx, api, stateRunning); err != nil {
		return fail(err)
	}
	return restore, nil
}

// wait polls the service until it reaches want, for at most s.timeout.
func (s *serviceControl) wait(ctx context.Context, api serviceAPI, want uint32) error {
	deadline := s.clock.Now().Add(s.timeout)
	for {
		_, state, err := api.query()
		if err != nil {
			return err
		}
		if state == want {
			return nil
		}
		if !s.clock.Now().Before(deadline) {
			return fmt.Errorf("still %s after %s, want %s (see the System event log)", stateName(state), s.timeout, stateName(want))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", stateName(want), context.Cause(ctx))
		case <-s.clock.After(s.poll):
		}
	}
}

// rebootPending combines WUA's SystemInfo.RebootRequired with the registry markers
// that Windows Update and Component Based Servicing leave until the restart.
func rebootPending(systemInfo bool, markers map[string]bool) bool {
	if systemInfo {
		return true
	}
	for _, present := range markers {
		if present {
			return true
		}
	}
	return false
}

// rebootMarkers are the registry keys whose presence means a restart is pending
// (REFERENCE §6).
func rebootMarkers() []string {
	return []string{
		`SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`,
		`SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`,
	}
}
