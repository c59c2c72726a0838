package logbench

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value, p50", ms(7), 50, 7 * time.Millisecond},
		{"one value, p99", ms(7), 99, 7 * time.Millisecond},
		{"two values, p50 is the first", ms(1, 9), 50, time.Millisecond},
		{"two values, p99 is the second", ms(1, 9), 99, 9 * time.Millisecond},
		{"1..100, p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"1..100, p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"1..100, p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"three values, p1 is the smallest", ms(3, 4, 5), 1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestRateBetween(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		a, b    serverSample
		want    rates
		wantErr error
	}{
		{"queries and CPU over 2 s",
			serverSample{At: t0, Queries: 1000, CPU: time.Second},
			serverSample{At: t0.Add(2 * time.Second), Queries: 1400, CPU: 2 * time.Second},
			rates{CPU: 0.5, Bench: -1, Relays: -1, Queries: 200}, nil},
		{"no change",
			serverSample{At: t0, Queries: 5, CPU: 0},
			serverSample{At: t0.Add(time.Second), Queries: 5, CPU: 0},
			rates{CPU: 0, Bench: -1, Relays: -1, Queries: 0}, nil},
		{"CPU unknown at the start",
			serverSample{At: t0, Queries: 0, CPU: -1},
			serverSample{At: t0.Add(time.Second), Queries: 10, CPU: time.Second},
			rates{CPU: -1, Bench: -1, Relays: -1, Queries: 10}, nil},
		{"CPU unknown at the end",
			serverSample{At: t0, Queries: 0, CPU: time.Second},
			serverSample{At: t0.Add(time.Second), Queries: 10, CPU: -1},
			rates{CPU: -1, Bench: -1, Relays: -1, Queries: 10}, nil},
		{"queries went back (a restart)",
			serverSample{At: t0, Queries: 100},
			serverSample{At: t0.Add(time.Second), Queries: 3},
			rates{}, errCounterBack},
		{"CPU went back",
			serverSample{At: t0, CPU: 2 * time.Second},
			serverSample{At: t0.Add(time.Second), CPU: time.Second},
			rates{}, errCounterBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rateBetween(tt.a, tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("rateBetween: error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("rateBetween = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := rateBetween(serverSample{At: t0}, serverSample{At: t0}); err == nil {
		t.Error("rateBetween of two samples at the same time: no error")
	}
}

func TestSummarise(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	// w is a write that began at began, returned at ret, and was first
	// and last applied at first and last, by seenBy tailers.
	w := func(began, ret, first, last, seenBy int) writeTimes {
		return writeTimes{began: at(began), returned: at(ret), firstSeen: at(first), lastSeen: at(last), seenBy: seenBy}
	}
	tests := []struct {
		name  string
		ws    []writeTimes
		nodes int
		want  propagation
	}{
		{"nothing written", []writeTimes{{}, {}}, 3, propagation{}},
		{"all seen", []writeTimes{w(0, 2, 3, 5, 3), w(10, 14, 20, 30, 3)}, 3,
			propagation{Writes: 2, Seen: 2, P50: ms(5), P99: ms(20),
				Append: spread{N: 2, P50: ms(2), P99: ms(4)}, First: spread{N: 2, P50: ms(3), P99: ms(10)}}},
		{"one write missed by a node", []writeTimes{w(0, 1, 2, 5, 3), w(10, 11, 12, 30, 2)}, 3,
			propagation{Writes: 2, Seen: 1, P50: ms(5), P99: ms(5),
				Append: spread{N: 2, P50: ms(1), P99: ms(1)}, First: spread{N: 2, P50: ms(2), P99: ms(2)}}},
		{"a write seen by no node has no first time", []writeTimes{w(0, 1, 2, 5, 3), {began: at(10), returned: at(13)}}, 3,
			propagation{Writes: 2, Seen: 1, P50: ms(5), P99: ms(5),
				Append: spread{N: 2, P50: ms(1), P99: ms(3)}, First: spread{N: 1, P50: ms(2), P99: ms(2)}}},
		{"empty slots are skipped", []writeTimes{{}, w(10, 11, 12, 12, 1)}, 1,
			propagation{Writes: 1, Seen: 1, P50: ms(2), P99: ms(2),
				Append: spread{N: 1, P50: ms(1), P99: ms(1)}, First: spread{N: 1, P50: ms(2), P99: ms(2)}}},
		// A tailer may apply a write before its Append returns, and the
		// clock may say before it began.
		{"seen before the write began is zero", []writeTimes{w(10, 12, 9, 9, 1)}, 1,
			propagation{Writes: 1, Seen: 1, Append: spread{N: 1, P50: ms(2), P99: ms(2)}, First: spread{N: 1}}},
		{"the p99 of a hundred writes is the second slowest",
			func() []writeTimes {
				var ws []writeTimes
				for i := range 100 {
					ws = append(ws, w(0, 1, 1+i%2, 10+i, 1))
				}
				return ws
			}(), 1,
			propagation{Writes: 100, Seen: 100, P50: ms(59), P99: ms(108),
				Append: spread{N: 100, P50: ms(1), P99: ms(1)}, First: spread{N: 100, P50: ms(1), P99: ms(2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarise(tt.ws, tt.nodes); got != tt.want {
				t.Errorf("summarise = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSeenLog(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	l := newSeenLog(10, 3)
	ups := []logstore.Update{{ID: 9}, {ID: 10}, {ID: 11}, {ID: 13}}
	// A tailer may apply a write before the writer records it.
	l.saw(ups, t0.Add(ms(4)))
	l.wrote(10, t0, t0.Add(ms(3)))
	l.wrote(11, t0, t0.Add(ms(5)))
	l.wrote(99, t0, t0) // outside the slots: ignored
	if l.complete(2) {
		t.Error("complete(2) after one tailer saw the writes")
	}
	l.saw(ups[1:2], t0.Add(ms(8)))
	l.saw(ups[2:3], t0.Add(ms(2))) // a tailer that applied it first, recorded last
	if !l.complete(2) {
		t.Error("not complete(2) after two tailers saw both writes")
	}
	want := propagation{Writes: 2, Seen: 2, P50: ms(4), P99: ms(8),
		Append: spread{N: 2, P50: ms(3), P99: ms(5)}, First: spread{N: 2, P50: ms(2), P99: ms(4)}}
	if got := l.summary(2); got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procTimes
		wantErr bool
	}{
		{"postgres backend",
			"4242 (postgres) S 4000 4000 4000 0 -1 4194560 1000 0 0 0 150 50 7 3 20 0 1 0 100 1000000 500 18446744073709551615",
			procTimes{PPID: 4000, Self: 2 * time.Second, Children: 100 * time.Millisecond}, false},
		{"a name with spaces and parentheses",
			"17 (my (odd) name) R 1 17 17 0 -1 0 0 0 0 0 1 2 3 4 20 0",
			procTimes{PPID: 1, Self: 30 * time.Millisecond, Children: 70 * time.Millisecond}, false},
		{"too few fields", "17 (x) R 1 17 17 0 -1 0 0 0 0 0 1 2", procTimes{}, true},
		{"no name", "17 x R 1", procTimes{}, true},
		{"a time that is not a number", "17 (x) R 1 17 17 0 -1 0 0 0 0 0 1 y 3 4", procTimes{}, true},
		{"a negative time", "17 (x) R 1 17 17 0 -1 0 0 0 0 0 1 -2 3 4", procTimes{}, true},
		{"a bad parent", "17 (x) R p 17 17 0 -1 0 0 0 0 0 1 2 3 4", procTimes{}, true},
		{"empty", "", procTimes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcStat: error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseProcStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("4242 (postgres) S 4000 4000 4000 0 -1 4194560 1000 0 0 0 150 50 7 3 20 0"))
	f.Add([]byte("1 ()) R 0 0 0 0 0 0 0 0 0 0 0 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProcStat(b)
		if err != nil {
			return
		}
		if p.PPID < 0 || p.Self < 0 || p.Children < 0 {
			t.Errorf("parseProcStat(%q) = %+v: negative", b, p)
		}
	})
}

func TestParseNodes(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"10,100,300,1000", []int{10, 100, 300, 1000}, false},
		{" 5 , 7", []int{5, 7}, false},
		{"1", []int{1}, false},
		{"", nil, true},
		{"10,,20", nil, true},
		{"0", nil, true},
		{"-3", nil, true},
		{"ten", nil, true},
		{"100001", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseNodes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseNodes(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseNodes(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseNodes(f *testing.F) {
	f.Add("10,100,300,1000")
	f.Add("1,,2")
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseNodes(s)
		if err != nil {
			return
		}
		for _, n := range ns {
			if n < 1 || n > maxNodes {
				t.Errorf("ParseNodes(%q) = %v: %d out of range", s, ns, n)
			}
		}
	})
}

func TestScaleRow(t *testing.T) {
	ok := ScaleResult{Target: "relay → postgres", Nodes: 1000, Conns: 4,
		Idle: rates{CPU: 0.05, Queries: 12, Bench: 0.2}, Load: rates{CPU: 0.3, Queries: 250, Bench: -1, Relays: -1},
		Prop: propagation{Writes: 1000, Seen: 1000, P50: 20 * time.Millisecond, P99: 180 * time.Millisecond},
		Rate: 99.6, LoadAvg: "3.10"}
	slow := ok
	slow.Prop.P99 = 1500 * time.Millisecond
	fanIn := ok
	fanIn.Target, fanIn.Conns, fanIn.Idle.Queries = "mariadb", 1002, 20_000
	missed := ok
	missed.Prop.Seen, missed.TailErrs, missed.Idle.CPU, missed.Behind, missed.FirstErr = 990, 7, -1, 3, "read after 5: boom | bang"
	small := ok
	small.Nodes = 10
	tests := []struct {
		name string
		r    ScaleResult
		want []string
	}{
		{"targets met", ok, []string{"| relay → postgres | 1000 | 4 | 0.00 | 0.05 | 12 | 0.01 | 0.30 | 250 | 20 ms | 180 ms | 100 writes/s; load 3.10 | ok |"}},
		{"slow propagation", slow, []string{"| 1.50 s |", "MISSED: propagation |"}},
		{"database fan-in", fanIn, []string{"| 1002 | 1.00 |", "| 20000 | 20.00 |", "MISSED: connections, idle queries |"}},
		{"writes missed and errors", missed, []string{"| n/a |", "**10 of 1000 writes not on all nodes after the drain; 3 nodes behind**", "**7 failed reads/waits**", `first error: read after 5: boom \| bang`, "MISSED: propagation"}},
		{"no verdict below 1,000 nodes", small, []string{"load 3.10 |  |"}},
		{"the tailers' CPU", func() ScaleResult { r := small; r.Idle.Bench, r.Load.Bench = 0.2, 0.5; return r }(),
			[]string{"tailers' CPU 0.20 s/s idle, 0.50 s/s under writes"}},
		{"the tailers' collections", func() ScaleResult { r := small; r.GCs = 7; return r }(),
			[]string{"; 7 GCs of the tailers' process under writes;"}},
		{"the relays' CPU", func() ScaleResult { r := small; r.Idle.Relays, r.Load.Relays = 0.01, 0.3; return r }(),
			[]string{"relays' CPU 0.01 s/s idle, 0.30 s/s under writes"}},
		{"stopped", ScaleResult{Target: "postgres", Nodes: 1000, Err: "open store 401 of 1000: too many clients | x", LoadAvg: "9.00"},
			[]string{"| postgres | 1000 |", `stopped: open store 401 of 1000: too many clients \| x (load 9.00)`}},
		{"sub-10 ms latencies keep a decimal", ScaleResult{Target: "x", Nodes: 1, Prop: propagation{Writes: 1, Seen: 1, P50: 4500 * time.Microsecond, P99: 4500 * time.Microsecond}},
			[]string{"| 4.5 ms | 4.5 ms |"}},
		{"nothing seen", ScaleResult{Target: "x", Nodes: 1, Prop: propagation{Writes: 3}}, []string{"| - | - |", "**3 of 3 writes not on all nodes after the drain; 0 nodes behind**"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scaleRow(tt.r)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("scaleRow = %q, want it to contain %q", got, w)
				}
			}
			if cells := strings.Count(strings.ReplaceAll(got, `\|`, ""), "|"); cells != strings.Count(scaleHeader[:strings.IndexByte(scaleHeader, '\n')], "|") {
				t.Errorf("scaleRow has %d separators, the header has a different number: %q", cells, got)
			}
		})
	}
}

func TestLatencyRow(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	tests := []struct {
		name string
		r    ScaleResult
		want string
	}{
		{"every latency", ScaleResult{Target: "2 relays → postgres", Nodes: 1000, Prop: propagation{
			Writes: 1000, Seen: 1000, P50: ms(113), P99: ms(395),
			Append: spread{N: 1000, P50: 4500 * time.Microsecond, P99: ms(30)}, First: spread{N: 1000, P50: ms(12), P99: 1500 * time.Millisecond}}},
			"| 2 relays → postgres | 1000 | 1000 | 4.5 ms | 30 ms | 12 ms | 1.50 s | 113 ms | 395 ms |"},
		{"no node saw a write", ScaleResult{Target: "x", Nodes: 2, Prop: propagation{Writes: 3, Append: spread{N: 3, P50: ms(1), P99: ms(2)}}},
			"| x | 2 | 3 | 1.0 ms | 2.0 ms | - | - | - | - |"},
		{"stopped", ScaleResult{Target: "postgres", Nodes: 1000, Err: "too many clients"},
			"| postgres | 1000 | 0 | - | - | - | - | - | - |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := latencyRow(tt.r)
			if got != tt.want {
				t.Errorf("latencyRow = %q, want %q", got, tt.want)
			}
			if cells := strings.Count(got, "|"); cells != strings.Count(latencyHeader[:strings.IndexByte(latencyHeader, '\n')], "|") {
				t.Errorf("latencyRow has %d separators, the header has a different number: %q", cells, got)
			}
		})
	}
}

func TestPrintScaleTable(t *testing.T) {
	var b bytes.Buffer
	PrintScaleTable(&b, []ScaleResult{{Target: "mariadb", Nodes: 10}, {Target: "postgres", Nodes: 10}})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 9 || !strings.HasPrefix(lines[0], "| store |") || !strings.HasPrefix(lines[1], "|---|") ||
		!strings.HasPrefix(lines[2], "| mariadb | 10 |") || !strings.HasPrefix(lines[3], "| postgres | 10 |") || lines[4] != "" ||
		!strings.HasPrefix(lines[5], "| store | nodes | writes | append p50 |") || !strings.HasPrefix(lines[6], "|---|") ||
		!strings.HasPrefix(lines[7], "| mariadb | 10 | 0 |") || !strings.HasPrefix(lines[8], "| postgres | 10 | 0 |") {
		t.Errorf("table:\n%s", b.String())
	}
}

// TestPaced checks that paced counts successful and failed calls and waits
// for the calls in flight.
func TestPaced(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls, running atomic.Int64
	st := paced(ctx, 1000, func(seq int) error {
		running.Add(1)
		defer running.Add(-1)
		if calls.Add(1) >= 6 {
			cancel()
		}
		if seq%2 == 1 {
			return errors.New("odd")
		}
		return nil
	})
	if running.Load() != 0 {
		t.Errorf("paced returned with %d calls running", running.Load())
	}
	if n := calls.Load(); st.errs < 1 || st.errs > n || st.rate <= 0 {
		t.Errorf("paced = %+v after %d calls (half of them failing)", st, n)
	}
}

// TestRunScaleSmall runs the fan-in measurement with two tailers on each
// SQL server.
func TestRunScaleSmall(t *testing.T) {
	targets := map[string]func(t *testing.T) Target{
		"mysql": func(t *testing.T) Target {
			dsn := testserver.MySQL(t)
			return Target{Name: "mariadb", Store: "mysql:" + dsn, Server: ServerMySQL, ServerDSN: dsn}
		},
		"postgres": func(t *testing.T) Target {
			dsn := testserver.Postgres(t)
			return Target{Name: "postgres", Store: dsn, Server: ServerPostgres, ServerDSN: dsn}
		},
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := DefaultScaleConfig()
			cfg.Targets, cfg.Nodes = []Target{target(t)}, []int{2}
			// PostgreSQL's backends publish their counts at most once a
			// second: the windows add up to more than that.
			cfg.Settle, cfg.Idle, cfg.Load, cfg.Rate = 100*time.Millisecond, time.Second, time.Second, 20
			cfg.Drain, cfg.MinAvailableMemory, cfg.Out = time.Minute, 0, &out
			res, err := RunScale(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			r := res[0]
			// The server counts the tailers' connections (at least one
			// each) and the writer's, and their queries.
			if r.Err != "" || r.Conns < 3 || r.Idle.Queries+r.Load.Queries <= 0 {
				t.Errorf("result %+v: want at least 3 connections, and queries", r)
			}
			if r.Prop.Writes == 0 || r.Prop.Seen != r.Prop.Writes || r.WriteErrs != 0 {
				t.Errorf("propagation %+v, %d write errors: want every write seen by both tailers", r.Prop, r.WriteErrs)
			}
			if !strings.Contains(out.String(), "| "+r.Target+" | 2 |") {
				t.Errorf("the table lacks the row:\n%s", out.String())
			}
		})
	}
}

// pagedStore is a Store whose Read serves a fixed log of update ids and
// calls onRead first.
type pagedStore struct {
	logstore.Store
	ids    []uint64
	onRead func()
}

func (s *pagedStore) Read(_ context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.onRead()
	var out []logstore.Update
	for _, id := range s.ids {
		if id > after && len(out) < maxOps {
			out = append(out, logstore.Update{ID: id})
		}
	}
	return out, nil
}

// TestCatchUpRecordsIntoTheCurrentLog: a catch-up that began before the
// write window records the window's writes it reads into the window's log.
func TestCatchUpRecordsIntoTheCurrentLog(t *testing.T) {
	var cur *seenLog
	window := newSeenLog(2, 4)
	s := &pagedStore{ids: []uint64{1, 2, 3}, onRead: func() { cur = window }}
	tl := &tailer{store: s}
	tl.tip.Store(1)
	if err := tl.catchUp(t.Context(), 10, func() *seenLog { return cur }); err != nil {
		t.Fatal(err)
	}
	if tl.tip.Load() != 3 {
		t.Errorf("tip %d after catching up, want 3", tl.tip.Load())
	}
	for _, id := range []uint64{2, 3} {
		if n := window.seenBy[window.slot(id)].Load(); n != 1 {
			t.Errorf("update %d seen by %d tailers in the window's log, want 1", id, n)
		}
	}
}

func TestCallsDue(t *testing.T) {
	tests := []struct {
		elapsed time.Duration
		rate    int
		want    int
	}{
		{0, 100, 1},
		{9 * time.Millisecond, 100, 1},
		{10 * time.Millisecond, 100, 2},
		{time.Second, 100, 101},
		// A tick that came 250 ms late starts the 25 calls it missed.
		{260 * time.Millisecond, 100, 27},
		{1500 * time.Millisecond, 1, 2},
	}
	for _, tt := range tests {
		if got := callsDue(tt.elapsed, tt.rate); got != tt.want {
			t.Errorf("callsDue(%v, %d) = %d, want %d", tt.elapsed, tt.rate, got, tt.want)
		}
	}
}
