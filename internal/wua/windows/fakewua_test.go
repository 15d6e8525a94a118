package windows

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// A scripted fake of the Windows Update Agent's automation object model, built from
// Microsoft's documentation (learn.microsoft.com, "Windows Update Agent API"
// reference: wuapi.h). Every Get, Put and Call is checked against docMembers: a member
// that is not documented fails with DISP_E_UNKNOWNNAME, a property written that is
// read-only with DISP_E_MEMBERNOTFOUND, a wrong number of arguments with
// DISP_E_BADPARAMCOUNT and a wrong argument type with DISP_E_TYPEMISMATCH, as IDispatch
// does. So a misspelt member or a wrong argument type in the backend fails on Linux.

// HRESULTs of IDispatch::Invoke and CoCreateInstance.
const (
	dispEMemberNotFound = 0x80020003
	dispETypeMismatch   = 0x80020005
	dispEUnknownName    = 0x80020006
	dispEException      = 0x80020009
	dispEBadParamCount  = 0x8002000E
	regdbEClassNotReg   = 0x80040154
	eNotImpl            = 0x80004001
)

type memberKind uint8

const (
	propGet    memberKind = 1 << iota // propget
	propPut                           // propput
	method                            // a method
	propGetPut = propGet | propPut
)

// member is one documented member: kind, argument types (BSTR, LONG, VARIANT_BOOL,
// LCID, an enum as LONG, or an interface name) and result type.
type member struct {
	kind memberKind
	args []string
	ret  string
}

// docMembers: the documented members of the interfaces the backend reaches (and of
// their derived interfaces IUpdate2, IUpdateInstaller2, IUpdateSearcher2/3). Members
// the backend has no reason to use are listed too, so that the table is Microsoft's and
// not a copy of what the code calls.
var docMembers = map[string]map[string]member{
	"IUpdateSession": {
		"ClientApplicationID":        {kind: propGetPut, ret: "BSTR"},
		"ReadOnly":                   {kind: propGet, ret: "VARIANT_BOOL"},
		"WebProxy":                   {kind: propGetPut, ret: "IWebProxy"},
		"UserLocale":                 {kind: propGetPut, ret: "LCID"}, // IUpdateSession2
		"CreateUpdateSearcher":       {kind: method, ret: "IUpdateSearcher"},
		"CreateUpdateDownloader":     {kind: method, ret: "IUpdateDownloader"},
		"CreateUpdateInstaller":      {kind: method, ret: "IUpdateInstaller"},
		"CreateUpdateServiceManager": {kind: method, ret: "IUpdateServiceManager2"}, // IUpdateSession3
	},
	"IUpdateServiceManager": {
		"Services":                {kind: propGet, ret: "IUpdateServiceCollection"},
		"AddService":              {kind: method, args: []string{"BSTR", "BSTR"}, ret: "IUpdateService"},
		"RegisterServiceWithAU":   {kind: method, args: []string{"BSTR"}},
		"RemoveService":           {kind: method, args: []string{"BSTR"}},
		"UnregisterServiceWithAU": {kind: method, args: []string{"BSTR"}},
		"AddScanPackageService":   {kind: method, args: []string{"BSTR", "BSTR", "LONG"}, ret: "IUpdateService"},
		"SetOption":               {kind: method, args: []string{"BSTR", "VARIANT"}},
	},
	"IUpdateService": {
		"Name":                  {kind: propGet, ret: "BSTR"},
		"ServiceID":             {kind: propGet, ret: "BSTR"},
		"IsManaged":             {kind: propGet, ret: "VARIANT_BOOL"},
		"IsScanPackageService":  {kind: propGet, ret: "VARIANT_BOOL"},
		"IsRegisteredWithAU":    {kind: propGet, ret: "VARIANT_BOOL"},
		"OffersWindowsUpdates":  {kind: propGet, ret: "VARIANT_BOOL"},
		"ServiceUrl":            {kind: propGet, ret: "BSTR"},
		"SetupPrefix":           {kind: propGet, ret: "BSTR"},
		"CanRegisterWithAU":     {kind: propGet, ret: "VARIANT_BOOL"},
		"IssueDate":             {kind: propGet, ret: "DATE"},
		"ExpirationDate":        {kind: propGet, ret: "DATE"},
		"ContentValidationCert": {kind: propGet, ret: "VARIANT"},
		"RedirectUrls":          {kind: propGet, ret: "IStringCollection"},
	},
	"IUpdateSearcher": {
		"CanAutomaticallyUpgradeService":      {kind: propGetPut, ret: "VARIANT_BOOL"},
		"ClientApplicationID":                 {kind: propGetPut, ret: "BSTR"},
		"IncludePotentiallySupersededUpdates": {kind: propGetPut, ret: "VARIANT_BOOL"},
		"ServerSelection":                     {kind: propGetPut, ret: "ServerSelection"},
		"Online":                              {kind: propGetPut, ret: "VARIANT_BOOL"},
		"ServiceID":                           {kind: propGetPut, ret: "BSTR"},
		"IgnoreDownloadPriority":              {kind: propGetPut, ret: "VARIANT_BOOL"}, // IUpdateSearcher2
		"SearchScope":                         {kind: propGetPut, ret: "SearchScope"},  // IUpdateSearcher3
		"Search":                              {kind: method, args: []string{"BSTR"}, ret: "ISearchResult"},
		"BeginSearch":                         {kind: method, args: []string{"BSTR", "IUnknown", "VARIANT"}, ret: "ISearchJob"},
		"EndSearch":                           {kind: method, args: []string{"ISearchJob"}, ret: "ISearchResult"},
		"EscapeString":                        {kind: method, args: []string{"BSTR"}, ret: "BSTR"},
		"QueryHistory":                        {kind: method, args: []string{"LONG", "LONG"}, ret: "IUpdateHistoryEntryCollection"},
		"GetTotalHistoryCount":                {kind: method, ret: "LONG"},
	},
	"ISearchResult": {
		"ResultCode":     {kind: propGet, ret: "OperationResultCode"},
		"RootCategories": {kind: propGet, ret: "ICategoryCollection"},
		"Updates":        {kind: propGet, ret: "IUpdateCollection"},
		"Warnings":       {kind: propGet, ret: "IUpdateExceptionCollection"},
	},
	"IUpdateCollection": {
		"Count":    {kind: propGet, ret: "LONG"},
		"Item":     {kind: propGetPut, args: []string{"LONG"}, ret: "IUpdate"},
		"ReadOnly": {kind: propGet, ret: "VARIANT_BOOL"},
		"Add":      {kind: method, args: []string{"IUpdate"}, ret: "LONG"},
		"Clear":    {kind: method},
		"Copy":     {kind: method, ret: "IUpdateCollection"},
		"Insert":   {kind: method, args: []string{"LONG", "IUpdate"}},
		"RemoveAt": {kind: method, args: []string{"LONG"}},
	},
	"IStringCollection": {
		"Count":    {kind: propGet, ret: "LONG"},
		"Item":     {kind: propGetPut, args: []string{"LONG"}, ret: "BSTR"},
		"ReadOnly": {kind: propGet, ret: "VARIANT_BOOL"},
		"Add":      {kind: method, args: []string{"BSTR"}, ret: "LONG"},
		"Clear":    {kind: method},
		"Copy":     {kind: method, ret: "IStringCollection"},
		"Insert":   {kind: method, args: []string{"LONG", "BSTR"}},
		"RemoveAt": {kind: method, args: []string{"LONG"}},
	},
	"IUpdate": {
		"Title":                    {kind: propGet, ret: "BSTR"},
		"AutoSelectOnWebSites":     {kind: propGet, ret: "VARIANT_BOOL"},
		"BundledUpdates":           {kind: propGet, ret: "IUpdateCollection"},
		"CanRequireSource":         {kind: propGet, ret: "VARIANT_BOOL"},
		"Categories":               {kind: propGet, ret: "ICategoryCollection"},
		"Deadline":                 {kind: propGet, ret: "VARIANT"},
		"Description":              {kind: propGet, ret: "BSTR"},
		"EulaAccepted":             {kind: propGet, ret: "VARIANT_BOOL"},
		"EulaText":                 {kind: propGet, ret: "BSTR"},
		"HandlerID":                {kind: propGet, ret: "BSTR"},
		"Identity":                 {kind: propGet, ret: "IUpdateIdentity"},
		"InstallationBehavior":     {kind: propGet, ret: "IInstallationBehavior"},
		"IsBeta":                   {kind: propGet, ret: "VARIANT_BOOL"},
		"IsDownloaded":             {kind: propGet, ret: "VARIANT_BOOL"},
		"IsHidden":                 {kind: propGetPut, ret: "VARIANT_BOOL"},
		"IsInstalled":              {kind: propGet, ret: "VARIANT_BOOL"},
		"IsMandatory":              {kind: propGet, ret: "VARIANT_BOOL"},
		"IsUninstallable":          {kind: propGet, ret: "VARIANT_BOOL"},
		"Languages":                {kind: propGet, ret: "IStringCollection"},
		"LastDeploymentChangeTime": {kind: propGet, ret: "DATE"},
		"MaxDownloadSize":          {kind: propGet, ret: "DECIMAL"},
		"MinDownloadSize":          {kind: propGet, ret: "DECIMAL"},
		"MoreInfoUrls":             {kind: propGet, ret: "IStringCollection"},
		"MsrcSeverity":             {kind: propGet, ret: "BSTR"},
		"SecurityBulletinIDs":      {kind: propGet, ret: "IStringCollection"},
		"SupersededUpdateIDs":      {kind: propGet, ret: "IStringCollection"},
		"SupportUrl":               {kind: propGet, ret: "BSTR"},
		"Type":                     {kind: propGet, ret: "UpdateType"},
		"KBArticleIDs":             {kind: propGet, ret: "IStringCollection"},
		"DeploymentAction":         {kind: propGet, ret: "DeploymentAction"},
		"DownloadContents":         {kind: propGet, ret: "IUpdateDownloadContentCollection"},
		"DownloadPriority":         {kind: propGet, ret: "DownloadPriority"},
		"AcceptEula":               {kind: method},
		"CopyFromCache":            {kind: method, args: []string{"BSTR", "VARIANT_BOOL"}},
		// IUpdate2
		"RebootRequired": {kind: propGet, ret: "VARIANT_BOOL"},
		"IsPresent":      {kind: propGet, ret: "VARIANT_BOOL"},
		"CveIDs":         {kind: propGet, ret: "IStringCollection"},
		"CopyToCache":    {kind: method, args: []string{"IStringCollection"}},
	},
	"IUpdateIdentity": {
		"RevisionNumber": {kind: propGet, ret: "LONG"},
		"UpdateID":       {kind: propGet, ret: "BSTR"},
	},
	"ICategoryCollection": {
		"Count": {kind: propGet, ret: "LONG"},
		"Item":  {kind: propGet, args: []string{"LONG"}, ret: "ICategory"},
	},
	"ICategory": {
		"CategoryID":  {kind: propGet, ret: "BSTR"},
		"Children":    {kind: propGet, ret: "ICategoryCollection"},
		"Description": {kind: propGet, ret: "BSTR"},
		"Name":        {kind: propGet, ret: "BSTR"},
		"Order":       {kind: propGet, ret: "LONG"},
		"Parent":      {kind: propGet, ret: "ICategory"},
		"Type":        {kind: propGet, ret: "BSTR"},
		"Updates":     {kind: propGet, ret: "IUpdateCollection"},
	},
	"IInstallationBehavior": {
		"CanRequestUserInput":         {kind: propGet, ret: "VARIANT_BOOL"},
		"Impact":                      {kind: propGet, ret: "InstallationImpact"},
		"RebootBehavior":              {kind: propGet, ret: "InstallationRebootBehavior"},
		"RequiresNetworkConnectivity": {kind: propGet, ret: "VARIANT_BOOL"},
	},
	"IUpdateDownloadContentCollection": {
		"Count": {kind: propGet, ret: "LONG"},
		"Item":  {kind: propGet, args: []string{"LONG"}, ret: "IUpdateDownloadContent"},
	},
	"IUpdateDownloadContent": {
		"DownloadUrl":              {kind: propGet, ret: "BSTR"},
		"IsDeltaCompressedContent": {kind: propGet, ret: "VARIANT_BOOL"}, // IUpdateDownloadContent2
	},
	"IUpdateInstaller": {
		"ClientApplicationID":              {kind: propGetPut, ret: "BSTR"},
		"IsForced":                         {kind: propGetPut, ret: "VARIANT_BOOL"},
		"ParentHwnd":                       {kind: propGetPut, ret: "HWND"},
		"ParentWindow":                     {kind: propGetPut, ret: "IUnknown"},
		"Updates":                          {kind: propGetPut, ret: "IUpdateCollection"},
		"AllowSourcePrompts":               {kind: propGetPut, ret: "VARIANT_BOOL"},
		"IsBusy":                           {kind: propGet, ret: "VARIANT_BOOL"},
		"RebootRequiredBeforeInstallation": {kind: propGet, ret: "VARIANT_BOOL"},
		"BeginInstall":                     {kind: method, args: []string{"IUnknown", "IUnknown", "VARIANT"}, ret: "IInstallationJob"},
		"BeginUninstall":                   {kind: method, args: []string{"IUnknown", "IUnknown", "VARIANT"}, ret: "IInstallationJob"},
		"EndInstall":                       {kind: method, args: []string{"IInstallationJob"}, ret: "IInstallationResult"},
		"EndUninstall":                     {kind: method, args: []string{"IInstallationJob"}, ret: "IInstallationResult"},
		"Install":                          {kind: method, ret: "IInstallationResult"},
		"RunWizard":                        {kind: method, args: []string{"BSTR"}, ret: "IInstallationResult"},
		"Uninstall":                        {kind: method, ret: "IInstallationResult"},
		"ForceQuiet":                       {kind: propGetPut, ret: "VARIANT_BOOL"}, // IUpdateInstaller2
		"AttemptCloseAppsIfNecessary":      {kind: propGetPut, ret: "VARIANT_BOOL"}, // IUpdateInstaller3
	},
	"IInstallationResult": {
		"HResult":         {kind: propGet, ret: "LONG"},
		"RebootRequired":  {kind: propGet, ret: "VARIANT_BOOL"},
		"ResultCode":      {kind: propGet, ret: "OperationResultCode"},
		"GetUpdateResult": {kind: method, args: []string{"LONG"}, ret: "IUpdateInstallationResult"},
	},
	"IUpdateInstallationResult": {
		"HResult":        {kind: propGet, ret: "LONG"},
		"RebootRequired": {kind: propGet, ret: "VARIANT_BOOL"},
		"ResultCode":     {kind: propGet, ret: "OperationResultCode"},
	},
	"ISystemInformation": {
		"OemHardwareSupportLink": {kind: propGet, ret: "BSTR"},
		"RebootRequired":         {kind: propGet, ret: "VARIANT_BOOL"},
	},
}

// docProgIDs: the coclasses the backend may create, and the interface each gives.
var docProgIDs = map[string]string{
	"Microsoft.Update.Session":        "IUpdateSession",
	"Microsoft.Update.ServiceManager": "IUpdateServiceManager",
	"Microsoft.Update.StringColl":     "IStringCollection",
	"Microsoft.Update.UpdateColl":     "IUpdateCollection",
	"Microsoft.Update.SystemInfo":     "ISystemInformation",
	"Microsoft.Update.Searcher":       "IUpdateSearcher",
	"Microsoft.Update.Installer":      "IUpdateInstaller",
}

// argOK checks one argument against its documented type.
func argOK(typ string, v any) bool {
	switch typ {
	case "BSTR":
		_, ok := v.(string)
		return ok
	case "LONG", "ServerSelection":
		_, ok := v.(int32)
		return ok
	case "LCID":
		switch v.(type) {
		case int32, uint32:
			return true
		}
		return false
	case "VARIANT_BOOL":
		_, ok := v.(bool)
		return ok
	case "VARIANT":
		return true
	}
	o, ok := v.(*fakeObj)
	return ok && o.iface == typ
}

// fakeUpdate scripts one update of the fake host.
type fakeUpdate struct {
	key       wu.UpdateKey
	title     string
	kbs       []string
	installed bool
	hidden    bool
	eula      bool // EulaAccepted
	reboot    int32
	files     []string // DownloadContents URLs (own files)
	bundled   []*fakeUpdate
	// result is what installing it gives: ResultCode, HResult, RebootRequired.
	resultCode int32
	hresult    int32
	rebootReq  bool

	cached []string // what CopyToCache received
}

// fakeWUA is the host: its updates, its state, the scripted failures and the log.
type fakeWUA struct {
	updates        []*fakeUpdate
	rebootRequired bool
	busy           bool
	rebootBefore   bool
	// fail makes "IFace.Member" fail with the HRESULT (through DISP_E_EXCEPTION when
	// exception is set, as WUA reports most of its errors).
	fail      map[string]uint32
	exception bool
	// notImplemented lists members that fail E_NOTIMPL like Wine's wuapi.
	notImplemented []string

	services   map[string]string // service id -> cab path
	nextID     int
	criteria   []string
	installLog [][]wu.UpdateKey
	calls      map[string]int
	live       int // references handed out and not released
}

func newFakeWUA(updates ...*fakeUpdate) *fakeWUA {
	return &fakeWUA{updates: updates, fail: map[string]uint32{}, services: map[string]string{}, calls: map[string]int{}}
}

// runDirect is the runner of tests: no COM thread.
func runDirect(ctx context.Context, f func() error) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return f()
}

func (w *fakeWUA) Create(progID string) (dispatch, error) {
	iface, ok := docProgIDs[progID]
	if !ok {
		return nil, &callError{HResult: regdbEClassNotReg}
	}
	w.calls["create "+progID]++
	if code, ok := w.fail["create "+progID]; ok {
		return nil, &callError{HResult: code}
	}
	o := w.newObj(iface)
	switch iface {
	case "IStringCollection", "IUpdateCollection":
		o.list = []any{}
	}
	return o, nil
}

// fakeObj is one object of the fake model.
type fakeObj struct {
	w     *fakeWUA
	iface string
	props map[string]any
	list  []any // the elements of a collection
	upd   *fakeUpdate
	// installer state
	updates *fakeObj
}

func (w *fakeWUA) newObj(iface string) *fakeObj {
	w.live++
	return &fakeObj{w: w, iface: iface, props: map[string]any{}}
}

func (o *fakeObj) Release() { o.w.live-- }

// check validates a call against the documentation and the script.
func (o *fakeObj) check(kind memberKind, name string, args []any) error {
	m, ok := docMembers[o.iface][name]
	if !ok {
		return &callError{HResult: dispEUnknownName, Err: fmt.Errorf("%s has no member %q", o.iface, name)}
	}
	if m.kind&kind == 0 {
		return &callError{HResult: dispEMemberNotFound, Err: fmt.Errorf("%s.%s cannot be used that way", o.iface, name)}
	}
	want := m.args
	if kind == propPut {
		want = append(slices.Clone(m.args), m.ret)
	}
	if len(args) != len(want) {
		return &callError{HResult: dispEBadParamCount, Err: fmt.Errorf("%s.%s takes %d arguments, got %d", o.iface, name, len(want), len(args))}
	}
	for i, a := range args {
		if !argOK(want[i], a) {
			return &callError{HResult: dispETypeMismatch, Err: fmt.Errorf("%s.%s argument %d: got %T, want %s", o.iface, name, i+1, a, want[i])}
		}
	}
	full := o.iface + "." + name
	o.w.calls[full]++
	if slices.Contains(o.w.notImplemented, full) {
		return &callError{HResult: eNotImpl}
	}
	if code, ok := o.w.fail[full]; ok {
		if o.w.exception {
			return &callError{HResult: dispEException, SCode: code}
		}
		return &callError{HResult: code}
	}
	return nil
}

func (o *fakeObj) ref(x *fakeObj) *fakeObj {
	o.w.live++
	return x
}

func (o *fakeObj) Get(name string, args ...any) (any, error) {
	if err := o.check(propGet, name, args); err != nil {
		return nil, err
	}
	switch {
	case name == "Count" && o.list != nil:
		return int32(len(o.list)), nil
	case name == "Item" && o.list != nil:
		i := int(args[0].(int32))
		if i < 0 || i >= len(o.list) {
			return nil, &callError{HResult: 0x80240007} // WU_E_INVALIDINDEX
		}
		if x, ok := o.list[i].(*fakeObj); ok {
			return o.ref(x), nil
		}
		return o.list[i], nil
	}
	if o.upd != nil {
		if v, ok := o.updateProp(name); ok {
			return v, nil
		}
	}
	switch o.iface + "." + name {
	case "ISystemInformation.RebootRequired":
		return o.w.rebootRequired, nil
	case "IUpdateInstaller.IsBusy":
		return o.w.busy, nil
	case "IUpdateInstaller.RebootRequiredBeforeInstallation":
		return o.w.rebootBefore, nil
	}
	v := o.props[name]
	if x, ok := v.(*fakeObj); ok {
		return o.ref(x), nil
	}
	return v, nil
}

// updateProp answers the IUpdate properties from the script.
func (o *fakeObj) updateProp(name string) (any, bool) {
	u := o.upd
	switch name {
	case "Identity":
		id := o.w.newObj("IUpdateIdentity")
		id.props["UpdateID"] = strings.ToUpper(u.key.UpdateID)
		id.props["RevisionNumber"] = int32(u.key.RevisionNumber)
		return id, true
	case "Title":
		return u.title, true
	case "IsInstalled":
		return u.installed, true
	case "IsHidden":
		return u.hidden, true
	case "IsDownloaded":
		return len(u.cached) > 0, true
	case "EulaAccepted":
		return u.eula, true
	case "LastDeploymentChangeTime":
		return oleDate(45300), true
	case "MaxDownloadSize":
		return decimalOf(1<<20, 0, false), true
	case "MsrcSeverity":
		return "Critical", true
	case "KBArticleIDs", "SupersededUpdateIDs":
		c := o.w.newObj("IStringCollection")
		c.list = []any{}
		if name == "KBArticleIDs" {
			for _, kb := range u.kbs {
				c.list = append(c.list, kb)
			}
		}
		return c, true
	case "Categories":
		c := o.w.newObj("ICategoryCollection")
		cat := &fakeObj{w: o.w, iface: "ICategory", props: map[string]any{"CategoryID": "{A3C2375D-0C8A-42F9-BCE0-28333E198407}", "Type": "Product", "Name": "Windows 10"}}
		c.list = []any{cat}
		return c, true
	case "InstallationBehavior":
		b := o.w.newObj("IInstallationBehavior")
		b.props["RebootBehavior"] = u.reboot
		return b, true
	case "DownloadContents":
		c := o.w.newObj("IUpdateDownloadContentCollection")
		c.list = []any{}
		for _, f := range u.files {
			c.list = append(c.list, &fakeObj{w: o.w, iface: "IUpdateDownloadContent", props: map[string]any{"DownloadUrl": f}})
		}
		return c, true
	case "BundledUpdates":
		c := o.w.newObj("IUpdateCollection")
		c.list = []any{}
		for _, b := range u.bundled {
			c.list = append(c.list, &fakeObj{w: o.w, iface: "IUpdate", props: map[string]any{}, upd: b})
		}
		return c, true
	}
	return nil, false
}

func (o *fakeObj) Put(name string, value any) error {
	if err := o.check(propPut, name, []any{value}); err != nil {
		return err
	}
	if o.upd != nil && name == "IsHidden" {
		o.upd.hidden = value.(bool)
		return nil
	}
	if x, ok := value.(*fakeObj); ok && name == "Updates" {
		o.updates = x
		return nil
	}
	o.props[name] = value
	return nil
}

func (o *fakeObj) Call(name string, args ...any) (any, error) {
	if err := o.check(method, name, args); err != nil {
		return nil, err
	}
	w := o.w
	switch o.iface + "." + name {
	case "IUpdateSession.CreateUpdateSearcher":
		return w.newObj("IUpdateSearcher"), nil
	case "IUpdateSession.CreateUpdateInstaller":
		return w.newObj("IUpdateInstaller"), nil
	case "IUpdateServiceManager.AddScanPackageService":
		w.nextID++
		id := fmt.Sprintf("{%08d-0000-0000-0000-000000000000}", w.nextID)
		w.services[id] = args[1].(string)
		s := w.newObj("IUpdateService")
		s.props["ServiceID"] = id
		s.props["Name"] = args[0]
		return s, nil
	case "IUpdateServiceManager.RemoveService":
		id := args[0].(string)
		if _, ok := w.services[id]; !ok {
			return nil, &callError{HResult: 0x80248014} // WU_E_DS_UNKNOWNSERVICE
		}
		delete(w.services, id)
		return nil, nil
	case "IUpdateSearcher.Search":
		if o.props["ServerSelection"] != int32(3) {
			return nil, &callError{HResult: 0x8024402C, Err: fmt.Errorf("ServerSelection %v: the fake host has no network", o.props["ServerSelection"])}
		}
		id, _ := o.props["ServiceID"].(string)
		if _, ok := w.services[id]; !ok {
			return nil, &callError{HResult: 0x80248014, Err: fmt.Errorf("ServiceID %q not registered", id)}
		}
		w.criteria = append(w.criteria, args[0].(string))
		coll := &fakeObj{w: w, iface: "IUpdateCollection", list: []any{}}
		for _, u := range w.updates {
			coll.list = append(coll.list, &fakeObj{w: w, iface: "IUpdate", props: map[string]any{}, upd: u})
		}
		res := w.newObj("ISearchResult")
		res.props["ResultCode"] = int32(2) // orcSucceeded
		res.props["Updates"] = coll
		return res, nil
	case "IStringCollection.Add", "IUpdateCollection.Add":
		a := args[0]
		if x, ok := a.(*fakeObj); ok {
			a = &fakeObj{w: w, iface: x.iface, props: x.props, upd: x.upd}
		}
		o.list = append(o.list, a)
		return int32(len(o.list) - 1), nil
	case "IUpdate.AcceptEula":
		o.upd.eula = true
		return nil, nil
	case "IUpdate.CopyToCache":
		files := args[0].(*fakeObj)
		if len(o.upd.files) == 0 {
			return nil, &callError{HResult: 0x80240026} // WU_E_INVALID_UPDATE_TYPE: a bundle
		}
		for _, f := range files.list {
			o.upd.cached = append(o.upd.cached, f.(string))
		}
		return nil, nil
	case "IUpdateInstaller.Install":
		if o.updates == nil || len(o.updates.list) == 0 {
			return nil, &callError{HResult: 0x80240024} // WU_E_NO_UPDATE
		}
		var keys []wu.UpdateKey
		res := w.newObj("IInstallationResult")
		var per []*fakeObj
		batch := int32(2)
		for _, it := range o.updates.list {
			u := it.(*fakeObj).upd
			if !u.eula {
				return nil, &callError{HResult: 0x80240023} // WU_E_EULAS_DECLINED
			}
			keys = append(keys, u.key)
			r := &fakeObj{w: w, iface: "IUpdateInstallationResult", props: map[string]any{
				"ResultCode": u.resultCode, "HResult": u.hresult, "RebootRequired": u.rebootReq}}
			if u.resultCode == 2 {
				u.installed = true
			} else {
				batch = 3 // orcSucceededWithErrors
			}
			if u.rebootReq {
				w.rebootRequired = true
				res.props["RebootRequired"] = true
			}
			per = append(per, r)
		}
		w.installLog = append(w.installLog, keys)
		res.props["ResultCode"] = batch
		res.props["HResult"] = int32(0)
		if _, ok := res.props["RebootRequired"]; !ok {
			res.props["RebootRequired"] = false
		}
		res.list = nil
		res.props["_per"] = per
		return res, nil
	case "IInstallationResult.GetUpdateResult":
		per := o.props["_per"].([]*fakeObj)
		i := int(args[0].(int32))
		if i < 0 || i >= len(per) {
			return nil, &callError{HResult: 0x80240007}
		}
		return o.ref(per[i]), nil
	}
	return nil, &callError{HResult: eNotImpl, Err: fmt.Errorf("the fake does not script %s.%s", o.iface, name)}
}

// usedMembers lists the members the backend called, sorted.
func (w *fakeWUA) usedMembers() []string {
	var out []string
	for k := range w.calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
