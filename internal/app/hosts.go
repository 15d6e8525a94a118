package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// Host identity (issue 11): an administrator resets a host so that it may register
// again, accepts or rejects hosts waiting for approval, and manages enrollment tokens.

// HostAdmin is what the host identity operations need of the store.
type HostAdmin interface {
	GetHost(ctx context.Context, uuid string) (store.Host, error)
	DeleteHost(ctx context.Context, uuid string) error
	ResetHost(ctx context.Context, uuid string, at time.Time, actor string) (store.Host, error)
	ListPendingHosts(ctx context.Context) ([]store.Host, error)
	AcceptHost(ctx context.Context, uuid string, at time.Time, actor string) (store.Host, error)
	RejectHost(ctx context.Context, uuid string) error
}

// TokenStore keeps enrollment tokens (only their digest).
type TokenStore interface {
	CreateEnrollmentToken(ctx context.Context, token string, t store.EnrollmentToken) (store.EnrollmentToken, error)
	ListEnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error)
	RevokeEnrollmentToken(ctx context.Context, id int64, at time.Time, actor string) error
}

func (a *App) adminHosts(ctx context.Context) (User, HostAdmin, error) {
	who, err := admin(ctx)
	if err != nil {
		return who, nil, err
	}
	if a.d.Hosts == nil {
		return who, nil, errorf(Unavailable, "", "this server does not manage hosts")
	}
	return who, a.d.Hosts, nil
}

// ResetHost clears a host's credential (host.reset): the host gets 401 until it
// registers again, and its next registration is accepted (a reinstalled machine).
func (a *App) ResetHost(ctx context.Context, uuid string) (store.Host, error) {
	who, hs, err := a.adminHosts(ctx)
	if err != nil {
		return store.Host{}, err
	}
	h, err := hs.ResetHost(ctx, uuid, a.now(), who.Name)
	if err != nil {
		return h, notFound(err, "no host %q", Truncate(uuid, 100))
	}
	a.audit(ctx, who.Name, "host.reset", "host:"+h.UUID, map[string]string{"name": h.Name})
	return h, nil
}

// DeleteHost removes a host, its statuses and its commands (host.delete).
func (a *App) DeleteHost(ctx context.Context, uuid string) error {
	who, hs, err := a.adminHosts(ctx)
	if err != nil {
		return err
	}
	h, err := hs.GetHost(ctx, uuid)
	if err != nil {
		return notFound(err, "no host %q", Truncate(uuid, 100))
	}
	if err := hs.DeleteHost(ctx, uuid); err != nil {
		return notFound(err, "no host %q", Truncate(uuid, 100))
	}
	a.audit(ctx, who.Name, "host.delete", "host:"+uuid, map[string]string{"name": h.Name})
	return nil
}

// PendingHosts lists the hosts waiting for approval (registration = approve).
func (a *App) PendingHosts(ctx context.Context) ([]store.Host, error) {
	if _, err := reader(ctx); err != nil {
		return nil, err
	}
	if a.d.Hosts == nil {
		return nil, errorf(Unavailable, "", "this server does not manage hosts")
	}
	return a.d.Hosts.ListPendingHosts(ctx)
}

// AcceptHost lets a pending host in (host.accept).
func (a *App) AcceptHost(ctx context.Context, uuid string) (store.Host, error) {
	who, hs, err := a.adminHosts(ctx)
	if err != nil {
		return store.Host{}, err
	}
	h, err := hs.AcceptHost(ctx, uuid, a.now(), who.Name)
	if err != nil {
		return h, notFound(err, "no host %q waits for approval", Truncate(uuid, 100))
	}
	a.audit(ctx, who.Name, "host.accept", "host:"+h.UUID, map[string]string{"name": h.Name})
	return h, nil
}

// RejectHost deletes a pending host (host.reject).
func (a *App) RejectHost(ctx context.Context, uuid string) error {
	who, hs, err := a.adminHosts(ctx)
	if err != nil {
		return err
	}
	if err := hs.RejectHost(ctx, uuid); err != nil {
		return notFound(err, "no host %q waits for approval", Truncate(uuid, 100))
	}
	a.audit(ctx, who.Name, "host.reject", "host:"+uuid, nil)
	return nil
}

// NewToken is an enrollment token to create.
type NewToken struct {
	Label     string
	ExpiresAt time.Time // zero: never
	MaxUses   int       // 0: unlimited
}

// CreateEnrollmentToken makes a random enrollment token (256 bits) and returns it with
// its record: the token itself is shown once, the store keeps only its digest
// (enrollment_token.create).
func (a *App) CreateEnrollmentToken(ctx context.Context, req NewToken) (string, store.EnrollmentToken, error) {
	who, err := admin(ctx)
	if err != nil {
		return "", store.EnrollmentToken{}, err
	}
	if a.d.Tokens == nil {
		return "", store.EnrollmentToken{}, errorf(Unavailable, "", "this server keeps no enrollment tokens")
	}
	req.Label = strings.TrimSpace(req.Label)
	if req.Label == "" || len(req.Label) > 100 {
		return "", store.EnrollmentToken{}, errorf(Invalid, "label", "name the token (1 to 100 characters), e.g. the site or the deployment")
	}
	now := a.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return "", store.EnrollmentToken{}, errorf(Invalid, "expires_at", "in the past")
	}
	if req.MaxUses < 0 || req.MaxUses > 1_000_000 {
		return "", store.EnrollmentToken{}, errorf(Invalid, "max_uses", "%d: want 0 (unlimited) to 1000000", req.MaxUses)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	tok := "wet_" + hex.EncodeToString(b)
	t, err := a.d.Tokens.CreateEnrollmentToken(ctx, tok, store.EnrollmentToken{Label: req.Label, CreatedAt: now, CreatedBy: who.Name,
		ExpiresAt: req.ExpiresAt, MaxUses: req.MaxUses})
	if err != nil {
		return "", t, fmt.Errorf("create an enrollment token: %w", err)
	}
	a.audit(ctx, who.Name, "enrollment_token.create", fmt.Sprintf("enrollment_token:%d", t.ID),
		map[string]any{"label": t.Label, "expires_at": t.ExpiresAt, "max_uses": t.MaxUses})
	return tok, t, nil
}

// EnrollmentTokens lists the tokens (never their value), admins only.
func (a *App) EnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	if a.d.Tokens == nil {
		return nil, errorf(Unavailable, "", "this server keeps no enrollment tokens")
	}
	return a.d.Tokens.ListEnrollmentTokens(ctx)
}

// RevokeEnrollmentToken ends a token at once (enrollment_token.revoke).
func (a *App) RevokeEnrollmentToken(ctx context.Context, id int64) error {
	who, err := admin(ctx)
	if err != nil {
		return err
	}
	if a.d.Tokens == nil {
		return errorf(Unavailable, "", "this server keeps no enrollment tokens")
	}
	if err := a.d.Tokens.RevokeEnrollmentToken(ctx, id, a.now(), who.Name); err != nil {
		return notFound(err, "no enrollment token %d", id)
	}
	a.audit(ctx, who.Name, "enrollment_token.revoke", fmt.Sprintf("enrollment_token:%d", id), nil)
	return nil
}
