package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Read returns the updates after after, in pages of about maxOps
// operations. It reads without the lock and never past the committed tail
// that the head publishes. The horizon is checked before and after reading,
// so that a rewrite that raises it meanwhile is never missed.
func (s *Store) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	return s.read(ctx, after, maxOps, 0, false)
}

// ReadReplay reads like Read for a full replay that began when the horizon
// was horizon: it serves positions below the horizon while the horizon has
// not moved (see logstore.Store.ReadReplay).
func (s *Store) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	return s.read(ctx, after, maxOps, horizon, true)
}

// read is Read, and ReadReplay when replay is set.
func (s *Store) read(ctx context.Context, after uint64, maxOps int, began uint64, replay bool) ([]logstore.Update, error) {
	if err := s.isClosed(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dirstore: read: %w", err)
	}
	if maxOps <= 0 {
		maxOps = defaultPageOps
	}
	check := func() (head, error) { return s.head(after, began, replay) }
	for try := 0; ; try++ {
		h, err := check()
		if err != nil || after >= h.latest {
			return nil, err
		}
		page, err := s.readPage(h, after, maxOps)
		if errors.Is(err, errCorrupt) && try == 0 {
			// The files may have been restored from a copy under this
			// process since it indexed them: index them afresh, once.
			s.forgetSegments()
			continue
		}
		if errors.Is(err, os.ErrClosed) || errors.Is(err, fs.ErrNotExist) {
			if cerr := s.isClosed(); cerr != nil {
				return nil, cerr
			}
			if try < 10 {
				continue // a rewrite replaced a segment while we read it
			}
		}
		if err != nil {
			return nil, fmt.Errorf("dirstore: read after %d: %w", after, err)
		}
		if _, err := check(); err != nil {
			return nil, err
		}
		return page, nil
	}
}

// head reads the head and checks that a reader at after is not behind the
// horizon: after is 0 or at least the horizon, or, for a replay that began
// when the horizon was began, the horizon has not moved.
func (s *Store) head(after, began uint64, replay bool) (head, error) {
	h, err := s.sh.head()
	if err != nil {
		return h, fmt.Errorf("dirstore: %w", err)
	}
	if after != 0 && after < h.horizon && !(replay && h.horizon == began) {
		return h, fmt.Errorf("dirstore: read after %d, below the horizon %d: %w", after, h.horizon, logstore.ErrBehindHorizon)
	}
	return h, nil
}

// readPage reads whole updates after after, segment by segment, until the
// page holds maxOps operations or enough bytes, or the committed tail.
func (s *Store) readPage(h head, after uint64, maxOps int) ([]logstore.Update, error) {
	segs, err := s.segments(h)
	if err != nil {
		return nil, err
	}
	i := max(0, sort.Search(len(segs), func(i int) bool { return segs[i].ref.base > after+1 })-1)
	var p pager
	for ; i < len(segs) && !p.full(maxOps); i++ {
		limit, err := s.limitOf(segs[i], h)
		if err != nil {
			return nil, err
		}
		ents, err := segs[i].after(after, limit)
		if err != nil {
			return nil, err
		}
		k := p.take(ents, maxOps)
		if k == 0 {
			continue
		}
		if err := p.read(segs[i], ents[:k]); err != nil {
			return nil, err
		}
		after = ents[k-1].id
	}
	return p.page, nil
}

// pager assembles one page of updates.
type pager struct {
	page       []logstore.Update
	ops, bytes int
}

// pageOverhead bounds the bytes of a record that are not keys or values,
// per operation, so that a page ends early on bytes only once its keys and
// values reach logstore.MinPageBytes.
const pageOverhead = recHeaderLen + recFixedLen + 3*10

// full reports whether the page has reached maxOps operations or its byte
// budget.
func (p *pager) full(maxOps int) bool {
	return p.ops >= maxOps || p.bytes-pageOverhead*p.ops >= logstore.MinPageBytes
}

// take returns how many of ents fit in the page (at least one when the page
// is empty), counting them in.
func (p *pager) take(ents []entry, maxOps int) int {
	k := 0
	for k < len(ents) && (len(p.page)+k == 0 || !p.full(maxOps)) {
		p.ops += int(ents[k].ops)
		p.bytes += int(ents[k].size)
		k++
	}
	return k
}

// read reads and decodes the records of ents, which follow each other.
func (p *pager) read(sg *segment, ents []entry) error {
	first, last := ents[0], ents[len(ents)-1]
	buf := make([]byte, last.end()-first.off)
	if _, err := sg.f.ReadAt(buf, first.off); err != nil {
		return fmt.Errorf("read segment %s: %w", sg.ref.name(), err)
	}
	for _, e := range ents {
		u, _, err := decodeRecord(buf[e.off-first.off : e.end()-first.off])
		if err == nil && u.ID != e.id {
			err = fmt.Errorf("record %d where the index has %d: %w", u.ID, e.id, errCorrupt)
		}
		if err != nil {
			return fmt.Errorf("segment %s at offset %d: %w", sg.ref.name(), e.off, err)
		}
		p.page = append(p.page, u)
	}
	return nil
}

// limitOf returns how far a segment may be read: the committed length for
// the active segment, the whole file for a sealed one.
func (s *Store) limitOf(sg *segment, h head) (int64, error) {
	if sg.ref.base == h.active {
		return h.committed, nil
	}
	return sg.sealedSize()
}

// segments returns the segments up to the head's active one, listing the
// directory again when a rewrite replaced files or a roll added one.
func (s *Store) segments(h head) ([]*segment, error) {
	s.segMu.Lock()
	defer s.segMu.Unlock()
	rewinds := s.sh.rewinds.Load()
	fresh := s.stale || rewinds != s.rewinds
	if n := len(s.segs); n > 0 && s.layout == h.layout && s.segs[n-1].ref.base == h.active && !fresh {
		return s.segs, nil
	}
	var err error
	for range 5 {
		if err = s.relist(h, fresh); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	s.rewinds, s.stale = rewinds, false
	return s.segs, nil
}

// forgetSegments makes the next read list and index the segments afresh.
func (s *Store) forgetSegments() {
	s.segMu.Lock()
	s.stale = true
	s.segMu.Unlock()
}

// relist, under segMu, lists the segments up to the active one, keeping
// those already open (unless fresh) and closing the others.
func (s *Store) relist(h head, fresh bool) error {
	l, err := listDir(s.dir)
	if err != nil {
		return err
	}
	old := map[segRef]*segment{}
	for _, sg := range s.segs {
		old[sg.ref] = sg
	}
	if fresh {
		for _, sg := range s.segs {
			sg.f.Close() // readers still using it retry
		}
		old = map[segRef]*segment{}
	}
	var segs []*segment
	for _, r := range l.segs {
		if r.base > h.active {
			break // a roll in flight, or an orphan
		}
		sg := old[r]
		if sg == nil {
			if sg, err = openSegment(s.dir, r); err != nil {
				for _, n := range segs {
					if old[n.ref] == nil {
						n.f.Close()
					}
				}
				return err
			}
		}
		delete(old, r)
		segs = append(segs, sg)
	}
	for _, sg := range old {
		sg.f.Close() // readers still using it retry
	}
	s.segs, s.layout = segs, h.layout
	return nil
}

// Latest returns the highest id committed to the log.
func (s *Store) Latest(ctx context.Context) (uint64, error) {
	if err := s.isClosed(); err != nil {
		return 0, err
	}
	h, err := s.sh.head()
	if err != nil {
		return 0, fmt.Errorf("dirstore: %w", err)
	}
	return h.latest, nil
}

// Horizon returns the log's horizon.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	if err := s.isClosed(); err != nil {
		return 0, err
	}
	h, err := s.sh.head()
	if err != nil {
		return 0, fmt.Errorf("dirstore: %w", err)
	}
	return h.horizon, nil
}

// Wait blocks until the log holds an id above after. Appends through this
// store wake it at once; appends by other processes wake it through inotify
// on the head file, or the next poll when inotify is not available.
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	interval := s.sh.cfg.pollInterval
	if !s.sh.watch.polling() {
		interval *= 100
	}
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		changed := s.sh.changed.wait()
		latest, err := s.Latest(ctx)
		if err != nil || latest > after {
			return latest, err
		}
		select {
		case <-changed:
		case <-timer.C:
			timer.Reset(interval)
		case <-ctx.Done():
			return 0, fmt.Errorf("dirstore: wait after %d: %w", after, ctx.Err())
		case <-s.closed:
			return 0, s.isClosed()
		}
	}
}
