package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
)

// RulesSource gives a host its effective server-side rules (GET /api/v1/hosts/{uuid}/rules).
// The agent merges them with its [waptwua] ini section (internal/rules.Merge).
type RulesSource interface {
	HostRules(ctx context.Context, h store.Host) (api.Rules, error)
}

// RulesEditor reads and replaces the server-wide rules (GET and PUT
// /api/v1/admin/rules). A RulesSource that also implements it is editable.
type RulesEditor interface {
	ServerRules(ctx context.Context) (rules.Rules, error)
	SetServerRules(ctx context.Context, r rules.Rules) error
}

// noRules gives every host empty rules: its ini section alone decides.
type noRules struct{}

func (noRules) HostRules(context.Context, store.Host) (api.Rules, error) {
	return api.Rules{Rules: api.RawJSON("{}")}, nil
}

// FileRules keeps one server-wide rules JSON (waptwua_rules.json format) in a file,
// by default <data>/waptwua_rules.json, and gives it to every host. It stands in until
// rules packages are stored and assigned per host: a missing file means no rules.
type FileRules struct {
	Path string
}

var (
	_ RulesSource = (*FileRules)(nil)
	_ RulesEditor = (*FileRules)(nil)
)

// ServerRules reads and validates the file; a missing file gives empty rules.
func (f *FileRules) ServerRules(ctx context.Context) (rules.Rules, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return rules.Rules{}, nil
	}
	if err != nil {
		return rules.Rules{}, fmt.Errorf("server rules: %w", err)
	}
	r, err := rules.Parse(data)
	if err != nil {
		return rules.Rules{}, fmt.Errorf("server rules %s: %w (fix the file or PUT /api/v1/admin/rules)", f.Path, err)
	}
	return r, nil
}

// HostRules gives every host the server-wide rules.
func (f *FileRules) HostRules(ctx context.Context, _ store.Host) (api.Rules, error) {
	r, err := f.ServerRules(ctx)
	if err != nil {
		return api.Rules{}, err
	}
	data, err := rules.Marshal(r)
	if err != nil {
		return api.Rules{}, fmt.Errorf("server rules: %w", err)
	}
	return api.Rules{Rules: api.RawJSON(data)}, nil
}

// SetServerRules replaces the file atomically.
func (f *FileRules) SetServerRules(ctx context.Context, r rules.Rules) error {
	data, err := rules.Marshal(r)
	if err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".waptwua_rules-*.json")
	if err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("server rules: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("server rules: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("server rules: %w", err)
	}
	return nil
}
