package logbench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// ScaleConfig says what the fan-in measurement runs: N simulated nodes
// tailing one log, for each N, against each target.
type ScaleConfig struct {
	Targets []Target
	// Nodes are the numbers of simulated nodes, in increasing order. Once a
	// number cannot be measured on a target (the server refuses the
	// connections, the machine runs short of memory), the larger ones are
	// skipped for that target.
	Nodes []int
	// Settle is how long the tailers run before the idle window, so that
	// they have all opened their connections and waited once.
	Settle time.Duration
	// Idle is the length of the idle window (no writes); it should cover a
	// heartbeat interval. Load is the length of the write window.
	Idle, Load time.Duration
	// Rate is the writes per second in the write window.
	Rate int
	// Drain bounds how long after the write window the last writes may
	// take to reach every tailer; the writes still missing then are
	// reported.
	Drain time.Duration
	// HeartbeatInterval, CheckInterval and PageOps are the node agent's
	// settings (its defaults: 10 s, 1 s, 10,000).
	HeartbeatInterval, CheckInterval time.Duration
	PageOps                          int
	// OpenConcurrency bounds the stores being opened at once.
	OpenConcurrency int
	// MinAvailableMemory stops a measurement (and the larger ones) when the
	// machine's available memory falls below it while the stores open.
	MinAvailableMemory int64
	// Open opens a store from its URL: backends.Open when nil.
	Open func(ctx context.Context, url string, opts logstore.Options) (logstore.Store, error)
	// Out receives the markdown table; Progress, when set, a line per step.
	Out, Progress io.Writer
}

// Target is one way of reaching one database server.
type Target struct {
	// Name labels the target's rows, such as "mariadb" or "relay → postgres".
	Name string
	// Store is the store URL that the tailers open (see package backends):
	// the database itself, or a relay in front of it.
	Store string
	// WriteStore is the store URL that the writer appends through; Store
	// when empty.
	WriteStore string
	// Server and ServerDSN name the database server whose connections,
	// CPU time and queries are measured, and how to reach it (a
	// go-sql-driver/mysql DSN or a pgx URL): the server behind Store.
	Server    ServerKind
	ServerDSN string
	// Log is the log the measurements use; empty: a fresh one for each.
	Log string
	// RelayPIDs are the processes of the relays behind Store, if any:
	// their CPU time is reported beside the database's.
	RelayPIDs []int
}

// DefaultScaleConfig returns the measurement of the table, for
// targets to be filled in.
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{
		Nodes:              []int{10, 100, 300, 1000},
		Settle:             3 * time.Second,
		Idle:               15 * time.Second,
		Load:               10 * time.Second,
		Rate:               100,
		Drain:              10 * time.Second,
		HeartbeatInterval:  10 * time.Second,
		CheckInterval:      time.Second,
		PageOps:            10_000,
		OpenConcurrency:    8,
		MinAvailableMemory: 2 << 30,
	}
}

// ScaleResult is the measurement of one target with one number of nodes.
type ScaleResult struct {
	Target string
	Nodes  int
	// Conns is the number of client connections to the database server
	// while the tailers idle.
	Conns int
	// Idle and Load are the server's rates in the idle and write windows.
	Idle, Load rates
	// Prop is how the writes of the write window reached the tailers; Rate
	// the writes per second made.
	Prop propagation
	Rate float64
	// WriteErrs, TailErrs and HeartbeatErrs count failed appends, failed
	// reads and waits, and failed heartbeats.
	WriteErrs, TailErrs, HeartbeatErrs int64
	// Behind is the number of tailers that had not reached the last write
	// at the end of the drain; FirstErr the first failed call's error.
	Behind   int
	FirstErr string
	// GCs is the number of garbage collections of this process during
	// the write window: the simulated nodes share its heap, so each one
	// slows them all at once, where separate machines would not.
	GCs uint64
	// LoadAvg is this machine's 1-minute load average at the start.
	LoadAvg string
	// Err, when not empty, says why the measurement could not be made.
	Err string
}

// RunScale measures every target with every number of nodes and prints the
// table.
func RunScale(ctx context.Context, cfg ScaleConfig) ([]ScaleResult, error) {
	if cfg.Open == nil {
		cfg.Open = backends.Open
	}
	var all []ScaleResult
	for _, t := range cfg.Targets {
		for _, n := range cfg.Nodes {
			r, err := measureScale(ctx, cfg, t, n)
			if err != nil {
				return all, fmt.Errorf("%s with %d nodes: %w", t.Name, n, err)
			}
			all = append(all, r)
			cfg.progress("%s\n%s", scaleRow(r), latencyRow(r))
			if r.Err != "" {
				break // a larger fleet will not fit either
			}
		}
	}
	if cfg.Out != nil {
		PrintScaleTable(cfg.Out, all)
	}
	return all, nil
}

// measureScale measures n tailers on target t. Problems of scale (a store
// that cannot be opened) end up in the result's Err; other failures (the
// server cannot be observed, the writer cannot write) are returned.
func measureScale(ctx context.Context, cfg ScaleConfig, t Target, n int) (ScaleResult, error) {
	r := ScaleResult{Target: t.Name, Nodes: n, LoadAvg: loadAverage()}
	obs, err := newObserver(ctx, t.Server, t.ServerDSN)
	if err != nil {
		return r, err
	}
	defer obs.close()
	before, err := obs.sample(ctx)
	if err != nil {
		return r, err
	}
	// The next measurement starts once the server has let go of this
	// one's connections (a thousand of them take a while to close).
	defer quiesce(ctx, obs, before.Conns)
	log := cmp.Or(t.Log, ScaleLogName())
	w, err := cfg.Open(ctx, cmp.Or(t.WriteStore, t.Store), logstore.Options{Name: log, Create: true})
	if err != nil {
		return r, fmt.Errorf("open the writer's store: %w", err)
	}
	defer w.Close()
	// The tailers stand on an update, as agents whose files hold one.
	tip, err := w.Append(ctx, []logstore.Op{logstore.Set([]byte("scale-start"), value)})
	if err != nil {
		return r, fmt.Errorf("first write: %w", err)
	}
	cfg.progress("%s: opening %d stores", t.Name, n)
	f, err := openFleet(ctx, cfg, t, log, n, tip)
	if err != nil {
		r.Err = err.Error()
		return r, nil
	}
	f.start(ctx, cfg)
	defer f.stop()
	sleep(ctx, cfg.Settle)
	if r.Idle, r.Conns, err = window(ctx, obs, t.RelayPIDs, cfg.Idle, nil); err != nil {
		return r, fmt.Errorf("idle window: %w", err)
	}
	if err := measureWrites(ctx, cfg, w, obs, t.RelayPIDs, f, &r); err != nil {
		return r, err
	}
	r.TailErrs, r.HeartbeatErrs = f.errs.n.Load(), f.hbErrs.n.Load()
	r.FirstErr = cmp.Or(f.errs.String(), f.hbErrs.String())
	return r, ctx.Err()
}

// quiesce waits, for at most a minute, until the server holds no more
// client connections than conns.
func quiesce(ctx context.Context, obs observer, conns int) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s, err := obs.sample(ctx)
		if err != nil || s.Conns <= conns {
			return
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// measureWrites runs the write window and waits for the writes to reach
// every tailer.
func measureWrites(ctx context.Context, cfg ScaleConfig, w logstore.Store, obs observer, relays []int, f *fleet, r *ScaleResult) error {
	latest, err := w.Latest(ctx)
	if err != nil {
		return fmt.Errorf("latest: %w", err)
	}
	// Room for twice the planned writes: the ids of a single writer are
	// consecutive, but a slow store may let the writer catch up late.
	seen := newSeenLog(latest+1, 2*cfg.Rate*int(cfg.Load/time.Second+1))
	f.seen.Store(seen)
	var wr writeStats
	gcs := gcCycles()
	r.Load, _, err = window(ctx, obs, relays, cfg.Load, func(ctx context.Context) { wr = writeAtRate(ctx, w, cfg.Rate, seen) })
	if err != nil {
		return fmt.Errorf("write window: %w", err)
	}
	r.Rate, r.WriteErrs, r.GCs = wr.rate, wr.errs, gcCycles()-gcs
	deadline := time.Now().Add(cfg.Drain)
	for !seen.complete(r.Nodes) && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 10*time.Millisecond)
	}
	r.Prop = seen.summary(r.Nodes)
	if last, err := w.Latest(ctx); err == nil {
		r.Behind = f.behind(last)
	}
	return nil
}

// window samples the server, runs work (or sleeps) for d, samples it again,
// and returns the rates between and the connections at the end. The
// rates' Bench is this process's CPU time per second: the tailers' and
// the writer's, to tell a saturated simulation from a saturated server.
func window(ctx context.Context, obs observer, relays []int, d time.Duration, work func(ctx context.Context)) (rates, int, error) {
	a, err := obs.sample(ctx)
	if err != nil {
		return rates{}, 0, err
	}
	selfA, relayA := selfCPU(), pidsCPU(relays)
	if work == nil {
		sleep(ctx, d)
	} else {
		wctx, cancel := context.WithTimeout(ctx, d)
		work(wctx)
		cancel()
	}
	if err := ctx.Err(); err != nil {
		return rates{}, 0, err
	}
	b, err := obs.sample(ctx)
	if err != nil {
		return rates{}, 0, err
	}
	r, err := rateBetween(a, b)
	secs := b.At.Sub(a.At).Seconds()
	r.Bench, r.Relays = -1, -1
	if selfB := selfCPU(); selfA >= 0 && selfB >= selfA {
		r.Bench = (selfB - selfA).Seconds() / secs
	}
	if relayB := pidsCPU(relays); len(relays) > 0 && relayA >= 0 && relayB >= relayA {
		r.Relays = (relayB - relayA).Seconds() / secs
	}
	return r, b.Conns, err
}

// writeAtRate appends one single-key update every 1/rate seconds until ctx
// ends, without waiting for one append to finish before starting the next
// (up to maxWritesInFlight), recording in seen when each began and returned.
func writeAtRate(ctx context.Context, w logstore.Store, rate int, seen *seenLog) writeStats {
	return paced(ctx, rate, func(seq int) error {
		began := time.Now()
		id, err := w.Append(context.WithoutCancel(ctx), []logstore.Op{logstore.Set(fmt.Appendf(nil, "scale-%08d", seq), value)})
		if err == nil {
			seen.wrote(id, began, time.Now())
		}
		return err
	})
}

func (c ScaleConfig) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// ScaleLogName returns a fresh log name, so that runs never share a log.
func ScaleLogName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "scale_" + hex.EncodeToString(b[:])
}
