package cachefile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The multi-process test's log: batch id draws from a key space that grows
// with id, so that the writer's file grows while readers read it.
const mpMaxKeys = 3000

func mpBatch(seed, id uint64) []Op { return genBatch(seed, id, min(mpMaxKeys, 20+int(id)*3)) }

func init() { children["reader"] = readerChild }

// mpStats is what a reader process reports.
type mpStats struct {
	Lookups, Found, Scanned int
	Generations             int
	Error                   string
}

// history knows, for each key, the ids of the operations on it, in order,
// generated lazily from the workload's seed.
type history struct {
	seed uint64
	upTo uint64
	ops  map[string][]histOp
}

type histOp struct {
	id     uint64
	delete bool
}

func (h *history) extend(to uint64) {
	for ; h.upTo < to; h.upTo++ {
		id := h.upTo + 1
		for _, op := range mpBatch(h.seed, id) {
			h.ops[string(op.Key)] = append(h.ops[string(op.Key)], histOp{id, op.Delete})
		}
	}
}

// last returns the last operation on key at or below id.
func (h *history) last(key string, id uint64) (histOp, bool) {
	ops := h.ops[key]
	i, _ := slices.BinarySearchFunc(ops, id+1, func(o histOp, id uint64) int { return cmpUint64(o.id, id) })
	if i == 0 {
		return histOp{}, false
	}
	return ops[i-1], true
}

// check judges one lookup of key that started after UpdateID returned a and
// ended before it returned b: value v (nil if not found) must be intact and
// no older than what update a guarantees.
func (h *history) check(key string, v []byte, found bool, a, b uint64) error {
	h.extend(b + 1)
	last, had := h.last(key, a)
	if !found {
		if !had || last.delete {
			return nil
		}
		for _, o := range h.ops[key] {
			if o.id > a && o.id <= b+1 && o.delete {
				return nil
			}
		}
		return fmt.Errorf("key %q missing, but set at update %d <= %d and not deleted up to %d", key, last.id, a, b+1)
	}
	id, err := checkStamp([]byte(key), v)
	if err != nil {
		return err
	}
	switch {
	case id > b+1:
		return fmt.Errorf("key %q holds a value from update %d, after the applied id %d", key, id, b)
	case had && (id < last.id || id == last.id && last.delete):
		return fmt.Errorf("stale value: key %q holds update %d, but update %d (applied at %d) changed it", key, id, last.id, a)
	}
	for _, o := range h.ops[key] {
		if o.id == id && !o.delete {
			return nil
		}
	}
	return fmt.Errorf("key %q holds a value from update %d, which did not set it", key, id)
}

// readerChild reads the file continuously in two goroutines until its
// standard input closes, checking every value, then prints its mpStats.
func readerChild() int {
	seed, _ := strconv.ParseUint(os.Getenv("CF_SEED"), 10, 64)
	r, err := Open(os.Getenv("CF_PATH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	var stop atomic.Bool
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop.Store(true) }()
	var wg sync.WaitGroup
	results := make([]mpStats, 2)
	for g := range results {
		wg.Go(func() { results[g] = readLoop(r, seed, uint64(g), &stop) })
	}
	wg.Wait()
	total := results[0]
	total.Lookups += results[1].Lookups
	total.Found += results[1].Found
	total.Scanned += results[1].Scanned
	total.Generations = max(total.Generations, results[1].Generations)
	if total.Error == "" {
		total.Error = results[1].Error
	}
	_ = json.NewEncoder(os.Stdout).Encode(total)
	return 0
}

func readLoop(r *Reader, seed, g uint64, stop *atomic.Bool) (st mpStats) {
	h := &history{seed: seed, ops: map[string][]histOp{}}
	rng := newRand(seed ^ g ^ uint64(os.Getpid()))
	lastGen := uint64(0)
	fail := func(err error) mpStats { st.Error = err.Error(); return st }
	for !stop.Load() {
		a := r.UpdateID()
		if gen := r.Generation(); gen != lastGen {
			st.Generations++
			lastGen = gen
		}
		if rng.IntN(500) == 0 {
			// A scan: every value intact and belonging to its key.
			for k, v := range r.All() {
				if _, err := checkStamp(k, v); err != nil {
					return fail(err)
				}
				st.Scanned++
			}
			continue
		}
		key := fmt.Sprintf("k%05d", rng.IntN(mpMaxKeys))
		var v []byte
		var err error
		if g == 0 {
			v, err = r.Get([]byte(key))
		} else {
			err = r.View([]byte(key), func(val []byte) {
				if _, e := checkStamp([]byte(key), val); e == nil {
					v = bytes.Clone(val)
				} else {
					v = []byte{}
				}
			})
		}
		b := r.UpdateID()
		found := err == nil
		if err != nil && err != ErrNotFound {
			return fail(err)
		}
		st.Lookups++
		if found {
			st.Found++
		}
		if err := h.check(key, v, found, a, b); err != nil {
			return fail(err)
		}
	}
	return st
}

// TestMultiProcessReaders runs reader processes (each with a Get goroutine
// and a View goroutine that also scans) against a writer that applies,
// grows and compacts. The readers check that no value is torn and none is
// older than what the applied id they saw before the lookup guarantees.
func TestMultiProcessReaders(t *testing.T) {
	seed := testSeed(t)
	readers, dur := 3, 3*time.Second
	if testing.Short() || raceEnabled {
		readers, dur = 2, 2*time.Second
	}
	path := filepath.Join(t.TempDir(), "cache")
	opts := smallOpts()
	w, err := OpenWriter(context.Background(), path, testLogID, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Apply(1, mpBatch(seed, 1)); err != nil {
		t.Fatal(err)
	}
	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Scanner
		err   bytes.Buffer
	}
	procs := make([]*proc, readers)
	for i := range procs {
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), childEnv+"=reader", "CF_PATH="+path, fmt.Sprintf("CF_SEED=%d", seed))
		p.cmd.Stderr = &p.err
		p.stdin, _ = p.cmd.StdinPipe()
		stdout, _ := p.cmd.StdoutPipe()
		p.out = bufio.NewScanner(stdout)
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.cmd.Process.Kill()
		if !p.out.Scan() || p.out.Text() != "ready" {
			t.Fatalf("reader %d did not start: %s", i, p.err.Bytes())
		}
		procs[i] = p
	}
	// Verify runs on the live file while the writer changes it.
	verifyDone := make(chan struct{})
	verifyErr := make(chan error, 1)
	var verifies atomic.Int64
	go func() {
		defer close(verifyErr)
		for {
			select {
			case <-verifyDone:
				return
			default:
			}
			if _, err := Verify(context.Background(), path); err != nil {
				verifyErr <- err
				return
			}
			verifies.Add(1)
		}
	}()
	sealed := filepath.Join(t.TempDir(), "sealed")
	// Run for dur, and until the writer has gone through enough generations
	// for the readers to follow (a loaded machine may need longer).
	id := uint64(1)
	for start := time.Now(); time.Since(start) < dur || w.Stats().Compactions < 8 && time.Since(start) < 20*dur; {
		id++
		if err := w.Apply(id, mpBatch(seed, id)); err != nil {
			t.Fatal(err)
		}
		switch {
		case id%300 == 0:
			err = w.Compact(t.Context())
		case id%701 == 0:
			if _, err = w.Seal(t.Context(), sealed); err == nil {
				err = w.Replace(t.Context(), sealed)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(verifyDone)
	if err := <-verifyErr; err != nil {
		t.Errorf("Verify of the live file: %v", err)
	}
	st := w.Stats()
	for i, p := range procs {
		p.stdin.Close()
		var got mpStats
		if !p.out.Scan() || json.Unmarshal(p.out.Bytes(), &got) != nil {
			t.Fatalf("reader %d: no report: %s", i, p.err.Bytes())
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("reader %d: %v: %s", i, err, p.err.Bytes())
		}
		t.Logf("reader %d: %+v", i, got)
		switch {
		case got.Error != "":
			t.Errorf("reader %d: %s", i, got.Error)
		case got.Lookups == 0 || got.Found == 0 || got.Scanned == 0:
			t.Errorf("reader %d did not exercise the file: %+v", i, got)
		case got.Generations < 2:
			t.Errorf("reader %d saw %d generations; the writer went through %d", i, got.Generations, st.Compactions)
		}
	}
	t.Logf("writer: %d updates, %d concurrent Verify runs, %+v", id, verifies.Load(), st)
}
