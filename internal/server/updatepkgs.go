package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

// Update packages (issue 15): the .wapt is uploaded on POST /packages like a rules
// package (app.IngestPackage tells them apart); each payload file follows with
// PUT /packages/{name}/{version}/payload/{path...}, streamed to the repository folder
// and checked against the signed manifest. Agents fetch the payload files from
// /wapt/NAME_VERSION.payload/<path> (Range, as the repository's files), once the
// package is complete.

// payloadIdle is how long a payload upload may send nothing before it is cut; the
// 2-minute ReadTimeout of the whole request does not apply to it (several GB).
const payloadIdle = 2 * time.Minute

// handlePayloadFile serves one payload file of a servable update package.
func (s *Server) handlePayloadFile(w http.ResponseWriter, r *http.Request) {
	dir, file := r.PathValue("dir"), r.PathValue("path")
	notFound := func() {
		writeErrorBody(w, http.StatusNotFound, "", fmt.Sprintf("no payload file %s/%s in this repository", truncate(dir, 200), truncate(file, 200)))
	}
	if s.repo == nil || !strings.HasSuffix(dir, repo.PayloadSuffix) {
		notFound()
		return
	}
	p, err := s.store.PackageFile(r.Context(), strings.TrimSuffix(dir, repo.PayloadSuffix)+".wapt")
	if errors.Is(err, store.ErrNotFound) || err == nil && (!p.IsUpdate() || !p.Servable()) {
		notFound()
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.repo.ServePayload(w, r, app.PayloadDir(p.Name, p.Version), file)
}

func (s *Server) handleGetPayload(w http.ResponseWriter, r *http.Request) {
	st, err := s.app.Payload(r.Context(), r.PathValue("name"), r.PathValue("version"))
	reply(s, w, r, http.StatusOK, st, err, func(st app.PayloadState) app.PayloadState { return st })
}

// isPayloadUpload says whether r is PUT /packages/{name}/{version}/payload/{path...},
// whose body is the file itself (not JSON).
func isPayloadUpload(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, AdminPrefix+"/packages/")
	parts := strings.SplitN(rest, "/", 4)
	return ok && r.Method == http.MethodPut && len(parts) == 4 && parts[2] == "payload"
}

// handlePutPayload receives one payload file: the body is the file itself, streamed
// (never held in memory), cut when idle for payloadIdle.
func (s *Server) handlePutPayload(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/octet-stream" {
			s.fail(w, r, errStatus(http.StatusUnsupportedMediaType, "", "content type %q: send the payload file itself as application/octet-stream", truncate(ct, 80)))
			return
		}
	}
	body := http.MaxBytesReader(w, r.Body, pkg.MaxPayloadFileSize+1)
	rc := http.NewResponseController(w)
	in := &idleReader{r: body, extend: func() {
		at := time.Now().Add(payloadIdle)
		_ = rc.SetReadDeadline(at)
		_ = rc.SetWriteDeadline(at)
	}}
	st, err := s.app.PutPayloadFile(r.Context(), r.PathValue("name"), r.PathValue("version"), r.PathValue("path"), in)
	_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = errStatus(http.StatusRequestEntityTooLarge, "", "payload file larger than %d bytes", int64(pkg.MaxPayloadFileSize))
	}
	reply(s, w, r, http.StatusOK, st, err, func(st app.PayloadState) app.PayloadState { return st })
}

// idleReader calls extend before each read (moving the connection's deadlines on).
type idleReader struct {
	r      io.Reader
	extend func()
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.extend()
	return i.r.Read(p)
}
