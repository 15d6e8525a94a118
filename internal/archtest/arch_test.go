// Package archtest enforces the dependency rule of docs/ARCHITECTURE.md by reading the
// import lines of every Go file in the module.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/openwua/waptwua"

// rule says which project packages a package (and its sub-packages, unless a more
// specific rule exists) may import. only: the complete allow-list; never: a deny-list.
type rule struct {
	only  []string
	never []string
}

var concreteBackends = []string{"internal/store/sqlite", "internal/store/postgres", "internal/wua/windows", "internal/wua/sim"}

func rules() map[string]rule {
	leaf := rule{only: []string{"internal/wu"}}
	iface := rule{never: append([]string{"cmd"}, concreteBackends...)}
	return map[string]rule{
		"internal/wu":              {only: []string{}},
		"internal/rules":           leaf,
		"internal/config":          leaf,
		"internal/lzx":             leaf,
		"internal/cab":             {only: []string{"internal/wu", "internal/lzx"}},
		"internal/catalog":         {only: []string{"internal/wu", "internal/cab", "internal/lzx"}},
		"internal/store":           {only: []string{"internal/wu", "internal/store"}},
		"internal/server":          iface,
		"internal/console":         iface,
		"internal/jobs":            iface,
		"internal/agent":           iface,
		"internal/wua":             {only: []string{"internal/wu", "internal/wua", "internal/catalog", "internal/cab", "internal/lzx", "internal/rules"}},
		"internal/pkg":             {only: []string{"internal/wu", "internal/rules"}},
		"internal/upstream":        {only: []string{"internal/wu"}},
		"internal/repo":            {only: []string{"internal/wu"}},
		"internal/api":             {only: []string{"internal/wu"}},
		"internal/archtest":        {only: []string{}},
		"internal/store/storetest": {only: []string{"internal/wu", "internal/store"}},
		"internal/jsonlimit":       {only: []string{}},
		"internal/throttle":        {only: []string{}},
		"internal/password":        leaf,
		"internal/schedule":        {only: []string{"internal/wu", "internal/rules"}},
	}
}

// ruleFor returns the most specific rule for a package path relative to the module.
func ruleFor(pkg string, rs map[string]rule) (rule, bool) {
	best, found := "", false
	for prefix := range rs {
		if (pkg == prefix || strings.HasPrefix(pkg, prefix+"/")) && len(prefix) > len(best) {
			best, found = prefix, true
		}
	}
	return rs[best], found
}

func within(imp string, list []string) bool {
	for _, p := range list {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

// violations checks imports (package → project imports, both relative to the module).
func violations(imports map[string][]string, rs map[string]rule) []string {
	var out []string
	for pkg, imps := range imports {
		r, ok := ruleFor(pkg, rs)
		for _, imp := range imps {
			if imp == pkg {
				continue
			}
			if strings.HasPrefix(pkg, "internal/") && within(imp, []string{"cmd"}) {
				out = append(out, pkg+" imports "+imp+": internal packages never import commands")
				continue
			}
			if !ok {
				continue
			}
			if r.only != nil && !within(imp, r.only) && !strings.HasPrefix(imp, pkg+"/") {
				out = append(out, pkg+" imports "+imp+": not allowed by the dependency rule")
			}
			if within(imp, r.never) {
				out = append(out, pkg+" imports "+imp+": depend on an interface, only cmd/* wires concrete backends")
			}
		}
	}
	sort.Strings(out)
	return out
}

func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	imports := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "var") {
				return filepath.SkipDir
			}
			return nil
		}
		// Tests may wire concrete pieces together (real SQLite, real PostgreSQL, the sim
		// WUA): the rule is about what production code depends on.
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, is := range f.Imports {
			p := strings.Trim(is.Path.Value, `"`)
			if strings.HasPrefix(p, module+"/") {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(p, module+"/"))
			}
		}
		if _, ok := imports[pkg]; !ok {
			imports[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return imports
}

func TestDependencyRule(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	imports := moduleImports(t, root)
	if len(imports) < 3 {
		t.Fatalf("found only %d packages; the walk is broken", len(imports))
	}
	for _, v := range violations(imports, rules()) {
		t.Error(v)
	}
}

// TestCheckerCatchesViolations proves the checker can fail.
func TestCheckerCatchesViolations(t *testing.T) {
	bad := map[string][]string{
		"internal/cab":          {"internal/catalog"},
		"internal/server":       {"internal/store/sqlite", "internal/store"},
		"internal/wu":           {"internal/rules"},
		"internal/rules":        {"cmd/waptserver"},
		"internal/store/sqlite": {"internal/store", "internal/wu"},
	}
	got := violations(bad, rules())
	if len(got) != 4 {
		t.Fatalf("want 4 violations, got %d: %q", len(got), got)
	}
}
