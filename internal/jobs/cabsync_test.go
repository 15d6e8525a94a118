package jobs

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

var (
	patchTuesday1 = time.Date(2024, 2, 13, 18, 0, 0, 0, time.UTC)
	patchTuesday2 = time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC)
)

func (e *env) publishedCab() []byte {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dir, repo.CabName))
	if err != nil {
		e.t.Fatalf("published cab: %v", err)
	}
	side, err := os.ReadFile(filepath.Join(e.dir, repo.CabSHA1Name))
	if err != nil {
		e.t.Fatalf("published cab sidecar: %v", err)
	}
	sum := sha1.Sum(data)
	if got, want := strings.TrimSpace(string(side)), hex.EncodeToString(sum[:]); got != want {
		e.t.Errorf("wsusscn2.cab.sha1 = %q, want %q", got, want)
	}
	return data
}

func (e *env) history() []store.CabSync {
	e.t.Helper()
	rows, err := e.st.LatestCabSyncs(e.ctx(), 20)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) mustHaveUpdate(u wu.Update) {
	e.t.Helper()
	info, err := e.st.GetUpdate(e.ctx(), u.Key())
	if err != nil {
		e.t.Fatalf("GetUpdate(%s): %v", u.Key(), err)
	}
	if info.Title != u.Title {
		e.t.Errorf("update %s title %q, want %q", u.Key(), info.Title, u.Title)
	}
}

func TestCabSyncFirstThenNotModified(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := testCatalog(t, 0)
	e.ms.setCab(c.data, patchTuesday1)

	row, err := e.r.SyncCab(e.ctx(), false)
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	sum := sha1.Sum(c.data)
	if row.Status != store.CabFinished || row.Reason != store.CabReasonFileMissing || row.SHA1 != hex.EncodeToString(sum[:]) ||
		row.Size != int64(len(c.data)) || !row.CabDate.Equal(patchTuesday1) {
		t.Errorf("first sync row = %+v, want finished, file missing, with the cab's size, SHA-1 and date", row)
	}
	if !bytes.Equal(e.publishedCab(), c.data) {
		t.Error("published cab differs from the one served")
	}
	for _, u := range c.man.Updates[:5] {
		e.mustHaveUpdate(u)
	}
	e.noPartialFiles()

	// The daily check: a conditional GET answered 304.
	e.clk.advance(24 * time.Hour)
	row2, err := e.r.SyncCab(e.ctx(), false)
	if err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if row2.Status != store.CabSkipped || row2.Reason != store.CabReasonNone || row2.SHA1 != row.SHA1 || !row2.CabDate.Equal(patchTuesday1) {
		t.Errorf("second sync row = %+v, want skipped with the published cab's state", row2)
	}
	if got := e.ms.bodiesOf(t, "http://x"+cabURLPath); got != 1 {
		t.Errorf("cab bodies sent = %d, want 1 (the second GET was conditional)", got)
	}
	if h := e.ms.condHdr; len(h) != 2 || h[0] != "" || h[1] == "" {
		t.Errorf("If-Modified-Since sent = %q, want none then one", h)
	}

	// Next Patch Tuesday: a newer cab.
	c2 := testCatalog(t, 1)
	e.ms.setCab(c2.data, patchTuesday2)
	row3, err := e.r.SyncCab(e.ctx(), false)
	if err != nil {
		t.Fatalf("third sync: %v", err)
	}
	if row3.Status != store.CabFinished || row3.Reason != store.CabReasonNewerAvailable || !row3.CabDate.Equal(patchTuesday2) {
		t.Errorf("third sync row = %+v, want finished, newer available", row3)
	}
	if !bytes.Equal(e.publishedCab(), c2.data) {
		t.Error("published cab is not the newer one")
	}
	e.mustHaveUpdate(c2.man.Updates[0])
	if got := len(e.history()); got != 3 {
		t.Errorf("history has %d rows, want 3", got)
	}
}

func TestCabSyncForced(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.syncCatalog(0, patchTuesday1)
	if err := e.r.ForceCabSync(e.ctx()); err != nil {
		t.Fatalf("ForceCabSync: %v", err)
	}
	// Joins the forced run started above.
	row, err := e.r.SyncCab(e.ctx(), false)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != store.CabFinished || row.Reason != store.CabReasonForced {
		t.Errorf("forced sync row = %+v, want finished, forced", row)
	}
	if got := e.ms.bodiesOf(t, "http://x"+cabURLPath); got != 2 {
		t.Errorf("cab bodies sent = %d, want 2 (a forced sync downloads even an unchanged cab)", got)
	}
}

func TestCabSyncScheduledOncePerDayAmongReplicas(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.syncCatalog(0, patchTuesday1)
	// Another replica wakes up later the same day: today's sync is already done.
	row, err := e.r.cab.do(e.ctx(), runArg{slot: e.clk.Now().Add(-time.Hour), triggered: "schedule"})
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != store.CabFinished || len(e.history()) != 1 {
		t.Errorf("second scheduled sync the same day: row %+v, %d history rows; want the first sync's row and no new one", row, len(e.history()))
	}
	if got := e.ms.hitsOf(t, "http://x"+cabURLPath); got != 1 {
		t.Errorf("cab requests = %d, want 1", got)
	}
}

func TestCabSyncCorruptKeepsPrevious(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	before := e.history()

	c2 := testCatalog(t, 1)
	tests := []struct {
		desc string
		data []byte
		want string
	}{
		{"truncated", c2.data[:len(c2.data)*2/3], "cabinet test failed"},
		{"not a cabinet", []byte("<html>maintenance</html>"), "cabinet test failed"},
		{"garbled tail", append(append([]byte(nil), c2.data[:len(c2.data)-4000]...), bytes.Repeat([]byte{0x55}, 4000)...), "wsusscn2.cab"},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e.ms.setCab(tt.data, patchTuesday2.Add(time.Duration(i)*time.Hour))
			row, err := e.r.SyncCab(e.ctx(), false)
			if err == nil {
				t.Fatalf("sync of a corrupt cab succeeded: %+v", row)
			}
			if row.Status != store.CabError || !strings.Contains(row.Error, tt.want) {
				t.Errorf("row = %+v, want error mentioning %q", row, tt.want)
			}
			hist := e.history()
			if hist[0].ID != row.ID || hist[0].Status != store.CabError || hist[0].Error == "" {
				t.Errorf("history head = %+v, want the error row", hist[0])
			}
			if !bytes.Equal(e.publishedCab(), c.data) {
				t.Error("the previous cab was replaced")
			}
			e.mustHaveUpdate(c.man.Updates[0])
			if _, err := e.st.GetUpdate(e.ctx(), c2.man.Updates[0].Key()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("update of the corrupt cab imported: %v", err)
			}
			e.noPartialFiles()
		})
	}
	// The next daily check still compares with the last good cab.
	e.ms.setCab(c.data, patchTuesday1)
	row, err := e.r.SyncCab(e.ctx(), false)
	if err != nil || row.Status != store.CabSkipped {
		t.Errorf("sync after errors = %+v, %v; want skipped (304 against the last good cab)", row, err)
	}
	if len(before) != 1 {
		t.Errorf("history before errors: %d rows", len(before))
	}
}

func TestCabSyncMissingFileDownloadsAgain(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	if err := os.Remove(filepath.Join(e.dir, repo.CabName)); err != nil {
		t.Fatal(err)
	}
	row, err := e.r.SyncCab(e.ctx(), false)
	if err != nil || row.Status != store.CabFinished || row.Reason != store.CabReasonFileMissing {
		t.Errorf("sync without the published file = %+v, %v; want finished, file missing", row, err)
	}
	if !bytes.Equal(e.publishedCab(), c.data) {
		t.Error("cab not published again")
	}
}

func TestCabSyncSignature(t *testing.T) {
	authenticodetest.RequireOsslsigncode(t)
	c := testCatalog(t, 0)
	// Valid at the fake clock's time (2024).
	validity := authenticodetest.PKIOptions{NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	pki := authenticodetest.NewPKI(t, validity)
	validity.SignerCN = "Other Signer"
	other := authenticodetest.NewPKI(t, validity)
	signed := authenticodetest.Sign(t, pki, signable(t, c.unsigned), "sha256")

	tests := []struct {
		desc    string
		data    []byte
		roots   *authenticodetest.PKI
		wantErr error
	}{
		{"signed, trusted root", signed, pki, nil},
		{"signed, other root", signed, other, authenticode.ErrUntrusted},
		{"unsigned", c.unsigned, pki, authenticode.ErrNotSigned},
		{"tampered after signing", tamper(signed), pki, authenticode.ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			set := Settings{Instance: "test-1", CabRoots: tt.roots.Pool()}
			e := newEnv(t, envOptions{settings: &set})
			e.ms.setCab(tt.data, patchTuesday1)
			row, err := e.r.SyncCab(e.ctx(), false)
			if tt.wantErr == nil {
				if err != nil || row.Status != store.CabFinished {
					t.Fatalf("sync = %+v, %v; want finished", row, err)
				}
				if !bytes.Equal(e.publishedCab(), tt.data) {
					t.Error("published cab is not the signed one")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || row.Status != store.CabError || !strings.Contains(row.Error, "signature check failed") {
				t.Fatalf("sync = %+v, %v; want a signature error matching %v", row, err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(e.dir, repo.CabName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a cab failing its signature check was published (%v)", err)
			}
			e.noPartialFiles()
		})
	}
}

// TestCabSyncSignatureByDefault: with no cab_trusted_roots the catalog must chain to
// Microsoft's built-in roots, so a catalog signed by another root and an unsigned one
// are refused, with an error naming the file and the fix; cab_signature_check = False
// imports an unsigned catalog with a warning at every sync.
func TestCabSyncSignatureByDefault(t *testing.T) {
	c := testCatalog(t, 0)
	for _, tt := range []struct {
		desc string
		data []byte
		want error
	}{
		{"signed by a root that is not Microsoft's", c.data, authenticode.ErrUntrusted},
		{"unsigned", c.unsigned, authenticode.ErrNotSigned},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t, envOptions{builtInRoots: true})
			e.ms.setCab(tt.data, patchTuesday1)
			row, err := e.r.SyncCab(e.ctx(), false)
			if !errors.Is(err, tt.want) || row.Status != store.CabError {
				t.Fatalf("sync = %+v, %v; want refused with %v", row, err, tt.want)
			}
			for _, part := range []string{"wsusscn2.cab downloaded from http://", "Microsoft's built-in roots", "cab_trusted_roots", "cab_signature_check = False"} {
				if !strings.Contains(row.Error, part) {
					t.Errorf("error %q does not say %q", row.Error, part)
				}
			}
			if _, err := os.Stat(filepath.Join(e.dir, repo.CabName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused cab was published (%v)", err)
			}
			e.noPartialFiles()
		})
	}

	t.Run("check turned off", func(t *testing.T) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		set := Settings{Instance: "test-1", NoCabSignatureCheck: true}
		e := newEnv(t, envOptions{settings: &set, builtInRoots: true, opts: []Option{WithLogger(log)}})
		for i, data := range [][]byte{c.unsigned, testCatalog(t, 1).unsigned} {
			e.ms.setCab(data, patchTuesday1.Add(time.Duration(i)*24*time.Hour))
			row, err := e.r.SyncCab(e.ctx(), false)
			if err != nil || row.Status != store.CabFinished {
				t.Fatalf("sync %d of an unsigned cab with the check off = %+v, %v; want finished", i, row, err)
			}
		}
		if n := strings.Count(logs.String(), "signature NOT checked (cab_signature_check = False)"); n != 2 {
			t.Errorf("%d warnings for 2 unchecked syncs, want one each:\n%s", n, logs.String())
		}
	})
}

// tamper changes the header's set ID (offset 32), which the signature covers and no
// decoder reads: the cabinet test passes, the signature check must not.
func tamper(signed []byte) []byte {
	out := append([]byte(nil), signed...)
	out[32] ^= 0xff
	return out
}

// signable prepares a synthetic cab for osslsigncode, which signs a cabinet without a
// header reserve (it adds its own) but refuses the empty 20-byte reserve that
// catalog.Synthesize leaves: it removes that reserve and moves the offsets back.
func signable(t *testing.T, data []byte) []byte {
	t.Helper()
	const flagReserve = 0x4
	le16 := binary.LittleEndian.Uint16
	le32 := binary.LittleEndian.Uint32
	if len(data) < 60 || le16(data[30:])&flagReserve == 0 || le16(data[36:]) != 20 || data[38] != 0 || data[39] != 0 {
		t.Fatalf("synthetic cab has not the expected 20-byte header reserve")
	}
	const cut = 4 + 20 // cbCFHeader, cbCFFolder, cbCFData, then the reserve
	out := append(append([]byte(nil), data[:36]...), data[36+cut:]...)
	binary.LittleEndian.PutUint16(out[30:], le16(out[30:])&^flagReserve)
	binary.LittleEndian.PutUint32(out[8:], le32(out[8:])-cut)   // cbCabinet
	binary.LittleEndian.PutUint32(out[16:], le32(out[16:])-cut) // coffFiles
	for i := range int(le16(out[26:])) {                        // CFFOLDER.coffCabStart
		off := 36 + 8*i
		binary.LittleEndian.PutUint32(out[off:], le32(out[off:])-cut)
	}
	return out
}

// failingImport is a store whose catalog import fails when fail is set.
type failingImport struct {
	Store
	fail atomic.Bool
}

func (f *failingImport) ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error) {
	if f.fail.Load() {
		return store.ImportResult{}, errors.New("disk full")
	}
	return f.Store.ImportCatalog(ctx, imp)
}

func TestCabSyncImportFailureRestoresPreviousCab(t *testing.T) {
	st := &failingImport{Store: openSQLite(t)}
	e := newEnv(t, envOptions{store: st})
	c := e.syncCatalog(0, patchTuesday1)

	st.fail.Store(true)
	c2 := testCatalog(t, 1)
	e.ms.setCab(c2.data, patchTuesday2)
	row, err := e.r.SyncCab(e.ctx(), false)
	if err == nil || row.Status != store.CabError || !strings.Contains(row.Error, "importing the catalog") || !strings.Contains(row.Error, "disk full") {
		t.Fatalf("sync = %+v, %v; want an import error", row, err)
	}
	if !bytes.Equal(e.publishedCab(), c.data) {
		t.Error("the previous cab was not put back after the failed import")
	}
	e.mustHaveUpdate(c.man.Updates[0])
	e.noPartialFiles()
	if ents, _ := os.ReadDir(filepath.Join(e.dir, repo.TempDirName)); len(ents) != 0 {
		t.Errorf("temporary folder not empty: %v", ents)
	}

	// The next sync retries and succeeds.
	st.fail.Store(false)
	row, err = e.r.SyncCab(e.ctx(), false)
	if err != nil || row.Status != store.CabFinished || row.Reason != store.CabReasonNewerAvailable {
		t.Fatalf("sync after the failure = %+v, %v; want finished", row, err)
	}
	if !bytes.Equal(e.publishedCab(), c2.data) {
		t.Error("new cab not published")
	}
}
