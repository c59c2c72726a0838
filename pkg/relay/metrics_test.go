package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// faultyStore is a directory store whose Nodes fails on demand and whose
// reads can be held, so that a test sees the store's failures and reads in
// flight in the metrics.
type faultyStore struct {
	logstore.Store
	failNodes *atomic.Bool
	gate      *atomic.Pointer[chan struct{}] // reads wait for it to close while set
}

func (s *faultyStore) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	if s.failNodes.Load() {
		return nil, errors.New("the database went away")
	}
	return s.Store.Nodes(ctx)
}

func (s *faultyStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	if g := s.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.Read(ctx, after, maxOps)
}

// batchingStore is a faultyStore that writes heartbeats in batches, as
// the SQL stores do.
type batchingStore struct{ *faultyStore }

func (s batchingStore) Heartbeats(ctx context.Context, ps []logstore.NodeProgress) error {
	for _, p := range ps {
		if err := s.Heartbeat(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// metricsHarness is a relay over a directory store (through faultyStore)
// with its metrics on a registry of the test's.
type metricsHarness struct {
	srv       *Server
	hs        *httptest.Server
	reg       *prometheus.Registry
	failNodes atomic.Bool
	gate      atomic.Pointer[chan struct{}]
}

func newMetricsHarness(t *testing.T, batching bool) *metricsHarness {
	h := &metricsHarness{reg: prometheus.NewRegistry()}
	dir := t.TempDir()
	open := func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := dirstore.Open(ctx, dir, logstore.Options{Name: name, Create: create})
		if err != nil {
			return nil, err
		}
		fs := &faultyStore{Store: s, failNodes: &h.failNodes, gate: &h.gate}
		if batching {
			return batchingStore{fs}, nil
		}
		return fs, nil
	}
	if _, err := open(t.Context(), "log", true); err != nil {
		t.Fatal(err)
	}
	var err error
	// No newest updates in memory: every read takes the page cache, whose
	// counters the steps follow.
	h.srv, err = New(Config{Open: open, Token: []byte(testToken), Logs: []string{"log"}, MaxWaiters: 1, Registry: h.reg, RecentBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	h.hs = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() { h.hs.Close(); h.srv.Close() })
	return h
}

// values gathers the registry: each series as name{label="value",...}
// without the whycache_relay_ prefix.
func (h *metricsHarness) values(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), "whycache_relay_")
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			// One of the two is set; the getters of the other give 0.
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// await polls until the series key has the value want.
func (h *metricsHarness) await(t *testing.T, key string, want float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for h.values(t)[key] != want {
		if sleep(ctx, time.Millisecond) != nil {
			t.Fatalf("%s never became %v (is %v)", key, want, h.values(t)[key])
		}
	}
}

// call makes a call and returns its status and the length of its answer.
func (h *metricsHarness) call(t *testing.T, method, path, token string, body []byte) (int, int) {
	t.Helper()
	status, _, b := doCall(t, h.hs, method, path, token, body)
	return status, len(b)
}

// inBackground runs a call in a goroutine; the channel gets its status.
func (h *metricsHarness) inBackground(t *testing.T, method, path string) <-chan int {
	done := make(chan int, 1)
	go func() {
		status, _, _ := doCall(t, h.hs, method, path, testToken, nil)
		done <- status
	}()
	return done
}

// TestMetrics drives calls through the relay's handler, one step after the
// other on one relay, and checks that each step moves the counters it
// should by exactly what it should (deltas) and leaves the gauges where it
// should (values).
func TestMetrics(t *testing.T) {
	h := newMetricsHarness(t, false)
	p := func(call string) string { return relaywire.Path("log", call) }
	set := func(k string) []byte {
		return relaywire.AppendOps(nil, []logstore.Op{logstore.Set([]byte(k), []byte("v"))})
	}
	expectStatus := func(t *testing.T, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	}
	h.await(t, `logs`, 1)
	steps := []struct {
		name string
		// do makes the step's calls and returns the bytes answered to
		// the call named served.
		do     func(t *testing.T) int
		served string
		delta  map[string]float64
		value  map[string]float64
	}{
		{
			name: "append forwarded",
			do: func(t *testing.T) int {
				status, n := h.call(t, "POST", p("append"), testToken, set("a"))
				expectStatus(t, status, 200)
				return n
			},
			served: "append",
			delta:  map[string]float64{`calls_total{call="append",class="2xx"}`: 1, `store_calls_total{op="append"}`: 1},
			value:  map[string]float64{`latest_id{log="log"}`: 1, `waits_held`: 0},
		},
		{
			name: "page read from the store",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("read")+"?after=0", testToken, nil)
				expectStatus(t, status, 200)
				return n
			},
			served: "read",
			delta: map[string]float64{`page_reads_total{result="miss"}`: 1, `page_reads_total{result="hit"}`: 0,
				`store_calls_total{op="read"}`: 1, `calls_total{call="read",class="2xx"}`: 1},
			value: map[string]float64{`store_reads_in_flight`: 0},
		},
		{
			name: "the same page from the cache",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("read")+"?after=0", testToken, nil)
				expectStatus(t, status, 200)
				return n
			},
			served: "read",
			delta: map[string]float64{`page_reads_total{result="hit"}`: 1, `page_reads_total{result="miss"}`: 0,
				`store_calls_total{op="read"}`: 0, `calls_total{call="read",class="2xx"}`: 1},
		},
		{
			name: "a page read in flight on the store, shared by a second reader",
			do: func(t *testing.T) int {
				gate := make(chan struct{})
				h.gate.Store(&gate)
				first := h.inBackground(t, "GET", p("read")+"?after=1")
				h.await(t, `store_reads_in_flight`, 1)
				second := h.inBackground(t, "GET", p("read")+"?after=1")
				h.await(t, `page_reads_total{result="shared"}`, 1)
				h.gate.Store(nil)
				close(gate)
				expectStatus(t, <-first, 200)
				expectStatus(t, <-second, 200)
				return 0
			},
			delta: map[string]float64{`page_reads_total{result="miss"}`: 1, `page_reads_total{result="shared"}`: 1,
				`store_calls_total{op="read"}`: 1, `calls_total{call="read",class="2xx"}`: 2},
			value: map[string]float64{`store_reads_in_flight`: 0},
		},
		{
			name: "a wait answered at once",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("wait")+"?after=0", testToken, nil)
				expectStatus(t, status, 200)
				return n
			},
			served: "wait",
			delta:  map[string]float64{`waits_total{outcome="new"}`: 1, `calls_total{call="wait",class="2xx"}`: 1},
		},
		{
			name: "a wait that times out",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("wait")+"?after=1&"+relaywire.ParamTimeout+"=1", testToken, nil)
				expectStatus(t, status, 200)
				return n
			},
			served: "wait",
			delta:  map[string]float64{`waits_total{outcome="timeout"}`: 1, `waits_total{outcome="new"}`: 0},
		},
		{
			name: "a wait held, one refused over the limit, then an append ends the held one",
			do: func(t *testing.T) int {
				held := h.inBackground(t, "GET", p("wait")+"?after=1")
				h.await(t, `waits_held`, 1)
				status, _ := h.call(t, "GET", p("wait")+"?after=1", testToken, nil)
				expectStatus(t, status, 503)
				status, _ = h.call(t, "POST", p("append"), testToken, set("b"))
				expectStatus(t, status, 200)
				expectStatus(t, <-held, 200)
				return 0
			},
			delta: map[string]float64{`waits_total{outcome="new"}`: 1, `waits_total{outcome="refused"}`: 1,
				`calls_total{call="wait",class="2xx"}`: 1, `calls_total{call="wait",class="5xx"}`: 1,
				`call_errors_total{code="unavailable"}`: 1, `store_calls_total{op="append"}`: 1},
			value: map[string]float64{`waits_held`: 0, `latest_id{log="log"}`: 2},
		},
		{
			name: "a heartbeat written in a batch",
			do: func(t *testing.T) int {
				status, n := h.call(t, "POST", p("heartbeat"), testToken, []byte(`{"node":"n1","appliedID":2}`))
				expectStatus(t, status, 200)
				return n
			},
			served: "heartbeat",
			delta: map[string]float64{`heartbeats_written_total`: 1, `heartbeat_batches_total`: 1,
				`store_calls_total{op="heartbeat"}`: 1, `calls_total{call="heartbeat",class="2xx"}`: 1},
		},
		{
			name: "a call without the token",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("latest"), "", nil)
				expectStatus(t, status, 401)
				return n
			},
			served: "latest",
			delta: map[string]float64{`calls_total{call="latest",class="4xx"}`: 1, `call_errors_total{code="unauthorized"}`: 1,
				`store_calls_total{op="latest"}`: 0},
		},
		{
			name: "an unknown call",
			do: func(t *testing.T) int {
				status, n := h.call(t, "GET", p("truncate"), testToken, nil)
				expectStatus(t, status, 400)
				return n
			},
			served: callOther,
			delta:  map[string]float64{`calls_total{call="other",class="4xx"}`: 1, `call_errors_total{code="invalid"}`: 1},
		},
		{
			name: "a store failure",
			do: func(t *testing.T) int {
				h.failNodes.Store(true)
				defer h.failNodes.Store(false)
				status, n := h.call(t, "GET", p("nodes"), testToken, nil)
				expectStatus(t, status, 500)
				return n
			},
			served: "nodes",
			delta: map[string]float64{`store_calls_total{op="nodes"}`: 1, `store_errors_total{op="nodes"}`: 1,
				`call_errors_total{code="internal"}`: 1, `calls_total{call="nodes",class="5xx"}`: 1},
		},
		{
			name: "a stream sends a tick, then a page once the log grows",
			do: func(t *testing.T) int {
				calls := `calls_total{call="stream",class="2xx"}`
				ended := h.values(t)[calls] + 1
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, "GET", h.hs.URL+p("stream")+"?after=2", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := h.hs.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				r := bufio.NewReader(resp.Body)
				for _, want := range []byte{relaywire.FrameTick, relaywire.FramePage} {
					if want == relaywire.FramePage {
						h.await(t, `waits_held`, 1)
						status, _ := h.call(t, "POST", p("append"), testToken, set("c"))
						expectStatus(t, status, 200)
					}
					fr, err := relaywire.ReadFrame(r, 1<<20)
					if err != nil || fr.Kind != want {
						t.Fatalf("frame %q (%v), want %q", fr.Kind, err, want)
					}
				}
				cancel()
				h.await(t, calls, ended)
				return 0
			},
			delta: map[string]float64{`stream_frames_total{kind="tick"}`: 1, `stream_frames_total{kind="page"}`: 1,
				`page_reads_total{result="miss"}`: 1, `store_calls_total{op="append"}`: 1, `calls_total{call="stream",class="2xx"}`: 1},
			value: map[string]float64{`waits_held`: 0, `latest_id{log="log"}`: 3},
		},
		{
			name: "a wait ended by Drain",
			do: func(t *testing.T) int {
				held := h.inBackground(t, "GET", p("wait")+"?after=3")
				h.await(t, `waits_held`, 1)
				h.srv.Drain()
				expectStatus(t, <-held, 503)
				return 0
			},
			delta: map[string]float64{`waits_total{outcome="draining"}`: 1, `calls_total{call="wait",class="5xx"}`: 1},
			value: map[string]float64{`waits_held`: 0},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := h.values(t)
			n := st.do(t)
			after := h.values(t)
			if st.served != "" {
				key := `served_bytes_total{call="` + st.served + `"}`
				if got := after[key] - before[key]; got != float64(n) || n == 0 {
					t.Errorf("%s grew by %v, want the %d bytes answered", key, got, n)
				}
			}
			for _, key := range slices.Sorted(maps.Keys(st.delta)) {
				if _, ok := after[key]; !ok {
					t.Errorf("no series %s", key)
				}
				if got := after[key] - before[key]; got != st.delta[key] {
					t.Errorf("%s grew by %v, want %v", key, got, st.delta[key])
				}
			}
			for key, want := range st.value {
				if got, ok := after[key]; !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
				}
			}
		})
	}
}

// TestMetricsEndpoint reads /metrics without a token, in the text format,
// after a call.
func TestMetricsEndpoint(t *testing.T) {
	h := newMetricsHarness(t, false)
	if status, _, body := doCall(t, h.hs, "GET", relaywire.Path("log", "latest"), testToken, nil); status != 200 {
		t.Fatalf("latest: %d %s", status, body)
	}
	status, _, body := doCall(t, h.hs, "GET", "/metrics", "", nil)
	if status != 200 {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	for _, want := range []string{`whycache_relay_calls_total{call="latest",class="2xx"} 1`, `whycache_relay_waits_total{outcome="refused"} 0`,
		"# TYPE whycache_relay_waits_held gauge", `whycache_relay_store_errors_total{op="wait"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %q:\n%s", want, body)
		}
	}
}

// TestMetricsKeepHeartbeatBatches: the counting wrapper of the store keeps
// its batched heartbeats, so that a relay in front of a SQL store still
// writes a batch in one call.
func TestMetricsKeepHeartbeatBatches(t *testing.T) {
	h := newMetricsHarness(t, true)
	before := h.values(t)
	if status, _, body := doCall(t, h.hs, "POST", relaywire.Path("log", "heartbeat"), testToken, []byte(`{"node":"n1"}`)); status != 200 {
		t.Fatalf("heartbeat: %d %s", status, body)
	}
	after := h.values(t)
	for key, want := range map[string]float64{`store_calls_total{op="heartbeats"}`: 1, `store_calls_total{op="heartbeat"}`: 0} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s grew by %v, want %v", key, got, want)
		}
	}
}

// TestOwnRegistry: a relay given no registry makes its own, with the build
// and runtime metrics; two relays can share one registry only if they do
// not both register (the second New fails with a clear error).
func TestOwnRegistry(t *testing.T) {
	open := func(context.Context, string, bool) (logstore.Store, error) { return nil, logstore.ErrNotFound }
	srv, err := New(Config{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mfs, err := srv.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"whycache_build_info", "go_goroutines", "whycache_relay_waits_held"} {
		if !names[want] {
			t.Errorf("the relay's own registry has no %s", want)
		}
	}
	reg := prometheus.NewRegistry()
	one, err := New(Config{Open: open, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if two, err := New(Config{Open: open, Registry: reg}); err == nil {
		two.Close()
		t.Error("a second relay registered its metrics on the same registry")
	} else if !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("error %v, want one about registering the metrics", err)
	}
}

func TestPureMetricHelpers(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	t.Run("waitOutcome", func(t *testing.T) {
		for _, tc := range []struct {
			ctx           context.Context
			after, latest uint64
			err           error
			want          string
		}{
			{t.Context(), 1, 2, nil, waitNew},
			{t.Context(), 2, 2, nil, waitTimeout},
			{canceled, 2, 0, context.Canceled, waitCanceled},
			{t.Context(), 2, 0, fmt.Errorf("relay is shutting down: %w", relaywire.ErrUnavailable), waitDraining},
			{t.Context(), 2, 0, errors.New("boom"), waitError},
		} {
			if got := waitOutcome(tc.ctx, tc.after, tc.latest, tc.err); got != tc.want {
				t.Errorf("waitOutcome(after %d, latest %d, %v) = %s, want %s", tc.after, tc.latest, tc.err, got, tc.want)
			}
		}
	})
	t.Run("statusClass", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			gone   bool
			want   string
		}{{0, false, "2xx"}, {0, true, classCanceled}, {200, true, "2xx"}, {404, false, "4xx"}, {503, false, "5xx"}} {
			if got := statusClass(tc.status, tc.gone); got != tc.want {
				t.Errorf("statusClass(%d, %v) = %s, want %s", tc.status, tc.gone, got, tc.want)
			}
		}
	})
	t.Run("storeFault", func(t *testing.T) {
		for _, tc := range []struct {
			ctx  context.Context
			err  error
			want bool
		}{
			{t.Context(), nil, false},
			{t.Context(), errors.New("connection refused"), true},
			{t.Context(), context.DeadlineExceeded, true},
			{canceled, errors.New("connection reset"), false},
			{t.Context(), fmt.Errorf("wrapped: %w", context.Canceled), false},
			{t.Context(), fmt.Errorf("read: %w", logstore.ErrBehindHorizon), false},
			{t.Context(), logstore.ErrNotFound, false},
			{t.Context(), logstore.ErrTooLarge, false},
			{t.Context(), logstore.ErrInvalid, false},
		} {
			if got := storeFault(tc.ctx, tc.err); got != tc.want {
				t.Errorf("storeFault(%v) = %v, want %v", tc.err, got, tc.want)
			}
		}
	})
	t.Run("callLabel", func(t *testing.T) {
		for path, want := range map[string]string{
			relaywire.Path("log", "read"): "read", relaywire.Path("log", "open"): "open",
			relaywire.Path("log", "drop-table"): callOther, "/v1/logs/log": callOther,
		} {
			if got := callLabel(path); got != want {
				t.Errorf("callLabel(%q) = %s, want %s", path, got, want)
			}
		}
	})
}
