package repo

import (
	"io"
	"net/http"
	"time"
)

// downloadChunk is how much of a file one sendfile call may send under one deadline.
const downloadChunk = 256 << 10

// WriteDeadlines wraps the writer of a download (the main server's /waptwua/, a site
// repository's): every write first pushes the connection's write deadline perWrite
// ahead, so that a slow client that keeps reading is served and one that stalls is cut.
// File bodies keep the connection's sendfile path (ReadFrom), sent in chunks each under
// a fresh deadline. perWrite <= 0 returns w.
func WriteDeadlines(w http.ResponseWriter, perWrite time.Duration) http.ResponseWriter {
	if perWrite <= 0 {
		return w
	}
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), perWrite: perWrite}
}

type deadlineWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	perWrite time.Duration
}

func (w *deadlineWriter) extend() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.perWrite)) // not supported: no deadline
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(b)
}

// ReadFrom sends r in chunks, each under a fresh deadline. An *io.LimitedReader of a
// file keeps the connection's sendfile path.
func (w *deadlineWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	limit := int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		r, limit = lr.R, lr.N
		defer func() { lr.N = limit }()
	}
	var total int64
	for limit != 0 {
		chunk := int64(downloadChunk)
		if limit > 0 {
			chunk = min(chunk, limit)
		}
		w.extend()
		n, err := rf.ReadFrom(&io.LimitedReader{R: r, N: chunk})
		total += n
		if limit > 0 {
			limit -= n
		}
		if err != nil {
			return total, err
		}
		if n < chunk {
			break // end of the file
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
