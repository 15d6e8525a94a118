package wua

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// HResult is a COM/Windows result code as WUA reports it (IInstallationResult.HResult,
// IUpdateInstallationResult.HResult, the failure of a COM call). Its String gives the
// code, its symbolic name and its meaning in words.
type HResult uint32

// Codes the port treats specially. The full table is hresults below.
const (
	SOK                    HResult = 0x00000000
	WUSRebootRequired      HResult = 0x00240005
	WUEOperationInProgress HResult = 0x80240009
	WUEInstallNotAllowed   HResult = 0x80240016
	WUEServiceStop         HResult = 0x8024001E
	WUENoInteractiveUser   HResult = 0x80240020
	WUEAllUpdatesFailed    HResult = 0x80240022
	WUENoUpdate            HResult = 0x80240024
	WUEInvalidCriteria     HResult = 0x80240032
	WUEDSDeclineNotAllowed HResult = 0x80248016
	WUEAUNoService         HResult = 0x8024A000
	WUEDMNotDownloaded     HResult = 0x80246007
	WUEOLInvalidScanFile   HResult = 0x80247001
	WUESetupRebootToFix    HResult = 0x8024D00C
	WUESetupRebootRequired HResult = 0x8024D00E
	EServiceDisabled       HResult = 0x80070422 // HRESULT_FROM_WIN32(ERROR_SERVICE_DISABLED)
	ESuccessRebootRequired HResult = 0x80070BC2 // HRESULT_FROM_WIN32(ERROR_SUCCESS_REBOOT_REQUIRED)
	EFailRebootRequired    HResult = 0x80070BC9 // HRESULT_FROM_WIN32(ERROR_FAIL_REBOOT_REQUIRED)
	EInstallAlreadyRunning HResult = 0x80070652 // HRESULT_FROM_WIN32(ERROR_INSTALL_ALREADY_RUNNING)
	DispEException         HResult = 0x80020009
)

// HRESULT facilities.
const (
	facilityWin32         = 0x7
	facilityWindowsUpdate = 0x24
)

// hresultKind groups codes the caller reacts to alike.
type hresultKind uint8

const (
	kindOther   hresultKind = iota
	kindBusy                // another client holds WUA: retry later (ErrBusy)
	kindReboot              // a restart is pending (ErrRebootPending)
	kindService             // wuauserv unavailable (ErrServiceUnavailable)
)

type hresultInfo struct {
	name, message string
	kind          hresultKind
	hint          string // what to do, when there is something to do
}

// hresults: Windows Update codes from wuerror.h / "Windows Update error codes"
// (learn.microsoft.com) and the Win32/COM codes seen around WUA. A read-only table.
var hresults = map[HResult]hresultInfo{
	0x00000000: {name: "S_OK", message: "The operation completed successfully."},
	0x00240001: {name: "WU_S_SERVICE_STOP", message: "Windows Update Agent was stopped successfully."},
	0x00240002: {name: "WU_S_SELFUPDATE", message: "Windows Update Agent updated itself."},
	0x00240003: {name: "WU_S_UPDATE_ERROR", message: "Operation completed successfully but there were errors applying the updates."},
	0x00240005: {name: "WU_S_REBOOT_REQUIRED", message: "The system must be restarted to complete installation of the update."},
	0x00240006: {name: "WU_S_ALREADY_INSTALLED", message: "The update to be installed is already installed on the system."},
	0x00240007: {name: "WU_S_ALREADY_UNINSTALLED", message: "The update to be removed is not installed on the system."},
	0x00240008: {name: "WU_S_ALREADY_DOWNLOADED", message: "The update to be downloaded has already been downloaded."},
	0x00242015: {name: "WU_S_UH_INSTALLSTILLPENDING", message: "The installation operation for the update is still in progress."},

	0x80240001: {name: "WU_E_NO_SERVICE", message: "Windows Update Agent was unable to provide the service.", kind: kindService},
	0x80240002: {name: "WU_E_MAX_CAPACITY_REACHED", message: "The maximum capacity of the service was exceeded."},
	0x80240003: {name: "WU_E_UNKNOWN_ID", message: "An ID cannot be found."},
	0x80240004: {name: "WU_E_NOT_INITIALIZED", message: "The object could not be initialized."},
	0x80240007: {name: "WU_E_INVALIDINDEX", message: "The index to a collection was invalid."},
	0x80240008: {name: "WU_E_ITEMNOTFOUND", message: "The key for the item queried could not be found."},
	0x80240009: {name: "WU_E_OPERATIONINPROGRESS", message: "Another conflicting operation was in progress. Some operations such as installation cannot be performed twice simultaneously.", kind: kindBusy, hint: "retry when the other Windows Update client has finished"},
	0x8024000A: {name: "WU_E_COULDNOTCANCEL", message: "Cancellation of the operation was not allowed."},
	0x8024000B: {name: "WU_E_CALL_CANCELLED", message: "Operation was cancelled."},
	0x8024000C: {name: "WU_E_NOOP", message: "No operation was required."},
	0x8024000D: {name: "WU_E_XML_MISSINGDATA", message: "Windows Update Agent could not find required information in the update's XML data."},
	0x8024000E: {name: "WU_E_XML_INVALID", message: "Windows Update Agent found invalid information in the update's XML data."},
	0x8024000F: {name: "WU_E_CYCLE_DETECTED", message: "Circular update relationships were detected in the metadata."},
	0x80240010: {name: "WU_E_TOO_DEEP_RELATION", message: "Update relationships too deep to evaluate were evaluated."},
	0x80240011: {name: "WU_E_INVALID_RELATIONSHIP", message: "An invalid update relationship was detected."},
	0x80240012: {name: "WU_E_REG_VALUE_INVALID", message: "An invalid registry value was read."},
	0x80240013: {name: "WU_E_DUPLICATE_ITEM", message: "Operation tried to add a duplicate item to a list."},
	0x80240014: {name: "WU_E_INVALID_INSTALL_REQUESTED", message: "Updates requested for install are not installable by caller."},
	0x80240016: {name: "WU_E_INSTALL_NOT_ALLOWED", message: "Operation tried to install while another installation was in progress or the system was pending a mandatory restart.", kind: kindBusy, hint: "another client (e.g. the Microsoft Store) is installing: retry later, or restart the computer if one is pending"},
	0x80240017: {name: "WU_E_NOT_APPLICABLE", message: "Operation was not performed because there are no applicable updates."},
	0x80240018: {name: "WU_E_NO_USERTOKEN", message: "Operation failed because a required user token is missing."},
	0x80240019: {name: "WU_E_EXCLUSIVE_INSTALL_CONFLICT", message: "An exclusive update cannot be installed with other updates at the same time.", hint: "install that update on its own"},
	0x8024001A: {name: "WU_E_POLICY_NOT_SET", message: "A policy value was not set."},
	0x8024001B: {name: "WU_E_SELFUPDATE_IN_PROGRESS", message: "The operation could not be performed because the Windows Update Agent is self-updating.", kind: kindBusy, hint: "retry later"},
	0x8024001D: {name: "WU_E_INVALID_UPDATE", message: "An update contains invalid metadata."},
	0x8024001E: {name: "WU_E_SERVICE_STOP", message: "Operation did not complete because the service or system was being shut down.", kind: kindService, hint: "retry after the restart"},
	0x8024001F: {name: "WU_E_NO_CONNECTION", message: "Operation did not complete because the network connection was unavailable."},
	0x80240020: {name: "WU_E_NO_INTERACTIVE_USER", message: "Operation did not complete because there is no logged-on interactive user.", hint: "the update needs a logged-on user: install it at another time or by hand"},
	0x80240021: {name: "WU_E_TIME_OUT", message: "Operation did not complete because it timed out."},
	0x80240022: {name: "WU_E_ALL_UPDATES_FAILED", message: "Operation failed for all the updates."},
	0x80240023: {name: "WU_E_EULAS_DECLINED", message: "The license terms for all updates were declined."},
	0x80240024: {name: "WU_E_NO_UPDATE", message: "There are no updates."},
	0x80240025: {name: "WU_E_USER_ACCESS_DISABLED", message: "Group Policy settings prevented access to Windows Update."},
	0x80240026: {name: "WU_E_INVALID_UPDATE_TYPE", message: "The type of update is invalid."},
	0x80240027: {name: "WU_E_URL_TOO_LONG", message: "The URL exceeded the maximum length."},
	0x80240028: {name: "WU_E_UNINSTALL_NOT_ALLOWED", message: "The update could not be uninstalled because the request did not originate from a WSUS server."},
	0x8024002A: {name: "WU_E_MISSING_HANDLER", message: "A component required to detect applicable updates was missing."},
	0x8024002B: {name: "WU_E_LEGACYSERVER", message: "An operation did not complete because it requires a newer version of server."},
	0x8024002C: {name: "WU_E_BIN_SOURCE_ABSENT", message: "A delta-compressed update could not be installed because it required the source."},
	0x8024002D: {name: "WU_E_SOURCE_ABSENT", message: "A full-file update could not be installed because it required the source."},
	0x8024002E: {name: "WU_E_WU_DISABLED", message: "Access to an unmanaged server is not allowed."},
	0x8024002F: {name: "WU_E_CALL_CANCELLED_BY_POLICY", message: "Operation did not complete because the DisableWindowsUpdateAccess policy was set."},
	0x80240030: {name: "WU_E_INVALID_PROXY_SERVER", message: "The format of the proxy list was invalid."},
	0x80240031: {name: "WU_E_INVALID_FILE", message: "The file is in the wrong format."},
	0x80240032: {name: "WU_E_INVALID_CRITERIA", message: "The search criteria string was invalid.", hint: "check the [waptwua] filter key"},
	0x80240033: {name: "WU_E_EULA_UNAVAILABLE", message: "License terms could not be downloaded."},
	0x80240034: {name: "WU_E_DOWNLOAD_FAILED", message: "Update failed to download."},
	0x80240035: {name: "WU_E_UPDATE_NOT_PROCESSED", message: "The update was not processed."},
	0x80240036: {name: "WU_E_INVALID_OPERATION", message: "The object's current state did not allow the operation."},
	0x80240037: {name: "WU_E_NOT_SUPPORTED", message: "The functionality for the operation is not supported."},
	0x80240039: {name: "WU_E_TOO_MANY_RESYNC", message: "Agent is asked by server to resync too many times."},
	0x80240040: {name: "WU_E_NO_SERVER_CORE_SUPPORT", message: "WUA API method does not run on Server Core installation."},
	0x80240041: {name: "WU_E_SYSPREP_IN_PROGRESS", message: "Service is not available while sysprep is running.", kind: kindBusy},
	0x80240042: {name: "WU_E_UNKNOWN_SERVICE", message: "The update service is no longer registered with AU."},
	0x80240044: {name: "WU_E_PER_MACHINE_UPDATE_ACCESS_DENIED", message: "Only administrators can perform this operation on per-machine updates.", hint: "run the agent as SYSTEM or an administrator"},
	0x80240045: {name: "WU_E_UNSUPPORTED_SEARCHSCOPE", message: "A search was attempted with a scope that is not currently supported for this type of search."},
	0x8024004A: {name: "WU_E_SETUP_IN_PROGRESS", message: "Windows Update agent operations are not available while OS setup is running.", kind: kindBusy},
	0x8024004C: {name: "WU_E_LOW_BATTERY", message: "An update could not be installed because the system battery power level is too low.", hint: "plug the computer in"},
	0x80240063: {name: "WU_E_CALL_CANCELLED_BY_INTERACTIVE_SEARCH", message: "The search call was cancelled by another interactive search against the same service.", kind: kindBusy},
	0x80240064: {name: "WU_E_INSTALL_JOB_RESUME_NOT_ALLOWED", message: "Resume of install job not allowed due to another installation in progress.", kind: kindBusy},
	0x80240069: {name: "WU_E_SERVICE_UNEXPECTED_EXIT", message: "Operation did not complete because the service process exited unexpectedly with a non-successful exit code.", kind: kindService},
	0x8024006B: {name: "WU_E_SERVICE_REENABLE_ACCESS_DENIED", message: "Operation did not complete because the service is disabled and re-enabling it has failed as the access was denied.", kind: kindService},
	0x80240FFF: {name: "WU_E_UNEXPECTED", message: "An operation failed due to reasons not covered by another error code."},

	0x80241001: {name: "WU_E_MSI_WRONG_VERSION", message: "Search may have missed some updates because the Windows Installer is less than version 3.1."},
	0x80241002: {name: "WU_E_MSI_NOT_CONFIGURED", message: "Search may have missed some updates because the Windows Installer is not configured."},
	0x80241003: {name: "WU_E_MSP_DISABLED", message: "Search may have missed some updates because policy has disabled Windows Installer patching."},

	0x80242000: {name: "WU_E_UH_REMOTEUNAVAILABLE", message: "A request for a remote update handler could not be completed because no remote process is available."},
	0x80242004: {name: "WU_E_UH_DOESNOTSUPPORTACTION", message: "A request for the handler to install (uninstall) an update could not be completed because the update does not support install (uninstall)."},
	0x80242006: {name: "WU_E_UH_INVALIDMETADATA", message: "A handler operation could not be completed because the update contains invalid metadata."},
	0x80242007: {name: "WU_E_UH_INSTALLERHUNG", message: "An operation could not be completed because the installer exceeded the time limit."},
	0x80242008: {name: "WU_E_UH_OPERATIONCANCELLED", message: "An operation being done by the update handler was cancelled."},
	0x8024200A: {name: "WU_E_UH_CANREQUIREINPUT", message: "A request to the handler to install an update could not be completed because the update requires user input."},
	0x8024200B: {name: "WU_E_UH_INSTALLERFAILURE", message: "The installer failed to install (uninstall) one or more updates."},
	0x8024200D: {name: "WU_E_UH_NEEDANOTHERDOWNLOAD", message: "The update handler did not install the update because it needs to be downloaded again."},
	0x80242014: {name: "WU_E_UH_POSTREBOOTSTILLPENDING", message: "The post-reboot operation for the update is still in progress.", kind: kindReboot},
	0x80242017: {name: "WU_E_UH_NEW_SERVICING_STACK_REQUIRED", message: "The OS servicing stack must be updated before this update is downloaded or installed.", hint: "allow and install the latest servicing stack update first"},
	0x8024201D: {name: "WU_E_UH_HANDLER_DISABLEDUNTILREBOOT", message: "The update handler is disabled until the system reboots.", kind: kindReboot},
	0x80242FFF: {name: "WU_E_UH_UNEXPECTED", message: "An update handler error not covered by another WU_E_UH_* code."},

	0x8024402C: {name: "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED", message: "Same as ERROR_WINHTTP_NAME_NOT_RESOLVED - the proxy server or target server name cannot be resolved.", hint: "WUA tried to reach a server during an offline scan: check the Windows Update policies (enabled = True sets them)"},
	0x80244011: {name: "WU_E_PT_SUS_SERVER_NOT_SET", message: "WUServer policy value is missing in the registry."},
	0x80244FFF: {name: "WU_E_PT_UNEXPECTED", message: "A communication error not covered by another WU_E_PT_* error code."},

	0x80246001: {name: "WU_E_DM_URLNOTAVAILABLE", message: "A download manager operation could not be completed because the requested file does not have a URL."},
	0x80246002: {name: "WU_E_DM_INCORRECTFILEHASH", message: "A download manager operation could not be completed because the file digest was not recognized.", hint: "download the file again"},
	0x80246007: {name: "WU_E_DM_NOTDOWNLOADED", message: "The update has not been downloaded.", hint: "download its files and copy them to the WUA cache first"},
	0x80246008: {name: "WU_E_DM_FAILTOCONNECTTOBITS", message: "A download manager operation failed because the download manager was unable to connect the Background Intelligent Transfer Service (BITS)."},
	0x80246FFF: {name: "WU_E_DM_UNEXPECTED", message: "There was a download manager error not covered by another WU_E_DM_* error code."},

	0x80247001: {name: "WU_E_OL_INVALID_SCANFILE", message: "An operation could not be completed because the scan package was invalid.", hint: "download wsusscn2.cab again"},
	0x80247002: {name: "WU_E_OL_NEWCLIENT_REQUIRED", message: "An operation could not be completed because the scan package requires a greater version of the Windows Update Agent.", hint: "update the Windows Update Agent"},
	0x80247FFF: {name: "WU_E_OL_UNEXPECTED", message: "Search using the scan package failed."},

	0x80248000: {name: "WU_E_DS_SHUTDOWN", message: "An operation failed because Windows Update Agent is shutting down.", kind: kindService},
	0x80248001: {name: "WU_E_DS_INUSE", message: "An operation failed because the data store was in use.", kind: kindBusy},
	0x80248007: {name: "WU_E_DS_NODATA", message: "The information requested is not in the data store."},
	0x8024800C: {name: "WU_E_DS_LOCKTIMEOUTEXPIRED", message: "The data store section could not be locked within the allotted time.", kind: kindBusy},
	0x80248014: {name: "WU_E_DS_UNKNOWNSERVICE", message: "An operation did not complete because the service is not in the data store."},
	0x80248016: {name: "WU_E_DS_DECLINENOTALLOWED", message: "A request to hide an update was declined because it is a mandatory update or because it was deployed with a deadline."},
	0x80248FFF: {name: "WU_E_DS_UNEXPECTED", message: "A data store error not covered by another WU_E_DS_* code."},

	0x8024A000: {name: "WU_E_AU_NOSERVICE", message: "Automatic Updates was unable to service incoming requests.", kind: kindService, hint: "start the Windows Update service (wuauserv)"},
	0x8024A004: {name: "WU_E_AU_PAUSED", message: "Automatic Updates was unable to process incoming requests because it was paused."},
	0x8024A007: {name: "WU_E_REBOOT_IN_PROGRESS", message: "A reboot is in progress.", kind: kindReboot},
	0x8024A008: {name: "WU_E_AU_OOBE_IN_PROGRESS", message: "Automatic Updates can't process incoming requests while Windows Welcome is running.", kind: kindBusy},
	0x8024AFFF: {name: "WU_E_AU_UNEXPECTED", message: "An Automatic Updates error not covered by another WU_E_AU * code."},

	0x8024D00C: {name: "WU_E_SETUP_REBOOT_TO_FIX", message: "Windows Update Agent could not be updated because a restart of the system is required.", kind: kindReboot},
	0x8024D00D: {name: "WU_E_SETUP_ALREADYRUNNING", message: "Windows Update Agent setup is already running.", kind: kindBusy},
	0x8024D00E: {name: "WU_E_SETUP_REBOOTREQUIRED", message: "Windows Update Agent setup package requires a reboot to complete installation.", kind: kindReboot},
	0x8024D011: {name: "WU_E_SELFUPDATE_REQUIRED", message: "Windows Update Agent must be updated before search can continue."},

	0x8024E001: {name: "WU_E_EE_UNKNOWN_EXPRESSION", message: "An expression evaluator operation could not be completed because an expression was unrecognized."},
	0x8024E002: {name: "WU_E_EE_INVALID_EXPRESSION", message: "An expression evaluator operation could not be completed because an expression was invalid."},

	// COM and Win32 codes (HRESULT_FROM_WIN32 and friends).
	0x80004001: {name: "E_NOTIMPL", message: "Not implemented.", hint: "this Windows Update Agent lacks the call (e.g. Wine's): run on Windows, or use the simulated host with --wua sim"},
	0x80004004: {name: "E_ABORT", message: "Operation aborted."},
	0x80004005: {name: "E_FAIL", message: "Unspecified error."},
	0x8000FFFF: {name: "E_UNEXPECTED", message: "Catastrophic failure."},
	0x80010106: {name: "RPC_E_CHANGED_MODE", message: "Cannot change thread mode after it is set."},
	0x80010108: {name: "RPC_E_DISCONNECTED", message: "The object invoked has disconnected from its clients.", kind: kindService},
	0x80020003: {name: "DISP_E_MEMBERNOTFOUND", message: "Member not found."},
	0x80020005: {name: "DISP_E_TYPEMISMATCH", message: "Type mismatch."},
	0x80020006: {name: "DISP_E_UNKNOWNNAME", message: "Unknown name.", hint: "this Windows Update Agent does not know the member (too old, or not Microsoft's): run on a supported Windows"},
	0x80020009: {name: "DISP_E_EXCEPTION", message: "Exception occurred."},
	0x8002000E: {name: "DISP_E_BADPARAMCOUNT", message: "Invalid number of parameters."},
	0x80040154: {name: "REGDB_E_CLASSNOTREG", message: "Class not registered.", hint: "the Windows Update Agent is not installed"},
	0x80070002: {name: "ERROR_FILE_NOT_FOUND", message: "The system cannot find the file specified."},
	0x80070003: {name: "ERROR_PATH_NOT_FOUND", message: "The system cannot find the path specified."},
	0x80070005: {name: "E_ACCESSDENIED", message: "Access is denied.", hint: "run the agent as SYSTEM or an administrator, not from a remote session"},
	0x8007000E: {name: "E_OUTOFMEMORY", message: "Not enough memory resources are available to complete this operation."},
	0x80070057: {name: "E_INVALIDARG", message: "The parameter is incorrect."},
	0x80070070: {name: "ERROR_DISK_FULL", message: "There is not enough space on the disk.", hint: "free space on the system drive"},
	0x80070422: {name: "ERROR_SERVICE_DISABLED", message: "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.", kind: kindService, hint: "the Windows Update service (wuauserv) is disabled: the agent enables it for each operation; check that nothing disables it meanwhile"},
	0x8007045B: {name: "ERROR_SHUTDOWN_IN_PROGRESS", message: "A system shutdown is in progress.", kind: kindService},
	0x800705B4: {name: "ERROR_TIMEOUT", message: "This operation returned because the timeout period expired."},
	0x80070652: {name: "ERROR_INSTALL_ALREADY_RUNNING", message: "Another installation is already in progress. Complete that installation before proceeding with this install.", kind: kindBusy, hint: "retry when the other installation has finished"},
	0x800706BA: {name: "RPC_S_SERVER_UNAVAILABLE", message: "The RPC server is unavailable.", kind: kindService},
	0x800706BE: {name: "RPC_S_CALL_FAILED", message: "The remote procedure call failed.", kind: kindService},
	0x80070BC2: {name: "ERROR_SUCCESS_REBOOT_REQUIRED", message: "The requested operation is successful. Changes will not be effective until the system is rebooted.", kind: kindReboot},
	0x80070BC9: {name: "ERROR_FAIL_REBOOT_REQUIRED", message: "The requested operation failed. A system reboot is required to roll back changes made.", kind: kindReboot, hint: "restart the computer, then install again"},
	0x80073712: {name: "ERROR_SXS_COMPONENT_STORE_CORRUPT", message: "The component store has been corrupted.", hint: "repair it with DISM /Online /Cleanup-Image /RestoreHealth"},
	0x800F081F: {name: "CBS_E_SOURCE_MISSING", message: "The source files could not be found."},
	0x800F0831: {name: "CBS_E_STORE_CORRUPTION", message: "The component store is corrupted.", hint: "repair it with DISM /Online /Cleanup-Image /RestoreHealth"},
	0x800F0922: {name: "CBS_E_INSTALLERS_FAILED", message: "Processing advanced installers and generic commands failed."},
}

// Failed reports whether the code is an error (severity bit set).
func (h HResult) Failed() bool { return h&0x80000000 != 0 }

// Facility is the HRESULT's facility (0x24 Windows Update, 7 Win32).
func (h HResult) Facility() uint32 { return uint32(h>>16) & 0x1FFF }

// Name is the symbolic name ("WU_E_ALL_UPDATES_FAILED"), empty when unknown.
func (h HResult) Name() string { return hresults[h].name }

// Message is Microsoft's description of the code, or a generic one for unknown codes.
func (h HResult) Message() string {
	if info, ok := hresults[h]; ok {
		return info.message
	}
	switch {
	case !h.Failed():
		return "Success."
	case h.Facility() == facilityWindowsUpdate:
		return fmt.Sprintf("Windows Update error 0x%04X, not in our table (look it up in Microsoft's \"Windows Update error codes\").", uint32(h)&0xFFFF)
	case h.Facility() == facilityWin32:
		return fmt.Sprintf("Windows system error %d.", uint32(h)&0xFFFF)
	}
	return "Unknown error."
}

// Hint says what to do about the code, when there is something to do.
func (h HResult) Hint() string { return hresults[h].hint }

// String renders "0x80240022 WU_E_ALL_UPDATES_FAILED: Operation failed for all the updates."
func (h HResult) String() string {
	if name := h.Name(); name != "" {
		return fmt.Sprintf("0x%08X %s: %s", uint32(h), name, h.Message())
	}
	return fmt.Sprintf("0x%08X: %s", uint32(h), h.Message())
}

// Busy reports whether the code means that another WUA client holds the agent.
func (h HResult) Busy() bool { return hresults[h].kind == kindBusy }

// RebootPending reports whether the code means that a restart is pending.
func (h HResult) RebootPending() bool { return hresults[h].kind == kindReboot }

// ServiceUnavailable reports whether the code means that wuauserv is not available.
func (h HResult) ServiceUnavailable() bool { return hresults[h].kind == kindService }

// ParseHResult reads "0x80240022", "80240022" (eight hexadecimal digits without prefix
// are hexadecimal), or a decimal value, signed ("-2145124318") or not ("2149842978").
func ParseHResult(s string) (HResult, error) {
	t := strings.TrimSpace(s)
	hex := strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	if hex != t || wu.IsHex(t, 8) {
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil {
			return HResult(v), nil
		}
	} else if v, err := strconv.ParseInt(t, 10, 64); err == nil && v >= -(1<<31) && v <= 1<<32-1 {
		return HResult(uint32(v)), nil
	}
	return 0, fmt.Errorf("HRESULT %q: want a hexadecimal code like 0x80240022 or a decimal one like -2145124318", s)
}

// Error is a failed WUA operation with its HRESULT. errors.Is matches ErrBusy,
// ErrRebootPending and ErrServiceUnavailable according to the code.
type Error struct {
	Op   string  // what failed, in words: "scan", "install", "hide <key>"
	Code HResult // the HRESULT
	Err  error   // the underlying error (e.g. from COM), may be nil
}

func (e *Error) Error() string {
	msg := e.Op + ": " + e.Code.String()
	if hint := e.Code.Hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel that the code belongs to.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBusy:
		return e.Code.Busy()
	case ErrRebootPending:
		return e.Code.RebootPending()
	case ErrServiceUnavailable:
		return e.Code.ServiceUnavailable()
	}
	return false
}
