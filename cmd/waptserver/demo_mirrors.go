package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/mirror"
	"github.com/openwua/waptwua/internal/store"
)

// The demo's site repositories (--mirrors N, issue 14): N `waptserver mirror` services
// (internal/mirror) next to the demo server, each serving a site "Site k" whose network
// is 10.k.0.0/16. Simulated host i reports the address 10.(i mod N + 1).x.y/16, so the
// hosts spread evenly over the sites and download from their site's mirror once the
// server has seen their first report.

// maxDemoMirrors bounds --mirrors.
const maxDemoMirrors = 4

// demoMirror is one running site repository of the demo.
type demoMirror struct {
	Name string
	Site string
	URL  string
	M    *mirror.Mirror
	hs   *http.Server
}

// demoSiteOf is the site (1-based) of simulated host i with n mirrors.
func demoSiteOf(i, n int) int { return i%n + 1 }

// demoHostNetworks is what simulated host i reports as its address.
func demoHostNetworks(i, n int) []string {
	return []string{fmt.Sprintf("10.%d.%d.%d/16", demoSiteOf(i, n), i/250, i%250+1)}
}

// startMirrors creates the sites and enrolls and starts the mirrors.
func (d *demoFleet) startMirrors(ctx, runCtx context.Context, o demoOptions, secret string, log *slog.Logger) error {
	interval := 15 * time.Minute
	if o.quick {
		interval = time.Minute
	}
	for k := 1; k <= o.mirrors; k++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo mirror %d: %w", k, err)
		}
		m := &demoMirror{Name: fmt.Sprintf("mirror-%d", k), Site: fmt.Sprintf("Site %d", k), URL: "http://" + ln.Addr().String()}
		if _, err := d.Store.CreateSite(ctx, store.Site{Name: m.Site, Repositories: []string{m.URL},
			Networks: []string{fmt.Sprintf("10.%d.0.0/16", k)}, UpdatedAt: time.Now(), UpdatedBy: "demo"}); err != nil {
			ln.Close()
			return fmt.Errorf("demo site %d: %w", k, err)
		}
		cred, err := mirror.Register(ctx, nil, d.URL, secret, api.MirrorRegisterRequest{Name: m.Name, Site: m.Site, URL: m.URL})
		if err != nil {
			ln.Close()
			return fmt.Errorf("demo mirror %d: %w", k, err)
		}
		dir := filepath.Join(d.Data, "mirrors", m.Name)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			ln.Close()
			return err
		}
		mlog := log.With(slog.String("mirror", m.Name))
		if m.M, err = mirror.New(mirror.Config{MainURL: d.URL, Credential: cred, Scope: api.ScopeAll, Data: dir, Interval: interval, Log: mlog}); err != nil {
			ln.Close()
			return fmt.Errorf("demo mirror %d: %w", k, err)
		}
		d.closers = append(d.closers, m.M.Close)
		m.hs = &http.Server{Handler: m.M.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(mlog.Handler(), slog.LevelWarn)}
		d.wg.Go(func() {
			if err := m.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				mlog.Error("demo mirror stopped serving", slog.Any("err", err))
			}
		})
		d.wg.Go(func() {
			<-runCtx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = m.hs.Shutdown(sctx)
		})
		d.wg.Go(func() {
			if err := m.M.Run(runCtx); err != nil && runCtx.Err() == nil {
				mlog.Error("demo mirror stopped syncing", slog.Any("err", err))
			}
		})
		d.Mirrors = append(d.Mirrors, m)
	}
	return nil
}
