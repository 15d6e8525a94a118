package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/openwua/waptwua/internal/api"
)

// Site repositories (issue 14). The server's rules answer lists the repositories of the
// host's site (api.Rules.Repositories); the main server's repository is the implicit
// last. Each download cycle the agent sends a cheap health check (HEAD of the update
// folder) to each site repository in order and starts with the first that answers.
// A file a repository lacks, cannot serve, or serves with other bytes than its name's
// SHA-1 is fetched from the next one; a damaged copy is reported (the cycle's errors,
// the report's last_error). Every file is verified anyway: a mirror needs no trust
// beyond availability. The report names the repository that served the last file
// (api.Report.Repository), or the one chosen when nothing was downloaded.
//
// The catalog (wsusscn2.cab): its SHA-1 always comes from the main server
// (wsusscn2.cab.sha1); once the host knows its site, a new catalog is taken from the
// first site repository that serves it with that SHA-1, else from the main server
// (syncCabFromSite).

// repoHealthTimeout bounds the health check of one repository.
const repoHealthTimeout = 5 * time.Second

// Networks lists the host's IP addresses with their prefix length ("10.1.2.3/24"):
// what the server assigns the host to a site by.
type Networks func() ([]string, error)

// WithNetworks replaces how the agent lists the host's addresses (default: the
// interfaces' unicast addresses, loopback and link-local ones left out).
func WithNetworks(n Networks) Option { return func(a *Agent) { a.networks = n } }

// InterfaceNetworks lists the host's global unicast addresses with their prefix length,
// at most api.MaxNetworks.
func InterfaceNetworks() ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the network addresses: %w", err)
	}
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() { // loopback, link-local, multicast, unspecified
			continue
		}
		ones, _ := ipn.Mask.Size()
		if ip.Is4() && ones > 32 {
			ones -= 96
		}
		out = append(out, netip.PrefixFrom(ip, ones).String())
		if len(out) == api.MaxNetworks {
			break
		}
	}
	return out, nil
}

// hostNetworks is what the report says of the host's addresses (nil when unknown: the
// server keeps the last ones).
func (a *Agent) hostNetworks() []string {
	if a.networks == nil {
		return nil
	}
	ns, err := a.networks()
	if err != nil {
		a.log.Warn("network addresses not reported", slog.Any("err", err))
		return nil
	}
	var out []string
	for _, n := range ns {
		if _, err := netip.ParsePrefix(n); err == nil && len(out) < api.MaxNetworks {
			out = append(out, n)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// withRepo returns a copy of the client whose update folder is repo.
func (c *Client) withRepo(repo string) *Client {
	cp := *c
	cp.repo = repo
	return &cp
}

// Health checks that the repository answers HTTP at all: a HEAD of its update folder
// answered with any status below 500.
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, repoHealthTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodHead, c.repo, "", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return unreachable(req, err)
	}
	defer drain(resp)
	if resp.StatusCode >= 500 {
		return httpError(req, resp)
	}
	return nil
}

// repositories are the clients of the repositories to try, in order: the site's (from
// the last rules answer), then the main one. A site URL the configuration refuses (http
// without allow_insecure_http) is skipped with a warning.
func (a *Agent) repositories(st *State) []*Client {
	var out []*Client
	seen := map[string]bool{a.client.repo: true}
	if st.ServerRules != nil {
		for _, u := range st.ServerRules.Repositories {
			if _, err := api.ParseRepoURL(u); err != nil {
				a.log.Warn("site repository ignored", slog.String("url", u), slog.Any("err", err))
				continue
			}
			f := api.RepoFolder(u)
			if seen[f] {
				continue
			}
			seen[f] = true
			if err := a.cfg.CheckTransport("site repository", f); err != nil {
				a.log.Warn("site repository ignored", slog.String("url", f), slog.Any("err", err))
				continue
			}
			out = append(out, a.client.withRepo(f))
		}
	}
	return append(out, a.client)
}

// pickRepositories health-checks the site repositories in order and keeps, in c.repos,
// the first that answers and those after it (the main repository always last).
func (a *Agent) pickRepositories(ctx context.Context, c *cycle) {
	all := a.repositories(c.st)
	c.repos = all[len(all)-1:]
	for i, r := range all[:len(all)-1] {
		err := r.Health(ctx)
		if err == nil {
			c.repos = all[i:]
			break
		}
		a.log.Warn("site repository not answering: trying the next", slog.String("repository", r.repo), slog.Any("err", err))
	}
	c.st.Repository = c.repos[0].repo
}

// errWrongContent: the downloaded bytes do not have the SHA-1 the file name says.
var errWrongContent = errors.New("downloaded content does not match its SHA-1")

// fetchFromRepositories downloads the repository file name into part from the cycle's
// repositories in order, each verified against sha; the next repository is tried when
// one is unreachable, lacks the file, fails, or serves other bytes (reported in the
// cycle's errors). It returns the last error when none served it.
func (a *Agent) fetchFromRepositories(ctx context.Context, c *cycle, name, sha, part string) error {
	repos := c.repos
	if len(repos) == 0 {
		repos = []*Client{a.client}
	}
	var errs []error
	for i, r := range repos {
		err := a.fetchVerified(ctx, r, name, sha, part)
		if err == nil {
			c.st.Repository = r.repo
			if len(errs) > 0 {
				a.log.Info("file fetched from a later repository", slog.String("file", name), slog.String("repository", r.repo))
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if errors.Is(err, errWrongContent) && i < len(repos)-1 {
			// A damaged copy on a site repository: said in the report, fetched elsewhere.
			c.errs = append(c.errs, fmt.Errorf("repository %s served a damaged copy: %w (fetched from the next repository)", r.repo, err))
		}
		a.log.Warn("download from repository failed", slog.String("file", name), slog.String("repository", r.repo), slog.Any("err", err))
		errs = append(errs, err)
	}
	return errs[len(errs)-1]
}

// fetchVerified downloads name from one repository into part (resumed when part holds
// bytes) and checks its SHA-1; a wrong content deletes part.
func (a *Agent) fetchVerified(ctx context.Context, r *Client, name, sha, part string) error {
	res, err := fetchResumable(ctx, r, name, part, partSize(part), "", nil, a.progressFor(name))
	if err != nil {
		return err
	}
	if res.SHA1 != sha {
		_ = os.Remove(part)
		return fmt.Errorf("%s: %w: SHA-1 %s, its name says %s (deleted)", name, errWrongContent, res.SHA1, sha)
	}
	return nil
}
