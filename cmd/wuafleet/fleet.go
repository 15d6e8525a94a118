package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/wu"
)

// updateRef is one update a simulated host may report, with the descriptive fields a
// real agent sends along (internal/agent statusOf).
type updateRef struct {
	ID             string
	Revision       int
	Title          string
	KBs            []string // "KB5035845"
	Severity       wu.Severity
	Classification string
	Products       []string
}

// Status mix of a simulated host, in per mille of its updates: most are installed, a
// few are waiting for the install window, missing from the server, held back by the
// rules or failing.
const (
	mixOK        = 700
	mixPending   = 80
	mixMissing   = 100
	mixDiscarded = 90
	mixError     = 30
)

// installErrors are WUA failures as the agent words them.
var installErrors = []string{
	"0x80240022 WU_E_ALL_UPDATES_FAILED: operation failed for all the updates",
	"0x80070643 ERROR_INSTALL_FAILURE: fatal error during installation",
	"0x8024200D WU_E_UH_NEEDANOTHERDOWNLOAD: the update needs to be downloaded again",
	"0x80073712 ERROR_SXS_COMPONENT_STORE_CORRUPT: the component store is corrupt",
}

var discardReasons = []wu.Reason{wu.ReasonForbidden, wu.ReasonNotAllowed, wu.ReasonDelayed}

// fleet generates the hosts and their reports. Everything is a pure function of the seed
// and the host's index, so the CSV written after the run holds exactly what was sent.
type fleet struct {
	seed    uint64
	pool    []updateRef
	perHost int
	// scanAt is the scan time of host 0; host i scanned i seconds earlier.
	scanAt time.Time
}

// fleetEpoch is the scan time of host 0: fixed, so that runs are reproducible.
var fleetEpoch = time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)

func newFleet(seed uint64, pool []updateRef, perHost int) (*fleet, error) {
	if perHost < 1 {
		return nil, fmt.Errorf("--updates %d: want at least 1", perHost)
	}
	if perHost > api.MaxReportUpdates {
		return nil, fmt.Errorf("--updates %d: the server takes at most %d updates per report", perHost, api.MaxReportUpdates)
	}
	if len(pool) < perHost {
		return nil, fmt.Errorf("%d updates available, %d wanted per host (use a larger --pool or catalog, or fewer --updates)", len(pool), perHost)
	}
	return &fleet{seed: seed, pool: pool, perHost: perHost, scanAt: fleetEpoch}, nil
}

// rng returns the random stream of one purpose (stream) and index.
func (f *fleet) rng(stream, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(f.seed, stream<<40|i))
}

// Random streams.
const (
	streamHostID = 1
	streamReport = 2
	streamUpdate = 3
	streamPool   = 4
)

// guid formats two random words in the 8-4-4-4-12 shape.
func guid(r *rand.Rand, upper bool) string {
	a, b := r.Uint64(), r.Uint64()
	format := "%08x-%04x-%04x-%04x-%012x"
	if upper {
		format = "%08X-%04X-%04X-%04X-%012X"
	}
	return fmt.Sprintf(format, a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// hostUUID is host i's UUID, upper-case like the SMBIOS UUIDs WAPT agents use.
func (f *fleet) hostUUID(i int) string { return guid(f.rng(streamHostID, uint64(i)), true) }

func (f *fleet) hostName(i int) string { return fmt.Sprintf("PC-%05d", i) }

const fleetOS = "Windows 10 Enterprise 22H2 (19045)"

func (f *fleet) registration(i int) api.RegisterRequest {
	return api.RegisterRequest{UUID: f.hostUUID(i), Name: f.hostName(i), OS: fleetOS, AgentVersion: "wuafleet"}
}

// report is host i's full scan report: perHost distinct updates of the pool, each with
// a status drawn from the mix.
func (f *fleet) report(i int) api.Report {
	r := f.rng(streamReport, uint64(i))
	// Floyd's sampling: perHost distinct indexes in O(perHost), whatever the pool size.
	n := len(f.pool)
	picked := make(map[int]bool, f.perHost)
	chosen := make([]int, 0, f.perHost)
	for j := n - f.perHost; j < n; j++ {
		k := r.IntN(j + 1)
		if picked[k] {
			k = j
		}
		picked[k] = true
		chosen = append(chosen, k)
	}
	slices.Sort(chosen)

	scan := f.scanAt.Add(-time.Duration(i) * time.Second)
	rep := api.Report{
		Full: true, ScanAt: scan, Name: f.hostName(i), OS: fleetOS, AgentVersion: "wuafleet",
		Updates: make([]api.UpdateStatus, 0, f.perHost),
	}
	var pending, missing, failed int
	for _, k := range chosen {
		u := &f.pool[k]
		s := api.UpdateStatus{
			UpdateID: u.ID, RevisionNumber: u.Revision, Title: u.Title, KBs: u.KBs,
			Severity: u.Severity, Classification: u.Classification, Products: u.Products,
		}
		switch p := r.IntN(1000); {
		case p < mixOK:
			s.Status = wu.StatusOK
			s.InstalledAt = scan.Add(-time.Duration(1+r.IntN(365*24)) * time.Hour)
		case p < mixOK+mixPending:
			s.Status = wu.StatusPending
			pending++
		case p < mixOK+mixPending+mixMissing:
			s.Status = wu.StatusMissing
			missing++
		case p < mixOK+mixPending+mixMissing+mixDiscarded:
			s.Status, s.Reason = wu.StatusDiscarded, discardReasons[r.IntN(len(discardReasons))]
		default:
			s.Status, s.Error = wu.StatusError, installErrors[r.IntN(len(installErrors))]
			failed++
		}
		rep.Updates = append(rep.Updates, s)
	}
	switch {
	case failed > 0:
		rep.WUAStatus, rep.LastError = agent.StatusError, "1 or more updates failed to install"
	case missing > 0:
		rep.WUAStatus = agent.StatusPendingUpdates
	case pending > 0:
		rep.WUAStatus = agent.StatusReady
	default:
		rep.WUAStatus = agent.StatusOK
	}
	rep.RebootPending = r.IntN(10) == 0
	return rep
}

// Synthetic updates look like a Windows 10 fleet's: cumulative and .NET updates,
// Defender definitions, drivers.
var synthKinds = []struct {
	title          string
	classification string
	severity       wu.Severity
	product        string
}{
	{"%s Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB%d)", "Security Updates", wu.SeverityCritical, "Windows 10, version 1903 and later"},
	{"%s Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for Windows 10 Version 22H2 for x64 (KB%d)", "Security Updates", wu.SeverityImportant, "Windows 10, version 1903 and later"},
	{"%s Security Update for Microsoft Office 2016 (KB%d) 64-Bit Edition", "Security Updates", wu.SeverityImportant, "Office 2016"},
	{"%s Servicing Stack Update for Windows 10 Version 22H2 for x64-based Systems (KB%d)", "Critical Updates", wu.SeverityNone, "Windows 10, version 1903 and later"},
	{"%s Update for Windows 10 Version 22H2 for x64-based Systems (KB%d)", "Updates", wu.SeverityNone, "Windows 10, version 1903 and later"},
	{"%s Security Intelligence Update for Microsoft Defender Antivirus - KB%d", "Definition Updates", wu.SeverityNone, "Microsoft Defender Antivirus"},
	{"%s Windows Malicious Software Removal Tool x64 - v5.%d", "Update Rollups", wu.SeverityNone, "Windows 10"},
}

// synthPool makes n synthetic updates with random GUIDs.
func synthPool(seed uint64, n int) []updateRef {
	f := &fleet{seed: seed}
	pool := make([]updateRef, n)
	for j := range pool {
		r := f.rng(streamUpdate, uint64(j))
		k := synthKinds[j%len(synthKinds)]
		kb := 5000000 + 97*j
		month := fmt.Sprintf("%d-%02d", 2025-j/12%6, 12-j%12)
		pool[j] = updateRef{
			ID:             guid(r, false),
			Revision:       100 + r.IntN(200),
			Title:          fmt.Sprintf(k.title, month, kb),
			KBs:            []string{wu.FormatKB(fmt.Sprint(kb))},
			Severity:       k.severity,
			Classification: k.classification,
			Products:       []string{k.product},
		}
	}
	return pool
}

// dumpRecord is the part of a "waptserver catalog dump" line the fleet uses.
type dumpRecord struct {
	UpdateID       string   `json:"update_id"`
	RevisionNumber int      `json:"revision_number"`
	Title          string   `json:"title"`
	KB             []string `json:"kb"`
	Severity       string   `json:"severity"`
	Classification string   `json:"classification"`
	Products       []string `json:"products"`
}

// readCatalogDump reads the updates of a "waptserver catalog dump" (one JSON object per
// line) and keeps n of them, drawn at random (all when n is 0 or not smaller).
func readCatalogDump(path string, seed uint64, n int) ([]updateRef, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--catalog: %w (give the output of \"waptserver catalog dump wsusscn2.cab\")", err)
	}
	defer fh.Close()
	pool, err := parseCatalogDump(fh, path)
	if err != nil {
		return nil, err
	}
	if n > 0 && n < len(pool) {
		r := (&fleet{seed: seed}).rng(streamPool, 0)
		r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		pool = pool[:n]
	}
	return pool, nil
}

func parseCatalogDump(rd io.Reader, name string) ([]updateRef, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var pool []updateRef
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var d dumpRecord
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("--catalog %s line %d: %w (want the output of \"waptserver catalog dump\")", name, line, err)
		}
		if !wu.IsGUID(d.UpdateID) || d.RevisionNumber < 0 {
			return nil, fmt.Errorf("--catalog %s line %d: update_id %q revision %d is not an update key", name, line, d.UpdateID, d.RevisionNumber)
		}
		sev, err := wu.ParseSeverity(d.Severity)
		if err != nil {
			sev = wu.SeverityNone
		}
		u := updateRef{ID: d.UpdateID, Revision: d.RevisionNumber, Title: d.Title, Severity: sev,
			Classification: d.Classification, Products: d.Products}
		u.Title = truncateTitle(u.Title)
		for _, kb := range d.KB {
			if digits, err := wu.ParseKB(kb); err == nil {
				u.KBs = append(u.KBs, wu.FormatKB(digits))
			}
		}
		pool = append(pool, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--catalog %s: %w", name, err)
	}
	if len(pool) == 0 {
		return nil, errors.New("--catalog " + name + ": no update in the file")
	}
	return pool, nil
}

// truncateTitle shortens a title to what the server accepts, on a character boundary.
func truncateTitle(s string) string {
	if len(s) <= api.MaxTitleLen {
		return s
	}
	n := api.MaxTitleLen - len("...")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
