//go:build windows

package windows

import (
	"errors"
	"fmt"
	"time"

	winapi "golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// NewServiceControl returns the wuauserv start/restore dance (wua.ServiceControl).
func NewServiceControl(clock wua.Clock) wua.ServiceControl {
	if clock == nil {
		clock = wu.SystemClock{}
	}
	return &serviceControl{
		name:    "Windows Update service (" + wuauserv + ")",
		open:    openService,
		clock:   clock,
		timeout: wua.StartTimeout,
		poll:    250 * time.Millisecond,
	}
}

type winService struct {
	m *mgr.Mgr
	s *mgr.Service
}

func openService() (serviceAPI, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("connect to the service control manager (run as an administrator): %w", err)
	}
	s, err := m.OpenService(wuauserv)
	if err != nil {
		m.Disconnect()
		return nil, fmt.Errorf("open %s: %w", wuauserv, err)
	}
	return &winService{m: m, s: s}, nil
}

func (w *winService) query() (uint32, uint32, error) {
	cfg, err := w.s.Config()
	if err != nil {
		return 0, 0, fmt.Errorf("read configuration: %w", err)
	}
	st, err := w.s.Query()
	if err != nil {
		return 0, 0, fmt.Errorf("query state: %w", err)
	}
	return cfg.StartType, uint32(st.State), nil
}

func (w *winService) setStartType(t uint32) error {
	// Change the start type only; SERVICE_NO_CHANGE keeps the rest as it is.
	return winapi.ChangeServiceConfig(w.s.Handle, winapi.SERVICE_NO_CHANGE, t, winapi.SERVICE_NO_CHANGE,
		nil, nil, nil, nil, nil, nil, nil)
}

func (w *winService) start() error { return w.s.Start() }

func (w *winService) stop() error {
	_, err := w.s.Control(svc.Stop)
	return err
}

func (w *winService) close() error {
	return errors.Join(w.s.Close(), w.m.Disconnect())
}

// NewPolicy returns the Windows Update policies switch (wua.Policy). dummyServer is the
// WSUS address written to WUServer/WUStatusServer; "" = DefaultDummyServer.
func NewPolicy(dummyServer string) wua.Policy {
	if dummyServer == "" {
		dummyServer = DefaultDummyServer
	}
	return &policy{reg: winRegistry{}, dummy: dummyServer}
}

// winRegistry reads and writes HKEY_LOCAL_MACHINE in its 64-bit view, also from a
// 32-bit agent.
type winRegistry struct{}

func (winRegistry) get(key, name string) (regValue, bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return regValue{}, false, nil
	}
	if err != nil {
		return regValue{}, false, fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	defer k.Close()
	_, typ, err := k.GetValue(name, nil)
	if errors.Is(err, registry.ErrNotExist) {
		return regValue{}, false, nil
	}
	if err != nil {
		return regValue{}, false, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
	}
	switch typ {
	case registry.DWORD:
		n, _, err := k.GetIntegerValue(name)
		if err != nil {
			return regValue{}, false, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
		}
		return dword(uint32(n)), true, nil
	case registry.SZ, registry.EXPAND_SZ:
		s, _, err := k.GetStringValue(name)
		if err != nil {
			return regValue{}, false, fmt.Errorf(`HKLM\%s\%s: %w`, key, name, err)
		}
		return sz(s), true, nil
	}
	return regValue{}, false, fmt.Errorf(`HKLM\%s\%s: registry type %d, want REG_DWORD or REG_SZ (fix the value by hand)`, key, name, typ)
}

func (winRegistry) set(key, name string, v regValue) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	defer k.Close()
	if v.isString {
		err = k.SetStringValue(name, v.str)
	} else {
		err = k.SetDWordValue(name, v.dword)
	}
	if err != nil {
		return fmt.Errorf(`HKLM\%s\%s = %s: %w`, key, name, v, err)
	}
	return nil
}

func (winRegistry) remove(key, name string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf(`delete HKLM\%s\%s: %w`, key, name, err)
	}
	return nil
}
