// Package archtest enforces the dependency rule of docs/ARCHITECTURE.md: it reads the
// import lines of every production Go file of the module (test files may wire concrete
// pieces together), builds the package graph and checks each package's direct imports
// against the allow-list of its layer and its transitive imports against a deny-list.
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
// specific rule exists) may import directly (only: the complete allow-list; a package's
// own sub-packages are always allowed) and which it must never reach, directly or
// through any chain of imports (never).
type rule struct {
	only  []string
	never []string
}

// Layers, bottom up. A layer's allow-list is the layers below it.
var (
	// domain: pure types and formats, no I/O policy.
	domain = []string{"internal/wu", "internal/rules", "internal/config", "internal/api", "internal/lzx",
		"internal/cab", "internal/catalog", "internal/pkg", "internal/schedule", "internal/msu", "internal/updatebuild",
		// security building blocks (leaves)
		"internal/jsonlimit", "internal/throttle", "internal/password", "internal/secret", "internal/edge"}
	// ports: the interfaces of outside systems and the repository folder.
	ports = []string{"internal/store", "internal/repo", "internal/upstream", "internal/wua", "internal/action"}
	// application layer: every operation once.
	application = []string{"internal/app"}
	// concrete backends: only cmd/* (and tests) wire them.
	concrete = []string{"internal/store/sqlite", "internal/store/postgres", "internal/wua/windows", "internal/wua/sim"}
	// adapters and drivers: each over the application layer, never over each other.
	adapters = []string{"internal/server", "internal/console", "internal/jobs", "internal/agent"}
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// except returns list without the packages of drop.
func except(list []string, drop ...string) []string {
	var out []string
	for _, p := range list {
		if !within(p, drop) {
			out = append(out, p)
		}
	}
	return out
}

func rules() map[string]rule {
	leaf := rule{only: []string{"internal/wu"}}
	// An adapter may use the layers below it; it never reaches another adapter (not even
	// through a shared dependency) nor a concrete backend.
	adapter := func(self string, extra ...string) rule {
		return rule{only: join(domain, ports, application, extra), never: join(except(adapters, self), concrete, []string{"cmd"})}
	}
	return map[string]rule{
		"internal/wu":        {only: []string{}},
		"internal/lzx":       {only: []string{}},
		"internal/rules":     leaf,
		"internal/config":    {only: []string{"internal/wu", "internal/rules", "internal/pkg"}}, // pkg: certificate parsing
		"internal/api":       leaf,
		"internal/schedule":  {only: []string{"internal/wu", "internal/rules"}},
		"internal/jsonlimit": {only: []string{}},
		"internal/throttle":  {only: []string{}},
		"internal/edge":      {only: []string{}},
		"internal/password":  leaf,
		"internal/secret":    {only: []string{"internal/wu", "internal/password"}},
		"internal/cab":       {only: []string{"internal/wu", "internal/lzx"}},
		// The test signer's helpers build their CA with the stand-ins' throw-away PKI.
		"internal/cab/authenticode/authenticodetest": {only: []string{"internal/cab/authenticode/pki"}},
		"internal/catalog":                           {only: []string{"internal/wu", "internal/cab", "internal/lzx"}},
		"internal/pkg":                               {only: []string{"internal/wu", "internal/rules"}},
		"internal/msu":                               {only: []string{"internal/wu", "internal/cab", "internal/lzx"}},
		"internal/msu/msutest":                       {only: []string{"internal/wu", "internal/cab", "internal/lzx", "internal/msu"}},
		"internal/updatebuild":                       {only: []string{"internal/wu", "internal/rules", "internal/cab", "internal/lzx", "internal/msu", "internal/pkg"}},
		"internal/action":                            {only: []string{"internal/wu", "internal/rules", "internal/pkg"}},
		"internal/store":                             {only: []string{"internal/wu", "internal/store"}, never: join(application, adapters)},
		"internal/repo":                              {only: []string{"internal/wu"}},
		"internal/upstream":                          {only: []string{"internal/wu"}},
		"internal/wua":                               {only: []string{"internal/wu", "internal/wua", "internal/catalog", "internal/cab", "internal/lzx", "internal/rules"}},
		// The application layer: domain and ports, never an adapter (nothing points up).
		"internal/app": {only: join(domain, ports), never: join(adapters, concrete, []string{"cmd"})},
		// The adapters.
		"internal/server":            adapter("internal/server"),
		"internal/server/servertest": {only: join(domain, ports, application, []string{"internal/server"}), never: join(except(adapters, "internal/server"), concrete, []string{"cmd"})},
		"internal/console":           adapter("internal/console"),
		"internal/jobs":              adapter("internal/jobs"),
		"internal/agent":             {only: join(domain, []string{"internal/upstream", "internal/repo", "internal/wua", "internal/action"}), never: join(except(adapters, "internal/agent"), application, []string{"internal/store"}, concrete, []string{"cmd"})},
		"internal/archtest":          {only: []string{}},
		"internal/store/storetest":   {only: []string{"internal/wu", "internal/store"}},

		// The site repository: an HTTP client of the main server and a file server on
		// the repository folder; never the store nor another adapter.
		"internal/mirror": {only: []string{"internal/wu", "internal/api", "internal/repo"}},
	}
}

// ruleFor returns the most specific rule for a package path relative to the module.
func ruleFor(pkg string, rs map[string]rule) (rule, bool) {
	best, found := "", false
	for prefix := range rs {
		if (pkg == prefix || strings.HasPrefix(pkg, prefix+"/")) && len(prefix) >= len(best) {
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

// reach returns every project package pkg imports, directly or not, with the chain
// that reaches it first (breadth first: the shortest).
func reach(pkg string, imports map[string][]string) map[string][]string {
	paths := map[string][]string{pkg: {pkg}}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range imports[p] {
			if _, seen := paths[imp]; seen {
				continue
			}
			paths[imp] = append(append([]string(nil), paths[p]...), imp)
			queue = append(queue, imp)
		}
	}
	delete(paths, pkg)
	return paths
}

// violations checks a package graph (package → project imports, both relative to the
// module): the direct imports against the allow-lists, the transitive ones against the
// deny-lists.
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
			if ok && r.only != nil && !within(imp, r.only) && !strings.HasPrefix(imp, pkg+"/") {
				out = append(out, pkg+" imports "+imp+": not in the allow-list of its layer (docs/ARCHITECTURE.md)")
			}
		}
		if !ok || len(r.never) == 0 {
			continue
		}
		reached := reach(pkg, imports)
		names := make([]string, 0, len(reached))
		for p := range reached {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			if within(p, r.never) && !strings.HasPrefix(p, pkg+"/") {
				out = append(out, pkg+" reaches "+p+" ("+strings.Join(reached[p], " → ")+"): forbidden for its layer (docs/ARCHITECTURE.md)")
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
		// WUA): the rule is about what production code depends on. Files of every
		// GOOS are read (a superset of any one build).
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

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

func TestDependencyRule(t *testing.T) {
	imports := moduleImports(t, moduleRoot(t))
	if len(imports) < 10 {
		t.Fatalf("found only %d packages; the walk is broken", len(imports))
	}
	for _, want := range []string{"internal/app", "internal/server", "internal/console"} {
		if _, ok := imports[want]; !ok {
			t.Errorf("package %s not found: the walk is broken", want)
		}
	}
	for _, v := range violations(imports, rules()) {
		t.Error(v)
	}
}

// TestCheckerCatchesViolations proves the checker can fail, on synthetic graphs: each
// forbidden arrow, direct or through other packages, is reported, and nothing else.
func TestCheckerCatchesViolations(t *testing.T) {
	for _, tt := range []struct {
		name  string
		graph map[string][]string
		want  []string // prefixes of the violations, in order
	}{
		{"clean", map[string][]string{
			"internal/console": {"internal/app", "internal/repo"}, "internal/server": {"internal/app", "internal/api"},
			"internal/app": {"internal/store", "internal/pkg"}, "internal/pkg": {"internal/rules"}, "internal/rules": {"internal/wu"},
		}, nil},
		{"adapter imports adapter", map[string][]string{"internal/console": {"internal/server"}}, []string{
			"internal/console imports internal/server: not in the allow-list",
			"internal/console reaches internal/server (internal/console → internal/server)",
		}},
		{"adapter reaches adapter through an allowed package", map[string][]string{
			"internal/console": {"internal/repo"}, "internal/repo": {"internal/server"},
		}, []string{
			"internal/console reaches internal/server (internal/console → internal/repo → internal/server)",
			"internal/repo imports internal/server: not in the allow-list",
		}},
		{"application points up", map[string][]string{"internal/app": {"internal/jobs"}}, []string{
			"internal/app imports internal/jobs: not in the allow-list",
			"internal/app reaches internal/jobs (internal/app → internal/jobs)",
		}},
		{"adapter on a concrete backend", map[string][]string{"internal/server": {"internal/store/sqlite"}}, []string{
			"internal/server reaches internal/store/sqlite (internal/server → internal/store/sqlite)",
		}},
		{"domain imports above its layer", map[string][]string{"internal/cab": {"internal/catalog"}, "internal/wu": {"internal/rules"}}, []string{
			"internal/cab imports internal/catalog: not in the allow-list",
			"internal/wu imports internal/rules: not in the allow-list",
		}},
		{"internal imports a command", map[string][]string{"internal/rules": {"cmd/waptserver"}}, []string{
			"internal/rules imports cmd/waptserver: internal packages never import commands",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.graph, rules())
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tt.want[i])
			}
			if !ok {
				t.Errorf("violations:\n%s\nwant (prefixes):\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
