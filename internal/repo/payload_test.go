package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPayloadWriteServeRemove(t *testing.T) {
	f := newFixture(t)
	r := f.repo
	data := []byte(strings.Repeat("payload bytes ", 100))
	sum := sha256.Sum256(data)
	w, err := r.CreatePayload("upg_1.payload", "sources/install.wim", Want{SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := r.StatPayload("upg_1.payload", "sources/install.wim"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a payload file being written is visible: %v", err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := r.StatPayload("upg_1.payload", "sources/install.wim")
	if err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("StatPayload = %+v, %v", fi, err)
	}
	// Never listed among the repository's files.
	list, _ := r.List()
	for _, e := range list {
		if strings.Contains(e.Name, "payload") || strings.Contains(e.Name, "install.wim") {
			t.Errorf("List shows %s", e.Name)
		}
	}

	// A wrong digest is not committed.
	w2, err := r.CreatePayload("upg_1.payload", "other.bin", Want{SHA256: strings.Repeat("0", 64)})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w2.Write(data)
	var de *DigestError
	if _, err := w2.Commit(); !errors.As(err, &de) {
		t.Fatalf("Commit of wrong bytes: %v", err)
	}
	_ = w2.Abort()
	if _, err := r.StatPayload("upg_1.payload", "other.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("wrong bytes in place: %v", err)
	}

	serve := func(dir, file, rng string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/x", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		rec := httptest.NewRecorder()
		r.ServePayload(rec, req, dir, file)
		return rec
	}
	if rec := serve("upg_1.payload", "sources/install.wim", "bytes=14-27"); rec.Code != http.StatusPartialContent || rec.Body.String() != "payload bytes " {
		t.Fatalf("Range: %d %q", rec.Code, rec.Body.String())
	}
	if rec := serve("upg_1.payload", "sources/install.wim", ""); rec.Code != 200 || rec.Body.Len() != len(data) || rec.Header().Get("ETag") == "" {
		t.Fatalf("GET: %d %d %v", rec.Code, rec.Body.Len(), rec.Header())
	}

	// Nothing outside a payload folder, nothing hidden, no link.
	if err := os.Symlink(filepath.Join(f.dir, "..", "secret"), filepath.Join(f.dir, PayloadDirName, "upg_1.payload", "link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{
		{"upg_1.payload", "../../" + f.update}, {"upg_1.payload", "sources/../../x"}, {"..", "secret"},
		{"upg_1", "sources/install.wim"}, {"upg_1.payload", "sources/install.wim.part"}, {"upg_1.payload", ".hidden"},
		{"upg_1.payload", "link"}, {"upg_1.payload", "sources"}, {"upg_1.payload", ""}, {"upg_1.payload", `a\b`},
	} {
		if rec := serve(c[0], c[1], ""); rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), secret) {
			t.Errorf("ServePayload(%q, %q) = %d", c[0], c[1], rec.Code)
		}
		if _, err := r.CreatePayload(c[0], c[1]+"/../x", Want{}); err == nil {
			t.Errorf("CreatePayload(%q, %q) accepted", c[0], c[1]+"/../x")
		}
	}
	if d, f, ok := PayloadPath("upg_1.payload/sources/install.wim"); !ok || d != "upg_1.payload" || f != "sources/install.wim" {
		t.Errorf("PayloadPath = %q %q %v", d, f, ok)
	}
	for _, bad := range []string{"upg_1.wapt", "upg_1.payload", "upg_1.payload/", "x/y", "upg_1.payload/../../etc/passwd"} {
		if _, _, ok := PayloadPath(bad); ok {
			t.Errorf("PayloadPath(%q) accepted", bad)
		}
	}

	if err := r.RemovePayload("upg_1.payload"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.StatPayload("upg_1.payload", "sources/install.wim"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after RemovePayload: %v", err)
	}
	if err := r.RemovePayload("upg_1.payload"); err != nil {
		t.Fatalf("RemovePayload of a missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "..", "secret")); err != nil {
		t.Fatalf("the secret outside was touched: %v", err)
	}
}
