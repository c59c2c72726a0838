package relaystore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// maxWait is the longest a wait call asks a relay to hold; the relay may
// hold it for less (its --max-wait), and Wait then asks again.
const maxWait = 25 * time.Second

// Store is a log served by relays. It implements logstore.Store.
type Store struct {
	target Target
	opts   logstore.Options
	hc     *http.Client
	token  string
	id     logstore.LogID

	follow *follower // nil with stream=false

	cur    atomic.Int32  // the index of the relay in use
	seen   atomic.Uint64 // the highest id known to exist
	life   context.Context
	stop   context.CancelFunc
	closed atomic.Bool
}

var _ logstore.Store = (*Store)(nil)

// Open opens the log opts.Name through the relays that rawURL names (see
// ParseURL), creating it when opts.Create is set. It starts with a relay
// chosen at random, so that agents spread over the relays.
func Open(ctx context.Context, rawURL string, opts logstore.Options) (*Store, error) {
	opts, err := opts.Validate()
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	token, err := readToken(t.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	hc, err := newHTTPClient(t)
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	s := &Store{target: t, opts: opts, hc: hc, token: token}
	s.life, s.stop = context.WithCancel(context.Background())
	if !t.NoStream {
		s.follow = newFollower(s)
	}
	s.cur.Store(int32(rand.IntN(len(t.Addrs))))
	if err := s.open(ctx); err != nil {
		s.stop()
		hc.CloseIdleConnections()
		return nil, fmt.Errorf("relaystore: open log %q at %s: %w", opts.Name, t, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	q := url.Values{}
	if s.opts.Create {
		q.Set(relaywire.ParamCreate, "true")
	}
	b, err := s.do(ctx, request{method: http.MethodPost, call: relaywire.CallOpen, query: q, retry: true})
	if err != nil {
		return err
	}
	var o relaywire.Open
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("decode the open answer: %w: %w", relaywire.ErrMalformed, err)
	}
	id, err := logstore.ParseLogID(o.ID)
	if err != nil {
		return fmt.Errorf("the relay's log identity: %w", err)
	}
	if !s.opts.ExpectID.IsZero() && id != s.opts.ExpectID {
		return fmt.Errorf("log has identity %s, expected %s: %w", id, s.opts.ExpectID, logstore.ErrIdentityMismatch)
	}
	s.id = id
	return nil
}

// ID returns the log's identity.
func (s *Store) ID() logstore.LogID { return s.id }

// Limits returns the limits that Append enforces before it sends an update;
// the relay's store enforces its own too.
func (s *Store) Limits() logstore.Limits { return s.opts.Limits }

// Append sends the update to the store through a relay. It is never sent
// twice: when the connection is lost after the update left, the error says
// so, and the update is whole in the log or absent.
func (s *Store) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("relaystore: append: %w", logstore.ErrClosed)
	}
	if err := s.opts.Limits.Check(ops); err != nil {
		return 0, fmt.Errorf("relaystore: append: %w", err)
	}
	body := relaywire.AppendOps(make([]byte, 0, relaywire.OpsSize(ops)), ops)
	id, err := s.number(ctx, request{method: http.MethodPost, call: relaywire.CallAppend, body: body, ctype: relaywire.ContentTypeBinary})
	if err != nil {
		return 0, err
	}
	s.saw(id)
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(1, len(ops))
	}
	return id, nil
}

// Read returns the updates after after (see logstore.Store): from those
// that the stream of Wait brought when they answer it, else from a relay.
func (s *Store) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("relaystore: read: %w", logstore.ErrClosed)
	}
	if s.follow != nil {
		if page, ok := s.follow.read(after, maxOps); ok {
			return page, nil
		}
	}
	return s.read(ctx, relaywire.CallRead, after, maxOps, nil)
}

// ReadReplay reads like Read for a replay that began under horizon (see
// logstore.Store).
func (s *Store) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	return s.read(ctx, relaywire.CallReplay, after, maxOps, url.Values{relaywire.ParamHorizon: {strconv.FormatUint(horizon, 10)}})
}

func (s *Store) read(ctx context.Context, call string, after uint64, maxOps int, q url.Values) ([]logstore.Update, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set(relaywire.ParamAfter, strconv.FormatUint(after, 10))
	q.Set(relaywire.ParamMax, strconv.Itoa(max(0, min(maxOps, logstore.DefaultMaxUpdateOps))))
	q.Set(relaywire.ParamKnown, strconv.FormatUint(s.seen.Load(), 10))
	b, err := s.do(ctx, request{method: http.MethodGet, call: call, query: q, retry: true})
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	page, err := relaywire.DecodePage(b)
	if err != nil {
		return nil, fmt.Errorf("relaystore: %s after %d: %w", call, after, err)
	}
	prev := after
	for _, u := range page {
		if u.ID <= prev {
			return nil, fmt.Errorf("relaystore: %s after %d: update %d follows %d: %w", call, after, u.ID, prev, relaywire.ErrMalformed)
		}
		prev = u.ID
	}
	s.saw(prev)
	return page, nil
}

// Latest returns the highest update id in the log.
func (s *Store) Latest(ctx context.Context) (uint64, error) {
	id, err := s.number(ctx, request{method: http.MethodGet, call: relaywire.CallLatest, retry: true})
	if err != nil {
		return 0, err
	}
	s.saw(id)
	return id, nil
}

// Horizon returns the log's horizon.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	return s.number(ctx, request{method: http.MethodGet, call: relaywire.CallHorizon, retry: true})
}

// Wait blocks until the log holds an update above after and returns the
// latest id. It follows the log with a stream, whose updates the next
// Reads take; while streams fail, or with stream=false, it polls: a long
// poll, asked again while the relay answers that nothing is new. Both move
// to another relay when one fails.
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("relaystore: wait: %w", logstore.ErrClosed)
	}
	if s.follow != nil {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.life, cancel)
		defer stop()
		id, ok, err := s.follow.wait(ctx, after)
		switch {
		case err != nil && s.closed.Load():
			return 0, fmt.Errorf("relaystore: wait: %w", logstore.ErrClosed)
		case err != nil:
			return 0, fmt.Errorf("relaystore: wait: %w", err)
		case ok:
			s.saw(id)
			return id, nil
		}
	}
	return s.poll(ctx, after)
}

// poll is Wait by long polls.
func (s *Store) poll(ctx context.Context, after uint64) (uint64, error) {
	for {
		d := maxWait
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl))
		}
		if d < time.Millisecond {
			<-ctx.Done()
			if s.closed.Load() {
				return 0, fmt.Errorf("relaystore: wait: %w", logstore.ErrClosed)
			}
			return 0, fmt.Errorf("relaystore: wait: %w", ctx.Err())
		}
		q := url.Values{
			relaywire.ParamAfter:   {strconv.FormatUint(after, 10)},
			relaywire.ParamTimeout: {strconv.FormatInt(d.Milliseconds(), 10)},
		}
		id, err := s.number(ctx, request{method: http.MethodGet, call: relaywire.CallWait, query: q, retry: true})
		if err != nil {
			return 0, err
		}
		if id > after {
			s.saw(id)
			return id, nil
		}
	}
}

// Rewrite rewrites the log's history through a relay.
func (s *Store) Rewrite(ctx context.Context, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	body, err := json.Marshal(relaywire.Rewrite{Through: opts.Through, DeleteLimit: opts.DeleteLimit, BatchSize: opts.BatchSize})
	if err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("relaystore: rewrite: %w", err)
	}
	// A rewrite sent twice does no more than once: its limits are ids.
	b, err := s.do(ctx, request{method: http.MethodPost, call: relaywire.CallRewrite, body: body, ctype: "application/json", retry: true})
	if err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("relaystore: %w", err)
	}
	var st relaywire.RewriteStats
	if err := json.Unmarshal(b, &st); err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("relaystore: decode the rewrite answer: %w: %w", relaywire.ErrMalformed, err)
	}
	return st.Stats(), nil
}

// Heartbeat records a node's applied id; the relay writes it with others
// and returns once it is in the store.
func (s *Store) Heartbeat(ctx context.Context, p logstore.NodeProgress) error {
	body, err := json.Marshal(relaywire.Heartbeat{Node: p.Node, AppliedID: p.AppliedID})
	if err != nil {
		return fmt.Errorf("relaystore: heartbeat: %w", err)
	}
	_, err = s.number(ctx, request{method: http.MethodPost, call: relaywire.CallHeartbeat, body: body, ctype: "application/json", retry: true})
	return err
}

// Nodes lists the nodes that have sent a heartbeat, by name.
func (s *Store) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	b, err := s.do(ctx, request{method: http.MethodGet, call: relaywire.CallNodes, retry: true})
	if err != nil {
		return nil, fmt.Errorf("relaystore: %w", err)
	}
	var ns []relaywire.Node
	if err := json.Unmarshal(b, &ns); err != nil {
		return nil, fmt.Errorf("relaystore: decode the nodes answer: %w: %w", relaywire.ErrMalformed, err)
	}
	return relaywire.Progress(ns), nil
}

// Close ends the calls in progress (they fail with ErrClosed) and closes
// the connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("relaystore: close: %w", logstore.ErrClosed)
	}
	s.stop()
	if s.follow != nil {
		s.follow.close()
	}
	s.hc.CloseIdleConnections()
	return nil
}

// number makes a call whose answer is one id.
func (s *Store) number(ctx context.Context, req request) (uint64, error) {
	b, err := s.do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("relaystore: %w", err)
	}
	var n relaywire.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, fmt.Errorf("relaystore: decode the %s answer: %w: %w", req.call, relaywire.ErrMalformed, err)
	}
	return n.N, nil
}

// saw notes an id known to exist.
func (s *Store) saw(id uint64) {
	for {
		cur := s.seen.Load()
		if id <= cur || s.seen.CompareAndSwap(cur, id) {
			return
		}
	}
}
