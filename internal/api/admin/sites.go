package admin

import "time"

// Site is one site (issue 14): its ordered repositories and the rules that assign hosts
// to it (host UUIDs first, then groups, then networks; then site order).
type Site struct {
	Name          string    `json:"name"`
	Position      int       `json:"position"`
	Repositories  []string  `json:"repositories"`
	Networks      []string  `json:"networks"`
	Groups        []string  `json:"groups"`
	Hosts         []string  `json:"hosts"`
	HostsAssigned int       `json:"hosts_assigned"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	UpdatedBy     string    `json:"updated_by,omitempty"`
}

// SiteRequest creates a site (POST /sites) or replaces one (PUT /sites/{name}; a new
// name renames it). Position 0 puts a new site last and keeps an existing one's place.
type SiteRequest struct {
	Name         string   `json:"name"`
	Position     int      `json:"position,omitempty"`
	Repositories []string `json:"repositories"`
	Networks     []string `json:"networks,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	Hosts        []string `json:"hosts,omitempty"`
}
