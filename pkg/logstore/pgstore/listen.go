package pgstore

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenerName is the application_name of the listening connection.
const listenerName = "whycache-listen"

// listener holds the connection that LISTENs on the log's channel and
// publishes every notified id to the store's notifier.
type listener struct {
	s       *Store
	once    sync.Once
	ready   chan struct{} // closed once the first LISTEN succeeded or failed
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
	mu      sync.Mutex
}

func newListener(s *Store) *listener {
	return &listener{s: s, ready: make(chan struct{}), done: make(chan struct{})}
}

// start starts the listener once, and waits (up to ctx) until it listens,
// so that the waiter's first read of the last id cannot miss a
// notification.
func (l *listener) start(ctx context.Context) {
	l.once.Do(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.stopped {
			close(l.ready)
			close(l.done)
			return
		}
		lctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		go l.run(lctx)
	})
	select {
	case <-l.ready:
	case <-ctx.Done():
	}
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-l.done
	}
}

// run listens until ctx ends, reconnecting with backoff.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	var readyOnce sync.Once
	signalReady := func() { readyOnce.Do(func() { close(l.ready) }) }
	defer signalReady()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened := false
		err := l.listen(ctx, func() { listened = true; signalReady() })
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = 100 * time.Millisecond
		}
		signalReady() // waiters fall back to polling
		l.s.log.Info("notification connection lost; reconnecting", "error", err.Error(), "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, LISTENs, wakes the waiters (they may have missed
// notifications), and publishes notifications until the connection fails.
func (l *listener) listen(ctx context.Context, listening func()) error {
	cfg := l.s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN "`+l.s.t.channel+`"`); err != nil {
		return err
	}
	var latest int64
	if err := conn.QueryRow(ctx, "SELECT last_id FROM "+l.s.t.meta+" WHERE singleton = 1").Scan(&latest); err != nil {
		return err
	}
	l.s.notifier.Publish(uint64(latest))
	l.s.notifier.Wake()
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := strconv.ParseUint(n.Payload, 10, 64); err == nil {
			l.s.notifier.Publish(id)
		}
	}
}
