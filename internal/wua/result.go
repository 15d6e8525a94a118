package wua

import (
	"errors"
	"fmt"

	"github.com/openwua/waptwua/internal/wu"
)

// ResultCode is WUA's OperationResultCode.
type ResultCode int

// Operation result codes.
const (
	NotStarted          ResultCode = 0
	InProgress          ResultCode = 1
	Succeeded           ResultCode = 2
	SucceededWithErrors ResultCode = 3
	Failed              ResultCode = 4
	Aborted             ResultCode = 5
)

var resultNames = [...]string{"NotStarted", "InProgress", "Succeeded", "SucceededWithErrors", "Failed", "Aborted"}

func (c ResultCode) String() string {
	if c >= 0 && int(c) < len(resultNames) {
		return resultNames[c]
	}
	return fmt.Sprintf("ResultCode(%d)", int(c))
}

// Succeeded reports whether the operation succeeded, possibly with errors.
func (c ResultCode) Succeeded() bool { return c == Succeeded || c == SucceededWithErrors }

// InstallResult is the outcome of one Install batch.
type InstallResult struct {
	ResultCode     ResultCode `json:"result_code"`
	HResult        HResult    `json:"hresult"`
	RebootRequired bool       `json:"reboot_required"`
	// Updates has one entry per requested key, in the order of the request.
	Updates []UpdateResult `json:"updates"`
}

// UpdateResult is the outcome for one update of a batch.
type UpdateResult struct {
	Key            wu.UpdateKey `json:"key"`
	ResultCode     ResultCode   `json:"result_code"`
	HResult        HResult      `json:"hresult"`
	RebootRequired bool         `json:"reboot_required"`
}

// Err is nil when the update was installed, else an error in words that names the
// update, the result and the HRESULT (an *Error when there is an HRESULT).
func (r UpdateResult) Err() error {
	if r.ResultCode.Succeeded() {
		return nil
	}
	op := fmt.Sprintf("install %s: %s", r.Key, r.ResultCode)
	if r.HResult == SOK {
		return errors.New(op)
	}
	return &Error{Op: op, Code: r.HResult}
}

// Err joins the errors of the updates that were not installed; nil when all were.
func (r InstallResult) Err() error {
	var errs []error
	for _, u := range r.Updates {
		if err := u.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Summarize fills the batch's ResultCode, HResult and RebootRequired from the
// per-update results, as WUA does: Succeeded when all succeeded, Failed (with
// WU_E_ALL_UPDATES_FAILED) when none did, SucceededWithErrors otherwise.
func Summarize(updates []UpdateResult) InstallResult {
	r := InstallResult{Updates: updates}
	ok := 0
	for _, u := range updates {
		if u.ResultCode.Succeeded() {
			ok++
		}
		r.RebootRequired = r.RebootRequired || u.RebootRequired
	}
	switch {
	case len(updates) == 0:
		r.ResultCode, r.HResult = Failed, WUENoUpdate
	case ok == len(updates):
		r.ResultCode = Succeeded
	case ok == 0:
		r.ResultCode, r.HResult = Failed, WUEAllUpdatesFailed
	default:
		r.ResultCode = SucceededWithErrors
	}
	return r
}
