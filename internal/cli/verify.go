package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Errors of verify --replay, for errors.Is.
var (
	// ErrMismatch means that a cache file differs from the log's replay.
	ErrMismatch = errors.New("cache file differs from the log")
	// ErrNotQuiet means that verify --replay found no consistent point to
	// compare a file with the log at: the file was replaced, or the log's
	// history rewritten, while it read them, on every try. It says nothing
	// about whether the file is right.
	ErrNotQuiet = errors.New("the node was not quiet enough to compare its file with the log; try again, or on a quiet node")
)

// verifyTries is how often verify --replay reads the file and the log again
// when they moved under it.
const verifyTries = 5

// errMoved marks a try that found no consistent point.
var errMoved = errors.New("moved while read")

// replayResult is what verify --replay compared.
type replayResult struct {
	through uint64 // the file's applied id when it was read
	latest  uint64 // the log's latest id after the file was read
	keys    int    // keys in the file
	moved   int    // keys that updates in (through, latest] touched
}

// verifyReplay compares the file with the log's replay, trying again while
// the node moves under it.
func (g *globals) verifyReplay(ctx context.Context, path string) (replayResult, error) {
	r, err := cachefile.Open(path)
	if err != nil {
		return replayResult{}, err
	}
	defer r.Close()
	store, err := g.openStore(ctx, false)
	if err != nil {
		return replayResult{}, err
	}
	defer store.Close()
	for try := 1; ; try++ {
		res, err := verifyOnce(ctx, r, store)
		again, err := verdict(try, res, err)
		if !again || ctx.Err() != nil {
			return res, err
		}
	}
}

// verdict decides, after try number try of verifyOnce, whether to try again
// and otherwise what to report. A try that found no consistent point is
// tried again, and reported as ErrNotQuiet when none is left. A difference
// found while the node moved is tried again too: in keys that changed
// meanwhile it can come from a history rewrite that passed the file's
// applied id while it ran, which the next try does not see; a real
// difference stays. A difference found on a quiet node is final.
func verdict(try int, res replayResult, err error) (again bool, final error) {
	moved := errors.Is(err, errMoved)
	if !moved && !(errors.Is(err, ErrMismatch) && res.latest > res.through) {
		return false, err
	}
	if try < verifyTries {
		return true, err
	}
	if moved {
		return false, fmt.Errorf("%w: %d tries: %w", ErrNotQuiet, try, err)
	}
	return false, err
}

// verifyOnce reads the file's applied id A, then its keys, then the log's
// latest id L, and compares with the log replayed through L: every key
// that no update in (A, L] touched must be as the replay through A has it,
// and every other key must hold a value the log gave it in [A, L]. The file
// cannot have applied anything above L (the agent reads what it applies
// from the log before L is read), nor lost anything through A; so on a
// sound node that holds whatever batch was half-applied during the read,
// with no lock and no pause.
func verifyOnce(ctx context.Context, r *cachefile.Reader, store logstore.Store) (replayResult, error) {
	if r.LogID() != store.ID() {
		return replayResult{}, fmt.Errorf("file belongs to log %s, store holds log %s: %w",
			logstore.LogID(r.LogID()), store.ID(), logstore.ErrIdentityMismatch)
	}
	from := r.UpdateID()
	file := map[string][]byte{}
	for k, v := range r.Sorted() {
		file[string(k)] = v
	}
	after := r.UpdateID()
	latest, err := store.Latest(ctx)
	if err != nil {
		return replayResult{}, err
	}
	res := replayResult{through: from, latest: latest, keys: len(file)}
	switch {
	case after < from:
		return res, fmt.Errorf("%w: the file's applied id went from %d back to %d (it was replaced)", errMoved, from, after)
	case from > latest:
		return res, fmt.Errorf("%w: the file has applied update %d, the log ends at %d", ErrMismatch, from, latest)
	}
	w := newReplayWindow(from, latest)
	for u, err := range logstore.All(ctx, store, logstore.AllOptions{Through: latest}) {
		if errors.Is(err, logstore.ErrBehindHorizon) {
			return res, fmt.Errorf("%w: %w", errMoved, err)
		}
		if err != nil {
			return res, err
		}
		if u.ID > latest {
			break
		}
		w.apply(u)
	}
	c := w.compare(file)
	res.moved = c.moved
	if len(c.diffs) > 0 {
		return res, fmt.Errorf("%w: %d of %d keys differ (replay through %d, log latest %d): %v",
			ErrMismatch, c.mismatches, c.keys, from, latest, c.diffs)
	}
	return res, nil
}

// replayWindow is the log replayed for a file read while it moved: the
// state through from, and every value that each key took in (from, to].
type replayWindow struct {
	from, to uint64
	state    map[string][]byte
	later    map[string][]laterValue
}

// laterValue is a value a key took after the window's start: a set's value,
// or its absence after a delete.
type laterValue struct {
	value []byte
	set   bool
}

func newReplayWindow(from, to uint64) *replayWindow {
	return &replayWindow{from: from, to: to, state: map[string][]byte{}, later: map[string][]laterValue{}}
}

// apply adds one update of the log, in id order.
func (w *replayWindow) apply(u logstore.Update) {
	for _, op := range u.Ops {
		k := string(op.Key)
		switch {
		case u.ID > w.from:
			w.later[k] = append(w.later[k], laterValue{value: op.Value, set: op.Type == logstore.OpSet})
		case op.Type == logstore.OpSet:
			w.state[k] = op.Value
		default:
			delete(w.state, k)
		}
	}
}

// comparison is the outcome of replayWindow.compare.
type comparison struct {
	keys       int      // keys in the file or the replay
	moved      int      // keys that changed in the window
	mismatches int      // keys whose value in the file the log never gave them in the window
	diffs      []string // the first few mismatches, described
}

// maxDiffs is how many differences a mismatch describes.
const maxDiffs = 10

// compare compares a file's keys and values with the window.
func (w *replayWindow) compare(file map[string][]byte) comparison {
	var c comparison
	keys := map[string]bool{}
	for _, m := range []map[string][]byte{file, w.state} {
		for k := range m {
			keys[k] = true
		}
	}
	for k := range w.later {
		keys[k] = true
	}
	c.keys = len(keys)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		got, inFile := file[k]
		want, inLog := w.state[k]
		later := w.later[k]
		if len(later) > 0 {
			c.moved++
		}
		if held(got, inFile, want, inLog, later) {
			continue
		}
		c.mismatches++
		if len(c.diffs) < maxDiffs {
			c.diffs = append(c.diffs, describe(k, got, inFile, want, inLog, len(later)))
		}
	}
	return c
}

// held reports whether the file's value of a key (got, or absent) is one
// the log gave it: its value at the window's start or a later one.
func held(got []byte, inFile bool, want []byte, inLog bool, later []laterValue) bool {
	if inFile == inLog && (!inFile || bytes.Equal(got, want)) {
		return true
	}
	for _, l := range later {
		if inFile == l.set && (!inFile || bytes.Equal(got, l.value)) {
			return true
		}
	}
	return false
}

// describe says how a key differs.
func describe(k string, got []byte, inFile bool, want []byte, inLog bool, changes int) string {
	var s string
	switch {
	case inFile && !inLog:
		s = fmt.Sprintf("key %s is in the file but not in the log", printable([]byte(k)))
	case !inFile && inLog:
		s = fmt.Sprintf("key %s is in the log but not in the file", printable([]byte(k)))
	default:
		s = fmt.Sprintf("key %s is %d bytes in the file, %d in the log, and differs", printable([]byte(k)), len(got), len(want))
	}
	if changes > 0 {
		s += fmt.Sprintf(" (nor any of the %d values the log gave it meanwhile)", changes)
	}
	return s
}
