package sqlq

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Tables and columns the update list relies on, in both schemas:
//
//	updates u: id, source, created, title, severity, severity_rank, kb_num,
//	           classification, search_text, superseded, downloaded_on
//	update_products p: update_pk, product
//	update_kbs k: kb (normalized as in search_text, no "kb"), update_pk (migration 0003)
//	host_updates h: update_pk, status

// SQL lists of store.NeededStatuses and store.WantedStatuses (a test keeps them equal).
const (
	NeededStatusSQL = "'MISSING', 'PENDING', 'DISCARDED', 'ERROR'"
	WantedStatusSQL = "'MISSING', 'PENDING'"
)

// HostCountCols are two columns over update alias u: the hosts needing it and the hosts
// having installed it, from the maintained update_counts (counts.go).
const HostCountCols = "coalesce((SELECT n.needing FROM update_counts n WHERE n.update_pk = u.id), 0), " +
	"coalesce((SELECT n.installed FROM update_counts n WHERE n.update_pk = u.id), 0)"

type facet int

const (
	facetNone facet = iota
	facetSeverity
	facetProduct
	facetClassification
)

// UpdateList is the plan of one ListUpdates call.
type UpdateList struct {
	Page  Stmt // selects the caller's columns then u.id, Limit+1 rows
	Count Stmt // one row: the number of matching updates
	// Facet statements select (value, count) rows; empty SQL unless WithFacets.
	Severity, Product, Classification Stmt
	Limit                             int
	sort                              string
	desc                              bool
}

// sortColumn is the column of a sort order (each has an index on (column, id)).
func sortColumn(s store.UpdateSort) (string, bool) {
	switch s {
	case store.SortCreated:
		return "u.created", true
	case store.SortTitle:
		return "u.title", true
	case store.SortSeverity:
		return "u.severity_rank", true
	case store.SortKB:
		return "u.kb_num", true
	case store.SortClassification:
		return "u.classification", true
	}
	return "", false
}

// BuildUpdateList writes the statements of ListUpdates. columns are the backend's
// select list over alias u.
func BuildUpdateList(d Dialect, f store.UpdateFilter, columns string) (UpdateList, error) {
	sort, desc := f.Sort, f.Desc
	if sort == "" {
		sort, desc = store.SortCreated, true
	}
	col, ok := sortColumn(sort)
	if !ok {
		return UpdateList{}, fmt.Errorf("update sort %q: %w (want created, title, severity, kb or classification)", sort, store.ErrInvalid)
	}
	for _, s := range f.Severities {
		if s != wu.SeverityNone {
			if _, err := wu.ParseSeverity(string(s)); err != nil {
				return UpdateList{}, fmt.Errorf("update filter: %w: %w", err, store.ErrInvalid)
			}
		}
	}
	if f.Offset < 0 {
		return UpdateList{}, fmt.Errorf("update filter: negative offset %d: %w", f.Offset, store.ErrInvalid)
	}
	l := UpdateList{Limit: store.PageLimit(f.Limit, 50, 1000), sort: string(sort), desc: desc}

	// Page. The inner query picks the rows, reading only their ids and sort values (a
	// covering index walk, or a sort of narrow records after a filter index); the outer
	// one reads the caller's columns (host counts are subqueries) for those rows only,
	// not for every row OFFSET skips or the sort orders.
	b := &builder{d: d}
	b.w("SELECT ", columns, ", u.id FROM (SELECT u.id, ", col, " AS sk FROM updates u WHERE TRUE")
	where(b, f, facetNone)
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return UpdateList{}, err
		}
		if c.Sort != string(sort) || c.Desc != desc {
			return UpdateList{}, fmt.Errorf("page cursor is for sort %q, not %q: %w", c.Sort, sort, store.ErrInvalid)
		}
		v, err := cursorArg(d, sort, c.Val)
		if err != nil {
			return UpdateList{}, err
		}
		b.w(" AND (", col, ", u.id) ", cmp, " (", b.arg(v), ", ", b.arg(c.ID), ")")
	}
	order := " ORDER BY " + col + " " + dir + ", u.id " + dir
	b.w(order, " LIMIT ", strconv.Itoa(l.Limit+1))
	if f.Cursor == "" && f.Offset > 0 {
		b.w(" OFFSET ", strconv.Itoa(f.Offset))
	}
	b.w(") p JOIN updates u ON u.id = p.id ORDER BY p.sk ", dir, ", p.id ", dir)
	l.Page = b.stmt()

	b = &builder{d: d}
	b.w("SELECT count(*) FROM updates u WHERE TRUE")
	where(b, f, facetNone)
	l.Count = b.stmt()

	if f.WithFacets {
		b = &builder{d: d}
		b.w("SELECT u.severity, count(*) FROM updates u WHERE TRUE")
		where(b, f, facetSeverity)
		b.w(" GROUP BY u.severity")
		l.Severity = b.stmt()

		b = &builder{d: d}
		b.w("SELECT u.classification, count(*) FROM updates u WHERE TRUE")
		where(b, f, facetClassification)
		b.w(" GROUP BY u.classification")
		l.Classification = b.stmt()

		b = &builder{d: d}
		b.w("SELECT p.product, count(*) FROM update_products p JOIN updates u ON u.id = p.update_pk WHERE TRUE")
		where(b, f, facetProduct)
		b.w(" GROUP BY p.product")
		l.Product = b.stmt()
	}
	return l, nil
}

// where appends the filter conditions, all but the one of facet skip.
func where(b *builder, f store.UpdateFilter, skip facet) {
	if len(f.Severities) > 0 && skip != facetSeverity {
		b.w(" AND u.severity IN ")
		inList(b, f.Severities)
	}
	if cs := CleanStrings(f.Classifications); len(cs) > 0 && skip != facetClassification {
		b.w(" AND u.classification IN ")
		inList(b, cs)
	}
	if ps := CleanStrings(f.Products); len(ps) > 0 && skip != facetProduct {
		b.w(" AND EXISTS (SELECT 1 FROM update_products fp WHERE fp.update_pk = u.id AND fp.product IN ")
		inList(b, ps)
		b.w(")")
	}
	if s := strings.TrimSpace(f.Search); s != "" {
		if lo, hi, ok := KBRange(s); ok {
			// An index range on update_kbs, not a LIKE over every row.
			b.w(" AND u.id IN (SELECT k.update_pk FROM update_kbs k WHERE k.kb >= ", b.arg(lo), " AND k.kb < ", b.arg(hi), ")")
		} else {
			b.w(" AND u.search_text LIKE ", b.arg(LikePattern(s)), ` ESCAPE '\'`)
		}
	}
	if f.Needed != nil {
		b.w(" AND")
		if !*f.Needed {
			b.w(" NOT")
		}
		if b.d.SemiJoinIn {
			b.w(" u.id IN (SELECT n.update_pk FROM update_counts n WHERE n.needing > 0)")
		} else {
			b.w(" EXISTS (SELECT 1 FROM update_counts n WHERE n.update_pk = u.id AND n.needing > 0)")
		}
	}
	if f.Downloaded != nil {
		if *f.Downloaded {
			b.w(" AND u.downloaded_on IS NOT NULL")
		} else {
			b.w(" AND u.downloaded_on IS NULL")
		}
	}
	if f.Superseded != nil {
		v := b.d.False
		if *f.Superseded {
			v = b.d.True
		}
		b.w(" AND u.superseded = ", v)
	}
	if f.Source != "" {
		b.w(" AND u.source = ", b.arg(string(f.Source)))
	}
}

// minBareKBDigits is the length from which a search of digits alone is a KB number
// (real ones have 6 or 7 digits) rather than part of a title ("2024", "1607", "07").
const minBareKBDigits = 6

// KBRange reports whether search s is a KB number, or the start of one: "KB" then
// digits ("kb5034", "KB 5034441"), or minBareKBDigits digits or more ("5034441"). Then
// the KBs it matches are the update_kbs.kb values in [lo, hi) (byte order): those
// starting with its digits, as "kb"+digits matches search_text.
func KBRange(s string) (lo, hi string, ok bool) {
	s = strings.TrimSpace(s)
	prefixed := len(s) >= 2 && strings.EqualFold(s[:2], "kb")
	if prefixed {
		s = strings.TrimSpace(s[2:])
	}
	if s == "" || strings.Trim(s, "0123456789") != "" || (!prefixed && len(s) < minBareKBDigits) {
		return "", "", false
	}
	// The digits are ASCII: the next string after every one starting with s ends in the
	// byte after its last digit ('9'+1 is ':').
	return s, s[:len(s)-1] + string(s[len(s)-1]+1), true
}

func cursorArg(d Dialect, sort store.UpdateSort, v string) (any, error) {
	switch sort {
	case store.SortTitle, store.SortClassification:
		return v, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("page cursor value %q: %w", v, store.ErrInvalid)
	}
	if sort == store.SortCreated {
		return d.Time(n), nil
	}
	return n, nil
}

// NextCursor is the cursor continuing after u (row id id) in l's order.
func (l UpdateList) NextCursor(u *store.UpdateInfo, id int64) string {
	var v string
	switch store.UpdateSort(l.sort) {
	case store.SortCreated:
		v = strconv.FormatInt(Micros(u.Created), 10)
	case store.SortTitle:
		v = u.Title
	case store.SortSeverity:
		v = strconv.Itoa(store.SeverityRank(u.Severity))
	case store.SortKB:
		v = strconv.FormatInt(KBNumber(u.KBs), 10)
	case store.SortClassification:
		v = u.Classification
	}
	return encodeCursor(cursor{Sort: l.sort, Desc: l.desc, Val: v, ID: id})
}

// SortFacet orders facet values by count, most first, then by value.
func SortFacet(fs []store.FacetCount) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Count != fs[j].Count {
			return fs[i].Count > fs[j].Count
		}
		return fs[i].Value < fs[j].Value
	})
}
