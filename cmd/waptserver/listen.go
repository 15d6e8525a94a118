package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// loadTLS loads tls_cert and tls_key (nil when neither is set), for serve and mirror.
func loadTLS(cert, key string) (*tls.Certificate, error) {
	if cert == "" {
		return nil, nil
	}
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s / tls_key %s: %w (both must be PEM files: the certificate chain and its private key)", cert, key, err)
	}
	return &c, nil
}

// serveHTTP serves hs on ln (HTTPS, TLS 1.2 or later, when cert is set) until ctx ends,
// then shuts it down gracefully (15 s at most).
func serveHTTP(ctx context.Context, hs *http.Server, ln net.Listener, cert *tls.Certificate, log *slog.Logger) error {
	if cert != nil {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
	}
	serveErr := make(chan error, 1)
	go func() {
		if cert != nil {
			serveErr <- hs.ServeTLS(ln, "", "")
		} else {
			serveErr <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
