package windows

import (
	"errors"
	"fmt"
)

// dispatch is one automation object reached by late binding (IDispatch): its members
// are named, as in a script. It is the only door to COM: the go-ole adapter
// (com_windows.go) implements it on Windows, and the tests implement it with a scripted
// fake of the WUA object model that checks every member name and argument type against
// Microsoft's documentation.
//
// Arguments are string, bool, int32 or dispatch. Results are nil (VT_EMPTY, VT_NULL),
// a scalar (string, bool, an integer type, float64, oleDate, decimal) or a dispatch,
// which the caller releases. A failed call returns a *callError.
type dispatch interface {
	// Get reads a property (with arguments: an indexed property such as Item(i)).
	Get(member string, args ...any) (any, error)
	// Put writes a property.
	Put(member string, value any) error
	// Call invokes a method.
	Call(member string, args ...any) (any, error)
	// Release drops the reference.
	Release()
}

// comAPI creates automation objects by ProgID ("Microsoft.Update.Session").
type comAPI interface {
	Create(progID string) (dispatch, error)
}

// callError is how a dispatch reports a failed call: its HRESULT and, when that is
// DISP_E_EXCEPTION, the SCODE of the EXCEPINFO (0: none).
type callError struct {
	HResult uint32
	SCode   uint32
	Err     error // the adapter's own error, may be nil
}

func (e *callError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("HRESULT 0x%08X", e.HResult)
}

func (e *callError) Unwrap() error { return e.Err }

// progIfaces names the interface each ProgID gives, for error messages.
var progIfaces = map[string]string{
	progSession:        "IUpdateSession",
	progServiceManager: "IUpdateServiceManager",
	progStringColl:     "IStringCollection",
	progUpdateColl:     "IUpdateCollection",
	progSystemInfo:     "ISystemInformation",
}

// The ProgIDs the backend creates.
const (
	progSession        = "Microsoft.Update.Session"
	progServiceManager = "Microsoft.Update.ServiceManager"
	progStringColl     = "Microsoft.Update.StringColl"
	progUpdateColl     = "Microsoft.Update.UpdateColl"
	progSystemInfo     = "Microsoft.Update.SystemInfo"
)

// returnsIface names the interface of the object a member returns, so that every error
// names the COM call as Microsoft documents it ("IUpdateSearcher.Search").
var returnsIface = map[string]string{
	"IUpdateSession.CreateUpdateSearcher":         "IUpdateSearcher",
	"IUpdateSession.CreateUpdateInstaller":        "IUpdateInstaller",
	"IUpdateServiceManager.AddScanPackageService": "IUpdateService",
	"IUpdateSearcher.Search":                      "ISearchResult",
	"ISearchResult.Updates":                       "IUpdateCollection",
	"IUpdateCollection.Item":                      "IUpdate",
	"IUpdate.Identity":                            "IUpdateIdentity",
	"IUpdate.Categories":                          "ICategoryCollection",
	"ICategoryCollection.Item":                    "ICategory",
	"IUpdate.InstallationBehavior":                "IInstallationBehavior",
	"IUpdate.DownloadContents":                    "IUpdateDownloadContentCollection",
	"IUpdateDownloadContentCollection.Item":       "IUpdateDownloadContent",
	"IUpdate.BundledUpdates":                      "IUpdateCollection",
	"IUpdate.KBArticleIDs":                        "IStringCollection",
	"IUpdate.SupersededUpdateIDs":                 "IStringCollection",
	"IUpdateInstaller.Install":                    "IInstallationResult",
	"IInstallationResult.GetUpdateResult":         "IUpdateInstallationResult",
}

// obj is a dispatch with the name of its interface.
type obj struct {
	d     dispatch
	iface string
}

func (o obj) op(member string) string {
	if o.iface == "" {
		return member
	}
	return o.iface + "." + member
}

// fail turns the error of a call into a wua.Error naming the call and its HRESULT.
func (o obj) fail(verb, member string, err error) error {
	op := o.op(member)
	if verb != "" {
		op = verb + " " + op
	}
	var ce *callError
	if errors.As(err, &ce) {
		return comFailure(op, ce.HResult, ce.SCode, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// wrap names the object a member returned.
func (o obj) wrap(member string, v any) any {
	if d, ok := v.(dispatch); ok {
		return obj{d: d, iface: returnsIface[o.iface+"."+member]}
	}
	return v
}

// unwrapAll replaces each argument of type W by unwrap of it (the wrappers of a layer
// hand the layer below its own values).
func unwrapAll[W any](args []any, unwrap func(W) any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if x, ok := a.(W); ok {
			a = unwrap(x)
		}
		out[i] = a
	}
	return out
}

// unwrapArgs hands plain dispatches to the adapter.
func unwrapArgs(args []any) []any { return unwrapAll(args, func(x obj) any { return x.d }) }

func (o obj) get(member string, args ...any) (any, error) {
	v, err := o.d.Get(member, unwrapArgs(args)...)
	if err != nil {
		return nil, o.fail("", member, err)
	}
	return o.wrap(member, v), nil
}

func (o obj) put(member string, v any) error {
	if x, ok := v.(obj); ok {
		v = x.d
	}
	if err := o.d.Put(member, v); err != nil {
		return o.fail("set", member, err)
	}
	return nil
}

func (o obj) call(member string, args ...any) (any, error) {
	v, err := o.d.Call(member, unwrapArgs(args)...)
	if err != nil {
		return nil, o.fail("", member, err)
	}
	return o.wrap(member, v), nil
}

func (o obj) release() {
	if o.d != nil {
		o.d.Release()
	}
}

// asObject checks that a member gave an object; nil (ok) when it gave nothing.
func (o obj) asObject(member string, v any) (obj, bool, error) {
	switch x := v.(type) {
	case nil:
		return obj{}, false, nil
	case obj:
		return x, true, nil
	}
	return obj{}, false, fmt.Errorf("%s: got %T, want an object", o.op(member), v)
}

// getObject reads a property that holds an object (false: empty).
func (o obj) getObject(member string, args ...any) (obj, bool, error) {
	v, err := o.get(member, args...)
	if err != nil {
		return obj{}, false, err
	}
	return o.asObject(member, v)
}

// callObject calls a method that returns an object (false: it returned nothing).
func (o obj) callObject(member string, args ...any) (obj, bool, error) {
	v, err := o.call(member, args...)
	if err != nil {
		return obj{}, false, err
	}
	return o.asObject(member, v)
}

// releaser releases the objects a translation walked through.
type releaser struct{ objs []obj }

func (r *releaser) add(o obj) obj {
	if o.d != nil {
		r.objs = append(r.objs, o)
	}
	return o
}

func (r *releaser) release() {
	for i := len(r.objs) - 1; i >= 0; i-- {
		r.objs[i].release()
	}
	r.objs = nil
}

// objProps implements properties over a dispatch.
type objProps struct {
	o   obj
	rel *releaser
}

func (p objProps) value(name string) (any, error) {
	v, err := p.o.get(name)
	if err != nil {
		return nil, err
	}
	if x, ok := v.(obj); ok {
		x.release()
		return nil, fmt.Errorf("%s: got an object, want a value", p.o.op(name))
	}
	return v, nil
}

func (p objProps) object(name string) (properties, error) {
	o, ok, err := p.o.getObject(name)
	if err != nil || !ok {
		return nil, err
	}
	return objProps{o: p.rel.add(o), rel: p.rel}, nil
}

// collection reads a collection property and its Count.
func (p objProps) collection(name string) (obj, int, error) {
	coll, ok, err := p.o.getObject(name)
	if err != nil || !ok {
		return obj{}, 0, err
	}
	p.rel.add(coll)
	n, err := coll.get("Count")
	if err != nil {
		return obj{}, 0, err
	}
	count, err := asInt64(n)
	if err != nil {
		return obj{}, 0, fmt.Errorf("%s: %w", coll.op("Count"), err)
	}
	if count < 0 {
		return obj{}, 0, fmt.Errorf("%s: %d", coll.op("Count"), count)
	}
	return coll, int(count), nil
}

func (p objProps) items(name string) ([]properties, error) {
	coll, n, err := p.collection(name)
	if err != nil || coll.d == nil {
		return nil, err
	}
	out := make([]properties, 0, n)
	for i := 0; i < n; i++ {
		it, ok, err := coll.getObject("Item", int32(i))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		if ok {
			out = append(out, objProps{o: p.rel.add(it), rel: p.rel})
		}
	}
	return out, nil
}

func (p objProps) strings(name string) ([]string, error) {
	coll, n, err := p.collection(name)
	if err != nil || coll.d == nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		v, err := coll.get("Item", int32(i))
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
