//go:build windows

package windows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	ole "github.com/go-ole/go-ole"
	"github.com/go-ole/go-ole/oleutil"
	"golang.org/x/sys/windows/registry"

	"github.com/openwua/waptwua/internal/wua"
)

// worker runs closures on one OS thread on which COM is initialised: WUA's objects
// belong to the thread that created them.
type worker struct {
	calls chan func()
	quit  chan struct{}
	done  chan struct{}
	stop  sync.Once
}

func startWorker() (*worker, error) {
	w := &worker{calls: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go w.run(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

func (w *worker) run(ready chan<- error) {
	// Never unlocked: when this goroutine ends, its thread ends with it, COM state included.
	runtime.LockOSThread()
	defer close(w.done)
	if err := ole.CoInitializeEx(0, ole.COINIT_MULTITHREADED); err != nil {
		var oe *ole.OleError
		// S_FALSE: COM was already initialised on this thread, in the same mode.
		if !errors.As(err, &oe) || uint32(oe.Code()) != 1 {
			ready <- comError("COM initialisation", err)
			return
		}
	}
	defer ole.CoUninitialize()
	ready <- nil
	for {
		select {
		case f := <-w.calls:
			f()
		case <-w.quit:
			return
		}
	}
}

// do runs f on the COM thread and waits for it. ctx is checked before f starts; f
// checks it between COM calls (a COM call itself cannot be interrupted).
func (w *worker) do(ctx context.Context, f func() error) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	res := make(chan error, 1)
	call := func() { res <- protect(f) }
	select {
	case w.calls <- call:
	case <-w.quit:
		return wua.ErrClosed
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return <-res
}

// protect turns a panic inside go-ole (it panics on argument types it does not know)
// into an error, so that the COM thread survives.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("COM call failed: %v", r)
		}
	}()
	return f()
}

// shutdown stops the COM thread and waits for it.
func (w *worker) shutdown() {
	w.stop.Do(func() { close(w.quit) })
	<-w.done
}

// oleError turns a go-ole error into a callError with its HRESULT.
func oleError(err error) error {
	var oe *ole.OleError
	if !errors.As(err, &oe) {
		return err
	}
	var scode uint32
	if ei, ok := oe.SubError().(ole.EXCEPINFO); ok {
		scode = ei.SCODE()
	}
	return &callError{HResult: uint32(oe.Code()), SCode: scode, Err: err}
}

// comError is the error of a COM call outside a dispatch (initialisation).
func comError(op string, err error) error {
	var ce *callError
	if errors.As(oleError(err), &ce) {
		return comFailure(op, ce.HResult, ce.SCode, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// oleCOM implements comAPI with go-ole. Its methods run on the worker's thread.
type oleCOM struct{}

func (oleCOM) Create(progID string) (dispatch, error) {
	unk, err := oleutil.CreateObject(progID)
	if err != nil {
		return nil, oleError(err)
	}
	defer unk.Release()
	d, err := unk.QueryInterface(ole.IID_IDispatch)
	if err != nil {
		return nil, oleError(err)
	}
	return oleDispatch{d: d}, nil
}

// oleDispatch implements dispatch over IDispatch.
type oleDispatch struct{ d *ole.IDispatch }

// oleArgs hands go-ole the IDispatch of each oleDispatch argument.
func oleArgs(args []any) []any { return unwrapAll(args, func(x oleDispatch) any { return x.d }) }

func (o oleDispatch) Get(member string, args ...any) (any, error) {
	v, err := oleutil.GetProperty(o.d, member, oleArgs(args)...)
	if err != nil {
		return nil, oleError(err)
	}
	return result(v)
}

func (o oleDispatch) Put(member string, value any) error {
	v, err := oleutil.PutProperty(o.d, member, oleArgs([]any{value})...)
	if err != nil {
		return oleError(err)
	}
	v.Clear()
	return nil
}

func (o oleDispatch) Call(member string, args ...any) (any, error) {
	v, err := oleutil.CallMethod(o.d, member, oleArgs(args)...)
	if err != nil {
		return nil, oleError(err)
	}
	return result(v)
}

func (o oleDispatch) Release() { o.d.Release() }

// result extracts a VARIANT: an object becomes an oleDispatch that owns the VARIANT's
// reference; a scalar becomes a Go value (see convert.go).
func result(v *ole.VARIANT) (any, error) {
	if v.VT == ole.VT_DISPATCH {
		d := v.ToIDispatch()
		if d == nil {
			return nil, nil
		}
		return oleDispatch{d: d}, nil
	}
	defer v.Clear()
	return variantValue(v)
}

// variantValue extracts a scalar VARIANT into the values the properties interface
// promises (see convert.go).
func variantValue(v *ole.VARIANT) (any, error) {
	switch v.VT {
	case ole.VT_EMPTY, ole.VT_NULL:
		return nil, nil
	case ole.VT_DATE:
		return oleDate(math.Float64frombits(uint64(v.Val))), nil
	case ole.VT_DECIMAL:
		return decimal(*(*[16]byte)(unsafe.Pointer(v))), nil
	case ole.VT_BSTR, ole.VT_BOOL, ole.VT_I1, ole.VT_UI1, ole.VT_I2, ole.VT_UI2, ole.VT_I4,
		ole.VT_UI4, ole.VT_I8, ole.VT_UI8, ole.VT_INT, ole.VT_UINT, ole.VT_R4, ole.VT_R8:
		return v.Value(), nil
	}
	return nil, fmt.Errorf("unexpected VARIANT type %d", v.VT)
}

// New starts the COM thread and opens an update session. Run as SYSTEM or an
// administrator in the console session: WUA refuses remote sessions.
func New(opts Options) (*Agent, error) {
	w, err := startWorker()
	if err != nil {
		return nil, err
	}
	return newAgent(oleCOM{}, w.do, w.shutdown, registryMarkers, opts)
}

// registryMarkers reports which reboot-pending keys exist under HKLM.
func registryMarkers() map[string]bool {
	markers := map[string]bool{}
	for _, path := range rebootMarkers() {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
		if err == nil {
			k.Close()
			markers[path] = true
		}
	}
	return markers
}
