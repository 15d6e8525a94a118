package wua

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHResultWords(t *testing.T) {
	tests := []struct {
		code HResult
		want string
	}{
		{0x80240022, "0x80240022 WU_E_ALL_UPDATES_FAILED: Operation failed for all the updates."},
		{0x8024402C, "0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED: Same as ERROR_WINHTTP_NAME_NOT_RESOLVED - the proxy server or target server name cannot be resolved."},
		{0x80240024, "0x80240024 WU_E_NO_UPDATE: There are no updates."},
		{0x8024001E, "0x8024001E WU_E_SERVICE_STOP: Operation did not complete because the service or system was being shut down."},
		{0x80240016, "0x80240016 WU_E_INSTALL_NOT_ALLOWED: Operation tried to install while another installation was in progress or the system was pending a mandatory restart."},
		{0x8024A000, "0x8024A000 WU_E_AU_NOSERVICE: Automatic Updates was unable to service incoming requests."},
		{0x80070422, "0x80070422 ERROR_SERVICE_DISABLED: The service cannot be started, either because it is disabled or because it has no enabled devices associated with it."},
		{0x80240020, "0x80240020 WU_E_NO_INTERACTIVE_USER: Operation did not complete because there is no logged-on interactive user."},
		{0x8024D00C, "0x8024D00C WU_E_SETUP_REBOOT_TO_FIX: Windows Update Agent could not be updated because a restart of the system is required."},
		{0x8024D00E, "0x8024D00E WU_E_SETUP_REBOOTREQUIRED: Windows Update Agent setup package requires a reboot to complete installation."},
		{0x80070BC2, "0x80070BC2 ERROR_SUCCESS_REBOOT_REQUIRED: The requested operation is successful. Changes will not be effective until the system is rebooted."},
		{0x00240005, "0x00240005 WU_S_REBOOT_REQUIRED: The system must be restarted to complete installation of the update."},
		{0, "0x00000000 S_OK: The operation completed successfully."},
		{0x80249999, `0x80249999: Windows Update error 0x9999, not in our table (look it up in Microsoft's "Windows Update error codes").`},
		{0x80070020, "0x80070020: Windows system error 32."},
		{0x00000001, "0x00000001: Success."},
		{0xC0000005, "0xC0000005: Unknown error."},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%08X", uint32(tt.code)), func(t *testing.T) {
			if got := tt.code.String(); got != tt.want {
				t.Errorf("String() = %q\nwant        %q", got, tt.want)
			}
		})
	}
}

func TestHResultTableIsConsistent(t *testing.T) {
	for code, info := range hresults {
		if info.name == "" || info.message == "" {
			t.Errorf("%08X: empty name or message", uint32(code))
		}
		if strings.HasPrefix(info.name, "WU_E_") && (code.Facility() != facilityWindowsUpdate || !code.Failed()) {
			t.Errorf("%s = %08X: not a Windows Update error code", info.name, uint32(code))
		}
		if strings.HasPrefix(info.name, "WU_S_") && (code.Facility() != facilityWindowsUpdate || code.Failed()) {
			t.Errorf("%s = %08X: not a Windows Update success code", info.name, uint32(code))
		}
		if strings.HasPrefix(info.name, "ERROR_") && code.Facility() != facilityWin32 {
			t.Errorf("%s = %08X: not HRESULT_FROM_WIN32", info.name, uint32(code))
		}
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		code                  HResult
		busy, reboot, stopped bool
	}{
		{code: WUEInstallNotAllowed, busy: true},
		{code: WUEOperationInProgress, busy: true},
		{code: EInstallAlreadyRunning, busy: true},
		{code: WUESetupRebootToFix, reboot: true},
		{code: WUESetupRebootRequired, reboot: true},
		{code: ESuccessRebootRequired, reboot: true},
		{code: EFailRebootRequired, reboot: true},
		{code: WUEAUNoService, stopped: true},
		{code: EServiceDisabled, stopped: true},
		{code: WUEServiceStop, stopped: true},
		{code: WUEAllUpdatesFailed},
		{code: 0x8024402C},
	}
	for _, tt := range tests {
		err := fmt.Errorf("agent: %w", &Error{Op: "install", Code: tt.code})
		if got := errors.Is(err, ErrBusy); got != tt.busy {
			t.Errorf("%s: Is(ErrBusy) = %t", tt.code, got)
		}
		if got := errors.Is(err, ErrRebootPending); got != tt.reboot {
			t.Errorf("%s: Is(ErrRebootPending) = %t", tt.code, got)
		}
		if got := errors.Is(err, ErrServiceUnavailable); got != tt.stopped {
			t.Errorf("%s: Is(ErrServiceUnavailable) = %t", tt.code, got)
		}
	}
	cause := errors.New("COM says no")
	err := &Error{Op: "scan", Code: EServiceDisabled, Err: cause}
	if !errors.Is(err, cause) {
		t.Error("Unwrap lost the cause")
	}
	want := "scan: 0x80070422 ERROR_SERVICE_DISABLED: The service cannot be started"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "(the Windows Update service (wuauserv) is disabled") {
		t.Errorf("Error() = %q", err)
	}
}

func TestParseHResult(t *testing.T) {
	tests := []struct {
		in      string
		want    HResult
		wantErr bool
	}{
		{in: "0x80240022", want: 0x80240022},
		{in: " 0X8024402c ", want: 0x8024402C},
		{in: "80240022", want: 0x80240022},
		{in: "8024A000", want: 0x8024A000},
		{in: "-2145124318", want: 0x80240022},
		{in: "2149842978", want: 0x80240022},
		{in: "0", want: 0},
		{in: "0x", wantErr: true},
		{in: "0x180240022", wantErr: true},
		{in: "WU_E_NO_UPDATE", wantErr: true},
		{in: "", wantErr: true},
		{in: "99999999999", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseHResult(tt.in)
		if (err != nil) != tt.wantErr || err == nil && got != tt.want {
			t.Errorf("ParseHResult(%q) = %s, %v; want %s, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
