// Package wu holds the domain types shared by the server, the agent and the catalog
// reader: updates, their files and categories, severities and per-host statuses.
// It imports no other package of the project.
package wu

import (
	"fmt"
	"strings"
	"time"
)

// UpdateKey identifies one revision of an update, written "<guid>_<rev>" as in
// rules packages and agent reports (REFERENCE §2).
type UpdateKey struct {
	UpdateID       string // lower-case GUID
	RevisionNumber int
}

// String renders the key as "<guid>_<rev>".
func (k UpdateKey) String() string { return fmt.Sprintf("%s_%d", k.UpdateID, k.RevisionNumber) }

// ParseUpdateKey parses "<guid>_<rev>". A bare GUID gives revision 0.
func ParseUpdateKey(s string) (UpdateKey, error) {
	s = strings.TrimSpace(s)
	id, rev, found := strings.Cut(s, "_")
	if !IsGUID(id) {
		return UpdateKey{}, fmt.Errorf("update key %q: %q is not a GUID (want <guid>_<revision>)", s, id)
	}
	k := UpdateKey{UpdateID: strings.ToLower(id)}
	if found {
		n := 0
		if rev == "" || len(rev) > 9 {
			return UpdateKey{}, fmt.Errorf("update key %q: revision %q is not a number", s, rev)
		}
		for _, c := range rev {
			if c < '0' || c > '9' {
				return UpdateKey{}, fmt.Errorf("update key %q: revision %q is not a number", s, rev)
			}
			n = n*10 + int(c-'0')
		}
		k.RevisionNumber = n
	}
	return k, nil
}

// IsGUID reports whether s has the 8-4-4-4-12 hexadecimal GUID shape.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Severity is the MSRC severity of an update; empty when Microsoft gives none.
type Severity string

// The MSRC severities, from most to least severe.
const (
	SeverityCritical  Severity = "Critical"
	SeverityImportant Severity = "Important"
	SeverityModerate  Severity = "Moderate"
	SeverityLow       Severity = "Low"
	SeverityNone      Severity = ""
)

// ParseSeverity accepts a severity in any letter case.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range []Severity{SeverityCritical, SeverityImportant, SeverityModerate, SeverityLow} {
		if strings.EqualFold(strings.TrimSpace(s), string(v)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("severity %q: want one of Critical, Important, Moderate, Low", s)
}

// CategoryType is the kind of a catalog category row.
type CategoryType string

// Category types found in the catalog.
const (
	CategoryCompany        CategoryType = "Company"
	CategoryProductFamily  CategoryType = "ProductFamily"
	CategoryProduct        CategoryType = "Product"
	CategoryClassification CategoryType = "UpdateClassification"
)

// Category is a product, product family, company or classification.
type Category struct {
	ID       string       `json:"id"` // lower-case GUID
	Type     CategoryType `json:"type"`
	Name     string       `json:"name"`
	ParentID string       `json:"parent_id,omitempty"`
}

// File is one payload file of an update, as the catalog describes it.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`   // lower-case hex
	SHA256 string `json:"sha256"` // lower-case hex, empty when the catalog has none
	URL    string `json:"url"`
}

// Update is one software update bundle: what an administrator approves and a host installs.
type Update struct {
	UpdateID       string    `json:"update_id"`
	RevisionNumber int       `json:"revision_number"`
	RevisionID     int64     `json:"revision_id"`
	Created        time.Time `json:"created"`
	Title          string    `json:"title"`
	Description    string    `json:"description,omitempty"`
	KBs            []string  `json:"kb"` // digits only
	Severity       Severity  `json:"severity"`
	// Classification is the name of the update's classification; ClassificationID its GUID.
	Classification   string   `json:"classification"`
	ClassificationID string   `json:"classification_id,omitempty"`
	Products         []string `json:"products"`
	ProductIDs       []string `json:"product_ids,omitempty"`
	Company          string   `json:"company,omitempty"`
	ProductFamily    string   `json:"product_family,omitempty"`
	SupersededBy     []string `json:"superseded_by"` // update ids
	Supersedes       []string `json:"supersedes"`    // update ids
	Prerequisites    []string `json:"prerequisites,omitempty"`
	SupportURL       string   `json:"support_url,omitempty"`
	SecurityBulletin []string `json:"security_bulletins,omitempty"`
	Files            []File   `json:"files"`
}

// Key returns the update's identity.
func (u *Update) Key() UpdateKey {
	return UpdateKey{UpdateID: u.UpdateID, RevisionNumber: u.RevisionNumber}
}

// Status is the state of one update on one host (REFERENCE §2).
type Status string

// Per-host update statuses.
const (
	StatusOK         Status = "OK"
	StatusPending    Status = "PENDING"
	StatusMissing    Status = "MISSING"
	StatusDiscarded  Status = "DISCARDED"
	StatusError      Status = "ERROR"
	StatusSuperseded Status = "SUPERSEDED"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusOK, StatusPending, StatusMissing, StatusDiscarded, StatusError, StatusSuperseded:
		return true
	}
	return false
}

// Reason explains a DISCARDED status.
type Reason string

// Discard reasons.
const (
	ReasonForbidden  Reason = "forbidden"
	ReasonNotAllowed Reason = "not_allowed"
	ReasonDelayed    Reason = "delayed"
)
