package wua

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
)

// FileNameFromURL returns the basename of a download URL: the name the server gives the
// file in its repository ("http://.../windows10.0-kb5034441-x64_<sha1>.cab" gives
// "windows10.0-kb5034441-x64_<sha1>.cab").
func FileNameFromURL(rawURL string) string {
	p := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		p = u.Path
	}
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// Assignment is the list of local files for one bundled update (the unit of
// IUpdate2.CopyToCache).
type Assignment struct {
	Key   wu.UpdateKey
	Files []string
}

// AssignFiles splits the local files of an update among the updates WUA caches files
// for: its bundled updates, or the update itself when it has none. A file matches a
// download by basename (case-insensitive: Windows names); paths may use / or \.
// key selects the update or one of its bundled updates. Every download needs a file,
// and every file must belong to a download: otherwise the error names them.
func AssignFiles(u *Update, key wu.UpdateKey, files []string) ([]Assignment, error) {
	units := u.Bundled
	if len(units) == 0 {
		units = []BundledUpdate{{Key: u.Key, Downloads: u.Downloads}}
	}
	if key != u.Key {
		var sel []BundledUpdate
		for _, b := range units {
			if b.Key == key {
				sel = append(sel, b)
			}
		}
		if len(sel) == 0 {
			return nil, fmt.Errorf("copy to cache %s: not %s nor one of its bundled updates", key, u.Key)
		}
		units = sel
	}
	byName := map[string]string{}
	for _, f := range files {
		name := strings.ToLower(baseName(f))
		if prev, dup := byName[name]; dup && prev != f {
			return nil, fmt.Errorf("copy to cache %s: two files named %s (%s and %s)", key, baseName(f), prev, f)
		}
		byName[name] = f
	}
	used := map[string]bool{}
	var missing []string
	out := make([]Assignment, 0, len(units))
	for _, b := range units {
		a := Assignment{Key: b.Key}
		for _, d := range b.Downloads {
			name := d.FileName
			if name == "" {
				name = FileNameFromURL(d.URL)
			}
			f, ok := byName[strings.ToLower(name)]
			if !ok {
				missing = append(missing, name)
				continue
			}
			used[strings.ToLower(name)] = true
			a.Files = append(a.Files, f)
		}
		out = append(out, a)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("copy to cache %s: no local file for %s (download it from the repository first)", key, strings.Join(missing, ", "))
	}
	var extra []string
	for name, f := range byName {
		if !used[name] {
			extra = append(extra, f)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("copy to cache %s: %s not a download of this update", key, strings.Join(extra, ", "))
	}
	return out, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Candidate describes the update for rules.Decide. The caller adds
// SupersededByApproved, which needs the whole scan.
func (u *Update) Candidate() rules.Candidate {
	return rules.Candidate{
		Key:                      u.Key,
		KBs:                      u.KBs,
		Products:                 u.Products(),
		ProductIDs:               u.categoryIDs(wu.CategoryProduct),
		Classifications:          u.Classifications(),
		ClassificationIDs:        u.categoryIDs(wu.CategoryClassification),
		Severity:                 u.Severity,
		LastDeploymentChangeTime: u.LastDeploymentChange,
	}
}
