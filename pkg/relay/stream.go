package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// streamWriteTimeout bounds the sending of one frame: a client that stops
// reading for that long (its buffer full, its machine gone) loses its
// stream and starts another where it stands.
const streamWriteTimeout = time.Minute

// serveStream follows the log for one client (see relaywire.CallStream):
// the pages after the client's position, each sent as soon as the feed
// holds newer updates (see recent) and the stream's pace allows (see
// pace), or read through the page cache for a position below those it
// holds. A stream counts as a wait against MaxWaiters. It ends when the
// client goes, the relay drains, or a read fails (with an error frame).
func (s *Server) serveStream(f *feed, c *call) error {
	after, err := uintParam(c.q, relaywire.ParamAfter, true)
	if err != nil {
		return err
	}
	maxOps, err := maxOpsParam(c.q)
	if err != nil {
		return err
	}
	if n := s.waiters.Add(1); n > int64(s.cfg.MaxWaiters) {
		s.waiters.Add(-1)
		s.metrics.waitRefused()
		return fmt.Errorf("the relay holds %d waits, its limit: %w", s.cfg.MaxWaiters, relaywire.ErrUnavailable)
	}
	defer s.waiters.Add(-1)
	s.streams.Add(1)
	defer s.streams.Add(-1)

	ctx := c.r.Context()
	rc := http.NewResponseController(c.w)
	c.w.Header().Set("Content-Type", relaywire.ContentTypeStream)
	c.w.WriteHeader(http.StatusOK)
	var buf []byte
	send := func(kind byte, latest uint64, body []byte) bool {
		buf = relaywire.AppendFrame(buf[:0], kind, latest, body)
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := c.w.Write(buf); err != nil {
			return false
		}
		s.metrics.frameSent(kind)
		return rc.Flush() == nil
	}
	if !send(relaywire.FrameTick, f.latest(), nil) {
		return nil
	}
	fail := func(latest uint64, err error) {
		e, _ := relaywire.FromError(err)
		body, _ := json.Marshal(e)
		send(relaywire.FrameError, latest, body)
	}
	key := pageKey{maxOps: maxOps}
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	idle := time.NewTimer(s.cfg.MaxWait)
	defer idle.Stop()
	var page []byte
	for {
		if h := f.horizon.Load(); behind(after, h, false, 0) {
			fail(f.latest(), fmt.Errorf("stream after %d, below the horizon %d: %w", after, h, logstore.ErrBehindHorizon))
			return nil
		}
		// Among the newest updates, which the feed holds: no store read,
		// whatever the position.
		// A frame's latest id is the end of what the relay holds, not the
		// feed's latest (which may be a store read ahead of it): a client
		// told of an id its stream has not brought reads it from the relay.
		ups, end, wake, ok := f.recent.page(after, key.maxOps)
		if ok && len(ups) > 0 {
			last := ups[len(ups)-1].ID
			page = relaywire.AppendPage(page[:0], ups)
			// A page cut by its size is followed at once by the next;
			// pacing spaces the frames of a stream that has caught up.
			if !send(relaywire.FramePage, end, page) || last == end && !s.pace(ctx, pace) {
				return nil
			}
			after = last
			idle.Reset(s.cfg.MaxWait)
			continue
		}
		if ok {
			select {
			case <-wake:
			case <-idle.C:
				if !send(relaywire.FrameTick, end, nil) {
					return nil
				}
				idle.Reset(s.cfg.MaxWait)
			case <-ctx.Done():
				return nil
			case <-s.drain:
				return nil // the client moves to another relay
			}
			continue
		}
		// Below them (a client catching up), or past them for a moment:
		// through the page cache.
		if latest := f.latest(); latest > after {
			key.after = after
			p, err := f.readPage(ctx, key, 0)
			if err != nil {
				if ctx.Err() == nil {
					fail(latest, err)
				}
				return nil
			}
			if p.last > after {
				if !send(relaywire.FramePage, max(latest, p.last), p.body) || !s.pace(ctx, pace) {
					return nil
				}
				after = p.last
				idle.Reset(s.cfg.MaxWait)
				continue
			}
			// The store has nothing after the position although the feed
			// knows a newer id: the page was read before that id was
			// visible. Wait for the next one.
		}
		latest, err := f.wait(ctx, max(after, f.latest()), s.cfg.MaxWait, s.drain)
		switch {
		case errors.Is(err, relaywire.ErrUnavailable):
			return nil // draining: the client moves to another relay
		case err != nil:
			return nil // the client went
		case latest <= after:
			if !send(relaywire.FrameTick, latest, nil) {
				return nil
			}
		}
	}
}

// pace holds a stream after a frame for its share of MaxFrameRate, the
// streams' frames per second in all (see Config.MaxFrameRate). It returns
// false when the stream must end.
func (s *Server) pace(ctx context.Context, t *time.Timer) bool {
	d := time.Duration(float64(time.Second) * float64(s.streams.Load()) / float64(s.cfg.MaxFrameRate))
	if d < time.Millisecond {
		return true
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.drain:
		return false
	}
}
