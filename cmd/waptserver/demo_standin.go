package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/cab/authenticode/pki"
	"github.com/openwua/waptwua/internal/catalog"
)

// standin plays Microsoft's update servers for the demo: it serves the synthetic
// wsusscn2.cab, signed as Microsoft signs the real one but by a throw-away root of its
// own (roots), and the update files of its catalog (generated on the fly, with the
// digests the catalog gives), on a local port. The server's Microsoft client dials it
// whatever host a URL names (download.windowsupdate.com ...), so the catalog's URLs stay
// Microsoft's. The demo server trusts roots for the catalog, so its signature check
// stays on.
type standin struct {
	roots *x509.CertPool // the root of the catalog's signature
	url   string         // http://127.0.0.1:port
	host  string         // 127.0.0.1:port
	cab   string
	files map[string]catalog.SynthFile // by URL path
	hs    *http.Server
	done  chan struct{}
	log   *slog.Logger
	// delay per update file, so that downloads are visible in the console for a moment.
	delay time.Duration
}

func newStandin(cabPath string, man *catalog.SynthManifest, log *slog.Logger) (*standin, error) {
	roots, err := signStandinCatalog(cabPath)
	if err != nil {
		return nil, err
	}
	s := &standin{roots: roots, cab: cabPath, files: map[string]catalog.SynthFile{}, done: make(chan struct{}), log: log, delay: 400 * time.Millisecond}
	for _, f := range man.Files {
		u, err := url.Parse(f.URL)
		if err != nil {
			return nil, fmt.Errorf("stand-in: file URL %q: %w", f.URL, err)
		}
		s.files[u.Path] = f
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stand-in for Microsoft: %w", err)
	}
	s.host = ln.Addr().String()
	s.url = "http://" + s.host
	s.hs = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("stand-in for Microsoft stopped", slog.Any("err", err))
		}
	}()
	return s, nil
}

// modTime is the Last-Modified of everything the stand-in serves.
var standinModTime = time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC)

func (s *standin) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/wsusscn2.cab") {
		f, err := os.Open(s.cab)
		if err != nil {
			http.Error(w, "cab unavailable", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "wsusscn2.cab", standinModTime, f)
		return
	}
	f, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
	if err != nil {
		http.Error(w, "file unavailable", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodGet && s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return
		}
	}
	http.ServeContent(w, r, f.Name, standinModTime, bytes.NewReader(data))
}

// transport dials the stand-in for every host.
func (s *standin) transport() http.RoundTripper {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.host)
		},
		MaxIdleConnsPerHost: 8,
	}
}

func (s *standin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	<-s.done
	return err
}

// signStandinCatalog signs the catalog at path with a throw-away root made for this run
// and returns that root.
func signStandinCatalog(path string) (*x509.CertPool, error) {
	p, err := pki.New(pki.Options{CAName: "waptwua demo stand-in root", SignerCN: "waptwua demo stand-in catalog signer"})
	if err != nil {
		return nil, fmt.Errorf("stand-in for Microsoft: %w", err)
	}
	unsigned, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stand-in for Microsoft: %w", err)
	}
	signed, err := authenticode.Signer{Cert: p.Signer, Key: p.Key}.Sign(unsigned)
	if err != nil {
		return nil, fmt.Errorf("stand-in for Microsoft: signing the catalog: %w", err)
	}
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		return nil, fmt.Errorf("stand-in for Microsoft: %w", err)
	}
	return p.Pool(), nil
}
