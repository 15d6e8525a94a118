package console

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/msu/msutest"
)

// upload posts file as the wizard's multipart form, with the CSRF token of the last
// page read as its first field (csrf "": none).
func (c *client) upload(path, csrf, name string, data []byte) resp {
	c.t.Helper()
	return c.uploadForm(path, csrf, "", name, data)
}

// uploadWithHeader sends the CSRF token in the X-CSRF-Token header only.
func (c *client) uploadWithHeader(csrf, name string, data []byte) resp {
	c.t.Helper()
	return c.uploadForm("/ui/packages/msu", "", csrf, name, data)
}

func (c *client) uploadForm(path, csrf, header, name string, data []byte) resp {
	c.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if csrf != "" {
		must(c.t, mw.WriteField("csrf", csrf))
	}
	fw, err := mw.CreateFormFile("msu", name)
	must(c.t, err)
	fw.Write(data)
	must(c.t, mw.Close())
	req, err := http.NewRequest("POST", c.base+path, &b)
	must(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if header != "" {
		req.Header.Set("X-CSRF-Token", header)
	}
	res, err := c.hc.Do(req)
	must(c.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(body)}
}

// TestMSUWizardAuthorisation: the wizard's streamed upload is refused to anonymous and
// read-only users and without the CSRF token; an admin's .msu is read (KB, architecture,
// warning) and, without a server key, the page shows the build-msu command; a file that
// is not an update is refused with one line.
func TestMSUWizardAuthorisation(t *testing.T) {
	e := newEnv(t)
	tmp := t.TempDir()
	good, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB5034441-x64", Properties: msutest.KB("5034441"),
		Payload: []byte("payload of the update"), TempDir: tmp})
	must(t, err)
	randomCab, zipFile, err := msutest.NotUpdates(tmp)
	must(t, err)

	anon := e.client()
	if r := anon.upload("/ui/packages/msu", "x", "a.msu", good); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous upload: HTTP %d, want 401", r.status)
	}
	if r := anon.post("/ui/packages/msu/build", nil); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous build: HTTP %d, want 401", r.status)
	}

	viewer := e.client()
	viewer.login("viewer", viewerPass)
	r := viewer.get("/ui/packages/msu")
	if r.status != 200 || strings.Contains(r.body, `id="msu-upload-form"`) || !strings.Contains(r.body, `id="msu-readonly"`) {
		t.Errorf("read-only user's wizard page: HTTP %d, upload form shown: %v", r.status, strings.Contains(r.body, `id="msu-upload-form"`))
	}
	if r := viewer.upload("/ui/packages/msu", viewer.csrf, "a.msu", good); r.status != http.StatusForbidden {
		t.Errorf("read-only upload: HTTP %d, want 403", r.status)
	}
	if r := viewer.post("/ui/packages/msu/build", nil); r.status != http.StatusForbidden {
		t.Errorf("read-only build: HTTP %d, want 403", r.status)
	}

	admin := e.client()
	admin.login("admin", adminPass)
	if r := admin.get("/ui/packages"); !strings.Contains(r.body, `href="/ui/packages/msu"`) {
		t.Error("the packages page has no link to the wizard")
	}
	admin.get("/ui/packages/msu")
	if r := admin.upload("/ui/packages/msu", "", "a.msu", good); r.status != http.StatusForbidden {
		t.Errorf("upload without CSRF token: HTTP %d, want 403", r.status)
	}
	if r := admin.upload("/ui/packages/msu", "stale", "a.msu", good); r.status != http.StatusForbidden {
		t.Errorf("upload with a wrong CSRF token: HTTP %d, want 403", r.status)
	}
	r = admin.upload("/ui/packages/msu", admin.csrf, "windows10.0-kb5034441-x64.msu", good)
	if r.status != 200 {
		t.Fatalf("admin upload: HTTP %d\n%s", r.status, r.body)
	}
	for _, want := range []string{`id="msu-kb">KB5034441<`, `id="msu-arch">amd64<`, `id="msu-warning"`, `id="msu-build-command">waptserver packages build-msu windows10.0-kb5034441-x64.msu --name waptwua-kb5034441-amd64`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("wizard page after upload lacks %q", want)
		}
	}
	// The upload is kept for the build step, in a private folder.
	m := uploadRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no upload id in the build form")
	}
	dir, file, err := uploadFile(m[1])
	if err != nil {
		t.Fatalf("upload not kept: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("upload folder: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, good) {
		t.Error("the stored upload differs from the file sent")
	}
	// Without a server key, Build shows the command.
	admin.csrf = csrfRE.FindStringSubmatch(r.body)[1]
	if r := admin.post("/ui/packages/msu/build", map[string][]string{"upload": {m[1]}, "name": {"kb-test"}, "version": {"2-0"}, "maturity": {"PREPROD"}}); r.status != 200 ||
		!strings.Contains(r.body, "--name kb-test --version 2-0 --maturity PREPROD") {
		t.Errorf("build without a server key: HTTP %d, no command", r.status)
	}
	if r := admin.post("/ui/packages/msu/build", map[string][]string{"upload": {"../../etc"}}); r.status != 400 || !strings.Contains(r.body, "upload the .msu again") {
		t.Errorf("build of an unknown upload: HTTP %d", r.status)
	}

	for _, f := range []string{randomCab, zipFile} {
		data, err := os.ReadFile(f)
		must(t, err)
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) + ".msu"
		r := admin.upload("/ui/packages/msu", admin.csrf, name, data)
		m := msuErrorRE.FindStringSubmatch(r.body)
		if r.status != 400 || m == nil || strings.Contains(m[1], "\n") || !strings.Contains(m[1], name) || !strings.Contains(m[1], "not a Windows update") {
			t.Errorf("%s: HTTP %d, message %q", name, r.status, m)
		}
	}
	// The token may come in the X-CSRF-Token header instead of the first field.
	if r := admin.uploadWithHeader(admin.csrf, "windows10.0-kb5034441-x64.msu", good); r.status != 200 || !strings.Contains(r.body, `id="msu-kb">KB5034441<`) {
		t.Errorf("upload with the token in the header: HTTP %d", r.status)
	} else if m := uploadRE.FindStringSubmatch(r.body); m != nil {
		if dir, _, err := uploadFile(m[1]); err == nil {
			os.RemoveAll(dir)
		}
	}
	// A file over the cap is refused while it is read, and nothing stays on disk.
	e.srv.Config.Handler.(*Console).msuMax = int64(len(good)) - 1
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), msuUploadPrefix+"*"))
	if r := admin.upload("/ui/packages/msu", admin.csrf, "big.msu", good); r.status != 400 || !strings.Contains(r.body, "big.msu is larger than") {
		t.Errorf("upload over the cap: HTTP %d", r.status)
	}
	if after, _ := filepath.Glob(filepath.Join(os.TempDir(), msuUploadPrefix+"*")); len(after) > len(before) {
		t.Errorf("a refused upload stays in %v", after)
	}
	if r := admin.upload("/ui/packages/msu", admin.csrf, "notes.txt", []byte("x")); r.status != 400 || !strings.Contains(r.body, "not an .msu file name") {
		t.Errorf("upload of a .txt: HTTP %d", r.status)
	}
}

var (
	uploadRE   = regexp.MustCompile(`name="upload" value="([0-9a-f]+)"`)
	msuErrorRE = regexp.MustCompile(`id="msu-error">([^<]*)<`)
)
