package relay

import (
	"container/list"
	"context"
	"sync"
)

// pageKey names a read: the same read asked by many agents is served once.
type pageKey struct {
	replay  bool
	after   uint64
	maxOps  int
	horizon uint64 // the horizon a replay began under; 0 for a plain read
}

// entryOverhead is what an entry costs beside its page, counted against
// the cache's size.
const entryOverhead = 128

// pageEntry is a page read from the store, or being read.
type pageEntry struct {
	key  pageKey
	done chan struct{} // closed once body, last and err are set
	// upTo is the highest id known to exist when the read began: the page
	// reflects the log at least that far.
	upTo uint64
	body []byte // the encoded page
	last uint64 // the id of its last update, 0 for an empty page
	err  error
	elem *list.Element // in the LRU list while cached
}

// covers tells whether a finished entry answers a read that must reflect
// the log through need: a page that ended before the end of the log as it
// was known then was cut by its size, and later updates cannot change it;
// any other page must have been read with at least need in view.
func (e *pageEntry) covers(need uint64) bool {
	if e.last != 0 && e.last < e.upTo {
		return true
	}
	return max(e.upTo, e.last) >= need
}

func (e *pageEntry) size() int64 { return int64(len(e.body)) + entryOverhead }

// loadFunc reads a page from the store and returns its encoding and the id
// of its last update.
type loadFunc func(ctx context.Context) (body []byte, last uint64, err error)

// pageCache keeps recently read pages, up to a number of bytes, least
// recently used first out, and makes concurrent readers of the same page
// share one store read.
type pageCache struct {
	max int64 // bytes; a page over a quarter of it is shared but not kept

	mu    sync.Mutex
	used  int64
	m     map[pageKey]*pageEntry
	lru   list.List // of *pageEntry, most recent first
	stats cacheStats
}

// cacheStats counts what the cache did.
type cacheStats struct {
	// Hits are reads answered from a kept page; Shared, reads that waited
	// for another reader's store read; Loads, store reads.
	Hits, Shared, Loads int64
	// Evictions are pages dropped for room.
	Evictions int64
}

func newPageCache(maxBytes int64) *pageCache {
	return &pageCache{max: maxBytes, m: map[pageKey]*pageEntry{}}
}

// get returns the page for key that reflects the log through need: a kept
// one, the result of a store read in flight that began with need in view,
// or a new store read through load (run with loadCtx, not the caller's
// context, because other readers may come to share it).
func (c *pageCache) get(ctx, loadCtx context.Context, key pageKey, need uint64, load loadFunc) ([]byte, error) {
	p, err := c.getPage(ctx, loadCtx, key, need, load)
	return p.body, err
}

// encodedPage is a page as the cache keeps it: its encoding and the id of
// its last update (0 for an empty page).
type encodedPage struct {
	body []byte
	last uint64
}

// getPage is get that also returns the id of the page's last update.
func (c *pageCache) getPage(ctx, loadCtx context.Context, key pageKey, need uint64, load loadFunc) (encodedPage, error) {
	c.mu.Lock()
	e := c.m[key]
	switch {
	case e != nil && e.finished() && e.covers(need):
		c.lru.MoveToFront(e.elem)
		c.stats.Hits++
		c.mu.Unlock()
		return encodedPage{e.body, e.last}, nil
	case e != nil && !e.finished() && e.upTo >= need:
		c.stats.Shared++
		c.mu.Unlock()
		return e.wait(ctx)
	}
	if e != nil && e.finished() {
		c.remove(e)
	}
	e = &pageEntry{key: key, done: make(chan struct{}), upTo: need}
	c.m[key] = e
	c.stats.Loads++
	c.mu.Unlock()

	body, last, err := load(loadCtx)
	c.mu.Lock()
	e.body, e.last, e.err = body, last, err
	close(e.done)
	if c.m[key] == e {
		if err != nil || e.size() > c.max/4 {
			delete(c.m, key)
		} else {
			e.elem = c.lru.PushFront(e)
			c.used += e.size()
			c.evict()
		}
	}
	c.mu.Unlock()
	return encodedPage{body, last}, err
}

func (e *pageEntry) finished() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

func (e *pageEntry) wait(ctx context.Context) (encodedPage, error) {
	select {
	case <-e.done:
		return encodedPage{e.body, e.last}, e.err
	case <-ctx.Done():
		return encodedPage{}, ctx.Err()
	}
}

// evict drops the least recently used pages until the cache fits.
func (c *pageCache) evict() {
	for c.used > c.max {
		back := c.lru.Back()
		if back == nil {
			return
		}
		c.remove(back.Value.(*pageEntry))
		c.stats.Evictions++
	}
}

// remove drops a finished entry.
func (c *pageCache) remove(e *pageEntry) {
	if c.m[e.key] == e {
		delete(c.m, e.key)
	}
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
		c.used -= e.size()
	}
}

// clear drops every kept page: the log's history was rewritten. Reads in
// flight finish, but are not kept.
func (c *pageCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.m {
		if e.finished() {
			c.remove(e)
		} else {
			delete(c.m, e.key)
		}
	}
}

// snapshot returns the statistics and the bytes in use.
func (c *pageCache) snapshot() (cacheStats, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats, c.used
}
