package catalog

import (
	"fmt"
	"sort"
)

// Warning counts one kind of tolerated defect of a catalog, with a few examples.
type Warning struct {
	Kind     string   `json:"kind"`
	Count    int      `json:"count"`
	Examples []string `json:"examples,omitempty"`
}

const maxWarningExamples = 5

// warnings aggregates defects by kind. Each goroutine of the reader has its own;
// they are merged at the end.
type warnings struct {
	byKind map[string]*Warning
}

func newWarnings() *warnings { return &warnings{byKind: map[string]*Warning{}} }

func (w *warnings) add(kind, format string, args ...any) {
	e := w.byKind[kind]
	if e == nil {
		e = &Warning{Kind: kind}
		w.byKind[kind] = e
	}
	e.Count++
	if len(e.Examples) < maxWarningExamples {
		e.Examples = append(e.Examples, fmt.Sprintf(format, args...))
	}
}

func (w *warnings) merge(o *warnings) {
	for k, v := range o.byKind {
		e := w.byKind[k]
		if e == nil {
			e = &Warning{Kind: k}
			w.byKind[k] = e
		}
		e.Count += v.Count
		for _, ex := range v.Examples {
			if len(e.Examples) < maxWarningExamples {
				e.Examples = append(e.Examples, ex)
			}
		}
	}
}

func (w *warnings) count(kind string) int {
	if e := w.byKind[kind]; e != nil {
		return e.Count
	}
	return 0
}

// list returns the warnings sorted by kind.
func (w *warnings) list() []Warning {
	out := make([]Warning, 0, len(w.byKind))
	for _, v := range w.byKind {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
