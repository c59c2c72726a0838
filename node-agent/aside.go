package nodeagent

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// keepAside is how many cache files moved aside as corrupt the agent
// keeps for inspection: each is as large as the cache file, and a file
// that keeps turning corrupt must not fill the disk.
const keepAside = 2

// asideSuffix follows the cache file's name in the name of a file moved
// aside, before the unix time of the move.
const asideSuffix = ".corrupt-"

// asideToRemove returns the names, among those given, of the files moved
// aside that are older than the newest keep (by the time in their name;
// names that hold no time are left alone).
func asideToRemove(names []string, keep int) []string {
	type aside struct {
		name string
		at   int64
	}
	var all []aside
	for _, n := range names {
		i := strings.LastIndex(n, asideSuffix)
		if i < 0 {
			continue
		}
		at, err := strconv.ParseInt(n[i+len(asideSuffix):], 10, 64)
		if err != nil {
			continue
		}
		all = append(all, aside{n, at})
	}
	slices.SortFunc(all, func(a, b aside) int {
		return cmp.Or(cmp.Compare(b.at, a.at), strings.Compare(b.name, a.name))
	})
	var out []string
	for _, a := range all[min(keep, len(all)):] {
		out = append(out, a.name)
	}
	return out
}

// pruneAside removes the files moved aside beyond the newest keepAside.
func (a *Agent) pruneAside() {
	names, err := filepath.Glob(globQuote(a.CachePath()) + asideSuffix + "*")
	if err != nil {
		return
	}
	for _, n := range asideToRemove(names, keepAside) {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Error(err, "cannot remove an old cache file moved aside", "path", n)
			continue
		}
		a.log.Info("removed an old cache file moved aside", "path", n, "kept", keepAside)
	}
}

// globQuote escapes the glob metacharacters of a path.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
