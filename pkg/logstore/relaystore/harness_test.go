package relaystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
	"github.com/whycache/whycache/pkg/logstore/storetest"
	"github.com/whycache/whycache/pkg/relay"
)

// raceScale is the conformance suite's scale under the race detector when
// $WHYCACHE_ORDERING_SCALE is unset. Every call crosses HTTP and a relay,
// which the race detector slows down several times, and the suite runs on
// three backends here: at a tenth of its size (as the stores' own suites
// run) this package took over ten minutes on two loaded cores, so the
// ordering proof runs at a twentieth (16 writers x 500 updates through two
// relays, 3 tailers), still enough for a tailer that skips a late commit to
// show; `make test-long` runs it at full size without -race.
const raceScale = "0.05"

func TestMain(m *testing.M) {
	if raceEnabled && os.Getenv(storetest.ScaleEnv) == "" {
		os.Setenv(storetest.ScaleEnv, raceScale)
	}
	testserver.Main(m)
}

// backing opens logs of the store behind the relays of one namespace.
type backing func(ctx context.Context, name string, create bool) (logstore.Store, error)

func dirBacking(t testing.TB) backing {
	dir := t.TempDir()
	return func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := dirstore.Open(ctx, dir, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

func mysqlBacking(t testing.TB) backing {
	dsn := testserver.MySQLDatabase(t)
	return func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := mysqlstore.Open(ctx, dsn, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

func pgBacking(t testing.TB) backing {
	dsn := testserver.PostgresDatabase(t)
	return func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := pgstore.Open(ctx, dsn, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// testRelay is a relay serving on a loopback port.
type testRelay struct {
	srv  *relay.Server
	hs   *http.Server
	addr string
	done chan error
	// calls counts the calls it got, by name (the last element of the
	// path); with noStream set it answers a stream call as a relay that
	// does not know it (one older than its clients).
	calls    sync.Map // string → *atomic.Int64
	noStream atomic.Bool
}

// serve counts a call, then serves it.
func (r *testRelay) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		call := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
		n, _ := r.calls.LoadOrStore(call, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if call == relaywire.CallStream && r.noStream.Load() {
			// What pkg/relay answers for a call it does not know.
			e, status := relaywire.FromError(fmt.Errorf("unknown call %q: %w", call, logstore.ErrInvalid))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(e)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// count returns how many calls of a name the relay got.
func (r *testRelay) count(call string) int64 {
	if n, ok := r.calls.Load(call); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// startRelay starts a relay over open; cfg.Open is set from open. Its
// cleanup stops it, unless the test killed it first.
func startRelay(t testing.TB, open backing, cfg relay.Config) *testRelay {
	t.Helper()
	cfg.Open = relay.Opener(open)
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &testRelay{srv: srv, addr: l.Addr().String(), done: make(chan error, 1)}
	r.hs = relay.NewHTTPServer("", r.serve(srv.Handler()), nil)
	go func() { r.done <- r.hs.Serve(l) }()
	t.Cleanup(r.kill)
	return r
}

// kill stops the relay at once, as a crash would to its clients: the
// listener and every connection close.
func (r *testRelay) kill() {
	_ = r.hs.Close()
	_ = r.srv.Close()
	if err := <-r.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		panic(err)
	}
	r.done <- http.ErrServerClosed
}

// relayURL names relays in a store URL.
func relayURL(rs ...*testRelay) string {
	addrs := make([]string, len(rs))
	for i, r := range rs {
		addrs[i] = r.addr
	}
	return "relay://" + strings.Join(addrs, ",")
}

// harness runs the conformance suite through two relays in front of the
// backend, each with its own handle to the store; every handle of the
// suite starts at one of the two, at random.
func harness(name string, newBacking func(testing.TB) backing) storetest.Harness {
	return storetest.Harness{
		Name: "relay-" + name,
		NewNamespace: func(t testing.TB) storetest.Opener {
			b := newBacking(t)
			url := relayURL(startRelay(t, b, relay.Config{}), startRelay(t, b, relay.Config{}))
			return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
				s, err := Open(t.Context(), url, opts)
				if err != nil {
					return nil, err
				}
				return s, nil
			}
		},
	}
}

func TestConformanceDir(t *testing.T)      { storetest.Run(t, harness("dir", dirBacking)) }
func TestConformanceMySQL(t *testing.T)    { storetest.Run(t, harness("mysql", mysqlBacking)) }
func TestConformancePostgres(t *testing.T) { storetest.Run(t, harness("postgres", pgBacking)) }
