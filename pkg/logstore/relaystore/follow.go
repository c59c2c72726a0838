package relaystore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// Limits of a stream.
const (
	// maxBuffered bounds the bytes of keys and values a stream brings
	// ahead of Read; past it the stream stops reading, and HTTP/2's flow
	// control holds the relay back.
	maxBuffered = 16 << 20
	// maxRetryPause bounds the pause before a stream is tried again after
	// streams kept failing; meanwhile Wait polls.
	maxRetryPause = 5 * time.Second
	// unknownCallPause is how long a handle polls before it tries again a
	// relay that did not know the stream call (one older than this
	// package, during an upgrade).
	unknownCallPause = 5 * time.Minute
	// maxBehind is how many ids a stream may stand behind its caller and
	// go on rather than start over where the caller is.
	maxBehind = 10_000
)

// follower follows the log through a stream (relaywire.CallStream) while
// the handle waits, and keeps the updates it brings until Read takes them:
// a tailing agent then costs its relay one frame per new page instead of a
// wait, a read, and a read that finds nothing new. Reads it cannot answer
// from what it holds go to the relay as before.
//
// What it holds is a gap-free run of the log: ups are every update after
// base, up to pos, the stream's position.
type follower struct {
	s *Store

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the state changes
	base    uint64
	ups     []logstore.Update
	pos     uint64
	from    uint64 // the position of the caller the stream was started for
	bytes   int64  // keys and values in ups
	latest  uint64 // the highest id a frame reported
	maxOps  int    // page size asked of the relay: the largest a Read asked for (0: the store's default; -1: none yet)
	live    bool   // a stream is open or opening
	gen     uint64 // the current stream; older ones change nothing
	cancel  context.CancelFunc
	fails   int       // streams in a row that ended without bringing an update
	offTill time.Time // Wait polls until then
}

func newFollower(s *Store) *follower {
	return &follower{s: s, changed: make(chan struct{}), maxOps: -1}
}

// broadcast wakes everything waiting on a change; mu is held.
func (f *follower) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// wait returns once the log holds an id above after, following it with a
// stream; ok is false when streams are off for now, and the caller polls.
func (f *follower) wait(ctx context.Context, after uint64) (id uint64, ok bool, err error) {
	for {
		f.mu.Lock()
		// The caller has everything up to after: what it will read next
		// starts at after, which it reads again to check it.
		f.trim(after - min(after, 1))
		// A stream that stands elsewhere starts over where the caller is:
		// the caller went back, or got ahead of it (from a snapshot, or
		// by reading from another relay) past what it knows of or by more
		// than it should bring again. One that was started there, or is
		// a little behind on its way (the caller read a page from the
		// relay while the stream's next frame was due), goes on.
		at := after - min(after, 1)
		ahead := at > f.pos && at != f.from && (at > f.latest || at-f.pos > maxBehind)
		if !f.live || at < f.base || ahead {
			if time.Now().Before(f.offTill) {
				f.mu.Unlock()
				return 0, false, nil
			}
			f.start(after)
		}
		if f.latest > after {
			id = f.latest
			f.mu.Unlock()
			return id, true, nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, true, ctx.Err()
		}
	}
}

// start opens a stream for a caller that stands at after, continuing the
// updates held when they reach it, else starting over just below after
// (the caller reads its own last update again). mu is held.
func (f *follower) start(after uint64) {
	if f.cancel != nil {
		f.cancel()
	}
	from := after - min(after, 1)
	if f.gen > 0 && f.base <= from && from <= f.pos {
		from = f.pos
	} else {
		f.ups, f.bytes, f.base, f.pos = nil, 0, from, from
	}
	f.gen++
	f.live = true
	f.from = after - min(after, 1)
	ctx, cancel := context.WithCancel(f.s.life)
	f.cancel = cancel
	go f.run(ctx, f.gen, from, f.maxOps)
	f.broadcast()
}

// run streams from from until the stream ends, then notes why.
func (f *follower) run(ctx context.Context, gen, from uint64, maxOps int) {
	err := f.stream(ctx, gen, from, maxOps)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen != gen {
		return
	}
	f.live = false
	f.fails++
	switch {
	case errors.Is(err, logstore.ErrInvalid):
		f.offTill = time.Now().Add(unknownCallPause)
	case f.fails > 1:
		f.offTill = time.Now().Add(min(50*time.Millisecond<<min(f.fails-2, 10), maxRetryPause))
	}
	f.broadcast()
}

// stream reads the frames of one stream into the follower.
func (f *follower) stream(ctx context.Context, gen, from uint64, maxOps int) error {
	q := url.Values{
		relaywire.ParamAfter: {strconv.FormatUint(from, 10)},
		relaywire.ParamMax:   {strconv.Itoa(max(0, min(maxOps, logstore.DefaultMaxUpdateOps)))},
	}
	var resp *http.Response
	err := f.s.each(ctx, request{method: http.MethodGet, call: relaywire.CallStream, query: q, retry: true},
		func(ctx context.Context, addr string, req request) error {
			var err error
			resp, err = f.s.openCall(ctx, addr, req)
			return err
		})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	frames := relaywire.NewFrameReader(bufio.NewReaderSize(resp.Body, 64<<10), maxAnswer)
	for {
		fr, err := frames.Next()
		if err != nil {
			return fmt.Errorf("stream: %w", err)
		}
		var page []logstore.Update
		switch fr.Kind {
		case relaywire.FrameError:
			var e relaywire.Error
			if json.Unmarshal(fr.Body, &e) != nil || e.Code == "" {
				return fmt.Errorf("stream: error frame %q: %w", fr.Body, relaywire.ErrMalformed)
			}
			return fmt.Errorf("stream: %w", e.ToError())
		case relaywire.FramePage:
			if page, err = relaywire.DecodePage(fr.Body); err != nil {
				return fmt.Errorf("stream: %w", err)
			}
		}
		if err := f.add(ctx, gen, fr.Latest, page); err != nil {
			return err
		}
	}
}

// add appends the updates of a page that the stream brought, then waits
// while the follower holds too much.
func (f *follower) add(ctx context.Context, gen, latest uint64, page []logstore.Update) error {
	f.mu.Lock()
	if f.gen != gen {
		f.mu.Unlock()
		return errors.New("stream replaced")
	}
	prev := f.pos
	for _, u := range page {
		if u.ID <= prev {
			f.mu.Unlock()
			return fmt.Errorf("stream: update %d follows %d: %w", u.ID, prev, relaywire.ErrMalformed)
		}
		prev = u.ID
		f.bytes += u.Bytes()
	}
	f.ups = append(f.ups, page...)
	f.pos = prev
	f.latest = max(f.latest, latest, prev)
	if len(page) > 0 {
		f.fails = 0
	}
	f.broadcast()
	for f.bytes > maxBuffered && f.gen == gen {
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		f.mu.Lock()
	}
	f.mu.Unlock()
	f.s.saw(latest)
	return nil
}

// read answers Read from the updates held, when they can: after is within
// them, and the page either ends before the last one held or the stream
// has brought every id known to exist. ok is false otherwise.
func (f *follower) read(after uint64, maxOps int) (page []logstore.Update, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The largest page asked for: a read of one update (a check of a
	// single position) must not make the stream bring one a frame.
	if f.maxOps < 0 || f.maxOps > 0 && (maxOps <= 0 || maxOps > f.maxOps) {
		f.maxOps = max(maxOps, 0)
	}
	if after < f.base || after >= f.pos {
		return nil, false
	}
	i := sort.Search(len(f.ups), func(i int) bool { return f.ups[i].ID > after })
	j, ops := i, 0
	for j < len(f.ups) && (j == i || maxOps <= 0 || ops+len(f.ups[j].Ops) <= maxOps) {
		ops += len(f.ups[j].Ops)
		j++
	}
	if j == len(f.ups) && f.pos < max(f.latest, f.s.seen.Load()) {
		return nil, false // more is known than held: the relay answers
	}
	page = append([]logstore.Update(nil), f.ups[i:j]...)
	f.trim(after)
	return page, true
}

// trim drops the updates up to upTo (no further than pos): the caller will
// not read them again. mu is held.
func (f *follower) trim(upTo uint64) {
	upTo = min(upTo, f.pos)
	if upTo <= f.base {
		return
	}
	i := sort.Search(len(f.ups), func(i int) bool { return f.ups[i].ID > upTo })
	for _, u := range f.ups[:i] {
		f.bytes -= u.Bytes()
	}
	f.ups = f.ups[i:]
	f.base = upTo
	f.broadcast()
}

// close ends the stream.
func (f *follower) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		f.cancel()
	}
	f.gen++
	f.live = false
	f.broadcast()
}
