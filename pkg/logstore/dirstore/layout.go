package dirstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Names inside a log's directory.
const (
	identityFile    = "IDENTITY"
	horizonFile     = "HORIZON"
	headFile        = "HEAD"
	lockFile        = "LOCK"
	rewriteLockFile = "REWRITE.LOCK"
	nodesDir        = "nodes"
	tmpPrefix       = ".tmp-"
	segPrefix       = "seg-"
	segSuffix       = ".log"
)

// segRef names one generation of one segment file.
type segRef struct {
	base uint64
	gen  uint32
}

// name returns the segment's file name: seg-<base, 20 digits>-<gen, 8 digits>.log.
func (r segRef) name() string {
	return fmt.Sprintf("%s%020d-%08d%s", segPrefix, r.base, r.gen, segSuffix)
}

// parseSegName parses a segment file name.
func parseSegName(name string) (segRef, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return segRef{}, false
	}
	if s, ok = strings.CutSuffix(s, segSuffix); !ok || len(s) != 29 || s[20] != '-' {
		return segRef{}, false
	}
	base, err1 := strconv.ParseUint(s[:20], 10, 64)
	gen, err2 := strconv.ParseUint(s[21:], 10, 32)
	if err1 != nil || err2 != nil || base == 0 {
		return segRef{}, false
	}
	return segRef{base: base, gen: uint32(gen)}, true
}

// listing is what a log directory holds: the newest generation of each
// segment sorted by base, the older generations, and temporary files.
type listing struct {
	segs  []segRef
	stale []segRef
	tmp   []string
}

// listDir lists a log directory.
func listDir(dir string) (listing, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return listing{}, fmt.Errorf("list %s: %w", dir, err)
	}
	if err != nil {
		return listing{}, fmt.Errorf("list log directory: %w", err)
	}
	var l listing
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			l.tmp = append(l.tmp, e.Name())
			continue
		}
		r, ok := parseSegName(e.Name())
		if !ok {
			continue
		}
		if n := len(l.segs); n > 0 && l.segs[n-1].base == r.base {
			// ReadDir sorts by name, so generations of a base come in order.
			l.stale = append(l.stale, l.segs[n-1])
			l.segs[n-1] = r
			continue
		}
		l.segs = append(l.segs, r)
	}
	if !slices.IsSortedFunc(l.segs, func(a, b segRef) int { return cmpU64(a.base, b.base) }) {
		return l, fmt.Errorf("list log directory: segments out of order")
	}
	return l, nil
}

// find returns the index of the segment with the given base, or -1.
func (l listing) find(base uint64) int {
	i, ok := slices.BinarySearchFunc(l.segs, base, func(r segRef, b uint64) int { return cmpU64(r.base, b) })
	if !ok {
		return -1
	}
	return i
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
