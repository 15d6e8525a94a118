package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// maxRulesBytes bounds a rules form or JSON document.
const maxRulesBytes = 1 << 20

type rulesData struct {
	Editable bool
	Rules    rules.Rules
	JSON     string
	Error    string

	AllowedUpdates, ForbiddenUpdates string // one entry a line
	AllowedKBs, ForbiddenKBs         string

	Products        []facetOption
	Classifications []facetOption
	Severities      []facetOption

	DefaultAllow      string // "", true, false
	IncludeSuperseded string
	DeclineSuperseded string
	AutoApprove       []string
	Maturities        []maturityCount
	Packages          []packageRow
	PackagesShown     bool // the server lists packages (Deps.Packages)
}

type packageRow struct {
	store.RulesPackage
	Offered  string
	Assigned []string // "group:servers", "host:<uuid>"
}

type maturityCount struct {
	Name  string
	Hosts int
}

func tri(b *bool) string {
	if b == nil {
		return ""
	}
	if *b {
		return "true"
	}
	return "false"
}

func lines(list []string) string { return strings.Join(list, "\n") }

func (c *Console) rulesData(r *http.Request, rs rules.Rules) rulesData {
	d := rulesData{
		Editable:          c.deps.Rules != nil,
		Rules:             rs,
		AllowedUpdates:    lines(rs.AllowedUpdates),
		ForbiddenUpdates:  lines(rs.ForbiddenUpdates),
		AllowedKBs:        lines(rs.AllowedKBs),
		ForbiddenKBs:      lines(rs.ForbiddenKBs),
		DefaultAllow:      tri(rs.DefaultAllow),
		IncludeSuperseded: tri(rs.IncludePotentiallySupersededUpdates),
		DeclineSuperseded: tri(rs.DeclineSuperseded),
	}
	if b, err := rules.Marshal(rs); err == nil {
		d.JSON = string(b)
	}
	for _, a := range rs.AutoApprove {
		d.AutoApprove = append(d.AutoApprove, a.String())
	}
	products, classes := c.categoryNames(r.Context())
	d.Products = checkedFold(products, rs.AllowedProducts)
	d.Classifications = checkedFold(classes, rs.AllowedClassifications)
	d.Severities = checkedFold([]string{"Critical", "Important", "Moderate", "Low"}, rs.AllowedSeverities)
	return d
}

// checkedFold lists names (in their order) with those in chosen checked, comparing without
// letter case; chosen entries that are not among names (a GUID, a product the catalog
// lost) are listed too, so that saving the form keeps them.
func checkedFold(names, chosen []string) []facetOption {
	has := func(list []string, v string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
	}
	names = slices.Compact(names)
	var out []facetOption
	for _, n := range names {
		out = append(out, facetOption{Value: n, Label: n, Checked: has(chosen, n)})
	}
	for _, v := range chosen {
		if !has(names, v) {
			out = append(out, facetOption{Value: v, Label: v, Checked: true})
		}
	}
	return out
}

func (c *Console) handleRules(w http.ResponseWriter, r *http.Request) {
	var rs rules.Rules
	if c.deps.Rules != nil {
		var err error
		if rs, err = c.deps.Rules.ServerRules(r.Context()); err != nil {
			c.fail(w, r, fmt.Errorf("read server rules: %w", err))
			return
		}
	}
	d := c.rulesData(r, rs)
	d.Maturities = c.maturities(r)
	if c.deps.Packages != nil {
		pkgs, err := c.deps.Packages.ListPackages(r.Context())
		if err != nil {
			c.fail(w, r, fmt.Errorf("rules packages: %w", err))
			return
		}
		as, err := c.deps.Packages.ListAssignments(r.Context())
		if err != nil {
			c.fail(w, r, fmt.Errorf("rules package assignments: %w", err))
			return
		}
		d.PackagesShown = true
		for _, p := range pkgs {
			row := packageRow{RulesPackage: p, Offered: p.OfferedMaturity()}
			for _, a := range as {
				if a.Package == p.Name {
					row.Assigned = append(row.Assigned, string(a.Kind)+":"+a.Target)
				}
			}
			d.Packages = append(d.Packages, row)
		}
	}
	c.render(w, r, http.StatusOK, "rules", c.newPage(w, r, "rules", "Rules", d))
}

// maturities counts hosts per maturity (PROD, PREPROD ...), first 5,000 hosts.
func (c *Console) maturities(r *http.Request) []maturityCount {
	hosts, _, err := c.allHosts(r, 5000)
	if err != nil {
		return nil
	}
	m := map[string]int{}
	for _, h := range hosts {
		name := h.Maturity
		if name == "" {
			name = "PROD"
		}
		m[name]++
	}
	var out []maturityCount
	for k, v := range m {
		out = append(out, maturityCount{k, v})
	}
	slices.SortFunc(out, func(a, b maturityCount) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func parseTri(v string) *bool {
	switch v {
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	}
	return nil
}

// handleSaveRules saves the structured rules form. The auto_approve entries, which the
// form does not edit, are kept.
func (c *Console) handleSaveRules(w http.ResponseWriter, r *http.Request) {
	if c.deps.Rules == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Rules not editable", "This server has no editable server-wide rules.")
		return
	}
	cur, err := c.deps.Rules.ServerRules(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("read server rules: %w", err))
		return
	}
	f := r.PostForm
	rs := rules.Rules{
		AllowedUpdates:                      splitLines(f.Get("allowed_updates")),
		ForbiddenUpdates:                    splitLines(f.Get("forbidden_updates")),
		AllowedKBs:                          splitLines(f.Get("allowed_kbs")),
		ForbiddenKBs:                        splitLines(f.Get("forbidden_kbs")),
		AllowedProducts:                     listParam(f, "allowed_products"),
		AllowedClassifications:              listParam(f, "allowed_classifications"),
		AllowedSeverities:                   listParam(f, "allowed_severities"),
		DefaultAllow:                        parseTri(f.Get("default_allow")),
		IncludePotentiallySupersededUpdates: parseTri(f.Get("include_potentially_superseded_updates")),
		DeclineSuperseded:                   parseTri(f.Get("decline_superseded")),
		AutoApprove:                         cur.AutoApprove,
	}
	if err := c.saveRules(r, rs); err != nil {
		c.rulesError(w, r, rs, err)
		return
	}
	c.redirectWith(w, r, Prefix+"rules", "ok", "Server rules saved. Hosts apply them at their next scan.")
}

// handleSaveRulesJSON saves a whole waptwua_rules.json typed in the advanced editor.
func (c *Console) handleSaveRulesJSON(w http.ResponseWriter, r *http.Request) {
	if c.deps.Rules == nil {
		c.errorPage(w, r, http.StatusServiceUnavailable, "Rules not editable", "This server has no editable server-wide rules.")
		return
	}
	text := r.PostFormValue("json")
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	rs, err := rules.Parse([]byte(text))
	if err != nil {
		d := c.rulesData(r, rules.Rules{})
		if cur, cerr := c.deps.Rules.ServerRules(r.Context()); cerr == nil {
			d = c.rulesData(r, cur)
		}
		d.JSON, d.Error = text, err.Error()
		c.render(w, r, http.StatusBadRequest, "rules", c.newPage(w, r, "rules", "Rules", d))
		return
	}
	if err := c.saveRules(r, rs); err != nil {
		c.rulesError(w, r, rs, err)
		return
	}
	c.redirectWith(w, r, Prefix+"rules", "ok", "Server rules saved. Hosts apply them at their next scan.")
}

func (c *Console) rulesError(w http.ResponseWriter, r *http.Request, rs rules.Rules, err error) {
	var ue *userError
	if !errors.As(err, &ue) {
		c.fail(w, r, err)
		return
	}
	d := c.rulesData(r, rs)
	d.Error = ue.msg
	c.render(w, r, http.StatusBadRequest, "rules", c.newPage(w, r, "rules", "Rules", d))
}

// saveRules checks, normalizes and stores the server-wide rules and audits the change.
// An invalid entry is a userError naming it.
func (c *Console) saveRules(r *http.Request, rs rules.Rules) error {
	norm, err := rs.Normalize()
	if err != nil {
		return badRequest("%v", err)
	}
	data, err := rules.Marshal(norm)
	if err != nil {
		return fmt.Errorf("encode rules: %w", err)
	}
	if len(data) > maxRulesBytes {
		return badRequest("The rules are larger than %d bytes.", maxRulesBytes)
	}
	if err := c.deps.Rules.SetServerRules(r.Context(), norm); err != nil {
		return fmt.Errorf("save server rules: %w", err)
	}
	c.deps.App.Audit(r.Context(), "rules.update", "rules:server", string(data))
	return nil
}

// categoryNames returns the catalog's product and classification names, sorted (none
// when the store cannot say: the pages then offer no choice rather than fail).
func (c *Console) categoryNames(ctx context.Context) (products, classes []string) {
	cats, err := c.deps.Store.Categories(ctx)
	if err != nil {
		return nil, nil
	}
	for _, cat := range cats {
		switch cat.Type {
		case wu.CategoryProduct:
			products = append(products, cat.Name)
		case wu.CategoryClassification:
			classes = append(classes, cat.Name)
		}
	}
	slices.Sort(products)
	slices.Sort(classes)
	return products, classes
}
