package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// OpenStoreFunc opens a log store by URL; backends.Open in production.
type OpenStoreFunc func(ctx context.Context, url string, opts logstore.Options) (logstore.Store, error)

// errSecret marks a reading that failed because the Secret or its key is
// missing (reason SecretNotFound rather than StoreUnreachable).
var errSecret = errors.New("log store secret")

// storeReading is what one read of a log store found.
type storeReading struct {
	// At is when the read happened; zero before the first.
	At time.Time
	// Err is why the read failed (its text never holds the password).
	Err error
	// LogID, Latest and Horizon describe the log.
	LogID           string
	Latest, Horizon uint64
	// Nodes are the agents' progress records.
	Nodes []logstore.NodeProgress
}

// storePoller reads each instance's log store at most once per interval,
// each read bounded by a timeout, and remembers the last reading (a
// failure too, so that an unreachable store is not hammered).
type storePoller struct {
	open     OpenStoreFunc
	interval time.Duration
	timeout  time.Duration

	mu       sync.Mutex
	readings map[types.NamespacedName]storeReading
}

func newStorePoller(open OpenStoreFunc, interval, timeout time.Duration) *storePoller {
	if open == nil {
		open = backends.Open
	}
	return &storePoller{open: open, interval: interval, timeout: timeout, readings: map[types.NamespacedName]storeReading{}}
}

// due reports whether the instance's store should be read now, and returns
// the last reading.
func (p *storePoller) due(key types.NamespacedName, now time.Time) (storeReading, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.readings[key]
	return r, !ok || now.Sub(r.At) >= p.interval || now.Before(r.At)
}

// record stores a reading.
func (p *storePoller) record(key types.NamespacedName, r storeReading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readings[key] = r
}

// forget drops a deleted instance's reading.
func (p *storePoller) forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.readings, key)
}

// read opens the store at url, reads the log's identity, latest id,
// horizon and nodes, and closes it.
func (p *storePoller) read(ctx context.Context, url, logName string, now time.Time) storeReading {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r := storeReading{At: now}
	s, err := p.open(ctx, url, logstore.Options{Name: logName})
	if err != nil {
		r.Err = fmt.Errorf("open log %q in %s: %w", logName, backends.Redact(url), err)
		return r
	}
	defer s.Close()
	r.LogID = s.ID().String()
	if r.Latest, err = s.Latest(ctx); err != nil {
		r.Err = fmt.Errorf("read the latest id: %w", err)
		return r
	}
	if r.Horizon, err = s.Horizon(ctx); err != nil {
		r.Err = fmt.Errorf("read the horizon: %w", err)
		return r
	}
	if r.Nodes, err = s.Nodes(ctx); err != nil {
		r.Err = fmt.Errorf("read the nodes: %w", err)
	}
	return r
}
