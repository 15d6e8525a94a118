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

// comError translates a go-ole error into a wua.Error with the HRESULT in words.
func comError(op string, err error) error {
	var oe *ole.OleError
	if !errors.As(err, &oe) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var scode uint32
	if ei, ok := oe.SubError().(ole.EXCEPINFO); ok {
		scode = ei.SCODE()
	}
	return comFailure(op, uint32(oe.Code()), scode, err)
}

// create makes a WUA automation object ("Microsoft.Update.Session" ...).
func create(progID string) (*ole.IDispatch, error) {
	unk, err := oleutil.CreateObject(progID)
	if err != nil {
		return nil, comError("create "+progID, err)
	}
	defer unk.Release()
	d, err := unk.QueryInterface(ole.IID_IDispatch)
	if err != nil {
		return nil, comError("create "+progID, err)
	}
	return d, nil
}

func put(d *ole.IDispatch, name string, v any) error {
	r, err := oleutil.PutProperty(d, name, v)
	if err != nil {
		return comError("set "+name, err)
	}
	r.Clear()
	return nil
}

// callObject calls a method (or reads a property when prop) that returns an object;
// the caller releases it. nil when WUA returned nothing.
func callObject(d *ole.IDispatch, name string, prop bool, args ...any) (*ole.IDispatch, error) {
	var v *ole.VARIANT
	var err error
	if prop {
		v, err = oleutil.GetProperty(d, name, args...)
	} else {
		v, err = oleutil.CallMethod(d, name, args...)
	}
	if err != nil {
		return nil, comError(name, err)
	}
	switch v.VT {
	case ole.VT_DISPATCH:
		return v.ToIDispatch(), nil // the VARIANT's reference becomes the caller's
	case ole.VT_EMPTY, ole.VT_NULL:
		return nil, nil
	}
	v.Clear()
	return nil, fmt.Errorf("%s: got VARIANT type %d, want an object", name, v.VT)
}

// scalar reads a property (or calls a method) that returns a plain value.
func scalar(d *ole.IDispatch, name string, prop bool, args ...any) (any, error) {
	var v *ole.VARIANT
	var err error
	if prop {
		v, err = oleutil.GetProperty(d, name, args...)
	} else {
		v, err = oleutil.CallMethod(d, name, args...)
	}
	if err != nil {
		return nil, comError(name, err)
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

// releaser releases the objects a translation walked through.
type releaser struct{ objs []*ole.IDispatch }

func (r *releaser) add(d *ole.IDispatch) *ole.IDispatch {
	if d != nil {
		r.objs = append(r.objs, d)
	}
	return d
}

func (r *releaser) release() {
	for i := len(r.objs) - 1; i >= 0; i-- {
		r.objs[i].Release()
	}
	r.objs = nil
}

// dispProps implements properties over IDispatch.
type dispProps struct {
	d   *ole.IDispatch
	rel *releaser
}

func (p dispProps) value(name string) (any, error) { return scalar(p.d, name, true) }

func (p dispProps) object(name string) (properties, error) {
	o, err := callObject(p.d, name, true)
	if err != nil || o == nil {
		return nil, err
	}
	return dispProps{d: p.rel.add(o), rel: p.rel}, nil
}

func (p dispProps) collection(name string) (*ole.IDispatch, int, error) {
	coll, err := callObject(p.d, name, true)
	if err != nil || coll == nil {
		return nil, 0, err
	}
	p.rel.add(coll)
	n, err := scalar(coll, "Count", true)
	if err != nil {
		return nil, 0, err
	}
	count, err := asInt64(n)
	if err != nil {
		return nil, 0, fmt.Errorf("Count: %w", err)
	}
	return coll, int(count), nil
}

func (p dispProps) items(name string) ([]properties, error) {
	coll, n, err := p.collection(name)
	if err != nil || coll == nil {
		return nil, err
	}
	out := make([]properties, 0, n)
	for i := 0; i < n; i++ {
		it, err := callObject(coll, "Item", true, int32(i))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		if it != nil {
			out = append(out, dispProps{d: p.rel.add(it), rel: p.rel})
		}
	}
	return out, nil
}

func (p dispProps) strings(name string) ([]string, error) {
	coll, n, err := p.collection(name)
	if err != nil || coll == nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		v, err := scalar(coll, "Item", true, int32(i))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		s, err := asString(v)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}
