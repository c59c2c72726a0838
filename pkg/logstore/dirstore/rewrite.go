package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Rewrite keeps, for each key, only its last operation at or below
// opts.Through (clamped to the latest id), dropping a delete that is last
// only when it is at or below opts.DeleteLimit too. It works a sealed
// segment at a time, newest first: each is copied without the removed
// operations into its next generation, which replaces it atomically, so
// appends never wait for more than a head update and readers in any process
// see either generation whole. It first makes the new horizon durable, so
// that no reader can miss a removed delete. opts.BatchSize is not used: a
// step is a segment (see WithSegmentSize).
func (s *Store) Rewrite(ctx context.Context, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	if err := s.isClosed(); err != nil {
		return logstore.RewriteStats{}, err
	}
	start := time.Now()
	s.rewriteMu.Lock()
	defer s.rewriteMu.Unlock()
	if err := s.rwLock.lockCtx(ctx); err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("dirstore: rewrite: %w", err)
	}
	defer s.rwLock.unlock()
	p, err := s.planRewrite(opts)
	if err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("dirstore: rewrite: %w", err)
	}
	stats := logstore.RewriteStats{Horizon: p.horizon}
	seen := map[string]bool{}
	for i := len(p.segs) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return stats, fmt.Errorf("dirstore: rewrite: %w", err)
		}
		if err := s.isClosed(); err != nil {
			return stats, err
		}
		if err := s.rewriteSegment(p, p.segs[i], seen, &stats); err != nil {
			return stats, fmt.Errorf("dirstore: rewrite segment %d: %w", p.segs[i].base, err)
		}
	}
	stats.Duration = time.Since(start)
	s.log.Info("Rewrote history", "through", p.through, "deleteLimit", p.deleteLimit, "horizon", p.horizon,
		"segments", len(p.segs), "examined", stats.Examined, "removed", stats.Removed, "duration", stats.Duration)
	return stats, nil
}

// rewritePlan is what a rewrite works on.
type rewritePlan struct {
	through, deleteLimit, horizon uint64
	segs                          []segRef // sealed segments with ids up to through, by base
}

// planRewrite raises the horizon (durably first), seals the active segment
// when it holds ids up to through, and lists the segments to rewrite.
func (s *Store) planRewrite(opts logstore.RewriteOptions) (rewritePlan, error) {
	h, err := s.sh.head()
	if err != nil {
		return rewritePlan{}, err
	}
	p := rewritePlan{through: min(opts.Through, h.latest)}
	p.deleteLimit = min(opts.DeleteLimit, p.through)
	p.horizon = max(h.horizon, p.deleteLimit)
	if p.horizon > h.horizon {
		if err := writeFileAtomic(s.dir, horizonFile, encodeHorizon(p.horizon)); err != nil {
			return p, err
		}
	}
	var active uint64
	err = s.sh.withLock(func(h *head) error {
		h.horizon = max(h.horizon, p.horizon)
		p.horizon = h.horizon
		if h.active <= p.through {
			if err := s.sh.roll(h); err != nil {
				return err
			}
		}
		active = h.active
		return nil
	})
	if err != nil || p.through == 0 {
		return p, err
	}
	l, err := listDir(s.dir)
	if err != nil {
		return p, err
	}
	for _, r := range l.segs {
		if r.base < active && r.base <= p.through {
			p.segs = append(p.segs, r)
		}
	}
	return p, nil
}

// rewriteSegment rewrites one sealed segment when the plan removes
// anything from it, and counts what it examined and removed.
func (s *Store) rewriteSegment(p rewritePlan, r segRef, seen map[string]bool, stats *logstore.RewriteStats) error {
	path := filepath.Join(s.dir, r.name())
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	updates, err := decodeSegment(data)
	if err != nil {
		return err
	}
	kept, examined, removed := compact(updates, p.through, p.deleteLimit, seen)
	stats.Examined += examined
	if removed == 0 {
		return nil
	}
	next := segRef{base: r.base, gen: r.gen + 1}
	buf := segHeader{base: next.base, gen: next.gen}.encode()
	for _, u := range kept {
		buf = appendRecord(buf, u)
	}
	if err := writeFileAtomic(s.dir, next.name(), buf); err != nil {
		return err
	}
	stats.Removed += removed
	if err := s.sh.withLock(func(h *head) error { h.layout++; return nil }); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the replaced generation: %w", err)
	}
	return nil
}

// decodeSegment decodes a whole sealed segment file.
func decodeSegment(data []byte) ([]logstore.Update, error) {
	if _, err := decodeSegHeader(data); err != nil {
		return nil, err
	}
	var out []logstore.Update
	for off := segHeaderLen; off < len(data); {
		u, n, err := decodeRecord(data[off:])
		if err != nil {
			return nil, fmt.Errorf("record at offset %d: %w", off, err)
		}
		if len(out) > 0 && u.ID <= out[len(out)-1].ID {
			return nil, fmt.Errorf("record id %d after %d: %w", u.ID, out[len(out)-1].ID, errCorrupt)
		}
		out = append(out, u)
		off += n
	}
	return out, nil
}

// compact is the rewrite's decision for one segment, whose updates are
// visited newest first across segments: seen holds the keys whose last
// operation up to through has been met already. It returns the updates
// that keep operations, and how many operations up to through it examined
// and removed. Updates above through pass untouched.
func compact(updates []logstore.Update, through, deleteLimit uint64, seen map[string]bool) (kept []logstore.Update, examined, removed int64) {
	out := make([]logstore.Update, len(updates))
	for i := len(updates) - 1; i >= 0; i-- {
		u := updates[i]
		if u.ID > through {
			out[i] = u
			continue
		}
		ops := make([]logstore.Op, 0, len(u.Ops))
		for j := len(u.Ops) - 1; j >= 0; j-- {
			op := u.Ops[j]
			examined++
			k := string(op.Key)
			drop := seen[k] || (op.Type == logstore.OpDelete && u.ID <= deleteLimit)
			seen[k] = true
			if drop {
				removed++
				continue
			}
			ops = append(ops, op)
		}
		slices.Reverse(ops)
		out[i] = logstore.Update{ID: u.ID, Time: u.Time, Ops: ops}
	}
	for _, u := range out {
		if len(u.Ops) > 0 {
			kept = append(kept, u)
		}
	}
	return kept, examined, removed
}
