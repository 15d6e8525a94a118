package store

import (
	"context"
	"iter"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// CatalogStore holds the update catalog: imported from wsusscn2.cab, completed by updates
// that hosts report and the catalog does not know.
type CatalogStore interface {
	// ImportCatalog writes one catalog generation in one transaction: readers see the
	// previous generation until it commits. Revisions whose content did not change are
	// not rewritten (ImportResult.Written counts the rows that were).
	ImportCatalog(ctx context.Context, imp CatalogImport) (ImportResult, error)
	// GetUpdate returns one update with its files and host counts. A key with
	// RevisionNumber 0 (a bare GUID) gives the newest stored revision.
	GetUpdate(ctx context.Context, key wu.UpdateKey) (UpdateInfo, error)
	// ListUpdates returns one page of updates matching the filter, and facet counts when
	// asked.
	ListUpdates(ctx context.Context, f UpdateFilter) (UpdatePage, error)
	// Categories returns the catalog's categories (companies, product families,
	// products, classifications) ordered by type and name.
	Categories(ctx context.Context) ([]wu.Category, error)
}

// Source tells where an update row comes from.
type Source string

// Update sources.
const (
	SourceCatalog Source = "catalog" // wsusscn2.cab
	SourceReport  Source = "report"  // a host reported it and the catalog did not know it
)

// CatalogImport is one catalog generation to import.
type CatalogImport struct {
	// Updates streams the updates. An error it yields aborts the import (nothing is
	// written). UpdatesOf turns a slice into this.
	Updates iter.Seq2[wu.Update, error]
	// Categories are upserted; categories absent from the list are kept.
	Categories []wu.Category
	// At is the import time, recorded on new and changed rows.
	At time.Time
	// Partial says Updates is not the whole catalog: catalog updates absent from it are
	// kept. When false, catalog updates absent from this generation are deleted, or
	// turned into SourceReport rows when a host still reports them.
	Partial bool
}

// ImportResult counts what an import did.
type ImportResult struct {
	Seen       int // updates read from the stream (duplicates included)
	Inserted   int // new update rows
	Changed    int // existing rows rewritten because their content changed
	Unchanged  int // rows left untouched
	Removed    int // catalog rows deleted (absent from a complete generation)
	Demoted    int // catalog rows absent from the generation but still reported by hosts
	Categories int // category rows inserted or changed
}

// Written is the number of update rows the import wrote (Inserted + Changed).
func (r ImportResult) Written() int { return r.Inserted + r.Changed }

// UpdatesOf adapts a slice to CatalogImport.Updates.
func UpdatesOf(us []wu.Update) iter.Seq2[wu.Update, error] {
	return func(yield func(wu.Update, error) bool) {
		for _, u := range us {
			if !yield(u, nil) {
				return
			}
		}
	}
}

// UpdateInfo is an update as the server knows it: the catalog data plus server-side state.
type UpdateInfo struct {
	wu.Update
	Source Source `json:"source"`
	// DownloadedOn is when the last of the update's files reached the server cache; zero
	// while any file is missing or when the update has no file.
	DownloadedOn   time.Time `json:"downloaded_on,omitzero"`
	Superseded     bool      `json:"superseded"`
	HostsNeeding   int       `json:"hosts_needing"`   // hosts with a NeededStatuses status
	HostsInstalled int       `json:"hosts_installed"` // hosts with status OK
	ImportedAt     time.Time `json:"imported_at"`     // first stored
	ChangedAt      time.Time `json:"changed_at"`      // content last changed
	// FileStates are the update's files with their cache state (GetUpdate only; list
	// pages leave it and Update.Files empty).
	FileStates []UpdateFile `json:"file_states,omitempty"`
}

// UpdateSort names a sort order of ListUpdates. Every order ends with the row id, so
// pages never repeat or skip rows.
type UpdateSort string

// Update sort orders.
const (
	SortCreated        UpdateSort = "created" // publication date (the default, newest first)
	SortTitle          UpdateSort = "title"
	SortSeverity       UpdateSort = "severity" // Critical > Important > Moderate > Low > none
	SortKB             UpdateSort = "kb"       // first KB number
	SortClassification UpdateSort = "classification"
)

// UpdateFilter selects and orders updates. Zero values mean "no filter".
type UpdateFilter struct {
	Severities      []wu.Severity // any of; SeverityNone selects updates without severity
	Products        []string      // product names, any of
	Classifications []string      // classification names, any of
	// Search matches a KB number ("KB5034441" or "5034441") or part of the title,
	// ignoring letter case.
	Search     string
	Needed     *bool  // at least one host needs it (NeededStatuses)
	Downloaded *bool  // all its files are in the server cache
	Superseded *bool  // superseded by another update
	Source     Source // "" for all
	Sort       UpdateSort
	// Desc reverses the order. With Sort empty the default is created, newest first,
	// whatever Desc says.
	Desc bool
	// Limit is the page size: 50 when 0, at most 1000.
	Limit int
	// Cursor continues after the page that returned it (keyset pagination: stable under
	// inserts). When empty, Offset rows are skipped instead.
	Cursor string
	Offset int
	// WithFacets asks for per-severity, per-product and per-classification counts.
	WithFacets bool
}

// UpdatePage is one page of ListUpdates.
type UpdatePage struct {
	Updates []UpdateInfo `json:"updates"`
	Total   int          `json:"total"`          // rows matching the filter, all pages
	Next    string       `json:"next,omitempty"` // cursor of the next page; empty on the last
	Facets  *Facets      `json:"facets,omitempty"`
}

// Facets count matching updates per value. Each facet applies every filter but its own,
// so the console can show how many updates each choice of that facet would give.
type Facets struct {
	Severity       []FacetCount `json:"severity"`
	Product        []FacetCount `json:"product"`
	Classification []FacetCount `json:"classification"`
}

// FacetCount is one value of a facet and its number of updates.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// SeverityRank orders severities for sorting: Critical 4 … Low 1, none 0.
func SeverityRank(s wu.Severity) int {
	switch s {
	case wu.SeverityCritical:
		return 4
	case wu.SeverityImportant:
		return 3
	case wu.SeverityModerate:
		return 2
	case wu.SeverityLow:
		return 1
	}
	return 0
}
