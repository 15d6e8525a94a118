package windows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// properties reads the properties of one WUA automation object. The COM layer
// implements it over IDispatch; tests implement it with maps. Values are what the COM
// layer extracted from the VARIANT: nil (VT_EMPTY, VT_NULL), string, bool, an integer
// type, float64, oleDate (VT_DATE), decimal (VT_DECIMAL), time.Time.
type properties interface {
	value(name string) (any, error)
	// object returns the nested object, or nil when the property is empty.
	object(name string) (properties, error)
	// items returns the elements of a collection property (Count and Item(i)).
	items(name string) ([]properties, error)
	// strings returns the elements of a StringCollection property.
	strings(name string) ([]string, error)
}

// oleDate is an OLE Automation date (VT_DATE): days since 1899-12-30 00:00, the
// fraction being the time of day (its absolute value for dates before the epoch).
type oleDate float64

// Time converts the date, read as UTC.
func (d oleDate) Time() time.Time {
	f := float64(d)
	if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return time.Time{}
	}
	days := math.Trunc(f)
	frac := math.Abs(f - days)
	ms := math.Round(frac * 86400000)
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond)
}

// decimal is the 16 bytes of a VARIANT holding a DECIMAL (VT_DECIMAL): wReserved (the
// VT), scale, sign, Hi32, Lo64, little-endian.
type decimal [16]byte

// Int64 converts the decimal, truncating any fraction.
func (d decimal) Int64() (int64, error) {
	scale := d[2]
	negative := d[3]&0x80 != 0
	hi := binary.LittleEndian.Uint32(d[4:8])
	lo := binary.LittleEndian.Uint64(d[8:16])
	if scale > 28 {
		return 0, fmt.Errorf("DECIMAL with scale %d (at most 28)", scale)
	}
	v := new(big.Int).SetUint64(uint64(hi))
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(lo))
	if scale > 0 {
		v.Quo(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	}
	if negative {
		v.Neg(v)
	}
	if !v.IsInt64() {
		return 0, fmt.Errorf("DECIMAL %s does not fit 64 bits", v)
	}
	return v.Int64(), nil
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("got %T, want a string", v)
}

func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	}
	return false, fmt.Errorf("got %T, want a boolean", v)
}

func asInt64(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d does not fit 63 bits", x)
		}
		return int64(x), nil
	case uint:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case float32:
		return int64(x), nil
	case decimal:
		return x.Int64()
	}
	return 0, fmt.Errorf("got %T, want a number", v)
}

func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case oleDate:
		return x.Time(), nil
	case float64:
		return oleDate(x).Time(), nil
	case time.Time:
		return x.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("got %T, want a date", v)
}

// reader collects the first conversion error so readUpdate stays linear.
type reader struct {
	p   properties
	err error
}

func (r *reader) fail(name string, err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", name, err)
	}
}

func (r *reader) str(name string) string {
	v, err := r.p.value(name)
	r.fail(name, err)
	s, err := asString(v)
	r.fail(name, err)
	return s
}

func (r *reader) boolean(name string) bool {
	v, err := r.p.value(name)
	r.fail(name, err)
	b, err := asBool(v)
	r.fail(name, err)
	return b
}

func (r *reader) integer(name string) int64 {
	v, err := r.p.value(name)
	r.fail(name, err)
	n, err := asInt64(v)
	r.fail(name, err)
	return n
}

func (r *reader) date(name string) time.Time {
	v, err := r.p.value(name)
	r.fail(name, err)
	t, err := asTime(v)
	r.fail(name, err)
	return t
}

func (r *reader) strs(name string) []string {
	s, err := r.p.strings(name)
	r.fail(name, err)
	return s
}

// readKey reads the Identity of an IUpdate.
func readKey(p properties) (wu.UpdateKey, error) {
	id, err := p.object("Identity")
	if err != nil {
		return wu.UpdateKey{}, fmt.Errorf("Identity: %w", err)
	}
	if id == nil {
		return wu.UpdateKey{}, errors.New("Identity: missing")
	}
	r := &reader{p: id}
	guid := strings.ToLower(strings.Trim(r.str("UpdateID"), "{}"))
	rev := r.integer("RevisionNumber")
	if r.err != nil {
		return wu.UpdateKey{}, fmt.Errorf("Identity.%w", r.err)
	}
	if !wu.IsGUID(guid) {
		return wu.UpdateKey{}, fmt.Errorf("Identity.UpdateID %q is not a GUID", guid)
	}
	return wu.UpdateKey{UpdateID: guid, RevisionNumber: int(rev)}, nil
}

// readDownloads reads DownloadContents[i].DownloadUrl.
func readDownloads(p properties) ([]wua.Download, error) {
	items, err := p.items("DownloadContents")
	if err != nil {
		return nil, fmt.Errorf("DownloadContents: %w", err)
	}
	var out []wua.Download
	for i, it := range items {
		r := &reader{p: it}
		u := r.str("DownloadUrl")
		if r.err != nil {
			return nil, fmt.Errorf("DownloadContents[%d].%w", i, r.err)
		}
		if u != "" {
			out = append(out, wua.Download{URL: u, FileName: wua.FileNameFromURL(u)})
		}
	}
	return out, nil
}

// readUpdate translates one IUpdate into the port's Update (REFERENCE §6).
func readUpdate(p properties) (wua.Update, error) {
	key, err := readKey(p)
	if err != nil {
		return wua.Update{}, err
	}
	fail := func(err error) (wua.Update, error) {
		return wua.Update{}, fmt.Errorf("update %s: %w", key, err)
	}
	r := &reader{p: p}
	u := wua.Update{
		Key:                  key,
		Title:                r.str("Title"),
		Installed:            r.boolean("IsInstalled"),
		Hidden:               r.boolean("IsHidden"),
		Downloaded:           r.boolean("IsDownloaded"),
		LastDeploymentChange: r.date("LastDeploymentChangeTime"),
		MaxDownloadSize:      r.integer("MaxDownloadSize"),
		SupersededIDs:        lowerGUIDs(r.strs("SupersededUpdateIDs")),
	}
	for _, kb := range r.strs("KBArticleIDs") {
		if d, err := wu.ParseKB(kb); err == nil {
			u.KBs = append(u.KBs, d)
		}
	}
	if s, err := wu.ParseSeverity(r.str("MsrcSeverity")); err == nil {
		u.Severity = s // empty or unknown severities stay SeverityNone
	}
	if r.err != nil {
		return fail(r.err)
	}

	cats, err := p.items("Categories")
	if err != nil {
		return fail(fmt.Errorf("Categories: %w", err))
	}
	for i, c := range cats {
		cr := &reader{p: c}
		cat := wua.Category{
			ID:   strings.ToLower(strings.Trim(cr.str("CategoryID"), "{}")),
			Type: wu.CategoryType(cr.str("Type")),
			Name: cr.str("Name"),
		}
		if cr.err != nil {
			return fail(fmt.Errorf("Categories[%d].%w", i, cr.err))
		}
		u.Categories = append(u.Categories, cat)
	}

	behavior, err := p.object("InstallationBehavior")
	if err != nil {
		return fail(fmt.Errorf("InstallationBehavior: %w", err))
	}
	if behavior != nil {
		br := &reader{p: behavior}
		u.RebootBehavior = wua.RebootBehavior(br.integer("RebootBehavior"))
		if br.err != nil {
			return fail(fmt.Errorf("InstallationBehavior.%w", br.err))
		}
	}

	if u.Downloads, err = readDownloads(p); err != nil {
		return fail(err)
	}
	bundled, err := p.items("BundledUpdates")
	if err != nil {
		return fail(fmt.Errorf("BundledUpdates: %w", err))
	}
	for i, b := range bundled {
		bk, err := readKey(b)
		if err != nil {
			return fail(fmt.Errorf("BundledUpdates[%d].%w", i, err))
		}
		d, err := readDownloads(b)
		if err != nil {
			return fail(fmt.Errorf("BundledUpdates[%d] (%s).%w", i, bk, err))
		}
		u.Bundled = append(u.Bundled, wua.BundledUpdate{Key: bk, Downloads: d})
	}
	return u, nil
}

func lowerGUIDs(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// installOutcome is what IInstallationResult.GetUpdateResult(i) (or the batch's
// IInstallationResult) gives.
type installOutcome struct {
	resultCode     int64
	hresult        int64
	rebootRequired bool
}

func readOutcome(p properties) (installOutcome, error) {
	r := &reader{p: p}
	o := installOutcome{
		resultCode:     r.integer("ResultCode"),
		hresult:        r.integer("HResult"),
		rebootRequired: r.boolean("RebootRequired"),
	}
	return o, r.err
}

// installResult assembles the port's result from the batch and per-update outcomes.
func installResult(keys []wu.UpdateKey, batch installOutcome, per []installOutcome) wua.InstallResult {
	r := wua.InstallResult{
		ResultCode:     wua.ResultCode(batch.resultCode),
		HResult:        wua.HResult(uint32(batch.hresult)),
		RebootRequired: batch.rebootRequired,
	}
	for i, k := range keys {
		ur := wua.UpdateResult{Key: k, ResultCode: wua.NotStarted}
		if i < len(per) {
			ur.ResultCode = wua.ResultCode(per[i].resultCode)
			ur.HResult = wua.HResult(uint32(per[i].hresult))
			ur.RebootRequired = per[i].rebootRequired
		}
		r.RebootRequired = r.RebootRequired || ur.RebootRequired
		r.Updates = append(r.Updates, ur)
	}
	return r
}

// comFailure turns the HRESULT of a failed COM call into an error in words. When the
// call failed with DISP_E_EXCEPTION, scode is the code inside EXCEPINFO (0: none).
func comFailure(op string, hresult, scode uint32, cause error) error {
	code := wua.HResult(hresult)
	if code == wua.DispEException && scode != 0 {
		code = wua.HResult(scode)
	}
	return &wua.Error{Op: op, Code: code, Err: cause}
}

// checkCabPath refuses what WUA's AddScanPackageService refuses: the cab must be a
// local file given by an absolute path, not a UNC path.
func checkCabPath(p string) error {
	switch {
	case p == "":
		return errors.New("scan: no wsusscn2.cab path given")
	case strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//"):
		return fmt.Errorf("scan: %s is a network path: WUA scans only a local copy of wsusscn2.cab (download it first)", p)
	case len(p) < 3 || p[1] != ':' || (p[2] != '\\' && p[2] != '/') || !('a' <= p[0]|0x20 && p[0]|0x20 <= 'z'):
		return fmt.Errorf("scan: %s is not an absolute local path (want e.g. C:\\wapt\\waptwua\\wsusscn2.cab)", p)
	}
	return nil
}
