package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
)

// Credential is what registration gives the host, kept in the credential_file of
// wapt-get.ini (mode 0600): the server it registered with, its UUID and its secret.
type Credential struct {
	Server       string    `json:"server"`
	UUID         string    `json:"uuid"`
	Credential   string    `json:"credential"`
	RegisteredAt time.Time `json:"registered_at,omitzero"`
}

// ErrNotRegistered is returned when the credential file does not exist.
var ErrNotRegistered = errors.New("agent not registered")

// Fingerprint identifies the registration without revealing the secret.
func (c *Credential) Fingerprint() string {
	if c == nil || c.Credential == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(c.UUID + "\x00" + c.Credential))
	return hex.EncodeToString(sum[:8])
}

// LoadCredential reads the credential file. A missing file gives an error matching
// ErrNotRegistered that says how to register.
func LoadCredential(path string) (*Credential, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("credential file %s: %w (run: wapt-get register --server https://<server> --secret <enrollment secret>)", path, ErrNotRegistered)
	}
	if err != nil {
		return nil, fmt.Errorf("credential file %s: %w (run as the agent's account, or register again)", path, err)
	}
	var c Credential
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("credential file %s: not JSON: %w (register again to rewrite it)", path, err)
	}
	if c.UUID == "" || c.Credential == "" || c.Server == "" {
		return nil, fmt.Errorf("credential file %s: server, uuid or credential missing (register again to rewrite it)", path)
	}
	return &c, nil
}

// SaveCredential writes the credential file atomically, readable only by its owner
// (0600, its folder 0700) or, on Windows, by SYSTEM and Administrators (ACL).
func SaveCredential(path string, c *Credential) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("credential file %s: encode: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credential file %s: create folder: %w", path, err)
	}
	// The folder first: the file is never readable by others, not even for a moment.
	if err := RestrictPath(dir, true); err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	if err := RestrictPath(path, false); err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	return nil
}

// Register enrolls the host with the server using the enrollment secret and returns
// the credential to save. server is the server's base URL ("https://srv").
func Register(ctx context.Context, c *Client, server, secret string, req api.RegisterRequest) (*Credential, error) {
	server = strings.TrimRight(server, "/")
	if secret == "" {
		return nil, fmt.Errorf("register: empty enrollment secret (give --secret, the enrollment_secret of waptserver.ini)")
	}
	var resp api.RegisterResponse
	if err := c.do(ctx, "POST", server+api.PathRegister, secret, req, &resp); err != nil {
		return nil, fmt.Errorf("register with %s: %w", server, err)
	}
	if resp.Credential == "" || resp.UUID == "" {
		return nil, fmt.Errorf("register with %s: the answer has no credential (is %s a waptserver?)", server, server)
	}
	return &Credential{Server: server, UUID: resp.UUID, Credential: resp.Credential}, nil
}
