package whycache

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Client reads an instance's dataset from its cache file and writes updates
// through the node agent or the log store. It is safe for concurrent use.
type Client struct {
	dir string
	r   *cachefile.Reader
	w   Writer
}

// Option configures a Client.
type Option func(*options)

type options struct {
	store     logstore.Store
	socket    string
	waitApply bool
	timeout   time.Duration
}

// WithStore sends writes straight to a log store instead of the node agent:
// for jobs and tools that run where no agent is. The caller keeps ownership
// of the store and closes it after the client.
func WithStore(s logstore.Store) Option { return func(o *options) { o.store = s } }

// WithSocket sets the node agent's write socket; the default is the socket
// in the instance directory.
func WithSocket(path string) Option { return func(o *options) { o.socket = path } }

// WithApplyWait makes every write through the node agent return only once
// the agent has applied it to this node's file, so that a read right after a
// write sees it.
func WithApplyWait() Option { return func(o *options) { o.waitApply = true } }

// WithWriteTimeout bounds each write through the node agent when the
// caller's context has no deadline (default 30s).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Open opens the instance whose directory is dir. It fails with an error
// matching ErrNoFile when the directory has no cache file yet; OpenWait
// waits for it instead. A process with no cache file that only writes uses
// a Writer (NewWriter).
func Open(dir string, opts ...Option) (*Client, error) {
	o := options{socket: filepath.Join(dir, agentapi.SocketName), timeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := cachefile.Open(filepath.Join(dir, agentapi.CacheFileName))
	if err != nil {
		return nil, fmt.Errorf("whycache: open %s: %w", dir, err)
	}
	c := &Client{dir: dir, r: r}
	if o.store != nil {
		c.w.a = storeWriter{o.store}
	} else {
		c.w.a = newAgentWriter(o.socket, o.waitApply, o.timeout)
	}
	return c, nil
}

// Pauses between the checks of OpenWait: short at first, for a file that is
// about to appear, and bounded, so that a pod sees its node's file soon
// after a long bootstrap.
const (
	waitPauseMin = time.Millisecond
	waitPauseMax = 200 * time.Millisecond
)

// OpenWait opens the instance whose directory is dir, as Open does, but
// waits until the node agent has made the cache file: for a pod that starts
// before its node's agent, or while the agent bootstraps. It checks again
// with a growing pause, and fails when ctx ends, with an error matching
// both ErrNoFile and ctx's error. Any other error returns at once.
func OpenWait(ctx context.Context, dir string, opts ...Option) (*Client, error) {
	pause := waitPauseMin
	for {
		c, err := Open(dir, opts...)
		if !errors.Is(err, ErrNoFile) {
			return c, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (waited: %w)", err, ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, waitPauseMax)
	}
}

// Get returns a copy of key's value, or an error matching ErrNotFound.
func (c *Client) Get(key []byte) ([]byte, error) { return c.r.Get(key) }

// View calls fn with key's value without copying it, or returns an error
// matching ErrNotFound. The value is valid only until fn returns; fn must not
// keep it or modify it.
func (c *Client) View(key []byte, fn func(value []byte)) error { return c.r.View(key, fn) }

// Pin is a hold on this node's file for a series of lookups (one request,
// say) that take no atomic reference each: see cachefile.Pin. Release it
// when done; a Pin is for one goroutine.
type Pin = cachefile.Pin

// Pin returns a Pin on the current file. Lookups through it are the fastest
// there are; they see the file as it is when the Pin is taken, plus the
// updates applied to it in place, but not a new generation of it.
func (c *Client) Pin() (*Pin, error) { return c.r.Pin() }

// Len returns the number of keys.
func (c *Client) Len() int { return c.r.Len() }

// Keys yields every key, in no particular order.
func (c *Client) Keys() iter.Seq[[]byte] { return c.r.Keys() }

// Values yields every value, in no particular order.
func (c *Client) Values() iter.Seq[[]byte] { return c.r.Values() }

// Items yields every key and value, in no particular order. The slices
// yielded are copies the caller may keep.
func (c *Client) Items() iter.Seq2[[]byte, []byte] { return c.r.All() }

// Prefix yields the keys that start with prefix and their values, in key
// order.
func (c *Client) Prefix(prefix []byte) iter.Seq2[[]byte, []byte] { return c.r.Prefix(prefix) }

// UpdateID returns the last update id applied to this node's file.
func (c *Client) UpdateID() uint64 { return c.r.UpdateID() }

// Path returns the path of the cache file.
func (c *Client) Path() string { return c.r.Path() }

// WaitFor blocks until this node's file holds update id (for example one a
// write returned), or ctx ends.
func (c *Client) WaitFor(ctx context.Context, id uint64) error {
	pause := 100 * time.Microsecond
	for c.r.UpdateID() < id {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("whycache: wait for update %d (applied %d): %w", id, c.r.UpdateID(), ctx.Err())
		case <-t.C:
		}
		pause = min(pause*2, 10*time.Millisecond)
	}
	return nil
}

// Set sets key to value and returns the update id once the update is
// durable.
func (c *Client) Set(ctx context.Context, key, value []byte) (uint64, error) {
	return c.w.Set(ctx, key, value)
}

// SetMulti sets several keys in one atomic update and returns its id.
func (c *Client) SetMulti(ctx context.Context, items map[string][]byte) (uint64, error) {
	return c.w.SetMulti(ctx, items)
}

// Delete deletes key and returns the update id. Deleting a missing key is
// not an error.
func (c *Client) Delete(ctx context.Context, key []byte) (uint64, error) {
	return c.w.Delete(ctx, key)
}

// DeleteMulti deletes several keys in one atomic update and returns its id.
// Missing keys are not an error: the others are deleted.
func (c *Client) DeleteMulti(ctx context.Context, keys [][]byte) (uint64, error) {
	return c.w.DeleteMulti(ctx, keys)
}

// Close releases the client's file mapping. It does not close a store given
// with WithStore.
func (c *Client) Close() error {
	if err := c.w.Close(); err != nil {
		return err
	}
	return c.r.Close()
}
