package windows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memRegistry is HKLM in a map: "key|name" → value.
type memRegistry struct {
	vals    map[string]regValue
	failSet string // a value name whose writes fail
}

func (m *memRegistry) get(key, name string) (regValue, bool, error) {
	v, ok := m.vals[key+"|"+name]
	return v, ok, nil
}

func (m *memRegistry) set(key, name string, v regValue) error {
	if name == m.failSet {
		return errors.New("access denied")
	}
	m.vals[key+"|"+name] = v
	return nil
}

func (m *memRegistry) remove(key, name string) error {
	delete(m.vals, key+"|"+name)
	return nil
}

// policies returns the Windows Update policy values only (not our saved copies).
func (m *memRegistry) policies() map[string]regValue {
	out := map[string]regValue{}
	for k, v := range m.vals {
		if !strings.HasPrefix(k, savedPolicyKey) {
			out[k] = v
		}
	}
	return out
}

func boolPtr(b bool) *bool { return &b }

func TestPolicyApply(t *testing.T) {
	admin := map[string]regValue{ // an administrator's own settings before WAPTWUA
		wuPolicyKey + "|WUServer":     sz("http://wsus.example:8530"),
		auPolicyKey + "|NoAutoUpdate": dword(0),
		auPolicyKey + "|AUOptions":    dword(4), // not ours: never touched
	}
	reg := &memRegistry{vals: map[string]regValue{}}
	for k, v := range admin {
		reg.vals[k] = v
	}
	p := &policy{reg: reg, dummy: DefaultDummyServer}

	if err := p.Apply(nil); err != nil || len(reg.vals) != len(admin) {
		t.Fatalf("Apply(nil) changed something: %v %v", err, reg.vals)
	}
	if err := p.Apply(boolPtr(true)); err != nil {
		t.Fatal(err)
	}
	enabled := map[string]regValue{
		wuPolicyKey + "|WUServer":                                     sz(DefaultDummyServer),
		wuPolicyKey + "|WUStatusServer":                               sz(DefaultDummyServer),
		wuPolicyKey + "|DoNotConnectToWindowsUpdateInternetLocations": dword(1),
		wuPolicyKey + "|DisableOSUpgrade":                             dword(1),
		auPolicyKey + "|UseWUServer":                                  dword(1),
		auPolicyKey + "|NoAutoUpdate":                                 dword(1),
		auPolicyKey + "|AUOptions":                                    dword(4),
	}
	if diff := cmp.Diff(enabled, reg.policies(), cmp.AllowUnexported(regValue{})); diff != "" {
		t.Fatalf("after enabled=True (-want +got):\n%s", diff)
	}
	// A second enable must not save our own values over the administrator's.
	if err := p.Apply(boolPtr(true)); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(boolPtr(false)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(admin, reg.vals, cmp.AllowUnexported(regValue{})); diff != "" {
		t.Fatalf("after enabled=False (-want +got):\n%s", diff)
	}
	// Disabling again with nothing saved leaves the administrator's values alone.
	if err := p.Apply(boolPtr(false)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(admin, reg.vals, cmp.AllowUnexported(regValue{})); diff != "" {
		t.Fatalf("second enabled=False (-want +got):\n%s", diff)
	}
}

func TestPolicyDisableWithoutRecordRemovesOnlyOurs(t *testing.T) {
	reg := &memRegistry{vals: map[string]regValue{
		wuPolicyKey + "|WUServer":         sz(DefaultDummyServer),    // ours, record lost
		wuPolicyKey + "|DisableOSUpgrade": dword(1),                  // ours
		wuPolicyKey + "|WUStatusServer":   sz("http://wsus.example"), // the administrator's
	}}
	p := &policy{reg: reg, dummy: DefaultDummyServer}
	if err := p.Apply(boolPtr(false)); err != nil {
		t.Fatal(err)
	}
	want := map[string]regValue{wuPolicyKey + "|WUStatusServer": sz("http://wsus.example")}
	if diff := cmp.Diff(want, reg.vals, cmp.AllowUnexported(regValue{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestPolicyErrorsKeepTheSavedValues(t *testing.T) {
	reg := &memRegistry{vals: map[string]regValue{wuPolicyKey + "|DisableOSUpgrade": dword(0)}}
	p := &policy{reg: reg, dummy: DefaultDummyServer}
	if err := p.Apply(boolPtr(true)); err != nil {
		t.Fatal(err)
	}
	reg.failSet = "DisableOSUpgrade"
	err := p.Apply(boolPtr(false))
	if err == nil || !strings.Contains(err.Error(), "enabled = false") || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("error = %v", err)
	}
	if _, ok := reg.vals[savedPolicyKey+"|"+savedMarker]; !ok {
		t.Fatal("saved values dropped after a failed restore")
	}
	reg.failSet = ""
	if err := p.Apply(boolPtr(false)); err != nil {
		t.Fatal(err)
	}
	want := map[string]regValue{wuPolicyKey + "|DisableOSUpgrade": dword(0)}
	if diff := cmp.Diff(want, reg.vals, cmp.AllowUnexported(regValue{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSavedEncoding(t *testing.T) {
	for _, tt := range []struct {
		v     regValue
		found bool
	}{{sz("http://x|y"), true}, {sz(""), true}, {dword(4294967295), true}, {regValue{}, false}} {
		v, found, err := decodeSaved(encodeSaved(tt.v, tt.found))
		if err != nil || found != tt.found || v != tt.v {
			t.Errorf("round trip of %v/%t = %v/%t, %v", tt.v, tt.found, v, found, err)
		}
	}
	if _, _, err := decodeSaved("qword:1"); err == nil {
		t.Error("unknown encoding accepted")
	}
}

// fakeClock advances only when waited on.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// fakeService is a service that takes `delay` queries to change state.
type fakeService struct {
	startType, state uint32
	target           uint32 // state being reached
	delay, pending   int
	neverStarts      bool
	calls            []string
}

func (f *fakeService) query() (uint32, uint32, error) {
	if f.pending > 0 {
		f.pending--
		if f.pending == 0 {
			f.state = f.target
		}
	}
	return f.startType, f.state, nil
}

func (f *fakeService) setStartType(t uint32) error {
	f.calls = append(f.calls, "start type "+startName(t))
	f.startType = t
	return nil
}

func (f *fakeService) start() error {
	f.calls = append(f.calls, "start")
	if f.startType == startDisabled {
		return errors.New("service disabled")
	}
	f.state = stateStartPending
	if !f.neverStarts {
		f.target, f.pending = stateRunning, f.delay+1
	}
	return nil
}

func (f *fakeService) stop() error {
	f.calls = append(f.calls, "stop")
	f.state, f.target, f.pending = stateStopPending, stateStopped, f.delay+1
	return nil
}

func (f *fakeService) close() error {
	f.calls = append(f.calls, "close")
	return nil
}

func TestServiceControl(t *testing.T) {
	tests := []struct {
		desc       string
		svc        fakeService
		wantCalls  []string
		wantErr    string
		finalStart uint32
		finalState uint32
	}{
		{
			desc:       "disabled and stopped: enable, start, then put back",
			svc:        fakeService{startType: startDisabled, state: stateStopped, delay: 3},
			wantCalls:  []string{"start type manual", "start", "stop", "start type disabled", "close"},
			finalStart: startDisabled, finalState: stateStopped,
		},
		{
			desc:       "manual and running: nothing to do",
			svc:        fakeService{startType: startManual, state: stateRunning},
			wantCalls:  []string{"close"},
			finalStart: startManual, finalState: stateRunning,
		},
		{
			desc:       "automatic and stopped: start and stop again",
			svc:        fakeService{startType: 2, state: stateStopped},
			wantCalls:  []string{"start", "stop", "close"},
			finalStart: 2, finalState: stateStopped,
		},
		{
			desc:       "never reaches running: error, everything put back",
			svc:        fakeService{startType: startDisabled, state: stateStopped, neverStarts: true},
			wantErr:    "Windows Update service (wuauserv): still START_PENDING after 10s, want RUNNING",
			wantCalls:  []string{"start type manual", "start", "stop", "start type disabled", "close"},
			finalStart: startDisabled, finalState: stateStopped,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			svc := tt.svc
			clock := &fakeClock{now: time.Date(2024, 1, 9, 3, 0, 0, 0, time.UTC)}
			sc := &serviceControl{
				name:    "Windows Update service (wuauserv)",
				open:    func() (serviceAPI, error) { return &svc, nil },
				clock:   clock,
				timeout: 10 * time.Second,
				poll:    250 * time.Millisecond,
			}
			restore, err := sc.Prepare(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Prepare error = %v, want %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if svc.state != stateRunning {
					t.Fatalf("after Prepare: %s", stateName(svc.state))
				}
				if err := restore(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, svc.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if svc.startType != tt.finalStart || svc.state != tt.finalState {
				t.Errorf("finally %s, %s; want %s, %s", startName(svc.startType), stateName(svc.state), startName(tt.finalStart), stateName(tt.finalState))
			}
		})
	}
}

func TestServiceControlCancelled(t *testing.T) {
	svc := &fakeService{startType: startManual, state: stateStopped, neverStarts: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sc := &serviceControl{name: "wuauserv", open: func() (serviceAPI, error) { return svc, nil },
		clock: &fakeClock{}, timeout: time.Hour, poll: time.Second}
	if _, err := sc.Prepare(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

func TestRebootPending(t *testing.T) {
	if rebootPending(false, map[string]bool{rebootMarkers()[0]: false}) {
		t.Error("pending without any sign")
	}
	if !rebootPending(true, nil) || !rebootPending(false, map[string]bool{rebootMarkers()[1]: true}) {
		t.Error("a sign of a pending restart was ignored")
	}
}
