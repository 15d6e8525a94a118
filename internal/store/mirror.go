package store

import (
	"context"
	"fmt"
	"time"
)

// MirrorStore keeps the site repositories ("waptserver mirror", issue 14): each one
// enrolls with an enrollment token and gets a repository credential of its own (never
// usable as a host's), then reports its state. The console's Repositories page reads
// ListMirrors.
type MirrorStore interface {
	// RegisterMirror creates the mirror r.Name with its credential, or gives it a new
	// credential when r.Rotate is its current credential id. r.EnrollmentToken, when
	// set, is checked and counted in the same transaction (ErrNotFound, ErrExpired,
	// ErrRevoked, ErrUsedUp). ErrMirrorExists when the name is taken and r.Rotate does
	// not match; ErrConflict when the credential id belongs to another mirror;
	// ErrInvalid for an empty name or credential.
	RegisterMirror(ctx context.Context, r MirrorRegistration) (Mirror, error)
	// MirrorByCredential returns the mirror holding the credential id, or ErrNotFound.
	MirrorByCredential(ctx context.Context, credentialID string) (Mirror, error)
	// SetMirrorState records the state a mirror reported at at. ErrNotFound.
	SetMirrorState(ctx context.Context, id int64, st MirrorState, at time.Time) error
	// ListMirrors returns every mirror, by name.
	ListMirrors(ctx context.Context) ([]Mirror, error)
	// DeleteMirror removes a mirror (its credential stops working). ErrNotFound.
	DeleteMirror(ctx context.Context, name string) error
}

// ErrMirrorExists: a mirror of that name is registered with another credential.
var ErrMirrorExists = fmt.Errorf("mirror exists with a credential: %w", ErrConflict)

// MirrorRegistration is a mirror enrolling (or rotating its credential).
type MirrorRegistration struct {
	Name            string
	Site            string // may be empty
	URL             string // where the mirror serves, as it says
	CredentialID    string
	CredentialHash  []byte // SHA-256 of the whole credential
	EnrollmentToken string // checked and counted when set
	Rotate          string // the current credential id, to replace it
	At              time.Time
}

// Validate checks the registration's required fields.
func (r MirrorRegistration) Validate() error {
	if r.Name == "" || r.CredentialID == "" || len(r.CredentialHash) == 0 {
		return fmt.Errorf("mirror registration without name or credential: %w", ErrInvalid)
	}
	return nil
}

// Mirror is one site repository.
type Mirror struct {
	ID             int64       `json:"id"`
	Name           string      `json:"name"`
	Site           string      `json:"site,omitempty"`
	URL            string      `json:"url,omitempty"`
	CredentialID   string      `json:"-"`
	CredentialHash []byte      `json:"-"`
	RegisteredAt   time.Time   `json:"registered_at"`
	State          MirrorState `json:"state"`
	UpdatedAt      time.Time   `json:"updated_at,omitzero"` // last state report; zero: none yet
}

// MirrorState is what a mirror last reported about itself.
type MirrorState struct {
	Status         string        `json:"status"` // "in_sync", "syncing", "lagging" or "error"
	Version        string        `json:"version,omitempty"`
	LastSync       time.Time     `json:"last_sync,omitzero"` // end of the last complete sync
	FilesHeld      int64         `json:"files_held"`
	BytesHeld      int64         `json:"bytes_held"`
	FilesMissing   int64         `json:"files_missing"`
	BytesMissing   int64         `json:"bytes_missing"`
	Lag            time.Duration `json:"lag"` // since the oldest missing file appeared on the main server
	LastError      string        `json:"last_error,omitempty"`
	RequestsServed int64         `json:"requests_served"`
	BytesServed    int64         `json:"bytes_served"`
	BytesSynced    int64         `json:"bytes_synced"`
	SyncDuration   time.Duration `json:"sync_duration"` // of the last sync
}
