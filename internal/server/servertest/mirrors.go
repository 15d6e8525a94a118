package servertest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/server"
)

// MirrorToken creates an enrollment token through the admin API.
func (e *Env) MirrorToken(label string, maxUses int) string {
	e.T.Helper()
	r := e.Do("POST", server.AdminPrefix+"/enrollment-tokens", Admin, map[string]any{"label": label, "max_uses": maxUses})
	Want(e.T, r, http.StatusCreated, "create an enrollment token")
	var created struct {
		Token string `json:"token"`
	}
	r.JSON(e.T, &created)
	return created.Token
}

// RegisterMirror enrolls a mirror with the token and returns its credential.
func (e *Env) RegisterMirror(token, name, site string) string {
	e.T.Helper()
	r := e.Do("POST", api.PathMirrorRegister, Bearer(token), api.MirrorRegisterRequest{Name: name, Site: site, URL: "http://127.0.0.1:1/"})
	Want(e.T, r, http.StatusOK, "enroll mirror "+name)
	var out api.MirrorRegisterResponse
	r.JSON(e.T, &out)
	return out.Credential
}

// PutRepoFile writes a visible file into the server's repository folder and returns
// its SHA-1 and SHA-256.
func (e *Env) PutRepoFile(name string, data []byte) (string, string) {
	e.T.Helper()
	if err := os.WriteFile(filepath.Join(e.RepoDir, name), data, 0o644); err != nil {
		e.T.Fatal(err)
	}
	h1, h256 := sha1.Sum(data), sha256.Sum256(data)
	return hex.EncodeToString(h1[:]), hex.EncodeToString(h256[:])
}

func (e *Env) manifest(cred, query string, hdr http.Header) Response {
	e.T.Helper()
	return do(e.T, e.HTTP.URL, "GET", api.PathMirrorManifest+query, Bearer(cred), nil, hdr)
}

// testMirrorEnrollment: a mirror enrolls with an enrollment token (counted, refused
// when wrong) and gets a credential that only the mirror routes accept; a host's
// credential is refused there. A registered name needs its current credential.
func testMirrorEnrollment(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	req := api.MirrorRegisterRequest{Name: "lyon-1", Site: "lyon"}
	Want(t, e.Do("POST", api.PathMirrorRegister, nil, req), http.StatusUnauthorized, "enroll without a token")
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer("wet_"+strings.Repeat("0", 64)), req), http.StatusUnauthorized, "enroll with an unknown token")
	tok := e.MirrorToken("mirrors", 1)
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(tok), `{"name":"../x"}`), http.StatusBadRequest, "enroll with a bad name")
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(tok), `{"name":"a","extra":1}`), http.StatusBadRequest, "enroll with an unknown field")
	cred := e.RegisterMirror(tok, "lyon-1", "lyon")
	if !strings.HasPrefix(cred, api.MirrorCredentialPrefix) {
		t.Fatalf("mirror credential %q lacks its prefix", cred)
	}
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(tok), api.MirrorRegisterRequest{Name: "paris-1"}), http.StatusUnauthorized, "second use of a 1-use token")
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(EnrollmentSecret), req), http.StatusConflict, "the same name again")
	// The enrollment secret enrolls too (as for hosts).
	other := e.RegisterMirror(EnrollmentSecret, "paris-1", "paris")

	Want(t, e.manifest(cred, "", nil), http.StatusOK, "manifest with the mirror credential")
	host := e.Register(hostA)
	for _, bad := range []string{"", host, "wmc_" + host, cred + "x", "wmc_" + strings.Repeat("0", 32) + ".AAAAAAAAAAAAAAAAAAAAAAAA", EnrollmentSecret} {
		Want(t, e.manifest(bad, "", nil), http.StatusUnauthorized, "manifest with credential "+bad)
		Want(t, e.Do("POST", api.PathMirrorState, Bearer(bad), api.MirrorState{Status: api.MirrorInSync}), http.StatusUnauthorized, "state with credential "+bad)
	}
	// A mirror credential is not a host's, nor an administrator's.
	Want(t, e.Do("GET", HostPath(api.PathRules, hostA), Bearer(cred), nil), http.StatusUnauthorized, "host rules with a mirror credential")
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusUnauthorized, "host report with a mirror credential")
	Want(t, e.Do("GET", server.AdminPrefix+"/mirrors", Bearer(cred), nil), http.StatusUnauthorized, "admin list with a mirror credential")
	// A host credential does not enroll a mirror.
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(host), api.MirrorRegisterRequest{Name: "x-1"}), http.StatusUnauthorized, "enroll with a host credential")

	// Rotation: the current credential proves the mirror; the old one stops working.
	Want(t, e.Do("POST", api.PathMirrorRegister, Bearer(EnrollmentSecret), api.MirrorRegisterRequest{Name: "lyon-1", CurrentCredential: other}),
		http.StatusUnauthorized, "rotation with another mirror's credential")
	r := e.Do("POST", api.PathMirrorRegister, Bearer(EnrollmentSecret), api.MirrorRegisterRequest{Name: "lyon-1", Site: "lyon", CurrentCredential: cred})
	Want(t, r, http.StatusOK, "rotation")
	var rot api.MirrorRegisterResponse
	r.JSON(t, &rot)
	Want(t, e.manifest(cred, "", nil), http.StatusUnauthorized, "the rotated credential")
	Want(t, e.manifest(rot.Credential, "", nil), http.StatusOK, "the new credential")

	// An administrator deletes a mirror (a lost credential): its credential stops
	// working and the name enrolls again. Read-only users may not.
	Want(t, e.Do("DELETE", server.AdminPrefix+"/mirrors/lyon-1", Viewer, nil), http.StatusForbidden, "read-only delete")
	Want(t, e.Do("DELETE", server.AdminPrefix+"/mirrors/lyon-1", Bearer(rot.Credential), nil), http.StatusUnauthorized, "delete with a mirror credential")
	Want(t, e.Do("DELETE", server.AdminPrefix+"/mirrors/lyon-1", Admin, nil), http.StatusNoContent, "delete")
	Want(t, e.Do("DELETE", server.AdminPrefix+"/mirrors/lyon-1", Admin, nil), http.StatusNotFound, "delete again")
	Want(t, e.manifest(rot.Credential, "", nil), http.StatusUnauthorized, "credential of a deleted mirror")
	e.RegisterMirror(EnrollmentSecret, "lyon-1", "lyon")
	r = e.Do("GET", server.AdminPrefix+"/audit", Admin, nil)
	Want(t, r, http.StatusOK, "audit")
	for _, action := range []string{"mirror.register", "mirror.rotate", "mirror.delete"} {
		if !strings.Contains(string(r.Body), `"`+action+`"`) {
			t.Errorf("audit lacks %s", action)
		}
	}
}

// testMirrorManifest: every file of the repository (the catalog's sidecar excepted)
// and every served package with size and digests; the ETag gives 304; a long-poll
// answers when a file appears, 304 after the wait otherwise.
func testMirrorManifest(t *testing.T, open Opener) {
	e := NewEnv(t, open, server.WithManifestPoll(20*time.Millisecond))
	cred := e.RegisterMirror(EnrollmentSecret, "lyon-1", "")
	a1, a256 := e.PutRepoFile("windows10.0-kb1-x64_"+strings.Repeat("a", 40)+".cab", []byte("update a"))
	e.PutRepoFile("wsusscn2.cab", []byte("MSCF catalog"))
	e.PutRepoFile("wsusscn2.cab.sha1", []byte("0000\n"))
	e.PutRepoFile("leftover.part", []byte("partial"))

	r := e.manifest(cred, "", nil)
	Want(t, r, http.StatusOK, "manifest")
	var man api.MirrorManifest
	r.JSON(t, &man)
	if man.Scope != api.ScopeAll || len(man.Files) != 2 || r.Header.Get("ETag") != `"`+man.Version+`"` {
		t.Fatalf("manifest = %+v (ETag %s)", man, r.Header.Get("ETag"))
	}
	f := man.Files[0]
	if f.Path != "waptwua/windows10.0-kb1-x64_"+strings.Repeat("a", 40)+".cab" || f.Size != 8 || f.SHA1 != a1 || f.SHA256 != a256 || f.Appeared.IsZero() {
		t.Errorf("file = %+v, want sha1 %s sha256 %s", f, a1, a256)
	}
	if man.Files[1].Path != "waptwua/wsusscn2.cab" {
		t.Errorf("second file %+v, want the catalog", man.Files[1])
	}
	etag := http.Header{"If-None-Match": {r.Header.Get("ETag")}}
	r = e.manifest(cred, "", etag)
	Want(t, r, http.StatusNotModified, "manifest with its ETag")
	if len(r.Body) != 0 {
		t.Errorf("304 with a body: %q", r.Body)
	}
	start := time.Now()
	Want(t, e.manifest(cred, "?wait=300ms", etag), http.StatusNotModified, "long-poll without change")
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("long-poll answered after %s, want the wait", d)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		e.PutRepoFile("windows10.0-kb2-x64_"+strings.Repeat("b", 40)+".cab", []byte("update b"))
	}()
	start = time.Now()
	r = e.manifest(cred, "?wait=10s", etag)
	Want(t, r, http.StatusOK, "long-poll with a change")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("long-poll answered after %s", d)
	}
	var man2 api.MirrorManifest
	r.JSON(t, &man2)
	if len(man2.Files) != 3 || man2.Version == man.Version {
		t.Errorf("manifest after a new file = %+v", man2)
	}
	// A changed file changes the version.
	e.PutRepoFile("wsusscn2.cab", []byte("MSCF catalog 2"))
	r = e.manifest(cred, "", http.Header{"If-None-Match": {`"` + man2.Version + `"`}})
	Want(t, r, http.StatusOK, "manifest after a changed file")

	Want(t, e.manifest(cred, "?scope=bogus", nil), http.StatusBadRequest, "unknown scope")
	Want(t, e.manifest(cred, "?wait=x", nil), http.StatusBadRequest, "bad wait")
	// scope=needed is computed by the main server from the site's hosts: without that
	// ability the server refuses it (never widens it to every file silently); with it, a
	// mirror without a site is refused.
	want := http.StatusNotImplemented
	if _, ok := e.Store.(server.SiteHosts); ok {
		want = http.StatusBadRequest
	}
	Want(t, e.manifest(cred, "?scope=needed", nil), want, "scope=needed")
}

// testMirrorState: the state a mirror reports is stored, listed to console users and
// exported as metrics per mirror.
func testMirrorState(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.RegisterMirror(EnrollmentSecret, "lyon-1", "lyon")
	st := api.MirrorState{Status: api.MirrorLagging, Version: "v1", FilesHeld: 3, BytesHeld: 300, FilesMissing: 2, BytesMissing: 20,
		LagSeconds: 12, LastError: "upstream slow", RequestsServed: 5, BytesServed: 5000, BytesSynced: 320, SyncSeconds: 1.5}
	Want(t, e.Do("POST", api.PathMirrorState, Bearer(cred), st), http.StatusNoContent, "state")
	for _, bad := range []string{`{"status":"fine"}`, `{"status":"in_sync","files_held":-1}`, `{"status":"in_sync","lag_seconds":-1}`, `{"status":"in_sync","x":1}`, `not json`} {
		Want(t, e.Do("POST", api.PathMirrorState, Bearer(cred), bad), http.StatusBadRequest, "state "+bad)
	}
	Want(t, e.Do("GET", server.AdminPrefix+"/mirrors", nil, nil), http.StatusUnauthorized, "mirror list without credentials")
	r := e.Do("GET", server.AdminPrefix+"/mirrors", Viewer, nil)
	Want(t, r, http.StatusOK, "mirror list (read-only user)")
	var list struct {
		Mirrors []struct {
			Name  string `json:"name"`
			Site  string `json:"site"`
			State struct {
				Status       string `json:"status"`
				FilesMissing int64  `json:"files_missing"`
				BytesServed  int64  `json:"bytes_served"`
				LastError    string `json:"last_error"`
			} `json:"state"`
			Credential any `json:"credential_hash"`
		} `json:"mirrors"`
	}
	r.JSON(t, &list)
	if len(list.Mirrors) != 1 || list.Mirrors[0].Name != "lyon-1" || list.Mirrors[0].State.Status != api.MirrorLagging ||
		list.Mirrors[0].State.FilesMissing != 2 || list.Mirrors[0].State.BytesServed != 5000 || list.Mirrors[0].Credential != nil {
		t.Errorf("mirror list = %s", r.Body)
	}
	if strings.Contains(string(r.Body), "credential") {
		t.Errorf("mirror list shows credentials: %s", r.Body)
	}
	m := e.Do("GET", "/metrics", nil, nil)
	for _, want := range []string{`waptserver_mirror_bytes_served{mirror="lyon-1"} 5000`, `waptserver_mirror_files_missing{mirror="lyon-1"} 2`,
		`waptserver_mirror_sync_duration_seconds{mirror="lyon-1"} 1.5`, `waptserver_mirror_bytes_synced{mirror="lyon-1"} 320`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
