package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
)

// Errors of the server client, matched with errors.Is.
var (
	// ErrUnauthorized: the server refused the host credential (or the enrollment secret).
	ErrUnauthorized = errors.New("credential rejected by the server")
	// ErrUnreachable: no HTTP answer at all (DNS, connection, TLS, timeout).
	ErrUnreachable = errors.New("server unreachable")
)

// HTTPError is an unexpected HTTP answer, with the server's error message when it gave one.
type HTTPError struct {
	Method  string
	URL     string
	Status  int
	Message string
	Field   string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Field != "" {
		msg += ": " + e.Field
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is makes a 401 match ErrUnauthorized.
func (e *HTTPError) Is(target error) bool {
	return target == ErrUnauthorized && e.Status == http.StatusUnauthorized
}

// Client talks to the server's agent API (internal/api) and to the repository folder.
type Client struct {
	hc        *http.Client
	server    string // "https://srv", no final slash
	repo      string // "https://srv/waptwua/", with the final slash
	pkgRepo   string // "https://srv/wapt/": rules packages
	cred      *Credential
	userAgent string
}

// NewClient returns a client for the server at server (base URL) and the repository at
// repo (config.Agent.WUARepoURL). cred may be nil before registration: the agent API
// calls then fail with ErrNotRegistered, the repository still works. Rules packages
// come from WAPT's package repository, repo_url itself: repo without its "wua" suffix
// ("https://srv/waptwua/" gives "https://srv/wapt/"), else server + "/wapt/".
func NewClient(hc *http.Client, server, repo string, cred *Credential, userAgent string) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if repo != "" && !strings.HasSuffix(repo, "/") {
		repo += "/"
	}
	server = strings.TrimRight(server, "/")
	pkgRepo := ""
	switch {
	case strings.HasSuffix(repo, "wua/"):
		pkgRepo = strings.TrimSuffix(repo, "wua/") + "/"
	case server != "":
		pkgRepo = server + api.PackagePrefix
	}
	return &Client{hc: hc, server: server, repo: repo, pkgRepo: pkgRepo, cred: cred, userAgent: userAgent}
}

// Registered reports whether the client has a host credential.
func (c *Client) Registered() bool { return c.cred != nil && c.cred.Credential != "" }

// Credential returns the host credential (nil before registration).
func (c *Client) Credential() *Credential { return c.cred }

// RepoURL returns the repository folder URL.
func (c *Client) RepoURL() string { return c.repo }

func (c *Client) hostPath(p string) (string, error) {
	if !c.Registered() {
		return "", fmt.Errorf("%w: no credential (run: wapt-get register --server https://<server> --secret <enrollment secret>)", ErrNotRegistered)
	}
	if c.server == "" {
		return "", fmt.Errorf("no server URL: set [global] wapt_server in wapt-get.ini or register again")
	}
	return c.server + strings.ReplaceAll(p, "{uuid}", url.PathEscape(c.cred.UUID)), nil
}

// Report posts a scan report, gzip-compressed; a nil error means the server
// acknowledged it. lean says the server accepts lean reports (api.LeanReportsHeader);
// ans is its answer to a lean report.
func (c *Client) Report(ctx context.Context, r *api.Report) (ans api.ReportAnswer, lean bool, err error) {
	u, err := c.hostPath(api.PathReport)
	if err != nil {
		return ans, false, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return ans, false, fmt.Errorf("POST %s: encode the report: %w", u, err)
	}
	if err := zw.Close(); err != nil {
		return ans, false, fmt.Errorf("POST %s: compress the report: %w", u, err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, u, c.cred.Credential, &buf)
	if err != nil {
		return ans, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := c.hc.Do(req)
	if err != nil {
		return ans, false, unreachable(req, err)
	}
	defer drain(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ans, false, httpError(req, resp)
	}
	lean = resp.Header.Get(api.LeanReportsHeader) == "1"
	if resp.StatusCode == http.StatusOK && r.Lean {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&ans); err != nil {
			return ans, lean, fmt.Errorf("POST %s: answer is not the expected JSON: %w", u, err)
		}
		lean = lean || ans.Lean
	}
	return ans, lean, nil
}

// Rules fetches the host's effective server rules. With etag set, a 304 answer gives
// notModified and the caller keeps its copy.
func (c *Client) Rules(ctx context.Context, etag string) (r api.Rules, newETag string, notModified bool, err error) {
	u, err := c.hostPath(api.PathRules)
	if err != nil {
		return api.Rules{}, "", false, err
	}
	req, err := c.newRequest(ctx, http.MethodGet, u, c.cred.Credential, nil)
	if err != nil {
		return api.Rules{}, "", false, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return api.Rules{}, "", false, unreachable(req, err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusNotModified:
		return api.Rules{}, etag, true, nil
	case http.StatusOK:
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&r); err != nil {
			return api.Rules{}, "", false, fmt.Errorf("GET %s: rules answer is not JSON: %w", u, err)
		}
		return r, resp.Header.Get("ETag"), false, nil
	}
	return api.Rules{}, "", false, httpError(req, resp)
}

// Commands long-polls the host's pending commands, the server holding the request up to
// wait.
func (c *Client) Commands(ctx context.Context, wait time.Duration) ([]api.Command, error) {
	u, err := c.hostPath(api.PathCommands)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		u += "?wait=" + url.QueryEscape(wait.String())
	}
	ctx, cancel := context.WithTimeout(ctx, wait+time.Minute)
	defer cancel()
	var out api.Commands
	if err := c.do(ctx, http.MethodGet, u, c.cred.Credential, nil, &out); err != nil {
		return nil, err
	}
	return out.Commands, nil
}

// CommandResult reports how command id ended.
func (c *Client) CommandResult(ctx context.Context, id string, res api.CommandResult) error {
	u, err := c.hostPath(strings.ReplaceAll(api.PathCommandResult, "{id}", url.PathEscape(id)))
	if err != nil {
		return err
	}
	if len(res.Message) > api.MaxErrorLen {
		res.Message = res.Message[:api.MaxErrorLen-3] + "..."
	}
	return c.do(ctx, http.MethodPost, u, c.cred.Credential, res, nil)
}

// do sends in as JSON (when not nil) with a bearer token and decodes the answer into out
// (when not nil).
func (c *Client) do(ctx context.Context, method, u, bearer string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, u, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, u, bearer, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return unreachable(req, err)
	}
	defer drain(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpError(req, resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, u, err)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, u, bearer string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (check wapt_server and repo_url in wapt-get.ini)", method, u, err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// repoURL is the URL of a file of the repository folder.
func (c *Client) repoURL(name string) (string, error) {
	if c.repo == "" {
		return "", fmt.Errorf("no repository URL: set [global] repo_url in wapt-get.ini")
	}
	return c.repo + url.PathEscape(name), nil
}

// HeadFile says whether the repository has the file name (HEAD: 200 yes, 404/410 no).
func (c *Client) HeadFile(ctx context.Context, name string) (bool, error) {
	u, err := c.repoURL(name)
	if err != nil {
		return false, err
	}
	req, err := c.newRequest(ctx, http.MethodHead, u, "", nil)
	if err != nil {
		return false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, unreachable(req, err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound, http.StatusGone:
		return false, nil
	}
	return false, httpError(req, resp)
}

// getFile sends a GET for a repository file with extra headers; the caller closes the
// body.
func (c *Client) getFile(ctx context.Context, name string, hdr http.Header) (*http.Response, error) {
	u, err := c.repoURL(name)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Del("Accept")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, unreachable(req, err)
	}
	return resp, nil
}

func unreachable(req *http.Request, err error) error {
	if ctxErr := req.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return fmt.Errorf("%s %s: %w: %w (check the network and the server address)", req.Method, req.URL.Redacted(), ErrUnreachable, err)
}

func httpError(req *http.Request, resp *http.Response) error {
	e := &HTTPError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode}
	if req.Method != http.MethodHead {
		var body api.Error
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &body) == nil && body.Error != "" {
			e.Message, e.Field = body.Error, body.Field
		} else if t := strings.TrimSpace(string(data)); t != "" && len(t) < 300 && !strings.Contains(t, "<") {
			e.Message = t
		}
	}
	if e.Status == http.StatusUnauthorized && e.Message == "" {
		e.Message = "register the host again (wapt-get register)"
	}
	return e
}

// drain reads a little of what is left so that the connection can be reused, and closes.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// NewHTTPClient returns the HTTP client for the server and the repository, following
// [global] verify_cert (a boolean or a CA bundle) and client_certificate /
// client_private_key. It has no overall timeout (downloads are long): requests carry
// contexts, and the transport bounds connection set-up and waiting for headers.
func NewHTTPClient(cfg *config.Agent) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	g := cfg.Global
	if !g.VerifyCert {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // the administrator's choice: verify_cert = False
	}
	if g.CABundle != "" {
		pem, err := os.ReadFile(g.CABundle)
		if err != nil {
			return nil, fmt.Errorf("%s [global] verify_cert = %q: %w (give the path of a PEM file of trusted roots)", cfg.Source, g.CABundle, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s [global] verify_cert = %q: no PEM certificate in the file", cfg.Source, g.CABundle)
		}
		tlsCfg.RootCAs = pool
	}
	if g.ClientCertificate != "" {
		cert, err := tls.LoadX509KeyPair(g.ClientCertificate, g.ClientPrivateKey)
		if err != nil {
			return nil, fmt.Errorf("%s [global] client_certificate = %q, client_private_key = %q: %w", cfg.Source, g.ClientCertificate, g.ClientPrivateKey, err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: api.MaxWait + 30*time.Second, // long-polls hold the headers
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr}, nil
}
